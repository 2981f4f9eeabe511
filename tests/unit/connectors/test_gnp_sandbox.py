"""GNP's sandbox: the book meets issue 3's counts, and the API answers as documented (raw HTTP)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from stdnum.mx import curp as mx_curp
from stdnum.mx import rfc as mx_rfc

from connectors.gnp.mapping import CLAIM_STATUSES, normalise
from connectors.gnp.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, make_app, sandbox_of
from connectors.gnp.sandbox.data import CLAIM_FLOWS, GRACE_DAYS, PAGED_PERSON, Store, generate
from connectors.models import ClaimStatus
from connectors.sandbox import running
from connectors.sandbox.people import population


@pytest.fixture(scope="module")
def store() -> Store:
    return generate(2026)[0]


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, dict[str, str], Store]]:
    """A served sandbox (page size 5), a bearer header and its book."""
    app = make_app(page_size=5)
    with running(app) as base:
        token = requests.post(
            f"{base}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": SANDBOX_CLIENT_ID,
                "client_secret": SANDBOX_CLIENT_SECRET,
            },
            timeout=5,
        )
        assert token.status_code == 200
        yield base, {"Authorization": f"Bearer {token.json()['access_token']}"}, sandbox_of(app).store


# --- the book ---------------------------------------------------------------------------------------


def test_clients_are_the_shared_population(store: Store) -> None:
    pop = population(2026)
    people = [c for c in store.clients.values() if c.tipo_persona == "FISICA"]
    companies = [c for c in store.clients.values() if c.tipo_persona == "MORAL"]
    assert len(people) + len(companies) >= 30
    assert [c.rfc for c in people] == [p.rfc for p in pop.mexicans[:40]]
    assert [c.rfc for c in companies] == [c.rfc for c in pop.mexican_companies[:8]]
    shared_with_australis = {p.rfc for p in pop.mexicans[25:45]} & {c.rfc for c in people}
    assert len(shared_with_australis) == 15  # mexicans 25–39: the same people, the same RFC
    for client in people:
        assert mx_rfc.is_valid(client.rfc) and client.curp and mx_curp.is_valid(client.curp)
    for client in companies:
        assert mx_rfc.is_valid(client.rfc) and client.curp is None
    assert any(not c.nombre.isascii() for c in store.clients.values())


def test_policies_across_every_line_and_status(store: Store) -> None:
    bodies = [r.body for r in store.policies.values()]
    assert len(bodies) >= 100
    lines = Counter(b["ramo"] for b in bodies)
    assert set(lines) >= {"AUTOS", "DISPOSITIVOS", "GASTOS_MEDICOS_MAYORES", "VIDA", "HOGAR"}
    statuses = Counter(b["estatus"] for b in bodies)
    assert statuses["Vencida"] >= 3 and statuses["Cancelada"] + statuses["Cancelada por falta de pago"] >= 3
    assert statuses["Pendiente de pago"] >= 3
    assert max(len(b["coberturas"]) for b in bodies) >= 30
    assert {
        "Mis Dispositivos GNP",
        "Autos Individual",
        "Hogar Versátil",
        "Gastos Médicos Mayores Colectivo",
        "Vida Grupo",
    } <= {b["producto"] for b in bodies}
    assert {b.get("paquete") for b in bodies if b["ramo"] == "AUTOS"} >= {"Amplia", "Limitada", "Responsabilidad Civil"}


def test_auto_policies_follow_seed_004(store: Store) -> None:
    autos = [r.body for r in store.policies.values() if r.body["ramo"] == "AUTOS"]
    for body in autos:
        incisos = [c.get("inciso") for c in body["coberturas"]]
        assert incisos[:21] == list("abcdefghijklmnopqrstu")
        assert body["coberturas"][0]["nombre"] == "Daños Materiales Pérdida Parcial"
        assert body["coberturas"][20]["nombre"] == "Garantía de Autos Financiados"
        assert len(body["bien_asegurado"]["numero_serie"]) == 17
    bases = {c.get("base_suma_asegurada") for b in autos for c in b["coberturas"]}
    assert {"Valor Comercial", "Valor Factura", "Valor Convenido"} <= bases
    kinds = {(c.get("deducible") or {}).get("tipo") for b in autos for c in b["coberturas"]}
    assert {"PORCENTAJE", "MONTO", "SIN_DEDUCIBLE"} <= kinds
    assert any(not c["amparada"] for b in autos for c in b["coberturas"])


def test_device_policies_follow_seed_002(store: Store) -> None:
    devices = [r.body for r in store.policies.values() if r.body["ramo"] == "DISPOSITIVOS"]
    categories = Counter(b["categoria"] for b in devices)
    assert categories["INDIVIDUAL"] and categories["MULTIDISPOSITIVO"]
    for body in devices:
        equipos = body["bien_asegurado"]["equipos"]
        phones = [e for e in equipos if e["tipo_equipo"] == "Celular"]
        if body["categoria"] == "INDIVIDUAL":
            assert len(equipos) == 1 and equipos[0]["tipo_equipo"] in ("Celular", "Laptop", "Consola portátil")
        else:
            assert len(phones) <= 2 and len(equipos) >= 2
            assert all("3 meses" in c["notas"] for c in body["coberturas"] if c["amparada"])
        assert all(len(e["imei"]) == 15 for e in phones)
        names = [c["nombre"] for c in body["coberturas"]]
        assert names == [
            "Robo con violencia",
            "Robo sin violencia",
            "Variación de voltaje",
            "Daños del equipo",
            "Rotura de pantalla",
            "Rotura del equipo",
            "Extensión de garantía",
            "Trámite de reparación",
        ]


def test_receipts_paid_and_pending_with_30_day_grace(store: Store) -> None:
    receipts = [r for _pid, r in store.receipts.values()]
    statuses = Counter(r["estatus"] for r in receipts)
    assert statuses["PAGADO"] and statuses["PENDIENTE"] and statuses["CANCELADO"]
    for receipt in receipts:
        due, limit = date.fromisoformat(receipt["fecha_vencimiento"]), date.fromisoformat(receipt["fecha_limite_pago"])
        assert limit - due == timedelta(days=GRACE_DAYS)
        assert ("fecha_pago" in receipt) == (receipt["estatus"] == "PAGADO")
    for record in store.policies.values():
        if record.body["estatus"] == "Pendiente de pago":
            late = [
                r
                for r in record.body["recibos"]
                if r["estatus"] == "PENDIENTE" and date.fromisoformat(r["fecha_vencimiento"]) < store.today
            ]
            assert late and all(date.fromisoformat(r["fecha_limite_pago"]) >= store.today for r in late)


def test_group_policies_and_zero_premium(store: Store) -> None:
    groups = [r for r in store.policies.values() if r.members]
    assert len(groups) == 16 and all(store.clients[r.holder].tipo_persona == "MORAL" for r in groups)
    record = groups[0]
    member = next(iter(record.members))
    view = record.view(member)
    assert view["prima_total"] == "0.00" and view["recibos"] == [] and view["colectiva"] is True
    assert view["bien_asegurado"]["asegurados"][0]["nombre"] == store.clients[member].nombre
    assert Decimal(record.view(record.holder)["prima_total"]) > 0


def test_claims_in_every_status_with_history(store: Store) -> None:
    claims = [c for cs in store.claims.values() for c in cs]
    assert {c["estatus"] for c in claims} == set(CLAIM_FLOWS)
    assert {CLAIM_STATUSES[normalise(c["estatus"])] for c in claims} == set(ClaimStatus)
    for claim in claims:
        assert [h["estatus"] for h in claim["historial"]] == list(CLAIM_FLOWS[claim["estatus"]])
        assert claim["fecha_reporte"] >= claim["fecha_ocurrencia"][:10]
        assert claim["id_poliza"] in store.policies


def test_paged_client_spans_five_pages_of_five(store: Store) -> None:
    paged = store.by_rfc[population(2026).mexicans[PAGED_PERSON].rfc or ""]
    assert 20 < len(store.portfolio[paged]) <= 25


def test_deterministic_from_the_seed_and_not_from_the_date() -> None:
    a, _ = generate(2026, today=date(2026, 3, 1))
    b, _ = generate(2026, today=date(2026, 9, 17))
    c, _ = generate(7, today=date(2026, 3, 1))

    def shape(s: Store) -> list[tuple[str, str, str, int]]:
        return [(r.numero, r.body["estatus"], r.body["ramo"], len(r.body["coberturas"])) for r in s.policies.values()]

    assert shape(a) == shape(b) and shape(a) != shape(c)
    assert shape(generate(2026, today=date(2026, 3, 1))[0]) == shape(a)


def test_large_portfolio_is_quick() -> None:
    started = time.monotonic()
    store, _ = generate(2026, clients=1000)
    assert time.monotonic() - started < 5
    assert sum(1 for c in store.clients.values() if c.tipo_persona == "FISICA") == 1000
    assert len(store.policies) > 2000


# --- the API over HTTP ---------------------------------------------------------------------------


def test_token_endpoint(api: tuple[str, dict[str, str], Store]) -> None:
    base, _headers, _store = api
    basic = requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET),
        timeout=5,
    )
    assert basic.status_code == 200 and basic.json()["expires_in"] == 3600 and basic.json()["token_type"] == "Bearer"
    assert basic.headers["Cache-Control"] == "no-store"
    wrong = requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": "x"},
        timeout=5,
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = requests.post(f"{base}/oauth/token", data={"grant_type": "password"}, timeout=5)
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    assert requests.get(f"{base}/api/v1/estado", timeout=5).status_code == 401
    bad = requests.get(f"{base}/api/v1/estado", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"


def test_expired_token_fault(api: tuple[str, dict[str, str], Store]) -> None:
    base, headers, _store = api
    expired = requests.get(f"{base}/api/v1/estado", headers={**headers, "X-Sandbox-Fault": "expired_token"}, timeout=5)
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


def test_pagination_envelope(api: tuple[str, dict[str, str], Store]) -> None:
    base, headers, store = api
    paged = store.by_rfc[population(2026).mexicans[PAGED_PERSON].rfc or ""]
    url = f"{base}/api/v1/clientes/{paged}/polizas"
    first = requests.get(url, headers=headers, timeout=5).json()
    total = len(store.portfolio[paged])
    assert (first["pagina"], first["por_pagina"], first["total"], first["total_paginas"]) == (1, 5, total, 5)
    last = requests.get(url, params={"pagina": 5}, headers=headers, timeout=5).json()
    assert len(last["datos"]) == total - 20
    beyond = requests.get(url, params={"pagina": 9}, headers=headers, timeout=5).json()
    assert beyond["datos"] == [] and beyond["total"] == total
    # This sandbox serves pages of 5 at most: a larger por_pagina is answered at 5, and the envelope says so.
    big = requests.get(url, params={"por_pagina": 100}, headers=headers, timeout=5).json()
    assert (len(big["datos"]), big["por_pagina"], big["total_paginas"]) == (5, 5, 5)
    short = requests.get(url, headers={**headers, "X-Sandbox-Fault": "short_page"}, timeout=5).json()
    assert len(short["datos"]) == 4 and short["total"] == total
    for params in ({"pagina": 0}, {"por_pagina": 101}, {"pagina": "dos"}):
        answer = requests.get(url, params=params, headers=headers, timeout=5)
        assert answer.status_code == 400 and answer.json()["error"] == "parametro_invalido"


def test_amounts_are_decimal_strings_and_datetimes_have_offsets(api: tuple[str, dict[str, str], Store]) -> None:
    base, headers, store = api
    paged = store.by_rfc[population(2026).mexicans[PAGED_PERSON].rfc or ""]
    policies = requests.get(
        f"{base}/api/v1/clientes/{paged}/polizas", params={"por_pagina": 100}, headers=headers, timeout=5
    ).json()["datos"]
    for policy in policies:
        assert isinstance(policy["prima_total"], str) and Decimal(policy["prima_total"]).as_tuple().exponent == -2
        for receipt in policy["recibos"]:
            if "fecha_pago" in receipt:
                assert receipt["fecha_pago"].endswith("-06:00")
    claims = requests.get(
        f"{base}/api/v1/clientes/{paged}/siniestros", params={"por_pagina": 100}, headers=headers, timeout=5
    ).json()["datos"]
    assert claims and all(c["fecha_reporte"].endswith("-06:00") for c in claims)


def test_verification_refusals_are_identical(api: tuple[str, dict[str, str], Store]) -> None:
    base, headers, store = api
    people = population(2026).mexicans
    holder = store.clients[store.by_rfc[people[3].rfc or ""]]
    active = next(store.policies[p] for p in store.portfolio[holder.id] if store.policies[p].active)
    inactive = next(store.policies[p] for p in store.portfolio[holder.id] if not store.policies[p].active)
    url = f"{base}/api/v1/clientes/verificacion"
    ok = requests.post(url, json={"rfc": holder.rfc, "numero_poliza": active.numero}, headers=headers, timeout=5)
    assert ok.status_code == 200 and ok.json()["cliente"]["id_cliente"] == holder.id
    answers = [
        requests.post(url, json=body, headers=headers, timeout=5)
        for body in (
            {"rfc": holder.rfc, "numero_poliza": inactive.numero},
            {"rfc": holder.rfc, "numero_poliza": "0000000000"},
            {"rfc": people[59].rfc, "numero_poliza": active.numero},
            {"curp": people[59].curp, "numero_poliza": active.numero},
        )
    ]
    assert {(a.status_code, a.content) for a in answers} == {(404, answers[0].content)}
    both = requests.post(
        url, json={"rfc": holder.rfc, "curp": holder.curp, "numero_poliza": active.numero}, headers=headers, timeout=5
    )
    assert both.status_code == 400


def test_requirements_endpoint(api: tuple[str, dict[str, str], Store]) -> None:
    base, headers, _store = api
    url = f"{base}/api/v1/requisitos"
    theft = requests.get(
        url, params={"ramo": "DISPOSITIVOS", "tipo": "robo_sin_violencia"}, headers=headers, timeout=5
    ).json()
    assert theft["plazos"][1]["horas"] == 48 and theft["plazos"][0]["dias"] == 5
    first = requests.get(url, params={"ramo": "AUTOS", "por_pagina": "100"}, headers=headers, timeout=5).json()
    listed = [  # this sandbox serves pages of 5 at most
        r
        for page in range(1, first["total_paginas"] + 1)
        for r in requests.get(url, params={"ramo": "AUTOS", "pagina": str(page)}, headers=headers, timeout=5).json()[
            "datos"
        ]
    ]
    assert {r["tipo"] for r in listed} >= {"colision", "robo_total", "perdida_total", "general"}
    assert requests.get(url, params={"ramo": "MASCOTAS"}, headers=headers, timeout=5).status_code == 400
    assert requests.get(url, params={"ramo": "VIDA", "tipo": "x"}, headers=headers, timeout=5).status_code == 404


def test_documents_endpoint(api: tuple[str, dict[str, str], Store]) -> None:
    base, headers, store = api
    record = next(r for r in store.policies.values() if r.body["ramo"] == "AUTOS")
    for doc in record.body["documentos"]:
        answer = requests.get(f"{base}/api/v1/documentos/{doc['id_documento']}", headers=headers, timeout=5)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/pdf"
        assert answer.content.startswith(b"%PDF-1.4") and b"%%EOF" in answer.content[-8:]
    missing = requests.get(f"{base}/api/v1/documentos/P00000001-XYZ", headers=headers, timeout=5)
    assert missing.status_code == 404


def test_claim_report_validation(api: tuple[str, dict[str, str], Store]) -> None:
    base, headers, store = api
    inactive = next(r for r in store.policies.values() if not r.active)
    body: dict[str, Any] = {
        "id_poliza": inactive.id,
        "tipo": "colision",
        "fecha_ocurrencia": "2026-01-02T10:00:00-06:00",
        "descripcion": "x",
        "telefono_contacto": "55 0000 0000",
    }
    refused = requests.post(f"{base}/api/v1/siniestros", json=body, headers=headers, timeout=5)
    assert refused.status_code == 422 and refused.json()["error"] == "poliza_no_vigente"
    naive = requests.post(
        f"{base}/api/v1/siniestros",
        json={**body, "fecha_ocurrencia": "2026-01-02T10:00:00"},
        headers=headers,
        timeout=5,
    )
    assert naive.status_code == 400
    paid = next(n for n, (_p, r) in store.receipts.items() if r["estatus"] == "PAGADO")
    assert requests.post(f"{base}/api/v1/recibos/{paid}/liga-pago", headers=headers, timeout=5).status_code == 409


# --- large clients (issue 9) -------------------------------------------------------------------------


def test_a_large_client_is_generated_page_by_page_and_the_same_every_time() -> None:
    from werkzeug.test import Client

    rfc = population(2026).mexicans[1].rfc or ""
    app = make_app(page_size=100, policies_per_client=250, large_clients=[rfc])
    store = sandbox_of(app).store
    big, small = store.by_rfc[rfc], store.by_rfc[population(2026).mexicans[3].rfc or ""]
    client = Client(app)
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
        },
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def page(path: str, number: int) -> Any:
        answer = client.get(f"/api/v1/clientes/{path}?pagina={number}&por_pagina=100", headers=headers)
        assert answer.status_code == 200
        return answer

    first = page(f"{big}/polizas", 1).get_json()
    assert (first["total"], first["total_paginas"]) == (250, 3)
    policies = [p for n in (1, 2, 3) for p in page(f"{big}/polizas", n).get_json()["datos"]]
    assert len({p["id_poliza"] for p in policies}) == 250
    assert page(f"{big}/polizas", 3).data == page(f"{big}/polizas", 3).data  # built again, the same bytes
    own = len(store.portfolio[big])
    assert store.extras is not None and store.extras.count(big) == 250 - own
    assert len(store.policies) == len(generate(2026)[0].policies)  # the generated ones are not kept
    claims = page(f"{big}/siniestros", 1).get_json()
    assert claims["total"] == len(store.claims[big]) + (250 - own + 7) // 10
    generated = {p["id_poliza"] for p in policies[own:]}
    assert all(c["id_poliza"] in {p["id_poliza"] for p in policies} for c in claims["datos"])
    assert {c["id_poliza"] for c in claims["datos"]} & generated
    document = client.get(f"/api/v1/documentos/{policies[-1]['documentos'][0]['id_documento']}", headers=headers)
    assert document.status_code == 200 and document.data.startswith(b"%PDF")
    assert page(f"{small}/polizas", 1).get_json()["total"] == len(store.portfolio[small])  # only the large ones
