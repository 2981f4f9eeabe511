"""Australis Seguros — a FICTIONAL insurer of Argentina (ARS) and Mexico (MXN), and its connector.

Australis does not exist. It is the second insurer of the portal, designed on purpose to
differ from GNP in every way a connector feels: API-key auth, cursor pages, English field
names, integer cents, RFC 3339 timestamps with offsets, its own claim vocabulary, separate
endpoints for policies, premiums and claims, and documents behind short-lived signed URLs.
Its sandbox (``connectors.australis.sandbox.make_app``) speaks the API below with fictional
data; ``aggregator sandbox australis --port 8102`` serves it.

The Australis partner API, v2
=============================

Conventions
-----------
- JSON over HTTPS; every ``/v2`` call carries ``X-Api-Key: <partner key>``; a missing,
  unknown, expired or revoked key is ``401 {"error": {"code": "invalid_api_key" |
  "api_key_expired" | "missing_api_key", ...}}``. Optional ``Australis-Version: 2026-03-01``
  and ``X-Request-Id`` headers are echoed back.
- Errors: ``{"error": {"code": "...", "message": "...", "request_id": "..."}}``.
- Money: ``{"amount_cents": 123456, "currency": "ARS"}`` — integer minor units, never
  negative; the currency may differ from the policy's (e.g. a USD limit abroad).
- Times: RFC 3339 with an offset, in the customer's zone (``2026-03-01T12:00:00-03:00``,
  America/Argentina/Buenos_Aires; ``-06:00`` America/Mexico_City; ``-05:00`` America/Cancun)
  or in UTC (``...Z``, status history). A term runs from 12:00 of its first day to 12:00 of
  its last (Ley 17.418, art. 18). Dates of birth and coverage periods are plain ISO dates.
- Lists: ``?limit=`` (default 25, capped by the server) and ``?cursor=`` (opaque) →
  ``{"items": [...], "count": n, "total_count": N, "limit": l, "next_cursor": "..." | null}``.
  Contract: ``count`` is the number of items in this page; every page but the last holds
  exactly ``limit`` items; ``total_count`` is the same on every page. A tampered cursor is
  ``400 invalid_cursor``.
- Clients are identified by CUIT, CUIL or DNI (Argentina) or RFC (Mexico); tax IDs never
  appear in URLs.

Endpoints
---------
``GET  /v2/health``
    ``{"status": "ok", "environment", "api_version", "server_time"}``.
``POST /v2/customers:match`` ``{"tax_id_type": "CUIT"|"CUIL"|"DNI"|"RFC", "tax_id", "policy_number"}``
    ``200`` customer when the policy is in force (``active`` or ``grace_period``) and belongs to
    that tax ID; ``404 {"error": {"code": "no_match"}}``, identical for every failure.
``POST /v2/customers:search`` ``{"email"}``
    ``{"items": [customer...], "count": n}`` (at most 20; the email stays out of URLs).
``GET  /v2/customers/{customer_id}``
    Customer: ``id``, ``type`` (individual | business), ``display_name``, ``given_name``,
    ``family_name`` | ``legal_name``, ``tax_ids: [{"type", "value"}]``, ``country``,
    ``time_zone``, ``email``?, ``phone``?, ``created_at``.
``GET  /v2/customers/{customer_id}/policies`` (paginated)
    Policy: ``id``, ``policy_number``, ``customer_id``, ``product {code, name}``, ``line``
    (motor | home | life | health | gadgets | personal_accident | travel ...), ``status``
    (active | grace_period | expired | cancelled | lapsed), ``effective_at``, ``expires_at``,
    ``cancelled_at``?, ``cancellation_reason``?, ``billing {frequency (monthly | quarterly |
    semiannual | annual | single), total_premium: money, paid_by?}``, ``policyholder {name,
    type, tax_id?}``, ``group_policy``, ``insured``? (``{"kind": "vehicle", make, model, trim?,
    year, vin?, plate?, usage}`` | ``{"kind": "device", device_type, brand, model,
    serial_number?, imei?}`` | ``{"kind": "devices", "items": [device...]}`` | ``{"kind":
    "property", "address": {line1, postal_code?, city?, region?, country}, construction?,
    occupancy?}`` | ``{"kind": "persons", "persons": [{full_name, relationship?,
    date_of_birth?}]}``), ``coverages`` (inline: ``code``, ``name``, ``included``, ``limit``:
    money | null, ``limit_basis``?, ``deductible``?: ``{"type": "percentage", "basis_points":
    500, "basis"?}`` | ``{"type": "fixed", "amount": money, "basis"?}`` | ``{"type": "none"}``,
    ``notes``?), ``documents [{id, type, title, content_type}]``, ``updated_at``.
``GET  /v2/policies/{policy_id}/premiums`` (paginated)
    Premium (instalment): ``id``, ``number``, ``policy_id``, ``installment``,
    ``installments_total``, ``amount``, ``status`` (PAID | DUE | PAST_DUE | VOID), ``due_at``,
    ``grace_ends_at``?, ``coverage_period {start, end}``, ``paid_at``?, ``payment_method``?
    (card | direct_debit | bank_transfer | spei | oxxo | cash_network | mercado_pago).
``GET  /v2/customers/{customer_id}/claims`` (paginated)
    Claim: ``id``, ``claim_number``, ``policy_id``, ``event``, ``coverage_code``?,
    ``description``?, ``occurred_at``, ``reported_at``, ``status`` (FNOL_RECEIVED |
    ADJUSTER_ASSIGNED | AWAITING_DOCUMENTS | IN_ASSESSMENT | SETTLED | DECLINED | WITHDRAWN |
    REOPENED), ``status_history [{status, at, note?}]`` (ends with ``status``), ``claimed``?,
    ``settled``?, ``documents``, ``requested_documents``? (while AWAITING_DOCUMENTS: what the
    adjuster asks the customer for, in Spanish).
``GET  /v2/policies/{policy_id}/claim-requirements?event=theft``
    ``{policy_id, line, event, title, documents: [str], deadlines: [{description,
    within_hours}], steps: [str], phone}``; ``event`` is an event code (collision,
    theft_total, theft_partial, theft, glass, hail, fire, water_damage, accidental_damage,
    screen, death, hospitalization, accident, medical_emergency, baggage) or one of the
    policy's coverage codes; anything else gets the generic list. Argentina: notice within
    3 days (72 h, Ley 17.418 art. 46); Mexico: within 5 days.
``GET  /v2/documents/{document_id}/link``
    ``{"url": ".../files/{id}?expires=<unix>&signature=<hmac>", "expires_at"}``; the URL needs
    no key and lives ``link_ttl`` seconds (60 by default); an expired or tampered signature is
    ``403 signature_expired | signature_invalid``.
``POST /v2/claims`` ``{policy_id, event, occurred_at, description, contact_phone, location?, metadata?}``
    With ``Idempotency-Key`` (a repeat gets the first answer): ``201`` claim
    (FNOL_RECEIVED); ``422`` unknown policy, policy not in force, bad or future time.
``POST /v2/payment-links`` ``{"premium_number"}``
    With ``Idempotency-Key``: ``201 {url, expires_at, premium_number, amount}`` for a DUE or
    PAST_DUE premium; ``409 premium_not_payable`` otherwise; ``404`` unknown.

Mapping (``AustralisConnector``)
--------------------------------
cents → ``Money.from_cents``; timestamps → aware datetimes in their own offset; term and due
days are the local calendar day of the timestamp (never converted to UTC first); lines
motor/home/life/health/gadgets → auto/hogar/vida/gmm/dispositivos, anything else → otros;
statuses active/grace_period/expired/cancelled/lapsed → in_force/pending_payment/expired/
cancelled/cancelled; PAID/DUE/PAST_DUE/VOID → paid/pending/overdue/cancelled; FNOL_RECEIVED →
open, ADJUSTER_ASSIGNED/AWAITING_DOCUMENTS/IN_ASSESSMENT → under_review, SETTLED →
closed_paid, DECLINED → closed_unpaid, WITHDRAWN → cancelled, REOPENED → reopened; the insurer's
wording beside them is the Spanish of Australis' own customer portal ("Esperando documentación del
asegurado", "En período de gracia"), never the code; AWAITING_DOCUMENTS → waiting on the client, with
``requested_documents``; basis points → percentage deductibles. Every page is validated (shape, required fields, count,
full pages, total) before anything is mapped, and any failure fails the whole fetch. An
unknown customer at fetch time is ``ReauthRequired``.
"""

from connectors.australis.connector import AustralisConnector

__all__ = ["AustralisConnector"]
