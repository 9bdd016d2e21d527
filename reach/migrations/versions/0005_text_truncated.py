"""text cap: posts and replies say whether their stored text was cut to the crawler's maximum

- post.text_truncated / reply.text_truncated: the crawler stores at most 100,000 characters of a
  text (a 52-million-character post was stored before); a cut text is flagged, so a report or a
  sentiment score read from it can say so. Existing rows start false: none was cut.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "post", sa.Column("text_truncated", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "reply",
        sa.Column("text_truncated", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): batch mode would copy `post` and drop the postcounts triggers.
    for table in ("reply", "post"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN text_truncated")
