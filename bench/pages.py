"""Requests per second and latency of the public and signed-in pages, as ratios of a hello-world route.

    python -m bench.pages [--seconds 8] [--connections 16] [--rounds 3] [--policies 50]
                          [--env production] [--database-url URL] [--redis-url URL]

Same gunicorn process and settings for every path (the README's: 2 gthread workers × 4 threads), loaded
by wrk in interleaved rounds; the median requests/s of the rounds is reported with its ratio to the
baseline, the median p50 and p99 latencies (wrk ``--latency``) and every round. Production settings by
default (``AGGREGATOR_ENV=production``: an external URL, a secret key, Secure cookies); SQLite in a
temporary folder unless ``--database-url`` names an empty PostgreSQL database (its ``public`` schema is
dropped and re-created), rate limits in memory unless ``--redis-url`` names a Redis database.

Targets (issue 9), in production on PostgreSQL + Redis: "Mis seguros" of 50 policies ≥ 0.15 × the
hello-world route, a policy page ≥ 0.20 ×, and every page's p99 ≤ 5 × its p50.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import subprocess
import sys
import tempfile

import requests
from sqlalchemy import create_engine, text

from bench.harness import ROOT, Result, gunicorn, wrk

EMAIL = "bench@coberta.example"
PASSWORD = "Mango#Verde2026!"  # noqa: S105 - a throwaway account in a temporary database
EXTERNAL_URL = "https://portal.bench.example"  # production needs one; the bench reaches 127.0.0.1, trusted too


def _sign_in(base: str) -> str:
    """Sign in through the real form; returns the session cookie header value.

    Cookies travel by hand: in production they are Secure, and requests keeps them but would not send them
    back over plain http (wrk sends the header it is given).
    """
    page = requests.get(base + "/auth/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    jar = {c.name: c.value for c in page.cookies}
    response = requests.post(
        base + "/auth/login",
        data={"csrf_token": token, "email": EMAIL, "password": PASSWORD},
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.status_code
    jar |= {c.name: c.value for c in response.cookies}
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def _reset(database_url: str) -> None:
    """Empty a PostgreSQL database for the bench: its public schema dropped and re-created."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _run(env: dict[str, str], *args: str) -> str:
    """Run ``python *args`` with the bench's environment only; its output, or its errors and exit."""
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env={**env}, capture_output=True, text=True)  # noqa: S603
    if done.returncode:
        raise SystemExit(f"python {' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def median_result(results: list[Result]) -> Result:
    """The run with the median requests/s (errors summed over every run), with the median percentiles."""
    ordered = sorted(results, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return Result(
        middle.path,
        middle.rps,
        sum(r.errors for r in results),
        statistics.median(r.p50 for r in results),
        statistics.median(r.p99 for r in results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--policies", type=int, default=50, help="policies of the signed-in user")
    parser.add_argument("--env", choices=("production", "development"), default="production")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (its public schema is dropped)")
    parser.add_argument("--redis-url", help="a Redis database for rate limits, e.g. redis://127.0.0.1:6379/10")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        env = {"AGGREGATOR_INSTANCE_PATH": instance, "AGGREGATOR_ENV": args.env}
        if args.env == "production":
            env |= {
                "AGGREGATOR_SECRET_KEY": secrets.token_urlsafe(32),
                "AGGREGATOR_EXTERNAL_URL": EXTERNAL_URL,
                "AGGREGATOR_TRUSTED_HOSTS": "127.0.0.1",
            }
        if args.database_url:
            _reset(args.database_url)
            env["AGGREGATOR_DATABASE_URL"] = args.database_url
        if args.redis_url:
            env["AGGREGATOR_REDIS_URL"] = args.redis_url  # rate limits, and the broker of the (idle) job queue
        elif args.env == "production":  # no broker: syncs would run in the web workers (none runs here)
            env |= {"AGGREGATOR_JOBS_BACKEND": "thread", "AGGREGATOR_JOBS_THREAD_IN_PRODUCTION": "true"}
        _run(env, "-m", "aggregator.cli", "db", "upgrade")
        _run(env, "-m", "aggregator.cli", "create-user", "--email", EMAIL, "--password", PASSWORD, "--name", "Bench")
        seeded = _run(env, "-m", "bench.seed", "--email", EMAIL, "--policies", str(args.policies))  # the sync's upsert
        ids = dict(part.split("=", 1) for part in seeded.split())
        pages = (
            ("hello world (baseline)", "/__bench/hello", False),
            ("health check", "/healthz", False),
            ("sign-in page", "/auth/login", False),
            (f"Mis seguros, {args.policies} policies", "/", True),
            ("policy detail", f"/policies/{ids['policy']}", True),
            ("claims", "/claims", True),
            ("Mi cuenta, signed in", "/account/", True),
        )
        samples: dict[str, list[Result]] = {label: [] for label, _path, _auth in pages}
        with gunicorn(env) as base:
            cookie = _sign_in(base)
            for _label, path, auth in pages:  # warm-up: imports, template compilation, connection pools
                wrk(base, path, seconds=1, connections=args.connections, cookie=cookie if auth else None)
            # Interleaved rounds, so that a slow moment of the machine hits every page alike.
            for _round in range(args.rounds):
                for label, path, auth in pages:
                    samples[label].append(
                        wrk(
                            base,
                            path,
                            seconds=args.seconds,
                            connections=args.connections,
                            cookie=cookie if auth else None,
                        )
                    )
    runs = [(label, median_result(samples[label])) for label, _path, _auth in pages]
    baseline = runs[0][1].rps
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{args.env} settings, {database}{' + Redis' if args.redis_url else ''}, gunicorn 2 gthread workers × 4 "
        f"threads; median of {args.rounds} interleaved rounds of {args.seconds}s, {args.connections} connections"
    )
    print(f"{'page':32} {'req/s':>9} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} {'errors':>7}   rounds")
    for label, r in runs:
        rounds = " ".join(f"{x.rps:.0f}" for x in samples[label])
        spread = r.p99 / r.p50 if r.p50 else 0.0
        print(
            f"{label:32} {r.rps:9.1f} {r.rps / baseline:7.2f} {r.p50:8.1f} {r.p99:8.1f} {spread:8.1f} "
            f"{r.errors:7d}   {rounds}"
        )


if __name__ == "__main__":
    main()
