"""Give a user client profiles holding synthetic policies, through the sync engine's own upsert.

    python -m bench.seed --email bench@coberta.example --policies 50 [--accounts 1]

Run with the same ``AGGREGATOR_*`` environment as the portal under test; prints the id of one policy
and of one claim (for the detail pages' URLs) as ``policy=<id> claim=<id>``.

The portfolio is ``bench.upsert.synthetic_portfolio`` (coverages, receipts, documents, a claim every
fifth policy) spread over every line and status the portal knows, and moved in time so that it always
looks the same from today: receipts overdue and due soon, terms ending within the renewal window. One
``sync.apply_portfolio`` per insurer account writes it in bulk (50,000 policies: about a minute on
SQLite, two on PostgreSQL).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from aggregator import create_app
from aggregator.extensions import db
from aggregator.models import Claim, ClientProfile, GrantAccount, InsurerAccount, Policy, ProfileGrant, User
from aggregator.models.types import utcnow
from aggregator.services import insurers, sync
from bench.upsert import synthetic_portfolio
from connectors import models as cm

SYNTHETIC_TODAY = date(2026, 6, 1)  # the day ``synthetic_portfolio`` is written from

# (share in 100, line, product): a large portfolio of cars, health, life, homes, devices and the rest.
LINE_MIX = (
    (36, cm.Line.AUTO, "Auto Más Amplia"),
    (18, cm.Line.GMM, "GMM Flex Plus"),
    (14, cm.Line.VIDA, "Vida Ordinario"),
    (10, cm.Line.HOGAR, "Hogar Integral"),
    (16, cm.Line.DISPOSITIVOS, "Protección de Dispositivos"),
    (6, cm.Line.OTHER, "Viaje Anual"),
)
# Every 25: 22 in force, 1 payment pending, 1 expired, 1 cancelled.
STATUS_CYCLE = (
    *[(cm.PolicyStatus.IN_FORCE, "Vigente")] * 22,
    (cm.PolicyStatus.PENDING_PAYMENT, "Pendiente de pago"),
    (cm.PolicyStatus.EXPIRED, "Vencida"),
    (cm.PolicyStatus.CANCELLED, "Cancelada"),
)


def _line_of(n: int) -> tuple[cm.Line, str]:
    slot = (n * 37) % 100  # spread the lines through the portfolio, not in blocks
    for share, line, product in LINE_MIX:
        if slot < share:
            return line, product
        slot -= share
    return LINE_MIX[-1][1], LINE_MIX[-1][2]


def _moved(value: Any, delta: timedelta) -> Any:
    return None if value is None else value + delta


def realistic_portfolio(client_ref: str, count: int, *, claims_every: int = 5, prefix: str = "POL") -> cm.Portfolio:
    """``synthetic_portfolio`` over every line and status, its dates moved so that it is written from today."""
    base = synthetic_portfolio(client_ref, count, claims_every=claims_every, prefix=prefix)
    delta = date.today() - SYNTHETIC_TODAY
    policies = []
    for n, p in enumerate(base.policies):
        line, product = _line_of(n)
        status, wording = STATUS_CYCLE[n % len(STATUS_CYCLE)]
        receipts = tuple(
            dataclasses.replace(
                r,
                due_date=r.due_date + delta,
                period_start=_moved(r.period_start, delta),
                period_end=_moved(r.period_end, delta),
                grace_until=_moved(r.grace_until, delta),
                paid_at=_moved(r.paid_at, delta),
            )
            for r in p.receipts
        )
        policies.append(
            dataclasses.replace(
                p,
                line=line,
                product=product,
                status=status,
                insurer_status=wording,
                # Terms spread over the whole coming year, so that some renew within the month.
                term_start=p.term_start + delta - timedelta(days=(n * 7) % 65),
                term_end=p.term_end + delta - timedelta(days=(n * 7) % 65),
                insured=p.insured if line is cm.Line.AUTO else None,
                receipts=receipts,
            )
        )
    claims = []
    for n, c in enumerate(base.claims):
        # Spread over the last 400 days (the synthetic ones go one hour apart, years into the future at 50,000).
        shift = base.fetched_at - c.occurred_at + delta - timedelta(minutes=(n * 7919) % (400 * 24 * 60))
        claims.append(
            dataclasses.replace(
                c,
                occurred_at=c.occurred_at + shift,
                reported_at=c.reported_at + shift,
                history=tuple(dataclasses.replace(e, at=e.at + shift) for e in c.history),
            )
        )
    return dataclasses.replace(base, policies=tuple(policies), claims=tuple(claims), fetched_at=base.fetched_at + delta)


@dataclass
class Seeded:
    """What one seeding gave a user: a policy and a claim to open, and the time it took."""

    policy: int
    claim: int | None
    seconds: float


def seed_user(email: str, policies: int, *, accounts: int = 1) -> Seeded:
    """Link ``accounts`` synthetic profiles holding ``policies`` policies in all to the user (in an app context).

    Each profile has one GNP account written by ``sync.apply_portfolio`` and committed on its own.
    """
    started = time.perf_counter()
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        raise SystemExit(f"no user {email}: create it first")
    ids = insurers.ensure_insurers()
    first: InsurerAccount | None = None
    for index in range(accounts):
        share = policies // accounts + (1 if index < policies % accounts else 0)
        ref = f"bench-{user.id}-{index}"
        profile = ClientProfile(
            country="MX",
            id_type="RFC",
            id_number=f"BENCH{user.id:06d}{index:07d}",  # unique per user and profile
            name="Lucía Ortega Ibarra" if accounts == 1 else f"Flotilla {index + 1:04d}, S.A. de C.V.",
        )
        db.session.add(profile)
        db.session.flush()
        grant = ProfileGrant(profile_id=profile.id, user_id=user.id, granted_via="tax_id")
        db.session.add(grant)
        account = InsurerAccount(profile_id=profile.id, insurer_id=ids["gnp"], client_ref=ref)
        db.session.add(account)
        db.session.flush()
        db.session.add(GrantAccount(grant_id=grant.id, account_id=account.id, granted_via="tax_id"))
        now = utcnow()
        portfolio = realistic_portfolio(ref, share, claims_every=5, prefix=f"P{index}-")
        sync.apply_portfolio(db.session(), account, portfolio, now)
        account.health, account.last_success_at, account.next_sync_at = "ok", now, None
        db.session.commit()
        first = first or account
    assert first is not None
    policy_id = db.session.scalar(select(Policy.id).where(Policy.account_id == first.id).order_by(Policy.id).limit(1))
    claim_id = db.session.scalar(select(Claim.id).where(Claim.account_id == first.id).order_by(Claim.id).limit(1))
    assert policy_id is not None
    return Seeded(policy_id, claim_id, time.perf_counter() - started)


def seed(email: str, policies: int, accounts: int = 1, app: Flask | None = None) -> tuple[int, int | None]:
    """Link synthetic profiles with ``policies`` policies to the user; (a policy id, a claim id)."""
    app = app or create_app()
    with app.app_context():
        found = seed_user(email, policies, accounts=accounts)
        return found.policy, found.claim


def analyze(app: Flask) -> None:
    """Refresh the planner's statistics (PostgreSQL: VACUUM ANALYZE, what autovacuum does after a bulk load,
    so that counts are read from the index alone); SQLite is left as the portal leaves it."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "postgresql":
            return
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--email", required=True)
    parser.add_argument("--policies", type=int, default=50)
    parser.add_argument("--accounts", type=int, default=1, help="insurer accounts (profiles) sharing the policies")
    args = parser.parse_args()
    app = create_app()
    policy_id, claim_id = seed(args.email, args.policies, args.accounts, app)
    analyze(app)
    print(f"policy={policy_id} claim={claim_id or ''}")


if __name__ == "__main__":
    main()
