"""Signed, expiring, single-use tokens for links sent by email."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select, update

from aggregator.extensions import db
from aggregator.models import OneTimeToken
from aggregator.models.types import utcnow


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="one-time-token")


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def issue(purpose: str, user_id: int, lifetime: timedelta, **payload: Any) -> str:
    """Create a token for ``purpose``; the link carries it, the database keeps only its hash."""
    nonce = secrets.token_urlsafe(24)
    db.session.add(
        OneTimeToken(
            token_hash=_digest(nonce),
            purpose=purpose,
            user_id=user_id,
            payload=payload,
            expires_at=utcnow() + lifetime,
        )
    )
    db.session.flush()
    return _serializer().dumps({"n": nonce, "p": purpose})


def peek(token: str, purpose: str) -> OneTimeToken | None:
    """The live token record (signed, right purpose, not expired, not used) or None."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("p") != purpose or not isinstance(data.get("n"), str):
        return None
    record = db.session.scalar(select(OneTimeToken).where(OneTimeToken.token_hash == _digest(data["n"])))
    if record is None or record.purpose != purpose or record.used_at is not None:
        return None
    if record.expires_at <= utcnow():
        return None
    return record


def consume(token: str, purpose: str) -> OneTimeToken | None:
    """Mark the token used and return it; a second call returns None (atomic across processes)."""
    record = peek(token, purpose)
    if record is None:
        return None
    now = utcnow()
    result = db.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == record.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    record.used_at = now
    return record


def revoke_all(user_id: int, purpose: str) -> None:
    """Invalidate every unused token of this purpose for the user (e.g. after a reset)."""
    db.session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
