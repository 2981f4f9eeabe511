"""Intermediaries (DESIGN §11): organizations, their members, the grants clients gave them, and the
access log each client can read.

An organization reaches a client profile only through an ``OrgGrant`` (consent, never silent), and only
the insurer accounts that grant covers (``OrgGrantAccount``), exactly as a person's grant does. Grants
are revoked (with a reason), never deleted; the access log is append-only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aggregator.db import Base
from aggregator.models.insurance import ClientProfile, InsurerAccount
from aggregator.models.types import UTCDateTime, utcnow
from aggregator.models.user import User

ORG_KINDS = ("broker", "hr", "accounting")
ROLES = ("owner", "admin", "agent", "viewer")
SCOPES = ("read", "manage")
GRANT_ORIGINS = ("proof", "invitation", "request", "import", "demo")
REVOKE_REASONS = ("client_revoked", "org_released", "expired", "security")


class Organization(Base):
    """A broker (PAS / agente), an employer's HR department or an accounting firm."""

    __tablename__ = "organizations"
    __table_args__ = (UniqueConstraint("tax_id_type", "tax_id", name="uq_organizations_tax_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # broker | hr | accounting
    country: Mapped[str] = mapped_column(String(2))
    tax_id_type: Mapped[str] = mapped_column(String(8))  # CUIT | RFC
    tax_id: Mapped[str] = mapped_column(String(32))  # normalised
    # Clients give this code to grant access from their profile's "Acceso" page (besides the tax ID).
    invite_code: Mapped[str] = mapped_column(String(16), unique=True)
    agents_see_all: Mapped[bool] = mapped_column(Boolean, default=False)  # else agents see their assigned clients
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    members: Mapped[list[Membership]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", order_by="Membership.id"
    )

    @property
    def masked_tax_id(self) -> str:
        return f"{self.tax_id_type} …{self.tax_id[-3:]}"


class Membership(Base):
    """A user's role in an organization. Removing a member deletes the row (the audit log keeps the story)."""

    __tablename__ = "org_memberships"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id", name="uq_org_memberships_org_user"),
        Index("ix_org_memberships_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # owner | admin | agent | viewer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class OrgInvitation(Base):
    """An emailed invitation to join an organization: signed, single-use, expiring (only a digest is kept)."""

    __tablename__ = "org_invitations"
    __table_args__ = (Index("ix_org_invitations_org", "organization_id", "accepted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship()


class OrgGrant(Base):
    """A client's consent for an organization to reach a profile: scope, origin, expiry, revocation."""

    __tablename__ = "org_grants"
    __table_args__ = (
        UniqueConstraint("organization_id", "profile_id", name="uq_org_grants_org_profile"),
        Index("ix_org_grants_profile", "profile_id"),
        Index("ix_org_grants_org_live", "organization_id", "revoked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("client_profiles.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(8), default="read")  # read | manage
    origin: Mapped[str] = mapped_column(String(16))  # proof | invitation | request | import | demo
    # HR organizations see claim statuses and counts only, unless the insured person allows the details.
    claim_details: Mapped[bool] = mapped_column(Boolean, default=True)
    granted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expiry_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(16))  # client_revoked | org_released | expired | security
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_access_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship()
    profile: Mapped[ClientProfile] = relationship()
    accounts: Mapped[list[OrgGrantAccount]] = relationship(
        back_populates="grant", cascade="all, delete-orphan", order_by="OrgGrantAccount.account_id"
    )

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class OrgGrantAccount(Base):
    """One insurer account an organization's grant reaches (what was proved or consented to)."""

    __tablename__ = "org_grant_accounts"
    __table_args__ = (Index("ix_org_grant_accounts_account", "account_id"),)

    grant_id: Mapped[int] = mapped_column(ForeignKey("org_grants.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("insurer_accounts.id", ondelete="CASCADE"), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    grant: Mapped[OrgGrant] = relationship(back_populates="accounts")
    account: Mapped[InsurerAccount] = relationship()


class AccessRequest(Base):
    """An organization asks a client, by email, for access; the client approves (choosing the profile) or declines."""

    __tablename__ = "org_access_requests"
    __table_args__ = (Index("ix_org_access_requests_email", "email", "decided_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # normalised
    scope: Mapped[str] = mapped_column(String(8), default="read")
    message: Mapped[str | None] = mapped_column(Text)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision: Mapped[str | None] = mapped_column(String(16))  # approved | declined | withdrawn
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("client_profiles.id", ondelete="SET NULL"))

    organization: Mapped[Organization] = relationship()


class AccessLogEntry(Base):
    """One read of a client's data by an intermediary: who (member, organization), what, when. Append-only;
    ``summary`` names the object as the client knows it (a policy number, a document title), never a tax ID."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_profile_time", "profile_id", "id"),
        Index("ix_access_log_org_time", "organization_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("client_profiles.id", ondelete="CASCADE"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    organization_name: Mapped[str] = mapped_column(String(200))  # as it was when the read happened
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    member_label: Mapped[str] = mapped_column(String(320))  # the member's name or email at the time
    action: Mapped[str] = mapped_column(String(24))  # view_client | view_policy | view_claim | download | export
    object_type: Mapped[str | None] = mapped_column(String(24))
    object_id: Mapped[int | None] = mapped_column(Integer)
    # The insurer account the object belongs to (None for the client's page): a holder reads only the rows of
    # the insurers they proved (DESIGN §7), as for everything else.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("insurer_accounts.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
