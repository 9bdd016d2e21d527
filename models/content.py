"""Posts, their replies, and the append-only count snapshots that make the history."""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from models.types import BigIntegerPK, UTCDateTime, utcnow


class Post(SQLModel, table=True):
    """A public post, keyed by (platform, platform_post_id)."""

    __table_args__ = (
        UniqueConstraint("platform", "platform_post_id", name="uq_post_platform_post_id"),
        Index("ix_post_account_published", "account_id", "published_at"),
        Index("ix_post_published", "published_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    platform: str = Field(max_length=20)
    platform_post_id: str = Field(max_length=500)
    url: str | None = Field(default=None, max_length=2000, description="canonical public URL")
    published_at: dt.datetime = Field(sa_type=UTCDateTime)
    text: str | None = Field(default=None, sa_type=Text)
    text_hash: str | None = Field(default=None, max_length=64, index=True)
    language: str | None = Field(default=None, max_length=16)
    kind: str = Field(default="original", max_length=10)
    original_url: str | None = Field(
        default=None, max_length=2000, description="for reposts and quotes: the post shared"
    )
    source: str = Field(default="crawl", max_length=10)
    first_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The comment count at which the reply thread was last read whole (or found gone: 404/410),
    # written with its replies: only a finished read decides that a thread need not be fetched.
    thread_comments: int | None = Field(default=None, sa_type=BigInteger)
    thread_gone: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    text_truncated: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": false()},
        description="text was cut to the crawler's maximum length",
    )


class SnapshotCounts(SQLModel):
    """Every count a post snapshot carries (NULL where the source did not publish it, never 0)."""

    likes: int | None = Field(default=None, sa_type=BigInteger)
    comments: int | None = Field(default=None, sa_type=BigInteger)
    reposts: int | None = Field(default=None, sa_type=BigInteger)
    quotes: int | None = Field(default=None, sa_type=BigInteger)
    views: int | None = Field(default=None, sa_type=BigInteger)
    impressions: int | None = Field(default=None, sa_type=BigInteger)
    members_reached: int | None = Field(default=None, sa_type=BigInteger)


SNAPSHOT_COUNTS = tuple(SnapshotCounts.model_fields)


class PostSnapshot(SnapshotCounts, table=True):
    """Counts of one post as seen by one crawl run (or import). NULL = not published, never 0."""

    __table_args__ = (
        UniqueConstraint("post_id", "crawl_run_id", name="uq_post_snapshot_run"),
        Index("ix_post_snapshot_post_observed", "post_id", "observed_at"),
    )

    id: int | None = Field(default=None, sa_type=BigIntegerPK, primary_key=True)
    post_id: int = Field(foreign_key="post.id")
    crawl_run_id: int = Field(foreign_key="crawlrun.id", index=True)
    observed_at: dt.datetime = Field(sa_type=UTCDateTime)
    approximate: bool = Field(default=False, description="a count was read from rounded text")
    extra: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class AccountSnapshot(SQLModel, table=True):
    """Followers, following and posts count of one account as seen by one crawl run."""

    __table_args__ = (
        UniqueConstraint("account_id", "crawl_run_id", name="uq_account_snapshot_run"),
        Index("ix_account_snapshot_account_observed", "account_id", "observed_at"),
    )

    id: int | None = Field(default=None, sa_type=BigIntegerPK, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    crawl_run_id: int = Field(foreign_key="crawlrun.id", index=True)
    observed_at: dt.datetime = Field(sa_type=UTCDateTime)
    followers: int | None = Field(default=None, sa_type=BigInteger)
    following: int | None = Field(default=None, sa_type=BigInteger)
    posts_count: int | None = Field(default=None, sa_type=BigInteger)


class Reply(SQLModel, table=True):
    """A public reply to an ambassador's post; the replier is kept only as a salted hash."""

    __table_args__ = (
        UniqueConstraint("platform", "platform_reply_id", name="uq_reply_platform_reply_id"),
        Index("ix_reply_post_published", "post_id", "published_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id")
    platform: str = Field(max_length=20)
    platform_reply_id: str = Field(max_length=500)
    published_at: dt.datetime = Field(sa_type=UTCDateTime)
    text: str | None = Field(default=None, sa_type=Text)
    text_hash: str | None = Field(default=None, max_length=64, index=True)
    language: str | None = Field(default=None, max_length=16)
    likes: int | None = Field(default=None, sa_type=BigInteger)
    author_hash: str = Field(max_length=64)
    text_truncated: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": false()},
        description="text was cut to the crawler's maximum length",
    )
    first_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
