"""Policy and claim views: detail pages, the claims list, documents streamed from the insurer."""

from __future__ import annotations

import logging
from io import BytesIO
from typing import Any

from flask import Blueprint, render_template, request, send_file
from flask_babel import gettext
from flask_login import current_user, login_required

from aggregator.htmx import render
from aggregator.models import Document, Insurer
from aggregator.policies import presenters
from aggregator.services import access, insurers, portfolio
from connectors.errors import ConnectorError, InsurerUnavailable, NotSupported
from connectors.models import DocumentKind, DocumentRef

log = logging.getLogger(__name__)

bp = Blueprint("policies", __name__)
presenters.register(bp)

STALE_STATUSES = frozenset({"stale", "error", "needs_attention"})


@bp.route("/policies/<int:policy_id>")
@login_required
def detail(policy_id: int) -> Any:
    """One policy: insured object, term, premium, coverages, payments, documents, phones, data age."""
    policy = access.policy_or_404(current_user.id, policy_id)
    data = portfolio.policy_detail(policy)
    account = policy.account
    return render_template(
        "policies/detail.html",
        d=data,
        policy=policy,
        account=account,
        insurer=policy.insurer,
        stale=account.status in STALE_STATUSES,
    )


@bp.route("/policies/<int:policy_id>/documents/<int:document_id>")
@login_required
def policy_document(policy_id: int, document_id: int) -> Any:
    """A policy's document, fetched from the insurer after the access check."""
    policy = access.policy_or_404(current_user.id, policy_id)
    document = access.document_or_404(current_user.id, document_id)
    if document.policy_id != policy.id:
        return render_template("errors/404.html"), 404
    return _stream(policy.insurer, document)


@bp.route("/claims")
@login_required
def claims() -> Any:
    """The claims of every linked profile, across insurers, newest reported first."""
    status = request.args.get("status", "all")
    if status not in portfolio.CLAIM_FILTERS:
        status = "all"
    found = portfolio.user_claims(current_user.id, status)
    return render(
        "claims/index.html", block="results", claims=found, claim_status=status, filters=portfolio.CLAIM_FILTERS
    )


@bp.route("/claims/<int:claim_id>")
@login_required
def claim_detail(claim_id: int) -> Any:
    """One claim: its timeline, amounts, policy and documents."""
    claim = access.claim_or_404(current_user.id, claim_id)
    documents = portfolio.claim_documents(claim)
    return render_template("claims/detail.html", claim=claim, documents=documents, insurer=claim.insurer)


@bp.route("/claims/<int:claim_id>/documents/<int:document_id>")
@login_required
def claim_document(claim_id: int, document_id: int) -> Any:
    """A claim's document, fetched from the insurer after the access check."""
    claim = access.claim_or_404(current_user.id, claim_id)
    document = access.document_or_404(current_user.id, document_id)
    if document.claim_id != claim.id:
        return render_template("errors/404.html"), 404
    return _stream(claim.insurer, document)


def _stream(insurer: Insurer, document: Document) -> Any:
    """Ask the insurer for the document's bytes; a failure is a clear page, never a 500."""
    conn = insurers.connector(insurer.slug)
    if conn is None:
        return _document_error(insurer, gettext("%(insurer)s is not connected right now.", insurer=insurer.name), 503)
    try:
        kind = DocumentKind(document.kind)
    except ValueError:
        kind = DocumentKind.OTHER
    ref = DocumentRef(ref=document.ref, kind=kind, title=document.title, media_type=document.media_type)
    try:
        fetched = conn.document(ref)
    except InsurerUnavailable:
        message = gettext("%(insurer)s is not answering right now. Try again in a few minutes.", insurer=insurer.name)
        return _document_error(insurer, message, 503)
    except NotSupported:
        message = gettext("%(insurer)s does not let us download this document.", insurer=insurer.name)
        return _document_error(insurer, message, 502)
    except (ConnectorError, ValueError) as exc:  # ValueError: a document that failed its own checks
        log.warning("document %s of %s failed: %s", document.id, insurer.slug, type(exc).__name__)
        message = gettext("%(insurer)s did not send the document correctly. Try again later.", insurer=insurer.name)
        return _document_error(insurer, message, 502)
    response = send_file(
        BytesIO(fetched.content),
        mimetype=fetched.media_type or document.media_type,
        as_attachment=True,
        download_name=fetched.filename,
        conditional=False,
        etag=False,
        max_age=None,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _document_error(insurer: Insurer, message: str, status: int) -> Any:
    return render_template("policies/document_error.html", insurer=insurer, message=message), status
