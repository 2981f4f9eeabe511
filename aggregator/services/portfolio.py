"""Read-side queries of the unified view: every query is scoped by ``services.access`` (DESIGN §7).

Each page reads a fixed number of statements and a bounded number of rows, whatever the number of
policies, claims or insurer accounts (issue 9): "Mis seguros" counts the policies of each line with one
aggregate and reads the first cards of every line with one statement, then pages with keysets; the
claims list pages the same way; the connections panel reads accounts aggregated by status. The
dashboard uses the denormalised columns of ``Policy`` (next receipt due, open claims) and reads plain
rows, not ORM objects; the detail pages load their children with one statement per table.

The orders the pages show are the orders of the indexes of migration 0007: for one insurer account (or
a few, named in the statement), the first rows of a page come straight from an index range, however
many rows the account holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import joinedload, load_only

from aggregator.extensions import db
from aggregator.models import Claim, ClientProfile, Coverage, Document, Insurer, InsurerAccount, Policy, Receipt
from aggregator.models.insurance import LIVE_STATUSES
from aggregator.services.access import USER, visible_accounts
from aggregator.services.sync import DUE_RECEIPT_STATUSES, OPEN_CLAIM_STATUSES, fold

LINES: tuple[str, ...] = ("auto", "gmm", "vida", "hogar", "dispositivos", "otros")
POLICY_STATUSES: tuple[str, ...] = ("in_force", "pending_payment", "expired", "cancelled")
ACTIVE_STATUSES: frozenset[str] = frozenset(LIVE_STATUSES)
# "overdue": current policies with a receipt past its due date (where "Requiere atención" sends the rest).
STATUS_FILTERS: tuple[str, ...] = ("active", "all", *POLICY_STATUSES, "overdue")
CLAIM_FILTERS: tuple[str, ...] = ("all", "open", "closed")
CLOSED_CLAIM_STATUSES: frozenset[str] = frozenset({"closed_paid", "closed_unpaid", "cancelled"})
PROBLEM_STATUSES: frozenset[str] = frozenset({"stale", "error", "needs_attention"})
RENEWAL_WINDOW = timedelta(days=30)
UPCOMING_WINDOW = timedelta(days=62)  # "Próximos pagos": receipts due in about the next two months
PAYMENT_HISTORY = 10  # the last 10 payments, as the insurer's own portal shows (seed 000)
MAX_QUERY = 100

FIRST_CARDS = 6  # cards of each line on the overview: three rows of two on a desktop
PAGE_CARDS = 24  # cards of one "ver más" page, and of a line shown alone
CLAIMS_PAGE = 20  # claims of one page of "Siniestros"
OVERDUE_READ = 12  # overdue receipts read for "Requiere atención" (three are shown, the rest counted: "9+")
UPCOMING_READ = 10  # upcoming receipts read for "Próximos pagos" (five are shown, one per policy)
MAX_ATTENTION = 30  # waiting claims or renewals read at most
MAX_PROBLEMS = 10  # accounts in trouble listed one by one; the others are counted
# Up to this many insurer accounts, a statement names them: each account's rows then come in index
# order (``IN`` of one value is an equality on every backend). With more, ``visible_accounts`` alone.
MAX_LISTED_ACCOUNTS = 20

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
        profile = int(profile_raw) if profile_raw.isdigit() and len(profile_raw) < 10 else None
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


# --- keyset positions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyCursor:
    """Where a page of policy cards ends: the (term end, id) of its last card (cards go by term end)."""

    term_end: date
    id: int

    @property
    def token(self) -> str:
        """The position as the ``after`` argument of a URL: '2027-01-05_1234'."""
        return f"{self.term_end.isoformat()}_{self.id}"

    @classmethod
    def parse(cls, raw: str | None) -> PolicyCursor | None:
        """The position of an ``after`` argument; anything malformed is no position (the first page)."""
        day, _, ident = (raw or "").partition("_")
        if not ident.isdigit() or len(ident) > 18:
            return None
        try:
            return cls(date.fromisoformat(day), int(ident))
        except ValueError:
            return None


@dataclass(frozen=True)
class ClaimCursor:
    """Where a page of claims ends: the (reported at, id) of its last claim (newest first)."""

    reported_at: datetime
    id: int

    @property
    def token(self) -> str:
        """The position as the ``after`` argument of a URL: microseconds since 1970 (UTC) and the id."""
        micros = (self.reported_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}_{self.id}"

    @classmethod
    def parse(cls, raw: str | None) -> ClaimCursor | None:
        """The position of an ``after`` argument; anything malformed is no position (the first page)."""
        micros, _, ident = (raw or "").partition("_")
        if not ident.isdigit() or len(ident) > 18 or not micros.lstrip("-").isdigit() or len(micros) > 20:
            return None
        try:
            return cls(EPOCH + timedelta(microseconds=int(micros)), int(ident))
        except OverflowError:
            return None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- the insurer accounts a user sees ---------------------------------------------------------------------


def _status_expr() -> Any:
    """The health a screen shows, in SQL: 'syncing' while a sync is queued or running, else the last outcome."""
    busy = or_(InsurerAccount.sync_started_at.is_not(None), InsurerAccount.sync_queued_at.is_not(None))
    return case((busy, "syncing"), else_=InsurerAccount.health)


@dataclass(frozen=True)
class Scope:
    """The insurer accounts a read covers: ``visible_accounts`` in SQL, or, when there are few, the ids that
    ``visible_accounts`` gave this same request (``account_rows``), named in the statement. Named, each
    account's rows come in index order (``IN`` of one value is an equality on every backend) and nothing is
    checked row by row: counting 50,000 policies against the grants' subquery costs half as much again.
    Build it with ``scope_of`` from ``account_rows``, never from ids a request brought.
    """

    user_id: int
    ids: tuple[int, ...] | None  # None: every visible account, not named

    def params(self) -> dict[str, Any]:
        """The bound values of the scope."""
        params: dict[str, Any] = {"user_id": self.user_id}
        if self.ids is not None:
            params["wanted"] = list(self.ids) or [-1]  # none: a value no account has
        return params


def scope_of(user_id: int, accounts: Sequence[Any], filters: Filters | None = None) -> Scope:
    """The scope of a read over ``accounts`` (rows of ``account_rows``), narrowed by the profile and insurer
    filters."""
    narrowed = filters is not None and (filters.profile is not None or bool(filters.insurer))
    if not narrowed and len(accounts) > MAX_LISTED_ACCOUNTS:
        return Scope(user_id, None)
    chosen = [
        a.id
        for a in accounts
        if filters is None
        or (
            (filters.profile is None or a.profile_id == filters.profile)
            and (not filters.insurer or a.insurer_slug == filters.insurer)
        )
    ]
    return Scope(user_id, tuple(chosen))


def _scoped(stmt: Any, column: Any, listed: bool) -> Any:
    if listed:  # ids that visible_accounts gave this request (see Scope)
        return stmt.where(column.in_(bindparam("wanted", expanding=True)))
    return stmt.where(column.in_(visible_accounts(USER)))


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
    """The user's insurer accounts with their insurer and profile, as ORM objects: one statement."""
    return list(db.session.scalars(_statements()["accounts"], {"user_id": user_id}))


def account_summaries(user_id: int) -> dict[int, Row[Any]]:
    """Per visible insurer account: its currencies (kept by the sync) and its profile's country. One statement."""
    return {row.id: row for row in db.session.execute(_row_statements()["summaries"], {"user_id": user_id})}


def user_currencies(user_id: int) -> set[str]:
    """Every currency of the data the user sees, from the summary the sync keeps per account: one statement."""
    return {code for row in account_summaries(user_id).values() for code in row.currencies or ()}


def data_version(accounts: Iterable[Row[Any]]) -> tuple[Any, ...]:
    """What the user's insurance data depends on, from their account rows: changes whenever a sync or a grant does.

    Policies, receipts and claims are written only by a successful sync, in the transaction that moves
    ``last_success_at``; the accounts a user may see change with their grants; the status and last error
    are what the connection notices show (aggregator/fragments.py).
    """
    return tuple(
        (a.id, a.status, a.last_error, a.last_success_at, tuple(a.currencies or ()), a.profile_name, a.insurer_name)
        for a in accounts
    )


def account_rows(user_id: int) -> list[Row[Any]]:
    """Every visible insurer account as a plain row with its insurer and profile, by insurer and profile name.

    One statement; a thousand accounts are a thousand small tuples, not ORM objects.
    """
    return list(db.session.execute(_row_statements()["accounts"], {"user_id": user_id}))


@cache
def _row_statements() -> dict[str, Any]:
    """Statements of plain rows across every visible account (summaries, health, what needs the client), built
    once."""
    accounts = visible_accounts(USER)
    status = _status_expr().label("status")
    return {
        "summaries": select(InsurerAccount.id, InsurerAccount.currencies, ClientProfile.country)
        .join(ClientProfile, ClientProfile.id == InsurerAccount.profile_id)
        .where(InsurerAccount.id.in_(accounts)),
        "accounts": select(
            InsurerAccount.id,
            InsurerAccount.profile_id,
            InsurerAccount.insurer_id,
            status,
            InsurerAccount.last_error,
            InsurerAccount.last_success_at,
            InsurerAccount.currencies,
            Insurer.slug.label("insurer_slug"),
            Insurer.name.label("insurer_name"),
            ClientProfile.name.label("profile_name"),
            ClientProfile.country,
        )
        .join(Insurer, Insurer.id == InsurerAccount.insurer_id)
        .join(ClientProfile, ClientProfile.id == InsurerAccount.profile_id)
        .where(InsurerAccount.id.in_(accounts))
        .order_by(Insurer.name, ClientProfile.name, InsurerAccount.id),
        # The connections panel and its poll: accounts counted by insurer and status, whatever their number.
        "health": select(
            Insurer.slug.label("insurer_slug"),
            Insurer.name.label("insurer_name"),
            status,
            func.count().label("n"),
            func.min(InsurerAccount.last_success_at).label("oldest"),
            func.max(InsurerAccount.last_error).label("last_error"),
        )
        .join(Insurer, Insurer.id == InsurerAccount.insurer_id)
        .where(InsurerAccount.id.in_(accounts))
        .group_by(Insurer.slug, Insurer.name, status),
        "problems": select(
            InsurerAccount.id,
            InsurerAccount.profile_id,
            InsurerAccount.insurer_id,
            InsurerAccount.health.label("status"),
            InsurerAccount.last_error,
            InsurerAccount.last_success_at,
            Insurer.slug.label("insurer_slug"),
            Insurer.name.label("insurer_name"),
            ClientProfile.name.label("profile_name"),
        )
        .join(Insurer, Insurer.id == InsurerAccount.insurer_id)
        .join(ClientProfile, ClientProfile.id == InsurerAccount.profile_id)
        .where(
            InsurerAccount.id.in_(accounts),
            InsurerAccount.health.in_(PROBLEM_STATUSES),
            InsurerAccount.sync_started_at.is_(None),
            InsurerAccount.sync_queued_at.is_(None),
        )
        .order_by(Insurer.name, ClientProfile.name, InsurerAccount.id)
        .limit(MAX_PROBLEMS),
    }


# --- connection health, aggregated --------------------------------------------------------------------


@dataclass
class InsurerHealth:
    """One insurer's connections (one per linked profile), counted by status."""

    slug: str
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    oldest: datetime | None = None  # the oldest data of its accounts
    last_error: str | None = None  # of its one account in trouble, when it has one account

    @property
    def total(self) -> int:
        """How many accounts the user holds at this insurer."""
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        """The status that says most: syncing, then the worst problem, then 'new', else 'ok'."""
        for status in ("syncing", "needs_attention", "error", "stale", "new"):
            if status in self.counts:
                return status
        return next(iter(self.counts), "ok")


@dataclass
class Health:
    """The connection health of all the user's insurer accounts, aggregated: its size does not grow with
    the number of accounts (only ``MAX_PROBLEMS`` accounts in trouble are listed)."""

    insurers: list[InsurerHealth]
    problems: list[Any]  # rows of accounts in trouble (``MAX_PROBLEMS`` at most), by insurer and profile
    problem_count: int
    total: int
    syncing_count: int
    oldest: datetime | None

    @property
    def syncing(self) -> bool:
        """Whether a sync is queued or running for any account."""
        return self.syncing_count > 0

    @property
    def done(self) -> int:
        """Accounts not syncing (the progress shows 'done of total')."""
        return self.total - self.syncing_count


def _health(groups: Iterable[Any], problems: list[Any]) -> Health:
    """Health from rows of (insurer_slug, insurer_name, status, n, oldest, last_error)."""
    by_insurer: dict[str, InsurerHealth] = {}
    for g in groups:
        ins = by_insurer.setdefault(g.insurer_slug, InsurerHealth(g.insurer_slug, g.insurer_name))
        ins.counts[g.status] = ins.counts.get(g.status, 0) + g.n
        if g.oldest is not None and (ins.oldest is None or g.oldest < ins.oldest):
            ins.oldest = g.oldest
        if g.status in PROBLEM_STATUSES:
            ins.last_error = g.last_error
    insurers = sorted(by_insurer.values(), key=lambda h: h.name.lower())
    oldest = min((h.oldest for h in insurers if h.oldest is not None), default=None)
    return Health(
        insurers=insurers,
        problems=problems[:MAX_PROBLEMS],
        problem_count=sum(n for h in insurers for s, n in h.counts.items() if s in PROBLEM_STATUSES),
        total=sum(h.total for h in insurers),
        syncing_count=sum(h.counts.get("syncing", 0) for h in insurers),
        oldest=oldest,
    )


@dataclass
class _Group:
    insurer_slug: str
    insurer_name: str
    status: str
    n: int = 0
    oldest: datetime | None = None
    last_error: str | None = None


def health_of_rows(accounts: Sequence[Any]) -> Health:
    """Health from ``account_rows`` the page has already read (the dashboard): no statement, one pass."""
    groups: dict[tuple[str, str], _Group] = {}
    problems: list[Any] = []
    for a in accounts:
        group = groups.get((a.insurer_slug, a.status))
        if group is None:
            group = groups[(a.insurer_slug, a.status)] = _Group(a.insurer_slug, a.insurer_name, a.status)
        group.n += 1
        when = a.last_success_at
        if when is not None and (group.oldest is None or when < group.oldest):
            group.oldest = when
        if a.last_error and (group.last_error is None or a.last_error > group.last_error):
            group.last_error = a.last_error
        if a.status in PROBLEM_STATUSES and len(problems) < MAX_PROBLEMS:
            problems.append(a)
    return _health(groups.values(), problems)


def health(user_id: int) -> Health:
    """Health counted in SQL (the poll): two statements, the same size for one account or a thousand."""
    stmts, params = _row_statements(), {"user_id": user_id}
    return _health(db.session.execute(stmts["health"], params), list(db.session.execute(stmts["problems"], params)))


# --- "Mis seguros": counts per line, the first cards of each line, keyset pages ---------------------------

MAX_WORDS = 8  # search words that narrow the list; more add nothing a person would type


def live() -> tuple[ColumnElement[bool], ...]:
    """A current policy (in force or waiting for a payment, still sent by its insurer), said with literal values
    exactly as the partial indexes of migration 0007 say it: with bound values no planner could use them."""
    # Our own constants, never user input.
    statuses: list[ColumnElement[str]] = [literal_column(f"'{status}'") for status in LIVE_STATUSES]
    return (Policy.removed_upstream_at.is_(None), Policy.status.in_(statuses))


def _filtered(stmt: Any, listed: bool, status: str, words: int, by_line: bool) -> Any:
    """``stmt`` narrowed to the scope and the filters; the values are bound per request."""
    stmt = _scoped(stmt, Policy.account_id, listed)
    if by_line:
        stmt = stmt.where(Policy.line == bindparam("line"))
    if status in ("active", "overdue"):
        stmt = stmt.where(*live())
        if status == "overdue":
            # Wrapped, so that no planner ranges over the next-due index: the cards of a line would then need
            # every overdue policy sorted (seconds at 50,000); the line's index holds the date too.
            stmt = stmt.where(func.coalesce(Policy.next_due_date, Policy.next_due_date) < bindparam("today"))
    elif status != "all":
        stmt = stmt.where(Policy.status == bindparam("status"))
    for index in range(words):
        stmt = stmt.where(Policy.search_text.like(bindparam(f"word{index}"), escape="/"))
    return stmt


def _like_pattern(word: str) -> str:
    """'%word%' with LIKE's wildcards in the word taken literally."""
    return "%" + word.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _filter_params(scope: Scope, filters: Filters, today: date) -> tuple[dict[str, Any], int]:
    params = scope.params()
    if filters.status not in ("active", "all", "overdue"):
        params["status"] = filters.status
    if filters.status == "overdue":
        params["today"] = today
    words = fold(filters.q).split()[:MAX_WORDS]
    for index, word in enumerate(words):
        params[f"word{index}"] = _like_pattern(word)
    return params, len(words)


@cache
def _counts_statement(listed: bool, status: str, words: int, by_line: bool) -> Any:
    """Policies per line for one shape of filters, built once: one count per line (``line0``... or ``line``),
    glued with UNION ALL. Each counts an index range of its own line, which costs about half a GROUP BY over
    every policy of the account (SQLite, 46,000 current policies: 1.5 against 2.9 ms)."""
    names = ["line"] if by_line else [f"line{index}" for index in range(len(LINES))]
    branches = [
        _filtered(
            select(bindparam(name, type_=String()).label("line"), func.count().label("n")), listed, status, words, False
        )
        .select_from(Policy)
        .where(Policy.line == bindparam(name, type_=String()))
        for name in names
    ]
    return union_all(*branches) if len(branches) > 1 else branches[0]


@cache
def _first_statement(lines: int, listed: bool, status: str, words: int) -> Any:
    """The first ``FIRST_CARDS`` cards of ``lines`` lines (bound as line0, line1...): one branch per line,
    each an index range of its own, glued with UNION ALL."""
    branches = []
    for index in range(lines):
        branch = _filtered(select(*DASHBOARD_COLUMNS), listed, status, words, by_line=False)
        branch = branch.where(Policy.line == bindparam(f"line{index}"))
        sub = branch.order_by(Policy.term_end, Policy.id).limit(FIRST_CARDS + 1).subquery(f"first{index}")
        branches.append(select(sub))  # a subquery each: SQLite takes no LIMIT inside a compound's branch
    return union_all(*branches) if len(branches) > 1 else branches[0]


@cache
def _page_statement(listed: bool, status: str, words: int, after: bool) -> Select[Any]:
    """One page of one line's cards, after a keyset position or from the start."""
    stmt = _filtered(select(*DASHBOARD_COLUMNS), listed, status, words, by_line=True)
    if after:
        position = tuple_(bindparam("after_end", type_=Policy.term_end.type), bindparam("after_id", type_=Integer()))
        stmt = stmt.where(tuple_(Policy.term_end, Policy.id) > position)
    return stmt.order_by(Policy.term_end, Policy.id).limit(PAGE_CARDS + 1)  # type: ignore[no-any-return]


def line_counts(scope: Scope, filters: Filters, today: date) -> dict[str, int]:
    """How many policies match ``filters`` in each line (lines without any are left out): one statement."""
    params, words = _filter_params(scope, filters, today)
    if filters.line:
        params["line"] = filters.line
    else:
        params.update({f"line{index}": line for index, line in enumerate(LINES)})
    stmt = _counts_statement(scope.ids is not None, filters.status, words, bool(filters.line))
    return {row.line: row.n for row in db.session.execute(stmt, params) if row.n}


@dataclass
class Group:
    """The policies of one line of business shown on a page: its first cards and how many there are."""

    line: str
    count: int
    rows: list[Any] = field(default_factory=list)  # query rows; the dashboard view turns them into cards
    after: PolicyCursor | None = None  # where the next page starts, when there is one

    @property
    def more(self) -> bool:
        """Whether the line has cards after these."""
        return self.after is not None


def _line_order(line: str) -> int:
    return LINES.index(line) if line in LINES else len(LINES)


def _close(group: Group, rows: list[Any], limit: int) -> Group:
    rows.sort(key=lambda r: (r.term_end, r.id))
    group.rows = rows[:limit]
    if len(rows) > limit:
        last = group.rows[-1]
        group.after = PolicyCursor(last.term_end, last.id)
    return group


def first_cards(scope: Scope, filters: Filters, counts: Mapping[str, int], today: date) -> list[Group]:
    """The first cards of every line that has some, in the portal's order of lines: one statement."""
    lines = sorted(counts, key=_line_order)
    if not lines:
        return []
    params, words = _filter_params(scope, filters, today)
    params.update({f"line{index}": line for index, line in enumerate(lines)})
    stmt = _first_statement(len(lines), scope.ids is not None, filters.status, words)
    found: dict[str, list[Any]] = {line: [] for line in lines}
    for row in db.session.execute(stmt, params):
        found[row.line].append(row)
    return [_close(Group(line, counts[line]), found[line], FIRST_CARDS) for line in lines]


def policy_page(
    scope: Scope, filters: Filters, line: str, after: PolicyCursor | None, today: date, count: int = 0
) -> Group:
    """One page of ``PAGE_CARDS`` cards of ``line`` after ``after`` (from the start without): one statement."""
    params, words = _filter_params(scope, filters, today)
    params["line"] = line
    if after is not None:
        params.update(after_end=after.term_end, after_id=after.id)
    stmt = _page_statement(scope.ids is not None, filters.status, words, after is not None)
    return _close(Group(line, count), list(db.session.execute(stmt, params)), PAGE_CARDS)


def renews_soon(term_end: date, today: date) -> bool:
    """The term ends within the renewal window (and has not ended yet)."""
    return today <= term_end <= today + RENEWAL_WINDOW


# --- what needs the client --------------------------------------------------------------------------------


def _live(stmt: Any, listed: bool) -> Any:
    return _scoped(stmt, Policy.account_id, listed).where(*live())


def _typed_null(column: Any) -> Any:
    return cast(null(), column.type)


# The columns of the one statement of "Requiere atención" and "Próximos pagos": each branch fills its own
# and leaves the others NULL (typed, so that every backend unites them and the results are converted).
_ATTENTION_COLUMNS = {
    "policy_id": Receipt.policy_id,
    "id": Claim.id,
    "number": Receipt.number,
    "status": Receipt.status,
    "due_date": Receipt.due_date,
    "grace_until": Receipt.grace_until,
    "amount_cents": Receipt.amount_cents,
    "currency": Receipt.currency,
    "account_id": Policy.account_id,
    "policy_number": Policy.number,
    "product": Policy.product,
    "line": Policy.line,
    "phones": Insurer.support_phones,
    "requested_documents": Claim.requested_documents,
    "reported_at": Claim.reported_at,
    "term_end": Policy.term_end,
}


def _branch(kind: str, **columns: Any) -> list[Any]:
    """Every attention column, in order: those given, NULL for the others; and the branch's kind."""
    chosen: list[Any] = [literal_column(f"'{kind}'").label("kind")]
    for name, column in _ATTENTION_COLUMNS.items():
        chosen.append((columns[name] if name in columns else _typed_null(column)).label(name))
    return chosen


@cache
def _attention_statement(listed: bool) -> Any:
    """What needs the client and the upcoming payments in one statement (one round trip instead of three),
    built once per shape of scope: the first overdue receipts, the next receipt of the first policies due, the claims
    waiting for the client, the policies about to end. Each branch reads an index range and stops early.

    Receipts carry no account, so both receipt reads go through the policies' denormalised next due date
    (an index range per account) and join only the receipts of the first policies found. The overdue
    receipts of the first ``OVERDUE_READ`` policies by next due date include the first ``OVERDUE_READ``
    overdue receipts: every policy left out has its earliest one after theirs.
    """
    today: BindParameter[date] = bindparam("today")
    horizon: BindParameter[date] = bindparam("horizon")
    policy_columns = (
        Policy.id,
        Policy.account_id,
        Policy.insurer_id,
        Policy.number,
        Policy.product,
        Policy.line,
        Policy.next_due_date,
    )
    late = (
        _live(select(*policy_columns), listed)
        .where(Policy.next_due_date < today)
        .order_by(Policy.next_due_date, Policy.id)
        .limit(OVERDUE_READ)
        .subquery("late")
    )
    soon = (
        _live(select(*policy_columns), listed)
        .where(Policy.next_due_date >= today, Policy.next_due_date < horizon)
        .order_by(Policy.next_due_date, Policy.id)
        .limit(UPCOMING_READ)
        .subquery("soon")
    )
    branches = []
    for name, policies, when, limit in (
        ("overdue", late, Receipt.due_date < today, OVERDUE_READ),
        ("upcoming", soon, Receipt.due_date == soon.c.next_due_date, UPCOMING_READ),
    ):
        receipts = (
            select(
                *_branch(
                    "due",
                    policy_id=Receipt.policy_id,
                    number=Receipt.number,
                    status=Receipt.status,
                    due_date=Receipt.due_date,
                    grace_until=Receipt.grace_until,
                    amount_cents=Receipt.amount_cents,
                    currency=Receipt.currency,
                    account_id=policies.c.account_id,
                    policy_number=policies.c.number,
                    product=policies.c.product,
                    line=policies.c.line,
                    **({"phones": Insurer.support_phones} if name == "overdue" else {}),  # lapsed: whom to call
                )
            )
            .join(policies, policies.c.id == Receipt.policy_id)
            .where(Receipt.status.in_(DUE_RECEIPT_STATUSES), when)
            .order_by(Receipt.due_date, Receipt.id)
            .limit(limit)
        )
        if name == "overdue":
            receipts = receipts.join(Insurer, Insurer.id == policies.c.insurer_id)
        branches.append(receipts.subquery(name))
    waiting = _scoped(
        select(
            *_branch(
                "waiting",
                id=Claim.id,
                number=Claim.number,
                account_id=Claim.account_id,
                requested_documents=Claim.requested_documents,
                product=Policy.product,
                policy_number=Policy.number,
                reported_at=Claim.reported_at,
            )
        ).join(Policy, Policy.id == Claim.policy_id),
        Claim.account_id,
        listed,
    ).where(
        Claim.waiting_on_client.is_(True),
        Claim.status.in_(OPEN_CLAIM_STATUSES),
        Claim.removed_upstream_at.is_(None),
    )
    branches.append(waiting.order_by(Claim.reported_at, Claim.id).limit(MAX_ATTENTION).subquery("waiting"))
    renewals = _live(
        select(
            *_branch(
                "renewal",
                id=Policy.id,
                account_id=Policy.account_id,
                number=Policy.number,
                product=Policy.product,
                term_end=Policy.term_end,
            )
        ),
        listed,
    ).where(Policy.term_end >= today, Policy.term_end <= bindparam("renewal_end"))
    branches.append(renewals.order_by(Policy.term_end, Policy.id).limit(MAX_ATTENTION).subquery("renewals"))
    # A subquery each: SQLite takes no ORDER BY or LIMIT inside a compound's branch.
    return union_all(*(select(branch) for branch in branches))


@dataclass
class Attention:
    """The rows behind "Requiere atención" and "Próximos pagos"."""

    due: list[Row[Any]]  # unpaid receipts: the first overdue ones, then the next one of the first policies due
    waiting: list[Row[Any]]  # open claims waiting for the client, oldest reported first
    renewals: list[Row[Any]]  # live policies whose term ends within the renewal window, soonest first


def attention(scope: Scope, today: date) -> Attention:
    """Overdue and upcoming receipts, claims waiting for the client and renewals: one statement."""
    params: dict[str, Any] = {
        **scope.params(),
        "horizon": today + UPCOMING_WINDOW,
        "today": today,
        "renewal_end": today + RENEWAL_WINDOW,
    }
    found: dict[str, list[Row[Any]]] = {"due": [], "waiting": [], "renewal": []}
    for row in db.session.execute(_attention_statement(scope.ids is not None), params):
        found[row.kind].append(row)
    return Attention(
        due=sorted(found["due"], key=lambda r: (r.due_date, r.policy_id, r.number)),
        waiting=sorted(found["waiting"], key=lambda r: (r.reported_at, r.id)),
        renewals=sorted(found["renewal"], key=lambda r: (r.term_end, r.id)),
    )


# --- claims -------------------------------------------------------------------------------------------------


@cache
def _claims_statement(listed: bool, status: str, after: bool) -> Select[Any]:
    """One page of claims for one shape (scope, tab, position), built once."""
    stmt = _scoped(
        select(Claim).options(
            joinedload(Claim.policy).options(load_only(Policy.id, Policy.number, Policy.line, Policy.product)),
            joinedload(Claim.insurer),
        ),
        Claim.account_id,
        listed,
    )
    if status == "open":
        stmt = stmt.where(Claim.status.in_(OPEN_CLAIM_STATUSES))
    elif status == "closed":
        stmt = stmt.where(Claim.status.in_(CLOSED_CLAIM_STATUSES))
    if after:
        position = tuple_(bindparam("after_at", type_=Claim.reported_at.type), bindparam("after_id", type_=Integer()))
        stmt = stmt.where(tuple_(Claim.reported_at, Claim.id) < position)
    return stmt.order_by(Claim.reported_at.desc(), Claim.id.desc()).limit(CLAIMS_PAGE + 1)  # type: ignore[no-any-return]


@dataclass
class ClaimsPage:
    """One page of the claims list and where the next one starts."""

    claims: list[Claim]
    after: ClaimCursor | None


def claims_page(scope: Scope, status: str = "all", after: ClaimCursor | None = None) -> ClaimsPage:
    """``CLAIMS_PAGE`` claims of every profile the user may see, newest reported first: one statement."""
    params = scope.params()
    if after is not None:
        params.update(after_at=after.reported_at, after_id=after.id)
    stmt = _claims_statement(scope.ids is not None, status, after is not None)
    found = list(db.session.scalars(stmt, params).unique())
    page = found[:CLAIMS_PAGE]
    nxt = ClaimCursor(page[-1].reported_at, page[-1].id) if len(found) > CLAIMS_PAGE else None
    return ClaimsPage(page, nxt)


def claim_documents(claim: Claim) -> list[Document]:
    """The documents of an already access-checked claim."""
    return list(db.session.scalars(_statements()["claim_documents"], {"claim_id": claim.id}))


# --- details ------------------------------------------------------------------------------------------------


def coverage_name(policy_id: int, code: str | None) -> str | None:
    """The name a policy gives one of its coverage codes (claims name coverages by code)."""
    if not code:
        return None
    return db.session.scalar(_statements()["coverage_name"], {"policy_id": policy_id, "code": code})


def insurers_for_help() -> list[Insurer]:
    """Every insurer of the portal, with its phones, by name (the help page)."""
    return list(db.session.scalars(select(Insurer).order_by(Insurer.name)))


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
