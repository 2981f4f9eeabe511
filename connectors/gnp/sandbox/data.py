"""GNP's fictional book of business, deterministic from a seed: clients, pólizas, recibos, siniestros.

Everything is kept in the shape the partner API answers (Spanish field names, amounts as decimal
strings, dates ``YYYY-MM-DD``, datetimes with their UTC offset); ``app.py`` only pages and filters it.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stdnum import luhn

from connectors.gnp.sandbox import catalog
from connectors.sandbox.people import (
    MX_GIVEN_F,
    MX_GIVEN_M,
    MX_SURNAMES,
    Company,
    Person,
    population,
)

MX_TZ = timezone(timedelta(hours=-6))  # Mexico City (no daylight saving time since 2022)
CENT = Decimal("0.01")
GRACE_DAYS = 30  # seed 002 "Periodo de gracia", seed 004 "Periodo de Gracia"

# Who is who in the default portfolio (indices into population().mexicans).
PAGED_PERSON = 0  # 21 pólizas of their own + 2 group pólizas: 5 pages at por_pagina=5; also the email sample
VIP_PERSON = 1  # a GMM póliza with the 36 coverages of the catalogue
INACTIVE_PERSON = 3  # one cancelled and one expired póliza besides an in-force one
PENDING_PERSON = 4  # a póliza pendiente de pago within its grace period
WAITING_PERSON = VIP_PERSON  # a claim on their car waits for their documents (the demo user holds this person)
PAGED_OWN_POLICIES = 21
GNP_PEOPLE = 40  # population().mexicans[0:40]
GNP_COMPANIES = 8  # population().mexican_companies[0:8]

FREQUENCIES = {"ANUAL": 12, "SEMESTRAL": 6, "TRIMESTRAL": 3, "MENSUAL": 1}
PAYMENT_METHODS = (
    "Tarjeta de crédito",
    "Tarjeta de débito",
    "Domiciliación bancaria",
    "Transferencia SPEI",
    "Pago en ventanilla",
)
CLAIM_FLOWS: dict[str, tuple[str, ...]] = {  # final wording -> the history that leads to it
    "Reportado": ("Reportado",),
    "En trámite": ("Reportado", "En trámite"),
    "En valuación": ("Reportado", "En valuación"),
    "En dictamen": ("Reportado", "En trámite", "En dictamen"),
    "Documentación pendiente": ("Reportado", "En trámite", "Documentación pendiente"),
    "Pagado": ("Reportado", "En trámite", "En dictamen", "Pagado"),
    "Rechazado": ("Reportado", "En trámite", "En dictamen", "Rechazado"),
    "Reabierto": ("Reportado", "En trámite", "Pagado", "Reabierto"),
    "Cancelado": ("Reportado", "Cancelado"),
}
CLAIM_COMMENTS = {
    "Reportado": "Siniestro reportado a la Línea GNP",
    "En trámite": "Asignado a un ejecutivo de siniestros",
    "En valuación": "Vehículo en valuación en el centro de reparación asignado",
    "En dictamen": "Documentación completa; en dictamen médico/técnico",
    "Documentación pendiente": "Se solicitó documentación complementaria al asegurado",
    "Pagado": "Indemnización pagada por transferencia",
    "Rechazado": "Improcedente: el evento no está amparado en la carátula de la póliza",
    "Reabierto": "Reabierto a solicitud del asegurado por daños adicionales",
    "Cancelado": "Cancelado a petición del asegurado",
}
# What GNP asks the insured for when a claim is "Documentación pendiente", by kind of claim (seed 004 cap. 4,
# seed 002 cap. V): the documents still missing, never the whole checklist.
PENDING_DOCUMENTS: dict[str, tuple[str, ...]] = {
    "colision": ("Licencia de conducir vigente del conductor", "Tarjeta de circulación del vehículo"),
    "cristales": ("Tarjeta de circulación del vehículo",),
    "robo_parcial": ("Denuncia ante el Ministerio Público",),
    "responsabilidad_civil": ("Copia de la reclamación recibida del tercero",),
    "robo_total": (
        "Acta de robo ante el Ministerio Público",
        "Original de la factura del vehículo",
        "Constancia de baja de las placas",
    ),
    "rotura_pantalla": ("Factura del equipo con IMEI y número de serie",),
    "robo_con_violencia": ("Denuncia ante la Fiscalía del Ministerio Público", "Folio de cancelación del IMEI"),
    "danos_equipo": ("Factura del equipo con IMEI y número de serie",),
    "reembolso": ("Informe médico del médico tratante", "Facturas (CFDI) a nombre del asegurado"),
    "programacion": ("Estudios que respalden el diagnóstico",),
    "danos": ("Presupuesto de reparación",),
    "robo": ("Denuncia ante el Ministerio Público", "Facturas de los bienes robados"),
    "reembolso_accidente": ("Informe médico", "Facturas (CFDI) de los gastos médicos"),
}
ACTIVE_STATUSES = ("Vigente", "Pendiente de pago")
LINE_PREFIXES = {
    "AUTOS": "11",
    "DISPOSITIVOS": "51",
    "GMM": "21",
    "GMM_VIP": "21",
    "VIDA": "31",
    "HOGAR": "41",
    "ACC": "61",
}


@dataclass
class Client:
    """A GNP client (persona física or moral)."""

    id: str
    tipo_persona: str  # FISICA | MORAL
    nombre: str
    rfc: str
    curp: str | None
    correo: str
    telefono: str
    fecha_nacimiento: date | None
    key: str  # the population key, "mx-0007"

    def json(self) -> dict[str, Any]:
        """The client as the API shows it."""
        data: dict[str, Any] = {
            "id_cliente": self.id,
            "tipo_persona": self.tipo_persona,
            "nombre": self.nombre,
            "rfc": self.rfc,
            "correo": self.correo,
            "telefono": self.telefono,
        }
        if self.curp:
            data["curp"] = self.curp
        if self.fecha_nacimiento:
            data["fecha_nacimiento"] = self.fecha_nacimiento.isoformat()
        return data


@dataclass
class PolicyRecord:
    """A póliza and who may see it: the holder sees ``body``; group members see their own certificate."""

    id: str
    numero: str
    holder: str  # id_cliente of the contratante
    body: dict[str, Any]
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id_cliente -> their asegurados

    @property
    def active(self) -> bool:
        return self.body["estatus"] in ACTIVE_STATUSES

    def view(self, viewer: str) -> dict[str, Any]:
        """The póliza as ``viewer`` sees it (a group member: their certificate, the premium is the employer's)."""
        if viewer == self.holder or viewer not in self.members:
            return self.body
        data = copy.copy(self.body)
        data["bien_asegurado"] = {"tipo": "PERSONAS", "asegurados": self.members[viewer]}
        data["prima_total"] = "0.00"
        data["prima_a_cargo"] = "CONTRATANTE"
        data["recibos"] = []
        data["documentos"] = [
            {
                "id_documento": f"{self.id}-CER-{viewer}",
                "tipo": "POLIZA",
                "titulo": f"Certificado individual — {self.body['producto']}",
                "formato": "application/pdf",
            },
            *[d for d in self.body["documentos"] if d["tipo"] == "CONDICIONES_GENERALES"],
        ]
        return data


@dataclass
class Store:
    """The whole sandbox book; the app reads it under its own lock."""

    today: date
    clients: dict[str, Client] = field(default_factory=dict)
    by_rfc: dict[str, str] = field(default_factory=dict)
    by_curp: dict[str, str] = field(default_factory=dict)
    by_email: dict[str, list[str]] = field(default_factory=dict)
    policies: dict[str, PolicyRecord] = field(default_factory=dict)
    by_number: dict[str, str] = field(default_factory=dict)
    portfolio: dict[str, list[str]] = field(default_factory=dict)  # id_cliente -> id_poliza, in order
    claims: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id_cliente -> siniestros
    receipts: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # numero_recibo -> (póliza, recibo)
    claim_index: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # id_siniestro -> (cliente, s)
    extras: Extras | None = None  # pólizas generated beyond the clients' own (``policies_per_client``)

    def policy(self, policy_id: str) -> PolicyRecord | None:
        """A póliza of the book or a generated one, by id."""
        found = self.policies.get(policy_id)
        if found is None and self.extras is not None:
            found = self.extras.policy_by_id(policy_id)
        return found

    def add_client(self, client: Client) -> None:
        self.clients[client.id] = client
        self.by_rfc[client.rfc] = client.id
        if client.curp:
            self.by_curp[client.curp] = client.id
        self.by_email.setdefault(client.correo.lower(), []).append(client.id)
        self.portfolio.setdefault(client.id, [])
        self.claims.setdefault(client.id, [])

    def add_policy(self, record: PolicyRecord) -> None:
        self.policies[record.id] = record
        self.by_number[record.numero] = record.id
        self.portfolio[record.holder].append(record.id)
        for member in record.members:
            self.portfolio[member].append(record.id)
        for receipt in record.body["recibos"]:
            self.receipts[receipt["numero_recibo"]] = (record.id, receipt)

    def add_claim(self, client_id: str, claim: dict[str, Any]) -> None:
        self.claims[client_id].append(claim)
        self.claim_index[claim["id_siniestro"]] = (client_id, claim)


# --- small helpers --------------------------------------------------------------------------------


def money(value: Decimal | int | str) -> str:
    """A decimal string with two places, as the API writes amounts."""
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (clamped to the month's end)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise ValueError(day)


def stamp(day: date, rng: random.Random, start_hour: int = 8, end_hour: int = 20) -> str:
    """A datetime on ``day`` with Mexico City's offset."""
    moment = datetime.combine(day, time(rng.randrange(start_hour, end_hour), rng.randrange(0, 60)), MX_TZ)
    return moment.isoformat()


_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_VIN_YEARS = "ABCDEFGHJKLMNPRSTVWXY123456789"  # 2010 = A ... 2030 = Y
_WMI = {
    "Nissan": "3N1",
    "Volkswagen": "3VW",
    "Chevrolet": "3G1",
    "Toyota": "JTD",
    "Mazda": "JM1",
    "Kia": "KNA",
    "Honda": "2HG",
}


def vin(rng: random.Random, make: str, year: int) -> str:
    """A 17-character VIN with a valid check digit (position 9)."""
    chars = list(_WMI.get(make, "3AB") + "".join(rng.choice(_VIN_CHARS) for _ in range(5)) + "0")
    chars += [_VIN_YEARS[(year - 2010) % 30], rng.choice("ABCDEFGH")] + [str(rng.randrange(10)) for _ in range(6)]
    total = sum(_VIN_VALUES[c] * w for c, w in zip(chars, _VIN_WEIGHTS, strict=True))
    chars[8] = "X" if total % 11 == 10 else str(total % 11)
    return "".join(chars)


def imei(rng: random.Random) -> str:
    """A 15-digit IMEI with its Luhn check digit."""
    body = "35" + "".join(str(rng.randrange(10)) for _ in range(12))
    return body + luhn.calc_check_digit(body)


def plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return f"{''.join(rng.choice(letters) for _ in range(3))}-{rng.randrange(10, 99)}-{rng.randrange(10, 99)}"


# --- the generator --------------------------------------------------------------------------------


class Generator:
    """Builds a Store from a seed; every random choice comes from one ``random.Random(seed)``."""

    def __init__(self, seed: int, clients: int | None, today: date) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.store = Store(today=today)
        people_count = GNP_PEOPLE if clients is None else max(1, clients)
        pop = population(seed) if people_count <= 60 else population(seed, mexicans=people_count)
        self.people: tuple[Person, ...] = pop.mexicans[:people_count]
        self.companies: tuple[Company, ...] = pop.mexican_companies[:GNP_COMPANIES]
        self.person_by_key = {p.key: p for p in self.people}
        self._policy_seq = 0
        self._claim_seq = 0
        self._numbers: set[str] = set()
        self._claim_status_cycle = list(CLAIM_FLOWS)  # the first claims take every status in turn

    # --- identifiers -----------------------------------------------------------------------------

    def _policy_ids(self, prefix: str) -> tuple[str, str]:
        self._policy_seq += 1
        while True:
            number = f"{prefix}{self.rng.randrange(10**7, 10**8)}"
            if number not in self._numbers:
                self._numbers.add(number)
                return f"P{self._policy_seq:08d}", number

    # --- clients ----------------------------------------------------------------------------------

    def build(self) -> Store:
        """Clients first, then each person's pólizas, then the companies' group pólizas, then claims."""
        person_ids: list[str] = []
        for index, person in enumerate(self.people):
            client = Client(
                id=str(1_040_000 + index * 7),
                tipo_persona="FISICA",
                nombre=person.name,
                rfc=person.rfc or "",
                curp=person.curp,
                correo=person.email,
                telefono=person.phone,
                fecha_nacimiento=person.birth_date,
                key=person.key,
            )
            self.store.add_client(client)
            person_ids.append(client.id)
        company_ids: list[str] = []
        for index, company in enumerate(self.companies):
            email = company.email
            if index == 0 and self.people:  # the owner manages the company's pólizas from their own email
                email = self.people[PAGED_PERSON].email
            client = Client(
                id=str(2_080_000 + index * 11),
                tipo_persona="MORAL",
                nombre=company.name,
                rfc=company.rfc or "",
                curp=None,
                correo=email,
                telefono=company.phone,
                fecha_nacimiento=None,
                key=company.key,
            )
            self.store.add_client(client)
            company_ids.append(client.id)

        for index, client_id in enumerate(person_ids):
            self._person_policies(index, client_id)
        for index, client_id in enumerate(company_ids):
            self._company_policies(index, client_id, person_ids)
        self._claims()
        if len(person_ids) > WAITING_PERSON:  # last: the draws above stay what they were without it
            self._waiting_claim(person_ids[WAITING_PERSON])
        return self.store

    def _person_policies(self, index: int, client_id: str) -> None:
        rng = self.rng
        plan: list[tuple[str, str]] = []  # (line, status)
        if index == PAGED_PERSON:
            lines = ["AUTOS", "DISPOSITIVOS", "GMM", "VIDA", "HOGAR", "ACC"]
            statuses = ["Vigente"] * 14 + [
                "Pendiente de pago",
                "Vencida",
                "Vencida",
                "Cancelada",
                "Cancelada",
                "Cancelada por falta de pago",
                "Vigente",
            ]
            plan = [(lines[i % len(lines)], statuses[i]) for i in range(PAGED_OWN_POLICIES)]
        elif index == VIP_PERSON:
            plan = [("GMM_VIP", "Vigente"), ("AUTOS", "Vigente"), ("DISPOSITIVOS", "Vigente")]
        elif index == INACTIVE_PERSON:
            plan = [("AUTOS", "Vigente"), ("HOGAR", "Cancelada"), ("DISPOSITIVOS", "Vencida")]
        elif index == PENDING_PERSON:
            plan = [("AUTOS", "Pendiente de pago"), ("VIDA", "Vigente")]
        else:
            count = rng.choice((1, 2, 2, 2, 3, 3, 4))
            for n in range(count):
                line = rng.choices(
                    ("AUTOS", "DISPOSITIVOS", "GMM", "VIDA", "HOGAR", "ACC"), weights=(33, 20, 17, 15, 10, 5)
                )[0]
                status = (
                    "Vigente"
                    if n == 0
                    else rng.choices(
                        ("Vigente", "Pendiente de pago", "Vencida", "Cancelada", "Cancelada por falta de pago"),
                        weights=(62, 12, 12, 9, 5),
                    )[0]
                )
                plan.append((line, status))
        for line, status in plan:
            self._individual_policy(client_id, line, status)

    # --- terms and receipts -------------------------------------------------------------------

    def _term(self, status: str, frequency: str) -> tuple[date, int | None]:
        """Start of the term, and which receipt is unpaid (pendiente de pago / cancelled for non-payment)."""
        rng, today = self.rng, self.today
        months = FREQUENCIES.get(frequency, 12)
        receipts = 12 // months if frequency in FREQUENCIES else 1
        if status == "Vigente":
            return today - timedelta(days=rng.randrange(0, 330)), None
        if status == "Pendiente de pago":
            k = rng.randrange(receipts)
            due = today - timedelta(days=rng.randrange(1, GRACE_DAYS - 4))
            return add_months(due, -k * months), k
        if status == "Vencida":
            return today - timedelta(days=365 + rng.randrange(10, 400)), None
        if status == "Cancelada por falta de pago":
            k = rng.randrange(receipts)
            due = today - timedelta(days=rng.randrange(GRACE_DAYS + 5, 200))
            return add_months(due, -k * months), k
        return today - timedelta(days=rng.randrange(60, 500)), None  # Cancelada

    def _receipts(
        self, number: str, start: date, end: date, premium: Decimal, frequency: str, status: str, unpaid: int | None
    ) -> list[dict[str, Any]]:
        """The term's recibos: paid up to today, one unpaid in its grace period, the rest to come."""
        rng, today = self.rng, self.today
        if frequency not in FREQUENCIES:  # pago único
            count, months = 1, 12
        else:
            months = FREQUENCIES[frequency]
            count = 12 // months
        share = (premium / count).quantize(CENT, rounding=ROUND_HALF_UP)
        # The same random draws whatever today is, so that the book's shape depends on the seed alone.
        cancel_share = rng.random()
        cancelled_from: date | None = None
        if status == "Cancelada":
            cancelled_from = start + timedelta(
                days=20 + int(cancel_share * max(1, (min(end, today) - start).days - 20))
            )
        receipts: list[dict[str, Any]] = []
        for j in range(count):
            delay, method, has_method = rng.randrange(0, 21), rng.choice(PAYMENT_METHODS), rng.random() < 0.9
            hour, minute = rng.randrange(8, 20), rng.randrange(0, 60)
            due = add_months(start, j * months)
            period_end = min(end, add_months(start, (j + 1) * months) - timedelta(days=1))
            amount = share if j < count - 1 else premium - share * (count - 1)
            receipt: dict[str, Any] = {
                "numero_recibo": f"{number}-{j + 1:02d}",
                "serie": f"{j + 1}/{count}",
                "fecha_vencimiento": due.isoformat(),
                "periodo": {"inicio": due.isoformat(), "fin": period_end.isoformat()},
                "fecha_limite_pago": (due + timedelta(days=GRACE_DAYS)).isoformat(),
                "importe": money(amount),
                "moneda": "MXN",
            }
            if unpaid is not None and j >= unpaid:
                receipt["estatus"] = "PENDIENTE" if status == "Pendiente de pago" else "CANCELADO"
            elif cancelled_from is not None and due >= cancelled_from:
                receipt["estatus"] = "CANCELADO"
            elif due <= today:
                receipt["estatus"] = "PAGADO"
                paid_day = min(today, due + timedelta(days=delay))
                receipt["fecha_pago"] = datetime.combine(paid_day, time(hour, minute), MX_TZ).isoformat()
                if has_method:  # the method is sometimes missing from older receipts
                    receipt["forma_pago"] = method
            else:
                receipt["estatus"] = "PENDIENTE"
            receipts.append(receipt)
        return receipts

    # --- individual pólizas ------------------------------------------------------------------------

    def _individual_policy(self, client_id: str, line: str, status: str) -> None:
        policy_id, number = self._policy_ids(LINE_PREFIXES[line])
        self.store.add_policy(self.policy_record(client_id, line, status, policy_id, number))

    def policy_record(self, client_id: str, line: str, status: str, policy_id: str, number: str) -> PolicyRecord:
        """One individual póliza of the client, drawn from ``self.rng``; the book is only read."""
        rng = self.rng
        client = self.store.clients[client_id]
        builders = {
            "AUTOS": self._auto,
            "DISPOSITIVOS": self._devices,
            "GMM": self._gmm,
            "GMM_VIP": self._gmm,
            "VIDA": self._life,
            "HOGAR": self._home,
            "ACC": self._accident,
        }
        builder = builders[line]
        frequency = rng.choice(("ANUAL", "ANUAL", "SEMESTRAL", "TRIMESTRAL", "MENSUAL"))
        if line == "DISPOSITIVOS":
            frequency = rng.choice(("ANUAL", "MENSUAL", "UNICA"))
        start, unpaid = self._term(status, frequency)
        end = add_months(start, 12)
        body = builder(client, start, vip=(line == "GMM_VIP"))
        premium = Decimal(body.pop("_premium")).quantize(CENT)
        body.update(
            {
                "id_poliza": policy_id,
                "numero_poliza": number,
                "estatus": status,
                "vigencia": {"inicio": start.isoformat(), "fin": end.isoformat()},
                "prima_total": money(premium),
                "moneda": "MXN",
                "forma_pago": frequency,
                "periodo_gracia_dias": GRACE_DAYS,
                "colectiva": False,
                "contratante": self._party(client),
            }
        )
        body["recibos"] = self._receipts(number, start, end, premium, frequency, status, unpaid)
        if status.startswith("Cancelada"):
            cancelled = [r for r in body["recibos"] if r["estatus"] == "CANCELADO"]
            when = date.fromisoformat(cancelled[0]["fecha_limite_pago"]) if cancelled else start + timedelta(days=45)
            body["fecha_cancelacion"] = min(when, self.today).isoformat()
        body["documentos"] = self._documents(policy_id, body)
        return PolicyRecord(policy_id, number, client_id, _ordered(body))

    @staticmethod
    def _party(client: Client) -> dict[str, Any]:
        return {"nombre": client.nombre, "tipo_persona": client.tipo_persona, "rfc": client.rfc}

    @staticmethod
    def _documents(policy_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        docs = [
            {
                "id_documento": f"{policy_id}-POL",
                "tipo": "POLIZA",
                "titulo": f"Póliza {body['numero_poliza']}",
                "formato": "application/pdf",
            },
            {
                "id_documento": f"{policy_id}-CG",
                "tipo": "CONDICIONES_GENERALES",
                "titulo": f"Condiciones Generales — {body['producto']}",
                "formato": "application/pdf",
            },
        ]
        if body["ramo"] == "AUTOS":
            docs.insert(
                1,
                {
                    "id_documento": f"{policy_id}-RCO",
                    "tipo": "RC_OBLIGATORIO",
                    "titulo": "Póliza de Responsabilidad Civil Obligatorio",
                    "formato": "application/pdf",
                },
            )
        return docs

    def _auto(self, client: Client, start: date, **_: Any) -> dict[str, Any]:
        rng = self.rng
        make, model, version, new_value = rng.choice(catalog.VEHICLES)
        year = min(start.year + 1, max(2012, start.year - rng.choice((0, 0, 1, 2, 3, 5, 8, 11))))
        age = max(0, start.year - year)
        value = Decimal(new_value) * (Decimal("0.88") ** age)
        package = rng.choices((catalog.AMPLIA, catalog.LIMITADA, catalog.RC), weights=(60, 28, 12))[0]
        basis = "Valor Factura" if age == 0 else ("Valor Convenido" if age >= 10 else "Valor Comercial")
        dm_pct = rng.choice(("5", "10"))
        coverages: list[dict[str, Any]] = []
        for cov in catalog.AUTO_COVERAGES:
            covered = package in cov.packages
            if not covered and package != catalog.RC and rng.random() < 0.35:
                covered = True  # optional coverages bought on top of the package
            if (cov.code == "SAGE" and age > 2) or (cov.code == "GAF" and rng.random() < 0.7):
                covered = False
            entry: dict[str, Any] = {"clave": cov.code, "inciso": cov.inciso, "nombre": cov.name, "amparada": covered}
            if covered:
                if cov.kind == "vehicle":
                    entry["suma_asegurada"] = money(value)
                    entry["base_suma_asegurada"] = basis
                elif cov.kind == "amount":
                    entry["suma_asegurada"] = catalog.AUTO_AMOUNTS[cov.code]
                    entry["base_suma_asegurada"] = "Límite máximo de responsabilidad"
                entry["deducible"] = self._auto_deductible(cov.code, dm_pct, basis)
                if cov.code in catalog.AUTO_NOTES:
                    entry["notas"] = catalog.AUTO_NOTES[cov.code]
            coverages.append(entry)
        rate = {catalog.AMPLIA: Decimal("0.045"), catalog.LIMITADA: Decimal("0.03"), catalog.RC: Decimal("0.012")}
        premium = value * rate[package] + Decimal(rng.randrange(0, 900))
        vehicle: dict[str, Any] = {
            "tipo": "VEHICULO",
            "marca": make,
            "submarca": model,
            "modelo": year,  # in Mexican auto insurance "modelo" is the model year
            "version": version,
            "numero_serie": vin(rng, make, year),
            "uso": "Particular",
            "valor_vehiculo": money(value),
        }
        has_plates = rng.random() < 0.5
        if age > 0 or has_plates:  # a brand-new car may still have its plates "en trámite"
            vehicle["placas"] = plate(rng)
        return {
            "ramo": "AUTOS",
            "producto": "Autos Individual",
            "paquete": package,
            "bien_asegurado": vehicle,
            "coberturas": coverages,
            "_premium": premium,
        }

    @staticmethod
    def _auto_deductible(code: str, dm_pct: str, basis: str) -> dict[str, Any] | None:
        if code in ("DMPP", "DMPT"):
            return {"tipo": "PORCENTAJE", "valor": dm_pct, "base": basis}
        if code == "ROBT":
            return {"tipo": "PORCENTAJE", "valor": "10" if dm_pct == "5" else "20", "base": basis}
        if code == "CRIS":
            return {"tipo": "PORCENTAJE", "valor": "20", "base": "Costo del cristal"}
        if code in ("AEE", "ROBP"):
            return {"tipo": "PORCENTAJE", "valor": "25", "base": "Suma asegurada"}
        if code == "RPP":
            return {"tipo": "PORCENTAJE", "valor": "20", "base": "Suma asegurada"}
        if code == "LLR":
            return {"tipo": "MONTO", "valor": "1500.00"}
        if code in ("RCDT", "RCOC", "RCFA", "GMOC", "AAC"):
            return {"tipo": "SIN_DEDUCIBLE"}
        return None  # nothing printed on the carátula

    def _devices(self, client: Client, start: date, **_: Any) -> dict[str, Any]:
        rng = self.rng
        multi = rng.random() < 0.45
        phones = [d for d in catalog.DEVICES if d[0] == "Celular"]
        portable = [d for d in catalog.DEVICES if d[0] in ("Celular", "Laptop", "Consola portátil")]
        if multi:  # up to 2 phones among the devices (seed 002)
            chosen = rng.sample(phones, rng.choice((1, 2)))
            others = [d for d in catalog.DEVICES if d[0] != "Celular"]
            chosen += rng.sample(others, rng.choice((1, 2, 3)))
        else:  # Individual: exclusively a phone or a portable device
            chosen = [rng.choice(portable)]
        equipos: list[dict[str, Any]] = []
        for kind, brand, model, price in chosen:
            bought = start - timedelta(days=rng.randrange(0, 700 if multi else 25))
            equipo: dict[str, Any] = {
                "tipo_equipo": kind,
                "marca": brand,
                "modelo": model,
                "numero_serie": "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(12)),
                "fecha_compra": bought.isoformat(),
                "valor_factura": money(price),
            }
            if kind in ("Celular", "Tablet"):
                equipo["imei"] = imei(rng)
            equipos.append(equipo)
        kinds = {e["tipo_equipo"] for e in equipos}
        total = sum((Decimal(e["valor_factura"]) for e in equipos), Decimal(0))
        coverages: list[dict[str, Any]] = []
        for code, name, eligible in catalog.DEVICE_COVERAGES:
            applies = bool(kinds & eligible)
            covered = applies and (code in ("RCV", "DEQ", "RPA") or rng.random() < 0.6)
            entry: dict[str, Any] = {"clave": code, "nombre": name, "amparada": covered}
            if covered:
                entry["suma_asegurada"] = money(total)
                entry["base_suma_asegurada"] = "Valor del artículo (factura sin IVA)"
                if code in ("RCV", "RSV"):
                    entry["deducible"] = {"tipo": "PORCENTAJE", "valor": "20", "base": "Valor del artículo"}
                elif code == "RPA":
                    entry["deducible"] = {"tipo": "MONTO", "valor": "899.00"}
                elif code == "TRE":
                    entry["deducible"] = {"tipo": "SIN_DEDUCIBLE"}
                    entry["notas"] = "Hasta dos eventos por año."
                else:
                    entry["deducible"] = {"tipo": "PORCENTAJE", "valor": "10", "base": "Valor del artículo"}
                note = catalog.DEVICE_WAITING_NOTE if multi else catalog.DEVICE_NO_WAITING_NOTE
                entry["notas"] = f"{entry.get('notas', '')} {note}".strip()
            coverages.append(entry)
        return {
            "ramo": "DISPOSITIVOS",
            "producto": "Mis Dispositivos GNP",
            "categoria": "MULTIDISPOSITIVO" if multi else "INDIVIDUAL",
            "bien_asegurado": {
                "tipo": "DISPOSITIVOS",
                "categoria": "MULTIDISPOSITIVO" if multi else "INDIVIDUAL",
                "equipos": equipos,
            },
            "coberturas": coverages,
            "_premium": total * Decimal("0.11") + Decimal(rng.randrange(0, 300)),
        }

    def _relatives(self, client: Client) -> list[dict[str, Any]]:
        """A spouse and children, sometimes (GMM and Vida)."""
        rng = self.rng
        people: list[dict[str, Any]] = []
        person = self.person_by_key.get(client.key)
        surname = person.paternal if person else client.nombre.split()[-1]
        if rng.random() < 0.45:
            given = rng.choice(MX_GIVEN_F + MX_GIVEN_M)
            people.append(
                {
                    "nombre": f"{given} {rng.choice(MX_SURNAMES)} {rng.choice(MX_SURNAMES)}",
                    "parentesco": "Cónyuge",
                    "fecha_nacimiento": (date(1960, 1, 1) + timedelta(days=rng.randrange(0, 14000))).isoformat(),
                }
            )
        for _ in range(rng.choice((0, 0, 1, 2))):
            child: dict[str, Any] = {
                "nombre": f"{rng.choice(MX_GIVEN_F + MX_GIVEN_M)} {surname} {rng.choice(MX_SURNAMES)}",
                "parentesco": "Hijo(a)",
            }
            if rng.random() < 0.8:  # the birth date is an optional field
                child["fecha_nacimiento"] = (date(2005, 1, 1) + timedelta(days=rng.randrange(0, 6500))).isoformat()
            people.append(child)
        return people

    def _holder_person(self, client: Client) -> dict[str, Any]:
        data: dict[str, Any] = {"nombre": client.nombre, "parentesco": "Titular"}
        if client.fecha_nacimiento:
            data["fecha_nacimiento"] = client.fecha_nacimiento.isoformat()
        return data

    def _gmm(self, client: Client, start: date, *, vip: bool = False, **_: Any) -> dict[str, Any]:
        rng = self.rng
        plan = catalog.GMM_PLANS[2] if vip else rng.choice(catalog.GMM_PLANS[:2])
        product, count, sum_insured, deductible = plan
        entries = catalog.GMM_COVERAGES[:count]
        coverages = []
        for i, (code, name) in enumerate(entries):
            entry: dict[str, Any] = {"clave": code, "nombre": name, "amparada": i < 10 or rng.random() < 0.85}
            if code == "GMM":
                entry.update(
                    {
                        "suma_asegurada": sum_insured,
                        "base_suma_asegurada": "Por padecimiento",
                        "deducible": {"tipo": "MONTO", "valor": deductible},
                        "notas": "Coaseguro 10% con tope de 50,000.00 MXN por padecimiento",
                    }
                )
            elif code in ("AMBA", "EMEX", "CINT"):
                entry["suma_asegurada"] = "100000.00" if code == "EMEX" else "2000000.00"
                entry["base_suma_asegurada"] = "Por evento"
            elif code == "MATE":
                entry["suma_asegurada"] = "45000.00"
                entry["notas"] = "Periodo de espera de 10 meses"
            elif code == "EDAC":
                entry["deducible"] = {"tipo": "SIN_DEDUCIBLE"}
            coverages.append(entry)
        people = [self._holder_person(client), *self._relatives(client)]
        premium = Decimal(rng.randrange(18_000, 60_000)) * len(people) * (3 if vip else 1)
        return {
            "ramo": "GASTOS_MEDICOS_MAYORES",
            "producto": product,
            "bien_asegurado": {"tipo": "PERSONAS", "asegurados": people},
            "coberturas": coverages,
            "_premium": premium,
        }

    def _life(self, client: Client, start: date, **_: Any) -> dict[str, Any]:
        rng = self.rng
        basic = Decimal(rng.choice((500_000, 1_000_000, 1_500_000, 2_000_000, 3_000_000, 5_000_000)))
        coverages = []
        for code, name, share in catalog.LIFE_COVERAGES:
            covered = code == "FALL" or rng.random() < 0.6
            entry: dict[str, Any] = {"clave": code, "nombre": name, "amparada": covered}
            if covered and share != "0":
                entry["suma_asegurada"] = money(basic * Decimal(share))
                entry["base_suma_asegurada"] = "Suma asegurada contratada"
            coverages.append(entry)
        relatives = self._relatives(client)
        beneficiaries = [
            {"nombre": r["nombre"], "parentesco": r["parentesco"], "porcentaje": "100" if len(relatives) == 1 else ""}
            for r in relatives
        ]
        return {
            "ramo": "VIDA",
            "producto": rng.choice(catalog.LIFE_PLANS),
            "bien_asegurado": {"tipo": "PERSONAS", "asegurados": [self._holder_person(client)]},
            "beneficiarios": beneficiaries,
            "coberturas": coverages,
            "_premium": basic * Decimal(rng.choice(("0.004", "0.007", "0.011"))),
        }

    def _home(self, client: Client, start: date, **_: Any) -> dict[str, Any]:
        rng = self.rng
        building = Decimal(rng.randrange(15, 80) * 100_000)
        colonia, cp, municipio, estado = rng.choice(catalog.HOME_PLACES)
        coverages = []
        for code, name, share, deductible in catalog.HOME_COVERAGES:
            covered = code in ("INCE", "INCC", "RCFM", "ASIS") or rng.random() < 0.7
            entry: dict[str, Any] = {"clave": code, "nombre": name, "amparada": covered}
            if covered:
                if share != "0":
                    entry["suma_asegurada"] = money(building * Decimal(share))
                    entry["base_suma_asegurada"] = "Valor de reposición"
                if deductible and deductible.startswith("pct:"):
                    entry["deducible"] = {"tipo": "PORCENTAJE", "valor": deductible[4:], "base": "Suma asegurada"}
                elif deductible:
                    entry["deducible"] = {"tipo": "MONTO", "valor": deductible[4:]}
            coverages.append(entry)
        address: dict[str, Any] = {
            "calle": rng.choice(catalog.HOME_STREETS),
            "numero_exterior": str(rng.randrange(1, 2500)),
            "colonia": colonia,
            "codigo_postal": cp,
            "municipio": municipio,
            "estado": estado,
        }
        if rng.random() < 0.4:
            address["numero_interior"] = f"Depto. {rng.randrange(1, 40)}"
        return {
            "ramo": "HOGAR",
            "producto": "Hogar Versátil",
            "bien_asegurado": {
                "tipo": "INMUEBLE",
                "domicilio": address,
                "tipo_construccion": "Maciza",
                "uso": "Departamento" if "numero_interior" in address else "Casa habitación",
            },
            "coberturas": coverages,
            "_premium": building * Decimal("0.0015"),
        }

    def _accident(self, client: Client, start: date, **_: Any) -> dict[str, Any]:
        rng = self.rng
        coverages = [
            {
                "clave": "MACC",
                "nombre": "Muerte accidental",
                "amparada": True,
                "suma_asegurada": "500000.00",
                "base_suma_asegurada": "Suma asegurada contratada",
            },
            {
                "clave": "PORG",
                "nombre": "Pérdidas orgánicas escala B",
                "amparada": True,
                "suma_asegurada": "500000.00",
                "base_suma_asegurada": "Suma asegurada contratada",
            },
            {
                "clave": "RGMA",
                "nombre": "Reembolso de gastos médicos por accidente",
                "amparada": True,
                "suma_asegurada": "50000.00",
                "deducible": {"tipo": "MONTO", "valor": "500.00"},
            },
        ]
        return {
            "ramo": "ACCIDENTES_PERSONALES",
            "producto": catalog.ACCIDENT_PRODUCT,
            "bien_asegurado": {"tipo": "PERSONAS", "asegurados": [self._holder_person(client)]},
            "coberturas": coverages,
            "_premium": Decimal(rng.randrange(1500, 4000)),
        }

    # --- group pólizas (seed 000: "pólizas corporativas") ---------------------------------------

    def _company_policies(self, index: int, company_id: str, person_ids: list[str]) -> None:
        rng = self.rng
        company = self.store.clients[company_id]
        pool = [p for i, p in enumerate(person_ids) if i != PAGED_PERSON]
        for kind in ("GMM", "VIDA"):
            members = rng.sample(pool, min(len(pool), rng.randrange(3, 7)))
            if index == 0 and person_ids:
                members = [person_ids[PAGED_PERSON], *members]
            policy_id, number = self._policy_ids("29" if kind == "GMM" else "39")
            status = "Cancelada" if (index == 7 and kind == "VIDA") else "Vigente"
            start, _unpaid = self._term("Vigente", "MENSUAL")
            if status == "Cancelada":
                start = self.today - timedelta(days=rng.randrange(120, 300))
            end = add_months(start, 12)
            per_head = Decimal(rng.randrange(9_000, 16_000) if kind == "GMM" else rng.randrange(900, 2_400))
            premium = (per_head * len(members)).quantize(CENT)
            member_rows = {}
            for member in members:
                rows = [{**self._holder_person(self.store.clients[member]), "parentesco": "Empleado"}]
                if kind == "GMM" and rng.random() < 0.4:
                    rows += self._relatives(self.store.clients[member])
                member_rows[member] = rows
            if kind == "GMM":
                coverages = [
                    {"clave": code, "nombre": name, "amparada": True} for code, name in catalog.GMM_COVERAGES[:12]
                ]
                coverages[0].update(
                    {
                        "suma_asegurada": "10000000.00",
                        "base_suma_asegurada": "Por padecimiento",
                        "deducible": {"tipo": "MONTO", "valor": "15000.00"},
                        "notas": "Coaseguro 10%; prima a cargo del contratante",
                    }
                )
            else:
                coverages = [  # the basic sum is a rule ("24 meses de sueldo"), not an amount: no suma_asegurada
                    {
                        "clave": "FALL",
                        "nombre": "Fallecimiento",
                        "amparada": True,
                        "base_suma_asegurada": "24 meses de sueldo integrado",
                    },
                    {"clave": "BIT", "nombre": "Invalidez total y permanente", "amparada": True},
                    {
                        "clave": "GFUN",
                        "nombre": "Gastos funerarios",
                        "amparada": True,
                        "suma_asegurada": "30000.00",
                        "base_suma_asegurada": "Suma asegurada contratada",
                    },
                ]
            body: dict[str, Any] = {
                "id_poliza": policy_id,
                "numero_poliza": number,
                "ramo": "GASTOS_MEDICOS_MAYORES" if kind == "GMM" else "VIDA",
                "producto": catalog.GROUP_GMM_PRODUCT if kind == "GMM" else catalog.GROUP_LIFE_PRODUCT,
                "estatus": status,
                "vigencia": {"inicio": start.isoformat(), "fin": end.isoformat()},
                "prima_total": money(premium),
                "prima_a_cargo": "CONTRATANTE",
                "moneda": "MXN",
                "forma_pago": "MENSUAL",
                "periodo_gracia_dias": GRACE_DAYS,
                "colectiva": True,
                "contratante": self._party(company),
                "bien_asegurado": {
                    "tipo": "PERSONAS",
                    "asegurados": [r for rows in member_rows.values() for r in rows if r["parentesco"] == "Empleado"],
                },
                "coberturas": coverages,
            }
            body["recibos"] = self._receipts(number, start, end, premium, "MENSUAL", status, None)
            if status == "Cancelada":
                body["fecha_cancelacion"] = (start + timedelta(days=90)).isoformat()
            body["documentos"] = self._documents(policy_id, body)
            self.store.add_policy(PolicyRecord(policy_id, number, company_id, _ordered(body), member_rows))
        if rng.random() < 0.6 or index == 0:  # a company car
            self._individual_policy(company_id, "AUTOS", "Vigente")

    # --- siniestros -------------------------------------------------------------------------------

    def _claims(self) -> None:
        rng = self.rng
        paged = str(1_040_000 + PAGED_PERSON * 7)
        for client_id, policy_ids in self.store.portfolio.items():
            for policy_id in policy_ids:
                record = self.store.policies[policy_id]
                body = record.body
                if body["ramo"] == "VIDA":
                    continue
                if record.members and client_id == record.holder:
                    continue  # employees claim under a group póliza, not the employer
                chance = 0.75 if client_id == paged else 0.3
                for _ in range(2 if rng.random() < 0.15 else 1):
                    if rng.random() < chance:
                        self._claim(client_id, record)

    def next_claim_number(self, year: int) -> tuple[str, str]:
        """A fresh (id_siniestro, numero_siniestro)."""
        self._claim_seq += 1
        return f"S{self._claim_seq:08d}", f"{year}-{self.rng.randrange(100_000, 999_999)}{self._claim_seq % 10}"

    def _waiting_claim(self, client_id: str) -> None:
        """A claim on the client's first in-force car (or other póliza) waiting for their documents."""
        own = [self.store.policies[p] for p in self.store.portfolio.get(client_id, [])]
        candidates = [
            r for r in own if r.holder == client_id and r.body["estatus"] == "Vigente" and r.body["ramo"] != "VIDA"
        ]
        candidates.sort(key=lambda r: r.body["ramo"] != "AUTOS")
        if candidates:
            self._claim(client_id, candidates[0], status="Documentación pendiente", recent=True)

    def _claim(self, client_id: str, record: PolicyRecord, status: str | None = None, recent: bool = False) -> None:
        claim = self.claim_body(record, status, recent)
        if claim is not None:
            self.store.add_claim(client_id, claim)

    def claim_body(
        self,
        record: PolicyRecord,
        status: str | None = None,
        recent: bool = False,
        ids: Callable[[int], tuple[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        """A siniestro on the póliza, drawn from ``self.rng`` (None when its term leaves no day for one)."""
        rng, today, body = self.rng, self.today, record.body
        start = date.fromisoformat(body["vigencia"]["inicio"])
        last = min(today - timedelta(days=1), date.fromisoformat(body["vigencia"]["fin"]))
        if body.get("fecha_cancelacion"):
            last = min(last, date.fromisoformat(body["fecha_cancelacion"]))
        if recent:  # a claim still in progress happened lately
            start = max(start, last - timedelta(days=20))
        if last <= start:
            return None
        if status is None:
            status = self._claim_status_cycle.pop(0) if self._claim_status_cycle else rng.choice(list(CLAIM_FLOWS))
        kinds = {
            "AUTOS": (
                ("colision", "DMPP"),
                ("cristales", "CRIS"),
                ("robo_parcial", "ROBP"),
                ("responsabilidad_civil", "RCDT"),
                ("robo_total", "ROBT"),
            ),
            "DISPOSITIVOS": (("rotura_pantalla", "RPA"), ("robo_con_violencia", "RCV"), ("danos_equipo", "DEQ")),
            "GASTOS_MEDICOS_MAYORES": (("reembolso", "GMM"), ("programacion", "GMM")),
            "HOGAR": (("danos", "HIDR"), ("robo", "ROBC")),
            "ACCIDENTES_PERSONALES": (("reembolso_accidente", "RGMA"),),
        }[body["ramo"]]
        kind, coverage = rng.choice(kinds)
        descriptions = {
            "colision": "Colisión por alcance en crucero",
            "cristales": "Rotura de parabrisas por impacto de piedra",
            "robo_parcial": "Robo de espejos laterales",
            "responsabilidad_civil": "Daños a vehículo de tercero",
            "robo_total": "Robo del vehículo estacionado en vía pública",
            "rotura_pantalla": "Caída del equipo; pantalla rota",
            "robo_con_violencia": "Asalto en transporte público",
            "danos_equipo": "Derrame de líquido sobre el equipo",
            "reembolso": "Reembolso de consulta y estudios",
            "programacion": "Programación de cirugía de rodilla",
            "danos": "Filtración de agua por lluvia intensa",
            "robo": "Robo de contenidos con violencia",
            "reembolso_accidente": "Esguince de tobillo; reembolso de gastos médicos",
        }
        days_span = (last - start).days
        occurred_day = start + timedelta(days=int(rng.random() * days_span))
        occurred = datetime.combine(occurred_day, time(rng.randrange(0, 24), rng.randrange(0, 60)), MX_TZ)
        reported = occurred + timedelta(hours=rng.randrange(1, 96))
        now = datetime.combine(today, time(8, 0), MX_TZ)
        reported = min(reported, now - timedelta(hours=len(CLAIM_FLOWS[status]) * 2))
        reported = max(reported, occurred + timedelta(minutes=30))
        claim_id, claim_number = (ids or self.next_claim_number)(occurred.year)
        history = []
        moment = reported
        room = max(timedelta(hours=2), (now - reported) / (len(CLAIM_FLOWS[status]) + 1))
        for step in CLAIM_FLOWS[status]:
            history.append({"fecha_hora": moment.isoformat(), "estatus": step, "comentario": CLAIM_COMMENTS[step]})
            moment = min(now, moment + room * rng.uniform(0.4, 1.0))
        claim: dict[str, Any] = {
            "id_siniestro": claim_id,
            "numero_siniestro": claim_number,
            "id_poliza": record.id,
            "numero_poliza": record.numero,
            "tipo": kind,
            "clave_cobertura": coverage,
            "fecha_ocurrencia": occurred.isoformat(),
            "fecha_reporte": reported.isoformat(),
            "estatus": status,
            "descripcion": descriptions[kind],
            "historial": history,
            "documentos": [],
        }
        if status == "Documentación pendiente":
            claim["documentos_pendientes"] = list(PENDING_DOCUMENTS[kind])
        if status not in ("Reportado", "Cancelado") or rng.random() < 0.5:
            claim["monto_reclamado"] = money(Decimal(rng.randrange(2_000, 120_000)))
        if status in ("Pagado", "Reabierto"):
            claimed = Decimal(claim.get("monto_reclamado", "10000.00"))
            claim["monto_pagado"] = money(claimed * Decimal(rng.choice(("0.8", "0.9", "1"))))
            claim["documentos"].append(
                {
                    "id_documento": f"{claim_id}-FIN",
                    "tipo": "SINIESTRO",
                    "titulo": "Carta finiquito",
                    "formato": "application/pdf",
                }
            )
        if status == "Rechazado":
            claim["documentos"].append(
                {
                    "id_documento": f"{claim_id}-IMP",
                    "tipo": "SINIESTRO",
                    "titulo": "Carta de improcedencia",
                    "formato": "application/pdf",
                }
            )
        return claim


_ORDER = (
    "id_poliza",
    "numero_poliza",
    "ramo",
    "producto",
    "paquete",
    "categoria",
    "estatus",
    "vigencia",
    "fecha_cancelacion",
    "prima_total",
    "prima_a_cargo",
    "moneda",
    "forma_pago",
    "periodo_gracia_dias",
    "colectiva",
    "contratante",
    "bien_asegurado",
    "beneficiarios",
    "coberturas",
    "recibos",
    "documentos",
)


def _ordered(body: dict[str, Any]) -> dict[str, Any]:
    """The póliza's fields in a readable order."""
    return {k: body[k] for k in _ORDER if k in body} | {k: v for k, v in body.items() if k not in _ORDER}


def generate(
    seed: int = 2026,
    clients: int | None = None,
    today: date | None = None,
    policies_per_client: int | None = None,
    large_clients: Collection[str] | None = None,
) -> tuple[Store, Generator]:
    """The book for ``seed``: 40 people and 8 companies by default, or ``clients`` people for load tests.

    ``policies_per_client``: each client (or each of ``large_clients``, given by RFC or CURP) holds that
    many pólizas: its own, then generated ones (see ``Extras``), built when a page asks for them.
    """
    generator = Generator(seed, clients, today or datetime.now(MX_TZ).date())
    store = generator.build()
    if policies_per_client:
        store.extras = Extras(seed, clients, store, policies_per_client, large_clients)
    return store, generator


# --- large clients --------------------------------------------------------------------------------

# The generated pólizas' lines, by k % 10; the one at EXTRA_CLAIM_SLOT (an AUTOS póliza in force) has a
# siniestro: one generated póliza in ten, like the book's own rate of claims.
EXTRA_LINES = ("AUTOS", "DISPOSITIVOS", "AUTOS", "GMM", "VIDA", "AUTOS", "HOGAR", "DISPOSITIVOS", "ACC", "AUTOS")
EXTRA_CLAIM_SLOT = 2
EXTRA_STATUSES = ("Vigente", "Pendiente de pago", "Vencida", "Cancelada")
EXTRA_STATUS_WEIGHTS = (82, 4, 8, 6)


class Extras:
    """Pólizas generated beyond a client's own, so that one client can hold tens of thousands of them.

    Nothing is kept: the k-th generated póliza of a client, and its siniestro, are pure functions of
    (seed, client, k), built when a page (or a document) asks for them. Ids: ``X<client>.<k>`` for
    pólizas, ``SX<client>.<k>`` for siniestros. Linking and payment links work on the book's own pólizas.
    """

    def __init__(
        self, seed: int, clients: int | None, store: Store, per_client: int, who: Collection[str] | None
    ) -> None:
        self.seed, self.clients, self.store, self.per_client = seed, clients, store, per_client
        self._local = threading.local()
        self.only: set[str] | None = None
        if who is not None:
            wanted = {w.strip().upper() for w in who}
            self.only = {cid for key, cid in {**store.by_rfc, **store.by_curp}.items() if key in wanted}

    def count(self, client_id: str) -> int:
        """How many generated pólizas the client holds."""
        if self.only is not None and client_id not in self.only:
            return 0
        return max(0, self.per_client - len(self.store.portfolio.get(client_id, ())))

    def claims_count(self, client_id: str) -> int:
        """How many siniestros the generated pólizas carry (those at k % 10 == EXTRA_CLAIM_SLOT)."""
        return (self.count(client_id) + 9 - EXTRA_CLAIM_SLOT) // 10

    def _generator(self, salt: str) -> Generator:
        """This thread's generator (requests are served in threads), its draws seeded by ``salt``."""
        generator: Generator | None = getattr(self._local, "generator", None)
        if generator is None:
            generator = self._local.generator = Generator(self.seed, self.clients, self.store.today)
            generator.store = self.store  # read only: policy_record and claim_body never write the book
        generator.rng = random.Random(f"gnp-extra:{self.seed}:{salt}")
        return generator

    def policy(self, client_id: str, k: int) -> PolicyRecord:
        """The k-th generated póliza of the client."""
        line = EXTRA_LINES[k % len(EXTRA_LINES)]
        for attempt in range(100):
            generator = self._generator(f"{client_id}:{k}:{attempt}")
            rng = generator.rng
            claimed = k % len(EXTRA_LINES) == EXTRA_CLAIM_SLOT
            status = "Vigente" if claimed else rng.choices(EXTRA_STATUSES, weights=EXTRA_STATUS_WEIGHTS)[0]
            number = f"{LINE_PREFIXES[line]}{rng.randrange(10**7, 10**8)}"
            record = generator.policy_record(client_id, line, status, f"X{client_id}.{k:06d}", number)
            started = date.fromisoformat(record.body["vigencia"]["inicio"])
            if not claimed or started < self.store.today - timedelta(days=2):  # room for its siniestro
                return record
        raise AssertionError("no term with room for a siniestro in 100 draws")

    def policies(self, client_id: str, start: int, stop: int) -> list[dict[str, Any]]:
        """Generated pólizas ``start`` to ``stop`` (exclusive) of the client, as the API shows them."""
        return [self.policy(client_id, k).body for k in range(start, min(stop, self.count(client_id)))]

    def claim(self, client_id: str, j: int) -> dict[str, Any]:
        """The j-th siniestro of the client's generated pólizas."""
        k = j * len(EXTRA_LINES) + EXTRA_CLAIM_SLOT
        record = self.policy(client_id, k)
        generator = self._generator(f"{client_id}:{k}:claim")
        status = generator.rng.choice(list(CLAIM_FLOWS))
        claim = generator.claim_body(record, status, ids=lambda year: (f"SX{client_id}.{k:06d}", f"{year}-X{k:06d}"))
        assert claim is not None, "a generated póliza with a siniestro starts two days ago or earlier"
        return claim

    def claims(self, client_id: str, start: int, stop: int) -> list[dict[str, Any]]:
        """Siniestros ``start`` to ``stop`` (exclusive) of the client's generated pólizas."""
        return [self.claim(client_id, j) for j in range(start, min(stop, self.claims_count(client_id)))]

    def policy_by_id(self, policy_id: str) -> PolicyRecord | None:
        """A generated póliza by its id (``X<client>.<k>``), or None."""
        client_id, dot, k = policy_id[1:].partition(".")
        if not policy_id.startswith("X") or not dot or not k.isdigit() or int(k) >= self.count(client_id):
            return None
        return self.policy(client_id, int(k))

    def claim_by_id(self, claim_id: str) -> tuple[str, dict[str, Any]] | None:
        """(client, siniestro) of a generated siniestro by its id (``SX<client>.<k>``), or None."""
        client_id, dot, k = claim_id[2:].partition(".")
        if not claim_id.startswith("SX") or not dot or not k.isdigit():
            return None
        j, slot = divmod(int(k), len(EXTRA_LINES))
        if slot != EXTRA_CLAIM_SLOT or j >= self.claims_count(client_id):
            return None
        return client_id, self.claim(client_id, j)
