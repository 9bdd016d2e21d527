"""The roster: ambassadors and their public accounts."""

import datetime as dt

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class Ambassador(SQLModel, table=True):
    """A person in the programme."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True, index=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2, description="ISO 3166-1 alpha-2")
    cohort: str | None = Field(default=None, max_length=80)
    team: str | None = Field(default=None, max_length=120)
    active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Account(SQLModel, table=True):
    """One public account of an ambassador on one platform.

    `handle` is what the roster says (as the user wrote it); `key` is its normalised form, unique
    per platform; `platform_id` is the stable id once resolved (Mastodon `<instance>:<id>`,
    Bluesky DID, feed URL), so a renamed handle keeps its history.
    """

    __table_args__ = (
        UniqueConstraint("platform", "key", name="uq_account_platform_key"),
        UniqueConstraint("platform", "platform_id", name="uq_account_platform_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ambassador_id: int = Field(foreign_key="ambassador.id", index=True)
    platform: str = Field(max_length=20)
    handle: str = Field(max_length=500)
    key: str = Field(max_length=500)
    platform_id: str | None = Field(default=None, max_length=500)
    base_url: str | None = Field(default=None, max_length=500, description="API or feed base")
    profile_url: str | None = Field(default=None, max_length=1000)
    source: str = Field(default="crawl", max_length=10)
    status: str = Field(default="active", max_length=20)
    status_reason: str | None = Field(default=None, max_length=1000)
    last_crawled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A feed's validators from its last whole read (RFC 9110 8.8), for If-None-Match / If-Modified-Since.
    feed_etag: str | None = Field(default=None, max_length=500)
    feed_last_modified: str | None = Field(default=None, max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


Index("ix_account_platform_status", Account.platform, Account.status)
