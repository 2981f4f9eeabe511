"""Client profile views: the list with each insurer's health, linking, automatic linking, refresh, unlinking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from aggregator.auth.forms import EmptyForm
from aggregator.htmx import is_htmx, redirect_to, render
from aggregator.models import User
from aggregator.policies.presenters import HEALTH_CLASS, HEALTH_LABELS, health_message
from aggregator.profiles.forms import LinkForm
from aggregator.services import access, linking, sync, taxids

bp = Blueprint("profiles", __name__, url_prefix="/profiles")

KIND_LABELS: dict[str, Any] = {"person": _l("Person"), "company": _l("Company")}
COUNTRY_LABELS: dict[str, Any] = {"MX": _l("Mexico"), "AR": _l("Argentina")}


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every profile page needs a signed-in user (unverified ones are stopped by access.guard_unverified)."""


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


# --- the list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    """One insurer of a profile, as the list shows it."""

    insurer: str
    status: str
    status_label: str
    style: str
    data_as_of: datetime | None
    problem: str | None
    proved_by: str  # how this user's access to this insurer was proved
    proved_at: datetime


@dataclass(frozen=True)
class ProfileRow:
    """One linked profile, as the list shows it."""

    id: int
    name: str
    masked_id: str
    kind: str
    is_company: bool
    country: str
    accounts: list[AccountRow]
    syncing: bool


PROOF_LABELS: dict[str, Any] = {
    "tax_id": _l("its ID and a policy number"),
    "email": _l("your verified email"),
    "demo": _l("the demo"),
}


def _rows(held: list[linking.HeldProfile]) -> list[ProfileRow]:
    rows = []
    for item in held:
        profile = item.profile
        accounts = []
        for covered in item.accounts:
            account = covered.account
            status = account.status
            problem = None
            if status in ("stale", "needs_attention", "error"):
                problem = health_message(status, account.last_error, account.insurer.name, account.last_success_at)
            accounts.append(
                AccountRow(
                    insurer=account.insurer.name,
                    status=status,
                    status_label=str(HEALTH_LABELS.get(status, status)),
                    style=HEALTH_CLASS.get(status, "text-bg-secondary"),
                    data_as_of=account.last_success_at,
                    problem=problem,
                    proved_by=str(PROOF_LABELS.get(covered.granted_via, covered.granted_via)),
                    proved_at=covered.created_at,
                )
            )
        rows.append(
            ProfileRow(
                id=profile.id,
                name=profile.name,
                masked_id=profile.masked_id,
                kind=str(KIND_LABELS.get(profile.kind, profile.kind)),
                is_company=profile.kind == "company",
                country=str(COUNTRY_LABELS.get(profile.country, profile.country)),
                accounts=accounts,
                syncing=any(a.status == "syncing" for a in accounts),
            )
        )
    return rows


def _list_page(status: int = 200) -> Response:
    rows = _rows(linking.profiles_of(_user().id))
    return render(
        "profiles/index.html",
        block="profile_list",
        status=status,
        profiles=rows,
        polling=any(r.syncing for r in rows),
        form=EmptyForm(),
    )


@bp.route("", methods=["GET"])
def index() -> Response:
    """The user's client profiles, each with its insurers and the health of their data."""
    return _list_page()


@bp.route("/<int:profile_id>/refresh", methods=["POST"])
def refresh(profile_id: int) -> Response:
    """Ask every insurer of one profile for fresh data (the list shows the progress)."""
    user = _user()
    profile = access.profile_or_404(user.id, profile_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("Your form expired. Please send it again."), "warning")
        return redirect_to(url_for("profiles.index"))
    queued = sync.refresh_for_user(user.id, profile.id)
    if is_htmx():
        return _list_page()
    if queued:
        flash(_("We are updating the data of %(name)s.", name=profile.name), "info")
    else:
        flash(_("The data of %(name)s is already being updated.", name=profile.name), "info")
    return redirect_to(url_for("profiles.index"))


# --- unlinking ------------------------------------------------------------------------------------


@bp.route("/<int:profile_id>/unlink", methods=["GET"])
def unlink_confirm(profile_id: int) -> Response:
    """Ask before unlinking: what goes (your access) and what stays (the client, its data, others' access)."""
    profile = access.profile_or_404(_user().id, profile_id)
    return render("profiles/unlink.html", profile=profile, form=EmptyForm())


@bp.route("/<int:profile_id>/unlink", methods=["POST"])
def unlink(profile_id: int) -> Response:
    """Remove this user's access to the profile; the client and other users' access stay (seed 003)."""
    user = _user()
    access.profile_or_404(user.id, profile_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("Your form expired. Please send it again."), "warning")
        return redirect_to(url_for("profiles.unlink_confirm", profile_id=profile_id))
    profile = linking.unlink(user, profile_id)
    flash(
        _("%(name)s was unlinked from your account. You can link it again at any time.", name=profile.name),
        "success",
    )
    return redirect_to(url_for("profiles.index"))


# --- linking --------------------------------------------------------------------------------------


@bp.route("/link", methods=["GET", "POST"])
def link() -> Response:
    """Link a profile with its tax ID and the number of one of its active policies."""
    form = LinkForm()
    if request.method == "GET":
        return render("profiles/link.html", block="link_form", form=form, failure=None)
    if not form.validate_on_submit():
        return render("profiles/link.html", block="link_form", status=422, form=form, failure=None)
    result = linking.link_by_tax_id(
        _user(), form.id_type.data or "", form.id_number.data or "", form.policy_number.data or ""
    )
    if result.ok:
        flash(
            _("Linked: %(name)s. We are bringing in the policies…", name=result.profile_name),
            "success",
        )
        return redirect_to(url_for("portal.dashboard"))
    status = 422
    # ``generic``: the one answer for every failed proof; ``wait_minutes``: a lock is in place.
    failure: dict[str, Any] | None = None
    if result.outcome == "invalid" and result.invalid is not None:
        field = form.id_type if result.invalid.code == "type" else form.id_number
        field.errors = [*field.errors, result.invalid.message]
        if result.wait_minutes:
            failure = {"generic": False, "wait_minutes": result.wait_minutes}
    else:
        failure = {"generic": True, "wait_minutes": result.wait_minutes}
        if result.outcome == "locked" and not is_htmx():
            status = 429  # htmx swaps no 4xx but 422 (base.html): it gets the same page with 422
    return render("profiles/link.html", block="link_form", status=status, form=form, failure=failure)


@bp.route("/link/check", methods=["POST"])
def check_id() -> Response:
    """HTMX: say as the user types whether the ID number can be right (format and check digit only)."""
    id_type = request.form.get("id_type", "")
    number = request.form.get("id_number", "")
    message, valid = None, False
    if number.strip():
        try:
            taxids.validate(id_type, number)
            valid = True
        except taxids.TaxIdInvalid as exc:
            message = exc.message
    return render("profiles/_id_feedback.html", message=message, valid=valid, errors=[])


@bp.route("/auto-link", methods=["POST"])
def auto_link() -> Response:
    """Ask every insurer that supports it for the profiles it knows by the user's email."""
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("Your form expired. Please send it again."), "warning")
        return redirect_to(url_for("profiles.index"))
    linked = linking.auto_link_by_email(_user())
    if linked:
        names = ", ".join(p.name for p in linked)
        flash(
            _("Linked: %(names)s. We are bringing in the policies.", names=names),
            "success",
        )
    else:
        flash(_("We found no new client profiles with your email at your insurers."), "info")
    return redirect_to(url_for("profiles.index"))
