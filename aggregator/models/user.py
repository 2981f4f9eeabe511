"""Accounts: users, their sessions, social identities, consents, one-time tokens, preferences."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aggregator.db import Base
from aggregator.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from aggregator.models.org import Membership


class User(Base):
    """A login. ``email`` is stored normalised; it is the unique key of password accounts."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locale: Mapped[str] = mapped_column(String(8), default="es")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | deleted
    full_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    address_line: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(120))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    profile_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    identities: Mapped[list[SocialIdentity]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="SocialIdentity.id"
    )
    # The organizations the user belongs to: loaded with the session on every request (one statement),
    # for the workspace switcher and the /o/<slug>/ pages (services/access.py).
    memberships: Mapped[list[Membership]] = relationship(
        "Membership", viewonly=True, order_by="Membership.organization_id"
    )

    # Flask-Login protocol -------------------------------------------------
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return self.status == "active"

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def needs_profile(self) -> bool:
        return self.profile_completed_at is None


class UserSession(Base):
    """Server-side record of one sign-in; the cookie holds only a random token whose hash is kept here."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_active", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="web")
    method: Mapped[str] = mapped_column(String(40), default="password")  # password | oidc:<name> | link
    user_agent: Mapped[str | None] = mapped_column(String(400))
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship()


class SocialIdentity(Base):
    """An external identity, keyed on (issuer, subject) — never matched by email."""

    __tablename__ = "social_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_social_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    issuer: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    # True when the mailbox stood behind this identity: a trusted provider's verified email, a link
    # made by the verified owner from "Mi cuenta", or our verification email opened by the browser
    # that signed in with it. A password reset (the mailbox's word) removes the others (DESIGN §7).
    mailbox_proved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="identities")


class Consent(Base):
    """Acceptance of a versioned legal document (terms, privacy notice)."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    document: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OneTimeToken(Base):
    """A single-use token (email verification, password reset, email change); only its hash is stored."""

    __tablename__ = "one_time_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationPreference(Base):
    """Whether a user wants email for one kind of notification."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_notification_preferences_user_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
