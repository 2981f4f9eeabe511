"""Template helpers that need more than a filter: inline SVG icons, cached URLs of static files and pages."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import current_app, request, url_for
from markupsafe import Markup


@lru_cache(maxsize=64)
def _svg(folder: str, name: str) -> str:
    path = Path(folder) / "vendor" / "icons" / f"{name}.svg"
    return path.read_text(encoding="utf-8")


def icon(name: str, cls: str = "") -> Markup:
    """An inline Bootstrap icon (so CSS can colour and size it); decorative, hidden from screen readers."""
    svg = _svg(str(current_app.static_folder), name)
    classes = f"bi bi-{name} {cls}".strip()
    svg = svg.replace(f'class="bi bi-{name}"', f'class="{classes}" aria-hidden="true" focusable="false"', 1)
    return Markup(svg)  # noqa: S704 - our own vendored file, not user input


def static_url(filename: str) -> str:
    """The fingerprinted URL of a static file (cached a year by browsers), built once per app and script root."""
    key = (request.script_root, filename)
    cache: dict[tuple[str, str], str] = current_app.extensions.setdefault("static_urls", {})
    found = cache.get(key)
    if found is None:
        manifest: dict[str, str] = current_app.extensions.get("static_manifest", {})
        found = cache[key] = url_for("static", filename=manifest.get(filename, filename))
    return found


def page_url(endpoint: str) -> str:
    """``url_for(endpoint)`` for a route without arguments, built once per app and script root (the navigation)."""
    key = (request.script_root, endpoint)
    cache: dict[tuple[str, str], str] = current_app.extensions.setdefault("page_urls", {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = url_for(endpoint)
    return found
