"""An organization's clients (DESIGN §11): linking a client by proof, the clients list, one client's insurer
accounts, assignment and release, and the organization's access log.

Which clients, accounts and objects a member reaches is decided by ``services.access`` alone: every
statement here is scoped by its subqueries (``org_grants_live``, ``org_accounts``) with the member's
``Workspace.params()``; nothing is filtered by hand.

**Linking by proof** is personal linking's proof (``linking.prove``: the same verification at every
insurer, the same uniform failures, ``LINK_MIN_SECONDS`` and the same atomic throttle), counted against
the member's own user key, the organization's key, the target's and the IP's, reserved before any
insurer is asked. What it proves becomes an organization grant (``consent.grant_to_org``, origin
``proof``) covering exactly the insurer accounts proved; an agent who links becomes the client's
assigned member.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from flask_babel import gettext
from sqlalchemy import Integer, Select, String, bindparam, case, or_, select, tuple_
from sqlalchemy.orm import aliased

from aggregator.extensions import db
from aggregator.models import (
    AccessLogEntry,
    Claim,
    ClientProfile,
    Document,
    Insurer,
    InsurerAccount,
    Membership,
    Organization,
    OrgGrant,
    OrgGrantAccount,
    Policy,
    User,
)
from aggregator.models.types import utcnow
from aggregator.netutil import client_ip
from aggregator.policies.presenters import line_label
from aggregator.services import access, access_log, audit, consent, linking, sync
from aggregator.services.access import Workspace

CLIENTS_PAGE = 50  # clients of one page of the workspace's home
LOG_PAGE = 50  # entries of one page of the organization's access log
MAX_QUERY = 100
MAX_WORDS = 6


# --- linking a client by proof -------------------------------------------------------------------


@dataclass(frozen=True)
class OrgLinkResult:
    """What an organization's linking attempt ended in; ``result`` carries the failure the view shows."""

    result: linking.LinkResult
    assigned_elsewhere: bool = False  # linked, but the client is followed by another member (an agent cannot see it)

    @property
    def ok(self) -> bool:
        """True when the organization now reaches the client."""
        return self.result.ok


def link_client(ws: Workspace, user: User, id_type: str, id_number: str, policy_number: str) -> OrgLinkResult:
    """Link, for the organization of ``ws``, the client proven by its tax ID and an in-force policy number.

    Every answer takes at least ``LINK_MIN_SECONDS``; the caller has checked that the member may act.
    """
    with linking.padded():
        return _link_client(ws, user, id_type, id_number, policy_number)


def _link_client(ws: Workspace, user: User, id_type: str, id_number: str, policy_number: str) -> OrgLinkResult:
    member_key = linking.user_key(user.id)
    proof = linking.prove(
        [member_key, linking.org_key(ws.org_id), linking.ip_key(client_ip())],
        id_type,
        id_number,
        policy_number,
        action="org.link",
        actor_id=user.id,
        forget=[member_key],
        organization=ws.org_id,
    )
    if isinstance(proof, linking.LinkResult):
        return OrgLinkResult(proof)
    org = db.session.get(Organization, ws.org_id)
    assert org is not None  # the workspace was resolved from the member's live membership
    resolved = linking.resolve(proof.tax_id, proof.matches)
    main: OrgGrant | None = None
    new_grant = False
    for profile_id, accounts in resolved.by_profile().items():
        before = _covered(org.id, profile_id)
        grant, fresh = consent.grant_to_org(
            org,
            profile_id,
            accounts,
            origin="proof",
            granted_by=user.id,
            assigned_user_id=user.id if ws.role == "agent" else None,
        )
        if ws.role == "agent" and grant.assigned_user_id != user.id and not _is_member(org.id, grant.assigned_user_id):
            grant.assigned_user_id = user.id  # followed by nobody who is still a member: the prover takes it
        if fresh or any(a.id not in before for a in accounts):
            consent.notify_access_granted(grant)
        if profile_id == resolved.profile.id:
            main, new_grant = grant, fresh
    db.session.flush()
    for account in resolved.accounts:
        sync.request_sync(account, "link", user.id)
    audit.record(
        "org.link",
        actor_id=user.id,
        target_type="client_profile",
        target_id=resolved.profile.id,
        outcome="success",
        insurers=list(proof.insurers),
        new_grant=new_grant,
        unavailable=proof.unavailable,
        **proof.details,
    )
    result = linking.LinkResult(
        "linked", profile_id=resolved.profile.id, profile_name=resolved.profile.name, insurers=proof.insurers
    )
    elsewhere = main is not None and not ws.sees_all_clients and main.assigned_user_id != user.id
    return OrgLinkResult(result, assigned_elsewhere=elsewhere)


def _covered(org_id: int, profile_id: int) -> set[int]:
    """The insurer accounts the organization's live grant on the profile covers now (none without one)."""
    now = utcnow()
    return set(
        db.session.scalars(
            select(OrgGrantAccount.account_id)
            .join(OrgGrant, OrgGrant.id == OrgGrantAccount.grant_id)
            .where(
                OrgGrant.organization_id == org_id,
                OrgGrant.profile_id == profile_id,
                OrgGrant.revoked_at.is_(None),
                or_(OrgGrant.expires_at.is_(None), OrgGrant.expires_at > now),
            )
        )
    )


def _is_member(org_id: int, user_id: int | None) -> bool:
    if user_id is None:
        return False
    found = db.session.scalar(
        select(Membership.id).where(Membership.organization_id == org_id, Membership.user_id == user_id)
    )
    return found is not None


# --- the clients list ----------------------------------------------------------------------------


def mask(id_type: str, id_number: str) -> str:
    """A tax ID as screens show it (``ClientProfile.masked_id``): its type and last 3 characters."""
    return f"{id_type} …{id_number[-3:]}"


@dataclass(frozen=True)
class ClientCursor:
    """Where a page of clients ends: the (name, profile id) of its last client (clients go by name)."""

    name: str
    id: int

    @property
    def token(self) -> str:
        """The position as the ``after`` argument of a URL: the name (base64url) and the id."""
        encoded = base64.urlsafe_b64encode(self.name.encode()).decode().rstrip("=")
        return f"{encoded}.{self.id}"

    @classmethod
    def parse(cls, raw: str | None) -> ClientCursor | None:
        """The position of an ``after`` argument; anything malformed is no position (the first page)."""
        encoded, _, ident = (raw or "").rpartition(".")
        if not ident.isdigit() or len(ident) > 18 or len(encoded) > 400:
            return None
        try:
            name = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return cls(name, int(ident))


@dataclass
class ClientRow:
    """One client of the list, every text ready."""

    grant_id: int
    profile_id: int
    name: str
    masked_id: str
    is_company: bool
    scope: str
    origin: str
    since: datetime
    expires_at: datetime | None
    assigned_user_id: int | None
    assigned_label: str | None
    insurers: list[str] = field(default_factory=list)


@dataclass
class ClientsPage:
    """One page of the organization's clients and where the next one starts."""

    rows: list[ClientRow]
    after: ClientCursor | None


def search_words(q: str) -> list[str]:
    """The words of a search, as the list narrows by them (at most ``MAX_WORDS``)."""
    return " ".join((q or "").split())[:MAX_QUERY].split()[:MAX_WORDS]


def _like(word: str) -> str:
    return "%" + word.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


@cache
def _clients_statement(words: int, after: bool) -> Select[Any]:
    """One page of a member's clients, by name, for one shape (search words, position): built once."""
    assignee = aliased(User)
    stmt = (
        select(
            OrgGrant.id.label("grant_id"),
            OrgGrant.scope,
            OrgGrant.origin,
            OrgGrant.created_at,
            OrgGrant.expires_at,
            OrgGrant.assigned_user_id,
            ClientProfile.id.label("profile_id"),
            ClientProfile.name,
            ClientProfile.id_type,
            ClientProfile.id_number,
            ClientProfile.kind,
            assignee.full_name.label("assignee_name"),
            assignee.email.label("assignee_email"),
        )
        .join(ClientProfile, ClientProfile.id == OrgGrant.profile_id)
        .outerjoin(assignee, assignee.id == OrgGrant.assigned_user_id)
        .where(OrgGrant.id.in_(access.org_grants_live()))
    )
    for index in range(words):
        stmt = stmt.where(ClientProfile.name.ilike(bindparam(f"word{index}"), escape="/"))
    if after:
        position = tuple_(bindparam("after_name", type_=String()), bindparam("after_id", type_=Integer()))
        stmt = stmt.where(tuple_(ClientProfile.name, ClientProfile.id) > position)
    return stmt.order_by(ClientProfile.name, ClientProfile.id).limit(CLIENTS_PAGE + 1)  # type: ignore[return-value]


@cache
def _insurers_statement() -> Select[Any]:
    """The insurers each of some grants covers (``grants`` bound, expanding)."""
    return (
        select(OrgGrantAccount.grant_id, Insurer.name)  # type: ignore[return-value]
        .join(InsurerAccount, InsurerAccount.id == OrgGrantAccount.account_id)
        .join(Insurer, Insurer.id == InsurerAccount.insurer_id)
        .where(OrgGrantAccount.grant_id.in_(bindparam("grants", expanding=True)))
        .order_by(OrgGrantAccount.grant_id, Insurer.name)
    )


def clients_page(ws: Workspace, q: str = "", after: ClientCursor | None = None) -> ClientsPage:
    """``CLIENTS_PAGE`` clients the member reaches (by name, after ``after``), with the insurers each grant
    covers: two statements, whatever the number of clients."""
    words = search_words(q)
    params: dict[str, Any] = ws.params()
    params.update({f"word{index}": _like(word) for index, word in enumerate(words)})
    if after is not None:
        params.update(after_name=after.name, after_id=after.id)
    found = list(db.session.execute(_clients_statement(len(words), after is not None), params))
    page = found[:CLIENTS_PAGE]
    rows = [
        ClientRow(
            grant_id=r.grant_id,
            profile_id=r.profile_id,
            name=r.name,
            masked_id=mask(r.id_type, r.id_number),
            is_company=r.kind == "company",
            scope=r.scope,
            origin=r.origin,
            since=r.created_at,
            expires_at=r.expires_at,
            assigned_user_id=r.assigned_user_id,
            assigned_label=(r.assignee_name or r.assignee_email) if r.assigned_user_id else None,
        )
        for r in page
    ]
    if rows:
        by_grant = {row.grant_id: row for row in rows}
        for grant_id, name in db.session.execute(_insurers_statement(), {"grants": list(by_grant)}):
            by_grant[grant_id].insurers.append(name)
    nxt = ClientCursor(page[-1].name, page[-1].profile_id) if len(found) > CLIENTS_PAGE else None
    return ClientsPage(rows, nxt)


# --- one client ----------------------------------------------------------------------------------


def _status() -> Any:
    """The health a screen shows (as ``portfolio`` says it): 'syncing' while a sync is queued or running."""
    busy = or_(InsurerAccount.sync_started_at.is_not(None), InsurerAccount.sync_queued_at.is_not(None))
    return case((busy, "syncing"), else_=InsurerAccount.health)


@cache
def _account_rows_statement() -> Select[Any]:
    """The insurer accounts of one client that the member reaches, as plain rows (``portfolio.account_rows``'s
    columns): what the presenters need to make cards of their policies."""
    return (
        select(
            InsurerAccount.id,
            InsurerAccount.profile_id,
            InsurerAccount.insurer_id,
            _status().label("status"),
            InsurerAccount.last_error,
            InsurerAccount.last_success_at,
            InsurerAccount.currencies,
            Insurer.slug.label("insurer_slug"),
            Insurer.name.label("insurer_name"),
            ClientProfile.name.label("profile_name"),
            ClientProfile.country,
        )
        .join(Insurer, Insurer.id == InsurerAccount.insurer_id)
        .join(ClientProfile, ClientProfile.id == InsurerAccount.profile_id)
        .where(InsurerAccount.profile_id == bindparam("profile_id"), InsurerAccount.id.in_(access.org_accounts()))
        .order_by(Insurer.name, InsurerAccount.id)
    )


def account_rows(ws: Workspace, profile_id: int) -> list[Any]:
    """The insurer accounts of one client the member reaches (those its grant covers): one statement."""
    return list(db.session.execute(_account_rows_statement(), {**ws.params(), "profile_id": profile_id}))


@dataclass(frozen=True)
class Member:
    """A member of the organization, as the assignment and log filters list them."""

    user_id: int
    label: str
    role: str


def members_of(org_id: int) -> list[Member]:
    """The organization's members, by name (one statement)."""
    rows = db.session.execute(
        select(Membership.user_id, Membership.role, User.full_name, User.email)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id)
        .order_by(User.full_name, User.email)
    )
    return [Member(r.user_id, r.full_name or r.email, r.role) for r in rows]


def assignable(members: Iterable[Member]) -> list[Member]:
    """Members a client can be assigned to: those who may act (viewers read every client anyway)."""
    return [m for m in members if m.role in access.ACTING_ROLES]


def assign(ws: Workspace, grant: OrgGrant, member_id: int | None) -> bool:
    """Assign the client to a member who may act (``None``: nobody); False if ``member_id`` is not one."""
    if member_id is not None and member_id not in {m.user_id for m in assignable(members_of(ws.org_id))}:
        return False
    before = grant.assigned_user_id
    grant.assigned_user_id = member_id
    db.session.flush()
    audit.record(
        "org.assign",
        actor_id=ws.user_id,
        target_type="client_profile",
        target_id=grant.profile_id,
        organization=ws.org_id,
        assigned_to=member_id,
        previously=before,
    )
    return True


def release(ws: Workspace, grant: OrgGrant) -> bool:
    """The organization gives the client's access up (revoked: ``org_released``); False if it had ended."""
    return consent.revoke(grant, "org_released", ws.user_id)


# --- the access log ------------------------------------------------------------------------------


def policy_summary(policy: Policy) -> str:
    """A policy as the client knows it: "Póliza 1234567 · Auto" (never a tax ID)."""
    return gettext("Policy %(number)s", number=policy.number) + " · " + line_label(policy.line)


def claim_summary(claim: Claim) -> str:
    """A claim as the client knows it: its number and its policy's."""
    policy = gettext("Policy %(number)s", number=claim.policy.number)
    return gettext("Claim %(number)s", number=claim.number) + " · " + policy


def record_view(
    ws: Workspace,
    profile_id: int,
    action: str,
    object_type: str,
    object_id: int,
    summary: str,
    account_id: int | None = None,
) -> None:
    """One read of client data by the member, in the client's access log (``account_id``: the insurer account
    of the object read, so that each holder reads the rows of the insurers they proved)."""
    access_log.record(
        ws, profile_id, action, object_type=object_type, object_id=object_id, account_id=account_id, summary=summary
    )


def record_download(ws: Workspace, profile_id: int, document: Document, parent: str, account_id: int) -> None:
    """A document download by the member: its title and the policy or claim (of insurer account ``account_id``)."""
    summary = f"{document.title} · {parent}" if document.title else parent
    access_log.record(
        ws,
        profile_id,
        "download",
        object_type="document",
        object_id=document.id,
        account_id=account_id,
        summary=summary,
    )


def profile_of_account(account_id: int) -> int:
    """The profile an (already access-checked) insurer account belongs to."""
    found = db.session.scalar(select(InsurerAccount.profile_id).where(InsurerAccount.id == account_id))
    assert found is not None
    return int(found)


@dataclass
class LogPage:
    """One page of the organization's access log, with the clients' names, and where the next one starts."""

    entries: list[AccessLogEntry]
    names: dict[int, str]
    before: int | None


def log_page(ws: Workspace, member_id: int | None = None, before: int | None = None) -> LogPage:
    """The newest entries of the organization's members (of one member, if given): two statements."""
    found = access_log.for_organization(ws.org_id, before=before, limit=LOG_PAGE + 1, user_id=member_id)
    entries = found[:LOG_PAGE]
    names: dict[int, str] = {}
    ids = sorted({e.profile_id for e in entries})
    if ids:
        rows = db.session.execute(select(ClientProfile.id, ClientProfile.name).where(ClientProfile.id.in_(ids)))
        names = {pid: name for pid, name in rows}
    return LogPage(entries, names, entries[-1].id if len(found) > LOG_PAGE else None)
