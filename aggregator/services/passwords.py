"""Password rules (DESIGN §7) and hashing (argon2id). The form and the live HTMX check share this code."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l

MIN_LENGTH = 12
MAX_LENGTH = 128


@dataclass(frozen=True)
class RuleResult:
    """One rule, its message in the user's language, and whether the password keeps it."""

    code: str
    label: str
    ok: bool


def _max_run(password: str) -> int:
    best = run = 0
    prev = None
    for ch in password:
        run = run + 1 if ch == prev else 1
        prev = ch
        best = max(best, run)
    return best


def _has_ascending_run(password: str) -> bool:
    """``123``, ``abc``, ``XYZ``: three letters or digits whose code points climb by one."""
    text = password.lower()
    for a, b, c in zip(text, text[1:], text[2:], strict=False):
        if (
            (
                (a.isdigit() and b.isdigit() and c.isdigit())
                or (a.isascii() and a.isalpha() and b.isascii() and b.isalpha() and c.isascii() and c.isalpha())
            )
            and ord(b) == ord(a) + 1
            and ord(c) == ord(b) + 1
        ):
            return True
    return False


def _contains(password: str, word: str) -> bool:
    return len(word) >= 3 and word.casefold() in password.casefold()


def check_password(password: str, email: str = "", portal_name: str | None = None) -> list[RuleResult]:
    """Evaluate every rule; the password is acceptable when all results are ok."""
    portal = portal_name if portal_name is not None else current_app.config["PORTAL_NAME"]
    local = email.rpartition("@")[0] if "@" in email else email
    lowers = sum(1 for c in password if c.islower())
    checks: list[tuple[str, object, Callable[[], bool]]] = [
        ("length", _l("At least %(n)s characters", n=MIN_LENGTH), lambda: len(password) >= MIN_LENGTH),
        ("max_length", _l("At most %(n)s characters", n=MAX_LENGTH), lambda: len(password) <= MAX_LENGTH),
        ("lower", _l("At least 3 lower-case letters"), lambda: lowers >= 3),
        ("upper", _l("At least 1 upper-case letter"), lambda: any(c.isupper() for c in password)),
        ("digit", _l("At least 1 number"), lambda: any(c.isdigit() for c in password)),
        (
            "special",
            _l("At least 1 special character (for example ! ? # $ &)"),
            lambda: any(not c.isalnum() and not c.isspace() for c in password),
        ),
        (
            "repeat",
            _l("No character more than 3 times in a row"),
            lambda: bool(password) and _max_run(password) <= 3,
        ),
        (
            "sequence",
            _l("No ascending runs such as 123 or abc"),
            lambda: bool(password) and not _has_ascending_run(password),
        ),
        (
            "personal",
            _l("Does not contain your email name or the name %(portal)s", portal=portal),
            lambda: bool(password) and not _contains(password, local) and not _contains(password, portal),
        ),
    ]
    return [RuleResult(code, str(label), bool(test())) for code, label, test in checks]


def password_errors(password: str, email: str = "") -> list[str]:
    """Messages of the rules the password breaks (empty when acceptable)."""
    return [r.label for r in check_password(password, email) if not r.ok]


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["ARGON2_TIME_COST"],
        memory_cost=cfg["ARGON2_MEMORY_COST"],
        parallelism=cfg["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    """An argon2id hash of the full password (never truncated)."""
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password; with no stored hash, spend the same time and answer False."""
    hasher = _hasher()
    if not stored_hash:
        # Equalise timing for unknown accounts and social-only accounts.
        with contextlib.suppress(VerificationError, InvalidHashError):
            hasher.verify(_dummy_hash(hasher), password + "x")
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY: dict[tuple[int, int, int], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY:
        _DUMMY[key] = hasher.hash("timing-equaliser-not-a-password")
    return _DUMMY[key]
