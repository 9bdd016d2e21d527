"""Indexes that make the reach report fast at real size (a year of nightly snapshots).

The report picks, per post, its latest and previous snapshot and, per post and per account, the
follower count nearest a moment. These indexes answer each pick from the index alone (an
index-only scan on PostgreSQL, a covering index on SQLite) instead of visiting the table.
"""

from sqlalchemy import Index

from models.content import AccountSnapshot, PostSnapshot

# Latest / previous snapshot of a post: ORDER BY observed_at DESC, id DESC LIMIT 1 [OFFSET 1].
ix_post_snapshot_latest = Index(
    "ix_post_snapshot_latest", PostSnapshot.post_id, PostSnapshot.observed_at, PostSnapshot.id
)
# Followers nearest a moment (publication, period start and end) without reading the table.
ix_account_snapshot_followers = Index(
    "ix_account_snapshot_followers",
    AccountSnapshot.account_id, AccountSnapshot.observed_at, AccountSnapshot.followers,
)
