"""Blogs: RSS 2.0 and Atom feeds, plus the schema.org counters on each item's page."""

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response

from crawler.items import PostItem, ProfileItem
from crawler.parsers import feed as parse
from crawler.parsers.common import ParseError
from crawler.spiders.base import AccountRef, AccountSpider


def page_url(feed_url: str, page: int) -> str:
    """WordPress pages its feeds with ?paged=N."""
    return feed_url if page == 1 else f"{feed_url}{'&' if '?' in feed_url else '?'}paged={page}"


class FeedSpider(AccountSpider):
    """Posts and comment counts from feeds; likes and shares from the item pages."""

    name = "feed"
    platform = "feed"
    # Scrapy reads this from the class, but declares it an instance variable (no ClassVar).
    custom_settings: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,  # blogs are small sites: go gently
        # Feed pages: WordPress sends 10 items a page (`posts_per_rss`), full content included,
        # a few hundred KB; a feed that inlines 50 long posts with images stays under 4 MB.
        "DOWNLOAD_MAXSIZE": 16 * 2**20,
        "DOWNLOAD_WARNSIZE": 4 * 2**20,
        # Item pages (one post's HTML, read only for its counters): a heavy theme's page is 1-2 MB.
        "REACH_ITEM_PAGE_MAXSIZE": 8 * 2**20,
        "REACH_ITEM_PAGE_WARNSIZE": 2 * 2**20,
    }

    def start_account(self, ref: AccountRef) -> Iterable[scrapy.Request]:
        if not ref.base_url:
            raise ParseError(f"feed account {ref.handle!r} has no URL")
        ref.state.update(page=1, seen=set())
        yield self.request(ref, ref.base_url, self.on_feed_page)

    def on_feed_page(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        if response.status == 404 and ref.state["page"] > 1:
            return  # WordPress answers 404 past its last page
        content_type = response.headers.get("Content-Type")
        page = parse.parse_feed(
            response.body,
            ref.id,
            feed_url=response.url,
            content_type=content_type.decode("latin-1") if content_type else None,
        )
        if page.links_dropped:
            self.crawler.stats.inc_value("reach/links_dropped/not_http", page.links_dropped)
        if ref.state["page"] == 1:
            yield ProfileItem(account_id=ref.id, platform_id=ref.base_url or ref.key)
        reached_end_of_window = not page.entries
        new_entries = 0
        for item, link in page.entries:
            if not self.in_window(item.published_at):
                reached_end_of_window = True
                continue
            if item.platform_post_id in ref.state["seen"]:
                continue
            ref.state["seen"].add(item.platform_post_id)
            new_entries += 1
            if link:
                # The item page only adds counts: when it fails the post keeps the feed's own.
                yield self.request(
                    ref,
                    link,
                    self.on_item_page,
                    secondary="item page",
                    meta={
                        "item": item,
                        "fallback": item,
                        "handle_httpstatus_list": [404, 410],
                        "download_maxsize": self.settings.getint("REACH_ITEM_PAGE_MAXSIZE"),
                        "download_warnsize": self.settings.getint("REACH_ITEM_PAGE_WARNSIZE"),
                    },
                )
            else:
                yield item
        if not reached_end_of_window and new_entries:
            ref.state["page"] += 1
            yield self.request(
                ref,
                page_url(ref.base_url or ref.key, ref.state["page"]),
                self.on_feed_page,
                meta={"handle_httpstatus_list": [404]},
            )

    def on_item_page(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        item: PostItem = response.meta["item"]
        if response.status in (404, 410):
            self.crawler.stats.inc_value("reach/item_page_gone")
            yield item  # the feed still lists it; its page is gone: keep the feed's counts
            return
        counts, approximate = parse.parse_item_page(response.body)
        for column, value in counts.items():
            if getattr(item, column) is None:  # the feed's own count wins where it has one
                setattr(item, column, value)
                item.approximate = item.approximate or approximate
        yield item
