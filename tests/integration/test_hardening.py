"""Issue 8 §1–2 in detail: trusted hosts, verification that proves only the mailbox, provider trust,
grants that cover what was proved, reservations before slow work, mail after the job's commit.

The attacks themselves, over real HTTP, are in ``test_attacks.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from aggregator import create_app, jobs, mail, trusted_hosts
from aggregator.extensions import db
from aggregator.models import (
    AuditEvent,
    GrantAccount,
    InsurerAccount,
    Job,
    LinkThrottle,
    ProfileGrant,
    SocialIdentity,
    User,
    UserSession,
)
from aggregator.services import linking
from tests.conftest import (
    STRONG_PASSWORD,
    Mailbox,
    Sandbox,
    close_app,
    csrf_from,
    csrf_token,
    link_in,
    local_path,
    login,
    register,
    register_verified,
)
from tests.support.data import user_id

OTHER_PASSWORD = "Cuenta#Propia2026!"


# --- 1. hosts and emailed links -------------------------------------------------------------------------


@pytest.fixture
def make_app(app_config: dict[str, Any]) -> Iterator[Callable[..., Flask]]:
    """Another portal on the test database with some settings changed; its connections closed afterwards."""
    made: list[Flask] = []

    def make(**changes: Any) -> Flask:
        portal = create_app(dict(app_config, **changes))
        made.append(portal)
        return portal

    yield make
    for portal in made:
        close_app(portal)


def test_unknown_hosts_get_400_and_no_email(app: Flask, mailbox: Mailbox) -> None:
    register_verified(app.test_client(), mailbox, "host@example.com")
    stranger = app.test_client()
    evil = {"Host": "evil.example"}
    page = stranger.get("/auth/forgot", headers=evil)
    assert page.status_code == 400 and "does not answer to that host" in page.get_data(as_text=True)
    assert stranger.post("/auth/forgot", data={"email": "host@example.com"}, headers=evil).status_code == 400
    assert stranger.get("/", headers={"Host": "127.0.0.1:5000"}).status_code == 302  # a local name is fine
    assert len(mailbox.to("host@example.com")) == 1  # the verification email only: no reset link anywhere


def test_links_use_the_external_url_whatever_the_host(make_app: Callable[..., Flask], mailbox: Mailbox) -> None:
    portal = make_app(EXTERNAL_URL="https://portal.example.com/", TRUSTED_HOSTS="alias.example.com")
    assert portal.config["TRUSTED_HOSTS"] == ["portal.example.com", "alias.example.com"]
    assert portal.config["EXTERNAL_URL"] == "https://portal.example.com"
    browser = portal.test_client()
    own = {"Host": "portal.example.com"}
    page = browser.get("/auth/register", headers=own)
    browser.post(
        "/auth/register",
        headers=own,
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": "externa@example.com",
            "password": STRONG_PASSWORD,
            "password_confirm": STRONG_PASSWORD,
            "accept_terms": "y",
        },
    )
    verify = link_in(mailbox.wait_for("externa@example.com"), "/auth/verify/")
    assert verify.startswith("https://portal.example.com/auth/verify/")
    aliased = portal.test_client()
    alias = {"Host": "alias.example.com"}
    page = aliased.get("/auth/forgot", headers=alias)
    assert page.status_code == 200
    aliased.post(
        "/auth/forgot",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": "externa@example.com"},
        headers=alias,
    )
    reset = link_in(mailbox.wait_for("externa@example.com", "contraseña"), "/auth/reset/")
    assert reset.startswith("https://portal.example.com/auth/reset/")
    assert portal.test_client().get("/auth/forgot").status_code == 400  # "localhost" is not this portal's name


def test_forwarded_host_from_a_trusted_proxy_is_checked_too(make_app: Callable[..., Flask]) -> None:
    portal = make_app(TRUSTED_PROXIES=1)
    browser = portal.test_client()
    assert browser.get("/auth/forgot", headers={"X-Forwarded-Host": "evil.example"}).status_code == 400
    assert browser.get("/auth/forgot", headers={"X-Forwarded-Host": "localhost"}).status_code == 200


def test_production_refuses_to_start_without_the_external_url(app_config: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="AGGREGATOR_EXTERNAL_URL is required in production"):
        create_app(dict(app_config, ENV_NAME="production"))
    with pytest.raises(RuntimeError, match="must be the portal's base URL"):
        trusted_hosts({"EXTERNAL_URL": "portal.example.com/app"})
    assert trusted_hosts({"ENV_NAME": "production", "EXTERNAL_URL": "https://p.example"}) == (
        "https://p.example",
        ["p.example"],
    )
    assert trusted_hosts({"TRUSTED_HOSTS": " a.example , .b.example"}) == (None, ["a.example", ".b.example"])
    assert trusted_hosts({}) == (None, ["localhost", "127.0.0.1"])


# --- 4. verification proves the mailbox, not what was set before ----------------------------------------


def _verify_link(mailbox: Mailbox, email: str) -> str:
    return local_path(link_in(mailbox.wait_for(email), "/auth/verify/"))


def _open(browser: FlaskClient, path: str) -> Any:
    page = browser.get(path)
    assert page.status_code == 200
    return browser.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def test_the_browser_that_registered_verifies_and_keeps_its_password(app: Flask, mailbox: Mailbox) -> None:
    browser = app.test_client()
    register(browser, "mismo@example.com")
    answer = _open(browser, _verify_link(mailbox, "mismo@example.com"))
    assert answer.status_code == 302  # signed in at once
    assert browser.get("/").status_code == 200
    assert login(app.test_client(), "mismo@example.com").status_code == 302


def test_a_signed_in_unverified_user_verifies_in_that_browser(app: Flask, mailbox: Mailbox) -> None:
    register(app.test_client(), "telefono@example.com")  # registered on the phone
    laptop = app.test_client()
    assert login(laptop, "telefono@example.com").status_code == 302  # signed in, not verified yet
    assert _open(laptop, _verify_link(mailbox, "telefono@example.com")).status_code == 302
    assert login(app.test_client(), "telefono@example.com").status_code == 302


def test_another_browser_chooses_the_password_and_everything_earlier_goes(app: Flask, mailbox: Mailbox) -> None:
    first = app.test_client()
    register(first, "otro@example.com")
    early = app.test_client()
    assert login(early, "otro@example.com").status_code == 302  # a session from before the proof
    with app.app_context():
        uid = user_id("otro@example.com")
        db.session.add(SocialIdentity(user_id=uid, provider="acme", issuer="https://id.example", subject="s"))
        db.session.commit()
    path = _verify_link(mailbox, "otro@example.com")
    elsewhere = app.test_client()
    elsewhere.set_cookie("lang", "en")
    ask = _open(elsewhere, path)
    assert ask.status_code == 200
    page = ask.get_data(as_text=True)
    assert "Choose your password to finish" in page and f'action="{path}/password"' in page
    with app.app_context():  # nothing changed yet: the link is not used up
        assert db.session.get(User, uid).verified_at is None  # type: ignore[union-attr]
    token = csrf_from(page)
    weak = elsewhere.post(
        f"{path}/password", data={"csrf_token": token, "password": "short", "password_confirm": "short"}
    )
    assert weak.status_code == 422
    done = elsewhere.post(
        f"{path}/password", data={"csrf_token": token, "password": OTHER_PASSWORD, "password_confirm": OTHER_PASSWORD}
    )
    assert done.status_code == 302 and elsewhere.get("/").status_code == 200
    assert early.get("/").status_code == 302  # the earlier session was closed
    assert login(app.test_client(), "otro@example.com").status_code == 401  # the earlier password is gone
    assert login(app.test_client(), "otro@example.com", OTHER_PASSWORD).status_code == 302
    with app.app_context():
        user = db.session.get(User, uid)
        assert user is not None and user.verified_at is not None
        assert db.session.scalar(select(func.count()).select_from(SocialIdentity)) == 0
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(UserSession)
                .where(UserSession.user_id == uid, UserSession.revoked_at.is_(None))
            )
            == 1
        )
        actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_user_id == uid)))
        assert {"email.verified_new_password", "email.verified"} <= actions
    # The link is used up.
    assert app.test_client().get(path).status_code == 410


def test_registering_a_taken_email_leaves_a_session_of_the_same_shape(app: Flask, mailbox: Mailbox) -> None:
    register_verified(app.test_client(), mailbox, "ocupado@example.com")
    shapes = []
    for email in ("ocupado@example.com", "libre@example.com"):
        browser = app.test_client()
        register(browser, email)
        with browser.session_transaction() as sess:
            shapes.append((sorted(sess.keys()), len(str(sess.get("reg_proof")))))
    assert shapes[0] == shapes[1]


# --- 6. a grant covers what was proved ---------------------------------------------------------------


def _post_link(browser: FlaskClient, id_type: str, number: str, policy: str) -> Any:
    return browser.post(
        "/profiles/link",
        data={
            "csrf_token": csrf_token(browser, "/profiles/link"),
            "id_type": id_type,
            "id_number": number,
            "policy_number": policy,
        },
    )


def test_a_grant_covers_only_the_insurers_proved_and_widens_with_a_new_proof(
    app: Flask, mailbox: Mailbox, sandboxes: dict[str, Sandbox]
) -> None:
    from aggregator.demo import MANUAL_PAIRS

    ana = {p.insurer: p for p in MANUAL_PAIRS[:2]}
    x, y = app.test_client(), app.test_client()
    register_verified(x, mailbox, "x@example.com")
    register_verified(y, mailbox, "y@example.com")
    australis, gnp = ana["australis"], ana["gnp"]
    assert _post_link(x, australis.id_type, australis.id_number, australis.policy_number).status_code == 303
    assert _post_link(y, gnp.id_type, gnp.id_number, gnp.policy_number).status_code == 303
    with app.app_context():
        uid_y = user_id("y@example.com")
        covered = db.session.execute(
            select(InsurerAccount.id, InsurerAccount.insurer_id)
            .join(GrantAccount, GrantAccount.account_id == InsurerAccount.id)
            .join(ProfileGrant, ProfileGrant.id == GrantAccount.grant_id)
            .where(ProfileGrant.user_id == uid_y)
        ).all()
        assert len(covered) == 1
        profile_accounts = db.session.scalars(select(InsurerAccount)).all()
        assert len(profile_accounts) == 2 and len({a.profile_id for a in profile_accounts}) == 1
        hidden = next(a.id for a in profile_accounts if a.id != covered[0][0])
    page = y.get("/profiles").get_data(as_text=True)
    assert "GNP" in page and "Australis" not in page
    assert "Tu acceso: comprobado con su identificación y un número de póliza" in page
    assert "Para ver las pólizas que tiene con otra aseguradora, vincula una de ellas también" in page
    # Refreshing queues only the account Y may see.
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Job))
        from aggregator.services import sync

        assert sync.refresh_for_user(uid_y) == 1
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Job)) == before
        from aggregator.services import access

        assert hidden not in set(db.session.scalars(access.visible_accounts(uid_y)))
    mailbox.clear()
    # Proving a policy at Australis too widens Y's grant; X, another holder, is told.
    assert _post_link(y, australis.id_type, australis.id_number, australis.policy_number).status_code == 303
    page = y.get("/profiles").get_data(as_text=True)
    assert "GNP" in page and "Australis" in page
    assert mailbox.wait_for("x@example.com")


def test_existing_grants_keep_the_insurers_their_audit_trail_proves(
    tmp_path: Any, make_app: Callable[..., Flask]
) -> None:
    """Migration 0003 gives each existing grant the insurers its holder's successful links named."""
    from aggregator import migrate

    portal = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(portal, "0002_profiles")
    day = "2026-11-01 00:00:00"
    rows: dict[str, list[dict[str, Any]]] = {
        "users": [
            {"id": i, "email": f"{i}@x.example", "locale": "es", "status": "active", "created_at": day} for i in (1, 2)
        ],
        "insurers": [
            {"id": 1, "slug": "gnp", "name": "GNP", "country": "MX", "currency": "MXN", "fictional": False},
            {"id": 2, "slug": "australis", "name": "Australis", "country": "AR", "currency": "ARS", "fictional": True},
        ],
        "client_profiles": [
            {"id": 7, "country": "MX", "id_type": "RFC", "id_number": "CAOA890308JM0", "kind": "person", "name": "Ana"}
        ],
        "insurer_accounts": [
            {"id": 10, "profile_id": 7, "insurer_id": 1, "client_ref": "g1", "health": "ok", "failures": 0},
            {"id": 11, "profile_id": 7, "insurer_id": 2, "client_ref": "a1", "health": "ok", "failures": 0},
        ],
        "profile_grants": [
            {"id": 20, "profile_id": 7, "user_id": 1, "role": "holder", "granted_via": "tax_id"},
            {"id": 21, "profile_id": 7, "user_id": 2, "role": "holder", "granted_via": "tax_id"},
        ],
        "audit_events": [  # user 1 proved Australis; user 2's only attempt (at GNP) failed
            {"actor_user_id": 1, "outcome": "success", "details": '{"insurers": ["australis"]}'},
            {"actor_user_id": 2, "outcome": "failure", "details": '{"insurers": ["gnp"]}'},
        ],
    }
    defaults: dict[str, dict[str, Any]] = {
        "insurers": {"support_phones": "{}"},
        "client_profiles": {"created_at": day},
        "insurer_accounts": {"created_at": day},
        "profile_grants": {"created_at": day},
        "audit_events": {
            "action": "profile.link",
            "target_type": "client_profile",
            "target_id": "7",
            "created_at": day,
        },
    }
    with portal.app_context():
        for table, items in rows.items():
            for item in items:
                values = {**defaults.get(table, {}), **item}
                columns = ", ".join(values)
                db.session.execute(
                    text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + k for k in values)})"),  # noqa: S608
                    values,
                )
        db.session.commit()
    migrate.upgrade(portal, "0003_proofs")
    with portal.app_context():
        covered = [
            tuple(r) for r in db.session.execute(text("SELECT grant_id, account_id FROM profile_grant_accounts"))
        ]
        assert covered == [(20, 11)]  # Australis for user 1; nothing for user 2
        db.session.remove()
    migrate.downgrade(portal, "0002_profiles")


# --- 2. the linking throttle is reserved before the insurer is asked ----------------------------------


def test_reservations_hold_under_simultaneous_callers(app: Flask) -> None:
    granted: list[bool] = []
    barrier = threading.Barrier(12)

    def attempt() -> None:
        with app.app_context():
            barrier.wait()
            granted.append(linking.reserve(["link-user:999"]).granted)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == app.config["LINK_USER_FAILURES"]
    with app.app_context():
        row = db.session.get(LinkThrottle, "link-user:999")
        assert row is not None and row.failures == app.config["LINK_USER_FAILURES"] and row.locked_until is None
        refused = linking.reserve(["link-user:999"])
        assert not refused.granted and refused.wait_seconds == 0  # full of running attempts, not locked
        # One of the running attempts succeeds: its place is given back; the others fail: locked.
        linking.settle_success(linking.Reservation(["link-user:999"], row.window_started_at))
        assert linking.reserve(["link-user:999"]).granted
        assert linking.settle_failure(linking.Reservation(["link-user:999"], row.window_started_at)) == 15 * 60
        locked = linking.reserve(["link-user:999"])
        assert not locked.granted and 14 * 60 < locked.wait_seconds <= 15 * 60


def test_a_refused_reservation_counts_on_no_key(app: Flask) -> None:
    with app.app_context():
        for _ in range(app.config["LINK_USER_FAILURES"]):
            assert linking.reserve(["link-user:1"]).granted
        assert not linking.reserve(["link-ip:x", "link-user:1"]).granted
        ip = db.session.get(LinkThrottle, "link-ip:x")
        assert ip is None or ip.failures == 0


# --- review findings ---------------------------------------------------------------------------------


def test_mail_of_a_job_leaves_after_its_commit_and_not_at_all_on_rollback(app: Flask, mailbox: Mailbox) -> None:
    @jobs.handler("test_mail_then_fail")
    def _fails(payload: dict[str, Any]) -> None:
        mail.send("nadie@example.com", "password_changed", "es", when=None, reset_url="x")
        if payload["fail"]:
            raise RuntimeError("boom")

    with app.test_request_context():
        jobs.enqueue("test_mail_then_fail", {"fail": True})
        jobs.enqueue("test_mail_then_fail", {"fail": False})
        db.session.commit()
        assert jobs.dispatch_pending(app) == 2
    assert len(mailbox.to("nadie@example.com")) == 1


def test_insurers_are_seeded_at_start_up_not_in_requests(app: Flask) -> None:
    from aggregator.models import Insurer
    from aggregator.services import insurers

    ids = insurers.seed(app)
    assert set(ids) >= {"gnp", "australis"}
    with app.app_context():
        assert {i.slug for i in db.session.scalars(select(Insurer))} >= {"gnp", "australis"}
        assert insurers.insurer_ids() == ids


def test_sign_in_with_the_right_password_after_a_lock_is_still_refused(app: Flask, mailbox: Mailbox) -> None:
    register_verified(app.test_client(), mailbox, "bloqueo@example.com")
    for _ in range(int(app.config["LOGIN_ACCOUNT_LIMIT"].split()[0])):
        assert login(app.test_client(), "bloqueo@example.com", "Incorrecta#2026x").status_code == 401
    assert login(app.test_client(), "bloqueo@example.com", STRONG_PASSWORD).status_code == 429
