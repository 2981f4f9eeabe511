"""The demo's data: which sandbox clients the demo user holds, the demo's organizations and their
clients, and pairs left for manual linking.

Every pair is a tax ID and the number of one of that person's in-force policies in the default
sandbox (seed 2026). ``tests/integration/test_demo.py`` checks each one against the sandboxes, so
the README's table (which lists ``MANUAL_PAIRS``) cannot go stale silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

from flask import has_app_context
from sqlalchemy import select

if TYPE_CHECKING:
    from flask import Flask

    from aggregator.models import User

DEMO_EMAIL = "demo@coberta.example"  # the demo's person with client profiles of their own


class Pair(NamedTuple):
    insurer: str  # connector slug
    id_type: str
    id_number: str
    policy_number: str
    name: str  # who it is in the sandbox (fictional)


# Linked to demo@coberta.example by ``aggregator demo``: three people, policies at both insurers.
DEMO_PAIRS: tuple[Pair, ...] = (
    Pair("gnp", "RFC", "OIGM701110IM6", "3128878687", "Mateo Ortiz Gómez"),
    Pair("australis", "RFC", "OIGM701110IM6", "MX-MOT-2137333", "Mateo Ortiz Gómez"),
    Pair("gnp", "RFC", "CUIS5810181X3", "2134734473", "Santiago Cruz Ibarra"),
    Pair("australis", "CUIL", "27421646525", "AR-MOT-1242486", "Julieta Álvarez"),
)

# For trying "Vincular perfil" by hand (README): not linked to any demo account.
MANUAL_PAIRS: tuple[Pair, ...] = (
    Pair("gnp", "RFC", "CAOA890308JM0", "1134789837", "Ana Sofía Castillo Ortiz"),
    Pair("australis", "RFC", "CAOA890308JM0", "MX-VID-2002710", "Ana Sofía Castillo Ortiz"),
    Pair("gnp", "RFC", "DIPA920713KDA", "2120537664", "Andrea Díaz Peña"),
    Pair("australis", "RFC", "DIPA920713KDA", "MX-VID-2161090", "Andrea Díaz Peña"),
)

# --- organizations (DESIGN §11): a broker with an agent, and an employer's HR department ---------------

PASSWORD = "Seguro#Demo2026"  # noqa: S105  # every demo account's (public: README)


class DemoAccount(NamedTuple):
    email: str
    name: str
    role: str  # what the account is for, as ``aggregator demo`` prints it


BROKER = DemoAccount(
    "broker@coberta.example",
    "Bruno Kessler",
    "owner of Broker Demo: every client, members, settings and the access log",
)
AGENT = DemoAccount(
    "agente@coberta.example",
    "Alejandra Ríos Vega",
    "agent of Broker Demo: sees only the clients assigned to her",
)
HR = DemoAccount(
    "rrhh@coberta.example",
    "Rocío Hernández Luna",
    "owner of the HR department of Transportes del Bajío: its group policies, roster and receipts",
)
ORG_ACCOUNTS: tuple[DemoAccount, ...] = (BROKER, AGENT, HR)


class DemoOrg(NamedTuple):
    name: str
    slug: str  # what ``services.orgs.create_org`` makes of the name
    kind: str
    tax_id: str  # the organization's own RFC (valid, fictional)
    owner: DemoAccount
    agents: tuple[DemoAccount, ...] = ()


BROKER_ORG = DemoOrg("Broker Demo", "broker-demo", "broker", "BDE190612KA5", BROKER, (AGENT,))
# The employer's HR department registers with the company's own RFC (the client it links by proof).
HR_ORG = DemoOrg("RRHH Transportes del Bajío", "rrhh-transportes-del-bajio", "hr", "TBX0802154JA", HR)

# Linked by proof, for Broker Demo, by its owner: Itzel Gutiérrez Ibarra at both insurers (one proof each:
# a proof reaches only the insurer it was made at), Regina Zúñiga Gómez at GNP, Facundo Martínez
# (Argentina) at Australis.
ORG_PAIRS: tuple[Pair, ...] = (
    Pair("gnp", "RFC", "GUII550926LB5", "5136971356", "Itzel Gutiérrez Ibarra"),
    Pair("australis", "RFC", "GUII550926LB5", "MX-MOT-1923520", "Itzel Gutiérrez Ibarra"),
    Pair("gnp", "RFC", "ZUGR831007Y59", "2164139542", "Regina Zúñiga Gómez"),
    Pair("australis", "CUIL", "20444525267", "AR-MOT-1337514", "Facundo Martínez"),
)
# Linked by proof for Broker Demo by its agent, so assigned to her.
AGENT_PAIRS: tuple[Pair, ...] = (Pair("gnp", "RFC", "RURV8803258P4", "4119681662", "Valeria Ruiz Reyes"),)
# Linked by proof for the HR department: the company and its GMM colectivo (it holds a vida grupo too).
HR_PAIRS: tuple[Pair, ...] = (Pair("gnp", "RFC", "TBX0802154JA", "2936562064", "Transportes del Bajío S.A. de C.V."),)
# One of demo@coberta.example's own people, who invites Broker Demo from the profile's "Acceso" page.
INVITED: Pair = DEMO_PAIRS[2]  # Santiago Cruz Ibarra (GNP)


@dataclass
class SeededOrg:
    """What the demo made of one organization: its clients' names and what could not be done."""

    org: DemoOrg
    clients: list[str] = field(default_factory=list)
    invited: str | None = None  # the client who gave access by invitation
    problems: list[str] = field(default_factory=list)


def seed_organizations(app: Flask, base_url: str = "http://127.0.0.1:5000") -> list[SeededOrg]:
    """Create the demo's organizations and give them clients through the real paths; idempotent.

    Clients come by proof (``services.org_clients.link_client``, as a member's form does: the same
    verification at the sandboxes, throttle and grant) and by invitation (``services.consent.grant_by_client``,
    as the client's "Acceso" page does). A pair the organization already holds a grant for — live or
    revoked by the client since — is left as it is: running the demo again changes nothing.
    ``base_url`` is where the portal serves, for the links of the emails this sends.
    """
    from aggregator.extensions import db

    broker = SeededOrg(BROKER_ORG)
    hr = SeededOrg(HR_ORG)
    org_id = _retrying(_ensure_org, app, BROKER_ORG, base_url, broker.problems)
    if org_id is not None:
        for agent in BROKER_ORG.agents:
            _retrying(_ensure_member, app, org_id, agent.email, "agent", base_url, broker.problems)
        for email, pairs in ((BROKER.email, ORG_PAIRS), *((a.email, AGENT_PAIRS) for a in BROKER_ORG.agents)):
            for pair in pairs:
                _retrying(_link, app, org_id, email, pair, base_url, broker.problems)
        broker.invited = _retrying(_invite, app, org_id, base_url, broker.problems)
        broker.clients = _client_names(BROKER.email, BROKER_ORG.slug)
    hr_id = _retrying(_ensure_org, app, HR_ORG, base_url, hr.problems)
    if hr_id is not None:
        for pair in HR_PAIRS:
            _retrying(_link, app, hr_id, HR.email, pair, base_url, hr.problems)
        hr.clients = _client_names(HR.email, HR_ORG.slug)
    db.session.remove()
    return [broker, hr]


T = TypeVar("T")
P = ParamSpec("P")
ATTEMPTS = 6


def _retrying(step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run one seeding step, again if SQLite said "database is locked".

    The demo's first syncs (of the profiles linked just before, and of each client linked here) write
    in background threads meanwhile; on SQLite a write transaction that began with a read may meet
    theirs and fail at once instead of waiting. The step is idempotent: it starts over from scratch.
    """
    from sqlalchemy.exc import OperationalError

    from aggregator import jobs, mail
    from aggregator.extensions import db

    for attempt in range(1, ATTEMPTS + 1):
        try:
            return step(*args, **kwargs)
        except OperationalError as exc:
            db.session.rollback()
            if attempt == ATTEMPTS or "locked" not in str(exc):
                raise
            if has_app_context():
                mail.discard_queued()
                jobs.discard_pending()
            time.sleep(0.3 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _user(email: str) -> User | None:
    from aggregator.extensions import db
    from aggregator.models import User

    return db.session.scalar(select(User).where(User.email == email))


def _context(app: Flask, path: str, base_url: str) -> Any:
    """A request context like a member's browser's (the address the throttles and the audit log see)."""
    return app.test_request_context(path, base_url=base_url, environ_base={"REMOTE_ADDR": "127.0.0.1"})


def _ensure_org(app: Flask, spec: DemoOrg, base_url: str, problems: list[str]) -> int | None:
    """The id of the organization with the spec's tax ID, created (``services.orgs.create_org``) by its owner."""
    from aggregator.extensions import db
    from aggregator.models import Organization
    from aggregator.services import orgs

    found = db.session.scalar(
        select(Organization).where(Organization.tax_id_type == "RFC", Organization.tax_id == spec.tax_id)
    )
    if found is not None:
        return found.id
    owner = _user(spec.owner.email)
    if owner is None:
        problems.append(f"no account {spec.owner.email}")
        return None
    with _context(app, "/orgs", base_url):
        created = orgs.create_org(owner, spec.name, spec.kind, "MX", spec.tax_id)
        db.session.commit()
    if created.slug != spec.slug:
        problems.append(f"its address is /o/{created.slug}/ (another organization holds /o/{spec.slug}/)")
    return created.id


def _ensure_member(app: Flask, org_id: int, email: str, role: str, base_url: str, problems: list[str]) -> None:
    """Make the account a member (as an accepted invitation would), unless it is one already."""
    from aggregator.extensions import db
    from aggregator.models import Membership
    from aggregator.services import audit

    user = _user(email)
    if user is None:
        problems.append(f"no account {email}")
        return
    if db.session.scalar(
        select(Membership.id).where(Membership.organization_id == org_id, Membership.user_id == user.id)
    ):
        return
    with _context(app, "/orgs/invitations", base_url):
        db.session.add(Membership(organization_id=org_id, user_id=user.id, role=role))
        audit.record("org.join", actor_id=user.id, target_type="organization", target_id=org_id, role=role, via="demo")
        db.session.commit()


def _holds(org_id: int, pair: Pair) -> bool:
    """The organization has (or had: a client may have revoked it) a grant covering the pair's insurer account."""
    from aggregator.extensions import db
    from aggregator.models import ClientProfile, Insurer, InsurerAccount, OrgGrant, OrgGrantAccount

    found = db.session.scalar(
        select(OrgGrant.id)
        .join(ClientProfile, ClientProfile.id == OrgGrant.profile_id)
        .join(OrgGrantAccount, OrgGrantAccount.grant_id == OrgGrant.id)
        .join(InsurerAccount, InsurerAccount.id == OrgGrantAccount.account_id)
        .join(Insurer, Insurer.id == InsurerAccount.insurer_id)
        .where(
            OrgGrant.organization_id == org_id,
            ClientProfile.id_type == pair.id_type,
            ClientProfile.id_number == pair.id_number,
            Insurer.slug == pair.insurer,
        )
        .limit(1)
    )
    return found is not None


def _link(app: Flask, org_id: int, email: str, pair: Pair, base_url: str, problems: list[str]) -> None:
    """Link the pair's client for the organization, as ``email`` would from the workspace's link form."""
    from werkzeug.exceptions import NotFound

    from aggregator import jobs, mail
    from aggregator.extensions import db
    from aggregator.models import Organization, User
    from aggregator.services import access, org_clients

    if _holds(org_id, pair):
        return
    member = _user(email)
    org = db.session.get(Organization, org_id)
    if member is None or org is None:
        problems.append(f"no account {email}")
        return
    member_id, slug = member.id, org.slug
    with _context(app, f"/o/{slug}/clients/link", base_url):
        user = db.session.get(User, member_id)
        assert user is not None
        try:
            ws = access.workspace_or_404(user, slug)
        except NotFound:
            problems.append(f"{email} is not a member of /o/{slug}/")
            return
        result = org_clients.link_client(ws, user, pair.id_type, pair.id_number, pair.policy_number)
        db.session.commit()
        mail.flush_queued(app)
        jobs.dispatch_pending(app)
    if not result.ok:
        problems.append(f"could not link {pair.name} at {pair.insurer}: is its sandbox running?")


def _invite(app: Flask, org_id: int, base_url: str, problems: list[str]) -> str | None:
    """The demo user gives the organization their client ``INVITED`` (origin "invitation"), once."""
    from aggregator import mail
    from aggregator.extensions import db
    from aggregator.models import ClientProfile, Organization, OrgGrant, User
    from aggregator.services import consent

    holder = _user(DEMO_EMAIL)
    profile_id = db.session.scalar(
        select(ClientProfile.id).where(
            ClientProfile.id_type == INVITED.id_type, ClientProfile.id_number == INVITED.id_number
        )
    )
    if holder is None or profile_id is None:
        problems.append(f"{DEMO_EMAIL} does not hold {INVITED.name}: nobody could invite the broker")
        return None
    if db.session.scalar(
        select(OrgGrant.id).where(OrgGrant.organization_id == org_id, OrgGrant.profile_id == profile_id)
    ):
        return INVITED.name  # given before (and perhaps revoked since: the client's choice stays)
    holder_id = holder.id
    with _context(app, f"/profiles/{profile_id}/access/grant", base_url):
        user = db.session.get(User, holder_id)
        org = db.session.get(Organization, org_id)
        assert user is not None and org is not None
        given = consent.grant_by_client(user, profile_id, org, scope="read", origin="invitation")
        db.session.commit()
        mail.flush_queued(app)
    if given is None:
        problems.append(f"{DEMO_EMAIL}'s grant on {INVITED.name} covers no insurer: nothing to give")
        return None
    return INVITED.name


def _client_names(email: str, slug: str) -> list[str]:
    """The clients the organization's member sees now (the workspace's first page, through ``services.access``)."""
    from werkzeug.exceptions import NotFound

    from aggregator.services import access, org_clients

    user = _user(email)
    if user is None:
        return []
    try:
        ws = access.workspace_or_404(user, slug)
    except NotFound:
        return []
    return [row.name for row in org_clients.clients_page(ws).rows]
