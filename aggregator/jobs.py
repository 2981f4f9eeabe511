"""Background jobs: one interface, three backends (DESIGN §5).

- ``inline``: the job runs in the caller's thread once the caller's transaction has committed (tests).
- ``thread``: an in-process pool per lane — the embedded default. A lane is an insurer, so each
  insurer's concurrency is bounded by its lane's size and one slow insurer never starves another.
- ``celery``: jobs are sent to Celery workers through Redis (``aggregator worker`` starts one).

Job state lives in the ``jobs`` table so every process, and the UI, can see it. A job is only handed
to a backend after the transaction that created it commits (``dispatch_pending``), so a worker never
looks for a row that is not there yet.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Protocol

from flask import Flask, current_app, g
from sqlalchemy import insert, update

from aggregator import mail
from aggregator.config import BaseConfig
from aggregator.extensions import db
from aggregator.models import Job
from aggregator.models.types import utcnow

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of ``kind``."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


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
    backend = backend_for(app)
    for job_id, lane in pending:
        backend.submit(app, job_id, lane)
    return len(pending)


def discard_pending() -> None:
    """Forget jobs whose transaction rolled back."""
    g.pop("pending_jobs", None)


def run_job(app: Flask, job_id: str) -> str:
    """Run one job in its own app context and session; returns its final status."""
    with app.app_context():
        try:
            claimed = db.session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(status="running", started_at=utcnow(), attempts=Job.attempts + 1)
                .returning(Job.kind, Job.payload)
                .execution_options(synchronize_session=False)
            ).first()
            db.session.commit()
            if claimed is None:
                return "skipped"  # another worker has it, or it is done
            kind, payload = claimed
            fn = HANDLERS.get(kind)
            status, error = "done", None
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
            db.session.execute(
                update(Job).where(Job.id == job_id).values(status=status, finished_at=utcnow(), error=error)
            )
            db.session.commit()
            mail.flush_queued(app)  # emails of a job leave after its transaction committed
            dispatch_pending(app)  # a job may enqueue others
            return status
        finally:
            db.session.remove()


def fail_abandoned(older_than: timedelta = timedelta(minutes=15)) -> int:
    """Mark failed the jobs left 'running' by a process that died (their accounts are retaken by the next sync)."""
    result = db.session.execute(
        update(Job)
        .where(Job.status == "running", Job.started_at < utcnow() - older_than)
        .values(status="failed", finished_at=utcnow(), error="abandoned: the worker stopped")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- backends -----------------------------------------------------------------------------------


class Backend(Protocol):
    name: str

    def submit(self, app: Flask, job_id: str, lane: str) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


class InlineBackend:
    """Runs the job at once in the caller's thread (after the caller committed)."""

    name = "inline"

    def submit(self, app: Flask, job_id: str, lane: str) -> None:
        run_job(app, job_id)

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

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=wait)


class CeleryBackend:
    """Sends each job id to Celery through the Redis broker; a worker runs ``run_job``."""

    name = "celery"

    def __init__(self, app: Flask) -> None:
        from aggregator import worker

        self.celery = worker.celery_for(app)

    def submit(self, app: Flask, job_id: str, lane: str) -> None:
        self.celery.send_task("aggregator.run_job", args=[job_id])

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
                raise RuntimeError(f"unknown JOBS_BACKEND {name!r}: use inline, thread or celery")
            app.extensions["jobs_backend"] = backend
        return backend


def shutdown(app: Flask, wait: bool = True) -> None:
    """Stop the app's backend (waiting for running jobs when ``wait``)."""
    backend: Backend | None = app.extensions.pop("jobs_backend", None)
    if backend is not None:
        backend.shutdown(wait=wait)
