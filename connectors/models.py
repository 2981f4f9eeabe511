"""Canonical records exchanged between connectors and the portal: frozen, typed, validated.

Money is always ``Decimal`` + ISO 4217 currency, never float. Datetimes are timezone-aware;
plain ``date`` is used for calendar days (term start/end, due dates). Every connector maps its
insurer's vocabulary onto these enums and keeps the insurer's own wording beside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

# --- vocabularies --------------------------------------------------------------------------------


class Line(StrEnum):
    """Line of business."""

    AUTO = "auto"
    GMM = "gmm"  # gastos médicos mayores (major medical)
    VIDA = "vida"
    HOGAR = "hogar"
    DISPOSITIVOS = "dispositivos"
    OTHER = "otros"


class PolicyStatus(StrEnum):
    """Where a policy stands. The portal shows in-force and pending-payment ones by default (seed 000)."""

    IN_FORCE = "in_force"
    PENDING_PAYMENT = "pending_payment"  # in its grace period with a receipt unpaid
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ReceiptStatus(StrEnum):
    PAID = "paid"
    PENDING = "pending"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


class ClaimStatus(StrEnum):
    """Claim statuses, after Open Insurance Brasil's set (DESIGN §3)."""

    OPEN = "open"
    UNDER_REVIEW = "under_review"
    CLOSED_PAID = "closed_paid"
    CLOSED_UNPAID = "closed_unpaid"
    REOPENED = "reopened"
    CANCELLED = "cancelled"


OPEN_CLAIM_STATUSES = frozenset({ClaimStatus.OPEN, ClaimStatus.UNDER_REVIEW, ClaimStatus.REOPENED})


class PaymentFrequency(StrEnum):
    ANNUAL = "annual"
    SEMIANNUAL = "semiannual"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"
    SINGLE = "single"


class PartyKind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class TaxIdType(StrEnum):
    """Tax / identity numbers the portal links profiles with (seed 003)."""

    RFC = "RFC"  # Mexico, people and companies
    CURP = "CURP"  # Mexico, people
    CUIT = "CUIT"  # Argentina, companies and self-employed people
    CUIL = "CUIL"  # Argentina, employees
    DNI = "DNI"  # Argentina, people


class DocumentKind(StrEnum):
    POLICY = "policy"  # the policy (carátula + conditions)
    RC_OBLIGATORIO = "rc_obligatorio"  # "Póliza de Responsabilidad Civil Obligatorio" (auto, seed 000)
    RECEIPT = "receipt"
    CLAIM = "claim"
    CONDITIONS = "conditions"
    OTHER = "other"


class DeductibleKind(StrEnum):
    PERCENTAGE = "percentage"  # of the sum insured (or of the loss, per ``basis``)
    AMOUNT = "amount"
    NONE = "none"


# --- validation helpers --------------------------------------------------------------------------

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SEEN_CURRENCIES: set[str] = set()  # codes that passed _CURRENCY: at most 26³ of them


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _aware(value: datetime | None, name: str) -> None:
    if value is not None:
        _require(isinstance(value, datetime), f"{name} must be a datetime")
        _require(value.tzinfo is not None and value.utcoffset() is not None, f"{name} must be timezone-aware")


def _day(value: date | None, name: str) -> None:
    if value is not None:
        _require(isinstance(value, date) and not isinstance(value, datetime), f"{name} must be a date")


def _text(value: str | None, name: str, *, required: bool = True) -> None:
    # The common case first, without further calls: every record checks several texts (bench.large).
    if value.__class__ is str and (not required or value.strip()):  # type: ignore[union-attr]
        return
    if value is None:
        _require(not required, f"{name} is required")
        return
    _require(isinstance(value, str), f"{name} must be text")
    if required:
        _require(bool(value.strip()), f"{name} must not be empty")  # type: ignore[union-attr]


# --- value objects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Money:
    """An amount in one currency. ``Decimal`` only: a float is refused, not rounded."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        # The common case first, without the regular expression: a portfolio holds thousands of amounts.
        known = self.currency.__class__ is str and self.currency in _SEEN_CURRENCIES
        if known and self.amount.__class__ is Decimal and self.amount.is_finite():
            return
        _require(isinstance(self.amount, Decimal), f"amount must be a Decimal, not {type(self.amount).__name__}")
        _require(self.amount.is_finite(), "amount must be finite")
        _require(isinstance(self.currency, str) and bool(_CURRENCY.match(self.currency)), "currency: ISO 4217 code")
        _SEEN_CURRENCIES.add(self.currency)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """``Money.of("1234.50", "MXN")``; ints and strings are exact, floats are refused."""
        if isinstance(amount, float):
            raise ValueError("amount must not be a float")
        return cls(Decimal(amount), currency)

    @classmethod
    def from_cents(cls, cents: int, currency: str) -> Money:
        """An amount given in cents (minor units)."""
        _require(isinstance(cents, int) and not isinstance(cents, bool), "cents must be an integer")
        return cls(Decimal(cents).scaleb(-2), currency)


@dataclass(frozen=True)
class TaxId:
    """A tax or identity number, normalised: upper case, no spaces, dots or dashes."""

    type: TaxIdType
    number: str

    def __post_init__(self) -> None:
        _require(isinstance(self.type, TaxIdType), "type must be a TaxIdType")
        normalised = re.sub(r"[\s.\-]", "", str(self.number)).upper()
        object.__setattr__(self, "number", normalised)
        _require(bool(normalised), "number must not be empty")

    def masked(self) -> str:
        """For logs and screens: the type and the last 3 characters only."""
        return f"{self.type.value} …{self.number[-3:]}"


@dataclass(frozen=True)
class Party:
    """A person or company named in a policy (holder, contracting employer...)."""

    name: str
    kind: PartyKind
    tax_id: TaxId | None = None

    def __post_init__(self) -> None:
        _text(self.name, "party name")
        _require(isinstance(self.kind, PartyKind), "kind must be a PartyKind")


@dataclass(frozen=True)
class ClientMatch:
    """The insurer's answer to a linking proof or an email lookup: who this client is to them."""

    client_ref: str  # the insurer's own client reference; opaque to the portal
    name: str
    kind: PartyKind
    tax_id: TaxId | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        _text(self.client_ref, "client_ref")
        _text(self.name, "client name")
        _require(isinstance(self.kind, PartyKind), "kind must be a PartyKind")


# --- insured objects ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Vehicle:
    make: str
    model: str
    year: int
    version: str | None = None
    vin: str | None = None
    plate: str | None = None
    use: str | None = None  # particular, carga, ...

    def __post_init__(self) -> None:
        _text(self.make, "vehicle make")
        _text(self.model, "vehicle model")
        _require(isinstance(self.year, int) and 1900 < self.year < 2100, "vehicle year")


@dataclass(frozen=True)
class Device:
    kind: str  # celular, laptop, tablet, smartwatch, consola...
    brand: str
    model: str
    serial: str | None = None
    imei: str | None = None

    def __post_init__(self) -> None:
        _text(self.kind, "device kind")
        _text(self.brand, "device brand")
        _text(self.model, "device model")


@dataclass(frozen=True)
class Home:
    address: str
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    construction: str | None = None  # macizo, ...
    use: str | None = None  # casa habitación, departamento...

    def __post_init__(self) -> None:
        _text(self.address, "home address")


@dataclass(frozen=True)
class InsuredPerson:
    name: str
    relationship: str | None = None  # titular, cónyuge, hijo(a), empleado...
    birth_date: date | None = None

    def __post_init__(self) -> None:
        _text(self.name, "insured person name")
        _day(self.birth_date, "birth_date")


@dataclass(frozen=True)
class InsuredPeople:
    """The people a GMM or Vida policy covers (one for an individual policy)."""

    people: tuple[InsuredPerson, ...]

    def __post_init__(self) -> None:
        _require(isinstance(self.people, tuple) and len(self.people) > 0, "at least one insured person")


@dataclass(frozen=True)
class Devices:
    """A multi-device policy (seed 002: up to 2 phones among the devices)."""

    devices: tuple[Device, ...]

    def __post_init__(self) -> None:
        _require(isinstance(self.devices, tuple) and len(self.devices) > 0, "at least one device")


InsuredObject = Vehicle | Device | Devices | Home | InsuredPeople


# --- policy parts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deductible:
    """A deductible: a percentage, an amount, or none. ``basis`` says of what (valor comercial...)."""

    kind: DeductibleKind
    percentage: Decimal | None = None
    amount: Money | None = None
    basis: str | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.kind, DeductibleKind), "kind must be a DeductibleKind")
        if self.kind is DeductibleKind.PERCENTAGE:
            _require(isinstance(self.percentage, Decimal), "a percentage deductible needs a Decimal percentage")
            assert self.percentage is not None
            _require(Decimal(0) <= self.percentage <= Decimal(100), "percentage between 0 and 100")
            _require(self.amount is None, "a percentage deductible has no amount")
        elif self.kind is DeductibleKind.AMOUNT:
            _require(isinstance(self.amount, Money), "an amount deductible needs Money")
            _require(self.percentage is None, "an amount deductible has no percentage")
        else:
            _require(self.percentage is None and self.amount is None, "no deductible has no value")


@dataclass(frozen=True)
class Coverage:
    code: str
    name: str
    covered: bool = True  # "amparada" in the policy's carátula
    sum_insured: Money | None = None  # or limit
    sum_insured_basis: str | None = None  # Valor Comercial / Factura / Convenido / por evento...
    deductible: Deductible | None = None
    notes: str | None = None  # waiting periods, coinsurance...

    def __post_init__(self) -> None:
        _text(self.code, "coverage code")
        _text(self.name, "coverage name")
        _require(isinstance(self.covered, bool), "covered must be a bool")
        _require(self.sum_insured is None or isinstance(self.sum_insured, Money), "sum_insured must be Money")
        _require(self.deductible is None or isinstance(self.deductible, Deductible), "deductible")


@dataclass(frozen=True)
class Receipt:
    """A premium instalment ("recibo")."""

    number: str
    due_date: date
    amount: Money
    status: ReceiptStatus
    period_start: date | None = None
    period_end: date | None = None
    grace_until: date | None = None  # 30 days after the due date unless the policy says otherwise
    paid_at: datetime | None = None
    method: str | None = None  # tarjeta, domiciliación, transferencia...

    def __post_init__(self) -> None:
        _text(self.number, "receipt number")
        _day(self.due_date, "due_date")
        _require(isinstance(self.amount, Money), "amount must be Money")
        _require(isinstance(self.status, ReceiptStatus), "status must be a ReceiptStatus")
        _day(self.period_start, "period_start")
        _day(self.period_end, "period_end")
        _day(self.grace_until, "grace_until")
        _aware(self.paid_at, "paid_at")
        _require((self.status is ReceiptStatus.PAID) == (self.paid_at is not None), "paid_at iff paid")


@dataclass(frozen=True)
class DocumentRef:
    """A document the insurer can serve; ``ref`` is what ``Connector.document`` takes back."""

    ref: str
    kind: DocumentKind
    title: str
    media_type: str = "application/pdf"

    def __post_init__(self) -> None:
        _text(self.ref, "document ref")
        _require(isinstance(self.kind, DocumentKind), "kind must be a DocumentKind")
        _text(self.title, "document title")


@dataclass(frozen=True)
class Policy:
    external_id: str  # the insurer's stable id: the upsert key with the insurer
    number: str  # what the client reads on the policy
    line: Line
    product: str
    status: PolicyStatus
    insurer_status: str  # the insurer's own wording
    term_start: date
    term_end: date
    premium: Money  # total premium of the term
    payment_frequency: PaymentFrequency
    holder: Party  # the contracting party ("contratante"): the employer in a group policy
    insured: InsuredObject | None = None
    group: bool = False  # corporate policy: the person is insured through an employer (seed 000)
    coverages: tuple[Coverage, ...] = ()
    receipts: tuple[Receipt, ...] = ()
    documents: tuple[DocumentRef, ...] = ()

    def __post_init__(self) -> None:
        _text(self.external_id, "external_id")
        _text(self.number, "policy number")
        _require(isinstance(self.line, Line), "line must be a Line")
        _text(self.product, "product")
        _require(isinstance(self.status, PolicyStatus), "status must be a PolicyStatus")
        _text(self.insurer_status, "insurer_status")
        _day(self.term_start, "term_start")
        _day(self.term_end, "term_end")
        _require(self.term_start <= self.term_end, "term_start after term_end")
        _require(isinstance(self.premium, Money), "premium must be Money")
        _require(self.premium.amount >= 0, "premium must not be negative")
        _require(isinstance(self.payment_frequency, PaymentFrequency), "payment_frequency")
        _require(isinstance(self.holder, Party), "holder must be a Party")
        for name in ("coverages", "receipts", "documents"):
            _require(isinstance(getattr(self, name), tuple), f"{name} must be a tuple")
        codes = [c.code for c in self.coverages]
        _require(len(codes) == len(set(codes)), "coverage codes must be unique in a policy")


@dataclass(frozen=True)
class ClaimEvent:
    """One step of a claim's history."""

    at: datetime
    status: ClaimStatus
    insurer_status: str
    note: str | None = None

    def __post_init__(self) -> None:
        _aware(self.at, "claim event time")
        _require(isinstance(self.status, ClaimStatus), "status must be a ClaimStatus")
        _text(self.insurer_status, "insurer_status")


@dataclass(frozen=True)
class Claim:
    external_id: str
    number: str
    policy_external_id: str
    occurred_at: datetime
    reported_at: datetime
    status: ClaimStatus
    insurer_status: str
    description: str | None = None
    coverage_code: str | None = None
    claimed_amount: Money | None = None
    paid_amount: Money | None = None
    history: tuple[ClaimEvent, ...] = ()
    documents: tuple[DocumentRef, ...] = ()
    # The insurer waits for the client (documents requested): the claim does not move until they act.
    waiting_on_client: bool = False
    requested_documents: tuple[str, ...] = ()  # what the insurer asks for, in its own words

    def __post_init__(self) -> None:
        _text(self.external_id, "claim external_id")
        _text(self.number, "claim number")
        _text(self.policy_external_id, "claim policy_external_id")
        _aware(self.occurred_at, "occurred_at")
        _aware(self.reported_at, "reported_at")
        _require(isinstance(self.status, ClaimStatus), "status must be a ClaimStatus")
        _text(self.insurer_status, "insurer_status")
        _require(isinstance(self.history, tuple), "history must be a tuple")
        _require(isinstance(self.waiting_on_client, bool), "waiting_on_client must be a bool")
        _require(isinstance(self.requested_documents, tuple), "requested_documents must be a tuple")
        for requested in self.requested_documents:
            _text(requested, "requested document")
        _require(not self.requested_documents or self.waiting_on_client, "documents requested: waiting on the client")
        _require(
            not self.waiting_on_client or self.status in OPEN_CLAIM_STATUSES, "only an open claim waits on the client"
        )


@dataclass(frozen=True)
class Portfolio:
    """Everything an insurer holds for one client. All of it, or an error: never a part."""

    client: ClientMatch
    policies: tuple[Policy, ...]
    claims: tuple[Claim, ...]
    fetched_at: datetime

    def __post_init__(self) -> None:
        _require(isinstance(self.client, ClientMatch), "client must be a ClientMatch")
        _require(isinstance(self.policies, tuple) and isinstance(self.claims, tuple), "tuples of records")
        _aware(self.fetched_at, "fetched_at")
        ids = [p.external_id for p in self.policies]
        _require(len(ids) == len(set(ids)), "policy external ids must be unique")
        known = set(ids)
        for claim in self.claims:
            _require(claim.policy_external_id in known, f"claim {claim.number} names an unknown policy")


# --- a portfolio in parts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyPage:
    """Some of a client's policies: what one page of the insurer's listing held (may be empty)."""

    policies: tuple[Policy, ...]

    def __post_init__(self) -> None:
        _require(isinstance(self.policies, tuple), "policies must be a tuple")
        _require(all(isinstance(p, Policy) for p in self.policies), "a policy page holds Policy records")


@dataclass(frozen=True)
class ClaimPage:
    """Some of a client's claims: what one page of the insurer's listing held (may be empty)."""

    claims: tuple[Claim, ...]

    def __post_init__(self) -> None:
        _require(isinstance(self.claims, tuple), "claims must be a tuple")
        _require(all(isinstance(c, Claim) for c in self.claims), "a claim page holds Claim records")


# What ``Connector.fetch_parts`` yields: the client first, then policy and claim pages in any order.
PortfolioPart = ClientMatch | PolicyPage | ClaimPage


def portfolio_parts(portfolio: Portfolio) -> Iterator[PortfolioPart]:
    """A whole portfolio as a stream of parts (what a connector without its own stream yields)."""
    yield portfolio.client
    yield PolicyPage(portfolio.policies)
    yield ClaimPage(portfolio.claims)


class PortfolioStream:
    """The rules of a portfolio that arrives in parts, checked part by part with O(ids) memory.

    The rules are Portfolio's, spread over time: the client comes first and once; policy and claim
    external ids are unique over every page; every claim names a policy of the stream (checked at
    ``finish``, since claims may come before their policies). A broken rule raises ValueError, as a
    record that fails its own validation does.
    """

    def __init__(self, client_ref: str | None = None) -> None:
        self.client_ref = client_ref
        self.client: ClientMatch | None = None
        self.policy_ids: set[str] = set()
        self.claim_ids: set[str] = set()
        self._claimed: set[str] = set()  # policies the claims name
        self.finished = False

    def check(self, part: Any) -> PortfolioPart:
        """Check one part against the parts before it; returns it."""
        _require(not self.finished, "a part came after the end of the portfolio")
        if isinstance(part, ClientMatch):
            _require(self.client is None, "the client came twice")
            _require(
                self.client_ref is None or part.client_ref == self.client_ref, "the portfolio belongs to another client"
            )
            self.client = part
            return part
        _require(self.client is not None, "the client must come first")
        if isinstance(part, PolicyPage):
            for policy in part.policies:
                _require(policy.external_id not in self.policy_ids, "policy external ids must be unique")
                self.policy_ids.add(policy.external_id)
            return part
        if isinstance(part, ClaimPage):
            for claim in part.claims:
                _require(claim.external_id not in self.claim_ids, "claim external ids must be unique")
                self.claim_ids.add(claim.external_id)
                self._claimed.add(claim.policy_external_id)
            return part
        raise ValueError(f"a portfolio part must be a ClientMatch, PolicyPage or ClaimPage, not {type(part).__name__}")

    def finish(self) -> None:
        """The stream ended: it had a client and its claims name its policies."""
        _require(self.client is not None, "the portfolio has no client")
        unknown = self._claimed - self.policy_ids
        _require(not unknown, f"{len(unknown)} claim(s) name an unknown policy")
        self.finished = True


def collect(parts: Iterable[Any], client_ref: str | None = None, fetched_at: datetime | None = None) -> Portfolio:
    """A stream of parts gathered into one Portfolio (checked as it comes: ValueError when broken)."""
    stream = PortfolioStream(client_ref)
    policies: list[Policy] = []
    claims: list[Claim] = []
    for part in parts:
        stream.check(part)
        if isinstance(part, PolicyPage):
            policies.extend(part.policies)
        elif isinstance(part, ClaimPage):
            claims.extend(part.claims)
    stream.finish()
    assert stream.client is not None
    return Portfolio(stream.client, tuple(policies), tuple(claims), fetched_at or datetime.now(UTC))


# --- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """A time limit the insured must keep after an event (seed 002 §V, seed 004 §4)."""

    description: str
    within: timedelta

    def __post_init__(self) -> None:
        _text(self.description, "deadline description")
        _require(isinstance(self.within, timedelta) and self.within > timedelta(0), "within must be positive")


@dataclass(frozen=True)
class ClaimRequirements:
    """What the insured must do and bring to claim under one line and kind of event."""

    line: Line
    kind: str  # coverage code or event kind (robo_con_violencia, colision...)
    title: str
    documents: tuple[str, ...]
    deadlines: tuple[Deadline, ...] = ()
    steps: tuple[str, ...] = ()
    phone: str | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.line, Line), "line must be a Line")
        _text(self.kind, "kind")
        _text(self.title, "title")
        _require(isinstance(self.documents, tuple), "documents must be a tuple")


@dataclass(frozen=True)
class ClaimReport:
    """A first notice of loss sent by the portal."""

    policy_external_id: str
    kind: str
    occurred_at: datetime
    description: str
    contact_phone: str
    location: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # IMEI cancellation folio, authority report number...

    def __post_init__(self) -> None:
        _text(self.policy_external_id, "policy_external_id")
        _text(self.kind, "kind")
        _aware(self.occurred_at, "occurred_at")
        _text(self.description, "description")
        _text(self.contact_phone, "contact_phone")


@dataclass(frozen=True)
class ClaimReceipt:
    """The insurer's acknowledgement of a reported claim."""

    claim_number: str
    status: ClaimStatus
    insurer_status: str
    reported_at: datetime

    def __post_init__(self) -> None:
        _text(self.claim_number, "claim_number")
        _aware(self.reported_at, "reported_at")


@dataclass(frozen=True)
class PaymentLink:
    url: str
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.url, str) and self.url.startswith(("https://", "http://")), "payment url")
        _aware(self.expires_at, "expires_at")


@dataclass(frozen=True)
class Document:
    """A fetched document's bytes."""

    content: bytes
    media_type: str
    filename: str

    def __post_init__(self) -> None:
        _require(isinstance(self.content, bytes) and len(self.content) > 0, "document content")
        _text(self.filename, "filename")


def as_plain(value: Any) -> Any:
    """A record as JSON-ready data (Decimal → str, dates → ISO), for logs, tests and exports."""
    from dataclasses import fields, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value
