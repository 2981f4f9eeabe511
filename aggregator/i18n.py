"""Language selection and locale-aware formatting of dates and money."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from flask.globals import _cv_app
from flask_babel import _get_current_context, format_date, format_datetime, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

LANG_COOKIE = "lang"

# The symbol of an amount when every amount the user sees is in one currency; with several, the ISO code.
CURRENCY_SYMBOLS = {"MXN": "$", "ARS": "$", "USD": "US$", "EUR": "€"}
NBSP = "\u00a0"  # between a currency code and its number: never split over two lines


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


def format_cents(cents: int, currency: str, lang: str, show_code: bool) -> str:
    """The portal's one money format per language, from integer cents (a little arithmetic: no cache that
    the data could outgrow; lists use ``presenters.Formatter``, which prepares each currency once).

    Spanish '$1.873.272,50', English '$1,873,272.50'; with ``show_code`` (the user's data holds more
    than one currency) the ISO code replaces the symbol: 'MXN 1.873.272,50', 'ARS 156.106,00'.
    """
    units, rest = divmod(abs(cents), 100)
    grouped = f"{units:,}"
    number = f"{grouped.replace(',', '.')},{rest:02d}" if lang.startswith("es") else f"{grouped}.{rest:02d}"
    code = currency.upper()
    prefix = code + NBSP if show_code else CURRENCY_SYMBOLS.get(code, code + NBSP)
    return ("-" if cents < 0 else "") + prefix + number


def to_cents(amount: Decimal | int | str) -> int:
    """An amount in currency units as integer cents (half-up, like the sync)."""
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(amount: Decimal | int | str | None, currency: str = "MXN") -> str:
    """An amount in currency units, in the portal's format for this language and user (see ``format_cents``)."""
    if amount is None:
        return "—"
    from aggregator.policies.presenters import show_currency_codes  # the user's data decides; imported late

    return format_cents(to_cents(amount), currency, current_lang(), show_currency_codes())


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


def current_lang() -> str:
    """This context's language ('es', 'en'), read where Flask-Babel keeps it once chosen: lists call it often."""
    app_ctx = _cv_app.get(None)
    babel_ctx = app_ctx.g.__dict__.get("_flask_babel") if app_ctx is not None else None
    locale = getattr(babel_ctx, "babel_locale", None)
    return str(locale if locale is not None else (get_locale() or "es"))


def _translations() -> Any:
    """This context's translations, looked up once per context and locale (templates call gettext a lot)."""
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        return get_translations()
    babel_ctx = app_ctx.g.__dict__.get("_flask_babel")  # where Flask-Babel keeps the locale it chose
    locale = getattr(babel_ctx, "babel_locale", None)
    cached = app_ctx.g.__dict__.get("coberta_translations")
    if cached is not None and locale is not None and cached[0] is locale:
        return cached[1]
    translations = get_translations()  # resolves (and remembers) the locale first
    babel_ctx = _get_current_context()
    app_ctx.g.coberta_translations = (getattr(babel_ctx, "babel_locale", None), translations)
    return translations


def translations() -> Any:
    """This context's translations, looked up once per context and locale (for code that translates a lot)."""
    return _translations()


def install_fast_gettext(app: Flask) -> None:
    """Flask-Babel's template gettext, minus its per-call lookups and Jinja's double dispatch.

    Same strings and same newstyle semantics (``%`` formatting of keyword arguments, escaped when
    the template autoescapes): pages call ``_()`` dozens of times, so each call must be cheap.
    """
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )

    @pass_eval_context
    def gettext_(eval_ctx: EvalContext, string: str, /, **variables: Any) -> str:
        rv: str = _translations().ugettext(string)
        if eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 - our own catalogue, as Jinja does; the variables are escaped
        return rv % variables  # newstyle: always formatted, so "%%" means "%" everywhere

    @pass_eval_context
    def ngettext_(eval_ctx: EvalContext, singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        rv: str = _translations().ungettext(singular, plural, num)
        if eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 - our own catalogue, as Jinja does; the variables are escaped
        return rv % variables

    app.jinja_env.globals.update(_=gettext_, gettext=gettext_, ngettext=ngettext_)
