"""Language selection and locale-aware formatting of dates and money."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.numbers import format_currency
from flask import current_app, g, has_request_context, request
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user

LANG_COOKIE = "lang"

# The territory used to format money and dates for each UI language, by currency.
_TERRITORY = {"MXN": "MX", "ARS": "AR", "USD": "US"}


def select_locale() -> str:
    """Signed-in user's choice, then the language cookie, then the browser, then Spanish."""
    languages: tuple[str, ...] = tuple(current_app.config["LANGUAGES"])
    if not has_request_context():  # CLI, jobs: the portal's default language
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    forced = g.get("force_lang")
    if forced in languages:
        return str(forced)
    user = current_user
    if user and getattr(user, "is_authenticated", False) and user.locale in languages:
        return str(user.locale)
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in languages:
        return str(cookie)
    best = request.accept_languages.best_match(languages)
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]


def money(amount: Decimal | int | str | None, currency: str = "MXN") -> str:
    """'$1,234.50' in Spanish (Mexico) or '$ 1.234,50' for ARS, as each country writes it."""
    if amount is None:
        return "—"
    lang = str(get_locale() or "es")
    territory = _TERRITORY.get(currency.upper(), "MX")
    locale = f"{lang}_{territory}" if lang == "es" else "en_US"
    return format_currency(Decimal(str(amount)), currency.upper(), locale=locale)


def date_short(value: date | datetime | None) -> str:
    """A medium date in the user's language (26 nov 2026 / Nov 26, 2026)."""
    if value is None:
        return "—"
    return format_date(value, "medium")


def datetime_short(value: datetime | None) -> str:
    """Date and time in the portal's time zone, in the user's language."""
    if value is None:
        return "—"
    # Minutes, not seconds: "26 nov 2026, 10:42" / "Nov 26, 2026, 10:42 AM".
    pattern = "d MMM y, HH:mm" if str(get_locale() or "es").startswith("es") else "MMM d, y, h:mm a"
    return format_datetime(value, pattern)
