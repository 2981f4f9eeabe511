"""Organizations and their members (DESIGN §11): creating one, inviting, joining, roles, removal, settings.

The views stay thin: every rule lives here. Who may reach a page is decided by ``services/access.py``
(a non-member gets 404, a member without the role 403); the rules below are about what one member may
do to another: only an owner makes or changes owners, the last owner can neither leave, nor be removed,
nor be demoted. Each change is audited (never with a raw tax ID or an invitation token).

An invitation link carries a signed nonce; only its SHA-256 digest is stored (as ``services/tokens.py``
does). It works once, for seven days, for the invited email only, and a new invitation to the same
address revokes the older one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from aggregator import mail, ratelimit
from aggregator.extensions import db
from aggregator.models import Membership, Organization, OrgGrant, OrgInvitation, User
from aggregator.models.org import ORG_KINDS, ROLES
from aggregator.models.types import utcnow
from aggregator.services import audit, taxids
from aggregator.services.access import ACTING_ROLES, Workspace
from aggregator.services.emails import InvalidEmail, normalize_email
from connectors.models import PartyKind, TaxId

COUNTRIES: dict[str, str] = {"MX": "RFC", "AR": "CUIT"}  # the tax ID an organization registers with
NO_TAX_ID = "NONE"  # tax_id_type of an organization created by an operator without a tax ID
INVITATION_LIFETIME = timedelta(days=7)
INVITE_LIMIT = "30 per hour"  # invitations one organization may send (each one is an email)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0, 1: read aloud or typed without doubt
CODE_LENGTH = 8
SLUG_MAX = 48  # leaves room for "-NN" within the column's 60 characters
RESERVED_SLUGS = frozenset(
    {
        "admin", "api", "app", "auth", "account", "accounts", "coberta", "help", "invitations", "invite",
        "log", "login", "logout", "me", "members", "new", "o", "org", "orgs", "personal", "register",
        "requests", "settings", "static", "support", "www",
    }
)  # fmt: skip
ROLE_ORDER = {role: index for index, role in enumerate(ROLES)}

MESSAGES: dict[str, Any] = {
    "tax_id_taken": _l(
        "An organization with this tax ID already exists. If it is yours, ask one of its owners to invite you."
    ),
    "person_rfc": _l(
        "Only a broker may register with a person's RFC (13 characters). Use the company's RFC (12 characters)."
    ),
    "person_cuit": _l(
        "Only a broker may register with a person's CUIT. Use the company's CUIT (it starts with 30, 33 or 34)."
    ),
    "kind": _l("Choose what kind of organization it is."),
    "country": _l("Choose the country: Mexico or Argentina."),
    "name": _l("Enter the organization's name (2 to 200 characters)."),
    "email": _l("Enter a valid email address, for example ana@example.com."),
    "already_member": _l("That person is already a member of the organization."),
    "owner_only": _l("Only an owner can make or change owners."),
    "role": _l("Choose one of the roles."),
    "too_many": _l("Too many invitations sent in the last hour. Try again later."),
    "last_owner": _l("The organization needs at least one owner. Make another member an owner first, then try again."),
    "reassign": _l("Choose a member who can look after clients, or leave them unassigned."),
}


class OrgError(ValueError):
    """A rule said no; ``message`` explains it in the user's language, ``field`` names the form field."""

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.field = field

    @property
    def message(self) -> str:
        return str(MESSAGES.get(self.code, self.code))


# --- names, slugs, codes, tax IDs ----------------------------------------------------------------------


def slugify(name: str) -> str:
    """ASCII, lower case, hyphens: "Seguros Núñez & Asoc." → "seguros-nunez-asoc" (else "organizacion")."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:SLUG_MAX].strip("-")
    return slug or "organizacion"


def _free_slug(name: str) -> str:
    """The name's slug, or the first of slug-2, slug-3, … that no organization holds (reserved words never)."""
    base = slugify(name)
    taken = set(
        db.session.scalars(
            select(Organization.slug).where(or_(Organization.slug == base, Organization.slug.like(f"{base}-%")))
        )
    )
    if base not in taken and base not in RESERVED_SLUGS:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _new_invite_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if db.session.scalar(select(Organization.id).where(Organization.invite_code == code)) is None:
            return code


def org_tax_id(country: str, kind: str, text: str) -> TaxId:
    """The organization's normalised tax ID: an RFC in Mexico, a CUIT in Argentina.

    A person's RFC or CUIT is accepted for a broker (many are individuals); an HR department or an
    accounting firm registers with its company's. Raises ``taxids.TaxIdInvalid`` or ``OrgError``.
    """
    id_type = COUNTRIES.get(country)
    if id_type is None:
        raise OrgError("country", "country")
    tax_id = taxids.validate(id_type, text)
    if kind != "broker" and taxids.kind_for(tax_id) is PartyKind.PERSON:
        raise OrgError("person_rfc" if id_type == "RFC" else "person_cuit", "tax_id")
    return tax_id


def normalise_code(text: str) -> str:
    """An invitation code or tax ID as typed ("abcd-efgh", "30-71234567-1") in its stored form."""
    return taxids.normalise(text)


def org_by_tax_id_or_code(text: str) -> Organization | None:
    """The organization a client names by its CUIT/RFC or its invitation code (any case, spaces, dashes)."""
    value = normalise_code(text)
    if not value or len(value) > taxids.MAX_INPUT:
        return None
    return db.session.scalars(
        select(Organization)
        .where(or_(Organization.invite_code == value, Organization.tax_id == value))
        .order_by(Organization.id)
        .limit(1)
    ).first()


def mask_email(email: str) -> str:
    """Mask an address: "ana.lopez@example.com" → "a•••@e•••.com" (recognisable by its owner, not learnable)."""
    local, _, domain = email.rpartition("@")
    host, dot, tld = domain.rpartition(".")
    if not host:
        host, dot, tld = domain, "", ""
    return f"{local[:1]}•••@{host[:1]}•••{dot}{tld}"


# --- creating -------------------------------------------------------------------------------------------


def has_tax_id(org: Organization) -> bool:
    """False for an organization an operator created without a tax ID (clients reach it by its code only)."""
    return org.tax_id_type != NO_TAX_ID


def create_org(user: User, name: str, kind: str, country: str, tax_id_text: str | None) -> Organization:
    """Create an organization with ``user`` as its owner. Raises ``OrgError`` / ``taxids.TaxIdInvalid``.

    ``tax_id_text`` None (operators only: ``aggregator org create`` without ``--tax-id``) leaves the
    organization without a tax ID; clients then grant it access with its invitation code.
    """
    name = " ".join((name or "").split())
    if not 2 <= len(name) <= 200:
        raise OrgError("name", "name")
    if kind not in ORG_KINDS:
        raise OrgError("kind", "kind")
    if country not in COUNTRIES:
        raise OrgError("country", "country")
    id_type, number = NO_TAX_ID, ""
    if tax_id_text is not None:
        tax_id = org_tax_id(country, kind, tax_id_text)
        id_type, number = tax_id.type.value, tax_id.number

    def taken() -> bool:
        if id_type == NO_TAX_ID:
            return False
        found = select(Organization.id).where(Organization.tax_id_type == id_type, Organization.tax_id == number)
        return db.session.scalar(found) is not None

    if taken():
        raise OrgError("tax_id_taken", "tax_id")
    for _attempt in range(5):
        try:
            with db.session.begin_nested():
                code = _new_invite_code()
                org = Organization(
                    slug=_free_slug(name),
                    name=name,
                    kind=kind,
                    country=country,
                    tax_id_type=id_type,
                    # Without a tax ID: a unique placeholder no typed text matches (normalising drops the dash).
                    tax_id=number or f"{NO_TAX_ID}-{code}",
                    invite_code=code,
                    agents_see_all=False,
                    created_by_user_id=user.id,
                )
                db.session.add(org)
                db.session.flush()
                db.session.add(Membership(organization_id=org.id, user_id=user.id, role="owner"))
                db.session.flush()
            break
        except IntegrityError:  # someone took the tax ID, the slug or the code at the same moment
            if taken():
                raise OrgError("tax_id_taken", "tax_id") from None
    else:  # pragma: no cover - five collisions in a row
        raise RuntimeError("could not find a free slug")
    audit.record(
        "org.create",
        actor_id=user.id,
        target_type="organization",
        target_id=org.id,
        slug=org.slug,
        kind=kind,
        country=country,
        tax_id_type=id_type,
    )
    return org


# --- members -------------------------------------------------------------------------------------------


def members_of(org_id: int) -> list[Membership]:
    """The organization's members with their users: owners first, then by role, then by seniority."""
    found = db.session.scalars(
        select(Membership).options(joinedload(Membership.user)).where(Membership.organization_id == org_id)
    )
    return sorted(found, key=lambda m: (ROLE_ORDER.get(m.role, 99), m.created_at, m.id))


def assignable_roles(actor_role: str) -> list[str]:
    """The roles a member may give (in an invitation or a change): owners any, admins all but owner."""
    if actor_role == "owner":
        return list(ROLES)
    if actor_role == "admin":
        return [r for r in ROLES if r != "owner"]
    return []


def may_manage(actor_role: str, target_role: str) -> bool:
    """Whether a member may change or remove a member of ``target_role``: admins cannot touch owners."""
    if actor_role == "owner":
        return True
    return actor_role == "admin" and target_role != "owner"


def _lock_org(org_id: int) -> None:
    """Serialise member changes of one organization (PostgreSQL row lock; SQLite serialises writers anyway)."""
    db.session.execute(select(Organization.id).where(Organization.id == org_id).with_for_update())


def _owners(org_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count(Membership.id)).where(Membership.organization_id == org_id, Membership.role == "owner")
        )
        or 0
    )


def change_role(ws: Workspace, target: Membership, role: str) -> bool:
    """Give a member of the workspace's organization another role; False if it already had it.

    Raises ``OrgError`` when a rule says no (only owners touch owners; the last owner stays one).
    """
    if role not in ROLES:
        raise OrgError("role", "role")
    _lock_org(ws.org_id)
    db.session.refresh(target)  # as it is now that the organization is locked
    if not may_manage(ws.role, target.role) or role not in assignable_roles(ws.role):
        raise OrgError("owner_only", "role")
    if target.role == role:
        return False
    if target.role == "owner" and _owners(ws.org_id) <= 1:
        raise OrgError("last_owner", "role")
    before, target.role = target.role, role
    db.session.flush()
    revoked = _revoke_invitations_of(ws.org_id, target.user_id, role)
    audit.record(
        "org.role_change",
        actor_id=ws.user_id,
        target_type="user",
        target_id=target.user_id,
        organization=ws.org_id,
        before=before,
        after=role,
        invitations_revoked=revoked,
    )
    return True


def _revoke_invitations_of(org_id: int, user_id: int, role: str | None) -> int:
    """Revoke the member's pending invitations that ``role`` may not give (``None``: removed, every one).

    An invitation gives what its sender could give: once they are removed, or demoted below it, its
    link stops working (an admin's removal leaves no admin invitation behind). How many were revoked.
    """
    stmt = update(OrgInvitation).where(
        OrgInvitation.organization_id == org_id,
        OrgInvitation.invited_by_user_id == user_id,
        OrgInvitation.accepted_at.is_(None),
        OrgInvitation.revoked_at.is_(None),
    )
    if role is not None:
        stmt = stmt.where(OrgInvitation.role.not_in(assignable_roles(role) or ["-"]))
    done = db.session.execute(stmt.values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def reassign_choices(ws: Workspace, leaving_user_id: int) -> list[Membership]:
    """Members who can take over a leaving member's clients: owners, admins and agents, not the leaver."""
    return [m for m in members_of(ws.org_id) if m.user_id != leaving_user_id and m.role in ACTING_ROLES]


def assigned_count(org_id: int, user_id: int) -> int:
    """How many of the organization's clients (live grants or not) are assigned to this member."""
    return (
        db.session.scalar(
            select(func.count(OrgGrant.id)).where(
                OrgGrant.organization_id == org_id, OrgGrant.assigned_user_id == user_id
            )
        )
        or 0
    )


def _drop(ws: Workspace, target: Membership, reassign_to: int | None, action: str) -> int:
    """Delete the membership and hand its clients to ``reassign_to`` (or nobody); the number moved."""
    if target.role == "owner" and _owners(ws.org_id) <= 1:
        raise OrgError("last_owner")
    if reassign_to is not None and reassign_to not in {m.user_id for m in reassign_choices(ws, target.user_id)}:
        raise OrgError("reassign", "reassign_to")
    moved = db.session.execute(
        update(OrgGrant)
        .where(OrgGrant.organization_id == ws.org_id, OrgGrant.assigned_user_id == target.user_id)
        .values(assigned_user_id=reassign_to)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    user_id, role = target.user_id, target.role
    db.session.delete(target)
    db.session.flush()
    # A removed member's invitations die with their membership; one who leaves may have invited a successor.
    revoked = _revoke_invitations_of(ws.org_id, user_id, None) if action == "org.remove_member" else 0
    audit.record(
        action,
        actor_id=ws.user_id,
        target_type="user",
        target_id=user_id,
        organization=ws.org_id,
        role=role,
        clients=int(moved or 0),
        reassigned_to=reassign_to,
        invitations_revoked=revoked,
    )
    return int(moved or 0)


def remove_member(ws: Workspace, target: Membership, reassign_to: int | None) -> int:
    """Remove a member at once (their next request is 404); their clients go to ``reassign_to`` or nobody.

    Returns how many clients were handed over (or left unassigned).
    """
    _lock_org(ws.org_id)
    db.session.refresh(target)
    if not may_manage(ws.role, target.role):
        raise OrgError("owner_only")
    return _drop(ws, target, reassign_to, "org.remove_member")


def leave(ws: Workspace) -> None:
    """The member leaves the organization (not the last owner); their clients become unassigned."""
    _lock_org(ws.org_id)
    target = db.session.scalar(
        select(Membership).where(Membership.organization_id == ws.org_id, Membership.user_id == ws.user_id)
    )
    if target is None:
        raise LookupError(ws.user_id)
    _drop(ws, target, None, "org.leave")


# --- invitations ----------------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="org-invitation")


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def pending_invitations(org_id: int) -> list[OrgInvitation]:
    """Invitations not yet accepted, revoked or expired, newest first."""
    return list(
        db.session.scalars(
            select(OrgInvitation)
            .where(
                OrgInvitation.organization_id == org_id,
                OrgInvitation.accepted_at.is_(None),
                OrgInvitation.revoked_at.is_(None),
                OrgInvitation.expires_at > utcnow(),
            )
            .order_by(OrgInvitation.id.desc())
        )
    )


def invite(ws: Workspace, inviter: User, email: str, role: str, *, locale: str) -> OrgInvitation:
    """Email a single-use link to join as ``role``; an older pending invitation to the address is revoked."""
    try:
        address = normalize_email(email)
    except InvalidEmail:
        raise OrgError("email", "email") from None
    if role not in ROLES:
        raise OrgError("role", "role")
    if role not in assignable_roles(ws.role):
        raise OrgError("owner_only", "role")
    member = db.session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == ws.org_id, User.email == address)
    )
    if member is not None:
        raise OrgError("already_member", "email")
    if not ratelimit.reserve(INVITE_LIMIT, ratelimit.key_for("org-invite", str(ws.org_id))):
        raise OrgError("too_many")
    now = utcnow()
    db.session.execute(
        update(OrgInvitation)
        .where(
            OrgInvitation.organization_id == ws.org_id,
            OrgInvitation.email == address,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    nonce = secrets.token_urlsafe(24)
    invitation = OrgInvitation(
        organization_id=ws.org_id,
        email=address,
        role=role,
        token_digest=_digest(nonce),
        invited_by_user_id=inviter.id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        "org.invite",
        actor_id=inviter.id,
        target_type="org_invitation",
        target_id=invitation.id,
        organization=ws.org_id,
        role=role,
    )
    from aggregator.services.accounts import external_url

    known = db.session.scalar(select(User).where(User.email == address))
    mail.send(
        address,
        "org_invitation",
        known.locale if known is not None else locale,
        inviter=inviter.full_name or inviter.email,
        org_name=ws.name,
        org_kind=ws.kind,
        role=role,
        expires_at=invitation.expires_at,
        url=external_url("orgs.invitation", token=_serializer().dumps({"n": nonce})),
    )
    return invitation


def revoke_invitation(ws: Workspace, invitation: OrgInvitation) -> bool:
    """Revoke a pending invitation of the workspace's organization; False if it was no longer pending."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        return False
    invitation.revoked_at = utcnow()
    db.session.flush()
    audit.record(
        "org.invitation_revoke",
        actor_id=ws.user_id,
        target_type="org_invitation",
        target_id=invitation.id,
        organization=ws.org_id,
    )
    return True


@dataclass(frozen=True)
class Invitation:
    """What an invitation link leads to: ``state`` is ok, invalid, expired, used or revoked."""

    state: str
    invitation: OrgInvitation | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def invitation_for(token: str) -> Invitation:
    """Find the invitation behind a link and say whether it can still be accepted."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return Invitation("invalid")
    nonce = data.get("n") if isinstance(data, dict) else None
    if not isinstance(nonce, str):
        return Invitation("invalid")
    invitation = db.session.scalar(
        select(OrgInvitation)
        .options(joinedload(OrgInvitation.organization))
        .where(OrgInvitation.token_digest == _digest(nonce))
    )
    if invitation is None:
        return Invitation("invalid")
    if invitation.accepted_at is not None:
        return Invitation("used", invitation)
    if invitation.revoked_at is not None:
        return Invitation("revoked", invitation)
    if invitation.expires_at <= utcnow():
        return Invitation("expired", invitation)
    return Invitation("ok", invitation)


def inviter_name(invitation: OrgInvitation) -> str | None:
    """Who sent the invitation (name, else email), if their account still exists."""
    if invitation.invited_by_user_id is None:
        return None
    user = db.session.get(User, invitation.invited_by_user_id)
    return (user.full_name or user.email) if user is not None else None


def is_for(invitation: OrgInvitation, user: User) -> bool:
    """The invitation is for this user's verified email."""
    return bool(user.is_verified) and user.email == invitation.email


@dataclass(frozen=True)
class Accepted:
    """The outcome of accepting: ``state`` ok / already_member / wrong_email / invalid / expired / used / revoked."""

    state: str
    slug: str | None = None


def accept_invitation(user: User, token: str) -> Accepted:
    """Join the organization (once, before expiry, with the invited email); already a member → just go there."""
    found = invitation_for(token)
    if found.invitation is None or not found.ok:
        return Accepted(found.state)
    invitation = found.invitation
    if not is_for(invitation, user):
        return Accepted("wrong_email")
    now = utcnow()
    claimed = db.session.execute(
        update(OrgInvitation)
        .where(
            OrgInvitation.id == invitation.id,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
            OrgInvitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_by_user_id=user.id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        return Accepted("used")
    slug = invitation.organization.slug
    org_id = invitation.organization_id
    exists = db.session.scalar(
        select(Membership.id).where(Membership.organization_id == org_id, Membership.user_id == user.id)
    )
    if exists is not None:
        return Accepted("already_member", slug)
    try:
        with db.session.begin_nested():
            db.session.add(Membership(organization_id=org_id, user_id=user.id, role=invitation.role, created_at=now))
    except IntegrityError:  # the same person accepting twice at once
        return Accepted("already_member", slug)
    audit.record(
        "org.join",
        actor_id=user.id,
        target_type="organization",
        target_id=org_id,
        role=invitation.role,
        invitation=invitation.id,
    )
    return Accepted("ok", slug)


# --- settings -------------------------------------------------------------------------------------------


def organization(ws: Workspace) -> Organization:
    """The organization of the workspace (the member already passed ``access.workspace_or_404``)."""
    org = db.session.get(Organization, ws.org_id)
    if org is None:  # pragma: no cover - deleted under the request
        raise LookupError(ws.org_id)
    return org


def update_settings(ws: Workspace, name: str, agents_see_all: bool) -> Organization:
    """Rename the organization and say whether agents see every client (the slug stays: links keep working)."""
    name = " ".join((name or "").split())
    if not 2 <= len(name) <= 200:
        raise OrgError("name", "name")
    org = organization(ws)
    changed = {
        key: value
        for key, value in (("name", name != org.name), ("agents_see_all", agents_see_all != org.agents_see_all))
        if value
    }
    if not changed:
        return org
    org.name, org.agents_see_all = name, agents_see_all
    db.session.flush()
    audit.record(
        "org.settings",
        actor_id=ws.user_id,
        target_type="organization",
        target_id=org.id,
        changed=sorted(changed),
        agents_see_all=agents_see_all,
    )
    return org


def regenerate_code(ws: Workspace) -> str:
    """A new invitation code for clients; the old one stops working at once."""
    org = organization(ws)
    org.invite_code = _new_invite_code()
    db.session.flush()
    audit.record("org.invite_code", actor_id=ws.user_id, target_type="organization", target_id=org.id)
    return org.invite_code


def format_code(code: str) -> str:
    """ "ABCDEFGH" → "ABCD-EFGH", easier to read aloud (the dash is ignored when typed back)."""
    return f"{code[:4]}-{code[4:]}" if len(code) == CODE_LENGTH else code


def expires_in_days(when: datetime) -> int:
    """Whole days (at least 0) until ``when``."""
    return max(0, (when - utcnow()).days)
