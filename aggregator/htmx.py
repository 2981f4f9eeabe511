"""The single place that reads HX-* request headers and renders fragments (DESIGN §6).

``htmx-flask`` 0.1.0 glues two allowed ``reswap`` values together ("beforebeginafterbegin"),
so its ``make_response(reswap=...)`` rejects valid values; ``respond`` sets that header itself.
"""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request
from htmx_flask import Htmx
from jinja2_fragments.flask import render_block

htmx = Htmx()

RESWAPS = frozenset({"innerHTML", "outerHTML", "beforebegin", "afterbegin", "beforeend", "afterend", "delete", "none"})


def is_htmx() -> bool:
    """True when the request comes from htmx (and is not a history-restore full-page request)."""
    h = getattr(request, "htmx", None)
    return h is not None and bool(h) and not h.history_restore_request


def trigger_name() -> str | None:
    """The ``name`` of the element that triggered the request, if any."""
    h = getattr(request, "htmx", None)
    return h.trigger_name if h else None


def render(template: str, block: str | None = None, *, status: int = 200, **context: Any) -> Response:
    """Render the whole page, or only ``block`` of it for an htmx request; varies on HX-Request."""
    if block is not None and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def respond(
    response: Response,
    *,
    reswap: str | None = None,
    retarget: str | None = None,
    redirect: str | None = None,
    trigger: str | None = None,
) -> Response:
    """Add htmx response headers (validated here, not by htmx-flask)."""
    if reswap is not None:
        if reswap.split(" ", 1)[0] not in RESWAPS:
            raise ValueError(f"invalid HX-Reswap {reswap!r}")
        response.headers["HX-Reswap"] = reswap
    if retarget:
        response.headers["HX-Retarget"] = retarget
    if redirect:
        response.headers["HX-Redirect"] = redirect
    if trigger:
        response.headers["HX-Trigger"] = trigger
    return response


def redirect_to(url: str, code: int = 303) -> Response:
    """A redirect that works for htmx (HX-Redirect, a full page load) and for plain requests."""
    if is_htmx():
        return respond(make_response("", 204), redirect=url)
    response = make_response("", code)
    response.headers["Location"] = url
    return response
