"""GNP JSON → canonical records. Every field is checked: a wrong shape raises InvalidResponse, never a guess."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from connectors.errors import InvalidResponse
from connectors.models import (
    OPEN_CLAIM_STATUSES,
    Claim,
    ClaimEvent,
    ClaimRequirements,
    ClaimStatus,
    ClientMatch,
    Coverage,
    Deadline,
    Deductible,
    DeductibleKind,
    Device,
    Devices,
    DocumentKind,
    DocumentRef,
    Home,
    InsuredObject,
    InsuredPeople,
    InsuredPerson,
    Line,
    Money,
    Party,
    PartyKind,
    PaymentFrequency,
    Policy,
    PolicyStatus,
    Receipt,
    ReceiptStatus,
    TaxId,
    TaxIdType,
    Vehicle,
)

CURRENCY = "MXN"
T = TypeVar("T")

LINES = {
    "AUTOS": Line.AUTO,
    "GASTOS_MEDICOS_MAYORES": Line.GMM,
    "VIDA": Line.VIDA,
    "HOGAR": Line.HOGAR,
    "DISPOSITIVOS": Line.DISPOSITIVOS,
}  # any other ramo (ACCIDENTES_PERSONALES, ...) is Line.OTHER
RAMOS = {line: ramo for ramo, line in LINES.items()} | {Line.OTHER: "ACCIDENTES_PERSONALES"}

POLICY_STATUSES = {  # normalised wording -> status ("pendiente de pago" is checked against the grace period)
    "vigente": PolicyStatus.IN_FORCE,
    "rehabilitada": PolicyStatus.IN_FORCE,
    "pendiente de pago": PolicyStatus.PENDING_PAYMENT,
    "vencida": PolicyStatus.EXPIRED,
    "no renovada": PolicyStatus.EXPIRED,
    "cancelada": PolicyStatus.CANCELLED,
    "cancelada por falta de pago": PolicyStatus.CANCELLED,
    "anulada": PolicyStatus.CANCELLED,
}

CLAIM_STATUSES = {  # GNP's wording, normalised -> the six statuses
    "reportado": ClaimStatus.OPEN,
    "abierto": ClaimStatus.OPEN,
    "en tramite": ClaimStatus.OPEN,
    "en valuacion": ClaimStatus.UNDER_REVIEW,
    "en dictamen": ClaimStatus.UNDER_REVIEW,
    "documentacion pendiente": ClaimStatus.UNDER_REVIEW,
    "pagado": ClaimStatus.CLOSED_PAID,
    "indemnizado": ClaimStatus.CLOSED_PAID,
    "rechazado": ClaimStatus.CLOSED_UNPAID,
    "improcedente": ClaimStatus.CLOSED_UNPAID,
    "cerrado sin pago": ClaimStatus.CLOSED_UNPAID,
    "reabierto": ClaimStatus.REOPENED,
    "cancelado": ClaimStatus.CANCELLED,
}

WAITING_ON_CLIENT = frozenset({"documentacion pendiente"})  # GNP's wording (normalised) of a claim that waits

FREQUENCIES = {
    "ANUAL": PaymentFrequency.ANNUAL,
    "SEMESTRAL": PaymentFrequency.SEMIANNUAL,
    "TRIMESTRAL": PaymentFrequency.QUARTERLY,
    "MENSUAL": PaymentFrequency.MONTHLY,
    "UNICA": PaymentFrequency.SINGLE,
}

DOCUMENT_KINDS = {
    "POLIZA": DocumentKind.POLICY,
    "RC_OBLIGATORIO": DocumentKind.RC_OBLIGATORIO,
    "RECIBO": DocumentKind.RECEIPT,
    "SINIESTRO": DocumentKind.CLAIM,
    "CONDICIONES_GENERALES": DocumentKind.CONDITIONS,
}

_AMOUNT = re.compile(r"^-?\d{1,15}(\.\d{1,2})?$")
_PERCENT = re.compile(r"^\d{1,3}(\.\d{1,4})?$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def normalise(text: str) -> str:
    """Lower case, no accents, single spaces: 'En Trámite' → 'en tramite'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.lower().split())


# --- field readers ---------------------------------------------------------------------------------


class Fields:
    """Typed access to one JSON object; every failure names the field (never its value)."""

    def __init__(self, data: Any, where: str, parent: Fields | None = None) -> None:
        self.parent = parent  # ``where`` is then relative to it: the full path is only built for an error
        self._where = where
        if not isinstance(data, dict):
            raise InvalidResponse(f"gnp: {self.where} is not an object")
        self.data: dict[str, Any] = data

    @property
    def where(self) -> str:
        """Where this object is in the answer: ``poliza.coberturas[3]``."""
        return self._where if self.parent is None else f"{self.parent.where}{self._where}"

    def _bad(self, name: str, what: str) -> InvalidResponse:
        return InvalidResponse(f"gnp: {self.where}.{name} {what}")

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise self._bad(name, "is missing")
        return value

    # The readers below look the value up themselves (not through ``_get``): they run ~200 times a póliza,
    # and a large account's sync maps tens of thousands of them (bench.large: CPU of the fetch).

    def text(self, name: str) -> str:
        value = self.data.get(name)
        if value.__class__ is str:
            stripped: str = value.strip()
            if stripped:
                return stripped
        elif value is None:
            raise self._bad(name, "is missing")
        elif isinstance(value, str) and value.strip():  # a str subclass
            return value.strip()
        raise self._bad(name, "must be non-empty text")

    def opt_text(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(name, "must be text")
        return value.strip() or None

    def integer(self, name: str) -> int:
        value = self.data.get(name)
        if value.__class__ is int:
            return value  # type: ignore[no-any-return]
        if value is None:
            raise self._bad(name, "is missing")
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(name, "must be an integer")
        return value

    def opt_integer(self, name: str) -> int | None:
        return None if self.data.get(name) is None else self.integer(name)

    def boolean(self, name: str, default: bool | None = None) -> bool:
        value = self.data.get(name)
        if value is True or value is False:
            return value
        if value is None:
            if default is not None:
                return default
            raise self._bad(name, "is missing")
        raise self._bad(name, "must be true or false")

    def money(self, name: str) -> Money:
        value = self.data.get(name)
        if value is None:
            raise self._bad(name, "is missing")
        if not isinstance(value, str) or not _AMOUNT.match(value):
            raise self._bad(name, 'must be a decimal string such as "1234.50"')
        return Money(Decimal(value), CURRENCY)

    def opt_money(self, name: str) -> Money | None:
        return None if self.data.get(name) is None else self.money(name)

    def day(self, name: str) -> date:
        value = self.data.get(name)
        if value is None:
            raise self._bad(name, "is missing")
        if not isinstance(value, str) or not _DAY.match(value):
            raise self._bad(name, "must be a date YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self._bad(name, "is not a valid date") from None

    def opt_day(self, name: str) -> date | None:
        return None if self.data.get(name) is None else self.day(name)

    def moment(self, name: str) -> datetime:
        value = self._get(name, True)
        if not isinstance(value, str) or "T" not in value:
            raise self._bad(name, "must be a datetime with its offset")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self._bad(name, "is not a valid datetime") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise self._bad(name, "has no UTC offset")
        return parsed

    def opt_moment(self, name: str) -> datetime | None:
        return None if self.data.get(name) is None else self.moment(name)

    def obj(self, name: str) -> Fields:
        return Fields(self._get(name, True), f".{name}", self)

    def opt_obj(self, name: str) -> Fields | None:
        value = self._get(name, False)
        return None if value is None else Fields(value, f".{name}", self)

    def items(self, name: str, required: bool = True) -> list[Fields]:
        value = self._get(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(name, "must be a list")
        return [Fields(v, f".{name}[{i}]", self) for i, v in enumerate(value)]

    def strings(self, name: str, required: bool = True) -> tuple[str, ...]:
        value = self._get(name, required)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self._bad(name, "must be a list of text")
        return tuple(v.strip() for v in value)

    def choice(self, name: str, table: Mapping[str, T]) -> T:
        key = self.text(name)
        try:
            return table[key]
        except KeyError:
            raise self._bad(name, "has a value this connector does not know") from None


def guarded(what: str, build: Callable[[], T]) -> T:
    """Run a mapping; a record the models refuse (ValueError, TypeError) becomes InvalidResponse."""
    try:
        return build()
    except InvalidResponse:
        raise
    except (ValueError, TypeError, KeyError, InvalidOperation) as exc:
        raise InvalidResponse(f"gnp: {what} cannot be mapped ({type(exc).__name__})") from exc


# --- clients -------------------------------------------------------------------------------------


def client_match(data: Any) -> ClientMatch:
    """A ``cliente`` object."""
    f = Fields(data, "cliente")
    kind = f.choice("tipo_persona", {"FISICA": PartyKind.PERSON, "MORAL": PartyKind.COMPANY})
    rfc, curp = f.opt_text("rfc"), f.opt_text("curp")
    tax_id = TaxId(TaxIdType.RFC, rfc) if rfc else (TaxId(TaxIdType.CURP, curp) if curp else None)
    return guarded(
        "cliente",
        lambda: ClientMatch(
            client_ref=f.text("id_cliente"),
            name=f.text("nombre"),
            kind=kind,
            tax_id=tax_id,
            email=f.opt_text("correo"),
        ),
    )


# --- pólizas ---------------------------------------------------------------------------------------


def _party(f: Fields) -> Party:
    kind = f.choice("tipo_persona", {"FISICA": PartyKind.PERSON, "MORAL": PartyKind.COMPANY})
    rfc = f.opt_text("rfc")
    return Party(name=f.text("nombre"), kind=kind, tax_id=TaxId(TaxIdType.RFC, rfc) if rfc else None)


def _deductible(f: Fields | None) -> Deductible | None:
    if f is None:
        return None
    kind = f.text("tipo")
    if kind == "PORCENTAJE":
        value = f.text("valor")
        if not _PERCENT.match(value):
            raise InvalidResponse(f"gnp: {f.where}.valor must be a percentage")
        return Deductible(DeductibleKind.PERCENTAGE, percentage=Decimal(value), basis=f.opt_text("base"))
    if kind == "MONTO":
        return Deductible(DeductibleKind.AMOUNT, amount=f.money("valor"), basis=f.opt_text("base"))
    if kind == "SIN_DEDUCIBLE":
        return Deductible(DeductibleKind.NONE)
    raise InvalidResponse(f"gnp: {f.where}.tipo has a value this connector does not know")


def _coverage(f: Fields) -> Coverage:
    return Coverage(
        code=f.text("clave"),
        name=f.text("nombre"),
        covered=f.boolean("amparada"),
        sum_insured=f.opt_money("suma_asegurada"),
        sum_insured_basis=f.opt_text("base_suma_asegurada"),
        deductible=_deductible(f.opt_obj("deducible")),
        notes=f.opt_text("notas"),
    )


def _receipt(f: Fields, today: date) -> Receipt:
    due = f.day("fecha_vencimiento")
    status = f.choice(
        "estatus",
        {"PAGADO": ReceiptStatus.PAID, "PENDIENTE": ReceiptStatus.PENDING, "CANCELADO": ReceiptStatus.CANCELLED},
    )
    if status is ReceiptStatus.PENDING and due < today:
        status = ReceiptStatus.OVERDUE  # past its due date: in the grace period (or beyond it)
    period = f.opt_obj("periodo")
    currency = f.opt_text("moneda") or CURRENCY
    if currency != CURRENCY:
        raise InvalidResponse(f"gnp: {f.where}.moneda is not MXN")
    return Receipt(
        number=f.text("numero_recibo"),
        due_date=due,
        amount=f.money("importe"),
        status=status,
        period_start=period.day("inicio") if period else None,
        period_end=period.day("fin") if period else None,
        grace_until=f.opt_day("fecha_limite_pago"),
        paid_at=f.opt_moment("fecha_pago") if status is ReceiptStatus.PAID else None,
        method=f.opt_text("forma_pago"),
    )


def _document(f: Fields) -> DocumentRef:
    kind_code = f.text("tipo")
    return DocumentRef(
        ref=f.text("id_documento"),
        kind=DOCUMENT_KINDS.get(kind_code, DocumentKind.OTHER),
        title=f.text("titulo"),
        media_type=f.opt_text("formato") or "application/pdf",
    )


def _person(f: Fields) -> InsuredPerson:
    return InsuredPerson(
        name=f.text("nombre"), relationship=f.opt_text("parentesco"), birth_date=f.opt_day("fecha_nacimiento")
    )


def _equipo(f: Fields) -> Device:
    return Device(
        kind=f.text("tipo_equipo"),
        brand=f.text("marca"),
        model=f.text("modelo"),
        serial=f.opt_text("numero_serie"),
        imei=f.opt_text("imei"),
    )


def _insured(f: Fields | None) -> InsuredObject | None:
    if f is None:
        return None
    kind = f.text("tipo")
    if kind == "VEHICULO":
        return Vehicle(
            make=f.text("marca"),
            model=f.text("submarca"),
            year=f.integer("modelo"),  # "modelo" is the model year in Mexican auto insurance
            version=f.opt_text("version"),
            vin=f.opt_text("numero_serie"),
            plate=f.opt_text("placas"),
            use=f.opt_text("uso"),
        )
    if kind == "DISPOSITIVOS":
        category = f.text("categoria")
        equipos = [_equipo(e) for e in f.items("equipos")]
        if category == "INDIVIDUAL":
            if len(equipos) != 1:
                raise InvalidResponse(f"gnp: {f.where} Individual must hold exactly one device")
            return equipos[0]
        if category == "MULTIDISPOSITIVO":
            return Devices(tuple(equipos))
        raise InvalidResponse(f"gnp: {f.where}.categoria has a value this connector does not know")
    if kind == "INMUEBLE":
        d = f.obj("domicilio")
        street = f"{d.text('calle')} {d.text('numero_exterior')}"
        interior = d.opt_text("numero_interior")
        address = ", ".join(p for p in (street + (f" {interior}" if interior else ""), d.opt_text("colonia")) if p)
        return Home(
            address=address,
            postal_code=d.opt_text("codigo_postal"),
            city=d.opt_text("municipio"),
            state=d.opt_text("estado"),
            construction=f.opt_text("tipo_construccion"),
            use=f.opt_text("uso"),
        )
    if kind == "PERSONAS":
        return InsuredPeople(tuple(_person(p) for p in f.items("asegurados")))
    raise InvalidResponse(f"gnp: {f.where}.tipo has a value this connector does not know")


def policy(data: Any, today: date) -> Policy:
    """A ``poliza`` object, with its coverages, receipts and documents."""
    f = Fields(data, "poliza")

    def build() -> Policy:
        currency = f.opt_text("moneda") or CURRENCY
        if currency != CURRENCY:
            raise InvalidResponse("gnp: poliza.moneda is not MXN")
        wording = f.text("estatus")
        status = POLICY_STATUSES.get(normalise(wording))
        if status is None:
            raise InvalidResponse("gnp: poliza.estatus has a value this connector does not know")
        receipts = tuple(_receipt(r, today) for r in f.items("recibos", required=False))
        if status is PolicyStatus.PENDING_PAYMENT:
            unpaid = [r for r in receipts if r.status in (ReceiptStatus.PENDING, ReceiptStatus.OVERDUE)]
            graces = [
                r.grace_until or r.due_date + timedelta(days=f.opt_integer("periodo_gracia_dias") or 30)
                for r in unpaid
                if r.due_date <= today
            ]
            if graces and min(graces) < today:
                status = (
                    PolicyStatus.CANCELLED
                )  # the grace period ran out: the contract's effects ceased (LSCS art. 40)
        term = f.obj("vigencia")
        return Policy(
            external_id=f.text("id_poliza"),
            number=f.text("numero_poliza"),
            line=LINES.get(f.text("ramo"), Line.OTHER),
            product=f.text("producto"),
            status=status,
            insurer_status=wording,
            term_start=term.day("inicio"),
            term_end=term.day("fin"),
            premium=f.money("prima_total"),
            payment_frequency=f.choice("forma_pago", FREQUENCIES),
            holder=_party(f.obj("contratante")),
            insured=_insured(f.opt_obj("bien_asegurado")),
            group=f.boolean("colectiva", default=False),
            coverages=tuple(_coverage(c) for c in f.items("coberturas")),
            receipts=receipts,
            documents=tuple(_document(d) for d in f.items("documentos", required=False)),
        )

    return guarded("poliza", build)


# --- siniestros ---------------------------------------------------------------------------------


def claim_status(wording: str) -> ClaimStatus:
    """GNP's wording → the normalised status; unknown wording is not guessed."""
    found = CLAIM_STATUSES.get(normalise(wording))
    if found is None:
        raise InvalidResponse("gnp: siniestro.estatus has a value this connector does not know")
    return found


def claim(data: Any) -> Claim:
    """A ``siniestro`` object with its history."""
    f = Fields(data, "siniestro")

    def build() -> Claim:
        wording = f.text("estatus")
        history = []
        for event in f.items("historial", required=False):
            step = event.text("estatus")
            history.append(
                ClaimEvent(
                    at=event.moment("fecha_hora"),
                    status=claim_status(step),
                    insurer_status=step,
                    note=event.opt_text("comentario"),
                )
            )
        history.sort(key=lambda e: e.at)
        status = claim_status(wording)
        requested = f.strings("documentos_pendientes", required=False)
        waiting = normalise(wording) in WAITING_ON_CLIENT or (bool(requested) and status in OPEN_CLAIM_STATUSES)
        return Claim(
            external_id=f.text("id_siniestro"),
            number=f.text("numero_siniestro"),
            policy_external_id=f.text("id_poliza"),
            occurred_at=f.moment("fecha_ocurrencia"),
            reported_at=f.moment("fecha_reporte"),
            status=status,
            insurer_status=wording,
            description=f.opt_text("descripcion"),
            coverage_code=f.opt_text("clave_cobertura"),
            claimed_amount=f.opt_money("monto_reclamado"),
            paid_amount=f.opt_money("monto_pagado"),
            history=tuple(history),
            documents=tuple(_document(d) for d in f.items("documentos", required=False)),
            waiting_on_client=waiting,
            requested_documents=requested if waiting else (),
        )

    return guarded("siniestro", build)


# --- requisitos ------------------------------------------------------------------------------------


def requirements(data: Any, line: Line, kind: str, phone: str | None) -> ClaimRequirements:
    """A ``requisitos`` answer."""
    f = Fields(data, "requisitos")

    def build() -> ClaimRequirements:
        deadlines = []
        for plazo in f.items("plazos", required=False):
            hours, days = plazo.opt_integer("horas"), plazo.opt_integer("dias")
            if (hours is None) == (days is None):
                raise InvalidResponse(f"gnp: {plazo.where} needs horas or dias")
            within = timedelta(hours=hours) if hours is not None else timedelta(days=days or 0)
            deadlines.append(Deadline(description=plazo.text("descripcion"), within=within))
        return ClaimRequirements(
            line=line,
            kind=kind,
            title=f.text("titulo"),
            documents=f.strings("documentos"),
            deadlines=tuple(deadlines),
            steps=f.strings("pasos", required=False),
            phone=f.opt_text("telefono") or phone,
        )

    return guarded("requisitos", build)
