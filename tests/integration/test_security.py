"""Security rules of DESIGN §7 and issue 2 §8, checked from the outside."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.routing import IntegerConverter

from aggregator.extensions import db
from aggregator.models import AuditEvent, OneTimeToken, User
from aggregator.models.types import utcnow
from tests.conftest import (
    STRONG_PASSWORD,
    Mailbox,
    confirm_link,
    csrf_token,
    link_in,
    local_path,
    login,
    register,
    register_verified,
    strip_csrf,
)


def same_page(a: Any, b: Any, *typed: str) -> None:
    """Same status and same body once CSRF tokens and what the user typed are blanked out."""
    assert a.status_code == b.status_code
    body_a, body_b = strip_csrf(a.get_data(as_text=True)), strip_csrf(b.get_data(as_text=True))
    for text in typed:
        body_a, body_b = body_a.replace(text, "TYPED"), body_b.replace(text, "TYPED")
    assert body_a == body_b


# --- enumeration ------------------------------------------------------------------------------


def test_register_answers_the_same_for_a_taken_email_and_warns_its_owner(
    app: Flask, client: FlaskClient, mailbox: Mailbox
) -> None:
    register_verified(client, mailbox, "owner@example.com")
    fresh = app.test_client()
    taken = register(fresh, "owner@example.com")
    new = register(app.test_client(), "newcomer@example.com")
    same_page(taken, new, "owner@example.com", "newcomer@example.com")
    warning = mailbox.wait_for("owner@example.com", "registrarse")
    assert local_path(link_in(warning, "/auth/login")) == "/auth/login"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 2


def test_login_failure_is_identical_for_unknown_user_and_wrong_password(
    app: Flask, client: FlaskClient, mailbox: Mailbox
) -> None:
    register_verified(client, mailbox, "known@example.com")
    wrong = login(app.test_client(), "known@example.com", "Wrong#Password2026")
    unknown = login(app.test_client(), "ghost@example.com", "Wrong#Password2026")
    assert wrong.status_code == 401
    same_page(wrong, unknown, "known@example.com", "ghost@example.com")
    assert "El correo o la contraseña no son correctos." in wrong.get_data(as_text=True)


def test_forgot_password_answers_the_same_and_mails_only_the_owner(
    app: Flask, client: FlaskClient, mailbox: Mailbox
) -> None:
    register_verified(client, mailbox, "known@example.com")
    mailbox.clear()
    answers = []
    for email in ("known@example.com", "ghost@example.com"):
        c = app.test_client()
        answers.append(c.post("/auth/forgot", data={"csrf_token": csrf_token(c, "/auth/forgot"), "email": email}))
    same_page(answers[0], answers[1])
    mailbox.wait_for("known@example.com", "contraseña")
    assert mailbox.to("ghost@example.com") == []


# --- CSRF and GET -----------------------------------------------------------------------------


def _fill(rule: Any) -> str:
    values = {arg: 1 if isinstance(rule._converters.get(arg), IntegerConverter) else "x" for arg in rule.arguments}
    return str(rule.build(values, append_unknown=False)[1])


def _signed_in(app: Flask, mailbox: Mailbox) -> FlaskClient:
    c = app.test_client()
    register_verified(c, mailbox, "walker@example.com")
    return c


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_non_get_route_refuses_a_request_without_csrf_token(
    app: Flask, mailbox: Mailbox, signed_in: bool
) -> None:
    c = _signed_in(app, mailbox) if signed_in else app.test_client()
    checked = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            path = _fill(rule)
            for headers in ({}, {"HX-Request": "true"}):
                response = c.open(path, method=method, headers=headers, data={"email": "x@example.com"})
                assert response.status_code == 400, f"{method} {path} {headers} answered {response.status_code}"
            checked.append(f"{method} {path}")
    assert len(checked) >= 8, checked  # the walk really covered the forms


def test_get_requests_change_nothing(app: Flask, mailbox: Mailbox) -> None:
    c = _signed_in(app, mailbox)
    from aggregator.db import Base

    def counts() -> dict[str, int]:
        with app.app_context():
            return {
                t.name: int(db.session.scalar(select(func.count()).select_from(t)) or 0)
                for t in Base.metadata.sorted_tables
            }

    before = counts()
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or set()) and rule.endpoint != "static":
            c.get(_fill(rule))
    assert counts() == before


# --- sign-in throttling, next, sessions -------------------------------------------------------


def test_account_lock_after_five_failures_even_with_the_right_password_and_reset_still_works(
    app: Flask, client: FlaskClient, mailbox: Mailbox
) -> None:
    register_verified(client, mailbox, "target@example.com")
    attacker = app.test_client()
    for _ in range(5):
        assert login(attacker, "target@example.com", "Wrong#Password2026").status_code == 401
    locked = login(app.test_client(), "target@example.com", STRONG_PASSWORD)
    assert locked.status_code == 429
    assert "Demasiados intentos fallidos" in locked.get_data(as_text=True)
    # An unknown account locks the same way (no enumeration through the lock).
    for _ in range(5):
        login(attacker, "nobody@example.com", "Wrong#Password2026")
    same_page(locked, login(app.test_client(), "nobody@example.com", STRONG_PASSWORD), "target@", "nobody@")
    # The owner can still reset the password, and then sign in.
    c = app.test_client()
    c.post("/auth/forgot", data={"csrf_token": csrf_token(c, "/auth/forgot"), "email": "target@example.com"})
    reset_path = local_path(link_in(mailbox.wait_for("target@example.com", "Restablece"), "/auth/reset/"))
    page = c.get(reset_path)
    new_password = "Nuevo#Camino2026?"
    done = c.post(
        reset_path,
        data={"csrf_token": csrf_token(c, reset_path), "password": new_password, "password_confirm": new_password},
    )
    assert done.status_code == 302 and page.status_code == 200
    assert login(app.test_client(), "target@example.com", new_password).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "login.failure")) == 10


def test_per_ip_limit_on_sign_in(app: Flask) -> None:
    c = app.test_client()
    statuses = [login(c, f"user{i}@example.com", "Wrong#Password2026").status_code for i in range(31)]
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429
    assert "Demasiados intentos" in login(c, "x@example.com", "y").get_data(as_text=True)


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/account/sessions", "/account/sessions"),
        ("https://evil.example/phish", "/"),
        ("//evil.example/phish", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_only_local_next_paths_are_followed(
    app: Flask, client: FlaskClient, mailbox: Mailbox, next_url: str, expected: str
) -> None:
    register_verified(client, mailbox, "nav@example.com")
    c = app.test_client()
    response = login(c, "nav@example.com", next=next_url)
    location = response.headers["Location"]
    if expected == "/":
        assert location.startswith("/account/profile") or location == "/"
    else:
        assert location == expected


def test_logout_ends_the_session_on_the_server(client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "leaver@example.com")
    assert client.get("/account/").status_code == 200
    stolen = client.get_cookie("coberta_session")
    assert stolen is not None
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/account/")})
    assert client.get("/account/").status_code == 302
    client.set_cookie("coberta_session", stolen.value)  # replay the old cookie
    assert client.get("/account/").status_code == 302


def test_every_sign_in_gets_a_new_session_cookie(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "fresh@example.com")
    c = app.test_client()
    c.get("/auth/login")
    before = c.get_cookie("coberta_session")
    login(c, "fresh@example.com")
    after = c.get_cookie("coberta_session")
    assert after is not None and (before is None or before.value != after.value)


# --- headers and cookies ----------------------------------------------------------------------


def test_security_headers_and_cookie_flags(client: FlaskClient, mailbox: Mailbox) -> None:
    public = client.get("/auth/login")
    csp = public.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert public.headers["X-Content-Type-Options"] == "nosniff"
    assert public.headers["Referrer-Policy"]
    register_verified(client, mailbox, "headers@example.com")
    private = client.get("/account/")
    assert private.headers["Cache-Control"] == "no-store"
    cookie = client.get_cookie("coberta_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    page = private.get_data(as_text=True)
    assert "<script>" not in page and " style=" not in page and "hx-on" not in page


# --- email verification -----------------------------------------------------------------------


def test_verification_link_is_single_use(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register(client, "once@example.com")
    url = link_in(mailbox.wait_for("once@example.com"), "/auth/verify/")
    assert confirm_link(client, url).status_code == 302
    again = app.test_client()
    assert again.get(local_path(url)).status_code == 410
    assert again.post(local_path(url), data={"csrf_token": csrf_token(again)}).status_code == 410


def test_verification_link_expires_after_48_hours(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register(client, "late@example.com")
    url = link_in(mailbox.wait_for("late@example.com"), "/auth/verify/")
    with app.app_context():
        token = db.session.scalars(select(OneTimeToken)).one()
        assert timedelta(hours=47) < token.expires_at - utcnow() <= timedelta(hours=48)
        db.session.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    page = client.get(local_path(url))
    assert page.status_code == 410
    assert "Este enlace ya no funciona" in page.get_data(as_text=True)
    tampered = local_path(url)[:-3] + "abc"
    assert client.get(tampered).status_code == 410


def test_unverified_user_signs_in_sees_the_banner_and_resend_is_limited(
    app: Flask, client: FlaskClient, mailbox: Mailbox
) -> None:
    register(client, "pending@example.com")
    mailbox.wait_for("pending@example.com")
    response = login(client, "pending@example.com")
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "Confirma tu correo pending@example.com" in home
    assert 'data-testid="verify-first"' in home
    assert client.get("/account/").status_code == 200 and client.get("/help").status_code == 200
    mailbox.clear()
    first = client.post("/auth/resend", data={"csrf_token": csrf_token(client, "/")}, follow_redirects=True)
    assert "Enviamos un nuevo enlace" in first.get_data(as_text=True)
    mailbox.wait_for("pending@example.com", "Confirma")
    second = client.post("/auth/resend", data={"csrf_token": csrf_token(client, "/")}, follow_redirects=True)
    assert re.search(r"Podrás pedir otro en [1-3] minuto", second.get_data(as_text=True))
    assert len(mailbox.to("pending@example.com")) == 1


def test_an_htmx_request_without_a_session_reloads_the_sign_in_page(client: FlaskClient) -> None:
    plain = client.get("/account/notifications")
    assert plain.status_code == 302 and plain.headers["Location"] == "/auth/login?next=/account/notifications"
    fragment = client.get("/account/notifications", headers={"HX-Request": "true"})
    assert fragment.status_code == 204  # nothing is swapped into the page...
    assert fragment.headers["HX-Redirect"] == "/auth/login?next=/account/notifications"  # ...the page moves
