"""The job system: dispatch after commit, job state rows, per-lane bounds, and Celery over a real Redis."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from aggregator import jobs
from aggregator.extensions import db
from aggregator.models import InsurerAccount, Job, User
from aggregator.models.types import utcnow
from aggregator.services import sync
from tests.conftest import Sandbox
from tests.support.data import link_sample

# --- test handlers ------------------------------------------------------------------------------

RAN: list[dict[str, Any]] = []
_ran_lock = threading.Lock()


@jobs.handler("test.record")
def _record(payload: dict[str, Any]) -> None:
    with _ran_lock:
        RAN.append(payload)


@jobs.handler("test.fail")
def _fail(payload: dict[str, Any]) -> None:
    raise ValueError(f"cannot do {payload['what']}")


class Gate:
    """Lets a test hold jobs of kind ``test.gate`` inside their handler, and see how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.running: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.hold_s = 0.0

    def __call__(self, payload: dict[str, Any]) -> None:
        lane = str(payload["lane"])
        with self.lock:
            self.running[lane] += 1
            self.peak[lane] = max(self.peak[lane], self.running[lane])
            self.peak["*"] = max(self.peak["*"], sum(self.running[k] for k in self.running if k != "*"))
        try:
            if self.hold_s:
                time.sleep(self.hold_s)
            assert self.release.wait(timeout=20), "the test never released the job"
        finally:
            with self.lock:
                self.running[lane] -= 1


GATE: list[Gate] = []


@jobs.handler("test.gate")
def _gate(payload: dict[str, Any]) -> None:
    GATE[-1](payload)


@pytest.fixture
def gate() -> Iterator[Gate]:
    found = Gate()
    GATE.append(found)
    yield found
    found.release.set()
    GATE.remove(found)


@pytest.fixture(autouse=True)
def _forget_runs() -> Iterator[None]:
    RAN.clear()
    yield
    RAN.clear()


def job_row(job_id: str) -> Job:
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job is not None
    return job


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextmanager
def backend(app: Flask, replacement: jobs.Backend) -> Iterator[jobs.Backend]:
    """Use another backend for the block (the session's app runs jobs inline)."""
    saved = app.extensions.get("jobs_backend")
    app.extensions["jobs_backend"] = replacement
    try:
        yield replacement
    finally:
        replacement.shutdown(wait=True)
        if saved is None:
            app.extensions.pop("jobs_backend", None)
        else:
            app.extensions["jobs_backend"] = saved


# --- inline -------------------------------------------------------------------------------------


def test_backend_follows_the_configuration(app: Flask) -> None:
    assert app.config["JOBS_BACKEND"] == "inline"
    assert isinstance(jobs.backend_for(app), jobs.InlineBackend)
    assert jobs.backend_for(app) is jobs.backend_for(app)


def test_inline_jobs_run_only_after_the_commit(app: Flask) -> None:
    with app.app_context():
        job = jobs.enqueue("test.record", {"n": 1}, lane="x")
        assert job.status == "queued" and RAN == []
        db.session.commit()
        assert RAN == []  # nothing runs until the caller dispatches what it committed
        assert jobs.dispatch_pending(app) == 1
        assert RAN == [{"n": 1}]
        done = job_row(job.id)
        assert done.status == "done" and done.attempts == 1 and done.error is None
        assert done.started_at is not None and done.finished_at is not None
        assert jobs.dispatch_pending(app) == 0  # handed over once


def test_jobs_of_a_rolled_back_transaction_never_run(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.record", {"n": 2}).id
        db.session.rollback()
        jobs.discard_pending()
        assert jobs.dispatch_pending(app) == 0
        assert RAN == [] and db.session.get(Job, job_id) is None


def test_a_failing_handler_marks_the_job_failed_with_its_error(app: Flask) -> None:
    with app.app_context():
        failing = jobs.enqueue("test.fail", {"what": "the impossible"})
        unknown = jobs.enqueue("test.nobody-handles-this", {})
        db.session.commit()
        jobs.dispatch_pending(app)
        row = job_row(failing.id)
        assert row.status == "failed" and row.error == "ValueError: cannot do the impossible"
        assert row.finished_at is not None
        row = job_row(unknown.id)
        assert row.status == "failed" and row.error is not None and "no handler" in row.error


def test_a_job_runs_once(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.record", {"n": 3}).id
        db.session.commit()
        assert jobs.run_job(app, job_id) == "done"
        assert jobs.run_job(app, job_id) == "skipped"  # a second delivery (Celery acks late) does nothing
        assert RAN == [{"n": 3}]


def _abandon(job_id: str, *, attempts: int = 1, silent_for: timedelta = timedelta(hours=1)) -> None:
    """Make ``job_id`` look like the job of a process that died mid-run ``silent_for`` ago."""
    stamp = utcnow() - silent_for
    db.session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status="running", started_at=stamp, heartbeat_at=stamp, attempts=attempts, worker="gone:1")
    )
    db.session.commit()


def test_a_job_left_running_by_a_dead_process_runs_again(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.record", {"n": 4}).id
        db.session.commit()
        jobs.discard_pending()
        _abandon(job_id, silent_for=timedelta(seconds=30))
        assert not jobs.reclaim_abandoned()  # silent for less than a lease: its process may be alive
        _abandon(job_id, silent_for=timedelta(seconds=app.config["JOBS_LEASE_SECONDS"] + 1))
        found = jobs.reclaim_abandoned()
        assert (found.requeued, found.failed, found.resent) == (1, 0, 0)
        row = job_row(job_id)
        assert row.status == "queued" and row.worker is None
        assert not jobs.reclaim_abandoned()  # taken once: a second reclaimer finds nothing
        db.session.commit()
        assert jobs.dispatch_pending(app) == 1
        row = job_row(job_id)
        assert row.status == "done" and row.attempts == 2 and row.error is None
        assert RAN == [{"n": 4}]


def test_a_job_abandoned_too_often_is_failed(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.record", {}).id
        db.session.commit()
        jobs.discard_pending()
        _abandon(job_id, attempts=app.config["JOBS_MAX_ATTEMPTS"])
        assert jobs.reclaim_abandoned().failed == 1
        db.session.commit()
        assert jobs.dispatch_pending(app) == 0
        row = job_row(job_id)
        assert row.status == "failed" and row.error and "abandoned" in row.error and RAN == []


def test_a_queued_job_whose_message_was_lost_is_sent_again(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.record", {"n": 5}).id
        db.session.commit()
        jobs.discard_pending()  # the process died before it handed the job over
        assert not jobs.reclaim_abandoned()  # just queued: its message may be on its way
        later = utcnow() + timedelta(minutes=app.config["JOBS_REQUEUE_MINUTES"], seconds=1)
        assert jobs.reclaim_abandoned(now=later).resent == 1
        db.session.commit()
        assert jobs.dispatch_pending(app) == 1
        assert job_row(job_id).status == "done" and RAN == [{"n": 5}]


def test_a_reclaimed_attempt_does_not_overwrite_the_next_one(app: Flask, gate: Gate) -> None:
    """A process whose heartbeat fell silent but which lives on finishes after its job was queued again."""
    with backend(app, jobs.ThreadBackend(workers_per_lane=1)), app.app_context():
        job_id = jobs.enqueue("test.gate", {"lane": "x"}, lane="x").id
        db.session.commit()
        jobs.dispatch_pending(app)
        wait_until(lambda: job_id in jobs.leases_of(app).held(), what="the job to run")
        db.session.execute(update(Job).where(Job.id == job_id).values(status="queued", attempts=Job.attempts + 1))
        db.session.commit()  # what a reclaimer does when the heartbeat is older than the lease
        gate.release.set()
        wait_until(lambda: not jobs.leases_of(app).held(), what="the first attempt to end")
        row = job_row(job_id)
        assert row.status == "queued" and row.finished_at is None  # left to the next attempt


def test_a_running_job_keeps_its_heartbeat(app: Flask, gate: Gate) -> None:
    saved = app.config["JOBS_LEASE_SECONDS"]
    app.config["JOBS_LEASE_SECONDS"] = 1.0  # a beat every 0.25 s
    app.extensions.pop("job_leases", None)
    try:
        with backend(app, jobs.ThreadBackend(workers_per_lane=1)), app.app_context():
            job_id = jobs.enqueue("test.gate", {"lane": "x"}, lane="x").id
            db.session.commit()
            jobs.dispatch_pending(app)
            wait_until(lambda: job_row(job_id).status == "running", what="the job to run")
            first = job_row(job_id).heartbeat_at
            assert first is not None and job_row(job_id).worker == jobs.worker_name()
            wait_until(lambda: job_row(job_id).heartbeat_at != first, timeout=5, what="a heartbeat")
            time.sleep(1.5)  # longer than the lease: alive all the same
            assert not jobs.reclaim_abandoned() and job_row(job_id).status == "running"
            db.session.commit()
            gate.release.set()
            wait_until(lambda: job_row(job_id).status == "done", what="the job to end")
    finally:
        jobs.shutdown(app)
        app.config["JOBS_LEASE_SECONDS"] = saved


# --- thread ---------------------------------------------------------------------------------------


def test_thread_backend_runs_jobs_concurrently_within_each_lanes_bound(app: Flask, gate: Gate) -> None:
    with backend(app, jobs.ThreadBackend(workers_per_lane=2)), app.app_context():
        ids = [
            jobs.enqueue("test.gate", {"lane": lane}, lane=lane).id for lane in ("gnp", "australis") for _ in range(5)
        ]
        db.session.commit()
        assert jobs.dispatch_pending(app) == 10
        # Two per lane start, the others wait in their lane's queue.
        wait_until(lambda: sum(job_row(i).status == "running" for i in ids) == 4, what="four running jobs")
        time.sleep(0.2)
        statuses = [job_row(i).status for i in ids]
        assert statuses.count("running") == 4 and statuses.count("queued") == 6, statuses
        assert gate.peak["gnp"] == 2 and gate.peak["australis"] == 2 and gate.peak["*"] == 4
        gate.release.set()
        wait_until(lambda: all(job_row(i).status == "done" for i in ids), what="every job done")
        assert gate.peak["gnp"] == 2 and gate.peak["australis"] == 2  # never more than the lane's size


def test_thread_backend_is_faster_than_one_at_a_time(app: Flask, gate: Gate) -> None:
    gate.hold_s = 0.3
    gate.release.set()
    with backend(app, jobs.ThreadBackend(workers_per_lane=4)), app.app_context():
        ids = [jobs.enqueue("test.gate", {"lane": "gnp"}, lane="gnp").id for _ in range(8)]
        db.session.commit()
        began = time.monotonic()
        jobs.dispatch_pending(app)
        wait_until(lambda: all(job_row(i).status == "done" for i in ids), what="every job done")
        took = time.monotonic() - began
    assert gate.peak["gnp"] == 4
    assert took < 8 * 0.3 * 0.6, f"{took:.2f} s for 8 jobs of 0.3 s on 4 workers"


def test_thread_backend_records_a_failure(app: Flask) -> None:
    with backend(app, jobs.ThreadBackend(workers_per_lane=1)), app.app_context():
        job_id = jobs.enqueue("test.fail", {"what": "it in a thread"}, lane="gnp").id
        db.session.commit()
        jobs.dispatch_pending(app)
        wait_until(lambda: job_row(job_id).status == "failed", what="the job to fail")
        assert job_row(job_id).error == "ValueError: cannot do it in a thread"


def test_syncs_through_the_thread_backend(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    with app.app_context():
        user = User(email="jobs@coberta.example", verified_at=utcnow())
        db.session.add(user)
        db.session.commit()
        accounts = [link_sample(user.id, slug, run_sync=False).id for slug in ("gnp", "australis")]
    with backend(app, jobs.ThreadBackend(workers_per_lane=2)), app.app_context():
        assert sync.refresh_for_user(user.id) == 2
        db.session.commit()
        jobs.dispatch_pending(app)

        def synced() -> bool:
            db.session.expire_all()
            return all(db.session.get(InsurerAccount, a).status == "ok" for a in accounts)  # type: ignore[union-attr]

        wait_until(synced, what="both accounts synced")
        lanes = set(db.session.scalars(select(Job.lane).where(Job.kind == "sync")))
        assert lanes == {"gnp", "australis"}


# --- celery over a real Redis ---------------------------------------------------------------------


def _redis_url() -> str:
    url = os.environ.get("AGGREGATOR_TEST_REDIS_URL")
    if not url:
        pytest.skip("the Celery backend needs a real Redis: set AGGREGATOR_TEST_REDIS_URL (scripts/test.sh does)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"the Celery backend needs a real Redis: {url} does not answer ({exc})")
    return url


@contextmanager
def celery_worker(app: Flask, url: str) -> Iterator[Any]:
    """A real Celery worker in this process on a queue of its own, consuming from Redis."""
    from celery.contrib.testing.worker import start_worker

    from aggregator import worker

    queue = f"aggregator-test-{uuid.uuid4().hex[:12]}"
    saved = {key: app.config.get(key) for key in ("CELERY_QUEUE", "CELERY_BROKER_URL")}
    app.config.update(CELERY_QUEUE=queue, CELERY_BROKER_URL=url)
    app.extensions.pop("celery", None)
    celery = worker.celery_for(app)
    try:
        with start_worker(
            celery, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"
        ):
            yield celery
    finally:
        app.extensions.pop("celery", None)
        app.config.update(saved)
        import redis

        client = redis.Redis.from_url(url)
        for key in (queue, f"{queue}.bulk"):
            client.delete(key, f"_kombu.binding.{key}", f"_kombu.binding_permanent.{key}")


def test_celery_backend_runs_a_sync_through_redis(app: Flask, sandboxes: dict[str, Sandbox]) -> None:
    url = _redis_url()
    with app.app_context():
        user = User(email="celery@coberta.example", verified_at=utcnow())
        db.session.add(user)
        db.session.commit()
        account_id = link_sample(user.id, "gnp", run_sync=False).id
    with celery_worker(app, url) as celery, backend(app, jobs.CeleryBackend(app)) as chosen, app.app_context():
        assert chosen.name == "celery" and celery.conf.task_default_queue.startswith("aggregator-test-")
        account = db.session.get(InsurerAccount, account_id)
        assert account is not None
        assert sync.request_sync(account, "refresh", user.id) is True
        job_id = db.session.scalar(select(Job.id).where(Job.kind == "sync"))
        assert job_id is not None
        db.session.commit()
        assert jobs.dispatch_pending(app) == 1

        def synced() -> bool:
            db.session.expire_all()
            return db.session.get(InsurerAccount, account.id).status == "ok"  # type: ignore[union-attr]

        wait_until(synced, timeout=30, what="the Celery worker to sync the account")
        # The job's own row is finished just after the sync's transaction commits.
        wait_until(lambda: job_row(job_id).status != "running", timeout=10, what="the job row to finish")
        job = job_row(job_id)
        assert job.status == "done" and job.attempts == 1
        assert job.started_at is not None and job.finished_at is not None


def test_celery_backend_records_a_failed_job(app: Flask) -> None:
    url = _redis_url()
    with celery_worker(app, url), backend(app, jobs.CeleryBackend(app)), app.app_context():
        job_id = jobs.enqueue("test.fail", {"what": "it over Redis"}).id
        db.session.commit()
        jobs.dispatch_pending(app)
        wait_until(lambda: job_row(job_id).status == "failed", timeout=30, what="the Celery job to fail")
        assert job_row(job_id).error == "ValueError: cannot do it over Redis"
