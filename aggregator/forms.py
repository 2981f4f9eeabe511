"""The base of every form, and CSRF tokens that differ on every page (BREACH, DESIGN §7).

Pages are compressed (Flask-Compress). A secret that appears identically in every compressed page,
next to text an attacker can put there (a search word), can be recovered byte by byte from the
compressed sizes (the BREACH attack). Flask-WTF's token carries the session's raw secret the same
way on every page, so the portal masks it: each page gets the token XOR a fresh random pad, pad
first; ``MaskedCSRFProtect`` removes the mask before Flask-WTF checks the token as usual.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect, _FlaskFormCSRF, generate_csrf


def mask_token(token: str) -> str:
    """``token`` XOR a fresh random pad, pad first, URL-safe base64: a different string every time."""
    raw = token.encode()
    pad = secrets.token_bytes(len(raw))
    return base64.urlsafe_b64encode(pad + bytes(a ^ b for a, b in zip(raw, pad, strict=True))).decode()


def unmask_token(value: str | None) -> str | None:
    """The token behind a masked value; anything that is not a masked token is returned unchanged."""
    if not value:
        return value
    try:
        blob = base64.b64decode(value.encode(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return value
    half = len(blob) // 2
    if not blob or len(blob) % 2:
        return value
    pad, masked = blob[:half], blob[half:]
    try:
        return bytes(a ^ b for a, b in zip(masked, pad, strict=True)).decode()
    except UnicodeDecodeError:
        return value


def masked_csrf_token() -> str:
    """The template global ``csrf_token()``: this session's token, masked afresh."""
    return mask_token(generate_csrf())


class MaskedCSRFProtect(CSRFProtect):
    """Flask-WTF's global CSRF check, on the unmasked token (from the form field or the X-CSRFToken header)."""

    def _get_csrf_token(self) -> str | None:  # Flask-WTF's hook for finding the token in a request
        return unmask_token(super()._get_csrf_token())


class _MaskedFormCSRF(_FlaskFormCSRF):  # type: ignore[misc]
    """The hidden field of every form renders a masked token; a submitted one is unmasked before checking."""

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        return mask_token(str(super().generate_csrf_token(csrf_token_field)))

    def validate_csrf_token(self, form: Any, field: Any) -> None:
        field.data = unmask_token(field.data)
        super().validate_csrf_token(form, field)


class Form(FlaskForm):  # type: ignore[misc]
    """The base of the portal's forms: Flask-WTF's, with a masked CSRF token."""

    class Meta:
        csrf_class = _MaskedFormCSRF
