"""grants cover the insurer accounts proved; identities remember whether the mailbox proved them

Revision ID: 0003_proofs
Revises: 0002_profiles
Create Date: 2026-12-02 11:00:00

Existing grants are given the insurer accounts their holder proved, read back from the audit
trail (every successful ``profile.link`` event names the insurers that matched); demo grants keep
every account of their profile. A grant whose proofs cannot be found covers nothing until its
holder proves a policy again: nobody keeps access to an insurer they never proved.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import aggregator.models.types

revision = "0003_proofs"
down_revision = "0002_profiles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_grant_accounts",
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("granted_via", sa.String(length=16), nullable=False),
        sa.Column("created_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["insurer_accounts.id"],
            name=op.f("fk_profile_grant_accounts_account_id_insurer_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["profile_grants.id"],
            name=op.f("fk_profile_grant_accounts_grant_id_profile_grants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grant_id", "account_id", name=op.f("pk_profile_grant_accounts")),
    )
    op.create_index("ix_profile_grant_accounts_account", "profile_grant_accounts", ["account_id"], unique=False)
    with op.batch_alter_table("social_identities") as batch:
        batch.add_column(sa.Column("mailbox_proved", sa.Boolean(), nullable=False, server_default=sa.false()))
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    # Identities of verified accounts were accepted by the rules of their time: they stay usable.
    bind.execute(
        sa.text(
            "UPDATE social_identities SET mailbox_proved = :yes "
            "WHERE user_id IN (SELECT id FROM users WHERE verified_at IS NOT NULL)"
        ),
        {"yes": True},
    )
    proved: dict[tuple[int, int], set[str]] = {}
    events = bind.execute(
        sa.text(
            "SELECT actor_user_id, target_id, details FROM audit_events "
            "WHERE action = 'profile.link' AND outcome = 'success' AND target_type = 'client_profile'"
        )
    )
    for user_id, target_id, details in events:
        data: Any = json.loads(details) if isinstance(details, str) else details
        if user_id is None or not target_id or not str(target_id).isdigit() or not isinstance(data, dict):
            continue
        slugs = data.get("insurers") or []
        proved.setdefault((int(user_id), int(target_id)), set()).update(str(s) for s in slugs)
    grants = bind.execute(sa.text("SELECT id, user_id, profile_id, granted_via FROM profile_grants")).all()
    accounts = bind.execute(
        sa.text("SELECT a.id, a.profile_id, i.slug FROM insurer_accounts a JOIN insurers i ON i.id = a.insurer_id")
    ).all()
    by_profile: dict[int, list[tuple[int, str]]] = {}
    for account_id, profile_id, slug in accounts:
        by_profile.setdefault(profile_id, []).append((account_id, slug))
    now = datetime.now(UTC)
    rows = []
    for grant_id, user_id, profile_id, via in grants:
        slugs = proved.get((user_id, profile_id), set())
        for account_id, slug in by_profile.get(profile_id, []):
            if via == "demo" or slug in slugs:
                rows.append({"grant_id": grant_id, "account_id": account_id, "granted_via": via, "created_at": now})
    if rows:
        table = sa.table(
            "profile_grant_accounts",
            sa.column("grant_id", sa.Integer()),
            sa.column("account_id", sa.Integer()),
            sa.column("granted_via", sa.String()),
            sa.column("created_at", aggregator.models.types.UTCDateTime(timezone=True)),
        )
        op.bulk_insert(table, rows)


def downgrade() -> None:
    with op.batch_alter_table("social_identities") as batch:
        batch.drop_column("mailbox_proved")
    op.drop_index("ix_profile_grant_accounts_account", table_name="profile_grant_accounts")
    op.drop_table("profile_grant_accounts")
