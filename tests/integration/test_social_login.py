"""Social and OpenID Connect sign-in end to end, against a real provider (npm ``oidc-provider`` on 127.0.0.1)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from aggregator import create_app
from aggregator import mail as mail_module
from aggregator.auth.oauth import id_token_rules
from aggregator.extensions import db
from aggregator.models import AuditEvent, Consent, Job, SocialIdentity, User, UserSession
from aggregator.models.types import utcnow
from tests.conftest import (
    STRONG_PASSWORD,
    Mailbox,
    close_app,
    confirm_link,
    csrf_from,
    csrf_token,
    link_in,
    local_path,
    register_verified,
    strip_csrf,
    text_body,
)
from tests.support.oidc import OidcProvider, complete_login, run_oidc_provider

CLIENT_ID = "coberta-portal"
CLIENT_SECRET = "coberta-test-secret"
CALLBACK = "http://localhost/auth/oauth/{name}/callback"
LOGIN = "/auth/oauth/{name}/login"
SIGNUP = "/auth/oauth/company/signup"
CONNECTIONS = "/account/connections"
SESSION_COOKIE = "coberta_session"


# --- the provider and an app configured with it --------------------------------------------------


@pytest.fixture(scope="module")
def op() -> Iterator[OidcProvider]:
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [CALLBACK.format(name="company"), CALLBACK.format(name="partner")],
    }
    with run_oidc_provider([client]) as provider:
        yield provider


def _provider_settings(name: str, discovery_url: str, label: str) -> dict[str, str]:
    prefix = f"OIDC_{name.upper()}_"
    return {
        prefix + "DISCOVERY_URL": discovery_url,
        prefix + "CLIENT_ID": CLIENT_ID,
        prefix + "CLIENT_SECRET": CLIENT_SECRET,
        prefix + "LABEL": label,
    }


@pytest.fixture(scope="module")
def social_app(app: Flask, app_config: dict[str, Any], op: OidcProvider) -> Iterator[Flask]:
    """The portal with two providers on the same test issuer: "Empresa" (trusted for emails) and "Socio" (not)."""
    portal = create_app(
        dict(
            app_config,
            OIDC_PROVIDERS="company,partner",
            OIDC_COMPANY_TRUST_EMAIL=True,
            **_provider_settings("company", op.discovery_url, "Empresa"),
            **_provider_settings("partner", op.discovery_url, "Socio"),
        )
    )
    yield portal
    close_app(portal)


@pytest.fixture
def web(app: Flask, social_app: Flask) -> FlaskClient:
    """A browser on the configured portal, in English (``app`` is requested so tables are cleaned)."""
    client = social_app.test_client()
    client.set_cookie("lang", "en")
    return client


def _browser(social_app: Flask) -> FlaskClient:
    client = social_app.test_client()
    client.set_cookie("lang", "en")
    return client


# --- helpers --------------------------------------------------------------------------------------


def begin(web: FlaskClient, op: OidcProvider, name: str = "company", **query: str) -> str:
    """Start a sign-in at the portal; returns the provider's authorization URL it redirected to."""
    resp = web.get(LOGIN.format(name=name), query_string=query)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    location = resp.headers["Location"]
    assert location.startswith(op.issuer + "/")
    params = parse_qs(urlsplit(location).query)
    assert params["code_challenge_method"] == ["S256"] and params["code_challenge"][0]
    assert params["state"][0] and params["nonce"][0]
    assert params["redirect_uri"] == [CALLBACK.format(name=name)]
    return location


def round_trip(
    web: FlaskClient,
    op: OidcProvider,
    *,
    sub: str,
    email: str,
    verified: bool = True,
    name: str = "Ana Prueba",
    provider: str = "company",
) -> str:
    """Sign in at the provider as the given person; returns the local callback path with code and state."""
    callback = complete_login(None, begin(web, op, provider), sub=sub, email=email, email_verified=verified, name=name)
    assert callback.startswith(CALLBACK.format(name=provider) + "?"), callback
    return local_path(callback)


def accept_terms(web: FlaskClient, accept: bool = True) -> TestResponse:
    page = web.get(SIGNUP)
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    if accept:
        data["accept_terms"] = "y"
    return web.post(SIGNUP, data=data)


def accept_terms_of(web: FlaskClient, provider: str) -> TestResponse:
    """Accept the terms on another provider's sign-up page."""
    path = SIGNUP.replace("/company/", f"/{provider}/")
    page = web.get(path)
    assert page.status_code == 200
    return web.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "accept_terms": "y"})


def sign_up_with_provider(web: FlaskClient, op: OidcProvider, *, sub: str, email: str, verified: bool = True) -> None:
    """A first sign-in through the provider, terms accepted: the new account is signed in."""
    resp = web.get(round_trip(web, op, sub=sub, email=email, verified=verified))
    assert resp.status_code == 302 and resp.headers["Location"] == SIGNUP
    assert accept_terms(web).status_code == 302
    assert signed_in(web)


def signed_in(web: FlaskClient) -> bool:
    """What a user notices: the home page opens (200) or sends them to sign in (302)."""
    resp = web.get("/")
    assert resp.status_code in (200, 302), resp.status_code
    if resp.status_code == 302:
        assert "/auth/login" in resp.headers["Location"]
    return resp.status_code == 200


def sign_out(web: FlaskClient) -> None:
    web.post("/auth/logout", data={"csrf_token": csrf_token(web, "/")})
    assert not signed_in(web)


def text(resp: TestResponse) -> str:
    return resp.get_data(as_text=True)


def user_row(social_app: Flask, email: str) -> User | None:
    with social_app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def identities_of(social_app: Flask, email: str) -> list[tuple[str, str, str]]:
    """(provider, issuer, subject) of every identity of the account with this email."""
    with social_app.app_context():
        rows = db.session.execute(
            select(SocialIdentity.provider, SocialIdentity.issuer, SocialIdentity.subject)
            .join(User, User.id == SocialIdentity.user_id)
            .where(User.email == email)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def count(social_app: Flask, model: type[Any]) -> int:
    with social_app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def audit_actions(social_app: Flask) -> list[tuple[str, dict[str, Any]]]:
    with social_app.app_context():
        return [(a, dict(d or {})) for a, d in db.session.execute(select(AuditEvent.action, AuditEvent.details))]


def subject_of(social_app: Flask, kind: str, locale: str = "en") -> str:
    """The subject line of an email kind, as the recipient reads it."""
    with social_app.test_request_context(), force_locale(locale):
        return str(mail_module.SUBJECTS[kind])


def password_user(web: FlaskClient, mailbox: Mailbox, email: str) -> None:
    """A verified email-and-password account, signed in on ``web``."""
    register_verified(web, mailbox, email)
    assert signed_in(web)


def connect(web: FlaskClient, password: str | None, name: str = "company") -> TestResponse:
    page = web.get(CONNECTIONS)
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(text(page))}
    if password is not None:
        data["password"] = password
    return web.post(f"/account/connections/{name}/connect", data=data)


def abort_at_provider(authorize_url: str) -> str:
    """Press "Cancel" on the provider's login page; returns the callback URL with the error."""
    origin = urlsplit(authorize_url)[:2]
    with requests.Session() as http:
        url = authorize_url
        resp = http.get(url, allow_redirects=False, timeout=10)
        while resp.is_redirect:
            url = urljoin(url, resp.headers["Location"])
            resp = http.get(url, allow_redirects=False, timeout=10)
        match = re.match(r"^/interaction/([^/]+)$", urlsplit(url).path)
        assert match, url
        resp = http.post(urljoin(url, f"/interaction/{match.group(1)}/abort"), allow_redirects=False, timeout=10)
        url = urljoin(url, resp.headers["Location"])
        while urlsplit(url)[:2] == origin:
            resp = http.get(url, allow_redirects=False, timeout=10)
            url = urljoin(url, resp.headers["Location"])
        return url


# --- sign-up and sign-in ---------------------------------------------------------------------------


def test_only_configured_providers_have_buttons_and_routes(web: FlaskClient) -> None:
    page = text(web.get("/auth/login"))
    assert "Continue with Empresa" in page and "Continue with Socio" in page
    assert "Continue with Google" not in page and "Continue with Facebook" not in page
    assert web.get(LOGIN.format(name="google")).status_code == 404
    assert web.get(LOGIN.format(name="nope")).status_code == 404
    assert web.get("/auth/oauth/nope/callback?code=x&state=y").status_code == 404


def test_new_user_with_verified_email(web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox) -> None:
    resp = web.get(round_trip(web, op, sub="new-1", email="Nueva@Example.COM", name="Nora Nueva"))
    assert resp.status_code == 302 and resp.headers["Location"] == SIGNUP
    # The interstitial: nobody is signed in and no account exists until the terms are accepted.
    page = text(web.get(SIGNUP))
    assert "Accept the terms to finish creating your account" in page
    assert "nueva@example.com" in page and "Empresa" in page
    assert not signed_in(web)
    assert user_row(social_app, "nueva@example.com") is None
    refused = accept_terms(web, accept=False)
    assert refused.status_code == 422
    assert "You need to accept the terms" in text(refused)
    assert user_row(social_app, "nueva@example.com") is None

    done = accept_terms(web)
    assert done.status_code == 302 and done.headers["Location"].startswith("/account/profile")
    assert signed_in(web)
    user = user_row(social_app, "nueva@example.com")
    assert user is not None
    assert user.verified_at is not None and user.password_hash is None
    assert user.full_name == "Nora Nueva" and user.locale == "en"
    assert identities_of(social_app, "nueva@example.com") == [("company", op.issuer, "new-1")]
    assert count(social_app, Consent) == 2
    assert ("login.success", {"method": "oidc:company"}) in audit_actions(social_app)
    assert mailbox.to("nueva@example.com") == []  # the provider vouched for the address: no verification email
    listing = text(web.get(CONNECTIONS))
    assert "Empresa" in listing and "nueva@example.com" in listing

    # Next time the known identity signs in at once, even with another email at the provider.
    sign_out(web)
    resp = web.get(round_trip(web, op, sub="new-1", email="otra@example.com"))
    assert resp.status_code == 302 and resp.headers["Location"] != SIGNUP
    assert signed_in(web)
    assert count(social_app, User) == 1


def test_unverified_email_claim(web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox) -> None:
    resp = web.get(round_trip(web, op, sub="unv-1", email="sinverificar@example.com", verified=False))
    assert resp.status_code == 302
    assert "We will send a link to this email address" in text(web.get(SIGNUP))
    sent = accept_terms(web)
    # The same "check your inbox" answer as for an address that already has an account: nobody is
    # signed in until the mailbox answers.
    assert sent.status_code == 200 and "Check your inbox" in text(sent)
    assert not signed_in(web)
    user = user_row(social_app, "sinverificar@example.com")
    assert user is not None and user.verified_at is None
    msg = mailbox.wait_for("sinverificar@example.com", subject_of(social_app, "verify_email"))
    # Opened in the browser that signed up: verified and signed in, the provider now proved by the mailbox.
    assert confirm_link(web, link_in(msg, "/auth/verify/")).status_code == 302
    assert signed_in(web)
    user = user_row(social_app, "sinverificar@example.com")
    assert user is not None and user.verified_at is not None
    with social_app.app_context():
        assert db.session.scalars(select(SocialIdentity.mailbox_proved)).all() == [True]


def test_untrusted_provider_email_is_proved_by_our_own_email(
    web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox
) -> None:
    """Defect 5: "Socio" asserts email_verified=true, but is not trusted for it: no verified account, no
    automatic linking, until our verification email is opened."""
    resp = web.get(round_trip(web, op, sub="socio-1", email="confia@example.com", verified=True, provider="partner"))
    assert resp.status_code == 302
    sent = accept_terms_of(web, "partner")
    assert sent.status_code == 200 and "Check your inbox" in text(sent)
    assert not signed_in(web)
    user = user_row(social_app, "confia@example.com")
    assert user is not None and user.verified_at is None
    with social_app.app_context():
        assert db.session.scalars(select(SocialIdentity.mailbox_proved)).all() == [False]
        assert count(social_app, Job) == 0  # no automatic linking was queued
    assert mailbox.wait_for("confia@example.com", subject_of(social_app, "verify_email"))


def test_password_reset_of_an_unproven_account_drops_its_providers(
    web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox
) -> None:
    """Pre-hijacking: someone creates an account with another person's address through a provider
    that does not confirm it; when the owner proves the mailbox with a reset, that provider is gone."""
    web.get(round_trip(web, op, sub="intruder-1", email="victima@example.com", verified=False))
    assert accept_terms(web).status_code == 200
    owner = _browser(social_app)
    token = csrf_from(text(owner.get("/auth/forgot")))
    owner.post("/auth/forgot", data={"csrf_token": token, "email": "victima@example.com"})
    reset = local_path(
        link_in(mailbox.wait_for("victima@example.com", subject_of(social_app, "password_reset")), "/auth/reset/")
    )
    token = csrf_from(text(owner.get(reset)))
    new_password = "Nuevo#Camino2026?"
    owner.post(reset, data={"csrf_token": token, "password": new_password, "password_confirm": new_password})
    assert count(social_app, SocialIdentity) == 0
    user = user_row(social_app, "victima@example.com")
    assert user is not None and user.verified_at is not None
    intruder = _browser(social_app)
    callback = round_trip(intruder, op, sub="intruder-1", email="victima@example.com", verified=False)
    assert intruder.get(callback).headers["Location"] == SIGNUP
    answer = accept_terms(intruder)
    assert answer.status_code == 200 and "Check your inbox" in text(answer)  # the same answer as a new address
    assert not signed_in(intruder)
    assert count(social_app, SocialIdentity) == 0  # the proven owner's account stays shut
    notice = mailbox.wait_for("victima@example.com", subject_of(social_app, "already_registered"))
    assert "connect it from “My account”" in text_body(notice)


def test_password_reset_keeps_providers_the_mailbox_proved(
    web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox
) -> None:
    sign_up_with_provider(web, op, sub="keep-1", email="guarda@example.com")  # trusted provider, verified email
    token = csrf_from(text(web.get("/auth/forgot")))
    web.post("/auth/forgot", data={"csrf_token": token, "email": "guarda@example.com"})
    reset = local_path(
        link_in(mailbox.wait_for("guarda@example.com", subject_of(social_app, "password_reset")), "/auth/reset/")
    )
    token = csrf_from(text(web.get(reset)))
    new_password = "Nuevo#Camino2026?"
    web.post(reset, data={"csrf_token": token, "password": new_password, "password_confirm": new_password})
    assert identities_of(social_app, "guarda@example.com") == [("company", op.issuer, "keep-1")]


def test_email_of_an_existing_account_neither_signs_in_nor_links(
    web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox
) -> None:
    owner = _browser(social_app)
    password_user(owner, mailbox, "dueno@example.com")
    resp = web.get(round_trip(web, op, sub="intruso-1", email="DUENO@example.com", verified=True))
    # The same next page as for a new address (nothing revealed), which tells an account holder what to do.
    assert resp.status_code == 302 and resp.headers["Location"] == SIGNUP
    page = text(web.get(SIGNUP))
    assert "Do you already have a Coberta account with this email?" in page
    assert "connect Empresa from “My account” → “Sign-in methods”" in page
    # The trusted provider proved the mailbox, so its owner may hear that the account exists.
    resp = accept_terms(web)
    assert resp.status_code == 303 and resp.headers["Location"] == "/auth/oauth/company/existing-account"
    resp = web.get(resp.headers["Location"])  # a redirect: a reload replays no code
    page = text(resp)
    assert "You already have an account" in page
    assert "we did not sign you in with Empresa" in page
    assert "connect it from “My account” → “Sign-in methods”" in page
    assert not signed_in(web)
    assert web.get(SIGNUP).status_code == 400  # nothing pending either
    assert count(social_app, SocialIdentity) == 0
    assert count(social_app, User) == 1
    assert any(a == "login.oauth_existing_account" for a, _d in audit_actions(social_app))


def test_first_sign_in_does_not_reveal_whether_the_email_has_an_account(
    web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox
) -> None:
    owner = _browser(social_app)
    password_user(owner, mailbox, "tiene@example.com")
    answers = []
    for sub, email in (("probe-1", "tiene@example.com"), ("probe-2", "notiene@example.com")):
        browser = _browser(social_app)
        first = browser.get(round_trip(browser, op, sub=sub, email=email, verified=False, provider="partner"))
        page = strip_csrf(text(browser.get(first.headers["Location"]))).replace(email, "EMAIL")
        done = accept_terms_of(browser, "partner")
        answers.append((first.status_code, first.headers["Location"], page, done.status_code, strip_csrf(text(done))))
        assert not signed_in(browser)
    assert answers[0] == answers[1]


def test_no_email_claim_cannot_create_an_account(web: FlaskClient, op: OidcProvider, social_app: Flask) -> None:
    resp = web.get(round_trip(web, op, sub="sin-correo", email=""))
    assert resp.status_code == 400
    assert "did not share an email address with us" in text(resp)
    assert not signed_in(web)
    assert count(social_app, User) == 0 and count(social_app, SocialIdentity) == 0


def test_pending_sign_up_expires_after_ten_minutes(web: FlaskClient, op: OidcProvider, social_app: Flask) -> None:
    web.get(round_trip(web, op, sub="lento-1", email="lento@example.com"))
    page = web.get(SIGNUP)
    with web.session_transaction() as sess:
        sess["oauth_pending"] = dict(sess["oauth_pending"], exp=int(time.time()) - 1)
    resp = web.post(SIGNUP, data={"csrf_token": csrf_from(text(page)), "accept_terms": "y"})
    assert resp.status_code == 400
    assert "took more than 10 minutes" in text(resp)
    assert not signed_in(web)
    assert user_row(social_app, "lento@example.com") is None


# --- failures ----------------------------------------------------------------------------------------


def _with_query(path: str, **changes: str | None) -> str:
    parts = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_tampered_or_missing_state(web: FlaskClient, op: OidcProvider, social_app: Flask) -> None:
    callback = round_trip(web, op, sub="state-1", email="estado@example.com")
    for bad in (_with_query(callback, state="forged-state"), _with_query(callback, state=None)):
        resp = web.get(bad)
        assert resp.status_code == 400
        assert "This sign-in attempt expired or was already used" in text(resp)
        assert not signed_in(web)
    failures = [d for a, d in audit_actions(social_app) if a == "login.oauth_failure"]
    assert [d["reason"] for d in failures] == ["state_mismatch", "state_mismatch"]
    assert count(social_app, User) == 0


def test_replayed_code(web: FlaskClient, op: OidcProvider, social_app: Flask) -> None:
    sign_up_with_provider(web, op, sub="replay-1", email="repite@example.com")
    sign_out(web)
    callback = round_trip(web, op, sub="replay-1", email="repite@example.com")
    cookie = web.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    assert web.get(callback).status_code == 302
    assert signed_in(web)

    # Someone replays the same callback URL with a copy of the cookie from before it was used:
    # the state still matches, but the provider refuses the used code.
    thief = _browser(social_app)
    thief.set_cookie(SESSION_COOKIE, cookie.value)
    resp = thief.get(callback)
    assert resp.status_code == 400
    assert "We could not confirm your identity with Empresa" in text(resp)
    assert not signed_in(thief)

    # And the same browser, signed out, replaying it: the state was already used.
    sign_out(web)
    resp = web.get(callback)
    assert resp.status_code == 400
    assert not signed_in(web)
    reasons = [d["reason"] for a, d in audit_actions(social_app) if a == "login.oauth_failure"]
    assert reasons == ["code_rejected", "state_mismatch"]


def test_user_denies_at_the_provider(web: FlaskClient, op: OidcProvider, social_app: Flask) -> None:
    web.set_cookie("lang", "es")  # the error page speaks the user's language
    callback = abort_at_provider(begin(web, op))
    assert "error=access_denied" in callback
    resp = web.get(local_path(callback))
    assert resp.status_code == 400
    assert "Se canceló el inicio de sesión con Empresa" in text(resp)
    assert not signed_in(web)
    assert [d["reason"] for a, d in audit_actions(social_app) if a == "login.oauth_failure"] == ["access_denied"]


def test_discovery_document_must_name_the_configured_issuer(
    app: Flask, app_config: dict[str, Any], op: OidcProvider
) -> None:
    # "localhost" reaches the same provider, whose documents name http://127.0.0.1:<port> as issuer.
    other_host = op.discovery_url.replace("127.0.0.1", "localhost")
    mixed = create_app(dict(app_config, OIDC_PROVIDERS="company", **_provider_settings("company", other_host, "X")))
    browser = mixed.test_client()
    browser.set_cookie("lang", "en")
    resp = browser.get(LOGIN.format(name="company"))
    assert resp.status_code == 502
    assert "Location" not in resp.headers
    assert "We could not reach X right now" in resp.get_data(as_text=True)
    close_app(mixed)


# --- "Mi cuenta": connect and disconnect ----------------------------------------------------------------


def test_connect_from_my_account(web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox) -> None:
    password_user(web, mailbox, "conecta@example.com")
    page = text(web.get(CONNECTIONS))
    assert "Connect Empresa" in page and "Email and password" in page

    assert connect(web, None).status_code == 422
    wrong = connect(web, "Not-The-Password-1!")
    assert wrong.status_code == 422
    assert "The current password is not correct." in text(wrong)
    assert identities_of(social_app, "conecta@example.com") == []

    resp = connect(web, STRONG_PASSWORD)
    assert resp.status_code == 303 and resp.headers["Location"] == LOGIN.format(name="company")
    authorize = begin(web, op)
    callback = complete_login(None, authorize, sub="work-7", email="ana@empresa.example", email_verified=True, name="A")
    resp = web.get(local_path(callback))
    assert resp.status_code == 302 and resp.headers["Location"] == CONNECTIONS
    assert identities_of(social_app, "conecta@example.com") == [("company", op.issuer, "work-7")]
    page = text(web.get(CONNECTIONS))
    assert "Empresa is connected" in page and "ana@empresa.example" in page
    msg = mailbox.wait_for("conecta@example.com", subject_of(social_app, "provider_linked"))
    assert "Empresa was connected to your account" in text_body(msg)
    assert ("provider.linked", {"provider": "company"}) in audit_actions(social_app)

    # From now on the provider signs this account in.
    sign_out(web)
    resp = web.get(round_trip(web, op, sub="work-7", email="ana@empresa.example"))
    assert resp.status_code == 302
    assert signed_in(web)
    assert "conecta@example.com" in text(web.get("/account/"))


def test_provider_only_account_connects_with_a_recent_sign_in(
    web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox
) -> None:
    sign_up_with_provider(web, op, sub="solo-1", email="solo@example.com")
    # A sign-in long ago no longer counts as proof.
    with social_app.app_context():
        db.session.execute(update(UserSession).values(authenticated_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    page = text(web.get(CONNECTIONS))
    assert "needs a sign-in from the last" in page and "Sign in again with Empresa" in page
    stale = connect(web, None, name="partner")
    assert stale.status_code == 403
    assert "sign in again before making this change" in text(stale)

    sign_out(web)
    web.get(round_trip(web, op, sub="solo-1", email="solo@example.com"))
    assert signed_in(web)
    resp = connect(web, None, name="partner")
    assert resp.status_code == 303
    authorize = begin(web, op, "partner")
    callback = complete_login(None, authorize, sub="solo-2", email="solo@socio.example", email_verified=True, name="S")
    assert web.get(local_path(callback)).headers["Location"] == CONNECTIONS
    assert sorted(identities_of(social_app, "solo@example.com")) == [
        ("company", op.issuer, "solo-1"),
        ("partner", op.issuer, "solo-2"),
    ]
    mailbox.wait_for("solo@example.com", subject_of(social_app, "provider_linked"))


def test_an_identity_of_another_user_cannot_be_connected(
    web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox
) -> None:
    first = _browser(social_app)
    sign_up_with_provider(first, op, sub="shared-1", email="primera@example.com")
    password_user(web, mailbox, "segunda@example.com")
    assert connect(web, STRONG_PASSWORD).status_code == 303
    callback = complete_login(
        None, begin(web, op), sub="shared-1", email="primera@example.com", email_verified=True, name="P"
    )
    resp = web.get(local_path(callback))
    assert resp.status_code == 409
    assert "already connected to another Coberta account" in text(resp)
    assert identities_of(social_app, "primera@example.com") == [("company", op.issuer, "shared-1")]
    assert identities_of(social_app, "segunda@example.com") == []
    assert signed_in(web) and "segunda@example.com" in text(web.get("/account/"))
    assert not any(subject_of(social_app, "provider_linked") in str(m["Subject"]) for m in mailbox.to("segunda@"))


def test_disconnect(web: FlaskClient, op: OidcProvider, social_app: Flask, mailbox: Mailbox) -> None:
    # A provider-only account cannot remove its only way in.
    sign_up_with_provider(web, op, sub="ultimo-1", email="ultimo@example.com")
    with social_app.app_context():
        only_id = db.session.scalar(select(SocialIdentity.id).where(SocialIdentity.subject == "ultimo-1"))
    page = text(web.get(CONNECTIONS))
    assert "Your only way to sign in" in page
    resp = web.post(f"/account/connections/{only_id}/disconnect", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 409
    assert "is your only way to sign in, so we did not remove it" in text(resp)
    assert identities_of(social_app, "ultimo@example.com") == [("company", op.issuer, "ultimo-1")]

    # A password account removes a connected provider; the owner is told by email.
    other = _browser(social_app)
    password_user(other, mailbox, "quita@example.com")
    assert connect(other, STRONG_PASSWORD).status_code == 303
    callback = complete_login(
        None, begin(other, op), sub="quita-1", email="q@empresa.example", email_verified=True, name="Q"
    )
    other.get(local_path(callback))
    with social_app.app_context():
        linked_id = db.session.scalar(select(SocialIdentity.id).where(SocialIdentity.subject == "quita-1"))

    # Nobody can touch another person's identity: 404, as if it did not exist.
    page = text(web.get(CONNECTIONS))
    assert (
        web.post(f"/account/connections/{linked_id}/disconnect", data={"csrf_token": csrf_from(page)}).status_code
        == 404
    )
    assert web.post("/account/connections/999999/disconnect", data={"csrf_token": csrf_from(page)}).status_code == 404

    page = text(other.get(CONNECTIONS))
    resp = other.post(f"/account/connections/{linked_id}/disconnect", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 303 and resp.headers["Location"] == CONNECTIONS
    assert "Empresa was disconnected" in text(other.get(CONNECTIONS))
    assert identities_of(social_app, "quita@example.com") == []
    msg = mailbox.wait_for("quita@example.com", subject_of(social_app, "provider_unlinked"))
    assert "Empresa was removed from your account" in text_body(msg)
    assert ("provider.unlinked", {"provider": "company"}) in audit_actions(social_app)
    # The removed identity no longer opens the account: signing in with it starts a new sign-up.
    sign_out(other)
    assert other.get(round_trip(other, op, sub="quita-1", email="q@empresa.example")).headers["Location"] == SIGNUP


# --- the ID token checks, on forged tokens --------------------------------------------------------------


ISSUER = "https://id.example"


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


def _id_token(key: RSAKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "s-1", "nonce": "n-1", "iat": now, "exp": now + 300}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def _parse(key: RSAKey, id_token: str, nonce: str = "n-1") -> dict[str, Any]:
    client = FlaskOAuth2App(
        FlaskIntegration("unit"),
        "unit",
        client_id=CLIENT_ID,
        issuer=ISSUER,
        jwks={"keys": [key.as_dict(private=False)]},
        id_token_signing_alg_values_supported=["RS256"],
    )
    token = {"id_token": id_token, "access_token": "at", "token_type": "Bearer"}
    return dict(client.parse_id_token(token, nonce=nonce, claims_options=id_token_rules(CLIENT_ID, [ISSUER])))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "another-client", "azp": CLIENT_ID}, id="audience"),
        pytest.param({"aud": None}, id="no-audience"),
        pytest.param({"iss": "https://evil.example"}, id="issuer"),
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
        pytest.param({"exp": None}, id="no-expiry"),
        pytest.param({"nonce": "n-other"}, id="nonce"),
    ],
)
def test_forged_id_tokens_are_refused(signing_key: RSAKey, overrides: dict[str, Any]) -> None:
    assert _parse(signing_key, _id_token(signing_key))["sub"] == "s-1"
    with pytest.raises(JoseError):
        _parse(signing_key, _id_token(signing_key, **overrides))


def test_id_token_signed_by_another_key_is_refused(signing_key: RSAKey) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})
    with pytest.raises(JoseError):
        _parse(signing_key, _id_token(impostor))
