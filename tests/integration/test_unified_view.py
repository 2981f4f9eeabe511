"""The unified view (issue 4 §3): 'Mis seguros', policy detail, documents, claims — against both sandboxes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select, update

from aggregator.extensions import db
from aggregator.i18n import datetime_short
from aggregator.models import Claim, Document, InsurerAccount, Policy
from aggregator.models.types import utcnow
from tests.conftest import Mailbox, Sandbox, csrf_token, register_verified
from tests.support.data import link_sample, user_id

HX = {"HX-Request": "true"}


def numbers(html: str) -> set[str]:
    """The policy numbers of the policy cards on a page."""
    return set(re.findall(r'data-testid="policy" data-policy-number="([^"]+)"', html))


def count_testid(html: str, name: str) -> int:
    return html.count(f'data-testid="{name}"')


@pytest.fixture
def linked(app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]) -> dict[str, Any]:
    """A verified, signed-in user with the sample profiles of both sandboxes linked and synced."""
    register_verified(client, mailbox, "ana@example.com")
    with app.app_context():
        uid = user_id("ana@example.com")
        gnp = link_sample(uid, "gnp")
        australis = link_sample(uid, "australis")
        by_insurer: dict[str, set[str]] = {"gnp": set(), "australis": set()}
        lines: dict[str, str] = {}
        for account, slug in ((gnp, "gnp"), (australis, "australis")):
            for number, line in db.session.execute(
                select(Policy.number, Policy.line).where(Policy.account_id == account.id)
            ):
                by_insurer[slug].add(number)
                lines[number] = line
        return {
            "uid": uid,
            "accounts": {"gnp": gnp.id, "australis": australis.id},
            "profiles": {"gnp": gnp.profile_id, "australis": australis.profile_id},
            "numbers": by_insurer,
            "lines": lines,
        }


def other_user(app: Flask, mailbox: Mailbox) -> FlaskClient:
    """A second verified user, signed in on their own client, with nothing linked."""
    other = app.test_client()
    register_verified(other, mailbox, "beto@example.com")
    return other


# --- "Mis seguros" --------------------------------------------------------------------------------


def test_dashboard_lists_policies_of_both_insurers_grouped_by_line(client: FlaskClient, linked: dict[str, Any]) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    everything = linked["numbers"]["gnp"] | linked["numbers"]["australis"]
    assert linked["numbers"]["gnp"] and linked["numbers"]["australis"]
    assert numbers(html) == everything
    groups = re.findall(r'data-testid="line-group" data-line="([a-z]+)"', html)
    assert groups == [line for line in ("auto", "gmm", "vida", "hogar", "dispositivos", "otros") if line in groups]
    assert set(groups) == set(linked["lines"].values())
    # Every card sits inside the group of its line.
    for section in re.split(r'data-testid="line-group"', html)[1:]:
        line = re.match(r' data-line="([a-z]+)"', section).group(1)  # type: ignore[union-attr]
        assert all(linked["lines"][n] == line for n in numbers(section))
    assert "GNP Seguros" in html and "Australis" in html
    assert 'data-insurer="gnp"' in html and 'data-insurer="australis"' in html
    assert count_testid(html, "next-due") >= 1  # the next receipt due, with its amount
    assert count_testid(html, "open-claims") >= 1
    assert 'id="sync-status"' in html and count_testid(html, "stale-notice") == 0
    assert 'hx-trigger="every 1s"' not in html  # nothing is syncing: no polling


def test_default_status_filter_hides_expired_cancelled_and_removed(
    app: Flask, client: FlaskClient, linked: dict[str, Any]
) -> None:
    gnp = sorted(linked["numbers"]["gnp"])
    expired, removed = gnp[0], gnp[1]
    with app.app_context():
        db.session.execute(update(Policy).where(Policy.number == expired).values(status="expired"))
        db.session.execute(update(Policy).where(Policy.number == removed).values(removed_upstream_at=utcnow()))
        db.session.commit()
    default = numbers(client.get("/").get_data(as_text=True))
    assert expired not in default and removed not in default
    assert len(default) == len(linked["numbers"]["gnp"] | linked["numbers"]["australis"]) - 2
    everything = client.get("/?status=all").get_data(as_text=True)
    assert {expired, removed} <= numbers(everything)
    assert count_testid(everything, "removed-upstream") == 1
    only_expired = numbers(client.get("/?status=expired").get_data(as_text=True))
    assert only_expired == {expired}


def test_filters_by_insurer_line_and_profile(client: FlaskClient, linked: dict[str, Any]) -> None:
    assert numbers(client.get("/?insurer=gnp").get_data(as_text=True)) == linked["numbers"]["gnp"]
    assert numbers(client.get("/?insurer=australis").get_data(as_text=True)) == linked["numbers"]["australis"]
    autos = {n for n, line in linked["lines"].items() if line == "auto"}
    assert autos and numbers(client.get("/?line=auto").get_data(as_text=True)) == autos
    profile = linked["profiles"]["australis"]
    assert numbers(client.get(f"/?profile={profile}").get_data(as_text=True)) == linked["numbers"]["australis"]
    # Nonsense values are no filter at all, never an error.
    assert client.get("/?line=boats&status=zzz&profile=x").status_code == 200
    # A profile the user cannot see shows nothing (and reveals nothing).
    assert numbers(client.get("/?profile=999999").get_data(as_text=True)) == set()


def test_search_as_you_type_returns_only_the_results_fragment(
    app: Flask, client: FlaskClient, linked: dict[str, Any]
) -> None:
    with app.app_context():
        row = db.session.execute(
            select(Policy.number, Policy.insured_summary).where(Policy.line == "auto", Policy.insurer_id.is_not(None))
        ).first()
        assert row is not None
    number, summary = row
    assert summary, "an auto policy names its car"
    word = summary.split()[0]  # the make, e.g. "Kia"
    fragment = client.get(f"/?q={word.upper()}", headers={**HX, "HX-Trigger-Name": "q"})
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="results"')
    assert "<html" not in body and 'id="filters"' not in body
    assert "HX-Request" in fragment.headers.get("Vary", "")
    assert number in numbers(body)
    assert numbers(body) <= {n for n in linked["lines"]}
    assert fragment.headers["HX-Push-Url"] == f"/?q={word.upper()}"
    # The same address without htmx is the whole page, with the search kept in the form.
    page = client.get(f"/?q={word.upper()}").get_data(as_text=True)
    assert "<html" in page and f'value="{word.upper()}"' in page and numbers(page) == numbers(body)
    # Accents and case do not matter: the insured people's names are searchable.
    accented = client.get("/?q=JESUS", headers=HX).get_data(as_text=True)
    plain = client.get("/?q=jesús", headers=HX).get_data(as_text=True)
    assert numbers(accented) == numbers(plain)
    nothing = client.get("/?q=zzzz-no-such-thing", headers=HX).get_data(as_text=True)
    assert numbers(nothing) == set() and count_testid(nothing, "no-results") == 1


def test_filters_are_reflected_in_the_url(client: FlaskClient, linked: dict[str, Any]) -> None:
    answer = client.get("/?insurer=gnp&line=&q=&status=all", headers={**HX, "HX-Trigger-Name": "filters"})
    assert answer.headers["HX-Push-Url"] == "/?insurer=gnp&status=all"
    # The results list reloads itself with the same filters when a sync finishes.
    assert 'hx-get="/?insurer=gnp&amp;status=all"' in answer.get_data(as_text=True)
    assert 'hx-trigger="sync-done from:body"' in answer.get_data(as_text=True)
    page = client.get("/?insurer=gnp&line=gmm").get_data(as_text=True)
    assert '<option value="gnp" selected>' in page and '<option value="gmm" selected>' in page
    form = re.search(r'<form id="filters"[^>]*>', page)
    assert form is not None and 'method="get"' in form.group(0) and 'hx-push-url="true"' in form.group(0)
    search = re.search(r'<input type="search"[^>]*>', page)
    assert search is not None
    assert 'hx-trigger="input changed delay:300ms, search"' in search.group(0) and "hx-sync" in search.group(0)


def test_empty_state_invites_to_link_a_profile(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    register_verified(client, mailbox, "nueva@example.com")
    html = client.get("/").get_data(as_text=True)
    assert count_testid(html, "dashboard-empty") == 1
    assert 'href="/profiles/link"' in html
    assert 'id="results"' not in html


# --- freshness: stale data after a failed refresh, and the refresh progress --------------------------


def test_failed_refresh_keeps_policies_with_their_age_and_a_notice(
    app: Flask, client: FlaskClient, linked: dict[str, Any], sandboxes: dict[str, Sandbox]
) -> None:
    sandboxes["gnp"].faults(status=500)
    token = csrf_token(client, "/")
    answer = client.post("/refresh", data={"csrf_token": token})
    assert answer.status_code == 303
    with app.app_context():
        account = db.session.get(InsurerAccount, linked["accounts"]["gnp"])
        assert account is not None and account.health == "stale" and account.last_error == "unavailable"
        with app.test_request_context():
            g.force_lang = "es"
            age = datetime_short(account.last_success_at)
    html = client.get("/").get_data(as_text=True)
    assert numbers(html) >= linked["numbers"]["gnp"]  # the old data stays
    assert count_testid(html, "stale-notice") == 1
    assert re.search(r'data-testid="health" data-insurer="gnp" data-status="stale"', html)
    assert re.search(r'data-testid="health" data-insurer="australis" data-status="ok"', html)
    assert age in html
    assert count_testid(html, "policy-age") == len(linked["numbers"]["gnp"])  # each GNP card shows its age
    detail_id = _policy_id(app, sorted(linked["numbers"]["gnp"])[0])
    detail = client.get(f"/policies/{detail_id}").get_data(as_text=True)
    assert count_testid(detail, "stale-notice") == 1 and age in detail
    # The insurer answers again: a refresh brings everything back to normal.
    sandboxes["gnp"].clear()
    client.post("/refresh", data={"csrf_token": token})
    html = client.get("/").get_data(as_text=True)
    assert count_testid(html, "stale-notice") == 0 and count_testid(html, "policy-age") == 0
    assert re.search(r'data-testid="health" data-insurer="gnp" data-status="ok"', html)


def test_refresh_shows_progress_until_done(client: FlaskClient, linked: dict[str, Any]) -> None:
    token = csrf_token(client, "/")
    assert client.post("/refresh", headers=HX).status_code == 400  # CSRF is checked for htmx too
    started = client.post("/refresh", headers={**HX, "X-CSRFToken": token})
    assert started.status_code == 200
    body = started.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="sync-status"')
    assert 'data-syncing="true"' in body and 'hx-trigger="every 1s"' in body
    assert 'hx-get="/sync/status?was=syncing"' in body and count_testid(body, "sync-progress") == 1
    # The jobs ran (inline backend) once the request committed: the next poll says done, stops, reloads the list.
    done = client.get("/sync/status?was=syncing", headers=HX)
    assert done.status_code == 200
    assert done.headers.get("HX-Trigger") == "sync-done"
    body = done.get_data(as_text=True)
    assert 'data-syncing="false"' in body and "every 1s" not in body and count_testid(body, "refresh") == 1
    # A status request outside a running sync does not reload anything; without htmx it is the dashboard.
    assert "HX-Trigger" not in client.get("/sync/status", headers=HX).headers
    assert client.get("/sync/status").status_code == 303


# --- policy detail and documents ----------------------------------------------------------------------


def _policy_id(app: Flask, number: str) -> int:
    with app.app_context():
        found = db.session.scalar(select(Policy.id).where(Policy.number == number))
        assert found is not None
        return found


def test_policy_detail_shows_coverages_payments_phones_and_age(
    app: Flask, client: FlaskClient, linked: dict[str, Any]
) -> None:
    with app.app_context():
        policy = db.session.scalars(
            select(Policy).where(Policy.account_id == linked["accounts"]["gnp"], Policy.line == "auto")
        ).first()
        assert policy is not None
        pid, number, vin = policy.id, policy.number, (policy.insured or {}).get("vin")
    html = client.get(f"/policies/{pid}").get_data(as_text=True)
    assert number in html
    assert count_testid(html, "insured-vehicle") == 1 and vin and vin in html
    assert count_testid(html, "coverage") >= 3
    assert "tel:5552279000" in html  # GNP's assistance line, callable from a phone
    assert count_testid(html, "data-age") == 1
    assert 'data-kind="rc_obligatorio"' in html  # the compulsory liability policy (seed 000)
    assert count_testid(html, "payment") <= 10


def test_policy_detail_coverages_deductibles_and_last_ten_payments(
    app: Flask, client: FlaskClient, linked: dict[str, Any]
) -> None:
    with app.app_context():
        gmm = db.session.scalars(
            select(Policy)
            .where(Policy.account_id == linked["accounts"]["gnp"], Policy.line == "gmm")
            .order_by(Policy.id)  # the first one synced (no order would be the order of whatever index is used)
        ).first()
        assert gmm is not None
        pid = gmm.id
        from aggregator.models import Coverage, Receipt

        db.session.execute(
            update(Coverage).where(Coverage.policy_id == pid, Coverage.code == "HOSP").values(covered=False)
        )
        db.session.add_all(
            Receipt(
                policy_id=pid,
                number=f"R-HIST-{i:02d}",
                due_date=utcnow().date().replace(year=2020, day=1, month=(i % 12) + 1),
                amount_cents=100_00 + i,
                currency="MXN",
                status="paid",
            )
            for i in range(15)
        )
        db.session.commit()
    html = client.get(f"/policies/{pid}").get_data(as_text=True)
    assert count_testid(html, "payment") == 10  # the last 10 payments, as the insurer's portal shows
    row = re.search(r'data-testid="coverage" data-code="GMM".*?</tr>', html, re.S)
    assert row is not None and "12.000,00" in row.group(0)  # a deductible as an amount (Spanish format)
    hosp = re.search(r'data-testid="coverage" data-code="HOSP".*?</tr>', html, re.S)
    assert hosp is not None and 'data-testid="not-covered"' in hosp.group(0)
    assert count_testid(html, "insured-people") == 1


def test_document_download_streams_the_pdf(app: Flask, client: FlaskClient, linked: dict[str, Any]) -> None:
    with app.app_context():
        doc = db.session.scalars(
            select(Document)
            .join(Policy, Policy.id == Document.policy_id)
            .where(Policy.account_id == linked["accounts"]["australis"], Document.kind == "policy")
        ).first()
        assert doc is not None
        doc_id, pid = doc.id, doc.policy_id
    page = client.get(f"/policies/{pid}").get_data(as_text=True)
    assert f'href="/policies/{pid}/documents/{doc_id}"' in page
    answer = client.get(f"/policies/{pid}/documents/{doc_id}")
    assert answer.status_code == 200
    assert answer.data.startswith(b"%PDF")
    assert answer.headers["Content-Type"].startswith("application/pdf")
    assert answer.headers["Content-Disposition"].startswith("attachment")
    assert "no-store" in answer.headers["Cache-Control"]
    # A document of another policy through this policy's address: 404.
    with app.app_context():
        other = db.session.scalar(select(Document.id).where(Document.policy_id != pid, Document.policy_id.is_not(None)))
    assert client.get(f"/policies/{pid}/documents/{other}").status_code == 404


def test_document_download_when_the_insurer_fails_is_a_clear_page(
    app: Flask, client: FlaskClient, linked: dict[str, Any], sandboxes: dict[str, Sandbox]
) -> None:
    with app.app_context():
        doc = db.session.scalars(
            select(Document)
            .join(Policy, Policy.id == Document.policy_id)
            .where(Policy.account_id == linked["accounts"]["gnp"])
        ).first()
        assert doc is not None
        doc_id, pid = doc.id, doc.policy_id
    sandboxes["gnp"].faults(status=503)
    answer = client.get(f"/policies/{pid}/documents/{doc_id}")
    assert answer.status_code in (502, 503)
    html = answer.get_data(as_text=True)
    assert count_testid(html, "document-error") == 1 and "GNP" in html
    assert "Traceback" not in html


# --- claims ----------------------------------------------------------------------------------------


def test_claims_list_and_detail_timeline(app: Flask, client: FlaskClient, linked: dict[str, Any]) -> None:
    with app.app_context():
        claims = db.session.scalars(select(Claim).order_by(Claim.reported_at.desc())).all()
        expected = [c.number for c in claims]
        open_ones = {c.number for c in claims if c.status in ("open", "under_review", "reopened")}
        target = claims[0]
        cid, history, insurer_status = target.id, target.history, target.insurer_status
        policy_number = db.session.scalar(select(Policy.number).where(Policy.id == target.policy_id))
    assert policy_number is not None
    html = client.get("/claims").get_data(as_text=True)
    shown = re.findall(r'data-testid="claim" data-claim-number="([^"]+)"', html)
    assert shown == expected  # across insurers, newest reported first
    assert insurer_status in html  # the insurer's wording beside ours
    only_open = client.get("/claims?status=open", headers=HX).get_data(as_text=True)
    assert set(re.findall(r'data-claim-number="([^"]+)"', only_open)) == open_ones
    assert "<html" not in only_open
    detail = client.get(f"/claims/{cid}").get_data(as_text=True)
    assert count_testid(detail, "event") == len(history)
    for event in history:
        assert event["insurer_status"] in detail
    assert policy_number in detail


def test_claim_document_download(app: Flask, client: FlaskClient, linked: dict[str, Any]) -> None:
    with app.app_context():
        doc = db.session.scalars(select(Document).where(Document.claim_id.is_not(None))).first()
        assert doc is not None
        doc_id, cid = doc.id, doc.claim_id
    page = client.get(f"/claims/{cid}").get_data(as_text=True)
    assert f'href="/claims/{cid}/documents/{doc_id}"' in page
    answer = client.get(f"/claims/{cid}/documents/{doc_id}")
    assert answer.status_code == 200 and answer.data.startswith(b"%PDF")


def test_another_user_gets_404_everywhere(
    app: Flask, client: FlaskClient, mailbox: Mailbox, linked: dict[str, Any]
) -> None:
    with app.app_context():
        pid = db.session.scalar(select(Policy.id))
        cid = db.session.scalar(select(Claim.id))
        pdoc = db.session.scalar(select(Document).where(Document.policy_id.is_not(None)))
        cdoc = db.session.scalar(select(Document).where(Document.claim_id.is_not(None)))
        assert pid and cid and pdoc and cdoc
        urls = [
            f"/policies/{pid}",
            f"/policies/{pdoc.policy_id}/documents/{pdoc.id}",
            f"/claims/{cid}",
            f"/claims/{cdoc.claim_id}/documents/{cdoc.id}",
        ]
    for url in urls:
        assert client.get(url).status_code == 200, url
    other = other_user(app, mailbox)
    for url in urls:
        assert other.get(url).status_code == 404, url
    assert numbers(other.get("/?status=all").get_data(as_text=True)) == set()
    assert "data-claim-number" not in other.get("/claims").get_data(as_text=True)
