"""Read-side queries of the unified view: every query is scoped by ``services.access`` (DESIGN §7).

Each page reads a fixed number of statements whatever the number of policies: the dashboard uses
the denormalised columns of ``Policy`` (next receipt due, open claims) and reads plain rows, not
ORM objects; the detail pages load their children with one statement per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Row, Select, bindparam, select
from sqlalchemy.orm import joinedload, load_only

from aggregator.extensions import db
from aggregator.models import Claim, ClientProfile, Coverage, Document, Insurer, InsurerAccount, Policy, Receipt
from aggregator.services.access import USER, visible_accounts
from aggregator.services.sync import DUE_RECEIPT_STATUSES, OPEN_CLAIM_STATUSES, fold

LINES: tuple[str, ...] = ("auto", "gmm", "vida", "hogar", "dispositivos", "otros")
POLICY_STATUSES: tuple[str, ...] = ("in_force", "pending_payment", "expired", "cancelled")
ACTIVE_STATUSES: frozenset[str] = frozenset({"in_force", "pending_payment"})
STATUS_FILTERS: tuple[str, ...] = ("active", "all", *POLICY_STATUSES)
CLAIM_FILTERS: tuple[str, ...] = ("all", "open", "closed")
CLOSED_CLAIM_STATUSES: frozenset[str] = frozenset({"closed_paid", "closed_unpaid", "cancelled"})
RENEWAL_WINDOW = timedelta(days=30)
UPCOMING_WINDOW = timedelta(days=62)  # "Próximos pagos": receipts due in about the next two months
MAX_DUE_ROWS = 200  # receipts read for the attention strip and upcoming payments (overdue ones first)
MAX_ATTENTION = 30  # waiting claims or renewals listed at most
PAYMENT_HISTORY = 10  # the last 10 payments, as the insurer's own portal shows (seed 000)
MAX_QUERY = 100

# The columns the dashboard shows: plain rows are several times cheaper than ORM objects.
DASHBOARD_COLUMNS = (
    Policy.id,
    Policy.account_id,
    Policy.number,
    Policy.line,
    Policy.product,
    Policy.status,
    Policy.insurer_status,
    Policy.term_end,
    Policy.currency,
    Policy.holder_name,
    Policy.group_policy,
    Policy.insured_summary,
    Policy.next_due_date,
    Policy.next_due_cents,
    Policy.open_claims,
    Policy.removed_upstream_at,
)


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters, as read from (and written back to) the query string."""

    profile: int | None = None
    insurer: str | None = None
    line: str | None = None
    status: str = "active"
    q: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """Read the filters leniently: an unknown value means 'no filter', never an error."""
        profile_raw = (args.get("profile") or "").strip()
        profile = int(profile_raw) if profile_raw.isdigit() else None
        insurer = (args.get("insurer") or "").strip()[:40] or None
        line = (args.get("line") or "").strip()
        status = (args.get("status") or "active").strip()
        q = " ".join((args.get("q") or "").split())[:MAX_QUERY]
        return cls(
            profile=profile,
            insurer=insurer,
            line=line if line in LINES else None,
            status=status if status in STATUS_FILTERS else "active",
            q=q,
        )

    def as_args(self) -> dict[str, str]:
        """The non-default filters as query-string arguments."""
        args: dict[str, str] = {}
        if self.profile is not None:
            args["profile"] = str(self.profile)
        if self.insurer:
            args["insurer"] = self.insurer
        if self.line:
            args["line"] = self.line
        if self.status != "active":
            args["status"] = self.status
        if self.q:
            args["q"] = self.q
        return args

    @property
    def active(self) -> bool:
        """Whether any filter narrows the default view."""
        return bool(self.as_args())


@dataclass
class Group:
    """The policies of one line of business."""

    line: str
    rows: list[Any] = field(default_factory=list)  # query rows; the dashboard view turns them into cards


@cache
def _statements() -> dict[str, Select[Any]]:
    """The read statements of the unified view that take only ids, built once (building costs more than running)."""
    policy: BindParameter[int] = bindparam("policy_id")
    claim: BindParameter[int] = bindparam("claim_id")
    return {
        "accounts": select(InsurerAccount)
        .options(joinedload(InsurerAccount.insurer), joinedload(InsurerAccount.profile))
        .where(InsurerAccount.id.in_(visible_accounts(USER)))
        .order_by(InsurerAccount.insurer_id, InsurerAccount.profile_id),
        "receipts": select(Receipt)
        .where(Receipt.policy_id == policy)
        .order_by(Receipt.due_date.desc(), Receipt.id.desc()),
        "coverages": select(Coverage).where(Coverage.policy_id == policy).order_by(Coverage.position),
        "documents": select(Document).where(Document.policy_id == policy).order_by(Document.id),
        "open_claims": select(Claim)
        .where(Claim.policy_id == policy, Claim.status.in_(OPEN_CLAIM_STATUSES), Claim.removed_upstream_at.is_(None))
        .order_by(Claim.reported_at.desc()),
        "claim_documents": select(Document).where(Document.claim_id == claim).order_by(Document.id),
        "coverage_name": select(Coverage.name)
        .where(Coverage.policy_id == policy, Coverage.code == bindparam("code"))
        .limit(1),
    }


def user_accounts(user_id: int) -> list[InsurerAccount]:
    """The user's insurer accounts with their insurer and profile: one statement."""
    return list(db.session.scalars(_statements()["accounts"], {"user_id": user_id}))


def account_summaries(user_id: int) -> dict[int, Row[Any]]:
    """Per visible insurer account: its currencies (kept by the sync) and its profile's country. One statement."""
    return {row.id: row for row in db.session.execute(_row_statements()["summaries"], {"user_id": user_id})}


def user_currencies(user_id: int) -> set[str]:
    """Every currency of the data the user sees, from the summary the sync keeps per account: one statement."""
    return {code for row in account_summaries(user_id).values() for code in row.currencies or ()}


@cache
def _row_statements() -> dict[str, Any]:
    """Statements of plain rows across every visible account (summaries, what needs the client), built once."""
    accounts = visible_accounts(USER)
    live = (Policy.account_id.in_(accounts), Policy.removed_upstream_at.is_(None), Policy.status.in_(ACTIVE_STATUSES))
    return {
        "summaries": select(InsurerAccount.id, InsurerAccount.currencies, ClientProfile.country)
        .join(ClientProfile, ClientProfile.id == InsurerAccount.profile_id)
        .where(InsurerAccount.id.in_(accounts)),
        "due": select(
            Receipt.policy_id,
            Receipt.number,
            Receipt.status,
            Receipt.due_date,
            Receipt.grace_until,
            Receipt.amount_cents,
            Receipt.currency,
            Policy.account_id,
            Policy.number.label("policy_number"),
            Policy.product,
            Policy.line,
        )
        .join(Policy, Policy.id == Receipt.policy_id)
        .where(*live, Receipt.status.in_(DUE_RECEIPT_STATUSES), Receipt.due_date < bindparam("horizon"))
        .order_by(Receipt.due_date, Receipt.id)
        .limit(MAX_DUE_ROWS),
        "waiting": select(
            Claim.id,
            Claim.number,
            Claim.account_id,
            Claim.requested_documents,
            Policy.product,
            Policy.number.label("policy_number"),
        )
        .join(Policy, Policy.id == Claim.policy_id)
        .where(
            Claim.account_id.in_(accounts),
            Claim.waiting_on_client.is_(True),
            Claim.status.in_(OPEN_CLAIM_STATUSES),
            Claim.removed_upstream_at.is_(None),
        )
        .order_by(Claim.reported_at, Claim.id)
        .limit(MAX_ATTENTION),
        "renewals": select(Policy.id, Policy.account_id, Policy.number, Policy.product, Policy.term_end)
        .where(*live, Policy.term_end >= bindparam("today"), Policy.term_end <= bindparam("renewal_end"))
        .order_by(Policy.term_end, Policy.id)
        .limit(MAX_ATTENTION),
    }


@dataclass
class Attention:
    """The rows behind "Requiere atención" and "Próximos pagos"."""

    due: list[Row[Any]]  # unpaid receipts due before the horizon, overdue ones first
    waiting: list[Row[Any]]  # open claims waiting for the client
    renewals: list[Row[Any]]  # live policies whose term ends within the renewal window


def attention(user_id: int, today: date) -> Attention:
    """Overdue and upcoming receipts, claims waiting for the client and renewals: three statements."""
    stmts = _row_statements()
    params: dict[str, Any] = {
        "user_id": user_id,
        "horizon": today + UPCOMING_WINDOW,
        "today": today,
        "renewal_end": today + RENEWAL_WINDOW,
    }
    return Attention(
        due=list(db.session.execute(stmts["due"], params)),
        waiting=list(db.session.execute(stmts["waiting"], params)),
        renewals=list(db.session.execute(stmts["renewals"], params)),
    )


def coverage_name(policy_id: int, code: str | None) -> str | None:
    """The name a policy gives one of its coverage codes (claims name coverages by code)."""
    if not code:
        return None
    return db.session.scalar(_statements()["coverage_name"], {"policy_id": policy_id, "code": code})


def insurers_for_help() -> list[Insurer]:
    """Every insurer of the portal, with its phones, by name (the help page)."""
    return list(db.session.scalars(select(Insurer).order_by(Insurer.name)))


MAX_WORDS = 8  # search words that narrow the list; more add nothing a person would type


@cache
def _dashboard_statement(by_accounts: bool, by_line: bool, status: str, words: int) -> Select[Any]:
    """The dashboard's statement for one shape of filters, built once; the values are bound per request."""
    stmt: Any = select(*DASHBOARD_COLUMNS).where(Policy.account_id.in_(visible_accounts(USER)))
    if by_accounts:
        stmt = stmt.where(Policy.account_id.in_(bindparam("wanted", expanding=True)))
    if by_line:
        stmt = stmt.where(Policy.line == bindparam("line"))
    if status == "active":
        stmt = stmt.where(Policy.status.in_(ACTIVE_STATUSES), Policy.removed_upstream_at.is_(None))
    elif status != "all":
        stmt = stmt.where(Policy.status == bindparam("status"))
    for index in range(words):
        stmt = stmt.where(Policy.search_text.like(bindparam(f"word{index}"), escape="/"))
    return stmt.order_by(Policy.term_end, Policy.id)


def _like_pattern(word: str) -> str:
    """'%word%' with LIKE's wildcards in the word taken literally."""
    return "%" + word.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def dashboard_rows(user_id: int, filters: Filters, accounts: Iterable[InsurerAccount]) -> list[Row[Any]]:
    """The policies matching ``filters``, as plain rows: one statement."""
    params: dict[str, Any] = {"user_id": user_id}
    by_accounts = filters.profile is not None or bool(filters.insurer)
    if by_accounts:
        params["wanted"] = [
            a.id
            for a in accounts
            if (filters.profile is None or a.profile_id == filters.profile)
            and (not filters.insurer or a.insurer.slug == filters.insurer)
        ] or [-1]
    if filters.line:
        params["line"] = filters.line
    if filters.status not in ("active", "all"):
        params["status"] = filters.status
    words = fold(filters.q).split()[:MAX_WORDS]
    for index, word in enumerate(words):
        params[f"word{index}"] = _like_pattern(word)
    stmt = _dashboard_statement(by_accounts, bool(filters.line), filters.status, len(words))
    return list(db.session.execute(stmt, params))


def group_by_line(rows: Iterable[Row[Any]]) -> list[Group]:
    """Rows grouped by line of business, in the portal's order (unknown lines go to 'otros')."""
    groups = {line: Group(line) for line in LINES}
    for row in rows:
        groups[row.line if row.line in groups else "otros"].rows.append(row)
    return [g for g in groups.values() if g.rows]


def renews_soon(term_end: date, today: date) -> bool:
    """The term ends within the renewal window (and has not ended yet)."""
    return today <= term_end <= today + RENEWAL_WINDOW


@dataclass
class PolicyDetail:
    """Everything the policy page shows, read with one statement per table."""

    policy: Policy
    coverages: list[Coverage]
    payments: list[Receipt]
    due: list[Receipt]
    documents: list[Document]
    claims: list[Claim]


def policy_detail(policy: Policy) -> PolicyDetail:
    """The children of an already access-checked policy."""
    stmts, ids = _statements(), {"policy_id": policy.id}
    receipts = db.session.scalars(stmts["receipts"], ids).all()
    payments = [r for r in receipts if r.status == "paid"]
    payments.sort(key=lambda r: (r.paid_at is not None, r.paid_at or r.due_date, r.due_date), reverse=True)
    due = sorted((r for r in receipts if r.status in ("pending", "overdue")), key=lambda r: r.due_date)
    coverages = db.session.scalars(stmts["coverages"], ids).all()
    documents = db.session.scalars(stmts["documents"], ids).all()
    claims = db.session.scalars(stmts["open_claims"], ids).all()
    return PolicyDetail(policy, list(coverages), payments[:PAYMENT_HISTORY], due, list(documents), list(claims))


def user_claims(user_id: int, status: str = "all") -> list[Claim]:
    """The claims of every profile the user may see, newest reported first: one statement."""
    stmt = (
        select(Claim)
        .options(
            joinedload(Claim.policy).options(load_only(Policy.id, Policy.number, Policy.line, Policy.product)),
            joinedload(Claim.insurer),
        )
        .where(Claim.account_id.in_(visible_accounts(USER)))
        .order_by(Claim.reported_at.desc(), Claim.id.desc())
    )
    if status == "open":
        stmt = stmt.where(Claim.status.in_(OPEN_CLAIM_STATUSES))
    elif status == "closed":
        stmt = stmt.where(Claim.status.in_(CLOSED_CLAIM_STATUSES))
    return list(db.session.scalars(stmt, {"user_id": user_id}))


def claim_documents(claim: Claim) -> list[Document]:
    """The documents of an already access-checked claim."""
    return list(db.session.scalars(_statements()["claim_documents"], {"claim_id": claim.id}))
