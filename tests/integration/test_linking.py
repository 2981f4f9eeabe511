"""Linking client profiles (issue 4 §1, seed 003) against the real GNP and Australis sandboxes."""

from __future__ import annotations

import html as htmllib
import json
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import func, select, update

from aggregator.extensions import db
from aggregator.models import (
    AuditEvent,
    ClientProfile,
    InsurerAccount,
    LinkThrottle,
    Policy,
    ProfileGrant,
    User,
)
from aggregator.models.types import utcnow
from aggregator.services import linking, taxids
from connectors.models import TaxId
from tests.conftest import Mailbox, Sandbox, csrf_token, login, register, register_verified, strip_csrf, text_body
from tests.support.data import user_id

HX = {"HX-Request": "true"}


# --- helpers ----------------------------------------------------------------------------------


def post_link(client: FlaskClient, id_type: str, number: str, policy: str, **kw: Any) -> Any:
    """Submit the linking form as a browser does (GET for the token, then POST)."""
    token = csrf_token(client, "/profiles/link")
    return client.post(
        "/profiles/link",
        data={"csrf_token": token, "id_type": id_type, "id_number": number, "policy_number": policy},
        **kw,
    )


def link_pair(client: FlaskClient, tax_id: TaxId, policy: str, **kw: Any) -> Any:
    return post_link(client, tax_id.type.value, tax_id.number, policy, **kw)


def comparable(body: str) -> str:
    """The page without what legitimately differs between two attempts: CSRF tokens and the user's own input."""
    body = strip_csrf(body)
    body = re.sub(r'(<input[^>]*name="(?:id_number|policy_number)"[^>]*?)\svalue="[^"]*"', r"\1", body)
    return re.sub(r"<option selected", "<option", body)


def grants_of(app: Flask, email: str) -> list[ProfileGrant]:
    with app.app_context():
        uid = user_id(email)
        return list(db.session.scalars(select(ProfileGrant).where(ProfileGrant.user_id == uid)))


def throttle(app: Flask, key: str) -> LinkThrottle | None:
    with app.app_context():
        return db.session.get(LinkThrottle, key)


def key_of(app: Flask, tax_id: TaxId) -> str:
    with app.test_request_context():
        return linking.target_key(tax_id)


def second_browser(app: Flask, mailbox: Mailbox, email: str) -> FlaskClient:
    other = app.test_client()
    register_verified(other, mailbox, email)
    return other


# --- success --------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["gnp", "australis"])
def test_link_with_each_sandbox_sample_creates_profile_grant_account_and_syncs(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox], slug: str
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    tax_id, number = sandboxes[slug].samples.valid

    answer = link_pair(client, tax_id, f"  {number} ")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"

    with app.app_context():
        uid = user_id("ana@example.com")
        profile = db.session.scalars(
            select(ClientProfile).where(
                ClientProfile.id_type == tax_id.type.value, ClientProfile.id_number == tax_id.number
            )
        ).one()
        assert profile.country == taxids.country_for(tax_id.type)
        grant = db.session.scalars(select(ProfileGrant).where(ProfileGrant.profile_id == profile.id)).one()
        assert (grant.user_id, grant.granted_via, grant.role, grant.revoked_at) == (uid, "tax_id", "holder", None)
        accounts = list(db.session.scalars(select(InsurerAccount).where(InsurerAccount.profile_id == profile.id)))
        assert slug in {a.insurer.slug for a in accounts}
        assert all(a.health == "ok" and a.status == "ok" for a in accounts)  # the inline sync already ran
        policies = db.session.scalar(
            select(func.count(Policy.id)).where(Policy.account_id.in_([a.id for a in accounts]))
        )
        assert policies and policies > 0
        name = profile.name

    # The dashboard greets with a flash naming the profile; the profiles page lists it and its insurer.
    with client.session_transaction() as session:
        flashes = session.get("_flashes", [])
    assert [category for category, message in flashes if name in message] == ["success"]
    page = client.get("/profiles").get_data(as_text=True)
    assert f'data-testid="profile-{profile.id}"' in page and 'data-status="ok"' in page
    assert tax_id.number not in page  # masked only


def test_link_through_htmx_redirects_with_hx_redirect(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    tax_id, number = sandboxes["gnp"].samples.valid
    answer = link_pair(client, tax_id, number, headers=HX)
    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/"


# --- one answer for every failure -------------------------------------------------------------------


def test_every_failure_kind_gives_the_identical_answer(
    app: Flask,
    client: FlaskClient,
    mailbox: Mailbox,
    sandboxes: dict[str, Sandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "LINK_USER_FAILURES", 50)  # this test is about the answers, not the limits
    register_verified(client, mailbox, "ana@example.com")
    gnp, australis = sandboxes["gnp"].samples, sandboxes["australis"].samples
    valid_id, valid_policy = gnp.valid
    answers = {
        "unknown id": link_pair(client, gnp.unknown, valid_policy),
        "wrong policy": link_pair(client, valid_id, gnp.inactive[1]),  # another client's policy
        "inactive policy": link_pair(client, *gnp.inactive),
        "unknown id (AR)": link_pair(client, australis.unknown, australis.valid[1]),
        "inactive policy (AR)": link_pair(client, *australis.inactive),
    }
    for sandbox in sandboxes.values():
        sandbox.faults(status=503)
    answers["insurer down"] = link_pair(client, valid_id, valid_policy)
    for sandbox in sandboxes.values():
        sandbox.clear()

    statuses = {kind: a.status_code for kind, a in answers.items()}
    assert set(statuses.values()) == {422}, statuses
    bodies = {kind: comparable(a.get_data(as_text=True)) for kind, a in answers.items()}
    reference = bodies["unknown id"]
    assert 'data-testid="link-failed"' in reference and 'data-testid="link-locked"' not in reference
    for kind, body in bodies.items():
        assert body == reference, kind
    assert grants_of(app, "ana@example.com") == []


def test_a_slow_insurer_is_the_same_failure_within_the_time_bound(
    app: Flask,
    client: FlaskClient,
    mailbox: Mailbox,
    sandboxes: dict[str, Sandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    gnp = sandboxes["gnp"].samples
    reference = link_pair(client, gnp.unknown, gnp.valid[1])
    monkeypatch.setitem(app.config, "LINK_TIMEOUT_SECONDS", 0.3)
    sandboxes["gnp"].faults(timeout_s=2)
    started = time.monotonic()
    slow = link_pair(client, *gnp.valid)
    assert time.monotonic() - started < 1.5  # nobody waits for the slow insurer
    assert slow.status_code == reference.status_code == 422
    assert comparable(slow.get_data(as_text=True)) == comparable(reference.get_data(as_text=True))
    assert grants_of(app, "ana@example.com") == []


def test_every_answer_takes_at_least_the_minimum_time(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    monkeypatch.setitem(app.config, "LINK_MIN_SECONDS", 0.3)
    for args in (("DNI", "12", "x"), ("DNI", "30111222", "AR-NOPE-1")):
        started = time.monotonic()
        post_link(client, *args)
        assert time.monotonic() - started >= 0.3


# --- invalid numbers: specific, and still counted ----------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "number", "code"),
    [
        ("RFC", "GODE561231GR9", "checksum"),
        ("RFC", "GODE5612", "length"),
        ("CURP", "BOXW310820HNERXN08", "checksum"),
        ("CUIT", "20-26756539-4", "checksum"),
        ("DNI", "12a45678", "format"),
    ],
)
def test_an_invalid_number_gets_its_own_message_on_the_field(
    app: Flask, client: FlaskClient, mailbox: Mailbox, id_type: str, number: str, code: str
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    answer = post_link(client, id_type, number, "123")
    assert answer.status_code == 422
    body = htmllib.unescape(answer.get_data(as_text=True))
    assert 'data-testid="id-number-error"' in body and 'data-testid="link-failed"' not in body
    with app.app_context(), app.test_request_context(), force_locale("es"):
        expected = taxids.TaxIdInvalid(id_type, code).message
        other = taxids.TaxIdInvalid(id_type, "format" if code != "format" else "length").message
    assert expected in body and other not in body
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "profile.link")).one()
        assert event.outcome == "invalid" and event.details["code"] == code
    user_row = throttle(app, f"link-user:{grants_user(app)}")
    assert user_row is not None and user_row.failures == 1


def grants_user(app: Flask) -> int:
    with app.app_context():
        return user_id("ana@example.com")


def test_inline_check_as_you_type(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "ana@example.com")
    token = csrf_token(client, "/profiles/link")
    bad = client.post(
        "/profiles/link/check",
        data={"id_type": "RFC", "id_number": "GODE561231GR9"},
        headers={**HX, "X-CSRFToken": token},
    )
    assert bad.status_code == 200 and 'data-testid="id-number-check"' in bad.get_data(as_text=True)
    good = client.post(
        "/profiles/link/check",
        data={"id_type": "RFC", "id_number": "gode-561231-gr8"},
        headers={**HX, "X-CSRFToken": token},
    )
    assert 'data-testid="id-number-ok"' in good.get_data(as_text=True)
    assert client.post("/profiles/link/check", data={"id_type": "RFC", "id_number": "X"}).status_code == 400  # CSRF
    with app.app_context():  # checking the shape is not an attempt
        assert db.session.scalar(select(func.count()).select_from(LinkThrottle)) == 0


# --- throttling -------------------------------------------------------------------------------------


def test_the_target_limit_trips_across_two_users(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    limit = int(app.config["LINK_TARGET_FAILURES"])
    assert limit <= int(app.config["LINK_USER_FAILURES"])
    gnp, australis = sandboxes["gnp"].samples, sandboxes["australis"].samples
    target, right_policy = gnp.valid
    register_verified(client, mailbox, "ana@example.com")
    bruno = second_browser(app, mailbox, "bruno@example.com")

    first = limit - 2
    for i in range(first):
        assert link_pair(client, target, f"WRONG-{i}").status_code == 422
    for i in range(2):
        assert link_pair(bruno, target, f"WRONG-B{i}").status_code == 422
    row = throttle(app, key_of(app, target))
    assert row is not None and row.locks == 1 and row.locked_until is not None

    # Bruno is refused for that target, even with the right policy number; no insurer is asked.
    locked = link_pair(bruno, target, right_policy)
    assert locked.status_code == 429
    body = locked.get_data(as_text=True)
    assert 'data-testid="link-locked"' in body and 'data-testid="link-failed"' in body
    assert grants_of(app, "bruno@example.com") == []
    # ... so is Ana; neither of the two users is locked as a user.
    assert link_pair(client, target, right_policy).status_code == 429
    assert link_pair(bruno, *australis.valid).status_code == 303
    # HTMX gets the same page with 422 (htmx swaps no other 4xx).
    hx = link_pair(client, target, right_policy, headers=HX)
    assert hx.status_code == 422 and 'data-testid="link-locked"' in hx.get_data(as_text=True)
    with app.app_context():
        outcomes = [
            e.outcome for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "profile.link"))
        ]
    assert outcomes.count("failure") == limit and outcomes.count("locked") == 3 and outcomes.count("success") == 1


def test_the_user_limit_locks_the_user_whatever_the_target(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    limit = int(app.config["LINK_USER_FAILURES"])
    answers = [post_link(client, "DNI", str(30_111_200 + i), "AR-NOPE-1") for i in range(limit)]
    assert [a.status_code for a in answers] == [422] * limit
    # The failure that reaches the limit already says so.
    assert 'data-testid="link-locked"' in answers[-1].get_data(as_text=True)
    assert 'data-testid="link-locked"' not in answers[-2].get_data(as_text=True)
    uid = grants_user(app)
    row = throttle(app, f"link-user:{uid}")
    assert row is not None and row.locks == 1 and row.failures == 0
    assert row.locked_until is not None
    minutes = (row.locked_until - utcnow()).total_seconds() / 60
    assert int(app.config["LINK_LOCK_MINUTES"]) - 1 < minutes <= int(app.config["LINK_LOCK_MINUTES"])

    # Locked: even the right pair is refused, and a malformed one too, without counting.
    assert link_pair(client, *sandboxes["gnp"].samples.valid).status_code == 429
    assert post_link(client, "RFC", "nope", "1").status_code == 429
    assert grants_of(app, "ana@example.com") == []

    # Another user from elsewhere is not affected.
    other = second_browser(app, mailbox, "bruno@example.com")
    assert link_pair(other, *sandboxes["gnp"].samples.valid).status_code == 303


def test_the_lock_escalates_and_a_success_resets_the_user_count(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    uid = grants_user(app)
    key = f"link-user:{uid}"
    limit = int(app.config["LINK_USER_FAILURES"])
    base = float(app.config["LINK_LOCK_MINUTES"])

    def fail(times: int, start: int) -> None:
        for i in range(times):
            post_link(client, "DNI", str(30_111_300 + start + i), "AR-NOPE-1")

    def expire_lock() -> None:
        with app.app_context():
            db.session.execute(update(LinkThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
            db.session.commit()

    fail(limit, 0)
    for n, factor in ((2, 2), (3, 4)):
        expire_lock()
        fail(limit, n * 10)
        row = throttle(app, key)
        assert row is not None and row.locks == n and row.locked_until is not None
        minutes = (row.locked_until - utcnow()).total_seconds() / 60
        assert base * factor - 1 < minutes <= base * factor

    with app.test_request_context():
        assert linking.lock_duration(50) == timedelta(hours=24)  # capped at a day

    # A success resets the user's failures (not the lock history).
    expire_lock()
    fail(limit - 1, 100)
    assert link_pair(client, *sandboxes["gnp"].samples.valid).status_code == 303
    row = throttle(app, key)
    assert row is not None and row.failures == 0 and row.locks == 3


def test_invalid_numbers_count_against_the_user(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "ana@example.com")
    limit = int(app.config["LINK_USER_FAILURES"])
    for i in range(limit):
        assert post_link(client, "RFC", f"BAD{i}", "1").status_code == 422
    assert post_link(client, "RFC", "BAD", "1").status_code == 429


# --- audit -------------------------------------------------------------------------------------------


def test_audit_events_never_hold_raw_id_numbers(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    gnp = sandboxes["gnp"].samples
    valid_id, number = gnp.valid
    link_pair(client, gnp.unknown, number)  # failure
    post_link(client, "RFC", valid_id.number[:-1] + ("0" if valid_id.number[-1] != "0" else "1"), number)  # invalid
    link_pair(client, valid_id, number)  # success
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent)))
        links = [e for e in events if e.action == "profile.link"]
        assert sorted(e.outcome for e in links) == ["failure", "invalid", "success"]
        for event in events:
            blob = json.dumps(
                [event.details, event.target_id, event.target_type, event.ip, event.action], default=str
            ).upper()
            for raw in (valid_id.number, gnp.unknown.number, valid_id.number[:-1], number):
                assert raw.upper() not in blob, (event.action, event.details)
        success = next(e for e in links if e.outcome == "success")
        assert success.target_type == "client_profile" and success.details["insurers"] == ["gnp"]
        failure = next(e for e in links if e.outcome == "failure")
        assert failure.details["target"] and failure.details["id_type"] == "RFC"


# --- automatic linking by email ------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["gnp", "australis"])
def test_verifying_an_email_the_insurer_knows_links_its_profiles(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox], slug: str
) -> None:
    email = sandboxes[slug].samples.email_with_clients
    assert email
    register_verified(client, mailbox, email)
    with app.app_context():
        uid = user_id(email)
        grants = list(db.session.scalars(select(ProfileGrant).where(ProfileGrant.user_id == uid)))
        assert grants and all(g.granted_via == "email" and g.revoked_at is None for g in grants)
        accounts = list(
            db.session.scalars(
                select(InsurerAccount).where(InsurerAccount.profile_id.in_([g.profile_id for g in grants]))
            )
        )
        assert slug in {a.insurer.slug for a in accounts}
        assert all(a.health == "ok" for a in accounts)
        profile_ids = [g.profile_id for g in grants]
    page = client.get("/profiles").get_data(as_text=True)
    assert all(f'data-testid="profile-{pid}"' in page for pid in profile_ids)


def test_on_demand_search_relinks_an_unlinked_profile(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    email = sandboxes["gnp"].samples.email_with_clients
    assert email
    register_verified(client, mailbox, email)
    grant = grants_of(app, email)[0]
    token = csrf_token(client, f"/profiles/{grant.profile_id}/unlink")
    assert client.post(f"/profiles/{grant.profile_id}/unlink", data={"csrf_token": token}).status_code == 303
    assert all(g.revoked_at is not None for g in grants_of(app, email) if g.profile_id == grant.profile_id)

    token = csrf_token(client, "/profiles")
    answer = client.post("/profiles/auto-link", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == "/profiles"
    relinked = [g for g in grants_of(app, email) if g.profile_id == grant.profile_id]
    assert relinked[0].revoked_at is None and relinked[0].id == grant.id  # un-revoked, not a new row


def test_a_user_without_insurer_email_finds_nothing(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "nobody@example.com")
    token = csrf_token(client, "/profiles")
    assert client.post("/profiles/auto-link", data={"csrf_token": token}).status_code == 303
    assert grants_of(app, "nobody@example.com") == []
    page = client.get("/profiles").get_data(as_text=True)
    assert 'data-testid="profiles-empty"' in page


# --- two holders: the notice, and unlinking keeps the other's access -------------------------------------


def test_existing_holders_are_told_and_unlinking_keeps_the_other_users_access(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    tax_id, number = sandboxes["gnp"].samples.valid
    register_verified(client, mailbox, "ana@example.com")
    assert link_pair(client, tax_id, number).status_code == 303
    bruno = second_browser(app, mailbox, "bruno@example.com")
    mailbox.clear()
    assert link_pair(bruno, tax_id, number).status_code == 303

    with app.app_context():
        profile = db.session.scalars(select(ClientProfile).where(ClientProfile.id_number == tax_id.number)).one()
        pid, masked = profile.id, profile.masked_id
        policies_before = db.session.scalar(
            select(func.count(Policy.id)).join(InsurerAccount).where(InsurerAccount.profile_id == pid)
        )
    deadline = time.monotonic() + 10
    while not mailbox.to("ana@example.com") and time.monotonic() < deadline:
        time.sleep(0.05)
    notices = mailbox.to("ana@example.com")
    assert len(notices) == 1
    body = text_body(notices[0])
    assert masked in body and tax_id.number not in body
    assert mailbox.to("bruno@example.com") == []  # the one who linked gets no notice

    # Relinking an already linked profile tells nobody again.
    mailbox.clear()
    assert link_pair(bruno, tax_id, number).status_code == 303
    time.sleep(0.2)
    assert mailbox.to("ana@example.com") == []

    confirm = bruno.get(f"/profiles/{pid}/unlink")
    assert confirm.status_code == 200 and 'data-testid="unlink-confirm"' in confirm.get_data(as_text=True)
    token = csrf_token(bruno, f"/profiles/{pid}/unlink")
    assert bruno.post(f"/profiles/{pid}/unlink", data={"csrf_token": token}).status_code == 303

    with app.app_context():
        by_user = {g.user_id: g for g in db.session.scalars(select(ProfileGrant).where(ProfileGrant.profile_id == pid))}
        ana, bru = user_id("ana@example.com"), user_id("bruno@example.com")
        assert by_user[ana].revoked_at is None and by_user[bru].revoked_at is not None
        assert db.session.get(ClientProfile, pid) is not None
        assert (
            db.session.scalar(
                select(func.count(Policy.id)).join(InsurerAccount).where(InsurerAccount.profile_id == pid)
            )
            == policies_before
        )
        unlink_event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "profile.unlink")).one()
        assert unlink_event.actor_user_id == bru and unlink_event.target_id == str(pid)

    assert f'data-testid="profile-{pid}"' in client.get("/profiles").get_data(as_text=True)
    assert f'data-testid="profile-{pid}"' not in bruno.get("/profiles").get_data(as_text=True)
    # Bruno has no access any more: every route with the id is a 404 for him.
    token = csrf_token(bruno, "/profiles")
    assert bruno.post(f"/profiles/{pid}/refresh", data={"csrf_token": token}).status_code == 404
    assert bruno.get(f"/profiles/{pid}/unlink").status_code == 404
    assert bruno.post(f"/profiles/{pid}/unlink", data={"csrf_token": token}).status_code == 404


# --- access -----------------------------------------------------------------------------------------------


def test_another_users_profile_is_a_404(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    assert link_pair(client, *sandboxes["gnp"].samples.valid).status_code == 303
    pid = grants_of(app, "ana@example.com")[0].profile_id
    stranger = second_browser(app, mailbox, "eve@example.com")
    token = csrf_token(stranger, "/profiles")
    assert stranger.post(f"/profiles/{pid}/refresh", data={"csrf_token": token}).status_code == 404
    assert stranger.get(f"/profiles/{pid}/unlink").status_code == 404
    assert stranger.post(f"/profiles/{pid}/unlink", data={"csrf_token": token}).status_code == 404
    assert stranger.post("/profiles/999999/refresh", data={"csrf_token": token}).status_code == 404
    assert grants_of(app, "ana@example.com")[0].revoked_at is None


def test_refresh_queues_a_sync_and_htmx_gets_the_list(
    app: Flask, client: FlaskClient, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    register_verified(client, mailbox, "ana@example.com")
    assert link_pair(client, *sandboxes["gnp"].samples.valid).status_code == 303
    pid = grants_of(app, "ana@example.com")[0].profile_id
    token = csrf_token(client, "/profiles")
    plain = client.post(f"/profiles/{pid}/refresh", data={"csrf_token": token})
    assert plain.status_code == 303 and plain.headers["Location"] == "/profiles"
    hx = client.post(f"/profiles/{pid}/refresh", headers={**HX, "X-CSRFToken": token})
    body = hx.get_data(as_text=True)
    assert hx.status_code == 200 and body.lstrip().startswith('<div id="profile-list"') and "<html" not in body
    assert "HX-Request" in hx.headers.get("Vary", "")
    with app.app_context():
        from aggregator.models import SyncRun

        runs = db.session.scalars(select(SyncRun.trigger)).all()
        assert runs.count("refresh") == 2 and runs.count("link") >= 1


def test_unverified_users_cannot_link(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register(client, "ana@example.com")
    login(client, "ana@example.com")
    with app.app_context():
        assert db.session.scalars(select(User)).one().verified_at is None
    assert client.get("/profiles/link").status_code == 403
    assert client.get("/profiles").status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/profiles/link").status_code in (302, 303, 401)


def test_the_pages_render_for_a_phone_and_without_javascript(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    register_verified(client, mailbox, "ana@example.com")
    page = client.get("/profiles/link").get_data(as_text=True)
    assert 'data-testid="link-form"' in page and 'action="/profiles/link"' in page
    assert 'data-testid="why-card"' in page
    assert 'name="id_type"' in page and 'name="id_number"' in page and 'name="policy_number"' in page
    assert "<script>" not in page and " hx-on" not in page
    empty = client.get("/profiles").get_data(as_text=True)
    assert 'data-testid="profiles-empty"' in empty and 'href="/profiles/link"' in empty
