"""Template helpers that need more than a filter: inline SVG icons."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import current_app
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
