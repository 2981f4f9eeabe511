"""Serve the app with gunicorn and load it with wrk; both on 127.0.0.1, bounded in time."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int = 2, threads: int = 4) -> Iterator[str]:
    """Run ``bench.app:make_app()`` under gunicorn (gthread workers); yields its base URL."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "gunicorn", "bench.app:make_app()",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--worker-class", "gthread", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})  # noqa: S603 - our own command line
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):  # not up yet, or busy starting (a loaded machine)
                if requests.get(base + "/healthz", timeout=5).ok:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@dataclass(frozen=True)
class Result:
    """Requests per second of one path, how many answers were not 2xx/3xx, and the latency percentiles (ms)."""

    path: str
    rps: float
    errors: int
    p50: float = 0.0
    p99: float = 0.0


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _percentile(out: str, which: str) -> float:
    """A percentile of wrk's "Latency Distribution" (``--latency``), in milliseconds."""
    found = re.search(rf"^\s*{which}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    return float(found.group(1)) * _UNITS_MS[found.group(2)] if found else 0.0


def wrk(base: str, path: str, *, seconds: int, connections: int, cookie: str | None = None) -> Result:
    """Load ``path`` with wrk for ``seconds`` (2 threads) and parse its summary.

    Every request opens its own connection (``Connection: close``), as nginx does by default
    towards gunicorn. With keep-alive, gunicorn's gthread workers share the connections out
    unevenly and the same path swings between runs by a factor of two, which hides the
    differences between pages the ratios are meant to show.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", "Connection: close"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*cmd, base + path], capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Result(path, rps, int(bad.group(1)) if bad else 0, _percentile(out, "50"), _percentile(out, "99"))
