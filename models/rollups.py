"""What makes the reach report fast at real size (a year of nightly snapshots).

- `PostCounts`: each post's latest and previous snapshot and its account's followers at
  publication, one row per post, kept by database triggers (migration 0003): the report reads one
  row per post instead of three look-ups into the snapshot history, and every writer (crawl,
  import, a test, a bench) keeps it true without calling anything.
- Indexes (migration 0002) that answer the remaining per-post and per-account picks from the
  index alone (an index-only scan on PostgreSQL, a covering index on SQLite).
"""

import datetime as dt

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, col

from models.content import AccountSnapshot, PostSnapshot, SnapshotCounts
from models.types import UTCDateTime


class PostCounts(SnapshotCounts, table=True):
    """A post's latest snapshot (its counts inherited), the one before it (`prev_*`) and its
    account's followers at publication; derived, never written by code.

    Latest means the greatest (observed_at, id), as in the snapshot history itself; a snapshot
    written late with an older observed_at does not become the latest. Rebuilt from the history
    for each post whose snapshots change.
    """

    post_id: int = Field(
        foreign_key="post.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    latest_id: int = Field(sa_type=BigInteger)
    observed_at: dt.datetime = Field(sa_type=UTCDateTime)
    approximate: bool
    previous_id: int | None = Field(default=None, sa_type=BigInteger)
    prev_likes: int | None = Field(default=None, sa_type=BigInteger)
    prev_comments: int | None = Field(default=None, sa_type=BigInteger)
    prev_reposts: int | None = Field(default=None, sa_type=BigInteger)
    prev_quotes: int | None = Field(default=None, sa_type=BigInteger)
    prev_views: int | None = Field(default=None, sa_type=BigInteger)
    prev_impressions: int | None = Field(default=None, sa_type=BigInteger)
    prev_members_reached: int | None = Field(default=None, sa_type=BigInteger)
    followers_at_post: int | None = Field(
        default=None,
        sa_type=BigInteger,
        description="the account's followers at publication: the snapshot nearest before, else the first after",
    )


# Latest / previous snapshot of a post: ORDER BY observed_at DESC, id DESC LIMIT 1 [OFFSET 1].
ix_post_snapshot_latest = Index(
    "ix_post_snapshot_latest",
    col(PostSnapshot.post_id),
    col(PostSnapshot.observed_at),
    col(PostSnapshot.id),
)
# Followers nearest a moment (publication, period start and end) without reading the table.
ix_account_snapshot_followers = Index(
    "ix_account_snapshot_followers",
    col(AccountSnapshot.account_id),
    col(AccountSnapshot.observed_at),
    col(AccountSnapshot.followers),
)
