"""Permits shared by every process: a counting semaphore in Redis (the syncs talking to one insurer at once).

A sorted set per semaphore holds its holders, each scored with the Redis server's time of its last
sign of life (one clock for every machine). Taking a permit is one Lua script: drop the holders silent
for longer than the TTL (their process died), then join if fewer than the limit remain. A thread of
each process refreshes the permits it holds every third of the TTL, so a live holder never expires and
a dead one frees its permit within the TTL. Releasing removes the holder and pushes a token on a wake
list that waiters block on (BLPOP), so a permit changes hands without polling; a waiter also retries
every second, for the permits that free themselves by expiring.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from flask import Flask

log = logging.getLogger(__name__)

_ACQUIRE = """
local key, limit, ttl, holder = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - ttl)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, holder)
  redis.call('PEXPIRE', key, math.ceil(ttl * 2000))
  return 1
end
return 0
"""

_REFRESH = """
local key, ttl = KEYS[1], tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local alive = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', key, ARGV[i]) then
    redis.call('ZADD', key, now, ARGV[i])
    alive = alive + 1
  end
end
redis.call('PEXPIRE', key, math.ceil(ttl * 2000))
return alive
"""

_RELEASE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[3]) * 1000))
return removed
"""


class RedisSemaphore:
    """At most ``limit`` holders at once across every process that shares the Redis database."""

    def __init__(self, client: redis.Redis, name: str, limit: int, ttl: float) -> None:
        if limit < 1 or ttl <= 0:
            raise ValueError("a semaphore needs a limit of at least 1 and a positive TTL")
        self.client = client
        self.name = name
        self.limit = limit
        self.ttl = ttl
        # One hash slot for both keys ({name}): the scripts touch both, also on a Redis Cluster.
        self.key = f"{{{name}}}:holders"
        self.wake = f"{{{name}}}:wake"
        self._acquire = client.register_script(_ACQUIRE)
        self._refresh = client.register_script(_REFRESH)
        self._release = client.register_script(_RELEASE)

    def try_acquire(self) -> str | None:
        """A permit's token if one is free now, else None."""
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        if self._acquire(keys=[self.key], args=[self.limit, self.ttl, token]):
            _refresher.add(self, token)
            return token
        return None

    def acquire(self, timeout: float | None = None) -> str:
        """Wait for a permit (at most ``timeout`` seconds: TimeoutError); returns its token for ``release``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            token = self.try_acquire()
            if token is not None:
                return token
            wait = 1.0
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError(f"no permit of {self.name} within {timeout} s")
            self.client.blpop([self.wake], timeout=max(wait, 0.01))

    def release(self, token: str) -> None:
        """Give the permit back and wake one waiter; a failure only logs (the permit expires after the TTL)."""
        _refresher.discard(self, token)
        try:
            self._release(keys=[self.key, self.wake], args=[token, self.limit, self.ttl])
        except redis.RedisError:
            log.warning("could not release a permit of %s: it frees itself within %s s", self.name, self.ttl)

    def refresh(self, tokens: list[str]) -> int:
        """Mark these holders alive now; how many still held their permit."""
        return int(self._refresh(keys=[self.key], args=[self.ttl, *tokens]))

    def holders(self) -> int:
        """How many permits are held now (expired holders not counted)."""
        now = time.time()  # only for a report: the permits themselves run on the server's clock
        return int(self.client.zcount(self.key, now - self.ttl, "+inf"))

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold a permit for the block."""
        token = self.acquire()
        try:
            yield
        finally:
            self.release(token)


class _Refresher:
    """One thread per process that keeps the permits it holds alive."""

    def __init__(self) -> None:
        self._held: dict[RedisSemaphore, set[str]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._period = 1.0
        self._sooner = threading.Event()

    def add(self, semaphore: RedisSemaphore, token: str) -> None:
        with self._lock:
            self._held.setdefault(semaphore, set()).add(token)
            if self._thread is None or not self._thread.is_alive():  # none yet, or lost in a fork
                self._thread = threading.Thread(target=self._run, name="permit-refresher", daemon=True)
                self._thread.start()
            if semaphore.ttl / 3 < self._period:  # a shorter TTL than the thread sleeps for
                self._sooner.set()

    def discard(self, semaphore: RedisSemaphore, token: str) -> None:
        with self._lock:
            tokens = self._held.get(semaphore)
            if tokens is not None:
                tokens.discard(token)
                if not tokens:
                    del self._held[semaphore]

    def _run(self) -> None:
        while True:
            with self._lock:
                held = {semaphore: sorted(tokens) for semaphore, tokens in self._held.items()}
            for semaphore, tokens in held.items():
                try:
                    alive = semaphore.refresh(tokens)
                except redis.RedisError:
                    log.warning("could not refresh the permits of %s", semaphore.name, exc_info=True)
                    continue
                if alive < len(tokens):
                    # This process went silent for a whole TTL (paused, or cut off from Redis): its permit
                    # may be someone else's now, so the bound was exceeded for a moment.
                    log.warning("%d permit(s) of %s expired while held", len(tokens) - alive, semaphore.name)
            with self._lock:
                self._period = min((s.ttl / 3 for s in self._held), default=1.0)
            self._sooner.wait(self._period)
            self._sooner.clear()


_refresher = _Refresher()
_guard = threading.Lock()


def client_for(app: Flask) -> redis.Redis:
    """The app's Redis client for permits (the Celery broker's database)."""
    found: redis.Redis | None = app.extensions.get("permits_redis")
    if found is None:
        url = app.config.get("CELERY_BROKER_URL") or app.config.get("REDIS_URL")
        if not url:
            raise RuntimeError("shared permits need Redis: set AGGREGATOR_REDIS_URL")
        # Socket timeout above the waiters' one-second BLPOP.
        found = redis.Redis.from_url(str(url), socket_connect_timeout=5, socket_timeout=10, health_check_interval=30)
        app.extensions["permits_redis"] = found
    return found


def semaphore(app: Flask, name: str, limit: int, ttl: float | None = None) -> RedisSemaphore:
    """The app's semaphore ``name`` (one object per name, so its holders are refreshed together)."""
    ttl = float(ttl if ttl is not None else app.config.get("SYNC_PERMIT_SECONDS") or 30)
    full = f"{app.config.get('CELERY_QUEUE') or 'aggregator'}:permits:{name}"
    with _guard:
        found: dict[str, Any] = app.extensions.setdefault("permits", {})
        existing: RedisSemaphore | None = found.get(full)
        if existing is None or existing.limit != limit or existing.ttl != ttl:
            existing = found[full] = RedisSemaphore(client_for(app), full, limit, ttl)
        return existing
