"""Connector discovery through the ``aggregator.connectors`` entry-point group (like pytest plugins).

A connector that fails to import, or is not a Connector, is logged and skipped: one broken
plugin never takes the portal down.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

from connectors.base import Connector

log = logging.getLogger(__name__)

GROUP = "aggregator.connectors"


def _load(ep: EntryPoint) -> type[Connector] | None:
    try:
        obj = ep.load()
    except Exception:
        log.exception("connector %r could not be imported; skipped", ep.name)
        return None
    if not (isinstance(obj, type) and issubclass(obj, Connector)):
        log.error("entry point %r is not a Connector subclass; skipped", ep.name)
        return None
    if getattr(obj, "slug", None) != ep.name:
        log.error("connector %r declares slug %r; skipped", ep.name, getattr(obj, "slug", None))
        return None
    return obj


def discover(group: str = GROUP) -> dict[str, type[Connector]]:
    """Every installed connector class, by slug, in name order."""
    found: dict[str, type[Connector]] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        cls = _load(ep)
        if cls is not None:
            found[ep.name] = cls
    return found
