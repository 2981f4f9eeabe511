"""GNP JSON → canonical records, without a server: odd values, edge cases, refusals."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.errors import InvalidResponse
from connectors.gnp import mapping
from connectors.models import (
    ClaimStatus,
    DeductibleKind,
    Devices,
    DocumentKind,
    Home,
    Line,
    PartyKind,
    PolicyStatus,
    ReceiptStatus,
    TaxIdType,
)

TODAY = date(2026, 3, 20)


def _policy(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id_poliza": "P00000042",
        "numero_poliza": "4112345678",
        "ramo": "HOGAR",
        "producto": "Hogar Versátil",
        "estatus": "Vigente",
        "vigencia": {"inicio": "2026-01-15", "fin": "2027-01-15"},
        "prima_total": "0.00",
        "moneda": "MXN",
        "forma_pago": "MENSUAL",
        "periodo_gracia_dias": 30,
        "contratante": {"nombre": "Ximena Núñez Zúñiga", "tipo_persona": "FISICA", "rfc": "NUZX900101AB1"},
        "bien_asegurado": {
            "tipo": "INMUEBLE",
            "domicilio": {
                "calle": "Calle Ámsterdam",
                "numero_exterior": "210",
                "numero_interior": "Depto. 4",
                "colonia": "Hipódromo",
                "codigo_postal": "06100",
                "municipio": "Cuauhtémoc",
                "estado": "Ciudad de México",
            },
        },
        "coberturas": [{"clave": "INCE", "nombre": "Incendio edificio", "amparada": True}],
    }
    base.update(changes)
    return base


def _receipt(due: date, estatus: str = "PENDIENTE", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "numero_recibo": f"R-{due.isoformat()}",
        "fecha_vencimiento": due.isoformat(),
        "fecha_limite_pago": (due + timedelta(days=30)).isoformat(),
        "importe": "1200.50",
        "estatus": estatus,
    }
    data.update(changes)
    return data


def test_minimal_policy_zero_premium_and_absent_optionals() -> None:
    policy = mapping.policy(_policy(), TODAY)
    assert policy.premium.amount == Decimal("0.00") and policy.premium.currency == "MXN"
    assert policy.status is PolicyStatus.IN_FORCE and policy.line is Line.HOGAR
    assert policy.receipts == () and policy.documents == () and policy.group is False
    assert policy.holder.name == "Ximena Núñez Zúñiga" and policy.holder.kind is PartyKind.PERSON
    assert isinstance(policy.insured, Home)
    assert policy.insured.address == "Calle Ámsterdam 210 Depto. 4, Hipódromo"
    assert policy.insured.construction is None and policy.insured.use is None
    coverage = policy.coverages[0]
    assert coverage.sum_insured is None and coverage.deductible is None and coverage.notes is None


def test_null_optionals_are_absent_too() -> None:
    policy = mapping.policy(_policy(recibos=None, documentos=None, colectiva=None, bien_asegurado=None), TODAY)
    assert policy.insured is None and policy.receipts == () and policy.group is False


@pytest.mark.parametrize(
    ("wording", "status"),
    [
        ("Vigente", PolicyStatus.IN_FORCE),
        ("VIGENTE", PolicyStatus.IN_FORCE),
        ("Vencida", PolicyStatus.EXPIRED),
        ("Cancelada", PolicyStatus.CANCELLED),
        ("Cancelada por falta de pago", PolicyStatus.CANCELLED),
        ("  pendiente   de PAGO ", PolicyStatus.PENDING_PAYMENT),
    ],
)
def test_policy_status_wording(wording: str, status: PolicyStatus) -> None:
    policy = mapping.policy(_policy(estatus=wording, recibos=[_receipt(TODAY - timedelta(days=3))]), TODAY)
    assert policy.status is status and policy.insurer_status == wording.strip()


def test_pending_payment_past_its_grace_period_is_cancelled() -> None:
    late = _receipt(TODAY - timedelta(days=40))
    policy = mapping.policy(_policy(estatus="Pendiente de pago", recibos=[late]), TODAY)
    assert policy.status is PolicyStatus.CANCELLED and policy.insurer_status == "Pendiente de pago"
    assert policy.receipts[0].status is ReceiptStatus.OVERDUE


def test_receipt_statuses() -> None:
    receipts = [
        _receipt(TODAY - timedelta(days=60), "PAGADO", fecha_pago="2026-01-20T11:05:00-06:00", forma_pago="SPEI"),
        _receipt(TODAY - timedelta(days=5)),
        _receipt(TODAY + timedelta(days=25)),
        _receipt(TODAY + timedelta(days=55), "CANCELADO"),
    ]
    policy = mapping.policy(_policy(recibos=receipts), TODAY)
    assert [r.status for r in policy.receipts] == [
        ReceiptStatus.PAID,
        ReceiptStatus.OVERDUE,
        ReceiptStatus.PENDING,
        ReceiptStatus.CANCELLED,
    ]
    paid = policy.receipts[0]
    assert paid.paid_at is not None and paid.paid_at.utcoffset() == timedelta(hours=-6) and paid.method == "SPEI"
    assert policy.receipts[1].grace_until == TODAY + timedelta(days=25)
    assert all(r.amount.amount == Decimal("1200.50") for r in policy.receipts)


def test_deductibles_and_sums() -> None:
    coverages = [
        {
            "clave": "DMPP",
            "nombre": "Daños Materiales Pérdida Parcial",
            "amparada": True,
            "suma_asegurada": "389900.00",
            "base_suma_asegurada": "Valor Factura",
            "deducible": {"tipo": "PORCENTAJE", "valor": "5", "base": "Valor Factura"},
        },
        {"clave": "LLR", "nombre": "Llantas", "amparada": True, "deducible": {"tipo": "MONTO", "valor": "1500.00"}},
        {"clave": "RCDT", "nombre": "RC", "amparada": True, "deducible": {"tipo": "SIN_DEDUCIBLE"}},
        {"clave": "GAF", "nombre": "Garantía de Autos Financiados", "amparada": False},
    ]
    policy = mapping.policy(_policy(coberturas=coverages), TODAY)
    pct, amount, none, off = policy.coverages
    assert pct.deductible is not None and pct.deductible.kind is DeductibleKind.PERCENTAGE
    assert pct.deductible.percentage == Decimal("5") and pct.deductible.basis == "Valor Factura"
    assert pct.sum_insured is not None and pct.sum_insured.amount == Decimal("389900.00")
    assert amount.deductible is not None and amount.deductible.amount is not None
    assert amount.deductible.amount.amount == Decimal("1500.00")
    assert none.deductible is not None and none.deductible.kind is DeductibleKind.NONE
    assert off.covered is False


def test_multidevice_and_documents() -> None:
    insured = {
        "tipo": "DISPOSITIVOS",
        "categoria": "MULTIDISPOSITIVO",
        "equipos": [
            {"tipo_equipo": "Celular", "marca": "Apple", "modelo": "iPhone 15", "imei": "356938035643809"},
            {"tipo_equipo": "Laptop", "marca": "Lenovo", "modelo": "IdeaPad"},
        ],
    }
    docs = [
        {"id_documento": "P1-POL", "tipo": "POLIZA", "titulo": "Póliza"},
        {"id_documento": "P1-X", "tipo": "ENDOSO", "titulo": "Endoso 1", "formato": "application/pdf"},
    ]
    policy = mapping.policy(_policy(ramo="DISPOSITIVOS", bien_asegurado=insured, documentos=docs), TODAY)
    assert isinstance(policy.insured, Devices) and policy.insured.devices[1].imei is None
    assert policy.line is Line.DISPOSITIVOS
    assert [d.kind for d in policy.documents] == [DocumentKind.POLICY, DocumentKind.OTHER]


def test_client_match() -> None:
    person = mapping.client_match(
        {"id_cliente": "1040007", "tipo_persona": "FISICA", "nombre": "Óscar Peña", "curp": "PEXO800101HDFXXS09"}
    )
    assert person.tax_id is not None and person.tax_id.type is TaxIdType.CURP and person.email is None
    company = mapping.client_match(
        {
            "id_cliente": "2080000",
            "tipo_persona": "MORAL",
            "nombre": "Tecnologías Nopal",
            "rfc": "TNO100101AB1",
            "correo": "c@empresa.example",
        }
    )
    assert company.kind is PartyKind.COMPANY and company.tax_id is not None and company.tax_id.type is TaxIdType.RFC
    with pytest.raises(InvalidResponse):
        mapping.client_match({"id_cliente": "1", "tipo_persona": "OTRA", "nombre": "X"})
    with pytest.raises(InvalidResponse):
        mapping.client_match(None)


def _claim(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id_siniestro": "S00000001",
        "numero_siniestro": "2026-1234567",
        "id_poliza": "P00000042",
        "fecha_ocurrencia": "2026-03-01T22:40:00-06:00",
        "fecha_reporte": "2026-03-02T09:10:00-06:00",
        "estatus": "En Trámite",
        "historial": [
            {"fecha_hora": "2026-03-03T10:00:00-06:00", "estatus": "EN TRÁMITE"},
            {"fecha_hora": "2026-03-02T09:10:00-06:00", "estatus": "Reportado", "comentario": "Línea GNP"},
        ],
    }
    data.update(changes)
    return data


def test_claim_wording_and_history_order() -> None:
    claim = mapping.claim(_claim())
    assert claim.status is ClaimStatus.OPEN and claim.insurer_status == "En Trámite"
    assert [e.insurer_status for e in claim.history] == ["Reportado", "EN TRÁMITE"]
    assert claim.history[0].note == "Línea GNP" and claim.claimed_amount is None and claim.documents == ()


@pytest.mark.parametrize(
    ("wording", "status"),
    [
        ("Reportado", ClaimStatus.OPEN),
        ("En valuación", ClaimStatus.UNDER_REVIEW),
        ("En dictamen", ClaimStatus.UNDER_REVIEW),
        ("Documentación pendiente", ClaimStatus.UNDER_REVIEW),
        ("Pagado", ClaimStatus.CLOSED_PAID),
        ("Rechazado", ClaimStatus.CLOSED_UNPAID),
        ("Improcedente", ClaimStatus.CLOSED_UNPAID),
        ("Reabierto", ClaimStatus.REOPENED),
        ("Cancelado", ClaimStatus.CANCELLED),
    ],
)
def test_claim_statuses(wording: str, status: ClaimStatus) -> None:
    assert mapping.claim_status(wording) is status


BROKEN_POLICIES: dict[str, dict[str, Any]] = {
    "foreign currency": {"moneda": "USD"},
    "float premium": {"prima_total": 0.0},
    "negative premium": {"prima_total": "-1.00"},
    "term reversed": {"vigencia": {"inicio": "2027-01-15", "fin": "2026-01-15"}},
    "impossible date": {"vigencia": {"inicio": "2026-02-30", "fin": "2027-01-15"}},
    "unknown insured kind": {"bien_asegurado": {"tipo": "MASCOTA"}},
    "individual with two devices": {
        "bien_asegurado": {
            "tipo": "DISPOSITIVOS",
            "categoria": "INDIVIDUAL",
            "equipos": [
                {"tipo_equipo": "Celular", "marca": "A", "modelo": "B"},
                {"tipo_equipo": "Celular", "marca": "A", "modelo": "C"},
            ],
        }
    },
    "no insured people": {"bien_asegurado": {"tipo": "PERSONAS", "asegurados": []}},
    "holder without name": {"contratante": {"tipo_persona": "FISICA", "rfc": "X"}},
    "percentage over 100": {
        "coberturas": [
            {"clave": "A", "nombre": "A", "amparada": True, "deducible": {"tipo": "PORCENTAJE", "valor": "150"}}
        ]
    },
    "unknown deductible": {
        "coberturas": [
            {"clave": "A", "nombre": "A", "amparada": True, "deducible": {"tipo": "DIAS_SALARIO", "valor": "20"}}
        ]
    },
    "receipt in dollars": {"recibos": [_receipt(TODAY, moneda="USD")]},
    "receipt unknown status": {"recibos": [_receipt(TODAY, "EN_REVISION")]},
}


@pytest.mark.parametrize("name", list(BROKEN_POLICIES))
def test_broken_policies_are_invalid_response(name: str) -> None:
    with pytest.raises(InvalidResponse):
        mapping.policy(_policy(**copy.deepcopy(BROKEN_POLICIES[name])), TODAY)


@pytest.mark.parametrize(
    "changes",
    [{"fecha_reporte": "2026-03-02"}, {"estatus": "Archivado"}, {"monto_pagado": "1,000.00"}, {"historial": "x"}],
)
def test_broken_claims_are_invalid_response(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidResponse):
        mapping.claim(_claim(**changes))


def test_requirements_deadlines() -> None:
    data = {
        "titulo": "Robo",
        "documentos": ["INE"],
        "plazos": [{"descripcion": "Denuncia", "horas": 48}, {"descripcion": "Aviso", "dias": 5}],
    }
    req = mapping.requirements(data, Line.DISPOSITIVOS, "robo_con_violencia", "55 5227 9000")
    assert [d.within for d in req.deadlines] == [timedelta(hours=48), timedelta(days=5)]
    assert req.steps == () and req.phone == "55 5227 9000"
    with pytest.raises(InvalidResponse):
        mapping.requirements({**data, "plazos": [{"descripcion": "x"}]}, Line.AUTO, "x", None)
    with pytest.raises(InvalidResponse):
        mapping.requirements({**data, "documentos": [1]}, Line.AUTO, "x", None)
