"""intermediaries: organizations, members, invitations, clients' grants to organizations, access requests, access log

Revision ID: 0008_orgs
Revises: 0007_paging
Create Date: 2026-12-02 14:45:42

Issue 10 (DESIGN §11). New tables only: nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aggregator.models.types

revision = "0008_orgs"
down_revision = "0007_paging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("tax_id_type", sa.String(length=8), nullable=False),
        sa.Column("tax_id", sa.String(length=32), nullable=False),
        sa.Column("invite_code", sa.String(length=16), nullable=False),
        sa.Column("agents_see_all", sa.Boolean(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_organizations_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_organizations_invite_code")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
        sa.UniqueConstraint("tax_id_type", "tax_id", name="uq_organizations_tax_id"),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("organization_name", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("member_label", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("object_type", sa.String(length=24), nullable=True),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("created_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["insurer_accounts.id"],
            name=op.f("fk_access_log_account_id_insurer_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_access_log_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["client_profiles.id"],
            name=op.f("fk_access_log_profile_id_client_profiles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_access_log_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index("ix_access_log_org_time", ["organization_id", "id"], unique=False)
        batch_op.create_index("ix_access_log_profile_time", ["profile_id", "id"], unique=False)

    op.create_table(
        "org_access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"],
            ["users.id"],
            name=op.f("fk_org_access_requests_decided_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_org_access_requests_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["client_profiles.id"],
            name=op.f("fk_org_access_requests_profile_id_client_profiles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_org_access_requests_requested_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_access_requests")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_org_access_requests_token_digest")),
    )
    with op.batch_alter_table("org_access_requests", schema=None) as batch_op:
        batch_op.create_index("ix_org_access_requests_email", ["email", "decided_at"], unique=False)

    op.create_table(
        "org_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("claim_details", sa.Boolean(), nullable=False),
        sa.Column("granted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expiry_reminded_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=16), nullable=True),
        sa.Column("revoked_by_user_id", sa.Integer(), nullable=True),
        sa.Column("last_access_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_user_id"], ["users.id"], name=op.f("fk_org_grants_assigned_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_user_id"],
            ["users.id"],
            name=op.f("fk_org_grants_granted_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_org_grants_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["client_profiles.id"],
            name=op.f("fk_org_grants_profile_id_client_profiles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_user_id"],
            ["users.id"],
            name=op.f("fk_org_grants_revoked_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_grants")),
        sa.UniqueConstraint("organization_id", "profile_id", name="uq_org_grants_org_profile"),
    )
    with op.batch_alter_table("org_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_grants_assigned_user_id"), ["assigned_user_id"], unique=False)
        batch_op.create_index("ix_org_grants_org_live", ["organization_id", "revoked_at"], unique=False)
        batch_op.create_index("ix_org_grants_profile", ["profile_id"], unique=False)

    op.create_table(
        "org_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("invited_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_by_user_id"],
            ["users.id"],
            name=op.f("fk_org_invitations_accepted_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_user_id"],
            ["users.id"],
            name=op.f("fk_org_invitations_invited_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_org_invitations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_invitations")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_org_invitations_token_digest")),
    )
    with op.batch_alter_table("org_invitations", schema=None) as batch_op:
        batch_op.create_index("ix_org_invitations_org", ["organization_id", "accepted_at"], unique=False)

    op.create_table(
        "org_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_org_memberships_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_org_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_memberships")),
        sa.UniqueConstraint("organization_id", "user_id", name="uq_org_memberships_org_user"),
    )
    with op.batch_alter_table("org_memberships", schema=None) as batch_op:
        batch_op.create_index("ix_org_memberships_user", ["user_id"], unique=False)

    op.create_table(
        "org_grant_accounts",
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("created_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["insurer_accounts.id"],
            name=op.f("fk_org_grant_accounts_account_id_insurer_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["org_grants.id"], name=op.f("fk_org_grant_accounts_grant_id_org_grants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("grant_id", "account_id", name=op.f("pk_org_grant_accounts")),
    )
    with op.batch_alter_table("org_grant_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_org_grant_accounts_account", ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("org_grant_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_org_grant_accounts_account")

    op.drop_table("org_grant_accounts")
    with op.batch_alter_table("org_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_org_memberships_user")

    op.drop_table("org_memberships")
    with op.batch_alter_table("org_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_org_invitations_org")

    op.drop_table("org_invitations")
    with op.batch_alter_table("org_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_org_grants_profile")
        batch_op.drop_index("ix_org_grants_org_live")
        batch_op.drop_index(batch_op.f("ix_org_grants_assigned_user_id"))

    op.drop_table("org_grants")
    with op.batch_alter_table("org_access_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_org_access_requests_email")

    op.drop_table("org_access_requests")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_index("ix_access_log_profile_time")
        batch_op.drop_index("ix_access_log_org_time")

    op.drop_table("access_log")
    op.drop_table("organizations")
