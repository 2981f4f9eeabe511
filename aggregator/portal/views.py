"""The home page (dashboard) and the public pages: help, legal texts, language switch, health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import text

from aggregator.auth.forms import EmptyForm
from aggregator.extensions import db
from aggregator.htmx import is_htmx, render, respond, trigger_name
from aggregator.i18n import LANG_COOKIE, datetime_short
from aggregator.models import Insurer, InsurerAccount
from aggregator.netutil import is_safe_next
from aggregator.policies import presenters
from aggregator.services import portfolio, sync

bp = Blueprint("portal", __name__)
pages = Blueprint("pages", __name__)

LEGAL_DOCUMENTS = {"terms": "TERMS_VERSION", "privacy": "PRIVACY_VERSION"}


PROBLEM_STATUSES = frozenset({"stale", "error", "needs_attention"})
FILTER_TRIGGERS = frozenset({"filters", "q"})  # names of the elements whose requests change the URL


@dataclass
class InsurerHealth:
    """One insurer's connections (one per linked profile) for the health panel."""

    insurer: Insurer
    accounts: list[InsurerAccount] = field(default_factory=list)


@dataclass
class Health:
    """The connection health of all the user's insurer accounts."""

    insurers: list[InsurerHealth]
    syncing: bool
    problems: list[InsurerAccount]
    by_account: dict[int, InsurerAccount]
    done: int
    ages: dict[int, str]  # the data's age of the accounts in trouble, as their policy cards show it
    oldest: str  # the age of the oldest data, for the one-line summary when every connection is fine


def health_of(accounts: list[InsurerAccount]) -> Health:
    """Group accounts per insurer and note which are syncing or in trouble."""
    grouped: dict[int, InsurerHealth] = {}
    for account in accounts:
        grouped.setdefault(account.insurer_id, InsurerHealth(account.insurer)).accounts.append(account)
    statuses = [a.status for a in accounts]
    problems = [a for a in accounts if a.status in PROBLEM_STATUSES]
    return Health(
        insurers=sorted(grouped.values(), key=lambda h: h.insurer.name.lower()),
        syncing="syncing" in statuses,
        problems=problems,
        by_account={a.id: a for a in accounts},
        done=sum(1 for s in statuses if s != "syncing"),
        ages={a.id: datetime_short(a.last_success_at) for a in problems},
        oldest=datetime_short(min((a.last_success_at for a in accounts if a.last_success_at), default=None)),
    )


def _profiles_of(accounts: list[InsurerAccount]) -> list[Any]:
    seen: dict[int, Any] = {}
    for account in accounts:
        seen.setdefault(account.profile_id, account.profile)
    return sorted(seen.values(), key=lambda p: p.name.lower())


@bp.route("/")
@login_required
def dashboard() -> Any:
    """'Mis seguros': every policy of every linked profile, grouped by line, with filters and health."""
    if not current_user.is_verified:
        return render_template("portal/dashboard.html", verified=False)
    filters = portfolio.Filters.from_args(request.args)
    accounts = portfolio.user_accounts(current_user.id)
    presenters.note_currencies(accounts)  # amounts show their currency code when the user holds several
    rows = portfolio.dashboard_rows(current_user.id, filters, accounts) if accounts else []
    health = health_of(accounts)
    today = date.today()
    attention: list[presenters.AttentionItem] = []
    payments: list[presenters.Payment] = []
    if accounts and not is_htmx():  # the strip and the payments sit outside the results an htmx request swaps
        found = portfolio.attention(current_user.id, today)
        attention = presenters.attention_items(found, health.by_account, today)
        payments = presenters.upcoming_payments(found, health.by_account, today)
    insurers = sorted({a.insurer.slug: a.insurer for a in accounts}.values(), key=lambda i: i.name.lower())
    profiles = _profiles_of(accounts)
    groups = portfolio.group_by_line(rows)
    window = today + portfolio.RENEWAL_WINDOW
    many_profiles = len(profiles) > 1
    for group in groups:  # rows become ready-to-show cards, formatted in Python once
        group.rows = presenters.policy_cards(group.rows, health.by_account, health.ages, many_profiles, today, window)
    response = render(
        "portal/dashboard.html",
        block="results",
        verified=True,
        filters=filters,
        accounts=accounts,
        health=health,
        groups=groups,
        total=len(rows),
        profiles=profiles,
        insurers=insurers,
        lines=portfolio.LINES,
        status_filters=portfolio.STATUS_FILTERS,
        chips=presenters.filter_chips(filters, profiles, insurers),
        attention=attention,
        payments=payments,
        today=today,
        today_plus_window=today + portfolio.RENEWAL_WINDOW,
    )
    if is_htmx() and trigger_name() in FILTER_TRIGGERS:
        # The address bar shows the filters in their clean form (no empty fields), so it can be shared.
        args: dict[str, Any] = dict(filters.as_args())
        response.headers["HX-Push-Url"] = url_for("portal.dashboard", **args)
    return response


@bp.route("/refresh", methods=["POST"])
@login_required
def refresh() -> Any:
    """Queue a sync of every insurer account of the user's profiles; answer with the progress panel."""
    queued = sync.refresh_for_user(current_user.id)
    if not is_htmx():
        if queued:
            flash(gettext("We are updating your policies. This takes a few seconds."), "info")
        else:
            flash(gettext("Your policies are already being updated."), "info")
        return redirect(url_for("portal.dashboard"), 303)
    accounts = portfolio.user_accounts(current_user.id)
    return _health_fragment(accounts, was_syncing=True)


@bp.route("/sync/status")
@login_required
def sync_status() -> Any:
    """The health panel; polled every second while a sync runs, then tells the list to reload."""
    if not is_htmx():
        return redirect(url_for("portal.dashboard"), 303)
    accounts = portfolio.user_accounts(current_user.id)
    return _health_fragment(accounts, was_syncing=request.args.get("was") == "syncing")


def _health_fragment(accounts: list[InsurerAccount], *, was_syncing: bool) -> Response:
    health = health_of(accounts)
    body = render_template("portal/_health.html", health=health, accounts=accounts)
    done = was_syncing and not health.syncing
    if done and accounts:  # the new data may change what needs attention: swapped out of band with the panel
        presenters.note_currencies(accounts)
        today = date.today()
        found = portfolio.attention(current_user.id, today)
        context = {
            "health": health,
            "oob": True,
            "attention": presenters.attention_items(found, health.by_account, today),
            "payments": presenters.upcoming_payments(found, health.by_account, today),
        }
        body += render_template("portal/_attention.html", **context)
        body += render_template("portal/_payments.html", **context)
    response = make_response(body)
    response.vary.add("HX-Request")
    if done:
        respond(response, trigger="sync-done")
    return response


@pages.route("/help")
def help_page() -> Any:
    """Help: frequently asked questions and each insurer's phone numbers (open to everyone, seed 003)."""
    return render_template("portal/help.html", directory=presenters.phone_directory(portfolio.insurers_for_help()))


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
