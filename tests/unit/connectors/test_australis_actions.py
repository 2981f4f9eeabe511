"""AustralisConnector against its sandbox: linking proof, email lookup, signed documents and the actions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from connectors.australis import AustralisConnector
from connectors.australis.data import Store
from connectors.australis.sandbox import SANDBOX_API_KEY, make_app
from connectors.base import Capability
from connectors.errors import InvalidResponse
from connectors.http import HttpPolicy, reset_breakers
from connectors.models import (
    ClaimReport,
    ClaimStatus,
    ClientMatch,
    DocumentKind,
    Line,
    PartyKind,
    Policy,
    Portfolio,
    ReceiptStatus,
    TaxId,
    TaxIdType,
)
from connectors.registry import discover
from connectors.sandbox.people import population
from connectors.sandbox.server import running

TODAY = date(2026, 11, 26)
FAST = HttpPolicy(
    connect_timeout=0.5,
    read_timeout=2.0,
    deadline=5.0,
    max_attempts=2,
    backoff_base=0.01,
    backoff_max=0.02,
    breaker_threshold=100,
    breaker_cooldown=0.1,
)
POP = population(2026)
JULIETA, TOMAS, FLEET, OSCAR = POP.argentines[0], POP.argentines[3], POP.argentine_companies[1], POP.mexicans[26]


class Recorder:
    """WSGI middleware remembering (method, path, status) of every request."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.calls: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            with self.lock:
                self.calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], int(status[:3])))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.app(environ, recording)

    def paths(self, prefix: str) -> list[tuple[str, int]]:
        with self.lock:
            return [(p, s) for _, p, s in self.calls if p.startswith(prefix) and not p.startswith("/__sandbox")]


@dataclass
class Box:
    url: str
    store: Store
    recorder: Recorder
    http: requests.Session

    def connector(self, **settings: str) -> AustralisConnector:
        return AustralisConnector({"base_url": self.url, "api_key": SANDBOX_API_KEY, **settings}, FAST)

    def cid(self, key: str) -> str:
        return self.store.by_key[key]

    def numbers(self, key: str, status: str) -> list[str]:
        return [
            self.store.policies[p]["policy_number"]
            for p in self.store.customer_policies[self.cid(key)]
            if self.store.policies[p]["status"] == status
        ]


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    app = make_app(today=TODAY)
    recorder = Recorder(app)
    with running(recorder) as url:
        yield Box(url, app.sandbox.store, recorder, requests.Session())  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _clean(box: Box) -> Iterator[None]:
    reset_breakers()
    box.recorder.calls.clear()
    yield
    box.http.delete(box.url + "/__sandbox/faults", timeout=5)
    box.http.delete(box.url + "/__sandbox/links", timeout=5)


@pytest.fixture(scope="module")
def julieta(box: Box) -> Portfolio:
    return box.connector().fetch(box.cid(JULIETA.key))


def _auto(portfolio: Portfolio) -> Policy:
    return next(p for p in portfolio.policies if p.line is Line.AUTO)


# --- identity -------------------------------------------------------------------------------------


def test_declares_a_fictional_insurer_with_every_capability() -> None:
    assert AustralisConnector.display_name == "Australis Seguros (ficticia)" and AustralisConnector.fictional
    assert AustralisConnector.countries == ("AR", "MX") and AustralisConnector.currencies == ("ARS", "MXN")
    assert set(AustralisConnector.tax_id_types) == {TaxIdType.CUIT, TaxIdType.CUIL, TaxIdType.DNI, TaxIdType.RFC}
    assert AustralisConnector.capabilities == frozenset(Capability)
    assert {s.name: s.secret for s in AustralisConnector.settings} == {
        "base_url": False,
        "api_key": True,
        "page_limit": False,
    }
    assert discover()["australis"] is AustralisConnector


def test_secrets_are_masked() -> None:
    connector = AustralisConnector({"base_url": "http://127.0.0.1:9", "api_key": SANDBOX_API_KEY})
    assert SANDBOX_API_KEY not in repr(connector) and connector.masked_settings()["api_key"] == "••••••"
    assert connector.page_limit == 100  # the largest page the sandbox serves: the fewest calls
    assert AustralisConnector.settings_from_env({"AGGREGATOR_AUSTRALIS_API_KEY": "k"}) == {"api_key": "k"}


def test_check(box: Box) -> None:
    box.connector().check()
    assert box.recorder.paths("/v2/health") == [("/v2/health", 200)]


# --- verify_client --------------------------------------------------------------------------------


def test_verify_accepts_the_right_pair(box: Box) -> None:
    number = box.numbers(JULIETA.key, "active")[0]
    match = box.connector().verify_client(TaxId(TaxIdType.CUIL, JULIETA.cuil or ""), number)
    assert match == ClientMatch(
        client_ref=box.cid(JULIETA.key),
        name="Julieta Álvarez",
        kind=PartyKind.PERSON,
        tax_id=TaxId(TaxIdType.CUIL, JULIETA.cuil or ""),
        email=JULIETA.email,
    )


def test_dni_and_cuil_both_match_the_same_client(box: Box) -> None:
    connector = box.connector()
    number = box.numbers(JULIETA.key, "active")[0]
    cuil = JULIETA.cuil or ""
    by_cuil = connector.verify_client(TaxId(TaxIdType.CUIL, f"{cuil[:2]}-{cuil[2:10]}-{cuil[10]}"), f" {number} ")
    by_dni = connector.verify_client(
        TaxId(TaxIdType.DNI, f"{(JULIETA.dni or '')[:2]}.{(JULIETA.dni or '')[2:5]}.{(JULIETA.dni or '')[5:]}"),
        number.lower(),
    )
    assert by_cuil is not None and by_dni is not None
    assert by_cuil.client_ref == by_dni.client_ref == box.cid(JULIETA.key)


def test_companies_match_by_cuit_and_rfc(box: Box) -> None:
    connector = box.connector()
    fleet = connector.verify_client(TaxId(TaxIdType.CUIT, FLEET.cuit or ""), box.numbers(FLEET.key, "active")[3])
    assert (
        fleet is not None
        and fleet.kind is PartyKind.COMPANY
        and fleet.tax_id == TaxId(TaxIdType.CUIT, FLEET.cuit or "")
    )
    company = POP.mexican_companies[7]
    match = connector.verify_client(TaxId(TaxIdType.RFC, company.rfc or ""), box.numbers(company.key, "active")[0])
    assert match is not None and match.name == company.name and match.tax_id == TaxId(TaxIdType.RFC, company.rfc or "")


def test_refusals_are_none_alike(box: Box) -> None:
    connector = box.connector()
    cuil = TaxId(TaxIdType.CUIL, JULIETA.cuil or "")
    mine = box.numbers(JULIETA.key, "active")[0]
    fleet_lapsed = box.numbers(FLEET.key, "lapsed")[0]
    refusals = {
        "wrong number": (cuil, mine[:-1] + ("0" if mine[-1] != "0" else "1")),
        "expired": (TaxId(TaxIdType.DNI, TOMAS.dni or ""), box.numbers(TOMAS.key, "expired")[0]),
        "cancelled": (TaxId(TaxIdType.DNI, TOMAS.dni or ""), box.numbers(TOMAS.key, "cancelled")[0]),
        "lapsed": (TaxId(TaxIdType.CUIT, FLEET.cuit or ""), fleet_lapsed),
        "unknown": (TaxId(TaxIdType.CUIL, POP.argentines[25].cuil or ""), mine),
        "another client's policy": (cuil, box.numbers(FLEET.key, "active")[0]),
        "right number, wrong kind of ID": (TaxId(TaxIdType.CUIT, JULIETA.cuil or ""), mine),
        "empty number": (cuil, "  "),
    }
    assert {why: connector.verify_client(*pair) for why, pair in refusals.items()} == dict.fromkeys(refusals)
    answers = [(p, s) for p, s in box.recorder.paths("/v2/customers:match")]
    assert set(answers) == {("/v2/customers:match", 404)}  # one answer for every refusal, never a reason


def test_an_id_type_australis_does_not_use_is_refused_without_a_call() -> None:
    offline = AustralisConnector({"base_url": "http://127.0.0.1:9", "api_key": "k"}, FAST)
    assert offline.verify_client(TaxId(TaxIdType.CURP, POP.mexicans[30].curp or ""), "MX-SAL-0000001") is None


def test_mexicans_25_to_39_of_the_population_are_clients_here_with_the_same_rfc(box: Box) -> None:
    """The GNP clients 25–39 (same person, same RFC): one person, two insurers, in the unified view."""
    connector = box.connector()
    for person in POP.mexicans[25:40]:
        rfc = TaxId(TaxIdType.RFC, person.rfc or "")
        match = connector.verify_client(rfc, box.numbers(person.key, "active")[0])
        assert match is not None, person.key
        assert (match.tax_id, match.name, match.email) == (rfc, person.name, person.email)
    outsider = POP.mexicans[10]  # a GNP-only client
    assert ("RFC", outsider.rfc) not in box.store.by_tax_id


# --- email lookup ---------------------------------------------------------------------------------


def test_email_lookup(box: Box) -> None:
    connector = box.connector()
    found = connector.clients_for_email(f"  {JULIETA.email.upper()} ")
    assert {(c.name, c.kind) for c in found} == {
        ("Julieta Álvarez", PartyKind.PERSON),
        (POP.argentine_companies[0].name, PartyKind.COMPANY),
    }
    assert connector.clients_for_email("nadie@example.invalid") == []
    assert connector.clients_for_email("not an email") == []
    assert [p for p, _ in box.recorder.paths("/v2/")] == ["/v2/customers:search"] * 2  # the email is in no URL


# --- documents behind signed URLs ---------------------------------------------------------------


def test_a_document_is_a_real_pdf(box: Box, julieta: Portfolio) -> None:
    policy = _auto(julieta)
    assert [d.kind for d in policy.documents] == [
        DocumentKind.POLICY,
        DocumentKind.CONDITIONS,
        DocumentKind.RC_OBLIGATORIO,
    ]
    document = box.connector().document(policy.documents[0])
    assert document.media_type == "application/pdf"
    assert document.content.startswith(b"%PDF-") and document.content.rstrip().endswith(b"%%EOF")
    assert document.filename == f"{policy.number}-policy_schedule.pdf"
    assert [p for p, _ in box.recorder.paths("/")] == [
        f"/v2/documents/{policy.documents[0].ref}/link",
        f"/files/{policy.documents[0].ref}",
    ]


def test_claim_documents_too(box: Box, julieta: Portfolio) -> None:
    ref = next(d for c in julieta.claims for d in c.documents)
    assert ref.kind is DocumentKind.CLAIM
    assert box.connector().document(ref).content.startswith(b"%PDF-")


def test_an_expired_link_is_asked_for_again(box: Box, julieta: Portfolio) -> None:
    box.http.post(box.url + "/__sandbox/links", json={"expire_next": 1}, timeout=5)
    ref = _auto(julieta).documents[2]
    document = box.connector().document(ref)
    assert document.content.startswith(b"%PDF-")
    assert box.recorder.paths("/") == [
        (f"/v2/documents/{ref.ref}/link", 200),
        (f"/files/{ref.ref}", 403),
        (f"/v2/documents/{ref.ref}/link", 200),
        (f"/files/{ref.ref}", 200),
    ]


def test_a_link_refused_twice_is_invalid_response(box: Box, julieta: Portfolio) -> None:
    box.http.post(box.url + "/__sandbox/links", json={"expire_next": 5}, timeout=5)
    with pytest.raises(InvalidResponse, match="refused twice"):
        box.connector().document(_auto(julieta).documents[0])
    assert [s for p, s in box.recorder.paths("/files/")] == [403, 403]


# --- claim requirements ---------------------------------------------------------------------------


def test_argentine_auto_theft_requirements(box: Box, julieta: Portfolio) -> None:
    policy = _auto(julieta)
    req = box.connector().claim_requirements(policy, "Robo total")
    assert (req.line, req.kind, req.title) == (Line.AUTO, "Robo total", "Robo o hurto total del vehículo")
    assert "Denuncia policial (original o copia certificada)" in req.documents
    assert "Certificado de cobertura vigente" in req.documents
    assert [(d.within, "Ley 17.418, art. 46" in d.description) for d in req.deadlines] == [
        (timedelta(hours=24), False),
        (timedelta(hours=72), True),
    ]
    assert req.steps and req.phone and "ficticia" in req.phone
    by_code = box.connector().claim_requirements(policy, "RT")  # a coverage code of the policy works too
    assert by_code.title == req.title and by_code.kind == "RT"


def test_gadget_theft_asks_for_the_imei_block(box: Box, julieta: Portfolio) -> None:
    gadget = next(p for p in julieta.policies if p.line is Line.DISPOSITIVOS)
    req = box.connector().claim_requirements(gadget, "robo_con_violencia")
    assert any("IMEI" in d for d in req.documents)
    assert min(d.within for d in req.deadlines) == timedelta(hours=24)


def test_mexican_requirements_and_the_generic_answer(box: Box) -> None:
    oscar = box.connector().fetch(box.cid(OSCAR.key))
    auto = _auto(oscar)
    req = box.connector().claim_requirements(auto, "colisión")
    assert req.title == "Choque o accidente vial" and any("INE" in d for d in req.documents)
    assert [d.within for d in req.deadlines] == [timedelta(days=5)]
    other = box.connector().claim_requirements(auto, "caída de meteorito")
    assert other.title == "Otro siniestro" and other.kind == "caída de meteorito" and other.documents


# --- report_claim and payment_link --------------------------------------------------------------


def _report(policy: Policy, kind: str = "colision") -> ClaimReport:
    return ClaimReport(
        policy_external_id=policy.external_id,
        kind=kind,
        occurred_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        description="Me chocaron de atrás en un semáforo.",
        contact_phone="11 5555-0100",
        location="Av. Corrientes y Callao",
        extra={"patente_tercero": "AB123CD"},
    )


def test_report_claim_files_a_claim_once(box: Box) -> None:
    cid = box.cid(JULIETA.key)
    connector = box.connector()
    policy = _auto(connector.fetch(cid))
    before = len(box.store.claims[cid])
    box.http.post(box.url + "/__sandbox/faults", json={"status": 503, "times": 1, "path": "/v2/claims"}, timeout=5)
    receipt = connector.report_claim(_report(policy))  # the 503 is retried with the same Idempotency-Key
    assert receipt.claim_number.startswith("SIN-AR-") and receipt.status is ClaimStatus.OPEN
    assert receipt.insurer_status == "Denuncia recibida" and receipt.reported_at.utcoffset() == timedelta(hours=-3)
    assert [s for _, s in box.recorder.paths("/v2/claims")] == [503, 201]
    assert len(box.store.claims[cid]) == before + 1
    filed = next(c for c in connector.fetch(cid).claims if c.number == receipt.claim_number)
    assert (filed.policy_external_id, filed.status, filed.occurred_at) == (
        policy.external_id,
        ClaimStatus.OPEN,
        datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
    )
    assert filed.description == "Me chocaron de atrás en un semáforo." and filed.documents


def test_report_claim_on_an_inactive_policy_is_refused(box: Box) -> None:
    connector = box.connector()
    expired = next(p for p in connector.fetch(box.cid(TOMAS.key)).policies if p.insurer_status == "Vencida")
    with pytest.raises(InvalidResponse, match="policy_not_in_force"):
        connector.report_claim(_report(expired))


def test_payment_link_for_a_pending_receipt(box: Box, julieta: Portfolio) -> None:
    connector = box.connector()
    receipt = next(r for r in _auto(julieta).receipts if r.status is ReceiptStatus.PENDING)
    link = connector.payment_link(receipt)
    assert link.expires_at is not None and link.expires_at > datetime.now(UTC)
    page = box.http.get(link.url, timeout=5)
    assert page.status_code == 200 and receipt.number in page.text
    assert connector.payment_link(receipt).url == link.url  # the same link within the hour (idempotent)
    paid = next(r for r in _auto(julieta).receipts if r.status is ReceiptStatus.PAID)
    with pytest.raises(InvalidResponse, match="cannot be paid"):
        connector.payment_link(paid)


# --- the sandbox spec ------------------------------------------------------------------------------


def test_the_sandbox_spec_samples_hold() -> None:
    spec = AustralisConnector.sandbox()
    samples = spec.samples
    assert spec.make_app is make_app and spec.faults_path == "/__sandbox/faults"
    recorder = Recorder(spec.make_app(page_size=samples.page_size))
    with running(recorder) as url:
        connector = AustralisConnector(spec.settings_for(url), FAST)
        connector.check()
        valid = connector.verify_client(*samples.valid)
        assert valid is not None
        assert connector.verify_client(*samples.inactive) is None
        assert connector.verify_client(samples.unknown, samples.valid[1]) is None
        assert samples.email_with_clients and len(connector.clients_for_email(samples.email_with_clients)) == 2
        assert samples.paged_policy
        paged = connector.verify_client(samples.paged_client, samples.paged_policy)
        assert paged is not None
        assert len(connector.fetch(paged.client_ref).policies) == 17
        assert samples.paged_path and len(recorder.paths(samples.paged_path)) >= 5
        bad = AustralisConnector(spec.bad_settings_for(url), FAST)
        with pytest.raises(Exception, match="401"):
            bad.check()
