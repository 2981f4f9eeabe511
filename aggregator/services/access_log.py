"""The access log a client can read (DESIGN §11): every read of their data by an intermediary.

One row per page of a client, policy or claim, per document download and per export, written in the
request's transaction. Append-only: nothing here updates or deletes a row. The row names the member and
the organization as they were at the time, and the object as the client knows it (a policy number, a
document title), never a tax ID.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, or_, select, update

from aggregator.extensions import db
from aggregator.models import AccessLogEntry, OrgGrant, User
from aggregator.models.types import utcnow
from aggregator.services.access import Workspace

ACTIONS = ("view_client", "view_policy", "view_claim", "download", "export")


def record(
    ws: Workspace,
    profile_id: int,
    action: str,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    account_id: int | None = None,
    summary: str = "",
) -> None:
    """Append one read by the member of ``ws`` of profile ``profile_id``'s data, and stamp the grant's last access."""
    if action not in ACTIONS:
        raise ValueError(f"unknown access-log action {action!r}")
    user = db.session.get(User, ws.user_id)
    label = (user.full_name or user.email) if user is not None else "?"
    now = utcnow()
    db.session.add(
        AccessLogEntry(
            profile_id=profile_id,
            organization_id=ws.org_id,
            organization_name=ws.name,
            user_id=ws.user_id,
            member_label=label[:320],
            action=action,
            object_type=object_type,
            object_id=object_id,
            account_id=account_id,
            summary=summary[:300],
            created_at=now,
        )
    )
    db.session.execute(
        update(OrgGrant)
        .where(OrgGrant.organization_id == ws.org_id, OrgGrant.profile_id == profile_id)
        .values(last_access_at=now)
        .execution_options(synchronize_session=False)
    )


def for_profile(
    profile_id: int, accounts: Collection[int], *, before: int | None = None, limit: int = 50
) -> list[AccessLogEntry]:
    """The newest entries of one profile that a holder of ``accounts`` may read (keyset: ids below ``before``):
    reads of the client's page, and reads of objects of those insurer accounts only."""
    stmt = select(AccessLogEntry).where(
        AccessLogEntry.profile_id == profile_id,
        or_(AccessLogEntry.account_id.is_(None), AccessLogEntry.account_id.in_(list(accounts) or [-1])),
    )
    if before is not None:
        stmt = stmt.where(AccessLogEntry.id < before)
    return list(db.session.scalars(stmt.order_by(AccessLogEntry.id.desc()).limit(limit)))


def for_organization(
    org_id: int, *, before: int | None = None, limit: int = 50, user_id: int | None = None
) -> list[AccessLogEntry]:
    """The newest entries of one organization's members (of one member, if given; keyset: ids below ``before``)."""
    stmt = select(AccessLogEntry).where(AccessLogEntry.organization_id == org_id)
    if user_id is not None:
        stmt = stmt.where(AccessLogEntry.user_id == user_id)
    if before is not None:
        stmt = stmt.where(AccessLogEntry.id < before)
    return list(db.session.scalars(stmt.order_by(AccessLogEntry.id.desc()).limit(limit)))


def last_access_by_org(profile_id: int, accounts: Collection[int]) -> dict[int, Any]:
    """When each organization last read what a holder of ``accounts`` may see of the profile ("Quién puede ver
    este perfil")."""
    rows = db.session.execute(
        select(AccessLogEntry.organization_id, func.max(AccessLogEntry.created_at))
        .where(
            AccessLogEntry.profile_id == profile_id,
            or_(AccessLogEntry.account_id.is_(None), AccessLogEntry.account_id.in_(list(accounts) or [-1])),
        )
        .group_by(AccessLogEntry.organization_id)
    )
    return {org_id: at for org_id, at in rows if org_id is not None}
