"""The Australis sandbox's book of business, built deterministically from a seed.

Clients come from the shared fictional population (``connectors.sandbox.people``):
mexicans[25:45] (RFC; 25–39 are GNP clients too, same person and RFC), argentines[0:20]
(DNI and CUIL), argentine_companies[0:6] (CUIT) and mexican_companies[6:10] (RFC).
Records are stored exactly as the API serves them (English names, cents, RFC 3339).
"""

from __future__ import annotations

import base64
import calendar
import functools
import hashlib
import random
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from connectors.australis import catalog
from connectors.australis.catalog import Product
from connectors.sandbox import people as people_pool
from connectors.sandbox.people import Company, Person, population

JSON = dict[str, Any]

ZONES = {
    "America/Argentina/Buenos_Aires": timezone(timedelta(hours=-3)),
    "America/Mexico_City": timezone(timedelta(hours=-6)),
    "America/Cancun": timezone(timedelta(hours=-5)),
}
AR_ZONE = "America/Argentina/Buenos_Aires"
MX_ZONE = "America/Mexico_City"
CURRENCY = {"AR": "ARS", "MX": "MXN"}
FREQUENCY_INSTALMENTS = {"monthly": 12, "quarterly": 4, "semiannual": 2, "annual": 1, "single": 1}
CLAIM_PATHS = {
    "FNOL_RECEIVED": ["FNOL_RECEIVED"],
    "ADJUSTER_ASSIGNED": ["FNOL_RECEIVED", "ADJUSTER_ASSIGNED"],
    "AWAITING_DOCUMENTS": ["FNOL_RECEIVED", "ADJUSTER_ASSIGNED", "AWAITING_DOCUMENTS"],
    "IN_ASSESSMENT": ["FNOL_RECEIVED", "ADJUSTER_ASSIGNED", "IN_ASSESSMENT"],
    "SETTLED": ["FNOL_RECEIVED", "ADJUSTER_ASSIGNED", "IN_ASSESSMENT", "SETTLED"],
    "DECLINED": ["FNOL_RECEIVED", "ADJUSTER_ASSIGNED", "IN_ASSESSMENT", "DECLINED"],
    "WITHDRAWN": ["FNOL_RECEIVED", "WITHDRAWN"],
    "REOPENED": ["FNOL_RECEIVED", "ADJUSTER_ASSIGNED", "IN_ASSESSMENT", "SETTLED", "REOPENED"],
}
CLAIM_STATUSES = list(CLAIM_PATHS)
CLAIM_NOTES = {
    "ADJUSTER_ASSIGNED": "Liquidador asignado",
    "AWAITING_DOCUMENTS": "Falta documentación",  # with what is missing (see _claim)
    "DECLINED": "Evento excluido por las condiciones generales",
    "WITHDRAWN": "Desistido por el asegurado",
    "REOPENED": "Reabierto por documentación nueva",
}
PAYMENT_METHODS = {
    "AR": ["card", "direct_debit", "bank_transfer", "cash_network", "mercado_pago"],
    "MX": ["card", "direct_debit", "spei", "oxxo"],
}
RELATIONSHIPS = ["spouse", "child", "child", "parent"]


def opaque_id(prefix: str, *parts: object) -> str:
    """A stable, opaque id such as ``pol_k3v9...``."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).digest()
    return f"{prefix}_{base64.b32encode(digest).decode().lower().rstrip('=')}"


def stamp(moment: datetime) -> str:
    """RFC 3339 with its offset; UTC is written ``Z``."""
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def money(cents: int, currency: str) -> JSON:
    return {"amount_cents": cents, "currency": currency}


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass
class Client:
    """A customer as the sandbox builds it."""

    id: str
    key: str
    country: str
    kind: str  # individual | business
    name: str
    tax_ids: list[tuple[str, str]]
    zone: str
    email: str | None
    phone: str | None
    given: str | None = None
    family: str | None = None
    birth_date: date | None = None

    def json(self, created: datetime) -> JSON:
        data: JSON = {
            "id": self.id,
            "type": self.kind,
            "display_name": self.name,
            "tax_ids": [{"type": t, "value": v} for t, v in self.tax_ids],
            "country": self.country,
            "time_zone": self.zone,
            "created_at": stamp(created),
        }
        if self.kind == "individual":
            data["given_name"], data["family_name"] = self.given, self.family
        else:
            data["legal_name"] = self.name
        if self.email:
            data["email"] = self.email
        if self.phone:
            data["phone"] = self.phone
        return data


@dataclass
class Store:
    """Everything the sandbox serves, indexed the way its endpoints look things up."""

    seed: int
    today: date
    customers: dict[str, JSON] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    by_tax_id: dict[tuple[str, str], str] = field(default_factory=dict)
    by_email: dict[str, list[str]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)  # population key -> customer id
    policies: dict[str, JSON] = field(default_factory=dict)
    customer_policies: dict[str, list[str]] = field(default_factory=dict)
    policy_owner: dict[str, str] = field(default_factory=dict)
    premiums: dict[str, list[JSON]] = field(default_factory=dict)  # policy id -> instalments
    premium_by_number: dict[str, JSON] = field(default_factory=dict)
    claims: dict[str, list[JSON]] = field(default_factory=dict)  # customer id -> claims
    documents: dict[str, JSON] = field(default_factory=dict)  # id -> {type, title, policy_id, claim_id}
    lock: threading.Lock = field(default_factory=threading.Lock)
    idempotent: dict[str, tuple[int, JSON]] = field(default_factory=dict)
    claim_counter: int = 0
    policy_counter: int = 0
    status_cycle: int = 0
    extras: Extras | None = None  # policies generated beyond the customers' own (``policies_per_client``)

    # --- lookups that reach generated policies too ---------------------------------------------

    def policy(self, pid: str) -> JSON | None:
        """A policy of the book or a generated one."""
        found = self.policies.get(pid)
        if found is None and self.extras is not None:
            built = self.extras.by_policy_id(pid)
            found = built.policy if built else None
        return found

    def owner(self, pid: str) -> str:
        """The customer id of a policy known to ``policy``."""
        return self.policy_owner.get(pid) or pid_owner(pid)

    def premiums_of(self, pid: str) -> list[JSON]:
        """The instalments of a policy known to ``policy``."""
        if pid in self.premiums:
            return self.premiums[pid]
        built = self.extras.by_policy_id(pid) if self.extras else None
        return built.premiums if built else []

    def document(self, did: str) -> JSON | None:
        """A document's metadata ({type, title, policy_id, claim_id}), generated policies' included."""
        found = self.documents.get(did)
        if found is None and self.extras is not None:
            found = self.extras.document(did)
        return found

    @property
    def cutoff(self) -> datetime:
        """Midnight UTC of ``today``: nothing in the book happens after it (keeps the data deterministic)."""
        return datetime.combine(self.today, time(0), UTC)

    # --- lookups used by the app ---------------------------------------------------------------

    def active(self, policy: JSON) -> bool:
        return policy["status"] in ("active", "grace_period")

    def match(self, tax_type: str, tax_id: str, policy_number: str) -> str | None:
        """The customer for a tax ID and one of its in-force policy numbers, or None."""
        customer = self.by_tax_id.get((tax_type, tax_id))
        if customer is None:
            return None
        for pid in self.customer_policies.get(customer, ()):
            policy = self.policies[pid]
            if policy["policy_number"] == policy_number and self.active(policy):
                return customer
        return None


# --- building ---------------------------------------------------------------------------------


def _person(store: Store, p: Person, key: str) -> Client:
    if p.country == "AR":
        assert p.dni and p.cuil
        tax_ids = [("DNI", p.dni), ("CUIL", p.cuil)]
    else:
        assert p.rfc
        tax_ids = [("RFC", p.rfc)]
    family = " ".join(x for x in (p.paternal, p.maternal) if x)
    zone = AR_ZONE if p.country == "AR" else ("America/Cancun" if p.key.endswith(("3", "7")) else MX_ZONE)
    return Client(
        opaque_id("cus", store.seed, key),
        key,
        p.country,
        "individual",
        p.name,
        tax_ids,
        zone,
        p.email,
        p.phone,
        p.given,
        family,
        p.birth_date,
    )


def _company(store: Store, c: Company, key: str) -> Client:
    tax_ids = [("CUIT", c.cuit)] if c.country == "AR" and c.cuit else [("RFC", c.rfc or "")]
    zone = AR_ZONE if c.country == "AR" else MX_ZONE
    return Client(
        opaque_id("cus", store.seed, key), key, c.country, "business", c.name, tax_ids, zone, c.email, c.phone
    )


def _add_client(store: Store, client: Client, rng: random.Random) -> bool:
    if client.id in store.customers or any(t in store.by_tax_id for t in client.tax_ids):
        return False
    created = datetime.combine(store.today - timedelta(days=rng.randrange(400, 4000)), time(13, 5), UTC)
    store.clients[client.id] = client
    store.customers[client.id] = client.json(created)
    store.by_key[client.key] = client.id
    for t in client.tax_ids:
        store.by_tax_id[t] = client.id
    if client.email:
        store.by_email.setdefault(client.email.lower(), []).append(client.id)
    store.customer_policies[client.id] = []
    store.claims[client.id] = []
    return True


@dataclass(frozen=True)
class Plan:
    """One policy to build: product, status and a few forced traits."""

    product: str
    status: str = "active"
    holder: Client | None = None  # group policies: the employer
    frequency: str | None = None
    insured: bool = True  # False: no insured object at all (an optional field left out)
    documents: bool = True
    claims: int | None = None  # force this many claims
    dependants: tuple[tuple[str, str, str | None], ...] = ()  # (full name, relationship, birth date) to add


def _plans_for(client: Client, rng: random.Random) -> list[Plan]:
    """A plausible mix of policies for a client, by country and kind."""
    country = client.country
    if client.kind == "business":
        pool = (
            ["AR_MOTOR_TR", "AR_MOTOR_TC", "AR_HOME", "AR_AP"]
            if country == "AR"
            else ["MX_MOTOR_AMP", "MX_MOTOR_LIM", "MX_HOME", "MX_AP"]
        )
        count = rng.randint(2, 5)
    else:
        pool = (
            [
                "AR_MOTOR_TR",
                "AR_MOTOR_TC",
                "AR_HOME",
                "AR_LIFE",
                "AR_HEALTH",
                "AR_GADGET",
                "AR_GADGETS_MULTI",
                "AR_AP",
                "AR_TRAVEL",
            ]
            if country == "AR"
            else [
                "MX_MOTOR_AMP",
                "MX_MOTOR_LIM",
                "MX_HOME",
                "MX_LIFE",
                "MX_GMM",
                "MX_GADGET",
                "MX_GADGETS_MULTI",
                "MX_AP",
            ]
        )
        count = rng.choice([1, 2, 2, 3, 3, 4])
    plans = []
    for i in range(count):
        roll = rng.random()
        status = (
            "active"
            if i == 0 or roll < 0.74
            else (
                "grace_period"
                if roll < 0.81
                else "expired"
                if roll < 0.90
                else "cancelled"
                if roll < 0.97
                else "lapsed"
            )
        )
        plans.append(Plan(rng.choice(pool), status))
    return plans


def _special_plans(store: Store, pop: Any) -> dict[str, list[Plan]]:
    """Hand-made portfolios with the odd values the tests and the demo rely on."""
    employer = store.clients[store.by_key[pop.argentine_companies[2].key]]
    return {
        # 34 coverages (two of them not covered), a Citroën, a phone; the valid sample is her auto policy.
        pop.argentines[0].key: [Plan("AR_MOTOR_TR", claims=2), Plan("AR_HOME_TOTAL"), Plan("AR_GADGET", claims=1)],
        # a zero-premium group life policy held by her employer; a travel policy with no insured object.
        pop.argentines[2].key: [
            Plan("AR_LIFE_SVO", holder=employer, documents=False),
            Plan("AR_TRAVEL", insured=False, frequency="single", claims=0),
            Plan("AR_GADGETS_MULTI", status="grace_period", claims=1),
        ],
        # inactive samples: an expired and a cancelled policy beside an active one.
        pop.argentines[3].key: [
            Plan("AR_AP"),
            Plan("AR_MOTOR_TC", status="expired"),
            Plan("AR_HOME", status="cancelled"),
        ],
        # a fleet: enough policies for five pages and more at a small limit.
        pop.argentine_companies[1].key: [
            Plan("AR_MOTOR_TR" if i % 3 else "AR_MOTOR_TC", claims=1 if i < 4 else 0) for i in range(13)
        ]
        + [Plan("AR_HOME"), Plan("AR_AP"), Plan("AR_MOTOR_TC", status="expired"), Plan("AR_HOME", status="lapsed")],
        # Unicode names among the dependants of a major-medical policy.
        pop.mexicans[26].key: [
            Plan(
                "MX_GMM",
                frequency="monthly",
                claims=2,
                dependants=(
                    ("Zoë Nguyễn-Villaseñor", "spouse", "1979-04-12"),
                    ("Ñusta Quispe Mamaní", "child", None),
                    ("Søren Øvergård", "child", "2012-08-30"),
                ),
            ),
            Plan("MX_MOTOR_AMP"),
        ],
        pop.mexicans[25].key: [
            Plan("MX_MOTOR_AMP", claims=1),
            Plan("MX_GADGETS_MULTI"),
            Plan("MX_LIFE", status="expired"),
        ],
    }


def _term(store: Store, status: str, rng: random.Random) -> tuple[date, date, date | None]:
    """Term start, end and (cancelled/lapsed) the cancellation day."""
    today = store.today
    if status == "expired":
        start = today - timedelta(days=rng.randrange(380, 800))
    elif status == "grace_period":
        start = today - timedelta(days=rng.randrange(70, 300))
    else:
        start = today - timedelta(days=rng.randrange(5, 340))
    end = add_months(start, 12)
    cancelled = None
    if status in ("cancelled", "lapsed"):
        start = today - timedelta(days=rng.randrange(120, 330))
        end = add_months(start, 12)
        cancelled = start + timedelta(days=rng.randrange(40, (today - start).days))
    return start, end, cancelled


def _scaled(amount: int, product: Product) -> int:
    return amount // product.divisor


def _insured(client: Client, product: Product, rng: random.Random) -> tuple[JSON | None, int]:
    """The insured object and its value in whole units (vehicles and devices)."""
    line, country = product.line, product.country
    if line == "motor":
        make, model, trim, value = rng.choice(catalog.AR_VEHICLES if country == "AR" else catalog.MX_VEHICLES)
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        if country == "AR":
            plate = f"A{rng.choice(letters)}{rng.randrange(100, 999)}{rng.choice(letters)}{rng.choice(letters)}"
        else:
            plate = f"{''.join(rng.choices(letters, k=3))}-{rng.randrange(100, 999)}-{rng.choice(letters)}"
        vehicle: JSON = {
            "kind": "vehicle",
            "make": make,
            "model": model,
            "year": rng.randrange(2012, 2026),
            "plate": plate,
            "usage": "commercial" if client.kind == "business" else "private",
        }
        if rng.random() < 0.8:
            vehicle["trim"] = trim
        if rng.random() < 0.7:
            vehicle["vin"] = "".join(rng.choices("0123456789ABCDEFGHJKLMNPRSTUVWXYZ", k=17))
        return vehicle, value
    if line == "gadgets":
        count = rng.randint(2, 4) if "MULTI" in product.code else 1
        items = []
        total = 0
        for kind, brand, model, value in rng.sample(catalog.DEVICES, count):
            device: JSON = {
                "device_type": kind,
                "brand": brand,
                "model": model,
                "serial_number": "".join(rng.choices("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", k=11)),
            }
            if kind == "smartphone":
                device["imei"] = "35" + "".join(rng.choices("0123456789", k=13))
            items.append(device)
            total += _scaled(value, product)
        if count == 1:
            return {"kind": "device", **items[0]}, total
        return {"kind": "devices", "items": items}, total
    if line == "home":
        street, postal, city, region = rng.choice(catalog.AR_ADDRESSES if country == "AR" else catalog.MX_ADDRESSES)
        address: JSON = {"line1": street, "city": city, "region": region, "country": country}
        if rng.random() < 0.85:
            address["postal_code"] = postal
        home: JSON = {"kind": "property", "address": address, "construction": rng.choice(catalog.CONSTRUCTION)}
        home["occupancy"] = "business" if client.kind == "business" else rng.choice(catalog.OCCUPANCY)
        return home, 0
    if line in ("life", "health", "personal_accident"):
        if client.kind == "business":
            given = (
                people_pool.AR_GIVEN_F + people_pool.AR_GIVEN_M
                if country == "AR"
                else (people_pool.MX_GIVEN_F + people_pool.MX_GIVEN_M)
            )
            surnames = people_pool.AR_SURNAMES if country == "AR" else people_pool.MX_SURNAMES
            people = [
                {"full_name": f"{rng.choice(given)} {rng.choice(surnames)}", "relationship": "employee"}
                for _ in range(rng.randint(2, 5))
            ]
        else:
            holder: JSON = {"full_name": client.name, "relationship": "self"}
            if client.birth_date:
                holder["date_of_birth"] = client.birth_date.isoformat()
            people = [holder]
            if line == "health":
                for _ in range(rng.randint(1, 3)):
                    dependant: JSON = {
                        "full_name": rng.choice(catalog.DEPENDANTS),
                        "relationship": rng.choice(RELATIONSHIPS),
                    }
                    if rng.random() < 0.6:
                        born = date(rng.randrange(1950, 2022), rng.randrange(1, 13), rng.randrange(1, 29))
                        dependant["date_of_birth"] = born.isoformat()
                    people.append(dependant)
        return {"kind": "persons", "persons": people}, 0
    return None, 0


def _coverages(product: Product, value: int, currency: str) -> list[JSON]:
    out = []
    for t in product.coverages:
        cov: JSON = {"code": t.code, "name": t.name, "included": t.included}
        if t.object_value and value:
            cov["limit"] = money(value * 100, currency)
        elif t.limit is not None:
            cov["limit"] = money(_scaled(t.limit, product) * 100, currency)
        else:
            cov["limit"] = None
        if t.limit_basis and "limit" in cov and cov["limit"]:
            cov["limit_basis"] = t.limit_basis
        if t.deductible_bp is not None:
            cov["deductible"] = {"type": "percentage", "basis_points": t.deductible_bp}
        elif t.deductible_amount is not None:
            amount = money(_scaled(t.deductible_amount, product) * 100, currency)
            cov["deductible"] = {"type": "fixed", "amount": amount}
        elif t.included:
            cov["deductible"] = {"type": "none"}
        if "deductible" in cov and t.deductible_basis:
            cov["deductible"]["basis"] = t.deductible_basis
        if t.notes:
            cov["notes"] = t.notes
        out.append(cov)
    return out


def _document(store: Store, kind: str, title: str, policy_id: str, claim_id: str | None = None) -> JSON:
    doc_id = opaque_id("doc", store.seed, policy_id, claim_id, kind)
    store.documents[doc_id] = {"type": kind, "title": title, "policy_id": policy_id, "claim_id": claim_id}
    return {"id": doc_id, "type": kind, "title": title, "content_type": "application/pdf"}


def _premiums(
    store: Store,
    policy: JSON,
    client: Client,
    start: date,
    cancelled: date | None,
    status: str,
    total: int,
    frequency: str,
    rng: random.Random,
) -> list[JSON]:
    if total == 0:
        return []
    zone = ZONES[client.zone]
    count = FREQUENCY_INSTALMENTS[frequency]
    step = 12 // count
    base = total // count
    out = []
    unpaid_seen = False
    for i in range(count):
        due = add_months(start, i * step)
        period_end = add_months(start, (i + 1) * step) - timedelta(days=1)
        cents = base + (total - base * count if i == count - 1 else 0)
        number = f"{policy['policy_number']}/{i + 1:02d}"
        item: JSON = {
            "id": opaque_id("prm", store.seed, policy["id"], i),
            "number": number,
            "policy_id": policy["id"],
            "installment": i + 1,
            "installments_total": count,
            "amount": money(cents, policy["billing"]["total_premium"]["currency"]),
            "due_at": stamp(datetime.combine(due, time(23, 59, 59), zone)),
            "coverage_period": {"start": due.isoformat(), "end": period_end.isoformat()},
        }
        if cancelled is not None and due > cancelled:
            state = "VOID"
        elif due < store.today and not (
            status == "grace_period" and not unpaid_seen and add_months(due, step) >= store.today
        ):
            state = "PAID"
        elif due < store.today:
            state, unpaid_seen = "PAST_DUE", True
        else:
            state = "DUE"
        item["status"] = state
        if state == "PAID":
            paid = datetime.combine(
                due - timedelta(days=rng.randrange(0, 6)), time(rng.randrange(7, 23), rng.randrange(60)), zone
            )
            item["paid_at"] = stamp(paid)
            if rng.random() < 0.85:
                item["payment_method"] = rng.choice(PAYMENT_METHODS[client.country])
        if state in ("DUE", "PAST_DUE"):
            item["grace_ends_at"] = stamp(datetime.combine(due + timedelta(days=30), time(23, 59, 59), zone))
        out.append(item)
        store.premium_by_number[number] = item
    return out


POLICE_REPORT = {"AR": "Denuncia policial", "MX": "Denuncia ante el Ministerio Público"}
# What an adjuster still needs from the customer while a claim is AWAITING_DOCUMENTS, by event.
REQUESTED_DOCUMENTS: dict[str, tuple[str, ...]] = {
    "collision": ("Croquis y relato del accidente", "Licencia de conducir del conductor"),
    "theft": ("{police}", "Facturas o fotos de los bienes robados"),
    "theft_total": ("{police}", "Título del vehículo"),
    "theft_partial": ("{police}",),
    "glass": ("Fotos del cristal dañado",),
    "hail": ("Fotos de los daños",),
    "fire": ("Informe de bomberos", "Fotos de los daños"),
    "water_damage": ("Fotos de los daños", "Presupuesto de reparación"),
    "accidental_damage": ("Fotos del equipo dañado", "Factura de compra del equipo"),
    "screen": ("Fotos del equipo dañado", "Factura de compra del equipo"),
    "death": ("Acta de defunción",),
    "hospitalization": ("Informe médico", "Facturas de los gastos"),
    "accident": ("Informe médico", "Facturas de los gastos"),
    "medical_emergency": ("Informe médico",),
    "baggage": ("Constancia de la aerolínea (PIR)",),
    "other": ("{police}", "Fotos o constancias del hecho"),
}


def requested_documents(country: str, event: str) -> list[str]:
    """What the adjuster asks the customer for, in the words of the customer's country."""
    wanted = REQUESTED_DOCUMENTS.get(event, REQUESTED_DOCUMENTS["other"])
    return [d.format(police=POLICE_REPORT[country]) for d in wanted]


def _claim(
    store: Store, client: Client, policy: JSON, product: Product, rng: random.Random, status: str | None = None
) -> JSON:
    zone = ZONES[client.zone]
    now = store.cutoff
    if status is None:
        status = CLAIM_STATUSES[store.status_cycle % len(CLAIM_STATUSES)]
        store.status_cycle += 1
    store.claim_counter += 1
    start = date.fromisoformat(policy["effective_at"][:10])
    latest = min(store.today - timedelta(days=3), date.fromisoformat(policy["expires_at"][:10]))
    span = max(1, (latest - start).days)
    occurred = datetime.combine(
        start + timedelta(days=rng.randrange(span)), time(rng.randrange(0, 24), rng.randrange(60)), zone
    )
    occurred = min(occurred, now.astimezone(zone) - timedelta(days=3))
    reported = occurred + timedelta(hours=rng.randrange(1, 70), minutes=rng.randrange(60))  # < now - 1 h
    coverage = rng.choice([c for c in product.coverages if c.included])
    claim_id = opaque_id("clm", store.seed, policy["id"], store.claim_counter)
    path = CLAIM_PATHS[status]
    end = max(reported, min(reported + timedelta(days=60), now - timedelta(hours=1)))
    gap = (end - reported) / max(1, len(path))
    history = []
    for n, step in enumerate(path):
        event: JSON = {"status": step, "at": stamp((reported + gap * n).astimezone(UTC))}
        if step in CLAIM_NOTES and rng.random() < 0.8:
            event["note"] = CLAIM_NOTES[step]
            if step == "AWAITING_DOCUMENTS":  # the adjuster's note names what is missing
                event["note"] = "Falta: " + "; ".join(requested_documents(client.country, coverage.event))
        history.append(event)
    currency = CURRENCY[client.country]
    claim: JSON = {
        "id": claim_id,
        "claim_number": f"SIN-{client.country}-{occurred.year}-{store.claim_counter:06d}",
        "policy_id": policy["id"],
        "event": coverage.event,
        "coverage_code": coverage.code,
        "occurred_at": stamp(occurred),
        "reported_at": stamp(reported),
        "status": status,
        "status_history": history,
    }
    if rng.random() < 0.8:
        claim["description"] = f"{coverage.name}: denuncia del asegurado"
    if status == "AWAITING_DOCUMENTS":
        claim["requested_documents"] = requested_documents(client.country, coverage.event)
    claimed = rng.randrange(50_000, 5_000_000) * (catalog.AR_SCALE if client.country == "AR" else 1)
    if status != "FNOL_RECEIVED" or rng.random() < 0.5:
        claim["claimed"] = money(claimed, currency)
    if status in ("SETTLED", "REOPENED"):
        claim["settled"] = money(claimed * rng.randrange(60, 101) // 100, currency)
    docs = [
        _document(
            store, "claim_acknowledgement", f"Constancia de denuncia {claim['claim_number']}", policy["id"], claim_id
        )
    ]
    if status in ("SETTLED", "REOPENED"):
        docs.append(_document(store, "settlement_letter", "Carta de liquidación", policy["id"], claim_id))
    if status == "DECLINED":
        docs.append(_document(store, "decline_letter", "Carta de rechazo", policy["id"], claim_id))
    claim["documents"] = docs
    return claim


def _policy(store: Store, client: Client, plan: Plan, index: int, rng: random.Random) -> None:
    product = catalog.PRODUCT_BY_CODE[plan.product]
    currency = CURRENCY[client.country]
    zone = ZONES[client.zone]
    start, end, cancelled = _term(store, plan.status, rng)
    pid = opaque_id("pol", store.seed, client.key, index)
    line_code = {
        "motor": "MOT",
        "home": "HOG",
        "life": "VID",
        "health": "SAL",
        "gadgets": "DIS",
        "personal_accident": "APE",
        "travel": "VIA",
    }[product.line]
    store.policy_counter += 1
    number = f"{client.country}-{line_code}-{(1_234_567 + store.policy_counter * 7_919) % 10_000_000:07d}"
    insured, value = _insured(client, product, rng) if plan.insured else (None, 0)
    if plan.dependants and insured is not None:
        insured["persons"] = insured["persons"][:1] + [
            {"full_name": n, "relationship": r, **({"date_of_birth": b} if b else {})} for n, r, b in plan.dependants
        ]
    low, high = product.annual_premium
    total = rng.randrange(low, high + 1) * 100 if high else 0
    if rng.random() < 0.5:
        total -= total % 10_000  # round amounts, and odd ones
    frequency = plan.frequency or (
        "monthly"
        if plan.status == "grace_period" or (product.line in ("motor", "gadgets") and client.country == "AR")
        else rng.choice(["annual", "semiannual", "quarterly", "monthly"])
    )
    holder = plan.holder or client
    holder_json: JSON = {"name": holder.name, "type": holder.kind}
    if rng.random() < 0.9 or plan.holder:
        holder_json["tax_id"] = {"type": holder.tax_ids[-1][0], "value": holder.tax_ids[-1][1]}
    policy: JSON = {
        "id": pid,
        "policy_number": number,
        "customer_id": client.id,
        "product": {"code": product.code, "name": product.name},
        "line": product.line,
        "status": plan.status,
        "effective_at": stamp(datetime.combine(start, time(12), zone)),
        "expires_at": stamp(datetime.combine(end, time(12), zone)),
        "billing": {"frequency": frequency, "total_premium": money(total, currency)},
        "policyholder": holder_json,
        "group_policy": product.group,
        "coverages": _coverages(product, value, currency),
        "updated_at": stamp(datetime.combine(min(store.today, end), time(3, 30), UTC)),
    }
    if total == 0:
        policy["billing"]["paid_by"] = "employer"
    if cancelled is not None:
        policy["cancelled_at"] = stamp(datetime.combine(cancelled, time(0), zone))
        policy["cancellation_reason"] = "non_payment" if plan.status == "lapsed" else "customer_request"
    if insured is not None:
        policy["insured"] = insured
    docs = []
    if plan.documents:
        docs.append(_document(store, "policy_schedule", f"Póliza {number}: frente de póliza", pid))
        docs.append(_document(store, "terms_and_conditions", f"Condiciones generales: {product.name}", pid))
        if product.line == "motor":
            title = (
                "Certificado de cobertura: Responsabilidad Civil obligatoria"
                if client.country == "AR"
                else "Póliza de Responsabilidad Civil Obligatoria"
            )
            docs.append(_document(store, "mandatory_liability_certificate", title, pid))
    policy["documents"] = docs
    store.policies[pid] = policy
    store.customer_policies[client.id].append(pid)
    store.policy_owner[pid] = client.id
    store.premiums[pid] = _premiums(store, policy, client, start, cancelled, plan.status, total, frequency, rng)
    claims = plan.claims
    if claims is None:
        roll = rng.random()
        claims = 0 if roll < 0.62 else 1 if roll < 0.9 else 2
    if start >= store.today - timedelta(days=3):
        claims = 0
    for _ in range(claims):
        store.claims[client.id].append(_claim(store, client, policy, product, rng))


def build(
    seed: int = 2026,
    clients: int | None = None,
    today: date | None = None,
    policies_per_client: int | None = None,
    large_clients: Collection[str] | None = None,
) -> Store:
    """The sandbox's data: the standard clients, plus generated ones up to ``clients`` in total.

    ``policies_per_client``: each customer (or each of ``large_clients``, given by any of their tax ID
    numbers) holds that many policies: their own, then generated ones (see ``Extras``), built on demand.
    """
    store = _build(seed, clients, today)
    if policies_per_client:
        store.extras = Extras(store, policies_per_client, large_clients)
    return store


def _build(seed: int, clients: int | None, today: date | None) -> Store:
    store = Store(seed=seed, today=today or date.today())
    pop = population(seed)
    rng = random.Random(f"australis:{seed}")
    people: list[Client] = [_person(store, p, p.key) for p in pop.argentines[0:20]]
    people += [_company(store, c, c.key) for c in pop.argentine_companies[0:6]]
    people += [_person(store, p, p.key) for p in pop.mexicans[25:45]]
    people += [_company(store, c, c.key) for c in pop.mexican_companies[6:10]]
    # One email, two customers: Julieta runs the accounting firm and gave it her own address.
    people[20].email = people[0].email
    people[22].phone = None
    people[3].phone = None
    people[-1].email = None
    for client in people:
        _add_client(store, client, rng)
    if clients and clients > len(store.customers):
        wanted = clients - len(store.customers)
        extra = population(seed + 1_000_003, mexicans=wanted // 2 + 8, argentines=wanted - wanted // 2 + 8)
        pool = [p for pair in zip(extra.argentines, extra.mexicans, strict=False) for p in pair]
        pool += extra.mexicans[len(extra.argentines) :] + extra.argentines[len(extra.mexicans) :]
        for p in pool:
            if len(store.customers) >= clients:
                break
            _add_client(store, _person(store, p, f"x{p.key}"), rng)
    special = _special_plans(store, pop)
    for client in store.clients.values():
        crng = random.Random(f"australis:{seed}:{client.key}")
        for index, plan in enumerate(special.get(client.key) or _plans_for(client, crng)):
            _policy(store, client, plan, index, crng)
    return store


# --- large customers -------------------------------------------------------------------------------

EXTRA_INDEX = 1_000_000  # a generated policy's index among its customer's policies (ids unlike the book's)
EXTRA_CLAIM_SLOT = 2  # the generated policy k has one claim when k % 10 == 2: one in ten
EXTRA_PRODUCTS = {
    ("AR", "individual"): ("AR_MOTOR_TR", "AR_HOME", "AR_MOTOR_TC", "AR_LIFE", "AR_GADGET", "AR_HEALTH", "AR_AP"),
    ("AR", "business"): ("AR_MOTOR_TR", "AR_HOME", "AR_MOTOR_TC", "AR_AP"),
    ("MX", "individual"): ("MX_MOTOR_AMP", "MX_HOME", "MX_MOTOR_LIM", "MX_LIFE", "MX_GADGET", "MX_GMM", "MX_AP"),
    ("MX", "business"): ("MX_MOTOR_AMP", "MX_HOME", "MX_MOTOR_LIM", "MX_AP"),
}
EXTRA_STATUSES = ("active", "grace_period", "expired", "cancelled", "lapsed")
EXTRA_STATUS_WEIGHTS = (82, 4, 8, 4, 2)


def pid_owner(pid: str) -> str:
    """The customer of a generated policy id (``pol_<customer>x<k>``), or ''."""
    return f"cus_{pid[4:20]}" if _extra_parts(pid) else ""


def _extra_parts(pid: str) -> tuple[str, int] | None:
    """(customer id, k) of a generated policy id: ``pol_`` + the customer's 16 characters + ``x`` + k."""
    if len(pid) != 27 or not pid.startswith("pol_") or pid[20] != "x" or not pid[21:].isdigit():
        return None
    return f"cus_{pid[4:20]}", int(pid[21:])


@dataclass(frozen=True)
class Built:
    """One generated policy with everything that hangs from it."""

    policy: JSON
    premiums: list[JSON]
    claims: list[JSON]
    documents: dict[str, JSON]


class Extras:
    """Policies generated beyond a customer's own, so that one customer can hold tens of thousands of them.

    Nothing is kept but the last few hundred built (the premiums of a page are asked for right after it):
    the k-th generated policy of a customer, its instalments, documents and claim are pure functions of
    (seed, customer, k). Ids: ``pol_<customer>x<k>``; documents ``doc_<policy>d<n>``. Linking and payment
    links work on the book's own policies.
    """

    def __init__(self, store: Store, per_client: int, who: Collection[str] | None) -> None:
        self.store, self.per_client = store, per_client
        self.only: set[str] | None = None
        if who is not None:
            wanted = {w.replace(".", "").replace("-", "").strip().upper() for w in who}
            self.only = {cid for (_kind, number), cid in store.by_tax_id.items() if number.upper() in wanted}

    def count(self, cid: str) -> int:
        """How many generated policies the customer holds."""
        if cid not in self.store.clients or (self.only is not None and cid not in self.only):
            return 0
        return max(0, self.per_client - len(self.store.customer_policies.get(cid, ())))

    def claims_count(self, cid: str) -> int:
        """How many claims the generated policies carry (those at k % 10 == EXTRA_CLAIM_SLOT)."""
        return (self.count(cid) + 9 - EXTRA_CLAIM_SLOT) // 10

    @functools.lru_cache(maxsize=512)  # noqa: B019 - one Extras per sandbox, alive as long as it
    def build(self, cid: str, k: int) -> Built:
        """The k-th generated policy of the customer, with its instalments, claim and documents."""
        client = self.store.clients[cid]
        scratch = Store(seed=self.store.seed, today=self.store.today)  # the book is never written
        scratch.clients[cid] = client
        scratch.customer_policies[cid] = []
        scratch.claims[cid] = []
        scratch.policy_counter = 100_000 + k  # policy numbers unlike the book's
        scratch.claim_counter = 100_000 + k
        scratch.status_cycle = k // 10
        rng = random.Random(f"australis-extra:{self.store.seed}:{client.key}:{k}")
        products = EXTRA_PRODUCTS[(client.country, client.kind)]
        claimed = k % 10 == EXTRA_CLAIM_SLOT
        status = "active" if claimed else rng.choices(EXTRA_STATUSES, weights=EXTRA_STATUS_WEIGHTS)[0]
        plan = Plan(products[k % len(products)], status, claims=1 if claimed else 0)
        _policy(scratch, client, plan, EXTRA_INDEX + k, rng)
        old_pid = scratch.customer_policies[cid][0]
        pid = f"pol_{cid[4:]}x{k:06d}"
        renamed = {did: f"doc_{pid[4:]}d{n}" for n, did in enumerate(scratch.documents)}
        documents = {renamed[did]: {**meta, "policy_id": pid} for did, meta in scratch.documents.items()}

        def fix(item: JSON) -> JSON:
            item = dict(item, policy_id=pid) if "policy_id" in item else dict(item)
            if "documents" in item:
                item["documents"] = [{**d, "id": renamed[d["id"]]} for d in item["documents"]]
            return item

        policy = fix({**scratch.policies[old_pid], "id": pid})
        premiums = [fix(r) for r in scratch.premiums[old_pid]]
        return Built(policy, premiums, [fix(c) for c in scratch.claims[cid]], documents)

    def policies(self, cid: str, start: int, stop: int) -> list[JSON]:
        """Generated policies ``start`` to ``stop`` (exclusive) of the customer."""
        return [self.build(cid, k).policy for k in range(start, min(stop, self.count(cid)))]

    def claims(self, cid: str, start: int, stop: int) -> list[JSON]:
        """Claims ``start`` to ``stop`` (exclusive) of the customer's generated policies."""
        stop = min(stop, self.claims_count(cid))
        return [self.build(cid, j * 10 + EXTRA_CLAIM_SLOT).claims[0] for j in range(start, stop)]

    def by_policy_id(self, pid: str) -> Built | None:
        """A generated policy by its id, or None."""
        parts = _extra_parts(pid)
        if parts is None or parts[1] >= self.count(parts[0]):
            return None
        return self.build(*parts)

    def document(self, did: str) -> JSON | None:
        """A generated policy's document metadata by its id, or None."""
        if not did.startswith("doc_") or "d" not in did[27:]:
            return None
        built = self.by_policy_id(f"pol_{did[4:27]}")
        return built.documents.get(did) if built else None
