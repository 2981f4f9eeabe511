"""The one HTTP policy every connector uses (DESIGN §4).

- one pooled ``requests.Session`` per connector instance;
- connect and read timeouts, and a total deadline per operation (retries and waits included): an
  operation is one step (a verification, one page of a listing), so an account of any size fetches
  page by page under the same per-step deadline; a paged fetch as a whole is capped by a budget
  (``HttpPolicy.fetch_deadline``) so that a trickling insurer cannot hold a sync forever;
- ``read_ahead``: a paged fetch asks for page n+1 while page n is being mapped;
- retries with exponential backoff and full jitter, for idempotent calls only, honouring
  ``Retry-After`` on 429/503 up to a cap;
- a circuit breaker per insurer: after N consecutive failures calls fail at once for a
  cool-down, then one trial call decides;
- a request id on every call; structured logs without secrets or personal ID numbers;
- every ``requests`` exception wrapped in a typed connector error.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import logging
import math
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from connectors.errors import AuthenticationFailed, InsurerUnavailable, InvalidResponse

log = logging.getLogger("connectors.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
T = TypeVar("T")


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts, retries and breaker settings; one per connector instance."""

    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    deadline: float = 30.0  # seconds for one operation (one page of a fetch), every attempt and wait included
    # Seconds a whole paged fetch may take (None: no cap). Each page keeps its own ``deadline``; this only
    # stops an insurer that trickles pages forever. Below the portal's SYNC_LOCK_MINUTES (10), so a sync
    # still fetching is never presumed dead; 8 minutes is ~6,000 pages at 75 ms: 600,000 policies at 100.
    fetch_deadline: float | None = 480.0
    max_attempts: int = 3  # idempotent calls only; others get exactly one attempt
    backoff_base: float = 0.2
    backoff_max: float = 2.0
    retry_after_cap: float = 10.0  # a longer Retry-After is not waited for: InsurerUnavailable
    breaker_threshold: int = 5  # consecutive failures that open the circuit
    breaker_cooldown: float = 30.0  # seconds the circuit stays open before one trial call
    pool_size: int = 32  # connections kept per host


# --- circuit breaker -----------------------------------------------------------------------------


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown``
    (one trial call at a time) → closed on success, open again on failure."""

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._state = self.CLOSED
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == self.OPEN and self._clock() - self._opened_at >= self.cooldown:
                return self.HALF_OPEN
            return self._state

    def before_call(self) -> None:
        """Raise InsurerUnavailable at once while the circuit is open."""
        with self._lock:
            if self._state == self.CLOSED:
                return
            waited = self._clock() - self._opened_at
            if self._state == self.OPEN and waited < self.cooldown:
                raise InsurerUnavailable("circuit open", retry_after=self.cooldown - waited)
            if self._trial_in_flight:
                raise InsurerUnavailable("circuit half-open: a trial call is in flight", retry_after=1.0)
            self._state = self.HALF_OPEN
            self._trial_in_flight = True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._state = self.CLOSED
            self._trial_in_flight = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_in_flight = False
            if self._state == self.HALF_OPEN or self._failures >= self.threshold:
                self._state = self.OPEN
                self._opened_at = self._clock()

    def release(self) -> None:
        """A call ended with no verdict on the insurer (it was never sent, or failed on our side):
        if it was the half-open trial, let the next call be the trial instead."""
        with self._lock:
            self._trial_in_flight = False

    def reset(self) -> None:
        self.success()


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(key: str, policy: HttpPolicy) -> CircuitBreaker:
    """The process-wide breaker of one insurer (shared by every instance talking to it)."""
    with _breakers_lock:
        found = _breakers.get(key)
        if found is None or (found.threshold, found.cooldown) != (policy.breaker_threshold, policy.breaker_cooldown):
            found = _breakers[key] = CircuitBreaker(policy.breaker_threshold, policy.breaker_cooldown)
        return found


def reset_breakers() -> None:
    """Forget every breaker (tests, and an operator's 'try again now')."""
    with _breakers_lock:
        _breakers.clear()


# --- operations and deadlines ---------------------------------------------------------------


@dataclass
class Operation:
    """One logical operation (a verification, one page of a fetch) with its own deadline."""

    name: str
    deadline_at: float
    id: str

    def remaining(self) -> float:
        return self.deadline_at - time.monotonic()


@dataclass(frozen=True)
class Budget:
    """The time a multi-step operation (a paged fetch) has in total; each step is an Operation within it.

    A budget is a plain value, not a context: a generator that yields between pages passes it to each
    page's ``operation(..., within=budget)`` and holds no operation while the consumer has control.
    """

    name: str
    ends_at: float  # time.monotonic(); math.inf: no cap

    def remaining(self) -> float:
        """Seconds left (inf without a cap)."""
        return self.ends_at - time.monotonic()


_current_op: ContextVar[Operation | None] = ContextVar("connector_operation", default=None)
# Set in a ``read_ahead`` helper thread: once its consumer has stopped reading, no further call leaves.
_reader_stopped: ContextVar[threading.Event | None] = ContextVar("read_ahead_stopped", default=None)


class ReadAheadStopped(Exception):
    """The consumer of a ``read_ahead`` stream stopped reading: the helper thread asks the insurer nothing more."""


def current_operation() -> Operation | None:
    """The operation the calls of this context run under, if any."""
    return _current_op.get()


# --- log hygiene --------------------------------------------------------------------------------

_PERSONAL_ID = re.compile(
    r"[A-Z]{4}\d{6}[HM][A-Z]{5}[A-Z0-9]\d"  # CURP (before RFC: a CURP starts with an RFC-like prefix)
    r"|[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}"  # RFC (people and companies)
    r"|\b\d{2}-?\d{8}-?\d\b"  # CUIT / CUIL
    r"|\b\d{1,2}\.\d{3}\.\d{3}\b"  # DNI as Argentines write it: 12.345.678
    r"|\b\d{7,8}\b",  # DNI and other long numbers
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """Mask anything that looks like a personal ID number."""
    return _PERSONAL_ID.sub("***", text)


def _log_path(url: str) -> str:
    parts = urlsplit(url)
    return scrub(parts.path) + ("?…" if parts.query else "")


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --- the client ---------------------------------------------------------------------------------


class InsurerHttp:
    """HTTP to one insurer with the shared policy. ``session`` may be an authlib OAuth2Session."""

    def __init__(
        self,
        insurer: str,
        base_url: str,
        policy: HttpPolicy,
        *,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        breaker_key: str | None = None,
    ) -> None:
        self.insurer = insurer
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=policy.pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if headers:
            self.session.headers.update(headers)
        self.breaker = breaker_for(breaker_key or f"{insurer} {self.base_url}", policy)

    def close(self) -> None:
        self.session.close()

    def budget(self, name: str = "fetch", seconds: float | None = None) -> Budget:
        """A budget starting now: ``seconds``, else the policy's ``fetch_deadline`` (None: no cap)."""
        total = seconds if seconds is not None else self.policy.fetch_deadline
        return Budget(name, math.inf if total is None else time.monotonic() + total)

    @contextlib.contextmanager
    def operation(
        self, name: str, deadline: float | None = None, *, within: Budget | None = None
    ) -> Iterator[Operation]:
        """Scope calls under one deadline (default: the policy's), cut to ``within`` when given.

        Nested scopes keep the outer (earlier) deadline. Do not hold one across a generator's ``yield``:
        its context variable would stay set in the consumer's context.
        """
        outer = _current_op.get()
        limit = time.monotonic() + (deadline if deadline is not None else self.policy.deadline)
        if within is not None:
            limit = min(limit, within.ends_at)
        if outer is not None:
            limit = min(limit, outer.deadline_at)
        op = Operation(name=name, deadline_at=limit, id=uuid.uuid4().hex[:16])
        token = _current_op.set(op)
        try:
            yield op
        finally:
            _current_op.reset(token)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        expect: Collection[int] = (200,),
        auth: Any = None,
    ) -> requests.Response:
        """One call under the policy. Statuses in ``expect`` are returned; the rest become errors:
        401/403 → AuthenticationFailed, 429 and 5xx → InsurerUnavailable (after retries for
        idempotent calls), any other → InvalidResponse."""
        stopped = _reader_stopped.get()
        if stopped is not None and stopped.is_set():
            raise ReadAheadStopped(f"{method} {path}: the stream's reader has stopped")
        method = method.upper()
        op = _current_op.get()
        if op is None:
            with self.operation(f"{method} {_log_path(path)}") as own:
                return self._call(own, method, path, params, json, data, headers, idempotent, expect, auth)
        return self._call(op, method, path, params, json, data, headers, idempotent, expect, auth)

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """GET and parse JSON; a body that is not JSON raises InvalidResponse."""
        return self.json_of(self.request("GET", path, params=params, **kwargs))

    @staticmethod
    def json_of(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise InvalidResponse(f"malformed JSON from {_log_path(response.url)}") from exc

    # --- internals ------------------------------------------------------------------------------

    def _call(
        self,
        op: Operation,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
        expect: Collection[int],
        auth: Any,
    ) -> requests.Response:
        retryable = (method in IDEMPOTENT_METHODS) if idempotent is None else idempotent
        attempts = self.policy.max_attempts if retryable else 1
        url = self.url(path)
        last_error: InsurerUnavailable | None = None
        for attempt in range(1, attempts + 1):
            remaining = op.remaining()
            if remaining <= 0:  # checked before the breaker, so a call never sent is never its trial
                raise InsurerUnavailable(f"{self.insurer}: deadline of {scrub(op.name)} exceeded") from last_error
            self.breaker.before_call()
            timeout = (min(self.policy.connect_timeout, remaining), min(self.policy.read_timeout, remaining))
            request_id = uuid.uuid4().hex
            call_headers = {"X-Request-Id": request_id, **(headers or {})}
            started = time.monotonic()
            status: int | str
            try:
                response = self.session.request(
                    method, url, params=params, json=json, data=data, headers=call_headers, timeout=timeout, auth=auth
                )
                status = response.status_code
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                self.breaker.success()  # the insurer answered; what it sent is the problem
                self._log(op, method, url, "truncated", started, attempt, request_id)
                raise InvalidResponse(f"{self.insurer}: truncated or undecodable body") from exc
            except requests.exceptions.RequestException as exc:
                self.breaker.failure()
                kind = "timeout" if isinstance(exc, requests.exceptions.Timeout) else "connection error"
                self._log(op, method, url, kind, started, attempt, request_id)
                last_error = InsurerUnavailable(f"{self.insurer}: {kind}")
                if attempt < attempts and self._pause(op, self._backoff(attempt)):
                    continue
                raise last_error from exc
            except BaseException:
                self.breaker.release()  # e.g. an OAuth2Session's token refresh refused: not the insurer's API
                raise
            self._log(op, method, url, status, started, attempt, request_id)
            if status >= 500:
                self.breaker.failure()
                last_error = InsurerUnavailable(
                    f"{self.insurer}: HTTP {status}",
                    retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
                )
                wait = last_error.retry_after if last_error.retry_after is not None else self._backoff(attempt)
                if attempt < attempts and wait <= self.policy.retry_after_cap and self._pause(op, wait):
                    continue
                raise last_error
            self.breaker.success()
            if status in expect:
                return response
            if status == 429:
                hinted = _retry_after_seconds(response.headers.get("Retry-After"))
                wait = self._backoff(attempt) if hinted is None else hinted
                last_error = InsurerUnavailable(f"{self.insurer}: rate limited (429)", retry_after=wait)
                if attempt < attempts and wait <= self.policy.retry_after_cap and self._pause(op, wait):
                    continue
                raise last_error
            if status in (401, 403):
                raise AuthenticationFailed(f"{self.insurer}: HTTP {status} for {_log_path(url)}")
            raise InvalidResponse(f"{self.insurer}: unexpected HTTP {status} for {_log_path(url)}")
        raise last_error or InsurerUnavailable(f"{self.insurer}: no attempt left")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)

    @staticmethod
    def _pause(op: Operation, seconds: float) -> bool:
        """Sleep if the deadline allows it (with a moment left for the next call); False otherwise."""
        if seconds >= op.remaining():
            return False
        time.sleep(max(0.0, seconds))
        return True

    def _log(
        self, op: Operation, method: str, url: str, status: int | str, started: float, attempt: int, request_id: str
    ) -> None:
        log.info(
            "insurer call",
            extra={
                "insurer": self.insurer,
                "operation": scrub(op.name),
                "operation_id": op.id,
                "method": method,
                "path": _log_path(url),
                "status": status,
                "ms": round((time.monotonic() - started) * 1000, 1),
                "attempt": attempt,
                "request_id": request_id,
            },
        )


# --- reading ahead --------------------------------------------------------------------------------

_END = object()


def read_ahead(source: Iterable[T], depth: int = 1, name: str = "read-ahead") -> Generator[T, None, None]:
    """Iterate ``source`` in a helper thread, up to ``depth`` items ahead of the consumer.

    A paged fetch maps page n while page n+1 is on the wire, so the insurer's latency, not our own
    parsing, sets the pace (bench.large: wall / latency bound). The helper runs in a copy of the
    caller's context; an error reaches the consumer after the items before it, in order. When the
    consumer stops early (an error of its own, ``close()``), the helper stops at its next HTTP call
    (``InsurerHttp.request`` refuses to send one) and closes ``source``.
    """
    if depth < 1:
        raise ValueError("depth must be at least 1")
    items: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        _reader_stopped.set(stop)  # a page of many calls (Australis: premiums per policy) stops at the next call
        iterator = iter(source)
        try:
            for item in iterator:
                if not offer((item, None)):
                    return
            offer((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            offer((_END, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(produce,), name=name, daemon=True).start()
    try:
        while True:
            item, error = items.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
