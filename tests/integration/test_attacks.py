"""Issue 8's six attacks, scripted over real HTTP (``tests/support/attacks.py``) against a live portal on loopback.

The same script runs against ``aggregator demo`` (``python -m tests.support.attacks``); here the portal
is the test app served by a threaded server, with the sandboxes, the SMTP server and, for the
provider attack, the test OpenID Connect provider.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import Mailbox, Sandbox, close_app, free_port, text_body
from tests.support import attacks
from tests.support.attacks import Outcome, Target


class SmtpMail:
    """The test SMTP server's mailbox, read as the attack script reads the demo's outbox."""

    def __init__(self, box: Mailbox) -> None:
        self.box = box

    def mark(self) -> int:
        with self.box.lock:
            return len(self.box.messages)

    def texts_since(self, mark: int, to: str) -> list[str]:
        with self.box.lock:
            newer = list(self.box.messages[mark:])
        return [text_body(m) for m in newer if to.lower() in str(m["To"]).lower()]


def serve(app: Flask, port: int | None = None) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` over HTTP on 127.0.0.1 (a thread per request); (base URL, stop)."""
    port = port or free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"attack-target-{port}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="module")
def portal(app: Flask) -> Iterator[str]:
    base, stop = serve(app)
    yield base
    stop()


@pytest.fixture
def target(portal: str, mailbox: Mailbox, sandboxes: dict[str, Sandbox], app: Flask) -> Target:
    from aggregator.services import insurers

    insurers.seed(app)  # as `aggregator db upgrade` does before the portal serves
    return Target(portal, SmtpMail(mailbox), {slug: s.base for slug, s in sandboxes.items()})


def defended(outcome: Outcome) -> None:
    print(f"{outcome.number}. {outcome.name}: {outcome.detail}")
    assert not outcome.skipped, outcome.detail
    assert outcome.defended, f"attack {outcome.number} ({outcome.name}) got through: {outcome.detail}"


def test_1_host_header_poisoning(target: Target) -> None:
    defended(attacks.host_header_poisoning(target))


def test_2_linking_limits_hold_under_25_simultaneous_attempts(target: Target) -> None:
    defended(attacks.linking_concurrency(target))


def test_2_per_target_limit_holds_across_simultaneous_users(target: Target) -> None:
    defended(attacks.linking_target_concurrency(target))


def test_3_password_lockout_holds_under_25_simultaneous_sign_ins(target: Target) -> None:
    defended(attacks.login_concurrency(target))


def test_3_reauthentication_lockout_holds_under_concurrency(target: Target) -> None:
    defended(attacks.reauth_concurrency(target))


def test_4_pre_registration_hijack(target: Target) -> None:
    defended(attacks.pre_registration_hijack(target))


def test_6_a_proof_at_one_insurer_reveals_no_other_insurer(target: Target) -> None:
    defended(attacks.cross_insurer_reveal(target))


# --- 5: needs a portal configured with an (untrusted) OpenID Connect provider ----------------------


@pytest.fixture(scope="module")
def oidc_portal(app: Flask, app_config: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    from aggregator import create_app
    from tests.support.oidc import run_oidc_provider

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = {
        "client_id": "coberta-attack",
        "client_secret": "coberta-attack-secret",
        "redirect_uris": [f"{base}/auth/oauth/acme/callback"],
    }
    with run_oidc_provider([client]) as op:
        portal_app = create_app(
            dict(
                app_config,
                OIDC_PROVIDERS="acme",
                OIDC_ACME_DISCOVERY_URL=op.discovery_url,
                OIDC_ACME_CLIENT_ID=client["client_id"],
                OIDC_ACME_CLIENT_SECRET=client["client_secret"],
                OIDC_ACME_LABEL="Acme ID",
            )
        )
        _base, stop = serve(portal_app, port)
        yield base, op
        stop()
        close_app(portal_app)


def test_5_provider_asserted_email_grants_nothing(
    oidc_portal: tuple[str, Any], mailbox: Mailbox, sandboxes: dict[str, Sandbox], app: Flask
) -> None:
    from aggregator.services import insurers
    from tests.support.oidc import complete_login

    insurers.seed(app)
    base, _op = oidc_portal

    def sign_in(authorize_url: str, subject: str, email: str, verified: bool) -> str:
        return complete_login(None, authorize_url, sub=subject, email=email, email_verified=verified, name="Intruso")

    target = Target(
        base,
        SmtpMail(mailbox),
        {slug: s.base for slug, s in sandboxes.items()},
        oidc=attacks.OidcLogin("acme", sign_in),
    )
    defended(attacks.provider_email_trust(target))
