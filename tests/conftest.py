"""Shared fixtures: the app on SQLite or PostgreSQL (+ Redis), a real SMTP server, a clean database per test."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

TEST_DB_URL = os.environ.get("AGGREGATOR_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("AGGREGATOR_TEST_REDIS_URL")
STRONG_PASSWORD = "Mango#Verde2026!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a real SMTP server -------------------------------------------------------------------------


@dataclass
class Mailbox:
    """Messages received by the test SMTP server."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(self, address: str, subject_contains: str = "", timeout: float = 10.0) -> EmailMessage:
        """The newest message to ``address`` whose subject contains the text, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.to(address) if subject_contains.lower() in str(m["Subject"]).lower()]
            if found:
                return found[-1]
            time.sleep(0.02)
        subjects = [(str(m["To"]), str(m["Subject"])) for m in self.messages]
        raise AssertionError(f"no email to {address} with {subject_contains!r}; got {subjects}")


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd API name
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.box.lock:
            self.box.messages.append(msg)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[str, int, Mailbox]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=port)
    controller.start()
    yield "127.0.0.1", port, box
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[str, int, Mailbox]) -> Mailbox:
    box = smtp_server[2]
    box.clear()
    return box


def text_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None, "email without a text part"
    return str(part.get_content())


def html_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None, "email without an HTML part"
    return str(part.get_content())


def link_in(msg: EmailMessage, path_fragment: str) -> str:
    """The first link of the text part whose path contains ``path_fragment``."""
    for url in re.findall(r"https?://\S+", text_body(msg)):
        if path_fragment in url:
            return url
    raise AssertionError(f"no link with {path_fragment!r} in:\n{text_body(msg)}")


def local_path(url: str) -> str:
    """'/auth/verify/...' from 'http://localhost/auth/verify/...'."""
    return re.sub(r"^https?://[^/]+", "", url)


# --- the app ------------------------------------------------------------------------------------


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# --- the insurers' sandboxes ----------------------------------------------------------------------


@dataclass
class Sandbox:
    """One insurer sandbox served on loopback for the whole session, with its fault controls."""

    slug: str
    base: str
    faults_path: str
    samples: Any  # connectors.base.SandboxSamples

    def faults(self, **spec: Any) -> None:
        """Inject faults (see connectors.sandbox.faults): status, on_request, path, latency_ms, ..."""
        import requests

        answer = requests.post(self.base + self.faults_path, json=spec, timeout=5)
        assert answer.status_code == 200, answer.text

    def clear(self) -> None:
        import requests

        requests.delete(self.base + self.faults_path, timeout=5)


@pytest.fixture(scope="session")
def sandbox_servers() -> Iterator[dict[str, Sandbox]]:
    """Every registered connector's sandbox (default seed), each on a free loopback port."""
    from connectors.registry import discover
    from connectors.sandbox import serve

    servers, found = [], {}
    for slug, cls in discover().items():
        spec = cls.sandbox()
        if spec is None:
            continue
        server = serve(spec.make_app(), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True, name=f"sandbox-{slug}").start()
        servers.append(server)
        found[slug] = Sandbox(slug, f"http://127.0.0.1:{server.port}", spec.faults_path, spec.samples)
    yield found
    for server in servers:
        server.shutdown()


@pytest.fixture
def sandboxes(sandbox_servers: dict[str, Sandbox]) -> Iterator[dict[str, Sandbox]]:
    """The sandboxes, with their faults cleared after the test."""
    yield sandbox_servers
    for sandbox in sandbox_servers.values():
        sandbox.clear()


@pytest.fixture(scope="session")
def app_config(
    tmp_path_factory: pytest.TempPathFactory,
    smtp_server: tuple[str, int, Mailbox],
    sandbox_servers: dict[str, Sandbox],
) -> dict[str, Any]:
    instance = tmp_path_factory.mktemp("instance")
    os.environ["AGGREGATOR_INSTANCE_PATH"] = str(instance)
    db_url = TEST_DB_URL or f"sqlite:///{instance / 'test.db'}"
    config: dict[str, Any] = {
        "ENV_NAME": "testing",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_URL": db_url,
        "MAIL_URL": f"smtp://{smtp_server[0]}:{smtp_server[1]}",
        "REDIS_URL": TEST_REDIS_URL,
        "SERVER_NAME": None,
        "CONNECTOR_SETTINGS": {
            slug: cls.sandbox().settings_for(sandbox_servers[slug].base)  # type: ignore[union-attr]
            for slug, cls in _connector_classes().items()
            if slug in sandbox_servers
        },
        # Short timeouts and one quick retry: a fault test must not wait for production timeouts.
        "CONNECTOR_HTTP_POLICY": {
            "connect_timeout": 1.0,
            "read_timeout": 1.0,
            "deadline": 3.0,
            "max_attempts": 2,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
        },
    }
    return config


def _connector_classes() -> dict[str, Any]:
    from connectors.registry import discover

    return discover()


@pytest.fixture(scope="session")
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    from aggregator import create_app, migrate

    if TEST_DB_URL:
        _reset_postgres(TEST_DB_URL)
    application = create_app(dict(app_config))
    migrate.upgrade(application)
    yield application


def close_app(flask_app: Flask) -> None:
    """Close the database connections of an extra app a test made (PostgreSQL warns about unclosed ones)."""
    from aggregator.extensions import db

    with flask_app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from empty tables and empty rate-limit counters."""
    yield
    if "app" not in request.fixturenames:
        return
    flask_app: Flask = request.getfixturevalue("app")
    from aggregator.db import Base
    from aggregator.extensions import db, limiter

    with flask_app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
        limiter.reset()
        from aggregator import fragments

        fragments.clear()
    from aggregator.services.insurers import reset_connectors
    from connectors.http import reset_breakers

    reset_connectors(flask_app)  # fresh connectors and breakers: one test's dead insurer is not the next one's
    reset_breakers()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- helpers ------------------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def csrf_token(client: FlaskClient, path: str = "/auth/login") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def strip_csrf(html: str) -> str:
    """The page without its CSRF tokens (they differ on every response)."""
    html = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+(")', r"\1X\2", html)
    html = re.sub(r'(value=")[^"]+("[^>]*name="csrf_token")', r"\1X\2", html)
    return re.sub(r'("X-CSRFToken": ")[^"]+(")', r"\1X\2", html)


def register(client: FlaskClient, email: str, password: str = STRONG_PASSWORD) -> Any:
    token = csrf_token(client, "/auth/register")
    return client.post(
        "/auth/register",
        data={
            "csrf_token": token,
            "email": email,
            "password": password,
            "password_confirm": password,
            "accept_terms": "y",
        },
    )


def confirm_link(client: FlaskClient, url: str) -> Any:
    """Open an emailed confirmation link as the browser does: GET the page, then POST its form."""
    path = local_path(url)
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def login(client: FlaskClient, email: str, password: str = STRONG_PASSWORD, **extra: str) -> Any:
    token = csrf_token(client, "/auth/login")
    return client.post("/auth/login", data={"csrf_token": token, "email": email, "password": password, **extra})


def register_verified(client: FlaskClient, mailbox: Mailbox, email: str, password: str = STRONG_PASSWORD) -> Any:
    """Register, open the verification link (signed in afterwards); returns the last response."""
    register(client, email, password)
    msg = mailbox.wait_for(email, "")
    return confirm_link(client, link_in(msg, "/auth/verify/"))


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(os.environ.get("AGGREGATOR_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
