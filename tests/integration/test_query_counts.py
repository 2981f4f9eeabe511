"""Query counts (issue 4): the dashboard, policy detail and claims pages issue the same, small number of
SQL statements for 5 and for 50 policies. Every statement of the request is counted, login machinery included."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from aggregator import fragments
from aggregator.extensions import db
from aggregator.models import Claim, ClientProfile, Document, GrantAccount, InsurerAccount, Policy, ProfileGrant
from aggregator.models.types import utcnow
from aggregator.services import insurers, portfolio, sync
from connectors import models as cm
from tests.conftest import Mailbox, register_verified
from tests.support.data import user_id

MAX_STATEMENTS = 8
MXN = "MXN"


def _money(amount: str) -> cm.Money:
    return cm.Money(Decimal(amount), MXN)


def synthetic_portfolio(client_ref: str, count: int) -> cm.Portfolio:
    """``count`` policies across lines, each with coverages, receipts, documents and a claim."""
    lines = list(cm.Line)
    today = date.today()
    holder = cm.Party("Lucía Pérez Soto", cm.PartyKind.PERSON)
    policies, claims = [], []
    for i in range(count):
        ext = f"{client_ref}-P{i:04d}"
        policies.append(
            cm.Policy(
                external_id=ext,
                number=f"{client_ref}-{i:05d}",
                line=lines[i % len(lines)],
                product=f"Producto {i}",
                status=cm.PolicyStatus.IN_FORCE,
                insurer_status="Vigente",
                term_start=today - timedelta(days=300),
                term_end=today + timedelta(days=10 + i),
                premium=_money("12000.00"),
                payment_frequency=cm.PaymentFrequency.MONTHLY,
                holder=holder,
                insured=cm.Vehicle(make="Nissan", model="Versa", year=2022, version="Sense", plate=f"ABC{i:03d}"),
                coverages=tuple(
                    cm.Coverage(
                        code=f"C{j}",
                        name=f"Cobertura {j}",
                        sum_insured=_money("500000.00"),
                        deductible=cm.Deductible(cm.DeductibleKind.PERCENTAGE, percentage=Decimal("5")),
                    )
                    for j in range(4)
                ),
                receipts=tuple(
                    cm.Receipt(
                        number=f"R{i}-{j}",
                        due_date=today - timedelta(days=30 * (5 - j)),
                        amount=_money("1000.00"),
                        status=cm.ReceiptStatus.PAID if j < 5 else cm.ReceiptStatus.PENDING,
                        paid_at=datetime.now(UTC) - timedelta(days=30 * (5 - j)) if j < 5 else None,
                    )
                    for j in range(6)
                ),
                documents=(
                    cm.DocumentRef(ref=f"{client_ref}-D{i}-P", kind=cm.DocumentKind.POLICY, title="Póliza"),
                    cm.DocumentRef(ref=f"{client_ref}-D{i}-C", kind=cm.DocumentKind.CONDITIONS, title="Condiciones"),
                ),
            )
        )
        occurred = datetime.now(UTC) - timedelta(days=i + 1)
        claims.append(
            cm.Claim(
                external_id=f"{client_ref}-S{i:04d}",
                number=f"SIN-{client_ref}-{i:05d}",
                policy_external_id=ext,
                occurred_at=occurred,
                reported_at=occurred + timedelta(hours=2),
                status=cm.ClaimStatus.OPEN if i % 2 else cm.ClaimStatus.CLOSED_PAID,
                insurer_status="En trámite",
                claimed_amount=_money("3000.00"),
                history=(cm.ClaimEvent(occurred, cm.ClaimStatus.OPEN, "Reportado", "Recibido"),),
                documents=(cm.DocumentRef(ref=f"{client_ref}-SD{i}", kind=cm.DocumentKind.CLAIM, title="Constancia"),),
            )
        )
    match = cm.ClientMatch(client_ref=client_ref, name="Lucía Pérez Soto", kind=cm.PartyKind.PERSON)
    return cm.Portfolio(client=match, policies=tuple(policies), claims=tuple(claims), fetched_at=datetime.now(UTC))


def give_policies(email: str, count: int) -> None:
    """A profile of ``email``'s user at GNP holding ``count`` synthetic policies, synced just now."""
    uid = user_id(email)
    ids = insurers.ensure_insurers()
    profile = ClientProfile(country="MX", id_type="RFC", id_number=f"PESL{count:06d}AB1", name="Lucía Pérez Soto")
    db.session.add(profile)
    db.session.flush()
    grant = ProfileGrant(profile_id=profile.id, user_id=uid, granted_via="tax_id")
    db.session.add(grant)
    account = InsurerAccount(profile_id=profile.id, insurer_id=ids["gnp"], client_ref=f"QC{count}")
    db.session.add(account)
    db.session.flush()
    db.session.add(GrantAccount(grant_id=grant.id, account_id=account.id, granted_via="tax_id"))
    sync.apply_portfolio(db.session(), account, synthetic_portfolio(account.client_ref, count), utcnow())
    account.health, account.last_success_at = "ok", utcnow()
    db.session.commit()


@contextmanager
def counting(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement sent to the database while the block runs."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split())[:160])

    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _count)


def statements_for(app: Flask, client: FlaskClient, url: str, *, cached: bool = False, **kwargs: Any) -> list[str]:
    """The statements of one request, after a warm-up; rendered fragments forgotten first unless ``cached``."""
    client.get(url, **kwargs)  # warm: the session's last-seen time and any first-request work
    if not cached:
        with app.app_context():
            fragments.clear()  # count the page's own work, not a copy kept from the warm-up
    with counting(app) as statements:
        answer = client.get(url, **kwargs)
    assert answer.status_code == 200, (url, answer.status_code)
    return statements


@pytest.fixture
def two_users(app: Flask, mailbox: Mailbox) -> dict[int, tuple[FlaskClient, dict[str, int]]]:
    """A user with 5 policies and one with 50, each signed in on its own client."""
    found: dict[int, tuple[FlaskClient, dict[str, int]]] = {}
    for count in (5, 50):
        client = app.test_client()
        email = f"q{count}@example.com"
        register_verified(client, mailbox, email)
        with app.app_context():
            give_policies(email, count)
            uid = user_id(email)
            account = db.session.scalar(
                select(InsurerAccount)
                .join(ProfileGrant, ProfileGrant.profile_id == InsurerAccount.profile_id)
                .where(ProfileGrant.user_id == uid)
            )
            assert account is not None
            policy = db.session.scalar(select(Policy).where(Policy.account_id == account.id).order_by(Policy.id))
            claim = db.session.scalar(select(Claim).where(Claim.account_id == account.id).order_by(Claim.id))
            assert policy is not None and claim is not None
            doc = db.session.scalar(select(Document.id).where(Document.claim_id == claim.id))
            assert db.session.scalar(select(Policy.id).where(Policy.account_id == account.id).offset(count - 1))
            found[count] = (client, {"policy": policy.id, "claim": claim.id, "doc": int(doc or 0)})
    return found


PAGES = {
    "dashboard": lambda ids: "/",
    "dashboard_all": lambda ids: "/?status=all&q=nissan",
    "policy_detail": lambda ids: f"/policies/{ids['policy']}",
    "claims": lambda ids: "/claims",
    "claim_detail": lambda ids: f"/claims/{ids['claim']}",
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_same_small_number_of_statements_for_5_and_50_policies(
    app: Flask, two_users: dict[int, tuple[FlaskClient, dict[str, int]]], page: str
) -> None:
    counts = {}
    for count, (client, ids) in two_users.items():
        statements = statements_for(app, client, PAGES[page](ids))
        counts[count] = statements
    small, big = counts[5], counts[50]
    detail = "\n".join(f"  {s}" for s in big)
    print(f"\n{page}: 5 policies -> {len(small)}, 50 policies -> {len(big)}\n{detail}")
    assert len(small) == len(big), f"{page}: {len(small)} statements for 5 policies, {len(big)} for 50:\n{detail}"
    assert len(big) <= MAX_STATEMENTS, f"{page}: {len(big)} statements:\n{detail}"


def test_htmx_fragment_and_sync_status_are_cheap_too(
    app: Flask, two_users: dict[int, tuple[FlaskClient, dict[str, int]]]
) -> None:
    client, _ids = two_users[50]
    fragment = statements_for(app, client, "/?q=versa", headers={"HX-Request": "true"})
    status = statements_for(app, client, "/sync/status", headers={"HX-Request": "true"})
    assert len(fragment) <= MAX_STATEMENTS and len(status) <= MAX_STATEMENTS


def test_the_dashboard_counts_all_fifty_and_shows_the_first_of_each_line(
    two_users: dict[int, tuple[FlaskClient, dict[str, int]]],
) -> None:
    client, _ids = two_users[50]
    html = client.get("/").get_data(as_text=True)
    counts = [int(n) for n in re.findall(r'data-testid="line-group" data-line="[a-z]+" data-count="(\d+)"', html)]
    assert sum(counts) == 50 and len(counts) == 6
    assert html.count('data-testid="policy"') == sum(min(n, portfolio.FIRST_CARDS) for n in counts)
