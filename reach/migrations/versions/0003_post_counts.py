"""post counts: each post's latest and previous snapshot and its account's followers at
publication, kept by triggers

The reach report looked up, per post, its latest and previous snapshot and the account's
followers at publication: three index look-ups into a year of history for each of a year's posts.
This table holds the answers, one row per post that has a snapshot, and triggers keep it true
whoever writes and in whatever order:
- a post snapshot inserted or updated rebuilds its post's row from the history;
- an account snapshot inserted refreshes followers at publication of the account's posts it can
  change (those published since the account's snapshot before it; all of them if it is the first);
  one updated (or moved to another account) refreshes the posts of both accounts;
- a post whose account or publication time changes refreshes its own.
PostgreSQL runs each trigger once per statement over its transition table; SQLite, which has only
row triggers, once per row.

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
COLUMNS = [
    "post_id",
    "latest_id",
    "observed_at",
    "approximate",
    *COUNTS,
    "previous_id",
    *[f"prev_{c}" for c in COUNTS],
    "followers_at_post",
]


def _followers_at_post() -> str:
    """Followers of `post`'s account at its publication: the snapshot nearest before, else the
    first after."""

    def nearest(cond: str, order: str) -> str:
        return (
            f"(SELECT a.followers FROM accountsnapshot a WHERE a.account_id = post.account_id "
            f"AND a.observed_at {cond} post.published_at AND a.followers IS NOT NULL "
            f"ORDER BY a.observed_at {order} LIMIT 1)"
        )

    return f"COALESCE({nearest('<=', 'DESC')}, {nearest('>', 'ASC')})"


def _snapshot_id(offset: int) -> str:
    """The id of `p`'s snapshot at `offset` from the newest (0 latest, 1 previous)."""
    return (
        f"(SELECT s.id FROM postsnapshot s WHERE s.post_id = p.post_id "
        f"ORDER BY s.observed_at DESC, s.id DESC LIMIT 1 OFFSET {offset})"
    )


def _rebuild(posts: str) -> str:
    """Replace the rows of the posts that `posts` (a query of post_id) names."""
    values = [
        "p.post_id",
        "l.id",
        "l.observed_at",
        "l.approximate",
        *[f"l.{c}" for c in COUNTS],
        "pr.id",
        *[f"pr.{c}" for c in COUNTS],
        _followers_at_post(),
    ]
    return (
        f"INSERT INTO postcounts ({', '.join(COLUMNS)}) SELECT {', '.join(values)} "
        f"FROM ({posts}) p JOIN post ON post.id = p.post_id "
        f"JOIN postsnapshot l ON l.id = {_snapshot_id(0)} "
        f"LEFT JOIN postsnapshot pr ON pr.id = {_snapshot_id(1)} WHERE true "
        f"ON CONFLICT (post_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    )


def _refresh_followers(which_posts: str) -> str:
    """Recompute followers at publication for the rows of the posts `which_posts` selects."""
    return (
        f"UPDATE postcounts SET followers_at_post = (SELECT {_followers_at_post()} FROM post "
        f"WHERE post.id = postcounts.post_id) "
        f"WHERE postcounts.post_id IN (SELECT post.id FROM post WHERE {which_posts})"
    )


def _published_since_snapshot_before(account: str, observed: str, dawn: str) -> str:
    """Posts published since `account`'s last snapshot with followers before `observed` (or
    ever, `dawn`): the ones whose nearest snapshot a snapshot at `observed` can change."""
    return (
        f"post.published_at >= COALESCE((SELECT max(o.observed_at) FROM accountsnapshot o "
        f"WHERE o.account_id = {account} AND o.observed_at < {observed} "
        f"AND o.followers IS NOT NULL), {dawn})"
    )


# (table, event, statement on PostgreSQL over `changed` [and `gone`], statement on SQLite per row)
TRIGGERS = [
    (
        "postsnapshot",
        "INSERT",
        _rebuild("SELECT DISTINCT post_id FROM changed"),
        _rebuild("SELECT NEW.post_id AS post_id"),
    ),
    (
        "postsnapshot",
        "UPDATE",
        _rebuild("SELECT DISTINCT post_id FROM changed"),
        _rebuild("SELECT NEW.post_id AS post_id"),
    ),
    (
        "accountsnapshot",
        "INSERT",
        _refresh_followers(
            "post.account_id IN (SELECT account_id FROM changed) AND "
            + _published_since_snapshot_before(
                "post.account_id",
                "(SELECT min(c.observed_at) FROM changed c WHERE c.account_id = post.account_id)",
                "'-infinity'",
            )
        ),
        _refresh_followers(
            "post.account_id = NEW.account_id AND "
            + _published_since_snapshot_before("NEW.account_id", "NEW.observed_at", "''")
        ),
    ),
    (
        "accountsnapshot",
        "UPDATE",
        _refresh_followers(
            "post.account_id IN (SELECT account_id FROM changed UNION SELECT account_id FROM gone)"
        ),
        _refresh_followers("post.account_id IN (OLD.account_id, NEW.account_id)"),
    ),
    (
        "post",
        "UPDATE",
        _refresh_followers(
            "post.id IN (SELECT c.id FROM changed c JOIN gone g ON g.id = c.id "
            "WHERE c.account_id IS DISTINCT FROM g.account_id "
            "OR c.published_at IS DISTINCT FROM g.published_at)"
        ),
        _refresh_followers(
            "post.id = NEW.id AND (OLD.account_id IS NOT NEW.account_id "
            "OR OLD.published_at IS NOT NEW.published_at)"
        ),
    ),
]


def _name(table: str, event: str) -> str:
    return f"postcounts_{table}_{event.lower()}"


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
        sa.Column("followers_at_post", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["post_id"], ["post.id"]),
        sa.PrimaryKeyConstraint("post_id"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, event, statement, row_statement in TRIGGERS:
        name = _name(table, event)
        if postgres:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {statement}; RETURN NULL; END $$"
            )
            tables = "NEW TABLE AS changed" + (" OLD TABLE AS gone" if event == "UPDATE" else "")
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
        else:
            # A post's other columns (its text, language, last seen) change nightly: no trigger.
            columns = " OF account_id, published_at" if table == "post" else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event}{columns} ON {table} FOR EACH ROW "
                f"BEGIN {row_statement}; END"
            )
    op.execute(_rebuild("SELECT DISTINCT post_id FROM postsnapshot"))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, event, _, _ in TRIGGERS:
        name = _name(table, event)
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
        if postgres:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("postcounts")
