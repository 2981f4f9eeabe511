"""Claims that wait for the client, insurer words instead of codes, and phones by line and country (issue 8 §3)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import pytest

from connectors.australis import AustralisConnector
from connectors.australis.data import build
from connectors.australis.schema import Obj
from connectors.base import Connector, SupportPhone
from connectors.gnp import GnpConnector, mapping
from connectors.gnp.sandbox.data import PENDING_DOCUMENTS, WAITING_PERSON, generate
from connectors.models import Claim, ClaimStatus, ClientMatch, Line, Portfolio, TaxIdType
from connectors.sandbox.people import population

TODAY = date(2026, 11, 26)
WHEN = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _claim(**changes: Any) -> Claim:
    values: dict[str, Any] = {
        "external_id": "C1",
        "number": "SIN-1",
        "policy_external_id": "P1",
        "occurred_at": WHEN,
        "reported_at": WHEN + timedelta(hours=2),
        "status": ClaimStatus.UNDER_REVIEW,
        "insurer_status": "Documentación pendiente",
    }
    values.update(changes)
    return Claim(**values)


def test_a_claim_waiting_for_the_client_names_what_is_asked() -> None:
    claim = _claim(waiting_on_client=True, requested_documents=("Denuncia policial",))
    assert claim.waiting_on_client and claim.requested_documents == ("Denuncia policial",)
    assert not _claim().waiting_on_client and _claim().requested_documents == ()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"requested_documents": ("Denuncia policial",)}, "waiting on the client"),
        ({"waiting_on_client": True, "status": ClaimStatus.CLOSED_PAID}, "only an open claim"),
        ({"waiting_on_client": True, "requested_documents": ("  ",)}, "requested document"),
        ({"waiting_on_client": "yes"}, "must be a bool"),
        ({"waiting_on_client": True, "requested_documents": ["Denuncia"]}, "must be a tuple"),
    ],
)
def test_inconsistent_waiting_claims_are_refused(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        _claim(**changes)


# --- GNP ---------------------------------------------------------------------------------------------


def _siniestro(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id_siniestro": "S00000001",
        "numero_siniestro": "2026-1234567",
        "id_poliza": "P00000042",
        "fecha_ocurrencia": "2026-03-01T22:40:00-06:00",
        "fecha_reporte": "2026-03-02T09:10:00-06:00",
        "estatus": "Documentación pendiente",
    }
    data.update(changes)
    return data


def test_gnp_documentacion_pendiente_waits_for_the_client_with_the_documents_asked() -> None:
    claim = mapping.claim(_siniestro(documentos_pendientes=["Denuncia ante el Ministerio Público", "INE"]))
    assert claim.status is ClaimStatus.UNDER_REVIEW and claim.waiting_on_client
    assert claim.requested_documents == ("Denuncia ante el Ministerio Público", "INE")
    assert mapping.claim(_siniestro()).waiting_on_client  # the wording alone says so
    assert not mapping.claim(_siniestro(estatus="En dictamen")).waiting_on_client
    # A closed claim waits for nobody, whatever list came with it.
    paid = mapping.claim(_siniestro(estatus="Pagado", documentos_pendientes=["INE"]))
    assert not paid.waiting_on_client and paid.requested_documents == ()


def test_gnp_documentos_pendientes_must_be_text() -> None:
    with pytest.raises(Exception, match="documentos_pendientes"):
        mapping.claim(_siniestro(documentos_pendientes=[3]))


def test_gnp_sandbox_gives_the_demo_person_a_claim_waiting_for_documents() -> None:
    store, _generator = generate(2026, today=TODAY)
    person = population(2026).mexicans[WAITING_PERSON]
    client_id = store.by_rfc[person.rfc or ""]
    waiting = [c for c in store.claims[client_id] if c["estatus"] == "Documentación pendiente"]
    assert waiting, "the demo user's GNP profile has a claim waiting for documents"
    for claims in store.claims.values():
        for c in claims:
            if c["estatus"] == "Documentación pendiente":
                assert c["documentos_pendientes"] == list(PENDING_DOCUMENTS[c["tipo"]])
            else:
                assert "documentos_pendientes" not in c
    # Still open when it happened lately: within the policy's term, before today.
    occurred = datetime.fromisoformat(waiting[-1]["fecha_ocurrencia"]).date()
    assert TODAY - timedelta(days=25) <= occurred < TODAY


def test_gnp_phones_by_line_and_country() -> None:
    book = GnpConnector.phone_book()
    assistance = [p for p in book if p.assistance]
    assert [p.number for p in assistance] == ["55 5227 9000"]
    devices_only = next(p for p in book if p.number == "55 5985 4280")
    assert devices_only.serves("dispositivos", "MX") and not devices_only.serves("auto", "MX")
    assert GnpConnector.support_phones["Línea GNP (siniestros y atención a clientes)"] == "55 5227 9000"


# --- Australis -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def australis_portfolios() -> list[Portfolio]:
    store = build(2026, today=TODAY)
    connector = AustralisConnector({"base_url": "http://127.0.0.1:9", "api_key": "k"})
    found = []
    for cid in store.customers:
        policies = tuple(
            connector._policy(Obj(store.policies[p], "policy"), [Obj(r, "premium") for r in store.premiums[p]], cid)
            for p in store.customer_policies[cid]
        )
        claims = tuple(connector._claim(Obj(c, "claim")) for c in store.claims[cid])
        client = ClientMatch(cid, "x", connector._client(Obj(store.customers[cid], "customer")).kind)
        found.append(Portfolio(client, policies, claims, datetime.now(UTC)))
    return found


def test_australis_awaiting_documents_waits_for_the_client(australis_portfolios: list[Portfolio]) -> None:
    claims = [c for p in australis_portfolios for c in p.claims]
    waiting = [c for c in claims if c.waiting_on_client]
    assert waiting and all(c.insurer_status == "Esperando documentación del asegurado" for c in waiting)
    assert all(c.requested_documents for c in waiting)
    assert any("Denuncia policial" in c.requested_documents for c in waiting)
    assert not any(c.requested_documents for c in claims if not c.waiting_on_client)


def test_australis_never_hands_over_a_status_code(australis_portfolios: list[Portfolio]) -> None:
    code = re.compile(r"^[A-Za-z]+(_[A-Za-z]+)+$|^[a-z]+$|^[A-Z]+$")
    words = [p.insurer_status for f in australis_portfolios for p in f.policies]
    words += [c.insurer_status for f in australis_portfolios for c in f.claims]
    words += [e.insurer_status for f in australis_portfolios for c in f.claims for e in c.history]
    assert words and not [w for w in words if code.match(w)], "codes such as AWAITING_DOCUMENTS reach the portal"


def test_australis_phones_by_line_and_country() -> None:
    book = AustralisConnector.phone_book()
    first_for = {
        (line, country): next(p.number for p in book if p.assistance and p.serves(line, country))
        for line in ("auto", "hogar")
        for country in ("AR", "MX")
    }
    assert first_for == {
        ("auto", "AR"): "0800 555 0143",
        ("auto", "MX"): "800 555 0143",
        ("hogar", "AR"): "0800 555 0142",
        ("hogar", "MX"): "800 555 0142",
    }


def test_a_connector_with_only_the_old_phone_dict_still_publishes_its_numbers() -> None:
    class Old(Connector):
        slug: ClassVar[str] = "old"
        display_name: ClassVar[str] = "Old"
        countries: ClassVar[tuple[str, ...]] = ("MX",)
        currencies: ClassVar[tuple[str, ...]] = ("MXN",)
        tax_id_types: ClassVar[tuple[TaxIdType, ...]] = (TaxIdType.RFC,)
        support_phones: ClassVar[dict[str, str]] = {"Cabina": "55 1234 5678"}

        def check(self) -> None: ...

        def verify_client(self, tax_id: Any, policy_number: str) -> None:
            return None

        def fetch(self, client_ref: str) -> Portfolio:
            raise NotImplementedError

    assert Old.phone_book() == (SupportPhone("Cabina", "55 1234 5678"),)
    assert Old.phone_book()[0].serves(Line.AUTO, "AR")  # no line nor country: every policy
