"""'Actualizar' for 1,000 accounts in production settings, and another user's dashboard while those syncs run.

    python -m bench.refresh [--accounts 1000] [--latency-ms 75] [--rounds 3]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench] [--redis-url redis://127.0.0.1:6379/9]
        [--workers 2] [--worker-nice 10] [--backend celery|thread]

What runs is the README's production recipe: PostgreSQL (``--database-url``: an empty database, its tables
dropped and re-created), Redis (``--redis-url``: an empty database, flushed), gunicorn with
``AGGREGATOR_ENV=production`` (2 gthread workers × 4 threads), ``--workers`` × ``aggregator worker``
(16 threads each), and the GNP and Australis sandboxes in two processes with ``--latency-ms`` added to
every answer. A broker holds ``--accounts`` insurer accounts (half at each insurer, all synced once
before measuring); another user holds one profile with 50 policies (``bench.seed``).

Each round: ``idle``, the other user's dashboard is loaded at a steady pace (``--rate`` requests/s,
each on a new connection as behind nginx) for ``--idle-seconds``: its latencies are the baseline;
then the broker presses "Actualizar" (``POST /refresh`` as htmx sends it), timed; then ``busy``, the
other user's dashboard at the same pace, and the broker's panel polling ``/sync/status`` as the browser
does, until every account has synced. Rounds are interleaved (idle, busy, idle, busy...) so that a slow
moment of the machine hits both alike; the percentiles pool every round. The last round also reloads
gunicorn (SIGHUP: each web worker replaced gracefully) right after the POST: no account may stay
"syncing". Targets: the POST ≤ 200 ms; the other user's p99 while the syncs run ≤ 2 × its idle p99.

The sandboxes and the Celery workers run at a lower CPU priority (``--worker-nice``): in production
the insurers are other machines and the workers run apart from the web processes, so on one small
machine the niceness stands for that — what is measured is where the syncs run, not the CPU share of
processes that would not be on the web machine. ``--worker-nice 0`` measures them as equals.
``--backend thread`` runs the syncs inside the web workers instead (the issue's "before").
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.harness import ROOT, free_port

BROKER = "broker@coberta.example"
OTHER = "otra@coberta.example"
PASSWORD = "Mango#Verde2026!"  # noqa: S105 - throwaway accounts in a throwaway database
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
POLL = re.compile(r'hx-trigger="every ([\d.]+)s"')
NEXT = re.compile(r'hx-get="([^"]+)"')


# --- processes ------------------------------------------------------------------------------------


def _niced(nice: int) -> Any:
    return (lambda: os.nice(nice)) if nice else None


@dataclass(frozen=True)
class Insurer:
    """A sandbox process, from the portal's side."""

    slug: str
    base: str
    client_refs: list[str]


def serve_insurer(slug: str, clients: int, latency_ms: int) -> None:
    """Entry point of a sandbox process: ``slug`` with ``clients`` clients and ``latency_ms`` on every answer."""
    import logging

    from connectors.registry import discover
    from connectors.sandbox.faults import Faults
    from connectors.sandbox.server import serve

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    spec = discover()[slug].sandbox()
    assert spec is not None, f"{slug} ships no sandbox"
    app = spec.make_app(clients=clients, faults=Faults(latency_ms=latency_ms))
    if slug == "gnp":
        from connectors.gnp.sandbox import sandbox_of

        refs = list(sandbox_of(app).store.clients)
    else:
        refs = list(app.sandbox.store.customers)
    server = serve(app)
    print(json.dumps({"port": server.port, "clients": refs[:clients]}), flush=True)
    server.serve_forever()


@contextlib.contextmanager
def sandbox(slug: str, clients: int, latency_ms: int, nice: int) -> Iterator[Insurer]:
    """An insurer's sandbox in a process of its own, at a lower CPU priority (it stands for another machine)."""
    code = (
        "import sys; from bench.refresh import serve_insurer as s; s(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"
    )
    proc = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-c", code, slug, str(clients), str(latency_ms)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=_niced(nice),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("{"):
            raise RuntimeError(f"the {slug} sandbox process did not start (printed {line!r})")
        info = json.loads(line)
        yield Insurer(slug, f"http://127.0.0.1:{info['port']}", list(info["clients"]))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def process(
    cmd: list[str], env: dict[str, str], nice: int = 0, log: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A process of ours, stopped (TERM, then KILL) when the block ends."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_niced(nice))  # noqa: S603
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if log:
            out.close()  # type: ignore[union-attr]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).ok:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


# --- data -----------------------------------------------------------------------------------------


def prepare(env: dict[str, str], sandboxes: dict[str, Insurer], accounts: int) -> None:
    """Fresh schema, the two users, the broker's accounts (half per insurer), the other user's 50 policies."""
    from sqlalchemy import MetaData, insert, select

    saved = dict(os.environ)
    os.environ.update(env)
    os.environ["AGGREGATOR_ENV"] = "development"  # the same database, without production's checks for this part
    try:
        from aggregator import create_app, migrate
        from aggregator.cli import ensure_user
        from aggregator.db import make_engine
        from aggregator.extensions import db
        from aggregator.models import ClientProfile, GrantAccount, InsurerAccount, ProfileGrant, User
        from aggregator.services import insurers
        from bench.seed import seed

        engine = make_engine(env["AGGREGATOR_DATABASE_URL"])
        found = MetaData()
        found.reflect(engine)
        found.drop_all(engine)  # every table, whoever made it: the migrations start from nothing
        engine.dispose()
        app = create_app()
        migrate.upgrade(app)
        with app.app_context():
            for email, name in ((BROKER, "Bróker Bench"), (OTHER, "Otra Usuaria")):
                ensure_user(email, PASSWORD, full_name=name, verified=True)
            broker = db.session.scalar(select(User.id).where(User.email == BROKER))
            ids = insurers.ensure_insurers()
            half = accounts // 2
            rows = [
                {"country": "MX", "id_type": "RFC", "id_number": f"BRK{n:07d}X0", "name": f"Cliente {n}"}
                for n in range(half)
            ]
            profiles = list(db.session.scalars(insert(ClientProfile).returning(ClientProfile.id), rows))
            grants = list(
                db.session.scalars(
                    insert(ProfileGrant).returning(ProfileGrant.id),
                    [{"profile_id": p, "user_id": broker, "granted_via": "tax_id"} for p in profiles],
                )
            )
            for slug, box in sandboxes.items():
                made = list(
                    db.session.scalars(
                        insert(InsurerAccount).returning(InsurerAccount.id),
                        [
                            {"profile_id": p, "insurer_id": ids[slug], "client_ref": box.client_refs[n]}
                            for n, p in enumerate(profiles)
                        ],
                    )
                )
                db.session.execute(
                    insert(GrantAccount),
                    [
                        {"grant_id": g, "account_id": a, "granted_via": "tax_id"}
                        for g, a in zip(grants, made, strict=True)
                    ],
                )
            db.session.commit()
        app.extensions["db_engine"].dispose()
        seed(OTHER, 50)
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- a browser without TLS ------------------------------------------------------------------------


class Browser:
    """A signed-in user. Production cookies are Secure, which requests keeps off plain http: sent by hand."""

    def __init__(self, base: str, email: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        page = self.get("/auth/login").text
        token = CSRF.search(page).group(1)  # type: ignore[union-attr]
        answer = self.post("/auth/login", {"csrf_token": token, "email": email, "password": PASSWORD})
        if answer.status_code != 302:
            raise RuntimeError(f"{email} could not sign in ({answer.status_code})")

    def _keep(self, response: requests.Response) -> requests.Response:
        for cookie in response.cookies:
            if cookie.value is not None:
                self.cookies[cookie.name] = cookie.value
        return response

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Connection": "close", **extra}

    def get(self, path: str, **headers: str) -> requests.Response:
        url = self.base + path
        return self._keep(requests.get(url, headers=self.headers(**headers), allow_redirects=False, timeout=60))

    def post(self, path: str, data: dict[str, str], **headers: str) -> requests.Response:
        url = self.base + path
        return self._keep(
            requests.post(url, data=data, headers=self.headers(**headers), allow_redirects=False, timeout=60)
        )


@dataclass
class Load:
    """The other user's dashboard at a steady pace, on ``threads`` threads; latencies in ms."""

    browser: Browser
    rate: float
    threads: int = 4
    samples: list[float] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, offset: float) -> None:
        interval = self.threads / self.rate
        due = time.monotonic() + offset
        while not self._stop.is_set():
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            began = time.perf_counter()
            try:
                ok = self.browser.get("/").status_code == 200
            except requests.RequestException:
                ok = False
            took = (time.perf_counter() - began) * 1000
            with self._lock:
                if ok:
                    self.samples.append(took)
                else:
                    self.errors += 1
            due = max(due + interval, time.monotonic())  # no burst to catch up after a slow answer

    @contextlib.contextmanager
    def running(self) -> Iterator[Load]:
        self._stop.clear()
        workers = [threading.Thread(target=self._run, args=(n / self.rate,), daemon=True) for n in range(self.threads)]
        for worker in workers:
            worker.start()
        try:
            yield self
        finally:
            self._stop.set()
            for worker in workers:
                worker.join(timeout=60)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


# --- one round ------------------------------------------------------------------------------------


class Accounts:
    """The broker's accounts as the database sees them."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url)

    def pending(self) -> int:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return int(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM insurer_accounts"
                        " WHERE sync_queued_at IS NOT NULL OR sync_started_at IS NOT NULL"
                    )
                )
                or 0
            )

    def health(self) -> dict[str, int]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return {
                str(h): int(n)
                for h, n in conn.execute(text("SELECT health, count(*) FROM insurer_accounts GROUP BY health"))
            }

    def settle(self) -> None:
        """VACUUM ANALYZE and CHECKPOINT after the first sync's mass of new rows, so that PostgreSQL's own
        catching up (autovacuum, analyze, checkpoint) does not land in a measured round."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
            conn.exec_driver_sql("CHECKPOINT")

    def jobs(self) -> dict[str, int]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(text("SELECT status, count(*) FROM jobs GROUP BY status"))}


@dataclass
class Round:
    post_ms: float
    queued_text: str
    sync_s: float
    idle: list[float]
    busy: list[float]
    polls: int
    left_syncing: int


def next_poll(fragment: str, url: str) -> tuple[float, str]:
    """The delay and URL of the next poll a health panel asks for (the last ones when it asks for none)."""
    delay, found = POLL.search(fragment), NEXT.search(fragment)
    return float(delay.group(1)) if delay else 1.0, html.unescape(found.group(1)) if found else url


def press_refresh(broker: Browser, reload: int | None = None) -> tuple[float, str, float, str]:
    """POST /refresh as the htmx button does; (ms, what the panel says, and the delay and URL of its next poll).

    With ``reload`` (gunicorn's pid), gunicorn is told to replace its web workers while the POST is on its way.
    """
    token = CSRF.search(broker.get("/").text).group(1)  # type: ignore[union-attr]
    if reload:
        threading.Timer(0.005, os.kill, (reload, signal.SIGHUP)).start()
    began = time.perf_counter()
    answer = broker.post("/refresh", {"csrf_token": token}, **{"HX-Request": "true", "HX-Target": "sync-status"})
    took = (time.perf_counter() - began) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"POST /refresh answered {answer.status_code}")
    said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)).strip()[:80]
    return took, said, *next_poll(answer.text, "/sync/status?was=syncing")


def run_round(
    broker: Browser, load: Load, db: Accounts, idle_seconds: float, limit_s: float, reload: int | None = None
) -> Round:
    """Idle, then "Actualizar" and busy until every account synced (or ``limit_s``)."""
    with load.running():
        time.sleep(idle_seconds)
    idle, load.samples = load.samples, []
    polls = 0
    with load.running():
        began = time.monotonic()
        post_ms, said, delay, url = press_refresh(broker, reload)
        poll_at = time.monotonic() + delay
        while db.pending() and time.monotonic() - began < limit_s:
            time.sleep(0.2)
            if time.monotonic() >= poll_at:
                with contextlib.suppress(requests.RequestException):
                    panel = broker.get(url, **{"HX-Request": "true"})  # the poll the panel asks for, as htmx does
                    polls += 1
                    delay, url = next_poll(panel.text, url)
                poll_at = time.monotonic() + delay
        sync_s = time.monotonic() - began
    busy, load.samples = load.samples, []
    return Round(post_ms, said, sync_s, idle, busy, polls, db.pending())


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=75)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=10.0, help="the other user's dashboard loads per second")
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--workers", type=int, default=2, help="aggregator worker processes (celery backend)")
    parser.add_argument("--worker-nice", type=int, default=10)
    parser.add_argument("--backend", choices=("celery", "thread"), default="celery")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("the production recipe runs on PostgreSQL: give --database-url")
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()  # counters and queues of an earlier run

    with contextlib.ExitStack() as stack:
        instance = stack.enter_context(tempfile.TemporaryDirectory())
        half = args.accounts // 2
        boxes = {
            slug: stack.enter_context(sandbox(slug, half, args.latency_ms, args.worker_nice))
            for slug in ("gnp", "australis")
        }
        from connectors.registry import discover

        settings = {slug: discover()[slug].sandbox().settings_for(box.base) for slug, box in boxes.items()}  # type: ignore[union-attr]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")},
            "PYTHONPATH": str(ROOT),
            "AGGREGATOR_ENV": "production",
            "AGGREGATOR_EXTERNAL_URL": base,
            "AGGREGATOR_SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
            "AGGREGATOR_INSTANCE_PATH": instance,
            "AGGREGATOR_DATABASE_URL": args.database_url,
            "AGGREGATOR_REDIS_URL": args.redis_url,
            "AGGREGATOR_JOBS_BACKEND": args.backend,
            "AGGREGATOR_CONNECTOR_SETTINGS": json.dumps(settings),
            "AGGREGATOR_CONNECTORS_ENABLED": "gnp,australis",
        }
        if args.backend == "thread":
            env["AGGREGATOR_JOBS_THREAD_IN_PRODUCTION"] = "true"
        prepare(env, boxes, args.accounts)
        gunicorn = [
            sys.executable, "-m", "gunicorn", "aggregator:create_app()", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--threads", "4", "--worker-class", "gthread", "--log-level", "warning",
        ]  # fmt: skip
        web = stack.enter_context(process(gunicorn, env, log=os.path.join(instance, "gunicorn.log")))
        if args.backend == "celery":
            for n in range(args.workers):
                worker = [
                    sys.executable,
                    "-m",
                    "aggregator.cli",
                    "worker",
                    "--concurrency",
                    "16",
                    "--loglevel",
                    "WARNING",
                ]
                stack.enter_context(process(worker, env, args.worker_nice, os.path.join(instance, f"worker-{n}.log")))
        wait_http(base + "/healthz")
        broker, other = Browser(base, BROKER), Browser(base, OTHER)
        load = Load(other, args.rate)
        db = Accounts(args.database_url)
        limit_s = 600.0

        began = time.monotonic()
        run_round(broker, load, db, 2.0, limit_s)  # every account's first sync, caches, pools
        print(f"warm-up: first sync of {args.accounts} accounts in {time.monotonic() - began:.1f} s; {db.health()}")
        db.settle()
        load_before = os.getloadavg()[0]
        rounds = [run_round(broker, load, db, args.idle_seconds, limit_s) for _ in range(args.rounds)]
        # Not counted in the percentiles: new web workers start (imports, templates) while the load goes on.
        reloaded = run_round(broker, load, db, 2.0, 180.0, reload=web.pid)
        health, jobs = db.health(), db.jobs()
        load_after = os.getloadavg()[0]
        db.engine.dispose()

    idle = [x for r in rounds for x in r.idle]
    busy = [x for r in rounds for x in r.busy]
    posts = [r.post_ms for r in rounds]
    p50i, p99i, p50b, p99b = percentile(idle, 50), percentile(idle, 99), percentile(busy, 50), percentile(busy, 99)
    print(
        f"\n{args.accounts} accounts ({half} per insurer), sandboxes at {args.latency_ms} ms; {args.backend} backend"
        + (
            f", {args.workers} worker processes × 16 threads (nice {args.worker_nice})"
            if args.backend == "celery"
            else ""
        )
        + f"; gunicorn 2 × 4 gthread, production; other user at {args.rate:g} req/s"
    )
    every = " ".join(f"{p:.0f}" for p in posts)
    print(
        f"\nPOST /refresh (htmx), {args.accounts} accounts: median {statistics.median(posts):.0f} ms, "
        f"max {max(posts):.0f} ms   target ≤ 200 ms   every round: {every}"
    )
    print(f"  the panel answers: {rounds[0].queued_text!r}")
    print(f"\nother user's dashboard     {'p50 ms':>8} {'p99 ms':>8} {'requests':>9}")
    print(f"  idle                     {p50i:8.1f} {p99i:8.1f} {len(idle):9d}")
    print(f"  while the syncs run      {p50b:8.1f} {p99b:8.1f} {len(busy):9d}   errors: {load.errors}")
    print(f"  ratio busy / idle        {p50b / p50i:8.2f} {p99b / p99i:8.2f}             target p99 ≤ 2.00 (pooled)")
    per_round = [
        (percentile(r.busy, 50) / percentile(r.idle, 50), percentile(r.busy, 99) / percentile(r.idle, 99))
        for r in rounds
    ]
    print(
        f"  median of the rounds' ratios {statistics.median(x for x, _ in per_round):4.2f} "
        f"{statistics.median(y for _, y in per_round):8.2f}             (each round against its own idle)"
    )
    for n, r in enumerate(rounds, 1):
        print(
            f"  round {n}: POST {r.post_ms:.0f} ms; syncs {r.sync_s:.1f} s ({args.accounts / r.sync_s:.0f}/s), "
            f"{r.polls} panel polls; idle p50/p99 {percentile(r.idle, 50):.1f}/{percentile(r.idle, 99):.1f} ms, "
            f"busy {percentile(r.busy, 50):.1f}/{percentile(r.busy, 99):.1f} ms"
        )
    print(
        f"\ngunicorn reloaded (SIGHUP) during the POST: it answered in {reloaded.post_ms:.0f} ms; after "
        f"{reloaded.sync_s:.1f} s, {reloaded.left_syncing} account(s) still syncing; accounts by health {health}; "
        f"jobs {jobs}"
    )
    print(f"machine load average (1 min): {load_before:.2f} before the rounds, {load_after:.2f} after")
    if reloaded.left_syncing or set(health) != {"ok"}:
        raise SystemExit("some syncs were lost or failed")


if __name__ == "__main__":
    main()
