"""GNP's sandbox: the partner API over fictional data, wrapped in the shared fault injector."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from functools import lru_cache
from typing import Any

from connectors.base import SandboxSamples
from connectors.gnp.sandbox.app import MAX_PAGE_SIZE, GnpSandbox
from connectors.gnp.sandbox.data import (
    GNP_PEOPLE,
    INACTIVE_PERSON,
    PAGED_PERSON,
    VIP_PERSON,
    Store,
    generate,
)
from connectors.models import TaxId, TaxIdType
from connectors.sandbox.faults import FaultInjector, Faults
from connectors.sandbox.people import population

# Fixed sandbox credentials (they open nothing but the sandbox).
SANDBOX_CLIENT_ID = "coberta-sandbox"
SANDBOX_CLIENT_SECRET = "gnp-sandbox-secreto-2026"  # noqa: S105 - a public sandbox credential
SAMPLE_PAGE_SIZE = 5  # the paged client's 23 pólizas: 5 pages
API_PREFIX = "/api/"  # faults set server-wide apply here (not to /oauth/token nor to the fault controls)


def make_app(
    seed: int = 2026,
    clients: int | None = None,
    page_size: int = MAX_PAGE_SIZE,
    token_ttl: int = 3600,
    faults: Faults | None = None,
    today: date | None = None,
    policies_per_client: int | None = None,
    large_clients: Collection[str] | None = None,
) -> FaultInjector:
    """The sandbox WSGI app.

    ``clients=N``: a book of N people (load tests). ``page_size``: the largest page served (GNP's own
    maximum is 100; a larger ``por_pagina`` within the API's limit is answered at this size, as the
    envelope says). ``policies_per_client=N``: every client — or those of ``large_clients``, given by
    RFC or CURP — holds N pólizas, the generated ones built page by page, never all in memory.
    """
    store, generator = generate(seed, clients, today, policies_per_client, large_clients)
    app = GnpSandbox(
        store,
        generator,
        page_size=page_size,
        token_ttl=token_ttl,
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
    )
    return FaultInjector(app, defaults=faults, api_prefix=API_PREFIX)


def sandbox_of(app: Any) -> GnpSandbox:
    """The GnpSandbox inside whatever wraps it (for tests and the demo)."""
    target = app
    while not isinstance(target, GnpSandbox):
        target = target.app
    return target


def settings_for(base_url: str) -> dict[str, str]:
    """Working connector settings for a sandbox served at ``base_url``."""
    return {"base_url": base_url, "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}


def bad_settings_for(base_url: str) -> dict[str, str]:
    """Settings the sandbox refuses (wrong secret → 401 invalid_client)."""
    return {**settings_for(base_url), "client_secret": "not-the-secret"}


@lru_cache(maxsize=1)
def _default_store() -> Store:
    return generate(2026)[0]


def _own_in_force(store: Store, client_id: str) -> str:
    """The number of the client's first in-force póliza they hold themselves."""
    return next(
        store.policies[p].numero
        for p in store.portfolio[client_id]
        if store.policies[p].body["estatus"] == "Vigente" and store.policies[p].holder == client_id
    )


def samples() -> SandboxSamples:
    """Known answers of the default sandbox (seed 2026); the book's shape does not depend on the date."""
    store = _default_store()
    people = population(2026).mexicans
    valid, paged, inactive = people[VIP_PERSON], people[PAGED_PERSON], people[INACTIVE_PERSON]
    valid_id, paged_id, inactive_id = (store.by_rfc[p.rfc or ""] for p in (valid, paged, inactive))
    inactive_number = next(
        store.policies[p].numero for p in store.portfolio[inactive_id] if not store.policies[p].active
    )
    unknown = people[59]  # in the shared population but a client of neither sandbox
    assert unknown.rfc and unknown.rfc not in store.by_rfc and GNP_PEOPLE < 59
    return SandboxSamples(
        valid=(TaxId(TaxIdType.RFC, valid.rfc or ""), _own_in_force(store, valid_id)),
        inactive=(TaxId(TaxIdType.RFC, inactive.rfc or ""), inactive_number),
        unknown=TaxId(TaxIdType.RFC, unknown.rfc),
        email_with_clients=paged.email,  # the person and the company they manage (company 0)
        paged_client=TaxId(TaxIdType.RFC, paged.rfc or ""),
        page_size=SAMPLE_PAGE_SIZE,
        paged_policy=_own_in_force(store, paged_id),
        paged_path=f"/api/v1/clientes/{paged_id}/polizas",
    )


__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "GnpSandbox",
    "bad_settings_for",
    "make_app",
    "samples",
    "sandbox_of",
    "settings_for",
]
