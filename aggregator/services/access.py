"""Who may see or do what. Deny by default; the only module that decides access (DESIGN §2)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import render_template, request
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])

# Before the email is verified only these parts of the portal are open (seed 003).
OPEN_TO_UNVERIFIED_BLUEPRINTS = frozenset({"auth", "oauth", "account", "pages"})
OPEN_TO_UNVERIFIED_ENDPOINTS = frozenset({"static", "portal.dashboard"})


def is_verified_user() -> bool:
    """A signed-in user whose email is verified."""
    return bool(current_user.is_authenticated and current_user.is_verified)


def guard_unverified() -> Any:
    """Before-request hook: a signed-in, unverified user only reaches account and help pages."""
    if not current_user.is_authenticated or current_user.is_verified:
        return None
    endpoint = request.endpoint or ""
    blueprint = endpoint.split(".", 1)[0] if "." in endpoint else ""
    if blueprint in OPEN_TO_UNVERIFIED_BLUEPRINTS or endpoint in OPEN_TO_UNVERIFIED_ENDPOINTS:
        return None
    if request.endpoint is None:  # 404s stay 404s
        return None
    return render_template("portal/verify_first.html"), 403


def verified_required(view: F) -> F:
    """Refuse a view to unverified users with the 'verify your email' page (seed 003)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.is_authenticated and not current_user.is_verified:
            return render_template("portal/verify_first.html"), 403
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
