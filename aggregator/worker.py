"""The Celery side of the job system: a Celery app per portal app, with one task that runs a job by id."""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import Flask


def celery_for(app: Flask) -> Celery:
    """The Celery app bound to this portal app (broker: ``CELERY_BROKER_URL`` or ``REDIS_URL``)."""
    existing: Celery | None = app.extensions.get("celery")
    if existing is not None:
        return existing
    broker = app.config.get("CELERY_BROKER_URL") or app.config.get("REDIS_URL")
    if not broker:
        raise RuntimeError("JOBS_BACKEND=celery needs a Redis broker: set AGGREGATOR_REDIS_URL")
    celery = Celery("aggregator", broker=str(broker), set_as_current=False)
    celery.conf.update(
        task_ignore_result=True,  # the job's state is in the database, not in a result backend
        task_acks_late=True,  # a worker that dies mid-job leaves the message for another
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue=str(app.config.get("CELERY_QUEUE") or "aggregator"),
    )

    # shared=False: a shared task would be added to every Celery app made later in this process (tests,
    # several portal apps), each then running jobs against the first portal app.
    @celery.task(name="aggregator.run_job", shared=False)
    def run(job_id: str) -> str:
        from aggregator import jobs

        return jobs.run_job(app, job_id)

    app.extensions["celery"] = celery
    return celery


def start_worker(app: Flask, concurrency: int, loglevel: str = "INFO", extra: list[str] | None = None) -> Any:
    """Run a Celery worker for this app in the foreground (threads pool: syncs wait on the network)."""
    celery = celery_for(app)
    argv = ["worker", "--pool=threads", f"--concurrency={concurrency}", f"--loglevel={loglevel}", *(extra or [])]
    return celery.worker_main(argv)
