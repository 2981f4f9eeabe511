"""'Mi cuenta': profile, password, email, notifications, sessions, sign-in methods, export, deletion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone
from flask_login import current_user, login_required
from wtforms import Field

from aggregator import ratelimit
from aggregator.account.forms import (
    PROFILE_LABELS,
    ChangeEmailForm,
    ChangePasswordForm,
    DeleteAccountForm,
    ProfileForm,
    SetPasswordForm,
    notifications_form,
)
from aggregator.auth.forms import EmptyForm
from aggregator.auth.oauth import provider_label
from aggregator.htmx import is_htmx, redirect_to, render
from aggregator.models import User, UserSession
from aggregator.models.types import utcnow
from aggregator.services import accounts, audit, sessions
from aggregator.services.emails import normalize_email
from aggregator.services.passwords import check_password, verify_password

bp = Blueprint("account", __name__, url_prefix="/account")

LANGUAGE_NAMES = {"es": "Español", "en": "English"}

# Why a session ended, in the words the user reads on the sessions page.
ENDED_REASONS: dict[str, Any] = {
    "logout": _l("Signed out"),
    "superseded": _l("Closed when you signed in on another device or browser"),
    "closed": _l("Closed from “My account”"),
    "password_changed": _l("Closed when the password changed"),
    "email_changed": _l("Closed when the email changed"),
    "idle": _l("Expired after a period of inactivity"),
    "expired": _l("Expired after its maximum duration"),
    "deleted": _l("Closed when the account was deleted"),
}
METHODS: dict[str, Any] = {
    "password": _l("Email and password"),
    "email_link": _l("Link sent by email"),
    "link": _l("Link sent by email"),
}
CHANNELS: dict[str, Any] = {"web": _l("Web portal"), "app": _l("Mobile app")}


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every page of the account needs a signed-in user."""


def _user() -> User:
    """The signed-in user as a model (``current_user`` is a proxy)."""
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _current_session() -> UserSession | None:
    """The server-side record of this browser's session."""
    return g.get("user_session")


def _method_label(method: str) -> str:
    """How a session was signed in, in words."""
    if method in METHODS:
        return str(METHODS[method])
    name = method.split(":", 1)[1] if ":" in method else method
    return provider_label(name)


def _reauth_error(form_field: Field | None, outcome: accounts.Reauth) -> int:
    """Put the re-authentication problem on the form; returns the HTTP status to answer with."""
    if outcome.reason == "locked":
        message = _(
            "Too many wrong passwords. For your security, try again in %(n)s minute(s).", n=outcome.wait_minutes
        )
        status = 429
    elif outcome.reason == "not_recent":
        message = _("For your security, sign in again before making this change.")
        status = 403
    else:
        message = _("The current password is not correct.")
        status = 422
    if form_field is not None:
        form_field.errors = [*form_field.errors, message]
    else:
        flash(message, "danger")
    return status


# --- overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    """One session as the pages show it."""

    id: int
    device: str
    icon: str  # phone | laptop: the device's kind, for the list's icon
    place: str
    channel: str
    method: str
    started: datetime
    last_seen: datetime
    current: bool
    active: bool
    ended_at: datetime | None
    ended_because: str


def _session_row(record: UserSession, current_id: int | None) -> SessionRow:
    info = sessions.describe(record)
    reason = record.revoked_reason or ""
    return SessionRow(
        id=record.id,
        device=info.device or _("Unknown device"),
        icon="phone" if info.handheld else "laptop",
        place=info.place or _("Unknown place"),
        channel=str(CHANNELS.get(record.channel, record.channel)),
        method=_method_label(record.method),
        started=record.created_at,
        last_seen=record.last_seen_at,
        current=record.id == current_id,
        active=record.revoked_at is None,
        ended_at=record.revoked_at,
        ended_because=str(ENDED_REASONS.get(reason, _("Ended"))) if record.revoked_at else "",
    )


@bp.route("/")
def index() -> Any:
    """Overview: email, profile, sign-in methods, this session, language."""
    user = _user()
    completeness = accounts.profile_completeness(user)
    current = _current_session()
    return render_template(
        "account/index.html",
        active="overview",
        completeness=completeness,
        missing_labels=[str(PROFILE_LABELS[f]) for f in completeness.missing],
        providers=[provider_label(i.provider) for i in user.identities],
        session_row=_session_row(current, current.id) if current else None,
        language=LANGUAGE_NAMES.get(user.locale, user.locale),
    )


# --- profile ---------------------------------------------------------------------------------


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> Any:
    """Name, phone and address — 'completa tu perfil' after the first sign-in (seed 001 step 7)."""
    user = _user()
    form = ProfileForm(obj=user)
    # The welcome flag travels in the query string (first visit) and in a hidden field (the POST).
    welcome = request.values.get("welcome") == "1" and user.needs_profile
    if form.validate_on_submit():
        accounts.update_profile(user, {f: getattr(form, f).data for f in accounts.PROFILE_FIELDS})
        flash(_("Your details were saved."), "success")
        return redirect(url_for("portal.dashboard") if welcome else url_for("account.profile"), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("account/profile.html", form=form, welcome=welcome, active="profile"), status


# --- password and email ----------------------------------------------------------------------


def _security_page(
    *,
    password_form: SetPasswordForm | None = None,
    email_form: ChangeEmailForm | None = None,
    rules: list[Any] | None = None,
    status: int = 200,
) -> Any:
    """The security page with both forms (one of them possibly carrying errors)."""
    user = _user()
    if password_form is None:
        form_class = ChangePasswordForm if user.has_password else SetPasswordForm
        password_form = form_class(formdata=None, account_email=user.email)
    return (
        render_template(
            "account/security.html",
            active="security",
            password_form=password_form,
            email_form=email_form or ChangeEmailForm(formdata=None),
            rules=rules,
            recent=sessions.recently_authenticated(_current_session()),
            reauth_providers=_reauth_providers(user),
            reauth_next=url_for("account.security"),
        ),
        status,
    )


def _reauth_providers(user: User) -> list[tuple[str, str]]:
    """(name, label) of the providers this user can sign in again with, for accounts without a password."""
    names = [i.provider for i in user.identities]
    return [(name, provider_label(name)) for name in dict.fromkeys(names)]


@bp.route("/security")
def security() -> Any:
    """Change (or set) the password; change the email address."""
    return _security_page()


@bp.route("/security/password", methods=["POST"])
def change_password() -> Any:
    """Change the password (current one required) or set a first one (recent sign-in required)."""
    user = _user()
    had_password = user.has_password
    form: SetPasswordForm = (ChangePasswordForm if had_password else SetPasswordForm)(account_email=user.email)
    new_password = form.password.data or ""
    rules = check_password(new_password, user.email)
    if not form.validate_on_submit():
        return _security_page(password_form=form, rules=rules, status=422)
    current_field = form.current_password if isinstance(form, ChangePasswordForm) else None
    outcome = accounts.reauthenticate(user, current_field.data if current_field else None, _current_session())
    if not outcome.ok:
        status = _reauth_error(current_field, outcome)
        return _security_page(password_form=form, rules=rules, status=status)
    if had_password and verify_password(user.password_hash, new_password):
        form.password.errors = [*form.password.errors, _("Choose a password different from the current one.")]
        return _security_page(password_form=form, rules=rules, status=422)
    current = _current_session()
    accounts.change_password(user, new_password, keep_session_id=current.id if current else None)
    if had_password:
        flash(_("Your password was changed. Every other session was closed and we sent you an email."), "success")
    else:
        flash(_("Your password is set. From now on you can also sign in with your email and password."), "success")
    return redirect(url_for("account.security"), 303)


@bp.route("/security/email", methods=["POST"])
def change_email() -> Any:
    """Ask to change the email: a link to the new address, a notice to the current one."""
    user = _user()
    form = ChangeEmailForm()
    if not form.validate_on_submit():
        return _security_page(email_form=form, status=422)
    new_email = normalize_email(form.new_email.data or "")
    if new_email == user.email:
        form.new_email.errors = [*form.new_email.errors, _("That is already your email address.")]
        return _security_page(email_form=form, status=422)
    if user.has_password and not form.current_password.data:
        form.current_password.errors = [*form.current_password.errors, _("Enter your current password.")]
        return _security_page(email_form=form, status=422)
    outcome = accounts.reauthenticate(user, form.current_password.data, _current_session())
    if not outcome.ok:
        status = _reauth_error(form.current_password if user.has_password else None, outcome)
        return _security_page(email_form=form, status=status)
    limit = str(current_app.config.get("EMAIL_CHANGE_LIMIT", "5 per hour"))
    if not ratelimit.hit(limit, ratelimit.key_for("email_change", str(user.id))):
        form.new_email.errors = [
            *form.new_email.errors,
            _("You asked for several changes in a short time. Try again later."),
        ]
        return _security_page(email_form=form, status=429)
    # The same answer whether or not the new address already has an account (DESIGN §7).
    accounts.request_email_change(user, new_email)
    flash(
        _(
            "We sent a link to %(new)s: open it to confirm the change. Until then, keep signing in with %(old)s.",
            new=new_email,
            old=user.email,
        ),
        "success",
    )
    return redirect(url_for("account.security"), 303)


# --- sessions --------------------------------------------------------------------------------


def _session_rows() -> list[SessionRow]:
    current = _current_session()
    return [_session_row(r, current.id if current else None) for r in sessions.list_for(current_user.id)]


@bp.route("/sessions")
def sessions_page() -> Any:
    """Where the account is signed in, and the recently ended sessions."""
    return render("account/sessions.html", active="sessions", rows=_session_rows(), form=EmptyForm())


@bp.route("/sessions/<int:session_id>/close", methods=["POST"])
def close_session(session_id: int) -> Any:
    """End one live session of the user; ending this browser's own session signs out."""
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    user = _user()
    current = _current_session()
    if current is not None and current.id == session_id:
        audit.record("logout", actor_id=user.id, target_type="user", target_id=user.id)
        sessions.end_current("logout")
        flash(_("You signed out. See you soon!"), "info")
        return redirect_to(url_for("auth.login"))
    if not sessions.revoke_one(user.id, session_id):
        abort(404)
    audit.record("session.closed", actor_id=user.id, target_type="session", target_id=session_id)
    message = _("The session was closed. Whoever used it will have to sign in again.")
    if is_htmx():
        return render(
            "account/sessions.html",
            block="session_list",
            active="sessions",
            rows=_session_rows(),
            form=EmptyForm(),
            notice=message,
        )
    flash(message, "success")
    return redirect(url_for("account.sessions_page"), 303)


# --- notifications ---------------------------------------------------------------------------


@bp.route("/notifications", methods=["GET", "POST"])
def notifications() -> Any:
    """Email on/off per notification kind; plain POST + redirect, or an HTMX swap of the form."""
    user = _user()
    form = notifications_form(accounts.preferences(user), accounts.NOTIFICATION_KINDS)
    context: dict[str, Any] = {"active": "notifications", "form": form, "kinds": accounts.NOTIFICATION_KINDS}
    if request.method == "POST":
        if not form.validate_on_submit():
            return render("account/notifications.html", block="prefs_form", status=422, **context)
        enabled = {kind for kind, _label in accounts.NOTIFICATION_KINDS if form[kind].data}
        accounts.set_preferences(user, enabled)
        if is_htmx():
            return render("account/notifications.html", block="prefs_form", saved=True, **context)
        flash(_("Your notification preferences were saved."), "success")
        return redirect(url_for("account.notifications"), 303)
    return render("account/notifications.html", **context)


# --- your data: export and deletion ---------------------------------------------------------


def _privacy_page(delete_form: DeleteAccountForm | None = None, status: int = 200) -> Any:
    user = _user()
    return (
        render_template(
            "account/privacy.html",
            active="privacy",
            export_form=EmptyForm(),
            delete_form=delete_form or DeleteAccountForm(formdata=None),
            recent=sessions.recently_authenticated(_current_session()),
            reauth_providers=_reauth_providers(user),
            reauth_next=url_for("account.privacy"),
        ),
        status,
    )


@bp.route("/privacy")
def privacy() -> Any:
    """Download everything stored about me; delete my account."""
    return _privacy_page()


@bp.route("/export", methods=["POST"])
def export() -> Response:
    """Everything stored about the user, as a JSON download (seed 003)."""
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    data = accounts.export_data(_user())
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    day = to_user_timezone(utcnow()).date().isoformat()
    name = f"{current_app.config['PORTAL_NAME'].lower()}-mis-datos-{day}.json"
    response = make_response(body, 200)
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/delete", methods=["POST"])
def delete() -> Any:
    """Delete the account after re-authentication and an explicit confirmation (seed 003)."""
    user = _user()
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return _privacy_page(form, status=422)
    if user.has_password and not form.current_password.data:
        form.current_password.errors = [*form.current_password.errors, _("Enter your current password.")]
        return _privacy_page(form, status=422)
    outcome = accounts.reauthenticate(user, form.current_password.data, _current_session())
    if not outcome.ok:
        status = _reauth_error(form.current_password if user.has_password else None, outcome)
        return _privacy_page(form, status=status)
    accounts.delete_account(user)
    sessions.end_current("deleted")
    flash(
        _(
            "Your account was deleted. Thank you for using %(portal)s; you can register again "
            "with the same email whenever you want.",
            portal=current_app.config["PORTAL_NAME"],
        ),
        "info",
    )
    return redirect(url_for("auth.login"), 303)


# Sign-in methods live in their own module; importing it registers its routes on ``bp``.
from aggregator.account import connections  # noqa: E402,F401
