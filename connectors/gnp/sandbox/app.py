"""The GNP partner API sandbox: a plain werkzeug WSGI app over the generated book (see ``connectors.gnp``)."""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.gnp.sandbox import catalog
from connectors.gnp.sandbox.data import CLAIM_COMMENTS, MX_TZ, Generator, Store
from connectors.sandbox.faults import Faults
from connectors.sandbox.pdf import simple_pdf

MAX_PAGE_SIZE = 100  # the API's largest por_pagina
DEFAULT_PER_PAGE = 10  # por_pagina when the request names none
RAMOS = ("AUTOS", "DISPOSITIVOS", "GASTOS_MEDICOS_MAYORES", "VIDA", "HOGAR", "ACCIDENTES_PERSONALES")

URLS = Map(
    [
        Rule("/", endpoint="index", methods=["GET"]),
        Rule("/oauth/token", endpoint="token", methods=["POST"]),
        Rule("/api/v1/estado", endpoint="estado", methods=["GET"]),
        Rule("/api/v1/clientes/verificacion", endpoint="verificacion", methods=["POST"]),
        Rule("/api/v1/clientes", endpoint="clientes", methods=["GET"]),
        Rule("/api/v1/clientes/<id_cliente>", endpoint="cliente", methods=["GET"]),
        Rule("/api/v1/clientes/<id_cliente>/polizas", endpoint="polizas", methods=["GET"]),
        Rule("/api/v1/clientes/<id_cliente>/siniestros", endpoint="siniestros", methods=["GET"]),
        Rule("/api/v1/documentos/<id_documento>", endpoint="documento", methods=["GET"]),
        Rule("/api/v1/requisitos", endpoint="requisitos", methods=["GET"]),
        Rule("/api/v1/siniestros", endpoint="reportar", methods=["POST"]),
        Rule("/api/v1/recibos/<numero_recibo>/liga-pago", endpoint="liga_pago", methods=["POST"]),
        Rule("/pagos/<folio>", endpoint="pago", methods=["GET", "POST"]),
    ]
)


class ApiError(Exception):
    """An error answer of the API: status and a Spanish JSON body."""

    def __init__(self, status: int, error: str, mensaje: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.mensaje, self.headers = status, error, mensaje, headers or {}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status=status, headers=headers, content_type="application/json; charset=utf-8")


class GnpSandbox:
    """The WSGI app. Thread-safe: one lock guards the book and the tokens."""

    def __init__(
        self, store: Store, generator: Generator, *, page_size: int, token_ttl: int, client_id: str, client_secret: str
    ) -> None:
        self.store = store
        self.generator = generator
        self.page_size = page_size
        self.token_ttl = token_ttl
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}  # access token -> expiry (time.time())
        self.token_requests = 0  # how many tokens were issued (tests check the connector caches them)
        self.payment_links: dict[str, str] = {}  # folio -> numero_recibo
        self.idempotent: dict[str, dict[str, Any]] = {}  # Idempotency-Key -> the claim answer

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **args)
        except ApiError as exc:
            response = _json({"error": exc.error, "mensaje": exc.mensaje}, exc.status, exc.headers)
        except NotFound:
            response = _json({"error": "no_encontrado", "mensaje": "Recurso inexistente."}, 404)
        except MethodNotAllowed:
            response = _json({"error": "metodo_no_permitido", "mensaje": "Método no permitido."}, 405)
        except HTTPException as exc:
            response = _json({"error": "solicitud_invalida", "mensaje": str(exc.description)}, exc.code or 400)
        return response(environ, start_response)

    # --- auth ------------------------------------------------------------------------------------

    def on_index(self, request: Request) -> Response:
        return _json(
            {
                "nombre": "GNP API para socios — sandbox (datos ficticios)",
                "version": "1.4.0",
                "token": "/oauth/token",
                "base": "/api/v1",
                "fallas": "/__sandbox/faults",
            }
        )

    def on_token(self, request: Request) -> Response:
        """OAuth2 client credentials (client_secret_post or client_secret_basic)."""
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username
            client_secret = request.authorization.password
        if form.get("grant_type") != "client_credentials":
            raise ApiError(400, "unsupported_grant_type", "Sólo se admite grant_type=client_credentials.")
        good = secrets.compare_digest(str(client_id or ""), self.client_id) and secrets.compare_digest(
            str(client_secret or ""), self.client_secret
        )
        if not good:
            raise ApiError(
                401, "invalid_client", "Credenciales de cliente inválidas.", {"WWW-Authenticate": 'Basic realm="gnp"'}
            )
        token = secrets.token_urlsafe(24)
        with self.lock:
            now = time.time()
            if len(self.tokens) > 10_000:
                self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
            self.tokens[token] = now + self.token_ttl
            self.token_requests += 1
        return _json(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "scope": "clientes polizas siniestros documentos pagos",
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        faults: Faults | None = request.environ.get("sandbox.faults")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401, "invalid_request", "Falta el token de acceso.", {"WWW-Authenticate": 'Bearer realm="gnp"'}
            )
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None:
            raise ApiError(
                401, "invalid_token", "Token de acceso inválido.", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        if (faults is not None and faults.expired_token) or expires <= time.time():
            raise ApiError(
                401,
                "invalid_token",
                "El token de acceso expiró.",
                {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'},
            )

    # --- helpers -----------------------------------------------------------------------------------

    def _window(self, request: Request) -> tuple[int, int]:
        """(pagina, por_pagina) asked for; a por_pagina above the sandbox's largest page is answered at it."""
        try:
            page = int(request.args.get("pagina", "1"))
            size = int(request.args.get("por_pagina", str(min(DEFAULT_PER_PAGE, self.page_size))))
        except ValueError:
            raise ApiError(400, "parametro_invalido", "pagina y por_pagina deben ser enteros.") from None
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise ApiError(400, "parametro_invalido", f"pagina >= 1 y 1 <= por_pagina <= {MAX_PAGE_SIZE}.")
        return page, min(size, self.page_size)

    def _envelope(self, request: Request, window: tuple[int, int], datos: list[Any], total: int) -> Response:
        """The page-number envelope; honours the ``short_page`` fault by dropping the page's last item."""
        page, size = window
        faults: Faults | None = request.environ.get("sandbox.faults")
        if faults is not None and faults.short_page and datos:
            datos = datos[:-1]
        return _json(
            {
                "datos": datos,
                "pagina": page,
                "por_pagina": size,
                "total": total,
                "total_paginas": math.ceil(total / size),
            }
        )

    def _page(self, request: Request, items: list[Any]) -> Response:
        """One page of a list held whole."""
        page, size = window = self._window(request)
        return self._envelope(request, window, items[(page - 1) * size : page * size], len(items))

    def _client(self, id_cliente: str) -> str:
        if id_cliente not in self.store.clients:
            raise ApiError(404, "cliente_no_encontrado", "No existe el cliente.")
        return id_cliente

    # --- clients ---------------------------------------------------------------------------------

    def on_estado(self, request: Request) -> Response:
        self._authorize(request)
        return _json({"estado": "operando", "version": "1.4.0", "fecha_hora": datetime.now(MX_TZ).isoformat()})

    def on_verificacion(self, request: Request) -> Response:
        """RFC or CURP + número de póliza of an in-force póliza: the client; any other case the same 404."""
        self._authorize(request)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("numero_poliza"), str):
            raise ApiError(400, "solicitud_invalida", "Se requiere numero_poliza y rfc o curp.")
        rfc, curp = body.get("rfc"), body.get("curp")
        if not isinstance(rfc, str | None) or not isinstance(curp, str | None) or (rfc is None) == (curp is None):
            raise ApiError(400, "solicitud_invalida", "Indique rfc o curp (sólo uno).")
        with self.lock:
            client_id = self.store.by_rfc.get(rfc.upper()) if rfc else self.store.by_curp.get(str(curp).upper())
            policy_id = self.store.by_number.get(body["numero_poliza"].strip())
            record = self.store.policies.get(policy_id) if policy_id else None
            ok = (
                client_id is not None
                and record is not None
                and record.active
                and (record.holder == client_id or client_id in record.members)
            )
            if ok and client_id is not None:
                return _json({"cliente": self.store.clients[client_id].json()})
        raise ApiError(404, "no_encontrado", "No se encontró un cliente con los datos proporcionados.")

    def on_clientes(self, request: Request) -> Response:
        """Clients by email (``?correo=``), paged."""
        self._authorize(request)
        email = (request.args.get("correo") or "").strip().lower()
        if not email:
            raise ApiError(400, "parametro_invalido", "Se requiere el parámetro correo.")
        with self.lock:
            found = [self.store.clients[c].json() for c in self.store.by_email.get(email, [])]
        return self._page(request, found)

    def on_cliente(self, request: Request, id_cliente: str) -> Response:
        self._authorize(request)
        with self.lock:
            return _json({"cliente": self.store.clients[self._client(id_cliente)].json()})

    def on_polizas(self, request: Request, id_cliente: str) -> Response:
        """Every póliza of the client (holder or insured through a group póliza), whatever its status;
        a large client's generated pólizas follow its own (built for the page asked, never kept)."""
        self._authorize(request)
        page, size = window = self._window(request)
        start, stop = (page - 1) * size, page * size
        extras = self.store.extras
        with self.lock:
            self._client(id_cliente)
            own = self.store.portfolio[id_cliente]
            datos = [self.store.policies[p].view(id_cliente) for p in own[start:stop]]
            total, first_extra = len(own), max(0, start - len(own))
            extra = extras.count(id_cliente) if extras else 0
        if extras and extra and stop > total:
            datos += extras.policies(id_cliente, first_extra, stop - total)
        return self._envelope(request, window, datos, total + extra)

    def on_siniestros(self, request: Request, id_cliente: str) -> Response:
        self._authorize(request)
        page, size = window = self._window(request)
        start, stop = (page - 1) * size, page * size
        extras = self.store.extras
        with self.lock:
            self._client(id_cliente)
            own = self.store.claims[id_cliente]
            datos, total = list(own[start:stop]), len(own)
            extra = extras.claims_count(id_cliente) if extras else 0
        if extras and extra and stop > total:
            datos += extras.claims(id_cliente, max(0, start - total), stop - total)
        return self._envelope(request, window, datos, total + extra)

    # --- documents ---------------------------------------------------------------------------------

    def on_documento(self, request: Request, id_documento: str) -> Response:
        """The document as a real PDF file."""
        self._authorize(request)
        with self.lock:
            title, subtitle, lines = self._document(id_documento)
        pdf = simple_pdf(title, lines, subtitle=subtitle)
        filename = f"GNP-{id_documento}.pdf"
        return Response(
            pdf, content_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )

    def _document(self, id_documento: str) -> tuple[str, str, list[str]]:
        missing = ApiError(404, "documento_no_encontrado", "No existe el documento.")
        owner, _, rest = id_documento.partition("-")
        kind, _, viewer = rest.partition("-")
        found_claim = self.store.claim_index.get(owner) or (
            self.store.extras.claim_by_id(owner) if self.store.extras else None
        )
        if found_claim is not None and kind in ("FIN", "IMP"):
            _client, claim = found_claim
            title = "Carta finiquito" if kind == "FIN" else "Carta de improcedencia"
            lines = [
                f"Siniestro {claim['numero_siniestro']} — póliza {claim['numero_poliza']}",
                f"Fecha de ocurrencia: {claim['fecha_ocurrencia'][:10]}",
                f"Estatus: {claim['estatus']}",
                claim["descripcion"],
            ]
            if "monto_pagado" in claim:
                lines.append(f"Importe indemnizado: ${Decimal(claim['monto_pagado']):,.2f} MXN")
            return title, "Grupo Nacional Provincial, S.A.B.", lines
        record = self.store.policy(owner)
        if record is None:
            raise missing
        body = record.body
        if kind == "POL" and not viewer:
            return f"Póliza {record.numero}", f"{body['producto']} — Carátula de la póliza", _caratula(body)
        if kind == "CER" and viewer in record.members:
            view = record.view(viewer)
            return (
                f"Certificado individual — póliza {record.numero}",
                f"{body['producto']} (póliza colectiva)",
                _caratula(view),
            )
        if kind == "RCO" and body["ramo"] == "AUTOS":
            return "Póliza de Responsabilidad Civil Obligatorio", f"Póliza {record.numero}", _rc_obligatorio(body)
        if kind == "CG":
            return f"Condiciones Generales — {body['producto']}", "Resumen (sandbox)", _conditions(body)
        raise missing

    # --- claims ---------------------------------------------------------------------------------

    def on_requisitos(self, request: Request) -> Response:
        """Claim requirements by ramo and tipo (or a coverage code); without tipo, every tipo of the ramo."""
        self._authorize(request)
        ramo = (request.args.get("ramo") or "").upper()
        tipo = request.args.get("tipo") or ""
        if ramo not in RAMOS:
            raise ApiError(400, "parametro_invalido", f"ramo debe ser uno de {', '.join(RAMOS)}.")
        of_ramo = [r for r in catalog.REQUIREMENTS if r["ramo"] == ramo]
        if not tipo:
            return self._page(request, of_ramo)
        tipo = catalog.REQUIREMENT_ALIASES.get((ramo, tipo.upper()), tipo.lower())
        for requirement in of_ramo:
            if requirement["tipo"] == tipo:
                return _json(requirement)
        raise ApiError(404, "requisitos_no_encontrados", "No hay requisitos publicados para ese tipo de siniestro.")

    def on_reportar(self, request: Request) -> Response:
        """First notice of loss; an ``Idempotency-Key`` makes a repeated report answer the same claim."""
        self._authorize(request)
        body = request.get_json(silent=True)
        required = ("id_poliza", "tipo", "fecha_ocurrencia", "descripcion", "telefono_contacto")
        if not isinstance(body, dict) or any(not isinstance(body.get(k), str) or not body[k] for k in required):
            raise ApiError(400, "solicitud_invalida", f"Campos requeridos: {', '.join(required)}.")
        try:
            occurred = datetime.fromisoformat(body["fecha_ocurrencia"])
        except ValueError:
            raise ApiError(400, "solicitud_invalida", "fecha_ocurrencia debe ser ISO 8601 con zona.") from None
        if occurred.tzinfo is None:
            raise ApiError(400, "solicitud_invalida", "fecha_ocurrencia debe llevar zona horaria.")
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            if key:
                fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
                if key in self.idempotent:
                    seen = self.idempotent[key]
                    if seen["_fingerprint"] != fingerprint:
                        raise ApiError(422, "clave_idempotencia_reutilizada", "La clave ya se usó con otro reporte.")
                    return _json({k: v for k, v in seen.items() if k != "_fingerprint"}, 201)
            record = self.store.policy(body["id_poliza"])
            if record is None:
                raise ApiError(404, "poliza_no_encontrada", "No existe la póliza.")
            if not record.active:
                raise ApiError(422, "poliza_no_vigente", "La póliza no está vigente.")
            now = datetime.now(MX_TZ).replace(microsecond=0)
            if occurred > now + timedelta(minutes=5):
                raise ApiError(422, "fecha_invalida", "La fecha de ocurrencia es futura.")
            claim_id, number = self.generator.next_claim_number(now.year)
            claim: dict[str, Any] = {
                "id_siniestro": claim_id,
                "numero_siniestro": number,
                "id_poliza": record.id,
                "numero_poliza": record.numero,
                "tipo": body["tipo"],
                "fecha_ocurrencia": occurred.isoformat(),
                "fecha_reporte": now.isoformat(),
                "estatus": "Reportado",
                "descripcion": body["descripcion"],
                "historial": [
                    {"fecha_hora": now.isoformat(), "estatus": "Reportado", "comentario": CLAIM_COMMENTS["Reportado"]}
                ],
                "documentos": [],
            }
            if isinstance(body.get("ubicacion"), str):
                claim["ubicacion"] = body["ubicacion"]
            self.store.add_claim(record.holder, claim)
            answer = {
                "id_siniestro": claim_id,
                "numero_siniestro": number,
                "estatus": "Reportado",
                "fecha_reporte": now.isoformat(),
            }
            if key:
                self.idempotent[key] = {**answer, "_fingerprint": fingerprint}
        return _json(answer, 201, {"Location": f"/api/v1/siniestros/{claim_id}"})

    # --- payments ---------------------------------------------------------------------------------

    def on_liga_pago(self, request: Request, numero_recibo: str) -> Response:
        """A payment link for a pending receipt, valid 48 hours."""
        self._authorize(request)
        with self.lock:
            found = self.store.receipts.get(numero_recibo)
            if found is None:
                raise ApiError(404, "recibo_no_encontrado", "No existe el recibo.")
            policy_id, receipt = found
            if receipt["estatus"] != "PENDIENTE" or not self.store.policies[policy_id].active:
                raise ApiError(409, "recibo_no_pendiente", "El recibo no está pendiente de pago.")
            folio = secrets.token_urlsafe(12)
            self.payment_links[folio] = numero_recibo
        expires = datetime.now(MX_TZ).replace(microsecond=0) + timedelta(hours=48)
        return _json(
            {
                "url": f"{request.host_url}pagos/{folio}",
                "vigencia": expires.isoformat(),
                "importe": receipt["importe"],
                "moneda": "MXN",
                "numero_recibo": numero_recibo,
            },
            201,
        )

    def on_pago(self, request: Request, folio: str) -> Response:
        """A simulated payment page (the demo's "Pagar recibo"); paying marks the receipt paid."""
        with self.lock:
            number = self.payment_links.get(folio)
            if number is None:
                raise ApiError(404, "liga_no_encontrada", "La liga de pago no existe o expiró.")
            policy_id, receipt = self.store.receipts[number]
            record = self.store.policies[policy_id]
            if request.method == "POST" and receipt["estatus"] == "PENDIENTE":
                receipt["estatus"] = "PAGADO"
                receipt["fecha_pago"] = datetime.now(MX_TZ).replace(microsecond=0).isoformat()
                receipt["forma_pago"] = "Tarjeta de crédito"
                if record.body["estatus"] == "Pendiente de pago" and not any(
                    r["estatus"] == "PENDIENTE" and date.fromisoformat(r["fecha_vencimiento"]) <= self.store.today
                    for r in record.body["recibos"]
                ):
                    record.body["estatus"] = "Vigente"
            paid = receipt["estatus"] == "PAGADO"
        amount = f"${Decimal(receipt['importe']):,.2f} MXN"
        action = (
            "<p><strong>Pago registrado.</strong></p>"
            if paid
            else ('<form method="post"><button type="submit">Pagar (simulado)</button></form>')
        )
        page = (
            f"<!doctype html><html lang='es'><meta charset='utf-8'><title>Pago de recibo — GNP sandbox</title>"
            f"<h1>Pago de recibo {escape(number)}</h1><p>Póliza {escape(record.numero)} — {escape(amount)}</p>"
            f"{action}<p><small>Sandbox: ningún cargo es real.</small></p></html>"
        )
        return Response(page, content_type="text/html; charset=utf-8")


# --- PDF contents -----------------------------------------------------------------------------------


def _amount(value: str | None) -> str:
    return f"${Decimal(value):,.2f}" if value else "Amparada"


def _insured_lines(insured: dict[str, Any]) -> list[str]:
    kind = insured.get("tipo")
    if kind == "VEHICULO":
        return [
            f"Vehículo: {insured['marca']} {insured['submarca']} {insured.get('version', '')} modelo "
            f"{insured['modelo']}",
            f"Serie (VIN): {insured['numero_serie']}   Placas: "
            f"{insured.get('placas', 'en trámite')}   Uso: {insured.get('uso', '')}",
        ]
    if kind == "DISPOSITIVOS":
        lines = [f"Categoría: {insured['categoria'].title()}"]
        for e in insured["equipos"]:
            lines.append(
                f"Equipo: {e['tipo_equipo']} {e['marca']} {e['modelo']} — serie {e['numero_serie']}"
                + (f" — IMEI {e['imei']}" if e.get("imei") else "")
                + f" — compra {e['fecha_compra']} — valor factura ${Decimal(e['valor_factura']):,.2f}"
            )
        return lines
    if kind == "INMUEBLE":
        d = insured["domicilio"]
        return [
            f"Ubicación: {d['calle']} {d['numero_exterior']} {d.get('numero_interior', '')}, col. {d['colonia']}, "
            f"C.P. {d['codigo_postal']}, {d['municipio']}, {d['estado']}",
            f"Construcción: {insured.get('tipo_construccion', '')}   Uso: {insured.get('uso', '')}",
        ]
    return [f"Asegurado: {p['nombre']} ({p.get('parentesco', '')})" for p in insured.get("asegurados", [])]


def _caratula(body: dict[str, Any]) -> list[str]:
    lines = [
        "Grupo Nacional Provincial, S.A.B. — Av. Cerro de las Torres 395, Campestre Churubusco, Coyoacán, C.P. 04200",
        f"Contratante: {body['contratante']['nombre']}   RFC: {body['contratante']['rfc']}",
        f"Producto: {body['producto']}" + (f"   Paquete: {body['paquete']}" if body.get("paquete") else ""),
        f"Vigencia: desde las 12:00 h del {body['vigencia']['inicio']} hasta las 12:00 h del {body['vigencia']['fin']}",
        f"Estatus: {body['estatus']}   Forma de pago: {body['forma_pago'].title()}   Periodo de gracia: "
        f"{body.get('periodo_gracia_dias', 30)} días",
        f"Prima total: ${Decimal(body['prima_total']):,.2f} MXN",
        "",
        *_insured_lines(body["bien_asegurado"]),
        "",
        "Coberturas:",
    ]
    for c in body["coberturas"]:
        deductible = c.get("deducible") or {}
        if deductible.get("tipo") == "PORCENTAJE":
            ded = f"{deductible['valor']}% {deductible.get('base', '')}".strip()
        elif deductible.get("tipo") == "MONTO":
            ded = f"${Decimal(deductible['valor']):,.2f}"
        else:
            ded = "No aplica"
        state = (
            _amount(c.get("suma_asegurada"))
            + (f" ({c['base_suma_asegurada']})" if c.get("base_suma_asegurada") else "")
            if c["amparada"]
            else "No amparada"
        )
        lines.append(
            f"{c.get('inciso', '') and c['inciso'] + ') '}{c['nombre']}: {state}; deducible: "
            f"{ded if c['amparada'] else '—'}"
        )
    lines += ["", "Línea GNP 55 5227 9000 · gnp.com.mx · Documento generado por el sandbox: datos ficticios."]
    return lines


def _rc_obligatorio(body: dict[str, Any]) -> list[str]:
    return [
        "Seguro obligatorio de responsabilidad civil por daños a terceros (artículo 150 bis de la Ley Sobre el "
        "Contrato de Seguro y artículo 63 bis de la Ley de Caminos, Puentes y Autotransporte Federal).",
        f"Póliza: {body['numero_poliza']}   Vigencia: {body['vigencia']['inicio']} a {body['vigencia']['fin']}",
        f"Contratante: {body['contratante']['nombre']}",
        *_insured_lines(body["bien_asegurado"]),
        "Límite: el establecido por la ley para daños a terceros en sus bienes y personas.",
        "En caso de siniestro llame a la Línea GNP 55 5227 9000.",
    ]


def _conditions(body: dict[str, Any]) -> list[str]:
    if body["ramo"] == "DISPOSITIVOS":
        return [
            "Categorías: Individual (celular o equipo portátil) y Multidispositivo (hasta 2 celulares).",
            catalog.DEVICE_WAITING_NOTE,
            "Aviso a la Compañía dentro de los 5 días siguientes al evento.",
            "Robo con o sin violencia: denuncia ante el Ministerio Público dentro de las 48 horas y folio de "
            "cancelación del IMEI.",
            "Periodo de gracia: 30 días naturales.",
        ]
    if body["ramo"] == "AUTOS":
        return [
            "Coberturas a) Daños Materiales Pérdida Parcial a u) Garantía de Autos Financiados.",
            "Sumas aseguradas: Valor Comercial, Valor Factura o Valor Convenido según la carátula.",
            "Aviso de siniestro: plazo máximo de cinco días.",
            "Periodo de gracia: 30 días naturales.",
        ]
    return [f"Condiciones generales del producto {body['producto']}.", "Periodo de gracia: 30 días naturales."]
