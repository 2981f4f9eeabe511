"""Deliberately broken variants of the example connector, one fault each, to prove the kit catches them.

Not collected by default (no ``test_`` prefix): ``test_kit_catches.py`` runs chosen tests of
``TestBroken`` in a subprocess and checks that each variant fails exactly where it should. By hand:
``python -m pytest tests/connectors/broken_connectors.py -k ejemplo_partial``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors.base import Capability, Connector
from connectors.errors import AuthenticationFailed, ConnectorError, InsurerUnavailable, InvalidResponse
from connectors.http import HttpPolicy
from connectors.models import (
    ClaimPage,
    ClaimReceipt,
    ClaimReport,
    ClaimRequirements,
    ClaimStatus,
    ClientMatch,
    Document,
    DocumentRef,
    Money,
    Policy,
    PolicyPage,
    Portfolio,
    PortfolioPart,
    TaxId,
)
from connectors.testing import conformance_tests
from tests.connectors.example_insurer import EjemploConnector, mapping

log = logging.getLogger(__name__)
ALL = frozenset(Capability)


def _with_policy(slug: str, **changes: Any) -> type[EjemploConnector]:
    """A variant that quietly replaces part of the HTTP policy it was given."""

    def __init__(self: EjemploConnector, settings: Mapping[str, str], policy: HttpPolicy | None = None) -> None:
        EjemploConnector.__init__(self, settings, dataclasses.replace(policy or HttpPolicy(), **changes))

    return type(f"Ejemplo_{slug}", (EjemploConnector,), {"slug": slug, "__init__": __init__})


def _fetch(self: EjemploConnector, ref: str, *, check_pages: bool = True, keep_partial: bool = False) -> Portfolio:
    """The example's fetch, with its page-length check and its all-or-nothing rule as options."""
    with self.http.operation("fetch"):
        client = self._client(self.http.get_json(f"/api/clients/{ref}"))
        policies: list[Policy] = []
        page, pages = 1, 1
        while page <= pages:
            try:
                body = self.http.get_json(f"/api/clients/{ref}/policies", params={"page": page})
            except ConnectorError:
                if not keep_partial:
                    raise
                break
            with mapping():
                pages, size, total = int(body["pages"]), int(body["size"]), int(body["total"])
                if check_pages and len(body["items"]) != min(size, total - (page - 1) * size):
                    raise InvalidResponse("short page")
                policies += [self._policy(p) for p in body["items"]]
            page += 1
        claims = self.http.get_json(f"/api/clients/{ref}/claims")["items"]
    return Portfolio(client, tuple(policies), tuple(map(self._claim, claims)), datetime.now(UTC))


def _stream(
    self: EjemploConnector, ref: str, *, one_deadline: bool = False, hoard: bool = False, stutter: bool = False
) -> Iterator[PortfolioPart]:
    """The example as a stream, done right: each page yielded as it comes, under its own deadline within the
    fetch's budget, no operation held across a yield; or with one of the faults the kit must catch."""
    held = self.http.operation("fetch") if one_deadline else contextlib.nullcontext()
    with held:  # one_deadline: the old ``with operation("fetch")`` around a generator's yields
        budget = self.http.budget("fetch")
        with self.http.operation("client", within=budget):
            client = self._client(self.http.get_json(f"/api/clients/{ref}"))
        yield client
        hoarded: list[PolicyPage] = []
        page, pages = 1, 1
        while page <= pages:
            with self.http.operation(f"policies page {page}", within=budget):
                body = self.http.get_json(f"/api/clients/{ref}/policies", params={"page": page})
            with mapping():
                pages, size, total = int(body["pages"]), int(body["size"]), int(body["total"])
                if body["page"] != page or len(body["items"]) != min(size, total - (page - 1) * size):
                    raise InvalidResponse(f"ejemplo: page {page} of {pages} is short or out of place")
                part = PolicyPage(tuple(self._policy(p) for p in body["items"]))
            if hoard:
                hoarded.append(part)
            else:
                yield part
            if stutter and page == 1:
                yield part
            page += 1
        yield from hoarded
        with self.http.operation("claims", within=budget):
            claims = self.http.get_json(f"/api/clients/{ref}/claims")
        with mapping():
            yield ClaimPage(tuple(map(self._claim, claims["items"])))


class Nameless(EjemploConnector):
    slug = "ejemplo_nameless"
    countries = ("Mexico",)
    capabilities = EjemploConnector.capabilities - {Capability.VERIFY}


class Chatty(EjemploConnector):
    slug = "ejemplo_chatty"

    def __repr__(self) -> str:
        return f"<Chatty {self.config}>"

    def verify_client(self, tax_id: TaxId, policy_number: str) -> ClientMatch | None:
        log.info("verifying %s with policy %s", tax_id.number, policy_number)
        return super().verify_client(tax_id, policy_number)


class Idle(EjemploConnector):
    slug = "ejemplo_idle"

    def check(self) -> None:
        return None


class Forgetful(EjemploConnector):
    slug = "ejemplo_forgetful"

    def verify_client(self, tax_id: TaxId, policy_number: str) -> ClientMatch | None:
        return None


class Talkative(EjemploConnector):
    slug = "ejemplo_talkative"

    def verify_client(self, tax_id: TaxId, policy_number: str) -> ClientMatch | None:
        body = {"rfc": tax_id.number, "policy": policy_number}
        return self._client(self.http.json_of(self.http.request("POST", "/api/verify", json=body)))  # 404 → error


class Dollars(EjemploConnector):
    slug = "ejemplo_dollars"

    @staticmethod
    def _policy(p: dict[str, Any]) -> Policy:
        policy = EjemploConnector._policy(p)
        return dataclasses.replace(policy, premium=Money(policy.premium.amount, "USD"))


class Receiptless(EjemploConnector):
    slug = "ejemplo_receiptless"

    @staticmethod
    def _policy(p: dict[str, Any]) -> Policy:
        return dataclasses.replace(EjemploConnector._policy(p), receipts=())


class Confused(EjemploConnector):
    slug = "ejemplo_confused"

    def fetch(self, client_ref: str) -> Portfolio:
        try:
            return super().fetch(client_ref)
        except (AuthenticationFailed, InvalidResponse) as exc:
            raise InsurerUnavailable("ejemplo: something went wrong") from exc


class Trusting(EjemploConnector):
    slug = "ejemplo_trusting"

    def fetch(self, client_ref: str) -> Portfolio:
        return _fetch(self, client_ref, check_pages=False)


class Partial(EjemploConnector):
    slug = "ejemplo_partial"

    def fetch(self, client_ref: str) -> Portfolio:
        return _fetch(self, client_ref, keep_partial=True)


class Shy(EjemploConnector):
    slug = "ejemplo_shy"
    capabilities = frozenset({Capability.VERIFY})  # but email lookup, documents and payment links work


class Boastful(EjemploConnector):
    slug = "ejemplo_boastful"
    capabilities = ALL  # claim requirements and claim reports are not implemented; documents are not PDFs

    def document(self, ref: DocumentRef) -> Document:
        return Document(b"<html>not a PDF</html>", "application/pdf", "doc.pdf")


class Raw(EjemploConnector):
    slug = "ejemplo_raw"

    def check(self) -> None:
        url = f"{self.config['base_url']}/api/ping"
        requests.get(url, headers={"X-Api-Key": self.config["api_key"]}, timeout=5).raise_for_status()


class Full(EjemploConnector):
    """Not broken: claim requirements and claim reports done locally, to exercise the kit's positive paths."""

    slug = "ejemplo_full"
    capabilities = ALL

    def claim_requirements(self, policy: Policy, kind: str) -> ClaimRequirements:
        return ClaimRequirements(policy.line, kind, "Siniestro", documents=("Identificación oficial",))

    def report_claim(self, report: ClaimReport) -> ClaimReceipt:
        return ClaimReceipt("SIN-9999", ClaimStatus.OPEN, "abierto", datetime.now(UTC) - timedelta(seconds=1))


class Streaming(EjemploConnector):
    """Not broken: the example with its own stream, to exercise the kit's streaming tests."""

    slug = "ejemplo_streaming"

    def fetch_parts(self, client_ref: str) -> Iterator[PortfolioPart]:
        return _stream(self, client_ref)


class Hasty(EjemploConnector):
    slug = "ejemplo_hasty"

    def fetch_parts(self, client_ref: str) -> Iterator[PortfolioPart]:
        return _stream(self, client_ref, one_deadline=True)


class Stuttering(EjemploConnector):
    slug = "ejemplo_stuttering"

    def fetch_parts(self, client_ref: str) -> Iterator[PortfolioPart]:
        return _stream(self, client_ref, stutter=True)


class Hoarding(EjemploConnector):
    slug = "ejemplo_hoarding"

    def fetch_parts(self, client_ref: str) -> Iterator[PortfolioPart]:
        return _stream(self, client_ref, hoard=True)


assert Streaming.fetch_parts is not Connector.fetch_parts

Impatient = _with_policy("ejemplo_impatient", max_attempts=1)
Sluggish = _with_policy("ejemplo_sluggish", read_timeout=30.0)
Patient = _with_policy("ejemplo_patient", deadline=60.0, fetch_deadline=600.0)
Greedy = _with_policy("ejemplo_greedy", retry_after_cap=60.0)
Fuse = _with_policy("ejemplo_fuse", breaker_threshold=1000)

VARIANTS: list[type[EjemploConnector]] = [
    *(Nameless, Chatty, Idle, Forgetful, Talkative, Dollars, Receiptless, Confused, Trusting, Partial, Shy),
    *(Boastful, Raw, Full, Impatient, Sluggish, Patient, Greedy, Fuse),
    *(Streaming, Hasty, Stuttering, Hoarding),
]

TestBroken = conformance_tests(*VARIANTS)
