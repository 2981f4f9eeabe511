"""Social and OpenID Connect sign-in: Google and Facebook presets plus any OIDC provider by settings.

Google and generic providers: authorization code + PKCE (S256), state and nonce; the ID token's
signature, issuer, audience and expiry are checked. Facebook is plain OAuth 2 (its web login is
not OpenID Connect): the Graph API names the person and its email never counts as verified.
Identities are keyed on (issuer, subject) and never matched by email (DESIGN §7).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client import OAuthError
from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms import BooleanField
from wtforms.validators import DataRequired

from aggregator import mail
from aggregator.auth.views import after_sign_in_target
from aggregator.config import as_bool, oidc_provider_settings
from aggregator.extensions import db, limiter, oauth
from aggregator.forms import Form
from aggregator.i18n import select_locale
from aggregator.models import SocialIdentity, User
from aggregator.netutil import is_safe_next
from aggregator.services import accounts, audit, identities, sessions
from aggregator.services.emails import try_normalize_email
from aggregator.services.identities import ExternalIdentity, LinkOutcome

log = logging.getLogger(__name__)

bp = Blueprint("oauth", __name__, url_prefix="/auth/oauth")

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
# Google's ID tokens may carry the issuer without its scheme (documented by Google).
GOOGLE_EXTRA_ISSUERS = ("accounts.google.com",)
FACEBOOK_ISSUER = "https://www.facebook.com"
FACEBOOK_AUTHORIZE_URL = "https://www.facebook.com/v19.0/dialog/oauth"
FACEBOOK_TOKEN_URL = "https://graph.facebook.com/v19.0/oauth/access_token"  # noqa: S105 - an endpoint, not a secret
FACEBOOK_USERINFO_URL = "https://graph.facebook.com/me?fields=id,name,email"
OIDC_SCOPE = "openid email profile"
FACEBOOK_SCOPE = "email public_profile"
HTTP_TIMEOUT = 10  # seconds, for every call to a provider
FLOW_SECONDS = 600  # a sign-in, a pending sign-up and a connect request each expire after 10 minutes
# Asymmetric signatures only: an ID token signed with "none" or a shared secret is refused.
SIGNING_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})

LINK_KEY = "oauth_link"  # a connect request from "Mi cuenta", waiting for the provider round trip
PENDING_KEY = "oauth_pending"  # a first sign-in waiting for the terms to be accepted
STATE_PREFIX = "_state_"  # authlib keeps each authorization request under _state_<name>_<state>


@dataclass(frozen=True)
class Provider:
    """A configured sign-in provider as the templates see it."""

    name: str
    label: str
    kind: str  # google | facebook | oidc


@dataclass(frozen=True)
class Registration:
    """A provider with its authlib client and what its tokens must show."""

    provider: Provider
    client: Any  # authlib FlaskOAuth2App
    discovery_url: str | None  # None for plain OAuth 2 (Facebook)
    fixed_issuer: str | None = None  # the issuer recorded for plain OAuth 2 identities
    extra_issuers: tuple[str, ...] = ()
    trust_email: bool = False  # its email_verified proves the mailbox (else our own email does)


class SignInFailed(Exception):
    """The provider round trip failed; ``reason`` is a short code for the audit log and the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignupForm(Form):
    accept_terms = BooleanField(
        _l("I accept the terms of service and the privacy notice"),
        validators=[DataRequired(_l("You need to accept the terms and the privacy notice to create your account."))],
    )


# --- configuration ------------------------------------------------------------------------------


def configured_providers(app: Flask) -> dict[str, Provider]:
    """Every provider with complete settings, in display order."""
    cfg = app.config
    found: dict[str, Provider] = {}
    if cfg.get("GOOGLE_CLIENT_ID") and cfg.get("GOOGLE_CLIENT_SECRET"):
        found["google"] = Provider("google", "Google", "google")
    if cfg.get("FACEBOOK_CLIENT_ID") and cfg.get("FACEBOOK_CLIENT_SECRET"):
        found["facebook"] = Provider("facebook", "Facebook", "facebook")
    for name, settings in oidc_provider_settings(cfg).items():
        if settings["discovery_url"] and settings["client_id"] and name not in found:
            found[name] = Provider(name, settings["label"], "oidc")
    return found


def _new_client(name: str, **kwargs: Any) -> Any:
    """An authlib Flask OAuth 2 client of our own.

    authlib's registry (``oauth.register``) is process-wide and caches one client per name, so a
    second app in the same process (tests, several configurations) would silently reuse the first
    app's endpoints and secrets; each app keeps its own clients instead.
    """
    framework = oauth.framework_integration_cls(name, oauth.cache)
    framework.expires_in = FLOW_SECONDS
    return oauth.oauth2_client_cls(framework, name, **kwargs)


def _client_kwargs(scope: str, **extra: Any) -> dict[str, Any]:
    return {"scope": scope, "code_challenge_method": "S256", "default_timeout": HTTP_TIMEOUT, **extra}


def register_providers(app: Flask) -> None:
    """Register each configured provider with authlib (PKCE S256, state; nonce for OpenID Connect)."""
    providers = configured_providers(app)
    app.extensions["sign_in_providers"] = providers
    cfg = app.config
    oidc_settings = oidc_provider_settings(cfg)
    registrations: dict[str, Registration] = {}
    for name, provider in providers.items():
        if provider.kind == "google":
            client = _new_client(
                name,
                client_id=str(cfg["GOOGLE_CLIENT_ID"]),
                client_secret=str(cfg["GOOGLE_CLIENT_SECRET"]),
                server_metadata_url=GOOGLE_DISCOVERY_URL,
                client_kwargs=_client_kwargs(OIDC_SCOPE),
            )
            registrations[name] = Registration(
                provider,
                client,
                GOOGLE_DISCOVERY_URL,
                extra_issuers=GOOGLE_EXTRA_ISSUERS,
                trust_email=as_bool(cfg.get("GOOGLE_TRUST_EMAIL", True)),
            )
        elif provider.kind == "facebook":
            client = _new_client(
                name,
                client_id=str(cfg["FACEBOOK_CLIENT_ID"]),
                client_secret=str(cfg["FACEBOOK_CLIENT_SECRET"]),
                authorize_url=FACEBOOK_AUTHORIZE_URL,
                access_token_url=FACEBOOK_TOKEN_URL,
                userinfo_endpoint=FACEBOOK_USERINFO_URL,
                client_kwargs=_client_kwargs(
                    FACEBOOK_SCOPE,
                    token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
                ),
            )
            registrations[name] = Registration(provider, client, None, fixed_issuer=FACEBOOK_ISSUER)
        else:
            settings = oidc_settings[name]
            client = _new_client(
                name,
                client_id=settings["client_id"],
                client_secret=settings["client_secret"] or None,
                server_metadata_url=settings["discovery_url"],
                client_kwargs=_client_kwargs(OIDC_SCOPE),
            )
            registrations[name] = Registration(
                provider, client, settings["discovery_url"], trust_email=bool(settings["trust_email"])
            )
    app.extensions["sign_in_clients"] = registrations


def provider_buttons() -> list[Provider]:
    """Providers to show as buttons (only the configured ones)."""
    return list(current_app.extensions.get("sign_in_providers", {}).values())


def find_provider(name: str) -> Provider | None:
    """The configured provider called ``name``, if any."""
    found: Provider | None = current_app.extensions.get("sign_in_providers", {}).get(name)
    return found


def provider_label(name: str) -> str:
    """The label users know a provider by ('Google', 'Mi empresa'); its name when no longer configured."""
    provider = find_provider(name)
    return provider.label if provider else name.replace("_", " ").capitalize()


def _registration_or_404(name: str) -> Registration:
    registration: Registration | None = current_app.extensions.get("sign_in_clients", {}).get(name)
    if registration is None:
        abort(404)
    return registration


def request_link(name: str, user_id: int) -> str:
    """Remember that the next round trip to ``name`` connects it to this user; returns where to go."""
    session[LINK_KEY] = {"p": name, "u": user_id, "exp": int(time.time()) + FLOW_SECONDS}
    return url_for("oauth.login", name=name)


# --- checks on what the provider says ----------------------------------------------------------


def id_token_rules(client_id: str, issuers: list[str]) -> dict[str, Any]:
    """Claims every ID token must carry: our audience, the provider's issuer, a subject, an expiry.

    authlib on its own checks the issuer (against discovery), expiry and nonce, but only looks at
    the audience through ``azp``; these rules make the audience check explicit (OIDC Core 3.1.3.7).
    """
    return {
        "iss": {"essential": True, "values": issuers},
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }


def _discovery_url_of(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _checked_metadata(registration: Registration) -> dict[str, Any]:
    """The provider's discovery document, refused unless its issuer is the one we asked (Discovery 4.3)."""
    if registration.discovery_url is None:
        return {"issuer": registration.fixed_issuer}
    metadata: dict[str, Any] = registration.client.load_server_metadata()
    issuer = metadata.get("issuer")
    if not isinstance(issuer, str) or _discovery_url_of(issuer) != registration.discovery_url.rstrip("/"):
        log.error(
            "sign-in provider %s: discovery document at %s names issuer %r",
            registration.provider.name,
            registration.discovery_url,
            issuer,
        )
        raise SignInFailed("issuer_mismatch")
    return metadata


def _jws_alg(raw: str) -> str | None:
    """The ``alg`` of a compact JWS header, without trusting anything else in it."""
    try:
        segment = raw.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        return None
    alg = header.get("alg") if isinstance(header, dict) else None
    return alg if isinstance(alg, str) else None


def _email_of(value: Any) -> str | None:
    return try_normalize_email(value) if isinstance(value, str) and value.strip() else None


def _asserted(value: Any) -> bool:
    """Only an explicit ``true`` counts (a few providers send the string)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _exchange(registration: Registration) -> ExternalIdentity:
    """Trade the code for tokens and return the checked identity; raises SignInFailed or OAuthError."""
    provider = registration.provider
    client = registration.client
    metadata = _checked_metadata(registration)
    if provider.kind == "facebook":
        token = client.authorize_access_token()
        resp = client.get(FACEBOOK_USERINFO_URL, token=token)
        resp.raise_for_status()
        data = resp.json()
        subject = str(data.get("id") or "") if isinstance(data, dict) else ""
        if not subject:
            raise SignInFailed("token_invalid")
        return ExternalIdentity(
            provider=provider.name,
            issuer=FACEBOOK_ISSUER,
            subject=subject,
            email=_email_of(data.get("email")),
            email_verified=False,  # Facebook does not assert that the address was verified
            name=_text(data.get("name")),
        )

    issuer = str(metadata["issuer"])
    # RFC 9207: the authorization response names its issuer, which defeats mix-up attacks.
    returned_iss = request.args.get("iss")
    if returned_iss is not None and returned_iss != issuer:
        raise SignInFailed("issuer_mismatch")
    if returned_iss is None and metadata.get("authorization_response_iss_parameter_supported"):
        raise SignInFailed("issuer_mismatch")
    rules = id_token_rules(str(client.client_id), [issuer, *registration.extra_issuers])
    token = client.authorize_access_token(claims_options=rules)
    raw_id_token = token.get("id_token")
    claims = token.get("userinfo")
    # authlib validates the ID token only when the request carried a nonce: insist that it did.
    if not isinstance(raw_id_token, str) or not claims or _jws_alg(raw_id_token) not in SIGNING_ALGS:
        raise SignInFailed("token_invalid")
    claims = dict(claims)
    if not _email_of(claims.get("email")) and metadata.get("userinfo_endpoint"):
        extra = client.userinfo(token=token)
        if extra.get("sub") == claims["sub"]:  # OIDC Core 5.3.2: only the same person's claims
            for key in ("email", "email_verified", "name"):
                if claims.get(key) in (None, "") and extra.get(key) is not None:
                    claims[key] = extra[key]
    return ExternalIdentity(
        provider=provider.name,
        issuer=issuer,  # Google's scheme-less variant is recorded under its canonical issuer
        subject=str(claims["sub"]),
        email=_email_of(claims.get("email")),
        # Only a provider trusted for it proves the mailbox; any other's word needs our own email (DESIGN §7).
        email_verified=registration.trust_email and _asserted(claims.get("email_verified")),
        name=_text(claims.get("name")),
    )


# --- pages ------------------------------------------------------------------------------------


def _failure_text(reason: str, label: str) -> tuple[str, str]:
    """(title, message) of the error page, in the user's language."""
    title = _("Sign-in with %(provider)s did not work", provider=label)
    if reason == "access_denied":
        return (
            _("Sign-in with %(provider)s was cancelled", provider=label),
            _("You did not allow %(provider)s to share your details with us, so nothing changed.", provider=label),
        )
    if reason == "state_mismatch":
        message = _(
            "This sign-in attempt expired or was already used. Start again; it only takes a moment.",
        )
    elif reason == "signup_expired":
        message = _("Creating your account took more than 10 minutes, so we stopped for your safety. Start again.")
    elif reason == "no_email":
        message = _(
            "%(provider)s did not share an email address with us, and we need one to create your account. "
            "Allow access to your email in %(provider)s and try again, or register with your email and password.",
            provider=label,
        )
    elif reason == "unreachable":
        message = _("We could not reach %(provider)s right now. Try again in a few minutes.", provider=label)
    elif reason == "link_session_changed":
        title = _("We could not connect %(provider)s", provider=label)
        message = _(
            "Your session changed while you were at %(provider)s. Sign in again and connect it from “My account”.",
            provider=label,
        )
    elif reason == "account_inactive":
        message = _("This account is no longer active.")
    else:  # token_invalid, code_rejected, issuer_mismatch, provider_error
        message = _(
            "We could not confirm your identity with %(provider)s. Start again; if it keeps happening, "
            "sign in with your email and password.",
            provider=label,
        )
    return title, message


def _failure(
    provider: Provider, reason: str, *, status: int = 400, detail: str | None = None, shown: str | None = None
) -> tuple[str, int]:
    """The error page (``shown`` picks its text when it differs from ``reason``); audited, nobody signed in."""
    actor = current_user.id if current_user.is_authenticated else None
    extra = {"detail": detail} if detail else {}
    audit.record(
        "login.oauth_failure", actor_id=actor, outcome="failure", provider=provider.name, reason=reason, **extra
    )
    title, message = _failure_text(shown or reason, provider.label)
    return render_template("auth/oauth_error.html", provider=provider, title=title, message=message), status


def _forget_earlier_flows() -> None:
    """Only the latest authorization request stays valid: keeps the cookie small."""
    for key in [k for k in session if k.startswith(STATE_PREFIX)]:
        session.pop(key, None)


def _pop_link_request(name: str) -> int | None:
    """The user id of a fresh connect request for this provider made by the signed-in user."""
    data = session.pop(LINK_KEY, None)
    if not isinstance(data, dict) or data.get("p") != name or int(data.get("exp") or 0) < time.time():
        return None
    if not current_user.is_authenticated or current_user.id != data.get("u"):
        return None
    return int(data["u"])


@bp.route("/<name>/login")
def login(name: str) -> Any:
    """Send the browser to the provider (code + PKCE, state, nonce); ``next`` is kept for afterwards."""
    registration = _registration_or_404(name)
    flow: dict[str, Any] = {"intent": "sign_in"}
    user_id = _pop_link_request(name)
    if user_id is not None:
        flow = {"intent": "link", "uid": user_id}
    next_url = request.args.get("next")
    if is_safe_next(next_url):
        flow["next"] = next_url
    try:
        _checked_metadata(registration)
        redirect_uri = accounts.external_url("oauth.callback", name=name)
        created = registration.client.create_authorization_url(redirect_uri)
    except SignInFailed as exc:  # a misconfigured provider: to the user it is simply not available
        return _failure(registration.provider, exc.reason, status=502, shown="unreachable")
    except Exception:
        log.warning("sign-in provider %s is unreachable", name, exc_info=True)
        return _failure(registration.provider, "unreachable", status=502)
    _forget_earlier_flows()
    url = created.pop("url")
    registration.client.save_authorize_data(redirect_uri=redirect_uri, **flow, **created)
    return redirect(url)


@bp.route("/<name>/callback")
@limiter.limit(lambda: str(current_app.config["LOGIN_IP_LIMIT"]))  # each callback costs a call to the provider
def callback(name: str) -> Any:
    """Finish the round trip: check state and tokens, then sign in, connect, or offer to sign up."""
    registration = _registration_or_404(name)
    provider = registration.provider
    framework = registration.client.framework
    state = request.args.get("state") or ""
    flow = framework.get_state_data(session, state) if state else None
    try:
        error = request.args.get("error")
        if error:
            reason = "access_denied" if error == "access_denied" else "provider_error"
            return _failure(provider, reason, detail=error[:64])
        if not isinstance(flow, dict):
            return _failure(provider, "state_mismatch")
        try:
            seen = _exchange(registration)
        except SignInFailed as exc:
            return _failure(provider, exc.reason)
        except OAuthError as exc:
            log.info("sign-in with %s refused: %s", name, exc.error)
            reason = "code_rejected" if exc.error == "invalid_grant" else "token_invalid"
            return _failure(provider, reason, detail=str(exc.error)[:64])
        except Exception:
            # Invalid signatures, claims, JSON or network errors: the attempt fails, the portal does not.
            log.warning("sign-in with %s failed", name, exc_info=True)
            return _failure(provider, "token_invalid")
    finally:
        if state:
            framework.clear_state_data(session, state)
    if flow.get("intent") == "link":
        return _finish_link(registration, seen, flow)
    next_url = flow.get("next") if is_safe_next(flow.get("next")) else None
    return _finish_sign_in(registration, seen, next_url)


def _sign_in(user: User, identity: SocialIdentity, seen: ExternalIdentity, next_url: str | None) -> Any:
    identities.record_sign_in(identity, seen)
    method = f"oidc:{seen.provider}"[:40]
    sessions.start(user, method)
    audit.record("login.success", actor_id=user.id, target_type="user", target_id=user.id, method=method)
    return redirect(after_sign_in_target(user, next_url))


def _existing_account(provider: Provider) -> Any:
    """Seed 003: the email already has an account; no sign-in, no link — sign in as usual, then connect.

    A redirect, so that reloading the page does not replay the used authorization code.
    """
    audit.record("login.oauth_existing_account", outcome="refused", provider=provider.name)
    return redirect(url_for("oauth.existing_account", name=provider.name), 303)


@bp.route("/<name>/existing-account")
def existing_account(name: str) -> Any:
    """The explanation page of ``_existing_account`` (it names no account and changes nothing)."""
    provider = find_provider(name)
    if provider is None:
        abort(404)
    return render_template("auth/oauth_existing_account.html", provider=provider)


def _finish_sign_in(registration: Registration, seen: ExternalIdentity, next_url: str | None) -> Any:
    provider = registration.provider
    identity = identities.find(seen.issuer, seen.subject)
    if identity is not None:
        if identity.user.status != "active":
            return _failure(provider, "account_inactive")
        return _sign_in(identity.user, identity, seen, next_url)
    if not seen.email:
        return _failure(provider, "no_email")
    # The same next page whether or not the email has an account: it tells a person who has one to
    # sign in as usual and connect the provider, and lets anyone else continue (nothing is revealed).
    session[PENDING_KEY] = {
        "p": provider.name,
        "iss": seen.issuer,
        "sub": seen.subject,
        "email": seen.email,
        "ev": seen.email_verified,
        "name": (seen.name or "")[: identities.NAME_MAX],
        "next": next_url,
        "exp": int(time.time()) + FLOW_SECONDS,
    }
    return redirect(url_for("oauth.signup", name=provider.name))


def _finish_link(registration: Registration, seen: ExternalIdentity, flow: dict[str, Any]) -> Any:
    provider = registration.provider
    if not current_user.is_authenticated or current_user.id != flow.get("uid"):
        return _failure(provider, "link_session_changed")
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    outcome = identities.link(user, seen, provider.label)
    if outcome is LinkOutcome.LINKED:
        flash(
            _("%(provider)s is connected. From now on you can also sign in with it.", provider=provider.label),
            "success",
        )
    elif outcome is LinkOutcome.ALREADY_YOURS:
        flash(_("That %(provider)s account was already connected to yours.", provider=provider.label), "info")
    else:
        if outcome is LinkOutcome.OTHER_USER:
            message = _(
                "That %(provider)s account is already connected to another %(portal)s account, so we did not "
                "connect it to yours. Sign in with it, remove it from “My account” there, and try again.",
                provider=provider.label,
                portal=current_app.config["PORTAL_NAME"],
            )
        else:
            message = _(
                "You already have another %(provider)s account connected. Disconnect it first to connect this one.",
                provider=provider.label,
            )
        title = _("We could not connect %(provider)s", provider=provider.label)
        return render_template("auth/oauth_error.html", provider=provider, title=title, message=message), 409
    return redirect(url_for("account.connections"))


def _pending(name: str) -> ExternalIdentity | None:
    """The first sign-in waiting for the terms, if it is for this provider and less than 10 minutes old."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict) or data.get("p") != name or int(data.get("exp") or 0) < time.time():
        return None
    return ExternalIdentity(
        provider=name,
        issuer=str(data["iss"]),
        subject=str(data["sub"]),
        email=_email_of(data.get("email")),
        email_verified=data.get("ev") is True,
        name=_text(data.get("name")),
    )


@bp.route("/<name>/signup", methods=["GET", "POST"])
def signup(name: str) -> Any:
    """First social sign-in: accept the terms, then the account is created and signed in."""
    registration = _registration_or_404(name)
    provider = registration.provider
    seen = _pending(name)
    if seen is None or not seen.email:
        session.pop(PENDING_KEY, None)
        return _failure(provider, "signup_expired")
    form = SignupForm()
    if form.validate_on_submit():
        next_url = session.get(PENDING_KEY, {}).get("next")
        session.pop(PENDING_KEY, None)
        identity = identities.find(seen.issuer, seen.subject)
        if identity is not None:  # finished meanwhile in another tab
            return _sign_in(identity.user, identity, seen, next_url if is_safe_next(next_url) else None)
        if identities.email_in_use(seen.email):
            if seen.email_verified:  # a trusted provider proved the mailbox: its owner may know
                return _existing_account(provider)
            # Unproved: the answer is "check your inbox", as for a new account; the owner is told.
            identities.notify_existing_account(seen, provider.label)
            accounts.remember_registration(None)
            return render_template("auth/register_sent.html")
        try:
            identity = identities.create_account(seen, str(select_locale()))
        except IntegrityError:  # the same person, twice at once
            db.session.rollback()
            mail.discard_queued()
            return _failure(provider, "signup_expired")
        user = identity.user
        if not user.is_verified:
            # Signed in only once the mailbox answers: the link opened in this browser signs them in.
            accounts.remember_registration(user)
            return render_template("auth/register_sent.html")
        flash(_("Welcome to %(portal)s! Your account is ready.", portal=current_app.config["PORTAL_NAME"]), "success")
        return _sign_in(user, identity, seen, next_url if is_safe_next(next_url) else None)
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "auth/oauth_signup.html", form=form, provider=provider, email=seen.email, verified=seen.email_verified
        ),
        status,
    )
