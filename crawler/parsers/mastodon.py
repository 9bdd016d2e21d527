"""Mastodon REST API payloads (Account and Status entities) to items."""

from typing import Any
from urllib.parse import urlsplit

from crawler.items import PostItem, ProfileItem, ReplyItem
from crawler.parsers.common import ParseError, author_hash, count, parse_time
from reach.text import html_to_text

PLATFORM = "mastodon"


def instance_of(base_url: str) -> str:
    """The instance host (with port) that scopes Mastodon ids."""
    return urlsplit(base_url).netloc.lower()


def post_key(instance: str, status_id: str) -> str:
    """Status ids are only unique per instance: the natural key carries the instance."""
    return f"{instance}:{status_id}"


def status_id_of(key: str) -> str:
    """The instance-local status id back from a natural key."""
    return key.rsplit(":", 1)[1]


def parse_profile(payload: Any, account_id: int, instance: str) -> ProfileItem:
    """An Account entity (from accounts/lookup, accounts/:id, the batch accounts answer or a
    status's `account`) to a profile with follower counts."""
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ParseError("account payload has no id")
    return ProfileItem(
        account_id=account_id,
        platform_id=f"{instance}:{payload['id']}",
        profile_url=payload.get("url"),
        followers=count(payload, "followers_count"),
        following=count(payload, "following_count"),
        posts_count=count(payload, "statuses_count"),
    )


def account_id_of(platform_id: str | None, instance: str) -> str | None:
    """The instance's account id back from a stored `platform_id` (`<instance>:<id>`), or None
    when there is none or it belongs to another instance (the account moved)."""
    if not platform_id:
        return None
    scope, _, account_id = platform_id.rpartition(":")
    return account_id if scope == instance and account_id else None


def own_account(payload: Any, own_id: str) -> dict[str, Any] | None:
    """The full Account that a statuses page's own status carries (`Status.account`), or None.

    Only the outer status's account is the crawled one: a boost's `reblog.account` is the
    boosted person's.
    """
    if not isinstance(payload, list):
        raise ParseError(f"statuses page is not a list but {type(payload).__name__}")
    for status in payload:
        account = status.get("account") if isinstance(status, dict) else None
        if isinstance(account, dict) and str(account.get("id")) == own_id:
            return account
    return None


def accounts_by_id(payload: Any) -> dict[str, dict[str, Any]]:
    """A GET /api/v1/accounts?id[]=... answer (Mastodon 4.3+): its Accounts by id.

    Ids the instance does not know are left out of the answer, not answered with an error.
    """
    if not isinstance(payload, list):
        raise ParseError(f"accounts answer is not a list but {type(payload).__name__}")
    found: dict[str, dict[str, Any]] = {}
    for account in payload:
        if not isinstance(account, dict) or not account.get("id"):
            raise ParseError("account in the accounts answer has no id")
        found[str(account["id"])] = account
    return found


def is_suspended(payload: dict[str, Any]) -> bool:
    """Suspended accounts answer lookup with `suspended: true` and no content."""
    return bool(payload.get("suspended"))


def parse_status(status: Any, account_id: int, instance: str) -> PostItem:
    """One Status entity from the account's timeline.

    A boost is the ambassador's repost of someone else's status: the outer status holds zero
    counts and the real ones sit inside `reblog`; we keep the outer (the ambassador's) numbers,
    so another person's engagement is never credited to the ambassador.
    """
    if not isinstance(status, dict) or not status.get("id"):
        raise ParseError("status has no id")
    reblog = status.get("reblog")
    shown = reblog if isinstance(reblog, dict) else status
    if reblog:
        kind = "repost"
    elif status.get("in_reply_to_id"):
        kind = "reply"
    elif isinstance(status.get("quote"), dict):
        kind = "quote"
    else:
        kind = "original"
    original_url = None
    if reblog:
        original_url = reblog.get("url") or reblog.get("uri")
    elif kind == "quote":
        quoted = status["quote"].get("quoted_status")
        original_url = quoted.get("url") if isinstance(quoted, dict) else None
    return PostItem(
        account_id=account_id,
        platform=PLATFORM,
        platform_post_id=post_key(instance, str(status["id"])),
        published_at=parse_time(status.get("created_at")),
        url=status.get("url") or (reblog or {}).get("url"),
        text=html_to_text(shown.get("content")),
        language=shown.get("language"),
        kind=kind,
        original_url=original_url,
        likes=count(status, "favourites_count"),
        comments=count(status, "replies_count"),
        reposts=count(status, "reblogs_count"),
        quotes=count(status, "quotes_count"),
    )


def parse_statuses(payload: Any, account_id: int, instance: str) -> list[PostItem]:
    """A page of /api/v1/accounts/:id/statuses."""
    if not isinstance(payload, list):
        raise ParseError(f"statuses page is not a list but {type(payload).__name__}")
    return [parse_status(status, account_id, instance) for status in payload]


def parse_context(
    payload: Any, post_key_: str, instance: str, own_account_id: str, salt: str, limit: int
) -> list[ReplyItem]:
    """Replies to a status from /api/v1/statuses/:id/context (descendants), the author's own excluded."""
    if not isinstance(payload, dict) or not isinstance(payload.get("descendants"), list):
        raise ParseError("context payload has no descendants list")
    replies: list[ReplyItem] = []
    for status in payload["descendants"]:
        author = (status.get("account") or {}).get("id")
        if not status.get("id") or not author or str(author) == own_account_id:
            continue
        replies.append(
            ReplyItem(
                platform=PLATFORM,
                post_platform_id=post_key_,
                platform_reply_id=post_key(instance, str(status["id"])),
                published_at=parse_time(status.get("created_at")),
                author_hash=author_hash(salt, PLATFORM, f"{instance}:{author}"),
                text=html_to_text(status.get("content")),
                language=status.get("language"),
                likes=count(status, "favourites_count"),
            )
        )
        if len(replies) >= limit:
            break
    return replies
