"""Bluesky AppView (app.bsky.*) payloads to items."""

from typing import Any

from crawler.items import PostItem, ProfileItem, ReplyItem
from crawler.parsers.common import ParseError, author_hash, count, parse_time

PLATFORM = "bluesky"
REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
REASON_PIN = "app.bsky.feed.defs#reasonPin"
_QUOTE_VIEWS = {"app.bsky.embed.record#view", "app.bsky.embed.recordWithMedia#view"}
_NOT_FOUND = {
    "app.bsky.embed.record#viewNotFound",
    "app.bsky.embed.record#viewBlocked",
    "app.bsky.embed.record#viewDetached",
}


def web_url(handle: str, at_uri: str) -> str:
    """The canonical public URL of a post: https://bsky.app/profile/<handle>/post/<rkey>."""
    parts = at_uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        raise ParseError(f"not a post AT-URI: {at_uri!r}")
    return f"https://bsky.app/profile/{handle}/post/{parts[2]}"


def parse_resolve_handle(payload: Any) -> str:
    """The DID from com.atproto.identity.resolveHandle."""
    did = payload.get("did") if isinstance(payload, dict) else None
    if not isinstance(did, str) or not did.startswith("did:"):
        raise ParseError("resolveHandle answer has no did")
    return did


def parse_profile(payload: Any, account_id: int) -> ProfileItem:
    """app.bsky.actor.getProfile (profileViewDetailed) to a profile with follower counts."""
    if not isinstance(payload, dict) or not payload.get("did"):
        raise ParseError("profile has no did")
    return ProfileItem(
        account_id=account_id,
        platform_id=payload["did"],
        profile_url=f"https://bsky.app/profile/{payload.get('handle') or payload['did']}",
        followers=count(payload, "followersCount"),
        following=count(payload, "followsCount"),
        posts_count=count(payload, "postsCount"),
    )


def parse_profiles(payload: Any) -> list[dict[str, Any]]:
    """app.bsky.actor.getProfiles -> its profileViewDetailed objects, each with a did.

    The AppView leaves out actors it cannot show (unknown, taken down, deactivated): the caller
    tells those apart by asking for each one alone.
    """
    profiles = payload.get("profiles") if isinstance(payload, dict) else None
    if not isinstance(profiles, list):
        raise ParseError("getProfiles answer has no profiles list")
    for profile in profiles:
        if not isinstance(profile, dict) or not isinstance(profile.get("did"), str):
            raise ParseError("getProfiles answer has a profile without a did")
    return profiles


def parse_posts(payload: Any, account_id: int, actor_did: str) -> list[PostItem]:
    """app.bsky.feed.getPosts -> items for the actor's own posts (postViews, as in a feed without reason).

    Posts that no longer exist are simply absent from the answer.
    """
    posts = payload.get("posts") if isinstance(payload, dict) else None
    if not isinstance(posts, list):
        raise ParseError("getPosts answer has no posts list")
    items = []
    for post in posts:
        if not isinstance(post, dict):
            raise ParseError("getPosts answer has a post that is not an object")
        if (post.get("author") or {}).get("did") != actor_did:
            continue  # not the ambassador's: never asked for, never stored under them
        item = parse_feed_item({"post": post}, account_id, actor_did)
        if item is not None:
            items.append(item)
    return items


def _quoted_url(embed: dict[str, Any] | None) -> tuple[bool, str | None]:
    """(is a quote, URL of the quoted post if it still exists)."""
    if not isinstance(embed, dict) or embed.get("$type") not in _QUOTE_VIEWS:
        return False, None
    record = embed.get("record") or {}
    if embed["$type"] == "app.bsky.embed.recordWithMedia#view":
        record = record.get("record") or {}
    if record.get("$type") in _NOT_FOUND or record.get("notFound"):
        return True, None
    if record.get("$type") != "app.bsky.embed.record#viewRecord":
        return False, None  # a quoted feed generator or list is not a quote of a post
    author = (record.get("author") or {}).get("handle") or (record.get("author") or {}).get("did")
    return True, web_url(author, record["uri"]) if author and record.get("uri") else None


def parse_feed_item(item: Any, account_id: int, actor_did: str) -> PostItem | None:
    """One feedViewPost of app.bsky.feed.getAuthorFeed; None for a placeholder without a post.

    A repost (reasonRepost) is the ambassador sharing someone else's post: the counts shown are
    that post's, so the item gets none of them.
    """
    if not isinstance(item, dict) or not isinstance(item.get("post"), dict):
        raise ParseError("feed item has no post")
    post = item["post"]
    if not post.get("uri") or "record" not in post:
        return None  # notFoundPost / blockedPost stand-ins carry nothing to store
    record = post.get("record") or {}
    author = post.get("author") or {}
    reason = item.get("reason") or {}
    langs = record.get("langs") or []
    url = web_url(author.get("handle") or author.get("did") or actor_did, post["uri"])
    if reason.get("$type") == REASON_REPOST:
        # The repost record's own URI when the AppView sends it, else one derived from the post.
        key = reason.get("uri") or f"repost:{actor_did}:{post['uri']}"
        return PostItem(
            account_id=account_id,
            platform=PLATFORM,
            platform_post_id=key,
            published_at=parse_time(reason.get("indexedAt") or post.get("indexedAt")),
            url=url,
            text=record.get("text"),
            language=langs[0] if langs else None,
            kind="repost",
            original_url=url,
        )
    is_quote, quoted = _quoted_url(post.get("embed"))
    kind = "reply" if record.get("reply") else "quote" if is_quote else "original"
    return PostItem(
        account_id=account_id,
        platform=PLATFORM,
        platform_post_id=post["uri"],
        published_at=parse_time(record.get("createdAt") or post.get("indexedAt")),
        url=url,
        text=record.get("text"),
        language=langs[0] if langs else None,
        kind=kind,
        original_url=quoted,
        likes=count(post, "likeCount"),
        comments=count(post, "replyCount"),
        reposts=count(post, "repostCount"),
        quotes=count(post, "quoteCount"),
    )


def parse_author_feed(
    payload: Any, account_id: int, actor_did: str
) -> tuple[list[tuple[PostItem, bool]], str | None]:
    """A page of getAuthorFeed -> ([(item, is_pinned)], next cursor or None at the end)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("feed"), list):
        raise ParseError("getAuthorFeed answer has no feed list")
    items: list[tuple[PostItem, bool]] = []
    for entry in payload["feed"]:
        parsed = parse_feed_item(entry, account_id, actor_did)
        if parsed is not None:
            pinned = (entry.get("reason") or {}).get("$type") == REASON_PIN
            items.append((parsed, pinned))
    cursor = payload.get("cursor")
    return items, cursor if isinstance(cursor, str) and cursor else None


def parse_thread(
    payload: Any, post_uri: str, own_did: str, salt: str, limit: int
) -> list[ReplyItem]:
    """Direct and nested replies from app.bsky.feed.getPostThread, the author's own excluded."""
    thread = payload.get("thread") if isinstance(payload, dict) else None
    if not isinstance(thread, dict):
        raise ParseError("getPostThread answer has no thread")
    replies: list[ReplyItem] = []
    queue = list(thread.get("replies") or [])
    while queue and len(replies) < limit:
        node = queue.pop(0)
        post = node.get("post") if isinstance(node, dict) else None
        if not isinstance(post, dict) or not post.get("uri"):
            continue  # notFoundPost / blockedPost
        queue.extend(node.get("replies") or [])
        author = (post.get("author") or {}).get("did")
        if not author or author == own_did:
            continue
        record = post.get("record") or {}
        langs = record.get("langs") or []
        replies.append(
            ReplyItem(
                platform=PLATFORM,
                post_platform_id=post_uri,
                platform_reply_id=post["uri"],
                published_at=parse_time(record.get("createdAt") or post.get("indexedAt")),
                author_hash=author_hash(salt, PLATFORM, author),
                text=record.get("text"),
                language=langs[0] if langs else None,
                likes=count(post, "likeCount"),
            )
        )
    return replies
