"""Real ``aggregator worker`` processes over a real Redis and PostgreSQL (issue 9).

A worker killed (SIGKILL) in the middle of a sync: another worker started afterwards finishes the job and
the account ends ``ok``, never stuck "syncing". And the per-insurer limit holds across two worker
processes: the insurer never serves more clients at once than ``SYNC_CONCURRENCY_PER_INSURER``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select

from aggregator import jobs
from aggregator.extensions import db
from aggregator.models import ClientProfile, InsurerAccount, Job, SyncRun, User
from aggregator.models.types import utcnow
from aggregator.services import insurers, sync
from tests.conftest import TEST_DB_URL, Sandbox
from tests.integration.test_jobs import backend, wait_until
from tests.support.data import link_sample

ROOT = Path(__file__).resolve().parents[2]
# The workers' own HTTP policy: a sync made slow on purpose must not time out.
WORKER_HTTP_POLICY = {"connect_timeout": 2.0, "read_timeout": 10.0, "deadline": 60.0, "max_attempts": 2}


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("AGGREGATOR_TEST_REDIS_URL")
    if not TEST_DB_URL or not TEST_DB_URL.startswith("postgresql") or not url:
        pytest.skip(
            "worker processes share the test database: needs PostgreSQL and Redis "
            "(AGGREGATOR_TEST_DATABASE_URL, AGGREGATOR_TEST_REDIS_URL; scripts/test.sh sets both)"
        )
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs a real Redis: {url} does not answer ({exc})")
    return url


@pytest.fixture
def queue(redis_url: str) -> Iterator[str]:
    """A queue of this test's own; its keys, and the messages a killed worker left unacknowledged, are removed after."""
    name = f"aggregator-test-{uuid.uuid4().hex[:12]}"
    yield name
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in (name, f"{name}.bulk"):
        client.delete(key, f"_kombu.binding.{key}", f"_kombu.binding_permanent.{key}")
    client.delete(*client.keys(f"{{{name}:permits:*") or ["-"])
    for tag, raw in client.hscan_iter("unacked"):
        with contextlib.suppress(ValueError, IndexError):
            if json.loads(raw)[2] in (name, f"{name}.bulk"):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)


@contextlib.contextmanager
def sending_to(app: Flask, redis_url: str, queue: str) -> Iterator[None]:
    """This process (the web side) sends jobs to ``queue`` through the Celery backend."""
    saved = {key: app.config.get(key) for key in ("CELERY_QUEUE", "CELERY_BROKER_URL")}
    app.config.update(CELERY_QUEUE=queue, CELERY_BROKER_URL=redis_url)
    app.extensions.pop("celery", None)
    try:
        with backend(app, jobs.CeleryBackend(app)):
            yield
    finally:
        app.extensions.pop("celery", None)
        app.config.update(saved)


class Worker:
    """``aggregator worker`` in a process of its own, configured like the test app but with the given settings."""

    def __init__(self, app_config: dict[str, Any], redis_url: str, queue: str, log: Path, **settings: Any) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
        values: dict[str, Any] = {
            "ENV": "development",
            "INSTANCE_PATH": str(log.parent),
            "SECRET_KEY": app_config["SECRET_KEY"],
            "DATABASE_URL": TEST_DB_URL,
            "REDIS_URL": redis_url,
            "MAIL_URL": app_config["MAIL_URL"],
            "JOBS_BACKEND": "celery",
            "CELERY_QUEUE": queue,
            "CONNECTOR_SETTINGS": app_config["CONNECTOR_SETTINGS"],
            "CONNECTOR_HTTP_POLICY": WORKER_HTTP_POLICY,
            **settings,
        }
        for key, value in values.items():
            env[f"AGGREGATOR_{key}"] = value if isinstance(value, str) else json.dumps(value)
        self.log = log
        self._out = log.open("wb")
        cmd = [sys.executable, "-m", "aggregator.cli", "worker", "--concurrency", "4", "--loglevel", "INFO"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until(lambda: b" ready." in self.log.read_bytes() or self.proc.poll() is not None, timeout, "a worker")
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown: finish what runs
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()


@pytest.fixture
def workers(app_config: dict[str, Any], redis_url: str, queue: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(**settings: Any) -> Worker:
        worker = Worker(app_config, redis_url, queue, tmp_path / f"worker-{len(started)}.log", **settings)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _account(account_id: int) -> InsurerAccount:
    db.session.expire_all()
    found = db.session.get(InsurerAccount, account_id)
    assert found is not None
    return found


def test_a_worker_killed_mid_sync_leaves_no_account_syncing(
    app: Flask, sandboxes: dict[str, Sandbox], workers: Callable[..., Worker], redis_url: str, queue: str
) -> None:
    with app.app_context():
        user = User(email="killed@coberta.example", verified_at=utcnow())
        db.session.add(user)
        db.session.commit()
        account_id = link_sample(user.id, "gnp", run_sync=False).id
    sandboxes["gnp"].faults(latency_ms=700)  # every call of the sync is slow: it is mid-way for seconds
    lease = {"JOBS_LEASE_SECONDS": 3}
    first = workers(**lease)
    with sending_to(app, redis_url, queue), app.app_context():
        account = db.session.get(InsurerAccount, account_id)
        assert account is not None and sync.request_sync(account, "refresh", user.id)
        db.session.commit()
        jobs.dispatch_pending(app)
        job_id = db.session.scalar(select(Job.id).where(Job.kind == "sync"))
        assert job_id is not None

        def fetching() -> bool:
            db.session.expire_all()
            return db.session.scalar(select(SyncRun.id).where(SyncRun.outcome == "running")) is not None

        wait_until(fetching, timeout=30, what="the first worker to start the sync")
        time.sleep(0.5)  # inside the insurer's answers
        first.kill()
        assert _account(account_id).status == "syncing"
        job = db.session.get(Job, job_id)
        assert job is not None and job.status == "running" and job.worker and job.attempts == 1
        sandboxes["gnp"].clear()

        workers(**lease)  # reclaims at start once the lease ran out, else within half a lease
        wait_until(lambda: _account(account_id).status == "ok", timeout=40, what="the account to end ok")
        wait_until(lambda: db.session.get(Job, job_id).status == "done", timeout=10, what="the job to finish")  # type: ignore[union-attr]
        account = _account(account_id)
        assert account.sync_started_at is None and account.sync_queued_at is None and account.last_success_at
        job = db.session.get(Job, job_id)
        assert job is not None and job.attempts == 2 and job.error is None
        runs = db.session.execute(select(SyncRun.outcome, SyncRun.detail).order_by(SyncRun.id)).all()
        assert [outcome for outcome, _ in runs] == ["failed", "ok"] and "abandoned" in str(runs[0][1])


class InFlight:
    """WSGI middleware of an insurer sandbox: the largest number of clients whose data it was serving at once."""

    CLIENT = re.compile(r"/clientes/([^/?]+)")

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.serving: dict[str, int] = {}
        self.peak = 0
        self.clients: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = self.CLIENT.search(environ.get("PATH_INFO", ""))
        client = found.group(1) if found and found.group(1) != "verificacion" else None
        if client is None:
            return self.app(environ, start_response)
        with self.lock:
            self.serving[client] = self.serving.get(client, 0) + 1
            self.peak = max(self.peak, len(self.serving))
            self.clients.add(client)
        try:
            return list(self.app(environ, start_response))  # the whole answer, latency included
        finally:
            with self.lock:
                self.serving[client] -= 1
                if not self.serving[client]:
                    del self.serving[client]


def test_the_per_insurer_limit_holds_across_two_worker_processes(
    app: Flask, app_config: dict[str, Any], workers: Callable[..., Worker], redis_url: str, queue: str
) -> None:
    import requests

    from connectors.gnp.sandbox import sandbox_of
    from connectors.registry import discover
    from connectors.sandbox.server import running

    spec = discover()["gnp"].sandbox()
    assert spec is not None
    gnp = spec.make_app()
    tap = InFlight(gnp)
    refs = list(sandbox_of(gnp).store.clients)[:8]
    with running(tap) as base:
        requests.post(base + spec.faults_path, json={"latency_ms": 150}, timeout=5).raise_for_status()
        settings = dict(app_config["CONNECTOR_SETTINGS"], gnp=spec.settings_for(base))
        # Two processes of four threads each could fetch eight clients at once; the limit is two.
        limits = {"SYNC_CONCURRENCY_PER_INSURER": 2, "CONNECTOR_SETTINGS": settings, "CONNECTORS_ENABLED": "gnp"}
        started = [workers(**limits), workers(**limits)]
        for worker in started:
            worker.wait_ready()
        with sending_to(app, redis_url, queue), app.app_context():
            gnp_id = insurers.ensure_insurers()["gnp"]
            profiles = db.session.scalars(
                insert(ClientProfile).returning(ClientProfile.id),
                [
                    {"country": "MX", "id_type": "RFC", "id_number": f"LIMT{n:06d}X0", "name": f"C {n}"}
                    for n in range(8)
                ],
            ).all()
            ids = db.session.scalars(
                insert(InsurerAccount).returning(InsurerAccount.id),
                [
                    {"profile_id": p, "insurer_id": gnp_id, "client_ref": ref}
                    for p, ref in zip(profiles, refs, strict=True)
                ],
            ).all()
            assert len(sync.queue_syncs(InsurerAccount.id.in_(ids), "refresh")[1]) == 8
            db.session.commit()
            jobs.dispatch_pending(app)  # one message: a worker fans it out

            def all_done() -> bool:
                db.session.expire_all()
                return all(db.session.get(InsurerAccount, i).status != "syncing" for i in ids)  # type: ignore[union-attr]

            wait_until(all_done, timeout=60, what="the eight syncs")
            assert {_account(i).status for i in ids} == {"ok"}
            ran_on = set(db.session.scalars(select(Job.worker).where(Job.kind == "sync")))
        assert len(ran_on) == 2, f"both workers should have run syncs: {ran_on}"
        assert tap.clients == set(refs)
        assert tap.peak == 2, f"the insurer served {tap.peak} clients at once (limit 2)"
