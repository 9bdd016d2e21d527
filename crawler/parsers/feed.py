"""Blog feeds (RSS 2.0 / Atom, through fastfeedparser) and schema.org counters on item pages."""

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import fastfeedparser
import lxml.etree
import lxml.html

from crawler.items import PostItem
from crawler.parsers.common import ParseError, count_from_text
from reach.text import html_to_text

PLATFORM = "feed"
# schema.org interaction types -> our columns; both http:// and https:// type URLs occur.
_ACTIONS = {
    "LikeAction": "likes",
    "CommentAction": "comments",
    "ShareAction": "reposts",
    "WatchAction": "views",
    "ViewAction": "views",
}
_VISIBLE = re.compile(
    r"(\d[\d.,\u00a0\u202f ]*\s*[KkMmBb]?)\s*(likes?|comments?|shares?|reposts?|views?)\b",
    re.IGNORECASE,
)
_VISIBLE_COLUMN = {
    "like": "likes",
    "comment": "comments",
    "share": "reposts",
    "repost": "reposts",
    "view": "views",
}
# What fastfeedparser leaves out, read from the same document with lxml: WordPress's comment
# counts (RSS slash:comments, Atom threading thr:total) and RSS's <language> element.
_COMMENT_COUNTS = (
    "{http://purl.org/rss/1.0/modules/slash/}comments",
    "{http://purl.org/syndication/thread/1.0}total",
)
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Strict on purpose: a recovering parser reads the first half of a cut or broken feed as a
# whole feed, and a listing taken for whole is what marks the posts it lacks as deleted.
_XML = lxml.etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
_FEED_ROOTS = {"rss", "feed", "RDF"}  # RSS 2.0, Atom 1.0, RSS 1.0
_FETCHABLE = {"http", "https"}
_WHERE = re.compile(r",? line \d+, column \d+$")


@dataclass
class FeedPage:
    """One page of a feed: its posts (with their item page link) and feed-level facts."""

    entries: list[tuple[PostItem, str | None]]
    language: str | None
    links_dropped: int = (
        0  # item links that are not http(s) once resolved (javascript:, mailto:, ...)
    )


def check_content_type(content_type: str | None) -> None:
    """Refuse a body served as something other than XML (an error or login page as text/html).

    No Content-Type at all is accepted: some servers send none, and the document then speaks for itself.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type and not media_type.endswith(("/xml", "+xml")):
        raise ParseError(f"feed is served as {media_type}, not XML")


def _language(tag: str | None) -> str | None:
    """'fr-FR' -> 'fr'."""
    return (tag or "").strip().split("-")[0].lower() or None


def _entry_time(entry: Any) -> dt.datetime:
    value = entry.get("published") or entry.get("updated")
    try:
        when = dt.datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        when = None
    if when is None:
        raise ParseError(
            f"feed entry {entry.get('id') or entry.get('link')!r} has no readable date: {value!r}"
        )
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _count(element: Any, tag: str) -> int | None:
    value = element.findtext(tag)
    if value is None or not value.strip():
        return None  # comments closed: WordPress omits the element, which is not zero
    try:
        return int(value.strip())
    except ValueError as exc:
        raise ParseError(f"{tag.rsplit('}', 1)[-1]} is not a number: {value!r}") from exc


def _fetchable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in _FETCHABLE and bool(parts.netloc)


def _whole_document(body: bytes) -> Any:
    """The feed's root element, or ParseError saying why the body is not one whole feed."""
    if not body.strip():
        raise ParseError("feed body is empty")
    try:
        root = lxml.etree.fromstring(body, _XML)
    except lxml.etree.XMLSyntaxError as exc:
        message = _WHERE.sub("", exc.msg or "")  # the position is said once, below
        line, column = exc.position
        raise ParseError(
            f"feed is not well-formed XML: {message} (line {line}, column {column})"
        ) from exc
    name = lxml.etree.QName(root).localname
    if name not in _FEED_ROOTS:
        raise ParseError(f"document is <{name}>, not an RSS or Atom feed")
    return root


def _extensions(root: Any) -> tuple[str | None, list[tuple[int | None, str | None]]]:
    """The feed's language, and each entry's (comment count, language) in document order."""
    language = _language(root.findtext("channel/language") or root.get(_XML_LANG))
    entries = []
    for element in root.iter("{*}item", "{*}entry"):
        counts = (_count(element, tag) for tag in _COMMENT_COUNTS)
        comments = next((count for count in counts if count is not None), None)
        entries.append((comments, _language(element.get(_XML_LANG))))
    return language, entries


def parse_feed(
    body: bytes, account_id: int, *, feed_url: str = "", content_type: str | None = None
) -> FeedPage:
    """A whole RSS 2.0 or Atom document to posts; comment counts from slash:comments or thr:total.

    Links resolve against `feed_url`; ParseError when the body is not one whole feed.
    """
    check_content_type(content_type)
    # WordPress plugins that print blank lines before <?xml are common, and cut nothing.
    body = body.lstrip(b" \t\r\n")
    root = _whole_document(body)
    try:
        parsed = fastfeedparser.parse(
            body, include_tags=False, include_media=False, include_enclosures=False
        )
    except ValueError as exc:
        raise ParseError(f"not an RSS or Atom feed: {exc}") from exc
    language, extensions = _extensions(root)
    if len(extensions) != len(parsed.entries):
        raise ParseError(
            f"feed has {len(parsed.entries)} entries but {len(extensions)} item elements"
        )
    entries: list[tuple[PostItem, str | None]] = []
    links_dropped = 0
    for entry, (comments, entry_language) in zip(parsed.entries, extensions, strict=True):
        raw_link = (entry.get("link") or "").strip()
        resolved = urljoin(feed_url, raw_link) if raw_link else None
        link = resolved if resolved and _fetchable(resolved) else None
        if resolved and link is None:
            links_dropped += 1  # nothing to fetch there; the post itself is still the feed's
        # fastfeedparser falls back to the link as the id when an item has no guid.
        document_id = entry.get("id")
        key = resolved if not document_id or document_id == entry.get("link") else document_id
        if not key:
            raise ParseError("feed entry has neither id nor link")
        content = entry.get("content") or []
        html = content[0].get("value") if content else entry.get("description") or None
        item = PostItem(
            account_id=account_id,
            platform=PLATFORM,
            platform_post_id=key,
            published_at=_entry_time(entry),
            url=link,
            text=html_to_text(html),
            language=entry_language or language,
            comments=comments,
        )
        entries.append((item, link))
    return FeedPage(entries, language, links_dropped)


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


def _schema_count(raw: Any, name: str) -> int:
    try:
        return int(str(raw).replace(",", ""))
    except ValueError as exc:
        raise ParseError(f"{name} is not a number: {raw!r}") from exc


def parse_item_page(body: bytes) -> tuple[dict[str, int], bool]:
    """Counters on an item page -> ({column: count}, approximate).

    schema.org JSON-LD `interactionStatistic` (and `commentCount`) first (exact); where a page has none, the counts
    people see ("31K likes", "2,900 comments"), flagged approximate when rounded.
    """
    try:
        document = lxml.html.fromstring(body)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise ParseError(f"item page is not HTML: {exc}") from exc
    counts: dict[str, int] = {}
    comment_count: int | None = None
    scripts = document.xpath('//script[@type="application/ld+json"]')
    for script in scripts if isinstance(scripts, list) else []:
        if not isinstance(script, lxml.html.HtmlElement):
            continue  # an element path selects elements only; this narrows lxml's union
        try:
            data = json.loads(script.text_content())
        except json.JSONDecodeError:
            continue  # a broken block on a page is common and not ours to fix
        for node in _walk(data):
            if comment_count is None and node.get("commentCount") is not None:
                comment_count = _schema_count(node["commentCount"], "commentCount")
            # interactionService: counted on another site (the post's tweets, its YouTube likes), not here.
            if (
                _interaction_type(node.get("interactionType")) is None
                or "interactionService" in node
            ):
                continue
            column = _ACTIONS.get(_interaction_type(node.get("interactionType")) or "")
            raw = node.get("userInteractionCount")
            if column and raw is not None:
                counts[column] = _schema_count(raw, "userInteractionCount")
    if comment_count is not None:
        counts.setdefault(
            "comments", comment_count
        )  # CreativeWork.commentCount: schema.org's BlogPosting example has only it
    if counts:
        return counts, False
    approximate = False
    texts = document.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]")
    text = " ".join(t for t in texts if isinstance(t, str)) if isinstance(texts, list) else ""
    for number, noun in _VISIBLE.findall(text):
        column = _VISIBLE_COLUMN[noun.lower().rstrip("s")]
        if column in counts:
            continue
        value, rounded = count_from_text(number)
        counts[column] = value
        approximate = approximate or rounded
    return counts, approximate
