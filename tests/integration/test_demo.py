"""The demo's sample pairs work against the sandboxes, the README lists the manual ones and the demo's
accounts, and the demo's organizations are seeded through the real paths, idempotently."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from aggregator.demo import (
    AGENT_PAIRS,
    BROKER_ORG,
    DEMO_EMAIL,
    DEMO_PAIRS,
    HR_ORG,
    HR_PAIRS,
    INVITED,
    MANUAL_PAIRS,
    ORG_ACCOUNTS,
    ORG_PAIRS,
    PASSWORD,
    Pair,
    seed_organizations,
)
from aggregator.extensions import db
from aggregator.models import (
    ClientProfile,
    Insurer,
    InsurerAccount,
    Membership,
    Organization,
    OrgGrant,
    OrgGrantAccount,
    SyncRun,
)
from aggregator.models.types import utcnow
from aggregator.services import access, insurers, org_clients, taxids
from connectors.models import PartyKind, TaxId, TaxIdType
from tests.conftest import Mailbox, login, register_verified
from tests.support.data import link_pair, user_id

README = Path(__file__).resolve().parents[2] / "README.md"


ORG_SIDE = ORG_PAIRS + AGENT_PAIRS + HR_PAIRS  # the organizations' clients


@pytest.mark.parametrize(
    "pair", DEMO_PAIRS + MANUAL_PAIRS + ORG_SIDE, ids=lambda p: f"{p.insurer}-{p.id_number}-{p.policy_number}"
)
def test_each_pair_links_in_its_sandbox(app: Flask, sandboxes: Any, pair: Pair) -> None:
    with app.app_context():
        connector = insurers.connector(pair.insurer)
        assert connector is not None
        match = connector.verify_client(TaxId(TaxIdType(pair.id_type), pair.id_number), pair.policy_number)
        assert match is not None, f"the {pair.insurer} sandbox refuses {pair}"
        assert match.name == pair.name


def test_manual_pairs_are_not_the_demo_users_people_and_are_in_the_readme() -> None:
    demo_people = {p.id_number for p in DEMO_PAIRS}
    assert not demo_people & {p.id_number for p in MANUAL_PAIRS}
    readme = README.read_text(encoding="utf-8")
    for pair in MANUAL_PAIRS:
        assert pair.id_number in readme and pair.policy_number in readme, f"README misses {pair}"
    assert {p.insurer for p in MANUAL_PAIRS} == set(insurers.SANDBOX_PORTS), "a pair per sandbox"


def test_organizations_pairs_leave_the_manual_ones_free_and_the_readme_lists_the_accounts() -> None:
    manual = {p.id_number for p in MANUAL_PAIRS}
    assert not manual & {p.id_number for p in ORG_SIDE}, "the broker must be able to link a README pair"
    assert not {p.id_number for p in DEMO_PAIRS} & {p.id_number for p in ORG_SIDE}
    assert INVITED in DEMO_PAIRS, "the client who invites the broker is one the demo user holds"
    assert len({p.id_number for p in ORG_PAIRS + AGENT_PAIRS}) >= 3, "the broker has at least three clients"
    both = {p.id_number for p in ORG_PAIRS if p.insurer == "gnp"} & {
        p.id_number for p in ORG_PAIRS if p.insurer == "australis"
    }
    assert both, "one of the broker's clients is at both insurers"
    assert BROKER_ORG.slug == "broker-demo" and BROKER_ORG.kind == "broker" and HR_ORG.kind == "hr"
    for org in (BROKER_ORG, HR_ORG):
        taxids.validate("RFC", org.tax_id)  # raises if not a valid RFC
    company = taxids.validate("RFC", HR_ORG.tax_id)
    assert taxids.kind_for(company) is PartyKind.COMPANY
    assert {p.id_number for p in HR_PAIRS} == {HR_ORG.tax_id}, "HR links its own company"
    readme = README.read_text(encoding="utf-8")
    for account in ORG_ACCOUNTS:
        assert f"`{account.email}`" in readme, f"README misses {account.email}"
    assert BROKER_ORG.name in readme and HR_ORG.name in readme


def _counts() -> tuple[int, ...]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Organization, Membership, OrgGrant, OrgGrantAccount, ClientProfile, InsurerAccount)
    )


def _grant(org_id: int, id_number: str) -> OrgGrant:
    found = db.session.scalar(
        select(OrgGrant)
        .join(ClientProfile, ClientProfile.id == OrgGrant.profile_id)
        .where(OrgGrant.organization_id == org_id, ClientProfile.id_number == id_number)
    )
    assert found is not None, f"no grant of organization {org_id} on {id_number}"
    return found


def _insurers_of(grant: OrgGrant) -> set[str]:
    return set(
        db.session.scalars(
            select(Insurer.slug)
            .join(InsurerAccount, InsurerAccount.insurer_id == Insurer.id)
            .join(OrgGrantAccount, OrgGrantAccount.account_id == InsurerAccount.id)
            .where(OrgGrantAccount.grant_id == grant.id)
        )
    )


def test_demo_seeds_the_organizations_through_the_real_paths_and_again_changes_nothing(
    app: Flask, client: Any, sandboxes: Any, mailbox: Mailbox
) -> None:
    from aggregator.cli import DEMO_ACCOUNTS, ensure_user, seed_demo_profiles

    with app.app_context():
        for email, password, name, verified in DEMO_ACCOUNTS:
            ensure_user(email, password, full_name=name, verified=verified)
        assert seed_demo_profiles(app, DEMO_EMAIL)
        seeded = seed_organizations(app, "http://localhost")
        assert [s.problems for s in seeded] == [[], []]
        broker, hr = seeded
        assert broker.invited == INVITED.name
        people = {p.name for p in ORG_PAIRS + AGENT_PAIRS} | {INVITED.name}
        assert set(broker.clients) == people
        assert hr.clients == [HR_PAIRS[0].name]

        org = db.session.scalar(select(Organization).where(Organization.slug == "broker-demo"))
        assert org is not None and (org.kind, org.country, org.tax_id) == ("broker", "MX", BROKER_ORG.tax_id)
        roles = {m.user.email: m.role for m in org.members}
        assert roles == {"broker@coberta.example": "owner", "agente@coberta.example": "agent"}
        for pair in ORG_PAIRS + AGENT_PAIRS:
            grant = _grant(org.id, pair.id_number)
            assert grant.origin == "proof" and grant.revoked_at is None
            assert pair.insurer in _insurers_of(grant), "the proof covers the insurer it was made at"
        itzel = _grant(org.id, ORG_PAIRS[0].id_number)
        assert _insurers_of(itzel) == {"gnp", "australis"}
        agent_id, broker_id = user_id("agente@coberta.example"), user_id("broker@coberta.example")
        assert _grant(org.id, AGENT_PAIRS[0].id_number).assigned_user_id == agent_id
        assert itzel.assigned_user_id is None and itzel.granted_by_user_id == broker_id
        invited = _grant(org.id, INVITED.id_number)
        assert invited.origin == "invitation" and invited.granted_by_user_id == user_id(DEMO_EMAIL)
        assert _insurers_of(invited) == {INVITED.insurer}

        hr_org = db.session.scalar(select(Organization).where(Organization.slug == HR_ORG.slug))
        assert hr_org is not None and hr_org.kind == "hr" and hr_org.tax_id == HR_ORG.tax_id
        assert {m.user.email: m.role for m in hr_org.members} == {"rrhh@coberta.example": "owner"}
        company = _grant(hr_org.id, HR_ORG.tax_id)
        assert company.origin == "proof" and _insurers_of(company) == {"gnp"}
        assert company.claim_details is False, "HR sees claims' statuses and counts only"
        assert company.profile.kind == "company"

        # The agent reaches her client only (through services.access, as every page does).
        agent = db.session.get(Membership, next(m.id for m in org.members if m.user_id == agent_id))
        assert agent is not None
        ws = access.workspace_or_404(agent.user, "broker-demo")
        assert [r.name for r in org_clients.clients_page(ws).rows] == [AGENT_PAIRS[0].name]

        before = _counts()
        again = seed_organizations(app, "http://localhost")
        assert [s.problems for s in again] == [[], []]
        assert _counts() == before, "running the demo again duplicates nothing"

    # The client who invited the broker heard of it; the broker signs in and sees the clients.
    assert mailbox.wait_for(DEMO_EMAIL, "organización")
    assert login(client, "broker@coberta.example", PASSWORD).status_code in (200, 302)
    page = client.get("/o/broker-demo/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in people:
        assert name in html

    # A README pair is still free: the broker links it by proof, as the README tells a new user to.
    with app.app_context():
        broker_user = db.session.get(Membership, next(m.id for m in org.members if m.user_id == broker_id))
        assert broker_user is not None
        ws = access.workspace_or_404(broker_user.user, "broker-demo")
        pair = MANUAL_PAIRS[0]
        with app.test_request_context("/o/broker-demo/clients/link", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            linked = org_clients.link_client(ws, broker_user.user, pair.id_type, pair.id_number, pair.policy_number)
            db.session.commit()
        assert linked.ok and linked.result.profile_name == pair.name


def test_sync_command_syncs_due_accounts_and_reports_health(app: Flask, client: Any, mailbox: Any) -> None:
    register_verified(client, mailbox, "cron@example.com")
    with app.app_context():
        pair = MANUAL_PAIRS[0]
        account = link_pair(
            user_id("cron@example.com"),
            pair.insurer,
            TaxId(TaxIdType(pair.id_type), pair.id_number),
            pair.policy_number,
        )
        account_id = account.id
        # Not due yet: the command leaves it alone.
        runner = app.test_cli_runner()
        result = runner.invoke(args=["sync"])
        assert result.exit_code == 0, result.output
        assert "0 insurer account(s) queued" in result.output
        db.session.execute(
            update(InsurerAccount).where(InsurerAccount.id == account_id).values(next_sync_at=utcnow() - timedelta(1))
        )
        db.session.commit()
        before = db.session.scalar(select(func.count()).select_from(SyncRun))
    result = runner.invoke(args=["sync"])
    assert result.exit_code == 0, result.output
    assert "1 insurer account(s) queued" in result.output and "ok 1" in result.output
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(SyncRun))
        assert before is not None and after == before + 1
        synced = db.session.get(InsurerAccount, account_id)
        assert synced is not None and synced.next_sync_at is not None and synced.next_sync_at > utcnow()
