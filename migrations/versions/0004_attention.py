"""what needs the client's attention: claims waiting for documents, currencies per account

Revision ID: 0004_attention
Revises: 0003_proofs
Create Date: 2026-12-02 11:00:01

Claims say whether the insurer waits for the client and what it asks for (filled by the next sync).
Each insurer account keeps the currencies of its data, so that a page knows without reading every
policy whether amounts need their ISO code; existing accounts get theirs from the rows they hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_attention"
down_revision = "0003_proofs"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN (SQLite 3.35+ does both in place), never a batch "move and copy": on SQLite that
# drops and recreates the table, and with foreign keys on, dropping insurer_accounts or claims would
# cascade to every policy and claim below them.


def upgrade() -> None:
    op.add_column("claims", sa.Column("waiting_on_client", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("claims", sa.Column("requested_documents", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.add_column(
        "insurer_accounts", sa.Column("currencies", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )
    _backfill_currencies()


def _backfill_currencies() -> None:
    bind = op.get_bind()
    found: dict[int, set[str]] = {}
    for account_id, currency in bind.execute(
        sa.text(
            "SELECT account_id, currency FROM policies "
            "UNION SELECT p.account_id, r.currency FROM receipts r JOIN policies p ON p.id = r.policy_id "
            "UNION SELECT account_id, currency FROM claims WHERE currency IS NOT NULL"
        )
    ):
        found.setdefault(int(account_id), set()).add(str(currency))
    if not found:
        return
    table = sa.table("insurer_accounts", sa.column("id", sa.Integer()), sa.column("currencies", sa.JSON()))
    bind.execute(
        table.update().where(table.c.id == sa.bindparam("account_id")).values(currencies=sa.bindparam("codes")),
        [{"account_id": a, "codes": sorted(codes)} for a, codes in found.items()],
    )


def downgrade() -> None:
    op.drop_column("insurer_accounts", "currencies")
    op.drop_column("claims", "requested_documents")
    op.drop_column("claims", "waiting_on_client")
