"""Blogs: RSS 2.0 and Atom feeds, plus the schema.org counters on each item's page.

A feed read whole leaves its validators (ETag, Last-Modified) on the account; the next crawl
asks with If-None-Match / If-Modified-Since, and an unchanged feed answers 304 with no body.
"""

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response
from sqlalchemy import bindparam, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, func, select

from crawler.items import AccountDone, PostItem, ProfileItem
from crawler.parsers import feed as parse
from crawler.parsers.common import ParseError
from crawler.spiders.base import AccountRef, AccountSpider
from models import Account, CrawlOutcome, Post, PostCounts, PostSnapshot
from reach.db import get_engine

# What only an item page can add: a feed carries comment counts at most.
PAGE_ONLY_COUNTS = ("likes", "reposts", "quotes", "views")
MAX_ETAG = 500  # account.feed_etag's length: a longer one is not kept (the next read is whole)


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Account id -> the validators to store once the crawl's rows are written ((None, None)
        # forgets them: the feed changed and was not read whole).
        self.validators: dict[int, tuple[str | None, str | None]] = {}

    def load_accounts(self, session: Session) -> list[AccountRef]:
        refs = super().load_accounts(session)
        by_id = {ref.id: ref for ref in refs}
        if by_id:
            rows = session.exec(
                select(Account.id, Account.feed_etag, Account.feed_last_modified).where(
                    col(Account.id).in_(list(by_id))
                )
            ).all()
            for account_id, etag, last_modified in rows:
                assert account_id is not None  # a stored account has its primary key
                by_id[account_id].state["stored_validators"] = (etag, last_modified)
        self._load_pages_without_more(session, by_id)
        self._load_stored_posts(session, by_id)
        return refs

    def _load_stored_posts(self, session: Session, by_id: dict[int, AccountRef]) -> None:
        """Per account asked conditionally, the window's stored posts with an item page and their
        latest comment count: on a 304 their pages are still read for the counts only they give."""
        asked = [i for i, ref in by_id.items() if any(ref.state.get("stored_validators", ()))]
        for account_id in asked:
            by_id[account_id].state["stored_posts"] = []
        if not asked:
            return
        rows = session.execute(
            select_columns(
                col(Post.account_id),
                col(Post.platform_post_id),
                col(Post.published_at),
                col(Post.url),
                col(PostCounts.comments),
            )
            .outerjoin(PostCounts, col(PostCounts.post_id) == Post.id)
            .where(
                col(Post.account_id).in_(asked),
                col(Post.published_at) >= self.window_start,
                col(Post.deleted_at).is_(None),
                col(Post.url).is_not(None),
                col(Post.kind) != "repost",
            )
            .order_by(col(Post.published_at).desc())
        ).all()
        for account_id, key, published_at, url, comments in rows:
            by_id[account_id].state["stored_posts"].append(
                PostItem(
                    account_id=account_id,
                    platform=self.platform,
                    platform_post_id=key,
                    published_at=published_at,
                    url=url,
                    comments=comments,  # unchanged: the feed that carried it is unchanged
                )
            )

    def _load_pages_without_more(self, session: Session, by_id: dict[int, AccountRef]) -> None:
        """Per account, the window's posts whose item page, when last read, added no count to the
        feed's own (no likes, shares, quotes or views: a page with only schema.org's commentCount).

        Read from the account's last ok crawl that stored snapshots, and only when none of its
        item pages failed: a failed page leaves the feed's counts alone, which would look the same.
        """
        for ref in by_id.values():
            ref.state["page_adds_nothing"] = set()
        if not by_id:
            return
        last = dict(
            session.exec(
                select(CrawlOutcome.account_id, func.max(CrawlOutcome.crawl_run_id))
                .where(
                    col(CrawlOutcome.account_id).in_(list(by_id)),
                    col(CrawlOutcome.ok).is_(True),
                    CrawlOutcome.snapshots > 0,
                )
                .group_by(col(CrawlOutcome.account_id))
            ).all()
        )
        if not last:
            return
        clean = {
            (account_id, run_id)
            for account_id, run_id, warnings in session.exec(
                select(
                    CrawlOutcome.account_id, CrawlOutcome.crawl_run_id, CrawlOutcome.warnings
                ).where(col(CrawlOutcome.crawl_run_id).in_(set(last.values())))
            ).all()
            if last.get(account_id) == run_id and not warnings
        }
        rows = session.exec(
            select(Post.account_id, Post.platform_post_id, PostSnapshot.crawl_run_id, PostSnapshot)
            .join(PostSnapshot, col(PostSnapshot.post_id) == Post.id)
            .where(
                col(Post.account_id).in_([account_id for account_id, _ in clean]),
                col(PostSnapshot.crawl_run_id).in_({run_id for _, run_id in clean}),
                col(Post.published_at) >= self.window_start,
            )
        ).all()
        for account_id, key, run_id, snapshot in rows:
            if (account_id, run_id) in clean and all(
                getattr(snapshot, column) is None for column in PAGE_ONLY_COUNTS
            ):
                by_id[account_id].state["page_adds_nothing"].add(key)

    def start_account(self, ref: AccountRef) -> Iterable[scrapy.Request]:
        if not ref.base_url:
            raise ParseError(f"feed account {ref.handle!r} has no URL")
        ref.state.update(page=1, seen=set())
        etag, last_modified = ref.state.get("stored_validators", (None, None))
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        yield self.request(
            ref,
            ref.base_url,
            self.on_feed_page,
            headers=headers,
            # HttpErrorMiddleware passes only 2xx on unless told: the 304 is an answer, not an error.
            meta={"handle_httpstatus_list": [304]},
        )

    def on_feed_page(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        if response.status == 304:
            # Not Modified (RFC 9110 15.4.5): the feed is the one last read whole, and no byte of
            # it is sent or parsed; its posts and comment counts are unchanged. Nothing is marked
            # deleted, since this read saw no list of posts (`complete` off); the account is ok.
            self.crawler.stats.inc_value("reach/feeds_not_modified")
            ref.complete = False
            yield ProfileItem(account_id=ref.id, platform_id=ref.base_url or ref.key)
            # The counts only item pages give (likes, shares) change without the feed changing:
            # those pages are read as on any night; the others' posts keep their snapshots.
            for item in ref.state.get("stored_posts", []):
                if item.platform_post_id in ref.state.get("page_adds_nothing", ()):
                    self.crawler.stats.inc_value("reach/item_pages_skipped")
                    continue
                yield self.item_page_request(ref, item, fallback=False)
            return
        if response.status == 404 and ref.state["page"] > 1:
            return  # WordPress answers 404 past its last page
        if ref.state["page"] == 1:
            ref.state["fresh_validators"] = (
                _header(response, "ETag", MAX_ETAG),
                _header(response, "Last-Modified", 100),
            )
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
            # The item page is read only where the feed lacks a count: its comment count is
            # missing, or its page showed more than comments when last read.
            lacks_counts = item.comments is None or item.platform_post_id not in ref.state.get(
                "page_adds_nothing", ()
            )
            if link and not lacks_counts:
                self.crawler.stats.inc_value("reach/item_pages_skipped")
            if link and lacks_counts:
                yield self.item_page_request(ref, item, link=link)
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

    def item_page_request(
        self, ref: AccountRef, item: PostItem, link: str | None = None, fallback: bool = True
    ) -> scrapy.Request:
        """The request for a post's item page, for the counts its feed lacks.

        The page only adds counts: when it fails, the post is stored with the feed's own counts
        (`fallback`), or, for a post restated after a 304, not at all (its last snapshot stands).
        """
        return self.request(
            ref,
            link or item.url or "",
            self.on_item_page,
            secondary="item page",
            meta={
                "item": item,
                "fallback": item if fallback else None,
                "handle_httpstatus_list": [404, 410],
                "download_maxsize": self.settings.getint("REACH_ITEM_PAGE_MAXSIZE"),
                "download_warnsize": self.settings.getint("REACH_ITEM_PAGE_WARNSIZE"),
            },
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

    def finish(
        self,
        ref: AccountRef,
        ok: bool,
        error: str | None = None,
        reason: str | None = None,
        status: str | None = None,
    ) -> AccountDone:
        done = super().finish(ref, ok, error, reason, status)
        fresh = ref.state.get("fresh_validators")
        if fresh is not None:
            # Kept only from a whole read: every page and every item page answered. A 304 next
            # time then stands for all of what this read stored.
            whole = done.window_start is not None and not ref.warnings
            self.validators[ref.id] = fresh if whole else (None, None)
        return done

    def closed(self, reason: str) -> None:
        """Store the validators once the writer has flushed (Scrapy closes pipelines first).

        A crawl that lost rows stores none: its next read of those feeds must be whole.
        """
        if not self.validators:
            return
        if self.crawler.stats.get_value("reach/write_failed"):
            self.logger.warning("feed validators not stored: the crawl's rows were not all written")
            return
        with get_engine().begin() as connection:
            connection.execute(
                update(Account)
                .where(col(Account.id) == bindparam("b_id"))
                .values(feed_etag=bindparam("b_etag"), feed_last_modified=bindparam("b_modified")),
                [
                    {"b_id": account_id, "b_etag": etag, "b_modified": modified}
                    for account_id, (etag, modified) in sorted(self.validators.items())
                ],
            )
        self.crawler.stats.set_value(
            "reach/feed_validators_stored", sum(1 for v in self.validators.values() if any(v))
        )


def _header(response: Response, name: str, limit: int) -> str | None:
    value = response.headers.get(name)
    text = value.decode("latin-1").strip() if value else ""
    return text if text and len(text) <= limit else None
