"""Every route that takes an object id answers 404 to a user who may not see that object (DESIGN §7).

The test walks the URL map, so a route added later is covered without editing this file; a route
whose id argument this test cannot fill fails it, on purpose.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Rule

from aggregator.extensions import db
from aggregator.models import (
    Claim,
    Document,
    InsurerAccount,
    Policy,
    ProfileGrant,
    SocialIdentity,
    UserSession,
)
from tests.conftest import csrf_from, register_verified
from tests.support.data import link_pair, link_sample, sandbox_samples, user_id
from tests.support.org_data import grant_accounts, make_org

OWNER, STRANGER = "duena@example.com", "extrano@example.com"


def _owner_objects(app: Flask) -> dict[str, Any]:
    """Ids of objects only the owner may see: a profile, an account, a policy with a document, a claim."""
    with app.app_context():
        uid = user_id(OWNER)
        link_sample(uid, "gnp")
        link_sample(uid, "australis")
        profile_id = db.session.scalar(select(ProfileGrant.profile_id).where(ProfileGrant.user_id == uid))
        account_id = db.session.scalar(select(InsurerAccount.id).where(InsurerAccount.profile_id == profile_id))
        policy_doc = db.session.execute(
            select(Document.policy_id, Document.id).where(Document.policy_id.is_not(None)).limit(1)
        ).one()
        claim = db.session.scalar(select(Claim).limit(1))
        assert claim is not None, "the sample clients have no claim: the walk would not cover claim routes"
        claim_doc = db.session.scalar(select(Document.id).where(Document.claim_id == claim.id))
        policy_id = db.session.scalar(select(Policy.id).where(Policy.id == policy_doc[0]))
        identity = SocialIdentity(user_id=uid, provider="google", issuer="https://accounts.google.com", subject="1")
        db.session.add(identity)
        db.session.commit()
        session_id = db.session.scalar(select(UserSession.id).where(UserSession.user_id == uid))
        # An organization the owner granted access to the profile ("Acceso" page: revoke it).
        org_id = make_org("walk-broker")
        accounts = list(db.session.scalars(select(InsurerAccount).where(InsurerAccount.profile_id == profile_id)))
        grant_id = grant_accounts(org_id, accounts, origin="invitation")
        return {
            "grant_id": grant_id,
            "session_id": session_id,
            "identity_id": identity.id,
            "profile_id": profile_id,
            "account_id": account_id,
            "policy_id": policy_id,
            "policy_document_id": policy_doc[1],
            "claim_id": claim.id,
            "claim_document_id": claim_doc,
        }


def _values(rule: Rule, ids: dict[str, Any]) -> dict[str, Any] | None:
    """Arguments for ``rule`` from the owner's ids; a document id belongs to the route's parent."""
    values: dict[str, Any] = {}
    for name in rule.arguments:
        if name == "document_id":
            key = "claim_document_id" if "claim_id" in rule.arguments else "policy_document_id"
        else:
            key = name
        if ids.get(key) is None:
            return None
        values[name] = ids[key]
    return values


def _id_rules(app: Flask) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if any(isinstance(conv, IntegerConverter) for conv in rule._converters.values())
    ]


def _call(client: FlaskClient, rule: Rule, url: str) -> Any:
    methods = rule.methods or set()
    if "GET" in methods:
        return client.get(url)
    token = csrf_from(client.get("/account/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token}, headers={"X-CSRFToken": token})


def test_every_id_route_is_404_for_another_user(app: Flask, mailbox: Any) -> None:
    owner, stranger = app.test_client(), app.test_client()
    register_verified(owner, mailbox, OWNER)
    register_verified(stranger, mailbox, STRANGER)
    ids = _owner_objects(app)
    with app.app_context():  # the stranger holds a profile of their own (another person's): not empty-handed
        samples = sandbox_samples("gnp")
        assert samples.paged_policy
        link_pair(user_id(STRANGER), "gnp", samples.paged_client, samples.paged_policy)

    # Organizations' workspaces (/o/<slug>/...) are walked by tests/integration/test_org_walk.py, with members.
    rules = [rule for rule in _id_rules(app) if "slug" not in rule.arguments]
    assert len(rules) >= 5, f"expected the profile, policy, claim and document routes, found {rules}"
    unfilled, leaks, checked = [], [], []
    for rule in rules:
        values = _values(rule, ids)
        if values is None:
            unfilled.append(rule.rule)
            continue
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **values)
        answer = _call(stranger, rule, url)
        checked.append(url)
        if answer.status_code != 404:
            leaks.append((rule.rule, url, answer.status_code))
        if "GET" in (rule.methods or set()):  # the same URL works for its owner: the 404 means "not yours"
            mine = owner.get(url)
            assert mine.status_code == 200, (url, mine.status_code)
    assert not unfilled, f"routes with ids this test cannot fill (teach it): {unfilled}"
    assert not leaks, f"routes that answered another user with something else than 404: {leaks}"
    assert checked


def test_ids_beyond_the_id_columns_are_404_not_500(app: Flask, mailbox: Any) -> None:
    """``/policies/9223372036854775808`` and 2**31 on every ``<int:>`` route: not found, never a database error."""
    client = app.test_client()
    register_verified(client, mailbox, OWNER)
    rules = _id_rules(app)
    assert rules
    answers = {}
    for rule in rules:
        for big in (2**31, 2**63, 10**30):
            url = re.sub(r"<int:[a-z_]+>", str(big), rule.rule)
            answers[(rule.rule, big)] = _call(client, rule, url).status_code
    assert set(answers.values()) == {404}, {k: v for k, v in answers.items() if v != 404}
    assert client.get("/policies/2147483647").status_code == 404  # the largest id still reaches the view
