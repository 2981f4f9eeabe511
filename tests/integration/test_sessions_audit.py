"""Session timeouts and the audit trail (DESIGN §7)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from aggregator.extensions import db
from aggregator.models import AuditEvent, UserSession
from aggregator.models.types import utcnow
from tests.conftest import STRONG_PASSWORD, Mailbox, csrf_token, login, register, register_verified


@pytest.mark.parametrize(
    ("column", "age", "message"),
    [
        ("last_seen_at", timedelta(minutes=61), "Tu sesión caducó por inactividad"),
        ("created_at", timedelta(hours=12, minutes=1), "Tu sesión caducó. Vuelve a iniciar sesión."),
    ],
)
def test_idle_and_absolute_timeouts_end_the_session_with_a_reason(
    app: Flask, client: FlaskClient, mailbox: Mailbox, column: str, age: timedelta, message: str
) -> None:
    register_verified(client, mailbox, "sleepy@example.com")
    assert client.get("/account/").status_code == 200
    with app.app_context():
        values = {column: utcnow() - age}
        if column == "created_at":
            values["last_seen_at"] = utcnow()
        db.session.execute(update(UserSession).values(**values))
        db.session.commit()
    response = client.get("/account/", follow_redirects=True)
    assert response.request.path == "/auth/login"
    assert message in response.get_data(as_text=True)
    with app.app_context():
        reasons = set(db.session.scalars(select(UserSession.revoked_reason)))
        assert reasons == {"idle" if column == "last_seen_at" else "expired"}


def test_audit_trail_of_an_account_holds_no_secrets(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "traced@example.com")
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/account/")})
    login(app.test_client(), "traced@example.com", "Wrong#Password2026")
    login(client, "traced@example.com")
    client.post("/account/export", data={"csrf_token": csrf_token(client, "/account/privacy")})
    register(app.test_client(), "traced@example.com")  # someone tries the same email
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    actions = [e.action for e in events]
    for expected in (
        "register",
        "email.verified",
        "login.success",
        "logout",
        "login.failure",
        "account.exported",
        "register.existing_email",
    ):
        assert expected in actions, actions
    failure = next(e for e in events if e.action == "login.failure")
    assert failure.outcome == "failure" and failure.ip == "127.0.0.1"
    for event in events:
        dumped = repr((event.target_id, event.details))
        assert "@" not in dumped and STRONG_PASSWORD not in dumped and "Wrong#" not in dumped
