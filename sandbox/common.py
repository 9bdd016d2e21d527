"""Small types shared by the platform modules and the server."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sandbox.truth import stable_hash


@dataclass
class Answer:
    """An HTTP answer a platform module hands back to the server."""

    status: int
    body: Any  # dict/list -> JSON; str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"
    account: str | None = None  # whose data this is, for per-account faults


@dataclass
class Ctx:
    """What a handler needs to know about the request and the sandbox's state."""

    base: str  # http://127.0.0.1:PORT
    now: datetime
    scale: float
    args: dict[str, str]
    missing_fields: set[str]  # accounts whose counts are left out
    repeat_cursor: set[str]  # accounts whose cursor never advances
    not_found: set[str]
    suspended: set[str]
    # Every value of each query parameter (XRPC arrays repeat the name: actors=a&actors=b).
    multi: dict[str, list[str]] = field(default_factory=dict)
    # Request headers a handler answers by (If-None-Match, If-Modified-Since), lower-case names.
    headers: dict[str, str] = field(default_factory=dict)
    # Accounts whose bodies a fault breaks after they are built (malformed_json, truncated): a
    # changed body, so their conditional requests never match.
    altered: set[str] = field(default_factory=set)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query parameter."""
        return self.args.get(name, default)

    def flag(self, name: str) -> bool:
        """A boolean query parameter as Rails and XRPC read it."""
        return (self.args.get(name) or "").lower() in ("true", "1", "yes", "on")


def matches(account: str, names: set[str]) -> bool:
    """Per-account faults name the account, or the first label of a Bluesky handle."""
    account = account.lower()
    return account in names or account.split(".")[0] in names


def iso(dt: datetime) -> str:
    """Datetime as the platforms write it: 2019-12-08T03:48:33.901Z."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@lru_cache(maxsize=500_000)
def fake_cid(key: str) -> str:
    """A CIDv1 (dag-cbor, sha2-256) lookalike in base32, as atproto prints them."""
    digest = hashlib.sha256(key.encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def snowflake(dt: datetime, key: str) -> int:
    """Mastodon-style id: milliseconds since epoch shifted 16 bits, plus a per-post sequence."""
    return (int(dt.timestamp() * 1000) << 16) | (stable_hash(key) & 0xFFFF)
