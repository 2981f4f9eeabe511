"""The portal's insurers: one connector instance per enabled insurer, and its mirror row.

Settings for a connector come, in order, from ``app.config["CONNECTOR_SETTINGS"][slug]``, from
``AGGREGATOR_<SLUG>_<NAME>`` variables, and — for the embedded default — from the connector's
sandbox at its usual local port (``aggregator demo`` serves them there).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from aggregator.extensions import db
from aggregator.models import Insurer
from connectors.base import Connector
from connectors.errors import ConnectorError
from connectors.http import HttpPolicy
from connectors.registry import discover

log = logging.getLogger(__name__)

# Where the demo serves each sandbox (also the embedded default's connector settings).
SANDBOX_PORTS = {"gnp": 8101, "australis": 8102}
_lock = threading.Lock()


def sandbox_port(slug: str, index: int = 0) -> int:
    """The local port of a connector's sandbox in the demo."""
    return SANDBOX_PORTS.get(slug, 8111 + index)


def connector_classes(app: Flask | None = None) -> dict[str, type[Connector]]:
    """Registered connectors that this portal enables (``CONNECTORS_ENABLED``: comma list, default all)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = discover()
    enabled = str(app.config.get("CONNECTORS_ENABLED") or "").strip()
    if enabled:
        wanted = {s.strip() for s in enabled.split(",") if s.strip()}
        found = {slug: cls for slug, cls in found.items() if slug in wanted}
    return found


def settings_for(cls: type[Connector], index: int, app: Flask) -> dict[str, str]:
    """A connector's settings: explicit config, then the environment, then its local sandbox."""
    explicit = (app.config.get("CONNECTOR_SETTINGS") or {}).get(cls.slug)
    if explicit:
        return dict(explicit)
    from_env = cls.settings_from_env(os.environ)
    if from_env:
        return from_env
    spec = cls.sandbox()
    if spec is not None:
        return spec.settings_for(f"http://127.0.0.1:{sandbox_port(cls.slug, index)}")
    return {}


def connectors(app: Flask | None = None) -> dict[str, Connector]:
    """One shared, thread-safe connector instance per enabled insurer (a broken one is logged and left out)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cached: dict[str, Connector] | None = app.extensions.get("connectors")
    if cached is not None:
        return cached
    with _lock:
        cached = app.extensions.get("connectors")
        if cached is not None:
            return cached
        built: dict[str, Connector] = {}
        # CONNECTOR_HTTP_POLICY: HttpPolicy fields (read_timeout, deadline, max_attempts...) for every connector.
        policy = HttpPolicy(**dict(app.config.get("CONNECTOR_HTTP_POLICY") or {}))
        for index, (slug, cls) in enumerate(connector_classes(app).items()):
            try:
                built[slug] = cls(settings_for(cls, index, app), policy)
            except ConnectorError:
                log.exception("connector %s is not configured; left out", slug)
        app.extensions["connectors"] = built
        return built


def reset_connectors(app: Flask) -> None:
    """Forget the built connectors (after their settings changed: tests, the demo)."""
    with _lock:
        app.extensions.pop("connectors", None)
        app.extensions.pop("insurer_ids", None)


def phone_rows(cls: type[Connector]) -> list[dict[str, Any]]:
    """The connector's phone book as the ``Insurer`` row keeps it (JSON)."""
    return [
        {
            "label": phone.label,
            "number": phone.number,
            "lines": [str(line) for line in phone.lines],
            "countries": list(phone.countries),
            "assistance": phone.assistance,
        }
        for phone in cls.phone_book()
    ]


def connector(slug: str) -> Connector | None:
    """The connector of one insurer, or None when it is not enabled."""
    return connectors().get(slug)


def _mirror_rows() -> dict[str, Insurer]:
    """Insert or update the ``Insurer`` row of every enabled connector; flushes, never commits."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rows = {i.slug: i for i in db.session.scalars(select(Insurer))}
    for slug, cls in connector_classes(app).items():
        values: dict[str, Any] = {
            "name": cls.display_name,
            "country": cls.countries[0],
            "currency": cls.currencies[0],
            "support_phones": phone_rows(cls),
            "fictional": bool(cls.fictional),
        }
        row = rows.get(slug)
        if row is None:
            row = Insurer(slug=slug, **values)
            db.session.add(row)
            rows[slug] = row
        else:
            for key, value in values.items():
                if getattr(row, key) != value:
                    setattr(row, key, value)
    db.session.flush()
    return rows


def seed(app: Flask) -> dict[str, int]:
    """Mirror the enabled connectors into ``Insurer`` rows and commit: at start-up (``db upgrade``, demo, CLI)."""
    with app.app_context():
        ids = {slug: row.id for slug, row in _mirror_rows().items()}
        db.session.commit()
        app.extensions["insurer_ids"] = ids
        return ids


def insurer_ids() -> dict[str, int]:
    """slug → id of every insurer row (cached per app once every enabled connector has its row).

    Rows are seeded at start-up (``seed``). A connector enabled since then gets its row in the
    current transaction (flushed, committed with the request or job like any other write) and is
    cached only once a later call finds it committed.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cached: dict[str, int] | None = app.extensions.get("insurer_ids")
    if cached is not None:
        return cached
    enabled = set(connector_classes(app))
    ids = {slug: id_ for id_, slug in db.session.execute(select(Insurer.id, Insurer.slug))}
    if enabled <= set(ids):
        app.extensions["insurer_ids"] = ids
        return ids
    return {slug: row.id for slug, row in _mirror_rows().items()}


ensure_insurers = insurer_ids  # the name scripts and tests know
