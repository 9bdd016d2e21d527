"""Column types shared by the tables."""

import datetime as dt
from typing import Any, Protocol

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    """The current time, time-zone aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back time-zone aware.

    SQLite drops the offset and PostgreSQL keeps it; this makes both return aware UTC values
    and refuses naive input, which would silently shift by the machine's zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a time-zone aware value")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        # PostgreSQL sessions run in UTC (reach.db): most values need no conversion.
        return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


# Snapshot tables grow past 2**31 rows in production; SQLite only auto-increments INTEGER keys.
BigIntegerPK = BigInteger().with_variant(Integer(), "sqlite")


class _Stored(Protocol):
    id: int | None


def key_of(row: _Stored) -> int:
    """A stored row's primary key: rows get one when they are flushed."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: add and flush it first")
    return row.id
