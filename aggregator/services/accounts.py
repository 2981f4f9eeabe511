"""Account operations: registration, verification, sign-in checks, reset, profile, export, deletion."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from aggregator import mail, ratelimit
from aggregator.extensions import db
from aggregator.models import (
    AuditEvent,
    Consent,
    NotificationPreference,
    OneTimeToken,
    SocialIdentity,
    User,
    UserSession,
)
from aggregator.models.types import utcnow
from aggregator.services import audit, sessions, tokens
from aggregator.services.emails import try_normalize_email
from aggregator.services.passwords import hash_password, verify_password

VERIFY = "verify_email"
RESET = "password_reset"
EMAIL_CHANGE = "email_change"
REGISTRATION_KEY = "reg_proof"  # in the session of the browser that set an account up

# Notification kinds a user can switch on or off (used by later features: receipts, renewals, claims).
NOTIFICATION_KINDS: list[tuple[str, Any]] = [
    ("receipt_due", _l("A receipt is about to fall due")),
    ("policy_renewal", _l("A policy is up for renewal within 30 days")),
    ("claim_update", _l("A claim changes status")),
    ("sync_problem", _l("We cannot reach one of your insurers")),
    ("news", _l("News and tips about the portal")),
]
DEFAULT_OFF = {"news"}


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an email: EXTERNAL_URL when set, else the request's host (checked against TRUSTED_HOSTS)."""
    base = current_app.config.get("EXTERNAL_URL")
    if base:
        return str(base).rstrip("/") + url_for(endpoint, **values)
    # Without EXTERNAL_URL (demo, tests) Werkzeug has already refused, with 400, any Host outside
    # TRUSTED_HOSTS before this request reached a view, so the host below is one we answer to.
    return url_for(endpoint, _external=True, **values)


def find_active_by_email(email: str) -> User | None:
    """The active user with this (already normalised) email."""
    return db.session.scalar(select(User).where(User.email == email, User.status == "active"))


def email_taken(email: str) -> bool:
    """True when any account row holds this email."""
    return db.session.scalar(select(User.id).where(User.email == email)) is not None


# --- registration and verification -------------------------------------------------------------


def register(email: str, password: str, locale: str) -> User | None:
    """Create an unverified account and email the link; for a known email, warn its owner instead.

    Both paths hash a password and send one email, so neither status nor time tells them apart.
    """
    existing = db.session.scalar(select(User).where(User.email == email))
    password_hash = hash_password(password)
    if existing is not None:
        if existing.status == "active":
            mail.send(
                existing.email,
                "already_registered",
                existing.locale,
                login_url=external_url("auth.login"),
                reset_url=external_url("auth.forgot"),
            )
            audit.record("register.existing_email", actor_id=None, target_type="user", target_id=existing.id)
        return None
    now = utcnow()
    user = User(email=email, password_hash=password_hash, locale=locale, password_changed_at=now)
    db.session.add(user)
    db.session.flush()
    cfg = current_app.config
    db.session.add_all(
        [
            Consent(user_id=user.id, document="terms", version=cfg["TERMS_VERSION"], accepted_at=now),
            Consent(user_id=user.id, document="privacy", version=cfg["PRIVACY_VERSION"], accepted_at=now),
        ]
    )
    send_verification(user)
    audit.record("register", actor_id=user.id, target_type="user", target_id=user.id)
    return user


def send_verification(user: User) -> None:
    """Email a fresh 48-hour verification link for the user's current address."""
    token = tokens.issue(
        VERIFY,
        user.id,
        timedelta(hours=current_app.config["VERIFY_TOKEN_HOURS"]),
        email=user.email,
    )
    mail.send(
        user.email,
        "verify_email",
        user.locale,
        verify_url=external_url("auth.verify", token=token),
        hours=current_app.config["VERIFY_TOKEN_HOURS"],
    )


def registration_proof(user: User) -> str:
    """A keyed digest of the credentials set up for ``user``: kept by the browser that set them up."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    message = f"registration:{user.id}:{user.email}:{user.password_hash or ''}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def remember_registration(user: User | None) -> None:
    """Mark this browser as the one that set up ``user``'s credentials.

    ``None`` (the email already had an account) stores a random value of the same shape, so the
    session cookie does not tell the two answers apart.
    """
    session[REGISTRATION_KEY] = registration_proof(user) if user is not None else secrets.token_hex(32)


def set_up_in_this_browser(user: User) -> bool:
    """True when this browser set up the account's current credentials or is signed in to it."""
    from flask_login import current_user

    if current_user.is_authenticated and current_user.id == user.id:
        return True
    kept = session.get(REGISTRATION_KEY)
    return isinstance(kept, str) and hmac.compare_digest(kept, registration_proof(user))


def _verified_by(record: OneTimeToken | None) -> User | None:
    """The active account a verification token is for, if its address has not changed since it was sent."""
    user = db.session.get(User, record.user_id) if record is not None else None
    if user is None or user.status != "active" or record is None or record.payload.get("email") != user.email:
        return None
    return user


def verification_target(token: str) -> User | None:
    """The account a verification link would verify, if the link is still good (nothing is used up)."""
    return _verified_by(tokens.peek(token, VERIFY))


def verify_email(token: str, new_password: str | None = None) -> User | None:
    """Consume a verification link; the user is verified if the address has not changed since.

    Opening the link proves the mailbox, not what was set up before (DESIGN §7). The caller passes
    ``new_password`` when the link was opened away from the browser that set the account up: the
    earlier password, every sign-in method and every session go, and the person who proved the
    mailbox chooses the password (a pre-registered account ends up in its owner's hands). Opened by
    the browser that set it up, its sign-in methods count as proved by the mailbox.
    """
    user = _verified_by(tokens.consume(token, VERIFY))
    if user is None:
        return None
    if user.verified_at is None:
        if new_password is not None:
            user.password_hash = hash_password(new_password)
            user.password_changed_at = utcnow()
            db.session.execute(delete(SocialIdentity).where(SocialIdentity.user_id == user.id))
            db.session.expire(user, ["identities"])
            sessions.revoke_all(user.id, "password_changed")
            audit.record("email.verified_new_password", actor_id=user.id, target_type="user", target_id=user.id)
        else:
            db.session.execute(
                update(SocialIdentity).where(SocialIdentity.user_id == user.id).values(mailbox_proved=True)
            )
        user.verified_at = utcnow()
    session.pop(REGISTRATION_KEY, None)
    audit.record("email.verified", actor_id=user.id, target_type="user", target_id=user.id)
    from aggregator.services import linking

    linking.queue_auto_link(user)  # the insurers that know this email link its profiles (seed 003)
    return user


# --- sign-in and password reset --------------------------------------------------------------


def authenticate(raw_email: str, password: str) -> User | None:
    """The active user with this email and password; None otherwise, in the same time."""
    email = try_normalize_email(raw_email)
    user = find_active_by_email(email) if email else None
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok and user is not None else None


def request_password_reset(raw_email: str) -> None:
    """Email a reset link if the account exists; the caller always shows the same answer."""
    email = try_normalize_email(raw_email)
    user = find_active_by_email(email) if email else None
    if user is None:
        audit.record("password.reset_requested", outcome="unknown")
        return
    token = tokens.issue(RESET, user.id, timedelta(minutes=current_app.config["RESET_TOKEN_MINUTES"]))
    mail.send(
        user.email,
        "password_reset",
        user.locale,
        reset_url=external_url("auth.reset", token=token),
        minutes=current_app.config["RESET_TOKEN_MINUTES"],
    )
    audit.record("password.reset_requested", actor_id=user.id, target_type="user", target_id=user.id)


def reset_password(token: str, new_password: str) -> User | None:
    """Set a new password from a reset link; every session ends and the owner is told."""
    record = tokens.consume(token, RESET)
    if record is None:
        return None
    user = db.session.get(User, record.user_id)
    if user is None or user.status != "active":
        return None
    _set_password(user, new_password, reason="password_changed", keep_session_id=None)
    tokens.revoke_all(user.id, RESET)
    # Whoever can read the mailbox owns the address: a reset link also proves it. Sign-in methods
    # the mailbox never stood behind may belong to someone else (account pre-hijacking through a
    # provider that does not confirm emails): they go.
    db.session.execute(
        delete(SocialIdentity).where(SocialIdentity.user_id == user.id, SocialIdentity.mailbox_proved.is_(False))
    )
    db.session.expire(user, ["identities"])
    if user.verified_at is None:
        user.verified_at = utcnow()
    audit.record("password.reset", actor_id=user.id, target_type="user", target_id=user.id)
    return user


def change_password(user: User, new_password: str, keep_session_id: int | None) -> None:
    """Change the password of a signed-in user; their other sessions end."""
    _set_password(user, new_password, reason="password_changed", keep_session_id=keep_session_id)
    # A lock left by failed sign-ins must not outlive the new password.
    _forget_failures("login", user.email)
    audit.record("password.changed", actor_id=user.id, target_type="user", target_id=user.id)


def _forget_failures(namespace: str, value: str) -> None:
    """Reset a failure count kept under LOGIN_ACCOUNT_LIMIT (nothing to do when rate limits are off)."""
    if current_app.config.get("RATELIMIT_ENABLED", True):
        ratelimit.clear(str(current_app.config["LOGIN_ACCOUNT_LIMIT"]), ratelimit.key_for(namespace, value))


def _set_password(user: User, new_password: str, *, reason: str, keep_session_id: int | None) -> None:
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    sessions.revoke_all(user.id, reason, except_id=keep_session_id)
    mail.send(
        user.email,
        "password_changed",
        user.locale,
        when=utcnow(),
        reset_url=external_url("auth.forgot"),
    )


def check_password_of(user: User, password: str) -> bool:
    """Re-authentication: does ``password`` belong to this user?"""
    return verify_password(user.password_hash, password)


@dataclass(frozen=True)
class Reauth:
    """The answer to "is this really the account's owner?" before a sensitive change."""

    ok: bool
    reason: str | None = None  # wrong_password | locked | not_recent
    wait_minutes: int = 0


def reauthenticate(user: User, password: str | None, user_session: UserSession | None) -> Reauth:
    """Re-authenticate before a sensitive change: the current password, or a recent sign-in without one.

    Wrong passwords count like failed sign-ins, so a borrowed session cannot guess the password.
    """
    if not user.has_password:
        return Reauth(True) if sessions.recently_authenticated(user_session) else Reauth(False, "not_recent")
    limit = str(current_app.config["LOGIN_ACCOUNT_LIMIT"])
    key = ratelimit.key_for("reauth", str(user.id))
    if not ratelimit.reserve(limit, key):  # counted before the hash is checked, as at sign-in
        audit.record("reauth.locked", actor_id=user.id, target_type="user", target_id=user.id, outcome="refused")
        return Reauth(False, "locked", max(1, (ratelimit.reset_after(limit, key) + 59) // 60))
    if not verify_password(user.password_hash, password or ""):
        audit.record("reauth.failure", actor_id=user.id, target_type="user", target_id=user.id, outcome="failure")
        return Reauth(False, "wrong_password")
    _forget_failures("reauth", str(user.id))
    if user_session is not None:
        sessions.mark_reauthenticated(user_session)
    return Reauth(True)


# --- email change ---------------------------------------------------------------------------


def request_email_change(user: User, new_email: str) -> None:
    """Send a confirmation link to the new address and a notice to the current one."""
    token = tokens.issue(
        EMAIL_CHANGE,
        user.id,
        timedelta(hours=current_app.config["EMAIL_CHANGE_TOKEN_HOURS"]),
        old_email=user.email,
        new_email=new_email,
    )
    # The link goes to the new address even if it is taken, so the answer reveals nothing;
    # confirming then fails with a clear message.
    mail.send(
        new_email, "email_change_verify", user.locale, confirm_url=external_url("auth.confirm_email", token=token)
    )
    mail.send(
        user.email, "email_change_notice", user.locale, new_email=new_email, reset_url=external_url("auth.forgot")
    )
    audit.record("email.change_requested", actor_id=user.id, target_type="user", target_id=user.id)


def confirm_email_change(token: str, keep_session_id: int | None = None) -> tuple[User | None, str | None]:
    """Apply an email change and end the user's other sessions; returns (user, error message)."""
    record = tokens.peek(token, EMAIL_CHANGE)
    if record is None:
        return None, str(_l("This link is no longer valid. Ask for a new one from “My account”."))
    user = db.session.get(User, record.user_id)
    new_email = str(record.payload.get("new_email", ""))
    if user is None or user.status != "active" or record.payload.get("old_email") != user.email:
        tokens.consume(token, EMAIL_CHANGE)
        return None, str(_l("This link is no longer valid. Ask for a new one from “My account”."))
    if email_taken(new_email):
        tokens.consume(token, EMAIL_CHANGE)
        return None, str(_l("That email address already belongs to another account."))
    tokens.consume(token, EMAIL_CHANGE)
    user.email = new_email
    user.verified_at = utcnow()
    # Like a password change: whoever is signed in elsewhere signs in again, with the new address.
    sessions.revoke_all(user.id, "email_changed", except_id=keep_session_id)
    audit.record("email.changed", actor_id=user.id, target_type="user", target_id=user.id)
    return user, None


# --- profile and preferences -----------------------------------------------------------------


PROFILE_FIELDS = ("full_name", "phone", "address_line", "city", "state", "postal_code", "country")


def update_profile(user: User, values: dict[str, str | None]) -> None:
    """Save the contact details; the profile counts as complete once name and phone are there."""
    for field in PROFILE_FIELDS:
        if field in values:
            value = (values[field] or "").strip() or None
            setattr(user, field, value)
    if user.full_name and user.phone and user.profile_completed_at is None:
        user.profile_completed_at = utcnow()
    audit.record("profile.updated", actor_id=user.id, target_type="user", target_id=user.id)


@dataclass(frozen=True)
class Completeness:
    """How much of the profile is filled in."""

    filled: int
    total: int
    missing: list[str]

    @property
    def percent(self) -> int:
        """Share of the fields filled in, 0–100."""
        return round(100 * self.filled / self.total) if self.total else 100


def profile_completeness(user: User) -> Completeness:
    """Which contact details are there and which are missing (in form order)."""
    missing = [field for field in PROFILE_FIELDS if not getattr(user, field)]
    return Completeness(filled=len(PROFILE_FIELDS) - len(missing), total=len(PROFILE_FIELDS), missing=missing)


def preferences(user: User) -> dict[str, bool]:
    """Email on/off for every notification kind, defaults filled in."""
    stored = {
        p.kind: p.email_enabled
        for p in db.session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    }
    return {kind: stored.get(kind, kind not in DEFAULT_OFF) for kind, _label in NOTIFICATION_KINDS}


def set_preferences(user: User, enabled: set[str]) -> None:
    """Store the user's choice for every known kind."""
    existing = {
        p.kind: p
        for p in db.session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    }
    for kind, _label in NOTIFICATION_KINDS:
        pref = existing.get(kind)
        if pref is None:
            db.session.add(NotificationPreference(user_id=user.id, kind=kind, email_enabled=kind in enabled))
        else:
            pref.email_enabled = kind in enabled
    audit.record("preferences.updated", actor_id=user.id, target_type="user", target_id=user.id)


# --- export and deletion ----------------------------------------------------------------------


def export_data(user: User) -> dict[str, Any]:
    """Everything stored about the user, as JSON-ready data."""

    def iso(value: Any) -> Any:
        return value.isoformat() if value is not None else None

    audit.record("account.exported", actor_id=user.id, target_type="user", target_id=user.id)
    session_rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id))
    consent_rows = db.session.scalars(select(Consent).where(Consent.user_id == user.id))
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.actor_user_id == user.id).order_by(AuditEvent.id))
    return {
        "exported_at": iso(utcnow()),
        "account": {
            "email": user.email,
            "email_verified_at": iso(user.verified_at),
            "language": user.locale,
            "created_at": iso(user.created_at),
            "password_changed_at": iso(user.password_changed_at),
            "has_password": user.has_password,
        },
        "profile": {field: getattr(user, field) for field in PROFILE_FIELDS},
        "notification_preferences": preferences(user),
        "sign_in_methods": [
            {
                "provider": i.provider,
                "issuer": i.issuer,
                "subject": i.subject,
                "email": i.email,
                "connected_at": iso(i.created_at),
                "last_used_at": iso(i.last_used_at),
            }
            for i in user.identities
        ],
        "consents": [
            {"document": c.document, "version": c.version, "accepted_at": iso(c.accepted_at)} for c in consent_rows
        ],
        "sessions": [
            {
                "channel": s.channel,
                "method": s.method,
                "user_agent": s.user_agent,
                "ip": s.ip,
                "created_at": iso(s.created_at),
                "last_seen_at": iso(s.last_seen_at),
                "ended_at": iso(s.revoked_at),
                "ended_because": s.revoked_reason,
            }
            for s in session_rows
        ],
        "activity": [{"action": e.action, "outcome": e.outcome, "ip": e.ip, "at": iso(e.created_at)} for e in events],
    }


def delete_account(user: User) -> None:
    """Sign out everywhere and remove personal data; audit events stay, anonymous (seed 003)."""
    email, locale = user.email, user.locale
    audit.record("account.deleted", actor_id=user.id, target_type="user", target_id=user.id)
    sessions.revoke_all(user.id, "deleted")
    db.session.execute(delete(SocialIdentity).where(SocialIdentity.user_id == user.id))
    db.session.execute(delete(OneTimeToken).where(OneTimeToken.user_id == user.id))
    db.session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user.id))
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id).values(user_agent=None, ip=None))
    db.session.execute(update(AuditEvent).where(AuditEvent.actor_user_id == user.id).values(ip=None, details={}))
    for field in PROFILE_FIELDS:
        setattr(user, field, None)
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.password_hash = None
    user.status = "deleted"
    user.deleted_at = utcnow()
    db.session.expire(user, ["identities"])
    mail.send(email, "account_deleted", locale)
