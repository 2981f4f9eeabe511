"""The client stays in control (issue 10 §3): the "Acceso" page, invitations by the client, access requests,
revocation with re-authentication, expiry and its reminder, and the access log the client reads.

Organizations and memberships are created with the models (their own pages are tested elsewhere); who
reaches what is asked of ``services/access.py`` with the member's ``Workspace``, as every page does.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.exceptions import NotFound

from aggregator.extensions import db
from aggregator.models import (
    AccessRequest,
    AuditEvent,
    InsurerAccount,
    Membership,
    Organization,
    OrgGrant,
    OrgGrantAccount,
    Policy,
    ProfileGrant,
    User,
)
from aggregator.models.types import utcnow
from aggregator.services import access, access_log, consent
from connectors.models import TaxId, TaxIdType
from tests.conftest import (
    STRONG_PASSWORD,
    Mailbox,
    csrf_from,
    link_in,
    local_path,
    register_verified,
    text_body,
)
from tests.support.data import link_pair, link_sample, user_id

CLIENT, MEMBER, VIEWER, OTHER = "cliente@example.com", "agente@example.com", "mirona@example.com", "otra@example.com"
ORG_TAX_ID = "30712345671"
ORG_CODE = "BRKR2345"
# One person who is a client of both insurers (README's sample pairs).
BOTH = TaxId(TaxIdType.RFC, "CAOA890308JM0")
GNP_POLICY, AUSTRALIS_POLICY = "1134789837", "MX-VID-2002710"


# --- helpers ----------------------------------------------------------------------------------------


def browser(app: Flask, mailbox: Mailbox, email: str) -> FlaskClient:
    client = app.test_client()
    register_verified(client, mailbox, email)
    return client


def make_org(
    app: Flask, *, name: str = "Broker Uno", kind: str = "broker", tax_id: str = ORG_TAX_ID, code: str = ORG_CODE
) -> int:
    with app.app_context():
        org = Organization(
            slug=re.sub(r"[^a-z0-9]+", "-", name.lower()),
            name=name,
            kind=kind,
            country="AR",
            tax_id_type="CUIT",
            tax_id=tax_id,
            invite_code=code,
        )
        db.session.add(org)
        db.session.commit()
        return org.id


def add_member(app: Flask, org_id: int, email: str, role: str) -> None:
    with app.app_context():
        db.session.add(Membership(organization_id=org_id, user_id=user_id(email), role=role))
        db.session.commit()


def workspace(email: str, org_id: int) -> access.Workspace:
    """The member's workspace, resolved as the /o/<slug>/ pages do (call in an app context)."""
    db.session.expire_all()
    user = db.session.get(User, user_id(email))
    org = db.session.get(Organization, org_id)
    assert user is not None and org is not None
    return access.workspace_or_404(user, org.slug)


def profile_of(email: str) -> int:
    found = db.session.scalar(
        select(ProfileGrant.profile_id).where(ProfileGrant.user_id == user_id(email), ProfileGrant.revoked_at.is_(None))
    )
    assert found is not None
    return found


def grant_of(org_id: int, profile_id: int) -> OrgGrant:
    db.session.expire_all()
    grant = db.session.scalar(
        select(OrgGrant).where(OrgGrant.organization_id == org_id, OrgGrant.profile_id == profile_id)
    )
    assert grant is not None
    return grant


def page(client: FlaskClient, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return answer.get_data(as_text=True)


def give_access(client: FlaskClient, profile_id: int, org: str, **fields: str) -> Any:
    """The two steps of the "give access" form: look the organization up, then confirm."""
    path = f"/profiles/{profile_id}/access"
    token = csrf_from(page(client, path))
    data = {"csrf_token": token, "org": org, "scope": "read", **fields}
    first = client.post(f"{path}/grant", data=data)
    if first.status_code != 200:
        return first
    body = first.get_data(as_text=True)
    assert 'data-testid="grant-confirm"' in body, body
    return client.post(f"{path}/grant", data={**data, "csrf_token": csrf_from(body), "confirm": "1"})


def revoke(client: FlaskClient, profile_id: int, grant_id: int, password: str) -> Any:
    token = csrf_from(page(client, f"/profiles/{profile_id}/access"))
    return client.post(
        f"/profiles/{profile_id}/access/{grant_id}/revoke", data={"csrf_token": token, "password": password}
    )


def a_policy(account_id: int) -> int:
    found = db.session.scalar(select(Policy.id).where(Policy.account_id == account_id).limit(1))
    assert found is not None
    return found


# --- invitation by the client, revocation ------------------------------------------------------------


def test_grant_by_tax_id_reaches_the_member_and_revoking_ends_it_at_once(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, CLIENT)
    browser(app, mailbox, MEMBER)
    org_id = make_org(app)
    add_member(app, org_id, MEMBER, "agent")
    with app.app_context():
        account = link_sample(user_id(CLIENT), "gnp")
        profile_id, account_id = account.profile_id, account.id
        policy_id = a_policy(account_id)
        ws = workspace(MEMBER, org_id)
        ws = access.Workspace(**{**ws.__dict__, "agents_see_all": True})  # this agent sees every client
        with pytest.raises(NotFound):  # nothing before the client's consent
            access.org_grant_or_404(ws, profile_id)

    # The tax ID as the organization prints it; the confirmation shows who it is before anything is given.
    path = f"/profiles/{profile_id}/access"
    token = csrf_from(page(client, path))
    first = client.post(f"{path}/grant", data={"csrf_token": token, "org": "30-71234567-1", "scope": "manage"})
    assert first.status_code == 200
    body = first.get_data(as_text=True)
    assert "Broker Uno" in body and "CUIT …671" in body and ORG_TAX_ID not in body
    with app.app_context():
        assert db.session.scalar(select(OrgGrant.id)) is None, "looking up grants nothing"
    mailbox.clear()
    done = client.post(
        f"{path}/grant", data={"csrf_token": csrf_from(body), "org": "30-71234567-1", "scope": "manage", "confirm": "1"}
    )
    assert done.status_code == 303, done.get_data(as_text=True)

    with app.app_context():
        grant = grant_of(org_id, profile_id)
        assert (grant.origin, grant.scope, grant.granted_by_user_id) == ("invitation", "manage", user_id(CLIENT))
        assert [a.account_id for a in grant.accounts] == [account_id]
        ws = access.Workspace(**{**workspace(MEMBER, org_id).__dict__, "agents_see_all": True})
        assert access.org_grant_or_404(ws, profile_id).id == grant.id
        assert access.org_policy_or_404(ws, policy_id).id == policy_id
        grant_id = grant.id

    # The client hears of it: who, how, scope in words, a link to the Acceso page; never the full tax ID.
    notice = mailbox.wait_for(CLIENT, "organización")
    text = text_body(notice)
    assert "Broker Uno" in text and "CUIT …671" in text and ORG_TAX_ID not in text
    assert local_path(link_in(notice, "/access")) == path

    # The page lists it; a wrong password revokes nothing.
    listing = page(client, path)
    assert 'data-testid="org-grant"' in listing and "Broker Uno" in listing
    wrong = revoke(client, profile_id, grant_id, "Wrong#Password2026")
    assert wrong.status_code == 422
    assert 'data-testid="revoke-error"' in wrong.get_data(as_text=True)
    with app.app_context():
        assert grant_of(org_id, profile_id).revoked_at is None
        assert access.org_policy_or_404(ws, policy_id).id == policy_id
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "reauth.failure")) is not None

    ok = revoke(client, profile_id, grant_id, STRONG_PASSWORD)
    assert ok.status_code == 303
    with app.app_context():
        grant = grant_of(org_id, profile_id)
        assert (grant.revoked_reason, grant.revoked_by_user_id) == ("client_revoked", user_id(CLIENT))
        for check in (
            lambda: access.org_grant_or_404(ws, profile_id),
            lambda: access.org_policy_or_404(ws, policy_id),
        ):
            with pytest.raises(NotFound):
                check()
    after = page(client, path)
    assert 'data-testid="no-orgs"' in after and 'data-testid="past-grant"' in after
    assert "revocado por el cliente" in after.lower() or "revoked by the client" in after.lower()


def test_grant_by_code_covers_only_what_the_client_proved(app: Flask, mailbox: Mailbox) -> None:
    """The same person at two insurers; the client proved GNP only: the organization gets GNP only."""
    client = browser(app, mailbox, CLIENT)
    browser(app, mailbox, MEMBER)
    org_id = make_org(app, kind="hr", name="RRHH Uno")
    add_member(app, org_id, MEMBER, "admin")
    with app.app_context():
        gnp = link_pair(user_id(CLIENT), "gnp", BOTH, GNP_POLICY)
        australis = link_pair(user_id(MEMBER), "australis", BOTH, AUSTRALIS_POLICY)
        assert gnp.profile_id == australis.profile_id
        profile_id, gnp_id, australis_id = gnp.profile_id, gnp.id, australis.id
        australis_policy = a_policy(australis_id)

    done = give_access(client, profile_id, "  brkr-2345 ")  # the code, in any case, with spaces and a dash
    assert done.status_code == 303
    with app.app_context():
        grant = grant_of(org_id, profile_id)
        assert [a.account_id for a in grant.accounts] == [gnp_id]
        assert grant.claim_details is False, "HR sees claim statuses only unless the client allows more"
        ws = workspace(MEMBER, org_id)
        assert access.org_account_ids(ws, profile_id) == [gnp_id]
        with pytest.raises(NotFound):
            access.org_policy_or_404(ws, australis_policy)


def test_unknown_organization_gets_one_answer_and_lookups_are_throttled(
    app: Flask, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = browser(app, mailbox, CLIENT)
    make_org(app)
    with app.app_context():
        profile_id = link_sample(user_id(CLIENT), "gnp", run_sync=False).profile_id
    monkeypatch.setitem(app.config, "ORG_LOOKUP_LIMIT", "4 per hour")
    path = f"/profiles/{profile_id}/access"
    answers = []
    for typed in ("30-99999999-9", "ZZZZ9999", "not a thing"):
        token = csrf_from(page(client, path))
        answer = client.post(f"{path}/grant", data={"csrf_token": token, "org": typed, "scope": "read"})
        assert answer.status_code == 422
        body = answer.get_data(as_text=True)
        error = re.search(r'data-testid="org-error">([^<]+)<', body)
        assert error, body
        assert typed in body, "the form keeps what was typed"
        answers.append(error.group(1))
    assert len(set(answers)) == 1, answers

    statuses = []
    for _ in range(3):
        token = csrf_from(page(client, path))
        statuses.append(client.post(f"{path}/grant", data={"csrf_token": token, "org": ORG_CODE}).status_code)
    assert statuses == [200, 429, 429], "after four lookups this hour, even a real code is refused"


def test_expiry_date_is_checked(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, CLIENT)
    make_org(app)
    with app.app_context():
        profile_id = link_sample(user_id(CLIENT), "gnp", run_sync=False).profile_id
    path = f"/profiles/{profile_id}/access"
    today = utcnow().date()
    for day in (today - timedelta(days=1), today + timedelta(days=800)):
        token = csrf_from(page(client, path))
        answer = client.post(
            f"{path}/grant", data={"csrf_token": token, "org": ORG_CODE, "scope": "read", "expires_on": day.isoformat()}
        )
        assert answer.status_code == 422
        assert 'aria-invalid="true"' in answer.get_data(as_text=True)
    done = give_access(client, profile_id, ORG_CODE, expires_on=(today + timedelta(days=30)).isoformat())
    assert done.status_code == 303
    with app.app_context():
        grant = db.session.scalars(select(OrgGrant)).one()
        assert grant.expires_at is not None
        assert timedelta(days=29) < grant.expires_at - utcnow() < timedelta(days=31)


def test_provider_only_account_revokes_with_a_recent_sign_in(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, CLIENT)
    org_id = make_org(app)
    with app.app_context():
        profile_id = link_sample(user_id(CLIENT), "gnp", run_sync=False).profile_id
    assert give_access(client, profile_id, ORG_CODE).status_code == 303
    with app.app_context():
        grant_id = grant_of(org_id, profile_id).id
        db.session.execute(update(User).where(User.email == CLIENT).values(password_hash=None))
        db.session.commit()
    # Just signed in (registration): a recent sign-in is the re-authentication, no password asked.
    assert revoke(client, profile_id, grant_id, "").status_code == 303
    with app.app_context():
        assert grant_of(org_id, profile_id).revoked_reason == "client_revoked"


# --- expiry --------------------------------------------------------------------------------------------


def test_expired_grant_stops_access_and_the_daily_job_records_it(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, CLIENT)
    browser(app, mailbox, MEMBER)
    org_id = make_org(app)
    add_member(app, org_id, MEMBER, "owner")
    with app.app_context():
        profile_id = link_sample(user_id(CLIENT), "gnp", run_sync=False).profile_id
    assert give_access(client, profile_id, ORG_CODE).status_code == 303
    with app.app_context():
        ws = workspace(MEMBER, org_id)
        assert access.org_grant_or_404(ws, profile_id)
        db.session.execute(update(OrgGrant).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        with pytest.raises(NotFound):  # at once, before any job ran
            access.org_grant_or_404(ws, profile_id)

    runner = app.test_cli_runner()
    first = runner.invoke(args=["grants", "expire"])
    assert first.exit_code == 0, first.output
    assert "1 grant(s) expired" in first.output
    again = runner.invoke(args=["grants", "expire"])
    assert "0 grant(s) expired" in again.output, "idempotent"
    with app.app_context():
        grant = grant_of(org_id, profile_id)
        assert grant.revoked_reason == "expired" and grant.revoked_by_user_id is None
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "org.revoke")) is not None
    listing = page(client, f"/profiles/{profile_id}/access")
    assert 'data-testid="past-grant"' in listing and 'data-testid="no-orgs"' in listing


def test_reminder_seven_days_before_the_end_is_sent_once(
    app: Flask, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "EXTERNAL_URL", "https://portal.example")  # a job's links come from here only
    client = browser(app, mailbox, CLIENT)
    org_id = make_org(app)
    with app.app_context():
        profile_id = link_sample(user_id(CLIENT), "gnp", run_sync=False).profile_id
    assert give_access(client, profile_id, ORG_CODE).status_code == 303
    with app.app_context():
        db.session.execute(update(OrgGrant).values(expires_at=utcnow() + timedelta(days=10)))
        db.session.commit()
    runner = app.test_cli_runner()
    mailbox.clear()
    assert "0 grant(s) ending" in runner.invoke(args=["grants", "expire"]).output, "10 days ahead: too early"
    with app.app_context():
        db.session.execute(update(OrgGrant).values(expires_at=utcnow() + timedelta(days=6)))
        db.session.commit()
    assert "1 grant(s) ending" in runner.invoke(args=["grants", "expire"]).output
    reminder = mailbox.wait_for(CLIENT, "termina")
    assert "Broker Uno" in text_body(reminder)
    assert link_in(reminder, "/access") == f"https://portal.example/profiles/{profile_id}/access"
    assert "0 grant(s) ending" in runner.invoke(args=["grants", "expire"]).output
    assert len(mailbox.to(CLIENT)) == 1, "one reminder per end date"
    with app.app_context():
        grant = grant_of(org_id, profile_id)
        assert grant.expiry_reminded_at is not None and grant.revoked_at is None


# --- the access log the client reads -------------------------------------------------------------------


def test_access_page_lists_people_organizations_and_the_log(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, CLIENT)
    browser(app, mailbox, OTHER)
    org_id = make_org(app)
    with app.app_context():
        account = link_sample(user_id(CLIENT), "gnp")
        link_sample(user_id(OTHER), "gnp", run_sync=False)  # someone else holds the same profile
        profile_id = account.profile_id
        policy_id = a_policy(account.id)
    assert give_access(client, profile_id, ORG_CODE).status_code == 303
    with app.app_context():
        member = db.session.scalars(select(User).where(User.email == OTHER)).one()
        member.full_name = "Lucía Agente"
        ws = access.Workspace(org_id, "broker-uno", "Broker Uno", "broker", "AR", "agent", member.id, True)
        for n in range(25):
            access_log.record(
                ws, profile_id, "view_policy", object_type="policy", object_id=policy_id, summary=f"Póliza {n}"
            )
        db.session.commit()

    body = page(client, f"/profiles/{profile_id}/access")
    people = re.findall(r'data-testid="person"', body)
    assert len(people) == 2 and 'data-testid="you"' in body
    assert "Broker Uno" in body and 'data-testid="org-last-access"' in body
    rows = re.findall(r'data-testid="log-summary">([^<]+)<', body)
    assert rows[:2] == ["Póliza 24", "Póliza 23"] and len(rows) == 20
    assert "Lucía Agente" in body
    more = re.search(r'data-testid="log-more"\s+href="([^"]+)"', body)
    assert more, "a 'see more' link for the older rows"
    rest = client.get(more.group(1).replace("&amp;", "&").split("#")[0], headers={"HX-Request": "true"})
    assert rest.status_code == 200
    older = re.findall(r'data-testid="log-summary">([^<]+)<', rest.get_data(as_text=True))
    assert older == [f"Póliza {n}" for n in range(4, -1, -1)]
    assert "<html" not in rest.get_data(as_text=True)
    with app.app_context():
        assert grant_of(org_id, profile_id).last_access_at is not None


def test_another_user_gets_404_on_the_access_pages(app: Flask, mailbox: Mailbox) -> None:
    owner = browser(app, mailbox, CLIENT)
    stranger = browser(app, mailbox, OTHER)
    org_id = make_org(app)
    with app.app_context():
        profile_id = link_sample(user_id(CLIENT), "gnp", run_sync=False).profile_id
    assert give_access(owner, profile_id, ORG_CODE).status_code == 303
    with app.app_context():
        grant_id = grant_of(org_id, profile_id).id
    assert stranger.get(f"/profiles/{profile_id}/access").status_code == 404
    token = csrf_from(page(stranger, "/profiles"))
    for path in (f"/profiles/{profile_id}/access/grant", f"/profiles/{profile_id}/access/{grant_id}/revoke"):
        answer = stranger.post(path, data={"csrf_token": token, "org": ORG_CODE, "password": STRONG_PASSWORD})
        assert answer.status_code == 404, path
    with app.app_context():
        assert grant_of(org_id, profile_id).revoked_at is None


# --- access requests -----------------------------------------------------------------------------------


def ask(member: FlaskClient, slug: str, email: str, **extra: str) -> Any:
    token = csrf_from(page(member, f"/o/{slug}/requests"))
    return member.post(f"/o/{slug}/requests", data={"csrf_token": token, "email": email, "scope": "read", **extra})


def answer(client: FlaskClient, url: str, **data: str) -> Any:
    path = local_path(url)
    body = client.get(path).get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_from(body), **data})


def test_access_request_approved_declined_withdrawn_expired(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, CLIENT)
    member = browser(app, mailbox, MEMBER)
    org_id = make_org(app)
    add_member(app, org_id, MEMBER, "agent")
    with app.app_context():
        account = link_sample(user_id(CLIENT), "gnp", run_sync=False)
        profile_id, account_id = account.profile_id, account.id

    mailbox.clear()
    sent = ask(member, "broker-uno", "Cliente@Example.com", message="Soy tu productor, Lucía.")
    assert sent.status_code == 303
    email = mailbox.wait_for(CLIENT, "acceso")
    text = text_body(email)
    assert "Broker Uno" in text and "Soy tu productor, Lucía." in text and ORG_TAX_ID not in text
    link = link_in(email, "/orgs/requests/")
    listing = page(member, "/o/broker-uno/requests")
    assert 'data-status="pending"' in listing and CLIENT in listing

    # The client sees the request on their profiles page too, with a link of its own that works.
    profiles = page(client, "/profiles")
    assert 'data-testid="pending-request"' in profiles and "Broker Uno" in profiles
    own_link = re.search(r'href="(/orgs/requests/[^"]+)" data-testid="answer-request"', profiles)
    assert own_link and own_link.group(1) != local_path(link)
    shown = page(client, own_link.group(1))
    assert 'data-state="pending"' in shown and "CUIT …671" in shown and f'value="{profile_id}"' in shown

    # Another signed-in user opening the emailed link: a clear, masked answer.
    stranger = browser(app, mailbox, OTHER)
    wrong = stranger.get(local_path(link))
    assert wrong.status_code == 403 and 'data-testid="wrong-email"' in wrong.get_data(as_text=True)
    assert CLIENT not in wrong.get_data(as_text=True) and "c•••@" in wrong.get_data(as_text=True)

    mailbox.clear()
    approved = answer(client, link, decision="approve", profile_id=str(profile_id))
    assert approved.status_code == 303 and approved.headers["Location"].endswith(f"/profiles/{profile_id}/access")
    with app.app_context():
        grant = grant_of(org_id, profile_id)
        assert (grant.origin, grant.scope, grant.assigned_user_id) == ("request", "read", user_id(MEMBER))
        assert [a.account_id for a in grant.accounts] == [account_id]
        ws = workspace(MEMBER, org_id)  # an agent: reaches the clients assigned to them
        assert access.org_grant_or_404(ws, profile_id).id == grant.id
        request_row = db.session.scalars(select(AccessRequest)).one()
        assert (request_row.decision, request_row.profile_id) == ("approved", profile_id)
    decided = mailbox.wait_for(MEMBER, "respondió")
    assert CLIENT in text_body(decided)
    mailbox.wait_for(CLIENT, "organización")  # the holder is told an organization can now see the profile
    used = client.get(local_path(link))
    assert used.status_code == 410 and 'data-state="approved"' in used.get_data(as_text=True)
    assert 'data-status="approved"' in page(member, "/o/broker-uno/requests")

    # Declined: no grant, and the member hears it.
    with app.app_context():
        db.session.execute(update(OrgGrant).values(revoked_at=utcnow(), revoked_reason="client_revoked"))
        db.session.commit()
    mailbox.clear()
    assert ask(member, "broker-uno", CLIENT).status_code == 303
    second = link_in(mailbox.wait_for(CLIENT, "acceso"), "/orgs/requests/")
    declined = answer(client, second, decision="decline")
    assert declined.status_code == 303
    with app.app_context():
        assert grant_of(org_id, profile_id).revoked_at is not None, "declining gives nothing"
    assert "rechaz" in text_body(mailbox.wait_for(MEMBER, "respondió")).lower()

    # Withdrawn by the organization: the link stops working.
    mailbox.clear()
    assert ask(member, "broker-uno", CLIENT).status_code == 303
    third = link_in(mailbox.wait_for(CLIENT, "acceso"), "/orgs/requests/")
    with app.app_context():
        pending_id = db.session.scalar(select(AccessRequest.id).where(AccessRequest.decided_at.is_(None)))
    token = csrf_from(page(member, "/o/broker-uno/requests"))
    assert member.post(f"/o/broker-uno/requests/{pending_id}/withdraw", data={"csrf_token": token}).status_code == 303
    gone = client.get(local_path(third))
    assert gone.status_code == 410 and 'data-state="withdrawn"' in gone.get_data(as_text=True)
    assert answer(client, third, decision="approve", profile_id=str(profile_id)).status_code == 410

    # Expired: 14 days later.
    mailbox.clear()
    assert ask(member, "broker-uno", CLIENT).status_code == 303
    fourth = link_in(mailbox.wait_for(CLIENT, "acceso"), "/orgs/requests/")
    with app.app_context():
        db.session.execute(
            update(AccessRequest)
            .where(AccessRequest.decided_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    late = client.get(local_path(fourth))
    assert late.status_code == 410 and 'data-state="expired"' in late.get_data(as_text=True)
    assert 'data-status="expired"' in page(member, "/o/broker-uno/requests")
    with app.app_context():
        assert grant_of(org_id, profile_id).revoked_at is not None


def test_approving_needs_one_of_the_users_own_profiles(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, CLIENT)
    browser(app, mailbox, OTHER)
    member = browser(app, mailbox, MEMBER)
    org_id = make_org(app)
    add_member(app, org_id, MEMBER, "admin")
    with app.app_context():
        link_sample(user_id(CLIENT), "gnp", run_sync=False)
        others = link_sample(user_id(OTHER), "australis", run_sync=False).profile_id
    assert ask(member, "broker-uno", CLIENT).status_code == 303
    link = link_in(mailbox.wait_for(CLIENT, "acceso"), "/orgs/requests/")
    refused = answer(client, link, decision="approve", profile_id=str(others))
    assert refused.status_code == 422 and 'data-testid="profile-error"' in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(OrgGrant.id).where(OrgGrant.organization_id == org_id)) is None
        assert db.session.scalars(select(AccessRequest)).one().decided_at is None


def test_requests_say_nothing_about_accounts_and_are_limited(
    app: Flask, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "ORG_REQUEST_DAILY_LIMIT", "3 per day")
    member = browser(app, mailbox, MEMBER)
    browser(app, mailbox, CLIENT)
    org_id = make_org(app)
    add_member(app, org_id, MEMBER, "owner")
    mailbox.clear()
    known = ask(member, "broker-uno", CLIENT)
    unknown = ask(member, "broker-uno", "nadie@example.com")
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"]
    mailbox.wait_for("nadie@example.com", "acceso")  # the email goes either way
    mailbox.wait_for(CLIENT, "acceso")

    duplicate = ask(member, "broker-uno", CLIENT)
    assert duplicate.status_code == 422 and 'data-testid="email-error"' in duplicate.get_data(as_text=True)
    long = ask(member, "broker-uno", "larga@example.com", message="x" * 501)
    assert long.status_code == 422 and "x" * 501 in long.get_data(as_text=True), "nothing typed is lost"

    # Refused requests (a duplicate, an invalid form) cost nothing; the third sent is the last of the day.
    assert ask(member, "broker-uno", "tercera@example.com").status_code == 303
    assert ask(member, "broker-uno", "cuarta@example.com").status_code == 429
    with app.app_context():
        assert db.session.scalar(select(AccessRequest.id).where(AccessRequest.email == "cuarta@example.com")) is None
        digests = db.session.scalars(select(AccessRequest.token_digest)).all()
        assert all(len(d) == 64 for d in digests), "only a digest of each link is kept"


def test_requests_page_roles_viewer_403_non_member_404(app: Flask, mailbox: Mailbox) -> None:
    viewer = browser(app, mailbox, VIEWER)
    outsider = browser(app, mailbox, OTHER)
    member = browser(app, mailbox, MEMBER)
    org_id = make_org(app)
    add_member(app, org_id, VIEWER, "viewer")
    add_member(app, org_id, MEMBER, "agent")
    assert ask(member, "broker-uno", CLIENT).status_code == 303
    with app.app_context():
        request_id = db.session.scalars(select(AccessRequest.id)).one()
    token = csrf_from(page(viewer, "/profiles"))
    assert viewer.get("/o/broker-uno/requests").status_code == 403
    assert viewer.post("/o/broker-uno/requests", data={"csrf_token": token, "email": CLIENT}).status_code == 403
    assert viewer.post(f"/o/broker-uno/requests/{request_id}/withdraw", data={"csrf_token": token}).status_code == 403
    token = csrf_from(page(outsider, "/profiles"))
    assert outsider.get("/o/broker-uno/requests").status_code == 404
    assert outsider.post(f"/o/broker-uno/requests/{request_id}/withdraw", data={"csrf_token": token}).status_code == 404
    # A member of another organization cannot withdraw this one's request by its id.
    make_org(app, name="Broker Dos", tax_id="30712345682", code="BRKR6789")
    with app.app_context():
        other_org = db.session.scalar(select(Organization.id).where(Organization.slug == "broker-dos"))
    assert other_org is not None
    add_member(app, other_org, OTHER, "owner")
    answer_ = outsider.post(f"/o/broker-dos/requests/{request_id}/withdraw", data={"csrf_token": token})
    assert answer_.status_code == 404
    with app.app_context():
        assert db.session.scalars(select(AccessRequest)).one().decided_at is None


def test_notify_access_granted_reaches_every_holder(app: Flask, mailbox: Mailbox) -> None:
    """A grant by proof (the clients helper's path) calls notify_access_granted: every live holder hears."""
    browser(app, mailbox, CLIENT)
    browser(app, mailbox, OTHER)
    org_id = make_org(app)
    with app.test_request_context():  # as the clients helper's proof page calls it
        account = link_sample(user_id(CLIENT), "gnp", run_sync=False)
        link_sample(user_id(OTHER), "gnp", run_sync=False)
        org = db.session.get(Organization, org_id)
        assert org is not None
        grant, fresh = consent.grant_to_org(org, account.profile_id, [account], origin="proof", granted_by=None)
        assert fresh
        mailbox.clear()
        consent.notify_access_granted(grant)
        db.session.commit()
        from aggregator import mail

        mail.flush_queued(app)
        assert db.session.scalar(select(OrgGrantAccount.account_id)) == account.id
        assert db.session.scalar(select(InsurerAccount.id).where(InsurerAccount.id == account.id))
    for holder in (CLIENT, OTHER):
        text = text_body(mailbox.wait_for(holder, "organización"))
        assert "Broker Uno" in text and "acreditado con una identificación" in text and ORG_TAX_ID not in text


def test_a_holder_learns_nothing_of_insurers_they_did_not_prove(app: Flask, mailbox: Mailbox) -> None:
    """CLIENT proved GNP, OTHER proved Australis for the same person (DESIGN §7): an organization that OTHER let
    see Australis is not on CLIENT's Acceso page, nor its reads in CLIENT's log, nor in an email to CLIENT; and
    CLIENT cannot revoke it. Where a grant covers both, CLIENT sees it with GNP only."""
    client = browser(app, mailbox, CLIENT)
    browser(app, mailbox, OTHER)
    only_australis = make_org(app)
    both = make_org(app, name="Broker Dos", tax_id="30712345680", code="BRKR6789")
    with app.test_request_context():
        gnp = link_pair(user_id(CLIENT), "gnp", BOTH, GNP_POLICY, run_sync=False)
        australis = link_pair(user_id(OTHER), "australis", BOTH, AUSTRALIS_POLICY, run_sync=False)
        assert gnp.profile_id == australis.profile_id
        profile_id = gnp.profile_id
        org = db.session.get(Organization, only_australis)
        org2 = db.session.get(Organization, both)
        assert org is not None and org2 is not None
        hidden, _ = consent.grant_to_org(org, profile_id, [australis], origin="invitation", granted_by=user_id(OTHER))
        consent.grant_to_org(org2, profile_id, [gnp, australis], origin="proof", granted_by=None)
        mailbox.clear()
        consent.notify_access_granted(hidden)
        ws = access.Workspace(only_australis, "broker-uno", "Broker Uno", "broker", "AR", "owner", user_id(OTHER), True)
        access_log.record(
            ws, profile_id, "view_policy", object_type="policy", account_id=australis.id, summary="Póliza australis"
        )
        access_log.record(ws, profile_id, "view_client", object_type="client_profile", summary="la ficha")
        db.session.commit()
        from aggregator import mail

        mail.flush_queued(app)
        hidden_id = hidden.id
    assert "Broker Uno" in text_body(mailbox.wait_for(OTHER, "organización"))
    assert not mailbox.to(CLIENT), "CLIENT was told of an Australis grant"

    body = page(client, f"/profiles/{profile_id}/access")
    assert "Broker Dos" in body and "Broker Uno" not in body.split('data-testid="log')[0]
    assert "Australis" not in body
    rows = re.findall(r'data-testid="log-summary">([^<]+)<', body)
    assert "Póliza australis" not in rows and "la ficha" in rows
    token = csrf_from(body)
    answer = client.post(
        f"/profiles/{profile_id}/access/{hidden_id}/revoke", data={"csrf_token": token, "password": STRONG_PASSWORD}
    )
    assert answer.status_code == 404
    with app.app_context():
        assert grant_of(only_australis, profile_id).revoked_at is None
