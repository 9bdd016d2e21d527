"""feed validators: each feed's ETag and Last-Modified, for conditional requests

- account.feed_etag / account.feed_last_modified: the validators a feed's first page was last
  read whole with (RFC 9110 section 8.8), sent back as If-None-Match / If-Modified-Since so an
  unchanged feed answers 304 with no body. NULL where the feed sent none or was never read whole.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("account", sa.Column("feed_etag", sa.String(length=500), nullable=True))
    op.add_column("account", sa.Column("feed_last_modified", sa.String(length=100), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), as 0005 does: batch mode would copy the table.
    for column in ("feed_last_modified", "feed_etag"):
        op.execute(f"ALTER TABLE account DROP COLUMN {column}")
