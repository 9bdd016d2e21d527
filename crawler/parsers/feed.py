"""Blog feeds (RSS 2.0 / Atom, through feedparser) and schema.org counters on item pages."""

import calendar
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import feedparser
import lxml.html

from crawler.items import PostItem
from crawler.parsers.common import ParseError, count_from_text
from reach.text import html_to_text

PLATFORM = "feed"
# schema.org interaction types -> our columns; both http:// and https:// type URLs occur.
_ACTIONS = {"LikeAction": "likes", "CommentAction": "comments", "ShareAction": "reposts",
            "WatchAction": "views", "ViewAction": "views"}
_VISIBLE = re.compile(
    r"(\d[\d.,\u00a0\u202f ]*\s*[KkMmBb]?)\s*(likes?|comments?|shares?|reposts?|views?)\b", re.IGNORECASE
)
_VISIBLE_COLUMN = {"like": "likes", "comment": "comments", "share": "reposts", "repost": "reposts",
                   "view": "views"}


@dataclass
class FeedPage:
    """One page of a feed: its posts (with their item page link) and feed-level facts."""

    entries: list[tuple[PostItem, str | None]]
    language: str | None


def _entry_time(entry: Any) -> dt.datetime:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        raise ParseError(f"feed entry {entry.get('id') or entry.get('link')!r} has no date")
    return dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.UTC)


def _entry_count(entry: Any, key: str) -> int | None:
    value = entry.get(key)
    if value in (None, ""):
        return None  # comments closed: WordPress omits the element, which is not zero
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise ParseError(f"{key} is not a number: {value!r}") from exc


def parse_feed(body: bytes, account_id: int) -> FeedPage:
    """An RSS 2.0 or Atom document to posts; comment counts from slash:comments or thr:total."""
    # We keep plain text only (html_to_text), never the HTML: feedparser's sanitising and
    # link rewriting would cost a third of the crawl's CPU for nothing.
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    if parsed.get("bozo") and not parsed.entries:
        raise ParseError(f"not a feed: {parsed.get('bozo_exception')}")
    if not parsed.get("version") and not parsed.entries:
        raise ParseError("not an RSS or Atom feed")
    language = (parsed.feed.get("language") or "").split("-")[0].lower() or None
    entries: list[tuple[PostItem, str | None]] = []
    for entry in parsed.entries:
        link = entry.get("link")
        key = entry.get("id") or link
        if not key:
            raise ParseError("feed entry has neither id nor link")
        content = entry.get("content") or []
        html = content[0].get("value") if content else entry.get("summary")
        comments = _entry_count(entry, "slash_comments")
        if comments is None:
            comments = _entry_count(entry, "thr_total")
        item = PostItem(
            account_id=account_id, platform=PLATFORM, platform_post_id=key,
            published_at=_entry_time(entry), url=link, text=html_to_text(html),
            language=(entry.get("language") or language), comments=comments,
        )
        entries.append((item, link))
    return FeedPage(entries, language)


def _interaction_type(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("@type") or value.get("@id")
    if not isinstance(value, str):
        return None
    return value.rstrip("/").rsplit("/", 1)[-1].removeprefix("schema:")


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON object in a JSON-LD document (handles @graph and nesting)."""
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            found.append(current)
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


def parse_item_page(body: bytes) -> tuple[dict[str, int], bool]:
    """Counters on an item page -> ({column: count}, approximate).

    schema.org JSON-LD `interactionStatistic` first (exact); where a page has none, the counts
    people see ("31K likes", "2,900 comments"), flagged approximate when rounded.
    """
    try:
        document = lxml.html.fromstring(body)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise ParseError(f"item page is not HTML: {exc}") from exc
    counts: dict[str, int] = {}
    for script in document.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text_content())
        except json.JSONDecodeError:
            continue  # a broken block on a page is common and not ours to fix
        for node in _walk(data):
            if _interaction_type(node.get("interactionType")) is None:
                continue
            column = _ACTIONS.get(_interaction_type(node.get("interactionType")) or "")
            raw = node.get("userInteractionCount")
            if column and raw is not None:
                try:
                    counts[column] = int(str(raw).replace(",", ""))
                except ValueError as exc:
                    raise ParseError(f"userInteractionCount is not a number: {raw!r}") from exc
    if counts:
        return counts, False
    approximate = False
    text = " ".join(document.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]"))
    for number, noun in _VISIBLE.findall(text):
        column = _VISIBLE_COLUMN[noun.lower().rstrip("s")]
        if column in counts:
            continue
        value, rounded = count_from_text(number)
        counts[column] = value
        approximate = approximate or rounded
    return counts, approximate
