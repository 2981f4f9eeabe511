"""The home page (dashboard) and the public pages: help, legal texts, language switch, health."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import text

from aggregator.auth.forms import EmptyForm
from aggregator.extensions import db
from aggregator.i18n import LANG_COOKIE
from aggregator.netutil import is_safe_next

bp = Blueprint("portal", __name__)
pages = Blueprint("pages", __name__)

LEGAL_DOCUMENTS = {"terms": "TERMS_VERSION", "privacy": "PRIVACY_VERSION"}


@bp.route("/")
@login_required
def dashboard() -> Any:
    """'Mis seguros': filled by later issues; for now the first steps of a new account."""
    return render_template("portal/dashboard.html")


@pages.route("/help")
def help_page() -> Any:
    """Help: frequently asked questions and useful phone numbers (open to everyone, seed 003)."""
    return render_template("portal/help.html")


@pages.route("/legal/<document>")
@pages.route("/legal/<document>/<version>")
def legal(document: str, version: str | None = None) -> Any:
    """Versioned terms of service and privacy notice."""
    if document not in LEGAL_DOCUMENTS:
        abort(404)
    current = str(current_app.config[LEGAL_DOCUMENTS[document]])
    version = version or current
    if version != current:
        abort(404)
    return render_template(f"legal/{document}_{version}.html", version=version, document=document)


@pages.route("/language", methods=["POST"])
def set_language() -> Any:
    """Switch the interface language; remembered in a cookie and on the account."""
    form = EmptyForm()
    lang = request.form.get("lang", "")
    target = request.form.get("next") or url_for("portal.dashboard")
    if not is_safe_next(target):
        target = url_for("portal.dashboard")
    if not form.validate_on_submit() or lang not in current_app.config["LANGUAGES"]:
        return redirect(target)
    if current_user.is_authenticated:
        current_user.locale = lang
    response = make_response(redirect(target, 303))
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
    )
    return response


@pages.route("/healthz")
def healthz() -> Any:
    """Liveness and database reachability, as JSON."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "unreachable"
    status = "ok" if database == "ok" else "degraded"
    response = jsonify({"status": status, "database": database, "version": "0.1.0"})
    response.status_code = 200 if status == "ok" else 503
    return response
