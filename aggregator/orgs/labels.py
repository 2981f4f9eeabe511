"""Words for the codes of organizations, roles and grants, in the user's language (no raw codes on screen)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

ORG_KIND_LABELS: dict[str, Any] = {
    "broker": _l("Broker"),
    "hr": _l("Human resources"),
    "accounting": _l("Accounting firm"),
}
ORG_KIND_HINTS: dict[str, Any] = {
    "broker": _l("An insurance broker or agent (PAS, agente de seguros) who advises clients on their policies."),
    "hr": _l("An employer's HR department, which looks after the company's group policies."),
    "accounting": _l("An accounting firm that keeps the books of client companies (receipts and payments)."),
}
ROLE_LABELS: dict[str, Any] = {
    "owner": _l("Owner"),
    "admin": _l("Administrator"),
    "agent": _l("Agent"),
    "viewer": _l("Viewer"),
}
ROLE_HINTS: dict[str, Any] = {
    "owner": _l("Everything an administrator does; owners cannot be removed while they are the last one."),
    "admin": _l("Members, settings and every client."),
    "agent": _l("The clients assigned to them (or all, if the organization says so)."),
    "viewer": _l("Reads every client, changes nothing."),
}
SCOPE_LABELS: dict[str, Any] = {
    "read": _l("See"),
    "manage": _l("See and act for the client"),
}
SCOPE_HINTS: dict[str, Any] = {
    "read": _l("Policies, receipts, claims and documents; nothing is done in your name."),
    "manage": _l("Also request payment links, report claims and upload documents on your behalf."),
}
ORIGIN_LABELS: dict[str, Any] = {
    "proof": _l("proved with an ID and a policy number"),
    "invitation": _l("invited by the client"),
    "request": _l("request approved by the client"),
    "import": _l("imported"),
    "demo": _l("the demo"),
}
REVOKE_REASON_LABELS: dict[str, Any] = {
    "client_revoked": _l("revoked by the client"),
    "org_released": _l("released by the organization"),
    "expired": _l("expired"),
    "security": _l("ended for security"),
}
ACTION_LABELS: dict[str, Any] = {
    "view_client": _l("opened the client's page"),
    "view_policy": _l("viewed a policy"),
    "view_claim": _l("viewed a claim"),
    "download": _l("downloaded a document"),
    "export": _l("exported data"),
}


def org_kind_label(kind: str) -> str:
    """The kind of an organization in words."""
    return str(ORG_KIND_LABELS.get(kind, kind))


def role_label(role: str) -> str:
    """A member's role in words."""
    return str(ROLE_LABELS.get(role, role))
