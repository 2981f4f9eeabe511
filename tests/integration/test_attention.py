""" "Mis seguros" answers "what needs my attention?" first (issue 8 §3): overdue receipts with their grace
period, claims waiting for the client, renewals, connections; upcoming payments; unambiguous money; words,
not codes; phones by line and country; filters and tabs that keep their state after an htmx update."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select, update

from aggregator.demo import DEMO_PAIRS
from aggregator.extensions import db
from aggregator.models import Claim, Coverage, InsurerAccount, Policy, Receipt
from aggregator.models.types import utcnow
from aggregator.policies import presenters
from connectors.models import TaxId, TaxIdType
from tests.conftest import Mailbox, Sandbox, csrf_token, register_verified
from tests.support.data import link_pair, link_sample, user_id

HX = {"HX-Request": "true"}
NBSP = "\u00a0"


def count_testid(html: str, name: str) -> int:
    return html.count(f'data-testid="{name}"')


def block(html: str, testid: str) -> str:
    """The element with ``data-testid=testid`` up to the next sibling section (good enough for these pages)."""
    start = html.index(f'data-testid="{testid}"')
    end = html.find("</section>", start)
    return html[start:end]


@pytest.fixture
def demo(app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]) -> dict[str, Any]:
    """A signed-in user holding the demo user's profiles (``aggregator demo``), synced from both sandboxes."""
    register_verified(client, mailbox, "demo.like@example.com")
    with app.app_context():
        uid = user_id("demo.like@example.com")
        accounts = [
            link_pair(uid, p.insurer, TaxId(TaxIdType(p.id_type), p.id_number), p.policy_number) for p in DEMO_PAIRS
        ]
        return {"uid": uid, "accounts": [a.id for a in accounts]}


def _overdue(app: Flask, accounts: list[int]) -> Receipt:
    with app.app_context():
        found = db.session.scalars(
            select(Receipt)
            .join(Policy, Policy.id == Receipt.policy_id)
            .where(Policy.account_id.in_(accounts), Receipt.status == "overdue")
            .order_by(Receipt.due_date)
        ).first()
        assert found is not None, "the demo holds an overdue receipt"
        db.session.expunge(found)
        return found


def _short(app: Flask, day: date) -> str:
    with app.test_request_context(), force_locale("es"):
        return presenters.day_short(day)


def test_the_demo_user_sees_the_overdue_receipt_and_the_claim_waiting_first(
    app: Flask, client: FlaskClient, demo: dict[str, Any]
) -> None:
    receipt = _overdue(app, demo["accounts"])
    assert receipt.grace_until is not None and receipt.grace_until >= date.today(), "within its grace period"
    html = client.get("/").get_data(as_text=True)
    strip = block(html, "attention")
    assert "Requiere atención" in strip
    kinds = re.findall(r'data-testid="attention-item" data-kind="([a-z]+)"', strip)
    assert kinds[0] == "overdue" and "claim" in kinds  # the most urgent first
    assert f"Paga antes del {_short(app, receipt.grace_until)} para conservar tu cobertura" in strip
    assert "espera documentos tuyos" in strip and "Denuncia policial" in strip
    with app.app_context():
        waiting = db.session.scalars(
            select(Claim).where(Claim.account_id.in_(demo["accounts"]), Claim.waiting_on_client.is_(True))
        ).all()
        assert {c.insurer_id for c in waiting} == {a.insurer_id for a in db.session.scalars(select(InsurerAccount))}
    for claim in waiting:
        assert f'href="/claims/{claim.id}"' in strip
    # Above everything else: the strip comes before the connections, the filters and the policies.
    assert html.index('data-testid="attention"') < html.index('id="sync-status"') < html.index('id="filters"')
    assert html.index('id="filters"') < html.index('data-testid="policy"')


def test_a_receipt_past_its_grace_period_says_what_that_means(
    app: Flask, client: FlaskClient, demo: dict[str, Any]
) -> None:
    receipt = _overdue(app, demo["accounts"])
    ended = date.today() - timedelta(days=2)
    with app.app_context():
        db.session.execute(
            update(Receipt)
            .where(Receipt.id == receipt.id)
            .values(due_date=ended - timedelta(days=30), grace_until=ended)
        )
        db.session.commit()
    strip = block(client.get("/").get_data(as_text=True), "attention")
    assert 'data-kind="lapsed"' in strip
    assert f"su periodo de gracia terminó el {_short(app, ended)}" in strip
    assert "puede cancelar la póliza" in strip and "Llama a GNP Seguros al 55 5227 9000" in strip
    detail = client.get(f"/policies/{receipt.policy_id}").get_data(as_text=True)
    assert 'data-testid="due-notice" data-state="lapsed"' in detail


def test_renewals_and_connections_that_need_the_user(app: Flask, client: FlaskClient, demo: dict[str, Any]) -> None:
    soon = date.today() + timedelta(days=12)
    with app.app_context():
        policy = db.session.scalars(
            select(Policy).where(Policy.account_id == demo["accounts"][0], Policy.status == "in_force")
        ).first()
        assert policy is not None
        db.session.execute(update(Policy).where(Policy.id == policy.id).values(term_end=soon))
        db.session.execute(
            update(InsurerAccount)
            .where(InsurerAccount.id == demo["accounts"][1])
            .values(health="needs_attention", last_error="reauth")
        )
        db.session.commit()
        number = policy.number
    strip = block(client.get("/").get_data(as_text=True), "attention")
    assert 'data-kind="renewal"' in strip and f"Tu póliza {number} termina el {_short(app, soon)}" in strip
    assert 'data-kind="connection"' in strip and 'href="/profiles/link"' in strip


def test_nothing_to_do_is_one_calm_line(app: Flask, client: FlaskClient, demo: dict[str, Any]) -> None:
    with app.app_context():
        db.session.execute(update(Claim).values(waiting_on_client=False, requested_documents=[]))
        db.session.execute(update(Receipt).where(Receipt.due_date <= date.today()).values(status="paid"))
        db.session.execute(
            update(Policy)
            .where(Policy.term_end <= date.today() + timedelta(days=31))
            .values(term_end=date.today() + timedelta(days=200))
        )
        db.session.commit()
    strip = block(client.get("/").get_data(as_text=True), "attention")
    assert count_testid(strip, "attention-item") == 0
    assert count_testid(strip, "attention-none") == 1 and "Nada requiere tu atención" in strip


def test_upcoming_payments_are_scheduled_not_a_debt(app: Flask, client: FlaskClient, demo: dict[str, Any]) -> None:
    html = client.get("/").get_data(as_text=True)
    payments = block(html, "upcoming-payments")
    rows = re.findall(r'data-testid="upcoming-payment" data-policy="(\d+)" data-state="([a-z_]+)"', payments)
    assert len(rows) >= 3 and len({p for p, _ in rows}) == len(rows)  # the next receipt of each policy
    assert {s for _, s in rows} <= {"scheduled", "due_today"} and "Programado" in payments
    assert "Pendiente" not in payments
    policy_id = int(rows[0][0])
    detail = client.get(f"/policies/{policy_id}").get_data(as_text=True)
    states = re.findall(r'data-testid="receipt" data-status="[a-z]+" data-state="([a-z_]+)"', detail)
    assert states and "scheduled" in states
    receipts = detail[detail.index('data-testid="payments"') :]
    assert ">Programado<" in receipts and ">Pendiente<" not in receipts


def test_money_shows_the_currency_code_when_the_user_holds_two(
    app: Flask, client: FlaskClient, demo: dict[str, Any]
) -> None:
    with app.app_context():
        currencies = sorted({c for a in db.session.scalars(select(InsurerAccount)) for c in a.currencies})
        auto_ar = db.session.scalar(select(Policy).where(Policy.number == "AR-MOT-1242486"))
        assert auto_ar is not None
        auto_id, premium, frequency = auto_ar.id, auto_ar.premium_cents, auto_ar.payment_frequency
    assert currencies == ["ARS", "MXN"]  # kept by the sync per insurer account
    pages = [client.get(p).get_data(as_text=True) for p in ("/", f"/policies/{auto_id}", "/claims")]
    for html in pages:
        assert not re.search(r"\$\s?\d", html), "a bare $ amount on a page of a user with two currencies"
    assert f"MXN{NBSP}" in pages[0] and f"ARS{NBSP}" in pages[0]
    assert frequency == "monthly" and premium % 12 == 0
    total = presenters.format_cents(premium, "ARS", "es", True)
    share = presenters.format_cents(premium // 12, "ARS", "es", True)
    assert f"Prima anual {total} · 12 pagos de {share}" in pages[1]
    assert "Mensual" not in block(pages[1], "premium")


def test_money_keeps_its_symbol_for_a_user_with_one_currency(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    register_verified(client, mailbox, "solo.mxn@example.com")
    with app.app_context():
        link_sample(user_id("solo.mxn@example.com"), "gnp")
    html = client.get("/").get_data(as_text=True)
    assert re.search(r"\$\d{1,3}(\.\d{3})*,\d{2}", html) and f"MXN{NBSP}" not in html


def test_connections_collapse_to_one_line_unless_something_is_wrong(
    app: Flask, client: FlaskClient, demo: dict[str, Any], sandboxes: dict[str, Sandbox]
) -> None:
    html = client.get("/").get_data(as_text=True)
    panel = re.search(r'<details class="connections[^>]*>', html)
    assert panel is not None and " open" not in panel.group(0)
    assert "4 conexiones al día" in html and count_testid(html, "refresh") == 1
    sandboxes["gnp"].faults(status=500)
    client.post("/refresh", data={"csrf_token": csrf_token(client, "/")})
    html = client.get("/").get_data(as_text=True)
    panel = re.search(r'<details class="connections[^>]*>', html)
    assert panel is not None and " open" in panel.group(0) and count_testid(html, "stale-notice") == 1
    assert "2 conexiones requieren atención" in html


def test_filters_chips_and_clear_survive_an_htmx_update(client: FlaskClient, demo: dict[str, Any]) -> None:
    page = client.get("/").get_data(as_text=True)
    form = page[page.index('<form id="filters"') : page.index("</form>", page.index('<form id="filters"'))]
    assert '<option value="">Todas</option>' in form.split('id="f-insurer"')[1].split("</select>")[0]
    outside_noscript = re.sub(r"<noscript>.*?</noscript>", "", form, flags=re.S)
    assert 'type="submit"' not in outside_noscript  # changing a filter applies it: no "Filtrar" button
    assert count_testid(page, "filter-chips") == 0
    fragment = client.get("/?insurer=gnp&line=auto", headers={**HX, "HX-Trigger-Name": "filters"})
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="results"')
    chips = re.findall(r'<a class="chip" href="([^"]+)" data-testid="filter-chip"[^>]*>([^<]+)<', body)
    assert ("/?line=auto", "Aseguradora: GNP Seguros") in chips and ("/?insurer=gnp", "Ramo: Autos") in chips
    assert 'data-testid="clear-filters"' in body


def test_claims_tabs_keep_their_active_state_after_an_htmx_switch(client: FlaskClient, demo: dict[str, Any]) -> None:
    fragment = client.get("/claims?status=open", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="claims-results">') and "<html" not in fragment
    active = re.findall(r'<a class="nav-link active" aria-current="page"\s+href="([^"]+)"', fragment)
    assert active == ["/claims?status=open"]
    full = client.get("/claims").get_data(as_text=True)
    assert re.findall(r'<a class="nav-link active" aria-current="page"\s+href="([^"]+)"', full) == ["/claims"]


def test_no_raw_insurer_code_reaches_the_user(app: Flask, client: FlaskClient, demo: dict[str, Any]) -> None:
    with app.app_context():
        claims = db.session.scalars(select(Claim).where(Claim.coverage_code.is_not(None))).all()
        policies = db.session.scalars(select(Policy)).all()
        names = {
            c.id: db.session.scalar(
                select(Coverage.name).where(Coverage.policy_id == c.policy_id, Coverage.code == c.coverage_code)
            )
            for c in claims
        }
    codes = ("FNOL_RECEIVED", "ADJUSTER_ASSIGNED", "AWAITING_DOCUMENTS", "IN_ASSESSMENT", "grace_period", ">active<")
    pages = [client.get("/claims").get_data(as_text=True), client.get("/").get_data(as_text=True)]
    pages += [client.get(f"/policies/{p.id}").get_data(as_text=True) for p in policies]
    for claim in claims:
        detail = client.get(f"/claims/{claim.id}").get_data(as_text=True)
        pages.append(detail)
        assert f">{claim.coverage_code}<" not in detail
        name = names[claim.id]
        if name:
            assert name in block(detail, "claim-coverage")
    for html in pages:
        assert not [code for code in codes if code in html]
        assert "según la aseguradora: Vigente" not in html  # the insurer's word only where it adds something


def test_policy_page_phones_by_line_and_country_and_included_coverages_first(
    app: Flask, client: FlaskClient, demo: dict[str, Any]
) -> None:
    with app.app_context():
        auto_ar = db.session.scalar(select(Policy.id).where(Policy.number == "AR-MOT-1242486"))
        gnp_auto = db.session.scalar(select(Policy.id).where(Policy.number == "1179187742"))  # Santiago's car
        excluded = db.session.scalar(
            select(Coverage.policy_id).where(Coverage.covered.is_(False)).order_by(Coverage.policy_id)
        )
    assert auto_ar and gnp_auto and excluded
    html = client.get(f"/policies/{auto_ar}").get_data(as_text=True)
    call = re.search(r'data-testid="call-bar">\s*<a [^>]*href="([^"]+)"', html)
    assert call is not None and call.group(1) == "tel:08005550143"  # Argentina, cars: roadside assistance
    assert 'href="tel:8005550142"' not in html and 'href="tel:8005550143"' not in html  # Mexico's lines are not
    assert "Llamar a asistencia" in html
    gnp = client.get(f"/policies/{gnp_auto}").get_data(as_text=True)
    assert "tel:5552279000" in gnp and "tel:5559854280" not in gnp  # the devices line is not for a car
    page = client.get(f"/policies/{excluded}").get_data(as_text=True)
    rows = re.findall(r'data-testid="coverage" data-code="[^"]+" (class="text-body-secondary")?', page)
    flags = [bool(r) for r in rows]
    assert flags == sorted(flags) and True in flags  # every included coverage before the first excluded one
    details = re.search(
        r'<details class="coverage-more[^"]*" data-testid="not-included"( open)?>\s*<summary>([^<]+)', page
    )
    assert details is not None and details.group(1) is None
    assert details.group(2) == f"No incluidas ({flags.count(True)})"


def test_help_lists_every_insurers_phones(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        from aggregator.services import insurers

        insurers.ensure_insurers()
        db.session.commit()
    html = client.get("/help").get_data(as_text=True)
    assert 'data-testid="help-phones" data-insurer="gnp"' in html
    assert 'data-testid="help-phones" data-insurer="australis"' in html
    assert "0800 555 0142" in html and "55 5227 9000" in html


def test_attention_costs_a_fixed_number_of_statements(app: Flask, client: FlaskClient, demo: dict[str, Any]) -> None:
    from tests.integration.test_query_counts import statements_for

    full = statements_for(app, client, "/")
    fragment = statements_for(app, client, "/?q=a", headers={**HX, "HX-Trigger-Name": "q"})
    assert len(fragment) < len(full) <= 8  # the strip and the payments are not read for an htmx update


def test_when_a_refresh_ends_the_strip_and_the_payments_are_brought_up_to_date(
    app: Flask, client: FlaskClient, demo: dict[str, Any]
) -> None:
    with app.app_context():  # an older copy, from before the insurer asked for documents
        db.session.execute(update(Claim).values(waiting_on_client=False, requested_documents=[], content_hash="old"))
        db.session.commit()
    token = csrf_token(client, "/")
    started = client.post("/refresh", headers={**HX, "X-CSRFToken": token}).get_data(as_text=True)
    assert 'id="attention"' not in started  # still syncing: only the progress panel
    done = client.get("/sync/status?was=syncing", headers=HX)
    assert done.headers.get("HX-Trigger") == "sync-done"
    body = done.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="sync-status"')
    attention = re.search(r'<section [^>]*id="attention"[^>]*>', body)
    payments = re.search(r'<section [^>]*id="payments"[^>]*>', body)
    assert attention and 'hx-swap-oob="true"' in attention.group(0)
    assert payments and 'hx-swap-oob="true"' in payments.group(0)
    assert 'data-kind="claim"' in body  # the sync brought the claims waiting for documents back
    quiet = client.get("/sync/status", headers=HX).get_data(as_text=True)
    assert 'id="attention"' not in quiet  # a poll outside a running sync swaps nothing else


def test_while_the_first_sync_runs_the_strip_does_not_say_all_is_well(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    register_verified(client, mailbox, "nuevo@example.com")
    with app.app_context():
        account = link_sample(user_id("nuevo@example.com"), "gnp", run_sync=False)
        db.session.execute(
            update(InsurerAccount).where(InsurerAccount.id == account.id).values(sync_queued_at=utcnow())
        )
        db.session.commit()
    strip = block(client.get("/").get_data(as_text=True), "attention")
    assert count_testid(strip, "attention-pending") == 1 and count_testid(strip, "attention-none") == 0
