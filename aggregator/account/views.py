"""'Mi cuenta': profile, password, email, notifications, sessions, sign-in methods, export, deletion."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aggregator.account.forms import ProfileForm
from aggregator.services import accounts

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every page of the account needs a signed-in user."""


@bp.route("/")
def index() -> Any:
    """Overview of the account."""
    return render_template("account/index.html", active="overview")


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> Any:
    """Name, phone and address — 'completa tu perfil' after the first sign-in (seed 001 step 7)."""
    form = ProfileForm(obj=current_user)
    welcome = request.args.get("welcome") == "1" and current_user.needs_profile
    if form.validate_on_submit():
        accounts.update_profile(current_user, {f: getattr(form, f).data for f in accounts.PROFILE_FIELDS})
        flash(_("Your details were saved."), "success")
        return redirect(
            url_for("portal.dashboard") if welcome or request.form.get("welcome") else url_for("account.profile")
        )
    status = 422 if request.method == "POST" else 200
    return render_template("account/profile.html", form=form, welcome=welcome, active="profile"), status



# TEMPORARY stubs (replaced by the real pages).
@bp.route("/security")
def security() -> Any:
    return render_template("account/index.html", active="security")


@bp.route("/sessions")
def sessions_page() -> Any:
    return render_template("account/index.html", active="sessions")


@bp.route("/notifications")
def notifications() -> Any:
    return render_template("account/index.html", active="notifications")


@bp.route("/privacy")
def privacy() -> Any:
    return render_template("account/index.html", active="privacy")


# Sign-in methods live in their own module; importing it registers its routes on ``bp``.
from aggregator.account import connections  # noqa: E402,F401
