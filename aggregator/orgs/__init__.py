"""Intermediaries' workspaces (DESIGN §11, issue 10).

Two blueprints:

- ``orgs`` under ``/orgs``: what happens outside any one workspace — creating an organization, accepting
  an invitation to join one, a client answering an organization's access request.
- ``workspace`` under ``/o/<slug>/``: the organization's pages. Every request first resolves the member's
  ``access.Workspace`` (404 for anyone who is not a member, whether the organization exists or not) and
  keeps it in ``g.ws``; ``url_for("workspace.…")`` fills in the slug of the current workspace.

The routes live in the modules imported at the bottom: ``manage`` (organizations, members, invitations,
settings), ``clients`` (linking clients, the client pages, the access log), ``requests`` (asking clients
for access).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request
from flask_login import current_user, login_required

from aggregator.services import access

bp = Blueprint("orgs", __name__, url_prefix="/orgs")
ws_bp = Blueprint("workspace", __name__, url_prefix="/o/<slug>")


# /orgs endpoints that answer signed-out visitors themselves (an emailed link says "sign in first").
OPEN_ENDPOINTS: set[str] = {"orgs.invitation"}


@bp.before_request
def _signed_in() -> Any:
    """Every other /orgs page needs a signed-in user (unverified ones are stopped by access.guard_unverified)."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    return _require_login()


@login_required
def _require_login() -> None:
    return None


@ws_bp.url_value_preprocessor
def _pull_slug(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.ws_slug = (values or {}).pop("slug", None)


@ws_bp.before_request
@login_required
def _member() -> None:
    """Resolve the workspace, or 404: a non-member learns nothing, not even that the organization exists."""
    g.ws = access.workspace_or_404(current_user, g.ws_slug or "")


@ws_bp.url_defaults
def _add_slug(_endpoint: str, values: dict[str, Any]) -> None:
    if "slug" not in values and getattr(g, "ws", None) is not None:
        values["slug"] = g.ws.slug


def current_ws() -> access.Workspace:
    """The workspace of this request (set by the blueprint's before-request hook)."""
    ws: access.Workspace = g.ws
    return ws


from aggregator.orgs import clients, manage, requests  # noqa: E402,F401  (they register their routes)
