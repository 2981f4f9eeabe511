"""GnpConnector: GNP's partner API (OAuth2 client credentials, page-number pagination) → canonical records."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from connectors.base import Capability, Connector, SandboxSpec, Setting, SupportPhone
from connectors.errors import AuthenticationFailed, InsurerUnavailable, InvalidResponse, ReauthRequired
from connectors.gnp import mapping
from connectors.gnp.mapping import Fields
from connectors.http import Budget, HttpPolicy, InsurerHttp, read_ahead
from connectors.models import (
    ClaimPage,
    ClaimReceipt,
    ClaimReport,
    ClaimRequirements,
    ClientMatch,
    Document,
    DocumentRef,
    Line,
    PaymentLink,
    Policy,
    PolicyPage,
    Portfolio,
    PortfolioPart,
    Receipt,
    TaxId,
    TaxIdType,
    collect,
)

MX_TZ = timezone(timedelta(hours=-6))  # GNP's datetimes are in Mexico City time
GNP_LINE = "55 5227 9000"  # Línea GNP, seeds 002 and 004
MAX_PAGES = 10_000  # a runaway pager is an insurer bug, not a portfolio (1,000,000 policies at 100 a page)
MAX_PAGE_SIZE = 100  # GNP's largest por_pagina: asked for by default, so a big account takes the fewest calls
_FILENAME = re.compile(r'filename="?([^";]+)"?')


class GnpConnector(Connector):
    """GNP Seguros (Grupo Nacional Provincial, S.A.B.), through its partner API."""

    slug: ClassVar[str] = "gnp"
    display_name: ClassVar[str] = "GNP Seguros"
    countries: ClassVar[tuple[str, ...]] = ("MX",)
    currencies: ClassVar[tuple[str, ...]] = ("MXN",)
    tax_id_types: ClassVar[tuple[TaxIdType, ...]] = (TaxIdType.RFC, TaxIdType.CURP)
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("base_url", "GNP partner API root, without /api/v1 (e.g. https://api.gnp.example)"),
        Setting("client_id", "OAuth2 client_id issued by GNP to the portal"),
        Setting("client_secret", "OAuth2 client_secret issued by GNP to the portal", secret=True),
        Setting("page_size", "por_pagina to ask for (1-100)", required=False, default=str(MAX_PAGE_SIZE)),
    )
    # Published in GNP's general conditions (seeds 002 and 004); the sandbox does not call them.
    phones: ClassVar[tuple[SupportPhone, ...]] = (
        SupportPhone("Línea GNP (siniestros y atención a clientes)", GNP_LINE, countries=("MX",), assistance=True),
        SupportPhone(
            "Verificación de dispositivos (Mis Dispositivos GNP)",
            "55 5985 4280",
            lines=(Line.DISPOSITIVOS,),
            countries=("MX",),
        ),
        SupportPhone("CONDUSEF (quejas y aclaraciones)", "55 5340 0999", countries=("MX",)),
    )
    support_phones: ClassVar[dict[str, str]] = {p.label: p.number for p in phones}  # the older, flat form

    def __init__(self, settings: Mapping[str, str], policy: HttpPolicy | None = None) -> None:
        super().__init__(settings, policy)
        base = self.config["base_url"].rstrip("/")
        if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
            raise AuthenticationFailed("gnp: base_url must be an http(s) URL")
        size = self.config.get("page_size", "").strip() or str(MAX_PAGE_SIZE)
        if not (size.isdigit() and 1 <= int(size) <= MAX_PAGE_SIZE):
            raise AuthenticationFailed(f"gnp: page_size must be a number from 1 to {MAX_PAGE_SIZE}")
        self.page_size = int(size)
        self.token_url = f"{base}/oauth/token"
        self.session = OAuth2Session(
            client_id=self.config["client_id"],
            client_secret=self.config["client_secret"],
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name, not a secret
            token_endpoint=self.token_url,
            grant_type="client_credentials",
            leeway=0,  # our own check refreshes earlier; authlib's is the backstop
            default_timeout=(self.policy.connect_timeout, self.policy.read_timeout),
        )
        self.http = InsurerHttp(
            self.slug,
            f"{base}/api/v1",
            self.policy,
            session=self.session,
            headers={"Accept": "application/json", "Accept-Language": "es-MX"},
        )
        self._token_lock = threading.Lock()
        self.clock: Callable[[], datetime] = lambda: datetime.now(MX_TZ)

    def close(self) -> None:
        """Release the pooled connections."""
        self.http.close()

    # --- token --------------------------------------------------------------------------------

    def _current_token(self) -> str | None:
        token = self.session.token
        return str(token["access_token"]) if token and token.get("access_token") else None

    def _ensure_token(self, stale: str | None = None) -> str:
        """A valid access token: the cached one, or a new one when missing, near expiry or ``stale``."""
        with self._token_lock:
            token = self.session.token
            if token and token.get("access_token") and token["access_token"] != stale:
                leeway = min(30, int(token.get("expires_in") or 0) // 10)
                if not token.is_expired(leeway=leeway):
                    return str(token["access_token"])
            response = self.http.request(
                "POST",
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=self.session.client_auth("client_secret_post"),
                headers={"Accept": "application/json"},
                idempotent=True,  # asking for a token twice is harmless
            )
            f = Fields(self.http.json_of(response), "token")
            access = f.text("access_token")
            if (f.opt_text("token_type") or "Bearer").lower() != "bearer":
                raise InvalidResponse("gnp: token.token_type is not Bearer")
            expires_in = f.opt_integer("expires_in") or 300
            if expires_in <= 0:
                raise InvalidResponse("gnp: token.expires_in must be positive")
            self.session.token = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in}
            return access

    def _api(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        expect: tuple[int, ...] = (200,),
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One API call with the bearer token; an expired token (401 invalid_token) is renewed once."""
        token = self._ensure_token()
        for attempt in (1, 2):
            try:
                response = self.http.request(
                    method,
                    path,
                    params=params,
                    json=json_body,
                    headers=headers,
                    expect=(*expect, 401),
                    idempotent=idempotent,
                )
            except OAuthError as exc:  # authlib's own refresh (the backstop) failed
                raise AuthenticationFailed("gnp: the token could not be renewed") from exc
            if response.status_code != 401 or 401 in expect:
                return response
            if attempt == 1 and _oauth_error(response) == "invalid_token":
                token = self._ensure_token(stale=token)
                continue
            raise AuthenticationFailed(f"gnp: HTTP 401 ({_oauth_error(response) or 'unauthorized'})")
        raise AssertionError("unreachable")

    def _get(self, path: str, params: Mapping[str, Any] | None = None, expect: tuple[int, ...] = (200,)) -> Any:
        response = self._api("GET", path, params=params, expect=expect)
        return None if response.status_code != 200 else self.http.json_of(response)

    def _page_bodies(
        self, path: str, what: str, params: Mapping[str, Any] | None = None, budget: Budget | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(page number, body) of every page of a paged list, each page under its own deadline (cut to ``budget``).

        Only the first page is parsed here (it says how many pages there are); the others are left as
        bytes, so that a consumer reading ahead parses and checks page n while page n+1 is on the wire.
        """
        query = {**(params or {}), "por_pagina": self.page_size}
        with self.http.operation(f"{what} page 1", within=budget):
            first = self._get(path, {**query, "pagina": 1})
        yield 1, first
        pages = first.get("total_paginas") if isinstance(first, dict) else None
        if not isinstance(pages, int) or isinstance(pages, bool):
            return  # the check of page 1 says what is wrong with it
        if pages > MAX_PAGES:
            raise InvalidResponse(f"gnp: {what} has too many pages")
        for page in range(2, pages + 1):
            with self.http.operation(f"{what} page {page}", within=budget):
                response = self._api("GET", path, params={**query, "pagina": page})
            yield page, response.content

    def _listing(
        self, path: str, what: str, params: Mapping[str, Any] | None = None, budget: Budget | None = None
    ) -> Iterator[list[Any]]:
        """The items of a paged list, one page at a time (see ``_page_bodies`` and ``ListingCheck``)."""
        check = ListingCheck(what)
        for page, body in self._page_bodies(path, what, params, budget):
            yield check.page(page, body)
        check.finish()

    def _pages(self, path: str, what: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every item of a paged list (small lists: the email lookup)."""
        return [item for datos in self._listing(path, what, params) for item in datos]

    # --- the DESIGN §4 methods --------------------------------------------------------------

    def check(self) -> None:
        """Get a token and GNP's health endpoint."""
        with self.http.operation("check"):
            f = Fields(self._get("estado"), "estado")
            if f.text("estado") != "operando":
                raise InsurerUnavailable("gnp: the API reports it is not operating")

    def verify_client(self, tax_id: TaxId, policy_number: str) -> ClientMatch | None:
        """POST /clientes/verificacion: the client, or None (unknown, wrong number, inactive: alike)."""
        if tax_id.type not in self.tax_id_types or not policy_number.strip():
            return None
        body = {tax_id.type.value.lower(): tax_id.number, "numero_poliza": policy_number.strip()}
        with self.http.operation("verify"):
            # A POST keeps the tax ID out of URLs and logs; it reads only, so it may be retried.
            response = self._api("POST", "clientes/verificacion", json_body=body, expect=(200, 404), idempotent=True)
            if response.status_code == 404:
                return None
            return mapping.client_match(Fields(self.http.json_of(response), "verificacion").data.get("cliente"))

    def clients_for_email(self, email: str) -> list[ClientMatch]:
        """GET /clientes?correo=: every client GNP holds under this email."""
        with self.http.operation("email_lookup"):
            found = self._pages("clientes", "clientes", {"correo": email.strip().lower()})
        return [mapping.client_match(item) for item in found]

    def fetch(self, client_ref: str) -> Portfolio:
        """The client, every póliza (all pages) and every siniestro (all pages), or an error."""
        return mapping.guarded("portfolio", lambda: collect(self.fetch_parts(client_ref), client_ref, self.clock()))

    def fetch_parts(self, client_ref: str) -> Iterator[PortfolioPart]:
        """The client, then each page of siniestros and of pólizas as it arrives (page n+1 is asked for while
        page n is mapped); each page has the policy's deadline, the whole fetch its ``fetch_deadline``."""
        ref = quote(client_ref, safe="")
        budget = self.http.budget("fetch")
        with self.http.operation("fetch client", within=budget):
            found = self._get(f"clientes/{ref}", expect=(200, 404))
        if found is None:
            raise ReauthRequired("gnp: the client reference is no longer known to GNP; link again")
        client = mapping.client_match(Fields(found, "cliente_respuesta").data.get("cliente"))
        if client.client_ref != client_ref:
            raise InvalidResponse("gnp: the API answered another client")
        yield client
        today = self.clock().date()

        def bodies() -> Iterator[tuple[str, int, Any]]:
            # Siniestros first: a consumer then knows each póliza's open claims when its page comes.
            for what in ("siniestros", "polizas"):
                for page, body in self._page_bodies(f"clientes/{ref}/{what}", what, budget=budget):
                    yield what, page, body

        checks = {"polizas": ListingCheck("polizas"), "siniestros": ListingCheck("siniestros")}
        for what, page, body in read_ahead(bodies(), depth=2, name="gnp fetch"):
            datos = checks[what].page(page, body)
            if what == "polizas":
                yield mapping.guarded("polizas", functools.partial(_policy_page, datos, today))
            else:
                yield mapping.guarded("siniestros", functools.partial(_claim_page, datos))
        for check in checks.values():
            check.finish()

    def document(self, ref: DocumentRef) -> Document:
        """GET /documentos/{id}: the PDF bytes."""
        with self.http.operation("document"):
            response = self._api("GET", f"documentos/{quote(ref.ref, safe='')}", expect=(200, 404))
        if response.status_code == 404:
            raise InvalidResponse("gnp: a listed document is not available")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        content = response.content
        if media_type == "application/pdf" and not content.startswith(b"%PDF-"):
            raise InvalidResponse("gnp: the document is not a PDF file")
        if not content or not media_type:
            raise InvalidResponse("gnp: empty document")
        match = _FILENAME.search(response.headers.get("Content-Disposition", ""))
        filename = match.group(1) if match else f"{ref.ref}.pdf"
        return Document(content=content, media_type=media_type, filename=filename)

    def claim_requirements(self, policy: Policy, kind: str) -> ClaimRequirements:
        """GET /requisitos?ramo=&tipo= (seed 002 §V, seed 004 §4); the ramo's general procedure otherwise."""
        ramo = mapping.RAMOS.get(policy.line, "ACCIDENTES_PERSONALES")
        with self.http.operation("claim_requirements"):
            data = self._get("requisitos", {"ramo": ramo, "tipo": kind}, expect=(200, 404))
            if data is None:  # nothing specific published for this kind: GNP's general procedure for the ramo
                data = self._get("requisitos", {"ramo": ramo, "tipo": "general"}, expect=(200, 404))
        if data is None:
            raise InvalidResponse(f"gnp: no claim procedure published for {policy.line.value}")
        return mapping.requirements(data, policy.line, kind, GNP_LINE)

    def report_claim(self, report: ClaimReport) -> ClaimReceipt:
        """POST /siniestros with an Idempotency-Key, so a retried report files one claim."""
        body: dict[str, Any] = {
            "id_poliza": report.policy_external_id,
            "tipo": report.kind,
            "fecha_ocurrencia": report.occurred_at.isoformat(),
            "descripcion": report.description,
            "telefono_contacto": report.contact_phone,
        }
        if report.location:
            body["ubicacion"] = report.location
        if report.extra:
            body["datos_adicionales"] = dict(report.extra)
        key = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        with self.http.operation("report_claim"):
            response = self._api(
                "POST",
                "siniestros",
                json_body=body,
                expect=(201, 404, 422),
                idempotent=True,
                headers={"Idempotency-Key": key},
            )
            data = self.http.json_of(response)
        f = Fields(data, "siniestro_reportado")
        if response.status_code != 201:
            raise InvalidResponse(f"gnp: the claim was refused ({f.opt_text('error') or response.status_code})")
        wording = f.text("estatus")
        return mapping.guarded(
            "siniestro_reportado",
            lambda: ClaimReceipt(
                claim_number=f.text("numero_siniestro"),
                status=mapping.claim_status(wording),
                insurer_status=wording,
                reported_at=f.moment("fecha_reporte"),
            ),
        )

    def payment_link(self, receipt: Receipt) -> PaymentLink:
        """POST /recibos/{numero}/liga-pago: where the client pays a pending receipt."""
        with self.http.operation("payment_link"):
            response = self._api(
                "POST", f"recibos/{quote(receipt.number, safe='')}/liga-pago", expect=(201, 404, 409), idempotent=True
            )
            f = Fields(self.http.json_of(response), "liga_pago")
        if response.status_code != 201:
            raise InvalidResponse(f"gnp: no payment link for this receipt ({f.opt_text('error') or 'refused'})")
        return mapping.guarded("liga_pago", lambda: PaymentLink(url=f.text("url"), expires_at=f.opt_moment("vigencia")))

    # --- sandbox ------------------------------------------------------------------------------

    @classmethod
    def sandbox(cls) -> SandboxSpec:
        """GNP's sandbox: make_app(seed, clients, page_size, token_ttl, faults)."""
        from connectors.gnp import sandbox

        return SandboxSpec(
            make_app=sandbox.make_app,
            settings_for=sandbox.settings_for,
            bad_settings_for=sandbox.bad_settings_for,
            samples=sandbox.samples(),
            extra={"api_prefix": sandbox.API_PREFIX, "client_id": sandbox.SANDBOX_CLIENT_ID},
        )


def _policy_page(datos: list[Any], today: date) -> PolicyPage:
    return PolicyPage(tuple(mapping.policy(item, today) for item in datos))


def _claim_page(datos: list[Any]) -> ClaimPage:
    return ClaimPage(tuple(mapping.claim(item) for item in datos))


class ListingCheck:
    """The rules of one paged list, page by page: every page agrees with the first (size, total, page count),
    holds the items it should, and the last brings the count to the total; any break fails the whole list."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.first: tuple[int, int, int] | None = None  # por_pagina, total, total_paginas
        self.received = 0
        self.done = False

    def page(self, page: int, body: Any) -> list[Any]:
        """The items of page ``page`` (its JSON body, parsed or as bytes), checked."""
        what = self.what
        if isinstance(body, bytes):
            try:
                body = json.loads(body)
            except ValueError as exc:
                raise InvalidResponse(f"gnp: malformed JSON in {what} page {page}") from exc
        envelope = Fields(body, what)
        datos = envelope.data.get("datos")
        if not isinstance(datos, list):
            raise InvalidResponse(f"gnp: {what}.datos must be a list")
        pagina, por_pagina = envelope.integer("pagina"), envelope.integer("por_pagina")
        total, total_paginas = envelope.integer("total"), envelope.integer("total_paginas")
        if pagina != page or por_pagina < 1 or total < 0:
            raise InvalidResponse(f"gnp: {what} page {page} answered page {pagina}")
        if total_paginas != math.ceil(total / por_pagina):
            raise InvalidResponse(f"gnp: {what} total_paginas does not match total")
        if self.first is None:
            self.first = (por_pagina, total, total_paginas)
        elif self.first != (por_pagina, total, total_paginas):
            raise InvalidResponse(f"gnp: {what} changed between pages")
        expected = max(0, min(por_pagina, total - (page - 1) * por_pagina))
        if len(datos) != expected:
            raise InvalidResponse(f"gnp: {what} page {page} has {len(datos)} items, expected {expected}")
        self.received += len(datos)
        if page >= total_paginas:
            if self.received != total:
                raise InvalidResponse(f"gnp: {what} total does not match the items received")
            self.done = True
        return datos

    def finish(self) -> None:
        """The list ended: its last page came."""
        if not self.done:
            raise InvalidResponse(f"gnp: {self.what} ended before its last page")


def _oauth_error(response: requests.Response) -> str | None:
    """The ``error`` of a 401 body (or of its WWW-Authenticate header)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    match = re.search(r'error="([^"]+)"', response.headers.get("WWW-Authenticate", ""))
    return match.group(1) if match else None
