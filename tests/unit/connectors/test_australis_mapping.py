"""AustralisConnector.fetch against the real sandbox: every field of the API mapped onto connectors.models.

The expected values are worked out here from the raw JSON the sandbox serves, with this file's own
tables, so a mapping mistake in the connector cannot hide behind the connector's own tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.australis import AustralisConnector
from connectors.australis.data import JSON, Store, build
from connectors.australis.sandbox import SANDBOX_API_KEY, make_app
from connectors.australis.schema import Obj
from connectors.http import HttpPolicy, reset_breakers
from connectors.models import (
    ClaimStatus,
    DeductibleKind,
    Device,
    Devices,
    DocumentKind,
    Home,
    InsuredPeople,
    Line,
    Money,
    PartyKind,
    Portfolio,
    Vehicle,
    as_plain,
)
from connectors.sandbox.people import population
from connectors.sandbox.server import running

TODAY = date(2026, 11, 26)
FAST = HttpPolicy(
    connect_timeout=0.5,
    read_timeout=2.0,
    deadline=10.0,
    max_attempts=2,
    backoff_base=0.01,
    backoff_max=0.02,
    breaker_threshold=100,
    breaker_cooldown=0.1,
)
POP = population(2026)

LINE = {
    "motor": "auto",
    "home": "hogar",
    "life": "vida",
    "health": "gmm",
    "gadgets": "dispositivos",
    "personal_accident": "otros",
    "travel": "otros",
}
POLICY_STATUS = {
    "active": "in_force",
    "grace_period": "pending_payment",
    "expired": "expired",
    "cancelled": "cancelled",
    "lapsed": "cancelled",
}
PREMIUM_STATUS = {"PAID": "paid", "DUE": "pending", "PAST_DUE": "overdue", "VOID": "cancelled"}
CLAIM_STATUS = {
    "FNOL_RECEIVED": "open",
    "ADJUSTER_ASSIGNED": "under_review",
    "AWAITING_DOCUMENTS": "under_review",
    "IN_ASSESSMENT": "under_review",
    "SETTLED": "closed_paid",
    "DECLINED": "closed_unpaid",
    "WITHDRAWN": "cancelled",
    "REOPENED": "reopened",
}
POLICY_WORDS = {
    "active": "Vigente",
    "grace_period": "En período de gracia",
    "expired": "Vencida",
    "cancelled": "Anulada",
    "lapsed": "Anulada por falta de pago",
}
CLAIM_WORDS = {  # the portal never shows Australis' codes: the connector puts them into words
    "FNOL_RECEIVED": "Denuncia recibida",
    "ADJUSTER_ASSIGNED": "Liquidador asignado",
    "AWAITING_DOCUMENTS": "Esperando documentación del asegurado",
    "IN_ASSESSMENT": "En evaluación",
    "SETTLED": "Liquidado",
    "DECLINED": "Rechazado",
    "WITHDRAWN": "Desistido",
    "REOPENED": "Reabierto",
}
DOC_KIND = {
    "policy_schedule": "policy",
    "terms_and_conditions": "conditions",
    "mandatory_liability_certificate": "rc_obligatorio",
    "claim_acknowledgement": "claim",
    "settlement_letter": "claim",
    "decline_letter": "claim",
}
METHOD = {
    "card": "tarjeta",
    "direct_debit": "débito automático",
    "bank_transfer": "transferencia",
    "spei": "transferencia SPEI",
    "oxxo": "efectivo en OXXO",
    "cash_network": "efectivo (Rapipago / Pago Fácil)",
    "mercado_pago": "Mercado Pago",
    None: None,
}
USE = {"private": "particular", "commercial": "comercial", None: None}
DEVICE = {
    "smartphone": "celular",
    "laptop": "laptop",
    "tablet": "tablet",
    "smartwatch": "smartwatch",
    "console": "consola",
}
CONSTRUCTION = {"masonry": "mampostería", "concrete": "concreto", "mixed": "mixta", None: None}
OCCUPANCY = {
    "house": "casa",
    "apartment": "departamento",
    "country_house": "casa de fin de semana",
    "business": "comercio u oficina",
    None: None,
}
RELATIONSHIP = {
    "self": "titular",
    "spouse": "cónyuge",
    "child": "hijo(a)",
    "parent": "padre o madre",
    "employee": "empleado(a)",
    None: None,
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[str, Store]]:
    app = make_app(today=TODAY, page_limit=4)  # small pages: pagination runs on every list
    with running(app) as url:
        yield url, app.sandbox.store  # type: ignore[attr-defined]


@pytest.fixture
def connector(sandbox: tuple[str, Store]) -> AustralisConnector:
    reset_breakers()
    return AustralisConnector({"base_url": sandbox[0], "api_key": SANDBOX_API_KEY}, FAST)


@pytest.fixture(scope="module")
def portfolios(sandbox: tuple[str, Store]) -> dict[str, Portfolio]:
    """Every client's portfolio, fetched once."""
    reset_breakers()
    connector = AustralisConnector({"base_url": sandbox[0], "api_key": SANDBOX_API_KEY}, FAST)
    return {cid: connector.fetch(cid) for cid in sandbox[1].customers}


# --- the oracle -------------------------------------------------------------------------------------


def money(raw: JSON | None) -> dict[str, str] | None:
    if raw is None:
        return None
    cents = raw["amount_cents"]
    return {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": raw["currency"]}


def when(raw: str | None) -> str | None:
    return None if raw is None else raw.replace("Z", "+00:00")


def local_day(raw: str | None) -> str | None:
    return None if raw is None else raw[:10]  # the day as written, in the timestamp's own offset


def tax_id(raw: JSON | None) -> dict[str, str] | None:
    return None if raw is None else {"type": raw["type"], "number": raw["value"]}


def device(d: JSON) -> dict[str, Any]:
    return {
        "kind": DEVICE[d["device_type"]],
        "brand": d["brand"],
        "model": d["model"],
        "serial": d.get("serial_number"),
        "imei": d.get("imei"),
    }


def insured(raw: JSON | None) -> Any:
    if raw is None:
        return None
    if raw["kind"] == "vehicle":
        return {
            "make": raw["make"],
            "model": raw["model"],
            "year": raw["year"],
            "version": raw.get("trim"),
            "vin": raw.get("vin"),
            "plate": raw.get("plate"),
            "use": USE[raw.get("usage")],
        }
    if raw["kind"] == "device":
        return device(raw)
    if raw["kind"] == "devices":
        return {"devices": [device(d) for d in raw["items"]]}
    if raw["kind"] == "property":
        a = raw["address"]
        return {
            "address": a["line1"],
            "postal_code": a.get("postal_code"),
            "city": a.get("city"),
            "state": a.get("region"),
            "construction": CONSTRUCTION[raw.get("construction")],
            "use": OCCUPANCY[raw.get("occupancy")],
        }
    return {
        "people": [
            {
                "name": p["full_name"],
                "relationship": RELATIONSHIP[p.get("relationship")],
                "birth_date": p.get("date_of_birth"),
            }
            for p in raw["persons"]
        ]
    }


def deductible(raw: JSON | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    if raw["type"] == "percentage":
        points = raw["basis_points"]
        return {
            "kind": "percentage",
            "percentage": f"{points // 100}.{points % 100:02d}",
            "amount": None,
            "basis": raw.get("basis"),
        }
    if raw["type"] == "fixed":
        return {"kind": "amount", "percentage": None, "amount": money(raw["amount"]), "basis": raw.get("basis")}
    return {"kind": "none", "percentage": None, "amount": None, "basis": None}


def documents(raw: list[JSON]) -> list[dict[str, str]]:
    return [
        {"ref": d["id"], "kind": DOC_KIND[d["type"]], "title": d["title"], "media_type": d["content_type"]} for d in raw
    ]


def expected_policy(p: JSON, premiums: list[JSON]) -> dict[str, Any]:
    holder = p["policyholder"]
    return {
        "external_id": p["id"],
        "number": p["policy_number"],
        "line": LINE[p["line"]],
        "product": p["product"]["name"],
        "status": POLICY_STATUS[p["status"]],
        "insurer_status": POLICY_WORDS[p["status"]],
        "term_start": local_day(p["effective_at"]),
        "term_end": local_day(p["expires_at"]),
        "premium": money(p["billing"]["total_premium"]),
        "payment_frequency": p["billing"]["frequency"],
        "holder": {
            "name": holder["name"],
            "kind": {"individual": "person", "business": "company"}[holder["type"]],
            "tax_id": tax_id(holder.get("tax_id")),
        },
        "insured": insured(p.get("insured")),
        "group": p["group_policy"],
        "coverages": [
            {
                "code": c["code"],
                "name": c["name"],
                "covered": c["included"],
                "sum_insured": money(c.get("limit")),
                "sum_insured_basis": c.get("limit_basis"),
                "deductible": deductible(c.get("deductible")),
                "notes": c.get("notes"),
            }
            for c in p["coverages"]
        ],
        "receipts": [
            {
                "number": r["number"],
                "due_date": local_day(r["due_at"]),
                "amount": money(r["amount"]),
                "status": PREMIUM_STATUS[r["status"]],
                "period_start": r["coverage_period"]["start"],
                "period_end": r["coverage_period"]["end"],
                "grace_until": local_day(r.get("grace_ends_at")),
                "paid_at": when(r.get("paid_at")),
                "method": METHOD[r.get("payment_method")],
            }
            for r in sorted(premiums, key=lambda r: (r["due_at"][:10], r["number"]))
        ],
        "documents": documents(p["documents"]),
    }


def expected_claim(c: JSON) -> dict[str, Any]:
    return {
        "external_id": c["id"],
        "number": c["claim_number"],
        "policy_external_id": c["policy_id"],
        "occurred_at": when(c["occurred_at"]),
        "reported_at": when(c["reported_at"]),
        "status": CLAIM_STATUS[c["status"]],
        "insurer_status": CLAIM_WORDS[c["status"]],
        "description": c.get("description"),
        "coverage_code": c.get("coverage_code"),
        "claimed_amount": money(c.get("claimed")),
        "paid_amount": money(c.get("settled")),
        "history": [
            {
                "at": when(e["at"]),
                "status": CLAIM_STATUS[e["status"]],
                "insurer_status": CLAIM_WORDS[e["status"]],
                "note": e.get("note"),
            }
            for e in c["status_history"]
        ],
        "documents": documents(c["documents"]),
        "waiting_on_client": c["status"] == "AWAITING_DOCUMENTS",
        "requested_documents": c.get("requested_documents", []) if c["status"] == "AWAITING_DOCUMENTS" else [],
    }


def test_every_field_of_every_client_maps(sandbox: tuple[str, Store], portfolios: dict[str, Portfolio]) -> None:
    store = sandbox[1]
    for cid, portfolio in portfolios.items():
        raw = store.customers[cid]
        assert portfolio.client.client_ref == cid
        assert portfolio.client.name == raw["display_name"]
        assert portfolio.client.kind == {"individual": "person", "business": "company"}[raw["type"]]
        assert portfolio.client.email == raw.get("email")
        expected = [expected_policy(store.policies[p], store.premiums[p]) for p in store.customer_policies[cid]]
        assert [as_plain(p) for p in portfolio.policies] == expected
        assert [as_plain(c) for c in portfolio.claims] == [expected_claim(c) for c in store.claims[cid]]
        assert portfolio.fetched_at.tzinfo is not None


def test_the_portfolio_is_large_and_varied(portfolios: dict[str, Portfolio]) -> None:
    policies = [p for f in portfolios.values() for p in f.policies]
    claims = [c for f in portfolios.values() for c in f.claims]
    assert len(policies) >= 100
    assert {p.line for p in policies} == set(Line)
    assert {c.status for c in claims} == set(ClaimStatus)
    assert {type(p.insured) for p in policies} == {Vehicle, Device, Devices, Home, InsuredPeople, type(None)}
    kinds = {c.deductible.kind for p in policies for c in p.coverages if c.deductible}
    assert kinds == {DeductibleKind.PERCENTAGE, DeductibleKind.AMOUNT, DeductibleKind.NONE}
    assert {d.kind for p in policies for d in p.documents} >= {
        DocumentKind.POLICY,
        DocumentKind.CONDITIONS,
        DocumentKind.RC_OBLIGATORIO,
    }


# --- odd values, one by one ----------------------------------------------------------------------


def _client(portfolios: dict[str, Portfolio], store: Store, key: str) -> Portfolio:
    return portfolios[store.by_key[key]]


def test_cents_become_exact_decimals(sandbox: tuple[str, Store], portfolios: dict[str, Portfolio]) -> None:
    store = sandbox[1]
    for portfolio in portfolios.values():
        for policy in portfolio.policies:
            raw = store.policies[policy.external_id]["billing"]["total_premium"]
            assert policy.premium == Money(Decimal(raw["amount_cents"]) / 100, raw["currency"])
            assert policy.premium.amount.as_tuple().exponent == -2
            assert isinstance(policy.premium.amount, Decimal)
    odd = next(r for p in portfolios.values() for pol in p.policies for r in pol.receipts if r.amount.amount % 1 != 0)
    assert str(odd.amount.amount).split(".")[1] != "00"


def test_zero_premium_group_policy(sandbox: tuple[str, Store], portfolios: dict[str, Portfolio]) -> None:
    portfolio = _client(portfolios, sandbox[1], POP.argentines[2].key)
    svo = next(p for p in portfolio.policies if p.premium.amount == 0)
    assert svo.premium == Money(Decimal("0.00"), "ARS")
    assert svo.receipts == () and svo.documents == () and svo.group is True
    assert svo.holder.kind is PartyKind.COMPANY and svo.holder.name == POP.argentine_companies[2].name
    assert svo.holder.tax_id is not None and svo.holder.tax_id.number == POP.argentine_companies[2].cuit
    assert svo.line is Line.VIDA and svo.product.startswith("Seguro de Vida Obligatorio")


def test_missing_optional_fields_become_none(sandbox: tuple[str, Store], portfolios: dict[str, Portfolio]) -> None:
    store = sandbox[1]
    travel = next(p for p in _client(portfolios, store, POP.argentines[2].key).policies if p.line is Line.OTHER)
    assert travel.insured is None and travel.payment_frequency == "single"
    no_email = _client(portfolios, store, POP.mexican_companies[9].key)
    assert no_email.client.email is None
    policies = [p for f in portfolios.values() for p in f.policies]
    assert any(isinstance(p.insured, Vehicle) and p.insured.vin is None for p in policies)
    assert any(isinstance(p.insured, Home) and p.insured.postal_code is None for p in policies)
    assert any(r.status == "paid" and r.method is None for p in policies for r in p.receipts)
    assert any(c.sum_insured is None for p in policies for c in p.coverages)
    claims = [c for f in portfolios.values() for c in f.claims]
    assert any(c.description is None for c in claims) and any(c.claimed_amount is None for c in claims)
    assert all(c.paid_amount is None for c in claims if c.status not in ("closed_paid", "reopened"))


def test_unicode_names_survive(sandbox: tuple[str, Store], portfolios: dict[str, Portfolio]) -> None:
    store = sandbox[1]
    oscar = _client(portfolios, store, POP.mexicans[26].key)
    assert oscar.client.name == "Óscar Villaseñor Xicoténcatl"
    gmm = next(p for p in oscar.policies if p.line is Line.GMM)
    assert isinstance(gmm.insured, InsuredPeople)
    names = [person.name for person in gmm.insured.people]
    assert names[0] == "Óscar Villaseñor Xicoténcatl" and gmm.insured.people[0].relationship == "titular"
    assert names[1:] == ["Zoë Nguyễn-Villaseñor", "Ñusta Quispe Mamaní", "Søren Øvergård"]
    assert [(p.relationship, p.birth_date) for p in gmm.insured.people[1:]] == [
        ("cónyuge", date(1979, 4, 12)),
        ("hijo(a)", None),
        ("hijo(a)", date(2012, 8, 30)),
    ]
    julieta = _client(portfolios, store, POP.argentines[0].key)
    assert julieta.client.name == "Julieta Álvarez"


def test_a_policy_with_more_than_30_coverages(sandbox: tuple[str, Store], portfolios: dict[str, Portfolio]) -> None:
    julieta = _client(portfolios, sandbox[1], POP.argentines[0].key)
    home = next(p for p in julieta.policies if p.product == "Hogar Integral Total")
    assert len(home.coverages) == 34 and len({c.code for c in home.coverages}) == 34
    assert [c.code for c in home.coverages if not c.covered] == ["GOLF", "ARTE"]
    robo = next(c for c in home.coverages if c.code == "ROBO_CO")
    assert robo.deductible is not None and robo.deductible.percentage == Decimal("5.00")
    agua = next(c for c in home.coverages if c.code == "AGUA")
    assert agua.deductible is not None and agua.deductible.amount == Money.of("40000.00", "ARS")
    assert isinstance(home.insured, Home) and home.line is Line.HOGAR


def test_time_zones_are_kept(sandbox: tuple[str, Store], portfolios: dict[str, Portfolio]) -> None:
    store = sandbox[1]
    offsets = {}
    for key in (POP.argentines[0].key, POP.mexicans[25].key, POP.mexicans[27].key):
        policy = _client(portfolios, store, key).policies[0]
        paid = next(r.paid_at for r in policy.receipts if r.paid_at)
        assert paid is not None
        offsets[key] = paid.utcoffset()
    assert list(offsets.values()) == [timedelta(hours=-3), timedelta(hours=-6), timedelta(hours=-5)]
    # A premium due at 23:59:59 in Buenos Aires is due that day, although it is the next day in UTC.
    receipt = _client(portfolios, store, POP.argentines[0].key).policies[0].receipts[0]
    raw = store.premiums[_client(portfolios, store, POP.argentines[0].key).policies[0].external_id][0]
    due_at = datetime.fromisoformat(raw["due_at"])
    assert receipt.due_date == due_at.date() != due_at.astimezone(UTC).date()
    claim = next(c for f in portfolios.values() for c in f.claims if c.history)
    assert claim.history[0].at.utcoffset() == timedelta(0)
    assert claim.occurred_at.utcoffset() in (timedelta(hours=-3), timedelta(hours=-5), timedelta(hours=-6))


def test_statuses_and_histories(portfolios: dict[str, Portfolio]) -> None:
    claims = [c for f in portfolios.values() for c in f.claims]
    reopened = next(c for c in claims if c.insurer_status == "Reabierto")
    assert [e.insurer_status for e in reopened.history] == [
        "Denuncia recibida",
        "Liquidador asignado",
        "En evaluación",
        "Liquidado",
        "Reabierto",
    ]
    assert [e.status for e in reopened.history][-2:] == [ClaimStatus.CLOSED_PAID, ClaimStatus.REOPENED]
    assert reopened.paid_amount is not None and reopened.claimed_amount is not None
    assert all(a.at <= b.at for c in claims for a, b in zip(c.history, c.history[1:], strict=False))
    grace = [p for f in portfolios.values() for p in f.policies if p.insurer_status == "En período de gracia"]
    assert grace and all(p.status == "pending_payment" for p in grace)
    assert all(any(r.status == "overdue" and r.grace_until for r in p.receipts) for p in grace)


# --- date edge cases, in process (no HTTP): the same mapping on books built on awkward days --------


@pytest.mark.parametrize("today", [date(2027, 1, 31), date(2028, 2, 29), date(2026, 12, 31), date(2030, 3, 1)])
def test_books_built_on_awkward_days_map_cleanly(today: date) -> None:
    store = build(2026, today=today)
    connector = AustralisConnector({"base_url": "http://127.0.0.1:9", "api_key": "k"}, FAST)
    for cid, customer in store.customers.items():
        policies = tuple(
            connector._policy(Obj(store.policies[p], "policy"), [Obj(r, "premium") for r in store.premiums[p]], cid)
            for p in store.customer_policies[cid]
        )
        claims = tuple(connector._claim(Obj(c, "claim")) for c in store.claims[cid])
        Portfolio(connector._client(Obj(customer, "customer")), policies, claims, datetime.now(UTC))
