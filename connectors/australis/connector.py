"""AustralisConnector: the Australis v2 API (see the package docstring) mapped onto connectors.models."""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

from connectors.australis.schema import Obj, invalid
from connectors.base import Capability, Connector, SandboxSpec, Setting, SupportPhone
from connectors.errors import AuthenticationFailed, InsurerUnavailable, InvalidResponse, ReauthRequired
from connectors.http import Budget, HttpPolicy, InsurerHttp, read_ahead
from connectors.models import (
    Claim,
    ClaimEvent,
    ClaimPage,
    ClaimReceipt,
    ClaimReport,
    ClaimRequirements,
    ClaimStatus,
    ClientMatch,
    Coverage,
    Deadline,
    Deductible,
    DeductibleKind,
    Device,
    Devices,
    Document,
    DocumentKind,
    DocumentRef,
    Home,
    InsuredObject,
    InsuredPeople,
    InsuredPerson,
    Line,
    Party,
    PartyKind,
    PaymentFrequency,
    PaymentLink,
    Policy,
    PolicyPage,
    PolicyStatus,
    Portfolio,
    PortfolioPart,
    Receipt,
    ReceiptStatus,
    TaxId,
    TaxIdType,
    Vehicle,
    collect,
)

log = logging.getLogger(__name__)

API_VERSION = "2026-03-01"
MAX_PAGES = 10_000  # a cursor chain longer than this is a loop, not a portfolio (1,000,000 policies at 100)

# --- the insurer's vocabularies → canonical ones -----------------------------------------------

LINES = {
    "motor": Line.AUTO,
    "home": Line.HOGAR,
    "life": Line.VIDA,
    "health": Line.GMM,
    "medical": Line.GMM,
    "gadgets": Line.DISPOSITIVOS,
}  # personal_accident, travel and any new line → Line.OTHER
POLICY_STATUS = {
    "active": PolicyStatus.IN_FORCE,
    "grace_period": PolicyStatus.PENDING_PAYMENT,
    "expired": PolicyStatus.EXPIRED,
    "cancelled": PolicyStatus.CANCELLED,
    "lapsed": PolicyStatus.CANCELLED,  # cancelled for non-payment
}
FREQUENCY = {
    "monthly": PaymentFrequency.MONTHLY,
    "quarterly": PaymentFrequency.QUARTERLY,
    "semiannual": PaymentFrequency.SEMIANNUAL,
    "annual": PaymentFrequency.ANNUAL,
    "single": PaymentFrequency.SINGLE,
}
PREMIUM_STATUS = {
    "PAID": ReceiptStatus.PAID,
    "DUE": ReceiptStatus.PENDING,
    "PAST_DUE": ReceiptStatus.OVERDUE,
    "VOID": ReceiptStatus.CANCELLED,
}
CLAIM_STATUS = {
    "FNOL_RECEIVED": ClaimStatus.OPEN,
    "ADJUSTER_ASSIGNED": ClaimStatus.UNDER_REVIEW,
    "AWAITING_DOCUMENTS": ClaimStatus.UNDER_REVIEW,
    "IN_ASSESSMENT": ClaimStatus.UNDER_REVIEW,
    "SETTLED": ClaimStatus.CLOSED_PAID,
    "DECLINED": ClaimStatus.CLOSED_UNPAID,
    "WITHDRAWN": ClaimStatus.CANCELLED,
    "REOPENED": ClaimStatus.REOPENED,
}
# Australis' status codes in the words its own customer portal uses (the portal never shows a code).
POLICY_STATUS_WORDS = {
    "active": "Vigente",
    "grace_period": "En período de gracia",
    "expired": "Vencida",
    "cancelled": "Anulada",
    "lapsed": "Anulada por falta de pago",
}
CLAIM_STATUS_WORDS = {
    "FNOL_RECEIVED": "Denuncia recibida",
    "ADJUSTER_ASSIGNED": "Liquidador asignado",
    "AWAITING_DOCUMENTS": "Esperando documentación del asegurado",
    "IN_ASSESSMENT": "En evaluación",
    "SETTLED": "Liquidado",
    "DECLINED": "Rechazado",
    "WITHDRAWN": "Desistido",
    "REOPENED": "Reabierto",
}
WAITING_ON_CUSTOMER = frozenset({"AWAITING_DOCUMENTS"})  # the claim waits for the customer
PARTY_KIND = {"individual": PartyKind.PERSON, "business": PartyKind.COMPANY}
DOCUMENT_KIND = {
    "policy_schedule": DocumentKind.POLICY,
    "terms_and_conditions": DocumentKind.CONDITIONS,
    "mandatory_liability_certificate": DocumentKind.RC_OBLIGATORIO,
    "premium_invoice": DocumentKind.RECEIPT,
    "claim_acknowledgement": DocumentKind.CLAIM,
    "settlement_letter": DocumentKind.CLAIM,
    "decline_letter": DocumentKind.CLAIM,
}
# Words the portal shows (Spanish first); an unknown code is shown as the insurer wrote it.
PAYMENT_METHOD = {
    "card": "tarjeta",
    "direct_debit": "débito automático",
    "bank_transfer": "transferencia",
    "spei": "transferencia SPEI",
    "oxxo": "efectivo en OXXO",
    "cash_network": "efectivo (Rapipago / Pago Fácil)",
    "mercado_pago": "Mercado Pago",
}
VEHICLE_USE = {"private": "particular", "commercial": "comercial"}
DEVICE_KIND = {
    "smartphone": "celular",
    "laptop": "laptop",
    "tablet": "tablet",
    "smartwatch": "smartwatch",
    "console": "consola",
}
CONSTRUCTION = {"masonry": "mampostería", "concrete": "concreto", "mixed": "mixta"}
OCCUPANCY = {
    "house": "casa",
    "apartment": "departamento",
    "country_house": "casa de fin de semana",
    "business": "comercio u oficina",
}
RELATIONSHIP = {
    "self": "titular",
    "spouse": "cónyuge",
    "child": "hijo(a)",
    "parent": "padre o madre",
    "employee": "empleado(a)",
}
# The portal's event kinds (Spanish, as other connectors use them) → Australis event codes.
EVENT = {
    "colision": "collision",
    "choque": "collision",
    "accidente_vial": "collision",
    "danos_materiales": "collision",
    "robo_total": "theft_total",
    "robo_parcial": "theft_partial",
    "robo": "theft",
    "robo_con_violencia": "theft",
    "robo_sin_violencia": "theft",
    "hurto": "theft",
    "cristales": "glass",
    "granizo": "hail",
    "incendio": "fire",
    "danos_por_agua": "water_damage",
    "agua": "water_damage",
    "dano_accidental": "accidental_damage",
    "danos_del_equipo": "accidental_damage",
    "rotura_del_equipo": "accidental_damage",
    "variacion_de_voltaje": "accidental_damage",
    "rotura_de_pantalla": "screen",
    "fallecimiento": "death",
    "muerte": "death",
    "hospitalizacion": "hospitalization",
    "cirugia": "hospitalization",
    "gastos_medicos": "hospitalization",
    "accidente": "accident",
    "accidente_personal": "accident",
    "emergencia_medica": "medical_emergency",
    "equipaje": "baggage",
    "otro": "other",
}


def _kind_key(kind: str) -> str:
    """'Robo con violencia' → 'robo_con_violencia'."""
    plain = unicodedata.normalize("NFKD", kind).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def event_for(kind: str) -> str:
    """The Australis event code for a portal event kind (or a coverage code, passed through)."""
    key = _kind_key(kind)
    return EVENT.get(key, key if key in EVENT.values() else kind.strip())


class AustralisConnector(Connector):
    """Australis Seguros (fictional): API key, cursor pages, cents, RFC 3339, signed document links."""

    slug = "australis"
    display_name = "Australis Seguros (ficticia)"
    countries = ("AR", "MX")
    currencies = ("ARS", "MXN")
    tax_id_types = (TaxIdType.CUIT, TaxIdType.CUIL, TaxIdType.DNI, TaxIdType.RFC)
    capabilities = frozenset(Capability)
    settings = (
        Setting("base_url", "Base URL of the Australis API (the sandbox: http://127.0.0.1:8102)"),
        Setting("api_key", "Partner API key, sent in the X-Api-Key header", secret=True),
        Setting("page_limit", "Items asked for per page (1 to 500; the API caps it)", required=False, default="100"),
    )
    phones = (
        SupportPhone(
            "Auxilio mecánico y grúa (línea ficticia)", "0800 555 0143", (Line.AUTO,), ("AR",), assistance=True
        ),
        SupportPhone("Asistencia vial (línea ficticia)", "800 555 0143", (Line.AUTO,), ("MX",), assistance=True),
        SupportPhone("Siniestros Argentina (línea ficticia)", "0800 555 0142", countries=("AR",), assistance=True),
        SupportPhone("Siniestros México (línea ficticia)", "800 555 0142", countries=("MX",), assistance=True),
    )
    support_phones = {p.label: p.number for p in phones}  # the older, flat form
    fictional = True

    def __init__(self, settings: Mapping[str, str], policy: HttpPolicy | None = None) -> None:
        super().__init__(settings, policy)
        try:
            self.page_limit = int(self.config["page_limit"])
        except ValueError:
            raise AuthenticationFailed("australis: page_limit must be a whole number") from None
        if not 1 <= self.page_limit <= 500:
            raise AuthenticationFailed("australis: page_limit must be between 1 and 500")
        if not self.config["base_url"].startswith(("https://", "http://")):
            raise AuthenticationFailed("australis: base_url must be an http(s) URL")
        # The key travels per request, never as a session default: signed file URLs must not see it.
        self.http = InsurerHttp(
            self.slug,
            self.config["base_url"],
            self.policy,
            headers={"Accept": "application/json", "Australis-Version": API_VERSION},
        )
        self._key = {"X-Api-Key": self.config["api_key"]}

    # --- HTTP helpers ------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.http.get_json(path, params=params, headers=self._key)

    def _post(
        self, path: str, body: Any, *, expect: tuple[int, ...] = (200, 201), key: str | None = None
    ) -> requests.Response:
        """A POST that is safe to retry: reads (match, search) or carries an Idempotency-Key."""
        headers = dict(self._key)
        if key:
            headers["Idempotency-Key"] = key
        return self.http.request("POST", path, json=body, headers=headers, idempotent=True, expect=expect)

    def _listing(self, path: str, what: str, budget: Budget | None = None) -> Iterator[list[Obj]]:
        """The items of a cursor-paginated list, a page at a time, each page under its own deadline (cut to
        ``budget``) and validated as it comes (count, full pages, total, cursors and ids never repeated);
        any bad page fails the lot, so a consumer keeps nothing of a listing that raised."""
        cursors: set[str] = set()
        ids: set[str] = set()
        total: int | None = None
        cursor: str | None = None
        received = 0
        for number in range(1, MAX_PAGES + 1):
            params: dict[str, Any] = {"limit": self.page_limit}
            if cursor:
                params["cursor"] = cursor
            with self.http.operation(f"{what} page {number}", within=budget):
                page = Obj(self._get(path, params), f"{what} page {number}")
            raw = page.array("items")
            count = page.whole("count", minimum=0)
            limit = page.whole("limit", minimum=1)
            page_total = page.whole("total_count", minimum=0)
            if "next_cursor" not in page.data:
                raise invalid(page.where, "has no next_cursor (null on the last page)")
            nxt = page.opt_text("next_cursor")
            if count != len(raw):
                raise invalid(page.where, f"holds {len(raw)} items but says {count}")
            if total is not None and page_total != total:
                raise invalid(page.where, "changed total_count between pages")
            total = page_total
            if len(raw) > limit or (nxt is not None and len(raw) != limit):
                raise invalid(page.where, "is not a full page but has a next_cursor")
            items = [Obj(item, f"{what}[{received + i}]") for i, item in enumerate(raw)]
            for item in items:
                item_id = item.text("id")
                if item_id in ids:
                    raise invalid(what, "repeats an id")
                ids.add(item_id)
            received += len(items)
            if nxt is None:
                if received != total:
                    raise invalid(what, f"holds {received} items of {total} announced")
                yield items
                return
            if nxt in cursors:
                raise invalid(page.where, "repeats a cursor")
            cursors.add(nxt)
            cursor = nxt
            yield items
        raise invalid(what, f"spans more than {MAX_PAGES} pages")

    def _pages(self, path: str, what: str, budget: Budget | None = None) -> list[Obj]:
        """Every item of a cursor-paginated list."""
        return [item for items in self._listing(path, what, budget) for item in items]

    # --- the DESIGN §4 methods -----------------------------------------------------------------

    def check(self) -> None:
        """GET /v2/health with the key: 401 → AuthenticationFailed, not "ok" → InsurerUnavailable."""
        with self.http.operation("check"):
            health = Obj(self._get("/v2/health"), "health")
            status = health.text("status")
            if status != "ok":
                raise InsurerUnavailable(f"australis: health is {status!r}")

    def verify_client(self, tax_id: TaxId, policy_number: str) -> ClientMatch | None:
        """POST /v2/customers:match; a 404 (the same for every failure) is None."""
        number = policy_number.strip().upper() if isinstance(policy_number, str) else ""
        if tax_id.type not in self.tax_id_types or not number:
            return None
        body = {"tax_id_type": tax_id.type.value, "tax_id": tax_id.number, "policy_number": number}
        with self.http.operation("verify"):
            response = self._post("/v2/customers:match", body, expect=(200, 404))
            if response.status_code == 404:
                return None
            return self._client(Obj(self.http.json_of(response), "customer"))

    def clients_for_email(self, email: str) -> list[ClientMatch]:
        """POST /v2/customers:search (the address stays out of URLs and access logs)."""
        address = email.strip().lower()
        if "@" not in address:
            return []
        with self.http.operation("email lookup"):
            found = Obj(
                self.http.json_of(self._post("/v2/customers:search", {"email": address}, expect=(200,))),
                "customer search",
            )
            items = found.objs("items")
            if found.whole("count", minimum=0) != len(items):
                raise invalid(found.where, "count does not match its items")
            return [self._client(item) for item in items]

    def fetch(self, client_ref: str) -> Portfolio:
        """Customer, every page of policies, each policy's premiums and every page of claims; or an error."""
        try:
            return collect(self.fetch_parts(client_ref), client_ref)
        except ValueError as exc:  # the stream broke its rules (a claim on an unknown policy...)
            raise InvalidResponse(f"australis: inconsistent portfolio ({exc})") from exc

    def fetch_parts(self, client_ref: str) -> Iterator[PortfolioPart]:
        """The customer, then each page of claims and each page of policies (with each policy's premiums) as it
        arrives, the next page asked for while one is mapped; each call has the policy's deadline, the whole
        fetch its ``fetch_deadline``."""
        ref = quote(client_ref, safe="")
        budget = self.http.budget("fetch")
        with self.http.operation("fetch customer", within=budget):
            response = self.http.request("GET", f"/v2/customers/{ref}", headers=self._key, expect=(200, 404))
            if response.status_code == 404:
                raise ReauthRequired("australis no longer knows this client: link the profile again")
            client = self._client(Obj(self.http.json_of(response), "customer"))
        if client.client_ref != client_ref:
            raise invalid("customer", "is not the customer asked for")
        yield client

        def pages() -> Iterator[tuple[list[Obj], list[list[Obj]] | None]]:
            # Claims first: a consumer then knows each policy's open claims when its page comes.
            for items in self._listing(f"/v2/customers/{ref}/claims", "claims", budget):
                yield items, None
            for items in self._listing(f"/v2/customers/{ref}/policies", "policies", budget):
                premiums = [
                    self._pages(f"/v2/policies/{quote(p.text('id'), safe='')}/premiums", "premiums", budget)
                    for p in items
                ]
                yield items, premiums

        for items, premiums in read_ahead(pages(), depth=2, name="australis fetch"):
            part: PolicyPage | ClaimPage
            try:
                if premiums is not None:
                    part = PolicyPage(
                        tuple(self._policy(p, r, client_ref) for p, r in zip(items, premiums, strict=True))
                    )
                else:
                    part = ClaimPage(tuple(self._claim(c) for c in items))
            except ValueError as exc:  # a record refused what the insurer sent
                raise InvalidResponse(f"australis: inconsistent portfolio ({exc})") from exc
            yield part

    def document(self, ref: DocumentRef) -> Document:
        """GET /v2/documents/{id}/link, then the signed URL; an expired or refused link is asked for once more."""
        path = f"/v2/documents/{quote(ref.ref, safe='')}/link"
        with self.http.operation("document"):
            for attempt in (1, 2):
                link = Obj(self._get(path), "document link")
                url = link.text("url")
                link.stamp("expires_at")
                if not url.startswith(("https://", "http://")):
                    raise invalid("document link.url", "is not an http(s) URL")
                response = self.http.request("GET", url, expect=(200, 403))  # the signature is the credential
                if response.status_code == 200:
                    return self._document(ref, response)
                log.info("australis: signed link refused (attempt %d)", attempt)
            raise InvalidResponse("australis: the signed document link was refused twice")

    def claim_requirements(self, policy: Policy, kind: str) -> ClaimRequirements:
        """GET /v2/policies/{id}/claim-requirements?event=…; unknown events get the insurer's generic list."""
        path = f"/v2/policies/{quote(policy.external_id, safe='')}/claim-requirements"
        with self.http.operation("claim requirements"):
            req = Obj(self._get(path, {"event": event_for(kind)}), "claim requirements")
        deadlines = []
        for d in req.objs("deadlines", required=False):
            deadlines.append(Deadline(d.text("description"), timedelta(hours=d.whole("within_hours", minimum=1))))
        try:
            return ClaimRequirements(
                line=policy.line,
                kind=kind,
                title=req.text("title"),
                documents=req.texts("documents"),
                deadlines=tuple(deadlines),
                steps=req.texts("steps"),
                phone=req.opt_text("phone"),
            )
        except ValueError as exc:
            raise InvalidResponse(f"australis: claim requirements ({exc})") from exc

    def report_claim(self, report: ClaimReport) -> ClaimReceipt:
        """POST /v2/claims with an Idempotency-Key (so a retry never files the claim twice)."""
        body: dict[str, Any] = {
            "policy_id": report.policy_external_id,
            "event": event_for(report.kind),
            "occurred_at": report.occurred_at.isoformat(timespec="seconds"),
            "description": report.description,
            "contact_phone": report.contact_phone,
            "metadata": dict(report.extra),
        }
        if report.location:
            body["location"] = report.location
        with self.http.operation("report claim"):
            response = self._post("/v2/claims", body, expect=(200, 201, 422), key=str(uuid.uuid4()))
            data = Obj(self.http.json_of(response), "claim")
        if response.status_code == 422:
            code = data.opt_obj("error")
            raise InvalidResponse(f"australis refused the claim report: {code.opt_text('code') if code else '?'}")
        status, word = data.enum("status", CLAIM_STATUS)
        return ClaimReceipt(data.text("claim_number"), status, CLAIM_STATUS_WORDS[word], data.stamp("reported_at"))

    def payment_link(self, receipt: Receipt) -> PaymentLink:
        """POST /v2/payment-links for a DUE or PAST_DUE premium (409 for any other)."""
        with self.http.operation("payment link"):
            response = self._post(
                "/v2/payment-links",
                {"premium_number": receipt.number},
                expect=(200, 201, 409),
                key=f"pay-{receipt.number}-{datetime.now(UTC):%Y%m%d%H}",
            )
            data = Obj(self.http.json_of(response), "payment link")
        if response.status_code == 409:
            raise InvalidResponse("australis: this receipt cannot be paid (already paid or void)")
        try:
            return PaymentLink(url=data.text("url"), expires_at=data.opt_stamp("expires_at"))
        except ValueError as exc:
            raise InvalidResponse(f"australis: payment link ({exc})") from exc

    # --- mapping ---------------------------------------------------------------------------------

    @staticmethod
    def _tax_id(raw: Obj | None) -> TaxId | None:
        if raw is None:
            return None
        kind = raw.text("type")
        if kind not in TaxIdType.__members__:
            return None  # a kind of ID the portal does not use (passport...): left out
        return TaxId(TaxIdType(kind), raw.text("value"))

    def _client(self, c: Obj) -> ClientMatch:
        kind, _ = c.enum("type", PARTY_KIND)
        ids = [t for t in (self._tax_id(t) for t in c.objs("tax_ids", required=False)) if t is not None]
        order = (TaxIdType.CUIT, TaxIdType.CUIL, TaxIdType.RFC, TaxIdType.DNI)  # the most telling one first
        ids.sort(key=lambda t: order.index(t.type) if t.type in order else len(order))
        try:
            return ClientMatch(
                client_ref=c.text("id"),
                name=c.text("display_name"),
                kind=kind,
                tax_id=ids[0] if ids else None,
                email=c.opt_text("email"),
            )
        except ValueError as exc:
            raise InvalidResponse(f"australis: customer ({exc})") from exc

    def _policy(self, p: Obj, premiums: list[Obj], client_ref: str) -> Policy:
        policy_id = p.text("id")
        if p.text("customer_id") != client_ref:
            raise invalid(p.where, "belongs to another customer")
        status, code = p.enum("status", POLICY_STATUS)
        wording = POLICY_STATUS_WORDS[code]
        billing = p.obj("billing")
        frequency, _ = billing.enum("frequency", FREQUENCY)
        premium = billing.money("total_premium")
        if premium.currency not in self.currencies:
            raise invalid(billing.where, "is in a currency Australis does not sell in")
        holder = p.obj("policyholder")
        holder_kind, _ = holder.enum("type", PARTY_KIND)
        receipts = []
        for r in premiums:
            if r.text("policy_id") != policy_id:
                raise invalid(r.where, "belongs to another policy")
            receipt = self._receipt(r)
            if receipt.amount.currency != premium.currency:
                raise invalid(r.where, "is in another currency than its policy")
            receipts.append(receipt)
        receipts.sort(key=lambda r: (r.due_date, r.number))
        return Policy(
            external_id=policy_id,
            number=p.text("policy_number"),
            line=LINES.get(p.text("line"), Line.OTHER),
            product=p.obj("product").text("name"),
            status=status,
            insurer_status=wording,
            term_start=p.local_date("effective_at"),
            term_end=p.local_date("expires_at"),
            premium=premium,
            payment_frequency=frequency,
            holder=Party(holder.text("name"), holder_kind, self._tax_id(holder.opt_obj("tax_id"))),
            insured=self._insured(p.opt_obj("insured")),
            group=p.flag("group_policy", default=False),
            coverages=tuple(self._coverage(c) for c in p.objs("coverages", required=False)),
            receipts=tuple(receipts),
            documents=self._documents(p),
        )

    @staticmethod
    def _vehicle(v: Obj) -> Vehicle:
        usage = v.opt_text("usage")
        return Vehicle(
            make=v.text("make"),
            model=v.text("model"),
            year=v.whole("year"),
            version=v.opt_text("trim"),
            vin=v.opt_text("vin"),
            plate=v.opt_text("plate"),
            use=VEHICLE_USE.get(usage, usage) if usage else None,
        )

    @staticmethod
    def _device(d: Obj) -> Device:
        kind = d.text("device_type")
        return Device(
            kind=DEVICE_KIND.get(kind, kind),
            brand=d.text("brand"),
            model=d.text("model"),
            serial=d.opt_text("serial_number"),
            imei=d.opt_text("imei"),
        )

    def _insured(self, raw: Obj | None) -> InsuredObject | None:
        if raw is None:
            return None
        kind = raw.text("kind")
        if kind == "vehicle":
            return self._vehicle(raw)
        if kind == "device":
            return self._device(raw)
        if kind == "devices":
            return Devices(tuple(self._device(d) for d in raw.objs("items")))
        if kind == "property":
            address = raw.obj("address")
            construction, occupancy = raw.opt_text("construction"), raw.opt_text("occupancy")
            return Home(
                address=address.text("line1"),
                postal_code=address.opt_text("postal_code"),
                city=address.opt_text("city"),
                state=address.opt_text("region"),
                construction=CONSTRUCTION.get(construction, construction) if construction else None,
                use=OCCUPANCY.get(occupancy, occupancy) if occupancy else None,
            )
        if kind == "persons":
            people = []
            for person in raw.objs("persons"):
                relationship = person.opt_text("relationship")
                people.append(
                    InsuredPerson(
                        person.text("full_name"),
                        RELATIONSHIP.get(relationship, relationship) if relationship else None,
                        person.opt_date("date_of_birth"),
                    )
                )
            return InsuredPeople(tuple(people))
        log.info("australis: insured object of kind %r left out", kind)
        return None  # a kind this connector does not know yet (pets...): the policy is still shown

    @staticmethod
    def _coverage(c: Obj) -> Coverage:
        deductible = None
        raw = c.opt_obj("deductible")
        if raw is not None:
            kind = raw.text("type")
            basis = raw.opt_text("basis")
            if kind == "percentage":
                points = raw.whole("basis_points", minimum=0)
                if points > 10_000:
                    raise invalid(raw.where, "is above 100 %")
                deductible = Deductible(DeductibleKind.PERCENTAGE, percentage=Decimal(points).scaleb(-2), basis=basis)
            elif kind == "fixed":
                deductible = Deductible(DeductibleKind.AMOUNT, amount=raw.money("amount"), basis=basis)
            elif kind == "none":
                deductible = Deductible(DeductibleKind.NONE)
            else:
                raise invalid(raw.where, "has an unknown type")
        return Coverage(
            code=c.text("code"),
            name=c.text("name"),
            covered=c.flag("included"),
            sum_insured=c.opt_money("limit"),
            sum_insured_basis=c.opt_text("limit_basis"),
            deductible=deductible,
            notes=c.opt_text("notes"),
        )

    @staticmethod
    def _receipt(r: Obj) -> Receipt:
        status, _ = r.enum("status", PREMIUM_STATUS)
        period = r.opt_obj("coverage_period")
        method = r.opt_text("payment_method")
        return Receipt(
            number=r.text("number"),
            due_date=r.local_date("due_at"),
            amount=r.money("amount"),
            status=status,
            period_start=period.opt_date("start") if period else None,
            period_end=period.opt_date("end") if period else None,
            grace_until=r.opt_local_date("grace_ends_at"),
            paid_at=r.opt_stamp("paid_at"),
            method=PAYMENT_METHOD.get(method, method) if method else None,
        )

    @staticmethod
    def _documents(owner: Obj) -> tuple[DocumentRef, ...]:
        return tuple(
            DocumentRef(
                ref=d.text("id"),
                kind=DOCUMENT_KIND.get(d.text("type"), DocumentKind.OTHER),
                title=d.text("title"),
                media_type=d.opt_text("content_type") or "application/pdf",
            )
            for d in owner.objs("documents", required=False)
        )

    def _claim(self, c: Obj) -> Claim:
        status, code = c.enum("status", CLAIM_STATUS)
        steps = []
        for e in c.objs("status_history", required=False):
            event_status, event_code = e.enum("status", CLAIM_STATUS)
            steps.append((e.stamp("at"), event_status, event_code, e.opt_text("note")))
        steps.sort(key=lambda step: step[0])
        if steps and steps[-1][2] != code:
            raise invalid(c.where, "has a status that its history does not end with")
        history = [ClaimEvent(at, st, CLAIM_STATUS_WORDS[word], note) for at, st, word, note in steps]
        waiting = code in WAITING_ON_CUSTOMER
        requested = c.texts("requested_documents")
        return Claim(
            external_id=c.text("id"),
            number=c.text("claim_number"),
            policy_external_id=c.text("policy_id"),
            occurred_at=c.stamp("occurred_at"),
            reported_at=c.stamp("reported_at"),
            status=status,
            insurer_status=CLAIM_STATUS_WORDS[code],
            description=c.opt_text("description"),
            coverage_code=c.opt_text("coverage_code"),
            claimed_amount=c.opt_money("claimed"),
            paid_amount=c.opt_money("settled"),
            history=tuple(history),
            documents=self._documents(c),
            waiting_on_client=waiting,
            requested_documents=tuple(d.strip() for d in requested) if waiting else (),
        )

    @staticmethod
    def _document(ref: DocumentRef, response: requests.Response) -> Document:
        media_type = response.headers.get("Content-Type", ref.media_type).split(";")[0].strip() or ref.media_type
        content = response.content
        if media_type == "application/pdf" and not content.startswith(b"%PDF-"):
            raise InvalidResponse("australis: the document is not a PDF")
        if not content:
            raise InvalidResponse("australis: the document is empty")
        found = re.search(r'filename="?([^";]+)"?', response.headers.get("Content-Disposition", ""))
        filename = found.group(1) if found else ""
        filename = re.sub(r"[^\w.\-]+", "-", filename.rsplit("/", 1)[-1]).strip(".-") or f"{ref.ref}.pdf"
        return Document(content=content, media_type=media_type, filename=filename)

    # --- sandbox --------------------------------------------------------------------------------

    @classmethod
    def sandbox(cls) -> SandboxSpec:
        """The Australis sandbox: make_app, its fixed API key, known answers."""
        from connectors.australis import sandbox

        found, extra = sandbox.samples()
        return SandboxSpec(
            make_app=sandbox.make_app,
            settings_for=lambda url: {"base_url": url, "api_key": sandbox.SANDBOX_API_KEY},
            bad_settings_for=lambda url: {"base_url": url, "api_key": sandbox.REVOKED_API_KEY},
            samples=found,
            extra=extra,
        )
