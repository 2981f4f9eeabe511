"""Time and size of "Mis seguros" and "Siniestros" as a portfolio grows, as ratios of the 50-policy case.

    python -m bench.growth [--sizes 50,1000,5000,50000] [--accounts 1000] [--rounds 7] [--database-url URL]

One database holds one user per size (each with one client profile at one insurer holding that many
policies, seeded by ``bench.seed`` through the sync engine's upsert) and, with ``--accounts N``, a user
whose policies are spread over N insurer accounts (five each). Every page is requested in-process
(Flask's test client, the real sign-in, development settings) in interleaved rounds, several times per
round; the median is reported with its ratio to the 50-policy user, the bytes of the answer raw and
gzipped (level 6, as a server would send it), and every round's median. Pages: the dashboard, its first
"ver más" (an htmx fragment), the claims list, and the connections poll (``/sync/status``).

Targets (issue 9): the dashboard and the claims list of the largest user within 2 × the time of the
50-policy user's, and at most 150 KB gzipped. SQLite in a temporary folder by default; ``--database-url``
points at an empty PostgreSQL database (its ``public`` schema is dropped and re-created, then analysed
after seeding as autovacuum would). Seeding 56,000 policies takes one to three minutes.
"""

from __future__ import annotations

import argparse
import gzip
import html
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

PASSWORD = "Mango#Verde2026!"  # noqa: S105 - throwaway accounts in a throwaway database
HX = {"HX-Request": "true"}
TARGET_RATIO = 2.0
TARGET_GZIP = 150 * 1024


@dataclass
class Page:
    """One page of one user, with every timing taken (ms) and the size of its answer."""

    label: str
    user: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)
    raw: int = 0
    gzipped: int = 0

    @property
    def median(self) -> float:
        """The median of every request timed."""
        return statistics.median(self.samples)


@contextmanager
def environment(database_url: str | None) -> Iterator[str]:
    """A temporary instance folder (and database) for the app; yields the database URL."""
    with tempfile.TemporaryDirectory() as instance:
        url = database_url or f"sqlite:///{instance}/growth.db"
        if database_url:
            engine = create_engine(database_url)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        previous = {k: os.environ.get(k) for k in ("AGGREGATOR_INSTANCE_PATH", "AGGREGATOR_DATABASE_URL")}
        os.environ.update(AGGREGATOR_INSTANCE_PATH=instance, AGGREGATOR_DATABASE_URL=url)
        try:
            yield url
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def sign_in(app: Flask, email: str) -> FlaskClient:
    """A test client signed in through the real form."""
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    answer = client.post("/auth/login", data={"csrf_token": token.group(1), "email": email, "password": PASSWORD})
    assert answer.status_code == 302, answer.status_code
    return client


def more_url(body: str) -> str | None:
    """The first "ver más" address of a dashboard."""
    link = re.search(r'data-testid="more-policies"[^>]*>\s*<a [^>]*href="([^"]+)"', body)
    return html.unescape(link.group(1)) if link else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,1000,5000,50000", help="policies of each single-client user")
    parser.add_argument("--accounts", type=int, default=1000, help="insurer accounts of one more user (0: none)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--repeat", type=int, default=3, help="requests of each page per round")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (its public schema is dropped)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with environment(args.database_url) as url:
        from aggregator import create_app, migrate
        from aggregator.cli import ensure_user
        from aggregator.extensions import db
        from bench.seed import analyze, seed_user

        app = create_app({"RATELIMIT_ENABLED": False})
        migrate.upgrade(app)
        users: list[tuple[str, int, int]] = [(f"growth{n}@coberta.example", n, 1) for n in sizes]
        if args.accounts:
            users.append((f"broker{args.accounts}@coberta.example", 5 * args.accounts, args.accounts))
        print(f"database: {url.split('@')[-1]}")
        with app.app_context():
            for email, count, accounts in users:
                ensure_user(email, PASSWORD, full_name="Growth Bench", verified=True, locale="es")
                seeded = seed_user(email, count, accounts=accounts)
                print(f"seeded {count:>6} policies in {accounts:>4} account(s) for {email} in {seeded.seconds:.1f} s")
            db.session.remove()
        analyze(app)

        pages: list[Page] = []
        clients: dict[str, FlaskClient] = {}
        for email, count, accounts in users:
            who = f"{count} policies" if accounts == 1 else f"{count} in {accounts} accounts"
            client = clients[who] = sign_in(app, email)
            dashboard = client.get("/").get_data(as_text=True)
            pages.append(Page("Mis seguros", who, "/"))
            nxt = more_url(dashboard)
            if nxt:
                pages.append(Page("  ver más (htmx)", who, nxt, HX))
            pages.append(Page("Siniestros", who, "/claims"))
            pages.append(Page("  /sync/status poll", who, "/sync/status", HX))

        for page in pages:  # warm-up: statements, templates, caches of the database
            for _ in range(3):
                answer = clients[page.user].get(page.url, headers=page.headers)
                assert answer.status_code == 200, (page.url, answer.status_code)
            page.raw = len(answer.data)
            page.gzipped = len(gzip.compress(answer.data, 6))
        # Interleaved rounds, so that a slow moment of the machine hits every size alike.
        for _round in range(args.rounds):
            for page in pages:
                client, taken = clients[page.user], []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    answer = client.get(page.url, headers=page.headers)
                    taken.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200
                page.samples += taken
                page.rounds.append(statistics.median(taken))
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    print(f"\nmedian of {args.rounds} interleaved rounds × {args.repeat} requests, in-process; ratio to the first user")
    print(f"{'page':22} {'user':24} {'ms':>8} {'ratio':>6} {'raw KB':>8} {'gzip KB':>8}   every round (ms)")
    base: dict[str, float] = {}
    verdicts = []
    for page in pages:
        base.setdefault(page.label, page.median)
        ratio = page.median / base[page.label]
        rounds = " ".join(f"{x:.1f}" for x in page.rounds)
        print(
            f"{page.label:22} {page.user:24} {page.median:8.1f} {ratio:6.2f} "
            f"{page.raw / 1024:8.1f} {page.gzipped / 1024:8.1f}   {rounds}"
        )
        if page.label in ("Mis seguros", "Siniestros") and page.user == f"{max(sizes)} policies":
            ok = ratio <= TARGET_RATIO and page.gzipped <= TARGET_GZIP
            verdicts.append(
                f"{page.label}, {page.user}: {ratio:.2f} × the time (target ≤ {TARGET_RATIO}), "
                f"{page.gzipped / 1024:.1f} KB gzipped (target ≤ {TARGET_GZIP // 1024}): {'pass' if ok else 'FAIL'}"
            )
    print()
    for line in verdicts:
        print(line)


if __name__ == "__main__":
    main()
