"""GnpConnector against its real sandbox on loopback: every field mapped, tokens, verification, actions, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors.base import Capability, SandboxSpec
from connectors.errors import AuthenticationFailed, InsurerUnavailable, InvalidResponse, ReauthRequired
from connectors.gnp import GnpConnector
from connectors.gnp.sandbox import GnpSandbox, bad_settings_for, make_app, sandbox_of, settings_for
from connectors.gnp.sandbox.data import INACTIVE_PERSON, PAGED_PERSON, PENDING_PERSON, VIP_PERSON
from connectors.http import HttpPolicy, reset_breakers
from connectors.models import (
    ClaimReport,
    ClaimStatus,
    ClientMatch,
    DeductibleKind,
    Device,
    Devices,
    DocumentKind,
    Home,
    InsuredPeople,
    Line,
    PartyKind,
    PaymentFrequency,
    Policy,
    PolicyStatus,
    ReceiptStatus,
    TaxId,
    TaxIdType,
    Vehicle,
)
from connectors.registry import discover
from connectors.sandbox import running
from connectors.sandbox.people import population

FAST = HttpPolicy(
    connect_timeout=0.5,
    read_timeout=1.0,
    deadline=4.0,
    max_attempts=2,
    backoff_base=0.01,
    backoff_max=0.05,
    retry_after_cap=0.5,
    breaker_threshold=100,
    breaker_cooldown=0.5,
    pool_size=4,
)
PEOPLE = population(2026).mexicans
PAGE = 5


@dataclass(frozen=True)
class Replace:
    """A tamper rule's answer that replaces the whole body (otherwise rules edit it in place)."""

    value: Any


class Tamper:
    """WSGI middleware: rewrites the JSON answers of one path prefix (malformed-shape tests)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rules: list[tuple[str, Callable[[Any, dict[str, Any]], Any]]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        rule = next((fn for prefix, fn in self.rules if path.startswith(prefix)), None)
        if rule is None:
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers)
            return lambda _data: None

        data = json.loads(b"".join(self.app(environ, capture)))
        changed = rule(data, environ)
        body = json.dumps(changed.value if isinstance(changed, Replace) else data).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]


class Sandbox:
    """A served sandbox with its book, faults and tamper rules."""

    def __init__(self, app: Any, base: str) -> None:
        self.tamper: Tamper = app
        self.app: GnpSandbox = sandbox_of(app.app)
        self.base = base

    def connector(self, policy: HttpPolicy = FAST, **overrides: str) -> GnpConnector:
        return GnpConnector({**settings_for(self.base), **overrides}, policy)

    def faults(self, **faults: Any) -> None:
        requests.post(f"{self.base}/__sandbox/faults", json=faults, timeout=5).raise_for_status()

    def clear(self) -> None:
        requests.delete(f"{self.base}/__sandbox/faults", timeout=5).raise_for_status()
        self.tamper.rules.clear()

    def client_id(self, index: int) -> str:
        return self.app.store.by_rfc[PEOPLE[index].rfc or ""]

    def raw_policies(self, client_id: str) -> list[dict[str, Any]]:
        store = self.app.store
        return [store.policies[p].view(client_id) for p in store.portfolio[client_id]]


def _serve(**options: Any) -> Iterator[Sandbox]:
    app = Tamper(make_app(page_size=PAGE, **options))
    with running(app) as base:
        yield Sandbox(app, base)


@pytest.fixture(scope="module")
def served() -> Iterator[Sandbox]:
    yield from _serve()


@pytest.fixture
def sandbox(served: Sandbox) -> Iterator[Sandbox]:
    """The shared sandbox, clean before and after each test."""
    reset_breakers()
    served.clear()
    yield served
    served.clear()
    reset_breakers()


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A sandbox of its own, for tests that change the book (claims reported, receipts paid)."""
    reset_breakers()
    yield from _serve()


@pytest.fixture
def gnp(sandbox: Sandbox) -> GnpConnector:
    return sandbox.connector()


def _ref(sandbox: Sandbox, index: int) -> str:
    return sandbox.client_id(index)


# --- identity, settings, registry -------------------------------------------------------------------


def test_identity_and_capabilities() -> None:
    assert GnpConnector.slug == "gnp" and GnpConnector.display_name == "GNP Seguros"
    assert GnpConnector.countries == ("MX",) and GnpConnector.currencies == ("MXN",)
    assert set(GnpConnector.tax_id_types) == {TaxIdType.RFC, TaxIdType.CURP}
    assert GnpConnector.capabilities == frozenset(Capability)
    assert GnpConnector.support_phones["Línea GNP (siniestros y atención a clientes)"] == "55 5227 9000"
    assert discover()["gnp"] is GnpConnector


def test_settings_from_env_and_masking() -> None:
    env = {
        "AGGREGATOR_GNP_BASE_URL": "https://api.gnp.example",
        "AGGREGATOR_GNP_CLIENT_ID": "portal",
        "AGGREGATOR_GNP_CLIENT_SECRET": "s3cr3t",
        "AGGREGATOR_GNP_PAGE_SIZE": "50",
    }
    settings = GnpConnector.settings_from_env(env)
    connector = GnpConnector(settings)
    assert connector.page_size == 50
    assert connector.masked_settings()["client_secret"] != "s3cr3t"
    assert "s3cr3t" not in repr(connector)
    assert {s.name for s in GnpConnector.settings if s.secret} == {"client_secret"}


@pytest.mark.parametrize(
    "overrides",
    [{"client_secret": ""}, {"base_url": "ftp://api.gnp.example"}, {"page_size": "0"}, {"page_size": "many"}],
)
def test_wrong_settings_are_refused(overrides: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed):
        GnpConnector({**settings_for("https://api.gnp.example"), **overrides})


def test_sandbox_spec() -> None:
    spec = GnpConnector.sandbox()
    assert isinstance(spec, SandboxSpec)
    samples = spec.samples
    assert samples.valid[0] == TaxId(TaxIdType.RFC, PEOPLE[VIP_PERSON].rfc or "")
    assert samples.paged_client == TaxId(TaxIdType.RFC, PEOPLE[PAGED_PERSON].rfc or "")
    assert samples.inactive[0] == TaxId(TaxIdType.RFC, PEOPLE[INACTIVE_PERSON].rfc or "")
    assert samples.page_size == PAGE and samples.paged_policy and samples.paged_path
    assert spec.bad_settings_for("http://x")["client_secret"] != spec.settings_for("http://x")["client_secret"]


# --- check and credentials ----------------------------------------------------------------------------


def test_check(gnp: GnpConnector) -> None:
    gnp.check()


def test_bad_credentials_fail_authentication(sandbox: Sandbox) -> None:
    connector = GnpConnector(bad_settings_for(sandbox.base), FAST)
    with pytest.raises(AuthenticationFailed):
        connector.check()
    with pytest.raises(AuthenticationFailed):
        connector.verify_client(*GnpConnector.sandbox().samples.valid)


def test_unreachable_insurer_is_unavailable() -> None:
    connector = GnpConnector(settings_for("http://127.0.0.1:9"), replace(FAST, max_attempts=1))
    with pytest.raises(InsurerUnavailable):
        connector.check()


def test_token_is_cached(sandbox: Sandbox, gnp: GnpConnector) -> None:
    before = sandbox.app.token_requests
    gnp.check()
    gnp.check()
    gnp.clients_for_email(PEOPLE[PAGED_PERSON].email)
    assert sandbox.app.token_requests == before + 1


def test_expired_token_is_renewed_transparently(sandbox: Sandbox, gnp: GnpConnector) -> None:
    gnp.check()
    before = sandbox.app.token_requests
    sandbox.faults(expired_token=True, times=1)
    portfolio = gnp.fetch(_ref(sandbox, VIP_PERSON))
    assert portfolio.policies
    assert sandbox.app.token_requests == before + 1


def test_token_expired_on_the_server_before_the_client_knew(sandbox: Sandbox, gnp: GnpConnector) -> None:
    gnp.check()
    token = gnp.session.token["access_token"]
    before = sandbox.app.token_requests
    sandbox.app.tokens[token] = time.time() - 1  # the server's clock says it expired; the client still trusts it
    gnp.check()  # 401 invalid_token → one new token → the call again
    assert sandbox.app.token_requests == before + 1 and gnp.session.token["access_token"] != token


def test_token_near_expiry_is_renewed_before_use(sandbox: Sandbox, gnp: GnpConnector) -> None:
    gnp.check()
    before = sandbox.app.token_requests
    gnp.session.token = {**gnp.session.token, "expires_at": int(time.time()) + 5}  # inside the leeway
    gnp.check()
    assert sandbox.app.token_requests == before + 1


def test_token_refused_after_renewal_is_authentication_failed(sandbox: Sandbox, gnp: GnpConnector) -> None:
    gnp.check()
    sandbox.faults(expired_token=True)
    with pytest.raises(AuthenticationFailed):
        gnp.check()


# --- verification and email lookup ---------------------------------------------------------------


def test_verify_right_pair(gnp: GnpConnector) -> None:
    tax_id, number = GnpConnector.sandbox().samples.valid
    match = gnp.verify_client(tax_id, number)
    assert isinstance(match, ClientMatch)
    person = PEOPLE[VIP_PERSON]
    assert match.name == person.name and match.kind is PartyKind.PERSON
    assert match.tax_id == tax_id and match.email == person.email
    by_curp = gnp.verify_client(TaxId(TaxIdType.CURP, person.curp or ""), number)
    assert by_curp == match


def test_verify_refusals_are_all_none(sandbox: Sandbox, gnp: GnpConnector) -> None:
    samples = GnpConnector.sandbox().samples
    tax_id, number = samples.valid
    assert gnp.verify_client(tax_id, "1100000000") is None  # wrong number
    assert gnp.verify_client(*samples.inactive) is None  # a cancelled or expired póliza of a real client
    assert gnp.verify_client(samples.unknown, number) is None  # unknown tax ID
    assert gnp.verify_client(tax_id, samples.paged_policy or "") is None  # another client's póliza
    assert gnp.verify_client(TaxId(TaxIdType.CUIT, "20-12345678-6"), number) is None  # not a Mexican ID
    assert gnp.verify_client(tax_id, "   ") is None


def test_verify_with_a_group_policy_of_the_employer(sandbox: Sandbox, gnp: GnpConnector) -> None:
    store = sandbox.app.store
    record = next(r for r in store.policies.values() if r.members and r.active)
    member = next(iter(record.members))
    client = store.clients[member]
    match = gnp.verify_client(TaxId(TaxIdType.RFC, client.rfc), record.numero)
    assert match is not None and match.client_ref == member
    company = store.clients[record.holder]
    as_company = gnp.verify_client(TaxId(TaxIdType.RFC, company.rfc), record.numero)
    assert as_company is not None and as_company.kind is PartyKind.COMPANY and as_company.tax_id is not None


def test_email_lookup(sandbox: Sandbox, gnp: GnpConnector) -> None:
    found = gnp.clients_for_email(PEOPLE[PAGED_PERSON].email.upper())
    assert {m.kind for m in found} == {PartyKind.PERSON, PartyKind.COMPANY}
    assert _ref(sandbox, PAGED_PERSON) in {m.client_ref for m in found}
    assert gnp.clients_for_email("nadie@example.org") == []


# --- fetch: every field -------------------------------------------------------------------------------


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _assert_policy(policy: Policy, raw: dict[str, Any]) -> None:
    """Every field of the record against the API's JSON."""
    assert policy.external_id == raw["id_poliza"] and policy.number == raw["numero_poliza"]
    assert policy.product == raw["producto"] and policy.insurer_status == raw["estatus"]
    assert policy.term_start == date.fromisoformat(raw["vigencia"]["inicio"])
    assert policy.term_end == date.fromisoformat(raw["vigencia"]["fin"])
    assert policy.premium.amount == Decimal(raw["prima_total"]) and policy.premium.currency == "MXN"
    assert (
        policy.payment_frequency.name
        == {
            "ANUAL": "ANNUAL",
            "SEMESTRAL": "SEMIANNUAL",
            "TRIMESTRAL": "QUARTERLY",
            "MENSUAL": "MONTHLY",
            "UNICA": "SINGLE",
        }[raw["forma_pago"]]
    )
    assert policy.group is raw["colectiva"]
    assert policy.holder.name == raw["contratante"]["nombre"]
    assert policy.holder.tax_id is not None and policy.holder.tax_id.number == raw["contratante"]["rfc"]
    assert [c.code for c in policy.coverages] == [c["clave"] for c in raw["coberturas"]]
    for coverage, cov in zip(policy.coverages, raw["coberturas"], strict=True):
        assert coverage.name == cov["nombre"] and coverage.covered is cov["amparada"]
        assert (coverage.sum_insured.amount if coverage.sum_insured else None) == _money(cov.get("suma_asegurada"))
        assert coverage.sum_insured_basis == cov.get("base_suma_asegurada") and coverage.notes == cov.get("notas")
        ded = cov.get("deducible")
        if ded is None:
            assert coverage.deductible is None
        else:
            assert coverage.deductible is not None
            kind = {
                "PORCENTAJE": DeductibleKind.PERCENTAGE,
                "MONTO": DeductibleKind.AMOUNT,
                "SIN_DEDUCIBLE": DeductibleKind.NONE,
            }[ded["tipo"]]
            assert coverage.deductible.kind is kind
            if kind is DeductibleKind.PERCENTAGE:
                assert coverage.deductible.percentage == Decimal(ded["valor"])
                assert coverage.deductible.basis == ded.get("base")
            if kind is DeductibleKind.AMOUNT:
                assert coverage.deductible.amount is not None
                assert coverage.deductible.amount.amount == Decimal(ded["valor"])
    assert [r.number for r in policy.receipts] == [r["numero_recibo"] for r in raw["recibos"]]
    for receipt, rec in zip(policy.receipts, raw["recibos"], strict=True):
        assert receipt.due_date == date.fromisoformat(rec["fecha_vencimiento"])
        assert receipt.amount.amount == Decimal(rec["importe"])
        assert receipt.grace_until == date.fromisoformat(rec["fecha_limite_pago"])
        assert receipt.grace_until - receipt.due_date == timedelta(days=30)
        assert receipt.period_start == date.fromisoformat(rec["periodo"]["inicio"])
        assert receipt.period_end == date.fromisoformat(rec["periodo"]["fin"])
        assert receipt.method == rec.get("forma_pago")
        if rec["estatus"] == "PAGADO":
            assert receipt.status is ReceiptStatus.PAID
            assert receipt.paid_at == datetime.fromisoformat(rec["fecha_pago"])
        elif rec["estatus"] == "CANCELADO":
            assert receipt.status is ReceiptStatus.CANCELLED
        else:
            assert receipt.status in (ReceiptStatus.PENDING, ReceiptStatus.OVERDUE)
    if raw["recibos"]:
        assert sum(Decimal(r["importe"]) for r in raw["recibos"]) == Decimal(raw["prima_total"])
    assert [(d.ref, d.title) for d in policy.documents] == [(d["id_documento"], d["titulo"]) for d in raw["documentos"]]
    insured = raw["bien_asegurado"]
    if insured["tipo"] == "VEHICULO":
        assert isinstance(policy.insured, Vehicle) and policy.line is Line.AUTO
        assert (policy.insured.make, policy.insured.model, policy.insured.year) == (
            insured["marca"],
            insured["submarca"],
            insured["modelo"],
        )
        assert policy.insured.vin == insured["numero_serie"] and policy.insured.plate == insured.get("placas")
        assert policy.insured.version == insured.get("version") and policy.insured.use == insured.get("uso")
    elif insured["tipo"] == "DISPOSITIVOS":
        assert isinstance(policy.insured, Device | Devices)
        devices = [policy.insured] if isinstance(policy.insured, Device) else list(policy.insured.devices)
        assert [(d.kind, d.brand, d.model, d.serial, d.imei) for d in devices] == [
            (e["tipo_equipo"], e["marca"], e["modelo"], e["numero_serie"], e.get("imei")) for e in insured["equipos"]
        ]
        assert isinstance(policy.insured, Device if insured["categoria"] == "INDIVIDUAL" else Devices)
    elif insured["tipo"] == "INMUEBLE":
        assert isinstance(policy.insured, Home) and policy.line is Line.HOGAR
        assert policy.insured.postal_code == insured["domicilio"]["codigo_postal"]
        assert policy.insured.state == insured["domicilio"]["estado"]
        assert insured["domicilio"]["calle"] in policy.insured.address
    else:
        assert isinstance(policy.insured, InsuredPeople)
        assert [(p.name, p.relationship, p.birth_date and p.birth_date.isoformat()) for p in policy.insured.people] == [
            (a["nombre"], a.get("parentesco"), a.get("fecha_nacimiento")) for a in insured["asegurados"]
        ]


def test_fetch_maps_every_field_of_every_client(sandbox: Sandbox, gnp: GnpConnector) -> None:
    """All 48 clients: each póliza field by field against the JSON; claims and their history too."""
    store = sandbox.app.store
    statuses: set[ClaimStatus] = set()
    for client_id, client in store.clients.items():
        portfolio = gnp.fetch(client_id)
        assert portfolio.client.client_ref == client_id and portfolio.client.name == client.nombre
        raws = sandbox.raw_policies(client_id)
        assert len(portfolio.policies) == len(raws)
        for policy, raw in zip(portfolio.policies, raws, strict=True):
            _assert_policy(policy, raw)
        raw_claims = store.claims[client_id]
        assert [c.number for c in portfolio.claims] == [c["numero_siniestro"] for c in raw_claims]
        for claim, raw in zip(portfolio.claims, raw_claims, strict=True):
            assert claim.insurer_status == raw["estatus"] and claim.policy_external_id == raw["id_poliza"]
            assert claim.occurred_at == datetime.fromisoformat(raw["fecha_ocurrencia"])
            assert claim.reported_at == datetime.fromisoformat(raw["fecha_reporte"])
            assert claim.coverage_code == raw.get("clave_cobertura") and claim.description == raw.get("descripcion")
            assert (claim.claimed_amount.amount if claim.claimed_amount else None) == _money(raw.get("monto_reclamado"))
            assert (claim.paid_amount.amount if claim.paid_amount else None) == _money(raw.get("monto_pagado"))
            assert [e.insurer_status for e in claim.history] == [h["estatus"] for h in raw["historial"]]
            assert claim.history[-1].insurer_status == claim.insurer_status
            assert all(e.at.utcoffset() is not None for e in claim.history)
            statuses.add(claim.status)
    assert statuses == set(ClaimStatus)


def test_fetch_pages_through_five_pages(sandbox: Sandbox, gnp: GnpConnector) -> None:
    ref = _ref(sandbox, PAGED_PERSON)
    seen: list[str] = []

    def spy(data: Any, environ: dict[str, Any]) -> None:
        seen.append(environ.get("QUERY_STRING", ""))

    sandbox.tamper.rules.append((f"/api/v1/clientes/{ref}/polizas", spy))
    portfolio = gnp.fetch(ref)
    assert len(seen) == 5 and len(portfolio.policies) == 23
    assert len({p.external_id for p in portfolio.policies}) == 23


def test_policy_statuses(sandbox: Sandbox, gnp: GnpConnector) -> None:
    by_wording = {p.insurer_status: p.status for p in gnp.fetch(_ref(sandbox, PAGED_PERSON)).policies}
    assert by_wording == {
        "Vigente": PolicyStatus.IN_FORCE,
        "Pendiente de pago": PolicyStatus.PENDING_PAYMENT,
        "Vencida": PolicyStatus.EXPIRED,
        "Cancelada": PolicyStatus.CANCELLED,
        "Cancelada por falta de pago": PolicyStatus.CANCELLED,
    }


def test_pending_payment_policy_has_an_overdue_receipt_in_grace(sandbox: Sandbox, gnp: GnpConnector) -> None:
    portfolio = gnp.fetch(_ref(sandbox, PENDING_PERSON))
    pending = next(p for p in portfolio.policies if p.status is PolicyStatus.PENDING_PAYMENT)
    overdue = [r for r in pending.receipts if r.status is ReceiptStatus.OVERDUE]
    today = gnp.clock().date()
    assert overdue and all(r.due_date < today <= (r.grace_until or today) for r in overdue)


def test_group_policy_with_zero_premium(sandbox: Sandbox, gnp: GnpConnector) -> None:
    portfolio = gnp.fetch(_ref(sandbox, PAGED_PERSON))
    group = [p for p in portfolio.policies if p.group]
    assert len(group) == 2 and {p.line for p in group} == {Line.GMM, Line.VIDA}
    for policy in group:
        assert policy.premium.amount == Decimal("0.00") and policy.receipts == ()
        assert policy.holder.kind is PartyKind.COMPANY
        assert isinstance(policy.insured, InsuredPeople)
        assert policy.insured.people[0].name == PEOPLE[PAGED_PERSON].name
        assert policy.insured.people[0].relationship == "Empleado"
        assert policy.documents[0].kind is DocumentKind.POLICY
    employer = group[0].holder.tax_id
    assert employer is not None
    company = gnp.fetch(sandbox.app.store.by_rfc[employer.number])
    as_holder = next(p for p in company.policies if p.external_id == group[0].external_id)
    assert as_holder.premium.amount > 0 and len(as_holder.receipts) == 12
    assert as_holder.payment_frequency is PaymentFrequency.MONTHLY


def test_policy_with_36_coverages_and_unicode_names(sandbox: Sandbox, gnp: GnpConnector) -> None:
    portfolio = gnp.fetch(_ref(sandbox, VIP_PERSON))
    vip = next(p for p in portfolio.policies if p.line is Line.GMM)
    assert len(vip.coverages) == 36 and vip.product.endswith("VIP")
    assert vip.coverages[0].deductible is not None and vip.coverages[0].deductible.kind is DeductibleKind.AMOUNT
    assert "Atención psiquiátrica y psicológica" in [c.name for c in vip.coverages]
    unicode_clients = [c for c in sandbox.app.store.clients.values() if not c.nombre.isascii()]
    assert unicode_clients
    match = gnp.fetch(unicode_clients[0].id).client
    assert match.name == unicode_clients[0].nombre


def test_missing_optional_fields(sandbox: Sandbox, gnp: GnpConnector) -> None:
    """Absent optional keys map to None: plates of a new car, a receipt's method, a child's birth date."""
    store = sandbox.app.store
    no_plates = next(
        r
        for r in store.policies.values()
        if r.body["bien_asegurado"].get("tipo") == "VEHICULO" and "placas" not in r.body["bien_asegurado"]
    )
    policy = next(p for p in gnp.fetch(no_plates.holder).policies if p.external_id == no_plates.id)
    assert isinstance(policy.insured, Vehicle) and policy.insured.plate is None
    no_method = next(
        (pid, r) for pid, r in store.receipts.values() if r["estatus"] == "PAGADO" and "forma_pago" not in r
    )
    record = store.policies[no_method[0]]
    policy = next(p for p in gnp.fetch(record.holder).policies if p.external_id == record.id)
    receipt = next(r for r in policy.receipts if r.number == no_method[1]["numero_recibo"])
    assert receipt.status is ReceiptStatus.PAID and receipt.method is None and receipt.paid_at is not None
    without_amount = next(c for cs in store.claims.values() for c in cs if "monto_reclamado" not in c)
    owner = next(cid for cid, cs in store.claims.items() if without_amount in cs)
    claim = next(c for c in gnp.fetch(owner).claims if c.number == without_amount["numero_siniestro"])
    assert claim.claimed_amount is None and claim.paid_amount is None


def test_devices_individual_and_multidevice(sandbox: Sandbox, gnp: GnpConnector) -> None:
    seen: set[type] = set()
    for client_id in list(sandbox.app.store.clients)[:25]:
        for policy in gnp.fetch(client_id).policies:
            if policy.line is not Line.DISPOSITIVOS:
                continue
            seen.add(type(policy.insured))
            if isinstance(policy.insured, Devices):
                assert sum(d.kind == "Celular" for d in policy.insured.devices) <= 2
                assert all("3 meses" in (c.notes or "") for c in policy.coverages if c.covered)
            else:
                assert isinstance(policy.insured, Device) and policy.insured.kind in (
                    "Celular",
                    "Laptop",
                    "Consola portátil",
                )
            assert {c.code for c in policy.coverages} == {"RCV", "RSV", "VVO", "DEQ", "RPA", "REQ", "EXG", "TRE"}
    assert seen == {Device, Devices}


# --- documents, requirements, claims, payments -----------------------------------------------------


def test_documents_are_real_pdfs(sandbox: Sandbox, gnp: GnpConnector) -> None:
    portfolio = gnp.fetch(_ref(sandbox, PAGED_PERSON))
    auto = next(p for p in portfolio.policies if p.line is Line.AUTO)
    kinds = {d.kind for d in auto.documents}
    assert {DocumentKind.POLICY, DocumentKind.RC_OBLIGATORIO, DocumentKind.CONDITIONS} <= kinds
    for ref in auto.documents:
        document = gnp.document(ref)
        assert document.content.startswith(b"%PDF-") and document.content.rstrip().endswith(b"%%EOF")
        assert document.media_type == "application/pdf" and document.filename.endswith(".pdf")
    rc = gnp.document(next(d for d in auto.documents if d.kind is DocumentKind.RC_OBLIGATORIO))
    assert b"Responsabilidad Civil Obligatorio" in rc.content
    caratula = gnp.document(next(d for d in auto.documents if d.kind is DocumentKind.POLICY))
    assert b"Responsabilidad Civil por Da" in caratula.content  # the coverages are on the carátula
    certificate = next(p for p in portfolio.policies if p.group).documents[0]
    assert gnp.document(certificate).content.startswith(b"%PDF-")
    letter = next(d for c in portfolio.claims for d in c.documents)
    assert letter.kind is DocumentKind.CLAIM and gnp.document(letter).content.startswith(b"%PDF-")


def test_unknown_document_is_invalid_response(gnp: GnpConnector) -> None:
    from connectors.models import DocumentRef

    with pytest.raises(InvalidResponse):
        gnp.document(DocumentRef("P99999999-POL", DocumentKind.POLICY, "?"))


def _policy_of(gnp: GnpConnector, sandbox: Sandbox, line: Line, index: int = PAGED_PERSON) -> Policy:
    return next(p for p in gnp.fetch(_ref(sandbox, index)).policies if p.line is line and not p.group)


def test_claim_requirements_for_device_theft(sandbox: Sandbox, gnp: GnpConnector) -> None:
    devices = _policy_of(gnp, sandbox, Line.DISPOSITIVOS)
    for kind in ("robo_con_violencia", "RCV", "robo_sin_violencia"):
        req = gnp.claim_requirements(devices, kind)
        assert req.line is Line.DISPOSITIVOS and req.kind == kind
        windows = {d.within for d in req.deadlines}
        assert timedelta(hours=48) in windows and timedelta(days=5) in windows
        assert any("IMEI" in doc and "cancelación" in doc for doc in req.documents)
        assert any("INE" in doc for doc in req.documents)
        assert req.phone == "55 5227 9000"
    screen = gnp.claim_requirements(devices, "rotura_pantalla")
    assert timedelta(hours=48) not in {d.within for d in screen.deadlines}


def test_claim_requirements_for_auto(sandbox: Sandbox, gnp: GnpConnector) -> None:
    auto = _policy_of(gnp, sandbox, Line.AUTO)
    theft = gnp.claim_requirements(auto, "robo_total")
    assert any("Ministerio Público" in d for d in theft.documents)
    assert any("factura" in d for d in theft.documents) and any("Licencia" in d for d in theft.documents)
    assert timedelta(days=5) in {d.within for d in theft.deadlines}
    collision = gnp.claim_requirements(auto, "DMPP")
    assert collision.title.startswith("Colisión")


def test_claim_requirements_fall_back_to_the_general_procedure(sandbox: Sandbox, gnp: GnpConnector) -> None:
    for line in (Line.GMM, Line.VIDA, Line.HOGAR, Line.AUTO):
        req = gnp.claim_requirements(_policy_of(gnp, sandbox, line), "algo_no_publicado")
        assert req.documents and req.kind == "algo_no_publicado"


def test_report_claim(fresh: Sandbox) -> None:
    gnp = fresh.connector()
    policy = _policy_of(gnp, fresh, Line.DISPOSITIVOS)
    report = ClaimReport(
        policy_external_id=policy.external_id,
        kind="robo_con_violencia",
        occurred_at=datetime.now().astimezone() - timedelta(hours=3),
        description="Me asaltaron en el Metrobús",
        contact_phone="55 1234 5678",
        location="Av. Insurgentes Sur",
        extra={"folio_imei": "IMEI-2026-001"},
    )
    receipt = gnp.report_claim(report)
    assert receipt.claim_number and receipt.status is ClaimStatus.OPEN and receipt.insurer_status == "Reportado"
    assert receipt.reported_at.utcoffset() is not None
    assert gnp.report_claim(report).claim_number == receipt.claim_number  # idempotent: one claim
    claims = [c for c in gnp.fetch(_ref(fresh, PAGED_PERSON)).claims if c.number == receipt.claim_number]
    assert len(claims) == 1 and claims[0].history[0].insurer_status == "Reportado"
    inactive = next(p for p in gnp.fetch(_ref(fresh, PAGED_PERSON)).policies if p.status is PolicyStatus.EXPIRED)
    with pytest.raises(InvalidResponse):
        gnp.report_claim(replace(report, policy_external_id=inactive.external_id))


def test_payment_link_for_a_pending_receipt(fresh: Sandbox) -> None:
    gnp = fresh.connector()
    portfolio = gnp.fetch(_ref(fresh, PENDING_PERSON))
    policy = next(p for p in portfolio.policies if p.status is PolicyStatus.PENDING_PAYMENT)
    receipt = next(r for r in policy.receipts if r.status is ReceiptStatus.OVERDUE)
    link = gnp.payment_link(receipt)
    assert link.url.startswith(fresh.base) and link.expires_at is not None and link.expires_at.utcoffset() is not None
    page = requests.get(link.url, timeout=5)
    assert page.status_code == 200 and receipt.number in page.text
    assert requests.post(link.url, timeout=5).status_code == 200  # pay (simulated)
    again = next(p for p in gnp.fetch(_ref(fresh, PENDING_PERSON)).policies if p.external_id == policy.external_id)
    paid = next(r for r in again.receipts if r.number == receipt.number)
    assert paid.status is ReceiptStatus.PAID and paid.paid_at is not None
    with pytest.raises(InvalidResponse):
        gnp.payment_link(paid)


# --- errors: never a smaller portfolio ---------------------------------------------------------------


def test_short_page_is_invalid_response(sandbox: Sandbox, gnp: GnpConnector) -> None:
    sandbox.faults(short_page=True)
    with pytest.raises(InvalidResponse):
        gnp.fetch(_ref(sandbox, PAGED_PERSON))


def test_malformed_body_is_invalid_response(sandbox: Sandbox, gnp: GnpConnector) -> None:
    gnp.check()
    sandbox.faults(malformed=True)
    with pytest.raises(InvalidResponse):
        gnp.fetch(_ref(sandbox, PAGED_PERSON))


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500}, InsurerUnavailable),
        ({"short_page": True}, InvalidResponse),
        ({"truncate": True}, InvalidResponse),
    ],
)
def test_failure_on_page_3_returns_nothing(sandbox: Sandbox, fault: dict[str, Any], error: type[Exception]) -> None:
    gnp = sandbox.connector(replace(FAST, max_attempts=1))
    ref = _ref(sandbox, PAGED_PERSON)
    sandbox.faults(**fault, on_request=3, path=f"/api/v1/clientes/{ref}/polizas")
    with pytest.raises(error):
        gnp.fetch(ref)


def test_page_3_failing_once_is_retried(sandbox: Sandbox, gnp: GnpConnector) -> None:
    ref = _ref(sandbox, PAGED_PERSON)
    whole = gnp.fetch(ref)
    sandbox.faults(status=503, on_request=3, path=f"/api/v1/clientes/{ref}/polizas")
    assert gnp.fetch(ref).policies == whole.policies


def test_unknown_client_reference_needs_linking_again(gnp: GnpConnector) -> None:
    with pytest.raises(ReauthRequired):
        gnp.fetch("9999999")


def _first(data: Any) -> dict[str, Any]:
    return data["datos"][0] if data.get("datos") else data


TAMPERS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "missing numero_poliza": lambda d, e: _first(d).pop("numero_poliza"),
    "amount as a number": lambda d, e: _first(d).update(prima_total=1234.5),
    "amount with three decimals": lambda d, e: _first(d).update(prima_total="10.005"),
    "date in another format": lambda d, e: _first(d)["vigencia"].update(inicio="04/03/2026"),
    "unknown status": lambda d, e: _first(d).update(estatus="Suspendida temporalmente"),
    "unknown frequency": lambda d, e: _first(d).update(forma_pago="BIMESTRAL"),
    "paid receipt without date": lambda d, e: [r.pop("fecha_pago", None) for r in _first(d)["recibos"]],
    "coverages not a list": lambda d, e: _first(d).update(coberturas={"clave": "X"}),
    "duplicate coverage": lambda d, e: _first(d)["coberturas"].append(_first(d)["coberturas"][0]),
    "covered flag as text": lambda d, e: _first(d)["coberturas"][0].update(amparada="si"),
    "bad deductible": lambda d, e: _first(d)["coberturas"][0].update(deducible={"tipo": "PORCENTAJE", "valor": "1e3"}),
    "datos not a list": lambda d, e: d.update(datos={"0": d["datos"][0]}),
    "total larger than items": lambda d, e: d.update(total=d["total"] + 1),
    "total smaller than items": lambda d, e: d.update(total=d["total"] - 1),
    "wrong page number": lambda d, e: d.update(pagina=d["pagina"] + 1),
    "page size changes": lambda d, e: (
        d.update(por_pagina=d["por_pagina"] + 1) if "pagina=2" in e["QUERY_STRING"] else None
    ),
    "total changes": lambda d, e: (
        d.update(total=d["total"] + 5, total_paginas=d["total_paginas"] + 1)
        if "pagina=3" in e["QUERY_STRING"]
        else None
    ),
    "not an object": lambda d, e: Replace([d]),
    "insured person without name": lambda d, e: [
        p["bien_asegurado"].get("asegurados", [{}])[0].pop("nombre", None) for p in d["datos"]
    ],
    "vehicle year as text": lambda d, e: [
        p["bien_asegurado"].update(modelo="2020") for p in d["datos"] if p["bien_asegurado"]["tipo"] == "VEHICULO"
    ],
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_wrong_shapes_are_invalid_response(sandbox: Sandbox, gnp: GnpConnector, name: str) -> None:
    ref = _ref(sandbox, PAGED_PERSON)
    sandbox.tamper.rules.append((f"/api/v1/clientes/{ref}/polizas", TAMPERS[name]))
    with pytest.raises(InvalidResponse):
        gnp.fetch(ref)


CLAIM_TAMPERS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "datetime without offset": lambda d, e: _first(d).update(fecha_ocurrencia="2026-03-04T10:15:00"),
    "unknown claim status": lambda d, e: _first(d).update(estatus="Perdido en el archivo"),
    "history step unknown": lambda d, e: _first(d)["historial"].append(
        {"fecha_hora": "2026-03-04T10:15:00-06:00", "estatus": "???"}
    ),
    "claim of an unknown policy": lambda d, e: _first(d).update(id_poliza="P77777777"),
}


@pytest.mark.parametrize("name", list(CLAIM_TAMPERS))
def test_wrong_claims_are_invalid_response(sandbox: Sandbox, gnp: GnpConnector, name: str) -> None:
    ref = _ref(sandbox, PAGED_PERSON)
    sandbox.tamper.rules.append((f"/api/v1/clientes/{ref}/siniestros", CLAIM_TAMPERS[name]))
    with pytest.raises(InvalidResponse):
        gnp.fetch(ref)


def test_unknown_line_maps_to_other_not_error(sandbox: Sandbox, gnp: GnpConnector) -> None:
    ref = _ref(sandbox, PAGED_PERSON)
    sandbox.tamper.rules.append((f"/api/v1/clientes/{ref}/polizas", lambda d, e: _first(d).update(ramo="MASCOTAS")))
    assert Line.OTHER in {p.line for p in gnp.fetch(ref).policies}


def test_verification_answer_without_client_is_invalid_response(sandbox: Sandbox, gnp: GnpConnector) -> None:
    sandbox.tamper.rules.append(("/api/v1/clientes/verificacion", lambda d, e: Replace({"cliente": {"nombre": "X"}})))
    with pytest.raises(InvalidResponse):
        gnp.verify_client(*GnpConnector.sandbox().samples.valid)
