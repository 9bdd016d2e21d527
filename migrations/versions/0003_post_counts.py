"""post counts: each post's latest and previous snapshot, kept by triggers on postsnapshot

The reach report read each post's latest and previous snapshot with two look-ups into a year of
history per post; this table holds them, one row per post. Triggers rebuild the row of every post
whose snapshots are inserted or updated, from the history itself, so it stays right whatever
order snapshots arrive in and whoever writes them. PostgreSQL rebuilds once per statement (its
transition table lists the changed rows); SQLite, which has only row triggers, once per row.

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("likes", "comments", "reposts", "quotes", "views", "impressions", "members_reached")
COLUMNS = ", ".join(["post_id", "latest_id", "observed_at", "approximate", *COUNTS, "previous_id",
                     *[f"prev_{c}" for c in COUNTS]])
VALUES = ", ".join(["p.post_id", "l.id", "l.observed_at", "l.approximate", *[f"l.{c}" for c in COUNTS],
                    "pr.id", *[f"pr.{c}" for c in COUNTS]])
UPSERT = ("ON CONFLICT (post_id) DO UPDATE SET "
          + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS.split(", ")[1:]))
TRIGGERS = ("postcounts_on_insert", "postcounts_on_update")


def _pick(post: str, offset: int) -> str:
    """The id of a post's snapshot at `offset` from the newest (0 latest, 1 previous)."""
    return (f"(SELECT s.id FROM postsnapshot s WHERE s.post_id = {post} "
            f"ORDER BY s.observed_at DESC, s.id DESC LIMIT 1 OFFSET {offset})")


def _rebuild(posts: str) -> str:
    """INSERT the rows of the posts that `posts` (a query of post_id) names, replacing theirs."""
    return (f"INSERT INTO postcounts ({COLUMNS}) SELECT {VALUES} FROM ({posts}) p "
            f"JOIN postsnapshot l ON l.id = {_pick('p.post_id', 0)} "
            f"LEFT JOIN postsnapshot pr ON pr.id = {_pick('p.post_id', 1)} WHERE true {UPSERT}")


def upgrade() -> None:
    op.create_table(
        "postcounts",
        sa.Column("post_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("latest_id", sa.BigInteger(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approximate", sa.Boolean(), nullable=False),
        *[sa.Column(c, sa.BigInteger(), nullable=True) for c in COUNTS],
        sa.Column("previous_id", sa.BigInteger(), nullable=True),
        *[sa.Column(f"prev_{c}", sa.BigInteger(), nullable=True) for c in COUNTS],
        sa.ForeignKeyConstraint(["post_id"], ["post.id"]),
        sa.PrimaryKeyConstraint("post_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION postcounts_rebuild() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {_rebuild("SELECT DISTINCT post_id FROM changed")};
                RETURN NULL;
            END $$""")
        for trigger, event in zip(TRIGGERS, ("INSERT", "UPDATE"), strict=True):
            op.execute(f"CREATE TRIGGER {trigger} AFTER {event} ON postsnapshot "
                       "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
                       "EXECUTE FUNCTION postcounts_rebuild()")
    else:
        for trigger, event in zip(TRIGGERS, ("INSERT", "UPDATE"), strict=True):
            op.execute(f"CREATE TRIGGER {trigger} AFTER {event} ON postsnapshot FOR EACH ROW "
                       f"BEGIN {_rebuild('SELECT NEW.post_id AS post_id')}; END")
    op.execute(_rebuild("SELECT DISTINCT post_id FROM postsnapshot"))


def downgrade() -> None:
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON postsnapshot" if op.get_bind().dialect.name == "postgresql"
                   else f"DROP TRIGGER {trigger}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION postcounts_rebuild()")
    op.drop_table("postcounts")
