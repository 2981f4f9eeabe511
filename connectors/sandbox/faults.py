"""Fault injection for sandboxes, set per server (``POST /__sandbox/faults``) or per request (headers).

Faults (JSON body of ``POST /__sandbox/faults``, or ``X-Sandbox-*`` headers on one request):

- ``latency_ms``: every matching response takes at least this long from its arrival, the app's own
  work included (an insurer's answer time: a page it takes 20 ms to build still comes after 75 ms);
- ``error_rate`` (0..1) with ``error_status`` (default 503): random server errors;
- ``status``: answer every matching request with this status (500, 503, 401...);
- ``timeout_s``: sleep this long before answering (longer than the client's read timeout);
- ``malformed``: a body that is not valid JSON;
- ``truncate``: a body cut short, with a Content-Length that promises more;
- ``short_page``: the app drops items from a list page (apps read ``environ["sandbox.faults"]``);
- ``rate_limit_s``: 429 with ``Retry-After`` of this many seconds;
- ``expired_token``: the app rejects the access token as expired (401);
- ``on_request``: apply the fault only to the Nth matching request (1-based), e.g. page 3 of 5;
- ``times``: apply the fault to this many matching requests, then stop;
- ``path``: only requests whose path starts with this prefix match (default: every API path).

``DELETE /__sandbox/faults`` clears them; ``GET`` shows them, with ``seen``: the matching requests so far.
Headers: ``X-Sandbox-Fault`` =
``status:500`` | ``timeout:3`` | ``malformed`` | ``truncate`` | ``short_page`` | ``rate_limit:2`` |
``expired_token``, and ``X-Sandbox-Latency-Ms``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from werkzeug.wrappers import Request, Response

CONTROL_PATH = "/__sandbox/faults"


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    status: int | None = None
    timeout_s: float | None = None
    malformed: bool = False
    truncate: bool = False
    short_page: bool = False
    rate_limit_s: int | None = None
    expired_token: bool = False
    on_request: int | None = None
    times: int | None = None
    path: str | None = None
    seen: int = field(default=0, repr=False)  # matching requests so far

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Faults:
        names = {f.name for f in fields(cls)} - {"seen"}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def from_headers(cls, headers: Any) -> Faults | None:
        spec = headers.get("X-Sandbox-Fault")
        latency = headers.get("X-Sandbox-Latency-Ms")
        if not spec and not latency:
            return None
        faults = cls(latency_ms=int(latency or 0))
        if spec:
            name, _, arg = spec.partition(":")
            if name == "status":
                faults.status = int(arg or 500)
            elif name == "timeout":
                faults.timeout_s = float(arg or 30)
            elif name == "rate_limit":
                faults.rate_limit_s = int(arg or 1)
            elif name in ("malformed", "truncate", "short_page", "expired_token"):
                setattr(faults, name, True)
            else:
                raise ValueError(f"unknown fault {name!r}")
        return faults

    def active(self) -> bool:
        """True when any fault is set (the matching and counting fields alone are not faults)."""
        return bool(
            self.latency_ms
            or self.error_rate
            or self.status is not None
            or self.timeout_s
            or self.malformed
            or self.truncate
            or self.short_page
            or self.rate_limit_s is not None
            or self.expired_token
        )

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("seen")
        return data


class FaultInjector:
    """WSGI middleware: applies the faults, and exposes them to the app as ``environ["sandbox.faults"]``."""

    def __init__(self, app: Callable[..., Any], defaults: Faults | None = None, api_prefix: str = "/") -> None:
        self.app = app
        self.defaults = defaults or Faults()
        self.api_prefix = api_prefix
        self._lock = threading.Lock()
        self._faults = Faults(**self.defaults.public())

    def set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    def clear(self) -> None:
        self.set(Faults(**self.defaults.public()))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        request = Request(environ)
        if request.path == CONTROL_PATH:
            return self._control(request)(environ, start_response)
        try:
            faults = Faults.from_headers(request.headers) or self._match(request.path)
        except ValueError as exc:
            return Response(json.dumps({"error": str(exc)}), 400, mimetype="application/json")(environ, start_response)
        if faults is None:
            return self.app(environ, start_response)
        if faults.latency_ms:
            return _held(
                faults.latency_ms / 1000, started, lambda sr: self._faulty(environ, sr, faults), start_response
            )
        return self._faulty(environ, start_response, faults)

    def _faulty(self, environ: dict[str, Any], start_response: Callable[..., Any], faults: Faults) -> Iterable[bytes]:
        """The answer under ``faults`` (latency aside)."""
        if faults.timeout_s:
            time.sleep(faults.timeout_s)
        if faults.status is not None:
            return _json(faults.status, {"error": "injected fault"})(environ, start_response)
        if faults.error_rate and random.random() < faults.error_rate:
            return _json(faults.error_status, {"error": "injected random fault"})(environ, start_response)
        if faults.rate_limit_s is not None:
            response = _json(429, {"error": "too many requests"})
            response.headers["Retry-After"] = str(faults.rate_limit_s)
            return response(environ, start_response)
        environ["sandbox.faults"] = faults
        if faults.malformed or faults.truncate:
            return self._mangle(environ, start_response, faults)
        return self.app(environ, start_response)

    def _match(self, path: str) -> Faults | None:
        """The server-wide faults if this request matches them (and counts it)."""
        with self._lock:
            faults = self._faults
            if not faults.active():
                return None
            prefix = faults.path or self.api_prefix
            if not path.startswith(prefix):
                return None
            faults.seen += 1
            if faults.on_request is not None and faults.seen != faults.on_request:
                return Faults(latency_ms=faults.latency_ms) if faults.latency_ms else None
            if faults.times is not None:
                if faults.times <= 0:
                    return Faults(latency_ms=faults.latency_ms) if faults.latency_ms else None
                faults.times -= 1
            return faults

    def _mangle(self, environ: dict[str, Any], start_response: Callable[..., Any], faults: Faults) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        if faults.malformed:
            body = b'{"datos": [{"id": "1", ' + b"\x00<html>Service Unavailable"
            headers.append(("Content-Length", str(len(body))))
        else:
            # Promise the whole body, send half of it: the client sees the connection end early.
            headers.append(("Content-Length", str(len(body))))
            body = body[: max(1, len(body) // 2)]
        start_response(captured["status"], headers)
        return [body]

    def _control(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear()
        elif request.method == "POST":
            try:
                self.set(Faults.from_mapping(request.get_json(force=True) or {}))
            except (TypeError, ValueError) as exc:
                return _json(400, {"error": str(exc)})
        with self._lock:
            # ``seen``: how many requests matched the faults since they were set (load and attack scripts count calls).
            return _json(200, {**self._faults.public(), "seen": self._faults.seen})


def _held(
    seconds: float,
    started: float,
    answer: Callable[[Callable[..., Any]], Iterable[bytes]],
    start_response: Callable[..., Any],
) -> Iterable[bytes]:
    """``answer``'s response, sent no sooner than ``seconds`` after ``started`` (its own time counts)."""
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        captured["status"], captured["headers"] = status, headers
        return lambda _data: None

    body = b"".join(answer(capture))
    time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    start_response(captured["status"], captured["headers"])
    return [body]


def _json(status: int, data: Any) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")
