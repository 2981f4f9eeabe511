"""The sync engine: the only place that turns connector records into rows (DESIGN §5).

One sync of one insurer account is one transaction. Everything the connector returned is
validated (the records validate themselves; the portfolio must be this account's), then
policies and claims are upserted by the insurer's external id within the insurer account (a group
policy that reaches a company and its employees is each one's own row) in bulk: one read of what the account
holds, bulk INSERT ... RETURNING for new rows, bulk UPDATE by primary key for changed ones, and
the children (coverages, receipts, documents) of new and changed policies rewritten in bulk. A
record is "changed" when the hash of its content differs, so running the same sync twice writes
nothing. A failed or partial sync rolls back and only records the failure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.orm import Session, joinedload

from aggregator import jobs
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
CHUNK = 500  # parameters per IN (...) list: well under every backend's limit

_lane_locks: dict[str, threading.BoundedSemaphore] = {}
_lane_guard = threading.Lock()


# --- conversions ------------------------------------------------------------------------------


def cents(value: Decimal) -> int:
    """Money amounts are kept in integer cents (half-up rounding of anything finer)."""
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fold(text: str) -> str:
    """Lower case without accents: what search compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def insured_json(insured: cm.InsuredObject | None) -> dict[str, Any] | None:
    """The insured object as JSON with its kind."""
    if insured is None:
        return None
    kind = {
        cm.Vehicle: "vehicle",
        cm.Device: "device",
        cm.Devices: "devices",
        cm.Home: "home",
        cm.InsuredPeople: "people",
    }[type(insured)]
    data: dict[str, Any] = cm.as_plain(insured)
    data["kind"] = kind
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


def _digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class PolicyRows:
    """One policy as column values, with its children, ready for bulk statements."""

    external_id: str
    values: dict[str, Any]
    coverages: list[dict[str, Any]]
    receipts: list[dict[str, Any]]
    documents: list[dict[str, Any]]


def policy_rows(policy: cm.Policy, open_claims: int) -> PolicyRows:
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


# --- the bulk upsert ----------------------------------------------------------------------------


@dataclass
class Counts:
    added: int = 0
    changed: int = 0
    removed: int = 0


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def portfolio_currencies(portfolio: cm.Portfolio) -> list[str]:
    """Every currency an amount of the portfolio is in (premiums, receipts, limits, deductibles, claims), sorted."""
    found: set[str] = set()
    for p in portfolio.policies:
        found.add(p.premium.currency)
        found.update(r.amount.currency for r in p.receipts)
        for c in p.coverages:
            if c.sum_insured is not None:
                found.add(c.sum_insured.currency)
            if c.deductible is not None and c.deductible.amount is not None:
                found.add(c.deductible.amount.currency)
    for claim in portfolio.claims:
        found.update(m.currency for m in (claim.claimed_amount, claim.paid_amount) if m is not None)
    return sorted(found)


def apply_portfolio(session: Session, account: InsurerAccount, portfolio: cm.Portfolio, now: datetime) -> Counts:
    """Upsert a validated portfolio into ``account``'s rows; flushes, never commits."""
    if portfolio.client.client_ref != account.client_ref:
        raise InvalidResponse("the portfolio belongs to another client")
    insurer_id, account_id = account.insurer_id, account.id
    counts = Counts()
    currencies = portfolio_currencies(portfolio)
    if list(account.currencies or ()) != currencies:  # the summary pages read instead of every policy
        account.currencies = currencies

    open_by_policy: dict[str, int] = {}
    for c in portfolio.claims:
        if c.status.value in OPEN_CLAIM_STATUSES:
            open_by_policy[c.policy_external_id] = open_by_policy.get(c.policy_external_id, 0) + 1
    incoming = [policy_rows(p, open_by_policy.get(p.external_id, 0)) for p in portfolio.policies]

    policy_ids, policy_counts = _upsert(
        session,
        Policy,
        insurer_id,
        account_id,
        [(r.external_id, r.values) for r in incoming],
        now,
    )
    _rewrite_children(session, incoming, policy_ids, policy_counts.pop("new"), policy_counts.pop("updated"))
    counts.added, counts.changed = policy_counts["added"], policy_counts["changed"]
    counts.removed = policy_counts["removed"]

    claim_values = []
    claim_docs: dict[str, list[dict[str, Any]]] = {}
    for claim in portfolio.claims:
        values, documents = claim_rows(claim)
        values["policy_id"] = policy_ids[claim.policy_external_id]
        claim_values.append((claim.external_id, values))
        claim_docs[claim.external_id] = documents
    claim_ids, claim_counts = _upsert(session, Claim, insurer_id, account_id, claim_values, now)
    new_claims, updated_claims = claim_counts.pop("new"), claim_counts.pop("updated")
    for chunk in _chunks([claim_ids[ext] for ext in updated_claims]):  # new claims have no documents yet
        session.execute(delete(Document).where(Document.claim_id.in_(chunk)))
    rows = [dict(d, claim_id=claim_ids[ext]) for ext in (*new_claims, *updated_claims) for d in claim_docs[ext]]
    if rows:
        session.execute(insert(_table(Document)), rows)  # Core executemany (see _upsert)
    counts.added += claim_counts["added"]
    counts.changed += claim_counts["changed"]
    counts.removed += claim_counts["removed"]
    session.flush()
    return counts


def _table(model: type[Any]) -> Table:
    """The Core table of a mapped class."""
    return cast(Table, model.__table__)


def _insert_new(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Bulk INSERT ... RETURNING (id, external_id).

    Core, not ORM, bulk statements: the ORM leaves out None values and splits the rows into one
    statement per run of identical key sets; Core sends one executemany (in pages).
    """
    return [(pk, ext) for pk, ext in session.execute(insert(table).returning(table.c.id, table.c.external_id), rows)]


def _upsert(
    session: Session,
    model: type[Policy] | type[Claim],
    insurer_id: int,
    account_id: int,
    incoming: list[tuple[str, dict[str, Any]]],
    now: datetime,
) -> tuple[dict[str, int], dict[str, Any]]:
    """Insert new, update changed, mark missing as removed upstream. Returns ext → id and the counts.

    Rows are this account's own (unique by account and external id), and one sync at a time holds an
    account, so nothing else writes them meanwhile.
    """
    columns = (model.id, model.external_id, model.content_hash, model.removed_upstream_at)
    existing: dict[str, tuple[int, str, datetime | None]] = {
        ext: (pk, digest, removed)
        for pk, ext, digest, removed in session.execute(select(*columns).where(model.account_id == account_id))
    }
    ids: dict[str, int] = {}
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    updated: list[str] = []
    for ext, values in incoming:
        found = existing.get(ext)
        if found is None:
            new_rows.append(
                dict(values, insurer_id=insurer_id, account_id=account_id, first_seen_at=now, changed_at=now)
            )
            continue
        pk, digest, removed = found
        ids[ext] = pk
        if digest != values["content_hash"] or removed is not None:
            updates.append(dict(values, id=pk, changed_at=now, removed_upstream_at=None))
            updated.append(ext)
    new: list[str] = []
    if new_rows:
        for pk, ext in _insert_new(session, _table(model), new_rows):
            ids[ext] = pk
            new.append(ext)
    if updates:
        session.execute(update(model), updates)
    seen = {ext for ext, _ in incoming}
    gone = [pk for ext, (pk, _digest, gone_at) in existing.items() if ext not in seen and gone_at is None]
    for chunk in _chunks(gone):
        session.execute(update(model).where(model.id.in_(chunk)).values(removed_upstream_at=now, changed_at=now))
    counts = {"added": len(new), "changed": len(updates), "removed": len(gone), "new": new, "updated": updated}
    return ids, counts


def _rewrite_children(
    session: Session, incoming: list[PolicyRows], ids: dict[str, int], new: list[str], updated: list[str]
) -> None:
    """Write coverages, receipts and documents of new policies and replace those of changed ones, in bulk."""
    wanted = {*new, *updated}
    if not wanted:
        return
    for chunk in _chunks([ids[ext] for ext in updated]):  # new policies have no children yet
        session.execute(delete(Coverage).where(Coverage.policy_id.in_(chunk)))
        session.execute(delete(Receipt).where(Receipt.policy_id.in_(chunk)))
        session.execute(delete(Document).where(Document.policy_id.in_(chunk)))
    coverages: list[dict[str, Any]] = []
    receipts: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []
    for rows in incoming:
        if rows.external_id not in wanted:
            continue
        pid = ids[rows.external_id]
        coverages.extend(dict(c, policy_id=pid) for c in rows.coverages)
        receipts.extend(dict(r, policy_id=pid) for r in rows.receipts)
        documents.extend(dict(d, policy_id=pid) for d in rows.documents)
    for model, rows_ in ((Coverage, coverages), (Receipt, receipts), (Document, documents)):
        if rows_:
            session.execute(insert(_table(model)), rows_)  # Core executemany (see _upsert)


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


def _lane_lock(slug: str) -> threading.BoundedSemaphore:
    with _lane_guard:
        lock = _lane_locks.get(slug)
        if lock is None:
            size = int(
                current_app.config.get("SYNC_CONCURRENCY_PER_INSURER") or BaseConfig.SYNC_CONCURRENCY_PER_INSURER
            )
            lock = _lane_locks[slug] = threading.BoundedSemaphore(size)
        return lock


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
    """Fetch one insurer account and apply it in one transaction; None when another sync holds it.

    Runs as a job, never inside a request, and commits its own steps: the claim on the account (so
    other workers see it), then, with no transaction open while the insurer answers, the result.
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
    try:
        if conn is None:
            raise AuthenticationFailed(f"{slug} is not enabled")
        with _lane_lock(slug):
            portfolio = conn.fetch(account.client_ref)
        counts = apply_portfolio(session(), account, portfolio, now)
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
    except Exception as exc:
        session.rollback()
        _record_failure(account_id, run.id, exc)
        return session.get(SyncRun, run.id)
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


def request_sync(account: InsurerAccount, trigger: str, user_id: int | None = None) -> bool:
    """Queue a sync of ``account`` unless one is already queued or running; True when queued."""
    now = utcnow()
    lock_age = timedelta(minutes=float(current_app.config.get("SYNC_LOCK_MINUTES") or 10))
    queued = db.session.execute(
        update(InsurerAccount)
        .where(
            InsurerAccount.id == account.id,
            or_(InsurerAccount.sync_queued_at.is_(None), InsurerAccount.sync_queued_at < now - lock_age),
            or_(InsurerAccount.sync_started_at.is_(None), InsurerAccount.sync_started_at < now - lock_age),
        )
        .values(sync_queued_at=now)
        .execution_options(synchronize_session=False)
    )
    if queued.rowcount == 0:  # type: ignore[attr-defined]
        return False
    account.sync_queued_at = now
    slug = account.insurer.slug
    jobs.enqueue("sync", {"account_id": account.id, "trigger": trigger}, lane=slug, user_id=user_id)
    return True


def refresh_for_user(user_id: int, profile_id: int | None = None) -> int:
    """Queue a sync of every account the user may see (or those of one profile); how many were queued."""
    stmt = (
        select(InsurerAccount)
        .options(joinedload(InsurerAccount.insurer))
        .where(InsurerAccount.id.in_(access.visible_accounts(user_id)))
        .order_by(InsurerAccount.id)
    )
    if profile_id is not None:
        stmt = stmt.where(InsurerAccount.profile_id == profile_id)
    return sum(request_sync(a, "refresh", user_id) for a in db.session.scalars(stmt))


def enqueue_due(now: datetime | None = None, limit: int = 10_000) -> int:
    """Queue a sync of every account whose next sync is due (errors included: they cure themselves).

    In bulk (the cron command queues thousands): one read, a conditional UPDATE ... RETURNING per
    chunk (an account queued or running meanwhile is left out), one INSERT of the jobs.
    """
    now = now or utcnow()
    stamp = utcnow()
    lock_age = timedelta(minutes=float(current_app.config.get("SYNC_LOCK_MINUTES") or 10))
    free = (
        or_(InsurerAccount.sync_queued_at.is_(None), InsurerAccount.sync_queued_at < stamp - lock_age),
        or_(InsurerAccount.sync_started_at.is_(None), InsurerAccount.sync_started_at < stamp - lock_age),
    )
    due = db.session.execute(
        select(InsurerAccount.id, Insurer.slug)
        .join(ClientProfile, ClientProfile.id == InsurerAccount.profile_id)
        .join(Insurer, Insurer.id == InsurerAccount.insurer_id)
        .where(or_(InsurerAccount.next_sync_at.is_(None), InsurerAccount.next_sync_at <= now), *free)
        .order_by(InsurerAccount.next_sync_at, InsurerAccount.id)
        .limit(limit)
    ).all()
    lane_of: dict[int, str] = {account_id: slug for account_id, slug in due}
    queued: list[int] = []
    for chunk in _chunks(list(lane_of)):
        queued += db.session.scalars(
            update(InsurerAccount)
            .where(InsurerAccount.id.in_(chunk), *free)
            .values(sync_queued_at=stamp)
            .returning(InsurerAccount.id)
            .execution_options(synchronize_session=False)
        ).all()
    queued.sort()
    jobs.enqueue_many("sync", [({"account_id": a, "trigger": "schedule"}, lane_of[a]) for a in queued])
    return len(queued)
