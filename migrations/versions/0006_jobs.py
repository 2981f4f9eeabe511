"""background jobs out of the web workers: leases and reclaiming

Revision ID: 0006_jobs
Revises: 0004_attention
Create Date: 2026-12-02 12:00:00

A job's heartbeat (refreshed by the process running it) tells a job whose worker died from one that
is still running, so that another worker queues it again (``jobs.reclaim_abandoned``); ``worker``
names the process (host:pid) for operators. Existing jobs take their last known sign of life.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aggregator.models.types

revision = "0006_jobs"
down_revision = "0004_attention"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN (see 0004): never a batch "move and copy" of a table on SQLite.


def upgrade() -> None:
    op.add_column("jobs", sa.Column("heartbeat_at", aggregator.models.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("worker", sa.String(length=120), nullable=True))
    op.execute("UPDATE jobs SET heartbeat_at = COALESCE(started_at, created_at) WHERE status IN ('queued', 'running')")


def downgrade() -> None:
    op.drop_column("jobs", "worker")
    op.drop_column("jobs", "heartbeat_at")
