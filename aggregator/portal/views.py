"""The home page (dashboard) and the public pages: help, legal texts, language switch, health."""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace
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
from markupsafe import Markup
from sqlalchemy import text

from aggregator import fragments
from aggregator.auth.forms import EmptyForm
from aggregator.extensions import db
from aggregator.htmx import is_htmx, respond, trigger_name
from aggregator.i18n import LANG_COOKIE, current_lang
from aggregator.netutil import is_safe_next
from aggregator.policies import presenters
from aggregator.services import portfolio, sync

bp = Blueprint("portal", __name__)
pages = Blueprint("pages", __name__)

LEGAL_DOCUMENTS = {"terms": "TERMS_VERSION", "privacy": "PRIVACY_VERSION"}


FILTER_TRIGGERS = frozenset({"filters", "q"})  # names of the elements whose requests change the URL
# Seconds between two polls of a running sync: quick at first (a sync takes a few seconds), then
# slower, so that a long sync of many accounts does not cost a request every second.
POLL_DELAYS = (1, 1, 1, 2, 2, 3, 5, 8, 10)


def _profiles_of(accounts: list[Any]) -> list[Any]:
    """The distinct profiles of these account rows (id, name), by name."""
    seen: dict[int, Any] = {}
    for account in accounts:
        seen.setdefault(account.profile_id, SimpleNamespace(id=account.profile_id, name=account.profile_name))
    return sorted(seen.values(), key=lambda p: p.name.lower())


def _insurers_of(accounts: list[Any]) -> list[Any]:
    """The distinct insurers of these account rows (slug, name), by name."""
    seen: dict[str, Any] = {}
    for account in accounts:
        seen.setdefault(account.insurer_slug, SimpleNamespace(slug=account.insurer_slug, name=account.insurer_name))
    return sorted(seen.values(), key=lambda i: i.name.lower())


@bp.route("/")
@login_required
def dashboard() -> Any:
    """'Mis seguros': counts per line and the first policies of each, with filters, health and "ver más"."""
    if not current_user.is_verified:
        return render_template("portal/dashboard.html", verified=False)
    filters = portfolio.Filters.from_args(request.args)
    # A keyset position only makes sense within one line: "ver más" always names its line.
    after = portfolio.PolicyCursor.parse(request.args.get("after")) if filters.line else None
    accounts = portfolio.account_rows(current_user.id)
    presenters.note_currencies(accounts)  # amounts show their currency code when the user holds several
    by_id = {a.id: a for a in accounts}
    today = date.today()
    window = today + portfolio.RENEWAL_WINDOW
    scope = portfolio.scope_of(current_user.id, accounts, filters)
    many_profiles = len({a.profile_id for a in accounts}) > 1
    if after is not None and filters.line and is_htmx():
        # "Ver más": the next cards of one line, and the link to the ones after them.
        group = portfolio.policy_page(scope, filters, filters.line, after, today)
        group.rows = presenters.policy_cards(group.rows, by_id, many_profiles, today, window)
        response = make_response(render_template("portal/_cards.html", g=group, filters=filters, page_start=True))
        response.vary.add("HX-Request")
        return response
    health = portfolio.health_of_rows(accounts)
    profiles = _profiles_of(accounts)
    insurers = _insurers_of(accounts)
    # The cards and "Requiere atención" cost most of the page: kept, rendered, until a sync changes the
    # data under them (aggregator/fragments.py names what the key must hold).
    version = ("dashboard", current_user.id, portfolio.data_version(accounts), today, current_lang())

    def render_results() -> str:
        counts = portfolio.line_counts(scope, filters, today) if accounts else {}
        if filters.line:
            groups = []
            if counts:
                groups = [portfolio.policy_page(scope, filters, filters.line, after, today, counts[filters.line])]
        else:
            groups = portfolio.first_cards(scope, filters, counts, today)
        # Rows become ready-to-show cards, formatted in Python, every group's at once (texts prepared once).
        cards = iter(presenters.policy_cards([r for g in groups for r in g.rows], by_id, many_profiles, today, window))
        for group in groups:
            group.rows = [next(cards) for _row in group.rows]
        return render_template(
            "portal/_results.html",
            filters=filters,
            after=after,
            health=health,
            groups=groups,
            total=sum(counts.values()),
            chips=presenters.filter_chips(filters, profiles, insurers),
        )

    results = fragments.cached((*version, "results", tuple(sorted(filters.as_args().items())), after), render_results)
    if is_htmx():
        response = make_response(results)
        response.vary.add("HX-Request")
        if trigger_name() in FILTER_TRIGGERS:
            # The address bar shows the filters in their clean form (no empty fields), so it can be shared.
            args: dict[str, Any] = dict(filters.as_args())
            response.headers["HX-Push-Url"] = url_for("portal.dashboard", **args)
        return response

    def render_aside() -> str:
        found = portfolio.attention(portfolio.scope_of(current_user.id, accounts), today)
        attention = presenters.attention_items(found, by_id, today)
        context = {
            "attention": attention,
            "attention_total": presenters.attention_total(attention),
            "payments": presenters.upcoming_payments(found, by_id, today),
            "health": health,
        }
        return json.dumps(
            [render_template("portal/_attention.html", **context), render_template("portal/_payments.html", **context)]
        )

    attention_html, payments_html = (Markup(h) for h in json.loads(fragments.cached((*version, "aside"), render_aside)))  # noqa: S704
    response = make_response(
        render_template(
            "portal/dashboard.html",
            verified=True,
            filters=filters,
            accounts=accounts,
            health=health,
            profiles=profiles,
            insurers=insurers,
            lines=portfolio.LINES,
            status_filters=portfolio.STATUS_FILTERS,
            results_html=results,
            attention_html=attention_html,
            payments_html=payments_html,
            poll=_poll(0),
        )
    )
    response.vary.add("HX-Request")
    return response


def _poll(polls: int) -> dict[str, Any]:
    """The next poll of a running sync: its URL (which counts the polls) and its delay, growing."""
    delay = POLL_DELAYS[min(polls, len(POLL_DELAYS) - 1)]
    args: dict[str, Any] = {"was": "syncing"}
    if polls:
        args["polls"] = polls
    return {"url": url_for("portal.sync_status", **args), "delay": delay}


@bp.route("/refresh", methods=["POST"])
@login_required
def refresh() -> Any:
    """Queue a sync of every insurer account of the user's profiles; answer with the progress panel.

    The same few statements for 1 or 1,000 accounts: the syncs are only queued (one bulk UPDATE, one
    INSERT of the jobs) and, with the Celery backend, leave in one message after the commit; the workers run them.
    """
    queued = sync.refresh_for_user(current_user.id)
    if not is_htmx():
        if queued:
            flash(gettext("We are updating your policies. This takes a few seconds."), "info")
        else:
            flash(gettext("Your policies are already being updated."), "info")
        return redirect(url_for("portal.dashboard"), 303)
    return _health_fragment(was_syncing=True)


@bp.route("/sync/status")
@login_required
def sync_status() -> Any:
    """The health panel; polled while a sync runs (less and less often), then tells the list to reload."""
    if not is_htmx():
        return redirect(url_for("portal.dashboard"), 303)
    polls = request.args.get("polls", "")
    done = int(polls) if polls.isdigit() and len(polls) < 4 else 0  # polls made before this one
    return _health_fragment(was_syncing=request.args.get("was") == "syncing", next_poll=done + 1)


def _health_fragment(*, was_syncing: bool, next_poll: int = 0) -> Response:
    """The connections panel, counted by status in SQL: the same size for one account or a thousand."""
    health = portfolio.health(current_user.id)
    body = render_template("portal/_health.html", health=health, poll=_poll(next_poll))
    done = was_syncing and not health.syncing
    if done and health.total:  # the new data may change what needs attention: swapped out of band with the panel
        rows = portfolio.account_rows(current_user.id)
        presenters.note_currencies(rows)
        by_id = {a.id: a for a in rows}
        today = date.today()
        found = portfolio.attention(portfolio.scope_of(current_user.id, rows), today)
        items = presenters.attention_items(found, by_id, today)
        context = {
            "health": health,
            "oob": True,
            "attention": items,
            "attention_total": presenters.attention_total(items),
            "payments": presenters.upcoming_payments(found, by_id, today),
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
