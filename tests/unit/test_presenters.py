"""Money, receipts, insurer words, premiums and phones as "Mis seguros" shows them (issue 8 §3)."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask, g
from flask_babel import force_locale

from aggregator.i18n import format_cents
from aggregator.policies import presenters

TODAY = date(2026, 12, 2)
NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("cents", "currency", "lang", "codes", "shown"),
    [
        (187327250, "MXN", "es", False, "$1.873.272,50"),
        (187327250, "MXN", "en", False, "$1,873,272.50"),
        (187327250, "MXN", "es", True, f"MXN{NBSP}1.873.272,50"),
        (15610600, "ARS", "es", True, f"ARS{NBSP}156.106,00"),
        (15610600, "ARS", "en", True, f"ARS{NBSP}156,106.00"),
        (15610600, "ARS", "es", False, "$156.106,00"),  # one currency: the symbol is unambiguous
        (5, "MXN", "es", False, "$0,05"),
        (0, "MXN", "en", False, "$0.00"),
        (-123456, "MXN", "es", False, "-$1.234,56"),
        (100000, "CLP", "es", False, f"CLP{NBSP}1.000,00"),  # no symbol of its own: its code
        (99999, "USD", "en", False, "US$999.99"),
    ],
)
def test_one_money_format_per_language(cents: int, currency: str, lang: str, codes: bool, shown: str) -> None:
    assert format_cents(cents, currency, lang, codes) == shown


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("codes", [False, True])
def test_a_page_formats_money_like_the_one_format_without_caching_values(lang: str, codes: bool) -> None:
    """Lists use a Formatter prepared once per currency and language; no cache keyed by amounts, which a large
    portfolio would outgrow (issue 9: a cache of 4,096 amounts thrashed above 4,096 policies)."""
    f = presenters.Formatter(lang, codes)
    for cents in (0, 5, 99, 100, 123456, -123456, 187327250, 10**15 + 7, *range(-2000, 200_000, 997)):
        for currency in ("MXN", "ARS", "USD", "CLP"):
            assert f.money(cents, currency) == format_cents(cents, currency, lang, codes)
    assert not hasattr(format_cents, "cache_info")
    assert f.number(50000) == ("50.000" if lang == "es" else "50,000") and f.number(7) == "7"


@pytest.mark.parametrize("lang", ["es", "en"])
def test_dates_are_babels_without_babels_cost(lang: str) -> None:
    """Dates are formatted from each language's pattern prepared once: Babel's very words, every day of
    three years, in both formats the pages use."""
    from babel.dates import format_date

    short = "d MMM" if lang == "es" else "MMM d"
    day = date(2025, 1, 1)
    while day < date(2028, 1, 1):
        assert presenters.date_style("medium", lang)(day) == format_date(day, "medium", locale=lang)
        assert presenters.date_style("day_month", lang)(day) == format_date(day, short, locale=lang)
        day += timedelta(days=1)
    assert presenters.Formatter(lang).day(date(2026, 12, 2)) == format_date(date(2026, 12, 2), "medium", locale=lang)


@pytest.mark.parametrize(
    ("status", "due", "grace", "state"),
    [
        ("pending", TODAY + timedelta(days=3), None, "scheduled"),  # not due yet: never a debt
        ("pending", TODAY, None, "due_today"),
        ("overdue", TODAY - timedelta(days=9), TODAY + timedelta(days=21), "overdue"),
        ("pending", TODAY - timedelta(days=1), None, "overdue"),  # data older than its due date
        ("overdue", TODAY - timedelta(days=40), TODAY - timedelta(days=10), "lapsed"),
        ("overdue", TODAY - timedelta(days=31), None, "lapsed"),  # 30 days of grace when the insurer says none
        ("overdue", TODAY - timedelta(days=30), None, "overdue"),
        ("paid", TODAY - timedelta(days=30), None, "paid"),
    ],
)
def test_receipt_states(status: str, due: date, grace: date | None, state: str) -> None:
    assert presenters.receipt_state(status, due, grace, TODAY) == state


@pytest.mark.parametrize(
    ("label", "wording", "shown"),
    [
        ("Pago pendiente", "Pendiente de pago", None),
        ("Vigente", "VIGENTE", None),
        ("En trámite", "En Tramite", None),
        ("En revisión", "Documentación pendiente", "Documentación pendiente"),
        ("Cancelada", "Cancelada por falta de pago", "Cancelada por falta de pago"),
        ("In force", "Vigente", "Vigente"),
        ("Vigente", None, None),
    ],
)
def test_the_insurers_words_only_where_they_add_something(label: str, wording: str | None, shown: str | None) -> None:
    assert presenters.insurer_words(label, wording) == shown


def _policy(**changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "premium_cents": 187327200,
        "currency": "ARS",
        "payment_frequency": "monthly",
        "term_start": date(2026, 9, 9),
        "term_end": date(2027, 9, 9),
        "group_policy": False,
        "holder_name": "Julieta Álvarez",
    }
    values.update(changes)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    ("lang", "codes", "changes", "shown"),
    [
        ("es", False, {}, "Prima anual $1.873.272,00 · 12 pagos de $156.106,00"),
        ("es", True, {}, f"Prima anual ARS{NBSP}1.873.272,00 · 12 pagos de ARS{NBSP}156.106,00"),
        ("en", False, {}, "Annual premium $1,873,272.00 · 12 payments of $156,106.00"),
        ("es", False, {"payment_frequency": "annual"}, "Prima anual $1.873.272,00 · en un solo pago"),
        (
            "es",
            False,
            {"payment_frequency": "quarterly", "premium_cents": 1000000},
            "Prima anual $10.000,00 · 4 pagos de $2.500,00",
        ),
        (
            "es",
            False,
            {"payment_frequency": "single", "term_end": date(2027, 3, 9)},
            "Prima de la vigencia $1.873.272,00 · pago único",
        ),
        ("es", False, {"group_policy": True, "premium_cents": 0, "holder_name": "Acme"}, "A cargo de Acme"),
    ],
)
def test_premium_names_the_total_and_the_instalments(
    app: Flask, lang: str, codes: bool, changes: dict[str, Any], shown: str
) -> None:
    with app.test_request_context(), force_locale(lang):
        g.coberta_show_codes = codes
        text = presenters.premium_text(_policy(**changes))
    assert text == shown
    assert "Mensual" not in text and "Monthly" not in text  # never a yearly total labelled with the frequency


def test_every_amount_shows_its_code_when_the_user_holds_two_currencies(app: Flask) -> None:
    with app.test_request_context(), force_locale("es"):
        presenters.note_currencies([SimpleNamespace(currencies=["MXN"]), SimpleNamespace(currencies=["ARS"])])
        assert presenters.money_cents(458350, "MXN") == f"MXN{NBSP}4.583,50"
        assert presenters.formatter().money(15610600, "ARS") == f"ARS{NBSP}156.106,00"
    with app.test_request_context(), force_locale("es"):
        presenters.note_currencies([SimpleNamespace(currencies=["MXN"]), SimpleNamespace(currencies=["MXN"])])
        assert presenters.money_cents(458350, "MXN") == "$4.583,50"


BOOK = [
    {"label": "Grúa", "number": "0800 555 0143", "lines": ["auto"], "countries": ["AR"], "assistance": True},
    {"label": "Siniestros AR", "number": "0800 555 0142", "lines": [], "countries": ["AR"], "assistance": True},
    {"label": "Siniestros MX", "number": "800 555 0142", "lines": [], "countries": ["MX"], "assistance": True},
    {"label": "Quejas", "number": "55 5340 0999", "lines": [], "countries": [], "assistance": False},
]


def test_phones_for_the_policys_line_and_country() -> None:
    auto_ar = presenters.phones_for(BOOK, "auto", "AR")
    assert [p.label for p in auto_ar] == ["Grúa", "Siniestros AR", "Quejas"]
    assert presenters.assistance_phone(auto_ar) == auto_ar[0] and auto_ar[0].href == "tel:08005550143"
    home_mx = presenters.phones_for(BOOK, "hogar", "MX")
    assert [p.label for p in home_mx] == ["Siniestros MX", "Quejas"]
    assert presenters.assistance_phone(home_mx) == home_mx[0]
    # The older form of the mirror (label -> number) is every line and country; its first number is the one.
    old = presenters.phones_for({"Cabina": "55 5227 9000"}, "vida", "AR")
    assert [p.number for p in old] == ["55 5227 9000"] and presenters.assistance_phone(old) == old[0]
    assert presenters.assistance_phone([]) is None


@pytest.mark.parametrize("lang", ["es", "en"])
def test_labels_and_messages_translate_as_flask_babel_does(app: Flask, lang: str) -> None:
    """``presenters.text``/``gettext``/``ngettext`` skip Flask-Babel's per-call lookups (about a hundred on a
    dashboard, bench.pages) by reading what its LazyString keeps: this fails if Flask-Babel changes that."""
    import flask_babel

    tables = (
        presenters.LINE_LABELS,
        presenters.POLICY_STATUS_LABELS,
        presenters.STATUS_FILTER_LABELS,
        presenters.CLAIM_STATUS_LABELS,
        presenters.RECEIPT_STATUS_LABELS,
        presenters.HEALTH_LABELS,
        presenters.CARD_TEXTS,
    )
    with app.test_request_context(), force_locale(lang):
        for table in tables:
            for lazy in table.values():
                assert lazy._func in (flask_babel.gettext, flask_babel.pgettext)
                assert presenters.text(lazy) == str(lazy)
        assert presenters.gettext("Claim %(number)s · %(product)s", number="S1", product="Vida") == flask_babel.gettext(
            "Claim %(number)s · %(product)s", number="S1", product="Vida"
        )
        for n in (1, 2, 5):
            assert presenters.ngettext("%(num)d open claim", "%(num)d open claims", n) == flask_babel.ngettext(
                "%(num)d open claim", "%(num)d open claims", n
            )
    assert presenters.text("plain") == "plain"
