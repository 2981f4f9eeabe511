"""The organization's clients: the list (the workspace's home), linking by proof, the client pages
(policies, claims, documents) and the organization's access log.

Every page here asks ``services.access`` what the member reaches (404 for anything else, 403 for what
their role may not do) and every read of a client's data writes one row of the client's access log.
The client's pages reuse the personal view's presenters and templates, with the workspace's URLs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from io import BytesIO
from typing import Any

from flask import flash, make_response, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from aggregator.auth.forms import EmptyForm
from aggregator.extensions import db
from aggregator.htmx import is_htmx, redirect_to, render
from aggregator.models import Document, Insurer, Organization, User
from aggregator.orgs import current_ws, ws_bp
from aggregator.orgs.client_forms import AssignForm, ClientLinkForm
from aggregator.orgs.labels import ACTION_LABELS, ORIGIN_LABELS, SCOPE_LABELS
from aggregator.policies import presenters
from aggregator.services import access, documents, org_clients, orgs, portfolio
from aggregator.services.access import Workspace

STALE_STATUSES = frozenset({"stale", "error", "needs_attention"})
ATTENTION_SHOWN = 5  # items of each kind listed on a client's page


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _labels() -> dict[str, Any]:
    return {"scope_labels": SCOPE_LABELS, "origin_labels": ORIGIN_LABELS, "action_labels": ACTION_LABELS}


# --- the clients list (the workspace's home) ------------------------------------------------------


@ws_bp.route("/")
def clients() -> Any:
    """The clients the member reaches, by name: search as you type, 50 per page, "ver más"."""
    ws = current_ws()
    q = " ".join(request.args.get("q", "").split())[: org_clients.MAX_QUERY]
    after = org_clients.ClientCursor.parse(request.args.get("after"))
    page = org_clients.clients_page(ws, q, after)
    context: dict[str, Any] = {"ws": ws, "page": page, "q": q, "after": after, **_labels()}
    if after is not None and is_htmx():  # "ver más": the next clients, appended where its link was
        response = make_response(render_template("orgs/clients/_rows.html", **context, page_start=True))
        response.vary.add("HX-Request")
        return response
    invite_code = None
    if not page.rows and not q and after is None:
        invite_code = orgs.format_code(_organization(ws).invite_code)
    return render("orgs/clients/index.html", block="results", invite_code=invite_code, **context)


def _organization(ws: Workspace) -> Organization:
    org = db.session.get(Organization, ws.org_id)  # loaded with the member's memberships: no statement
    assert org is not None
    return org


# --- linking a client by proof --------------------------------------------------------------------


@ws_bp.route("/clients/link", methods=["GET", "POST"])
def link() -> Any:
    """Link a client with its tax ID and the number of one of its in-force policies (owner, admin, agent)."""
    ws = current_ws()
    access.require_acting(ws)
    form = ClientLinkForm()
    if request.method == "GET":
        return render("orgs/clients/link.html", block="link_form", form=form, failure=None, ws=ws)
    if not form.validate_on_submit():
        return render("orgs/clients/link.html", block="link_form", status=422, form=form, failure=None, ws=ws)
    outcome = org_clients.link_client(
        ws, _user(), form.id_type.data or "", form.id_number.data or "", form.policy_number.data or ""
    )
    result = outcome.result
    if outcome.ok and result.profile_id is not None:
        if outcome.assigned_elsewhere:
            flash(
                _(
                    "Linked: %(name)s. Another member of %(org)s follows this client; "
                    "an administrator can assign it to you.",
                    name=result.profile_name,
                    org=ws.name,
                ),
                "info",
            )
            return redirect_to(url_for("workspace.clients"))
        flash(_("Linked: %(name)s. We are bringing in the policies…", name=result.profile_name), "success")
        return redirect_to(url_for("workspace.client", profile_id=result.profile_id))
    status = 422
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
    return render("orgs/clients/link.html", block="link_form", status=status, form=form, failure=failure, ws=ws)


# --- one client -----------------------------------------------------------------------------------


def _cards_more_url(profile_id: int, filters: portfolio.Filters) -> Any:
    def more(group: portfolio.Group) -> str:
        assert group.after is not None
        args: dict[str, Any] = dict(filters.as_args(), line=group.line, after=group.after.token)
        return url_for("workspace.client", profile_id=profile_id, **args)

    return more


def _claims_more_url(profile_id: int) -> Any:
    def more(token: str) -> str:
        return url_for("workspace.client", profile_id=profile_id, claims_after=token) + "#claims"

    return more


def _url_bases() -> dict[str, str]:
    """The workspace's policy and claim URLs, as the shared templates join them with an id."""
    return {
        "policy_url_base": url_for("workspace.policy", policy_id=0)[:-1],
        "claim_url_base": url_for("workspace.claim", claim_id=0)[:-1],
    }


@ws_bp.route("/clients/<int:profile_id>")
def client(profile_id: int) -> Any:
    """One client as the organization reaches it: its policies by line, what needs attention, its claims."""
    ws = current_ws()
    grant = access.org_grant_or_404(ws, profile_id)
    profile = grant.profile
    details = access.claim_details_allowed(ws, grant)
    accounts = org_clients.account_rows(ws, profile_id)
    presenters.note_currencies(accounts)
    by_id = {a.id: a for a in accounts}
    scope = portfolio.Scope(user_id=ws.user_id, ids=tuple(by_id))
    filters = dataclasses.replace(portfolio.Filters.from_args(request.args), profile=None, insurer=None)
    after = portfolio.PolicyCursor.parse(request.args.get("after")) if filters.line else None
    claims_after = portfolio.ClaimCursor.parse(request.args.get("claims_after"))
    today = date.today()
    window = today + portfolio.RENEWAL_WINDOW
    org_clients.record_view(ws, profile.id, "view_client", "client_profile", profile.id, "")
    shared: dict[str, Any] = {
        **_url_bases(),
        "cards_more_url": _cards_more_url(profile.id, filters),
        "claims_more_url": _claims_more_url(profile.id),
        "restricted": not details,
        "org_view": True,
    }
    if is_htmx() and after is not None and filters.line:  # "ver más" of one line's cards
        group = portfolio.policy_page(scope, filters, filters.line, after, today)
        group.rows = presenters.policy_cards(group.rows, by_id, False, today, window)
        response = make_response(
            render_template("portal/_cards.html", g=group, filters=filters, page_start=True, **shared)
        )
        response.vary.add("HX-Request")
        return response
    claims = portfolio.claims_page(scope, "all", claims_after)
    if is_htmx() and claims_after is not None:  # "ver más" of the claims
        response = make_response(
            render_template(
                "claims/_claims.html", page=claims, claims=claims.claims, claim_status="all", page_start=True, **shared
            )
        )
        response.vary.add("HX-Request")
        return response
    counts = portfolio.line_counts(scope, filters, today) if accounts else {}
    if filters.line:
        groups = []
        if counts.get(filters.line):
            groups = [portfolio.policy_page(scope, filters, filters.line, after, today, counts[filters.line])]
    else:
        groups = portfolio.first_cards(scope, filters, counts, today)
    cards = iter(presenters.policy_cards([r for g in groups for r in g.rows], by_id, False, today, window))
    for group in groups:
        group.rows = [next(cards) for _row in group.rows]
    found = portfolio.attention(scope, today) if accounts else portfolio.Attention([], [], [])
    assignee = None
    members: list[org_clients.Member] = []
    assign_form = None
    if ws.is_admin:
        members = org_clients.assignable(org_clients.members_of(ws.org_id))
        assign_form = AssignForm()
        assign_form.set_members(members, grant.assigned_user_id)
    if grant.assigned_user_id is not None:
        user = _user() if grant.assigned_user_id == ws.user_id else None
        if user is None:
            user = db.session.get(User, grant.assigned_user_id)
        assignee = (user.full_name or user.email) if user is not None else None
    return render_template(
        "orgs/clients/client.html",
        ws=ws,
        grant=grant,
        profile=profile,
        accounts=accounts,
        filters=filters,
        groups=groups,
        total=sum(counts.values()),
        after=after,
        claims=claims.claims,
        page=claims,
        claim_status="all",
        claims_after=claims_after,
        attention=_attention(found, by_id, details),
        assignee=assignee,
        assign_form=assign_form,
        form=EmptyForm(),
        details=details,
        **shared,
        **_labels(),
    )


def _attention(found: portfolio.Attention, by_id: dict[int, Any], details: bool) -> dict[str, Any]:
    """What needs the client, as the organization sees it: overdue receipts, claims waiting for documents,
    policies about to end; each with a link to the workspace's page (no requested documents without details)."""
    today = date.today()
    overdue = [r for r in found.due if r.due_date < today]
    upcoming = [r for r in found.due if r.due_date >= today]
    return {
        "overdue": overdue[:ATTENTION_SHOWN],
        "overdue_more": max(0, len(overdue) - ATTENTION_SHOWN),
        "upcoming": upcoming[:ATTENTION_SHOWN],
        "waiting": found.waiting[:ATTENTION_SHOWN] if details else [],
        "renewals": found.renewals[:ATTENTION_SHOWN],
        "insurers": {a.id: a.insurer_name for a in by_id.values()},
        "details": details,
    }


@ws_bp.route("/clients/<int:profile_id>/assign", methods=["POST"])
def assign(profile_id: int) -> Any:
    """Assign the client to a member (administrators)."""
    ws = current_ws()
    access.require_admin(ws)
    grant = access.org_grant_or_404(ws, profile_id)
    form = AssignForm()
    form.set_members(org_clients.assignable(org_clients.members_of(ws.org_id)), grant.assigned_user_id)
    if not form.validate_on_submit():
        if form.errors.get("csrf_token"):
            flash(_("Your form expired. Please send it again."), "warning")
        else:
            flash(_("Choose one of the members in the list."), "danger")
        return redirect_to(url_for("workspace.client", profile_id=profile_id))
    if not org_clients.assign(ws, grant, form.member_id()):
        flash(_("Choose one of the members in the list."), "danger")
    elif form.member_id() is None:
        flash(_("%(name)s is no longer assigned to anyone.", name=grant.profile.name), "success")
    else:
        flash(_("%(name)s was assigned.", name=grant.profile.name), "success")
    return redirect_to(url_for("workspace.client", profile_id=profile_id))


@ws_bp.route("/clients/<int:profile_id>/release", methods=["POST"])
def release(profile_id: int) -> Any:
    """Give the client's access up: the organization stops seeing the client at once (administrators)."""
    ws = current_ws()
    access.require_admin(ws)
    grant = access.org_grant_or_404(ws, profile_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("Your form expired. Please send it again."), "warning")
        return redirect_to(url_for("workspace.client", profile_id=profile_id))
    name = grant.profile.name
    org_clients.release(ws, grant)
    flash(_("%(org)s no longer has access to %(name)s.", org=ws.name, name=name), "success")
    return redirect_to(url_for("workspace.clients"))


# --- policies, claims and documents ---------------------------------------------------------------


@ws_bp.route("/policies/<int:policy_id>")
def policy(policy_id: int) -> Any:
    """One policy of a client: the personal policy page, with the workspace's links."""
    ws = current_ws()
    policy = access.org_policy_or_404(ws, policy_id)
    grant = access.org_account_grant_or_404(ws, policy.account_id)
    account = policy.account
    accounts = org_clients.account_rows(ws, grant.profile_id)
    presenters.note_currencies(accounts)
    country = next((a.country for a in accounts if a.id == account.id), None)
    today = date.today()
    org_clients.record_view(
        ws, grant.profile_id, "view_policy", "policy", policy.id, org_clients.policy_summary(policy), policy.account_id
    )
    data = portfolio.policy_detail(policy)
    phones = presenters.phones_for(policy.insurer.support_phones, policy.line, country)
    included, excluded = presenters.split_coverages(data.coverages)
    body = render_template(
        "policies/_detail.html",
        d=data,
        policy=policy,
        account=account,
        insurer=policy.insurer,
        stale=account.status in STALE_STATUSES,
        phones=phones,
        assistance=presenters.assistance_phone(phones),
        included=included,
        excluded=excluded,
        today=today,
        org_view=True,
        restricted=not access.claim_details_allowed(ws, grant),
        back_url=url_for("workspace.client", profile_id=grant.profile_id),
        back_label=grant.profile.name,
        claims_url=url_for("workspace.client", profile_id=grant.profile_id) + "#claims",
        document_url=lambda doc: url_for("workspace.policy_document", policy_id=policy.id, document_id=doc.id),
        **_url_bases(),
    )
    return render_template("policies/detail.html", policy=policy, body_html=Markup(body))  # noqa: S704


@ws_bp.route("/policies/<int:policy_id>/documents/<int:document_id>")
def policy_document(policy_id: int, document_id: int) -> Any:
    """A policy's document, fetched from the insurer after the access check."""
    ws = current_ws()
    policy = access.org_policy_or_404(ws, policy_id)
    document = access.org_policy_document_or_404(ws, policy.id, document_id)
    grant = access.org_account_grant_or_404(ws, policy.account_id)
    summary = org_clients.policy_summary(policy)
    return _download(
        policy.insurer,
        document,
        lambda: org_clients.record_download(ws, grant.profile_id, document, summary, policy.account_id),
    )


@ws_bp.route("/claims/<int:claim_id>")
def claim(claim_id: int) -> Any:
    """One claim of a client; for HR without the insured person's consent, only its number, status and dates."""
    ws = current_ws()
    found = access.org_claim_or_404(ws, claim_id)
    claim = found.claim
    org_clients.record_view(
        ws, found.grant.profile_id, "view_claim", "claim", claim.id, org_clients.claim_summary(claim), claim.account_id
    )
    urls = {
        "back_url": url_for("workspace.client", profile_id=found.grant.profile_id) + "#claims",
        "back_label": found.grant.profile.name,
        "policy_url": url_for("workspace.policy", policy_id=claim.policy_id),
    }
    if not found.details:
        return render_template(
            "orgs/clients/claim_restricted.html",
            claim=claim,
            insurer=claim.insurer,
            document_count=len(portfolio.claim_documents(claim)),
            ws=ws,
            **urls,
        )
    return render_template(
        "claims/detail.html",
        claim=claim,
        documents=portfolio.claim_documents(claim),
        insurer=claim.insurer,
        coverage=portfolio.coverage_name(claim.policy_id, claim.coverage_code),
        org_view=True,
        document_url=lambda doc: url_for("workspace.claim_document", claim_id=claim.id, document_id=doc.id),
        **urls,
    )


@ws_bp.route("/claims/<int:claim_id>/documents/<int:document_id>")
def claim_document(claim_id: int, document_id: int) -> Any:
    """A claim's document (404 for HR without the insured person's consent), after the access check."""
    ws = current_ws()
    document = access.org_claim_document_or_404(ws, claim_id, document_id)
    found = access.org_claim_or_404(ws, claim_id)
    summary = org_clients.claim_summary(found.claim)
    return _download(
        found.claim.insurer,
        document,
        lambda: org_clients.record_download(ws, found.grant.profile_id, document, summary, found.claim.account_id),
    )


def _download(insurer: Insurer, document: Document, record: Callable[[], None]) -> Any:
    """The document as an attachment (its download written to the client's access log), or a page saying why
    the insurer could not give it."""
    try:
        download = documents.fetch(insurer, document)
    except documents.DocumentUnavailable as exc:
        return render_template("policies/document_error.html", insurer=insurer, message=exc.message), exc.status
    record()
    response = send_file(
        BytesIO(download.content),
        mimetype=download.media_type,
        as_attachment=True,
        download_name=download.filename,
        conditional=False,
        etag=False,
        max_age=None,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- the organization's access log ----------------------------------------------------------------


@ws_bp.route("/log")
def access_log() -> Any:
    """Every read of clients' data by the organization's members, newest first (administrators)."""
    ws = current_ws()
    access.require_admin(ws)
    members = org_clients.members_of(ws.org_id)
    raw_member = request.args.get("member", "")
    member_id = int(raw_member) if raw_member.isdigit() and len(raw_member) < 10 else None
    if member_id is not None and member_id not in {m.user_id for m in members}:
        member_id = None  # a former member's entries stay in the log; the filter lists current members
    raw_before = request.args.get("before", "")
    before = int(raw_before) if raw_before.isdigit() and len(raw_before) < 10 else None
    page = org_clients.log_page(ws, member_id, before)
    context: dict[str, Any] = {
        "ws": ws,
        "page": page,
        "members": members,
        "member_id": member_id,
        "before": before,
        **_labels(),
    }
    if before is not None and is_htmx():
        response = make_response(render_template("orgs/_log_rows.html", **context, page_start=True))
        response.vary.add("HX-Request")
        return response
    return render("orgs/log.html", block="results", **context)
