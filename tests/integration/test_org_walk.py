"""Every id route under ``/o/<slug>/`` answers 404 to whoever may not see the object (issue 10 §4, DESIGN §11):
a member of another organization, a removed member, and anyone once the client's grant is revoked or
expired; the rightful members get the page (200) or, for what their role may not do, 403.

Like tests/integration/test_access_walk.py, the test walks the URL map: a workspace route added later is
covered without editing this file, and a route whose id argument it cannot fill fails it, on purpose.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Rule

from aggregator.extensions import db
from aggregator.models import (
    AccessRequest,
    Claim,
    Document,
    InsurerAccount,
    Membership,
    OrgGrant,
    OrgInvitation,
    Policy,
)
from aggregator.models.types import utcnow
from tests.conftest import Mailbox, csrf_from, register_verified
from tests.support.data import link_sample, user_id
from tests.support.org_data import add_member, grant_accounts, make_org

OWNER, AGENT, VIEWER = "duena@alfa.example", "agente@alfa.example", "lectora@alfa.example"
STRANGER, REMOVED, CLIENT = "socio@beta.example", "antes@alfa.example", "cliente@example.com"
CLIENT_DATA = frozenset({"profile_id", "policy_id", "claim_id", "document_id"})  # reached through a client's grant


def _workspace_rules(app: Flask) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if "slug" in rule.arguments and any(isinstance(c, IntegerConverter) for c in rule._converters.values())
    ]


def _objects(app: Flask, org: int) -> dict[str, Any]:
    """The organization's client (with a policy and a claim, each with a document), a membership, an
    invitation and an access request: one id for every argument of a workspace route."""
    with app.app_context():
        uid = user_id(CLIENT)
        accounts = [link_sample(uid, "gnp"), link_sample(uid, "australis")]
        for account in accounts:  # each sample is another person: one grant per profile
            grant_accounts(org, [account])
        ids = [a.id for a in accounts]
        claim = db.session.scalar(
            select(Claim)
            .join(Document, Document.claim_id == Claim.id)
            .where(Claim.account_id.in_(ids))
            .order_by(Claim.id)
            .limit(1)
        )
        assert claim is not None, "the sample clients have no claim with a document: the walk would not cover them"
        claim_doc = db.session.scalar(select(Document.id).where(Document.claim_id == claim.id))
        policy_doc = db.session.execute(
            select(Document.policy_id, Document.id)
            .join(Policy, Policy.id == Document.policy_id)
            .where(Policy.account_id == claim.account_id)
            .limit(1)
        ).one()
        profile_id = db.session.scalar(select(InsurerAccount.profile_id).where(InsurerAccount.id == claim.account_id))
        membership = db.session.scalar(
            select(Membership.id).where(Membership.organization_id == org, Membership.user_id == user_id(AGENT))
        )
        invitation = OrgInvitation(
            organization_id=org,
            email="nuevo@alfa.example",
            role="agent",
            token_digest="0" * 64,
            expires_at=utcnow() + timedelta(days=3),
        )
        request = AccessRequest(
            organization_id=org,
            email="otro@example.com",
            token_digest="1" * 64,
            expires_at=utcnow() + timedelta(days=3),
        )
        db.session.add_all([invitation, request])
        db.session.commit()
        return {
            "slug": "alfa",
            "profile_id": profile_id,
            "policy_id": policy_doc[0],
            "policy_document_id": policy_doc[1],
            "claim_id": claim.id,
            "claim_document_id": claim_doc,
            "membership_id": membership,
            "invitation_id": invitation.id,
            "request_id": request.id,
        }


def _values(rule: Rule, ids: dict[str, Any]) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    for name in rule.arguments:
        if name == "document_id":
            key = "claim_document_id" if "claim_id" in rule.arguments else "policy_document_id"
        else:
            key = name
        if ids.get(key) is None:
            return None
        values[name] = ids[key]
    return values


def _call(client: FlaskClient, rule: Rule, url: str) -> int:
    if "GET" in (rule.methods or set()):
        return client.get(url).status_code
    token = csrf_from(client.get("/account/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token}, headers={"X-CSRFToken": token}).status_code


def _urls(app: Flask, ids: dict[str, Any]) -> list[tuple[Rule, str]]:
    rules = _workspace_rules(app)
    unfilled = [rule.rule for rule in rules if _values(rule, ids) is None]
    assert not unfilled, f"workspace routes with ids this test cannot fill (teach it): {unfilled}"
    found = []
    with app.test_request_context():
        for rule in rules:
            found.append((rule, url_for(rule.endpoint, **(_values(rule, ids) or {}))))
    return found


def _member(app: Flask, mailbox: Mailbox, email: str, org: int | None, role: str = "agent") -> FlaskClient:
    browser = app.test_client()
    register_verified(browser, mailbox, email)
    if org is not None:
        with app.app_context():
            add_member(org, email, role)
    return browser


def test_every_workspace_id_route_is_404_to_outsiders_and_after_the_grant_ends(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        alfa, beta = make_org("alfa"), make_org("beta")
    owner = _member(app, mailbox, OWNER, alfa, "owner")
    _member(app, mailbox, AGENT, alfa, "agent")
    viewer = _member(app, mailbox, VIEWER, alfa, "viewer")
    stranger = _member(app, mailbox, STRANGER, beta, "owner")  # an owner, of another organization
    removed = _member(app, mailbox, REMOVED, alfa, "admin")
    _member(app, mailbox, CLIENT, None)
    ids = _objects(app, alfa)
    urls = _urls(app, ids)
    client_urls = [(rule, url) for rule, url in urls if CLIENT_DATA & set(rule.arguments)]
    assert {r.endpoint for r, _ in client_urls} >= {
        "workspace.client",
        "workspace.policy",
        "workspace.policy_document",
        "workspace.claim",
        "workspace.claim_document",
        "workspace.assign",
        "workspace.release",
    }

    # The rightful members: every page opens for the owner; the viewer reads clients and may do nothing.
    for rule, url in urls:
        if "GET" in (rule.methods or set()):
            assert owner.get(url).status_code == 200, url
    for rule, url in urls:
        status = _call(viewer, rule, url)
        if "GET" in (rule.methods or set()) and CLIENT_DATA & set(rule.arguments):
            assert status == 200, (url, status)
        else:
            assert status == 403, (url, status)  # role-limited: members' management, assignment, release, requests

    # A member of another organization and a removed member learn nothing.
    with app.app_context():
        gone = db.session.scalar(select(Membership).where(Membership.user_id == user_id(REMOVED)))
        db.session.delete(gone)
        db.session.commit()
    leaks = [
        (who, url, status)
        for who, browser in (("stranger", stranger), ("removed", removed))
        for rule, url in urls
        if (status := _call(browser, rule, url)) != 404
    ]
    assert not leaks, f"answered something else than 404: {leaks}"

    # Expiry, then revocation, end the client's pages at once, for every member.
    with app.app_context():
        for grant in db.session.scalars(select(OrgGrant).where(OrgGrant.organization_id == alfa)):
            grant.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    expired = [(url, s) for rule, url in client_urls if (s := _call(owner, rule, url)) != 404]
    assert not expired, f"after expiry: {expired}"
    with app.app_context():
        for grant in db.session.scalars(select(OrgGrant).where(OrgGrant.organization_id == alfa)):
            grant.expires_at = None
        db.session.commit()
    assert owner.get(f"/o/alfa/clients/{ids['profile_id']}").status_code == 200  # back: the 404 was the expiry
    with app.app_context():
        from aggregator.services import consent

        for grant in db.session.scalars(select(OrgGrant).where(OrgGrant.organization_id == alfa)):
            consent.revoke(grant, "client_revoked", user_id(CLIENT))
        db.session.commit()
    revoked = [(url, s) for rule, url in client_urls if (s := _call(owner, rule, url)) != 404]
    assert not revoked, f"after revocation: {revoked}"
    listing = owner.get("/o/alfa/").get_data(as_text=True)
    assert f'data-profile-id="{ids["profile_id"]}"' not in listing


def test_an_agent_reaches_only_assigned_clients_on_every_client_route(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        alfa = make_org("alfa")
    _member(app, mailbox, OWNER, alfa, "owner")
    agent = _member(app, mailbox, AGENT, alfa, "agent")
    _member(app, mailbox, CLIENT, None)
    ids = _objects(app, alfa)
    reads = [
        (rule, url)
        for rule, url in _urls(app, ids)
        if CLIENT_DATA & set(rule.arguments) and "GET" in (rule.methods or set())
    ]
    assert len(reads) == 5
    assert [(url, s) for rule, url in reads if (s := _call(agent, rule, url)) != 404] == []
    with app.app_context():
        grant = db.session.scalar(select(OrgGrant).where(OrgGrant.profile_id == ids["profile_id"]))
        assert grant is not None
        grant.assigned_user_id = user_id(AGENT)
        db.session.commit()
    assert [(url, s) for rule, url in reads if (s := _call(agent, rule, url)) != 200] == []
