"""The sync engine: the only place that turns connector records into rows (DESIGN §5).

A sync of one insurer account reads the connector's stream (``Connector.fetch_parts``: the client, then
pages of claims and policies) page by page, so that an account of any size syncs with flat memory, and
writes it all in one transaction at the end, so that a failure on page 40 changes nothing:

1. stage (``stage``): every part is checked as it comes (``connectors.models.PortfolioStream``; the
   records validate themselves) and turned into rows, hashes included. A record is "changed" when the
   hash of its content differs, so running the same sync twice writes nothing.
2. read (``Preparer``): each chunk of rows is compared with what the account holds (one read of the
   chunk's rows by external id within the insurer account: a group policy that reaches a company and
   its employees is each one's own row) and the values to write are converted for the driver. When
   the claims come first (GNP, Australis) this runs during the fetch, one short read at a time, while
   the insurer answers the next page; otherwise after it. Prepared chunks wait in a spool (pickled, in
   memory while small, then in a temporary file). No transaction stays open while the insurer answers.
3. write (``_write``): one transaction runs the prepared statements in bulk, chunk by chunk: new rows
   (the driver's executemany or COPY), changed rows by primary key, the children (coverages, receipts,
   documents) of new and changed policies rewritten; then rows the stream did not bring get
   ``removed_upstream_at``, never deleted. Only this step holds SQLite's write lock (other writers wait
   5 s at most): about 0.12 s per 1,000 new policies, nothing for an unchanged re-sync.

Any failure rolls back and only records the failure.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import logging
import operator
import pickle
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from flask import current_app
from sqlalchemy import ColumnElement, Table, and_, delete, or_, select, update
from sqlalchemy.orm import Session, joinedload

from aggregator import jobs, permits
from aggregator.config import BaseConfig
from aggregator.extensions import db
from aggregator.models import (
    Claim,
    ClientProfile,
    Coverage,
    Document,
    Insurer,
    InsurerAccount,
    Policy,
    Receipt,
    SyncRun,
)
from aggregator.models.types import utcnow
from aggregator.services import access, insurers
from connectors import models as cm
from connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    InsurerUnavailable,
    InvalidResponse,
    ReauthRequired,
)
from connectors.http import scrub

log = logging.getLogger(__name__)

OPEN_CLAIM_STATUSES = frozenset({"open", "under_review", "reopened"})
DUE_RECEIPT_STATUSES = frozenset({"pending", "overdue"})
CHUNK = 500  # parameters per IN (...) list: well under every backend's limit; also policies per applied chunk
SPOOL_MEMORY = 4 * 1024 * 1024  # bytes of staged rows kept in memory before they spill to a temporary file

_lane_locks: dict[str, threading.BoundedSemaphore] = {}
_lane_guard = threading.Lock()


# --- conversions ------------------------------------------------------------------------------


def cents(value: Decimal) -> int:
    """Money amounts are kept in integer cents (half-up rounding of anything finer)."""
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fold(text: str) -> str:
    """Lower case without accents: what search compares."""
    if text.isascii():  # nothing to decompose: the same result, without a call per character
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


INSURED_KINDS: dict[type, str] = {
    cm.Vehicle: "vehicle",
    cm.Device: "device",
    cm.Devices: "devices",
    cm.Home: "home",
    cm.InsuredPeople: "people",
}


def insured_json(insured: cm.InsuredObject | None) -> dict[str, Any] | None:
    """The insured object as JSON with its kind: ``connectors.models.as_plain`` of it, built directly from its
    fields (every policy of a sync goes through here: bench.large)."""
    if insured is None:
        return None
    data: dict[str, Any]
    if isinstance(insured, cm.Devices):
        data = {"devices": [dict(vars(d)) for d in insured.devices]}
    elif isinstance(insured, cm.InsuredPeople):
        data = {
            "people": [
                {**vars(p), "birth_date": p.birth_date.isoformat() if p.birth_date else None} for p in insured.people
            ]
        }
    else:  # Vehicle, Device, Home: text and numbers only
        data = dict(vars(insured))
    data["kind"] = INSURED_KINDS[type(insured)]
    return data


def insured_summary(insured: cm.InsuredObject | None) -> str | None:
    """One line naming what is insured: 'Nissan Versa Sense 2022 · ABC-123-D'."""
    if insured is None:
        return None
    if isinstance(insured, cm.Vehicle):
        name = " ".join(x for x in (insured.make, insured.model, insured.version, str(insured.year)) if x)
        return f"{name} · {insured.plate}" if insured.plate else name
    if isinstance(insured, cm.Device):
        return f"{insured.brand} {insured.model}"
    if isinstance(insured, cm.Devices):
        return ", ".join(f"{d.brand} {d.model}" for d in insured.devices)
    if isinstance(insured, cm.Home):
        return ", ".join(x for x in (insured.address, insured.city) if x)
    return ", ".join(p.name for p in insured.people)


# json.dumps with these arguments builds a new encoder on every call: one shared encoder gives the same
# bytes (so the same hashes) in two thirds of the time (bench.large: it hashes every policy of a sync).
_HASH_ENCODER = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def _digest(*parts: Any) -> str:
    blob = _HASH_ENCODER.encode(parts)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class PolicyRows:
    """One policy as column values, with its children, ready for bulk statements."""

    external_id: str
    values: dict[str, Any]
    coverages: list[dict[str, Any]]
    receipts: list[dict[str, Any]]
    documents: list[dict[str, Any]]

    def with_open_claims(self, open_claims: int) -> PolicyRows:
        """The same rows with ``open_claims`` set, and the hash that covers it recomputed."""
        if self.values["open_claims"] == open_claims:
            return self
        values = dict(self.values, open_claims=open_claims)
        values.pop("content_hash")
        values["content_hash"] = _digest(values, self.coverages, self.receipts, self.documents)
        return PolicyRows(self.external_id, values, self.coverages, self.receipts, self.documents)


def policy_rows(policy: cm.Policy, open_claims: int = 0) -> PolicyRows:
    """Column values for one policy and its children; ``content_hash`` covers all of them."""
    due = [r for r in policy.receipts if r.status.value in DUE_RECEIPT_STATUSES]
    next_due = min(due, key=lambda r: r.due_date) if due else None
    summary = insured_summary(policy.insured)
    values: dict[str, Any] = {
        "external_id": policy.external_id,
        "number": policy.number,
        "line": policy.line.value,
        "product": policy.product,
        "status": policy.status.value,
        "insurer_status": policy.insurer_status,
        "term_start": policy.term_start,
        "term_end": policy.term_end,
        "premium_cents": cents(policy.premium.amount),
        "currency": policy.premium.currency,
        "payment_frequency": policy.payment_frequency.value,
        "holder_name": policy.holder.name,
        "holder_kind": policy.holder.kind.value,
        "group_policy": policy.group,
        "insured": insured_json(policy.insured),
        "insured_summary": summary,
        "search_text": fold(" ".join(x for x in (policy.number, policy.product, summary, policy.holder.name) if x)),
        "next_due_date": next_due.due_date if next_due else None,
        "next_due_cents": cents(next_due.amount.amount) if next_due else None,
        "open_claims": open_claims,
    }
    coverages = []
    for position, c in enumerate(policy.coverages):
        d = c.deductible
        coverages.append(
            {
                "position": position,
                "code": c.code,
                "name": c.name,
                "covered": c.covered,
                "sum_insured_cents": cents(c.sum_insured.amount) if c.sum_insured else None,
                "currency": c.sum_insured.currency if c.sum_insured else None,
                "sum_insured_basis": c.sum_insured_basis,
                "deductible_kind": d.kind.value if d else None,
                "deductible_basis_points": cents(d.percentage) if d and d.percentage is not None else None,
                "deductible_cents": cents(d.amount.amount) if d and d.amount else None,
                "deductible_basis": d.basis if d else None,
                "notes": c.notes,
            }
        )
    receipts = [
        {
            "number": r.number,
            "due_date": r.due_date,
            "amount_cents": cents(r.amount.amount),
            "currency": r.amount.currency,
            "status": r.status.value,
            "period_start": r.period_start,
            "period_end": r.period_end,
            "grace_until": r.grace_until,
            "paid_at": r.paid_at,
            "method": r.method,
        }
        for r in policy.receipts
    ]
    documents = [
        {"source": "insurer", "ref": d.ref, "kind": d.kind.value, "title": d.title, "media_type": d.media_type}
        for d in policy.documents
    ]
    values["content_hash"] = _digest(values, coverages, receipts, documents)
    return PolicyRows(policy.external_id, values, coverages, receipts, documents)


def claim_rows(claim: cm.Claim) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Column values for one claim (hash included) and its documents."""
    some_amount = claim.claimed_amount or claim.paid_amount
    currency = some_amount.currency if some_amount else None
    values: dict[str, Any] = {
        "external_id": claim.external_id,
        "number": claim.number,
        "occurred_at": claim.occurred_at,
        "reported_at": claim.reported_at,
        "status": claim.status.value,
        "insurer_status": claim.insurer_status,
        "description": claim.description,
        "coverage_code": claim.coverage_code,
        "claimed_cents": cents(claim.claimed_amount.amount) if claim.claimed_amount else None,
        "paid_cents": cents(claim.paid_amount.amount) if claim.paid_amount else None,
        "currency": currency,
        "history": [
            {"at": e.at.isoformat(), "status": e.status.value, "insurer_status": e.insurer_status, "note": e.note}
            for e in sorted(claim.history, key=lambda e: e.at)
        ],
        "waiting_on_client": claim.waiting_on_client,
        "requested_documents": list(claim.requested_documents),
    }
    documents = [
        {"source": "insurer", "ref": d.ref, "kind": d.kind.value, "title": d.title, "media_type": d.media_type}
        for d in claim.documents
    ]
    values["content_hash"] = _digest(values, documents)
    return values, documents


# --- stage: the stream checked and turned into rows ------------------------------------------------


@dataclass
class Counts:
    added: int = 0
    changed: int = 0
    removed: int = 0


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _policy_currencies(policy: cm.Policy) -> set[str]:
    found = {policy.premium.currency, *(r.amount.currency for r in policy.receipts)}
    for c in policy.coverages:
        if c.sum_insured is not None:
            found.add(c.sum_insured.currency)
        if c.deductible is not None and c.deductible.amount is not None:
            found.add(c.deductible.amount.currency)
    return found


def _claim_currencies(claim: cm.Claim) -> set[str]:
    return {m.currency for m in (claim.claimed_amount, claim.paid_amount) if m is not None}


def portfolio_currencies(portfolio: cm.Portfolio) -> list[str]:
    """Every currency an amount of the portfolio is in (premiums, receipts, limits, deductibles, claims), sorted."""
    found: set[str] = set()
    for p in portfolio.policies:
        found |= _policy_currencies(p)
    for claim in portfolio.claims:
        found |= _claim_currencies(claim)
    return sorted(found)


class Spool:
    """Chunks of rows written once and read back once, in order: in memory while small, then on disk.

    Pickle is safe here: the process reads back only what it wrote itself, into an anonymous
    temporary file that no one else can name.
    """

    def __init__(self, memory: int = SPOOL_MEMORY) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=memory)  # noqa: SIM115 - closed by close()
        self.chunks = 0

    def write(self, chunk: list[Any]) -> None:
        pickle.dump(chunk, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.chunks += 1

    def read(self) -> Iterator[list[Any]]:
        """Every chunk, in the order written."""
        self._file.seek(0)
        for _ in range(self.chunks):
            yield pickle.load(self._file)  # noqa: S301 - our own temporary file (see the class docstring)

    @property
    def on_disk(self) -> bool:
        return bool(getattr(self._file, "_rolled", False))

    def close(self) -> None:
        self._file.close()


# Children travel through the spool as tuples in these column orders (a third of the pickled size of
# dicts, and what the driver's executemany takes): see ``_spooled`` and ``_RawInsert``.
COVERAGE_COLUMNS = (
    "position", "code", "name", "covered", "sum_insured_cents", "currency", "sum_insured_basis",
    "deductible_kind", "deductible_basis_points", "deductible_cents", "deductible_basis", "notes",
)  # fmt: skip
RECEIPT_COLUMNS = (
    "number", "due_date", "amount_cents", "currency", "status", "period_start", "period_end", "grace_until",
    "paid_at", "method",
)  # fmt: skip
DOCUMENT_COLUMNS = ("source", "ref", "kind", "title", "media_type")

# A policy in the spool: external id, column values, coverages, receipts, documents (tuples as above).
Spooled = tuple[str, dict[str, Any], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


_coverage_tuple = operator.itemgetter(*COVERAGE_COLUMNS)
_receipt_tuple = operator.itemgetter(*RECEIPT_COLUMNS)
_document_tuple = operator.itemgetter(*DOCUMENT_COLUMNS)


def _spooled(rows: PolicyRows) -> Spooled:
    return (
        rows.external_id,
        rows.values,
        [_coverage_tuple(c) for c in rows.coverages],
        [_receipt_tuple(r) for r in rows.receipts],
        [_document_tuple(d) for d in rows.documents],
    )


def _unspooled(item: Spooled) -> PolicyRows:
    ext, values, coverages, receipts, documents = item
    return PolicyRows(
        ext,
        values,
        [dict(zip(COVERAGE_COLUMNS, c, strict=True)) for c in coverages],
        [dict(zip(RECEIPT_COLUMNS, r, strict=True)) for r in receipts],
        [dict(zip(DOCUMENT_COLUMNS, d, strict=True)) for d in documents],
    )


def _with_open_claims(item: Spooled, open_claims: int) -> Spooled:
    """A spooled policy with ``open_claims`` set (its hash covers it: recomputed for the few that change)."""
    if item[1]["open_claims"] == open_claims:
        return item
    values = _unspooled(item).with_open_claims(open_claims).values
    return (item[0], values, item[2], item[3], item[4])


@dataclass
class ClaimRows:
    """One claim as column values (hash included), its documents, and the policy it belongs to."""

    external_id: str
    policy_external_id: str
    values: dict[str, Any]
    documents: list[tuple[Any, ...]]  # in DOCUMENT_COLUMNS order


@dataclass
class Staged:
    """A whole portfolio, checked and turned into rows, waiting in spools to be applied."""

    client: cm.ClientMatch
    policies: Spool  # chunks of Spooled policies (open_claims 0: set when applied, see ``open_by_policy``)
    claims: Spool  # chunks of ClaimRows
    open_by_policy: dict[str, int] = field(default_factory=dict)  # only policies with open claims
    currencies: list[str] = field(default_factory=list)
    policy_count: int = 0
    claim_count: int = 0
    prepared: _Prepared | None = None  # the reading pass, done during the fetch (see ``stage``)

    def close(self) -> None:
        self.policies.close()
        self.claims.close()
        if self.prepared is not None:
            self.prepared.close()


class Restage(Exception):
    """A claim came after the policy it names was prepared (its hash then covered another count): the
    stream must be staged again without preparing as it goes (``sync_account`` does)."""


def stage(
    parts: Iterable[object],
    client_ref: str,
    *,
    give_up_at: float | None = None,
    chunk: int = CHUNK,
    preparer: Preparer | None = None,
) -> Staged:
    """Check a portfolio stream part by part and spool it as rows; nothing is written to the database.

    Memory holds one chunk of rows and the ids seen so far, whatever the size of the portfolio.
    ``give_up_at`` (time.monotonic()): a stream still running then fails (InsurerUnavailable).

    ``preparer``: when the stream brings claims first (GNP and Australis do: a policy's hash covers its
    open claims, final then), the reading pass of the apply runs chunk by chunk during the fetch, while
    the insurer answers the next page, and ``Staged.prepared`` holds it; a claim that comes after the
    policy it names was prepared raises ``Restage``. Otherwise the rows wait in ``Staged.policies`` and
    ``Staged.claims`` for the reading pass after the fetch. A broken stream raises; its spools are closed.
    """
    check = cm.PortfolioStream(client_ref)
    staged = Staged(cm.ClientMatch(client_ref, "?", cm.PartyKind.PERSON), Spool(), Spool())
    pending_policies: list[Spooled] = []
    pending_claims: list[ClaimRows] = []
    open_by_policy = staged.open_by_policy
    prepared_policies: set[str] = set()
    currencies: set[str] = set()
    incremental: bool | None = None  # decided by the first page: claims first, or not

    def flush_policies() -> None:
        nonlocal pending_policies
        if incremental and preparer is not None:
            preparer.add_policies([_with_open_claims(r, open_by_policy.get(r[0], 0)) for r in pending_policies])
            prepared_policies.update(r[0] for r in pending_policies)
        else:
            staged.policies.write(pending_policies)
        pending_policies = []

    def flush_claims() -> None:
        nonlocal pending_claims
        if incremental and preparer is not None:
            preparer.add_claims(pending_claims)
        else:
            staged.claims.write(pending_claims)
        pending_claims = []

    iterator = iter(parts)
    try:
        for part in iterator:
            check.check(part)
            if give_up_at is not None and time.monotonic() > give_up_at:
                raise InsurerUnavailable("the insurer's answer outlasted the sync lock")
            if incremental is None and isinstance(part, cm.PolicyPage | cm.ClaimPage):
                incremental = preparer is not None and isinstance(part, cm.ClaimPage)
            if isinstance(part, cm.PolicyPage):
                for policy in part.policies:
                    pending_policies.append(_spooled(policy_rows(policy)))
                    currencies |= _policy_currencies(policy)
                staged.policy_count += len(part.policies)
                if len(pending_policies) >= chunk:
                    flush_policies()
            elif isinstance(part, cm.ClaimPage):
                for claim in part.claims:
                    values, documents = claim_rows(claim)
                    docs = [_document_tuple(d) for d in documents]
                    pending_claims.append(ClaimRows(claim.external_id, claim.policy_external_id, values, docs))
                    currencies |= _claim_currencies(claim)
                    if claim.status.value in OPEN_CLAIM_STATUSES:
                        open_by_policy[claim.policy_external_id] = open_by_policy.get(claim.policy_external_id, 0) + 1
                        if claim.policy_external_id in prepared_policies:
                            raise Restage(f"a claim came after its policy {len(prepared_policies)} policies in")
                staged.claim_count += len(part.claims)
                if len(pending_claims) >= chunk:
                    flush_claims()
        check.finish()
        if pending_policies:
            flush_policies()
        if pending_claims:
            flush_claims()
        if incremental and preparer is not None:
            staged.prepared = preparer.finish()
        elif preparer is not None:
            preparer.close()  # its reading pass runs after the fetch, over the staged rows
    except BaseException:
        staged.close()
        if preparer is not None:
            preparer.close()
        raise
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:  # a connector's generator stops its own work (a page read ahead) at once
            close()
    assert check.client is not None
    staged.client, staged.currencies = check.client, sorted(currencies)
    return staged


# --- apply: one transaction, chunk by chunk -----------------------------------------------------------


def apply_portfolio(session: Session, account: InsurerAccount, portfolio: cm.Portfolio, now: datetime) -> Counts:
    """Upsert a validated portfolio held in memory into ``account``'s rows; flushes, never commits."""
    staged = stage(cm.portfolio_parts(portfolio), portfolio.client.client_ref)
    try:
        return apply_staged(session, account, staged, now)
    finally:
        staged.close()


def apply_staged(session: Session, account: InsurerAccount, staged: Staged, now: datetime) -> Counts:
    """Upsert a staged portfolio into ``account``'s rows; flushes, never commits.

    Two passes, so that the writes hold SQLite's write lock (one writer at a time: web requests wait
    5 s at most) only as long as the database itself needs: first every read, comparison and value
    conversion, chunk by chunk into another spool; then only the prepared statements.
    """
    if staged.client.client_ref != account.client_ref:
        raise InvalidResponse("the portfolio belongs to another client")
    prepared = staged.prepared or _prepare(session, account, staged, now)
    try:
        return _write(session, account, staged, prepared, now)
    finally:
        prepared.close()


_sqlite_turns: dict[str, threading.Lock] = {}
_sqlite_turns_guard = threading.Lock()


@contextlib.contextmanager
def write_turn(session: Session) -> Iterator[None]:
    """Hold this for a sync's writing pass through its commit: on SQLite (one writer at a time), the syncs
    of one process take turns instead of waiting 5 s for each other's lock and failing ("database is
    locked") when a large first sync writes for longer. Other processes and PostgreSQL: no effect."""
    url = session.get_bind().engine.url
    if url.get_backend_name() != "sqlite":
        yield
        return
    with _sqlite_turns_guard:
        turn = _sqlite_turns.setdefault(str(url.database), threading.Lock())
    with turn:
        yield


@dataclass
class _PolicyChunk:
    """One chunk of policies, ready to write: every value converted, every comparison made."""

    columns: tuple[str, ...]  # of the new rows
    new: list[tuple[Any, ...]]  # policy rows to insert, converted
    new_children: dict[str, tuple[list[tuple[Any, ...]], ...]]  # ext -> (coverages, receipts, documents)
    updates: list[dict[str, Any]]  # changed policy rows, by primary key
    updated_ids: list[int]
    updated_children: tuple[list[tuple[Any, ...]], ...]  # (coverages, receipts, documents), policy ids in


@dataclass
class _ClaimChunk:
    """One chunk of claims, ready to write but for their policy ids (new policies get theirs when written)."""

    columns: tuple[str, ...]  # of the new rows: policy_id first (None until the policies are written)
    new: list[tuple[str, tuple[Any, ...], list[tuple[Any, ...]]]]  # (policy ext, converted row, documents)
    updates: list[tuple[str, dict[str, Any], list[tuple[Any, ...]]]]


@dataclass
class _Prepared:
    """The result of the reading pass."""

    policies: Spool  # _PolicyChunk
    claims: Spool  # _ClaimChunk
    policy_ids: dict[str, int]  # external id -> id of the policies that exist already
    gone_policies: list[int]
    gone_claims: list[int]

    def close(self) -> None:
        self.policies.close()
        self.claims.close()


class _Converter:
    """Column values as the driver takes them (SQLAlchemy's bind processor of each column, public API)."""

    def __init__(self, dialect: Any, model: type[Any], columns: Sequence[str]) -> None:
        table = _table(model)
        processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        self.processors = [(i, fn) for i, fn in enumerate(processors) if fn is not None]

    def __call__(self, rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        rows = list(rows)
        if not self.processors or not rows:
            return rows
        columns: list[Any] = list(zip(*rows, strict=True))  # column by column: one call per value, no more
        for i, fn in self.processors:
            columns[i] = [None if v is None else fn(v) for v in columns[i]]
        return list(zip(*columns, strict=True))


CHILDREN = (  # model, its columns in the rows, the policy_id / claim_id columns first
    (Coverage, ("policy_id", *COVERAGE_COLUMNS)),
    (Receipt, ("policy_id", *RECEIPT_COLUMNS)),
    (Document, ("policy_id", "claim_id", *DOCUMENT_COLUMNS)),
)


def _gone(session: Session, model: type[Policy] | type[Claim], account_id: int, seen: set[int]) -> list[int]:
    """The account's rows not removed upstream yet that the sync did not see."""
    live = session.scalars(select(model.id).where(model.account_id == account_id, model.removed_upstream_at.is_(None)))
    return [pk for pk in live if pk not in seen]


class Preparer:
    """The reading pass of one account's sync, chunk by chunk: compare each chunk with what the account holds
    and convert what is to be written; the prepared chunks wait in spools for the writing pass.

    Rows are this account's own (unique by account and external id), and one sync at a time holds an
    account, so nothing else writes them between this pass and the next. ``after_read`` runs after each
    read (PostgreSQL: end its transaction, so that none stays open while the insurer answers).
    """

    def __init__(
        self, session: Session, account: InsurerAccount, now: datetime, after_read: Callable[[], None] | None = None
    ) -> None:
        self.session, self.account_id, self.now, self.after_read = session, account.id, now, after_read
        dialect = session.get_bind().dialect
        self.cov, self.rec, self.doc = (_Converter(dialect, model, columns[1:]) for model, columns in CHILDREN)
        self.claim_doc = _Converter(dialect, Document, DOCUMENT_COLUMNS)
        self.base = {
            "insurer_id": account.insurer_id,
            "account_id": account.id,
            "first_seen_at": now,
            "changed_at": now,
        }
        self.policies, self.claims = Spool(), Spool()
        self.policy_ids: dict[str, int] = {}
        self.seen_claims: set[int] = set()
        self._dialect = dialect
        self._rows: dict[type, tuple[tuple[str, ...], _Converter]] = {}  # new rows' columns, by model

    def _new_rows(self, model: type[Any], rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """New rows (same keys each) as converted tuples, and their columns."""
        if not rows:
            return (), []
        if model not in self._rows:
            columns = tuple(rows[0])
            self._rows[model] = (columns, _Converter(self._dialect, model, columns))
        columns, convert = self._rows[model]
        return columns, convert(tuple(row[c] for c in columns) for row in rows)

    def _existing(self, model: type[Policy] | type[Claim], externals: list[str]) -> dict[str, tuple[int, str, Any]]:
        """ext -> (id, content hash, removed upstream) of the account's rows among ``externals``."""
        columns = (model.id, model.external_id, model.content_hash, model.removed_upstream_at)
        stmt = select(*columns).where(model.account_id == self.account_id, model.external_id.in_(externals))
        found = {ext: (pk, digest, removed) for pk, ext, digest, removed in self.session.execute(stmt)}
        if self.after_read is not None:
            self.after_read()
        return found

    def add_policies(self, rows: list[Spooled]) -> None:
        """Prepare one chunk of policies (their open-claims counts final)."""
        existing = self._existing(Policy, [r[0] for r in rows])
        ready = _PolicyChunk((), [], {}, [], [], ([], [], []))
        cov, rec, doc, now = self.cov, self.rec, self.doc, self.now
        new: list[dict[str, Any]] = []
        for ext, values, coverages, receipts, documents in rows:
            found = existing.get(ext)
            if found is None:
                new.append(dict(values, **self.base))
                ready.new_children[ext] = (cov(coverages), rec(receipts), doc((None, *d) for d in documents))
                continue
            pk, digest, removed = found
            self.policy_ids[ext] = pk
            if digest != values["content_hash"] or removed is not None:
                ready.updates.append(dict(values, id=pk, changed_at=now, removed_upstream_at=None))
                ready.updated_ids.append(pk)
                ready.updated_children[0].extend((pk, *c) for c in cov(coverages))
                ready.updated_children[1].extend((pk, *r) for r in rec(receipts))
                ready.updated_children[2].extend((pk, *d) for d in doc((None, *d) for d in documents))
        ready.columns, ready.new = self._new_rows(Policy, new)
        self.policies.write([ready])

    def add_claims(self, rows: list[ClaimRows]) -> None:
        """Prepare one chunk of claims."""
        existing = self._existing(Claim, [c.external_id for c in rows])
        ready = _ClaimChunk((), [], [])
        new: list[tuple[str, dict[str, Any], list[tuple[Any, ...]]]] = []
        for c in rows:
            found = existing.get(c.external_id)
            documents = self.claim_doc(c.documents)
            if found is None:
                new.append((c.policy_external_id, {"policy_id": None, **c.values, **self.base}, documents))
                continue
            pk, digest, removed = found
            self.seen_claims.add(pk)
            if digest != c.values["content_hash"] or removed is not None:
                row = dict(c.values, id=pk, changed_at=self.now, removed_upstream_at=None)
                ready.updates.append((c.policy_external_id, row, documents))
        ready.columns, converted = self._new_rows(Claim, [row for _ext, row, _docs in new])
        ready.new = [(ext, row, docs) for (ext, _row, docs), row in zip(new, converted, strict=True)]
        self.claims.write([ready])

    def finish(self) -> _Prepared:
        """Every chunk prepared: find what the account holds that the stream did not bring."""
        gone = [_gone(self.session, model, self.account_id, seen) for model, seen in
                ((Policy, set(self.policy_ids.values())), (Claim, self.seen_claims))]  # fmt: skip
        if self.after_read is not None:
            self.after_read()
        return _Prepared(self.policies, self.claims, self.policy_ids, gone[0], gone[1])

    def close(self) -> None:
        self.policies.close()
        self.claims.close()


def _prepare(session: Session, account: InsurerAccount, staged: Staged, now: datetime) -> _Prepared:
    """The reading pass over a whole staged portfolio (when it could not be done during the fetch)."""
    preparer = Preparer(session, account, now)
    try:
        for chunk in staged.policies.read():
            preparer.add_policies([_with_open_claims(r, staged.open_by_policy.get(r[0], 0)) for r in chunk])
        for claim_chunk in staged.claims.read():
            preparer.add_claims(claim_chunk)
        return preparer.finish()
    except BaseException:
        preparer.close()
        raise


def _write(session: Session, account: InsurerAccount, staged: Staged, prepared: _Prepared, now: datetime) -> Counts:
    """The writing pass: the prepared statements, in bulk, chunk by chunk."""
    counts = Counts()
    if list(account.currencies or ()) != staged.currencies:  # the summary pages read instead of every policy
        account.currencies = staged.currencies
    policy_ids = prepared.policy_ids
    for (ready,) in prepared.policies.read():
        ids = _insert_new(session, Policy, account.id, ready.columns, ready.new)
        if ready.updates:
            session.execute(update(Policy), ready.updates)
        _rewrite_children(session, ready, ids)
        policy_ids.update(ids)
        counts.added += len(ready.new)
        counts.changed += len(ready.updates)
    for (ready,) in prepared.claims.read():
        new_rows = [(policy_ids[ext], *row[1:]) for ext, row, _docs in ready.new]  # policy_id comes first
        claim_ids = _insert_new(session, Claim, account.id, ready.columns, new_rows)
        if ready.updates:
            session.execute(update(Claim), [dict(row, policy_id=policy_ids[ext]) for ext, row, _docs in ready.updates])
        updated_ids = [row["id"] for _ext, row, _docs in ready.updates]
        for part in _chunks(updated_ids):  # new claims have no documents yet
            session.execute(delete(Document).where(Document.claim_id.in_(part)))
        external = ready.columns.index("external_id") if ready.columns else 0
        documents = [(None, claim_ids[row[external]], *d) for _e, row, docs in ready.new for d in docs]
        documents += [(None, row["id"], *d) for _e, row, docs in ready.updates for d in docs]
        _RawInsert(session, Document, CHILDREN[2][1]).execute(documents)
        counts.added += len(new_rows)
        counts.changed += len(ready.updates)
    for model, gone in ((Policy, prepared.gone_policies), (Claim, prepared.gone_claims)):
        for part in _chunks(gone):
            session.execute(update(model).where(model.id.in_(part)).values(removed_upstream_at=now, changed_at=now))
        counts.removed += len(gone)
    session.flush()
    return counts


def _table(model: type[Any]) -> Table:
    """The Core table of a mapped class."""
    return cast(Table, model.__table__)


def _insert_new(
    session: Session,
    model: type[Policy] | type[Claim],
    account_id: int,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> dict[str, int]:
    """Bulk insert of new policy or claim rows of one account (converted, in ``columns`` order); ext -> id.

    The driver's own bulk path (``_RawInsert``), then one read of the ids by (account, external id), an
    index: Core's INSERT ... RETURNING pages cost more client CPU (psycopg parses each page placeholder by
    placeholder: 2 s of a 10,000-policy first sync on PostgreSQL, bench.large) and ran inside the write lock.
    """
    if not rows:
        return {}
    _RawInsert(session, model, columns).execute(rows)
    external = columns.index("external_id")
    found = select(model.id, model.external_id).where(
        model.account_id == account_id, model.external_id.in_([row[external] for row in rows])
    )
    return {ext: pk for pk, ext in session.execute(found)}


class _RawInsert:
    """A bulk INSERT of values already converted for the driver (``_Converter``), straight to the driver:
    ``COPY ... FROM STDIN`` on PostgreSQL (psycopg), ``executemany`` on SQLite.

    Why not Core's ``insert(table)`` with dicts: for the children of a first sync (≈22 rows a policy) its
    per-row parameter handling cost more than the database's own work, and inside the write lock
    (bench.large, first sync of 10,000 policies: SQLite apply 2.9 s → 1.1 s; PostgreSQL's executemany a
    row at a time, ~3 s of the client's CPU, is replaced by one COPY). ``tests/integration/test_sync_stream.py``
    checks that what is read back is what the records say, on both databases.
    """

    def __init__(self, session: Session, model: type[Any], columns: Sequence[str]) -> None:
        table = _table(model)
        self.session = session
        dialect = session.get_bind().dialect
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in columns)
        # Identifiers from our own metadata, quoted by the dialect; every value is a bound parameter.
        self.copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        if self.copy:
            self.sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        else:
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            marks = ", ".join(mark for _ in columns)
            self.sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"  # noqa: S608

    def execute(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        connection = self.session.connection()
        if not self.copy:
            connection.exec_driver_sql(self.sql, rows)
            return
        driver: Any = connection.connection.dbapi_connection  # the psycopg connection, in this transaction
        with driver.cursor() as cursor, cursor.copy(self.sql) as copy:
            for row in rows:
                copy.write_row(row)


def _rewrite_children(session: Session, ready: _PolicyChunk, new_ids: dict[str, int]) -> None:
    """Write coverages, receipts and documents of new policies and replace those of changed ones, in bulk."""
    for chunk in _chunks(ready.updated_ids):  # new policies have no children yet
        session.execute(delete(Coverage).where(Coverage.policy_id.in_(chunk)))
        session.execute(delete(Receipt).where(Receipt.policy_id.in_(chunk)))
        session.execute(delete(Document).where(Document.policy_id.in_(chunk)))
    for index, (model, columns) in enumerate(CHILDREN):
        rows = list(ready.updated_children[index])
        for ext, children in ready.new_children.items():
            pid = new_ids[ext]
            rows += [(pid, *row) for row in children[index]]  # documents: (policy_id, claim_id None, ...)
        _RawInsert(session, model, columns).execute(rows)


# --- one sync -----------------------------------------------------------------------------------

ERROR_CODES: tuple[tuple[type[Exception], str], ...] = (
    (ReauthRequired, "reauth"),
    (AuthenticationFailed, "auth"),
    (InsurerUnavailable, "unavailable"),
    (InvalidResponse, "invalid"),
    (ValueError, "invalid"),  # a record that failed its own validation
    (ConnectorError, "unavailable"),
)


def error_code(exc: BaseException) -> str:
    """The code a failed sync records; the UI turns it into words."""
    for kind, code in ERROR_CODES:
        if isinstance(exc, kind):
            return code
    return "internal"


def _lane_lock(slug: str) -> AbstractContextManager[Any]:
    """The bound on syncs talking to one insurer at once (``SYNC_CONCURRENCY_PER_INSURER``).

    With the Celery backend, across every worker process: a Redis semaphore whose permits a dead
    worker cannot keep (``aggregator.permits``). With the thread backend, within this process.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    size = int(app.config.get("SYNC_CONCURRENCY_PER_INSURER") or BaseConfig.SYNC_CONCURRENCY_PER_INSURER)
    if jobs.backend_for(app).name == "celery":
        return permits.semaphore(app, f"insurer:{slug}", size).held()
    with _lane_guard:
        lock = _lane_locks.get(slug)
        if lock is None:
            lock = _lane_locks[slug] = threading.BoundedSemaphore(size)
        return lock


@functools.cache
def _freeze_long_lived() -> None:
    """Once per process, before its first sync: keep what is alive by then (the app, SQLAlchemy's metadata,
    imported modules) out of the garbage collector's full passes.

    A large sync allocates millions of short-lived objects; each full collection they trigger re-scanned
    the process's long-lived ones, a quarter of a 10,000-policy sync's CPU (bench.large: staging CPU
    6.2 s → 4.8 s). ``gc.freeze`` is CPython's documented way (for servers that load everything first);
    frozen objects are still freed by reference counting.
    """
    gc.freeze()


def sync_interval() -> timedelta:
    return timedelta(minutes=float(current_app.config.get("SYNC_INTERVAL_MINUTES") or 360))


def retry_delay(failures: int, retry_after: float | None = None) -> timedelta:
    """Backoff after ``failures`` consecutive failures: 2, 4, 8... minutes, never beyond the interval."""
    base = float(current_app.config.get("SYNC_RETRY_BASE_MINUTES") or 2)
    interval = sync_interval()
    minutes = base * 2 ** min(max(0, failures - 1), 40)  # bounded exponent: weeks of failures stay a timedelta
    delay = min(timedelta(minutes=min(minutes, interval.total_seconds() / 60)), interval)
    if retry_after:
        delay = min(max(delay, timedelta(seconds=retry_after)), interval)
    return delay


def sync_account(account_id: int, trigger: str = "refresh") -> SyncRun | None:
    """Fetch one insurer account page by page, then apply it in one transaction; None when another sync holds it.

    Runs as a job, never inside a request, and commits its own steps: the claim on the account (so
    other workers see it), then, with no transaction open while the insurer answers (the stream is
    staged, see ``stage``), the result.
    """
    session = db.session
    now = utcnow()
    lock_age = timedelta(minutes=float(current_app.config.get("SYNC_LOCK_MINUTES") or 10))
    claimed = session.execute(
        update(InsurerAccount)
        .where(
            InsurerAccount.id == account_id,
            or_(InsurerAccount.sync_started_at.is_(None), InsurerAccount.sync_started_at < now - lock_age),
        )
        .values(sync_started_at=now)
    )
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        session.rollback()
        return None
    run = SyncRun(account_id=account_id, trigger=trigger, started_at=now, outcome="running")
    session.add(run)
    session.commit()

    account = session.get(InsurerAccount, account_id, options=[joinedload(InsurerAccount.insurer)])
    assert account is not None
    slug = account.insurer.slug
    session.commit()  # hold no connection (nor, on PostgreSQL, an open transaction) while the insurer answers
    conn = insurers.connector(slug)
    _freeze_long_lived()
    staged: Staged | None = None
    try:
        if conn is None:
            raise AuthenticationFailed(f"{slug} is not enabled")
        # The reading pass runs page by page during the fetch, each read its own short transaction: the
        # insurer's latency hides it, and no transaction stays open while the insurer answers.
        with _lane_lock(slug):
            # Give up well before the lock age, so that a sync still fetching is never taken over.
            give_up_at = time.monotonic() + 0.8 * lock_age.total_seconds()
            preparer = Preparer(session(), account, now, after_read=session.commit)
            try:
                parts = conn.fetch_parts(account.client_ref)
                staged = stage(parts, account.client_ref, give_up_at=give_up_at, preparer=preparer)
            except Restage:  # claims and policies interleaved: once more, the reading pass after the fetch
                staged = stage(conn.fetch_parts(account.client_ref), account.client_ref, give_up_at=give_up_at)
        if staged.client.client_ref != account.client_ref:
            raise InvalidResponse("the portfolio belongs to another client")
        prepared = staged.prepared or _prepare(session(), account, staged, now)  # reads only: no write lock yet
        staged.prepared = None
        staged.close()  # read: its temporary files can go before the writes
        try:
            with write_turn(session()):
                counts = _write(session(), account, staged, prepared, now)
                finished = utcnow()
                account.health = "ok"
                account.last_success_at = finished
                account.last_error = None
                account.failures = 0
                account.next_sync_at = finished + sync_interval()
                account.sync_started_at = None
                account.sync_queued_at = None
                run.outcome, run.finished_at = "ok", finished
                run.added, run.changed, run.removed = counts.added, counts.changed, counts.removed
                session.commit()  # inside the try: a commit that fails is a failed sync too, and is recorded
        finally:
            prepared.close()
    except Exception as exc:
        session.rollback()
        _record_failure(account_id, run.id, exc)
        return session.get(SyncRun, run.id)
    finally:
        if staged is not None:
            staged.close()
    return run


def _record_failure(account_id: int, run_id: int, exc: BaseException) -> None:
    session = db.session
    code = error_code(exc)
    if code == "internal":
        log.exception("sync of insurer account %s failed", account_id, exc_info=exc)
    else:
        log.warning("sync of insurer account %s failed: %s: %s", account_id, type(exc).__name__, scrub(str(exc)))
    account = session.get(InsurerAccount, account_id)
    run = session.get(SyncRun, run_id)
    assert account is not None and run is not None
    now = utcnow()
    account.failures = (account.failures or 0) + 1
    account.last_failure_at = now
    account.last_error = code
    if code in ("auth", "reauth"):
        account.health = "needs_attention"
    else:
        account.health = "stale" if account.last_success_at is not None else "error"
    retry_after = getattr(exc, "retry_after", None)
    account.next_sync_at = now + retry_delay(account.failures, retry_after)
    account.sync_started_at = None
    account.sync_queued_at = None
    run.outcome, run.finished_at, run.error = "failed", now, code
    run.detail = scrub(f"{type(exc).__name__}: {exc}")[:300]
    session.commit()


@jobs.handler("sync")
def _sync_job(payload: dict[str, Any]) -> None:
    sync_account(int(payload["account_id"]), str(payload.get("trigger") or "refresh"))


# --- asking for syncs ---------------------------------------------------------------------------


def _free(stamp: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """No sync queued or running for the account (or one older than ``SYNC_LOCK_MINUTES``: presumed dead)."""
    lock_age = timedelta(minutes=float(current_app.config.get("SYNC_LOCK_MINUTES") or 10))
    return (
        or_(InsurerAccount.sync_queued_at.is_(None), InsurerAccount.sync_queued_at < stamp - lock_age),
        or_(InsurerAccount.sync_started_at.is_(None), InsurerAccount.sync_started_at < stamp - lock_age),
    )


def queue_syncs(which: ColumnElement[bool], trigger: str, user_id: int | None = None) -> tuple[datetime, list[int]]:
    """Queue a sync of every account matching ``which`` that has none queued or running.

    The same three statements however many accounts (a broker's refresh of 1,000 is one request): a
    conditional UPDATE ... RETURNING marks them queued (an account queued or running meanwhile is left
    out), one read of the insurers' slugs (the lanes), one INSERT of the jobs. Returns the time they were
    marked and their ids; the jobs are dispatched after the caller's commit.
    """
    stamp = utcnow()
    marked = db.session.execute(
        update(InsurerAccount)
        .where(which, *_free(stamp))
        .values(sync_queued_at=stamp)
        .returning(InsurerAccount.id, InsurerAccount.insurer_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not marked:
        return stamp, []
    lanes: dict[int, str] = {
        insurer_id: slug for insurer_id, slug in db.session.execute(select(Insurer.id, Insurer.slug))
    }
    rows = sorted((account_id, insurer_id) for account_id, insurer_id in marked)
    payloads = [({"account_id": account_id, "trigger": trigger}, lanes[insurer_id]) for account_id, insurer_id in rows]
    jobs.enqueue_many("sync", payloads, user_id=user_id)
    return stamp, [account_id for account_id, _insurer in rows]


def request_sync(account: InsurerAccount, trigger: str, user_id: int | None = None) -> bool:
    """Queue a sync of ``account`` unless one is already queued or running; True when queued."""
    stamp, queued = queue_syncs(InsurerAccount.id == account.id, trigger, user_id)
    if not queued:
        return False
    account.sync_queued_at = stamp
    return True


def refresh_for_user(user_id: int, profile_id: int | None = None) -> int:
    """Queue a sync of every account the user may see (or those of one profile); how many were queued."""
    which: ColumnElement[bool] = InsurerAccount.id.in_(access.visible_accounts(user_id))
    if profile_id is not None:
        which = and_(which, InsurerAccount.profile_id == profile_id)
    return len(queue_syncs(which, "refresh", user_id)[1])


def enqueue_due(now: datetime | None = None, limit: int = 10_000) -> int:
    """Queue a sync of every account whose next sync is due (errors included: they cure themselves).

    In bulk (the scheduler queues thousands): ``queue_syncs`` over the ``limit`` most overdue free accounts.
    """
    now = now or utcnow()
    due = (
        select(InsurerAccount.id)
        .join(ClientProfile, ClientProfile.id == InsurerAccount.profile_id)
        .where(or_(InsurerAccount.next_sync_at.is_(None), InsurerAccount.next_sync_at <= now), *_free(utcnow()))
        .order_by(InsurerAccount.next_sync_at, InsurerAccount.id)
        .limit(limit)
    )
    return len(queue_syncs(InsurerAccount.id.in_(due), "schedule")[1])


@jobs.on_abandoned("sync")
def _syncs_abandoned(payloads: list[dict[str, Any]], requeued: bool) -> None:
    """Put right the accounts whose sync died with its process: they must not show "syncing" for ever.

    The dead sync's claim on the account is dropped and its run recorded as failed. Queued again, the
    account shows "syncing" until the next attempt ends; given up, it records a failed sync (stale, or
    error without data) and is retried on schedule like any failure.
    """
    now = utcnow()
    ids = sorted({int(p["account_id"]) for p in payloads})
    for chunk in _chunks(ids):
        db.session.execute(
            update(SyncRun)
            .where(SyncRun.account_id.in_(chunk), SyncRun.outcome == "running")
            .values(outcome="failed", finished_at=now, error="internal", detail="abandoned: its process stopped")
        )
        if requeued:
            db.session.execute(
                update(InsurerAccount)
                .where(InsurerAccount.id.in_(chunk))
                .values(sync_started_at=None, sync_queued_at=now)
                .execution_options(synchronize_session=False)
            )
    if requeued:
        return
    for account in db.session.scalars(select(InsurerAccount).where(InsurerAccount.id.in_(ids))):  # rare: a few
        account.failures = (account.failures or 0) + 1
        account.last_failure_at = now
        account.last_error = "internal"
        account.health = "stale" if account.last_success_at is not None else "error"
        account.next_sync_at = now + retry_delay(account.failures)
        account.sync_started_at = None
        account.sync_queued_at = None
    db.session.flush()
