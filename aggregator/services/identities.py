"""Social and OpenID Connect identities: keyed on (issuer, subject), never matched by email (DESIGN §7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from flask import current_app
from sqlalchemy import func, select

from aggregator import mail
from aggregator.extensions import db
from aggregator.models import Consent, SocialIdentity, User
from aggregator.models.types import utcnow
from aggregator.services import accounts, audit

EMAIL_MAX = 320
NAME_MAX = 200


@dataclass(frozen=True)
class ExternalIdentity:
    """What a provider asserted about the person, after its tokens were checked."""

    provider: str  # the configured name (google, facebook, company, ...)
    issuer: str
    subject: str
    email: str | None  # normalised, or None when absent or unusable
    email_verified: bool  # True only when a provider trusted for it asserted it (it then proves the mailbox)
    name: str | None


def find(issuer: str, subject: str) -> SocialIdentity | None:
    """The identity stored for (issuer, subject), whoever owns it."""
    return db.session.scalar(
        select(SocialIdentity).where(SocialIdentity.issuer == issuer, SocialIdentity.subject == subject)
    )


def for_user(user_id: int) -> list[SocialIdentity]:
    """The user's connected identities, oldest first."""
    return list(
        db.session.scalars(select(SocialIdentity).where(SocialIdentity.user_id == user_id).order_by(SocialIdentity.id))
    )


def get_for_user(user_id: int, identity_id: int) -> SocialIdentity | None:
    """One identity of this user; None for an unknown id or somebody else's (the caller answers 404)."""
    return db.session.scalar(
        select(SocialIdentity).where(SocialIdentity.id == identity_id, SocialIdentity.user_id == user_id)
    )


def email_in_use(email: str) -> bool:
    """True when any account holds this (normalised) email."""
    return accounts.email_taken(email)


def record_sign_in(identity: SocialIdentity, seen: ExternalIdentity) -> None:
    """Remember when the identity was last used and the email the provider shows for it now."""
    identity.last_used_at = utcnow()
    if seen.email:
        identity.email = seen.email[:EMAIL_MAX]


def create_account(seen: ExternalIdentity, locale: str) -> SocialIdentity:
    """A new account (returned through its identity) for a first social sign-in, terms accepted.

    The email counts as verified only when a provider trusted for it asserted it; otherwise the
    usual verification link is sent, the account stays unverified (no insurer data, no automatic
    linking) until it is opened, and the identity is not proved by the mailbox until then.
    """
    if not seen.email:
        raise ValueError("an account needs an email address")
    now = utcnow()
    user = User(
        email=seen.email,
        password_hash=None,
        locale=locale,
        full_name=(seen.name or "").strip()[:NAME_MAX] or None,
        verified_at=now if seen.email_verified else None,
    )
    db.session.add(user)
    db.session.flush()
    cfg = current_app.config
    identity = _identity_row(user.id, seen, last_used_at=now, proved=seen.email_verified)
    db.session.add_all(
        [
            Consent(user_id=user.id, document="terms", version=cfg["TERMS_VERSION"], accepted_at=now),
            Consent(user_id=user.id, document="privacy", version=cfg["PRIVACY_VERSION"], accepted_at=now),
            identity,
        ]
    )
    db.session.flush()
    if not seen.email_verified:
        accounts.send_verification(user)
    else:
        from aggregator.services import linking

        linking.queue_auto_link(user)  # a provider-verified email links its profiles at once (seed 003)
    audit.record(
        "register",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        method=f"oidc:{seen.provider}",
        email_verified_by_provider=seen.email_verified,
    )
    return identity


def notify_existing_account(seen: ExternalIdentity, label: str) -> None:
    """Tell the owner of an account that someone tried to create another one with its email through a provider."""
    user = db.session.scalar(select(User).where(User.email == seen.email, User.status == "active"))
    audit.record(
        "register.existing_email",
        actor_id=None,
        target_type="user",
        target_id=user.id if user else None,
        method=f"oidc:{seen.provider}",
    )
    if user is None:
        return
    mail.send(
        user.email,
        "already_registered",
        user.locale,
        login_url=accounts.external_url("auth.login"),
        reset_url=accounts.external_url("auth.forgot"),
        provider=label,
    )


class LinkOutcome(Enum):
    """What happened when a signed-in user connected an identity."""

    LINKED = "linked"
    ALREADY_YOURS = "already_yours"
    OTHER_USER = "other_user"
    PROVIDER_TAKEN = "provider_taken"  # the user already has another identity of this provider


def link(user: User, seen: ExternalIdentity, label: str) -> LinkOutcome:
    """Attach the identity to ``user`` (never to anyone else); notify by email and audit."""
    existing = find(seen.issuer, seen.subject)
    if existing is not None:
        if existing.user_id == user.id:
            record_sign_in(existing, seen)
            return LinkOutcome.ALREADY_YOURS
        audit.record(
            "provider.link_refused",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            outcome="refused",
            provider=seen.provider,
            reason="identity_of_another_user",
        )
        return LinkOutcome.OTHER_USER
    same_provider = db.session.scalar(
        select(func.count(SocialIdentity.id)).where(
            SocialIdentity.user_id == user.id, SocialIdentity.provider == seen.provider
        )
    )
    if same_provider:
        return LinkOutcome.PROVIDER_TAKEN
    # The verified owner, signed in (and re-authenticated), vouches for it; before the mailbox is
    # proved it is only as good as whoever set the account up.
    identity = _identity_row(user.id, seen, last_used_at=None, proved=user.is_verified)
    db.session.add(identity)
    db.session.flush()
    db.session.expire(user, ["identities"])
    audit.record("provider.linked", actor_id=user.id, target_type="user", target_id=user.id, provider=seen.provider)
    mail.send(user.email, "provider_linked", user.locale, provider=label)
    return LinkOutcome.LINKED


def is_last_sign_in_method(user: User, identity: SocialIdentity) -> bool:
    """True when removing ``identity`` would leave the user no way to sign in."""
    if user.has_password:
        return False
    others = db.session.scalar(
        select(func.count(SocialIdentity.id)).where(SocialIdentity.user_id == user.id, SocialIdentity.id != identity.id)
    )
    return not others


def unlink(user: User, identity: SocialIdentity, label: str) -> bool:
    """Remove one of the user's identities; False (and nothing changes) when it is their last way in."""
    if identity.user_id != user.id:
        raise ValueError("not this user's identity")
    if is_last_sign_in_method(user, identity):
        audit.record(
            "provider.unlink_refused",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            outcome="refused",
            provider=identity.provider,
            reason="last_sign_in_method",
        )
        return False
    provider = identity.provider
    db.session.delete(identity)
    db.session.flush()
    db.session.expire(user, ["identities"])
    audit.record("provider.unlinked", actor_id=user.id, target_type="user", target_id=user.id, provider=provider)
    mail.send(user.email, "provider_unlinked", user.locale, provider=label)
    return True


def _identity_row(
    user_id: int, seen: ExternalIdentity, *, last_used_at: datetime | None, proved: bool
) -> SocialIdentity:
    return SocialIdentity(
        user_id=user_id,
        provider=seen.provider,
        issuer=seen.issuer,
        subject=seen.subject,
        email=seen.email[:EMAIL_MAX] if seen.email else None,
        last_used_at=last_used_at,
        mailbox_proved=proved,
    )
