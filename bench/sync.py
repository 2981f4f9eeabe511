"""Sync of 1,000 profiles × 2 insurers against sandboxes at 75 ms latency, against the concurrency bound.

    python -m bench.sync [--profiles 1000] [--latency-ms 75] [--database-url postgresql+psycopg://...]

The GNP and Australis sandboxes run in two separate processes (their CPU is not the portal's), each
generated with ``--profiles`` clients and every API response taking at least ``--latency-ms``; each
counts the HTTP requests it serves. The portal database (SQLite in a temp dir, or ``--database-url``:
any PostgreSQL database, used or not: every table it holds is dropped and the schema migrated afresh)
gets ``--profiles`` client profiles, each with an account at both insurers (profile i holds the i-th
client of each sandbox, the client refs read from the sandbox processes' own data). Then, with the
portal's default settings — the ``thread`` job backend, ``JOBS_LANE_WORKERS`` workers per insurer lane,
``SYNC_CONCURRENCY_PER_INSURER`` fetches at once per insurer — the scheduler's ``sync.enqueue_due()``
queues every account, the jobs are dispatched, and the clock stops when the last one is finished.
Wall time includes the enqueue.

Bound: the syncs of one insurer can go no faster than its requests × latency ÷ the concurrency
allowed towards it, min(JOBS_LANE_WORKERS, SYNC_CONCURRENCY_PER_INSURER); the bound is the larger
of the two insurers' (they run side by side). Target: wall ≤ 1.25 × bound, every sync ok.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from bench.harness import ROOT

STATS = "/__bench/stats"


def serve_insurer(slug: str, clients: int, latency_ms: int, options: dict[str, Any] | None = None) -> None:
    """Entry point of a sandbox process: serve ``slug`` with ``clients`` clients (0: its own book) and
    ``options`` for ``make_app`` (``policies_per_client``...); print its port, client refs and refs by tax ID."""
    import logging

    from bench.connectors import Tap
    from connectors.registry import discover
    from connectors.sandbox.faults import Faults
    from connectors.sandbox.server import serve

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    spec = discover()[slug].sandbox()
    assert spec is not None, f"{slug} ships no sandbox"
    app = spec.make_app(clients=clients or None, faults=Faults(latency_ms=latency_ms), **(options or {}))
    by_tax_id: dict[str, str]
    if slug == "gnp":
        from connectors.gnp.sandbox import sandbox_of

        store = sandbox_of(app).store
        refs, by_tax_id = list(store.clients), dict(store.by_rfc)
    else:
        refs = list(app.sandbox.store.customers)
        by_tax_id = {number: ref for (_kind, number), ref in app.sandbox.store.by_tax_id.items()}
    server = serve(Tap(app, latency_ms))
    print(json.dumps({"port": server.port, "clients": refs, "by_tax_id": by_tax_id}), flush=True)
    server.serve_forever()


@dataclass
class InsurerProcess:
    """A sandbox process, from the portal's side."""

    slug: str
    base: str
    client_refs: list[str]
    refs_by_tax_id: dict[str, str]

    def requests_served(self) -> int:
        return int(requests.get(self.base + STATS, timeout=5).json()["calls"])


@contextlib.contextmanager
def insurer_process(slug: str, clients: int, latency_ms: int, **options: Any) -> Iterator[InsurerProcess]:
    """Run ``serve_insurer`` in a child Python process; yields the portal's view of it."""
    code = (
        "import json, sys; from bench.sync import serve_insurer as s; "
        "s(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]))"
    )
    proc = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-c", code, slug, str(clients), str(latency_ms), json.dumps(options)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("{"):
            raise RuntimeError(f"the {slug} sandbox process did not start (printed {line!r})")
        info = json.loads(line)
        yield InsurerProcess(slug, f"http://127.0.0.1:{info['port']}", list(info["clients"]), info["by_tax_id"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def reset_database(database_url: str) -> None:
    """Drop every table the database holds, whatever made them (a previous bench, the tests, migrations of
    another revision), so that the migrations start from nothing: benches accept a used database."""
    from sqlalchemy import MetaData

    from aggregator.db import make_engine

    engine = make_engine(database_url)
    found = MetaData()
    found.reflect(engine)
    found.drop_all(engine)
    engine.dispose()


def make_portal(database_url: str, sandboxes: dict[str, InsurerProcess], instance: str) -> Any:
    """The portal app with its default job and sync settings, its connectors pointed at the sandbox processes,
    on an emptied database (see ``reset_database``) migrated to head."""
    from aggregator import create_app, migrate
    from connectors.registry import discover

    os.environ["AGGREGATOR_INSTANCE_PATH"] = instance
    reset_database(database_url)
    settings = {}
    for slug, sandbox in sandboxes.items():
        spec = discover()[slug].sandbox()
        assert spec is not None
        settings[slug] = spec.settings_for(sandbox.base)
    app = create_app(
        {
            "ENV_NAME": "development",
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "DATABASE_URL": database_url,
            "CONNECTOR_SETTINGS": settings,
            "CONNECTORS_ENABLED": ",".join(sandboxes),
            "JOBS_BACKEND": "thread",
        }
    )
    migrate.upgrade(app)
    return app


def seed_accounts(app: Any, sandboxes: dict[str, InsurerProcess], profiles: int) -> int:
    """``profiles`` client profiles, each with an account at every insurer; returns the accounts made."""
    from sqlalchemy import insert, select

    from aggregator.extensions import db
    from aggregator.models import ClientProfile, InsurerAccount
    from aggregator.services import insurers

    with app.app_context():
        ids = insurers.ensure_insurers()
        db.session.execute(
            insert(ClientProfile),
            [
                {"country": "MX", "id_type": "RFC", "id_number": f"BENC{n:06d}XX0", "name": f"Cliente {n}"}
                for n in range(profiles)
            ],
        )
        profile_ids = list(db.session.scalars(select(ClientProfile.id).order_by(ClientProfile.id)))
        rows = [
            {"profile_id": pid, "insurer_id": ids[slug], "client_ref": sandbox.client_refs[n]}
            for slug, sandbox in sandboxes.items()
            for n, pid in enumerate(profile_ids)
        ]
        db.session.execute(insert(InsurerAccount), rows)
        db.session.commit()
        return len(rows)


@dataclass
class Outcome:
    wall: float
    enqueue: float
    queued: int
    ok: int
    failed: int
    errors: dict[str, int]
    policies: int
    claims: int
    jobs: dict[str, int]
    runs: dict[str, int]
    job_errors: list[str]


def run_syncs(app: Any) -> Outcome:
    """Queue every due account through the scheduler, dispatch to the thread backend, wait for the last."""
    from sqlalchemy import func, select

    from aggregator import jobs
    from aggregator.extensions import db
    from aggregator.models import Claim, InsurerAccount, Job, Policy, SyncRun
    from aggregator.services import sync

    with app.app_context():
        began = time.perf_counter()
        queued = sync.enqueue_due()
        db.session.commit()
        enqueued = time.perf_counter()
        jobs.dispatch_pending(app)
        jobs.shutdown(app, wait=True)  # the thread backend's pools finish every job handed to them
        wall = time.perf_counter() - began
        outcomes = dict(db.session.execute(select(SyncRun.outcome, func.count()).group_by(SyncRun.outcome)).all())
        errors = dict(
            db.session.execute(
                select(InsurerAccount.last_error, func.count())
                .where(InsurerAccount.last_error.is_not(None))
                .group_by(InsurerAccount.last_error)
            ).all()
        )
        return Outcome(
            wall=wall,
            enqueue=enqueued - began,
            queued=queued,
            ok=int(outcomes.get("ok", 0)),
            failed=int(outcomes.get("failed", 0)),
            runs={str(k): int(v) for k, v in outcomes.items()},
            errors={str(k): int(v) for k, v in errors.items()},
            policies=int(db.session.scalar(select(func.count()).select_from(Policy)) or 0),
            claims=int(db.session.scalar(select(func.count()).select_from(Claim)) or 0),
            jobs={str(k): int(v) for k, v in db.session.execute(select(Job.status, func.count()).group_by(Job.status))},
            job_errors=[str(e) for e in db.session.scalars(select(Job.error).where(Job.error.is_not(None)).limit(5))],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=75)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL database (emptied first); default: SQLite")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        instance = stack.enter_context(tempfile.TemporaryDirectory())
        sandboxes = {
            slug: stack.enter_context(insurer_process(slug, args.profiles, args.latency_ms))
            for slug in ("gnp", "australis")
        }
        for sandbox in sandboxes.values():
            if len(sandbox.client_refs) < args.profiles:
                raise SystemExit(f"{sandbox.slug}: only {len(sandbox.client_refs)} clients for {args.profiles}")
        database_url = args.database_url or f"sqlite:///{instance}/bench-sync.db"
        app = make_portal(database_url, sandboxes, instance)
        accounts = seed_accounts(app, sandboxes, args.profiles)
        lane_workers = int(app.config["JOBS_LANE_WORKERS"])
        per_insurer = int(app.config["SYNC_CONCURRENCY_PER_INSURER"])
        concurrency = min(lane_workers, per_insurer)
        before = {slug: s.requests_served() for slug, s in sandboxes.items()}
        outcome = run_syncs(app)
        served = {slug: s.requests_served() - before[slug] for slug, s in sandboxes.items()}
        app.extensions["db_engine"].dispose()

    latency = args.latency_ms / 1000
    bounds = {slug: n * latency / concurrency for slug, n in served.items()}
    bound = max(bounds.values())
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{args.profiles} profiles × {len(sandboxes)} insurers = {accounts} accounts; {backend}; thread backend")
    print(
        f"latency {args.latency_ms} ms per API response; JOBS_LANE_WORKERS={lane_workers}, "
        f"SYNC_CONCURRENCY_PER_INSURER={per_insurer} → {concurrency} syncs at once per insurer\n"
    )
    for slug, n in served.items():
        print(
            f"  {slug:10} {n:6d} requests ({n / args.profiles:.2f} per sync) × {args.latency_ms} ms ÷ {concurrency}"
            f" = {bounds[slug]:6.2f} s"
        )
    print(f"\nbound (the slower insurer): {bound:.2f} s")
    print(f"wall time: {outcome.wall:.2f} s (of which enqueue_due + commit: {outcome.enqueue:.2f} s)")
    print(f"ratio wall / bound: {outcome.wall / bound:.3f}   target ≤ 1.25")
    print(f"syncs: {outcome.queued} queued, {outcome.ok} ok, {outcome.failed} failed {outcome.errors or ''}")
    if outcome.runs:
        print(f"sync runs by outcome: {outcome.runs}")
    print(f"jobs: {outcome.jobs} {outcome.job_errors or ''}")
    print(f"rows: {outcome.policies} policies, {outcome.claims} claims")
    if outcome.ok != accounts or outcome.failed:
        raise SystemExit("not every sync succeeded")


if __name__ == "__main__":
    main()
