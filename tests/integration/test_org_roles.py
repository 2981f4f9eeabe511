"""The role matrix of issue 10: every organization route × every role, as one table (DESIGN §11).

``TABLE`` lists every route under ``/o/<slug>/`` (GET and POST, taken from the URL map: a route added
later without a row fails ``test_the_table_covers_every_route``), the ``/orgs/…`` routes and a profile's
``/profiles/<id>/access…`` routes, and for each the answer every actor gets:

- ``OK``: the route does what it is for (its page, 200, or its action, 303) — and for actions, the effect
  is checked: a probe read before and after the request must change for an allowed actor, and must not
  change for anyone else (a 403 that still did the deed fails);
- ``403`` for a member whose role may not do it, ``404`` for whoever may not know it exists (a member of
  another organization, an agent on a client not assigned to them), ``LOGIN`` for a signed-out visitor;
- ``REFUSED``: the route answers as usual but a rule says no and nothing changes (the last owner leaving).

Actors of the workspace routes: the owner, an admin, an agent the client is assigned to, another agent
(the same client is not theirs; agents_see_all is off), a viewer, the owner of another organization and a
signed-out visitor. The /orgs and /profiles routes add the client (the invitee, the addressee of a request,
the holder of the profile) and a signed-in user who has not verified their email.

Everything is built once (one test: the database is emptied after each test) and POSTs carry valid CSRF
tokens and data that succeeds for an allowed actor, each on objects of their own where the action changes
state. Rows run in table order; ``leave`` is last, since the members leave.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from stdnum.ar import cuit as ar_cuit
from werkzeug.exceptions import NotFound

from aggregator.extensions import db
from aggregator.models import (
    AccessLogEntry,
    AccessRequest,
    AuditEvent,
    Claim,
    ClientProfile,
    Document,
    InsurerAccount,
    Membership,
    Organization,
    OrgGrant,
    OrgGrantAccount,
    OrgInvitation,
    Policy,
    User,
)
from aggregator.models.types import utcnow
from aggregator.services import access, consent, insurers
from tests.conftest import STRONG_PASSWORD, Mailbox, csrf_from, link_in, local_path, login, register, register_verified
from tests.support.data import link_pair, link_sample, sandbox_samples, user_id
from tests.support.org_data import add_member, employer_with_group_policy, grant_accounts, make_org

OK, LOGIN, REFUSED = "ok", "login", "refused"
Expect = str | int

EMAILS = {
    "owner": "duena@alfa.example",
    "admin": "admin@alfa.example",
    "agent": "agente@alfa.example",
    "agent_other": "agente2@alfa.example",
    "viewer": "lectora@alfa.example",
    "stranger": "socio@beta.example",
    "client": "cliente@example.com",
    "unverified": "nueva@example.com",
}
ROLES = {"owner": "owner", "admin": "admin", "agent": "agent", "agent_other": "agent", "viewer": "viewer"}
SLUG = "alfa"
WS = f"/o/{SLUG}"


# --- the world every row runs in ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of one actor: its URL, its form (POST) and what its probe needs to know."""

    url: str
    data: dict[str, str] = field(default_factory=dict)
    ref: Any = None


@dataclass
class World:
    app: Flask
    mailbox: Mailbox
    browsers: dict[str, FlaskClient]
    tokens: dict[str, str]
    uid: dict[str, int]
    org: dict[str, int]
    a: dict[str, int]  # the client assigned to "agent": profile, policy, claim and their documents
    b: dict[str, int]  # a client assigned to nobody
    c_profile: int  # a profile the client holds that the organization does not reach
    link_pair: tuple[str, str, str]  # id type, number and policy of a client the organization may link
    serial: Any = field(default_factory=lambda: itertools.count(1))

    def n(self) -> int:
        return int(next(self.serial))


def _objects(account_id: int) -> dict[str, int]:
    """A client's profile, a policy with a document and a claim with a document (all of one account)."""
    claim = db.session.scalar(
        select(Claim)
        .join(Document, Document.claim_id == Claim.id)
        .where(Claim.account_id == account_id)
        .order_by(Claim.id)
        .limit(1)
    )
    assert claim is not None, "the sample client has no claim with a document"
    claim_doc = db.session.scalar(select(Document.id).where(Document.claim_id == claim.id).limit(1))
    policy_id, policy_doc = db.session.execute(
        select(Document.policy_id, Document.id)
        .join(Policy, Policy.id == Document.policy_id)
        .where(Policy.account_id == account_id)
        .order_by(Document.id)
        .limit(1)
    ).one()
    profile_id = db.session.scalar(select(InsurerAccount.profile_id).where(InsurerAccount.id == account_id))
    assert profile_id is not None and claim_doc is not None and policy_id is not None
    return {
        "profile_id": profile_id,
        "policy_id": policy_id,
        "policy_document_id": policy_doc,
        "claim_id": claim.id,
        "claim_document_id": claim_doc,
    }


def _build(app: Flask, mailbox: Mailbox) -> World:
    browsers: dict[str, FlaskClient] = {}
    for actor, email in EMAILS.items():
        browsers[actor] = app.test_client()
        if actor == "unverified":
            register(browsers[actor], email)
            login(browsers[actor], email)  # signed in, email not confirmed yet
        else:
            register_verified(browsers[actor], mailbox, email)
    browsers["anon"] = app.test_client()
    tokens = {
        actor: csrf_from(
            b.get("/auth/login" if actor == "anon" else "/account/", follow_redirects=True).get_data(as_text=True)
        )
        for actor, b in browsers.items()
    }
    with app.app_context():
        orgs = {slug: make_org(slug) for slug in (SLUG, "beta", "gamma", "delta")}
        for actor, role in ROLES.items():
            add_member(orgs[SLUG], EMAILS[actor], role)
        add_member(orgs["beta"], EMAILS["stranger"], "owner")
        uid = {actor: user_id(email) for actor, email in EMAILS.items()}
        holder = uid["client"]
        account_a, account_b = link_sample(holder, "gnp"), link_sample(holder, "australis")
        grant_accounts(orgs[SLUG], [account_a], assigned=EMAILS["agent"])
        grant_accounts(orgs[SLUG], [account_b])
        a, b = _objects(account_a.id), _objects(account_b.id)
        gnp = sandbox_samples("gnp")
        c_profile = link_pair(holder, "gnp", gnp.paged_client, gnp.paged_policy or "", run_sync=False).profile_id
        fleet = sandbox_samples("australis")
        pair = (fleet.paged_client.type.value, fleet.paged_client.number, fleet.paged_policy or "")
    return World(app, mailbox, browsers, tokens, uid, orgs, a, b, c_profile, pair)


# --- objects an action consumes, one per actor --------------------------------------------------------------


def _fresh_client(w: World, assigned_to: int | None = None) -> int:
    """A client (one GNP account, no policies) the organization reaches, assigned to ``assigned_to``; its profile."""
    n = w.n()
    with w.app.app_context():
        profile = ClientProfile(country="MX", id_type="RFC", id_number=f"MTX{n:06d}AB1", name=f"Cliente matriz {n}")
        db.session.add(profile)
        db.session.flush()
        account = InsurerAccount(
            profile_id=profile.id, insurer_id=insurers.ensure_insurers()["gnp"], client_ref=f"MTX-{n}"
        )
        grant = OrgGrant(
            organization_id=w.org[SLUG], profile_id=profile.id, origin="demo", assigned_user_id=assigned_to
        )
        db.session.add_all([account, grant])
        db.session.flush()
        db.session.add(OrgGrantAccount(grant_id=grant.id, account_id=account.id, origin="demo"))
        db.session.commit()
        return profile.id


def _fresh_member(w: World, role: str = "agent") -> tuple[int, int]:
    """A new member of the organization (a user who never signs in here): (membership id, user id)."""
    n = w.n()
    with w.app.app_context():
        user = User(email=f"miembro{n}@alfa.example", verified_at=utcnow())
        db.session.add(user)
        db.session.flush()
        membership = Membership(organization_id=w.org[SLUG], user_id=user.id, role=role)
        db.session.add(membership)
        db.session.commit()
        return membership.id, user.id


def _digest(w: World) -> str:
    return hashlib.sha256(f"matrix-{w.n()}".encode()).hexdigest()


def _fresh_invitation(w: World) -> int:
    with w.app.app_context():
        invitation = OrgInvitation(
            organization_id=w.org[SLUG],
            email=f"invitada{w.n()}@example.com",
            role="agent",
            token_digest=_digest(w),
            expires_at=utcnow() + timedelta(days=3),
        )
        db.session.add(invitation)
        db.session.commit()
        return invitation.id


def _fresh_request(w: World, by: int | None = None) -> int:
    """A pending access request of the organization, sent by the user ``by``."""
    with w.app.app_context():
        req = AccessRequest(
            organization_id=w.org[SLUG],
            requested_by_user_id=by,
            email=f"pedido{w.n()}@example.com",
            token_digest=_digest(w),
            expires_at=utcnow() + timedelta(days=3),
        )
        db.session.add(req)
        db.session.commit()
        return req.id


def _invitation_link(w: World) -> str:
    """A fresh emailed invitation for the client to join as a viewer (sent by the owner, as in real life)."""
    w.mailbox.clear()
    answer = w.browsers["owner"].post(
        f"{WS}/members/invite",
        data={"csrf_token": w.tokens["owner"], "email": EMAILS["client"], "role": "viewer"},
    )
    assert answer.status_code == 303, answer.status_code
    return local_path(link_in(w.mailbox.wait_for(EMAILS["client"], ""), "/orgs/invitations/"))


def _request_link(w: World) -> str:
    """A fresh emailed access request from the organization to the client (older ones withdrawn first)."""
    with w.app.app_context():
        db.session.execute(
            update(AccessRequest)
            .where(AccessRequest.email == EMAILS["client"], AccessRequest.decided_at.is_(None))
            .values(decided_at=utcnow(), decision="withdrawn")
        )
        db.session.commit()
    w.mailbox.clear()
    answer = w.browsers["owner"].post(
        f"{WS}/requests", data={"csrf_token": w.tokens["owner"], "email": EMAILS["client"], "scope": "read"}
    )
    assert answer.status_code == 303, answer.status_code
    return local_path(link_in(w.mailbox.wait_for(EMAILS["client"], ""), "/orgs/requests/"))


def _live_grant(w: World, org: str, profile_id: int) -> bool:
    with w.app.app_context():
        grant = db.session.scalar(
            select(OrgGrant).where(OrgGrant.organization_id == w.org[org], OrgGrant.profile_id == profile_id)
        )
        return grant is not None and grant.is_live(utcnow())


def _give(w: World, org: str, profile_id: int) -> int:
    """A live grant of ``org`` on the profile (back if it had been revoked); its id."""
    with w.app.app_context():
        organization = db.session.get(Organization, w.org[org])
        assert organization is not None
        accounts = consent.own_accounts(w.uid["client"], profile_id)
        grant, _fresh = consent.grant_to_org(organization, profile_id, accounts, origin="invitation", granted_by=None)
        db.session.commit()
        return grant.id


# --- probes: what an action changes ----------------------------------------------------------------------


def _scalar(w: World, stmt: Any) -> Any:
    with w.app.app_context():
        return db.session.scalar(stmt)


def _reads_by(w: World, actor: str, _call: Call) -> Any:
    """How many reads of client data the actor's access log holds (every page and download writes one)."""
    who = w.uid.get(actor, -1)
    return _scalar(w, select(func.count(AccessLogEntry.id)).where(AccessLogEntry.user_id == who))


def _grant_field(name: str) -> Callable[[World, str, Call], Any]:
    def probe(w: World, _actor: str, call: Call) -> Any:
        return _scalar(
            w,
            select(getattr(OrgGrant, name)).where(
                OrgGrant.organization_id == w.org[SLUG], OrgGrant.profile_id == call.ref
            ),
        )

    return probe


def _membership_alive(w: World, _actor: str, call: Call) -> Any:
    return _scalar(w, select(Membership.role).where(Membership.id == call.ref))


def _removed(w: World, _actor: str, call: Call) -> Any:
    membership_id, profile_id = call.ref
    return (
        _scalar(w, select(Membership.id).where(Membership.id == membership_id)),
        _scalar(w, select(OrgGrant.assigned_user_id).where(OrgGrant.profile_id == profile_id)),
    )


def _org_field(name: str) -> Callable[[World, str, Call], Any]:
    def probe(w: World, _actor: str, _call: Call) -> Any:
        return _scalar(w, select(getattr(Organization, name)).where(Organization.id == w.org[SLUG]))

    return probe


def _count(model: Any, **where: Any) -> Callable[[World, str, Call], Any]:
    def probe(w: World, _actor: str, call: Call) -> Any:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == (call.ref if value is Call else value))
        return _scalar(w, stmt)

    return probe


def _links_by(w: World, actor: str, _call: Call) -> Any:
    who = w.uid.get(actor, -1)
    return _scalar(
        w,
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "org.link", AuditEvent.actor_user_id == who, AuditEvent.outcome == "success"
        ),
    )


def _i_belong(w: World, actor: str, _call: Call) -> Any:
    who = w.uid.get(actor, -1)
    return _scalar(w, select(Membership.id).where(Membership.organization_id == w.org[SLUG], Membership.user_id == who))


def _owned_orgs(w: World, actor: str, _call: Call) -> Any:
    who = w.uid.get(actor, -1)
    return _scalar(w, select(func.count(Membership.id)).where(Membership.user_id == who, Membership.role == "owner"))


def _grant_live(org: str, profile: str) -> Callable[[World, str, Call], Any]:
    def probe(w: World, _actor: str, call: Call) -> Any:
        profile_id = w.c_profile if profile == "c" else w.a["profile_id"]
        return _live_grant(w, org, profile_id)

    return probe


# --- the table -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    endpoint: str
    method: str
    expect: dict[str, Expect]  # actor → answer, in the order the actors act
    call: Callable[[World, str], Call]
    probe: Callable[[World, str, Call], Any] | None = None
    ok: int = 0  # the status of an allowed answer: 200 for GET, 303 for POST unless said

    @property
    def ok_status(self) -> int:
        return self.ok or (200 if self.method == "GET" else 303)


def ws(owner: Expect, admin: Expect, agent: Expect, agent_other: Expect, viewer: Expect) -> dict[str, Expect]:
    """A workspace route's answers: the organization's members as given; outsiders 404, signed out → sign in."""
    return {
        "owner": owner,
        "admin": admin,
        "agent": agent,
        "agent_other": agent_other,
        "viewer": viewer,
        "stranger": 404,
        "anon": LOGIN,
    }


EVERY_MEMBER = ws(OK, OK, OK, OK, OK)
ACTING = ws(OK, OK, OK, OK, 403)  # may link clients and ask for access; viewers only read
ADMINS = ws(OK, OK, 403, 403, 403)  # settings, log, members' management, assign, release
CLIENT_DATA = ws(OK, OK, OK, 404, OK)  # the client is assigned to "agent", not to "agent_other"


def _a(path: str) -> Callable[[World, str], Call]:
    def call(w: World, _actor: str) -> Call:
        return Call(WS + path.format(**w.a))

    return call


def _static(path: str, **data: str) -> Callable[[World, str], Call]:
    return lambda _w, _actor: Call(path, dict(data))


def _link(w: World, _actor: str) -> Call:
    id_type, number, policy = w.link_pair
    return Call(f"{WS}/clients/link", {"id_type": id_type, "id_number": number, "policy_number": policy})


def _assign(w: World, actor: str) -> Call:
    profile_id = _fresh_client(w, w.uid["agent"] if actor == "agent" else None)
    target = "" if actor == "agent" else str(w.uid["agent"])
    return Call(f"{WS}/clients/{profile_id}/assign", {"member": target}, profile_id)


def _release(w: World, actor: str) -> Call:
    profile_id = _fresh_client(w, w.uid["agent"] if actor == "agent" else None)
    return Call(f"{WS}/clients/{profile_id}/release", {}, profile_id)


def _invite(w: World, actor: str) -> Call:
    email = f"invita-{actor}-{w.n()}@example.com"
    return Call(f"{WS}/members/invite", {"email": email, "role": "agent"}, email)


def _change_role(w: World, _actor: str) -> Call:
    membership_id, _user = _fresh_member(w)
    return Call(f"{WS}/members/{membership_id}/role", {"role": "viewer"}, membership_id)


def _remove_page(w: World, _actor: str) -> Call:
    membership_id, _user = _fresh_member(w)
    return Call(f"{WS}/members/{membership_id}/remove")


def _remove(w: World, _actor: str) -> Call:
    membership_id, leaving = _fresh_member(w)
    profile_id = _fresh_client(w, leaving)  # their client goes to "agent"
    return Call(
        f"{WS}/members/{membership_id}/remove", {"reassign_to": str(w.uid["agent"])}, (membership_id, profile_id)
    )


def _revoke_invitation(w: World, _actor: str) -> Call:
    invitation_id = _fresh_invitation(w)
    return Call(f"{WS}/invitations/{invitation_id}/revoke", {}, invitation_id)


def _ask(w: World, actor: str) -> Call:
    email = f"cliente-{actor}-{w.n()}@example.com"
    return Call(f"{WS}/requests", {"email": email, "scope": "read"}, email)


def _withdraw(w: World, actor: str) -> Call:
    request_id = _fresh_request(w, w.uid.get(actor))  # their own request: an agent sees only theirs
    return Call(f"{WS}/requests/{request_id}/withdraw", {}, request_id)


def _settings(w: World, actor: str) -> Call:
    return Call(f"{WS}/settings", {"name": f"Alfa Seguros {actor}"})  # agents_see_all stays off


CUITS = iter(
    f"{base}{ar_cuit.calc_check_digit(str(base))}"
    for base in range(30_600_000_00, 30_600_001_00)
    if ar_cuit.is_valid(f"{base}{ar_cuit.calc_check_digit(str(base))}")
)


def _create(_w: World, actor: str) -> Call:
    data = {"name": f"Estudio {actor}", "kind": "accounting", "country": "AR", "tax_id": next(CUITS)}
    return Call("/orgs", data)


def _invitation(w: World, _actor: str) -> Call:
    return Call(_invitation_link(w))


def _answer(w: World, _actor: str) -> Call:
    return Call(_request_link(w))


def _approve(w: World, _actor: str) -> Call:
    return Call(_request_link(w), {"decision": "approve", "profile_id": str(w.c_profile)})


def _access_page(w: World, _actor: str) -> Call:
    return Call(f"/profiles/{w.a['profile_id']}/access")


def _grant(w: World, _actor: str) -> Call:
    with w.app.app_context():
        code = db.session.scalar(select(Organization.invite_code).where(Organization.id == w.org["delta"]))
    return Call(f"/profiles/{w.a['profile_id']}/access/grant", {"org": code or "", "scope": "read", "confirm": "1"})


def _revoke(w: World, _actor: str) -> Call:
    grant_id = _give(w, "gamma", w.a["profile_id"])
    return Call(f"/profiles/{w.a['profile_id']}/access/{grant_id}/revoke", {"password": STRONG_PASSWORD})


# Signed-in users outside the workspace routes: the client (invitee, addressee, holder), a member of the
# organization, the owner of another one, and a user who has not verified their email yet.
ORGS_ANYONE: dict[str, Expect] = {"owner": OK, "stranger": OK, "unverified": 403, "anon": LOGIN}
# The client last: they accept the invitation / approve the request.
ADDRESSED: dict[str, Expect] = {"stranger": 403, "unverified": 403, "client": OK}
HOLDER: dict[str, Expect] = {"owner": 404, "stranger": 404, "unverified": 403, "anon": LOGIN, "client": OK}

TABLE: list[Row] = [
    # the workspace: its home, linking, one client and what it holds
    Row("workspace.clients", "GET", EVERY_MEMBER, _static(f"{WS}/")),
    Row("workspace.link", "GET", ACTING, _static(f"{WS}/clients/link")),
    Row("workspace.link", "POST", ACTING, _link, _links_by),
    Row("workspace.client", "GET", CLIENT_DATA, _a("/clients/{profile_id}"), _reads_by),
    Row("workspace.policy", "GET", CLIENT_DATA, _a("/policies/{policy_id}"), _reads_by),
    Row(
        "workspace.policy_document",
        "GET",
        CLIENT_DATA,
        _a("/policies/{policy_id}/documents/{policy_document_id}"),
        _reads_by,
    ),
    Row("workspace.claim", "GET", CLIENT_DATA, _a("/claims/{claim_id}"), _reads_by),
    Row(
        "workspace.claim_document",
        "GET",
        CLIENT_DATA,
        _a("/claims/{claim_id}/documents/{claim_document_id}"),
        _reads_by,
    ),
    Row("workspace.assign", "POST", ADMINS, _assign, _grant_field("assigned_user_id")),
    Row("workspace.release", "POST", ADMINS, _release, _grant_field("revoked_reason")),
    Row("workspace.access_log", "GET", ADMINS, _static(f"{WS}/log")),
    # members and invitations
    Row("workspace.members", "GET", EVERY_MEMBER, _static(f"{WS}/members")),
    Row("workspace.invite", "POST", ADMINS, _invite, _count(OrgInvitation, email=Call)),
    Row("workspace.change_role", "POST", ADMINS, _change_role, _membership_alive),
    Row("workspace.remove", "GET", ADMINS, _remove_page),
    Row("workspace.remove", "POST", ADMINS, _remove, _removed),
    Row(
        "workspace.revoke_invitation",
        "POST",
        ADMINS,
        _revoke_invitation,
        lambda w, _actor, call: _scalar(w, select(OrgInvitation.revoked_at).where(OrgInvitation.id == call.ref)),
    ),
    # settings
    Row("workspace.settings", "GET", ADMINS, _static(f"{WS}/settings")),
    Row("workspace.settings", "POST", ADMINS, _settings, _org_field("name")),
    Row("workspace.regenerate_code", "POST", ADMINS, _static(f"{WS}/settings/invite-code"), _org_field("invite_code")),
    # asking clients for access
    Row("workspace.requests", "GET", ACTING, _static(f"{WS}/requests")),
    Row("workspace.requests", "POST", ACTING, _ask, _count(AccessRequest, email=Call)),
    Row(
        "workspace.withdraw",
        "POST",
        ACTING,
        _withdraw,
        lambda w, _actor, call: _scalar(w, select(AccessRequest.decision).where(AccessRequest.id == call.ref)),
    ),
    # outside any workspace
    Row("orgs.new", "GET", ORGS_ANYONE, _static("/orgs/new")),
    Row("orgs.create", "POST", ORGS_ANYONE, _create, _owned_orgs),
    Row("orgs.invitation", "GET", {**ADDRESSED, "anon": OK}, _invitation),  # it tells a signed-out visitor to sign in
    Row("orgs.invitation", "POST", {"anon": LOGIN, **ADDRESSED}, _invitation, _i_belong),
    Row("orgs.request_answer", "GET", {"anon": LOGIN, **ADDRESSED}, _answer),
    Row("orgs.request_answer", "POST", {"anon": LOGIN, **ADDRESSED}, _approve, _grant_live(SLUG, "c")),
    Row("profiles.access_page", "GET", HOLDER, _access_page),
    Row("profiles.grant", "POST", HOLDER, _grant, _grant_live("delta", "a")),
    Row("profiles.revoke", "POST", HOLDER, _revoke, _grant_live("gamma", "a")),
    # last: members leave (the last owner may not)
    Row(
        "workspace.leave",
        "POST",
        {
            "viewer": OK,
            "agent": OK,
            "agent_other": OK,
            "admin": OK,
            "owner": REFUSED,
            "stranger": 404,
            "anon": LOGIN,
        },
        _static(f"{WS}/leave"),
        _i_belong,
    ),
]


def _covered_routes(app: Flask) -> set[tuple[str, str]]:
    """Every (endpoint, method) the table must have: the workspace's, /orgs' and a profile's access routes."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not (
            rule.endpoint.startswith(("workspace.", "orgs."))
            or (rule.endpoint.startswith("profiles.") and "/access" in rule.rule)
        ):
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found.add((rule.endpoint, method))
    return found


def test_the_table_covers_every_route(app: Flask) -> None:
    table = [(row.endpoint, row.method) for row in TABLE]
    assert len(table) == len(set(table)), "a route has two rows"
    routes = _covered_routes(app)
    missing, unknown = routes - set(table), set(table) - routes
    assert not missing, f"routes without a row in the role matrix (add one): {sorted(missing)}"
    assert not unknown, f"rows for routes that no longer exist: {sorted(unknown)}"
    assert any(e.startswith("workspace.") for e, _m in routes) and ("orgs.create", "POST") in routes
    assert TABLE[-1].endpoint == "workspace.leave"  # the members leave last


# --- running the table ---------------------------------------------------------------------------------------


def _answer_of(response: Any) -> Expect:
    if response.status_code in (302, 303) and urlparse(response.headers.get("Location", "")).path == "/auth/login":
        return LOGIN
    return int(response.status_code)


def _send(w: World, actor: str, method: str, call: Call) -> Any:
    browser = w.browsers[actor]
    if method == "GET":
        return browser.get(call.url)
    return browser.post(call.url, data={"csrf_token": w.tokens[actor], **call.data})


def _run(w: World, row: Row, actor: str, expected: Expect) -> str | None:
    """Run one cell; a description of the mismatch, or None."""
    call = row.call(w, actor)
    before = row.probe(w, actor, call) if row.probe else None
    response = _send(w, actor, row.method, call)
    got = _answer_of(response)
    want: Expect = row.ok_status if expected in (OK, REFUSED) else expected
    cell = f"{row.method} {row.endpoint} as {actor} ({call.url})"
    if got != want:
        return f"{cell}: expected {expected} ({want}), got {got}"
    if row.probe is not None:
        after = row.probe(w, actor, call)
        if expected == OK and after == before:
            return f"{cell}: answered {got} but nothing happened (probe stayed {before!r})"
        if expected != OK and after != before:
            return f"{cell}: answered {got} yet it happened (probe {before!r} → {after!r})"
    return None


def test_role_matrix(app: Flask, mailbox: Mailbox) -> None:
    w = _build(app, mailbox)
    _lists_and_pages_follow_assignment_and_roles(w)
    failures = [
        problem
        for row in TABLE
        for actor, expected in row.expect.items()
        if (problem := _run(w, row, actor, expected)) is not None
    ]
    assert not failures, "the role matrix found:\n" + "\n".join(failures)


# --- what the table does not show on its own -------------------------------------------------------------------


def _lists_and_pages_follow_assignment_and_roles(w: World) -> None:
    """The clients list shows each member what they reach, a client assigned to nobody is the admins' and
    viewers' but no agent's, and admins cannot touch owners (run before the table, on the same world)."""
    app, b = w.app, w.b
    a_row = f'data-profile-id="{w.a["profile_id"]}"'
    b_row = f'data-profile-id="{b["profile_id"]}"'
    lists = {actor: w.browsers[actor].get(f"{WS}/").get_data(as_text=True) for actor in ROLES}
    assert a_row in lists["agent"] and b_row not in lists["agent"]
    assert a_row not in lists["agent_other"] and b_row not in lists["agent_other"]
    for actor in ("owner", "admin", "viewer"):
        assert a_row in lists[actor] and b_row in lists[actor], actor
    pages = [
        f"/clients/{b['profile_id']}",
        f"/policies/{b['policy_id']}",
        f"/policies/{b['policy_id']}/documents/{b['policy_document_id']}",
        f"/claims/{b['claim_id']}",
        f"/claims/{b['claim_id']}/documents/{b['claim_document_id']}",
        # one client's document under another client's policy or claim: never
        f"/policies/{w.a['policy_id']}/documents/{b['policy_document_id']}",
        f"/claims/{w.a['claim_id']}/documents/{b['claim_document_id']}",
    ]
    for actor in ("agent", "agent_other"):
        assert [p for p in pages[:5] if w.browsers[actor].get(WS + p).status_code != 404] == [], actor
    assert [p for p in pages[:5] if w.browsers["viewer"].get(WS + p).status_code != 200] == []
    assert [p for p in pages[5:] if w.browsers["owner"].get(WS + p).status_code != 404] == []

    # Each member is offered exactly what their role may do (no button that answers 403).
    admins, acting = {"owner", "admin"}, {"owner", "admin", "agent", "agent_other"}
    for actor in ROLES:
        home = lists[actor]
        client = w.browsers[actor].get(f"{WS}/clients/{w.a['profile_id']}").get_data(as_text=True)
        members = w.browsers[actor].get(f"{WS}/members").get_data(as_text=True)
        if actor == "agent_other":
            client = ""  # not theirs: 404
        offered = {
            "settings": f'href="{WS}/settings"' in home,
            "log": f'href="{WS}/log"' in home,
            "requests": f'href="{WS}/requests"' in home,
            "link": 'data-testid="link-client"' in home,
            "assign": 'data-testid="assign-form"' in client,
            "release": 'data-testid="release"' in client,
            "invite": 'data-testid="invite-form"' in members,
            "manage": 'data-testid="role-form-' in members or 'data-testid="remove-' in members,
            "leave": 'data-testid="leave"' in members,
        }
        allowed = {
            "settings": actor in admins,
            "log": actor in admins,
            "requests": actor in acting,
            "link": actor in acting,
            "assign": actor in admins,
            "release": actor in admins,
            "invite": actor in admins,
            "manage": actor in admins,
            "leave": actor != "owner",  # the only owner is told to name another owner first
        }
        assert offered == allowed, (actor, {k: v for k, v in offered.items() if v != allowed[k]})

    # An agent who sees only their assigned clients sees (and withdraws) only the requests they sent.
    mine, theirs = _fresh_request(w, w.uid["agent"]), _fresh_request(w, w.uid["admin"])
    emails = {rid: _scalar(w, select(AccessRequest.email).where(AccessRequest.id == rid)) for rid in (mine, theirs)}
    listed = {
        actor: {
            rid
            for rid, email in emails.items()
            if email in w.browsers[actor].get(f"{WS}/requests").get_data(as_text=True)
        }
        for actor in ("owner", "admin", "agent", "agent_other")
    }
    assert listed == {"owner": {mine, theirs}, "admin": {mine, theirs}, "agent": {mine}, "agent_other": set()}
    withdraw = w.browsers["agent_other"].post(
        f"{WS}/requests/{mine}/withdraw", data={"csrf_token": w.tokens["agent_other"]}
    )
    assert withdraw.status_code == 404
    assert _scalar(w, select(AccessRequest.decision).where(AccessRequest.id == mine)) is None

    # An admin may neither demote nor remove an owner (the answer explains; nothing changes).
    with app.app_context():
        owner_membership = db.session.scalar(
            select(Membership.id).where(Membership.user_id == w.uid["owner"], Membership.organization_id == w.org[SLUG])
        )
    admin = w.browsers["admin"]
    token = w.tokens["admin"]
    assert (
        admin.post(f"{WS}/members/{owner_membership}/role", data={"csrf_token": token, "role": "viewer"}).status_code
        == 303
    )
    assert admin.post(f"{WS}/members/{owner_membership}/remove", data={"csrf_token": token}).status_code == 303
    assert _scalar(w, select(Membership.role).where(Membership.id == owner_membership)) == "owner"
    # …nor invite one.
    invited = admin.post(
        f"{WS}/members/invite", data={"csrf_token": token, "email": "jefa@example.com", "role": "owner"}
    )
    assert invited.status_code == 422
    assert _scalar(w, select(func.count(OrgInvitation.id)).where(OrgInvitation.email == "jefa@example.com")) == 0


# --- holes found in services/access.py ---------------------------------------------------------------------


def _workspace(app: Flask, email: str, org_id: int) -> access.Workspace:
    user = db.session.get(User, user_id(email))
    assert user is not None
    db.session.refresh(user)
    found = [ws for ws in access.workspaces_of(user) if ws.org_id == org_id]
    assert found, f"{email} is not a member"
    return found[0]


def test_hr_never_reaches_claim_documents_through_a_policy(app: Flask, mailbox: Mailbox) -> None:
    """A document of a claim that also names its policy is still a claim document: HR without the insured
    person's consent gets 404 for it under the policy's URL too (services/access.py)."""
    member = app.test_client()
    register_verified(member, mailbox, "rrhh@empresa.example")
    with app.app_context():
        hr = make_org("rrhh", kind="hr")
        add_member(hr, "rrhh@empresa.example", "admin")
        account = employer_with_group_policy()
        grant_accounts(hr, [account], claim_details=False)
        claim = db.session.scalars(select(Claim).where(Claim.account_id == account.id)).one()
        both = Document(
            policy_id=claim.policy_id, claim_id=claim.id, ref="EMP-DOC-S", kind="claim", title="Informe médico"
        )
        plain = db.session.scalars(select(Document).where(Document.policy_id == claim.policy_id)).first()
        assert plain is not None
        db.session.add(both)
        db.session.commit()
        policy_id, both_id, plain_id = claim.policy_id, both.id, plain.id
        with app.test_request_context():
            ws = _workspace(app, "rrhh@empresa.example", hr)
            assert access.org_policy_document_or_404(ws, policy_id, plain_id).id == plain_id
            with pytest.raises(NotFound):
                access.org_policy_document_or_404(ws, policy_id, both_id)
    assert member.get(f"/o/rrhh/policies/{policy_id}/documents/{both_id}").status_code == 404
    # With the employee's consent to the details, it is theirs to see.
    with app.app_context():
        db.session.execute(update(OrgGrant).where(OrgGrant.organization_id == hr).values(claim_details=True))
        db.session.commit()
        with app.test_request_context():
            ws = _workspace(app, "rrhh@empresa.example", hr)
            assert access.org_policy_document_or_404(ws, policy_id, both_id).id == both_id


def test_a_grant_answers_only_for_the_accounts_it_covers(app: Flask, mailbox: Mailbox) -> None:
    """``org_account_grant_or_404`` and the claim's grant: a live grant on the profile is not enough, the
    grant must cover that insurer account (a proof at GNP does not reach the person's Australis account)."""
    member = app.test_client()
    register_verified(member, mailbox, "duena@alfa.example")
    register_verified(app.test_client(), mailbox, EMAILS["client"])
    with app.app_context():
        alfa = make_org(SLUG)
        add_member(alfa, "duena@alfa.example", "owner")
        holder = user_id(EMAILS["client"])
        gnp = link_sample(holder, "gnp")
        # The same person at Australis: another account of the same profile, which the grant does not cover.
        other = InsurerAccount(
            profile_id=gnp.profile_id, insurer_id=insurers.ensure_insurers()["australis"], client_ref="AUS-X"
        )
        db.session.add(other)
        db.session.commit()
        grant_accounts(alfa, [gnp])
        other_id, gnp_id = other.id, gnp.id
        with app.test_request_context():
            ws = _workspace(app, "duena@alfa.example", alfa)
            assert access.org_account_grant_or_404(ws, gnp_id).profile_id == gnp.profile_id
            with pytest.raises(NotFound):
                access.org_account_grant_or_404(ws, other_id)
            assert access.org_account_ids(ws) == [gnp_id]


def test_a_removed_or_demoted_members_invitations_stop_working(app: Flask, mailbox: Mailbox) -> None:
    """An invitation gives what its sender may give: removing an admin revokes the invitations they sent,
    demoting an owner revokes their invitations to be owners (services/orgs.py); one who leaves keeps
    theirs (they may have invited their successor)."""
    people = {role: f"{role}@alfa.example" for role in ("owner", "owner2", "admin")}
    browsers = {}
    for role, email in people.items():
        browsers[role] = app.test_client()
        register_verified(browsers[role], mailbox, email)
    with app.app_context():
        alfa = make_org(SLUG)
        for role, email in people.items():
            add_member(alfa, email, "owner" if role.startswith("owner") else role)

    def post(who: str, path: str, **data: str) -> int:
        token = csrf_from(browsers[who].get(f"{WS}/members").get_data(as_text=True))
        return int(browsers[who].post(WS + path, data={"csrf_token": token, **data}).status_code)

    def invite(who: str, email: str, role: str) -> str:
        assert post(who, "/members/invite", email=email, role=role) == 303, (who, email)
        return local_path(link_in(mailbox.wait_for(email, ""), "/orgs/invitations/"))

    def membership(email: str) -> int:
        with app.app_context():
            found = db.session.scalar(select(Membership.id).where(Membership.user_id == user_id(email)))
            assert found is not None
            return found

    by_admin = invite("admin", "nuevo@example.com", "agent")
    as_owner = invite("owner2", "jefa@example.com", "owner")
    as_admin = invite("owner2", "ayuda@example.com", "admin")
    by_owner = invite("owner", "colega@example.com", "viewer")
    links = (by_admin, as_owner, as_admin, by_owner)
    visitor = app.test_client()
    assert [visitor.get(link).status_code for link in links] == [200] * 4

    assert post("owner", f"/members/{membership(people['admin'])}/remove") == 303
    assert post("owner", f"/members/{membership(people['owner2'])}/role", role="admin") == 303
    assert post("owner2", "/leave") == 303  # now an admin, they leave: their admin invitation stays

    answers = [visitor.get(link).status_code for link in links]
    assert answers == [
        410,  # the removed admin's invitation
        410,  # an invitation to be owner from a member who is no longer an owner
        200,  # an admin may still invite admins, and leaving is not being removed
        200,  # the owner's own invitation is untouched
    ]
