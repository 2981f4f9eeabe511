"""Aseguradora Ejemplo: the smallest real connector and its sandbox (README, "Writing a connector").

A fictional insurer: API key in a header, page-number pagination, MXN, clients by RFC. It passes
the whole conformance kit (``tests/connectors/test_conformance.py``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.base import Capability, Connector, SandboxSamples, SandboxSpec, Setting
from connectors.errors import InvalidResponse
from connectors.http import HttpPolicy, InsurerHttp
from connectors.models import (
    Claim,
    ClaimStatus,
    ClientMatch,
    Coverage,
    Document,
    DocumentKind,
    DocumentRef,
    Line,
    Money,
    Party,
    PartyKind,
    PaymentFrequency,
    PaymentLink,
    Policy,
    PolicyStatus,
    Portfolio,
    Receipt,
    ReceiptStatus,
    TaxId,
    TaxIdType,
)
from connectors.sandbox import FaultInjector, Faults
from connectors.sandbox.pdf import simple_pdf
from connectors.sandbox.people import population

POLICY_STATUS = {"vigente": PolicyStatus.IN_FORCE, "cancelada": PolicyStatus.CANCELLED}
RECEIPT_STATUS = {"pagado": ReceiptStatus.PAID, "pendiente": ReceiptStatus.PENDING}
CLAIM_STATUS = {"en revisión": ClaimStatus.UNDER_REVIEW, "pagado": ClaimStatus.CLOSED_PAID}
FREQUENCY = {"anual": PaymentFrequency.ANNUAL, "mensual": PaymentFrequency.MONTHLY}


@contextlib.contextmanager
def mapping() -> Iterator[None]:
    """Anything unexpected in a body (missing key, wrong type, bad value) is the insurer's fault."""
    try:
        yield
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidResponse(f"ejemplo: unexpected data ({type(exc).__name__})") from exc


class EjemploConnector(Connector):
    """Aseguradora Ejemplo (fictional)."""

    slug = "ejemplo"
    display_name = "Aseguradora Ejemplo"
    countries = ("MX",)
    currencies = ("MXN",)
    tax_id_types = (TaxIdType.RFC,)
    capabilities = frozenset({Capability.VERIFY, Capability.EMAIL_LOOKUP, Capability.DOCUMENTS,
                              Capability.PAYMENT_LINK})  # fmt: skip
    settings = (Setting("base_url", "API root"), Setting("api_key", "Partner API key", secret=True))
    fictional = True

    def __init__(self, settings: Mapping[str, str], policy: HttpPolicy | None = None) -> None:
        super().__init__(settings, policy)
        self.http = InsurerHttp(self.slug, self.config["base_url"], self.policy,
                                headers={"X-Api-Key": self.config["api_key"]})  # fmt: skip

    def check(self) -> None:
        self.http.get_json("/api/ping")

    def verify_client(self, tax_id: TaxId, policy_number: str) -> ClientMatch | None:
        # POST keeps the tax ID out of URLs and access logs; the lookup is safe to retry.
        body = {"rfc": tax_id.number, "policy": policy_number}
        response = self.http.request("POST", "/api/verify", json=body, idempotent=True, expect=(200, 404))
        return None if response.status_code == 404 else self._client(self.http.json_of(response))

    def clients_for_email(self, email: str) -> list[ClientMatch]:
        body = self.http.get_json("/api/clients", params={"email": email})
        with mapping():
            return [self._client(c) for c in body["items"]]

    def fetch(self, client_ref: str) -> Portfolio:
        with self.http.operation("fetch"):  # one deadline for every page
            client = self._client(self.http.get_json(f"/api/clients/{client_ref}"))
            policies: list[Policy] = []
            page, pages = 1, 1
            while page <= pages:
                body = self.http.get_json(f"/api/clients/{client_ref}/policies", params={"page": page})
                with mapping():
                    pages, size, total = int(body["pages"]), int(body["size"]), int(body["total"])
                    if body["page"] != page or len(body["items"]) != min(size, total - (page - 1) * size):
                        raise InvalidResponse(f"ejemplo: page {page} of {pages} is short or out of place")
                    policies += [self._policy(p) for p in body["items"]]
                page += 1
            claims = self.http.get_json(f"/api/clients/{client_ref}/claims")
        with mapping():
            return Portfolio(client, tuple(policies), tuple(map(self._claim, claims["items"])), datetime.now(UTC))

    def document(self, ref: DocumentRef) -> Document:
        response = self.http.request("GET", f"/api/documents/{ref.ref}")
        with mapping():
            return Document(response.content, response.headers.get("Content-Type", ref.media_type), f"{ref.ref}.pdf")

    def payment_link(self, receipt: Receipt) -> PaymentLink:
        body = self.http.json_of(self.http.request("POST", f"/api/receipts/{receipt.number}/payment-link"))
        with mapping():
            return PaymentLink(body["url"], datetime.fromisoformat(body["expires_at"]))

    # --- mapping: the insurer's JSON → canonical records ------------------------------------------

    @staticmethod
    def _client(c: dict[str, Any]) -> ClientMatch:
        with mapping():
            return ClientMatch(c["ref"], c["name"], PartyKind(c["kind"]), TaxId(TaxIdType.RFC, c["rfc"]), c["email"])

    @staticmethod
    def _policy(p: dict[str, Any]) -> Policy:
        mxn, holder = "MXN", p["holder"]
        return Policy(
            external_id=p["id"], number=p["number"], line=Line(p["line"]), product=p["product"],
            status=POLICY_STATUS[p["status"]], insurer_status=p["status"],
            term_start=date.fromisoformat(p["from"]), term_end=date.fromisoformat(p["to"]),
            premium=Money.of(p["premium"], mxn), payment_frequency=FREQUENCY[p["frequency"]],
            holder=Party(holder["name"], PartyKind(holder["kind"]), TaxId(TaxIdType.RFC, holder["rfc"])),
            coverages=tuple(Coverage(c["code"], c["name"], sum_insured=Money.of(c["sum"], mxn))
                            for c in p["coverages"]),
            receipts=tuple(
                Receipt(r["number"], date.fromisoformat(r["due"]), Money.of(r["amount"], mxn),
                        RECEIPT_STATUS[r["status"]], paid_at=r["paid_at"] and datetime.fromisoformat(r["paid_at"]))
                for r in p["receipts"]
            ),
            documents=(DocumentRef(p["document"], DocumentKind.POLICY, f"Póliza {p['number']}"),),
        )  # fmt: skip

    @staticmethod
    def _claim(c: dict[str, Any]) -> Claim:
        return Claim(c["id"], c["number"], c["policy_id"], datetime.fromisoformat(c["occurred_at"]),
                     datetime.fromisoformat(c["reported_at"]), CLAIM_STATUS[c["status"]], c["status"],
                     paid_amount=Money.of(c["paid"], "MXN") if c["paid"] else None)  # fmt: skip

    @classmethod
    def sandbox(cls) -> SandboxSpec:
        people = population()
        return SandboxSpec(
            make_app=make_app,
            settings_for=lambda url: {"base_url": url, "api_key": API_KEY},
            bad_settings_for=lambda url: {"base_url": url, "api_key": "not-the-key"},
            samples=SandboxSamples(
                valid=(TaxId(TaxIdType.RFC, str(people.mexicans[0].rfc)), "EJ-1001"),
                inactive=(TaxId(TaxIdType.RFC, str(people.mexicans[0].rfc)), "EJ-1002"),
                unknown=TaxId(TaxIdType.RFC, str(people.mexicans[59].rfc)),
                email_with_clients=people.mexicans[0].email,
                paged_client=TaxId(TaxIdType.RFC, str(people.mexican_companies[0].rfc)),
                paged_policy="EJ-2001",
                page_size=2,
            ),
        )


# --- the sandbox: a tiny WSGI app speaking this insurer's API ------------------------------------

API_KEY = "ejemplo-sandbox-key-4242"
TZ = "-06:00"


def _data() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    pop = population()
    ana, company = pop.mexicans[0], pop.mexican_companies[0]
    clients = {
        "C-001": {"ref": "C-001", "name": ana.name, "kind": "person", "rfc": ana.rfc, "email": ana.email},
        "C-002": {"ref": "C-002", "name": company.name, "kind": "company", "rfc": company.rfc, "email": company.email},
    }

    def policy(ref: str, number: str, line: str, status: str, pending: bool = False) -> dict[str, Any]:
        c = clients[ref]
        return {"client": ref, "id": f"P{number}", "number": number, "line": line, "product": f"Ejemplo {line}",
                "status": status, "from": "2026-03-01", "to": "2027-03-01", "premium": "12000.00",
                "frequency": "mensual", "holder": {k: c[k] for k in ("name", "kind", "rfc")},
                "document": f"DOC-{number}", "coverages": [
                    {"code": "DM", "name": "Daños materiales", "sum": "350000.00"},
                    {"code": "RC", "name": "Responsabilidad civil", "sum": "3000000.00"}],
                "receipts": [{"number": f"R-{number}-01", "due": "2026-03-01", "amount": "1000.00", "status": "pagado",
                              "paid_at": f"2026-03-01T10:00:00{TZ}"}] + ([{"number": f"R-{number}-02",
                              "due": "2026-04-01", "amount": "1000.00", "status": "pendiente", "paid_at": None}]
                              if pending else [])}  # fmt: skip

    policies = [policy("C-001", "EJ-1001", "auto", "vigente", pending=True),
                policy("C-001", "EJ-1002", "hogar", "cancelada")]  # fmt: skip
    policies += [policy("C-002", f"EJ-20{i:02d}", "dispositivos", "vigente") for i in range(1, 11)]
    claims = [{"client": "C-001", "id": "S-1", "number": "SIN-0001", "policy_id": "PEJ-1001", "status": "pagado",
               "occurred_at": f"2026-05-02T18:30:00{TZ}", "reported_at": f"2026-05-03T09:00:00{TZ}",
               "paid": "8500.00"}]  # fmt: skip
    return clients, policies, claims


def make_app(page_size: int = 20, faults: Faults | None = None) -> FaultInjector:
    """The sandbox WSGI app (options: ``page_size``, ``faults``), behind the shared fault injector."""
    clients, policies, claims = _data()
    urls = Map([Rule("/api/ping", endpoint="ping"), Rule("/api/verify", endpoint="verify", methods=["POST"]),
                Rule("/api/clients", endpoint="by_email"), Rule("/api/clients/<ref>", endpoint="client"),
                Rule("/api/clients/<ref>/policies", endpoint="policies"),
                Rule("/api/clients/<ref>/claims", endpoint="claims"), Rule("/api/documents/<doc>", endpoint="document"),
                Rule("/api/receipts/<number>/payment-link", endpoint="pay", methods=["POST"])])  # fmt: skip

    def json_response(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status, mimetype="application/json")

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        if request.headers.get("X-Api-Key") != API_KEY:
            return json_response({"error": "invalid API key"}, 401)
        try:
            endpoint, args = urls.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            return exc  # type: ignore[return-value]
        if endpoint == "ping":
            return json_response({"ok": True})
        if endpoint == "verify":
            body = request.get_json(force=True)
            found = [p for p in policies if p["number"] == body.get("policy") and p["status"] == "vigente"
                     and clients[p["client"]]["rfc"] == body.get("rfc")]  # fmt: skip
            return json_response(clients[found[0]["client"]]) if found else json_response({"client": None}, 404)
        if endpoint == "by_email":
            return json_response({"items": [c for c in clients.values() if c["email"] == request.args.get("email")]})
        if endpoint == "document":
            return Response(simple_pdf(f"Aseguradora Ejemplo — {args['doc']}", ["Documento de prueba."]),
                            mimetype="application/pdf")  # fmt: skip
        if endpoint == "pay":
            expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            return json_response({"url": f"https://pagos.ejemplo.example/{args['number']}", "expires_at": expires})
        if args["ref"] not in clients:
            raise NotFound()
        if endpoint == "client":
            return json_response(clients[args["ref"]])
        if endpoint == "claims":
            return json_response({"items": [c for c in claims if c["client"] == args["ref"]]})
        mine = [p for p in policies if p["client"] == args["ref"]]
        page = int(request.args.get("page", 1))
        items = mine[(page - 1) * page_size : page * page_size]
        fault = request.environ.get("sandbox.faults")
        if fault is not None and fault.short_page and items:
            items = items[:-1]
        pages = max(1, -(-len(mine) // page_size))
        return json_response({"page": page, "pages": pages, "size": page_size, "total": len(mine), "items": items})

    return FaultInjector(app, defaults=faults, api_prefix="/api")
