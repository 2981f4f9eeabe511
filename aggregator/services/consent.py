"""Clients' consent to organizations (DESIGN §11): grants to organizations, their revocation and expiry.

Every way an organization gains access — a proof by a member, an invitation from the client, a request
the client approved, the demo — ends in ``grant_to_org``; every way it loses access in ``revoke``. A
grant covers exactly the insurer accounts given (what was proved, or what the consenting client's own
grant covers); a revoked grant that comes back covers only what is given again.

Besides those two:

- **invitation by the client** (``find_org`` + ``grant_by_client``): from a profile's "Acceso" page the
  client names an organization by its tax ID or invitation code (lookups throttled per user, so codes
  cannot be enumerated) and gives it what the client's own grant covers, nothing more;
- **access requests** (``ask_for_access``, ``answer_request``, ``withdraw_request``): an organization asks
  a client by email; the emailed link is signed and single-use (only a digest of its nonce is kept); the
  client answers signed in with that verified email, choosing which of their profiles to share;
- **expiry** (``expire_grants``, daily): a reminder 7 days before ``expires_at`` (once), and grants past
  it recorded as revoked with reason ``expired`` (access already stops at expiry, in ``access.py``);
- ``notify_access_granted``: every live holder of the profile hears of every new or returning grant.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from aggregator import mail, ratelimit
from aggregator.extensions import db
from aggregator.models import (
    AccessRequest,
    ClientProfile,
    GrantAccount,
    InsurerAccount,
    Membership,
    Organization,
    OrgGrant,
    OrgGrantAccount,
    ProfileGrant,
    User,
)
from aggregator.models.org import GRANT_ORIGINS, REVOKE_REASONS, SCOPES
from aggregator.models.types import utcnow
from aggregator.services import access, audit, orgs


def grant_to_org(
    org: Organization,
    profile_id: int,
    accounts: Iterable[InsurerAccount],
    *,
    origin: str,
    granted_by: int | None,
    scope: str = "read",
    expires_at: datetime | None = None,
    claim_details: bool | None = None,
    assigned_user_id: int | None = None,
) -> tuple[OrgGrant, bool]:
    """Give ``org`` a live grant on the profile covering ``accounts``; (the grant, it is new or came back).

    An existing live grant is widened by the accounts (its scope, expiry and assignment stay unless
    given); a revoked or expired one comes back covering only these accounts. ``claim_details``
    defaults to False for HR organizations (statuses and counts only) and True for the others.
    """
    if origin not in GRANT_ORIGINS:
        raise ValueError(f"unknown grant origin {origin!r}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    now = utcnow()
    details = (org.kind != "hr") if claim_details is None else claim_details
    grant = db.session.scalar(
        select(OrgGrant)
        .where(OrgGrant.organization_id == org.id, OrgGrant.profile_id == profile_id)
        .options(selectinload(OrgGrant.accounts))
    )
    fresh = False
    if grant is None:
        try:
            with db.session.begin_nested():
                grant = OrgGrant(
                    organization_id=org.id,
                    profile_id=profile_id,
                    scope=scope,
                    origin=origin,
                    claim_details=details,
                    granted_by_user_id=granted_by,
                    assigned_user_id=assigned_user_id,
                    expires_at=expires_at,
                    created_at=now,
                )
                db.session.add(grant)
            fresh = True
        except IntegrityError:  # the same organization, twice at once
            grant = db.session.scalars(
                select(OrgGrant).where(OrgGrant.organization_id == org.id, OrgGrant.profile_id == profile_id)
            ).one()
    if not fresh and not grant.is_live(now):
        grant.revoked_at = grant.revoked_reason = grant.revoked_by_user_id = None
        grant.expiry_reminded_at = None
        grant.origin, grant.scope, grant.claim_details = origin, scope, details
        grant.granted_by_user_id, grant.expires_at, grant.created_at = granted_by, expires_at, now
        grant.assigned_user_id = assigned_user_id
        grant.accounts.clear()
        db.session.flush()
        fresh = True
    elif not fresh:
        if scope == "manage":
            grant.scope = "manage"  # widening only: a later, narrower consent does not take rights away
        if expires_at is not None:
            grant.expires_at = expires_at
            grant.expiry_reminded_at = None  # a new end date earns a new reminder
        if claim_details:
            grant.claim_details = True
        if assigned_user_id is not None and grant.assigned_user_id is None:
            grant.assigned_user_id = assigned_user_id
    covered = {a.account_id for a in grant.accounts}
    for account in accounts:
        if account.id not in covered:
            grant.accounts.append(OrgGrantAccount(account_id=account.id, origin=origin, created_at=now))
            covered.add(account.id)
    db.session.flush()
    audit.record(
        "org.grant",
        actor_id=granted_by,
        target_type="client_profile",
        target_id=profile_id,
        organization=org.id,
        origin=origin,
        scope=grant.scope,
        accounts=sorted(covered),
        new=fresh,
    )
    return grant, fresh


def revoke(grant: OrgGrant, reason: str, by_user_id: int | None) -> bool:
    """End a grant at once, with its reason; False if it had already ended.

    One conditional UPDATE: of a client's "Revocar" and the expiry job at the same moment, one wins
    and the reason it recorded stays.
    """
    if reason not in REVOKE_REASONS:
        raise ValueError(f"unknown revocation reason {reason!r}")
    if grant.revoked_at is not None:
        return False
    now = utcnow()
    db.session.flush()
    done = db.session.execute(
        update(OrgGrant)
        .where(OrgGrant.id == grant.id, OrgGrant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason, revoked_by_user_id=by_user_id)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        db.session.refresh(grant)
        return False
    set_committed_value(grant, "revoked_at", now)
    set_committed_value(grant, "revoked_reason", reason)
    set_committed_value(grant, "revoked_by_user_id", by_user_id)
    audit.record(
        "org.revoke",
        actor_id=by_user_id,
        target_type="client_profile",
        target_id=grant.profile_id,
        organization=grant.organization_id,
        reason=reason,
    )
    return True


# --- who holds a profile, and what they proved ---------------------------------------------------


def holders(profile_id: int) -> list[User]:
    """The active users with a live personal grant on the profile (they hear of every organization's access)."""
    return list(
        db.session.scalars(
            select(User)
            .join(ProfileGrant, ProfileGrant.user_id == User.id)
            .where(ProfileGrant.profile_id == profile_id, ProfileGrant.revoked_at.is_(None), User.status == "active")
            .order_by(User.id)
        )
    )


def own_accounts(user_id: int, profile_id: int) -> list[InsurerAccount]:
    """The insurer accounts of the profile that the user's own live grant covers: all a client can give."""
    return list(
        db.session.scalars(
            select(InsurerAccount)
            .join(GrantAccount, GrantAccount.account_id == InsurerAccount.id)
            .join(ProfileGrant, ProfileGrant.id == GrantAccount.grant_id)
            .where(
                ProfileGrant.user_id == user_id,
                ProfileGrant.profile_id == profile_id,
                ProfileGrant.revoked_at.is_(None),
                InsurerAccount.profile_id == profile_id,
            )
            .order_by(InsurerAccount.id)
        )
    )


def _external(endpoint: str, **values: Any) -> str | None:
    """An absolute link for an email (EXTERNAL_URL, else the trusted request host); None when there is neither.

    A job or a command renders its emails in a request context of its own (``g.offline_mail``): its
    links come from EXTERNAL_URL only, never from that context's placeholder host.
    """
    from flask import g

    from aggregator.services.accounts import external_url

    if g.get("offline_mail") and not current_app.config.get("EXTERNAL_URL"):
        return None
    try:
        return external_url(endpoint, **values)
    except RuntimeError:
        return None


# --- an invitation by the client: the organization by its tax ID or invitation code -------------------

LOOKUP_LIMIT = "20 per hour"  # per user: codes and tax IDs cannot be tried in bulk


@dataclass(frozen=True)
class Lookup:
    """The organization a client named, or None (one answer for every miss); ``wait_minutes`` when throttled."""

    org: Organization | None
    wait_minutes: int = 0


def find_org(user_id: int, raw: str) -> Lookup:
    """Look an organization up for a client who wants to grant it access; every lookup counts (before it runs)."""
    limit = str(current_app.config.get("ORG_LOOKUP_LIMIT") or LOOKUP_LIMIT)
    key = ratelimit.key_for("org-lookup", str(user_id))
    if not ratelimit.reserve(limit, key):
        audit.record("org.lookup", actor_id=user_id, target_type="organization", outcome="refused")
        return Lookup(None, max(1, (ratelimit.reset_after(limit, key) + 59) // 60))
    org = orgs.org_by_tax_id_or_code(raw)
    if org is None:
        audit.record("org.lookup", actor_id=user_id, target_type="organization", outcome="failure")
    return Lookup(org)


@dataclass(frozen=True)
class ClientGrant:
    """What a client's consent did: the grant, and whether the organization gained anything by it."""

    grant: OrgGrant
    gained: bool  # a new or returning grant, or one covering more insurers than before


def _live_covered(org_id: int, profile_id: int, now: datetime) -> set[int]:
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


def grant_by_client(
    user: User,
    profile_id: int,
    org: Organization,
    *,
    scope: str,
    expires_at: datetime | None = None,
    claim_details: bool = False,
    origin: str = "invitation",
    assigned_user_id: int | None = None,
) -> ClientGrant | None:
    """A holder gives ``org`` access to the profile: only the insurer accounts their own grant covers.

    None when their grant covers none (nothing to give). ``claim_details`` counts for HR organizations
    only (the others always see claims). The profile's holders are told whenever the organization gains.
    """
    accounts = own_accounts(user.id, profile_id)
    if not accounts:
        return None
    before = _live_covered(org.id, profile_id, utcnow())
    grant, fresh = grant_to_org(
        org,
        profile_id,
        accounts,
        origin=origin,
        granted_by=user.id,
        scope=scope,
        expires_at=expires_at,
        claim_details=claim_details if org.kind == "hr" else None,
        assigned_user_id=assigned_user_id,
    )
    gained = fresh or bool({a.id for a in accounts} - before)
    if gained:
        notify_access_granted(grant)
    return ClientGrant(grant, gained)


def notify_access_granted(grant: OrgGrant) -> None:
    """Email the profile's holders that an organization can now see it (who, how, scope, until when; masked IDs).

    Called on every new or returning grant (and on one that now covers more insurers), by whoever granted.
    """
    from aggregator.orgs import labels

    org = grant.organization
    profile = grant.profile
    url = _external("profiles.access_page", profile_id=profile.id)
    names = db.session.scalars(
        select(InsurerAccount)
        .options(joinedload(InsurerAccount.insurer))
        .join(OrgGrantAccount, OrgGrantAccount.account_id == InsurerAccount.id)
        .where(OrgGrantAccount.grant_id == grant.id)
    ).all()
    for holder in holders(profile.id):
        # Each holder hears of the insurers they proved, and only if the grant reaches one (DESIGN §7).
        mine = {a.id for a in own_accounts(holder.id, profile.id)}
        insurers = sorted({a.insurer.name for a in names if a.id in mine})
        if not insurers:
            continue
        mail.send(
            holder.email,
            "org_access_granted",
            holder.locale,
            org_name=org.name,
            org_kind=labels.ORG_KIND_LABELS.get(org.kind, org.kind),
            org_tax_id=org.masked_tax_id,
            scope=labels.SCOPE_LABELS.get(grant.scope, grant.scope),
            scope_hint=labels.SCOPE_HINTS.get(grant.scope, ""),
            origin=labels.ORIGIN_LABELS.get(grant.origin, grant.origin),
            hr_claims=org.kind == "hr" and not grant.claim_details,
            expires_at=grant.expires_at,
            profile_name=profile.name,
            masked_id=profile.masked_id,
            insurers=insurers,
            when=grant.created_at,
            access_url=url,
        )


# --- access requests: an organization asks a client, by email ------------------------------------------

REQUEST_DAYS = 14
REQUEST_DAILY_LIMIT = "50 per day"  # per organization
MESSAGE_MAX = 500
_REQUEST_SALT = "org-access-request"
_VIEW_SALT = "org-access-request-view"


def request_status(req: AccessRequest, now: datetime | None = None) -> str:
    """pending | approved | declined | withdrawn | expired."""
    if req.decision:
        return req.decision
    return "expired" if req.expires_at <= (now or utcnow()) else "pending"


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _emailed(nonce: str | None = None, token: str | None = None) -> Any:
    serializer = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_REQUEST_SALT)
    return serializer.dumps(nonce) if token is None else serializer.loads(token)


def _viewer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_VIEW_SALT)


def ask_for_access(ws: Any, email: str, scope: str, message: str | None) -> str | None:
    """The organization of ``ws`` asks ``email`` (normalised) for access; None when sent, else why not.

    ``duplicate``: a request to that email is still pending; ``limit``: the organization sent its
    requests of the day. The email goes whether or not the address has an account, and the answer
    is the same either way: the organization learns nothing about who is registered.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    now = utcnow()
    # Hold the organization's row (on SQLite, the write lock) until the commit: two requests to the
    # same email at once are serialised here, so "one pending per email" holds without a unique index.
    db.session.execute(
        update(Organization)
        .where(Organization.id == ws.org_id)
        .values(slug=Organization.slug)
        .execution_options(synchronize_session=False)
    )
    pending = db.session.scalar(
        select(AccessRequest.id)
        .where(
            AccessRequest.organization_id == ws.org_id,
            AccessRequest.email == email,
            AccessRequest.decided_at.is_(None),
            AccessRequest.expires_at > now,
        )
        .limit(1)
    )
    if pending is not None:
        return "duplicate"
    limit = str(current_app.config.get("ORG_REQUEST_DAILY_LIMIT") or REQUEST_DAILY_LIMIT)
    if not ratelimit.reserve(limit, ratelimit.key_for("org-request", str(ws.org_id))):
        audit.record(
            "org.request", actor_id=ws.user_id, target_type="organization", target_id=ws.org_id, outcome="refused"
        )
        return "limit"
    org = db.session.get(Organization, ws.org_id)
    assert org is not None
    nonce = secrets.token_urlsafe(32)
    req = AccessRequest(
        organization_id=org.id,
        email=email,
        scope=scope,
        message=(message or "").strip()[:MESSAGE_MAX] or None,
        token_digest=_digest(nonce),
        requested_by_user_id=ws.user_id,
        created_at=now,
        expires_at=now + timedelta(days=REQUEST_DAYS),
    )
    db.session.add(req)
    db.session.flush()
    _send_request(req, org, nonce)
    audit.record(
        "org.request", actor_id=ws.user_id, target_type="organization", target_id=org.id, request=req.id, scope=scope
    )
    return None


def _send_request(req: AccessRequest, org: Organization, nonce: str) -> None:
    from aggregator.orgs import labels

    known = db.session.scalar(select(User.locale).where(User.email == req.email, User.status == "active"))
    requester = db.session.get(User, req.requested_by_user_id) if req.requested_by_user_id else None
    mail.send(
        req.email,
        "org_access_request",
        known or str(current_app.config.get("BABEL_DEFAULT_LOCALE") or "es"),
        org_name=org.name,
        org_kind=labels.ORG_KIND_LABELS.get(org.kind, org.kind),
        org_tax_id=org.masked_tax_id,
        requester=(requester.full_name or requester.email) if requester else None,
        scope=labels.SCOPE_LABELS.get(req.scope, req.scope),
        scope_hint=labels.SCOPE_HINTS.get(req.scope, ""),
        message=req.message,
        answer_url=_external("orgs.request_answer", token=_emailed(nonce)),
        register_url=_external("auth.register"),
        expires_at=req.expires_at,
    )


def request_from_token(token: str, user: User) -> AccessRequest | None:
    """The request behind an emailed link, or behind a link of the profiles page (bound to ``user``); else None."""
    found: AccessRequest | None = None
    try:
        nonce = _emailed(token=token)
    except BadSignature:
        nonce = None
    if isinstance(nonce, str):
        found = db.session.scalar(
            select(AccessRequest)
            .options(joinedload(AccessRequest.organization))
            .where(AccessRequest.token_digest == _digest(nonce))
        )
        return found
    try:
        data = _viewer().loads(token, max_age=REQUEST_DAYS * 86400)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or data.get("u") != user.id or not isinstance(data.get("r"), int):
        return None
    return db.session.scalar(
        select(AccessRequest).options(joinedload(AccessRequest.organization)).where(AccessRequest.id == data["r"])
    )


def view_token(req: AccessRequest, user: User) -> str:
    """A link to answer ``req`` from inside the portal (the emailed token is never stored): valid for ``user`` only."""
    return str(_viewer().dumps({"r": req.id, "u": user.id}))


def pending_requests_for(user: User) -> list[AccessRequest]:
    """The live requests addressed to the user's verified email, newest first."""
    if not user.is_verified:
        return []
    return list(
        db.session.scalars(
            select(AccessRequest)
            .options(joinedload(AccessRequest.organization))
            .where(
                AccessRequest.email == user.email,
                AccessRequest.decided_at.is_(None),
                AccessRequest.expires_at > utcnow(),
            )
            .order_by(AccessRequest.id.desc())
            .limit(20)
        )
    )


def requests_of(ws: Any, *, before: int | None = None, limit: int = 30) -> list[AccessRequest]:
    """The organization's requests the member of ``ws`` may see (``access.org_requests``), newest first
    (keyset: ids below ``before``)."""
    stmt = select(AccessRequest).where(AccessRequest.id.in_(access.org_requests()))
    if before is not None:
        stmt = stmt.where(AccessRequest.id < before)
    return list(db.session.scalars(stmt.order_by(AccessRequest.id.desc()).limit(limit), ws.params()))


def _decide(req: AccessRequest, decision: str, user_id: int, profile_id: int | None = None) -> bool:
    """Record the decision if the request is still pending (one conditional UPDATE: a link is used once)."""
    now = utcnow()
    done = db.session.execute(
        update(AccessRequest)
        .where(AccessRequest.id == req.id, AccessRequest.decided_at.is_(None), AccessRequest.expires_at > now)
        .values(decided_at=now, decision=decision, decided_by_user_id=user_id, profile_id=profile_id)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        db.session.refresh(req)
        return False
    for name, value in (
        ("decided_at", now),
        ("decision", decision),
        ("decided_by_user_id", user_id),
        ("profile_id", profile_id),
    ):
        set_committed_value(req, name, value)
    return True


def answer_request(
    req: AccessRequest, user: User, *, approve: bool, profile_id: int | None = None, claim_details: bool = False
) -> str:
    """The client answers: ``approved`` | ``declined`` | ``gone`` (answered, withdrawn or expired) | ``nothing``.

    Approving gives the organization the chosen profile with what the client's own grant covers
    (``nothing``: it covers no insurer, and nothing is recorded). The member who asked hears either way.
    """
    org = req.organization
    if approve and (profile_id is None or not own_accounts(user.id, profile_id)):
        return "nothing"
    if not _decide(req, "approved" if approve else "declined", user.id, profile_id if approve else None):
        return "gone"
    profile_name = None
    if approve and profile_id is not None:
        asker = req.requested_by_user_id
        still_member = asker is not None and db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.organization_id == org.id, Membership.user_id == asker)
        )
        grant_by_client(
            user,
            profile_id,
            org,
            scope=req.scope,
            claim_details=claim_details,
            origin="request",
            assigned_user_id=asker if still_member else None,
        )
        profile = db.session.get(ClientProfile, profile_id)
        profile_name = profile.name if profile else None
    audit.record(
        "org.request_answer",
        actor_id=user.id,
        target_type="organization",
        target_id=org.id,
        request=req.id,
        decision=req.decision,
        profile=profile_id if approve else None,
    )
    _tell_requester(req, org, profile_name)
    return str(req.decision)


def _tell_requester(req: AccessRequest, org: Organization, profile_name: str | None) -> None:
    asker = db.session.get(User, req.requested_by_user_id) if req.requested_by_user_id else None
    if asker is None or asker.status != "active":
        return
    mail.send(
        asker.email,
        "org_access_decided",
        asker.locale,
        org_name=org.name,
        client_email=req.email,
        approved=req.decision == "approved",
        profile_name=profile_name,
        requests_url=_external("workspace.requests", slug=org.slug),
    )


def withdraw_request(req: AccessRequest, user_id: int) -> bool:
    """The organization takes a pending request back; False if it was no longer pending."""
    if not _decide(req, "withdrawn", user_id):
        return False
    audit.record(
        "org.request_withdraw",
        actor_id=user_id,
        target_type="organization",
        target_id=req.organization_id,
        request=req.id,
    )
    return True


# --- expiry: a reminder 7 days before, and the record of grants that ended ----------------------------

REMIND_BEFORE = timedelta(days=7)


@dataclass
class ExpiryRun:
    """What one run of ``expire_grants`` did."""

    reminded: int = 0
    expired: int = 0


def expire_grants(now: datetime | None = None) -> ExpiryRun:
    """Remind holders of grants ending within 7 days (once per end date); record grants past their end.

    Idempotent, and safe to run in several processes at once: each reminder and each expiry is claimed
    by one conditional UPDATE. Access itself already stopped at ``expires_at`` (``access.org_grants_live``).
    """
    from aggregator.orgs import labels

    now = now or utcnow()
    run = ExpiryRun()
    claimed = (
        db.session.execute(
            update(OrgGrant)
            .where(
                OrgGrant.revoked_at.is_(None),
                OrgGrant.expires_at > now,
                OrgGrant.expires_at <= now + REMIND_BEFORE,
                OrgGrant.expiry_reminded_at.is_(None),
            )
            .values(expiry_reminded_at=now)
            .returning(OrgGrant.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    if claimed:
        grants = db.session.scalars(
            select(OrgGrant)
            .options(joinedload(OrgGrant.organization), joinedload(OrgGrant.profile))
            .where(OrgGrant.id.in_(claimed))
            .order_by(OrgGrant.id)
        ).all()
        for grant in grants:
            org, profile = grant.organization, grant.profile
            url = _external("profiles.access_page", profile_id=profile.id)
            for holder in holders(profile.id):
                mail.send(
                    holder.email,
                    "org_grant_expiring",
                    holder.locale,
                    org_name=org.name,
                    org_kind=labels.ORG_KIND_LABELS.get(org.kind, org.kind),
                    org_tax_id=org.masked_tax_id,
                    profile_name=profile.name,
                    masked_id=profile.masked_id,
                    expires_at=grant.expires_at,
                    access_url=url,
                )
            run.reminded += 1
    ended = db.session.scalars(
        select(OrgGrant).where(OrgGrant.revoked_at.is_(None), OrgGrant.expires_at <= now).order_by(OrgGrant.id)
    ).all()
    for grant in ended:
        if revoke(grant, "expired", None):
            run.expired += 1
    return run
