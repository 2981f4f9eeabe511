"""The Australis sandbox: a plain werkzeug WSGI app speaking the v2 API, wrapped in the fault injector.

``make_app()`` builds it; ``aggregator sandbox australis --port 8102`` serves it alone. Besides the
shared faults (``/__sandbox/faults``) the app honours ``short_page`` (a list page loses its last
item while ``count``, ``total_count`` and ``next_cursor`` still describe a full page) and
``expired_token`` (the API key is answered as expired: 401). ``POST /__sandbox/links
{"expire_next": n}`` makes the next n signed document links expired on issue.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import json
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.australis import catalog
from connectors.australis.data import CURRENCY, JSON, ZONES, Store, build, money, opaque_id, stamp
from connectors.base import SandboxSamples
from connectors.models import TaxId, TaxIdType
from connectors.sandbox.faults import FaultInjector, Faults
from connectors.sandbox.pdf import simple_pdf
from connectors.sandbox.people import population

SANDBOX_API_KEY = "aus_test_sk_7Qm2Lr9VxK4pN8sT"  # the sandbox's fixed partner key (not a secret)
REVOKED_API_KEY = "aus_test_sk_revoked_0000000000"
API_VERSION = "2026-03-01"
DEFAULT_LIMIT = 25
LINKS_CONTROL = "/__sandbox/links"
TAX_ID_TYPES = ("DNI", "CUIL", "CUIT", "RFC")


def _error(status: int, code: str, message: str, request: Request | None = None) -> Response:
    body = {"error": {"code": code, "message": message}}
    if request is not None and request.headers.get("X-Request-Id"):
        body["error"]["request_id"] = request.headers["X-Request-Id"]
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'ApiKey header="X-Api-Key"'
    return response


def _ok(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")


def _normalise_tax_id(value: str) -> str:
    return re.sub(r"[\s.\-/]", "", value).upper()


def _units(cents: int) -> str:
    """12345678 → '123.456,78' (the way both countries write amounts on paper)."""
    whole, frac = divmod(cents, 100)
    return f"{whole:,}".replace(",", ".") + f",{frac:02d}"


class AustralisSandbox:
    """The v2 API over a :class:`Store`."""

    def __init__(self, store: Store, page_limit: int = 100, link_ttl: int = 60) -> None:
        self.store = store
        self.page_limit = max(1, page_limit)
        self.link_ttl = link_ttl
        self.secret = hashlib.sha256(f"australis-sandbox-links:{store.seed}".encode()).digest()
        self.expire_next = 0
        self._lock = threading.Lock()
        self._premium_by_id = {p["id"]: p for p in store.premium_by_number.values()}
        self.url_map = Map(
            [
                Rule("/", endpoint="index", methods=["GET"]),
                Rule("/v2/health", endpoint="health", methods=["GET"]),
                Rule("/v2/customers:match", endpoint="match", methods=["POST"]),
                Rule("/v2/customers:search", endpoint="search", methods=["POST"]),
                Rule("/v2/customers/<cid>", endpoint="customer", methods=["GET"]),
                Rule("/v2/customers/<cid>/policies", endpoint="policies", methods=["GET"]),
                Rule("/v2/customers/<cid>/claims", endpoint="claims", methods=["GET"]),
                Rule("/v2/policies/<pid>/premiums", endpoint="premiums", methods=["GET"]),
                Rule("/v2/policies/<pid>/claim-requirements", endpoint="requirements", methods=["GET"]),
                Rule("/v2/documents/<did>/link", endpoint="link", methods=["GET"]),
                Rule("/v2/claims", endpoint="report", methods=["POST"]),
                Rule("/v2/payment-links", endpoint="payment_link", methods=["POST"]),
                Rule("/files/<did>", endpoint="file", methods=["GET"]),
                Rule("/pay/<token>", endpoint="pay", methods=["GET"]),
                Rule(LINKS_CONTROL, endpoint="links_control", methods=["GET", "POST", "DELETE"]),
            ],
            strict_slashes=False,
        )

    # --- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request, environ.get("sandbox.faults"))
        if request.headers.get("X-Request-Id"):
            response.headers["X-Request-Id"] = request.headers["X-Request-Id"]
        response.headers["Australis-Version"] = API_VERSION
        return response(environ, start_response)

    def dispatch(self, request: Request, faults: Faults | None) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return _error(404, "not_found", "No such resource", request)
        except HTTPException as exc:
            return _error(exc.code or 400, "invalid_request", exc.description or "Bad request", request)
        if request.path.startswith("/v2/"):
            denied = self._authenticate(request, faults)
            if denied is not None:
                return denied
        handler: Callable[..., Response] = getattr(self, f"on_{endpoint}")
        return handler(request, faults, **args)

    def _authenticate(self, request: Request, faults: Faults | None) -> Response | None:
        key = request.headers.get("X-Api-Key")
        if not key:
            return _error(401, "missing_api_key", "Send your API key in the X-Api-Key header", request)
        if faults is not None and faults.expired_token:
            return _error(401, "api_key_expired", "This API key has expired or was revoked", request)
        if not hmac.compare_digest(key.encode(), SANDBOX_API_KEY.encode()):
            return _error(401, "invalid_api_key", "Unknown API key", request)
        return None

    # --- pagination ----------------------------------------------------------------------------

    def _cursor(self, resource: str, offset: int) -> str:
        raw = f"{resource}|{offset}"
        sig = hmac.new(self.secret, raw.encode(), hashlib.sha256).hexdigest()[:12]
        return base64.urlsafe_b64encode(f"{raw}|{sig}".encode()).decode().rstrip("=")

    def _offset(self, resource: str, cursor: str) -> int | None:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            name, offset, sig = raw.rsplit("|", 2)
        except (ValueError, UnicodeDecodeError):
            return None
        expected = hmac.new(self.secret, f"{name}|{offset}".encode(), hashlib.sha256).hexdigest()[:12]
        if name != resource or not hmac.compare_digest(sig, expected) or not offset.isdigit():
            return None
        return int(offset)

    def _page(
        self,
        request: Request,
        faults: Faults | None,
        resource: str,
        items: list[JSON],
        total: int | None = None,
        more: Callable[[int, int], list[JSON]] | None = None,
    ) -> Response:
        """One page of ``items``; with ``total`` and ``more``, the list goes on past ``items`` (``more(start,
        stop)`` gives the items at those positions after them: a large customer's generated policies)."""
        try:
            limit = int(request.args.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return _error(400, "invalid_limit", "limit must be a whole number", request)
        if limit < 1:
            return _error(400, "invalid_limit", "limit must be at least 1", request)
        limit = min(limit, self.page_limit)
        offset = 0
        cursor = request.args.get("cursor")
        if cursor:
            found = self._offset(resource, cursor)
            if found is None:
                return _error(400, "invalid_cursor", "Unknown or tampered cursor", request)
            offset = found
        size = len(items) if total is None else total
        chunk = items[offset : offset + limit]
        if more is not None and offset + limit > len(items):
            chunk += more(max(0, offset - len(items)), offset + limit - len(items))
        following = offset + len(chunk)
        body: JSON = {
            "items": chunk,
            "count": len(chunk),
            "total_count": size,
            "limit": limit,
            "next_cursor": self._cursor(resource, following) if following < size else None,
        }
        if faults is not None and faults.short_page and chunk:
            body["items"] = chunk[:-1]  # everything else still describes the full page
        return _ok(body)

    # --- endpoints ---------------------------------------------------------------------------

    def on_index(self, request: Request, faults: Faults | None) -> Response:
        return _ok(
            {
                "name": "Australis Seguros (ficticia): sandbox API v2",
                "fictional": True,
                "auth": "X-Api-Key header",
                "sandbox_api_key": SANDBOX_API_KEY,
                "customers": len(self.store.customers),
                "policies": len(self.store.policies),
                "docs": "See the connectors.australis package docstring",
            }
        )

    def on_health(self, request: Request, faults: Faults | None) -> Response:
        return _ok(
            {
                "status": "ok",
                "environment": "sandbox",
                "api_version": API_VERSION,
                "server_time": stamp(datetime.now(UTC).replace(microsecond=0)),
            }
        )

    def _body(self, request: Request) -> JSON | None:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else None

    def on_match(self, request: Request, faults: Faults | None) -> Response:
        body = self._body(request)
        fields = ("tax_id_type", "tax_id", "policy_number")
        if body is None or not all(isinstance(body.get(f), str) for f in fields):
            return _error(400, "invalid_request", "tax_id_type, tax_id and policy_number are required", request)
        customer = None
        if body["tax_id_type"] in TAX_ID_TYPES:
            customer = self.store.match(
                body["tax_id_type"], _normalise_tax_id(body["tax_id"]), body["policy_number"].strip().upper()
            )
        if customer is None:  # one answer for every failure: unknown ID, wrong number, inactive policy
            return _error(404, "no_match", "No customer matches these details", request)
        return _ok(self.store.customers[customer])

    def on_search(self, request: Request, faults: Faults | None) -> Response:
        body = self._body(request)
        if body is None or not isinstance(body.get("email"), str):
            return _error(400, "invalid_request", "email is required", request)
        found = [self.store.customers[c] for c in self.store.by_email.get(body["email"].strip().lower(), [])][:20]
        return _ok({"items": found, "count": len(found)})

    def _customer(self, cid: str) -> JSON | None:
        return self.store.customers.get(cid)

    def on_customer(self, request: Request, faults: Faults | None, cid: str) -> Response:
        customer = self._customer(cid)
        return _ok(customer) if customer else _error(404, "not_found", "No such customer", request)

    def on_policies(self, request: Request, faults: Faults | None, cid: str) -> Response:
        if cid not in self.store.customers:
            return _error(404, "not_found", "No such customer", request)
        items = [self.store.policies[p] for p in self.store.customer_policies[cid]]
        extras = self.store.extras
        if extras is None or not extras.count(cid):
            return self._page(request, faults, f"policies:{cid}", items)
        more = functools.partial(extras.policies, cid)  # a large customer's generated policies, page by page
        return self._page(request, faults, f"policies:{cid}", items, len(items) + extras.count(cid), more)

    def on_claims(self, request: Request, faults: Faults | None, cid: str) -> Response:
        if cid not in self.store.customers:
            return _error(404, "not_found", "No such customer", request)
        with self.store.lock:
            items = list(self.store.claims[cid])
        extras = self.store.extras
        if extras is None or not extras.claims_count(cid):
            return self._page(request, faults, f"claims:{cid}", items)
        more = functools.partial(extras.claims, cid)
        return self._page(request, faults, f"claims:{cid}", items, len(items) + extras.claims_count(cid), more)

    def on_premiums(self, request: Request, faults: Faults | None, pid: str) -> Response:
        if self.store.policy(pid) is None:
            return _error(404, "not_found", "No such policy", request)
        return self._page(request, faults, f"premiums:{pid}", self.store.premiums_of(pid))

    def on_requirements(self, request: Request, faults: Faults | None, pid: str) -> Response:
        policy = self.store.policy(pid)
        if policy is None:
            return _error(404, "not_found", "No such policy", request)
        country = self.store.clients[self.store.owner(pid)].country
        line = policy["line"]
        asked = (request.args.get("event") or "other").strip()
        event = asked
        if (country, line, event) not in catalog.REQUIREMENTS:
            product = catalog.PRODUCT_BY_CODE[policy["product"]["code"]]
            event = next((c.event for c in product.coverages if c.code == asked), asked)
        title, documents, deadlines, steps = catalog.REQUIREMENTS.get(
            (country, line, event), catalog.GENERIC_REQUIREMENT[country]
        )
        if (country, line, event) not in catalog.REQUIREMENTS:
            event = "other"
        return _ok(
            {
                "policy_id": pid,
                "line": line,
                "event": event,
                "title": title,
                "documents": list(documents),
                "deadlines": [{"description": d, "within_hours": h} for d, h in deadlines],
                "steps": list(steps),
                "phone": catalog.PHONES[country],
            }
        )

    # --- documents behind signed links -----------------------------------------------------------

    def _signature(self, did: str, expires: int) -> str:
        return hmac.new(self.secret, f"{did}:{expires}".encode(), hashlib.sha256).hexdigest()

    def on_link(self, request: Request, faults: Faults | None, did: str) -> Response:
        if self.store.document(did) is None:
            return _error(404, "not_found", "No such document", request)
        now = int(time.time())
        with self._lock:
            expired = self.expire_next > 0
            if expired:
                self.expire_next -= 1
        expires = now - 1 if expired else now + self.link_ttl
        url = f"{request.host_url}files/{quote(did)}?expires={expires}&signature={self._signature(did, expires)}"
        return _ok({"url": url, "expires_at": stamp(datetime.fromtimestamp(expires, UTC))})

    def on_file(self, request: Request, faults: Faults | None, did: str) -> Response:
        expires, signature = request.args.get("expires", ""), request.args.get("signature", "")
        meta = self.store.document(did)
        if meta is None or not expires.isdigit():
            return _error(403, "signature_invalid", "Invalid signature", request)
        if not hmac.compare_digest(signature, self._signature(did, int(expires))):
            return _error(403, "signature_invalid", "Invalid signature", request)
        if int(expires) < time.time():
            return _error(403, "signature_expired", "This link has expired: ask for a new one", request)
        response = Response(self._pdf(meta), mimetype="application/pdf")
        policy = self.store.policy(meta["policy_id"]) or {}
        slug = re.sub(r"[^A-Za-z0-9]+", "-", policy.get("policy_number", did)).strip("-")
        response.headers["Content-Disposition"] = f'attachment; filename="{slug}-{meta["type"]}.pdf"'
        response.headers["Cache-Control"] = "private, no-store"
        return response

    def _pdf(self, meta: JSON) -> bytes:
        policy = self.store.policy(meta["policy_id"])
        assert policy is not None, "a document's policy is known"
        customer = self.store.clients[self.store.owner(policy["id"])]
        total = policy["billing"]["total_premium"]
        lines = [
            "Australis Seguros S.A. (compañía ficticia). Documento de prueba sin validez.",
            f"Póliza: {policy['policy_number']}  ·  Producto: {policy['product']['name']}",
            f"Tomador: {policy['policyholder']['name']}  ·  Cliente: {customer.name}",
            f"Vigencia: desde las 12 h del {policy['effective_at'][:10]} "
            f"hasta las 12 h del {policy['expires_at'][:10]}",
            f"Prima total: {total['currency']} {_units(total['amount_cents'])} ({policy['billing']['frequency']})",
            "",
        ]
        if meta["claim_id"]:
            built = self.store.extras.by_policy_id(policy["id"]) if self.store.extras else None
            claims = [*self.store.claims[customer.id], *(built.claims if built else ())]
            claim = next(c for c in claims if c["id"] == meta["claim_id"])
            lines += [
                f"Siniestro: {claim['claim_number']}",
                f"Ocurrido: {claim['occurred_at']}",
                f"Estado: {claim['status']}",
            ]
            settled = claim.get("settled")
            if settled:
                lines.append(f"Importe liquidado: {settled['currency']} {_units(settled['amount_cents'])}")
        elif meta["type"] == "terms_and_conditions":
            law = (
                "Ley 17.418 de Seguros: el asegurado debe denunciar el siniestro dentro de los 3 días de conocido "
                "(art. 46)."
                if customer.country == "AR"
                else "El asegurado debe dar aviso del siniestro dentro de los 5 días de conocido."
            )
            lines += ["CONDICIONES GENERALES", law, "Cláusulas de ejemplo para el entorno de pruebas."]
        else:
            lines.append("COBERTURAS")
            for c in policy["coverages"]:
                limit = c.get("limit")
                shown = f"{limit['currency']} {_units(limit['amount_cents'])}" if limit else "Según condiciones"
                lines.append(f"{c['code']}  {c['name']}: {'Amparada' if c['included'] else 'No amparada'} · {shown}")
        return simple_pdf(meta["title"], lines, subtitle="Australis Seguros (ficticia)")

    # --- actions -----------------------------------------------------------------------------

    def _replay(self, request: Request) -> Response | None:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return None
        with self.store.lock:
            seen = self.store.idempotent.get(f"{request.path}|{key}")
        return _ok(seen[1], seen[0]) if seen else None

    def _remember(self, request: Request, status: int, body: JSON) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key:
            with self.store.lock:
                self.store.idempotent[f"{request.path}|{key}"] = (status, body)
        return _ok(body, status)

    def on_report(self, request: Request, faults: Faults | None) -> Response:
        replay = self._replay(request)
        if replay is not None:
            return replay
        body = self._body(request)
        required = ("policy_id", "event", "occurred_at", "description", "contact_phone")
        if body is None or not all(isinstance(body.get(f), str) and body[f].strip() for f in required):
            return _error(422, "invalid_request", f"{', '.join(required)} are required", request)
        policy = self.store.policy(body["policy_id"])
        if policy is None:
            return _error(422, "unknown_policy", "No such policy", request)
        if not self.store.active(policy):
            return _error(422, "policy_not_in_force", "The policy is not in force", request)
        try:
            occurred = datetime.fromisoformat(body["occurred_at"])
        except ValueError:
            occurred = None
        if occurred is None or occurred.tzinfo is None or occurred > datetime.now(UTC):
            return _error(422, "invalid_occurred_at", "occurred_at: an RFC 3339 time in the past", request)
        client = self.store.clients[self.store.owner(policy["id"])]
        now = datetime.now(UTC).replace(microsecond=0)
        with self.store.lock:
            self.store.claim_counter += 1
            number = f"SIN-{client.country}-{now.year}-{self.store.claim_counter:06d}"
            claim_id = opaque_id("clm", self.store.seed, "reported", self.store.claim_counter)
            doc_id = opaque_id("doc", self.store.seed, claim_id, "ack")
            title = f"Constancia de denuncia {number}"
            self.store.documents[doc_id] = {
                "type": "claim_acknowledgement",
                "title": title,
                "policy_id": policy["id"],
                "claim_id": claim_id,
            }
            product = catalog.PRODUCT_BY_CODE[policy["product"]["code"]]
            coverage = next((c for c in product.coverages if c.code == body["event"]), None)
            claim: JSON = {
                "id": claim_id,
                "claim_number": number,
                "policy_id": policy["id"],
                "event": coverage.event if coverage else body["event"],
                "occurred_at": stamp(occurred),
                "reported_at": stamp(now.astimezone(ZONES[client.zone])),
                "status": "FNOL_RECEIVED",
                "status_history": [{"status": "FNOL_RECEIVED", "at": stamp(now), "note": "Denuncia recibida en línea"}],
                "description": body["description"],
                "documents": [
                    {
                        "id": doc_id,
                        "type": "claim_acknowledgement",
                        "title": f"Constancia de denuncia {number}",
                        "content_type": "application/pdf",
                    }
                ],
            }
            if coverage is not None:
                claim["coverage_code"] = coverage.code
            if isinstance(body.get("location"), str):
                claim["location"] = body["location"]
            self.store.claims[client.id].append(claim)
        return self._remember(request, 201, claim)

    def on_payment_link(self, request: Request, faults: Faults | None) -> Response:
        replay = self._replay(request)
        if replay is not None:
            return replay
        body = self._body(request)
        if body is None or not isinstance(body.get("premium_number"), str):
            return _error(422, "invalid_request", "premium_number is required", request)
        premium = self.store.premium_by_number.get(body["premium_number"].strip())
        if premium is None:
            return _error(404, "not_found", "No such premium", request)
        if premium["status"] not in ("DUE", "PAST_DUE"):
            return _error(409, "premium_not_payable", f"This premium is {premium['status']}", request)
        client = self.store.clients[self.store.policy_owner[premium["policy_id"]]]
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=24)
        token = f"{premium['id']}.{int(expires.timestamp())}"
        token += "." + hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()[:16]
        return self._remember(
            request,
            201,
            {
                "url": f"{request.host_url}pay/{token}",
                "expires_at": stamp(expires.astimezone(ZONES[client.zone])),
                "premium_number": premium["number"],
                "amount": premium["amount"],
            },
        )

    def on_pay(self, request: Request, faults: Faults | None, token: str) -> Response:
        parts = token.split(".")
        valid = len(parts) == 3 and hmac.compare_digest(
            parts[2], hmac.new(self.secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).hexdigest()[:16]
        )
        premium = self._premium_by_id.get(parts[0])
        if not valid or premium is None or not parts[1].isdigit() or int(parts[1]) < time.time():
            return Response(
                "<!doctype html><title>Link vencido</title><p>Este link de pago no es válido.</p>",
                status=404,
                mimetype="text/html",
            )
        amount = premium["amount"]
        page = (
            "<!doctype html><html lang='es'><meta charset='utf-8'><title>Pagar cuota · Australis (ficticia)</title>"
            f"<h1>Pagar la cuota {html.escape(premium['number'])}</h1>"
            f"<p>Importe: {html.escape(amount['currency'])} {_units(amount['amount_cents'])}</p>"
            "<p>Entorno de pruebas de Australis Seguros (compañía ficticia): no se cobra nada.</p></html>"
        )
        return Response(page, mimetype="text/html")

    def on_links_control(self, request: Request, faults: Faults | None) -> Response:
        with self._lock:
            if request.method == "DELETE":
                self.expire_next = 0
            elif request.method == "POST":
                body = self._body(request) or {}
                value = body.get("expire_next", 0)
                if not isinstance(value, int) or value < 0:
                    return _error(400, "invalid_request", "expire_next: a whole number", request)
                self.expire_next = value
            return _ok({"expire_next": self.expire_next, "link_ttl": self.link_ttl})


def make_app(
    seed: int = 2026,
    clients: int | None = None,
    page_limit: int = 100,
    link_ttl: int = 60,
    *,
    page_size: int | None = None,
    faults: Faults | Mapping[str, Any] | None = None,
    today: date | None = None,
    policies_per_client: int | None = None,
    large_clients: Collection[str] | None = None,
) -> FaultInjector:
    """The sandbox as a WSGI app. ``page_size`` is an alias of ``page_limit`` (the largest page served).

    ``policies_per_client=N``: every customer — or those of ``large_clients``, given by any of their tax
    ID numbers — holds N policies, the generated ones built page by page, never all in memory.
    """
    store = build(seed, clients, today, policies_per_client, large_clients)
    app = AustralisSandbox(store, page_limit=page_size or page_limit, link_ttl=link_ttl)
    defaults = faults if isinstance(faults, Faults) or faults is None else Faults.from_mapping(dict(faults))
    injector = FaultInjector(app, defaults=defaults)
    injector.sandbox = app  # type: ignore[attr-defined]  # in-process access for tests and the demo
    return injector


PAGED_PAGE_SIZE = 3


@lru_cache(maxsize=4)
def samples(seed: int = 2026) -> tuple[SandboxSamples, dict[str, Any]]:
    """Known answers of the sandbox for ``seed`` (and extras: client refs, policy numbers)."""
    store = build(seed=seed)
    pop = population(seed)

    def numbers(key: str, statuses: tuple[str, ...]) -> list[str]:
        cid = store.by_key[key]
        return [
            store.policies[p]["policy_number"]
            for p in store.customer_policies[cid]
            if store.policies[p]["status"] in statuses
        ]

    fleet, julieta, tomas = pop.argentine_companies[1], pop.argentines[0], pop.argentines[3]
    assert fleet.cuit and julieta.cuil and julieta.dni and tomas.dni and pop.argentines[25].cuil
    fleet_ref = store.by_key[fleet.key]
    extra = {
        "api_key": SANDBOX_API_KEY,
        "port": 8102,
        "valid_client_ref": store.by_key[julieta.key],
        "valid_by_dni": (TaxId(TaxIdType.DNI, julieta.dni), numbers(julieta.key, ("active",))[0]),
        "paged_client_ref": fleet_ref,
        "cancelled": (TaxId(TaxIdType.DNI, tomas.dni), numbers(tomas.key, ("cancelled",))[0]),
        "links_control": LINKS_CONTROL,
        "currencies": sorted(set(CURRENCY.values())),
    }
    found = SandboxSamples(
        valid=(TaxId(TaxIdType.CUIL, julieta.cuil), numbers(julieta.key, ("active",))[0]),  # her auto policy
        inactive=(TaxId(TaxIdType.DNI, tomas.dni), numbers(tomas.key, ("expired",))[0]),
        unknown=TaxId(TaxIdType.CUIL, pop.argentines[25].cuil),  # well formed, never an Australis client
        email_with_clients=julieta.email,  # Julieta and the accounting firm she runs
        paged_client=TaxId(TaxIdType.CUIT, fleet.cuit),  # a fleet: 17 policies, 6 pages at page_size 3
        page_size=PAGED_PAGE_SIZE,
        paged_policy=numbers(fleet.key, ("active",))[0],
        paged_path=f"/v2/customers/{fleet_ref}/policies",
    )
    return found, extra


__all__ = ["API_VERSION", "REVOKED_API_KEY", "SANDBOX_API_KEY", "AustralisSandbox", "make_app", "money", "samples"]
