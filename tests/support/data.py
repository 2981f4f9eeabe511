"""Test data through the real paths: sandbox pairs verified by the connector, then a real sync."""

from __future__ import annotations

from sqlalchemy import select

from aggregator.extensions import db
from aggregator.models import ClientProfile, GrantAccount, InsurerAccount, ProfileGrant, User
from aggregator.services import insurers, sync
from connectors.base import SandboxSamples
from connectors.models import PartyKind, TaxId, TaxIdType

COUNTRY = {TaxIdType.RFC: "MX", TaxIdType.CURP: "MX", TaxIdType.CUIT: "AR", TaxIdType.CUIL: "AR", TaxIdType.DNI: "AR"}


def user_id(email: str) -> int:
    """The id of the user with this (normalised) email."""
    found = db.session.scalar(select(User.id).where(User.email == email.lower()))
    assert found is not None, f"no user {email}"
    return found


def link_pair(uid: int, slug: str, tax_id: TaxId, policy_number: str, *, run_sync: bool = True) -> InsurerAccount:
    """Give ``uid`` a profile linked at ``slug`` with a pair the sandbox accepts; sync it unless told not to.

    Call inside an app context. Bypasses the linking form (its own tests cover it), not the connector.
    """
    ids = insurers.ensure_insurers()
    connector = insurers.connector(slug)
    assert connector is not None, f"{slug} is not enabled"
    match = connector.verify_client(tax_id, policy_number)
    assert match is not None, f"{slug} sandbox refused {tax_id.masked()} / {policy_number}"
    profile = db.session.scalar(
        select(ClientProfile).where(
            ClientProfile.id_type == tax_id.type.value, ClientProfile.id_number == tax_id.number
        )
    )
    if profile is None:
        profile = ClientProfile(
            country=COUNTRY[tax_id.type],
            id_type=tax_id.type.value,
            id_number=tax_id.number,
            kind=match.kind.value if isinstance(match.kind, PartyKind) else "person",
            name=match.name,
            email=match.email,
        )
        db.session.add(profile)
        db.session.flush()
    grant = db.session.scalar(
        select(ProfileGrant).where(ProfileGrant.profile_id == profile.id, ProfileGrant.user_id == uid)
    )
    if grant is None:
        grant = ProfileGrant(profile_id=profile.id, user_id=uid, granted_via="tax_id")
        db.session.add(grant)
    account = db.session.scalar(
        select(InsurerAccount).where(
            InsurerAccount.insurer_id == ids[slug], InsurerAccount.client_ref == match.client_ref
        )
    )
    if account is None:
        account = InsurerAccount(profile_id=profile.id, insurer_id=ids[slug], client_ref=match.client_ref)
        db.session.add(account)
    db.session.flush()
    if db.session.get(GrantAccount, (grant.id, account.id)) is None:  # the grant covers what was proved
        db.session.add(GrantAccount(grant_id=grant.id, account_id=account.id, granted_via="tax_id"))
    db.session.commit()
    if run_sync:
        run = sync.sync_account(account.id, "link")
        assert run is not None and run.outcome == "ok", (run and run.outcome, run and run.detail)
        db.session.refresh(account)
    return account


def sandbox_samples(slug: str) -> SandboxSamples:
    """The known answers of one connector's sandbox."""
    spec = insurers.connector_classes()[slug].sandbox()
    assert spec is not None
    return spec.samples


def link_sample(uid: int, slug: str, *, run_sync: bool = True) -> InsurerAccount:
    """``link_pair`` with the sandbox's own valid sample pair."""
    tax_id, number = sandbox_samples(slug).valid
    return link_pair(uid, slug, tax_id, number, run_sync=run_sync)
