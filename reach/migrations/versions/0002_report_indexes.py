"""report indexes: covering look-ups of the latest post snapshot and of followers at a moment

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_post_snapshot_latest", "postsnapshot", ["post_id", "observed_at", "id"])
    op.create_index(
        "ix_account_snapshot_followers",
        "accountsnapshot",
        ["account_id", "observed_at", "followers"],
    )


def downgrade() -> None:
    op.drop_index("ix_account_snapshot_followers", table_name="accountsnapshot")
    op.drop_index("ix_post_snapshot_latest", table_name="postsnapshot")
