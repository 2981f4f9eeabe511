"""Words and formats for insurance data on screen: labels, badges, health in user words, money in cents.

Registered on the app as template globals and filters by the ``policies`` blueprint. Formatting
results are cached per (value, language): the dashboard renders the same amounts and dates on
every visit, and Babel's formatting is the costliest part of a row.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency
from flask import Blueprint
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _pl

from aggregator.i18n import current_lang, datetime_short

TERRITORY = {"MXN": "MX", "ARS": "AR", "USD": "US"}

LINE_ICONS = {
    "auto": "car-front",
    "gmm": "heart-pulse",
    "vida": "heart",
    "hogar": "house-door",
    "dispositivos": "phone",
    "otros": "umbrella",
}

POLICY_STATUS_CLASS = {
    "in_force": "text-bg-success",
    "pending_payment": "text-bg-warning",
    "expired": "text-bg-secondary",
    "cancelled": "text-bg-dark",
}

CLAIM_STATUS_CLASS = {
    "open": "text-bg-primary",
    "under_review": "text-bg-info",
    "closed_paid": "text-bg-success",
    "closed_unpaid": "text-bg-danger",
    "reopened": "text-bg-warning",
    "cancelled": "text-bg-secondary",
}

RECEIPT_STATUS_CLASS = {
    "paid": "text-bg-success",
    "pending": "text-bg-warning",
    "overdue": "text-bg-danger",
    "cancelled": "text-bg-secondary",
}

HEALTH_CLASS = {
    "ok": "text-bg-success",
    "syncing": "text-bg-info",
    "new": "text-bg-info",
    "stale": "text-bg-warning",
    "needs_attention": "text-bg-warning",
    "error": "text-bg-danger",
}


def _lang() -> str:
    return current_lang()


LINE_LABELS = {
    "auto": _l("Cars"),
    "gmm": _l("Major medical"),
    "vida": _l("Life"),
    "hogar": _l("Home"),
    "dispositivos": _l("Devices"),
    "otros": _l("Other"),
}
POLICY_STATUS_LABELS = {
    "in_force": _l("In force"),
    "pending_payment": _l("Payment pending"),
    "expired": _l("Expired"),
    "cancelled": _l("Cancelled"),
}
STATUS_FILTER_LABELS = {
    "active": _l("In force and payment pending"),
    "all": _l("All, including expired and cancelled"),
}
CLAIM_STATUS_LABELS = {
    "open": _l("Open"),
    "under_review": _l("Under review"),
    "closed_paid": _l("Closed, paid"),
    "closed_unpaid": _l("Closed, not paid"),
    "reopened": _l("Reopened"),
    "cancelled": _pl("claim", "Cancelled"),  # Spanish: "Cancelado" (el siniestro), not "Cancelada"
}
RECEIPT_STATUS_LABELS = {
    "paid": _l("Paid"),
    "pending": _l("Pending"),
    "overdue": _l("Overdue"),
    "cancelled": _pl("receipt", "Cancelled"),
}
FREQUENCY_LABELS = {
    "annual": _l("Annual"),
    "semiannual": _l("Every six months"),
    "quarterly": _l("Quarterly"),
    "monthly": _l("Monthly"),
    "single": _l("Single payment"),
}
DOCUMENT_KIND_LABELS = {
    "policy": _l("Policy"),
    "rc_obligatorio": _l("Compulsory third-party liability"),
    "receipt": _l("Receipt"),
    "claim": _l("Claim document"),
    "conditions": _l("General conditions"),
    "other": _l("Document"),
}
HEALTH_LABELS = {
    "ok": _l("Up to date"),
    "syncing": _l("Updating…"),
    "new": _l("Waiting for the first update"),
    "stale": _l("Showing older data"),
    "needs_attention": _l("Needs attention"),
    "error": _l("Not available yet"),
}

# Texts of a policy card with a per-row value: translated once per page, formatted per row.
CARD_TEXTS = {
    "group": _l("Group policy of %(holder)s"),
    "profile": _l("Profile: %(name)s"),
    "overdue": _l("Overdue since %(date)s"),
    "next": _l("Next receipt %(date)s"),
    "renews": _l("Renews %(date)s"),
    "age": _l("Data as of %(when)s"),
}


def card_texts() -> dict[str, str]:
    """The policy card's texts in the user's language, with their placeholders left in."""
    return {key: str(value) for key, value in CARD_TEXTS.items()}


def _label(table: dict[str, Any], value: str, default: str | None = None) -> str:
    found = table.get(value)
    if found is None:
        found = table.get(default) if default else None
    return str(found) if found is not None else value


def line_label(line: str) -> str:
    """The line of business in the user's words."""
    return _label(LINE_LABELS, line, "otros")


def line_icon(line: str) -> str:
    """The vendored icon of a line of business."""
    return LINE_ICONS.get(line, "umbrella")


def policy_status_label(status: str) -> str:
    """A policy status in the user's words."""
    return _label(POLICY_STATUS_LABELS, status)


def policy_status_labels() -> dict[str, str]:
    """Every policy status in the user's words (translated once per page, not once per row)."""
    return {key: str(value) for key, value in POLICY_STATUS_LABELS.items()}


def status_filter_label(value: str) -> str:
    """The options of the dashboard's status filter."""
    if value in STATUS_FILTER_LABELS:
        return str(STATUS_FILTER_LABELS[value])
    return policy_status_label(value)


def claim_status_label(status: str) -> str:
    """A normalised claim status in the user's words."""
    return _label(CLAIM_STATUS_LABELS, status)


def claim_status_labels() -> dict[str, str]:
    """Every claim status in the user's words, for lists."""
    return {key: str(value) for key, value in CLAIM_STATUS_LABELS.items()}


def receipt_status_label(status: str) -> str:
    """A receipt status in the user's words."""
    return _label(RECEIPT_STATUS_LABELS, status)


def frequency_label(value: str) -> str:
    """A payment frequency in the user's words."""
    return _label(FREQUENCY_LABELS, value)


def document_kind_label(kind: str) -> str:
    """A document kind in the user's words."""
    return _label(DOCUMENT_KIND_LABELS, kind, "other")


def health_label(status: str) -> str:
    """An insurer connection's status in a word or two."""
    return _label(HEALTH_LABELS, status)


def health_message(status: str, last_error: str | None, insurer: str, age: datetime | None) -> str:
    """What a connection's state means for the user, with the data's age when there is data."""
    when = datetime_short(age) if age else None
    if status == "syncing":
        return gettext("We are asking %(insurer)s for your latest data.", insurer=insurer)
    if status == "new":
        return gettext("We will bring your data from %(insurer)s in a moment.", insurer=insurer)
    if status == "ok":
        return gettext("Data as of %(when)s.", when=when or "—")
    if status == "needs_attention" and last_error == "reauth":
        return gettext(
            "%(insurer)s no longer recognises this profile: link it again with its ID and an active policy. "
            "You see the data as of %(when)s.",
            insurer=insurer,
            when=when or "—",
        )
    if status == "needs_attention":
        return gettext(
            "The portal's connection with %(insurer)s needs attention from our team; we are on it. "
            "You see the data as of %(when)s.",
            insurer=insurer,
            when=when or "—",
        )
    if last_error == "invalid":
        reason = gettext("%(insurer)s sent data we could not check, so we kept the previous copy.", insurer=insurer)
    elif last_error == "internal":
        reason = gettext("We could not update your data from %(insurer)s.", insurer=insurer)
    else:
        reason = gettext("%(insurer)s is not answering right now.", insurer=insurer)
    if when is None:
        return reason + " " + gettext("We will try again shortly.")
    return reason + " " + gettext("You see the data as of %(when)s.", when=when)


@lru_cache(maxsize=4096)
def _money_cents(amount: int, currency: str, lang: str) -> str:
    territory = TERRITORY.get(currency.upper(), "MX")
    locale = f"{lang}_{territory}" if lang == "es" else "en_US"
    return format_currency(Decimal(amount) / 100, currency.upper(), locale=locale)


def money_cents(amount: int | None, currency: str | None = "MXN") -> str:
    """'$1,234.50' from 123450 cents, as the currency's country writes it."""
    if amount is None:
        return "—"
    return _money_cents(int(amount), currency or "MXN", _lang())


@lru_cache(maxsize=4096)
def _day(value: date, lang: str) -> str:
    return babel_format_date(value, "medium", locale=lang)


def day(value: date | datetime | None) -> str:
    """A medium date in the user's language (dates only; cached)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.date()
    return _day(value, _lang())


@lru_cache(maxsize=256)
def _open_claims(count: int, lang: str) -> str:
    return ngettext("%(num)d open claim", "%(num)d open claims", count)


class Formatter:
    """Money and dates in one language, decided once per page (lists format many values)."""

    __slots__ = ("lang",)

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def money(self, amount: int | None, currency: str | None = "MXN") -> str:
        """Like the ``money_cents`` filter."""
        if amount is None:
            return "—"
        return _money_cents(int(amount), currency or "MXN", self.lang)

    def open_claims(self, count: int) -> str:
        """'2 open claims', pluralised in the page's language."""
        return _open_claims(count, self.lang)

    def day(self, value: date | None) -> str:
        """Like the ``day`` filter."""
        if value is None:
            return "—"
        return _day(value, self.lang)


def formatter() -> Formatter:
    """A formatter for the current request's language."""
    return Formatter(_lang())


class Card:
    """One policy card of "Mis seguros", every text ready: the template only places them.

    A dashboard shows dozens of cards; formatting in Python once per card costs a fraction of the
    same work done through template calls.
    """

    __slots__ = (
        "age",
        "claims",
        "due",
        "due_overdue",
        "id",
        "insured",
        "insurer_name",
        "insurer_slug",
        "insurer_status",
        "meta",
        "number",
        "product",
        "removed",
        "renewal",
        "status",
        "status_class",
        "status_label",
    )

    def __init__(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self, key, value)


def policy_cards(
    rows: list[Any], accounts: dict[int, Any], ages: dict[int, str], many_profiles: bool, today: date, window: date
) -> list[Card]:
    """The cards of these dashboard rows; ``accounts`` by id (with insurer and profile), ``ages`` of stale ones."""
    f = formatter()
    t = card_texts()
    labels = policy_status_labels()
    cards = []
    for p in rows:
        acc = accounts[p.account_id]
        meta = t["group"] % {"holder": p.holder_name} if p.group_policy else p.holder_name
        if many_profiles and (p.group_policy or acc.profile.name != p.holder_name):
            meta = f"{meta} · " + t["profile"] % {"name": acc.profile.name}
        due = None
        overdue = False
        if p.next_due_date:
            overdue = p.next_due_date < today
            text = t["overdue"] if overdue else t["next"]
            due = text % {"date": f.day(p.next_due_date)} + " · " + f.money(p.next_due_cents, p.currency)
        age = ages.get(acc.id)
        cards.append(
            Card(
                id=p.id,
                number=p.number,
                product=p.product,
                insured=p.insured_summary,
                status=p.status,
                status_label=labels.get(p.status, p.status),
                status_class=POLICY_STATUS_CLASS.get(p.status, "text-bg-secondary"),
                insurer_status=p.insurer_status,
                insurer_name=acc.insurer.name,
                insurer_slug=acc.insurer.slug,
                meta=meta,
                due=due,
                due_overdue=overdue,
                renewal=t["renews"] % {"date": f.day(p.term_end)} if today <= p.term_end <= window else None,
                claims=f.open_claims(p.open_claims) if p.open_claims else None,
                removed=p.removed_upstream_at is not None,
                age=t["age"] % {"when": age} if age else None,
            )
        )
    return cards


def percent(basis_points: int | None) -> str:
    """'5 %' from 500 basis points."""
    if basis_points is None:
        return "—"
    value = Decimal(basis_points) / 100
    text = f"{value.normalize():f}"
    return f"{text} %"


def iso_datetime(value: str | None) -> datetime | None:
    """A claim history timestamp (ISO text in JSON) as a datetime."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def iso_date(value: str | date | None) -> date | None:
    """A date kept as ISO text in JSON (birth dates of insured people) as a date."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def tel_href(phone: str) -> str:
    """A tel: link target: digits and a leading plus only."""
    return "tel:" + "".join(c for c in phone if c.isdigit() or c == "+")


GLOBALS: dict[str, Any] = {
    "line_label": line_label,
    "line_icon": line_icon,
    "policy_status_label": policy_status_label,
    "policy_status_labels": policy_status_labels,
    "claim_status_labels": claim_status_labels,
    "card_texts": card_texts,
    "formatter": formatter,
    "status_filter_label": status_filter_label,
    "claim_status_label": claim_status_label,
    "receipt_status_label": receipt_status_label,
    "frequency_label": frequency_label,
    "document_kind_label": document_kind_label,
    "health_label": health_label,
    "health_message": health_message,
    "POLICY_STATUS_CLASS": POLICY_STATUS_CLASS,
    "CLAIM_STATUS_CLASS": CLAIM_STATUS_CLASS,
    "RECEIPT_STATUS_CLASS": RECEIPT_STATUS_CLASS,
    "HEALTH_CLASS": HEALTH_CLASS,
}


def problem_message(account: Any) -> str:
    """``health_message`` of an insurer account in trouble (one line of the dashboard's notice)."""
    return health_message(account.status, account.last_error, account.insurer.name, account.last_success_at)


FILTERS: dict[str, Any] = {
    "problem_message": problem_message,
    "money_cents": money_cents,
    "day": day,
    "percent": percent,
    "iso_datetime": iso_datetime,
    "iso_date": iso_date,
    "tel_href": tel_href,
}


def register(bp: Blueprint) -> None:
    """Make the helpers available to every template once ``bp`` is registered."""

    @bp.record_once
    def _install(state: Any) -> None:
        state.app.jinja_env.globals.update(GLOBALS)
        state.app.jinja_env.filters.update(FILTERS)
