"""Configuration classes; every key can be overridden by an ``AGGREGATOR_<KEY>`` variable."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any


class BaseConfig:
    """Settings shared by every environment; the embedded default needs no variable."""

    ENV_NAME = "base"
    PORTAL_NAME = "Coberta"
    # Filled in by create_app() from the instance folder when not set.
    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None
    REDIS_URL: str | None = None
    MAIL_URL: str | None = None  # smtp://host:port, smtps://user:pass@host:port; None = console + outbox
    MAIL_FROM = "Coberta <no-reply@coberta.example>"
    MAIL_ASYNC = True  # deliver after the response so that timing reveals nothing
    EXTERNAL_URL: str | None = None  # base for links in emails; defaults to the request's host
    TRUSTED_PROXIES = 0  # how many reverse proxies set X-Forwarded-For/-Proto/-Host in front of the app

    SESSION_COOKIE_NAME = "coberta_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # The server-side record enforces idle and absolute timeouts; re-sending the cookie on every
    # response would only cost a signature and a Set-Cookie header per request.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_IDLE_MINUTES = 60
    SESSION_ABSOLUTE_HOURS = 12
    RECENT_AUTH_MINUTES = 10  # a sign-in this recent counts as re-authentication

    # Responses compressed by Flask-Compress (static files: WhiteNoise, see aggregator/assets.py).
    # Brotli at its default quality 4 costs about as much CPU as gzip 6 and is smaller.
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_MIMETYPES = ["text/html", "text/plain", "text/csv", "application/json", "image/svg+xml"]
    COMPRESS_MIN_SIZE = 1024
    # Rendered cards, "Requiere atención" and policy pages are kept until a sync changes their data, at
    # most this long (aggregator/fragments.py; Redis when REDIS_URL is set). 0 turns it off.
    FRAGMENT_CACHE_SECONDS = 600

    WTF_CSRF_TIME_LIMIT: int | None = None  # the token lives as long as the session
    WTF_CSRF_SSL_STRICT = True

    BABEL_DEFAULT_LOCALE = "es"
    BABEL_DEFAULT_TIMEZONE = "America/Mexico_City"
    LANGUAGES = ("es", "en")

    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = False
    LOGIN_IP_LIMIT = "30 per 5 minutes"
    LOGIN_ACCOUNT_LIMIT = "5 per 5 minutes"
    REGISTER_IP_LIMIT = "20 per hour"
    RESET_IP_LIMIT = "20 per hour"
    RESEND_LIMIT = "1 per 3 minutes"
    EMAIL_CHANGE_LIMIT = "5 per hour"

    VERIFY_TOKEN_HOURS = 48
    RESET_TOKEN_MINUTES = 60
    EMAIL_CHANGE_TOKEN_HOURS = 48

    # Insurers and syncs (DESIGN §5). CONNECTOR_SETTINGS maps a slug to its settings (tests, demo);
    # otherwise AGGREGATOR_<SLUG>_<NAME> variables, otherwise the connector's local sandbox.
    DATABASE_POOL_SIZE = 10  # connections kept per process (PostgreSQL); sync workers borrow them briefly
    DATABASE_MAX_OVERFLOW = 30
    CONNECTORS_ENABLED = ""  # comma list of slugs; empty: every registered connector
    CONNECTOR_SETTINGS: dict[str, dict[str, str]] | None = None
    # HttpPolicy fields (read_timeout, deadline, breaker_threshold...). A dead insurer costs one fast
    # failure per sync while its circuit is open; after 10 s one trial call may find it back.
    CONNECTOR_HTTP_POLICY: dict[str, float] | None = {"breaker_cooldown": 10.0}
    JOBS_BACKEND = "thread"  # inline | thread | celery (the production default: see ProductionConfig)
    JOBS_THREAD_IN_PRODUCTION = False  # production refuses the thread backend (syncs in the web workers) unless true
    # A running job's process refreshes its heartbeat every quarter lease; a job silent for a whole lease
    # was abandoned by a process that died, and is queued again (failed after JOBS_MAX_ATTEMPTS tries).
    JOBS_LEASE_SECONDS = 60
    JOBS_MAX_ATTEMPTS = 3
    JOBS_REQUEUE_MINUTES = 10  # a job still queued after this long lost its message: it is sent again
    CELERY_QUEUE = "aggregator"  # Celery queue of the jobs (and "<queue>.bulk" for batches); names the permits too
    SYNC_SCHEDULE_SECONDS = 60  # how often Celery beat (`aggregator beat`) queues the syncs that are due
    # Thread backend: workers per lane (one lane per insurer). More workers than the insurer's
    # concurrency, so that one sync's database work overlaps the next one's insurer call.
    JOBS_LANE_WORKERS = 12
    # Syncs talking to one insurer at once: across every Celery worker (a Redis semaphore) with the celery
    # backend, per process with the thread backend. A permit whose holder died returns after SYNC_PERMIT_SECONDS.
    SYNC_CONCURRENCY_PER_INSURER = 8
    SYNC_PERMIT_SECONDS = 30
    SYNC_INTERVAL_MINUTES = 360
    SYNC_RETRY_BASE_MINUTES = 2
    SYNC_LOCK_MINUTES = 10  # a sync older than this is presumed dead and may be taken over

    # Linking a profile by tax ID + policy number (seed 003).
    LINK_TIMEOUT_SECONDS = 8.0  # every insurer is asked in parallel within this bound
    LINK_MIN_SECONDS = 0.4  # every answer takes at least this long: timing reveals nothing
    LINK_USER_FAILURES = 5  # failures per key and window before a lock
    LINK_TARGET_FAILURES = 5
    LINK_IP_FAILURES = 20
    LINK_ORG_FAILURES = 20  # an organization's members together (like an office behind one address)
    LINK_WINDOW_MINUTES = 60
    LINK_LOCK_MINUTES = 15  # the first lock; each further lock doubles, up to a day

    TERMS_VERSION = "2026-11"
    PRIVACY_VERSION = "2026-11"

    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 2

    # Social sign-in: presets are enabled when their client id is set; any other
    # OpenID Connect provider through OIDC_PROVIDERS=name1,name2 (see README).
    GOOGLE_CLIENT_ID: str | None = None
    GOOGLE_CLIENT_SECRET: str | None = None
    FACEBOOK_CLIENT_ID: str | None = None
    FACEBOOK_CLIENT_SECRET: str | None = None
    OIDC_PROVIDERS: str = ""
    # Whether a provider's "email_verified" proves the mailbox (DESIGN §7). Google verifies the
    # addresses it asserts; any other provider's email is proved by our own verification email
    # (OIDC_<NAME>_TRUST_EMAIL=true to trust one you run). Facebook's is never trusted.
    GOOGLE_TRUST_EMAIL = True


class DevelopmentConfig(BaseConfig):
    """Local development and the demo: plain-http cookies on 127.0.0.1."""

    ENV_NAME = "development"
    SESSION_COOKIE_SECURE = False
    WTF_CSRF_SSL_STRICT = False


class ProductionConfig(BaseConfig):
    """Behind TLS: secure cookies, strict CSRF referrer checks."""

    ENV_NAME = "production"
    JOBS_BACKEND = "celery"  # syncs run in `aggregator worker` processes, never in the web workers


class TestingConfig(DevelopmentConfig):
    """The test suite: synchronous mail, cheaper hashes, same rules."""

    ENV_NAME = "testing"
    TESTING = True
    MAIL_ASYNC = False
    JOBS_BACKEND = "inline"
    LINK_MIN_SECONDS = 0.0
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 8192
    ARGON2_PARALLELISM = 1


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


def load_secret_key(instance_path: str) -> str:
    """Return the secret kept in the instance folder, generating it on first use."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Owner-only permissions: the secret signs sessions and email links.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def oidc_provider_settings(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Collect ``OIDC_<NAME>_*`` settings for each name listed in ``OIDC_PROVIDERS``."""
    names = [n.strip().lower() for n in str(config.get("OIDC_PROVIDERS") or "").split(",") if n.strip()]
    providers: dict[str, dict[str, str]] = {}
    for name in names:
        prefix = f"OIDC_{name.upper()}_"
        providers[name] = {
            "discovery_url": str(config.get(prefix + "DISCOVERY_URL") or ""),
            "client_id": str(config.get(prefix + "CLIENT_ID") or ""),
            "client_secret": str(config.get(prefix + "CLIENT_SECRET") or ""),
            "label": str(config.get(prefix + "LABEL") or name.capitalize()),
            "trust_email": "true" if as_bool(config.get(prefix + "TRUST_EMAIL")) else "",
        }
    return providers


def as_bool(value: Any) -> bool:
    """A setting read as a boolean: JSON ``true`` from the environment, or 1/true/yes/on."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")
