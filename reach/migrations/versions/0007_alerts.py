"""alerts: each event the monitors or a failed flow run raised, once

- alert: one row per event, keyed by the event's identity (`key`, unique), so two overlapping
  runs of the monitors (the nightly and a rerun) insert it once (INSERT ... ON CONFLICT DO
  NOTHING); with what triggered it and whether delivery sent it (`sent_at`) or why not
  (`send_error`, masked). Listed newest first (ix_alert_raised_at).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_key", "alert", ["key"], unique=True)
    op.create_index("ix_alert_raised_at", "alert", ["raised_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_raised_at", table_name="alert")
    op.drop_index("ix_alert_key", table_name="alert")
    op.drop_table("alert")
