"""Rendered fragments of the insurance pages, kept until the data under them changes (issue 9).

The heaviest parts of "Mis seguros" and of a policy page (cards, "Requiere atención", coverages,
receipts) cost several statements and most of the rendering, and change only when a sync writes new
data. A fragment is stored under a key that names everything it shows:

- the user (nothing is shared between users),
- the version of the data: every visible insurer account's id, status, last error and last successful
  sync — policies, receipts and claims are written only by a sync, in the same transaction that moves
  ``last_success_at``, and a grant that changes changes the set of accounts,
- the day (overdue receipts, grace periods and renewals are relative to today), the language, the
  currency display and the request's filters and position.

Fragments never hold a CSRF token or anything else of one session. Storage: Redis when ``REDIS_URL``
is set (shared by every worker), otherwise a bounded in-process LRU; entries expire after
``FRAGMENT_CACHE_SECONDS`` either way. ``FRAGMENT_CACHE_SECONDS = 0`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from flask import Flask, current_app
from markupsafe import Markup

KEY_PREFIX = "coberta:fragment:v1:"
LOCAL_ENTRIES = 512  # per process: a few dozen KB each


class Store(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, seconds: int) -> None: ...

    def clear(self) -> None: ...


class LocalStore:
    """A bounded LRU of rendered fragments in this process, with expiry."""

    def __init__(self, entries: int = LOCAL_ENTRIES) -> None:
        self.entries = entries
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            if found[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return found[1]

    def set(self, key: str, value: str, seconds: int) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + seconds, value)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class RedisStore:
    """Fragments in Redis, shared by every worker; a Redis that does not answer is a cache miss, not an error."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.errors = (redis.RedisError, OSError)

    def get(self, key: str) -> str | None:
        try:
            value = self.client.get(key)
        except self.errors:
            return None
        return value.decode() if isinstance(value, bytes) else None

    def set(self, key: str, value: str, seconds: int) -> None:
        try:
            self.client.set(key, value.encode(), ex=seconds)
        except self.errors:
            return

    def clear(self) -> None:
        try:
            keys = list(self.client.scan_iter(match=KEY_PREFIX + "*", count=1000))
            if keys:
                self.client.delete(*keys)
        except self.errors:
            return


def init_app(app: Flask) -> None:
    """Choose the store: Redis when configured, else this process's LRU."""
    url = app.config.get("REDIS_URL")
    app.extensions["fragments"] = RedisStore(str(url)) if url else LocalStore()


def _store() -> Store:
    store: Store = current_app.extensions["fragments"]
    return store


def clear() -> None:
    """Forget every fragment (tests; an operator after changing templates without a restart)."""
    _store().clear()


def key_of(*parts: Hashable) -> str:
    """A short key naming ``parts`` (reprs of plain values: ids, datetimes, strings, tuples)."""
    return KEY_PREFIX + hashlib.sha256(repr(parts).encode()).hexdigest()[:40]


def cached(parts: tuple[Any, ...], render: Callable[[], str]) -> Markup:
    """The fragment stored under ``parts``, rendering and storing it when missing."""
    seconds = int(current_app.config.get("FRAGMENT_CACHE_SECONDS") or 0)
    if seconds <= 0:
        return Markup(render())  # noqa: S704 - our own rendered template, already escaped
    key = key_of(*parts)
    store = _store()
    found = store.get(key)
    if found is None:
        found = render()
        store.set(key, found, seconds)
    return Markup(found)  # noqa: S704 - our own rendered template, already escaped
