"""Insurer accounts of any size (issue 9): one client of 3,000 policies syncs page by page, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from aggregator.extensions import db
from aggregator.models import Claim, Coverage, InsurerAccount, Policy, SyncRun, User
from aggregator.models.types import utcnow
from aggregator.services import insurers, sync
from connectors.gnp import GnpConnector
from connectors.gnp.sandbox import make_app, sandbox_of, settings_for
from connectors.sandbox import running
from connectors.testing import Recorder
from tests.support.data import link_pair

POLICIES = 3_000
SAMPLES = GnpConnector.sandbox().samples


@dataclass
class BigSandbox:
    """A GNP sandbox where the valid sample client holds 3,000 pólizas."""

    base: str
    recorder: Recorder
    client_id: str
    claims: int  # the client's siniestros

    def faults(self, **faults: Any) -> None:
        """Set the sandbox's faults; none: clear them."""
        if faults:
            requests.post(f"{self.base}/__sandbox/faults", json=faults, timeout=5).raise_for_status()
        else:
            requests.delete(f"{self.base}/__sandbox/faults", timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def big_gnp() -> Iterator[BigSandbox]:
    app = make_app(policies_per_client=POLICIES, large_clients=[SAMPLES.valid[0].number])
    store = sandbox_of(app).store
    client_id = store.by_rfc[SAMPLES.valid[0].number]
    assert store.extras is not None
    claims = len(store.claims[client_id]) + store.extras.claims_count(client_id)
    recorder = Recorder(app, "/__sandbox/faults")
    with running(recorder) as base:
        yield BigSandbox(base, recorder, client_id, claims)


@contextmanager
def pointed_at(app: Flask, base: str, **policy: Any) -> Iterator[None]:
    """The portal's GNP connector on the big sandbox (and HTTP policy overrides) for the block."""
    saved: dict[str, Any] = {key: app.config.get(key) or {} for key in ("CONNECTOR_SETTINGS", "CONNECTOR_HTTP_POLICY")}
    app.config["CONNECTOR_SETTINGS"] = {**saved["CONNECTOR_SETTINGS"], "gnp": settings_for(base)}
    app.config["CONNECTOR_HTTP_POLICY"] = {**saved["CONNECTOR_HTTP_POLICY"], **policy}
    insurers.reset_connectors(app)
    try:
        yield
    finally:
        app.config.update(saved)
        insurers.reset_connectors(app)


def _user() -> int:
    user = User(email="grande@coberta.example", password_hash=None, verified_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user.id


def _count(model: Any, account_id: int) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(model.account_id == account_id)) or 0)


def test_a_client_of_3000_policies_syncs_page_by_page(app: Flask, big_gnp: BigSandbox) -> None:
    recorder, client_id = big_gnp.recorder, big_gnp.client_id
    with pointed_at(app, big_gnp.base), app.app_context():
        account = link_pair(_user(), "gnp", *SAMPLES.valid, run_sync=False)
        recorder.clear()
        run = sync.sync_account(account.id, "link")
        assert run is not None and run.outcome == "ok", run and run.detail
        assert _count(Policy, account.id) == POLICIES
        claims = _count(Claim, account.id)
        assert claims == big_gnp.claims and claims >= POLICIES // 10
        assert (run.added, run.changed, run.removed) == (POLICIES + claims, 0, 0)
        coverages = db.session.scalar(
            select(func.count()).select_from(Coverage).join(Policy).where(Policy.account_id == account.id)
        )
        assert coverages and coverages > 5 * POLICIES
        # The largest page GNP allows: 30 pages of pólizas, not 300 of 10.
        listing = [c for c in recorder.calls() if c.path == f"/api/v1/clientes/{client_id}/polizas"]
        assert len(listing) == POLICIES // 100 and all("por_pagina=100" in c.query for c in listing)

        last_change = db.session.scalar(select(func.max(Policy.changed_at)))
        again = sync.sync_account(account.id, "refresh")
        assert again is not None and again.outcome == "ok", again and again.detail
        assert (again.added, again.changed, again.removed) == (0, 0, 0)  # the same 3,000: nothing written
        db.session.expire_all()
        assert db.session.scalar(select(func.max(Policy.changed_at))) == last_change


def test_a_failure_on_its_last_page_leaves_the_database_unchanged(app: Flask, big_gnp: BigSandbox) -> None:
    recorder, client_id = big_gnp.recorder, big_gnp.client_id
    # One attempt per call: a retry would mend a one-off 500 (the connector kit tests that it does).
    with pointed_at(app, big_gnp.base, max_attempts=1), app.app_context():
        account = link_pair(_user(), "gnp", *SAMPLES.valid, run_sync=False)
        policies_path = f"/api/v1/clientes/{client_id}/polizas"
        last_page = POLICIES // 100  # the fetch's last request: siniestros come first, then 30 pages of pólizas
        recorder.clear()
        big_gnp.faults(status=500, on_request=last_page, path=policies_path)
        try:
            run = sync.sync_account(account.id, "link")
        finally:
            big_gnp.faults()
        assert run is not None and run.outcome == "failed" and run.error == "unavailable", run and run.detail
        pages = [c for c in recorder.calls() if c.path.startswith(f"/api/v1/clientes/{client_id}/")]
        assert pages[-1].path == policies_path and pages[-1].status == 500, "the fault was not on the last page"
        assert len(pages) == -(-big_gnp.claims // 100) + last_page  # every page before it was fetched and staged
        # All or nothing: 29 pages of pólizas arrived fine, yet not one row was written.
        assert _count(Policy, account.id) == 0 and _count(Claim, account.id) == 0
        assert (run.added, run.changed, run.removed) == (0, 0, 0)
        row = db.session.get(InsurerAccount, account.id)
        assert row is not None and row.health == "error" and row.last_success_at is None

        cured = sync.sync_account(account.id, "refresh")
        assert cured is not None and cured.outcome == "ok", cured and cured.detail
        assert _count(Policy, account.id) == POLICIES
        runs = db.session.scalars(select(SyncRun.outcome).where(SyncRun.account_id == account.id)).all()
        assert sorted(runs) == ["failed", "ok"]
