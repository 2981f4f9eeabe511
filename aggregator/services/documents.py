"""Documents fetched from insurers for download: the only place that asks a connector for a file (DESIGN §2, §12).

Views check access (``services.access``), then call ``fetch``; a failure is a ``DocumentUnavailable``
whose message the view shows, never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask_babel import gettext

from aggregator.models import Document, Insurer
from aggregator.services import insurers
from connectors.errors import ConnectorError, InsurerUnavailable, NotSupported
from connectors.models import DocumentKind, DocumentRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    """A document's bytes as the insurer sent them, ready to be sent as an attachment."""

    content: bytes
    media_type: str
    filename: str


class DocumentUnavailable(Exception):
    """The insurer could not give the document; ``message`` is for the user, ``status`` for the response."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def fetch(insurer: Insurer, document: Document) -> Download:
    """Ask the insurer for an (already access-checked) document's bytes."""
    conn = insurers.connector(insurer.slug)
    if conn is None:
        raise DocumentUnavailable(gettext("%(insurer)s is not connected right now.", insurer=insurer.name), 503)
    try:
        kind = DocumentKind(document.kind)
    except ValueError:
        kind = DocumentKind.OTHER
    ref = DocumentRef(ref=document.ref, kind=kind, title=document.title, media_type=document.media_type)
    try:
        fetched = conn.document(ref)
    except InsurerUnavailable as exc:
        message = gettext("%(insurer)s is not answering right now. Try again in a few minutes.", insurer=insurer.name)
        raise DocumentUnavailable(message, 503) from exc
    except NotSupported as exc:
        message = gettext("%(insurer)s does not let us download this document.", insurer=insurer.name)
        raise DocumentUnavailable(message, 502) from exc
    except (ConnectorError, ValueError) as exc:  # ValueError: a document that failed its own checks
        log.warning("document %s of %s failed: %s", document.id, insurer.slug, type(exc).__name__)
        message = gettext("%(insurer)s did not send the document correctly. Try again later.", insurer=insurer.name)
        raise DocumentUnavailable(message, 502) from exc
    return Download(fetched.content, fetched.media_type or document.media_type, fetched.filename)
