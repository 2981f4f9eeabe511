"""An organization's clients (issue 10 §2, DESIGN §11): linking by proof, the client pages and their access
log, the HR restriction, limits under concurrency and the cost of the clients list."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from aggregator.demo import MANUAL_PAIRS
from aggregator.extensions import db
from aggregator.models import (
    AccessLogEntry,
    AuditEvent,
    Claim,
    ClientProfile,
    Document,
    OrgGrant,
    Policy,
    Receipt,
)
from aggregator.services import org_clients
from connectors.models import TaxId, TaxIdType
from connectors.sandbox.people import population
from tests.conftest import Mailbox, Sandbox, csrf_token, free_port, register_verified, strip_csrf
from tests.integration.test_attacks import SmtpMail
from tests.integration.test_query_counts import statements_for
from tests.support import attacks
from tests.support.attacks import Browser, InsurerCalls, Target, simultaneously
from tests.support.data import link_pair, user_id
from tests.support.org_data import (
    DIAGNOSIS,
    ROSTER,
    add_member,
    bare_clients,
    employer_with_group_policy,
    grant_accounts,
    make_org,
)

SLUG = "corredora"
OWNER, AGENT, VIEWER = "duena@corredora.example", "agente@corredora.example", "lectora@corredora.example"
CLIENT = "cliente@example.com"
ANA = {pair.insurer: pair for pair in MANUAL_PAIRS if pair.id_number == "CAOA890308JM0"}
ANDREA = {pair.insurer: pair for pair in MANUAL_PAIRS if pair.id_number == "DIPA920713KDA"}
HX = {"HX-Request": "true"}


# --- helpers ----------------------------------------------------------------------------------------


def member(app: Flask, mailbox: Mailbox, email: str, role: str, org_id: int) -> FlaskClient:
    """A signed-in client of a new verified user who is a member of the organization with ``role``."""
    browser = app.test_client()
    register_verified(browser, mailbox, email)
    with app.app_context():
        add_member(org_id, email, role)
    return browser


@pytest.fixture
def org(app: Flask) -> int:
    with app.app_context():
        return make_org(SLUG, name="Corredora Ejemplo")


def org_link(browser: FlaskClient, id_type: str, number: str, policy: str, slug: str = SLUG, **kw: Any) -> Any:
    """Submit the organization's linking form as a browser does (GET for the token, then POST)."""
    token = csrf_token(browser, f"/o/{slug}/clients/link")
    return browser.post(
        f"/o/{slug}/clients/link",
        data={"csrf_token": token, "id_type": id_type, "id_number": number, "policy_number": policy},
        **kw,
    )


def profile_id_of(number: str) -> int:
    found = db.session.scalar(select(ClientProfile.id).where(ClientProfile.id_number == number))
    assert found is not None
    return found


def grant_of(org_id: int, profile_id: int) -> OrgGrant:
    found = db.session.scalar(
        select(OrgGrant).where(OrgGrant.organization_id == org_id, OrgGrant.profile_id == profile_id)
    )
    assert found is not None
    return found


def log_rows(app: Flask) -> list[AccessLogEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id)))


def comparable(body: str) -> str:
    """The page without what legitimately differs between two attempts: CSRF tokens and the user's input."""
    body = strip_csrf(body)
    body = re.sub(r'(<input[^>]*name="(?:id_number|policy_number)"[^>]*?)\svalue="[^"]*"', r"\1", body)
    return re.sub(r"<option selected", "<option", body)


# --- linking by proof ---------------------------------------------------------------------------------


def test_link_by_proof_grants_the_organization_only_the_insurers_proved(
    app: Flask, mailbox: Mailbox, sandboxes: dict[str, Sandbox], org: int
) -> None:
    owner = member(app, mailbox, OWNER, "owner", org)
    holder = app.test_client()
    register_verified(holder, mailbox, CLIENT)
    with app.app_context():  # Ana already linked herself at Australis: the broker proves her at GNP only
        australis = link_pair(
            user_id(CLIENT),
            "australis",
            TaxId(TaxIdType.RFC, ANA["australis"].id_number),
            ANA["australis"].policy_number,
        )
        australis_policy = db.session.scalar(select(Policy.id).where(Policy.account_id == australis.id))
        assert australis_policy is not None

    pair = ANA["gnp"]
    answer = org_link(owner, pair.id_type, pair.id_number, pair.policy_number)
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    with app.app_context():
        pid = profile_id_of(pair.id_number)
        assert answer.headers["Location"] == f"/o/{SLUG}/clients/{pid}"
        grant = grant_of(org, pid)
        assert (grant.origin, grant.scope, grant.revoked_at, grant.assigned_user_id) == ("proof", "read", None, None)
        assert grant.granted_by_user_id == user_id(OWNER)
        assert [a.account.insurer.slug for a in grant.accounts] == ["gnp"]  # not her Australis account
        gnp_policy = db.session.scalar(
            select(Policy.id).where(Policy.account_id == grant.accounts[0].account_id).order_by(Policy.id)
        )
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "org.link")))
        assert [(e.outcome, e.details["insurers"], e.details["organization"]) for e in events] == [
            ("success", ["gnp"], org)
        ]
        assert pair.id_number not in str(events[0].details)

    page = owner.get(f"/o/{SLUG}/clients/{pid}").get_data(as_text=True)
    assert 'data-insurer="gnp"' in page and 'data-insurer="australis"' not in page
    assert f'href="/o/{SLUG}/policies/{gnp_policy}"' in page  # the workspace's URLs, not the personal ones
    assert 'href="/policies/' not in page and pair.id_number not in page
    assert owner.get(f"/o/{SLUG}/policies/{gnp_policy}").status_code == 200
    assert owner.get(f"/o/{SLUG}/policies/{australis_policy}").status_code == 404
    # The client's own view is untouched by the organization's grant.
    assert holder.get(f"/policies/{gnp_policy}").status_code == 404
    listing = owner.get(f"/o/{SLUG}/").get_data(as_text=True)
    assert f'data-profile-id="{pid}"' in listing and "GNP" in listing


def test_failed_proofs_give_one_answer_and_grant_nothing(
    app: Flask, mailbox: Mailbox, sandboxes: dict[str, Sandbox], org: int
) -> None:
    owner = member(app, mailbox, OWNER, "owner", org)
    gnp = sandboxes["gnp"].samples
    valid_id, valid_number = gnp.valid
    inactive_id, inactive_number = gnp.inactive
    answers = [
        org_link(owner, valid_id.type.value, valid_id.number, "0000000000"),  # wrong policy
        org_link(owner, gnp.unknown.type.value, gnp.unknown.number, valid_number),  # unknown person
        org_link(owner, inactive_id.type.value, inactive_id.number, inactive_number),  # not in force
    ]
    assert {a.status_code for a in answers} == {422}
    bodies = {comparable(a.get_data(as_text=True)) for a in answers}
    assert len(bodies) == 1 and 'data-testid="link-failed"' in bodies.pop()
    malformed = org_link(owner, "RFC", "XXXX", valid_number)
    assert malformed.status_code == 422 and 'data-testid="id-number-error"' in malformed.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(OrgGrant.id))) == 0
        outcomes = sorted(
            e.outcome for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "org.link"))
        )
        assert outcomes == ["failure", "failure", "failure", "invalid"]


def test_viewers_may_not_link_and_an_agent_who_links_follows_the_client(
    app: Flask, mailbox: Mailbox, sandboxes: dict[str, Sandbox], org: int
) -> None:
    viewer = member(app, mailbox, VIEWER, "viewer", org)
    agent = member(app, mailbox, AGENT, "agent", org)
    assert viewer.get(f"/o/{SLUG}/clients/link").status_code == 403
    token = csrf_token(viewer, f"/o/{SLUG}/")
    pair = ANA["gnp"]
    data = {
        "csrf_token": token,
        "id_type": pair.id_type,
        "id_number": pair.id_number,
        "policy_number": pair.policy_number,
    }
    assert viewer.post(f"/o/{SLUG}/clients/link", data=data).status_code == 403
    assert 'data-testid="link-client"' not in viewer.get(f"/o/{SLUG}/").get_data(as_text=True)

    answer = org_link(agent, pair.id_type, pair.id_number, pair.policy_number, headers=HX)
    assert answer.status_code == 204
    with app.app_context():
        pid = profile_id_of(pair.id_number)
        assert answer.headers["HX-Redirect"] == f"/o/{SLUG}/clients/{pid}"
        assert grant_of(org, pid).assigned_user_id == user_id(AGENT)
    assert agent.get(f"/o/{SLUG}/clients/{pid}").status_code == 200
    assert viewer.get(f"/o/{SLUG}/clients/{pid}").status_code == 200  # viewers read every client


def test_an_agent_proving_a_client_another_agent_follows_does_not_take_it(
    app: Flask, mailbox: Mailbox, sandboxes: dict[str, Sandbox], org: int
) -> None:
    first = member(app, mailbox, AGENT, "agent", org)
    second = member(app, mailbox, "otro.agente@corredora.example", "agent", org)
    pair = ANA["gnp"]
    assert org_link(first, pair.id_type, pair.id_number, pair.policy_number).status_code == 303
    answer = org_link(second, pair.id_type, pair.id_number, pair.policy_number)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/o/{SLUG}/"
    with app.app_context():
        pid = profile_id_of(pair.id_number)
        assert grant_of(org, pid).assigned_user_id == user_id(AGENT)
    with second.session_transaction() as session:
        flashes = [message for _category, message in session.get("_flashes", [])]
    assert any("administrador" in message for message in flashes), flashes
    assert second.get(f"/o/{SLUG}/clients/{pid}").status_code == 404


def test_agents_see_their_assigned_clients_unless_the_organization_lets_them_see_all(
    app: Flask, mailbox: Mailbox, sandboxes: dict[str, Sandbox], org: int
) -> None:
    agent = member(app, mailbox, AGENT, "agent", org)
    owner = member(app, mailbox, OWNER, "owner", org)
    with app.app_context():
        bare_clients(org, 2, "AGT")
        mine, other = db.session.scalars(
            select(OrgGrant).where(OrgGrant.organization_id == org).order_by(OrgGrant.id)
        ).all()
        mine.assigned_user_id = user_id(AGENT)
        db.session.commit()
        mine_pid, other_pid = mine.profile_id, other.profile_id
    listing = agent.get(f"/o/{SLUG}/").get_data(as_text=True)
    assert f'data-profile-id="{mine_pid}"' in listing and f'data-profile-id="{other_pid}"' not in listing
    assert agent.get(f"/o/{SLUG}/clients/{other_pid}").status_code == 404
    owner_listing = owner.get(f"/o/{SLUG}/").get_data(as_text=True)
    assert f'data-profile-id="{mine_pid}"' in owner_listing and f'data-profile-id="{other_pid}"' in owner_listing

    # Admins assign; agents may not.
    token = csrf_token(agent, f"/o/{SLUG}/")
    assign = {"csrf_token": token, "member": str(0)}
    assert agent.post(f"/o/{SLUG}/clients/{mine_pid}/assign", data=assign).status_code == 403
    token = csrf_token(owner, f"/o/{SLUG}/clients/{other_pid}")
    with app.app_context():
        agent_id = user_id(AGENT)
    done = owner.post(f"/o/{SLUG}/clients/{other_pid}/assign", data={"csrf_token": token, "member": str(agent_id)})
    assert done.status_code == 303
    assert agent.get(f"/o/{SLUG}/clients/{other_pid}").status_code == 200

    with app.app_context():
        unassigned = db.session.scalar(select(OrgGrant).where(OrgGrant.profile_id == mine_pid))
        assert unassigned is not None
        unassigned.assigned_user_id = None
        db.session.commit()
    assert agent.get(f"/o/{SLUG}/clients/{mine_pid}").status_code == 404
    with app.app_context():
        from aggregator.models import Organization

        organization = db.session.get(Organization, org)
        assert organization is not None
        organization.agents_see_all = True
        db.session.commit()
    assert agent.get(f"/o/{SLUG}/clients/{mine_pid}").status_code == 200


def test_search_and_keyset_pages_of_the_clients_list(app: Flask, mailbox: Mailbox, org: int) -> None:
    owner = member(app, mailbox, OWNER, "owner", org)
    with app.app_context():
        bare_clients(org, 55, "PAG")
    first = owner.get(f"/o/{SLUG}/").get_data(as_text=True)
    assert first.count('data-testid="client"') == org_clients.CLIENTS_PAGE
    more = re.search(r'data-testid="more-clients">\s*<a [^>]*href="([^"]+)"', first)
    assert more is not None
    url = more.group(1).replace("&amp;", "&")
    second = owner.get(url, headers=HX).get_data(as_text=True)  # "ver más": the next rows only
    assert second.count('data-testid="client"') == 5 and "<html" not in second and "more-clients" not in second
    names = re.findall(r'data-testid="client-link">([^<]+)<', first + second)
    assert names == sorted(names) and len(set(names)) == 55
    plain = owner.get(url).get_data(as_text=True)  # the same link without JavaScript: a whole page
    assert plain.count('data-testid="client"') == 5 and "<html" in plain

    found = owner.get(f"/o/{SLUG}/?q=pag+012").get_data(as_text=True)
    assert re.findall(r'data-testid="client-link">([^<]+)<', found) == ["Cliente PAG 012"]
    fragment = owner.get(f"/o/{SLUG}/?q=012", headers=HX)
    body = fragment.get_data(as_text=True)
    assert (
        fragment.status_code == 200
        and body.lstrip().startswith('<section id="client-results"')
        and "Cliente PAG 012" in body
    )
    assert "HX-Request" in fragment.headers.get("Vary", "")
    assert 'data-testid="no-match"' in owner.get(f"/o/{SLUG}/?q=nadie").get_data(as_text=True)
    assert owner.get(f"/o/{SLUG}/?after=%%%").status_code == 200  # a malformed position is the first page


def test_the_empty_workspace_explains_how_to_add_clients(app: Flask, mailbox: Mailbox, org: int) -> None:
    owner = member(app, mailbox, OWNER, "owner", org)
    page = owner.get(f"/o/{SLUG}/").get_data(as_text=True)
    with app.app_context():
        from aggregator.models import Organization

        code = db.session.get(Organization, org).invite_code  # type: ignore[union-attr]
    shown = f"{code[:4]}-{code[4:]}"  # as the settings page shows it, easy to read aloud
    assert 'data-testid="clients-empty"' in page and f'data-testid="invite-code">{shown}<' in page
    assert f'href="/o/{SLUG}/clients/link"' in page and f'href="/o/{SLUG}/requests"' in page


# --- reads write the client's access log ---------------------------------------------------------------


def test_every_read_of_a_client_writes_one_access_log_row(
    app: Flask, mailbox: Mailbox, sandboxes: dict[str, Sandbox], org: int
) -> None:
    owner = member(app, mailbox, OWNER, "owner", org)
    with app.app_context():
        account = link_pair(user_id(OWNER), "gnp", *sandboxes["gnp"].samples.valid)
        grant_accounts(org, [account])
        pid = account.profile_id
        policy_doc = db.session.execute(
            select(Document.policy_id, Document.id)
            .join(Policy, Policy.id == Document.policy_id)
            .where(Policy.account_id == account.id)
            .limit(1)
        ).one()
        policy = db.session.get(Policy, policy_doc[0])
        assert policy is not None
        policy_number, policy_line = policy.number, policy.line
        claim = db.session.scalar(select(Claim).where(Claim.account_id == account.id).order_by(Claim.id))
        assert claim is not None, "the GNP sample client has no claim"
        claim_id, claim_number = claim.id, claim.number
        claim_doc = db.session.scalar(select(Document.id).where(Document.claim_id == claim.id))
        tax_number = db.session.get(ClientProfile, pid).id_number  # type: ignore[union-attr]
    reads = [
        (f"/o/{SLUG}/clients/{pid}", "view_client"),
        (f"/o/{SLUG}/policies/{policy_doc[0]}", "view_policy"),
        (f"/o/{SLUG}/claims/{claim_id}", "view_claim"),
        (f"/o/{SLUG}/policies/{policy_doc[0]}/documents/{policy_doc[1]}", "download"),
    ]
    if claim_doc is not None:
        reads.append((f"/o/{SLUG}/claims/{claim_id}/documents/{claim_doc}", "download"))
    for url, action in reads:
        before = len(log_rows(app))
        answer = owner.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        rows = log_rows(app)
        assert len(rows) == before + 1, url
        assert (rows[-1].action, rows[-1].profile_id, rows[-1].organization_id) == (action, pid, org)
        assert tax_number not in rows[-1].summary
    summaries = [r.summary for r in log_rows(app)]
    with app.test_request_context(headers={"Accept-Language": "es"}):
        from aggregator.policies.presenters import line_label

        assert summaries[1] == f"Póliza {policy_number} · {line_label(policy_line)}"
    assert summaries[2].startswith(f"Siniestro {claim_number}")
    with app.app_context():
        assert db.session.get(OrgGrant, grant_of(org, pid).id).last_access_at is not None  # type: ignore[union-attr]

    # A policy page links its claims and documents inside the workspace.
    page = owner.get(f"/o/{SLUG}/policies/{policy_doc[0]}").get_data(as_text=True)
    assert f'href="/o/{SLUG}/policies/{policy_doc[0]}/documents/{policy_doc[1]}"' in page
    assert 'href="/policies/' not in page and 'href="/claims/' not in page
    claim_page = owner.get(f"/o/{SLUG}/claims/{claim_id}").get_data(as_text=True)
    assert f'href="/o/{SLUG}/policies/{claim.policy_id}"' in claim_page and 'href="/claims' not in claim_page

    # The organization's log (admins) shows the same entries, newest first, by member.
    log = owner.get(f"/o/{SLUG}/log").get_data(as_text=True)
    assert log.count('data-testid="log-entry"') == len(log_rows(app)) and tax_number not in log
    assert log.index('data-action="download"') < log.index('data-action="view_client"')


def test_the_access_log_is_for_admins_and_filters_by_member(app: Flask, mailbox: Mailbox, org: int) -> None:
    owner = member(app, mailbox, OWNER, "owner", org)
    agent = member(app, mailbox, AGENT, "agent", org)
    viewer = member(app, mailbox, VIEWER, "viewer", org)
    with app.app_context():
        bare_clients(org, 3, "LOG")
        pids = list(db.session.scalars(select(OrgGrant.profile_id).where(OrgGrant.organization_id == org)))
        for grant in db.session.scalars(select(OrgGrant)):
            grant.assigned_user_id = user_id(AGENT)
        db.session.commit()
        agent_id = user_id(AGENT)
    for pid in pids:
        assert agent.get(f"/o/{SLUG}/clients/{pid}").status_code == 200
    assert owner.get(f"/o/{SLUG}/clients/{pids[0]}").status_code == 200
    assert agent.get(f"/o/{SLUG}/log").status_code == 403 and viewer.get(f"/o/{SLUG}/log").status_code == 403
    everyone = owner.get(f"/o/{SLUG}/log").get_data(as_text=True)
    only_agent = owner.get(f"/o/{SLUG}/log?member={agent_id}").get_data(as_text=True)
    assert everyone.count('data-testid="log-entry"') == 4 and only_agent.count('data-testid="log-entry"') == 3


def test_release_ends_the_organizations_access_at_once(app: Flask, mailbox: Mailbox, org: int) -> None:
    owner = member(app, mailbox, OWNER, "owner", org)
    agent = member(app, mailbox, AGENT, "agent", org)
    with app.app_context():
        bare_clients(org, 1, "REL")
        pid = db.session.scalar(select(OrgGrant.profile_id))
    agent_token = csrf_token(agent, f"/o/{SLUG}/")
    assert agent.post(f"/o/{SLUG}/clients/{pid}/release", data={"csrf_token": agent_token}).status_code == 403
    token = csrf_token(owner, f"/o/{SLUG}/clients/{pid}")
    answer = owner.post(f"/o/{SLUG}/clients/{pid}/release", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == f"/o/{SLUG}/"
    with app.app_context():
        grant = db.session.scalar(select(OrgGrant))
        assert grant is not None and (grant.revoked_reason, grant.revoked_by_user_id) == (
            "org_released",
            user_id(OWNER),
        )
    assert owner.get(f"/o/{SLUG}/clients/{pid}").status_code == 404


# --- HR: group policies yes, employees' claim details no -------------------------------------------------


def test_hr_sees_group_policies_roster_and_receipts_but_not_claim_details(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        hr = make_org("rrhh", kind="hr")
        account = employer_with_group_policy()
        grant_id = grant_accounts(hr, [account], claim_details=False)
        policy = db.session.scalar(select(Policy).where(Policy.account_id == account.id))
        claim = db.session.scalar(select(Claim).where(Claim.account_id == account.id))
        assert policy is not None and claim is not None and policy.group_policy
        policy_id, claim_id, pid = policy.id, claim.id, account.profile_id
        claim_doc = db.session.scalar(select(Document.id).where(Document.claim_id == claim.id))
        receipts = db.session.scalar(select(func.count(Receipt.id)).where(Receipt.policy_id == policy.id))
    hr_member = member(app, mailbox, "rrhh@empresa.example", "admin", hr)

    page = hr_member.get(f"/o/rrhh/policies/{policy_id}").get_data(as_text=True)
    assert all(name in page for name in ROSTER)  # the roster of insured employees
    assert page.count('data-testid="payment"') + page.count('data-testid="receipt"') == receipts
    assert DIAGNOSIS not in page and "En dictamen médico" not in page

    client_page = hr_member.get(f"/o/rrhh/clients/{pid}").get_data(as_text=True)
    assert 'data-testid="claims-private"' in client_page and "SIN-GMMC-77" in client_page
    assert DIAGNOSIS not in client_page and "Estudios de laboratorio" not in client_page
    assert "85,000" not in client_page and "85 000" not in client_page

    restricted = hr_member.get(f"/o/rrhh/claims/{claim_id}")
    body = restricted.get_data(as_text=True)
    assert restricted.status_code == 200 and 'data-testid="claim-restricted"' in body and "SIN-GMMC-77" in body
    assert DIAGNOSIS not in body and "Informe médico" not in body and "Hospital" not in body
    assert 'data-testid="event-count">2<' in body and 'data-testid="document-count">1<' in body
    assert hr_member.get(f"/o/rrhh/claims/{claim_id}/documents/{claim_doc}").status_code == 404
    assert [r.action for r in log_rows(app)] == ["view_policy", "view_client", "view_claim"]

    # The employee allows the details: HR sees them.
    with app.app_context():
        grant = db.session.get(OrgGrant, grant_id)
        assert grant is not None
        grant.claim_details = True
        db.session.commit()
    detailed = hr_member.get(f"/o/rrhh/claims/{claim_id}").get_data(as_text=True)
    assert DIAGNOSIS in detailed and "Informe médico" in detailed and 'data-testid="claim-restricted"' not in detailed
    assert f'href="/o/rrhh/claims/{claim_id}/documents/{claim_doc}"' in detailed


# --- 20 simultaneous organization link attempts -----------------------------------------------------------


def serve(app: Flask) -> tuple[str, Callable[[], None]]:
    from werkzeug.serving import make_server

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"org-link-{port}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="module")
def portal(app: Flask) -> Iterator[str]:
    base, stop = serve(app)
    yield base
    stop()


@pytest.fixture
def target(portal: str, mailbox: Mailbox, sandboxes: dict[str, Sandbox], app: Flask) -> Target:
    from aggregator.services import insurers

    insurers.seed(app)
    return Target(portal, SmtpMail(mailbox), {slug: s.base for slug, s in sandboxes.items()})


def _attempt(browser: Browser, slug: str, rfc: str, number: str) -> Callable[[], requests.Response]:
    token = browser.token(f"/o/{slug}/clients/link")
    data = {"csrf_token": token, "id_type": "RFC", "id_number": rfc, "policy_number": number}
    clone = browser.clone()
    return lambda: clone.post(f"/o/{slug}/clients/link", data)


VERIFY_PATH = "/api/v1/clientes/verificacion"


def test_20_simultaneous_link_attempts_of_one_member_ask_the_insurer_at_most_the_limit(
    app: Flask, target: Target
) -> None:
    browser = attacks.register(target, target.email("miembro"))
    with app.app_context():
        org = make_org("concurrente")
        add_member(org, target.email("miembro"), "agent")
    pair = ANDREA["gnp"]
    calls = [_attempt(browser, "concurrente", pair.id_number, n) for n in attacks._wrong_numbers(20)]
    with InsurerCalls(target.sandboxes["gnp"], VERIFY_PATH, latency_ms=400) as counter:
        answers = simultaneously(calls)
        right = _attempt(browser, "concurrente", pair.id_number, pair.policy_number)()
        asked = counter.count()
    limit = app.config["LINK_USER_FAILURES"]
    assert asked <= limit, f"the insurer was asked {asked} times for 20 attempts (limit {limit})"
    assert {a.status_code for a in answers} <= {422, 429}
    assert right.status_code == 429  # the member and the target are locked: even the right number waits
    with app.app_context():
        assert db.session.scalar(select(func.count(OrgGrant.id))) == 0


def test_the_organizations_own_limit_holds_across_its_members(app: Flask, target: Target) -> None:
    """Four members, five different people each, all at once: the organization's key stops them together."""
    emails = [target.email(f"socio{i}") for i in range(4)]
    browsers = [attacks.register(target, email) for email in emails]
    with app.app_context():
        org = make_org("varios")
        for email in emails:
            add_member(org, email, "agent")
    people = population().mexicans[30:50]
    calls = [
        _attempt(browsers[i // 5], "varios", str(person.rfc), attacks._wrong_numbers(1)[0])
        for i, person in enumerate(people)
    ]
    saved = app.config["LINK_ORG_FAILURES"]
    app.config["LINK_ORG_FAILURES"] = 6
    try:
        with InsurerCalls(target.sandboxes["gnp"], VERIFY_PATH, latency_ms=400) as counter:
            simultaneously(calls)
            asked = counter.count()
    finally:
        app.config["LINK_ORG_FAILURES"] = saved
    assert 0 < asked <= 6, f"the insurer was asked {asked} times for 20 attempts by one organization (limit 6)"


# --- the cost of the clients list ---------------------------------------------------------------------------


def test_the_clients_list_costs_the_same_statements_for_5_and_60_clients(app: Flask, mailbox: Mailbox) -> None:
    counts = {}
    for size in (5, 60):
        browser = app.test_client()
        email = f"q{size}@corredora.example"
        register_verified(browser, mailbox, email)
        with app.app_context():
            org = make_org(f"org-{size}")
            add_member(org, email, "agent")
            bare_clients(org, size, f"Q{size:02d}")
            for grant in db.session.scalars(select(OrgGrant).where(OrgGrant.organization_id == org)):
                grant.assigned_user_id = user_id(email)
            db.session.commit()
        counts[size] = statements_for(app, browser, f"/o/org-{size}/")
    small, big = counts[5], counts[60]
    detail = "\n".join(f"  {s}" for s in big)
    print(f"\nclients list: 5 clients -> {len(small)}, 60 clients -> {len(big)}\n{detail}")
    assert len(small) == len(big), f"{len(small)} statements for 5 clients, {len(big)} for 60:\n{detail}"
    assert len(big) <= 8, detail


def test_personal_profiles_and_the_organizations_clients_never_mix(app: Flask, mailbox: Mailbox, org: int) -> None:
    """A member's own profiles are not the organization's clients, and the organization's clients are not in the
    member's "Mis seguros" (issue 10 §1)."""
    broker = member(app, mailbox, OWNER, "owner", org)
    own, client = ANA, ANDREA
    with app.app_context():  # the broker's own insurance, linked personally
        link_pair(user_id(OWNER), "gnp", TaxId(TaxIdType.RFC, own["gnp"].id_number), own["gnp"].policy_number)
    linked = org_link(broker, "RFC", client["gnp"].id_number, client["gnp"].policy_number)
    assert linked.status_code in (302, 303)

    clients_page = broker.get(f"/o/{SLUG}/").get_data(as_text=True)
    assert client["gnp"].name in clients_page
    assert own["gnp"].name not in clients_page  # personal, not a client of the organization

    personal = broker.get("/").get_data(as_text=True)
    assert own["gnp"].policy_number in personal
    assert client["gnp"].policy_number not in personal  # the organization's client, not the broker's own
    profiles = broker.get("/profiles").get_data(as_text=True)
    assert own["gnp"].name in profiles and client["gnp"].name not in profiles
    with app.app_context():
        own_profile = db.session.scalar(select(ClientProfile.id).where(ClientProfile.id_number == own["gnp"].id_number))
        client_policy = db.session.scalar(
            select(Policy.id)
            .join(ClientProfile, ClientProfile.id == select(OrgGrant.profile_id).scalar_subquery())
            .where(Policy.number == client["gnp"].policy_number)
        )
    assert broker.get(f"/o/{SLUG}/clients/{own_profile}").status_code == 404
    assert client_policy is not None and broker.get(f"/policies/{client_policy}").status_code == 404
