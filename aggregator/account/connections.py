"""'Mi cuenta' → sign-in methods: connected providers, connect (re-authenticated), disconnect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import PasswordField
from wtforms.validators import Length, Optional

from aggregator.account.views import bp
from aggregator.auth.oauth import find_provider, provider_buttons, provider_label, request_link
from aggregator.forms import Form
from aggregator.models import User
from aggregator.services import accounts, audit, identities, sessions
from aggregator.services.passwords import MAX_LENGTH

ICONS = {"google": "google", "facebook": "facebook", "oidc": "building"}


class ConnectForm(Form):
    """The current password (accounts without one re-authenticate with a recent sign-in)."""

    password = PasswordField(validators=[Optional(), Length(max=MAX_LENGTH * 4)])


@dataclass(frozen=True)
class ConnectionRow:
    """One connected identity as the page shows it."""

    id: int
    label: str
    icon: str
    email: str | None
    connected: datetime
    last_used: datetime | None
    removable: bool


@dataclass(frozen=True)
class AvailableRow:
    """A configured provider the user has not connected yet."""

    name: str
    label: str
    icon: str


def _user() -> User:
    """The signed-in user as a model (``current_user`` is a proxy)."""
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _page(*, errors: dict[str, str] | None = None, refusal: str | None = None, status: int = 200) -> Any:
    """The sign-in methods page, possibly with a connect error or a refused disconnection."""
    user = _user()
    rows = identities.for_user(user.id)
    kinds = {p.name: p.kind for p in provider_buttons()}
    connected = [
        ConnectionRow(
            id=row.id,
            label=provider_label(row.provider),
            icon=ICONS.get(kinds.get(row.provider, "oidc"), "building"),
            email=row.email,
            connected=row.created_at,
            last_used=row.last_used_at,
            removable=user.has_password or len(rows) > 1,  # the rule of identities.unlink
        )
        for row in rows
    ]
    taken = {row.provider for row in rows}
    available = [
        AvailableRow(p.name, p.label, ICONS.get(p.kind, "building")) for p in provider_buttons() if p.name not in taken
    ]
    return (
        render_template(
            "account/connections.html",
            active="connections",
            connected=connected,
            available=available,
            errors=errors or {},
            refusal=refusal,
            recent=sessions.recently_authenticated(g.get("user_session")),
            recent_minutes=current_app.config["RECENT_AUTH_MINUTES"],
            reauth_providers=[(r.provider, provider_label(r.provider)) for r in rows],
        ),
        status,
    )


@bp.route("/connections")
def connections() -> Any:
    """Connected providers (label, email, connected, last used) and the ones that can still be connected."""
    return _page()


@bp.route("/connections/<name>/connect", methods=["POST"])
def connect(name: str) -> Any:
    """Re-authenticate, then go to the provider; its callback attaches the identity to this user."""
    provider = find_provider(name)
    if provider is None:
        abort(404)
    user = _user()
    form = ConnectForm()
    if not form.validate_on_submit():
        return _page(errors={name: _("Your form expired. Please send it again.")}, status=400)
    if any(identity.provider == name for identity in identities.for_user(user.id)):
        flash(_("%(provider)s is already connected to your account.", provider=provider.label), "info")
        return redirect(url_for("account.connections"), 303)
    if user.has_password and not form.password.data:
        return _page(errors={name: _("Enter your current password.")}, status=422)
    outcome = accounts.reauthenticate(user, form.password.data, g.get("user_session"))
    if not outcome.ok:
        if outcome.reason == "locked":
            message = _(
                "Too many wrong passwords. For your security, try again in %(n)s minute(s).", n=outcome.wait_minutes
            )
            return _page(errors={name: message}, status=429)
        if outcome.reason == "not_recent":
            return _page(errors={name: _("For your security, sign in again before making this change.")}, status=403)
        return _page(errors={name: _("The current password is not correct.")}, status=422)
    audit.record("provider.link_started", actor_id=user.id, target_type="user", target_id=user.id, provider=name)
    return redirect(request_link(name, user.id), 303)


@bp.route("/connections/<int:identity_id>/disconnect", methods=["POST"])
def disconnect(identity_id: int) -> Any:
    """Remove a connected provider, unless it is the last way to sign in."""
    user = _user()
    identity = identities.get_for_user(user.id, identity_id)
    if identity is None:
        abort(404)
    label = provider_label(identity.provider)
    if not identities.unlink(user, identity, label):
        refusal = _(
            "%(provider)s is your only way to sign in, so we did not remove it. Set a password in "
            "“Password and email” or connect another account first.",
            provider=label,
        )
        return _page(refusal=refusal, status=409)
    flash(_("%(provider)s was disconnected. We sent you an email to confirm it.", provider=label), "success")
    return redirect(url_for("account.connections"), 303)
