"""Imported account analytics (LinkedIn exports): daily series, per-period totals, audience."""

import datetime as dt

from sqlalchemy import BigInteger, Date, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class AccountDailyMetric(SQLModel, table=True):
    """One day of an account's own analytics; a newer export revises the same day in place."""

    __table_args__ = (UniqueConstraint("account_id", "day", name="uq_daily_metric_account_day"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    day: dt.date = Field(sa_type=Date)
    impressions: int | None = Field(default=None, sa_type=BigInteger)
    engagements: int | None = Field(default=None, sa_type=BigInteger)
    new_followers: int | None = Field(default=None, sa_type=BigInteger)
    source_file: str | None = Field(default=None, max_length=500)
    imported_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AccountPeriodMetric(SQLModel, table=True):
    """Totals an export states for its whole period (members reached is de-duplicated: never sum)."""

    __table_args__ = (
        UniqueConstraint(
            "account_id", "period_start", "period_end", name="uq_period_metric_account_period"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    period_start: dt.date = Field(sa_type=Date)
    period_end: dt.date = Field(sa_type=Date)
    impressions: int | None = Field(default=None, sa_type=BigInteger)
    members_reached: int | None = Field(default=None, sa_type=BigInteger)
    followers_total: int | None = Field(default=None, sa_type=BigInteger)
    source_file: str | None = Field(default=None, max_length=500)
    imported_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AudienceDemographic(SQLModel, table=True):
    """One row of an export's demographics block; shares are approximate text like "< 1%"."""

    __table_args__ = (
        UniqueConstraint(
            "account_id", "period_end", "scope", "category", "value", name="uq_demographic_row"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    period_end: dt.date = Field(sa_type=Date)
    scope: str = Field(default="audience", max_length=20, description="audience / content / post")
    category: str = Field(max_length=120)
    value: str = Field(max_length=300)
    share: str | None = Field(default=None, max_length=40)
    share_pct: float | None = None
    post_id: int | None = Field(default=None, foreign_key="post.id")
