"""'Mi cuenta' through the test client and a real SMTP server: profile, password, email, sessions, data."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import flask
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.conftest import (
    STRONG_PASSWORD,
    Mailbox,
    confirm_link,
    csrf_from,
    link_in,
    local_path,
    login,
    register,
    register_verified,
)

NEW_PASSWORD = "Kiwi&Rojo-2027?"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(autouse=True)
def _english(client: FlaskClient) -> None:
    """Every browser in these tests reads English, so texts and email subjects are stable."""
    client.set_cookie("lang", "en")


def english_browser(app: Flask) -> FlaskClient:
    """A second browser (another device), also in English."""
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    return browser


def page(client: FlaskClient, path: str) -> tuple[str, str]:
    """GET a page; returns (html, its CSRF token)."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    html = response.get_data(as_text=True)
    return html, csrf_from(html)


def post_form(client: FlaskClient, form_page: str, action: str, **data: str) -> TestResponse:
    """Open ``form_page`` like a browser, then POST ``data`` (with its CSRF token) to ``action``."""
    _html, token = page(client, form_page)
    return client.post(action, data={"csrf_token": token, **data})


def flashes_after(client: FlaskClient, response: TestResponse) -> str:
    """Follow a redirect and return the page the user lands on."""
    assert response.status_code in (302, 303), response.status_code
    return client.get(local_path(response.headers["Location"])).get_data(as_text=True)


def user_id(app: Flask, email: str) -> int:
    from aggregator.extensions import db
    from aggregator.models import User

    with app.app_context():
        found = db.session.scalar(select(User.id).where(User.email == email))
        assert found is not None
        return int(found)


def open_extra_session(
    app: Flask, client: FlaskClient, uid: int, channel: str = "app", method: str = "password"
) -> int:
    """Sign ``client`` in on a second channel (the mobile app) for user ``uid``; returns the session id."""
    from aggregator.extensions import db
    from aggregator.models import User
    from aggregator.services import sessions

    with app.test_request_context("/", headers={"User-Agent": IPHONE}):
        user = db.session.get(User, uid)
        assert user is not None
        record = sessions.start(user, method, channel=channel)
        token = flask.session["sid"]
        session_id = record.id
        db.session.commit()
    with client.session_transaction() as cookie_session:
        cookie_session["sid"] = token
    return session_id


# --- profile ----------------------------------------------------------------------------------


def test_first_sign_in_asks_to_complete_the_profile_then_goes_home(client: FlaskClient, mailbox: Mailbox) -> None:
    response = register_verified(client, mailbox, "ana@example.com")
    assert response.headers["Location"] == "/account/profile?welcome=1"
    html, token = page(client, "/account/profile?welcome=1")
    assert 'data-testid="complete-profile"' in html

    # A wrong phone keeps everything typed and says what is wrong.
    bad = client.post(
        "/account/profile",
        data={
            "csrf_token": token,
            "welcome": "1",
            "full_name": "Ana Pérez",
            "phone": "12",
            "city": "Puebla",
            "country": "MX",
        },
    )
    assert bad.status_code == 422
    bad_html = bad.get_data(as_text=True)
    assert 'value="Ana Pérez"' in bad_html
    assert 'value="Puebla"' in bad_html
    assert 'value="12"' in bad_html
    assert "Enter a phone number with 10 digits" in bad_html
    assert 'data-testid="complete-profile"' in bad_html  # still the welcome step

    good = client.post(
        "/account/profile",
        data={
            "csrf_token": csrf_from(bad_html),
            "welcome": "1",
            "full_name": "Ana Pérez",
            "phone": "55 1234 5678",
            "country": "MX",
        },
    )
    assert good.status_code == 303
    assert good.headers["Location"] == "/"
    home = flashes_after(client, good)
    assert "Ana" in home
    # Once complete, the overview says so and nothing is missing from name and phone.
    overview = client.get("/account/").get_data(as_text=True)
    assert "ana@example.com" in overview
    assert 'data-testid="email-verified"' in overview


def test_overview_of_an_unverified_account_offers_to_resend(client: FlaskClient, mailbox: Mailbox) -> None:
    register(client, "rosa@example.com")
    mailbox.wait_for("rosa@example.com", "")
    login(client, "rosa@example.com")
    html, _token = page(client, "/account/")
    assert 'data-testid="email-unverified"' in html
    assert 'data-testid="resend-verification"' in html
    assert "/account/profile" in html and "/account/connections" in html


# --- password -----------------------------------------------------------------------------------


def test_change_password(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    register_verified(client, mailbox, "ana@example.com")
    html, _token = page(client, "/account/security")
    # The live rule check is wired as on sign-up, with the account's email included.
    assert 'hx-post="/auth/password-check"' in html
    assert 'hx-include="#account-email"' in html and 'value="ana@example.com"' in html

    wrong = post_form(
        client,
        "/account/security",
        "/account/security/password",
        current_password="Not-my-Pass#2026",
        password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
    )
    assert wrong.status_code == 422
    assert "current password is not correct" in wrong.get_data(as_text=True)

    weak = post_form(
        client,
        "/account/security",
        "/account/security/password",
        current_password=STRONG_PASSWORD,
        password="ana12345",
        password_confirm="ana12345",
    )
    assert weak.status_code == 422
    weak_html = weak.get_data(as_text=True)
    assert 'data-rule="length" data-ok="false"' in weak_html
    assert 'data-rule="personal" data-ok="false"' in weak_html  # contains "ana", the email's name

    same = post_form(
        client,
        "/account/security",
        "/account/security/password",
        current_password=STRONG_PASSWORD,
        password=STRONG_PASSWORD,
        password_confirm=STRONG_PASSWORD,
    )
    assert same.status_code == 422
    assert "different from the current one" in same.get_data(as_text=True)

    mailbox.clear()
    done = post_form(
        client,
        "/account/security",
        "/account/security/password",
        current_password=STRONG_PASSWORD,
        password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
    )
    assert done.status_code == 303
    landed = flashes_after(client, done)
    assert "Your password was changed" in landed
    assert 'data-testid="password-form"' in landed  # still signed in on this device
    notice = mailbox.wait_for("ana@example.com", "password was changed")
    assert "ana@example.com" in str(notice["To"])

    browser = english_browser(app)
    assert login(browser, "ana@example.com", STRONG_PASSWORD).status_code == 401
    assert login(browser, "ana@example.com", NEW_PASSWORD).status_code == 302


def test_changing_the_password_closes_the_other_sessions(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    register_verified(client, mailbox, "ana@example.com")
    phone = english_browser(app)
    open_extra_session(app, phone, user_id(app, "ana@example.com"))
    assert phone.get("/").status_code == 200
    post_form(
        client,
        "/account/security",
        "/account/security/password",
        current_password=STRONG_PASSWORD,
        password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
    )
    assert client.get("/").status_code == 200
    gone = phone.get("/")
    assert gone.status_code == 302 and gone.headers["Location"].startswith("/auth/login")
    assert "password was changed" in flashes_after(phone, gone)


def test_wrong_current_passwords_are_throttled(client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "ana@example.com")
    for _ in range(5):
        response = post_form(
            client,
            "/account/security",
            "/account/security/password",
            current_password="Guess#Word-9182",
            password=NEW_PASSWORD,
            password_confirm=NEW_PASSWORD,
        )
        assert response.status_code == 422
    locked = post_form(
        client,
        "/account/security",
        "/account/security/password",
        current_password=STRONG_PASSWORD,
        password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
    )
    assert locked.status_code == 429
    assert "Too many wrong passwords" in locked.get_data(as_text=True)


def test_session_replay_after_a_reset_is_anonymous(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    register_verified(client, mailbox, "ana@example.com")
    assert client.get("/").status_code == 200
    stolen = client.get_cookie("coberta_session")
    assert stolen is not None

    other = english_browser(app)
    _html, token = page(other, "/auth/forgot")
    other.post("/auth/forgot", data={"csrf_token": token, "email": "ana@example.com"})
    reset_url = local_path(link_in(mailbox.wait_for("ana@example.com", "reset"), "/auth/reset/"))
    _html, token = page(other, reset_url)
    done = other.post(reset_url, data={"csrf_token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.status_code == 302

    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")
    replay = english_browser(app)
    replay.set_cookie("coberta_session", stolen.value)
    again = replay.get("/account/")
    assert again.status_code == 302 and again.headers["Location"].startswith("/auth/login")


# --- sessions -----------------------------------------------------------------------------------


def test_a_second_sign_in_closes_the_first_session(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    register_verified(client, mailbox, "ana@example.com")
    other = english_browser(app)
    assert login(other, "ana@example.com").status_code == 302

    first = client.get("/account/")
    assert first.status_code == 302 and first.headers["Location"].startswith("/auth/login")
    message = flashes_after(client, first)
    assert "signed in on another device or browser" in message

    html, _token = page(other, "/account/sessions")
    assert 'data-testid="one-session-rule"' in html
    assert html.count('data-testid="session-current"') == 1
    assert 'data-testid="session-ended"' in html
    assert "Closed when you signed in on another device or browser" in html


def test_closing_a_session_from_the_list(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    register_verified(client, mailbox, "ana@example.com")
    uid = user_id(app, "ana@example.com")
    phone = english_browser(app)
    phone_session = open_extra_session(app, phone, uid)
    assert phone.get("/").status_code == 200

    html, token = page(client, "/account/sessions")
    assert html.count('data-testid="session-row"') == 2
    assert "Mobile Safari · iOS" in html  # device in words, from the user agent
    assert f'action="/account/sessions/{phone_session}/close"' in html

    closed = client.post(f"/account/sessions/{phone_session}/close", data={"csrf_token": token})
    assert closed.status_code == 303
    after = flashes_after(client, closed)
    assert 'data-testid="session-active"' not in after
    assert "Closed from" in after

    kicked = phone.get("/")
    assert kicked.status_code == 302
    message = flashes_after(phone, kicked)
    assert "This session was closed from" in message

    # Through htmx only the list comes back.
    tablet = english_browser(app)
    tablet_session = open_extra_session(app, tablet, uid)
    _html, token = page(client, "/account/sessions")
    fragment = client.post(
        f"/account/sessions/{tablet_session}/close",
        data={"csrf_token": token},
        headers={"HX-Request": "true", "HX-Target": "session-list"},
    )
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert '<div id="session-list"' in body and "<html" not in body
    assert 'data-testid="session-notice"' in body
    assert "HX-Request" in fragment.headers.get("Vary", "")
    assert tablet.get("/").status_code == 302

    # Closing this device's own session signs out.
    html, token = page(client, "/account/sessions")
    current = re.search(r'data-session-id="(\d+)" data-current="true"', html)
    assert current is not None
    out = client.post(f"/account/sessions/{current.group(1)}/close", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"].startswith("/auth/login")
    assert client.get("/").status_code == 302


def test_another_users_session_is_not_found(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    register_verified(client, mailbox, "ana@example.com")
    bea = english_browser(app)
    register_verified(bea, mailbox, "bea@example.com")
    bea_session = open_extra_session(app, english_browser(app), user_id(app, "bea@example.com"))

    _html, token = page(client, "/account/sessions")
    assert client.post(f"/account/sessions/{bea_session}/close", data={"csrf_token": token}).status_code == 404
    assert client.post("/account/sessions/999999/close", data={"csrf_token": token}).status_code == 404
    assert bea.get("/").status_code == 200
    html, _token = page(bea, "/account/sessions")
    assert html.count('data-testid="session-active"') == 1  # Bea's app session is still open


# --- email change -------------------------------------------------------------------------------


def test_change_email(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    register_verified(client, mailbox, "ana@example.com")

    same = post_form(
        client,
        "/account/security",
        "/account/security/email",
        new_email="ANA@Example.com",
        current_password=STRONG_PASSWORD,
    )
    assert same.status_code == 422
    assert "already your email" in same.get_data(as_text=True)

    wrong = post_form(
        client, "/account/security", "/account/security/email", new_email="ana.nueva@example.com", current_password="x"
    )
    assert wrong.status_code == 422
    assert 'value="ana.nueva@example.com"' in wrong.get_data(as_text=True)  # nothing typed is lost

    mailbox.clear()
    asked = post_form(
        client,
        "/account/security",
        "/account/security/email",
        new_email="ana.nueva@example.com",
        current_password=STRONG_PASSWORD,
    )
    assert asked.status_code == 303
    assert "ana.nueva@example.com" in flashes_after(client, asked)
    notice = mailbox.wait_for("ana@example.com", "being changed")
    assert "ana.nueva@example.com" in notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    link = link_in(mailbox.wait_for("ana.nueva@example.com", "Confirm your new email"), "/auth/confirm-email/")

    done = confirm_link(client, link)
    assert done.status_code == 302
    overview = flashes_after(client, done)
    assert 'data-testid="account-email">ana.nueva@example.com<' in overview

    fresh = english_browser(app)
    assert login(fresh, "ana@example.com").status_code == 401
    assert login(fresh, "ana.nueva@example.com").status_code == 302


def test_confirming_an_email_change_elsewhere_ends_the_signed_in_session(
    client: FlaskClient, mailbox: Mailbox, app: Flask
) -> None:
    register_verified(client, mailbox, "eva@example.com")
    mailbox.clear()
    post_form(
        client, "/account/security", "/account/security/email", new_email="eva.nueva@example.com",
        current_password=STRONG_PASSWORD,
    )  # fmt: skip
    link = link_in(mailbox.wait_for("eva.nueva@example.com", "Confirm your new email"), "/auth/confirm-email/")
    other_device = english_browser(app)
    assert confirm_link(other_device, link).status_code == 302
    ended = client.get("/account/", follow_redirects=True)
    assert ended.request.path == "/auth/login"
    assert "Your email changed, so your sessions were closed" in ended.get_data(as_text=True)


def test_changing_to_a_taken_email_gives_the_same_first_answer(
    client: FlaskClient, mailbox: Mailbox, app: Flask
) -> None:
    register_verified(english_browser(app), mailbox, "bea@example.com")
    register_verified(client, mailbox, "ana@example.com")

    answers = []
    for target in ("bea@example.com", "libre@example.com"):
        response = post_form(
            client, "/account/security", "/account/security/email", new_email=target, current_password=STRONG_PASSWORD
        )
        landed = flashes_after(client, response)
        answers.append((response.status_code, response.headers["Location"], landed.count(target)))
    assert answers[0] == answers[1]

    link = link_in(mailbox.wait_for("bea@example.com", "Confirm your new email"), "/auth/confirm-email/")
    refused = confirm_link(client, link)
    assert refused.status_code == 410
    assert "already belongs to another account" in refused.get_data(as_text=True)
    assert login(english_browser(app), "bea@example.com").status_code == 302


# --- notifications ------------------------------------------------------------------------------


def _checked(html: str, kind: str) -> bool:
    tag = re.search(rf'<input[^>]*name="{kind}"[^>]*>', html)
    assert tag is not None, kind
    return "checked" in tag.group(0)


def test_notification_preferences(client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "ana@example.com")
    html, token = page(client, "/account/notifications")
    assert _checked(html, "receipt_due") and not _checked(html, "news")  # sensible defaults

    saved = client.post("/account/notifications", data={"csrf_token": token, "news": "y"})
    assert saved.status_code == 303
    html = flashes_after(client, saved)
    assert _checked(html, "news") and not _checked(html, "receipt_due") and not _checked(html, "claim_update")

    token = csrf_from(html)
    fragment = client.post(
        "/account/notifications",
        data={"csrf_token": token, "receipt_due": "y", "claim_update": "y"},
        headers={"HX-Request": "true", "HX-Target": "notifications-form"},
    )
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith("<form") and "<html" not in body
    assert 'data-testid="prefs-saved"' in body
    assert "HX-Request" in fragment.headers.get("Vary", "")
    html, _token = page(client, "/account/notifications")
    assert _checked(html, "receipt_due") and _checked(html, "claim_update") and not _checked(html, "news")


# --- your data ----------------------------------------------------------------------------------


def test_export_my_data(client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "ana@example.com")
    post_form(client, "/account/profile", "/account/profile", full_name="Ana Pérez", phone="55 1234 5678", country="MX")
    assert client.get("/account/export").status_code == 405  # GET never produces the file

    response = post_form(client, "/account/privacy", "/account/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="coberta-mis-datos-\d{4}-\d{2}-\d{2}\.json"', disposition)
    raw = response.get_data(as_text=True)
    data = json.loads(raw)
    assert data["account"]["email"] == "ana@example.com"
    assert data["profile"]["full_name"] == "Ana Pérez"
    assert {c["document"] for c in data["consents"]} == {"terms", "privacy"}
    assert data["sessions"] and data["sessions"][0]["channel"] == "web"
    assert "password_hash" not in raw and "$argon2" not in raw


def test_delete_account(client: FlaskClient, mailbox: Mailbox, app: Flask) -> None:
    from aggregator.extensions import db
    from aggregator.models import AuditEvent

    register_verified(client, mailbox, "ana@example.com")
    uid = user_id(app, "ana@example.com")

    wrong = post_form(client, "/account/privacy", "/account/delete", current_password="Nope#Nope-2026", confirm="y")
    assert wrong.status_code == 422
    assert "current password is not correct" in wrong.get_data(as_text=True)
    unticked = post_form(client, "/account/privacy", "/account/delete", current_password=STRONG_PASSWORD)
    assert unticked.status_code == 422
    assert client.get("/").status_code == 200  # nothing happened

    mailbox.clear()
    gone = post_form(client, "/account/privacy", "/account/delete", current_password=STRONG_PASSWORD, confirm="y")
    assert gone.status_code == 303 and gone.headers["Location"] == "/auth/login"
    goodbye = flashes_after(client, gone)
    assert "Your account was deleted" in goodbye
    assert client.get("/").status_code == 302
    mailbox.wait_for("ana@example.com", "deleted")
    assert login(english_browser(app), "ana@example.com").status_code == 401

    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.actor_user_id == uid)))
        assert {e.action for e in events} >= {"register", "login.success", "account.deleted"}
        assert all(e.ip is None for e in events)

    again = english_browser(app)
    register(again, "ana@example.com")
    link = link_in(mailbox.wait_for("ana@example.com", "Confirm your email"), "/auth/verify/")
    assert confirm_link(again, link).status_code == 302
    assert user_id(app, "ana@example.com") != uid


def test_provider_only_account_sets_a_password_after_a_recent_sign_in(app: Flask, mailbox: Mailbox) -> None:
    from aggregator.extensions import db
    from aggregator.models import SocialIdentity, User, UserSession
    from aggregator.models.types import utcnow

    with app.app_context():
        user = User(email="sol@example.com", password_hash=None, verified_at=utcnow(), locale="en")
        user.identities.append(SocialIdentity(provider="google", issuer="https://accounts.google.com", subject="42"))
        db.session.add(user)
        db.session.commit()
        uid = user.id
    browser = english_browser(app)
    session_id = open_extra_session(app, browser, uid, channel="web", method="oidc:google")

    html, _token = page(browser, "/account/security")
    assert "Set a password" in html and 'name="current_password"' not in html
    done = post_form(
        browser, "/account/security", "/account/security/password", password=NEW_PASSWORD, password_confirm=NEW_PASSWORD
    )
    assert done.status_code == 303
    assert login(english_browser(app), "sol@example.com", NEW_PASSWORD).status_code == 302

    # An old sign-in is not enough: the page asks to sign in again, and the POST is refused.
    with app.app_context():
        other = User(email="luz@example.com", password_hash=None, verified_at=utcnow(), locale="en")
        other.identities.append(SocialIdentity(provider="google", issuer="https://accounts.google.com", subject="43"))
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    stale = english_browser(app)
    stale_id = open_extra_session(app, stale, other_id, channel="web", method="oidc:google")
    with app.app_context():
        record = db.session.get(UserSession, stale_id)
        assert record is not None
        record.authenticated_at = utcnow() - timedelta(minutes=30)
        db.session.commit()
    html, token = page(stale, "/account/security")
    assert 'data-testid="reauth-needed"' in html and "Sign in again with Google" in html
    refused = stale.post(
        "/account/security/password",
        data={"csrf_token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert refused.status_code == 403
    assert login(english_browser(app), "luz@example.com", NEW_PASSWORD).status_code == 401
    assert session_id != stale_id
