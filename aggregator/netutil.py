"""Small request helpers shared by rate limits, audit and sessions."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def client_ip() -> str:
    """The caller's address (ProxyFix, when configured, has already applied X-Forwarded-For)."""
    return request.remote_addr or "unknown"


def is_safe_next(target: str | None) -> bool:
    """True for a local path such as ``/account``; False for anything that could leave the site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and all(ord(c) >= 32 for c in target)
