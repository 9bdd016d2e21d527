"""Alerts: each event the monitors (or a failed flow run) raised, once, and whether it was sent."""

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class AlertKind(StrEnum):
    RUN_HEALTH = "run_health"
    COVERAGE_DROP = "coverage_drop"
    ACCOUNT_FAILING = "account_failing"
    POST_MILESTONE = "post_milestone"
    POST_SPIKE = "post_spike"
    FOLLOWERS_SPIKE = "followers_spike"


class Alert(SQLModel, table=True):
    """One event worth telling the team, keyed by its identity so it is raised only once.

    `key` names the event, not the check that found it (`post-engagements:1000:post=42`,
    `account-failing:account=5:since=run 12`): two overlapping runs of the monitors insert the
    same key, and the second insert does nothing. `sent_at` / `send_error` say what delivery did.
    """

    __table_args__ = (Index("ix_alert_raised_at", "raised_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True, index=True)
    kind: str = Field(max_length=30)
    platform: str | None = Field(default=None, max_length=20)
    subject: str | None = Field(
        default=None, max_length=200, description="ambassador slug or post id"
    )
    message: str = Field(sa_type=Text, description="what triggered it, with the numbers")
    raised_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    send_error: str | None = Field(default=None, sa_type=Text, description="masked")
