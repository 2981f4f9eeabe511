"""GNP Seguros connector and its sandbox.

GNP publishes no partner API, so this package models one as GNP would plausibly expose it to a
portal like Coberta. The sandbox (``connectors.gnp.sandbox``) implements it over fictional data;
the connector (``GnpConnector``) speaks only HTTP, so a real endpoint can replace the sandbox by
changing ``AGGREGATOR_GNP_BASE_URL``, ``AGGREGATOR_GNP_CLIENT_ID`` and ``AGGREGATOR_GNP_CLIENT_SECRET``
(and, optionally, ``AGGREGATOR_GNP_PAGE_SIZE``).

The API ("GNP API para socios", v1)
===================================

Conventions
    REST/JSON, UTF-8, Spanish field names. Amounts are MXN decimal strings (``"12345.67"``, never
    numbers); dates are ``YYYY-MM-DD``; datetimes are ISO 8601 with their offset
    (``"2026-03-04T10:15:00-06:00"``). Errors answer ``{"error": "<code>", "mensaje": "<texto>"}``.
    Optional fields may be absent or ``null``.

Authentication: OAuth2 client credentials
    ``POST /oauth/token`` (form: ``grant_type=client_credentials``, ``client_id``, ``client_secret``;
    HTTP Basic also accepted) → ``{"access_token", "token_type": "Bearer", "expires_in": 3600, "scope"}``.
    Wrong credentials → 401 ``{"error": "invalid_client"}``. Every ``/api/v1`` call carries
    ``Authorization: Bearer <token>``; a missing, unknown or expired token → 401
    ``{"error": "invalid_token"}`` (with ``WWW-Authenticate: Bearer error="invalid_token"``).

Pagination: page numbers
    ``?pagina=N&por_pagina=M`` (N ≥ 1, 1 ≤ M ≤ 100, default M = 10) →
    ``{"datos": [...], "pagina": N, "por_pagina": M, "total": T, "total_paginas": ceil(T / M)}``.
    A page past the end has empty ``datos``.

Endpoints (under ``/api/v1``)
    ``GET  /estado``                         health: ``{"estado": "operando", "version", "fecha_hora"}``.
    ``POST /clientes/verificacion``          ``{"rfc" | "curp", "numero_poliza"}`` → 200 ``{"cliente"}`` when
                                             the póliza is in force (vigente or pendiente de pago) and the
                                             person is its contratante or is insured under it (group pólizas,
                                             seed 000); otherwise the same 404 ``no_encontrado`` whatever failed.
    ``GET  /clientes?correo=…``              paged list of ``cliente`` with that email.
    ``GET  /clientes/{id_cliente}``          ``{"cliente"}``; 404 when unknown.
    ``GET  /clientes/{id_cliente}/polizas``  paged list of ``poliza``, every status, coverages, recibos and
                                             documents inline. A member of a group póliza sees their own
                                             certificate: only their asegurados, ``prima_total`` "0.00"
                                             (``prima_a_cargo`` CONTRATANTE), no recibos.
    ``GET  /clientes/{id_cliente}/siniestros`` paged list of ``siniestro`` with ``historial``.
    ``GET  /documentos/{id_documento}``      ``application/pdf`` (carátula, certificate, "Póliza de
                                             Responsabilidad Civil Obligatorio", condiciones, claim letters).
    ``GET  /requisitos?ramo=…&tipo=…``       claim requirements (``tipo`` or a coverage ``clave``); without
                                             ``tipo``, the paged list for the ramo; 404 when none published.
    ``POST /siniestros``                     ``{"id_poliza", "tipo", "fecha_ocurrencia", "descripcion",
                                             "telefono_contacto", "ubicacion"?, "datos_adicionales"?}`` with an
                                             optional ``Idempotency-Key`` header → 201 ``{"id_siniestro",
                                             "numero_siniestro", "estatus": "Reportado", "fecha_reporte"}``;
                                             422 ``poliza_no_vigente``.
    ``POST /recibos/{numero_recibo}/liga-pago`` → 201 ``{"url", "vigencia", "importe", "moneda"}`` for a
                                             PENDIENTE receipt of an active póliza; 409 ``recibo_no_pendiente``.

Records
    ``cliente``: id_cliente, tipo_persona (FISICA | MORAL), nombre, rfc, curp?, correo, telefono,
    fecha_nacimiento?.
    ``poliza``: id_poliza (stable id), numero_poliza, ramo (AUTOS | GASTOS_MEDICOS_MAYORES | VIDA | HOGAR |
    DISPOSITIVOS | ACCIDENTES_PERSONALES ...), producto, paquete?, estatus ("Vigente", "Pendiente de pago",
    "Vencida", "Cancelada", "Cancelada por falta de pago"), vigencia {inicio, fin}, fecha_cancelacion?,
    prima_total, moneda, forma_pago (ANUAL | SEMESTRAL | TRIMESTRAL | MENSUAL | UNICA),
    periodo_gracia_dias (30), colectiva, contratante {nombre, tipo_persona, rfc}, bien_asegurado,
    coberturas, recibos, documentos.
    ``bien_asegurado``: {tipo: VEHICULO, marca, submarca, modelo (the model *year*), version?,
    numero_serie (VIN), placas?, uso?} | {tipo: DISPOSITIVOS, categoria: INDIVIDUAL | MULTIDISPOSITIVO,
    equipos: [{tipo_equipo, marca, modelo, numero_serie?, imei?, fecha_compra, valor_factura}]} |
    {tipo: INMUEBLE, domicilio {calle, numero_exterior, numero_interior?, colonia, codigo_postal,
    municipio, estado}, tipo_construccion?, uso?} | {tipo: PERSONAS, asegurados: [{nombre, parentesco,
    fecha_nacimiento?}]}.
    ``cobertura``: clave, inciso?, nombre, amparada, suma_asegurada?, base_suma_asegurada? (Valor
    Comercial | Valor Factura | Valor Convenido | ...), deducible? ({tipo: PORCENTAJE, valor, base?} |
    {tipo: MONTO, valor} | {tipo: SIN_DEDUCIBLE}), notas?.
    ``recibo``: numero_recibo, serie, fecha_vencimiento, periodo {inicio, fin}, fecha_limite_pago (due
    date + 30-day grace), importe, moneda, estatus (PAGADO | PENDIENTE | CANCELADO), fecha_pago?,
    forma_pago?.
    ``siniestro``: id_siniestro, numero_siniestro, id_poliza, tipo, clave_cobertura?, fecha_ocurrencia,
    fecha_reporte, estatus (GNP's wording: "Reportado", "En trámite", "En valuación", "En dictamen",
    "Documentación pendiente", "Pagado", "Rechazado", "Reabierto", "Cancelado"), descripcion?,
    monto_reclamado?, monto_pagado?, historial [{fecha_hora, estatus, comentario?}], documentos,
    documentos_pendientes? [texto] (with "Documentación pendiente": what GNP asks the insured for; such a
    siniestro waits for the client).
"""

from connectors.gnp.connector import GnpConnector

__all__ = ["GnpConnector"]
