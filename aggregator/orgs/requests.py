"""An organization asks a client for access by email; the client approves or declines in the portal.

- ``/o/<slug>/requests`` (owner, admin, agent; a viewer gets 403): the form (client's email, scope,
  optional message) and the organization's requests with their status; ``POST .../<id>/withdraw``.
- ``/orgs/requests/<token>``: the client, signed in with the verified email the request went to,
  sees who asks and for what, picks which of their profiles to share, and approves or declines.
  The token is the emailed one (signed nonce, single use, 14 days) or the one the profiles page
  builds for the signed-in addressee.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_pgettext
from flask_login import current_user
from sqlalchemy import select

from aggregator.auth.forms import EmptyForm
from aggregator.extensions import db
from aggregator.htmx import redirect_to, render
from aggregator.models import AccessRequest, User
from aggregator.orgs import bp, current_ws, labels, ws_bp
from aggregator.profiles.sharing_forms import AccessRequestForm, AnswerRequestForm, profile_choices
from aggregator.services import access, consent, linking, orgs
from aggregator.services.emails import normalize_email

STATUS_LABELS: dict[str, Any] = {
    "pending": lazy_pgettext("access request", "pending"),
    "approved": lazy_pgettext("access request", "approved"),
    "declined": lazy_pgettext("access request", "declined"),
    "withdrawn": lazy_pgettext("access request", "withdrawn"),
    "expired": lazy_pgettext("access request", "expired"),
}
STATUS_STYLES = {
    "pending": "text-bg-warning",
    "approved": "text-bg-success",
    "declined": "text-bg-secondary",
    "withdrawn": "text-bg-light border",
    "expired": "text-bg-light border",
}
PAGE = 30


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


# --- the organization's side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRow:
    """One of the organization's requests, in words."""

    id: int
    email: str
    scope: str
    status: str
    status_label: str
    style: str
    asked_by: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    message: str | None


def _rows(ws: access.Workspace, before: int | None) -> tuple[list[RequestRow], int | None]:
    found = consent.requests_of(ws, before=before, limit=PAGE + 1)
    more = len(found) > PAGE
    found = found[:PAGE]
    askers = {
        u.id: u
        for u in db.session.scalars(
            select(User).where(User.id.in_({r.requested_by_user_id for r in found if r.requested_by_user_id}))
        )
    }
    rows = []
    for req in found:
        status = consent.request_status(req)
        asker = askers.get(req.requested_by_user_id or 0)
        rows.append(
            RequestRow(
                id=req.id,
                email=req.email,
                scope=str(labels.SCOPE_LABELS.get(req.scope, req.scope)),
                status=status,
                status_label=str(STATUS_LABELS[status]),
                style=STATUS_STYLES[status],
                asked_by=(asker.full_name or asker.email) if asker else "—",
                created_at=req.created_at,
                expires_at=req.expires_at,
                decided_at=req.decided_at,
                message=req.message,
            )
        )
    return rows, (found[-1].id if more and found else None)


def _before() -> int | None:
    raw = request.args.get("before", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _requests_page(form: AccessRequestForm, status: int = 200) -> Response:
    ws = current_ws()
    rows, next_before = _rows(ws, _before())
    return render(
        "orgs/requests.html",
        status=status,
        ws=ws,
        form=form,
        rows=rows,
        next_before=next_before,
        paged=_before() is not None,
        scope_hints=labels.SCOPE_HINTS,
        withdraw_form=EmptyForm(formdata=None),
        days=consent.REQUEST_DAYS,
    )


@ws_bp.route("/requests", methods=["GET", "POST"])
def requests() -> Response:
    """Ask a client for access by email; the organization's requests and their status."""
    ws = current_ws()
    access.require_acting(ws)
    if request.method == "GET":
        return _requests_page(AccessRequestForm(formdata=None))
    form = AccessRequestForm()
    if not form.validate_on_submit():
        return _requests_page(form, 422)
    email = normalize_email(form.email.data or "")
    problem = consent.ask_for_access(ws, email, form.scope.data or "read", form.message.data)
    if problem == "duplicate":
        form.email.errors = [
            _("A request to this email is still waiting for an answer. Withdraw it to send a new one.")
            if ws.sees_all_clients
            else _(
                "A request to this email is still waiting for an answer. If it is not in your list, a colleague "
                "sent it: an administrator can withdraw it."
            )
        ]
        return _requests_page(form, 422)
    if problem == "limit":
        form.email.errors = [_("Your organization sent many requests today. Try again tomorrow.")]
        return _requests_page(form, 429)
    # The same answer whether or not the address has an account (DESIGN §7).
    flash(
        _("We sent the request to %(email)s. You will get an email when the client answers.", email=email),
        "success",
    )
    return redirect_to(url_for("workspace.requests"))


@ws_bp.route("/requests/<int:request_id>/withdraw", methods=["POST"])
def withdraw(request_id: int) -> Response:
    """Take back a request that is still waiting; its link stops working."""
    ws = current_ws()
    access.require_acting(ws)
    req = access.org_request_or_404(ws, request_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("Your form expired. Please send it again."), "warning")
    elif consent.withdraw_request(req, ws.user_id):
        flash(_("The request to %(email)s was withdrawn.", email=req.email), "success")
    else:
        flash(_("That request was no longer waiting for an answer."), "info")
    return redirect_to(url_for("workspace.requests"))


# --- the client's side ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldChoice:
    """A profile the user may share: they hold it and their access covers these insurers."""

    id: int
    name: str
    masked_id: str
    insurers: list[str]


def _held(user: User) -> list[HeldChoice]:
    return [
        HeldChoice(h.profile.id, h.profile.name, h.profile.masked_id, [c.account.insurer.name for c in h.accounts])
        for h in linking.profiles_of(user.id)
        if h.accounts
    ]


def _answer_page(
    req: AccessRequest | None, state: str, *, form: AnswerRequestForm | None = None, status: int = 200
) -> Response:
    held = _held(_user()) if state == "pending" else []
    if form is None:
        form = AnswerRequestForm(formdata=None)
    form.profile_id.choices = profile_choices([(h.id, h.name) for h in held])
    org = req.organization if req is not None else None
    return render(
        "orgs/request_answer.html",
        status=status,
        req=req,
        org=org,
        org_kind=labels.org_kind_label(org.kind) if org else None,
        scope=str(labels.SCOPE_LABELS.get(req.scope, req.scope)) if req else None,
        scope_hint=str(labels.SCOPE_HINTS.get(req.scope, "")) if req else None,
        state=state,
        held=held,
        form=form,
        masked_email=orgs.mask_email(req.email) if req is not None else None,
    )


DEAD = {"approved": 410, "declined": 410, "withdrawn": 410, "expired": 410}


@bp.route("/requests/<token>", methods=["GET", "POST"])
def request_answer(token: str) -> Response:
    """The client answers an organization's request: approve (choosing a profile) or decline."""
    user = _user()
    req = consent.request_from_token(token, user)
    if req is None:
        return _answer_page(None, "invalid", status=404)
    if not access.may_answer_request(user, req):
        return _answer_page(req, "wrong_email", status=403)
    state = consent.request_status(req)
    if state != "pending":
        return _answer_page(req, state, status=DEAD[state])
    if request.method == "GET":
        return _answer_page(req, "pending")
    form = AnswerRequestForm()
    held = _held(user)
    form.profile_id.choices = profile_choices([(h.id, h.name) for h in held])
    if not form.validate_on_submit():
        return _answer_page(req, "pending", form=form, status=422)
    approve = request.form.get("decision") == "approve"
    profile_id = form.chosen_profile({h.id for h in held}) if approve else None
    if approve and profile_id is None:
        return _answer_page(req, "pending", form=form, status=422)
    outcome = consent.answer_request(
        req, user, approve=approve, profile_id=profile_id, claim_details=bool(form.claim_details.data)
    )
    if outcome == "gone":
        return _answer_page(req, consent.request_status(req), status=410)
    if outcome == "nothing":
        form.profile_id.errors = [
            _("Your access to this profile covers no insurer yet, so there is nothing you can share.")
        ]
        return _answer_page(req, "pending", form=form, status=422)
    if outcome == "approved" and profile_id is not None:
        flash(
            _(
                "%(org)s can now see this profile. You can revoke its access here at any time.",
                org=req.organization.name,
            ),
            "success",
        )
        return redirect_to(url_for("profiles.access_page", profile_id=profile_id))
    flash(_("You declined the request of %(org)s. It gets no access.", org=req.organization.name), "info")
    return redirect_to(url_for("profiles.index"))
