"""What the spiders yield: plain dataclasses, validated by the first pipeline."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ProfileItem:
    """An account resolved to its stable id, with its follower counts at this crawl."""

    account_id: int
    platform_id: str
    profile_url: str | None = None
    followers: int | None = None
    following: int | None = None
    posts_count: int | None = None


@dataclass
class PostItem:
    """One post with its counts as the platform shows them now (None = not published)."""

    account_id: int
    platform: str
    platform_post_id: str
    published_at: dt.datetime
    url: str | None = None
    text: str | None = None
    language: str | None = None
    kind: str = "original"
    original_url: str | None = None
    likes: int | None = None
    comments: int | None = None
    reposts: int | None = None
    quotes: int | None = None
    views: int | None = None
    approximate: bool = False
    text_truncated: bool = False  # set by validation when the text was cut to the stored maximum


@dataclass
class ReplyItem:
    """A public reply to one of the ambassador's posts; the author only as a salted hash."""

    platform: str
    post_platform_id: str
    platform_reply_id: str
    published_at: dt.datetime
    author_hash: str
    text: str | None = None
    language: str | None = None
    likes: int | None = None
    text_truncated: bool = False


@dataclass
class ThreadItem:
    """A post's reply thread was read whole (its replies travel with it) or is gone (404/410).

    Written in the same transaction as the replies, so a crawl killed before it was stored
    leaves the thread to be read again.
    """

    account_id: int
    platform: str
    post_platform_id: str
    comments: int | None
    gone: bool = False


@dataclass
class AccountDone:
    """The end of one account's crawl: ok, or failed with an error name and a reason.

    `window_start` is set when the account's posts back to that time were all seen, so posts
    stored from inside the window and missing now can be marked deleted.
    """

    account_id: int
    ok: bool
    error: str | None = None
    reason: str | None = None
    status: str | None = None  # a new account status: not_found, suspended, blocked_by_robots
    window_start: dt.datetime | None = None
    # Secondary requests that failed without failing the account: {"what", "reason", "count"}.
    warnings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PageItems:
    """The posts and replies parsed from one response, passed on together.

    One Scrapy item per page instead of per post: Scrapy's per-item machinery (signals,
    middleware chains, tasks) cost more CPU than parsing and storing a post.
    """

    records: list[PostItem | ReplyItem | ThreadItem]
