"""Client profiles, who may see them, insurers, and the local copy of each insurer's data (DESIGN §3).

Money is kept in integer cents with its ISO 4217 currency: exact on every backend and cheap to
compare. Rows that mirror an insurer's records are upserted by (insurer, external id) and are
never deleted by a sync: a record the insurer stops sending gets ``removed_upstream_at``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aggregator.db import Base
from aggregator.models.types import UTCDateTime, utcnow


class ClientProfile(Base):
    """A natural or legal person that holds policies, keyed by its normalised tax / ID number."""

    __tablename__ = "client_profiles"
    __table_args__ = (UniqueConstraint("id_type", "id_number", name="uq_client_profiles_tax_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    id_type: Mapped[str] = mapped_column(String(8))  # RFC, CURP, CUIT, CUIL, DNI
    id_number: Mapped[str] = mapped_column(String(32))  # normalised: upper case, no separators
    kind: Mapped[str] = mapped_column(String(16), default="person")  # person | company
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))  # as the insurer knows it, for automatic linking
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    accounts: Mapped[list[InsurerAccount]] = relationship(back_populates="profile", order_by="InsurerAccount.id")

    @property
    def masked_id(self) -> str:
        """The ID as screens and emails show it: type and last 3 characters."""
        return f"{self.id_type} …{self.id_number[-3:]}"


class ProfileGrant(Base):
    """Who may see and manage a profile, and how the right was proven. Revoked, never deleted."""

    __tablename__ = "profile_grants"
    __table_args__ = (
        UniqueConstraint("profile_id", "user_id", name="uq_profile_grants_profile_user"),
        Index("ix_profile_grants_user_active", "user_id", "revoked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("client_profiles.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16), default="holder")  # holder | manager
    granted_via: Mapped[str] = mapped_column(String(16))  # email | tax_id | demo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    profile: Mapped[ClientProfile] = relationship()
    accounts: Mapped[list[GrantAccount]] = relationship(
        back_populates="grant", cascade="all, delete-orphan", order_by="GrantAccount.account_id"
    )


class GrantAccount(Base):
    """One insurer account a grant reaches. A grant covers what was proved (DESIGN §7): a proof pair at
    that insurer, or a verified email that insurer matched; another insurer of the same person needs
    its own proof."""

    __tablename__ = "profile_grant_accounts"
    __table_args__ = (Index("ix_profile_grant_accounts_account", "account_id"),)

    grant_id: Mapped[int] = mapped_column(ForeignKey("profile_grants.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("insurer_accounts.id", ondelete="CASCADE"), primary_key=True)
    granted_via: Mapped[str] = mapped_column(String(16))  # email | tax_id | demo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    grant: Mapped[ProfileGrant] = relationship(back_populates="accounts")
    account: Mapped[InsurerAccount] = relationship()


class Insurer(Base):
    """One insurer, mirrored from its registered connector."""

    __tablename__ = "insurers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    # The connector's phone book: [{"label", "number", "lines": [...], "countries": [...], "assistance": bool}]
    support_phones: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    fictional: Mapped[bool] = mapped_column(Boolean, default=False)


class InsurerAccount(Base):
    """A profile's relationship with one insurer: the insurer's client reference and its health."""

    __tablename__ = "insurer_accounts"
    __table_args__ = (
        UniqueConstraint("insurer_id", "client_ref", name="uq_insurer_accounts_client_ref"),
        UniqueConstraint("profile_id", "insurer_id", name="uq_insurer_accounts_profile_insurer"),
        Index("ix_insurer_accounts_next_sync", "next_sync_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("client_profiles.id", ondelete="CASCADE"))
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    client_ref: Mapped[str] = mapped_column(String(120))
    # new | syncing | ok | stale | needs_attention | error
    health: Mapped[str] = mapped_column(String(16), default="new")
    sync_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a sync job waits for this account
    sync_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # set while a sync holds the account
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the age of the data shown
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(32))  # an error code the UI puts into words
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed syncs
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The currencies of the data of the last successful sync (sorted ISO codes), kept by the sync: a
    # user whose accounts hold more than one sees the code beside every amount.
    currencies: Mapped[list[str]] = mapped_column(JSON, default=list)

    profile: Mapped[ClientProfile] = relationship(back_populates="accounts")
    insurer: Mapped[Insurer] = relationship()

    @property
    def status(self) -> str:
        """The health a screen shows: ``syncing`` while a sync is queued or running, else the last outcome."""
        if self.sync_started_at is not None or self.sync_queued_at is not None:
            return "syncing"
        return self.health


# A current policy: in force or waiting for a payment, and still sent by its insurer. Partial indexes say it
# with these literal values, and the queries that should use them say it the same way (``portfolio.live``).
LIVE_STATUSES = ("in_force", "pending_payment")
LIVE_SQL = "removed_upstream_at IS NULL AND status IN ('in_force', 'pending_payment')"
_LIVE_ONLY: dict[str, Any] = {"sqlite_where": text(LIVE_SQL), "postgresql_where": text(LIVE_SQL)}  # partial index


class Policy(Base):
    """The local copy of one insurer policy as one client account receives it.

    Keyed by (insurer account, the insurer's external id): a group policy reaches the company that
    holds it and each insured employee, and each of them sees it in their own view. ``content_hash``
    tells a changed record from the same one.
    """

    __tablename__ = "policies"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id", name="uq_policies_account_external"),
        Index("ix_policies_insurer_external", "insurer_id", "external_id"),
        # Migration 0007: the orders the pages read, per account. "Mis seguros" shows current policies by
        # default: their cards by line and term end, and their count per line, come from a partial index of
        # current policies only (smaller, and counted without reading a row); so do what needs attention.
        Index("ix_policies_account_line_term", "account_id", "line", "term_end", "id", "status", "removed_upstream_at"),
        # (SQLite reads a row for a column of the predicate unless the index holds it: status and removal; the
        # next due date serves the "receipt overdue" filter.)
        Index(
            "ix_policies_live_line_term",
            *("account_id", "line", "term_end", "id", "status", "removed_upstream_at", "next_due_date"),
            **_LIVE_ONLY,
        ),
        Index("ix_policies_live_next_due", "account_id", "next_due_date", "id", **_LIVE_ONLY),
        Index("ix_policies_live_term", "account_id", "term_end", "id", **_LIVE_ONLY),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("insurer_accounts.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(120))
    number: Mapped[str] = mapped_column(String(60))
    line: Mapped[str] = mapped_column(String(16))
    product: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    insurer_status: Mapped[str] = mapped_column(String(120))
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    premium_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_frequency: Mapped[str] = mapped_column(String(16))
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_kind: Mapped[str] = mapped_column(String(16))
    group_policy: Mapped[bool] = mapped_column(Boolean, default=False)
    insured: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"kind": "vehicle", ...}
    insured_summary: Mapped[str | None] = mapped_column(String(300))
    search_text: Mapped[str] = mapped_column(Text, default="")  # lower case, accents removed
    next_due_date: Mapped[date | None] = mapped_column(Date)  # earliest pending or overdue receipt
    next_due_cents: Mapped[int | None] = mapped_column(BigInteger)
    open_claims: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_upstream_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    insurer: Mapped[Insurer] = relationship()
    account: Mapped[InsurerAccount] = relationship()


class Coverage(Base):
    __tablename__ = "coverages"
    __table_args__ = (Index("ix_coverages_policy", "policy_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    covered: Mapped[bool] = mapped_column(Boolean, default=True)
    sum_insured_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    sum_insured_basis: Mapped[str | None] = mapped_column(String(120))
    deductible_kind: Mapped[str | None] = mapped_column(String(16))  # percentage | amount | none
    deductible_basis_points: Mapped[int | None] = mapped_column(Integer)  # 5% = 500
    deductible_cents: Mapped[int | None] = mapped_column(BigInteger)
    deductible_basis: Mapped[str | None] = mapped_column(String(120))
    notes: Mapped[str | None] = mapped_column(Text)


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (Index("ix_receipts_policy_due", "policy_id", "due_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(60))
    due_date: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # paid | pending | overdue | cancelled
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    grace_until: Mapped[date | None] = mapped_column(Date)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    method: Mapped[str | None] = mapped_column(String(60))


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id", name="uq_claims_account_external"),
        Index("ix_claims_policy", "policy_id"),
        Index("ix_claims_account_reported", "account_id", "reported_at", "id"),  # "Siniestros", newest first, paged
        Index("ix_claims_account_waiting", "account_id", "waiting_on_client", "reported_at", "id"),  # attention
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("insurer_accounts.id", ondelete="CASCADE"))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(120))
    number: Mapped[str] = mapped_column(String(60))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    insurer_status: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    coverage_code: Mapped[str | None] = mapped_column(String(60))
    claimed_cents: Mapped[int | None] = mapped_column(BigInteger)
    paid_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    waiting_on_client: Mapped[bool] = mapped_column(Boolean, default=False)  # the insurer waits for the client
    requested_documents: Mapped[list[str]] = mapped_column(JSON, default=list)  # in the insurer's words
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_upstream_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    policy: Mapped[Policy] = relationship()
    insurer: Mapped[Insurer] = relationship()


class Document(Base):
    """A document of a policy or claim. ``source`` insurer: fetched through the connector by ``ref``."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_policy", "policy_id"), Index("ix_documents_claim", "claim_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16), default="insurer")  # insurer | upload
    ref: Mapped[str] = mapped_column(String(300))  # the connector's reference, or the upload's storage key
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100), default="application/pdf")


class SyncRun(Base):
    """One sync of one insurer account: when, how it ended, what it changed."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_account_started", "account_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("insurer_accounts.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))  # link | refresh | schedule | demo
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16), default="running")  # running | ok | failed | skipped
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(300))  # technical, scrubbed; for operators


class Job(Base):
    """A background job; its state lives here so every process (and the UI) can see it."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    lane: Mapped[str] = mapped_column(String(40), default="default")  # per-insurer concurrency bound
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(300))
    # The last time something vouched for the job: handed it to a backend (queued) or, every few seconds
    # while it runs, the process running it. A running job whose heartbeat is older than the lease was
    # abandoned by a process that died; a queued one this old lost its message (jobs.reclaim_abandoned).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)
    worker: Mapped[str | None] = mapped_column(String(120))  # host:pid of the process running it, for operators


class LinkThrottle(Base):
    """Failed linking attempts per key (user, target hash, IP) and the escalating lock they earn."""

    __tablename__ = "link_throttles"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # "user:12", "target:<hmac>", "ip:<hmac>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locks: Mapped[int] = mapped_column(Integer, default=0)  # how many times it was locked: the next lock is longer
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
