"""Audit events: one call per security-relevant action."""

from __future__ import annotations

from typing import Any

from flask import has_request_context

from aggregator.extensions import db
from aggregator.models import AuditEvent
from aggregator.netutil import client_ip


def record(
    action: str,
    *,
    actor_id: int | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    outcome: str = "success",
    **details: Any,
) -> AuditEvent:
    """Append an audit event; ``details`` must never hold secrets or raw ID numbers."""
    event = AuditEvent(
        actor_user_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        outcome=outcome,
        ip=client_ip() if has_request_context() else None,
        details=details,
    )
    db.session.add(event)
    db.session.flush()
    return event
