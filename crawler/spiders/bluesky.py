"""Bluesky: profiles and author feeds through the public AppView's XRPC endpoints."""

import json
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.items import PostItem
from crawler.parsers import bluesky as parse
from crawler.parsers.common import ParseError
from crawler.spiders.base import AccountRef, AccountSpider, failed_request

PAGE_SIZE = 100  # getAuthorFeed's maximum
_GONE = {"AccountTakedown": "suspended", "AccountDeactivated": "suspended"}


class BlueskySpider(AccountSpider):
    """Profiles, posts, reposts, quotes and replies from the Bluesky AppView."""

    name = "bluesky"
    platform = "bluesky"
    # Scrapy reads this from the class, but declares it an instance variable (no ClassVar).
    custom_settings: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        # Bluesky AppView: 3,000 requests / 5 min per IP; RateLimit-* headers pace the rest.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        # API pages: getAuthorFeed's 100 postViews with their embeds, or a thread 6 levels deep,
        # run to 1-2 MB at most; 8 MB is no real page, and is refused as it streams in.
        "DOWNLOAD_MAXSIZE": 8 * 2**20,
        "DOWNLOAD_WARNSIZE": 2 * 2**20,
    }

    def xrpc(self, method: str, **params: Any) -> str:
        return f"{self.settings_.bluesky_appview_url.rstrip('/')}/xrpc/{method}?{urlencode(params)}"

    def start_account(self, ref: AccountRef) -> Iterable[scrapy.Request]:
        ref.state.update(seen=set(), cursors=set())
        if ref.key.startswith("did:"):
            yield self.request(
                ref, self.xrpc("app.bsky.actor.getProfile", actor=ref.key), self.on_profile
            )
        else:
            yield self.request(
                ref,
                self.xrpc("com.atproto.identity.resolveHandle", handle=ref.key),
                self.on_resolve,
            )

    def on_resolve(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        did = parse.parse_resolve_handle(json.loads(response.body))
        yield self.request(ref, self.xrpc("app.bsky.actor.getProfile", actor=did), self.on_profile)

    def on_profile(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        profile = parse.parse_profile(json.loads(response.body), ref.id)
        ref.state["did"] = profile.platform_id
        yield profile
        yield self.feed_request(ref, cursor=None)

    def feed_request(self, ref: AccountRef, cursor: str | None) -> scrapy.Request:
        params: dict[str, Any] = {
            "actor": ref.state["did"],
            "limit": self.settings.getint("REACH_PAGE_SIZE") or PAGE_SIZE,
            "includePins": "true",
        }
        if cursor:
            params["cursor"] = cursor
        return self.request(ref, self.xrpc("app.bsky.feed.getAuthorFeed", **params), self.on_feed)

    def on_feed(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        items, cursor = parse.parse_author_feed(json.loads(response.body), ref.id, ref.state["did"])
        reached_end_of_window = False
        for item, pinned in items:
            if not self.in_window(item.published_at):
                # An old pinned post heads the first page; it does not end the window.
                reached_end_of_window = reached_end_of_window or not pinned
                continue
            if item.platform_post_id in ref.state["seen"]:
                continue  # the pinned post appears again in its own place
            ref.state["seen"].add(item.platform_post_id)
            yield item
            yield from self.replies_request(ref, item)
        if cursor and not reached_end_of_window:
            if cursor in ref.state["cursors"]:
                raise ParseError(f"pagination repeats: cursor {cursor!r} was already followed")
            ref.state["cursors"].add(cursor)
            yield self.feed_request(ref, cursor)

    def replies_request(self, ref: AccountRef, item: PostItem) -> Iterator[scrapy.Request]:
        """The post's thread, when its comment count changed since it was last read."""
        url = self.xrpc(
            "app.bsky.feed.getPostThread", uri=item.platform_post_id, depth=6, parentHeight=0
        )
        return self.thread_request(ref, item, url, self.on_thread)

    def on_thread(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        yield from parse.parse_thread(
            json.loads(response.body),
            response.meta["post_key"],
            ref.state["did"],
            self.settings_.reply_author_salt.get_secret_value(),
            self.settings_.replies_per_post,
        )
        yield self.thread_read(response, ref)

    def classify_failure(self, failure: Failure, ref: AccountRef) -> tuple[str, str, str | None]:
        handler = failed_request(failure).meta["handler"]
        if isinstance(failure.value, HttpError) and handler in ("on_resolve", "on_profile"):
            response = failure.value.response
            try:
                body = json.loads(response.body)
            except ValueError:
                body = {}
            error, message = body.get("error", ""), body.get("message", "")
            if error in _GONE:
                return "AccountSuspended", f"{ref.handle}: {error} {message}".strip(), _GONE[error]
            if response.status in (400, 404):
                return (
                    "AccountNotFound",
                    f"{ref.handle}: {message or error or response.status}",
                    "not_found",
                )
        return super().classify_failure(failure, ref)
