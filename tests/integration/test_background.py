"""Background work out of the web workers (issue 9), in this process: bulk refresh, syncs abandoned by a
dead process, the production guard, the cross-process permits and the Celery batch message over a real Redis."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, insert, select, update

from aggregator import create_app, jobs, permits
from aggregator.extensions import db
from aggregator.models import ClientProfile, GrantAccount, InsurerAccount, Job, ProfileGrant, SyncRun, User
from aggregator.models.types import utcnow
from aggregator.services import insurers, sync
from tests.conftest import Sandbox, close_app
from tests.integration.test_jobs import RAN, backend, celery_worker, job_row, wait_until
from tests.support.data import link_sample


@pytest.fixture(autouse=True)
def _forget_runs() -> Iterator[None]:
    RAN.clear()
    yield
    RAN.clear()


def _user(email: str = "broker@coberta.example") -> int:
    user = User(email=email, password_hash=None, verified_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user.id


def _accounts(uid: int, profiles: int, start: int = 0) -> list[int]:
    """``profiles`` client profiles granted to ``uid``, each with an account at both insurers (never synced)."""
    ids = insurers.ensure_insurers()
    rows = [
        {"country": "MX", "id_type": "RFC", "id_number": f"BKR{uid:03d}{n:06d}X", "name": f"Cliente {n}"}
        for n in range(start, start + profiles)
    ]
    profile_ids = list(db.session.scalars(insert(ClientProfile).returning(ClientProfile.id), rows))
    grants = list(
        db.session.scalars(
            insert(ProfileGrant).returning(ProfileGrant.id),
            [{"profile_id": p, "user_id": uid, "granted_via": "tax_id"} for p in profile_ids],
        )
    )
    accounts = list(
        db.session.scalars(
            insert(InsurerAccount).returning(InsurerAccount.id),
            [
                {"profile_id": p, "insurer_id": ids[slug], "client_ref": f"{slug}-{uid}-{p}"}
                for p in profile_ids
                for slug in ("gnp", "australis")
            ],
        )
    )
    db.session.execute(
        insert(GrantAccount),
        [
            {"grant_id": g, "account_id": a, "granted_via": "tax_id"}
            for g, pair in zip(grants, zip(accounts[::2], accounts[1::2], strict=True), strict=True)
            for a in pair
        ],
    )
    db.session.commit()
    return accounts


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


# --- "Actualizar" in bulk ---------------------------------------------------------------------------


def test_a_refresh_queues_any_number_of_accounts_with_the_same_statements(app: Flask) -> None:
    with app.app_context():
        few, many = _user("few@coberta.example"), _user("many@coberta.example")
        _accounts(few, 2)
        many_ids = _accounts(many, 60, start=100)
        with counting_statements() as small:
            assert sync.refresh_for_user(few) == 4
        with counting_statements() as large:
            assert sync.refresh_for_user(many) == 120
        assert len(small) == len(large) <= 3, large
        db.session.commit()
        jobs.discard_pending()  # not run here: what was queued is the point
        queued = db.session.execute(
            select(Job.payload, Job.lane, Job.user_id).where(Job.user_id == many).order_by(Job.created_at)
        ).all()
        assert sorted(p["account_id"] for p, _lane, _uid in queued) == sorted(many_ids)
        assert {lane for _p, lane, _uid in queued} == {"gnp", "australis"}
        assert all(p["trigger"] == "refresh" for p, _lane, _uid in queued)
        statuses = db.session.scalars(select(InsurerAccount).where(InsurerAccount.id.in_(many_ids)))
        assert {a.status for a in statuses} == {"syncing"}
        assert sync.refresh_for_user(many) == 0  # already queued: not twice
        db.session.rollback()


def test_a_refresh_of_one_profile_queues_only_its_accounts(app: Flask) -> None:
    with app.app_context():
        uid = _user()
        ids = _accounts(uid, 3)
        profile_id = db.session.get(InsurerAccount, ids[2]).profile_id  # type: ignore[union-attr]
        assert sync.refresh_for_user(uid, profile_id) == 2
        db.session.commit()
        jobs.discard_pending()
        queued = {p["account_id"] for p in db.session.scalars(select(Job.payload))}
        assert queued == set(ids[2:4])


def test_batches_are_handed_over_lane_by_lane_in_turn() -> None:
    batch = [(f"g{n}", "gnp") for n in range(4)] + [("a0", "australis"), ("a1", "australis"), ("x0", "x")]
    assert [job for job, _lane in jobs.interleave(batch)] == ["g0", "a0", "x0", "g1", "a1", "g2", "g3"]


# --- syncs abandoned by a dead process --------------------------------------------------------------


def _die_mid_sync(app: Flask, account_id: int, *, attempts: int = 1) -> str:
    """Leave ``account_id`` as a worker killed mid-sync leaves it: claimed, its run and its job 'running'."""
    account = db.session.get(InsurerAccount, account_id)
    assert account is not None and sync.request_sync(account, "refresh")
    db.session.commit()
    jobs.discard_pending()  # the message went to the worker that is about to die
    silent = utcnow() - timedelta(seconds=app.config["JOBS_LEASE_SECONDS"] + 5)
    job_id = db.session.scalar(select(Job.id).where(Job.kind == "sync").order_by(Job.created_at.desc()).limit(1))
    assert job_id is not None
    db.session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status="running", started_at=silent, heartbeat_at=silent, attempts=attempts, worker="gone:1")
    )
    db.session.execute(update(InsurerAccount).where(InsurerAccount.id == account_id).values(sync_started_at=silent))
    db.session.add(SyncRun(account_id=account_id, trigger="refresh", started_at=silent, outcome="running"))
    db.session.commit()
    return job_id


def test_a_sync_whose_worker_died_runs_again_and_the_account_ends_ok(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    with app.app_context():
        account_id = link_sample(_user(), "gnp", run_sync=False).id
        job_id = _die_mid_sync(app, account_id)
        assert db.session.get(InsurerAccount, account_id).status == "syncing"  # type: ignore[union-attr]
        assert jobs.reclaim_abandoned().requeued == 1
        db.session.commit()
        assert jobs.dispatch_pending(app) == 1  # inline: the second attempt runs here
        db.session.expire_all()
        account = db.session.get(InsurerAccount, account_id)
        assert account is not None and account.status == "ok" and account.sync_started_at is None
        job = job_row(job_id)
        assert job.status == "done" and job.attempts == 2
        runs = db.session.execute(select(SyncRun.outcome, SyncRun.detail).order_by(SyncRun.id)).all()
        assert [outcome for outcome, _detail in runs] == ["failed", "ok"]
        assert "abandoned" in str(runs[0][1])


def test_a_sync_abandoned_too_often_leaves_the_account_failed_not_syncing(
    app: Flask, sandboxes: dict[str, Sandbox]
) -> None:
    with app.app_context():
        account_id = link_sample(_user(), "gnp").id  # synced once: it has data
        job_id = _die_mid_sync(app, account_id, attempts=app.config["JOBS_MAX_ATTEMPTS"])
        assert jobs.reclaim_abandoned().failed == 1
        db.session.commit()
        assert jobs.dispatch_pending(app) == 0
        db.session.expire_all()
        account = db.session.get(InsurerAccount, account_id)
        assert account is not None
        assert account.status == "stale" and account.last_error == "internal" and account.failures == 1
        assert account.sync_queued_at is None and account.sync_started_at is None
        assert account.next_sync_at is not None and account.next_sync_at > utcnow()  # retried on schedule
        assert job_row(job_id).status == "failed"
        assert db.session.scalar(select(func.count()).where(SyncRun.outcome == "running")) == 0


def test_the_cron_command_and_the_beat_tick_reclaim_before_they_queue(
    app: Flask, sandboxes: dict[str, Sandbox]
) -> None:
    from aggregator.worker import run_schedule

    with app.app_context():
        uid = _user()
        first = link_sample(uid, "gnp", run_sync=False).id
        second = link_sample(uid, "australis", run_sync=False).id
        _die_mid_sync(app, first)
    result = app.test_cli_runner().invoke(args=["sync"])  # cron's `aggregator sync`
    assert result.exit_code == 0, result.output
    assert "1 queued again" in result.output and "1 insurer account(s) queued" in result.output  # + the due one
    with app.app_context():
        assert {db.session.get(InsurerAccount, a).status for a in (first, second)} == {"ok"}  # type: ignore[union-attr]
        _die_mid_sync(app, second)
    assert run_schedule(app) == 0  # Celery beat's tick: nothing due, one to reclaim
    with app.app_context():
        assert db.session.get(InsurerAccount, second).status == "ok"  # type: ignore[union-attr]
        assert db.session.scalar(select(func.count()).where(Job.status != "done")) == 0


# --- production runs no job in the web workers ------------------------------------------------------


def test_production_runs_syncs_in_celery_workers_and_refuses_the_thread_backend(app_config: dict[str, Any]) -> None:
    production = dict(app_config, ENV_NAME="production", EXTERNAL_URL="https://portal.example.com")
    production.pop("REDIS_URL")
    with pytest.raises(RuntimeError, match="AGGREGATOR_REDIS_URL"):
        create_app(production)  # the production default is celery, which needs Redis
    with pytest.raises(RuntimeError, match="AGGREGATOR_JOBS_THREAD_IN_PRODUCTION"):
        create_app(dict(production, JOBS_BACKEND="thread"))
    with pytest.raises(RuntimeError, match="for the tests"):
        create_app(dict(production, JOBS_BACKEND="inline"))
    allowed = create_app(dict(production, JOBS_BACKEND="thread", JOBS_THREAD_IN_PRODUCTION=True))
    assert allowed.config["JOBS_BACKEND"] == "thread"
    celery = create_app(dict(production, REDIS_URL="redis://127.0.0.1:6379/0"))
    assert celery.config["JOBS_BACKEND"] == "celery"
    for made in (allowed, celery):
        close_app(made)
    with pytest.raises(RuntimeError, match="unknown JOBS_BACKEND"):
        create_app(dict(app_config, JOBS_BACKEND="cron"))


# --- a real Redis: permits shared by every process, one message per batch ----------------------------


def _redis_url() -> str:
    url = os.environ.get("AGGREGATOR_TEST_REDIS_URL")
    if not url:
        pytest.skip("needs a real Redis: set AGGREGATOR_TEST_REDIS_URL (scripts/test.sh does)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs a real Redis: {url} does not answer ({exc})")
    return url


@pytest.fixture
def semaphore_name() -> Iterator[str]:
    url = _redis_url()
    name = f"test-permits-{uuid.uuid4().hex[:12]}"
    yield name
    import redis

    client = redis.Redis.from_url(url)
    client.delete(f"{{{name}}}:holders", f"{{{name}}}:wake")


def _semaphore(name: str, limit: int, ttl: float = 30.0) -> permits.RedisSemaphore:
    import redis

    return permits.RedisSemaphore(redis.Redis.from_url(_redis_url()), name, limit, ttl)


def test_permits_bound_holders_across_clients(semaphore_name: str) -> None:
    # Each thread has its own client and semaphore object, as separate processes would.
    lock = threading.Lock()
    running, peak, done = [0], [0], []

    def work() -> None:
        semaphore = _semaphore(semaphore_name, 3)
        with semaphore.held():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.15)
            with lock:
                running[0] -= 1
        done.append(1)

    threads = [threading.Thread(target=work) for _ in range(9)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    took = time.monotonic() - began
    assert len(done) == 9 and peak[0] == 3
    # Three waves of 0.15 s: a released permit is handed over at once, not at the next one-second retry.
    assert took < 1.5, f"{took:.2f} s"
    assert _semaphore(semaphore_name, 3).holders() == 0


def test_a_permit_whose_holder_died_returns_after_its_ttl(semaphore_name: str) -> None:
    dead = _semaphore(semaphore_name, 1, ttl=0.5)
    token = dead.try_acquire()
    assert token is not None
    permits._refresher.discard(dead, token)  # its process is gone: nobody refreshes it any more
    other = _semaphore(semaphore_name, 1, ttl=0.5)
    assert other.try_acquire() is None
    began = time.monotonic()
    again = other.acquire(timeout=5)
    assert 0.2 < time.monotonic() - began < 2.0
    other.release(again)


def test_a_live_holder_keeps_its_permit_beyond_the_ttl(semaphore_name: str) -> None:
    holder = _semaphore(semaphore_name, 1, ttl=0.6)
    token = holder.acquire()
    time.sleep(1.5)  # refreshed every 0.2 s
    assert _semaphore(semaphore_name, 1, ttl=0.6).try_acquire() is None
    holder.release(token)
    assert _semaphore(semaphore_name, 1, ttl=0.6).holders() == 0


def test_a_batch_leaves_the_web_process_as_one_message(app: Flask) -> None:
    url = _redis_url()
    with celery_worker(app, url) as celery, backend(app, jobs.CeleryBackend(app)) as chosen, app.app_context():
        sent: list[str] = []
        send = celery.send_task

        def counted(name: str, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is threading.main_thread():  # the web side, not the worker's fan-out
                sent.append(name)
            return send(name, *args, **kwargs)

        chosen.celery.send_task = counted  # type: ignore[attr-defined, method-assign]
        ids = [jobs.enqueue("test.record", {"n": n}, lane=("gnp", "australis")[n % 2]).id for n in range(30)]
        db.session.commit()
        assert jobs.dispatch_pending(app) == 30
        assert sent == ["aggregator.fan_out"]
        wait_until(lambda: all(job_row(i).status == "done" for i in ids), timeout=30, what="every job of the batch")
        assert sorted(p["n"] for p in RAN) == list(range(30))
        few = [jobs.enqueue("test.record", {"n": n}).id for n in range(2)]
        db.session.commit()
        sent.clear()
        jobs.dispatch_pending(app)
        assert sent == ["aggregator.run_job", "aggregator.run_job"]
        wait_until(lambda: all(job_row(i).status == "done" for i in few), timeout=30, what="the few jobs")
