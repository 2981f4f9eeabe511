"""The Celery side of the job system: a Celery app per portal app, its tasks, and the worker and beat commands.

Tasks: ``aggregator.run_job`` runs one job by id; ``aggregator.fan_out`` expands a batch sent by the web
process (one message) into one ``run_job`` message per job on the bulk queue; ``aggregator.schedule`` is
Celery beat's tick (reclaim what dead processes left, queue the syncs that are due);
``aggregator.grants_expire`` is beat's daily run over clients' grants to organizations (reminders, expiry).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.schedules import crontab
from flask import Flask
from kombu import Queue

if TYPE_CHECKING:
    from aggregator.services.consent import ExpiryRun

log = logging.getLogger(__name__)


def queue_name(app: Flask) -> str:
    """The queue of a few jobs at a time; batches go to ``<queue>.bulk``."""
    return str(app.config.get("CELERY_QUEUE") or "aggregator")


def celery_for(app: Flask) -> Celery:
    """The Celery app bound to this portal app (broker: ``CELERY_BROKER_URL`` or ``REDIS_URL``)."""
    existing: Celery | None = app.extensions.get("celery")
    if existing is not None:
        return existing
    broker = app.config.get("CELERY_BROKER_URL") or app.config.get("REDIS_URL")
    if not broker:
        raise RuntimeError("JOBS_BACKEND=celery needs a Redis broker: set AGGREGATOR_REDIS_URL")
    queue = queue_name(app)
    bulk = f"{queue}.bulk"
    celery = Celery("aggregator", broker=str(broker), set_as_current=False)
    celery.conf.update(
        task_ignore_result=True,  # the job's state is in the database, not in a result backend
        # A worker that dies mid-job leaves its message unacknowledged in Redis, restored after the
        # transport's visibility timeout; the job's lease (jobs.Leases) has it running again much sooner,
        # and the second delivery then finds the job taken and does nothing.
        task_acks_late=True,
        task_reject_on_worker_lost=True,  # the same for a pool whose child dies (the threads pool has none)
        worker_prefetch_multiplier=1,  # a worker holds no more messages than it has threads
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Both queues are consumed by every worker, in turn: a user's few jobs never wait behind a batch.
        task_queues=(Queue(queue, routing_key=queue), Queue(bulk, routing_key=bulk)),
        task_default_queue=queue,
        beat_schedule={
            "aggregator-schedule": {
                "task": "aggregator.schedule",
                "schedule": float(app.config.get("SYNC_SCHEDULE_SECONDS") or 60),
                "options": {"queue": queue, "expires": float(app.config.get("SYNC_SCHEDULE_SECONDS") or 60)},
            },
            # Clients' grants to organizations: reminders 7 days before their end, and ended grants recorded.
            "aggregator-grants-expire": {
                "task": "aggregator.grants_expire",
                "schedule": crontab(minute=0, hour=int(app.config.get("GRANT_EXPIRY_HOUR_UTC") or 12)),
                "options": {"queue": queue},
            },
        },
    )

    # shared=False: a shared task would be added to every Celery app made later in this process (tests,
    # several portal apps), each then running jobs against the first portal app.
    @celery.task(name="aggregator.run_job", shared=False)
    def run(job_id: str) -> str:
        from aggregator import jobs

        return jobs.run_job(app, job_id)

    @celery.task(name="aggregator.fan_out", shared=False)
    def fan_out(job_ids: list[str]) -> int:
        # The web process sent one message for the batch; one message per job lets every worker take a share.
        with celery.producer_or_acquire() as producer:
            for job_id in job_ids:
                celery.send_task("aggregator.run_job", args=[job_id], queue=bulk, producer=producer)
        return len(job_ids)

    @celery.task(name="aggregator.schedule", shared=False)
    def schedule() -> int:
        return run_schedule(app)

    @celery.task(name="aggregator.grants_expire", shared=False)
    def grants_expire() -> int:
        run = run_grant_expiry(app)
        return run.reminded + run.expired

    app.extensions["celery"] = celery
    return celery


def run_schedule(app: Flask) -> int:
    """One tick of the scheduler: reclaim what dead processes left, queue the syncs that are due; how many."""
    from aggregator import jobs
    from aggregator.extensions import db
    from aggregator.services import sync

    with app.app_context():
        try:
            jobs.reclaim_abandoned()
            queued = sync.enqueue_due()
            db.session.commit()
        except Exception:
            db.session.rollback()
            jobs.discard_pending()
            raise
        jobs.dispatch_pending(app)
        return queued


def run_grant_expiry(app: Flask) -> ExpiryRun:
    """The daily run over clients' grants to organizations (``consent.expire_grants``) in its own transaction.

    Emails are rendered in a request context of their own (templates read the request); their links come
    from EXTERNAL_URL only. They are delivered before this returns: a command's process may end right after.
    """
    from flask import g

    from aggregator import mail
    from aggregator.extensions import db
    from aggregator.services import consent

    hosts = app.config.get("TRUSTED_HOSTS") or ["localhost"]
    with app.test_request_context("/", base_url=f"http://{hosts[0]}"):  # a host the portal answers to
        g.offline_mail = True
        try:
            run = consent.expire_grants()
            db.session.commit()
        except Exception:
            db.session.rollback()
            mail.discard_queued()
            raise
        queued = g.pop("outgoing_mail", [])
        db.session.remove()
    for msg in queued:
        mail.deliver(app, msg)
    return run


def start_worker(app: Flask, concurrency: int, loglevel: str = "INFO", extra: list[str] | None = None) -> Any:
    """Run a Celery worker for this app in the foreground (threads pool: syncs wait on the network).

    Before it takes any message it reclaims the jobs that dead processes left; then its lease thread keeps
    the heartbeat of its running jobs and reclaims again every half lease.
    """
    from aggregator import jobs

    if app.config.get("JOBS_BACKEND") != "celery":
        log.warning("JOBS_BACKEND is %r: the web process will not send jobs to this worker", app.config["JOBS_BACKEND"])
    celery = celery_for(app)
    found = jobs.reclaim_and_dispatch(app)
    if found:
        log.warning("at start: %s", found)
    jobs.leases_of(app).start(reclaim=True)
    argv = [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--hostname=aggregator-{os.getpid()}@%h",
        "--without-mingle",  # no start-up exchange with other workers: job state lives in the database
        "--without-gossip",
        *(extra or []),
    ]
    return celery.worker_main(argv)


def start_beat(app: Flask, loglevel: str = "INFO") -> Any:
    """Run Celery beat for this app in the foreground: ``aggregator.schedule`` every ``SYNC_SCHEDULE_SECONDS``."""
    celery = celery_for(app)
    schedule = os.path.join(app.instance_path, "celerybeat-schedule")
    return celery.start(["beat", f"--schedule={schedule}", f"--loglevel={loglevel}"])
