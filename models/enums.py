"""Closed vocabularies stored as short strings (extensible without a schema change)."""

from enum import StrEnum
from typing import Literal, get_args


class Platform(StrEnum):
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    FEED = "feed"
    LINKEDIN = "linkedin"


# The platforms the crawler reads (LinkedIn only comes in through its analytics exports): one
# list, as a type for the flows' parameters (the Prefect UI offers its values) and as values.
CrawledPlatform = Literal["mastodon", "bluesky", "feed"]
CRAWLED_PLATFORMS: tuple[CrawledPlatform, ...] = get_args(CrawledPlatform)
PLATFORMS: tuple[str, ...] = tuple(p.value for p in Platform)


class Source(StrEnum):
    """How a row reached us: crawled from a public source or imported from an export."""

    CRAWL = "crawl"
    IMPORT = "import"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    NOT_FOUND = "not_found"
    SUSPENDED = "suspended"
    BLOCKED_BY_ROBOTS = "blocked_by_robots"
    REQUIRES_AUTH = "requires_auth"  # the instance answers 401 to unauthenticated API calls


class PostKind(StrEnum):
    ORIGINAL = "original"
    REPLY = "reply"
    REPOST = "repost"
    QUOTE = "quote"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


class SentimentState(StrEnum):
    SCORED = "scored"
    NOT_SCORED = "not_scored"


class Role(StrEnum):
    """What a dashboard user may do, lowest first: each role can do all a lower one can."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
