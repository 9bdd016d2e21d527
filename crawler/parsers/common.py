"""Small helpers the platform parsers share."""

import datetime as dt
import hashlib
import re
from typing import Any


class ParseError(ValueError):
    """A payload does not have the shape the platform documents (retrying will not help)."""


def parse_time(value: Any) -> dt.datetime:
    """An ISO 8601 timestamp as an aware UTC datetime ("Z" and offsets accepted)."""
    if not isinstance(value, str) or not value:
        raise ParseError(f"missing or non-text timestamp {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ParseError(f"malformed timestamp {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)  # the platforms document UTC
    return parsed.astimezone(dt.UTC)


def count(payload: dict[str, Any], key: str) -> int | None:
    """A count from a payload: None when the platform did not send it (never 0)."""
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ParseError(f"count {key} is not a number: {value!r}")
    try:
        number = int(value)
    except ValueError as exc:
        raise ParseError(f"count {key} is not a number: {value!r}") from exc
    if number < 0:
        raise ParseError(f"count {key} is negative: {number}")
    return number


_COUNT_TEXT = re.compile(r"^\s*(\d+(?:[.,]\d+)*)\s*([KkMmBb])?\s*\+?\s*$")
_SUFFIX = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


def count_from_text(text: str) -> tuple[int, bool]:
    """A count written for people ("31K", "1.2M", "2,900", "2 900") -> (value, approximate).

    A suffix means the page rounded the number, so it is flagged approximate; digits with
    thousands separators are exact.
    """
    match = _COUNT_TEXT.match(text.replace("\u00a0", "").replace("\u202f", "").replace(" ", ""))
    if not match:
        raise ParseError(f"not a count: {text!r}")
    digits, suffix = match.groups()
    if suffix:
        value = float(digits.replace(",", "."))  # "1,2K" in some locales
        return round(value * _SUFFIX[suffix.lower()]), True
    return int(digits.replace(",", "").replace(".", "")), False


def author_hash(salt: str, platform: str, author_id: str) -> str:
    """A salted hash of a replier's id: enough to count unique commenters, not to name them."""
    return hashlib.sha256(f"{salt}\x1f{platform}\x1f{author_id}".encode()).hexdigest()
