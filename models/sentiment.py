"""Sentiment scores, one per (text hash, scorer, scorer version)."""

import datetime as dt

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class Sentiment(SQLModel, table=True):
    """The score of one text by one scorer version; posts and replies join on `text_hash`.

    `state` is `scored`, or `not_scored` with a reason such as "language fr": a text the scorer
    cannot measure never gets a 0.0 that would read as neutral.
    """

    __table_args__ = (
        UniqueConstraint("text_hash", "scorer", "scorer_version", name="uq_sentiment_text_scorer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    text_hash: str = Field(max_length=64)
    scorer: str = Field(max_length=40)
    scorer_version: str = Field(max_length=40)
    language: str | None = Field(default=None, max_length=16)
    state: str = Field(max_length=12)
    reason: str | None = Field(default=None, max_length=200)
    polarity: float | None = None
    subjectivity: float | None = None
    scored_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
