"""Counters for limits that depend on more than the route: per account, per target, per user.

Flask-Limiter's decorators cover per-IP limits; these helpers use the same storage (memory,
or Redis when REDIS_URL is set) so several processes share one count.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from limits import parse

from aggregator.extensions import limiter


def key_for(namespace: str, value: str) -> str:
    """A keyed hash, so that raw emails or ID numbers never reach the limiter's storage."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{namespace}:{digest}"


def hit(limit: str, key: str) -> bool:
    """Count one event for ``key``; False when that event went over the limit.

    The count and the comparison are one atomic step of the storage (INCR in Redis, a lock in
    memory), so calling this *before* slow work reserves the attempt: of N simultaneous callers,
    at most the limit get True (DESIGN §7). Never test first and count afterwards.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    return bool(limiter.limiter.hit(parse(limit), key))


reserve = hit  # the name that says why it is called before the work it guards


def reset_after(limit: str, key: str) -> int:
    """Seconds until ``key`` is under ``limit`` again (0 when it already is)."""
    import time

    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return 0
    stats = limiter.limiter.get_window_stats(parse(limit), key)
    return max(0, int(stats.reset_time - time.time()))


def clear(limit: str, key: str) -> None:
    """Forget the count of ``key`` (after a successful password reset, for example)."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    limiter.limiter.clear(parse(limit), key)
