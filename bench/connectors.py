"""Connector HTTP figures of issue 3, as ratios measured in one run.

    python -m bench.connectors [--seconds 3] [--rounds 3] [--latency-ms 75] [--breaker-count 100]

The sandbox runs in a separate process (its CPU is not the client's), on loopback, with every
API response held at least ``--latency-ms`` (its own work included); it counts the HTTP calls it serves.

1. Throughput. N client threads share one GNP connector (as the portal shares one instance) and
   call ``fetch(client_ref)`` back to back for ``--seconds``. The clients fetched all have
   portfolios of the same shape, so one fetch is a fixed number k of sequential HTTP calls
   (counted by the sandbox, and checked against the time one fetch takes alone).
   Bound: N ÷ (k × latency). Second line: raw ``InsurerHttp.get_json`` calls (one GET each),
   bound N ÷ latency. Client CPU per call: ``time.process_time()`` of this process ÷ HTTP calls
   the sandbox served. Interleaved rounds; the median is reported.
2. Breaker. The insurer hangs (each response held 2 s; read timeout 0.2 s, 2 attempts per call):
   100 consecutive fetches with the breaker (it opens after 5 failed calls) against the same 100
   with a breaker that never opens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import requests

from bench.harness import ROOT
from connectors.errors import ConnectorError
from connectors.http import HttpPolicy, InsurerHttp, reset_breakers

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

STATS = "/__bench/stats"
RAW = "/__bench/raw"  # a one-line JSON answer behind its own FaultInjector
FAULTS = "/__sandbox/faults"

# The client policy for the throughput runs: the defaults (a pool of 32 connections).
LOAD_POLICY = HttpPolicy()
# The insurer hangs: short timeouts, so "without the breaker" is slow but bounded.
DOWN_POLICY = HttpPolicy(
    connect_timeout=0.2,
    read_timeout=0.2,
    deadline=5.0,
    max_attempts=2,
    backoff_base=0.05,
    backoff_max=0.1,
    breaker_threshold=5,
    breaker_cooldown=60.0,
)
NO_BREAKER = replace(DOWN_POLICY, breaker_threshold=10**9)
HANG_S = 2.0  # how long the hanging insurer holds each response


# --- the sandbox process ------------------------------------------------------------------------


class Tap:
    """WSGI middleware of the sandbox process: counts the calls it serves, mounts the raw endpoint."""

    def __init__(self, app: WsgiApp | None, latency_ms: int) -> None:
        from connectors.sandbox.faults import FaultInjector, Faults

        self.app = app
        self.raw = FaultInjector(self._pong, Faults(latency_ms=latency_ms))
        self.calls = 0
        self._lock = threading.Lock()

    @staticmethod
    def _pong(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = b'{"pong": true}'
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path == STATS:
            with self._lock:
                body = json.dumps({"calls": self.calls}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if not path.endswith(FAULTS):
            with self._lock:
                self.calls += 1
        if path.startswith(RAW + "/"):
            environ["SCRIPT_NAME"], environ["PATH_INFO"] = RAW, path[len(RAW) :]
            return self.raw(environ, start_response)
        if self.app is None:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        return self.app(environ, start_response)


def serve_sandbox(slug: str, latency_ms: int) -> None:
    """Entry point of the sandbox process: serve ``slug``'s sandbox ('-' for none) and print the port."""
    import logging

    from connectors.sandbox.server import serve

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on stderr
    app: WsgiApp | None = None
    if slug != "-":
        from connectors.registry import discover

        spec = discover()[slug].sandbox()
        assert spec is not None, f"{slug} ships no sandbox"
        app = spec.make_app()
    server = serve(Tap(app, latency_ms))
    print(server.port, flush=True)
    server.serve_forever()


@dataclass
class Sandbox:
    """The sandbox process, seen from the client."""

    base: str
    latency_ms: int
    faults_paths: tuple[str, ...]  # the raw endpoint's, and the insurer sandbox's if there is one

    def calls(self) -> int:
        """HTTP calls served so far (fault controls and these statistics not counted)."""
        return int(requests.get(self.base + STATS, timeout=5).json()["calls"])

    def set_faults(self, latency_ms: int | None = None, **faults: Any) -> None:
        """Replace the faults everywhere; the added latency stays unless ``latency_ms`` is given."""
        body = {"latency_ms": self.latency_ms if latency_ms is None else latency_ms, **faults}
        for path in self.faults_paths:
            requests.post(self.base + path, json=body, timeout=5).raise_for_status()


@contextlib.contextmanager
def sandbox_process(slug: str, latency_ms: int, faults_path: str | None = None) -> Iterator[Sandbox]:
    """Run ``serve_sandbox`` in a child Python process; yields the client's view of it, faults set."""
    code = "import sys; from bench.connectors import serve_sandbox; serve_sandbox(sys.argv[1], int(sys.argv[2]))"
    proc = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-c", code, slug, str(latency_ms)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"the sandbox process did not start (printed {line!r})")
        paths = (RAW + FAULTS,) if faults_path is None else (RAW + FAULTS, faults_path)
        sandbox = Sandbox(f"http://127.0.0.1:{line}", latency_ms, paths)
        sandbox.set_faults()
        yield sandbox
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One timed run: completed operations, failures, wall and client CPU time, HTTP calls served."""

    done: int
    failed: int
    wall: float
    cpu: float
    calls: int

    @property
    def per_second(self) -> float:
        return self.done / self.wall

    @property
    def cpu_ms_per_call(self) -> float:
        return 1000 * self.cpu / max(1, self.calls)


def hammer(work: Callable[[int], object], threads: int, seconds: float, sandbox: Sandbox) -> Run:
    """``threads`` threads call ``work(i)`` back to back for ``seconds`` (calls in flight then finish)."""
    done = [0] * threads
    failed = [0] * threads
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def loop(index: int) -> None:
        start.wait()
        i = index
        while time.monotonic() < stop_at[0]:
            try:
                work(i)
                done[index] += 1
            except ConnectorError:
                failed[index] += 1
            i += threads

    workers = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    calls_before = sandbox.calls()
    cpu_before = time.process_time()
    began = time.monotonic()
    stop_at[0] = began + seconds
    start.wait()
    for w in workers:
        w.join()
    wall = time.monotonic() - began
    cpu = time.process_time() - cpu_before
    return Run(sum(done), sum(failed), wall, cpu, sandbox.calls() - calls_before)


def consecutive(work: Callable[[int], object], count: int) -> tuple[float, int]:
    """Call ``work`` ``count`` times in a row; wall time and how many raised a ConnectorError."""
    failures = 0
    began = time.monotonic()
    for i in range(count):
        try:
            work(i)
        except ConnectorError:
            failures += 1
    return time.monotonic() - began, failures


# --- what is measured ---------------------------------------------------------------------------


@dataclass
class Target:
    """A unit of work against the sandbox: a raw GET, or one GNP fetch."""

    label: str  # "raw GET" | "GNP fetch"
    unit: str  # "calls" | "fetches"
    calls_each: int  # sequential HTTP calls per unit of work
    make: Callable[[HttpPolicy], Callable[[int], object]]  # policy -> work(i)


def raw_target(sandbox: Sandbox) -> Target:
    def make(policy: HttpPolicy) -> Callable[[int], object]:
        http = InsurerHttp("bench-raw", sandbox.base + RAW, policy)
        return lambda _i: http.get_json("/ping")

    return Target("raw GET via InsurerHttp", "calls", 1, make)


def fetch_target(slug: str, sandbox: Sandbox, notes: list[str]) -> Target:
    """``Connector.fetch`` of ``slug`` on the clients whose fetch takes the fewest HTTP calls.

    The clients are found through the connector itself (email lookup over the shared fictional
    population); the sandbox counts the calls of one fetch of each, without added latency. The
    clients with the smallest count have one page per listing; their fetch is that many calls.
    """
    from connectors.base import Capability
    from connectors.registry import discover
    from connectors.sandbox.people import population

    cls = discover()[slug]
    spec = cls.sandbox()
    assert spec is not None and cls.capabilities >= {Capability.EMAIL_LOOKUP}
    settings = spec.settings_for(sandbox.base)
    probe = cls(settings, LOAD_POLICY)
    people = population()
    emails = [p.email for p in [*people.mexicans, *people.argentines]]
    emails += [c.email for c in [*people.mexican_companies, *people.argentine_companies]]
    sandbox.set_faults(latency_ms=0)
    try:
        refs = sorted({m.client_ref for e in emails for m in probe.clients_for_email(e)})
        calls: dict[str, int] = {}
        for ref in refs:
            before = sandbox.calls()
            probe.fetch(ref)
            calls[ref] = sandbox.calls() - before
    finally:
        sandbox.set_faults()
    k = min(calls.values())
    chosen = [ref for ref in refs if calls[ref] == k]
    began = time.monotonic()
    for ref in chosen[:4]:
        probe.fetch(ref)
    alone_ms = (time.monotonic() - began) / min(4, len(chosen)) * 1000
    spread = ", ".join(f"{n} calls: {c}" for n, c in sorted(Counter(calls.values()).items()))
    notes.append(
        f"{slug} fetch: {len(refs)} sandbox clients found by email ({spread}); the {len(chosen)} with "
        f"{k} calls are fetched (one page per listing; the OAuth token is cached before the runs, so every "
        f"call counted is an API call). Alone, one of their fetches takes {alone_ms:.0f} ms "
        f"= {alone_ms / sandbox.latency_ms:.2f} × {sandbox.latency_ms} ms: the {k} calls are sequential."
    )

    def make(policy: HttpPolicy) -> Callable[[int], object]:
        connector = cls(settings, policy)
        return lambda i: connector.fetch(chosen[i % len(chosen)])

    return Target(f"{slug} fetch", "fetches", k, make)


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    measure: str
    value: str
    bound: str
    ratio: float | None
    target: str
    ok: bool | None
    rounds: str = ""  # every round's value, when there are rounds


def throughput_rows(plan: list[tuple[Target, int]], sandbox: Sandbox, args: argparse.Namespace) -> list[Row]:
    """Units of work per second at each (target, N) against the latency bound, and client CPU per call.

    Interleaved rounds (as ``bench.pages``), so that a slow moment of the machine hits every
    line alike; the median round is reported, every round is listed.
    """
    latency = args.latency_ms / 1000
    works = {target.label: target.make(LOAD_POLICY) for target, _n in plan}  # one shared instance each
    for target, n in plan:
        hammer(works[target.label], n, args.warmup, sandbox)  # connections, token, imports
    samples: dict[tuple[str, int], list[Run]] = {(target.label, n): [] for target, n in plan}
    for _round in range(args.rounds):
        for target, n in plan:
            samples[target.label, n].append(hammer(works[target.label], n, args.seconds, sandbox))
    rows: list[Row] = []
    for target, n in plan:
        runs = samples[target.label, n]
        run = sorted(runs, key=lambda r: r.per_second)[len(runs) // 2]
        failed = sum(r.failed for r in runs)
        bound = n / (latency * target.calls_each)
        ratio = run.per_second / bound
        gated = n == 32
        rows.append(
            Row(
                f"{target.label}, N={n} ({target.unit}/s)",
                f"{run.per_second:.1f}" + (f" ({failed} failed)" if failed else ""),
                f"{bound:.1f}",
                ratio,
                "≥ 0.85" if gated else "—",
                (ratio >= 0.85 and failed == 0) if gated else None,
                " ".join(f"{r.per_second:.1f}" for r in runs),
            )
        )
        if gated:
            cpu = statistics.median(r.cpu_ms_per_call for r in runs)
            rows.append(
                Row(
                    f"client CPU per HTTP call, {target.label}, N={n} (ms)",
                    f"{cpu:.2f}",
                    "2.5",
                    cpu / 2.5,
                    "≤ 2.5 ms",
                    cpu <= 2.5,
                    " ".join(f"{r.cpu_ms_per_call:.2f}" for r in runs),
                )
            )
    return rows


def breaker_rows(target: Target, sandbox: Sandbox, count: int) -> list[Row]:
    """``count`` consecutive units of work against a hanging insurer, with and without the breaker."""
    reset_breakers()
    with_breaker = target.make(DOWN_POLICY)
    without = target.make(NO_BREAKER)
    with_breaker(0)  # healthy first: tokens fetched, connections open
    without(0)
    reset_breakers()
    sandbox.set_faults(timeout_s=HANG_S)
    try:
        fast, fast_failed = consecutive(with_breaker, count)
        reset_breakers()
        slow, slow_failed = consecutive(without, count)
    finally:
        sandbox.set_faults()
        reset_breakers()
    ratio = fast / slow
    what = f"{count} × {target.label}, insurer hanging (s)"
    return [
        Row(f"{what}, no breaker", f"{slow:.2f} ({slow_failed} failed)", "baseline", None, "—", None),
        Row(
            f"{what}, with breaker",
            f"{fast:.2f} ({fast_failed} failed)",
            f"{slow:.2f}",
            ratio,
            "≤ 0.05",
            ratio <= 0.05 and fast_failed == slow_failed == count,
        ),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(r.measure) for r in rows)
    head = f"{'measure':{width}}  {'value':>18}  {'bound/baseline':>14}  {'ratio':>6}  {'target':>9}  result"
    print(f"\n{head}  every round")
    for r in rows:
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "—"
        result = "—" if r.ok is None else ("pass" if r.ok else "FAIL")
        line = f"{r.measure:{width}}  {r.value:>18}  {r.bound:>14}  {ratio:>6}  {r.target:>9}  {result:6}  {r.rounds}"
        print(line.rstrip())


def _sandbox_spec(slug: str) -> Any:
    """The connector's SandboxSpec, or None when it is not installed (or ships no sandbox)."""
    from connectors.registry import discover

    cls = discover().get(slug)
    return cls.sandbox() if cls is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds; the median is reported")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each run")
    parser.add_argument("--latency-ms", type=int, default=75)
    parser.add_argument("--breaker-count", type=int, default=100)
    parser.add_argument("--connector", default="gnp", help="the connector whose fetch is measured")
    args = parser.parse_args()
    began = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    spec = _sandbox_spec(args.connector)
    if spec is None:
        notes.append(f"no {args.connector!r} connector with a sandbox is installed: raw HTTP figures only")
        with sandbox_process("-", args.latency_ms) as sandbox:
            raw = raw_target(sandbox)
            rows += throughput_rows([(raw, 32)], sandbox, args)
            rows += breaker_rows(raw, sandbox, args.breaker_count)
    else:
        with sandbox_process(args.connector, args.latency_ms, spec.faults_path) as sandbox:
            fetch = fetch_target(args.connector, sandbox, notes)
            plan = [(fetch, 8), (fetch, 16), (fetch, 32), (raw_target(sandbox), 32)]
            rows += throughput_rows(plan, sandbox, args)
            rows += breaker_rows(fetch, sandbox, args.breaker_count)
    policy = ", ".join(f"{k}={v}" for k, v in asdict(DOWN_POLICY).items() if k != "pool_size")
    notes.append(f"insurer hanging: every API response held {HANG_S:.0f} s; client policy {policy}")
    notes.append("without the breaker: the same policy with breaker_threshold=10**9")
    print(
        f"\n{os.cpu_count()} CPUs; every sandbox answer takes at least {args.latency_ms} ms; throughput: median of "
        f"{args.rounds} interleaved rounds of {args.seconds:g} s"
    )
    for note in notes:
        print(f"- {note}")
    print_table(rows)
    print(f"\ntotal {time.monotonic() - began:.0f}s")


if __name__ == "__main__":
    main()
