"""Sign-up, email verification, sign-in, sign-out and password reset."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aggregator import ratelimit
from aggregator.auth.forms import EmptyForm, ForgotForm, LoginForm, RegisterForm, ResetForm
from aggregator.extensions import db, limiter
from aggregator.htmx import render
from aggregator.i18n import select_locale
from aggregator.models import User
from aggregator.netutil import is_safe_next
from aggregator.services import accounts, audit, sessions, tokens
from aggregator.services.emails import normalize_email, try_normalize_email
from aggregator.services.passwords import check_password

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _cfg(key: str) -> str:
    return str(current_app.config[key])


def after_sign_in_target(user: User, next_url: str | None = None) -> str:
    """Where a freshly signed-in user goes: a safe ``next``, else completing the profile, else home."""
    if is_safe_next(next_url):
        return str(next_url)
    if user.needs_profile:
        return url_for("account.profile", welcome=1)
    return url_for("portal.dashboard")


# --- registration ---------------------------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: _cfg("REGISTER_IP_LIMIT"), methods=["POST"])
def register() -> Any:
    """Step 1–5 of seed 001: email, password, terms; then 'check your inbox'."""
    if current_user.is_authenticated:
        return redirect(url_for("portal.dashboard"))
    form = RegisterForm()
    if form.validate_on_submit():
        email = normalize_email(form.email.data or "")
        user = accounts.register(email, form.password.data or "", str(select_locale()))
        # The same page (and a session of the same shape) whether or not the email already had an account.
        accounts.remember_registration(user)
        return render_template("auth/register_sent.html")
    status = 422 if request.method == "POST" else 200
    rules = check_password(form.password.data or "", form.email.data or "") if request.method == "POST" else None
    return render_template("auth/register.html", form=form, rules=rules), status


@bp.route("/password-check", methods=["POST"])
def password_check() -> Response:
    """HTMX: tick each password rule as the user types (the same code that validates the form)."""
    password = request.form.get("password", "")
    email = request.form.get("email", "") or (current_user.email if current_user.is_authenticated else "")
    rules = check_password(password, email)
    return render("auth/_password_rules.html", rules=rules, touched=bool(password))


# --- email verification ---------------------------------------------------------------------


@bp.route("/verify/<token>", methods=["GET"])
def verify(token: str) -> Any:
    """Show the confirmation page; the browser posts it at once (GET never changes state)."""
    if tokens.peek(token, accounts.VERIFY) is None:
        return render_template("auth/link_invalid.html", kind="verify"), 410
    return render_template(
        "auth/confirm_link.html",
        form=EmptyForm(),
        action=url_for("auth.verify_confirm", token=token),
        title=_("Confirming your email…"),
    )


@bp.route("/verify/<token>", methods=["POST"])
def verify_confirm(token: str) -> Any:
    """Verify the email and sign the user in (seed 001 step 5).

    Opened away from the browser that set the account up, the link proves the mailbox but not the
    password chosen before: the person who opened it chooses the password (DESIGN §7).
    """
    form = EmptyForm()
    if not form.validate_on_submit():
        return render_template("auth/link_invalid.html", kind="verify"), 400
    target = accounts.verification_target(token)
    if target is None:
        return render_template("auth/link_invalid.html", kind="verify"), 410
    if target.verified_at is None and not accounts.set_up_in_this_browser(target):
        return _verify_password_page(token, target, ResetForm(account_email=target.email, formdata=None))
    return _verified(accounts.verify_email(token))


@bp.route("/verify/<token>/password", methods=["POST"])
def verify_with_password(token: str) -> Any:
    """Finish a verification opened in another browser: the mailbox's owner sets the password."""
    target = accounts.verification_target(token)
    if target is None:
        return render_template("auth/link_invalid.html", kind="verify"), 410
    form = ResetForm(account_email=target.email)
    if not form.validate_on_submit():
        return _verify_password_page(token, target, form, status=422)
    return _verified(accounts.verify_email(token, new_password=form.password.data or ""))


def _verify_password_page(token: str, user: User, form: ResetForm, status: int = 200) -> Any:
    rules = check_password(form.password.data or "", user.email) if status != 200 else None
    return render_template(
        "auth/verify_password.html", form=form, token=token, rules=rules, account_email=user.email
    ), status


def _verified(user: User | None) -> Any:
    if user is None:
        return render_template("auth/link_invalid.html", kind="verify"), 410
    sessions.start(user, "email_link")
    audit.record("login.success", actor_id=user.id, target_type="user", target_id=user.id, method="email_link")
    flash(_("Your email is confirmed. Welcome to %(portal)s!", portal=_cfg("PORTAL_NAME")), "success")
    return redirect(after_sign_in_target(user))


@bp.route("/resend", methods=["POST"])
@login_required
def resend() -> Any:
    """Send the verification email again, at most once every 3 minutes."""
    form = EmptyForm()
    if not form.validate_on_submit():
        return redirect(url_for("portal.dashboard"))
    if current_user.is_verified:
        flash(_("Your email is already confirmed."), "info")
        return redirect(url_for("portal.dashboard"))
    limit = _cfg("RESEND_LIMIT")
    key = ratelimit.key_for("resend", str(current_user.id))
    if not ratelimit.hit(limit, key):
        wait = max(1, (ratelimit.reset_after(limit, key) + 59) // 60)
        flash(_("We sent you an email a moment ago. You can ask again in %(n)s minute(s).", n=wait), "warning")
        return redirect(
            request.referrer if is_safe_next(_local(request.referrer)) else url_for("portal.dashboard")
        ), 303
    accounts.send_verification(current_user)
    audit.record("email.verification_resent", actor_id=current_user.id, target_type="user", target_id=current_user.id)
    flash(_("We sent a new confirmation link to %(email)s.", email=current_user.email), "success")
    return redirect(url_for("portal.dashboard"))


def _local(url: str | None) -> str | None:
    """The path part of a same-host referrer (for going back after a POST)."""
    if not url:
        return None
    host = request.host_url.rstrip("/")
    return url[len(host) :] if url.startswith(host + "/") else None


# --- sign-in / sign-out ---------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: _cfg("LOGIN_IP_LIMIT"), methods=["POST"])
def login() -> Any:
    """Email + password; one generic error; per-account lock after repeated failures."""
    next_url = request.values.get("next")
    if not is_safe_next(next_url):
        next_url = None
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_url or url_for("portal.dashboard"))
    form = LoginForm()
    if request.method == "POST" and form.validate_on_submit():
        raw = form.email.data or ""
        account_key = ratelimit.key_for("login", try_normalize_email(raw) or raw.strip().lower())
        limit = _cfg("LOGIN_ACCOUNT_LIMIT")
        # Reserve the attempt before the hash is checked: N simultaneous guesses never check more
        # than the limit allows (DESIGN §7). A success gives the account a clean slate.
        if not ratelimit.reserve(limit, account_key):
            audit.record("login.locked", outcome="refused")
            wait = max(1, (ratelimit.reset_after(limit, account_key) + 59) // 60)
            return render_template("auth/login.html", form=form, next_url=next_url, locked_minutes=wait), 429
        user = accounts.authenticate(raw, form.password.data or "")
        if user is None:
            audit.record("login.failure", outcome="failure")
            return render_template("auth/login.html", form=form, next_url=next_url, failed=True), 401
        ratelimit.clear(limit, account_key)
        sessions.start(user, "password")
        audit.record("login.success", actor_id=user.id, target_type="user", target_id=user.id, method="password")
        return redirect(after_sign_in_target(user, next_url))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form, next_url=next_url), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End the session on the server; the old cookie is worthless afterwards."""
    form = EmptyForm()
    if not form.validate_on_submit():
        return redirect(url_for("portal.dashboard"))
    if current_user.is_authenticated:
        audit.record("logout", actor_id=current_user.id, target_type="user", target_id=current_user.id)
    sessions.end_current("logout")
    flash(_("You signed out. See you soon!"), "info")
    return redirect(url_for("auth.login"))


# --- password reset -------------------------------------------------------------------------


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: _cfg("RESET_IP_LIMIT"), methods=["POST"])
def forgot() -> Any:
    """'Olvidé mi contraseña' (seed 000): always the same answer."""
    form = ForgotForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data or "")
        return render_template("auth/forgot_sent.html")
    status = 422 if request.method == "POST" else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> Any:
    """Choose a new password from the emailed link; every session ends."""
    record = tokens.peek(token, accounts.RESET)
    user = db.session.get(User, record.user_id) if record else None
    if record is None or user is None:
        return render_template("auth/link_invalid.html", kind="reset"), 410
    form = ResetForm(account_email=user.email)
    if form.validate_on_submit():
        done = accounts.reset_password(token, form.password.data or "")
        if done is None:
            return render_template("auth/link_invalid.html", kind="reset"), 410
        # The lock on failed sign-ins must not outlive the cure.
        ratelimit.clear(_cfg("LOGIN_ACCOUNT_LIMIT"), ratelimit.key_for("login", done.email))
        sessions.end_current("password_changed")
        flash(_("Your password was changed. Sign in with the new one."), "success")
        return redirect(url_for("auth.login"))
    status = 422 if request.method == "POST" else 200
    rules = check_password(form.password.data or "", user.email) if request.method == "POST" else None
    return render_template("auth/reset.html", form=form, token=token, rules=rules, account_email=user.email), status


# --- email change confirmation ---------------------------------------------------------------


@bp.route("/confirm-email/<token>", methods=["GET"])
def confirm_email(token: str) -> Any:
    """Show the confirmation page of a new address; the browser posts it at once."""
    if tokens.peek(token, accounts.EMAIL_CHANGE) is None:
        return render_template("auth/link_invalid.html", kind="email_change"), 410
    return render_template(
        "auth/confirm_link.html",
        form=EmptyForm(),
        action=url_for("auth.confirm_email_post", token=token),
        title=_("Confirming your new email…"),
    )


@bp.route("/confirm-email/<token>", methods=["POST"])
def confirm_email_post(token: str) -> Any:
    """Apply the email change; the user signs in again with the new address."""
    form = EmptyForm()
    if not form.validate_on_submit():
        return render_template("auth/link_invalid.html", kind="email_change"), 400
    here = g.get("user_session") if current_user.is_authenticated else None
    user, error = accounts.confirm_email_change(token, keep_session_id=here.id if here else None)
    if user is None:
        return render_template("auth/link_invalid.html", kind="email_change", message=error), 410
    flash(_("Your email is now %(email)s.", email=user.email), "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for("account.index"))
    return redirect(url_for("auth.login"))
