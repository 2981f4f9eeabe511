"""Requests per second of the public and signed-in pages, as ratios of a hello-world route.

    python -m bench.pages [--seconds 8] [--connections 16] [--policies 50]

Same gunicorn process and settings for every path, measured one after the other in one run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile

import requests

from bench.harness import ROOT, Result, gunicorn, wrk

EMAIL = "bench@coberta.example"
PASSWORD = "Mango#Verde2026!"  # noqa: S105 - a throwaway account in a temporary database


def _sign_in(base: str) -> str:
    """Sign in through the real form; returns the session cookie header value."""
    http = requests.Session()
    page = http.get(base + "/auth/login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = http.post(
        base + "/auth/login",
        data={"csrf_token": token, "email": EMAIL, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.status_code
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def median_result(results: list[Result]) -> Result:
    """The run with the median requests/s (errors summed over every run)."""
    ordered = sorted(results, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return Result(middle.path, middle.rps, sum(r.errors for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--policies", type=int, default=50, help="policies of the signed-in user")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        env = {"AGGREGATOR_INSTANCE_PATH": instance, "AGGREGATOR_ENV": "development"}
        aggregator = [sys.executable, "-m", "aggregator.cli"]
        subprocess.run([*aggregator, "db", "upgrade"], cwd=ROOT, env={**env}, check=True, capture_output=True)  # noqa: S603
        subprocess.run(  # noqa: S603
            [*aggregator, "create-user", "--email", EMAIL, "--password", PASSWORD, "--name", "Bench User"],
            cwd=ROOT, env={**env}, check=True, capture_output=True,
        )  # fmt: skip
        seeded = subprocess.run(  # noqa: S603 - 50 policies through the sync engine's upsert
            [sys.executable, "-m", "bench.seed", "--email", EMAIL, "--policies", str(args.policies)],
            cwd=ROOT, env={**env}, check=True, capture_output=True, text=True,
        )  # fmt: skip
        ids = dict(part.split("=", 1) for part in seeded.stdout.split())
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
    print(f"\nmedian of {args.rounds} interleaved rounds of {args.seconds}s, {args.connections} connections")
    print(f"{'page':32} {'req/s':>9} {'ratio':>7} {'errors':>7}   every round (req/s)")
    for label, r in runs:
        rounds = " ".join(f"{x.rps:.0f}" for x in samples[label])
        print(f"{label:32} {r.rps:9.1f} {r.rps / baseline:7.2f} {r.errors:7d}   {rounds}")


if __name__ == "__main__":
    main()
