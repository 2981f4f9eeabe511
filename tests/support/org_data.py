"""Organizations, members and organization grants for tests, written straight to the database.

The pages that create organizations and invite members have their own tests; these helpers set the
stage for the client pages (call inside an app context).
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from aggregator.extensions import db
from aggregator.models import (
    ClientProfile,
    InsurerAccount,
    Membership,
    Organization,
    OrgGrant,
    OrgGrantAccount,
    User,
)
from aggregator.models.types import utcnow
from aggregator.services import insurers, sync
from connectors import models as cm
from tests.support.data import user_id


def make_org(slug: str, *, kind: str = "broker", agents_see_all: bool = False, name: str | None = None) -> int:
    """An organization (its tax ID made up, never validated here); its id."""
    org = Organization(
        slug=slug,
        name=name or slug.replace("-", " ").title(),
        kind=kind,
        country="MX",
        tax_id_type="RFC",
        tax_id=f"XAX{secrets.randbelow(10**9):09d}",
        invite_code=secrets.token_hex(4).upper(),
        agents_see_all=agents_see_all,
    )
    db.session.add(org)
    db.session.commit()
    return org.id


def add_member(org_id: int, email: str, role: str) -> int:
    """Make the (registered) user with this email a member of the organization; the membership's id."""
    membership = Membership(organization_id=org_id, user_id=user_id(email), role=role)
    db.session.add(membership)
    db.session.commit()
    return membership.id


def grant_accounts(
    org_id: int,
    accounts: list[InsurerAccount],
    *,
    origin: str = "demo",
    claim_details: bool = True,
    assigned: str | None = None,
) -> int:
    """A live grant of the organization on the accounts' profile covering exactly ``accounts``; its id."""
    profile_id = accounts[0].profile_id
    grant = OrgGrant(
        organization_id=org_id,
        profile_id=profile_id,
        scope="read",
        origin=origin,
        claim_details=claim_details,
        assigned_user_id=user_id(assigned) if assigned else None,
    )
    db.session.add(grant)
    db.session.flush()
    for account in accounts:
        db.session.add(OrgGrantAccount(grant_id=grant.id, account_id=account.id, origin=origin))
    db.session.commit()
    return grant.id


def bare_clients(org_id: int, count: int, prefix: str) -> None:
    """``count`` client profiles with one GNP account each (no policies), granted to the organization."""
    ids = insurers.ensure_insurers()
    for index in range(count):
        profile = ClientProfile(
            country="MX", id_type="RFC", id_number=f"{prefix}{index:06d}X1", name=f"Cliente {prefix} {index:03d}"
        )
        db.session.add(profile)
        db.session.flush()
        account = InsurerAccount(profile_id=profile.id, insurer_id=ids["gnp"], client_ref=f"{prefix}-{index}")
        db.session.add(account)
        db.session.flush()
        grant = OrgGrant(organization_id=org_id, profile_id=profile.id, scope="read", origin="demo")
        db.session.add(grant)
        db.session.flush()
        db.session.add(OrgGrantAccount(grant_id=grant.id, account_id=account.id, origin="demo"))
    db.session.commit()


MXN = "MXN"
ROSTER = ("Laura Méndez Ruiz", "Pedro Salas Ortega", "Sofía Núñez Vega")
DIAGNOSIS = "Apendicectomía de urgencia"  # what HR must never read without the employee's consent


def _money(amount: str) -> cm.Money:
    return cm.Money(Decimal(amount), MXN)


def employer_with_group_policy(id_number: str = "EMP010101AB1") -> InsurerAccount:
    """A company at GNP holding a group medical policy (its roster of employees and receipts) with one
    employee's claim under it: diagnosis, amounts, a requested document and a claim document."""
    ids = insurers.ensure_insurers()
    profile = ClientProfile(country="MX", id_type="RFC", id_number=id_number, kind="company", name="Empresa Ejemplo SA")
    db.session.add(profile)
    db.session.flush()
    account = InsurerAccount(profile_id=profile.id, insurer_id=ids["gnp"], client_ref=f"EMP-{id_number}")
    db.session.add(account)
    db.session.flush()
    today = date.today()
    holder = cm.Party("Empresa Ejemplo SA", cm.PartyKind.COMPANY)
    policy = cm.Policy(
        external_id="GMMC-1",
        number="GMMC-000123",
        line=cm.Line.GMM,
        product="GMM Colectivo Empresarial",
        status=cm.PolicyStatus.IN_FORCE,
        insurer_status="Vigente",
        term_start=today - timedelta(days=100),
        term_end=today + timedelta(days=265),
        premium=_money("480000.00"),
        payment_frequency=cm.PaymentFrequency.MONTHLY,
        holder=holder,
        group=True,
        insured=cm.InsuredPeople(tuple(cm.InsuredPerson(name, "empleado") for name in ROSTER)),
        receipts=tuple(
            cm.Receipt(
                number=f"RC-{j}",
                due_date=today - timedelta(days=30 * (3 - j)),
                amount=_money("40000.00"),
                status=cm.ReceiptStatus.PAID if j < 3 else cm.ReceiptStatus.PENDING,
                paid_at=datetime.now(UTC) - timedelta(days=30 * (3 - j)) if j < 3 else None,
            )
            for j in range(5)
        ),
        documents=(cm.DocumentRef(ref="EMP-DOC-P", kind=cm.DocumentKind.POLICY, title="Carátula colectiva"),),
    )
    occurred = datetime.now(UTC) - timedelta(days=12)
    claim = cm.Claim(
        external_id="GMMC-S1",
        number="SIN-GMMC-77",
        policy_external_id="GMMC-1",
        occurred_at=occurred,
        reported_at=occurred + timedelta(hours=3),
        status=cm.ClaimStatus.UNDER_REVIEW,
        insurer_status="En dictamen médico",
        description=DIAGNOSIS,
        claimed_amount=_money("85000.00"),
        history=(
            cm.ClaimEvent(occurred, cm.ClaimStatus.OPEN, "Reportado", "Hospital Ángeles"),
            cm.ClaimEvent(occurred + timedelta(days=1), cm.ClaimStatus.UNDER_REVIEW, "En dictamen médico", DIAGNOSIS),
        ),
        documents=(cm.DocumentRef(ref="EMP-DOC-S", kind=cm.DocumentKind.CLAIM, title="Informe médico"),),
        waiting_on_client=True,
        requested_documents=("Estudios de laboratorio",),
    )
    match = cm.ClientMatch(client_ref=account.client_ref, name=profile.name, kind=cm.PartyKind.COMPANY)
    portfolio = cm.Portfolio(client=match, policies=(policy,), claims=(claim,), fetched_at=datetime.now(UTC))
    sync.apply_portfolio(db.session(), account, portfolio, utcnow())
    account.health, account.last_success_at = "ok", utcnow()
    db.session.commit()
    return account


def membership_of(org_id: int, email: str) -> Membership:
    found = db.session.scalar(
        select(Membership).where(Membership.organization_id == org_id, Membership.user_id == user_id(email))
    )
    assert found is not None
    return found


def user(email: str) -> User:
    found = db.session.get(User, user_id(email))
    assert found is not None
    return found
