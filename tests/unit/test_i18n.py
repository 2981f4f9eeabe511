"""The Spanish catalogue is complete and compiled; money and dates follow the user's language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import force_locale

from aggregator.i18n import date_short, datetime_short, money

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "aggregator" / "translations" / "es" / "LC_MESSAGES"


def _source_messages() -> set[str]:
    method_map = [("aggregator/**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(str(ROOT), method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def test_every_string_has_a_spanish_translation() -> None:
    with (CATALOGUE / "messages.po").open("rb") as fh:
        catalogue = read_po(fh)
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in catalogue
        if m.id and m.string and all(_key(m.string)) and not m.fuzzy
    }
    missing = sorted(_source_messages() - translated)
    assert missing == [], "run scripts/i18n.sh update, translate, then scripts/i18n.sh compile:\n" + "\n".join(missing)


def test_compiled_catalogue_matches_the_po_file() -> None:
    with (CATALOGUE / "messages.po").open("rb") as fh:
        po = {_key(m.id): _key(m.string) for m in read_po(fh) if m.id and not m.fuzzy}
    with (CATALOGUE / "messages.mo").open("rb") as fh:
        mo = {_key(m.id): _key(m.string) for m in read_mo(fh) if m.id}
    assert mo == po, "run scripts/i18n.sh compile"


def test_money_and_dates_by_language(app: Flask) -> None:
    moment = datetime(2026, 11, 26, 16, 42, tzinfo=UTC)
    with app.test_request_context():
        with force_locale("es"):  # one number format per interface language, whatever the currency
            assert money(Decimal("1234.5"), "MXN") == "$1.234,50"
            assert money(Decimal("1234.5"), "ARS") == "$1.234,50"
            assert date_short(date(2026, 11, 26)) == "26 nov 2026"
            assert datetime_short(moment) == "26 nov 2026, 10:42"  # shown in Mexico City time
        with force_locale("en"):
            assert money(Decimal("1234.5"), "MXN") == "$1,234.50"
            assert date_short(date(2026, 11, 26)) == "Nov 26, 2026"
            assert datetime_short(moment).replace("\u202f", " ") == "Nov 26, 2026, 10:42 AM"
