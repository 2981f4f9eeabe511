"""Organizations (issue 10 §1): creating one, members and roles, invitations by email, settings, the CLI."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import func, select, update
from stdnum.ar import cuit as ar_cuit

from aggregator.extensions import db
from aggregator.models import AuditEvent, ClientProfile, Membership, Organization, OrgGrant, OrgInvitation, User
from aggregator.models.types import utcnow
from aggregator.services import consent, orgs, taxids
from tests.conftest import (
    Mailbox,
    csrf_from,
    html_body,
    link_in,
    local_path,
    login,
    register,
    register_verified,
    text_body,
)
from tests.support.data import user_id

# Valid tax IDs (check digits computed with python-stdnum): companies, and a person's (brokers only).
CUIT_COMPANY = "30712345671"
CUIT_COMPANY_2 = "30700000016"
CUIT_PERSON = "20123456786"
RFC_COMPANY = "ABC010101AB1"
RFC_PERSON = "GODE561231GR8"

OWNER, ADMIN, AGENT, VIEWER, OTHER = (
    "duena@example.com",
    "admin@example.com",
    "agente@example.com",
    "lectora@example.com",
    "otra@example.com",
)


# --- helpers ----------------------------------------------------------------------------------------------


def company_cuits(count: int) -> list[str]:
    """``count`` valid company CUITs (30-…), each with its check digit."""
    found: list[str] = []
    base = 30_500_000_00
    while len(found) < count:
        base += 1
        number = f"{base}{ar_cuit.calc_check_digit(str(base))}"
        if ar_cuit.is_valid(number):
            found.append(number)
    return found


def browser(app: Flask, mailbox: Mailbox, email: str) -> FlaskClient:
    """A new browser with a verified account for ``email``, signed in."""
    client = app.test_client()
    register_verified(client, mailbox, email)
    return client


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """GET ``page`` for a CSRF token, then POST ``data`` to ``action`` (as a browser submits a form)."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **(data or {})}, **kw)


def create_org(
    client: FlaskClient,
    name: str = "Seguros Núñez",
    kind: str = "broker",
    country: str = "AR",
    tax_id: str = CUIT_COMPANY,
) -> Any:
    return post_form(client, "/orgs/new", "/orgs", {"name": name, "kind": kind, "country": country, "tax_id": tax_id})


def org_row(app: Flask, slug: str) -> Organization:
    with app.app_context():
        org = db.session.scalars(select(Organization).where(Organization.slug == slug)).one()
        db.session.expunge(org)
        return org


def role_of(app: Flask, slug: str, email: str) -> str | None:
    with app.app_context():
        return db.session.scalar(
            select(Membership.role)
            .join(Organization, Organization.id == Membership.organization_id)
            .join(User, User.id == Membership.user_id)
            .where(Organization.slug == slug, User.email == email)
        )


def membership_id(app: Flask, slug: str, email: str) -> int:
    with app.app_context():
        found = db.session.scalar(
            select(Membership.id)
            .join(Organization, Organization.id == Membership.organization_id)
            .join(User, User.id == Membership.user_id)
            .where(Organization.slug == slug, User.email == email)
        )
        assert found is not None, f"{email} is not a member of {slug}"
        return found


def add_member(app: Flask, slug: str, email: str, role: str) -> None:
    """Make an existing user a member directly (the invitation flow has its own tests)."""
    with app.app_context():
        org_id = db.session.scalar(select(Organization.id).where(Organization.slug == slug))
        db.session.add(Membership(organization_id=org_id, user_id=user_id(email), role=role))
        db.session.commit()


def invite(client: FlaskClient, slug: str, email: str, role: str = "agent") -> Any:
    return post_form(client, f"/o/{slug}/members", f"/o/{slug}/members/invite", {"email": email, "role": role})


def invitation_link(mailbox: Mailbox, email: str) -> str:
    return local_path(link_in(mailbox.wait_for(email, "invita"), "/orgs/invitations/"))


def accept(client: FlaskClient, path: str) -> Any:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def flashes(client: FlaskClient) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


def team(app: Flask, mailbox: Mailbox) -> dict[str, FlaskClient]:
    """An organization "seguros-nunez" with an owner, an admin, an agent and a viewer, each signed in."""
    clients = {email: browser(app, mailbox, email) for email in (OWNER, ADMIN, AGENT, VIEWER)}
    assert create_org(clients[OWNER]).status_code == 303
    add_member(app, "seguros-nunez", ADMIN, "admin")
    add_member(app, "seguros-nunez", AGENT, "agent")
    add_member(app, "seguros-nunez", VIEWER, "viewer")
    return clients


def client_profiles(app: Flask, count: int) -> list[int]:
    with app.app_context():
        ids = []
        for n in range(count):
            profile = ClientProfile(
                country="MX", id_type="RFC", id_number=f"XAXX01010{n}XX", kind="person", name=f"C{n}"
            )
            db.session.add(profile)
            db.session.flush()
            ids.append(profile.id)
        db.session.commit()
        return ids


def grant(app: Flask, slug: str, profile_id: int, assigned_to: str | None) -> None:
    with app.app_context():
        org = db.session.scalars(select(Organization).where(Organization.slug == slug)).one()
        assignee = user_id(assigned_to) if assigned_to else None
        consent.grant_to_org(org, profile_id, [], origin="demo", granted_by=None, assigned_user_id=assignee)
        db.session.commit()


def assigned(app: Flask, slug: str) -> dict[int, str | None]:
    with app.app_context():
        rows = db.session.execute(
            select(OrgGrant.profile_id, User.email)
            .join(Organization, Organization.id == OrgGrant.organization_id)
            .outerjoin(User, User.id == OrgGrant.assigned_user_id)
            .where(Organization.slug == slug)
        )
        return {profile_id: email for profile_id, email in rows}


def message(app: Flask, code: str) -> str:
    with app.test_request_context(), force_locale("es"):
        return orgs.OrgError(code).message


def esc(text: str) -> str:
    return text.replace("'", "&#39;").replace('"', "&#34;")


# --- creating ---------------------------------------------------------------------------------------------


def test_create_makes_the_creator_owner_with_a_slug_and_code_and_the_switcher_shows_it(
    app: Flask, mailbox: Mailbox
) -> None:
    client = browser(app, mailbox, OWNER)
    form = client.get("/orgs/new")
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert "Productor o agente de seguros" in page and "Estudio contable" in page  # kinds in words, with hints
    assert "pólizas colectivas" in page

    answer = create_org(client, name="  Seguros   Núñez & Asoc. ", tax_id="30-71234567-1")

    assert answer.status_code == 303
    assert answer.headers["Location"] == "/o/seguros-nunez-asoc/"
    org = org_row(app, "seguros-nunez-asoc")
    assert (org.name, org.kind, org.country, org.tax_id_type, org.tax_id) == (
        "Seguros Núñez & Asoc.",
        "broker",
        "AR",
        "CUIT",
        CUIT_COMPANY,
    )
    assert re.fullmatch(f"[{orgs.CODE_ALPHABET}]{{8}}", org.invite_code)
    assert role_of(app, org.slug, OWNER) == "owner"
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "org.create")).one()
        assert event.actor_user_id == user_id(OWNER) and event.target_id == str(org.id)
        assert CUIT_COMPANY not in str(event.details) and "71234567" not in str(event.details)

    # The workspace switcher lists the organization on personal pages and moves between both.
    home = client.get("/profiles").get_data(as_text=True)
    assert 'data-testid="workspace-switcher"' in home
    assert 'href="/o/seguros-nunez-asoc/" data-testid="workspace-seguros-nunez-asoc"' in home
    assert "Seguros Núñez &amp; Asoc." in home
    members = client.get("/o/seguros-nunez-asoc/members").get_data(as_text=True)
    assert 'data-testid="workspace-nav"' in members
    switcher = members[
        members.index('data-testid="workspace-switcher"') : members.index("</ul>", members.index("workspace-switcher"))
    ]
    assert "Seguros Núñez &amp; Asoc." in switcher
    assert re.search(r'class="dropdown-item active" aria-current="true" href="/o/seguros-nunez-asoc/"', switcher)
    assert 'href="/" data-testid="workspace-personal"' in switcher
    assert 'data-testid="workspace-nav"' not in client.get("/profiles").get_data(as_text=True)


def test_create_with_a_mexican_rfc_and_a_persons_ids_only_for_brokers(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, OWNER)
    assert (
        create_org(client, name="Despacho Ruiz", kind="accounting", country="MX", tax_id="abc-010101-ab1").status_code
        == 303
    )
    assert org_row(app, "despacho-ruiz").tax_id == RFC_COMPANY

    refused = create_org(client, name="RRHH Pérez", kind="hr", country="MX", tax_id=RFC_PERSON)
    assert refused.status_code == 422
    assert esc(message(app, "person_rfc")) in refused.get_data(as_text=True)
    refused = create_org(client, name="RRHH Pérez", kind="accounting", country="AR", tax_id=CUIT_PERSON)
    assert refused.status_code == 422
    assert esc(message(app, "person_cuit")) in refused.get_data(as_text=True)

    assert create_org(client, name="Agente Pérez", kind="broker", country="MX", tax_id=RFC_PERSON).status_code == 303
    assert create_org(client, name="PAS Gómez", kind="broker", country="AR", tax_id=CUIT_PERSON).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(Organization.id))) == 3


@pytest.mark.parametrize(
    ("country", "tax_id", "id_type", "code"),
    [
        ("AR", "30712345672", "CUIT", "checksum"),
        ("AR", "3071234567", "CUIT", "length"),
        ("MX", "ABC010101AB2", "RFC", "checksum"),
        ("MX", CUIT_COMPANY, "RFC", "length"),
    ],
)
def test_an_invalid_tax_id_is_refused_with_its_reason_and_the_form_kept(
    app: Flask, mailbox: Mailbox, country: str, tax_id: str, id_type: str, code: str
) -> None:
    client = browser(app, mailbox, OWNER)
    answer = create_org(client, name="Mi Broker", country=country, tax_id=tax_id)

    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    with app.test_request_context(), force_locale("es"):
        reason = taxids.TaxIdInvalid(id_type, code).message
    assert esc(reason) in page
    assert re.search(
        r'<input[^>]*aria-invalid="true"[^>]*id="tax_id"|<input[^>]*id="tax_id"[^>]*aria-invalid="true"', page
    )
    assert 'aria-describedby="tax_id-help tax_id-error"' in page and 'id="tax_id-error"' in page
    assert 'value="Mi Broker"' in page and f'value="{tax_id}"' in page  # nothing lost
    with app.app_context():
        assert db.session.scalar(select(func.count(Organization.id))) == 0


def test_missing_fields_are_explained(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, OWNER)
    answer = post_form(client, "/orgs/new", "/orgs", {"name": "", "country": "MX", "tax_id": ""})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Escribe el nombre de la organización." in page
    assert "Elige qué tipo de organización es." in page
    assert "Escribe la identificación fiscal de la organización." in page


def test_a_tax_id_already_used_is_refused_clearly(app: Flask, mailbox: Mailbox) -> None:
    first, second = browser(app, mailbox, OWNER), browser(app, mailbox, OTHER)
    assert create_org(first, tax_id=CUIT_COMPANY).status_code == 303

    again = create_org(second, name="Otra Agencia", tax_id="30 71234567 1")

    assert again.status_code == 422
    assert esc(message(app, "tax_id_taken")) in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Organization.id))) == 1
        assert db.session.scalar(select(func.count(Membership.id))) == 1


def test_slugs_get_a_suffix_on_collision_and_never_a_reserved_word(app: Flask, mailbox: Mailbox) -> None:
    client = browser(app, mailbox, OWNER)
    cuits = company_cuits(5)
    names = ["Seguros Núñez", "SEGUROS NUÑEZ", "seguros---nuñez!", "Admin", "!!!"]
    locations = []
    for name, cuit in zip(names, cuits, strict=True):
        answer = create_org(client, name=name, tax_id=cuit)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        locations.append(answer.headers["Location"])
    assert locations == [
        "/o/seguros-nunez/",
        "/o/seguros-nunez-2/",
        "/o/seguros-nunez-3/",
        "/o/admin-2/",
        "/o/organizacion/",
    ]


def test_only_verified_users_create_organizations(app: Flask, mailbox: Mailbox, client: FlaskClient) -> None:
    assert client.get("/orgs/new").status_code == 302  # signed out: to the sign-in page
    register(client, "nueva@example.com")
    assert login(client, "nueva@example.com").status_code == 302  # signed in, email not confirmed yet
    assert client.get("/orgs/new").status_code == 403
    answer = post_form(
        client, "/account/", "/orgs", {"name": "X Y", "kind": "broker", "country": "AR", "tax_id": CUIT_COMPANY}
    )
    assert answer.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(Organization.id))) == 0


# --- invitations ------------------------------------------------------------------------------------------


def test_invitation_lifecycle_email_sign_in_accept_and_single_use(app: Flask, mailbox: Mailbox) -> None:
    owner = browser(app, mailbox, OWNER)
    assert create_org(owner).status_code == 303
    with app.app_context():
        db.session.execute(update(User).where(User.email == OWNER).values(full_name="Dora Dueña"))
        db.session.commit()
    browser(app, mailbox, "Bruno@Example.com")  # an account (signing in elsewhere ends this browser's session)
    mailbox.clear()

    sent = invite(owner, "seguros-nunez", "  BRUNO@example.com ", "agent")
    assert sent.status_code == 303 and sent.headers["Location"] == "/o/seguros-nunez/members"
    email = mailbox.wait_for("bruno@example.com", "invita")
    body = text_body(email)
    assert "Dora Dueña te invita a unirte a Seguros Núñez (Productor o agente de seguros)" in body
    assert "con el rol de agente" in body
    assert "Seguros Núñez" in html_body(email) and "/orgs/invitations/" in html_body(email)
    with app.app_context():
        invitation = db.session.scalars(select(OrgInvitation)).one()
        assert invitation.email == "bruno@example.com" and invitation.role == "agent"
        path = invitation_link(mailbox, "bruno@example.com")
        token = path.rsplit("/", 1)[1]
        assert invitation.token_digest != token and token not in invitation.token_digest  # only a digest is kept
        assert len(invitation.token_digest) == 64
        assert timedelta(days=6, hours=23) < invitation.expires_at - utcnow() <= timedelta(days=7)
    members = owner.get("/o/seguros-nunez/members").get_data(as_text=True)
    assert "bruno@example.com" in members and 'data-testid="pending-invitations"' in members

    # Signed out: a page that says to sign in first, with links that come back here.
    stranger = app.test_client()
    page = stranger.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-state="signed_out"' in html and "Seguros Núñez" in html
    assert f'href="/auth/login?next={path}"' in html
    assert f'href="/auth/register?next={path}"' in html
    answer = login(stranger, "bruno@example.com", next=path)
    assert answer.status_code == 302 and answer.headers["Location"] == path

    # Signed in with the invited address: org, role, inviter and an "Aceptar" button; GET changes nothing.
    shown = stranger.get(path).get_data(as_text=True)
    assert 'data-state="ok"' in shown and "Aceptar" in shown and "Dora Dueña" in shown and "Agente" in shown
    assert role_of(app, "seguros-nunez", "bruno@example.com") is None
    accepted = accept(stranger, path)
    assert accepted.status_code == 303 and accepted.headers["Location"] == "/o/seguros-nunez/"
    assert role_of(app, "seguros-nunez", "bruno@example.com") == "agent"
    assert stranger.get("/o/seguros-nunez/members").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(OrgInvitation)).one().accepted_by_user_id == user_id("bruno@example.com")
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "org.join")).one()

    # Used: the member is sent to the workspace; anyone else sees a dead link.
    back = stranger.get(path)
    assert back.status_code == 303 and back.headers["Location"] == "/o/seguros-nunez/"
    other = browser(app, mailbox, OTHER)
    dead = other.get(path)
    assert dead.status_code == 410 and 'data-state="used"' in dead.get_data(as_text=True)
    assert (
        other.post(path, data={"csrf_token": csrf_from(other.get("/profiles").get_data(as_text=True))}).status_code
        == 410
    )
    assert role_of(app, "seguros-nunez", OTHER) is None


def test_an_invitation_for_another_address_is_refused_with_the_address_masked(app: Flask, mailbox: Mailbox) -> None:
    owner = browser(app, mailbox, OWNER)
    create_org(owner)
    invite(owner, "seguros-nunez", "bruno.lopez@example.com", "viewer")
    path = invitation_link(mailbox, "bruno.lopez@example.com")
    intruder = browser(app, mailbox, OTHER)

    page = intruder.get(path)

    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert 'data-testid="wrong-email"' in html and "b•••@e•••.com" in html
    assert "bruno.lopez" not in html and "bruno.lopez@example.com" not in html
    refused = intruder.post(path, data={"csrf_token": csrf_from(html)})
    assert refused.status_code == 403
    assert role_of(app, "seguros-nunez", OTHER) is None
    with app.app_context():
        assert db.session.scalars(select(OrgInvitation)).one().accepted_at is None


def test_expired_and_revoked_invitations_no_longer_work(app: Flask, mailbox: Mailbox) -> None:
    owner = browser(app, mailbox, OWNER)
    create_org(owner)
    bruno = browser(app, mailbox, "bruno@example.com")
    invite(owner, "seguros-nunez", "bruno@example.com")
    expired_path = invitation_link(mailbox, "bruno@example.com")
    with app.app_context():
        db.session.execute(update(OrgInvitation).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    page = bruno.get(expired_path)
    assert page.status_code == 410 and 'data-state="expired"' in page.get_data(as_text=True)
    assert bruno.post(expired_path, data={"csrf_token": csrf_from(page.get_data(as_text=True))}).status_code == 410
    assert role_of(app, "seguros-nunez", "bruno@example.com") is None

    # Revoked by an admin.
    mailbox.clear()
    invite(owner, "seguros-nunez", "bruno@example.com")
    revoked_path = invitation_link(mailbox, "bruno@example.com")
    with app.app_context():
        pending = db.session.scalars(select(OrgInvitation).where(OrgInvitation.revoked_at.is_(None))).one()
    answer = post_form(owner, "/o/seguros-nunez/members", f"/o/seguros-nunez/invitations/{pending.id}/revoke")
    assert answer.status_code == 303
    page = bruno.get(revoked_path)
    assert page.status_code == 410 and 'data-state="revoked"' in page.get_data(as_text=True)

    # Re-inviting the same address revokes the older pending invitation; the new one works.
    mailbox.clear()
    invite(owner, "seguros-nunez", "bruno@example.com", "viewer")
    older = invitation_link(mailbox, "bruno@example.com")
    mailbox.clear()
    invite(owner, "seguros-nunez", "bruno@example.com", "admin")
    newer = invitation_link(mailbox, "bruno@example.com")
    assert bruno.get(older).status_code == 410
    assert accept(bruno, newer).status_code == 303
    assert role_of(app, "seguros-nunez", "bruno@example.com") == "admin"

    # Garbage or a tampered token: the same dead page.
    assert bruno.get("/orgs/invitations/not-a-token").status_code == 410
    assert bruno.get(newer[:-2] + "xx").status_code == 410


def test_inviting_rules(app: Flask, mailbox: Mailbox) -> None:
    clients = team(app, mailbox)
    admin = clients[ADMIN]
    refused = invite(admin, "seguros-nunez", "nuevo@example.com", "owner")
    assert refused.status_code == 422
    assert esc(message(app, "owner_only")) in refused.get_data(as_text=True)
    already = invite(admin, "seguros-nunez", AGENT.upper(), "viewer")
    assert already.status_code == 422 and esc(message(app, "already_member")) in already.get_data(as_text=True)
    bad = invite(admin, "seguros-nunez", "no-es-un-correo", "viewer")
    assert bad.status_code == 422 and 'value="no-es-un-correo"' in bad.get_data(as_text=True)
    assert invite(admin, "seguros-nunez", "nuevo@example.com", "admin").status_code == 303
    assert invite(clients[OWNER], "seguros-nunez", "socia@example.com", "owner").status_code == 303
    # Agents and viewers cannot invite; strangers do not even learn the organization exists.
    for email in (AGENT, VIEWER):
        assert invite(clients[email], "seguros-nunez", "x@example.com", "viewer").status_code == 403
    outsider = browser(app, mailbox, OTHER)
    assert outsider.get("/o/seguros-nunez/members").status_code == 404
    with app.app_context():
        assert {i.email for i in db.session.scalars(select(OrgInvitation))} == {
            "nuevo@example.com",
            "socia@example.com",
        }
        theirs = db.session.scalar(select(OrgInvitation.id).where(OrgInvitation.email == "nuevo@example.com"))
    # Another organization's admin cannot revoke it (404), nor can an agent of this one (403).
    create_org(outsider, name="Otra", tax_id=CUIT_COMPANY_2)
    assert post_form(outsider, "/o/otra/members", f"/o/otra/invitations/{theirs}/revoke").status_code == 404
    revoke = f"/o/seguros-nunez/invitations/{theirs}/revoke"
    assert post_form(clients[AGENT], "/o/seguros-nunez/members", revoke).status_code == 403
    with app.app_context():
        assert db.session.get(OrgInvitation, theirs).revoked_at is None  # type: ignore[union-attr]


# --- roles, removal, leaving ------------------------------------------------------------------------------


def change_role(client: FlaskClient, slug: str, target: int, role: str) -> Any:
    return post_form(client, f"/o/{slug}/members", f"/o/{slug}/members/{target}/role", {"role": role})


def test_every_member_sees_the_list_only_admins_see_controls(app: Flask, mailbox: Mailbox) -> None:
    clients = team(app, mailbox)
    for email, client in clients.items():
        page = client.get("/o/seguros-nunez/members")
        assert page.status_code == 200, email
        html = page.get_data(as_text=True)
        assert all(e in html for e in (OWNER, ADMIN, AGENT, VIEWER))
        assert "Propietario" in html and "Administrador" in html and "Lector" in html
        controls = 'data-testid="invite-form"' in html, 'data-testid="pending-invitations"' in html
        assert controls == ((True, True) if email in (OWNER, ADMIN) else (False, False)), email
    owner_id = membership_id(app, "seguros-nunez", OWNER)
    admin_view = clients[ADMIN].get("/o/seguros-nunez/members").get_data(as_text=True)
    assert f'data-testid="role-form-{owner_id}"' not in admin_view  # admins cannot touch owners
    assert f'data-testid="remove-{owner_id}"' not in admin_view
    assert f'data-testid="role-form-{membership_id(app, "seguros-nunez", AGENT)}"' in admin_view


def test_role_changes_and_the_last_owner_rules(app: Flask, mailbox: Mailbox) -> None:
    clients = team(app, mailbox)
    owner, admin = clients[OWNER], clients[ADMIN]
    owner_m, agent_m = membership_id(app, "seguros-nunez", OWNER), membership_id(app, "seguros-nunez", AGENT)

    # An admin changes agents, not owners, and cannot make owners.
    assert change_role(admin, "seguros-nunez", agent_m, "viewer").status_code == 303
    assert role_of(app, "seguros-nunez", AGENT) == "viewer"
    change_role(admin, "seguros-nunez", owner_m, "agent")
    assert role_of(app, "seguros-nunez", OWNER) == "owner"
    assert flashes(admin) == [("danger", message(app, "owner_only"))]
    change_role(admin, "seguros-nunez", agent_m, "owner")
    assert role_of(app, "seguros-nunez", AGENT) == "viewer"
    # Agents and viewers: 403.
    assert change_role(clients[VIEWER], "seguros-nunez", agent_m, "admin").status_code == 403

    # The last owner can be neither demoted, nor removed, nor leave.
    answer = change_role(owner, "seguros-nunez", owner_m, "admin")
    assert answer.status_code == 303
    assert [m for c, m in flashes(owner) if c == "danger"] == [message(app, "last_owner")]
    assert role_of(app, "seguros-nunez", OWNER) == "owner"
    left = post_form(owner, "/o/seguros-nunez/members", "/o/seguros-nunez/leave")
    assert left.status_code == 303 and left.headers["Location"] == "/o/seguros-nunez/members"
    assert role_of(app, "seguros-nunez", OWNER) == "owner"
    assert 'data-testid="last-owner-note"' in owner.get("/o/seguros-nunez/members").get_data(as_text=True)

    # With a second owner, the first may step down (and an owner may change owners).
    assert change_role(owner, "seguros-nunez", membership_id(app, "seguros-nunez", ADMIN), "owner").status_code == 303
    assert role_of(app, "seguros-nunez", ADMIN) == "owner"
    assert change_role(owner, "seguros-nunez", owner_m, "agent").status_code == 303
    assert role_of(app, "seguros-nunez", OWNER) == "agent"
    # Now ADMIN is the last owner: not even they can remove themselves.
    last = membership_id(app, "seguros-nunez", ADMIN)
    page = admin.get(f"/o/seguros-nunez/members/{last}/remove")
    assert page.status_code == 200 and 'data-testid="remove-blocked"' in page.get_data(as_text=True)
    refused = post_form(admin, page.request.path, page.request.path, {"reassign_to": ""})
    assert refused.status_code == 422 and esc(message(app, "last_owner")) in refused.get_data(as_text=True)
    assert role_of(app, "seguros-nunez", ADMIN) == "owner"
    with app.app_context():
        changes = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "org.role_change")))
        assert sorted((e.details["before"], e.details["after"]) for e in changes) == [
            ("admin", "owner"),
            ("agent", "viewer"),
            ("owner", "agent"),
        ]


def test_removal_takes_effect_at_once_and_reassigns_clients(app: Flask, mailbox: Mailbox) -> None:
    clients = team(app, mailbox)
    admin, agent = clients[ADMIN], clients[AGENT]
    p1, p2, p3 = client_profiles(app, 3)
    grant(app, "seguros-nunez", p1, AGENT)
    grant(app, "seguros-nunez", p2, AGENT)
    grant(app, "seguros-nunez", p3, ADMIN)
    assert agent.get("/o/seguros-nunez/members").status_code == 200
    agent_m = membership_id(app, "seguros-nunez", AGENT)

    form = admin.get(f"/o/seguros-nunez/members/{agent_m}/remove")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert "Tiene 2 cliente(s) asignado(s)." in html
    assert f'<option value="{user_id_of(app, OWNER)}"' in html and f'<option value="{user_id_of(app, ADMIN)}"' in html
    assert f'<option value="{user_id_of(app, VIEWER)}"' not in html  # viewers do not look after clients
    # Someone who cannot take clients is refused; nothing happens.
    wrong = post_form(admin, form.request.path, form.request.path, {"reassign_to": str(user_id_of(app, VIEWER))})
    assert wrong.status_code == 422 and esc(message(app, "reassign")) in wrong.get_data(as_text=True)
    assert role_of(app, "seguros-nunez", AGENT) == "agent"

    done = post_form(admin, form.request.path, form.request.path, {"reassign_to": str(user_id_of(app, OWNER))})

    assert done.status_code == 303 and done.headers["Location"] == "/o/seguros-nunez/members"
    assert role_of(app, "seguros-nunez", AGENT) is None
    assert agent.get("/o/seguros-nunez/members").status_code == 404  # at once, the very next request
    assert agent.get("/o/seguros-nunez/settings").status_code == 404
    assert assigned(app, "seguros-nunez") == {p1: OWNER, p2: OWNER, p3: ADMIN}
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "org.remove_member")).one()
        assert event.details["clients"] == 2 and event.target_id == str(user_id(AGENT))

    # Leaving the clients unassigned.
    viewer_m, admin_m = membership_id(app, "seguros-nunez", VIEWER), membership_id(app, "seguros-nunez", ADMIN)
    remove_admin = f"/o/seguros-nunez/members/{admin_m}/remove"
    out = post_form(clients[OWNER], remove_admin, remove_admin, {"reassign_to": ""})
    assert out.status_code == 303
    assert assigned(app, "seguros-nunez")[p3] is None
    assert clients[ADMIN].get("/o/seguros-nunez/").status_code == 404

    # Agents and viewers cannot remove anyone; an admin cannot remove an owner.
    assert clients[VIEWER].get(f"/o/seguros-nunez/members/{viewer_m}/remove").status_code == 403
    assert (
        post_form(
            clients[VIEWER], "/o/seguros-nunez/members", f"/o/seguros-nunez/members/{viewer_m}/remove"
        ).status_code
        == 403
    )
    add_member(app, "seguros-nunez", ADMIN, "admin")
    owner_remove = f"/o/seguros-nunez/members/{membership_id(app, 'seguros-nunez', OWNER)}/remove"
    assert admin.get(owner_remove).status_code == 303
    assert post_form(admin, "/o/seguros-nunez/members", owner_remove, {"reassign_to": ""}).status_code == 303
    assert role_of(app, "seguros-nunez", OWNER) == "owner"
    # A membership of another organization is 404 (never found through this one).
    other = browser(app, mailbox, OTHER)
    create_org(other, name="Otra", tax_id=CUIT_COMPANY_2)
    foreign = membership_id(app, "otra", OTHER)
    assert admin.get(f"/o/seguros-nunez/members/{foreign}/remove").status_code == 404
    assert change_role(admin, "seguros-nunez", foreign, "viewer").status_code == 404
    assert role_of(app, "otra", OTHER) == "owner"


def user_id_of(app: Flask, email: str) -> int:
    with app.app_context():
        return user_id(email)


def test_leaving_unassigns_clients_and_ends_access(app: Flask, mailbox: Mailbox) -> None:
    clients = team(app, mailbox)
    (p1,) = client_profiles(app, 1)
    grant(app, "seguros-nunez", p1, AGENT)
    agent = clients[AGENT]

    answer = post_form(agent, "/o/seguros-nunez/members", "/o/seguros-nunez/leave")

    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    assert agent.get("/o/seguros-nunez/members").status_code == 404
    assert assigned(app, "seguros-nunez") == {p1: None}
    assert 'data-testid="workspace-seguros-nunez"' not in agent.get("/profiles").get_data(as_text=True)
    # Another owner makes it possible for the first one to leave.
    owner = clients[OWNER]
    change_role(owner, "seguros-nunez", membership_id(app, "seguros-nunez", ADMIN), "owner")
    assert post_form(owner, "/o/seguros-nunez/members", "/o/seguros-nunez/leave").status_code == 303
    assert role_of(app, "seguros-nunez", OWNER) is None
    with app.app_context():
        assert len(list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "org.leave")))) == 2


# --- settings ---------------------------------------------------------------------------------------------


def test_settings_are_for_admins(app: Flask, mailbox: Mailbox) -> None:
    clients = team(app, mailbox)
    outsider = browser(app, mailbox, OTHER)
    for email in (AGENT, VIEWER):
        assert clients[email].get("/o/seguros-nunez/settings").status_code == 403
        assert (
            post_form(
                clients[email], "/o/seguros-nunez/members", "/o/seguros-nunez/settings", {"name": "X Y"}
            ).status_code
            == 403
        )
        assert (
            post_form(clients[email], "/o/seguros-nunez/members", "/o/seguros-nunez/settings/invite-code").status_code
            == 403
        )
    assert outsider.get("/o/seguros-nunez/settings").status_code == 404
    assert outsider.get("/o/no-existe/settings").status_code == 404

    admin = clients[ADMIN]
    page = admin.get("/o/seguros-nunez/settings")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    before = org_row(app, "seguros-nunez")
    assert orgs.format_code(before.invite_code) in html
    assert "CUIT …671" in html and CUIT_COMPANY not in html  # the tax ID, masked
    assert "Productor o agente de seguros" in html and "Argentina" in html

    saved = post_form(
        admin,
        "/o/seguros-nunez/settings",
        "/o/seguros-nunez/settings",
        {"name": "Seguros Núñez SRL", "agents_see_all": "y"},
    )
    assert saved.status_code == 303
    after = org_row(app, "seguros-nunez")
    assert (after.name, after.agents_see_all, after.slug) == ("Seguros Núñez SRL", True, "seguros-nunez")
    empty = post_form(admin, "/o/seguros-nunez/settings", "/o/seguros-nunez/settings", {"name": ""})
    assert empty.status_code == 422 and "Escribe el nombre de la organización." in empty.get_data(as_text=True)

    assert post_form(admin, "/o/seguros-nunez/settings", "/o/seguros-nunez/settings/invite-code").status_code == 303
    regenerated = org_row(app, "seguros-nunez").invite_code
    assert regenerated != before.invite_code
    assert orgs.format_code(regenerated) in admin.get("/o/seguros-nunez/settings").get_data(as_text=True)
    with app.app_context():
        assert orgs.org_by_tax_id_or_code(before.invite_code) is None  # the old code no longer works
        assert orgs.org_by_tax_id_or_code(orgs.format_code(regenerated).lower()).id == after.id  # type: ignore[union-attr]
        assert orgs.org_by_tax_id_or_code("30-71234567-1").id == after.id  # type: ignore[union-attr]
        assert orgs.org_by_tax_id_or_code(" 30.712.345.671 ").id == after.id  # type: ignore[union-attr]
        assert orgs.org_by_tax_id_or_code(CUIT_COMPANY_2) is None
        assert orgs.org_by_tax_id_or_code("") is None
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"org.settings", "org.invite_code"} <= actions


# --- the CLI ------------------------------------------------------------------------------------------------


def test_cli_org_create(app: Flask, mailbox: Mailbox) -> None:
    register_verified(app.test_client(), mailbox, OWNER)
    runner = app.test_cli_runner()

    ok = runner.invoke(
        args=[
            "org",
            "create",
            "--name",
            "Broker Uno",
            "--kind",
            "broker",
            "--owner",
            OWNER.upper(),
            "--tax-id",
            CUIT_COMPANY,
            "--country",
            "AR",
        ]
    )

    assert ok.exit_code == 0, ok.output
    assert "broker-uno" in ok.output and "/o/broker-uno/" in ok.output
    assert role_of(app, "broker-uno", OWNER) == "owner"
    assert org_row(app, "broker-uno").tax_id == CUIT_COMPANY

    no_owner = runner.invoke(args=["org", "create", "--name", "B", "--kind", "hr", "--owner", "nadie@example.com"])
    assert no_owner.exit_code != 0 and "nadie@example.com" in no_owner.output
    bad = runner.invoke(
        args=["org", "create", "--name", "Broker Dos", "--kind", "hr", "--owner", OWNER, "--tax-id", "123"]
    )
    assert bad.exit_code != 0 and "--tax-id" in bad.output
    dup = runner.invoke(
        args=[
            "org",
            "create",
            "--name",
            "Broker Dos",
            "--kind",
            "broker",
            "--owner",
            OWNER,
            "--country",
            "AR",
            "--tax-id",
            CUIT_COMPANY,
        ]
    )
    assert dup.exit_code != 0
    bad_kind = runner.invoke(args=["org", "create", "--name", "B", "--kind", "bank", "--owner", OWNER])
    assert bad_kind.exit_code != 0

    # Without a tax ID (as in the command line): clients use the invitation code.
    bare = runner.invoke(args=["org", "create", "--name", "RRHH Acme", "--kind", "hr", "--owner", OWNER])
    assert bare.exit_code == 0, bare.output
    org = org_row(app, "rrhh-acme")
    assert (org.country, org.kind) == ("MX", "hr") and not orgs.has_tax_id(org)
    assert orgs.format_code(org.invite_code) in bare.output
    with app.app_context():
        assert orgs.org_by_tax_id_or_code(org.tax_id) is None
        assert db.session.scalar(select(func.count(Organization.id))) == 2
