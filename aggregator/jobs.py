"""Background jobs: one interface, three backends (DESIGN §5).

- ``inline``: the job runs in the caller's thread once the caller's transaction has committed (tests).
- ``thread``: an in-process pool per lane — the embedded default. A lane is an insurer, so each
  insurer's concurrency is bounded by its lane's size and one slow insurer never starves another.
- ``celery``: jobs are sent to Celery workers through Redis (``aggregator worker`` starts one); the
  production backend. A batch of jobs (a refresh of 1,000 accounts) leaves the web process as one
  message, which a worker expands into one message per job.

Job state lives in the ``jobs`` table so every process, and the UI, can see it. A job is only handed
to a backend after the transaction that created it commits (``dispatch_pending``), so a worker never
looks for a row that is not there yet. A job is claimed by one atomic UPDATE, so a second message for
the same job does nothing: sending one again is always safe.

A process that dies leaves its jobs behind. While a job runs, its process refreshes the job's
heartbeat every few seconds (``Leases``); ``reclaim_abandoned`` (every worker at start and then
periodically, ``aggregator sync``, Celery beat, the demo's scheduler) queues again a running job whose
heartbeat is older than ``JOBS_LEASE_SECONDS`` — or fails it after ``JOBS_MAX_ATTEMPTS`` — and lets its
kind put its own rows right (``on_abandoned``: a sync's account stops showing "syncing"); it also hands
again to the backend a job left queued for ``JOBS_REQUEUE_MINUTES`` (its message was lost with a killed
process, or with a Redis that lost its data).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import Flask, current_app, g
from sqlalchemy import func, insert, update

from aggregator import mail
from aggregator.config import BaseConfig, as_bool
from aggregator.extensions import db
from aggregator.models import Job
from aggregator.models.types import utcnow

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}
AbandonedHook = Callable[[list[dict[str, Any]], bool], None]
ABANDONED: dict[str, AbandonedHook] = {}
BACKENDS = ("inline", "thread", "celery")


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of ``kind``."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def on_abandoned(kind: str) -> Callable[[AbandonedHook], AbandonedHook]:
    """Register what puts right the rows of ``kind`` jobs whose process died.

    Called in the reclaimer's transaction with the payloads of those jobs and whether they were queued
    again (True) or given up after ``JOBS_MAX_ATTEMPTS`` (False).
    """

    def register(fn: AbandonedHook) -> AbandonedHook:
        ABANDONED[kind] = fn
        return fn

    return register


def init_app(app: Flask) -> None:
    """Check the configured backend: in production, jobs run outside the web process unless explicitly allowed."""
    name = str(app.config.get("JOBS_BACKEND") or "thread")
    if name not in BACKENDS:
        raise RuntimeError(f"unknown JOBS_BACKEND {name!r}: use {', '.join(BACKENDS)}")
    if app.config.get("ENV_NAME") == "production":
        _refuse_jobs_in_web(app, name)
    if name == "celery":
        # Built now rather than by the first request that queues a job: importing Celery and setting up its
        # app would add some 70 ms to one "Actualizar" in every web worker (bench.refresh).
        backend_for(app)


def _refuse_jobs_in_web(app: Flask, name: str) -> None:
    if name == "celery" and not (app.config.get("CELERY_BROKER_URL") or app.config.get("REDIS_URL")):
        raise RuntimeError(
            "AGGREGATOR_JOBS_BACKEND=celery (the production default) needs Redis: set AGGREGATOR_REDIS_URL, "
            "e.g. redis://127.0.0.1:6379/0, and run the syncs with `aggregator worker`"
        )
    if name == "inline":
        raise RuntimeError("AGGREGATOR_JOBS_BACKEND=inline runs jobs inside requests: it is for the tests")
    if name == "thread" and not as_bool(app.config.get("JOBS_THREAD_IN_PRODUCTION")):
        # The thread backend runs every sync inside the web worker that took the request: one user's
        # refresh slows everyone's pages, and a reload of the web workers kills the syncs it holds.
        raise RuntimeError(
            "AGGREGATOR_JOBS_BACKEND=thread runs syncs inside the web workers; in production use "
            "AGGREGATOR_JOBS_BACKEND=celery with `aggregator worker`, or set "
            "AGGREGATOR_JOBS_THREAD_IN_PRODUCTION=true to accept it (a single small process)"
        )


def lease_seconds(app: Flask) -> float:
    """How long a running job's heartbeat may stay silent before its job counts as abandoned."""
    return float(app.config.get("JOBS_LEASE_SECONDS") or BaseConfig.JOBS_LEASE_SECONDS)


def enqueue(kind: str, payload: dict[str, Any], *, lane: str = "default", user_id: int | None = None) -> Job:
    """Record a job in the current transaction; it is dispatched once that transaction commits."""
    job = Job(id=uuid.uuid4().hex, kind=kind, lane=lane, payload=payload, user_id=user_id, status="queued")
    db.session.add(job)
    db.session.flush()
    g.setdefault("pending_jobs", []).append((job.id, lane))
    return job


def enqueue_many(kind: str, items: list[tuple[dict[str, Any], str]], *, user_id: int | None = None) -> list[str]:
    """Record many jobs (payload, lane) with one INSERT; like ``enqueue``, dispatched after the commit."""
    if not items:
        return []
    ids = [uuid.uuid4().hex for _ in items]
    rows = [
        {"id": job_id, "kind": kind, "lane": lane, "payload": payload, "user_id": user_id, "status": "queued"}
        for job_id, (payload, lane) in zip(ids, items, strict=True)
    ]
    db.session.execute(insert(Job), rows)
    g.setdefault("pending_jobs", []).extend((job_id, lane) for job_id, (_payload, lane) in zip(ids, items, strict=True))
    return ids


def dispatch_pending(app: Flask | None = None) -> int:
    """Hand the jobs created in this context to the backend; call after the commit. Returns how many."""
    pending: list[tuple[str, str]] = g.pop("pending_jobs", [])
    if not pending:
        return 0
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    backend_for(app).submit_many(app, pending)
    return len(pending)


def interleave(batch: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Jobs (id, lane) taken from each lane in turn: a queue shared by every lane never begins with a
    long run of one insurer's jobs, whose workers would then wait for that insurer's permits."""
    by_lane: dict[str, list[tuple[str, str]]] = {}
    for item in batch:
        by_lane.setdefault(item[1], []).append(item)
    return [item for turn in itertools.zip_longest(*by_lane.values()) for item in turn if item is not None]


def discard_pending() -> None:
    """Forget jobs whose transaction rolled back."""
    g.pop("pending_jobs", None)


def run_job(app: Flask, job_id: str) -> str:
    """Run one job in its own app context and session; returns its final status."""
    with app.app_context():
        leases = leases_of(app)
        try:
            now = utcnow()
            claimed = db.session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(
                    status="running", started_at=now, heartbeat_at=now, worker=worker_name(), attempts=Job.attempts + 1
                )
                .returning(Job.kind, Job.payload, Job.attempts)
                .execution_options(synchronize_session=False)
            ).first()
            db.session.commit()
            if claimed is None:
                return "skipped"  # another worker has it, or it is done
            kind, payload, attempt = claimed
            fn = HANDLERS.get(kind)
            status, error = "done", None
            leases.hold(job_id)
            try:
                if fn is None:
                    raise LookupError(f"no handler for job kind {kind!r}")
                fn(dict(payload or {}))
                db.session.commit()  # the handler's work, as a request's: services flush, the runner commits
            except Exception as exc:
                log.exception("job %s (%s) failed", job_id, kind)
                db.session.rollback()
                mail.discard_queued()  # nothing is announced about work that rolled back
                discard_pending()
                status, error = "failed", f"{type(exc).__name__}: {exc}"[:300]
            finally:
                leases.release(job_id)
            # Only this attempt's own row: a job reclaimed while it ran (its heartbeat fell silent) belongs
            # to its next attempt now, whose outcome this one must not overwrite.
            finished = db.session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", Job.attempts == attempt)
                .values(status=status, finished_at=utcnow(), error=error)
            )
            if finished.rowcount == 0:  # type: ignore[attr-defined]
                log.warning("job %s (%s) finished after it was reclaimed: its next attempt decides", job_id, kind)
            db.session.commit()
            mail.flush_queued(app)  # emails of a job leave after its transaction committed
            dispatch_pending(app)  # a job may enqueue others
            return status
        finally:
            db.session.remove()


def worker_name() -> str:
    """This process, as a job row names it for operators: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


@dataclass
class Reclaimed:
    """What ``reclaim_abandoned`` found."""

    requeued: int = 0  # running jobs whose process died, queued again
    failed: int = 0  # the same, given up after JOBS_MAX_ATTEMPTS
    resent: int = 0  # queued jobs nobody took, handed to the backend again

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.resent)


def reclaim_abandoned(now: datetime | None = None) -> Reclaimed:
    """Queue again the jobs left running by a process that died, and resend the queued jobs nobody took.

    A running job whose heartbeat is older than ``JOBS_LEASE_SECONDS`` is queued again, or failed once
    it has been tried ``JOBS_MAX_ATTEMPTS`` times; its kind's ``on_abandoned`` hook puts its rows right.
    A job still queued after ``JOBS_REQUEUE_MINUTES`` is handed to the backend again (a duplicate message
    is harmless). Each is one conditional UPDATE, so reclaimers running at once never take the same job
    twice. Like ``enqueue``: commit, then ``dispatch_pending``.
    """
    config = current_app.config
    now = now or utcnow()
    lease = timedelta(seconds=float(config.get("JOBS_LEASE_SECONDS") or BaseConfig.JOBS_LEASE_SECONDS))
    max_attempts = int(config.get("JOBS_MAX_ATTEMPTS") or BaseConfig.JOBS_MAX_ATTEMPTS)
    requeue = timedelta(minutes=float(config.get("JOBS_REQUEUE_MINUTES") or BaseConfig.JOBS_REQUEUE_MINUTES))
    last_sign = func.coalesce(Job.heartbeat_at, Job.created_at)
    silent = (Job.status == "running", last_sign < now - lease)
    again = db.session.execute(
        update(Job)
        .where(*silent, Job.attempts < max_attempts)
        .values(status="queued", heartbeat_at=now, worker=None, error="the process running it stopped: queued again")
        .returning(Job.id, Job.kind, Job.lane, Job.payload)
        .execution_options(synchronize_session=False)
    ).all()
    given_up = db.session.execute(
        update(Job)
        .where(*silent, Job.attempts >= max_attempts)
        .values(
            status="failed", finished_at=now, error=f"abandoned: the process running it stopped {max_attempts} times"
        )
        .returning(Job.id, Job.kind, Job.lane, Job.payload)
        .execution_options(synchronize_session=False)
    ).all()
    for rows, requeued in ((again, True), (given_up, False)):
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(dict(row.payload or {}))
        for kind, payloads in by_kind.items():
            hook = ABANDONED.get(kind)
            if hook is not None:
                hook(payloads, requeued)
    lost = db.session.execute(
        update(Job)
        .where(Job.status == "queued", last_sign < now - requeue)
        .values(heartbeat_at=now)
        .returning(Job.id, Job.lane)
        .execution_options(synchronize_session=False)
    ).all()
    pending = g.setdefault("pending_jobs", [])
    pending.extend((row.id, row.lane) for row in again)
    pending.extend((row.id, row.lane) for row in lost)
    found = Reclaimed(len(again), len(given_up), len(lost))
    if found:
        log.warning(
            "reclaimed jobs: %d abandoned by a dead process queued again, %d given up, %d queued jobs resent",
            found.requeued,
            found.failed,
            found.resent,
        )
    return found


def reclaim_and_dispatch(app: Flask) -> Reclaimed:
    """``reclaim_abandoned`` in its own app context and transaction, then hand what it queued to the backend."""
    with app.app_context():
        try:
            found = reclaim_abandoned()
            db.session.commit()
        except Exception:
            db.session.rollback()
            discard_pending()
            raise
        dispatch_pending(app)
        return found


class Leases:
    """The jobs this process runs, kept alive: one thread per app refreshes their heartbeat in the database.

    In a worker (``reclaim=True``) the same thread also reclaims, every half lease, what dead processes
    left, so an abandoned job is running again within about one lease without any scheduler.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.lease = lease_seconds(app)
        self.reclaims = False
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, job_id: str) -> None:
        """Keep ``job_id``'s heartbeat fresh until ``release``."""
        with self._lock:
            self._held.add(job_id)
        self._ensure_thread()

    def release(self, job_id: str) -> None:
        """Stop refreshing ``job_id``."""
        with self._lock:
            self._held.discard(job_id)

    def held(self) -> list[str]:
        """The jobs whose heartbeat this process keeps."""
        with self._lock:
            return sorted(self._held)

    def start(self, *, reclaim: bool) -> None:
        """Run the thread now (a worker: with ``reclaim``), not only once a job is held."""
        self.reclaims = self.reclaims or reclaim
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="job-leases", daemon=True)
            self._thread.start()

    def beat(self) -> int:
        """Refresh the heartbeat of every job this process runs; how many rows were refreshed."""
        ids = self.held()
        if not ids:
            return 0
        refreshed = 0
        with self.app.app_context():
            try:
                now, me = utcnow(), worker_name()
                for start in range(0, len(ids), 500):
                    # Only while this process runs it: a job reclaimed and taken by another process (this
                    # one having been silent too long) is that process's to keep alive, not this one's.
                    result = db.session.execute(
                        update(Job)
                        .where(Job.id.in_(ids[start : start + 500]), Job.status == "running", Job.worker == me)
                        .values(heartbeat_at=now)
                    )
                    refreshed += int(result.rowcount or 0)  # type: ignore[attr-defined]
                db.session.commit()
            finally:
                db.session.remove()
        return refreshed

    def _run(self) -> None:
        interval = max(0.05, self.lease / 4)  # three beats may fail before the lease runs out
        next_reclaim = time.monotonic() + self.lease / 2
        while not self._stop.wait(interval):
            try:
                self.beat()
            except Exception:  # the thread must outlive a database hiccup
                log.exception("could not refresh the heartbeat of the running jobs")
            if self.reclaims and time.monotonic() >= next_reclaim:
                next_reclaim = time.monotonic() + self.lease / 2
                try:
                    reclaim_and_dispatch(self.app)
                except Exception:
                    log.exception("could not reclaim abandoned jobs")

    def stop(self) -> None:
        """Stop the thread (tests, shutdown)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


_leases_guard = threading.Lock()


def leases_of(app: Flask) -> Leases:
    """The app's ``Leases`` in this process."""
    found: Leases | None = app.extensions.get("job_leases")
    if found is None:
        with _leases_guard:
            found = app.extensions.get("job_leases")
            if found is None:
                found = app.extensions["job_leases"] = Leases(app)
    return found


# --- backends -----------------------------------------------------------------------------------


class Backend(Protocol):
    name: str

    def submit(self, app: Flask, job_id: str, lane: str) -> None: ...

    def submit_many(self, app: Flask, batch: Sequence[tuple[str, str]]) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


class InlineBackend:
    """Runs the job at once in the caller's thread (after the caller committed)."""

    name = "inline"

    def submit(self, app: Flask, job_id: str, lane: str) -> None:
        run_job(app, job_id)

    def submit_many(self, app: Flask, batch: Sequence[tuple[str, str]]) -> None:
        for job_id, lane in batch:
            self.submit(app, job_id, lane)

    def shutdown(self, wait: bool = True) -> None:
        return None


def _log_crash(future: Future[str]) -> None:
    """A pool thread's exception would vanish with its future: log it."""
    exc = future.exception()
    if exc is not None:
        log.error("a job crashed outside its handler", exc_info=exc)


class ThreadBackend:
    """One thread pool per lane, each as large as ``JOBS_LANE_WORKERS``."""

    name = "thread"

    def __init__(self, workers_per_lane: int) -> None:
        self.workers_per_lane = workers_per_lane
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def _pool(self, lane: str) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._pools.get(lane)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=self.workers_per_lane, thread_name_prefix=f"job-{lane}")
                self._pools[lane] = pool
            return pool

    def submit(self, app: Flask, job_id: str, lane: str) -> None:
        self._pool(lane).submit(run_job, app, job_id).add_done_callback(_log_crash)

    def submit_many(self, app: Flask, batch: Sequence[tuple[str, str]]) -> None:
        for job_id, lane in batch:
            self.submit(app, job_id, lane)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=wait)


class CeleryBackend:
    """Sends jobs to Celery through the Redis broker; a worker runs ``run_job``.

    A few jobs go as one message each. A batch (a refresh of many accounts, the schedule) goes as one
    message that a worker expands into one message per job on the bulk queue: the web process spends
    one round trip to Redis, not one per job, and the bulk queue never stands in front of a user's few
    jobs (a worker takes from both queues in turn).
    """

    name = "celery"
    FAN_OUT_MIN = 8  # from this many jobs on, one message for the batch

    def __init__(self, app: Flask) -> None:
        from aggregator import worker

        self.celery = worker.celery_for(app)
        self.celery.finalize()  # its tasks registered now, not on the first send
        self.queue = worker.queue_name(app)

    def submit(self, app: Flask, job_id: str, lane: str) -> None:
        self.celery.send_task("aggregator.run_job", args=[job_id], queue=self.queue)

    def submit_many(self, app: Flask, batch: Sequence[tuple[str, str]]) -> None:
        ids = [job_id for job_id, _lane in interleave(batch)]
        if len(ids) >= self.FAN_OUT_MIN:
            self.celery.send_task("aggregator.fan_out", args=[ids], queue=self.queue)
            return
        with self.celery.producer_or_acquire() as producer:  # one connection for the few
            for job_id in ids:
                self.celery.send_task("aggregator.run_job", args=[job_id], queue=self.queue, producer=producer)

    def shutdown(self, wait: bool = True) -> None:
        return None


_backend_lock = threading.Lock()


def backend_for(app: Flask) -> Backend:
    """The app's job backend, built on first use from ``JOBS_BACKEND`` (inline | thread | celery)."""
    backend: Backend | None = app.extensions.get("jobs_backend")
    if backend is not None:
        return backend
    with _backend_lock:
        backend = app.extensions.get("jobs_backend")
        if backend is None:
            name = str(app.config.get("JOBS_BACKEND") or "thread")
            if name == "inline":
                backend = InlineBackend()
            elif name == "thread":
                backend = ThreadBackend(int(app.config.get("JOBS_LANE_WORKERS") or BaseConfig.JOBS_LANE_WORKERS))
            elif name == "celery":
                backend = CeleryBackend(app)
            else:
                raise RuntimeError(f"unknown JOBS_BACKEND {name!r}: use {', '.join(BACKENDS)}")
            app.extensions["jobs_backend"] = backend
        return backend


def shutdown(app: Flask, wait: bool = True) -> None:
    """Stop the app's backend (waiting for running jobs when ``wait``)."""
    backend: Backend | None = app.extensions.pop("jobs_backend", None)
    if backend is not None:
        backend.shutdown(wait=wait)
    leases: Leases | None = app.extensions.pop("job_leases", None)
    if leases is not None:
        leases.stop()
