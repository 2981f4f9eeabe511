"""Flask-Login request loader backed by the server-side session records."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, request, url_for
from flask_babel import lazy_gettext as _l

from aggregator.htmx import redirect_to
from aggregator.models import User
from aggregator.netutil import is_safe_next
from aggregator.services import sessions

ENDED_MESSAGES: dict[str, Any] = {
    "superseded": _l("Your session was closed because you signed in on another device or browser."),
    "closed": _l("This session was closed from “My account”."),
    "password_changed": _l("Your password was changed, so your sessions were closed. Sign in again."),
    "idle": _l("Your session expired after a period of inactivity. Sign in again."),
    "expired": _l("Your session expired. Sign in again."),
    "deleted": _l("The account was deleted."),
    "email_changed": _l("Your email changed, so your sessions were closed. Sign in again."),
}


def load_user_from_session(_request: object) -> User | None:
    """Resolve the cookie's session; tell the user why a session they had has ended."""
    if request.endpoint == "static":
        return None
    resolved = sessions.resolve()
    if resolved.record is None:
        if resolved.ended_reason:
            sessions.forget_cookie()
            message = ENDED_MESSAGES.get(resolved.ended_reason)
            if message and request.method == "GET":
                flash(str(message), "warning")
        return None
    g.user_session = resolved.record
    return resolved.record.user


def unauthorized() -> Response:
    """Send an anonymous visitor to the sign-in page, back here afterwards (a full page for htmx)."""
    flash(str(_l("Sign in to continue.")), "info")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect_to(url_for("auth.login", next=target) if is_safe_next(target) else url_for("auth.login"), 302)
