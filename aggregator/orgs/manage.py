"""Organizations and their members: create, invite, accept, roles, remove, reassign, settings, leave.

Thin views over ``services/orgs.py`` (the rules) and ``services/access.py`` (who reaches which page:
non-members 404, members without the role 403).
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from aggregator.auth.forms import EmptyForm
from aggregator.htmx import redirect_to, render
from aggregator.i18n import select_locale
from aggregator.models import Membership, User
from aggregator.orgs import bp, current_ws, ws_bp
from aggregator.orgs.forms import InviteForm, NewOrgForm, RemoveForm, RoleForm, SettingsForm, role_choices
from aggregator.orgs.labels import ORG_KIND_HINTS, ORG_KIND_LABELS, ROLE_HINTS, org_kind_label, role_label
from aggregator.services import access, orgs, taxids

COUNTRY_NAMES: dict[str, Any] = {"MX": _l("Mexico"), "AR": _l("Argentina")}


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _expired_form() -> None:
    flash(_("Your form expired. Please send it again."), "warning")


def _member_label(membership: Membership) -> str:
    return membership.user.full_name or membership.user.email


# --- creating an organization ---------------------------------------------------------------------------


def _new_page(form: NewOrgForm, status: int = 200) -> Response:
    kinds = [(kind, label, ORG_KIND_HINTS[kind]) for kind, label in ORG_KIND_LABELS.items()]
    return render("orgs/new.html", status=status, form=form, kinds=kinds)


@bp.route("/new", methods=["GET"])
def new() -> Response:
    """The form to create an organization (any verified user; they become its owner)."""
    return _new_page(NewOrgForm())


@bp.route("", methods=["POST"])
def create() -> Response:
    """Create the organization, its owner membership and invitation code; then go to its workspace."""
    form = NewOrgForm()
    if not form.validate_on_submit():
        return _new_page(form, 422)
    try:
        org = orgs.create_org(
            _user(), form.name.data or "", form.kind.data or "", form.country.data or "", form.tax_id.data or ""
        )
    except taxids.TaxIdInvalid as exc:
        form.tax_id.errors = [exc.message]
        return _new_page(form, 422)
    except orgs.OrgError as exc:
        getattr(form, exc.field or "tax_id").errors = [exc.message]
        return _new_page(form, 422)
    flash(_("%(name)s is ready. You are its owner: invite your team from Members.", name=org.name), "success")
    return redirect_to(url_for("workspace.clients", slug=org.slug))


# --- accepting an invitation ----------------------------------------------------------------------------

DEAD_STATES = frozenset({"invalid", "expired", "used", "revoked"})


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str) -> Response:
    """An emailed invitation: sign in first; then the invited address accepts it (POST; GET changes nothing)."""
    found = orgs.invitation_for(token)
    here = url_for("orgs.invitation", token=token)
    if found.state in DEAD_STATES or found.invitation is None:
        if found.state == "used" and found.invitation is not None and _is_member_of(found.invitation.organization_id):
            return redirect_to(url_for("workspace.clients", slug=found.invitation.organization.slug))
        return render("orgs/invitation.html", status=410, state=found.state, invitation=None)
    inv = found.invitation
    context: dict[str, Any] = {
        "invitation": inv,
        "org": inv.organization,
        "inviter": orgs.inviter_name(inv),
        "role_hint": ROLE_HINTS.get(inv.role),
        "form": EmptyForm(),
    }
    if not current_user.is_authenticated:
        if request.method == "POST":
            return redirect_to(url_for("auth.login", next=here))
        return render("orgs/invitation.html", state="signed_out", next_url=here, **context)
    user = _user()
    if not orgs.is_for(inv, user):
        return render(
            "orgs/invitation.html", status=403, state="wrong_email", masked=orgs.mask_email(inv.email), **context
        )
    if _is_member_of(inv.organization_id) and request.method == "GET":
        return render("orgs/invitation.html", state="member", **context)
    if request.method == "GET":
        return render("orgs/invitation.html", state="ok", **context)
    if not context["form"].validate_on_submit():
        _expired_form()
        return redirect_to(here)
    accepted = orgs.accept_invitation(user, token)
    if accepted.slug is None:
        return render("orgs/invitation.html", status=410, state=accepted.state, invitation=None)
    if accepted.state == "ok":
        flash(_("Welcome to %(name)s.", name=inv.organization.name), "success")
    else:
        flash(_("You already belong to %(name)s.", name=inv.organization.name), "info")
    return redirect_to(url_for("workspace.clients", slug=accepted.slug))


def _is_member_of(org_id: int) -> bool:
    return current_user.is_authenticated and any(
        m.organization_id == org_id for m in getattr(current_user, "memberships", ())
    )


# --- members --------------------------------------------------------------------------------------------


def _invite_form() -> InviteForm:
    form = InviteForm()
    form.role.choices = role_choices(orgs.assignable_roles(current_ws().role))
    return form


def _members_page(invite_form: InviteForm | None = None, status: int = 200) -> Response:
    ws = current_ws()
    members = orgs.members_of(ws.org_id)
    owners = sum(1 for m in members if m.role == "owner")
    rows = []
    for m in members:
        manageable = ws.is_admin and orgs.may_manage(ws.role, m.role)
        rows.append(
            {
                "m": m,
                "label": _member_label(m),
                "is_me": m.user_id == ws.user_id,
                "role": role_label(m.role),
                # The last owner keeps the role (someone else must become owner first): no control that can only fail.
                "role_choices": [(r, role_label(r)) for r in orgs.assignable_roles(ws.role)]
                if manageable and not (m.role == "owner" and owners <= 1)
                else [],
                "removable": manageable and m.user_id != ws.user_id,
                "last_owner": m.role == "owner" and owners <= 1,
            }
        )
    me = next((r for r in rows if r["is_me"]), None)
    return render(
        "orgs/members.html",
        status=status,
        ws=ws,
        rows=rows,
        invitations=orgs.pending_invitations(ws.org_id) if ws.is_admin else [],
        invite_form=(invite_form or _invite_form()) if ws.is_admin else None,
        role_hints=[(role_label(r), ROLE_HINTS[r]) for r in orgs.assignable_roles(ws.role)],
        form=EmptyForm(),
        i_am_last_owner=bool(me and me["last_owner"]),
        days_left=orgs.expires_in_days,
    )


@ws_bp.route("/members")
def members() -> Response:
    """Every member sees who is in the organization; admins also manage members and invitations."""
    return _members_page()


@ws_bp.route("/members/invite", methods=["POST"])
def invite() -> Response:
    """Email an invitation to join with a role (only owners invite owners)."""
    ws = current_ws()
    access.require_admin(ws)
    form = _invite_form()
    if not form.validate_on_submit():
        return _members_page(form, 422)
    try:
        orgs.invite(ws, _user(), form.email.data or "", form.role.data or "", locale=str(select_locale()))
    except orgs.OrgError as exc:
        getattr(form, exc.field or "email").errors = [exc.message]
        return _members_page(form, 422)
    flash(_("Invitation sent to %(email)s. The link works for 7 days.", email=form.email.data), "success")
    return redirect_to(url_for("workspace.members"))


@ws_bp.route("/members/<int:membership_id>/role", methods=["POST"])
def change_role(membership_id: int) -> Response:
    """Give a member another role (admins cannot touch owners; the last owner stays one)."""
    ws = current_ws()
    access.require_admin(ws)
    target = access.org_membership_or_404(ws, membership_id)
    form = RoleForm()
    form.role.choices = role_choices(orgs.assignable_roles(ws.role))
    if not form.validate_on_submit():
        _expired_form()
        return redirect_to(url_for("workspace.members"))
    try:
        changed = orgs.change_role(ws, target, form.role.data or "")
    except orgs.OrgError as exc:
        flash(exc.message, "danger")
        return redirect_to(url_for("workspace.members"))
    if changed:
        flash(
            _("%(name)s is now %(role)s.", name=_member_label(target), role=role_label(target.role).lower()),
            "success",
        )
    return redirect_to(url_for("workspace.members"))


def _remove_page(target: Membership, form: RemoveForm, status: int = 200, error: str | None = None) -> Response:
    ws = current_ws()
    choices = orgs.reassign_choices(ws, target.user_id)
    form.reassign_to.choices = [SelectChoice("", _("Leave them unassigned"))] + [
        SelectChoice(str(m.user_id), f"{_member_label(m)} · {role_label(m.role)}") for m in choices
    ]
    owners = sum(1 for m in orgs.members_of(ws.org_id) if m.role == "owner")
    return render(
        "orgs/_members_remove.html",
        status=status,
        target=target,
        label=_member_label(target),
        role=role_label(target.role),
        assigned=orgs.assigned_count(ws.org_id, target.user_id),
        blocked=target.role == "owner" and owners <= 1,
        form=form,
        error=error,
    )


@ws_bp.route("/members/<int:membership_id>/remove", methods=["GET", "POST"])
def remove(membership_id: int) -> Response:
    """Ask whom the member's clients go to, then remove them; they lose access at once."""
    ws = current_ws()
    access.require_admin(ws)
    target = access.org_membership_or_404(ws, membership_id)
    if not orgs.may_manage(ws.role, target.role):
        flash(orgs.OrgError("owner_only").message, "danger")
        return redirect_to(url_for("workspace.members"))
    form = RemoveForm()
    if request.method == "GET":
        return _remove_page(target, form)
    if not form.validate_on_submit():
        return _remove_page(target, form, 422, _("Your form expired. Please send it again."))
    raw = form.reassign_to.data or ""
    reassign_to = int(raw) if raw.isdigit() else None
    label = _member_label(target)
    if raw and reassign_to is None:
        return _remove_page(target, form, 422, orgs.OrgError("reassign").message)
    try:
        moved = orgs.remove_member(ws, target, reassign_to)
    except orgs.OrgError as exc:
        return _remove_page(target, form, 422, exc.message)
    flash(_("%(name)s no longer belongs to %(org)s.", name=label, org=ws.name), "success")
    if moved and reassign_to is not None:
        flash(_("Their %(n)s client(s) were assigned to another member.", n=moved), "info")
    elif moved:
        flash(_("Their %(n)s client(s) are now unassigned.", n=moved), "info")
    return redirect_to(url_for("workspace.members"))


@ws_bp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
def revoke_invitation(invitation_id: int) -> Response:
    """Revoke a pending invitation: its link stops working at once."""
    ws = current_ws()
    access.require_admin(ws)
    invitation = access.org_invitation_or_404(ws, invitation_id)
    if not EmptyForm().validate_on_submit():
        _expired_form()
    elif orgs.revoke_invitation(ws, invitation):
        flash(_("The invitation to %(email)s was revoked.", email=invitation.email), "success")
    return redirect_to(url_for("workspace.members"))


@ws_bp.route("/leave", methods=["POST"])
def leave() -> Response:
    """Leave the organization (any member but the last owner)."""
    ws = current_ws()
    if not EmptyForm().validate_on_submit():
        _expired_form()
        return redirect_to(url_for("workspace.members"))
    try:
        orgs.leave(ws)
    except orgs.OrgError as exc:
        flash(exc.message, "danger")
        return redirect_to(url_for("workspace.members"))
    flash(_("You left %(name)s.", name=ws.name), "success")
    return redirect_to(url_for("portal.dashboard"))


# --- settings -------------------------------------------------------------------------------------------


def _settings_page(form: SettingsForm, status: int = 200) -> Response:
    ws = current_ws()
    org = orgs.organization(ws)
    return render(
        "orgs/settings.html",
        status=status,
        org=org,
        form=form,
        code=orgs.format_code(org.invite_code),
        has_tax_id=orgs.has_tax_id(org),
        kind=org_kind_label(org.kind),
        country=str(COUNTRY_NAMES.get(org.country, org.country)),
        action_form=EmptyForm(),
    )


@ws_bp.route("/settings", methods=["GET", "POST"])
def settings() -> Response:
    """The organization's name, whether agents see every client, and the code clients grant access with."""
    ws = current_ws()
    access.require_admin(ws)
    org = orgs.organization(ws)
    if request.method == "GET":
        return _settings_page(SettingsForm(obj=org))
    form = SettingsForm()
    if not form.validate_on_submit():
        return _settings_page(form, 422)
    try:
        orgs.update_settings(ws, form.name.data or "", bool(form.agents_see_all.data))
    except orgs.OrgError as exc:
        form.name.errors = [exc.message]
        return _settings_page(form, 422)
    flash(_("Settings saved."), "success")
    return redirect_to(url_for("workspace.settings"))


@ws_bp.route("/settings/invite-code", methods=["POST"])
def regenerate_code() -> Response:
    """A new invitation code for clients; the old one stops working."""
    ws = current_ws()
    access.require_admin(ws)
    if not EmptyForm().validate_on_submit():
        _expired_form()
    else:
        code = orgs.regenerate_code(ws)
        flash(
            _("New invitation code: %(code)s. The previous one no longer works.", code=orgs.format_code(code)),
            "success",
        )
    return redirect_to(url_for("workspace.settings"))
