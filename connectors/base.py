"""The connector base class: identity, capabilities, declared settings and the DESIGN §4 methods."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    InsurerUnavailable,
    InvalidResponse,
    NotSupported,
    ReauthRequired,
)
from connectors.http import HttpPolicy
from connectors.models import (
    ClaimReceipt,
    ClaimReport,
    ClaimRequirements,
    ClientMatch,
    Document,
    DocumentRef,
    Line,
    PaymentLink,
    Policy,
    Portfolio,
    PortfolioPart,
    Receipt,
    TaxId,
    TaxIdType,
    portfolio_parts,
)

__all__ = [
    "AuthenticationFailed",
    "Capability",
    "Connector",
    "ConnectorError",
    "InsurerUnavailable",
    "InvalidResponse",
    "NotSupported",
    "ReauthRequired",
    "SandboxSamples",
    "SandboxSpec",
    "Setting",
    "SupportPhone",
]

MASK = "••••••"


class Capability(StrEnum):
    VERIFY = "verify"  # verify_client: the linking proof (tax ID + active policy number)
    EMAIL_LOOKUP = "email_lookup"  # clients_for_email: automatic linking
    DOCUMENTS = "documents"  # document(ref)
    CLAIM_REQUIREMENTS = "claim_requirements"
    REPORT_CLAIM = "report_claim"
    PAYMENT_LINK = "payment_link"


@dataclass(frozen=True)
class Setting:
    """A setting the connector needs, read from ``AGGREGATOR_<SLUG>_<NAME>`` by the portal."""

    name: str  # lower_snake_case: base_url, client_id, api_key...
    description: str
    secret: bool = False
    required: bool = True
    default: str | None = None


@dataclass(frozen=True)
class SupportPhone:
    """A phone number the insurer publishes, for some lines of business and countries (empty: all of them)."""

    label: str  # in the insurer's words: "Línea GNP (siniestros y asistencia)"
    number: str  # as it is dialled inside its country: "55 5227 9000"
    lines: tuple[Line, ...] = ()
    countries: tuple[str, ...] = ()  # ISO 3166 alpha-2
    assistance: bool = False  # the number to call for road, medical or home assistance and to report a claim

    def serves(self, line: str | None, country: str | None) -> bool:
        """Whether this number is the one for a policy of ``line`` held in ``country`` (None: any)."""
        line_ok = not self.lines or line is None or line in self.lines
        return line_ok and (not self.countries or country is None or country in self.countries)


@dataclass(frozen=True)
class SandboxSamples:
    """Known answers of a connector's sandbox, for the conformance kit and the demo."""

    valid: tuple[TaxId, str]  # a tax ID and the number of one of its in-force policies
    inactive: tuple[TaxId, str]  # a tax ID and one of its cancelled or expired policies
    unknown: TaxId  # a well-formed tax ID the insurer does not know
    email_with_clients: str | None  # an email the insurer links to at least one client
    paged_client: TaxId  # a client whose portfolio spans several pages at ``page_size``
    page_size: int  # the sandbox page size that gives ``paged_client`` at least 5 pages
    paged_policy: str | None = None  # an in-force policy of ``paged_client``: the kit verifies it to fetch
    paged_path: str | None = None  # path prefix of the paginated listing; None: the kit finds it


@dataclass(frozen=True)
class SandboxSpec:
    """How to run a connector against its own sandbox."""

    # (**options) -> WSGI application; options: seed, clients, page_size (the largest page served), faults, and
    # optionally policies_per_client / large_clients (clients of that many policies, generated page by page)
    make_app: Callable[..., Any]
    settings_for: Callable[[str], dict[str, str]]  # base URL -> working settings
    bad_settings_for: Callable[[str], dict[str, str]]  # base URL -> settings the sandbox rejects (401)
    samples: SandboxSamples
    faults_path: str = "/__sandbox/faults"  # POST JSON here to set faults; DELETE to clear them
    extra: dict[str, Any] = field(default_factory=dict)


class Connector(ABC):
    """One insurer. Subclasses declare who they are and implement what they support.

    The portal builds one instance per insurer and shares it between threads: implementations
    keep no per-client state and must be thread-safe.
    """

    slug: ClassVar[str]
    display_name: ClassVar[str]
    countries: ClassVar[tuple[str, ...]]  # ISO 3166 alpha-2
    currencies: ClassVar[tuple[str, ...]]  # ISO 4217
    tax_id_types: ClassVar[tuple[TaxIdType, ...]]
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.VERIFY})
    settings: ClassVar[tuple[Setting, ...]] = ()
    # The insurer's phones by line and country; a connector that only sets the older ``support_phones``
    # dict ("Cabina de siniestros" -> "55 5227 9000") gets numbers valid for every line and country.
    phones: ClassVar[tuple[SupportPhone, ...]] = ()
    support_phones: ClassVar[dict[str, str]] = {}
    fictional: ClassVar[bool] = False

    def __init__(self, settings: Mapping[str, str], policy: HttpPolicy | None = None) -> None:
        missing = [s.name for s in self.settings if s.required and not settings.get(s.name) and s.default is None]
        if missing:
            raise AuthenticationFailed(f"{self.slug}: missing settings {', '.join(missing)}")
        self.config: dict[str, str] = {s.name: str(settings.get(s.name) or s.default or "") for s in self.settings}
        self.policy = policy or HttpPolicy()

    # --- settings ---------------------------------------------------------------------------

    @classmethod
    def settings_from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = "AGGREGATOR_") -> dict[str, str]:
        """``AGGREGATOR_GNP_BASE_URL`` → ``{"base_url": ...}`` for each declared setting that is set."""
        env = os.environ if environ is None else environ
        found: dict[str, str] = {}
        for s in cls.settings:
            value = env.get(f"{prefix}{cls.slug.upper()}_{s.name.upper()}")
            if value:
                found[s.name] = value
        return found

    def masked_settings(self) -> dict[str, str]:
        """The settings as logs and screens may show them: secrets masked."""
        secret = {s.name for s in self.settings if s.secret}
        return {k: (MASK if k in secret and v else v) for k, v in self.config.items()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.slug} {self.masked_settings()}>"

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @classmethod
    def phone_book(cls) -> tuple[SupportPhone, ...]:
        """Every published phone: ``phones``, or the ``support_phones`` dict as numbers for every line and country."""
        if cls.phones:
            return tuple(cls.phones)
        return tuple(SupportPhone(label, number) for label, number in cls.support_phones.items())

    # --- the DESIGN §4 methods --------------------------------------------------------------

    @abstractmethod
    def check(self) -> None:
        """Reach the insurer with these settings; raise a ConnectorError when we cannot."""

    @abstractmethod
    def verify_client(self, tax_id: TaxId, policy_number: str) -> ClientMatch | None:
        """The linking proof: the client when ``policy_number`` is an in-force policy of ``tax_id``.

        Returns None for an unknown ID, a wrong policy number or an inactive policy alike:
        the answer never says which.
        """

    @abstractmethod
    def fetch(self, client_ref: str) -> Portfolio:
        """The client's whole portfolio; a partial answer raises InvalidResponse or InsurerUnavailable."""

    def fetch_parts(self, client_ref: str) -> Iterator[PortfolioPart]:
        """The client's portfolio as a stream: the ClientMatch first, then PolicyPage and ClaimPage parts.

        What the sync engine calls. Pages may come in any order after the client; together they are
        what ``fetch`` returns. An error may come after some pages: the stream is all or nothing, so
        the consumer keeps nothing of a stream that raised. This default yields ``fetch()`` in one
        piece; a connector whose insurer pages its listings overrides it to yield each page as it
        arrives (memory stays flat on accounts of any size), each page under its own deadline
        (``InsurerHttp.operation(..., within=budget)``), never holding an operation across a ``yield``.
        """
        yield from portfolio_parts(self.fetch(client_ref))

    def clients_for_email(self, email: str) -> list[ClientMatch]:
        """Clients the insurer knows by this (verified) email, for automatic linking."""
        raise NotSupported(f"{self.slug}: email lookup")

    def document(self, ref: DocumentRef) -> Document:
        """The bytes of a document listed in a policy or claim."""
        raise NotSupported(f"{self.slug}: documents")

    def claim_requirements(self, policy: Policy, kind: str) -> ClaimRequirements:
        """What the insured must do and bring to claim ``kind`` under ``policy``."""
        raise NotSupported(f"{self.slug}: claim requirements")

    def report_claim(self, report: ClaimReport) -> ClaimReceipt:
        """File a first notice of loss; returns the insurer's claim number."""
        raise NotSupported(f"{self.slug}: report claim")

    def payment_link(self, receipt: Receipt) -> PaymentLink:
        """Where the client pays a pending receipt."""
        raise NotSupported(f"{self.slug}: payment link")

    # --- sandbox --------------------------------------------------------------------------------

    @classmethod
    def sandbox(cls) -> SandboxSpec | None:
        """The connector's sandbox, if it ships one (every connector in this repository does)."""
        return None
