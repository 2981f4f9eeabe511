"""One insurer account of 10,000 policies, synced at 75 ms latency: wall time against its latency bound, and memory.

    python -m bench.large [--policies 10000] [--latency-ms 75] [--rounds 3] [--database-url postgresql+psycopg://...]

GNP's sandbox runs in a separate process (its CPU is not the portal's), on loopback, every API answer
taking at least ``--latency-ms``; the client of the GNP sample pair holds ``--policies`` pólizas (its own
and generated ones, with one siniestro in ten), and the sandbox counts the HTTP requests it serves. A
portal database (SQLite in a temp dir, or ``--database-url``: a PostgreSQL database whose tables are
dropped and re-created) holds one account for that client.

Each measurement runs in a fresh Python process (a real process: its resident memory is what is
measured), with the portal's default connector settings (GNP pages of 100), in interleaved rounds:

1. fetch only: the connector's stream (``fetch_parts``) consumed and dropped: the connector alone;
2. first sync: ``sync.sync_account`` of the account emptied beforehand (not timed): every row inserted;
3. re-sync: the same again, nothing changed upstream: nothing written.

Bound: the requests the sandbox served during that sync × the latency (they are sequential: one page
after the other). Memory: the process's peak resident set during the sync (sampled every 5 ms from
/proc/self/statm, and ``ru_maxrss``) minus its resident set just before it. Targets: first sync wall ≤
1.3 × bound, extra peak RSS ≤ 64 MiB. The median round is reported, every round is listed, with the
process's CPU time: work that does not fit in the insurer's waits (CPU near the bound) shows there, a
busy machine (CPU well under the wall) does not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from bench.harness import ROOT
from bench.sync import STATS, InsurerProcess, insurer_process, make_portal

MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# --- inside a measuring process ---------------------------------------------------------------------


def _rss() -> int:
    """Resident set of this process now, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakRss:
    """Samples this process's resident set every few milliseconds while the block runs."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(self.every)

    def __enter__(self) -> PeakRss:
        self.before = self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement (``spec["what"]``: fetch | sync), in this process; wall, requests served, memory."""
    import logging

    from aggregator import create_app
    from aggregator.extensions import db
    from aggregator.models import InsurerAccount
    from aggregator.services import insurers, sync

    logging.disable(logging.WARNING)
    app = create_app(spec["config"])
    stats = spec["sandbox"] + STATS
    with app.app_context():
        connector = insurers.connector("gnp")
        assert connector is not None
        connector.check()  # token and pooled connection first: the measure is the fetch
        account = db.session.get(InsurerAccount, spec["account_id"])
        assert account is not None
        client_ref = account.client_ref
        db.session.commit()
        served = int(requests.get(stats, timeout=5).json()["calls"])
        outcome: dict[str, Any] = {}
        with PeakRss() as memory:
            began, cpu = time.perf_counter(), time.process_time()
            if spec["what"] == "fetch":
                parts = policies = 0
                for part in connector.fetch_parts(client_ref):
                    parts += 1
                    policies += len(getattr(part, "policies", ()))
                outcome = {"parts": parts, "policies": policies}
            else:
                run = sync.sync_account(spec["account_id"], "schedule")
                assert run is not None and run.outcome == "ok", run and run.detail
                outcome = {"added": run.added, "changed": run.changed, "removed": run.removed}
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        requests_served = int(requests.get(stats, timeout=5).json()["calls"]) - served
    app.extensions["db_engine"].dispose()
    return {
        "wall": wall,
        "cpu": cpu,
        "requests": requests_served,
        "rss_before": memory.before,
        "rss_peak": memory.peak,
        **outcome,
    }


def child() -> None:
    """Entry point of a measuring process: the spec as JSON on stdin, the result as JSON on stdout."""
    print(json.dumps(measure(json.loads(sys.stdin.read()))), flush=True)


# --- the parent ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    requests: int
    extra_rss: int
    detail: dict[str, Any]


def run_child(spec: dict[str, Any]) -> Sample:
    """``measure(spec)`` in a fresh Python process."""
    done = subprocess.run(
        [sys.executable, "-c", "from bench.large import child; child()"],
        input=json.dumps(spec),
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"a measuring process failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(out["wall"], out["requests"], out["rss_peak"] - out["rss_before"], out)


def seed_account(app: Any, client_ref: str) -> int:
    """One client profile with an account at GNP for the big client; its id."""
    from aggregator.extensions import db
    from aggregator.models import ClientProfile, InsurerAccount
    from aggregator.services import insurers

    with app.app_context():
        ids = insurers.ensure_insurers()
        profile = ClientProfile(country="MX", id_type="RFC", id_number="GRAN800101AB1", name="Cliente grande")
        db.session.add(profile)
        db.session.flush()
        account = InsurerAccount(profile_id=profile.id, insurer_id=ids["gnp"], client_ref=client_ref)
        db.session.add(account)
        db.session.commit()
        return account.id


def empty_account(app: Any, account_id: int) -> None:
    """Forget what the account holds (its policies, their children and claims), so the next sync is a first one."""
    from sqlalchemy import delete, update

    from aggregator.extensions import db
    from aggregator.models import Claim, InsurerAccount, Policy

    with app.app_context():
        db.session.execute(delete(Claim).where(Claim.account_id == account_id))
        db.session.execute(delete(Policy).where(Policy.account_id == account_id))  # children: ON DELETE CASCADE
        db.session.execute(
            update(InsurerAccount).where(InsurerAccount.id == account_id).values(currencies=[], next_sync_at=None)
        )
        db.session.commit()


@contextlib.contextmanager
def big_sandbox(policies: int, latency_ms: int) -> Iterator[tuple[InsurerProcess, str]]:
    """GNP's sandbox process with the sample client holding ``policies`` pólizas; it and the client's ref."""
    from connectors.gnp import GnpConnector

    rfc = GnpConnector.sandbox().samples.valid[0].number
    with insurer_process("gnp", 0, latency_ms, policies_per_client=policies, large_clients=[rfc]) as sandbox:
        yield sandbox, sandbox.refs_by_tax_id[rfc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=75)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL database (emptied first); default: SQLite")
    args = parser.parse_args()
    began = time.monotonic()
    latency = args.latency_ms / 1000
    samples: dict[str, list[Sample]] = {"fetch": [], "first": [], "again": []}
    with contextlib.ExitStack() as stack:
        instance = stack.enter_context(tempfile.TemporaryDirectory())
        sandbox, client_ref = stack.enter_context(big_sandbox(args.policies, args.latency_ms))
        database_url = args.database_url or f"sqlite:///{instance}/bench-large.db"
        app = make_portal(database_url, {"gnp": sandbox}, instance)
        account_id = seed_account(app, client_ref)
        config = {
            "ENV_NAME": "development",
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": instance,
            "CONNECTOR_SETTINGS": {"gnp": app.config["CONNECTOR_SETTINGS"]["gnp"]},
            "CONNECTORS_ENABLED": "gnp",
            "JOBS_BACKEND": "inline",
        }
        spec = {"config": config, "sandbox": sandbox.base, "account_id": account_id}
        app.extensions["db_engine"].dispose()
        for _round in range(args.rounds):
            samples["fetch"].append(run_child({**spec, "what": "fetch"}))
            empty_account(app, account_id)
            samples["first"].append(run_child({**spec, "what": "sync"}))
            samples["again"].append(run_child({**spec, "what": "sync"}))
            app.extensions["db_engine"].dispose()
    first = samples["first"][0].detail
    if first["added"] < args.policies or samples["again"][0].detail["changed"] or samples["again"][0].detail["added"]:
        raise SystemExit(f"unexpected sync counts: {first} / {samples['again'][0].detail}")

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\none GNP account of {args.policies} policies ({first['added'] - args.policies} claims); {backend}; "
        f"every API answer ≥ {args.latency_ms} ms; {os.cpu_count()} CPUs; median of {args.rounds} interleaved rounds"
    )
    print("bound = HTTP requests served during the run × latency (sequential pages)\n")
    head = f"{'measure':34} {'wall s':>7} {'cpu s':>6} {'requests':>8} {'bound s':>8} {'ratio':>6} {'target':>7}"
    print(f"{head}  {'extra RSS':>10} {'target':>9}  every round (wall s / extra MiB)")
    rows = (("fetch only (the connector alone)", "fetch", None), ("first sync (every row inserted)", "first", 1.3),
            ("re-sync (nothing changed)", "again", None))  # fmt: skip
    failed = False
    for label, key, target in rows:
        runs = samples[key]
        median = sorted(runs, key=lambda s: s.wall)[len(runs) // 2]
        bound = median.requests * latency
        ratio = median.wall / bound
        extra = statistics.median(s.extra_rss for s in runs) / MIB
        ok_wall = target is None or ratio <= target
        ok_rss = extra <= 64
        failed |= not (ok_wall and ok_rss)
        every = "  ".join(f"{s.wall:.2f}/{s.extra_rss / MIB:.0f}" for s in runs)
        print(
            f"{label:34} {median.wall:7.2f} {median.detail['cpu']:6.2f} {median.requests:8d} {bound:8.2f} {ratio:6.3f} "
            f"{'≤ ' + str(target) if target else '—':>7}  {extra:7.1f} MiB {'≤ 64 MiB':>9}  {every}"
            f"  {'pass' if ok_wall and ok_rss else 'FAIL'}"
        )
    print(f"\ntotal {time.monotonic() - began:.0f}s")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
