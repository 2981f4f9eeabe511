"""The shared HTTP policy (``connectors/http.py``) against real HTTP on loopback: no mocks.

Every test serves a tiny WSGI app of its own with ``connectors.sandbox.server.running`` (behind the
sandbox ``FaultInjector`` where a fault is wanted) and counts what that server actually saw.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import re
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from werkzeug.wrappers import Request

from connectors import http as http_module
from connectors.errors import AuthenticationFailed, InsurerUnavailable, InvalidResponse
from connectors.http import CircuitBreaker, HttpPolicy, InsurerHttp, breaker_for, reset_breakers, scrub
from connectors.sandbox.faults import FaultInjector, Faults
from connectors.sandbox.server import running

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Fast, generous defaults; each test changes what it is about. The breaker stays out of the way
# (threshold 1000) unless a test is about it.
FAST = HttpPolicy(
    connect_timeout=1.0,
    read_timeout=2.0,
    deadline=5.0,
    max_attempts=3,
    backoff_base=0.01,
    backoff_max=0.02,
    retry_after_cap=2.0,
    breaker_threshold=1000,
    breaker_cooldown=0.3,
)

# Fictional personal IDs from the sandbox population (valid check digits), and fake secrets.
RFC_PERSON = "TOTJ590318SX3"
RFC_COMPANY = "AEX160912NV1"
CURP = "TOTJ590318HPLRRS05"
CUIT = "30-61361871-2"
CUIL = "27421646525"
DNI = "42164652"
API_KEY = "ak_live_7f3c9e21d4b84a6f"
BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.sig"


# --- a scripted loopback insurer -------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: tuple[tuple[str, str], ...] = ()
    sleep: float = 0.0


@dataclass(frozen=True)
class Hit:
    """One request the server saw."""

    at: float
    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class Script:
    """A WSGI app answering the Nth request with the Nth reply (the last one repeats); records every hit."""

    replies: list[Reply] = field(default_factory=lambda: [Reply()])
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, *replies: Reply) -> Script:
        return cls(replies=list(replies) or [Reply()])

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.hits)

    def wait_for(self, hits: int, timeout: float = 2.0) -> None:
        """Block until the server has seen ``hits`` requests."""
        deadline = time.monotonic() + timeout
        while self.count < hits:
            assert time.monotonic() < deadline, f"the server saw {self.count} requests, not {hits}"
            time.sleep(0.005)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        hit = Hit(time.monotonic(), request.method, request.path, request.query_string.decode(), dict(request.headers))
        with self.lock:
            reply = self.replies[min(len(self.hits), len(self.replies) - 1)]
            self.hits.append(hit)
        if reply.sleep:
            time.sleep(reply.sleep)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(reply.body))), *reply.headers]
        start_response(f"{reply.status} {HTTPStatus(reply.status).phrase}", headers)
        return [reply.body]


@dataclass
class Routes:
    """Dispatch on the first path segment to one Script each."""

    routes: dict[str, Script]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        first = environ["PATH_INFO"].strip("/").split("/")[0]
        return self.routes[first](environ, start_response)


@dataclass
class Switchboard:
    """One loopback server for the module; each app is mounted under its own ``/appN`` prefix.

    Starting and stopping a werkzeug server per test costs up to half a second each (its
    ``serve_forever`` poll interval); one server with a fresh mount point per app costs nothing,
    and every app still gets its own base URL, hence its own breaker.
    """

    base: str = ""
    apps: dict[str, WsgiApp] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mount(self, app: WsgiApp) -> str:
        with self.lock:
            prefix = f"app{len(self.apps)}"
            self.apps[prefix] = app
        return f"{self.base}/{prefix}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        prefix, _, rest = environ["PATH_INFO"].lstrip("/").partition("/")
        with self.lock:
            app = self.apps.get(prefix)
        if app is None:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = f"/{prefix}", f"/{rest}"
        return app(environ, start_response)


Serve = Callable[[WsgiApp], str]
Connect = Callable[..., InsurerHttp]


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    reset_breakers()
    yield
    reset_breakers()


@pytest.fixture(scope="module")
def switchboard() -> Iterator[Switchboard]:
    board = Switchboard()
    with running(board) as base:
        board.base = base
        yield board


@pytest.fixture
def serve(switchboard: Switchboard) -> Serve:
    """Serve a WSGI app on loopback for the test; returns its base URL."""
    return switchboard.mount


@pytest.fixture
def connect() -> Iterator[Connect]:
    """InsurerHttp clients with the FAST policy plus the given changes, closed after the test."""
    made: list[InsurerHttp] = []

    def make(
        base: str,
        insurer: str = "acme",
        *,
        session: requests.Session | None = None,
        headers: dict[str, str] | None = None,
        breaker_key: str | None = None,
        **changes: Any,
    ) -> InsurerHttp:
        client = InsurerHttp(
            insurer, base, replace(FAST, **changes), session=session, headers=headers, breaker_key=breaker_key
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def elapsed_of(call: Callable[[], Any]) -> tuple[float, BaseException | None]:
    """Run ``call``; its wall time and the exception it raised, if any."""
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


# --- answers and errors -------------------------------------------------------------------------


def test_2xx_is_returned(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(200, b'{"poliza": "GNP-1"}'), Reply(201, b'{"folio": "S-1"}'))
    http = connect(serve(app))
    assert http.get_json("/polizas/1") == {"poliza": "GNP-1"}
    created = http.request("POST", "/siniestros", json={"tipo": "robo"}, expect=(201,))
    assert created.status_code == 201 and created.json() == {"folio": "S-1"}
    assert [(h.method, h.path) for h in app.hits] == [("GET", "/polizas/1"), ("POST", "/siniestros")]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_for_idempotent_calls_up_to_max_attempts(serve: Serve, connect: Connect, status: int) -> None:
    app = Script.of(Reply(status))
    http = connect(serve(app), max_attempts=3)
    with pytest.raises(InsurerUnavailable, match=f"HTTP {status}"):
        http.request("GET", "/polizas")
    assert app.count == 3


def test_5xx_then_success_returns_the_success(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503), Reply(502), Reply(200))
    http = connect(serve(app), max_attempts=3)
    assert http.request("GET", "/polizas").status_code == 200
    assert app.count == 3


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_calls_are_not_retried_by_default(serve: Serve, connect: Connect, method: str) -> None:
    app = Script.of(Reply(503), Reply(200))
    http = connect(serve(app), max_attempts=3)
    with pytest.raises(InsurerUnavailable):
        http.request(method, "/siniestros", json={"tipo": "robo"})
    assert app.count == 1


def test_post_is_retried_when_declared_idempotent(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503))
    http = connect(serve(app), max_attempts=3)
    with pytest.raises(InsurerUnavailable):
        http.request("POST", "/consultas", json={"q": 1}, idempotent=True)
    assert app.count == 3


def test_get_declared_not_idempotent_is_not_retried(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503))
    http = connect(serve(app), max_attempts=3)
    with pytest.raises(InsurerUnavailable):
        http.request("GET", "/links/pago", idempotent=False)
    assert app.count == 1


def test_timeouts_raise_insurer_unavailable_within_the_deadline(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(sleep=2.0))
    # The default backoff (0.2 s base): three 0.3 s attempts plus waits would exceed 1 s; the deadline wins.
    http = connect(serve(app), read_timeout=0.3, deadline=1.0, backoff_base=0.2, backoff_max=2.0)
    took, error = elapsed_of(lambda: http.request("GET", "/polizas"))
    assert isinstance(error, InsurerUnavailable) and "timeout" in str(error)
    assert took <= 1.0 + 0.1, f"the operation took {took:.2f}s with a deadline of 1.0s"
    assert took >= 0.55 and app.count >= 2  # it did retry the idempotent call


def test_a_deadline_shorter_than_the_read_timeout_cuts_the_call(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(sleep=2.0))
    http = connect(serve(app), read_timeout=5.0, deadline=0.4)
    took, error = elapsed_of(lambda: http.request("GET", "/polizas"))
    assert isinstance(error, InsurerUnavailable)
    assert 0.35 <= took <= 0.5
    assert app.count == 1


def test_connection_refused_is_insurer_unavailable(connect: Connect) -> None:
    http = connect(f"http://127.0.0.1:{free_port()}", max_attempts=2)
    took, error = elapsed_of(lambda: http.request("GET", "/polizas"))
    assert isinstance(error, InsurerUnavailable) and "connection error" in str(error)
    assert isinstance(error.__cause__, requests.exceptions.ConnectionError)
    assert took < 0.5


def test_429_with_retry_after_within_the_cap_waits_then_succeeds(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(200, b'{"pagina": 1}'))
    # The sandbox's own fault: one 429 with "Retry-After: 1", then normal answers.
    http = connect(serve(FaultInjector(app, Faults(rate_limit_s=1, times=1))), retry_after_cap=2.0)
    started = time.monotonic()
    assert http.get_json("/polizas") == {"pagina": 1}
    took = time.monotonic() - started
    assert 0.95 <= took <= 1.5, f"waited {took:.2f}s for Retry-After: 1"
    assert app.count == 1  # the 429 came from the injector, the retry reached the app


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_above_the_cap_fails_at_once(serve: Serve, connect: Connect, status: int) -> None:
    app = Script.of(Reply(status, headers=(("Retry-After", "120"),)), Reply(200))
    http = connect(serve(app), retry_after_cap=2.0)
    took, error = elapsed_of(lambda: http.request("GET", "/polizas"))
    assert isinstance(error, InsurerUnavailable)
    assert error.retry_after == 120
    assert took < 0.2 and app.count == 1


def test_retry_after_as_an_http_date(serve: Serve, connect: Connect) -> None:
    # Parsing: future, past, malformed.
    ahead = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28.5 <= (http_module._retry_after_seconds(ahead) or 0) <= 30
    assert http_module._retry_after_seconds(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0
    assert http_module._retry_after_seconds("next tuesday") is None
    assert http_module._retry_after_seconds("7") == 7.0
    # A date within the cap (HTTP dates have 1 s resolution: "now + 2 s" means a wait in (1, 2] s).
    soon = email.utils.formatdate(time.time() + 2, usegmt=True)
    app = Script.of(Reply(429, headers=(("Retry-After", soon),)), Reply(200))
    http = connect(serve(app), retry_after_cap=3.0)
    took, error = elapsed_of(lambda: http.request("GET", "/polizas"))
    assert error is None and app.count == 2
    assert 0.9 <= took <= 2.3, f"waited {took:.2f}s for an HTTP-date Retry-After about 1-2 s ahead"
    # A date beyond the cap: fail at once, saying when to come back.
    far = email.utils.formatdate(time.time() + 90, usegmt=True)
    app = Script.of(Reply(429, headers=(("Retry-After", far),)), Reply(200))
    http = connect(serve(app), retry_after_cap=3.0)
    took, error = elapsed_of(lambda: http.request("GET", "/polizas"))
    assert isinstance(error, InsurerUnavailable) and error.retry_after is not None
    assert 88 <= error.retry_after <= 90 and took < 0.2 and app.count == 1


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_authentication_failed_and_not_retried(serve: Serve, connect: Connect, status: int) -> None:
    app = Script.of(Reply(status, b'{"error": "invalid_token"}'))
    http = connect(serve(app))
    with pytest.raises(AuthenticationFailed, match=str(status)):
        http.request("GET", "/polizas")
    assert app.count == 1


def test_404_is_invalid_response_unless_expected(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(404, b'{"error": "no encontrado"}'))
    http = connect(serve(app))
    with pytest.raises(InvalidResponse, match="404"):
        http.request("GET", "/polizas/X")
    assert http.request("GET", "/polizas/X", expect=(200, 404)).status_code == 404
    assert app.count == 2


def test_malformed_json_is_invalid_response(serve: Serve, connect: Connect) -> None:
    injected = connect(serve(FaultInjector(Script.of(Reply()), Faults(malformed=True))))
    with pytest.raises(InvalidResponse, match="malformed JSON"):
        injected.get_json("/polizas")
    html = Script.of(Reply(200, b"<html><body>Service Unavailable</body></html>"))
    with pytest.raises(InvalidResponse, match="malformed JSON"):
        connect(serve(html)).get_json("/polizas")
    assert html.count == 1  # a bad body is not retried


def test_a_truncated_body_is_invalid_response(serve: Serve, connect: Connect) -> None:
    page = json.dumps({"datos": [{"poliza": f"GNP-{i:06d}"} for i in range(200)]}).encode()
    app = Script.of(Reply(200, page))
    http = connect(serve(FaultInjector(app, Faults(truncate=True))), read_timeout=2.0)
    took, error = elapsed_of(lambda: http.get_json("/polizas"))
    assert isinstance(error, InvalidResponse) and "truncated" in str(error)
    assert took < 1.0  # the short body is noticed when the connection ends, not after a read timeout
    assert app.count == 1
    assert http.breaker.state == CircuitBreaker.CLOSED  # the insurer answered: not a breaker failure


def test_a_request_id_on_every_call_unique_per_attempt(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503), Reply(503), Reply(200), Reply(200))
    http = connect(serve(app), max_attempts=3)
    http.request("GET", "/polizas")
    http.request("POST", "/siniestros")
    ids = [h.headers.get("X-Request-Id") for h in app.hits]
    assert len(ids) == 4
    assert all(i and re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    assert len(set(ids)) == 4


def test_backoff_has_jitter_grows_and_is_capped() -> None:
    http = InsurerHttp("acme", "http://127.0.0.1:9", replace(FAST, backoff_base=0.1, backoff_max=1.0))
    means = []
    for attempt in range(1, 8):
        ceiling = min(1.0, 0.1 * 2 ** (attempt - 1))
        samples = [http._backoff(attempt) for _ in range(3000)]
        assert all(0.0 <= s <= ceiling for s in samples)  # capped
        assert len(set(samples)) > 2900  # jitter: (nearly) every wait differs
        assert max(samples) > 0.9 * ceiling and min(samples) < 0.1 * ceiling  # full jitter over [0, ceiling]
        assert statistics.fmean(samples) == pytest.approx(ceiling / 2, rel=0.1)
        means.append(statistics.fmean(samples))
    assert means[0] < means[1] < means[2] < means[3] < means[4]  # grows: 0.05, 0.1, 0.2, 0.4, 0.5
    assert max(means[4:]) < 0.56  # then stays at the cap (backoff_max / 2 on average)
    http.close()


# --- the circuit breaker ------------------------------------------------------------------------


def test_breaker_opens_after_threshold_consecutive_failures(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503))
    http = connect(serve(app), max_attempts=1, breaker_threshold=3, breaker_cooldown=30)
    for _ in range(3):
        assert http.breaker.state == CircuitBreaker.CLOSED
        with pytest.raises(InsurerUnavailable, match="HTTP 503"):
            http.request("GET", "/polizas")
    assert http.breaker.state == CircuitBreaker.OPEN and app.count == 3


def test_breaker_counts_consecutive_failures_only(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503), Reply(503), Reply(200), Reply(503), Reply(503), Reply(200))
    http = connect(serve(app), max_attempts=1, breaker_threshold=3)
    for _ in range(6):
        with contextlib.suppress(InsurerUnavailable):
            http.request("GET", "/polizas")
    assert http.breaker.state == CircuitBreaker.CLOSED and app.count == 6


def test_an_open_breaker_fails_fast_without_reaching_the_insurer(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(sleep=0.3))  # each real call times out after 0.1 s
    http = connect(serve(app), max_attempts=1, read_timeout=0.1, breaker_threshold=2, breaker_cooldown=30)
    for _ in range(2):
        with pytest.raises(InsurerUnavailable, match="timeout"):
            http.request("GET", "/polizas")
    started = time.monotonic()
    for _ in range(50):
        with pytest.raises(InsurerUnavailable, match="circuit open") as caught:
            http.request("GET", "/polizas")
        assert caught.value.retry_after is not None and 29 < caught.value.retry_after <= 30
    assert time.monotonic() - started < 0.1  # 50 calls, no timeouts
    assert app.count == 2


def test_half_open_lets_one_trial_through_and_closes_on_success(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503), Reply(200))
    http = connect(serve(app), max_attempts=1, breaker_threshold=1, breaker_cooldown=0.2)
    with pytest.raises(InsurerUnavailable):
        http.request("GET", "/polizas")
    with pytest.raises(InsurerUnavailable, match="circuit open"):
        http.request("GET", "/polizas")
    time.sleep(0.25)
    assert http.breaker.state == CircuitBreaker.HALF_OPEN
    assert http.request("GET", "/polizas").status_code == 200  # the trial
    assert http.breaker.state == CircuitBreaker.CLOSED
    assert http.request("GET", "/polizas").status_code == 200
    assert app.count == 3


def test_half_open_admits_exactly_one_concurrent_trial(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503), Reply(200, sleep=0.5))  # the trial is slow, so the others arrive during it
    base = serve(app)
    http = connect(base, max_attempts=1, breaker_threshold=1, breaker_cooldown=0.2)
    with pytest.raises(InsurerUnavailable):
        http.request("GET", "/polizas")
    time.sleep(0.25)
    trial: dict[str, Any] = {}
    trial_thread = threading.Thread(target=lambda: trial.update(status=http.request("GET", "/polizas").status_code))
    trial_thread.start()
    app.wait_for(2)  # the trial has reached the insurer and is waiting for its answer
    outcomes: list[tuple[float, BaseException | None]] = []
    other = connect(base, max_attempts=1, breaker_threshold=1, breaker_cooldown=0.2)  # same breaker
    callers = [
        threading.Thread(target=lambda c=c: outcomes.append(elapsed_of(lambda: c.request("GET", "/polizas"))))
        for c in [http, other] * 5
    ]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    trial_thread.join()
    assert len(outcomes) == 10
    assert all(isinstance(e, InsurerUnavailable) and "half-open" in str(e) for _, e in outcomes), outcomes
    assert max(took for took, _ in outcomes) < 0.2  # failed fast, without waiting for the trial
    assert trial == {"status": 200} and app.count == 2
    assert http.breaker.state == CircuitBreaker.CLOSED


def test_a_failed_trial_reopens_the_breaker(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503))
    http = connect(serve(app), max_attempts=1, breaker_threshold=2, breaker_cooldown=0.2)
    for _ in range(2):
        with pytest.raises(InsurerUnavailable, match="HTTP 503"):
            http.request("GET", "/polizas")
    time.sleep(0.25)
    with pytest.raises(InsurerUnavailable, match="HTTP 503"):
        http.request("GET", "/polizas")  # the trial reaches the insurer and fails
    assert app.count == 3 and http.breaker.state == CircuitBreaker.OPEN
    with pytest.raises(InsurerUnavailable, match="circuit open") as caught:
        http.request("GET", "/polizas")  # one failed trial is enough: a fresh cool-down
    assert app.count == 3 and caught.value.retry_after is not None and caught.value.retry_after > 0.1


def test_a_trial_abandoned_by_an_exhausted_deadline_does_not_wedge_the_breaker(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503), Reply(200))
    http = connect(serve(app), max_attempts=1, breaker_threshold=1, breaker_cooldown=0.1)
    with pytest.raises(InsurerUnavailable):
        http.request("GET", "/polizas")
    with http.operation("fetch", deadline=0.15):
        time.sleep(0.2)  # the cool-down ends while this operation spends its whole deadline
        with pytest.raises(InsurerUnavailable, match="deadline"):
            http.request("GET", "/polizas")
    assert app.count == 1
    # The abandoned call must not leave a "trial in flight" behind: the next call is the trial.
    assert http.request("GET", "/polizas").status_code == 200
    assert http.breaker.state == CircuitBreaker.CLOSED


def test_a_trial_that_dies_in_the_token_refresh_does_not_wedge_the_breaker(serve: Serve, connect: Connect) -> None:
    token = Script.of(
        Reply(401, b'{"error": "invalid_client"}'),
        Reply(200, b'{"access_token": "new", "token_type": "Bearer", "expires_in": 3600}'),
    )
    api = Script.of(Reply(503), Reply(200))
    base = serve(Routes({"oauth": token, "api": api}))
    session = OAuth2Session(
        "client", "secret", token_endpoint=f"{base}/oauth/token", grant_type="client_credentials",
        token={"access_token": "old", "token_type": "Bearer", "expires_at": int(time.time()) + 3600},
    )  # fmt: skip
    http = connect(base, session=session, max_attempts=1, breaker_threshold=1, breaker_cooldown=0.1)
    with pytest.raises(InsurerUnavailable):
        http.request("GET", "/api/polizas")  # the circuit opens
    session.token = {"access_token": "old", "token_type": "Bearer", "expires_at": int(time.time()) - 10}
    time.sleep(0.15)
    with pytest.raises(OAuthError):  # the trial's token refresh is refused: not a requests exception
        http.request("GET", "/api/polizas")
    assert (token.count, api.count) == (1, 1)
    assert http.request("GET", "/api/polizas").status_code == 200  # the next call is a new trial
    assert (token.count, api.count) == (2, 2)
    assert api.hits[-1].headers["Authorization"] == "Bearer new"


@pytest.mark.parametrize(
    ("status", "headers"), [(400, ()), (404, ()), (401, ()), (403, ()), (409, ()), (429, (("Retry-After", "99"),))]
)
def test_4xx_are_not_breaker_failures(
    serve: Serve, connect: Connect, status: int, headers: tuple[tuple[str, str], ...]
) -> None:
    app = Script.of(Reply(status, headers=headers))
    http = connect(serve(app), max_attempts=1, breaker_threshold=2)
    for _ in range(6):
        with pytest.raises((InvalidResponse, AuthenticationFailed, InsurerUnavailable)):
            http.request("GET", "/polizas")
    assert app.count == 6 and http.breaker.state == CircuitBreaker.CLOSED


def test_the_breaker_is_shared_per_insurer_across_instances(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(503))
    base = serve(app)
    first = connect(base, "acme", max_attempts=1, breaker_threshold=2, breaker_cooldown=30)
    second = connect(base, "acme", max_attempts=1, breaker_threshold=2, breaker_cooldown=30)
    keyed = connect(f"http://127.0.0.1:{free_port()}", "acme", breaker_key=f"acme {base}", breaker_threshold=2,
                    breaker_cooldown=30)  # fmt: skip
    elsewhere = connect(base, "otra", max_attempts=1, breaker_threshold=2, breaker_cooldown=30)
    assert first.breaker is second.breaker is keyed.breaker
    assert breaker_for(f"acme {base}", first.policy) is first.breaker
    assert elsewhere.breaker is not first.breaker
    for _ in range(2):
        with pytest.raises(InsurerUnavailable, match="HTTP 503"):
            first.request("GET", "/polizas")
    for client in (second, keyed):
        with pytest.raises(InsurerUnavailable, match="circuit open"):
            client.request("GET", "/polizas")
    assert app.count == 2
    with pytest.raises(InsurerUnavailable, match="HTTP 503"):
        elsewhere.request("GET", "/polizas")  # another insurer's circuit is still closed
    assert app.count == 3


# --- operations ---------------------------------------------------------------------------------


def test_nested_operations_keep_the_earlier_deadline(serve: Serve, connect: Connect) -> None:
    app = Script.of(Reply(sleep=2.0))
    http = connect(serve(app), read_timeout=5.0, deadline=30.0)
    assert http_module._current_op.get() is None
    with http.operation("fetch", deadline=0.5) as outer:
        with http.operation("page", deadline=10.0) as inner:
            assert inner.deadline_at == outer.deadline_at
            assert http_module._current_op.get() is inner
            took, error = elapsed_of(lambda: http.request("GET", "/polizas"))
            assert isinstance(error, InsurerUnavailable)
            assert took <= 0.6, f"the inner call took {took:.2f}s inside an outer deadline of 0.5s"
        assert http_module._current_op.get() is outer
        assert outer.id != inner.id
    with http.operation("fetch", deadline=10.0) as outer, http.operation("quick", deadline=0.01) as short:
        assert short.deadline_at < outer.deadline_at  # a nested scope may be shorter
    assert http_module._current_op.get() is None


def test_a_budget_cuts_each_operation_and_stops_a_fetch_that_runs_out(serve: Serve, connect: Connect) -> None:
    """A paged fetch: each page has the policy's deadline, the whole fetch its budget (``fetch_deadline``)."""
    app = Script.of(Reply(sleep=0.3))
    http = connect(serve(app), deadline=5.0, fetch_deadline=0.8)
    budget = http.budget("fetch")
    with http.operation("page 1", within=budget) as first:
        assert first.deadline_at == budget.ends_at  # the budget ends before the page's own 5 s

    def fetch() -> None:  # ten pages of 0.3 s each, every one well within its own deadline
        for page in range(10):
            with http.operation(f"page {page}", within=budget):
                http.request("GET", "/p")

    took, error = elapsed_of(fetch)
    assert isinstance(error, InsurerUnavailable)
    assert took <= 1.2, f"{took:.2f}s for a budget of 0.8s"
    assert len(app.hits) <= 3
    unbounded = connect(serve(app), fetch_deadline=None).budget("fetch")
    assert unbounded.remaining() == float("inf")
    with http.operation("page", within=unbounded) as page:
        assert 4.9 <= page.remaining() <= 5.0  # no cap: the page's own deadline


def test_read_ahead_keeps_order_and_raises_after_the_items_before_the_error() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise InsurerUnavailable("page 3")

    got: list[int] = []
    with pytest.raises(InsurerUnavailable, match="page 3"):
        for item in http_module.read_ahead(pages(), depth=2):
            got.append(item)
    assert got == [1, 2]


def test_read_ahead_works_ahead_of_the_consumer_and_stops_when_closed() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            for n in range(100):
                produced.append(n)
                yield n
        finally:
            closed.set()

    ahead = http_module.read_ahead(pages(), depth=2)
    assert next(ahead) == 0
    deadline = time.monotonic() + 2
    while len(produced) < 4 and time.monotonic() < deadline:  # item 0 taken, 1 and 2 queued, 3 waiting
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(produced) == 4, "it read further ahead than its depth"
    ahead.close()
    assert closed.wait(2), "the source was not closed"
    assert len(produced) == 4


def test_read_ahead_runs_in_a_copy_of_the_callers_context(serve: Serve, connect: Connect) -> None:
    """An operation the caller holds bounds the calls made ahead (a fetch wrapped in one deadline)."""
    http = connect(serve(Script.of(Reply(sleep=1.0))), deadline=30.0)

    def pages() -> Iterator[Any]:
        yield http_module.current_operation()
        yield http.request("GET", "/slow")

    with http.operation("fetch", deadline=0.4) as outer:
        ahead = http_module.read_ahead(pages())
        assert next(ahead) is outer
        took, error = elapsed_of(lambda: next(ahead))
    assert isinstance(error, InsurerUnavailable) and took <= 0.6


# --- logs ---------------------------------------------------------------------------------------


def _connector_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("connectors")]


def _everything_logged(records: list[logging.LogRecord]) -> str:
    """The formatted message and every attribute of every record, as one string."""
    return "\n".join(f"{r.getMessage()} {vars(r)!r}" for r in records)


def test_logs_carry_context_but_no_secrets_personal_ids_or_query(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = Script.of(Reply(503), Reply(200))
    base = serve(app)
    mount = urlsplit(base).path  # the switchboard's /appN prefix
    http = connect(base, "acme", headers={"X-Api-Key": API_KEY})
    http.request(
        "GET",
        f"/clientes/{CURP}/polizas?rfc={RFC_PERSON}",
        params={"cuit": CUIT, "dni": DNI, "api_key": API_KEY},
        headers={"Authorization": f"Bearer {BEARER}"},
    )
    seen = app.hits[-1]
    assert seen.headers["X-Api-Key"] == API_KEY and seen.headers["Authorization"] == f"Bearer {BEARER}"
    assert CUIT in requests.utils.unquote(seen.query)  # the insurer did get them...
    records = _connector_records(caplog)
    assert len(records) == 2
    for record, hit, status in zip(records, app.hits, (503, 200), strict=True):
        assert record.insurer == "acme"  # type: ignore[attr-defined]
        assert record.status == status  # type: ignore[attr-defined]
        assert record.request_id == hit.headers["X-Request-Id"]  # type: ignore[attr-defined]
        assert record.method == "GET"  # type: ignore[attr-defined]
        assert record.path == f"{mount}/clientes/***/polizas?…"  # type: ignore[attr-defined]
        assert record.operation == "GET /clientes/***/polizas?…"  # type: ignore[attr-defined]
        assert isinstance(record.ms, float) and record.attempt in (1, 2)  # type: ignore[attr-defined]
    logged = _everything_logged(records)
    for secret in (API_KEY, BEARER, CURP, RFC_PERSON, CUIT, DNI, "rfc=", "cuit=", "api_key"):
        assert secret not in logged  # ...the logs did not


def test_named_operations_are_logged_scrubbed(serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    http = connect(serve(Script.of(Reply())), "acme")
    with http.operation(f"fetch {RFC_COMPANY}"):
        http.request("GET", f"/clientes/{RFC_COMPANY}")
    (record,) = _connector_records(caplog)
    assert record.operation == "fetch ***"  # type: ignore[attr-defined]
    assert RFC_COMPANY not in _everything_logged([record])


def test_errors_and_timeout_logs_hold_no_personal_ids(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    http = connect(serve(Script.of(Reply(404), Reply(sleep=1.0))), read_timeout=0.2, max_attempts=1)
    with pytest.raises(InvalidResponse) as not_found:
        http.request("GET", f"/clientes/{CURP}?dni={DNI}")
    with pytest.raises(InsurerUnavailable) as timed_out:
        http.request("GET", f"/clientes/{CUIL}")
    messages = f"{not_found.value} {timed_out.value}"
    assert CURP not in messages and DNI not in messages and CUIL not in messages
    records = _connector_records(caplog)
    assert [r.status for r in records] == [404, "timeout"]  # type: ignore[attr-defined]
    logged = _everything_logged(records)
    assert CURP not in logged and DNI not in logged and CUIL not in logged


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("RFC of a person", RFC_PERSON),
        ("RFC of a company", RFC_COMPANY),
        ("RFC with Ñ", "MUÑA850101AB2"),
        ("RFC with &", "M&A010101AB1"),
        ("RFC in lower case", RFC_PERSON.lower()),
        ("CURP", CURP),
        ("CURP of a woman", "ZUGR831007MBCXMG02"),
        ("CUIT with dashes", CUIT),
        ("CUIT without dashes", CUIT.replace("-", "")),
        ("CUIL without dashes", CUIL),
        ("CUIL with dashes", "27-42164652-5"),
        ("DNI, 8 digits", DNI),
        ("DNI, 7 digits", "7164652"),
        ("DNI with dots", "42.164.652"),
    ],
)
def test_scrub_masks_personal_ids(kind: str, value: str) -> None:
    assert scrub(value) == "***", kind
    assert scrub(f"/clientes/{value}/polizas") == "/clientes/***/polizas", kind
    assert scrub(f"cliente {value}, página 2") == "cliente ***, página 2", kind


@pytest.mark.parametrize(
    "text", ["/v1/polizas", "/polizas/GNP-AUT-004512/recibos", "HTTP 503 after 3 attempts", "page=2&size=50"]
)
def test_scrub_leaves_ordinary_text_alone(text: str) -> None:
    assert scrub(text) == text
