"""Pages stay small whatever the data (issue 9): "Mis seguros" counts each line and shows its first cards,
"ver más" pages by keyset (htmx and a real link), "Siniestros" pages the same way, the connections panel and
its poll count accounts by status, "Requiere atención" lists a few of each kind and counts the rest."""

from __future__ import annotations

import html as htmllib
import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from aggregator.extensions import db
from aggregator.models import Claim, ClientProfile, GrantAccount, InsurerAccount, Policy, ProfileGrant, Receipt
from aggregator.models.types import utcnow
from aggregator.policies import presenters
from aggregator.services import insurers, portfolio
from tests.conftest import Mailbox, register_verified
from tests.integration.test_query_counts import give_policies, statements_for
from tests.support.data import user_id

HX = {"HX-Request": "true"}
COUNT = 200  # policies of the user: 33 or 34 in each line (cm.Line has six), more than the first two pages


def cards(html: str) -> list[str]:
    """The policy numbers of the cards of a page or fragment, in order."""
    return re.findall(r'data-testid="policy" data-policy-number="([^"]+)"', html)


def claim_cards(html: str) -> list[str]:
    return re.findall(r'data-testid="claim" data-claim-number="([^"]+)"', html)


def more_link(html: str, testid: str = "more-policies", line: str | None = None) -> str | None:
    """The "ver más" address after the cards of ``line`` (or the only one), checked to be the same for htmx."""
    pattern = rf'data-testid="{testid}"' + (rf' data-line="{line}"' if line else "") + r"[^>]*>\s*<a ([^>]*)>"
    found = re.search(pattern, html)
    if found is None:
        return None
    attrs = dict(re.findall(r'([a-z-]+)="([^"]*)"', found.group(1)))
    assert attrs["href"] == attrs["hx-get"], "the link and htmx ask for the same page"
    assert attrs["hx-target"] == "closest .more-cards" and attrs["hx-swap"] == "outerHTML"
    return htmllib.unescape(attrs["href"])


@pytest.fixture
def many(app: Flask, client: FlaskClient, mailbox: Mailbox) -> dict[str, Any]:
    """A signed-in user with ``COUNT`` policies at one insurer account, several sharing their term's end."""
    register_verified(client, mailbox, "muchas@example.com")
    with app.app_context():
        give_policies("muchas@example.com", COUNT)
        uid = user_id("muchas@example.com")
        # Ties: every three policies end the same day, so the keyset's second key (the id) matters.
        for policy_id, term_end in db.session.execute(select(Policy.id, Policy.term_end)).all():
            db.session.execute(
                update(Policy).where(Policy.id == policy_id).values(term_end=term_end - timedelta(days=policy_id % 3))
            )
        db.session.commit()
    return {"uid": uid}


def expected(app: Flask, line: str, **where: Any) -> list[str]:
    """The numbers of the current policies of ``line``, in the order the cards go (term end, then id)."""
    with app.app_context():
        stmt = (
            select(Policy.number)
            .where(Policy.line == line, Policy.status.in_(portfolio.ACTIVE_STATUSES))
            .where(Policy.removed_upstream_at.is_(None))
            .order_by(Policy.term_end, Policy.id)
        )
        for column, value in where.items():
            stmt = stmt.where(getattr(Policy, column).like(value))
        return list(db.session.scalars(stmt))


def walk(client: FlaskClient, start: str, line: str, *, htmx: bool = True) -> tuple[list[str], list[str]]:
    """Every card of ``line`` from ``start`` by following "ver más" to the end: (numbers, addresses visited)."""
    html = client.get(start).get_data(as_text=True)
    section = html.split(f'data-testid="line-group" data-line="{line}"', 1)[1].split('data-testid="line-group"')[0]
    found, visited = cards(section), [start]
    url = more_link(section, line=line)
    while url is not None:
        visited.append(url)
        answer = client.get(url, headers=HX if htmx else {})
        assert answer.status_code == 200
        body = answer.get_data(as_text=True)
        if htmx:
            assert "<html" not in body and 'id="results"' not in body  # only the next cards and their link
            assert "HX-Push-Url" not in answer.headers  # the address bar keeps the filters, not the position
        else:
            assert "<html" in body and 'data-testid="from-start"' in body
            body = body.split('data-testid="line-group"', 1)[1]
        found += cards(body)
        url = more_link(body, line=line)
        assert len(visited) < 50, "ver más never ends"
    return found, visited


def test_the_overview_counts_every_line_and_shows_its_first_cards(
    app: Flask, client: FlaskClient, many: dict[str, Any]
) -> None:
    html = client.get("/").get_data(as_text=True)
    groups = re.findall(r'data-testid="line-group" data-line="([a-z]+)" data-count="(\d+)"', html)
    assert sum(int(n) for _line, n in groups) == COUNT
    assert re.search(rf'data-testid="results-count">\s*{COUNT} pólizas vigentes', html)
    for line, n in groups:
        section = html.split(f'data-line="{line}" data-count="{n}"', 1)[1].split('data-testid="line-group"')[0]
        assert cards(section) == expected(app, line)[: portfolio.FIRST_CARDS]
        assert (more_link(section, line=line) is not None) == (int(n) > portfolio.FIRST_CARDS)
    assert len(cards(html)) == portfolio.FIRST_CARDS * len(groups)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-links"])
def test_ver_mas_walks_every_policy_of_a_line_once_in_order(
    app: Flask, client: FlaskClient, many: dict[str, Any], htmx: bool
) -> None:
    for line in ("auto", "otros"):
        found, visited = walk(client, "/", line, htmx=htmx)
        assert found == expected(app, line), f"{line}: a policy lost, repeated or out of order"
        assert len(set(found)) == len(found)
        assert all("line=" + line in url and "after=" in url for url in visited[1:])


def test_a_line_alone_pages_by_the_larger_page(app: Flask, client: FlaskClient, many: dict[str, Any]) -> None:
    html = client.get("/?line=gmm").get_data(as_text=True)
    assert re.findall(r'data-testid="line-group" data-line="([a-z]+)"', html) == ["gmm"]
    everything = expected(app, "gmm")
    assert cards(html) == everything[: portfolio.PAGE_CARDS]
    found, _visited = walk(client, "/?line=gmm", "gmm")
    assert found == everything


def test_ver_mas_keeps_the_filters(app: Flask, client: FlaskClient, many: dict[str, Any]) -> None:
    """Search and filters reach every policy, and "ver más" carries them along."""
    with app.app_context():
        vida = list(db.session.scalars(select(Policy.id).where(Policy.line == "vida").order_by(Policy.id)))
        db.session.execute(update(Policy).where(Policy.id.in_(vida[::2])).values(status="expired"))
        db.session.commit()
    with app.app_context():
        wanted = list(
            db.session.scalars(
                select(Policy.number)
                .where(Policy.line == "vida", Policy.search_text.like("%nissan%"))
                .order_by(Policy.term_end, Policy.id)
            )
        )
    assert len(wanted) > portfolio.FIRST_CARDS  # every policy is a Nissan: the search matches them all
    start = "/?status=all&q=Nissan"
    found, visited = walk(client, start, "vida")
    assert found == wanted  # expired ones included: the status filter went along
    assert all("status=all" in url and "q=Nissan" in url for url in visited)
    current, _visited = walk(client, "/?q=Nissan", "vida")
    assert current == expected(app, "vida")  # the default filter: current policies only
    assert len(current) < len(found)


def test_a_bad_position_is_the_first_page(app: Flask, client: FlaskClient, many: dict[str, Any]) -> None:
    first = cards(client.get("/?line=auto").get_data(as_text=True))
    for bad in ("x", "2027-13-01_5", "2027-01-01_", "_12", "2027-01-01_99999999999999999999"):
        answer = client.get(f"/?line=auto&after={bad}")
        assert answer.status_code == 200 and cards(answer.get_data(as_text=True)) == first
    # A position without a line is no position: the overview.
    assert client.get("/?after=2027-01-01_5").status_code == 200


def test_statements_per_page_stay_the_same_page_after_page(
    app: Flask, client: FlaskClient, many: dict[str, Any]
) -> None:
    _found, visited = walk(client, "/", "auto")
    assert len(visited) >= 3
    counts = {url: len(statements_for(app, client, url, headers=HX)) for url in visited[1:]}
    assert len(set(counts.values())) == 1, counts
    assert next(iter(counts.values())) <= 3  # the session, the accounts, the page
    overview = statements_for(app, client, "/")
    line_alone = statements_for(app, client, "/?line=auto")
    later = statements_for(app, client, visited[-1])  # a later page as a whole page (no JavaScript)
    assert len(overview) == len(line_alone) == len(later) <= 8


# --- claims -------------------------------------------------------------------------------------------


def expected_claims(app: Flask, statuses: frozenset[str] | None = None) -> list[str]:
    with app.app_context():
        stmt = select(Claim.number).order_by(Claim.reported_at.desc(), Claim.id.desc())
        if statuses is not None:
            stmt = stmt.where(Claim.status.in_(statuses))
        return list(db.session.scalars(stmt))


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-links"])
@pytest.mark.parametrize("tab", ["all", "open"])
def test_claims_page_by_keyset_without_losing_or_repeating_one(
    app: Flask, client: FlaskClient, many: dict[str, Any], htmx: bool, tab: str
) -> None:
    with app.app_context():  # ties: claims reported at the same moment
        db.session.execute(update(Claim).where(Claim.id % 3 == 0).values(reported_at=utcnow() - timedelta(days=1)))
        db.session.commit()
    start = "/claims" if tab == "all" else "/claims?status=open"
    html = client.get(start).get_data(as_text=True)
    found = claim_cards(html)
    assert len(found) == portfolio.CLAIMS_PAGE
    pages = 1
    url = more_link(html, "more-claims")
    while url is not None:
        assert "after=" in url and (tab == "all" or "status=open" in url)
        body = client.get(url, headers=HX if htmx else {}).get_data(as_text=True)
        assert ("<html" in body) != htmx
        found += claim_cards(body)
        url = more_link(body, "more-claims")
        pages += 1
        assert pages < 30
    wanted = expected_claims(app, None if tab == "all" else frozenset(portfolio.OPEN_CLAIM_STATUSES))
    assert found == wanted and len(set(found)) == len(found)


def test_claims_statements_stay_the_same_page_after_page(app: Flask, client: FlaskClient, many: dict[str, Any]) -> None:
    first = client.get("/claims").get_data(as_text=True)
    second_url = more_link(first, "more-claims")
    assert second_url is not None
    third_url = more_link(client.get(second_url, headers=HX).get_data(as_text=True), "more-claims")
    assert third_url is not None
    counts = [len(statements_for(app, client, u, headers=HX)) for u in (second_url, third_url)]
    assert counts[0] == counts[1] <= 3
    assert len(statements_for(app, client, "/claims")) == len(statements_for(app, client, third_url)) <= 4


# --- connections: counted by status, whatever their number ------------------------------------------------


def give_accounts(app: Flask, email: str, count: int, stale: int) -> None:
    """``count`` insurer accounts (one profile each, no policies), ``stale`` of them in trouble."""
    with app.app_context():
        uid = user_id(email)
        ids = insurers.ensure_insurers()
        for n in range(count):
            profile = ClientProfile(country="MX", id_type="RFC", id_number=f"ACCT{n:06d}AB1", name=f"Empresa {n:04d}")
            db.session.add(profile)
            db.session.flush()
            grant = ProfileGrant(profile_id=profile.id, user_id=uid, granted_via="tax_id")
            account = InsurerAccount(
                profile_id=profile.id,
                insurer_id=ids["gnp" if n % 2 else "australis"],
                client_ref=f"acct-{n}",
                health="stale" if n < stale else "ok",
                last_error="unavailable" if n < stale else None,
                last_success_at=utcnow() - timedelta(hours=n),
            )
            db.session.add_all([grant, account])
            db.session.flush()
            db.session.add(GrantAccount(grant_id=grant.id, account_id=account.id, granted_via="tax_id"))
        db.session.commit()


def test_the_connections_panel_counts_accounts_and_lists_only_those_in_trouble(
    app: Flask, client: FlaskClient, mailbox: Mailbox
) -> None:
    register_verified(client, mailbox, "broker@example.com")
    give_accounts(app, "broker@example.com", 60, stale=14)
    html = client.get("/").get_data(as_text=True)
    assert "14 conexiones requieren atención" in html
    panel = html[html.index('id="sync-status"') : html.index("</section>", html.index('id="sync-status"'))]
    assert panel.count('data-testid="health"') == 2  # one line per insurer, not per account
    assert re.search(r'data-status="ok">\d+ · Al día<', panel) and re.search(r'data-status="stale">7 · ', panel)
    notice = panel[panel.index('data-testid="stale-notice"') :]
    assert notice.count("<li>") <= portfolio.MAX_PROBLEMS and 'data-testid="more-problems"' in notice
    with app.app_context():
        db.session.execute(update(InsurerAccount).values(sync_queued_at=utcnow()))
        db.session.commit()
    small = client.get("/sync/status?was=syncing", headers=HX)
    one = statements_for(app, client, "/sync/status?was=syncing", headers=HX)
    assert len(one) <= 3  # the session and two aggregates, for 60 accounts as for one
    body = small.get_data(as_text=True)
    assert "0 de 60 conexiones" in body and len(body) < 4000


def test_the_poll_backs_off(app: Flask, client: FlaskClient, many: dict[str, Any]) -> None:
    with app.app_context():
        db.session.execute(update(InsurerAccount).values(sync_queued_at=utcnow()))
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert 'hx-get="/sync/status?was=syncing" hx-trigger="every 1s"' in page
    delays = []
    url = "/sync/status?was=syncing"
    for _ in range(12):
        body = client.get(url, headers=HX).get_data(as_text=True)
        found = re.search(r'hx-get="([^"]+)" hx-trigger="every (\d+)s"', body)
        assert found is not None
        url, delay = htmllib.unescape(found.group(1)), int(found.group(2))
        delays.append(delay)
    assert delays == sorted(delays) and delays[0] == 1 and delays[-1] == 10  # quick at first, then at most 10 s


# --- "Requiere atención" with many things to do --------------------------------------------------------------


def test_attention_lists_a_few_of_each_kind_and_counts_the_rest(
    app: Flask, client: FlaskClient, many: dict[str, Any]
) -> None:
    today = date.today()
    with app.app_context():
        late = list(db.session.scalars(select(Policy.id).order_by(Policy.id).limit(10)))  # fewer than are read
        db.session.execute(
            update(Receipt)
            .where(Receipt.policy_id.in_(late), Receipt.status == "pending")
            .values(status="overdue", due_date=today - timedelta(days=5), grace_until=today + timedelta(days=25))
        )
        db.session.execute(update(Policy).where(Policy.id.in_(late)).values(next_due_date=today - timedelta(days=5)))
        db.session.commit()
        renewing = db.session.scalar(
            select(func.count()).where(Policy.term_end <= today + portfolio.RENEWAL_WINDOW, Policy.term_end >= today)
        )
    html = client.get("/").get_data(as_text=True)
    start = html.index('data-testid="attention"')
    strip = html[start : html.index("</section>", start)]
    kinds = re.findall(r'data-testid="attention-item" data-kind="([a-z]+)"', strip)
    assert kinds.count("overdue") == presenters.ATTENTION_SHOWN
    assert kinds.count("renewal") == presenters.ATTENTION_SHOWN and renewing and renewing > presenters.ATTENTION_SHOWN
    more = re.findall(r'data-testid="attention-more" data-count="(\d+)"', strip)
    assert more[0] == str(10 - presenters.ATTENTION_SHOWN)
    assert f"{10 - presenters.ATTENTION_SHOWN} recibos vencidos más" in strip
    assert 'href="/?status=overdue"' in strip
    total = re.search(r'id="h-attention">[^<]*<span class="badge[^"]*">([\d.]+)(\+?)<', strip)
    assert total is not None and int(total.group(1).replace(".", "")) == 10 + min(renewing, portfolio.MAX_ATTENTION)
    assert total.group(2) == ("+" if renewing >= portfolio.MAX_ATTENTION else "")
    # Where "see them" leads: the current policies with a receipt past due, every one of them.
    with app.app_context():
        numbers = set(db.session.scalars(select(Policy.number).where(Policy.id.in_(late))))
    shown = cards(client.get("/?status=overdue").get_data(as_text=True))
    assert set(shown) == numbers


def test_attention_says_at_least_when_it_read_only_the_first(
    app: Flask, client: FlaskClient, many: dict[str, Any]
) -> None:
    today = date.today()
    with app.app_context():
        late = list(db.session.scalars(select(Policy.id).order_by(Policy.id).limit(portfolio.OVERDUE_READ + 5)))
        db.session.execute(
            update(Receipt)
            .where(Receipt.policy_id.in_(late), Receipt.status == "pending")
            .values(status="overdue", due_date=today - timedelta(days=5), grace_until=today + timedelta(days=25))
        )
        db.session.execute(update(Policy).where(Policy.id.in_(late)).values(next_due_date=today - timedelta(days=5)))
        db.session.commit()
    html = client.get("/").get_data(as_text=True)
    hidden = portfolio.OVERDUE_READ - presenters.ATTENTION_SHOWN
    assert f"{hidden}+ recibos vencidos más" in html  # only the first were read: "at least"
    assert re.search(r'id="h-attention">[^<]*<span class="badge[^"]*">\d+\+<', html)
