"""Words and formats for insurance data on screen: labels, badges, health in user words, money in cents.

Registered on the app as template globals and filters by the ``policies`` blueprint. What formatting
needs is prepared once per language or currency (date patterns, month names, money prefixes), never
cached per value: a large portfolio would outgrow any such cache (issue 9).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import flask_babel
from babel import Locale
from babel.dates import get_date_format as babel_get_date_format
from babel.dates import parse_pattern
from flask import Blueprint, g, has_request_context, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _pl
from flask_login import current_user

from aggregator.i18n import CURRENCY_SYMBOLS, NBSP, current_lang, datetime_short, format_cents, translations

GRACE_DAYS = 30  # a receipt's grace period when the insurer does not say (seeds 000 and 004)

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
    "scheduled": "badge-muted",  # not due yet: a date in the calendar, not a debt
    "due_today": "text-bg-warning",
    "overdue": "text-bg-danger",
    "lapsed": "text-bg-danger",
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


# Flask-Babel looks its domain, locale and catalogue up again on every call and every ``str()`` of a lazy
# string: about a hundred times for one "Mis seguros" (bench.pages). These go through the catalogue
# looked up once per request (``i18n.translations``), with Flask-Babel's own semantics.


def gettext(string: str, **variables: Any) -> str:
    """``flask_babel.gettext``, cheaper."""
    found: str = translations().ugettext(string)
    return found % variables if variables else found


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """``flask_babel.ngettext``, cheaper."""
    variables.setdefault("num", num)
    found: str = translations().ungettext(singular, plural, num)
    return found % variables


def text(value: Any) -> str:
    """A lazy string (``_l``, ``_pl``) in this request's language, cheaper than ``str()``.

    Reads the function and arguments a Flask-Babel ``LazyString`` keeps (``_func``, ``_args``, ``_kwargs``);
    tests/unit/test_presenters.py fails if Flask-Babel stops keeping them so.
    """
    func = getattr(value, "_func", None)
    if func is flask_babel.gettext:
        return gettext(*value._args, **value._kwargs)
    if func is flask_babel.pgettext:
        context, string = value._args
        found: str = translations().upgettext(context, string)
        return found % value._kwargs if value._kwargs else found
    return str(value)


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
STATUS_FILTER_LABELS = {  # short: a select on a phone shows its value in about 15 characters
    "active": _pl("policies", "Current"),
    "all": _pl("policies", "All"),
    "in_force": _l("Up to date"),
    "pending_payment": _l("Payment pending"),
    "expired": _pl("policies", "Expired"),
    "cancelled": _pl("policies", "Cancelled"),
    "overdue": _l("Receipt overdue"),  # current policies with a receipt past its due date
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
    "scheduled": _l("Scheduled"),
    "due_today": _l("Due today"),
    "overdue": _l("Overdue"),
    "lapsed": _l("Grace period over"),
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
    return {key: text(value) for key, value in CARD_TEXTS.items()}


def _label(table: dict[str, Any], value: str, default: str | None = None) -> str:
    found = table.get(value)
    if found is None:
        found = table.get(default) if default else None
    return text(found) if found is not None else value


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
    return {key: text(value) for key, value in POLICY_STATUS_LABELS.items()}


def status_filter_label(value: str) -> str:
    """The options of the dashboard's status filter."""
    if value in STATUS_FILTER_LABELS:
        return text(STATUS_FILTER_LABELS[value])
    return policy_status_label(value)


_MINOR_WORDS = frozenset({"de", "del", "la", "el", "los", "las", "por", "con", "en", "y", "a", "of", "the", "by"})


def _words(text: str) -> frozenset[str]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return frozenset(w for w in "".join(c if c.isalnum() else " " for c in plain).split() if w not in _MINOR_WORDS)


def insurer_words(label: str, wording: str | None) -> str | None:
    """The insurer's own wording, only where it adds something to our label ("Pendiente de pago" ≈ "Pago pendiente")."""
    if not wording or _words(wording) == _words(label):
        return None
    return wording


def claim_status_label(status: str) -> str:
    """A normalised claim status in the user's words."""
    return _label(CLAIM_STATUS_LABELS, status)


def claim_status_labels() -> dict[str, str]:
    """Every claim status in the user's words, for lists."""
    return {key: text(value) for key, value in CLAIM_STATUS_LABELS.items()}


def receipt_status_label(status: str) -> str:
    """A receipt status (or a ``receipt_state``) in the user's words."""
    return _label(RECEIPT_STATUS_LABELS, status)


def grace_end(due_date: date, grace_until: date | None) -> date:
    """The last day to pay a receipt and keep the cover: the insurer's date, or 30 days after the due date."""
    return grace_until or due_date + timedelta(days=GRACE_DAYS)


def receipt_state(status: str, due_date: date, grace_until: date | None, today: date) -> str:
    """What an unpaid receipt means today: 'scheduled' (not due yet), 'due_today', 'overdue' (in its grace
    period) or 'lapsed' (the grace period is over); other statuses are returned as they are."""
    if status not in ("pending", "overdue"):
        return status
    if due_date > today:
        return "scheduled"
    if due_date == today and status == "pending":
        return "due_today"
    return "lapsed" if grace_end(due_date, grace_until) < today else "overdue"


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


def show_currency_codes() -> bool:
    """Whether amounts show their ISO code: the signed-in user's data holds more than one currency.

    Decided once per request from the currencies the sync keeps per insurer account (``note_currencies``
    when the view already holds the accounts, else one small query).
    """
    if not has_request_context():
        return False
    found: bool | None = g.get("coberta_show_codes")
    if found is None:
        found = False
        if current_user and current_user.is_authenticated:
            from aggregator.services import portfolio  # the read side; imported late (it imports the models)

            found = len(portfolio.user_currencies(current_user.id)) > 1
        g.coberta_show_codes = found
    return found


def note_currencies(accounts: Iterable[Any]) -> None:
    """Decide ``show_currency_codes`` from the insurer accounts a view has already read."""
    g.coberta_show_codes = len({code for a in accounts for code in (a.currencies or ())}) > 1


def money_prefix(currency: str, show_code: bool) -> str:
    """What precedes an amount: its symbol, or its ISO code when the user holds several currencies (or the
    currency has no symbol of its own); the same rule as ``format_cents``."""
    code = currency.upper()
    return code + NBSP if show_code else CURRENCY_SYMBOLS.get(code, code + NBSP)


def money_cents(amount: int | None, currency: str | None = "MXN") -> str:
    """'$1.234,50' (Spanish) or '$1,234.50' (English) from 123450 cents; 'MXN 1.234,50' when the user
    holds more than one currency."""
    if amount is None:
        return "—"
    return format_cents(int(amount), currency or "MXN", _lang(), show_currency_codes())


# Babel formats a date in about 10 µs; a page of cards shows a few dozen. Each pattern is prepared once per
# language (month names and field order from Babel's own data), so a date costs one string format and no
# cache keyed by dates is needed: the data never outgrows anything (issue 9).
_DATE_FIELDS: dict[str, Any] = {
    "d": lambda d, months: str(d.day),
    "dd": lambda d, months: f"{d.day:02d}",
    "M": lambda d, months: str(d.month),
    "MM": lambda d, months: f"{d.month:02d}",
    "MMM": lambda d, months: months["abbreviated"][d.month],
    "MMMM": lambda d, months: months["wide"][d.month],
    "y": lambda d, months: str(d.year),
    "yyyy": lambda d, months: f"{d.year:04d}",
}


class DateStyle:
    """One date pattern in one language, prepared once: Babel's result for a fraction of its cost."""

    __slots__ = ("_fields", "_format", "_locale", "_months", "_pattern")

    def __init__(self, pattern: str, lang: str) -> None:
        self._locale = Locale.parse(lang)
        self._pattern = (
            babel_get_date_format("medium", locale=self._locale) if pattern == "medium" else parse_pattern(pattern)
        )
        self._format: str = str(self._pattern.format)  # '%(d)s %(MMM)s %(y)s': Babel's own field order
        keys = re.findall(r"%\((\w+)\)s", self._format)
        # A field this class does not know (eras, weekdays...) leaves the pattern to Babel, call by call.
        self._fields = [(k, _DATE_FIELDS[k]) for k in keys] if all(k in _DATE_FIELDS for k in keys) else None
        self._months = {
            "abbreviated": dict(self._locale.months["format"]["abbreviated"]),
            "wide": dict(self._locale.months["format"]["wide"]),
        }

    def __call__(self, value: date) -> str:
        """``value`` in this pattern and language."""
        if self._fields is None:
            return str(self._pattern.apply(value, self._locale))
        months = self._months
        return str(self._format % {key: fn(value, months) for key, fn in self._fields})


_styles: dict[tuple[str, str], DateStyle] = {}


def date_style(kind: str, lang: str) -> DateStyle:
    """The prepared 'medium' date or 'day_month' of a language (two languages: four objects in all)."""
    found = _styles.get((kind, lang))
    if found is None:
        pattern = "medium" if kind == "medium" else ("d MMM" if lang.startswith("es") else "MMM d")
        found = _styles[(kind, lang)] = DateStyle(pattern, lang)
    return found


def _day(value: date, lang: str) -> str:
    return date_style("medium", lang)(value)


def _day_month(value: date, lang: str) -> str:
    return date_style("day_month", lang)(value)


def day_short(value: date | None, today: date | None = None) -> str:
    """'22 dic' / 'Dec 22' for a date within half a year of today; the medium date otherwise."""
    if value is None:
        return "—"
    today = today or date.today()
    if abs((value - today).days) <= 180:
        return _day_month(value, _lang())
    return _day(value, _lang())


def day(value: date | datetime | None) -> str:
    """A medium date in the user's language (dates only)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.date()
    return _day(value, _lang())


def _open_claims(count: int, lang: str) -> str:
    return ngettext("%(num)d open claim", "%(num)d open claims", count)


class Formatter:
    """Money, numbers and dates in one language, decided once per page (lists format many values).

    What depends on the language and the currency (the date patterns, each currency's prefix) is prepared
    once; a value then costs a little arithmetic and one string format. Nothing is cached by value.
    """

    __slots__ = ("_claims", "_day", "_prefixes", "codes", "lang")

    def __init__(self, lang: str, codes: bool | None = False) -> None:
        self.lang = lang
        self.codes = codes  # None: decided by the first amount (``show_currency_codes``: maybe a query)
        self._day = date_style("medium", lang)
        self._prefixes: dict[str, str] = {}
        self._claims: dict[int, str] = {}  # "2 open claims": a handful of counts per page

    def money(self, amount: int | None, currency: str | None = "MXN") -> str:
        """Like the ``money_cents`` filter."""
        if amount is None:
            return "—"
        code = currency or "MXN"
        prefix = self._prefixes.get(code)
        if prefix is None:
            if self.codes is None:
                self.codes = show_currency_codes()
            prefix = self._prefixes[code] = money_prefix(code, self.codes)
        cents = int(amount)
        units, rest = divmod(abs(cents), 100)
        return ("-" if cents < 0 else "") + prefix + self.number(units) + ("," if self._es else ".") + f"{rest:02d}"

    @property
    def _es(self) -> bool:
        return self.lang.startswith("es")

    def number(self, value: int) -> str:
        """A whole number with the language's thousands separator: '50.000' / '50,000'."""
        grouped = f"{value:,}"
        return grouped.replace(",", ".") if self._es else grouped

    def open_claims(self, count: int) -> str:
        """'2 open claims', pluralised in the page's language."""
        found = self._claims.get(count)
        if found is None:
            found = self._claims[count] = _open_claims(count, self.lang)
        return found

    def day(self, value: date | None) -> str:
        """Like the ``day`` filter."""
        if value is None:
            return "—"
        return self._day(value)


def formatter() -> Formatter:
    """A formatter for the current request's language and user (a page that shows no amount asks nothing)."""
    return Formatter(_lang(), None)


@dataclass(slots=True)
class Card:
    """One policy card of "Mis seguros", every text ready: the template only places them.

    A dashboard shows dozens of cards; formatting in Python once per card costs a fraction of the
    same work done through template calls.
    """

    id: int
    number: str
    product: str
    insured: str | None
    status: str
    status_label: str
    status_class: str
    insurer_status: str
    insurer_name: str
    insurer_slug: str
    meta: str
    due: str | None
    due_overdue: bool
    renewal: str | None
    claims: str | None
    removed: bool
    age: str | None


def policy_cards(
    rows: Iterable[Any], accounts: Mapping[int, Any], many_profiles: bool, today: date, window: date
) -> list[Card]:
    """The cards of these dashboard rows; ``accounts``: rows of ``portfolio.account_rows`` by id."""
    from aggregator.services.portfolio import PROBLEM_STATUSES  # the read side; imported late (it imports the models)

    f = formatter()
    t = card_texts()
    labels = policy_status_labels()
    ages: dict[int, str | None] = {}  # the data's age of the accounts in trouble among these cards
    cards = []
    for p in rows:
        acc = accounts[p.account_id]
        meta = t["group"] % {"holder": p.holder_name} if p.group_policy else p.holder_name
        if many_profiles and (p.group_policy or acc.profile_name != p.holder_name):
            meta = f"{meta} · " + t["profile"] % {"name": acc.profile_name}
        due = None
        overdue = False
        if p.next_due_date:
            overdue = p.next_due_date < today
            text = t["overdue"] if overdue else t["next"]
            due = text % {"date": f.day(p.next_due_date)} + " · " + f.money(p.next_due_cents, p.currency)
        if acc.id not in ages:
            ages[acc.id] = datetime_short(acc.last_success_at) if acc.status in PROBLEM_STATUSES else None
        age = ages[acc.id]
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
                insurer_name=acc.insurer_name,
                insurer_slug=acc.insurer_slug,
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


INSTALMENTS = {"annual": 1, "semiannual": 2, "quarterly": 4, "monthly": 12}


def premium_text(policy: Any) -> str:
    """'Annual premium $1.873.272,00 · 12 payments of $156.106,00': the total with its name, then the instalments."""
    if policy.group_policy and not policy.premium_cents:
        return gettext("Paid by %(holder)s", holder=policy.holder_name)  # a group certificate: the employer pays
    f = formatter()
    total = f.money(policy.premium_cents, policy.currency)
    if 360 <= (policy.term_end - policy.term_start).days <= 370:
        head = gettext("Annual premium %(amount)s", amount=total)
    else:
        head = gettext("Premium for the term %(amount)s", amount=total)
    if policy.payment_frequency == "single":
        return head + " · " + gettext("single payment")
    count = INSTALMENTS.get(policy.payment_frequency)
    if count is None:
        return head
    if count == 1:
        return head + " · " + gettext("in one payment")
    share = f.money(round(policy.premium_cents / count), policy.currency)
    return (
        head + " · " + ngettext("%(num)d payment of %(amount)s", "%(num)d payments of %(amount)s", count, amount=share)
    )


@dataclass(frozen=True)
class Phone:
    """A phone of an insurer, ready for a ``tel:`` link."""

    label: str
    number: str
    href: str
    assistance: bool


def phones_for(book: Any, line: str | None, country: str | None) -> list[Phone]:
    """The insurer's phones for a policy of ``line`` held in ``country`` (an ``Insurer.support_phones`` value)."""
    if isinstance(book, Mapping):  # the older form: label -> number, for every line and country
        book = [{"label": label, "number": number} for label, number in book.items()]
    found = []
    for row in book or ():
        lines, countries = row.get("lines") or (), row.get("countries") or ()
        if (lines and line is not None and line not in lines) or (countries and country and country not in countries):
            continue
        number = str(row["number"])
        found.append(Phone(str(row["label"]), number, tel_href(number), bool(row.get("assistance"))))
    return found


COUNTRY_NAMES = {"MX": _l("Mexico"), "AR": _l("Argentina")}


def phone_directory(insurers: Iterable[Any]) -> list[tuple[str, str, list[tuple[str, str, Phone]]]]:
    """Every insurer's phones with what they are for (lines, countries): (name, slug, [(label, scope, phone)])."""
    directory = []
    for insurer in insurers:
        book = insurer.support_phones
        if isinstance(book, Mapping):
            book = [{"label": label, "number": number} for label, number in book.items()]
        rows = []
        for row in book or ():
            scope = [line_label(line) for line in row.get("lines") or ()]
            scope += [str(COUNTRY_NAMES.get(c, c)) for c in row.get("countries") or ()]
            number = str(row["number"])
            phone = Phone(str(row["label"]), number, tel_href(number), bool(row.get("assistance")))
            rows.append((phone.label, ", ".join(scope), phone))
        if rows:
            directory.append((insurer.name, insurer.slug, rows))
    return directory


def assistance_phone(phones: Sequence[Phone]) -> Phone | None:
    """The number to call for assistance: the first one the insurer marks so, else its first number."""
    return next((p for p in phones if p.assistance), phones[0] if phones else None)


def split_coverages(coverages: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(included, not included), each in the insurer's order: what protects the client comes first."""
    return [c for c in coverages if c.covered], [c for c in coverages if not c.covered]


ATTENTION_SHOWN = 3  # things of one kind listed in "Requiere atención"; the others are counted in one line


@dataclass
class AttentionItem:
    """One thing that needs the client: an overdue receipt, a claim waiting for them, a renewal, a connection.

    Kind 'more' stands for ``count`` further things of one kind, with a link to where they all are.
    """

    kind: str  # overdue | lapsed | claim | renewal | connection | more
    tone: str  # danger | warning | info
    icon: str
    title: str
    text: str
    href: str
    action: str
    detail: str | None = None
    count: int = 1
    at_least: bool = False  # 'more': only the first of them were read, there may be others


@dataclass
class Payment:
    """One upcoming receipt of "Próximos pagos"."""

    policy_id: int
    href: str
    when: str
    due_date: date
    title: str
    meta: str
    amount: str
    state: str
    state_label: str
    state_class: str


def _capped(
    items: list[AttentionItem], total: int, complete: bool, title: Any, href: str, action: str
) -> list[AttentionItem]:
    """The first ``ATTENTION_SHOWN`` items of a kind; when there are more, one 'more' line that counts them
    (as '27+' when only the first of them were read) and links to where they all are."""
    shown = items[:ATTENTION_SHOWN]
    hidden = total - len(shown)
    if hidden <= 0:
        return shown
    count = str(hidden) if complete else f"{hidden}+"
    text = title(hidden, count)
    more = AttentionItem("more", shown[0].tone, "plus-lg", text, "", href, action, count=hidden, at_least=not complete)
    return [*shown, more]


def attention_items(attention: Any, accounts: Mapping[int, Any], today: date) -> list[AttentionItem]:
    """What needs the client, most urgent first: overdue receipts, claims waiting for them, connections, renewals.

    ``accounts``: rows of ``portfolio.account_rows`` by id. A few of each kind are listed, whatever their
    number; a last line counts the others and links to them.
    """
    from aggregator.services import portfolio  # the read side; imported late (it imports the models)

    f = formatter()
    receipts: list[AttentionItem] = []
    overdue_rows = [r for r in attention.due if r.due_date < today or (r.due_date == today and r.status != "pending")]
    for r in overdue_rows[:ATTENTION_SHOWN]:
        account = accounts[r.account_id]
        insurer = account.insurer_name
        amount = f.money(r.amount_cents, r.currency)
        end = grace_end(r.due_date, r.grace_until)
        href = url_for("policies.detail", policy_id=r.policy_id)
        title = f"{r.product} · {insurer}"
        due = day_short(r.due_date, today)
        if end >= today:
            text = gettext(
                "Your %(amount)s receipt was due on %(due)s. Pay before %(grace)s to keep your cover.",
                amount=amount,
                due=due,
                grace=day_short(end, today),
            )
            receipts.append(
                AttentionItem("overdue", "danger", "exclamation-circle", title, text, href, gettext("See the policy"))
            )
        else:
            phone = assistance_phone(phones_for(r.phones, r.line, account.country))
            text = gettext(
                "Your %(amount)s receipt was due on %(due)s and its grace period ended on %(grace)s: "
                "%(insurer)s may cancel the policy.",
                amount=amount,
                due=due,
                grace=day_short(end, today),
                insurer=insurer,
            )
            if phone:
                text += " " + gettext(
                    "Call %(insurer)s at %(phone)s to know where it stands.", insurer=insurer, phone=phone.number
                )
            else:
                text += " " + gettext("Call %(insurer)s to know where it stands.", insurer=insurer)
            receipts.append(
                AttentionItem("lapsed", "danger", "exclamation-triangle", title, text, href, gettext("See the policy"))
            )
    receipts = _capped(
        receipts,
        len(overdue_rows),
        len(overdue_rows) < portfolio.OVERDUE_READ,
        lambda n, count: ngettext("%(count)s more overdue receipt", "%(count)s more overdue receipts", n, count=count),
        url_for("portal.dashboard", status="overdue"),
        gettext("See the policies"),
    )
    claims: list[AttentionItem] = []
    for c in attention.waiting[:ATTENTION_SHOWN]:
        insurer = accounts[c.account_id].insurer_name
        requested = [str(d) for d in (c.requested_documents or ())]
        if requested:
            text = gettext("%(insurer)s is waiting for documents from you:", insurer=insurer)
        else:
            text = gettext("%(insurer)s is waiting for documents from you to go on with this claim.", insurer=insurer)
        claims.append(
            AttentionItem(
                "claim",
                "warning",
                "file-earmark-text",
                gettext("Claim %(number)s · %(product)s", number=c.number, product=c.product),
                text,
                url_for("policies.claim_detail", claim_id=c.id),
                gettext("See what is missing"),
                detail="; ".join(requested) or None,
            )
        )
    claims = _capped(
        claims,
        len(attention.waiting),
        len(attention.waiting) < portfolio.MAX_ATTENTION,
        lambda n, count: ngettext(
            "%(count)s more claim waits for your documents",
            "%(count)s more claims wait for your documents",
            n,
            count=count,
        ),
        url_for("policies.claims", status="open"),
        gettext("See the claims"),
    )
    connections: list[AttentionItem] = []
    relink = [a for a in accounts.values() if a.status == "needs_attention" and a.last_error == "reauth"]
    for account in relink[:ATTENTION_SHOWN]:
        connections.append(
            AttentionItem(
                "connection",
                "warning",
                "link-45deg",
                f"{account.insurer_name} · {account.profile_name}",
                health_message(account.status, account.last_error, account.insurer_name, account.last_success_at),
                url_for("profiles.link"),
                gettext("Link it again"),
            )
        )
    connections = _capped(
        connections,
        len(relink),
        True,
        lambda n, count: ngettext(
            "%(count)s more profile must be linked again",
            "%(count)s more profiles must be linked again",
            n,
            count=count,
        ),
        url_for("profiles.link"),
        gettext("Link them again"),
    )
    renewals: list[AttentionItem] = []
    for p in attention.renewals[:ATTENTION_SHOWN]:
        insurer = accounts[p.account_id].insurer_name
        renewals.append(
            AttentionItem(
                "renewal",
                "info",
                "calendar-event",
                f"{p.product} · {insurer}",
                gettext(
                    "Your policy %(number)s ends on %(date)s: check that it is renewed.",
                    number=p.number,
                    date=day_short(p.term_end, today),
                ),
                url_for("policies.detail", policy_id=p.id),
                gettext("See the policy"),
            )
        )
    renewals = _capped(
        renewals,
        len(attention.renewals),
        len(attention.renewals) < portfolio.MAX_ATTENTION,
        lambda n, count: ngettext(
            "%(count)s more policy ends in the next 30 days",
            "%(count)s more policies end in the next 30 days",
            n,
            count=count,
        ),
        url_for("portal.dashboard") + "#results",  # the cards of each line go by the end of their term
        gettext("See the policies"),
    )
    return receipts + claims + connections + renewals


def attention_total(items: Iterable[AttentionItem]) -> str:
    """How many things need the client (those listed and those counted): '12', or '30+' when only the first of
    some kind were read."""
    items = list(items)
    total = formatter().number(sum(item.count for item in items))
    return total + "+" if any(item.at_least for item in items) else total


def upcoming_payments(attention: Any, accounts: Mapping[int, Any], today: date, limit: int = 5) -> list[Payment]:
    """The next receipt of each policy, soonest first (overdue ones are in the attention strip)."""
    f = formatter()
    seen: set[int] = set()
    found: list[Payment] = []
    for r in attention.due:
        state = receipt_state(r.status, r.due_date, r.grace_until, today)
        if state not in ("scheduled", "due_today") or r.policy_id in seen:
            continue
        seen.add(r.policy_id)
        found.append(
            Payment(
                policy_id=r.policy_id,
                href=url_for("policies.detail", policy_id=r.policy_id),
                when=day_short(r.due_date, today),
                due_date=r.due_date,
                title=r.product,
                meta=f"{accounts[r.account_id].insurer_name} · {r.policy_number}",
                amount=f.money(r.amount_cents, r.currency),
                state=state,
                state_label=receipt_status_label(state),
                state_class=RECEIPT_STATUS_CLASS[state],
            )
        )
        if len(found) == limit:
            break
    return found


def filter_chips(filters: Any, profiles: Iterable[Any], insurers: Iterable[Any]) -> list[tuple[str, str]]:
    """The active filters as (text, address without that filter): chips the results show, htmx or not."""
    args = filters.as_args()
    names: dict[str, tuple[str, dict[str, str]]] = {
        "profile": (gettext("Profile"), {str(p.id): p.name for p in profiles}),
        "insurer": (gettext("Insurer"), {i.slug: i.name for i in insurers}),
        "line": (gettext("Line"), {}),
        "status": (gettext("Status"), {}),
        "q": (gettext("Search"), {}),
    }
    chips = []
    for key, value in args.items():
        label, known = names[key]
        shown = known.get(value) or (
            line_label(value) if key == "line" else status_filter_label(value) if key == "status" else value
        )
        if key == "q":
            shown = f"“{value}”"
        rest = {k: v for k, v in args.items() if k != key}
        chips.append((f"{label}: {shown}", url_for("portal.dashboard", **rest)))
    return chips


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
    "receipt_state": receipt_state,
    "grace_end": grace_end,
    "insurer_words": insurer_words,
    "premium_text": premium_text,
    "phones_for": phones_for,
    "assistance_phone": assistance_phone,
    "split_coverages": split_coverages,
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
    """``health_message`` of an insurer account in trouble, a row of ``portfolio.account_rows`` (the notice)."""
    return health_message(account.status, account.last_error, account.insurer_name, account.last_success_at)


FILTERS: dict[str, Any] = {
    "problem_message": problem_message,
    "money_cents": money_cents,
    "day": day,
    "day_short": day_short,
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
