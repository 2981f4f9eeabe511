"""Server-side sessions: the cookie carries a random token; the record decides if it is alive."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from flask import current_app, request, session
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import joinedload
from user_agents import parse as parse_user_agent

from aggregator.extensions import db
from aggregator.models import Membership, User, UserSession
from aggregator.models.types import utcnow
from aggregator.netutil import client_ip

SESSION_KEY = "sid"
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User, method: str, channel: str = "web") -> UserSession:
    """Sign ``user`` in on a fresh session; any other active session of the channel ends (seed 000)."""
    now = utcnow()
    db.session.execute(
        update(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.channel == channel,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason="superseded")
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    record = UserSession(
        user_id=user.id,
        token_hash=_digest(token),
        channel=channel,
        method=method,
        user_agent=(request.user_agent.string or "")[:400],
        ip=client_ip(),
        created_at=now,
        last_seen_at=now,
        authenticated_at=now,
    )
    db.session.add(record)
    db.session.flush()
    # A new cookie on every sign-in: nothing from the anonymous session carries over.
    session.clear()
    session[SESSION_KEY] = token
    session.permanent = True
    return record


@dataclass
class Resolved:
    """What the cookie resolved to: a live session, or why it is gone."""

    record: UserSession | None
    ended_reason: str | None = None


@cache
def _by_token() -> Select[Any]:
    """The live-session lookup, built once; the user comes in the same statement (every request needs both)."""
    by_hash = UserSession.token_hash == bindparam("token_hash")
    user = joinedload(UserSession.user)
    memberships = user.joinedload(User.memberships).joinedload(Membership.organization)
    return select(UserSession).options(user, memberships).where(by_hash)


def resolve() -> Resolved:
    """Find the live session named by the cookie, enforcing revocation, idle and absolute timeouts."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return Resolved(None)
    record = db.session.scalars(_by_token(), {"token_hash": _digest(token)}).unique().first()
    if record is None:
        return Resolved(None, "unknown")
    now = utcnow()
    cfg = current_app.config
    if record.revoked_at is None:
        if now - record.last_seen_at > timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]):
            _revoke(record, "idle")
        elif now - record.created_at > timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"]):
            _revoke(record, "expired")
    if record.revoked_at is not None:
        return Resolved(None, record.revoked_reason or "revoked")
    if record.user.status != "active":
        return Resolved(None, "revoked")
    if now - record.last_seen_at > LAST_SEEN_RESOLUTION:
        record.last_seen_at = now
    return Resolved(record)


def _revoke(record: UserSession, reason: str) -> None:
    record.revoked_at = utcnow()
    record.revoked_reason = reason


def end_current(reason: str = "logout") -> None:
    """End the session named by the cookie, on the server, and forget the cookie."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        db.session.execute(
            update(UserSession)
            .where(UserSession.token_hash == _digest(token), UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
            .execution_options(synchronize_session=False)
        )
    session.clear()


def forget_cookie() -> None:
    """Drop the session token from the cookie (its record is already ended)."""
    session.pop(SESSION_KEY, None)


def revoke_all(user_id: int, reason: str, except_id: int | None = None) -> int:
    """End every live session of a user (optionally keeping one); returns how many ended."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if except_id is not None:
        stmt = stmt.where(UserSession.id != except_id)
    result = db.session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_one(user_id: int, session_id: int) -> bool:
    """End one session of this user; False when it is not theirs or already ended."""
    result = db.session.execute(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason="closed")
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_reauthenticated(record: UserSession) -> None:
    """The user just proved who they are again (password re-entered)."""
    record.authenticated_at = utcnow()


def recently_authenticated(record: UserSession | None) -> bool:
    """True when the session's last proof of identity is within RECENT_AUTH_MINUTES."""
    if record is None:
        return False
    limit = timedelta(minutes=current_app.config["RECENT_AUTH_MINUTES"])
    return utcnow() - record.authenticated_at <= limit


@dataclass(frozen=True)
class DeviceInfo:
    """A human description of where a session runs."""

    device: str
    place: str
    handheld: bool  # a phone or tablet (or the mobile app)


def describe(record: UserSession) -> DeviceInfo:
    """'Chrome · Windows' and the address a session was signed in from."""
    ua = parse_user_agent(record.user_agent or "")
    browser = ua.browser.family if ua.browser.family != "Other" else ""
    system = ua.os.family if ua.os.family != "Other" else ""
    device = " · ".join(p for p in (browser, system) if p) or (record.user_agent or "")[:60]
    handheld = bool(ua.is_mobile or ua.is_tablet or record.channel == "app")
    return DeviceInfo(device=device, place=record.ip or "", handheld=handheld)


def list_for(user_id: int, limit: int = 10) -> list[UserSession]:
    """The user's sessions, live ones first, then the most recent ended ones."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(UserSession.revoked_at.is_not(None), UserSession.last_seen_at.desc())
            .limit(limit)
        )
    )
