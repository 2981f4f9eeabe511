"""Rendered fragments of "Mis seguros" and the policy page: kept until a sync changes the data under them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from aggregator import fragments
from aggregator.extensions import db
from aggregator.models import InsurerAccount, Policy, ProfileGrant
from aggregator.models.types import utcnow
from aggregator.services import sync
from tests.conftest import Mailbox, csrf_from, register_verified
from tests.integration.test_query_counts import give_policies, statements_for, synthetic_portfolio
from tests.support.data import user_id

EMAIL = "fragmentos@example.com"


@pytest.fixture
def holder(app: Flask, mailbox: Mailbox) -> FlaskClient:
    client = app.test_client()
    register_verified(client, mailbox, EMAIL)
    with app.app_context():
        give_policies(EMAIL, 8)
    return client


def _account(app: Flask) -> InsurerAccount:
    with app.app_context():
        found = db.session.scalar(
            select(InsurerAccount)
            .join(ProfileGrant, ProfileGrant.profile_id == InsurerAccount.profile_id)
            .where(ProfileGrant.user_id == user_id(EMAIL))
        )
        assert found is not None
        return found


def test_a_kept_dashboard_and_policy_page_cost_two_and_three_statements(app: Flask, holder: FlaskClient) -> None:
    with app.app_context():
        policy_id = db.session.scalar(select(Policy.id).order_by(Policy.id))
    full = statements_for(app, holder, "/")
    kept = statements_for(app, holder, "/", cached=True)
    assert len(kept) == 2 < len(full), kept  # the session with its user, the accounts: nothing else
    page = statements_for(app, holder, f"/policies/{policy_id}", cached=True)
    assert len(page) == 3, page  # session, the policy (its access check), the currencies of the user's accounts


def test_a_sync_that_changes_the_data_shows_at_once(app: Flask, holder: FlaskClient) -> None:
    before = holder.get("/").get_data(as_text=True)
    assert "Producto renombrado" not in before
    account = _account(app)
    with app.app_context():
        portfolio = synthetic_portfolio(account.client_ref, 8)
        renamed = portfolio.policies[0].__class__(**{**vars(portfolio.policies[0]), "product": "Producto renombrado"})
        changed = portfolio.__class__(**{**vars(portfolio), "policies": (renamed, *portfolio.policies[1:])})
        row = db.session.get(InsurerAccount, account.id)
        assert row is not None
        sync.apply_portfolio(db.session(), row, changed, utcnow())
        row.last_success_at = utcnow()  # what a successful sync does in the same transaction
        db.session.commit()
    after = holder.get("/").get_data(as_text=True)
    assert "Producto renombrado" in after


def test_losing_access_drops_the_kept_cards(app: Flask, holder: FlaskClient) -> None:
    assert 'data-testid="policy"' in holder.get("/").get_data(as_text=True)
    with app.app_context():
        db.session.execute(update(ProfileGrant).values(revoked_at=utcnow()))
        db.session.commit()
    page = holder.get("/").get_data(as_text=True)
    assert 'data-testid="policy"' not in page


def test_each_language_and_each_user_has_its_own_copy(app: Flask, holder: FlaskClient, mailbox: Mailbox) -> None:
    spanish = holder.get("/").get_data(as_text=True)
    holder.post("/language", data={"csrf_token": csrf_from(spanish), "lang": "en", "next": "/"}, follow_redirects=False)
    english = holder.get("/").get_data(as_text=True)
    assert "Requiere atención" in spanish and "Needs your attention" in english
    other = app.test_client()
    register_verified(other, mailbox, "otra.persona@example.com")
    assert 'data-testid="policy"' not in other.get("/").get_data(as_text=True)


def test_kept_fragments_hold_no_csrf_token_nor_session(app: Flask, holder: FlaskClient) -> None:
    with app.app_context():
        policy_id = db.session.scalar(select(Policy.id).order_by(Policy.id))
    holder.get("/")
    holder.get(f"/policies/{policy_id}")
    with app.app_context():
        store: Any = app.extensions["fragments"]
        values = [v for _expiry, v in store._items.values()] if isinstance(store, fragments.LocalStore) else []
    if not values:
        pytest.skip("fragments are kept in Redis in this run; the local store's contents are checked on SQLite")
    assert len(values) >= 3
    with holder.session_transaction() as sess:
        raw = sess["csrf_token"]
    for html in values:
        assert "csrf" not in html.lower() and raw not in html
        assert not re.search(r'name="csrf_token"', html)


def test_the_cache_can_be_turned_off(app: Flask, holder: FlaskClient) -> None:
    app.config["FRAGMENT_CACHE_SECONDS"] = 0
    try:
        first = statements_for(app, holder, "/", cached=True)
    finally:
        app.config["FRAGMENT_CACHE_SECONDS"] = 600
    assert len(first) > 2
