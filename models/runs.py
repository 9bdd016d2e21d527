"""Crawl runs and what happened to each account in them."""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class CrawlRun(SQLModel, table=True):
    """One crawl of one platform (or one import), with its health figures."""

    __table_args__ = (
        Index("ix_crawlrun_platform_started", "platform", "started_at"),
        Index("ix_crawlrun_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    source: str = Field(default="crawl", max_length=10)
    status: str = Field(default="running", max_length=10)
    started_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    prefect_flow_run_id: str | None = Field(default=None, max_length=64)
    # Who owns the run while it is `running`: a run whose process is gone is closed as interrupted.
    host: str | None = Field(default=None, max_length=255)
    pid: int | None = None
    heartbeat_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    requests: int = 0
    items: int = 0
    errors: int = 0
    stats: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    message: str | None = Field(default=None, sa_type=Text)


class CrawlOutcome(SQLModel, table=True):
    """The outcome of one account in one crawl run: ok, or the error and its reason."""

    __table_args__ = (
        UniqueConstraint("crawl_run_id", "account_id", name="uq_outcome_run_account"),
    )

    id: int | None = Field(default=None, primary_key=True)
    crawl_run_id: int = Field(foreign_key="crawlrun.id")
    account_id: int = Field(foreign_key="account.id", index=True)
    ok: bool
    error: str | None = Field(default=None, max_length=80, description="e.g. AccountNotFound")
    reason: str | None = Field(default=None, sa_type=Text)
    posts_new: int = 0
    posts_updated: int = 0
    snapshots: int = 0
    # Secondary requests that failed while the account itself was crawled:
    # [{"what": "replies", "reason": "HTTP 404", "count": 2}, ...]
    warnings: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
