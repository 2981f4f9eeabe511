"""Policy and claim views: detail pages, the claims list, documents downloaded through ``services.documents``."""

from __future__ import annotations

from datetime import date
from io import BytesIO
from typing import Any

from flask import Blueprint, make_response, render_template, request, send_file
from flask_login import current_user, login_required

from aggregator import fragments
from aggregator.htmx import is_htmx, render
from aggregator.i18n import current_lang
from aggregator.models import Document, Insurer
from aggregator.policies import presenters
from aggregator.services import access, documents, portfolio

bp = Blueprint("policies", __name__)
presenters.register(bp)

STALE_STATUSES = frozenset({"stale", "error", "needs_attention"})


@bp.route("/policies/<int:policy_id>")
@login_required
def detail(policy_id: int) -> Any:
    """One policy: insured object, term, premium, coverages, payments, documents, phones, data age."""
    policy = access.policy_or_404(current_user.id, policy_id)
    account = policy.account
    summaries = portfolio.account_summaries(current_user.id)  # currencies (money format) and countries
    presenters.note_currencies(summaries.values())
    country = summaries[account.id].country if account.id in summaries else None
    today = date.today()
    # The body is kept rendered until a sync changes the policy's account (aggregator/fragments.py).
    version = (
        "policy",
        current_user.id,
        policy.id,
        (account.status, account.last_error, account.last_success_at),
        presenters.show_currency_codes(),
        country,
        today,
        current_lang(),
    )

    def render_body() -> str:
        data = portfolio.policy_detail(policy)
        phones = presenters.phones_for(policy.insurer.support_phones, policy.line, country)
        included, excluded = presenters.split_coverages(data.coverages)
        return render_template(
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
        )

    return render_template("policies/detail.html", policy=policy, body_html=fragments.cached(version, render_body))


@bp.route("/policies/<int:policy_id>/documents/<int:document_id>")
@login_required
def policy_document(policy_id: int, document_id: int) -> Any:
    """A policy's document, fetched from the insurer after the access check."""
    policy = access.policy_or_404(current_user.id, policy_id)
    return _download(policy.insurer, access.policy_document_or_404(current_user.id, policy.id, document_id))


@bp.route("/claims")
@login_required
def claims() -> Any:
    """The claims of every linked profile, across insurers, newest reported first."""
    status = request.args.get("status", "all")
    if status not in portfolio.CLAIM_FILTERS:
        status = "all"
    after = portfolio.ClaimCursor.parse(request.args.get("after"))
    summaries = portfolio.account_summaries(current_user.id)  # currencies (money format), and the scope's ids
    presenters.note_currencies(summaries.values())
    page = portfolio.claims_page(portfolio.scope_of(current_user.id, list(summaries.values())), status, after)
    context: dict[str, Any] = {"page": page, "claims": page.claims, "claim_status": status, "after": after}
    if after is not None and is_htmx():  # "ver más": the next claims, appended where its link was
        response = make_response(render_template("claims/_claims.html", **context, page_start=True))
        response.vary.add("HX-Request")
        return response
    return render("claims/index.html", block="results", filters=portfolio.CLAIM_FILTERS, **context)


@bp.route("/claims/<int:claim_id>")
@login_required
def claim_detail(claim_id: int) -> Any:
    """One claim: its timeline, amounts, policy and documents."""
    claim = access.claim_or_404(current_user.id, claim_id)
    documents = portfolio.claim_documents(claim)
    coverage = portfolio.coverage_name(claim.policy_id, claim.coverage_code)
    return render_template(
        "claims/detail.html", claim=claim, documents=documents, insurer=claim.insurer, coverage=coverage
    )


@bp.route("/claims/<int:claim_id>/documents/<int:document_id>")
@login_required
def claim_document(claim_id: int, document_id: int) -> Any:
    """A claim's document, fetched from the insurer after the access check."""
    claim = access.claim_or_404(current_user.id, claim_id)
    return _download(claim.insurer, access.claim_document_or_404(current_user.id, claim.id, document_id))


def _download(insurer: Insurer, document: Document) -> Any:
    """The document as an attachment, or a page saying why the insurer could not give it."""
    try:
        download = documents.fetch(insurer, document)
    except documents.DocumentUnavailable as exc:
        return render_template("policies/document_error.html", insurer=insurer, message=exc.message), exc.status
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
