"""Email address normalisation: the one function every email goes through before it is compared."""

from __future__ import annotations

import re
import unicodedata

_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Deliberately simple: one @, something on each side, a dot in the domain, no spaces or controls.
_SHAPE = re.compile(r"^[^\s@]{1,64}@[^\s@]{1,253}\.[^\s@.]{2,63}$")


class InvalidEmail(ValueError):
    """The text is not an email address we can use."""


def normalize_email(raw: str) -> str:
    """Trim, NFKC, lower-case the domain and only ASCII letters of the local part.

    Only ASCII letters are folded in the local part: a Unicode case mapping would turn
    ``mıke`` (dotless i) or ``MİKE`` into ``mike`` and hand one person another's account.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not _SHAPE.match(text) or any(unicodedata.category(c).startswith("C") for c in text):
        raise InvalidEmail(raw)
    local, _, domain = text.rpartition("@")
    domain = domain.lower().rstrip(".")
    return f"{local.translate(_ASCII_UPPER)}@{domain}"


def try_normalize_email(raw: str) -> str | None:
    """``normalize_email`` or None for an unusable address."""
    try:
        return normalize_email(raw)
    except InvalidEmail:
        return None
