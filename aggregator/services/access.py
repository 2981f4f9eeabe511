"""Who may see or do what. Deny by default; the only module that decides access (DESIGN §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import abort, request
from flask_login import current_user
from sqlalchemy import BindParameter, Select, bindparam, or_, select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import Forbidden

from aggregator.extensions import db
from aggregator.models.types import utcnow

if TYPE_CHECKING:
    from aggregator.models import (
        AccessRequest,
        Claim,
        ClientProfile,
        Document,
        InsurerAccount,
        Membership,
        OrgGrant,
        OrgInvitation,
        Policy,
    )

# Before the email is verified only these parts of the portal are open (seed 003).
OPEN_TO_UNVERIFIED_BLUEPRINTS = frozenset({"auth", "oauth", "account", "pages"})
OPEN_TO_UNVERIFIED_ENDPOINTS = frozenset({"static", "portal.dashboard"})


class VerificationRequired(Forbidden):
    """403: the signed-in user must verify their email first (the app renders the "verify first" page)."""

    description = "Confirm your email address to use this part of the portal."


def guard_unverified() -> None:
    """Before-request hook: a signed-in, unverified user only reaches account and help pages."""
    if not current_user.is_authenticated or current_user.is_verified:
        return
    endpoint = request.endpoint or ""
    blueprint = endpoint.split(".", 1)[0] if "." in endpoint else ""
    if blueprint in OPEN_TO_UNVERIFIED_BLUEPRINTS or endpoint in OPEN_TO_UNVERIFIED_ENDPOINTS:
        return
    if request.endpoint is None:  # 404s stay 404s
        return
    raise VerificationRequired()


# --- insurance data: every query is scoped by the profiles the user holds a live grant on ---------
#
# The lookups below are built once (with bound parameters) and reused: building a statement costs
# more than running it on the pages that make several of them.

USER: BindParameter[int] = bindparam("user_id")
OBJECT: BindParameter[int] = bindparam("object_id")
PARENT: BindParameter[int] = bindparam("parent_id")


def visible_profiles(user_id: int | BindParameter[Any]) -> Select[Any]:
    """The ids of the client profiles ``user_id`` may see (a subquery for ``.in_()``)."""
    from aggregator.models import ProfileGrant

    return select(ProfileGrant.profile_id).where(ProfileGrant.user_id == user_id, ProfileGrant.revoked_at.is_(None))


def visible_accounts(user_id: int | BindParameter[Any]) -> Select[Any]:
    """The ids of the insurer accounts ``user_id``'s live grants cover (``USER`` for a statement built once).

    A grant covers the accounts that were proved (DESIGN §7): seeing a person's GNP policies does
    not reveal that the same person is a client of another insurer.
    """
    from aggregator.models import GrantAccount, ProfileGrant

    return (
        select(GrantAccount.account_id)
        .join(ProfileGrant, ProfileGrant.id == GrantAccount.grant_id)
        .where(ProfileGrant.user_id == user_id, ProfileGrant.revoked_at.is_(None))
    )


def _one_or_404(stmt: Select[Any], user_id: int, object_id: int, parent_id: int | None = None) -> Any:
    """The object the statement finds, or 404: the same answer whether it exists or is someone else's."""
    found = db.session.scalar(stmt, {"user_id": user_id, "object_id": object_id, "parent_id": parent_id})
    if found is None:
        abort(404)
    return found


@cache
def _lookups() -> dict[str, Select[Any]]:
    from aggregator.models import Claim, ClientProfile, Document, InsurerAccount, Policy

    accounts = visible_accounts(USER)
    policies = select(Policy.id).where(Policy.account_id.in_(accounts))
    claims = select(Claim.id).where(Claim.account_id.in_(accounts))
    return {
        "profile": select(ClientProfile).where(
            ClientProfile.id == OBJECT, ClientProfile.id.in_(visible_profiles(USER))
        ),
        "policy": select(Policy)
        .options(joinedload(Policy.insurer), joinedload(Policy.account))
        .where(Policy.id == OBJECT, Policy.account_id.in_(accounts)),
        "claim": select(Claim)
        .options(joinedload(Claim.policy), joinedload(Claim.insurer))
        .where(Claim.id == OBJECT, Claim.account_id.in_(accounts)),
        "document": select(Document).where(
            Document.id == OBJECT, or_(Document.policy_id.in_(policies), Document.claim_id.in_(claims))
        ),
        "policy_document": select(Document).where(
            Document.id == OBJECT, Document.policy_id == PARENT, Document.policy_id.in_(policies)
        ),
        "claim_document": select(Document).where(
            Document.id == OBJECT, Document.claim_id == PARENT, Document.claim_id.in_(claims)
        ),
        "account": select(InsurerAccount).where(InsurerAccount.id == OBJECT, InsurerAccount.id.in_(accounts)),
    }


def profile_or_404(user_id: int, profile_id: int) -> ClientProfile:
    """A profile the user may see; anything else is 404, whether it exists or not."""
    return _one_or_404(_lookups()["profile"], user_id, profile_id)  # type: ignore[no-any-return]


def policy_or_404(user_id: int, policy_id: int) -> Policy:
    """A policy of one of the user's profiles, with its insurer and account loaded; else 404."""
    return _one_or_404(_lookups()["policy"], user_id, policy_id)  # type: ignore[no-any-return]


def claim_or_404(user_id: int, claim_id: int) -> Claim:
    """A claim of one of the user's profiles, with its policy and insurer loaded; else 404."""
    return _one_or_404(_lookups()["claim"], user_id, claim_id)  # type: ignore[no-any-return]


def policy_document_or_404(user_id: int, policy_id: int, document_id: int) -> Document:
    """A document of this policy, which the user may see; any other combination is 404."""
    return _one_or_404(_lookups()["policy_document"], user_id, document_id, policy_id)  # type: ignore[no-any-return]


def claim_document_or_404(user_id: int, claim_id: int, document_id: int) -> Document:
    """A document of this claim, which the user may see; any other combination is 404."""
    return _one_or_404(_lookups()["claim_document"], user_id, document_id, claim_id)  # type: ignore[no-any-return]


def account_or_404(user_id: int, account_id: int) -> InsurerAccount:
    """An insurer account of one of the user's profiles; else 404."""
    return _one_or_404(_lookups()["account"], user_id, account_id)  # type: ignore[no-any-return]


# --- organizations (DESIGN §11): workspaces, members' roles, clients' grants to organizations ------------
#
# A member acts in an organization's workspace (/o/<slug>/). The organization reaches a profile only
# through a live OrgGrant (not revoked, not expired) and only the insurer accounts that grant covers; a
# member reaches what the organization reaches, narrowed by role and assignment. Anything else is 404,
# for a member of another organization, a removed member, after revocation and after expiry alike.

ADMIN_ROLES = frozenset({"owner", "admin"})
ACTING_ROLES = frozenset({"owner", "admin", "agent"})  # may link clients, ask for access; viewers only read


@dataclass(frozen=True)
class Workspace:
    """A signed-in member acting in one organization, with what their role allows."""

    org_id: int
    slug: str
    name: str
    kind: str  # broker | hr | accounting
    country: str
    role: str  # owner | admin | agent | viewer
    user_id: int
    agents_see_all: bool

    @property
    def is_admin(self) -> bool:
        """Owner or admin: members, settings, every client, the organization's access log."""
        return self.role in ADMIN_ROLES

    @property
    def can_act(self) -> bool:
        """Owner, admin or agent: may link clients and ask clients for access (viewers read only)."""
        return self.role in ACTING_ROLES

    @property
    def sees_all_clients(self) -> bool:
        """Agents see the clients assigned to them unless the organization lets agents see all."""
        return self.role != "agent" or self.agents_see_all

    def params(self, now: datetime | None = None) -> dict[str, Any]:
        """The bound values of ``org_grants_live`` / ``org_accounts`` for this member, now."""
        return {
            "org_id": self.org_id,
            "member_id": self.user_id,
            "all_clients": self.sees_all_clients,
            "now": now or utcnow(),
        }


ORG: BindParameter[int] = bindparam("org_id")
MEMBER: BindParameter[int] = bindparam("member_id")
ALL_CLIENTS: BindParameter[bool] = bindparam("all_clients")
NOW: BindParameter[datetime] = bindparam("now")


def workspaces_of(user: Any) -> list[Workspace]:
    """Every organization the user belongs to, from the memberships loaded with the session (no statement)."""
    return [_workspace(m, user.id) for m in getattr(user, "memberships", ())]


def _workspace(membership: Any, user_id: int) -> Workspace:
    org = membership.organization
    return Workspace(org.id, org.slug, org.name, org.kind, org.country, membership.role, user_id, org.agents_see_all)


def workspace_or_404(user: Any, slug: str) -> Workspace:
    """The organization ``slug`` as ``user`` may act in it; 404 if they are not a member (or it does not exist)."""
    for membership in getattr(user, "memberships", ()):
        if membership.organization.slug == slug:
            return _workspace(membership, user.id)
    abort(404)


def require_admin(ws: Workspace) -> None:
    """403 unless the member is an owner or admin (they can see the organization, not do this)."""
    if not ws.is_admin:
        abort(403)


def require_acting(ws: Workspace) -> None:
    """403 for viewers: they read, they do not act."""
    if not ws.can_act:
        abort(403)


def org_grants_live() -> Select[Any]:
    """The ids of the live grants a member reaches (``ORG``, ``MEMBER``, ``ALL_CLIENTS``, ``NOW`` bound)."""
    from aggregator.models import OrgGrant

    return select(OrgGrant.id).where(
        OrgGrant.organization_id == ORG,
        OrgGrant.revoked_at.is_(None),
        or_(OrgGrant.expires_at.is_(None), OrgGrant.expires_at > NOW),
        or_(ALL_CLIENTS, OrgGrant.assigned_user_id == MEMBER),
    )


def org_profiles() -> Select[Any]:
    """The ids of the client profiles a member reaches through the organization's live grants."""
    from aggregator.models import OrgGrant

    return select(OrgGrant.profile_id).where(OrgGrant.id.in_(org_grants_live()))


def org_accounts() -> Select[Any]:
    """The ids of the insurer accounts a member reaches: those the live grants cover, nothing else."""
    from aggregator.models import OrgGrantAccount

    return select(OrgGrantAccount.account_id).where(OrgGrantAccount.grant_id.in_(org_grants_live()))


def _org_one_or_404(stmt: Select[Any], ws: Workspace, **ids: int) -> Any:
    found = db.session.scalar(stmt, {**ws.params(), **ids})
    if found is None:
        abort(404)
    return found


@cache
def _org_lookups() -> dict[str, Select[Any]]:
    from aggregator.models import Claim, Document, OrgGrant, OrgGrantAccount, Policy

    accounts = org_accounts()
    policies = select(Policy.id).where(Policy.account_id.in_(accounts))
    claims = select(Claim.id).where(Claim.account_id.in_(accounts))
    return {
        "grant": select(OrgGrant)
        .options(joinedload(OrgGrant.profile))
        .where(OrgGrant.profile_id == OBJECT, OrgGrant.id.in_(org_grants_live())),
        "policy": select(Policy)
        .options(joinedload(Policy.insurer), joinedload(Policy.account))
        .where(Policy.id == OBJECT, Policy.account_id.in_(accounts)),
        "claim": select(Claim)
        .options(joinedload(Claim.policy), joinedload(Claim.insurer))
        .where(Claim.id == OBJECT, Claim.account_id.in_(accounts)),
        "policy_document": select(Document).where(
            Document.id == OBJECT, Document.policy_id == PARENT, Document.policy_id.in_(policies)
        ),
        "claim_document": select(Document).where(
            Document.id == OBJECT, Document.claim_id == PARENT, Document.claim_id.in_(claims)
        ),
        # The grant that covers the account (not merely a grant on its profile: DESIGN §7).
        "account_grant": select(OrgGrant)
        .join(OrgGrantAccount, OrgGrantAccount.grant_id == OrgGrant.id)
        .where(OrgGrantAccount.account_id == OBJECT, OrgGrant.id.in_(org_grants_live())),
        "claim_grant": select(OrgGrant)
        .join(OrgGrantAccount, OrgGrantAccount.grant_id == OrgGrant.id)
        .join(Claim, Claim.account_id == OrgGrantAccount.account_id)
        .where(Claim.id == OBJECT, OrgGrant.id.in_(org_grants_live())),
    }


def org_grant_or_404(ws: Workspace, profile_id: int) -> OrgGrant:
    """The live grant through which this member reaches the profile (with the profile loaded); else 404."""
    return _org_one_or_404(_org_lookups()["grant"], ws, object_id=profile_id)  # type: ignore[no-any-return]


def org_policy_or_404(ws: Workspace, policy_id: int) -> Policy:
    """A policy of an insurer account a live grant of the organization covers, for this member; else 404."""
    return _org_one_or_404(_org_lookups()["policy"], ws, object_id=policy_id)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class OrgClaim:
    """A claim as a member may see it: HR sees statuses and counts of claims, not their content (DESIGN §11),
    unless the insured person allowed the details on their grant."""

    claim: Claim
    grant: OrgGrant
    details: bool


def org_claim_or_404(ws: Workspace, claim_id: int) -> OrgClaim:
    """A claim the member reaches, with whether its details (description, amounts, documents) may be shown."""
    claim = _org_one_or_404(_org_lookups()["claim"], ws, object_id=claim_id)
    grant = _org_one_or_404(_org_lookups()["claim_grant"], ws, object_id=claim_id)
    return OrgClaim(claim, grant, claim_details_allowed(ws, grant))


def claim_details_allowed(ws: Workspace, grant: OrgGrant) -> bool:
    """HR organizations see claim details only where the grant allows them; other kinds always do."""
    return ws.kind != "hr" or bool(grant.claim_details)


def org_policy_document_or_404(ws: Workspace, policy_id: int, document_id: int) -> Document:
    """A document of this policy that the member reaches; any other combination is 404.

    A document that also belongs to a claim is that claim's document: it needs what the claim's documents
    need (HR: the insured person's consent to the details), whichever URL asks for it.
    """
    stmt = _org_lookups()["policy_document"]
    document: Document = _org_one_or_404(stmt, ws, object_id=document_id, parent_id=policy_id)
    if document.claim_id is not None and not org_claim_or_404(ws, document.claim_id).details:
        abort(404)
    return document


def org_claim_document_or_404(ws: Workspace, claim_id: int, document_id: int) -> Document:
    """A document of this claim that the member reaches and may see in detail (HR: only if allowed); else 404."""
    if not org_claim_or_404(ws, claim_id).details:
        abort(404)
    stmt = _org_lookups()["claim_document"]
    return _org_one_or_404(stmt, ws, object_id=document_id, parent_id=claim_id)  # type: ignore[no-any-return]


def org_account_grant_or_404(ws: Workspace, account_id: int) -> OrgGrant:
    """The live grant that reaches the insurer account's profile, for this member; else 404."""
    return _org_one_or_404(_org_lookups()["account_grant"], ws, object_id=account_id)  # type: ignore[no-any-return]


def org_account_ids(ws: Workspace, profile_id: int | None = None) -> list[int]:
    """The insurer accounts the member reaches (of one profile, if given): named in a portfolio ``Scope``."""
    from aggregator.models import InsurerAccount

    stmt = select(InsurerAccount.id).where(InsurerAccount.id.in_(org_accounts()))
    if profile_id is not None:
        stmt = stmt.where(InsurerAccount.profile_id == profile_id)
    return list(db.session.scalars(stmt.order_by(InsurerAccount.id), ws.params()))


def org_membership_or_404(ws: Workspace, membership_id: int) -> Membership:
    """A membership of this member's organization (for member management); any other id is 404."""
    from aggregator.models import Membership

    found = db.session.scalar(
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.id == membership_id, Membership.organization_id == ws.org_id)
    )
    if found is None:
        abort(404)
    return found


def org_invitation_or_404(ws: Workspace, invitation_id: int) -> OrgInvitation:
    """An invitation to join this member's organization; any other id is 404."""
    from aggregator.models import OrgInvitation

    found = db.session.scalar(
        select(OrgInvitation).where(OrgInvitation.id == invitation_id, OrgInvitation.organization_id == ws.org_id)
    )
    if found is None:
        abort(404)
    return found


# --- the client's side of organizations' access (the "Acceso" page, access requests) ----------------


def profile_org_grant_or_404(user_id: int, profile_id: int, grant_id: int) -> OrgGrant:
    """An organization's grant (live or ended) on a profile the user holds, reaching an insurer account the user's
    grant covers; any other combination is 404."""
    from aggregator.models import OrgGrant, OrgGrantAccount

    # The holder sees (and may revoke) an organization's grant only where it reaches an insurer account the
    # holder's own grant covers: another holder's insurers stay unrevealed (DESIGN §7).
    shared = select(OrgGrantAccount.grant_id).where(
        OrgGrantAccount.grant_id == OBJECT, OrgGrantAccount.account_id.in_(visible_accounts(USER))
    )
    stmt = (
        select(OrgGrant)
        .options(joinedload(OrgGrant.organization))
        .where(
            OrgGrant.id == OBJECT,
            OrgGrant.profile_id == PARENT,
            OrgGrant.profile_id.in_(visible_profiles(USER)),
            OrgGrant.id.in_(shared),
        )
    )
    return _one_or_404(stmt, user_id, grant_id, profile_id)  # type: ignore[no-any-return]


def org_requests() -> Select[Any]:
    """The ids of the organization's access requests a member may see (``ORG``, ``MEMBER``, ``ALL_CLIENTS``
    bound): every one, except for an agent who sees only their assigned clients — the requests they sent
    (a colleague's request names a client that would not be theirs)."""
    from aggregator.models import AccessRequest

    return select(AccessRequest.id).where(
        AccessRequest.organization_id == ORG, or_(ALL_CLIENTS, AccessRequest.requested_by_user_id == MEMBER)
    )


def org_request_or_404(ws: Workspace, request_id: int) -> AccessRequest:
    """One of this organization's access requests that the member may see (``org_requests``); else 404.
    Whether they may act on it is the view's ``require_acting``."""
    from aggregator.models import AccessRequest

    stmt = select(AccessRequest).where(AccessRequest.id == OBJECT, AccessRequest.id.in_(org_requests()))
    return _org_one_or_404(stmt, ws, object_id=request_id)  # type: ignore[no-any-return]


def may_answer_request(user: Any, req: AccessRequest) -> bool:
    """Only the addressee answers an access request: signed in with that very email, verified."""
    return bool(user.is_authenticated and user.is_verified and user.email == req.email)
