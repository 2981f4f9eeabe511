"""The sync engine against the real sandboxes: durability, idempotence, removed upstream, health, bulk writes."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, update

from aggregator import jobs
from aggregator.extensions import db
from aggregator.models import Claim, Coverage, Document, InsurerAccount, Policy, Receipt, SyncRun, User
from aggregator.models.types import utcnow
from aggregator.services import insurers, portfolio, sync
from bench.upsert import synthetic_portfolio
from connectors.http import reset_breakers
from connectors.models import portfolio_parts
from tests.conftest import Sandbox
from tests.support.data import link_pair, link_sample

SLUGS = ["gnp", "australis"]
DATA_MODELS = (Policy, Coverage, Receipt, Claim, Document)


def _user(email: str = "sync@coberta.example") -> int:
    user = User(email=email, password_hash=None, verified_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user.id


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a sync writes, column by column, in primary-key order."""
    db.session.expire_all()
    found: dict[str, list[tuple[Any, ...]]] = {}
    for model in DATA_MODELS:
        table = model.__table__
        with db.engine.connect() as conn:
            found[model.__tablename__] = [tuple(row) for row in conn.execute(select(table).order_by(table.c.id))]
    return found


def totals() -> dict[str, int]:
    return {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) or 0 for m in DATA_MODELS}


def account_row(account_id: int) -> InsurerAccount:
    db.session.expire_all()
    account = db.session.get(InsurerAccount, account_id)
    assert account is not None
    return account


@contextmanager
def configured(app: Flask, **overrides: Any) -> Iterator[None]:
    """Change app settings (connector settings, HTTP policy) for the block; connectors rebuilt on both ends."""
    saved = {key: app.config.get(key) for key in overrides}
    app.config.update(overrides)
    insurers.reset_connectors(app)
    try:
        yield
    finally:
        app.config.update(saved)
        insurers.reset_connectors(app)


def _portfolio_sizes(slug: str, client_ref: str) -> dict[str, int]:
    """What the connector returns for this client, counted as the rows a first sync must write."""
    conn = insurers.connector(slug)
    assert conn is not None
    p = conn.fetch(client_ref)
    return {
        "policies": len(p.policies),
        "coverages": sum(len(x.coverages) for x in p.policies),
        "receipts": sum(len(x.receipts) for x in p.policies),
        "claims": len(p.claims),
        "documents": sum(len(x.documents) for x in p.policies) + sum(len(c.documents) for c in p.claims),
    }


# --- first sync, idempotence --------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_first_sync_writes_everything_and_counts_it(app: Flask, sandboxes: dict[str, Sandbox], slug: str) -> None:
    with app.app_context():
        account = link_sample(_user(), slug, run_sync=False)
        expected = _portfolio_sizes(slug, account.client_ref)
        assert expected["policies"] and expected["coverages"] and expected["receipts"] and expected["documents"]
        run = sync.sync_account(account.id, "link")
        assert run is not None and run.outcome == "ok", run and run.detail
        assert totals() == expected
        assert (run.added, run.changed, run.removed) == (expected["policies"] + expected["claims"], 0, 0)
        assert run.finished_at is not None and run.trigger == "link"
        account = account_row(account.id)
        assert account.health == "ok" and account.status == "ok"
        assert account.last_success_at is not None and account.last_error is None and account.failures == 0
        assert account.next_sync_at is not None
        assert account.next_sync_at - account.last_success_at == timedelta(minutes=app.config["SYNC_INTERVAL_MINUTES"])
        assert account.sync_started_at is None and account.sync_queued_at is None
        if expected["claims"]:
            open_claims = db.session.scalar(select(func.sum(Policy.open_claims)))
            assert open_claims is not None


@pytest.mark.parametrize("slug", SLUGS)
def test_the_same_sync_twice_changes_nothing(app: Flask, sandboxes: dict[str, Sandbox], slug: str) -> None:
    with app.app_context():
        account = link_sample(_user(), slug)
        before = snapshot()
        assert before["policies"]
        run = sync.sync_account(account.id, "refresh")
        assert run is not None and run.outcome == "ok"
        assert (run.added, run.changed, run.removed) == (0, 0, 0)
        assert snapshot() == before  # every column of every row, changed_at and ids included


# --- durability -----------------------------------------------------------------------------------

FAULTS: dict[str, dict[str, Any]] = {
    "status_500": {"status": 500},
    "timeout": {"timeout_s": 2.5},  # the tests' read timeout is 1 s (2 attempts, 3 s deadline)
    "malformed": {"malformed": True},
}


def _assert_failed_cleanly(account_id: int, run: SyncRun | None, before: dict[str, Any], success: Any) -> None:
    assert run is not None and run.outcome == "failed", run and (run.outcome, run.detail)
    assert run.error and run.finished_at is not None
    assert (run.added, run.changed, run.removed) == (0, 0, 0)
    assert snapshot() == before, "a failed sync changed data"
    account = account_row(account_id)
    assert account.health == "stale" and account.status == "stale"
    assert account.last_success_at == success, "a failed sync moved the data's age"
    assert account.last_error == run.error and account.last_failure_at is not None
    assert account.failures == 1
    assert account.sync_started_at is None and account.sync_queued_at is None
    assert account.next_sync_at is not None and account.next_sync_at > account.last_failure_at


def _recovers(account_id: int, sandbox: Sandbox, before: dict[str, Any]) -> None:
    sandbox.clear()
    run = sync.sync_account(account_id, "refresh")
    assert run is not None and run.outcome == "ok", run and run.detail
    account = account_row(account_id)
    assert account.health == "ok" and account.last_error is None and account.failures == 0
    assert snapshot() == before  # the insurer's data did not change meanwhile: nothing to write


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("slug", SLUGS)
def test_a_failed_sync_changes_no_data_and_marks_the_account_stale(
    app: Flask, sandboxes: dict[str, Sandbox], slug: str, fault: str
) -> None:
    with app.app_context():
        account = link_sample(_user(), slug)
        success = account.last_success_at
        before = snapshot()
        sandboxes[slug].faults(**FAULTS[fault])
        run = sync.sync_account(account.id, "refresh")
        _assert_failed_cleanly(account.id, run, before, success)
        assert run is not None
        assert run.error == ("invalid" if fault == "malformed" else "unavailable")
        _recovers(account.id, sandboxes[slug], before)


# Each connector's page-size setting, small enough for the paged sample client to span several pages.
SMALL_PAGES = {"gnp": {"page_size": "5"}, "australis": {"page_limit": "3"}}


@pytest.mark.parametrize("fault", ["status_500", "malformed", "short_page"])
@pytest.mark.parametrize("slug", SLUGS)
def test_a_failure_on_a_later_page_changes_no_data(
    app: Flask, sandboxes: dict[str, Sandbox], slug: str, fault: str
) -> None:
    sandbox = sandboxes[slug]
    samples = sandbox.samples
    settings = {s: {**v, **SMALL_PAGES.get(s, {})} for s, v in app.config["CONNECTOR_SETTINGS"].items()}
    # One attempt per call: a retry would mend a one-off 500 (the connector kit tests that it does).
    policy = {**app.config["CONNECTOR_HTTP_POLICY"], "max_attempts": 1}
    with configured(app, CONNECTOR_SETTINGS=settings, CONNECTOR_HTTP_POLICY=policy), app.app_context():
        account = link_pair(_user(), slug, samples.paged_client, samples.paged_policy)
        assert account.health == "ok"
        success = account.last_success_at
        before = snapshot()
        assert len(before["policies"]) >= 10
        # The third request of the paginated listing fails: pages 1 and 2 were fine.
        spec: dict[str, Any] = {"status": 500} if fault == "status_500" else {fault: True}
        sandbox.faults(**spec, on_request=3, path=samples.paged_path)
        run = sync.sync_account(account.id, "refresh")
        _assert_failed_cleanly(account.id, run, before, success)
        _recovers(account.id, sandbox, before)


def test_a_failure_mid_write_rolls_back_everything(
    app: Flask, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connector answered, the upsert had begun writing, then something broke: nothing is kept."""
    with app.app_context():
        account = link_sample(_user(), "gnp")
        conn = insurers.connector("gnp")
        assert conn is not None
        real = conn.fetch(account.client_ref)
        changed = dataclasses.replace(
            real, policies=tuple(dataclasses.replace(p, product=p.product + " 2") for p in real.policies)
        )
        monkeypatch.setattr(conn, "fetch_parts", lambda _ref: portfolio_parts(changed))
        original = sync._rewrite_children

        def broken(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)
            raise RuntimeError("disk full")

        monkeypatch.setattr(sync, "_rewrite_children", broken)
        success, before = account.last_success_at, snapshot()
        run = sync.sync_account(account.id, "refresh")
        _assert_failed_cleanly(account.id, run, before, success)
        assert run is not None and run.error == "internal"


# --- removed upstream -----------------------------------------------------------------------------


def test_a_record_missing_upstream_is_marked_never_deleted_and_comes_back(
    app: Flask, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        account = link_sample(_user(), "gnp")
        conn = insurers.connector("gnp")
        assert conn is not None
        whole = conn.fetch(account.client_ref)
        with_claims = {c.policy_external_id for c in whole.claims}
        gone = next(p for p in whole.policies if p.external_id not in with_claims)
        trimmed = dataclasses.replace(whole, policies=tuple(p for p in whole.policies if p is not gone))
        monkeypatch.setattr(conn, "fetch_parts", lambda _ref: portfolio_parts(trimmed))
        before = totals()

        run = sync.sync_account(account.id, "refresh")
        assert run is not None and run.outcome == "ok"
        assert (run.added, run.changed, run.removed) == (0, 0, 1)
        assert totals() == before, "a sync deleted rows"
        row = db.session.scalar(select(Policy).where(Policy.external_id == gone.external_id))
        assert row is not None and row.removed_upstream_at is not None
        assert db.session.scalar(select(func.count()).where(Policy.removed_upstream_at.is_not(None))) == 1
        assert db.session.scalar(select(func.count()).select_from(Coverage).where(Coverage.policy_id == row.id)) == len(
            gone.coverages
        ), "the removed policy keeps its coverages"

        again = sync.sync_account(account.id, "refresh")  # still missing: already marked, nothing to do
        assert again is not None and (again.added, again.changed, again.removed) == (0, 0, 0)

        monkeypatch.setattr(conn, "fetch_parts", lambda _ref: portfolio_parts(whole))
        back = sync.sync_account(account.id, "refresh")
        assert back is not None and (back.added, back.changed, back.removed) == (0, 1, 0)
        db.session.expire_all()
        row = db.session.scalar(select(Policy).where(Policy.external_id == gone.external_id))
        assert row is not None and row.removed_upstream_at is None
        assert totals() == before


def test_a_claim_missing_upstream_is_marked_removed(
    app: Flask, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        account = link_sample(_user(), "gnp")
        conn = insurers.connector("gnp")
        assert conn is not None
        whole = conn.fetch(account.client_ref)
        if not whole.claims:
            pytest.skip("the sample client has no claims")
        trimmed = dataclasses.replace(whole, claims=whole.claims[1:])
        monkeypatch.setattr(conn, "fetch_parts", lambda _ref: portfolio_parts(trimmed))
        run = sync.sync_account(account.id, "refresh")
        assert run is not None and run.outcome == "ok"
        assert run.removed == 1
        claim = db.session.scalar(select(Claim).where(Claim.external_id == whole.claims[0].external_id))
        assert claim is not None and claim.removed_upstream_at is not None


# --- health ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_rejected_credentials_need_attention(app: Flask, sandboxes: dict[str, Sandbox], slug: str) -> None:
    with app.app_context():
        account_id = link_sample(_user(), slug).id
        success, before = account_row(account_id).last_success_at, snapshot()
    spec = insurers.connector_classes(app)[slug].sandbox()
    assert spec is not None
    settings = {**app.config["CONNECTOR_SETTINGS"], slug: spec.bad_settings_for(sandboxes[slug].base)}
    with configured(app, CONNECTOR_SETTINGS=settings), app.app_context():
        run = sync.sync_account(account_id, "refresh")
        assert run is not None and run.outcome == "failed" and run.error == "auth", run and run.detail
        account = account_row(account_id)
        assert account.health == "needs_attention" and account.status == "needs_attention"
        assert account.last_error == "auth" and account.last_success_at == success and snapshot() == before
    with app.app_context():  # the settings are right again: cured by the next sync
        run = sync.sync_account(account_id, "schedule")
        assert run is not None and run.outcome == "ok"
        assert account_row(account_id).health == "ok"


def test_a_never_synced_account_that_fails_is_in_error_and_is_still_retried(
    app: Flask, sandboxes: dict[str, Sandbox]
) -> None:
    with app.app_context():
        account = link_sample(_user(), "australis", run_sync=False)
        sandboxes["australis"].faults(status=503)
        run = sync.sync_account(account.id, "link")
        assert run is not None and run.outcome == "failed"
        account = account_row(account.id)
        assert account.health == "error" and account.status == "error" and account.last_success_at is None
        assert totals()["policies"] == 0
        sandboxes["australis"].clear()
        assert account.next_sync_at is not None
        queued = sync.enqueue_due(now=account.next_sync_at + timedelta(seconds=1))
        assert queued == 1
        db.session.commit()
        jobs.dispatch_pending(app)  # inline backend: the job runs here
        account = account_row(account.id)
        assert account.health == "ok" and account.last_success_at is not None
        assert totals()["policies"] > 0


def test_backoff_grows_with_consecutive_failures(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    with app.app_context():
        account = link_sample(_user(), "gnp")
        sandboxes["gnp"].faults(status=500)
        delays = []
        for expected_failures in (1, 2, 3, 4):
            run = sync.sync_account(account.id, "schedule")
            assert run is not None and run.outcome == "failed"
            row = account_row(account.id)
            assert row.failures == expected_failures and row.health == "stale"
            assert row.next_sync_at is not None and row.last_failure_at is not None
            delays.append(row.next_sync_at - row.last_failure_at)
        base = timedelta(minutes=app.config["SYNC_RETRY_BASE_MINUTES"])
        assert delays == [base, 2 * base, 4 * base, 8 * base]
        assert sync.retry_delay(50) == timedelta(minutes=app.config["SYNC_INTERVAL_MINUTES"])  # capped
        sandboxes["gnp"].clear()
        reset_breakers()  # 8 failed calls opened the connector's breaker; its cool-down is not this test's subject
        insurers.reset_connectors(app)
        run = sync.sync_account(account.id, "schedule")
        assert run is not None and run.outcome == "ok"
        assert account_row(account.id).failures == 0


def test_enqueue_due_picks_due_accounts_including_those_in_error(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    with app.app_context():
        uid = _user()
        fresh = link_sample(uid, "gnp")  # synced just now: not due for hours
        broken = link_sample(uid, "australis", run_sync=False)
        now = utcnow()
        db.session.execute(
            update(InsurerAccount)
            .where(InsurerAccount.id == broken.id)
            .values(health="error", failures=7, next_sync_at=now - timedelta(minutes=1))
        )
        db.session.commit()
        assert sync.enqueue_due(now=now) == 1
        db.session.commit()
        assert account_row(broken.id).status == "syncing"  # queued: the screens show progress
        assert sync.enqueue_due(now=now) == 0  # already queued: not twice
        db.session.commit()
        jobs.dispatch_pending(app)
        assert account_row(broken.id).health == "ok"
        assert account_row(fresh.id).health == "ok"
        later = account_row(fresh.id).next_sync_at
        assert later is not None
        assert sync.enqueue_due(now=later + timedelta(seconds=1)) == 2
        db.session.commit()
        jobs.dispatch_pending(app)
        runs = db.session.scalars(select(SyncRun).where(SyncRun.trigger == "schedule")).all()
        assert len(runs) == 3 and all(r.outcome == "ok" for r in runs)


# --- one sync at a time -----------------------------------------------------------------------------


def test_one_sync_at_a_time_per_account(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    with app.app_context():
        account_id = link_sample(_user(), "gnp").id
    sandboxes["gnp"].faults(latency_ms=400)
    results: list[SyncRun | None] = []

    def first() -> None:
        with app.app_context():
            results.append(sync.sync_account(account_id, "refresh"))

    thread = threading.Thread(target=first)
    thread.start()
    with app.app_context():
        deadline = time.monotonic() + 5
        while account_row(account_id).sync_started_at is None:
            assert time.monotonic() < deadline, "the first sync never held the account"
            time.sleep(0.01)
        assert account_row(account_id).status == "syncing"
        assert sync.sync_account(account_id, "refresh") is None  # held: a second sync does not run
        thread.join(timeout=30)
        assert len(results) == 1 and results[0] is not None and results[0].outcome == "ok"
        assert account_row(account_id).sync_started_at is None
        runs = db.session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.account_id == account_id))
        assert runs == 2  # the link's and the first refresh's; the refused one left no run


def test_a_sync_abandoned_past_the_lock_age_can_be_taken_over(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    with app.app_context():
        account = link_sample(_user(), "gnp")
        lock = timedelta(minutes=app.config["SYNC_LOCK_MINUTES"])
        db.session.execute(
            update(InsurerAccount).where(InsurerAccount.id == account.id).values(sync_started_at=utcnow() - lock / 2)
        )
        db.session.commit()
        assert sync.sync_account(account.id, "refresh") is None
        db.session.execute(
            update(InsurerAccount)
            .where(InsurerAccount.id == account.id)
            .values(sync_started_at=utcnow() - lock - timedelta(minutes=1))
        )
        db.session.commit()
        run = sync.sync_account(account.id, "refresh")
        assert run is not None and run.outcome == "ok"


def test_request_sync_queues_once_and_shows_syncing(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    with app.app_context():
        uid = _user()
        account = link_sample(uid, "gnp", run_sync=False)
        assert sync.request_sync(account, "refresh", uid) is True
        assert sync.request_sync(account, "refresh", uid) is False
        db.session.commit()
        assert account_row(account.id).status == "syncing"
        assert jobs.dispatch_pending(app) == 1
        assert account_row(account.id).status == "ok"
        assert sync.refresh_for_user(uid) == 1
        db.session.commit()
        jobs.dispatch_pending(app)
        assert [a.id for a in portfolio.user_accounts(uid)] == [account.id]


# --- bulk statements ------------------------------------------------------------------------------


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _apply(account_id: int, portfolio: Any, now: datetime) -> tuple[sync.Counts, int]:
    account = account_row(account_id)
    with counting_statements() as statements:
        counts = sync.apply_portfolio(db.session(), account, portfolio, now)
    db.session.commit()
    return counts, len(statements)


def test_apply_portfolio_issues_the_same_statements_for_5_and_100_policies(
    app: Flask, sandboxes: dict[str, Sandbox]
) -> None:
    with app.app_context():
        uid = _user()
        small = link_sample(uid, "gnp", run_sync=False)
        large = link_sample(uid, "australis", run_sync=False)
        now = datetime(2026, 6, 1, 12, tzinfo=UTC)
        found: dict[str, list[int]] = {}
        for account, n, prefix in ((small, 5, "S"), (large, 100, "L")):
            steps = []
            first = synthetic_portfolio(account.client_ref, n, claims_every=3, prefix=prefix)
            counts, statements = _apply(account.id, first, now)
            assert (counts.added, counts.changed, counts.removed) == (n + len(first.claims), 0, 0)
            steps.append(statements)
            counts, statements = _apply(account.id, first, now + timedelta(hours=1))  # identical: reads only
            assert (counts.added, counts.changed, counts.removed) == (0, 0, 0)
            steps.append(statements)
            changed = synthetic_portfolio(account.client_ref, n, claims_every=3, changed_every=1, prefix=prefix)
            # every policy changed, one gone
            changed = dataclasses.replace(
                changed,
                policies=changed.policies[1:],
                claims=tuple(c for c in changed.claims if c.policy_external_id != changed.policies[0].external_id),
            )
            counts, statements = _apply(account.id, changed, now + timedelta(hours=2))
            assert counts.changed == n - 1 and counts.removed == 2  # the policy and its claim
            steps.append(statements)
            found[f"{n} policies"] = steps
        assert found["5 policies"] == found["100 policies"], found
        assert max(found["100 policies"]) <= 16, found


def test_a_record_two_accounts_receive_syncs_for_both_without_flip_flopping(
    app: Flask, sandboxes: dict[str, Sandbox]
) -> None:
    """A group policy seen by the company holding it and by an insured employee (two accounts, same id)."""
    with app.app_context():
        uid = _user()
        company = link_sample(uid, "gnp", run_sync=False)
        employee = link_sample(uid, "australis", run_sync=False)
        db.session.execute(  # the same insurer for both: what matters is two accounts receiving one record
            update(InsurerAccount).where(InsurerAccount.id == employee.id).values(insurer_id=company.insurer_id)
        )
        db.session.commit()
        now = datetime(2026, 6, 1, 12, tzinfo=UTC)
        held = synthetic_portfolio(company.client_ref, 3, prefix="G")
        certificate = synthetic_portfolio(employee.client_ref, 3, prefix="G", changed_every=1)  # same ids
        first, _ = _apply(company.id, held, now)
        second, _ = _apply(employee.id, certificate, now)
        assert first.added == 3 and second.changed == 0 and second.removed == 0
        before = snapshot()
        for _round in range(2):  # each sync again: nothing moves between the accounts, nothing changes
            again_company, _ = _apply(company.id, held, now + timedelta(hours=1))
            again_employee, _ = _apply(employee.id, certificate, now + timedelta(hours=1))
            assert (again_company.added, again_company.changed, again_company.removed) == (0, 0, 0)
            assert (again_employee.added, again_employee.changed, again_employee.removed) == (0, 0, 0)
        assert snapshot() == before
        owners = set(db.session.scalars(select(Policy.account_id)))
        assert owners == {company.id, employee.id} and second.added == 3  # each account sees its own copy
