"""A profile's "Acceso" page: who can see it (users and organizations), granting an organization access,
revoking, and the access log the client can read.

Routes on the profiles blueprint (signed-in, verified users; the profile must be one the user holds,
else 404):

- ``GET /profiles/<id>/access``: "Quién puede ver este perfil" (people, organizations, past accesses),
  the form to give an organization access, and the access log (``?before=<id>`` pages it: "ver más");
- ``POST /profiles/<id>/access/grant``: the organization by tax ID or invitation code; a first POST shows
  who it is (name, kind, masked tax ID) and a second one, with ``confirm=1``, grants;
- ``POST /profiles/<id>/access/<grant_id>/revoke``: ends an organization's access at once, after
  re-authentication (the password, or a recent sign-in for accounts without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import Response, flash, g, request, url_for
from flask_babel import gettext as _
from flask_babel import to_user_timezone, to_utc
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from aggregator.auth.oauth import provider_label
from aggregator.extensions import db
from aggregator.htmx import is_htmx, redirect_to, render
from aggregator.models import (
    AccessLogEntry,
    ClientProfile,
    GrantAccount,
    InsurerAccount,
    Organization,
    OrgGrant,
    OrgGrantAccount,
    ProfileGrant,
    User,
)
from aggregator.models.types import utcnow
from aggregator.orgs import labels
from aggregator.profiles.sharing_forms import MAX_EXPIRY, GrantOrgForm, RevokeOrgForm
from aggregator.profiles.views import bp
from aggregator.services import access, access_log, accounts, consent, orgs, sessions

LOG_PAGE = 20


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _today() -> date:
    """Today in the user's time zone (the expiry date is a date the user picks)."""
    return to_user_timezone(utcnow()).date()


def _end_of(day: date) -> datetime:
    """The last second of ``day`` in the user's time zone, as an aware UTC datetime."""
    return to_utc(datetime.combine(day, time(23, 59, 59))).replace(tzinfo=UTC)


# --- what the page shows -----------------------------------------------------------------------


@dataclass(frozen=True)
class PersonRow:
    """A user with a live personal grant on the profile."""

    label: str  # their name, or their masked email
    is_you: bool
    since: datetime
    insurers: list[str]


@dataclass(frozen=True)
class OrgRow:
    """An organization's grant on the profile, live or ended, in words."""

    grant_id: int
    name: str
    kind: str
    tax_id: str  # masked
    scope: str
    scope_hint: str
    origin: str
    since: datetime
    expires_at: datetime | None
    last_access: datetime | None
    insurers: list[str]
    claims_note: str | None  # HR: whether it sees the claims' details
    live: bool
    ended_at: datetime | None
    end_reason: str | None


@dataclass(frozen=True)
class LogRow:
    """One read of the profile's data by an intermediary."""

    id: int
    who: str
    organization: str
    what: str
    summary: str
    when: datetime


def _people(profile_id: int, me: int, mine: set[int]) -> list[PersonRow]:
    """Everyone holding the profile; of each, only the insurers ``me`` holds too (``mine``: DESIGN §7)."""
    grants = db.session.scalars(
        select(ProfileGrant)
        .join(User, User.id == ProfileGrant.user_id)
        .where(ProfileGrant.profile_id == profile_id, ProfileGrant.revoked_at.is_(None), User.status == "active")
        .options(
            selectinload(ProfileGrant.accounts).joinedload(GrantAccount.account).joinedload(InsurerAccount.insurer)
        )
        .order_by(ProfileGrant.created_at, ProfileGrant.id)
    ).all()
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([g.user_id for g in grants])))}
    rows = []
    for grant in grants:
        user = users[grant.user_id]
        rows.append(
            PersonRow(
                label=user.full_name or (user.email if user.id == me else orgs.mask_email(user.email)),
                is_you=user.id == me,
                since=grant.created_at,
                insurers=sorted({c.account.insurer.name for c in grant.accounts if c.account_id in mine}),
            )
        )
    rows.sort(key=lambda r: not r.is_you)  # you first
    return rows


def _organizations(profile_id: int, mine: set[int]) -> tuple[list[OrgRow], list[OrgRow]]:
    """(live grants, ended grants) of organizations on the profile that reach an insurer account of ``mine`` (the
    viewer's own): an organization that sees only another holder's insurer is not shown (DESIGN §7)."""
    now = utcnow()
    grants = db.session.scalars(
        select(OrgGrant)
        .where(OrgGrant.profile_id == profile_id)
        .options(
            joinedload(OrgGrant.organization),
            selectinload(OrgGrant.accounts).joinedload(OrgGrantAccount.account).joinedload(InsurerAccount.insurer),
        )
        .order_by(OrgGrant.created_at.desc(), OrgGrant.id.desc())
    ).all()
    last = access_log.last_access_by_org(profile_id, mine)
    live: list[OrgRow] = []
    ended: list[OrgRow] = []
    for grant in grants:
        covered = [c for c in grant.accounts if c.account_id in mine]
        if not covered:
            continue
        org: Organization = grant.organization
        is_live = grant.is_live(now)
        seen = [t for t in (last.get(org.id), grant.last_access_at) if t is not None]
        claims_note = None
        if org.kind == "hr":
            claims_note = str(
                _("It sees the details of your claims.")
                if grant.claim_details
                else _("It sees how many claims there are and their status, not their details.")
            )
        ended_at: datetime | None = None
        reason: str | None = None
        if grant.revoked_at is not None:
            ended_at, reason = grant.revoked_at, grant.revoked_reason
        elif not is_live:
            ended_at, reason = grant.expires_at, "expired"
        row = OrgRow(
            grant_id=grant.id,
            name=org.name,
            kind=labels.org_kind_label(org.kind),
            tax_id=org.masked_tax_id,
            scope=str(labels.SCOPE_LABELS.get(grant.scope, grant.scope)),
            scope_hint=str(labels.SCOPE_HINTS.get(grant.scope, "")),
            origin=str(labels.ORIGIN_LABELS.get(grant.origin, grant.origin)),
            since=grant.created_at,
            expires_at=grant.expires_at,
            last_access=max(seen) if seen else None,
            insurers=sorted({c.account.insurer.name for c in covered}),
            claims_note=claims_note,
            live=is_live,
            ended_at=ended_at,
            end_reason=str(labels.REVOKE_REASON_LABELS.get(reason, reason)) if reason else None,
        )
        (live if is_live else ended).append(row)
    return live, ended


def _log_rows(profile_id: int, mine: set[int], before: int | None) -> tuple[list[LogRow], int | None]:
    """One page of the profile's access log (of the viewer's insurers), and the id to continue from (None at the
    end)."""
    entries: list[AccessLogEntry] = access_log.for_profile(profile_id, mine, before=before, limit=LOG_PAGE + 1)
    more = len(entries) > LOG_PAGE
    entries = entries[:LOG_PAGE]
    rows = [
        LogRow(
            id=e.id,
            who=e.member_label,
            organization=e.organization_name,
            what=str(labels.ACTION_LABELS.get(e.action, e.action)),
            summary=e.summary,
            when=e.created_at,
        )
        for e in entries
    ]
    return rows, (entries[-1].id if more and entries else None)


def _before_arg() -> int | None:
    raw = request.args.get("before", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _reauth_providers(user: User) -> list[tuple[str, str]]:
    names = [i.provider for i in user.identities]
    return [(name, provider_label(name)) for name in dict.fromkeys(names)]


def _page(
    profile: ClientProfile,
    *,
    grant_form: GrantOrgForm | None = None,
    confirm: Organization | None = None,
    revoke_errors: dict[int, str] | None = None,
    status: int = 200,
) -> Response:
    user = _user()
    own = consent.own_accounts(user.id, profile.id)
    mine = {a.id for a in own}
    live, ended = _organizations(profile.id, mine)
    log, next_before = _log_rows(profile.id, mine, _before_arg())
    form = grant_form or GrantOrgForm(formdata=None, today=_today())
    return render(
        "profiles/access.html",
        status=status,
        profile=profile,
        people=_people(profile.id, user.id, mine),
        live=live,
        ended=ended,
        log=log,
        next_before=next_before,
        paged=_before_arg() is not None,
        form=form,
        confirm=confirm,
        confirm_kind=labels.org_kind_label(confirm.kind) if confirm else None,
        own_insurers=sorted({a.insurer.name for a in own}),
        scope_hints=labels.SCOPE_HINTS,
        scope_labels=labels.SCOPE_LABELS,
        revoke_errors=revoke_errors or {},
        recent=sessions.recently_authenticated(g.get("user_session")),
        reauth_providers=_reauth_providers(user),
        reauth_next=url_for("profiles.access_page", profile_id=profile.id),
        max_date=(_today() + MAX_EXPIRY).isoformat(),
        min_date=(_today() + timedelta(days=1)).isoformat(),
    )


# --- routes ------------------------------------------------------------------------------------


@bp.route("/<int:profile_id>/access")
def access_page(profile_id: int) -> Response:
    """Who can see this profile, the form to give an organization access, and the access log."""
    profile = access.profile_or_404(_user().id, profile_id)
    if is_htmx() and _before_arg() is not None:  # "ver más" of the access log
        mine = {a.id for a in consent.own_accounts(_user().id, profile.id)}
        log, next_before = _log_rows(profile.id, mine, _before_arg())
        return render("profiles/_access_log_rows.html", profile=profile, log=log, next_before=next_before)
    return _page(profile)


NO_ORG = "no_org"


@bp.route("/<int:profile_id>/access/grant", methods=["POST"])
def grant(profile_id: int) -> Response:
    """Give an organization access: first show who it is, then (``confirm=1``) grant."""
    user = _user()
    profile = access.profile_or_404(user.id, profile_id)
    form = GrantOrgForm(today=_today())
    if not form.validate_on_submit():
        return _page(profile, grant_form=form, status=422)
    lookup = consent.find_org(user.id, form.org.data or "")
    if lookup.wait_minutes:
        form.org.errors = [
            _(
                "You looked up several organizations in a short time. For your security, try again in %(n)s minute(s).",
                n=lookup.wait_minutes,
            )
        ]
        return _page(profile, grant_form=form, status=429)
    org = lookup.org
    if org is None:
        # One answer for every miss: a tax ID nobody registered and a mistyped code look the same.
        form.org.errors = [_("No organization has that tax ID or invitation code. Check it with the organization.")]
        return _page(profile, grant_form=form, status=422)
    if form.confirm.data != "1":
        return _page(profile, grant_form=form, confirm=org)
    expires_at = _end_of(form.expires_on.data) if form.expires_on.data else None
    result = consent.grant_by_client(
        user,
        profile.id,
        org,
        scope=form.scope.data or "read",
        expires_at=expires_at,
        claim_details=bool(form.claim_details.data),
    )
    if result is None:
        form.org.errors = [_("Your access to this profile covers no insurer yet, so there is nothing you can share.")]
        return _page(profile, grant_form=form, status=422)
    if not result.gained:
        message = _("%(org)s already had this access; its end date and permissions were updated.", org=org.name)
        if result.grant.scope == "manage" and form.scope.data == "read":
            message = _(
                "%(org)s already had access and may still act for you. To narrow it, revoke its access and "
                "give it again.",
                org=org.name,
            )
        flash(message, "info")
    else:
        flash(
            _(
                "%(org)s can now see %(name)s. We sent an email to everyone who holds this profile.",
                org=org.name,
                name=profile.name,
            ),
            "success",
        )
    return redirect_to(url_for("profiles.access_page", profile_id=profile.id) + "#organizations")


@bp.route("/<int:profile_id>/access/<int:grant_id>/revoke", methods=["POST"])
def revoke(profile_id: int, grant_id: int) -> Response:
    """End an organization's access at once, after re-authentication; its members get 404 from the next request."""
    user = _user()
    grant = access.profile_org_grant_or_404(user.id, profile_id, grant_id)
    profile = access.profile_or_404(user.id, profile_id)
    back = url_for("profiles.access_page", profile_id=profile.id) + "#organizations"
    form = RevokeOrgForm()
    if not form.validate_on_submit():
        flash(_("Your form expired. Please send it again."), "warning")
        return redirect_to(back)
    name = grant.organization.name
    if not grant.is_live(utcnow()):
        flash(_("The access of %(org)s had already ended.", org=name), "info")
        return redirect_to(back)
    if user.has_password and not form.password.data:
        return _page(profile, revoke_errors={grant.id: _("Enter your password.")}, status=422)
    outcome = accounts.reauthenticate(user, form.password.data, g.get("user_session"))
    if not outcome.ok:
        if outcome.reason == "locked":
            message = _(
                "Too many wrong passwords. For your security, try again in %(n)s minute(s).", n=outcome.wait_minutes
            )
            status = 429
        elif outcome.reason == "not_recent":
            message = _("For your security, sign in again before making this change.")
            status = 403
        else:
            message = _("The password is not correct.")
            status = 422
        return _page(profile, revoke_errors={grant.id: message}, status=status)
    consent.revoke(grant, "client_revoked", user.id)
    flash(_("%(org)s can no longer see %(name)s.", org=name, name=profile.name), "success")
    return redirect_to(back)


# --- the profiles list: access requests waiting for the user's answer -----------------------------------


@dataclass(frozen=True)
class PendingRequest:
    """An organization's request addressed to the signed-in user, with the link to answer it."""

    org_name: str
    org_kind: str
    scope: str
    created_at: datetime
    expires_at: datetime
    answer_url: str


@bp.app_template_global("pending_access_requests")
def pending_access_requests() -> list[PendingRequest]:
    """The requests waiting for the signed-in user's answer (the profiles page lists them)."""
    if not current_user.is_authenticated:
        return []
    user = _user()
    return [
        PendingRequest(
            org_name=req.organization.name,
            org_kind=labels.org_kind_label(req.organization.kind),
            scope=str(labels.SCOPE_LABELS.get(req.scope, req.scope)),
            created_at=req.created_at,
            expires_at=req.expires_at,
            answer_url=url_for("orgs.request_answer", token=consent.view_token(req, user)),
        )
        for req in consent.pending_requests_for(user)
    ]
