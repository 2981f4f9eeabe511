"""Who may see or do what. Deny by default; the only module that decides access (DESIGN §2)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from flask import abort, request
from flask_login import current_user
from sqlalchemy import BindParameter, Select, bindparam, or_, select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import Forbidden

from aggregator.extensions import db

if TYPE_CHECKING:
    from aggregator.models import Claim, ClientProfile, Document, InsurerAccount, Policy

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
