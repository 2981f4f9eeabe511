"""Give a user one client profile holding N policies, through the sync engine's own upsert.

    python -m bench.seed --email bench@coberta.example --policies 50

Run with the same ``AGGREGATOR_*`` environment as the portal under test; prints the id of one policy
and of one claim (for the detail pages' URLs) as ``policy=<id> claim=<id>``.
"""

from __future__ import annotations

import argparse

from sqlalchemy import select

from aggregator import create_app
from aggregator.extensions import db
from aggregator.models import Claim, ClientProfile, GrantAccount, InsurerAccount, Policy, ProfileGrant, User
from aggregator.models.types import utcnow
from aggregator.services import insurers, sync
from bench.upsert import synthetic_portfolio


def seed(email: str, policies: int) -> tuple[int, int | None]:
    """Link a synthetic profile with ``policies`` policies to the user; (a policy id, a claim id)."""
    app = create_app()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            raise SystemExit(f"no user {email}: create it first")
        ids = insurers.ensure_insurers()
        profile = ClientProfile(country="MX", id_type="RFC", id_number="OEIL850101AB1", name="Lucía Ortega Ibarra")
        db.session.add(profile)
        db.session.flush()
        grant = ProfileGrant(profile_id=profile.id, user_id=user.id, granted_via="tax_id")
        db.session.add(grant)
        account = InsurerAccount(profile_id=profile.id, insurer_id=ids["gnp"], client_ref="bench-client")
        db.session.add(account)
        db.session.flush()
        db.session.add(GrantAccount(grant_id=grant.id, account_id=account.id, granted_via="tax_id"))
        now = utcnow()
        sync.apply_portfolio(db.session(), account, synthetic_portfolio("bench-client", policies, claims_every=5), now)
        account.health, account.last_success_at, account.next_sync_at = "ok", now, None
        db.session.commit()
        policy_id = db.session.scalar(select(Policy.id).order_by(Policy.id).limit(1))
        claim_id = db.session.scalar(select(Claim.id).order_by(Claim.id).limit(1))
        assert policy_id is not None
        return policy_id, claim_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--email", required=True)
    parser.add_argument("--policies", type=int, default=50)
    args = parser.parse_args()
    policy_id, claim_id = seed(args.email, args.policies)
    print(f"policy={policy_id} claim={claim_id or ''}")


if __name__ == "__main__":
    main()
