"""Dashboard users and their API tokens."""

import datetime as dt

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A person who may use the dashboard, with one role (`models.enums.Role`).

    `email` is stored lower-cased. `password_hash` is an argon2 hash, or NULL for a user who
    signs in with API tokens only.
    """

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    role: str = Field(max_length=10)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """An API token of a user: only its SHA-256 is stored, the token itself is shown once.

    `prefix` is a short part of the token for telling a user's tokens apart; a revoked token
    stays, with `revoked_at`, so its use can still be traced.
    """

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True, description="SHA-256 hex")
    prefix: str = Field(max_length=8)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
