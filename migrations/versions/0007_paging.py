"""pages that stay small: indexes for keyset paging and the attention queries

Revision ID: 0007_paging
Revises: 0006_jobs
Create Date: 2026-12-02 12:00:00

"Mis seguros", "Siniestros" and "Requiere atención" read the first rows of an order within one insurer
account (issue 9): each order is an index here, led by the account, so a page costs the same for 50 or
50,000 policies. What the dashboard shows by default, current policies, has partial indexes of current
policies only: smaller, and the policies of each line are counted from the index alone. The queries say
"current" with the same literal values (``aggregator.services.portfolio.live``), or the planner cannot
use them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_paging"
down_revision = "0006_jobs"
branch_labels = None
depends_on = None

LIVE_SQL = "removed_upstream_at IS NULL AND status IN ('in_force', 'pending_payment')"  # as models.LIVE_SQL

INDEXES: tuple[tuple[str, str, list[str], bool], ...] = (
    # Cards by line and term end, whatever the status filter; the status in the index counts without a row.
    (
        "ix_policies_account_line_term",
        "policies",
        ["account_id", "line", "term_end", "id", "status", "removed_upstream_at"],
        False,
    ),
    # The predicate's columns too: SQLite reads the row for a column of the predicate unless the index holds it;
    # the next due date serves the "receipt overdue" filter.
    (
        "ix_policies_live_line_term",
        "policies",
        ["account_id", "line", "term_end", "id", "status", "removed_upstream_at", "next_due_date"],
        True,
    ),
    ("ix_policies_live_next_due", "policies", ["account_id", "next_due_date", "id"], True),
    ("ix_policies_live_term", "policies", ["account_id", "term_end", "id"], True),
    ("ix_claims_account_reported", "claims", ["account_id", "reported_at", "id"], False),
    ("ix_claims_account_waiting", "claims", ["account_id", "waiting_on_client", "reported_at", "id"], False),
)


def upgrade() -> None:
    for name, table, columns, live in INDEXES:
        where = {"sqlite_where": sa.text(LIVE_SQL), "postgresql_where": sa.text(LIVE_SQL)} if live else {}
        op.create_index(name, table, columns, unique=False, **where)


def downgrade() -> None:
    for name, table, _columns, _live in reversed(INDEXES):
        op.drop_index(name, table_name=table)
