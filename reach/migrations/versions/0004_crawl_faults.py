"""crawl faults: who owns a running crawl run, warnings on outcomes, reply threads read whole

- crawlrun.host / pid / heartbeat_at: a run whose process is gone (SIGKILL, a machine restart)
  is found and closed as interrupted by the next crawl or `reach runs reap`;
- crawloutcome.warnings: secondary requests (reply threads, item pages) that failed while the
  account itself was crawled;
- post.thread_comments / thread_gone: the comment count at which a reply thread was last read
  whole (or found gone), written with its replies. Existing posts start NULL, so each thread
  with comments is read once more by the next crawl.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("crawlrun", sa.Column("host", sa.String(length=255), nullable=True))
    op.add_column("crawlrun", sa.Column("pid", sa.Integer(), nullable=True))
    op.add_column("crawlrun", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("crawloutcome", sa.Column("warnings", sa.JSON(), nullable=True))
    op.add_column("post", sa.Column("thread_comments", sa.BigInteger(), nullable=True))
    op.add_column(
        "post", sa.Column("thread_gone", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index("ix_crawlrun_status", "crawlrun", ["status"])


def downgrade() -> None:
    op.drop_index("ix_crawlrun_status", table_name="crawlrun")
    # Plain DROP COLUMN (SQLite 3.35+): batch mode would copy `post` and drop the postcounts triggers.
    for table, column in (
        ("post", "thread_gone"),
        ("post", "thread_comments"),
        ("crawloutcome", "warnings"),
        ("crawlrun", "heartbeat_at"),
        ("crawlrun", "pid"),
        ("crawlrun", "host"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
