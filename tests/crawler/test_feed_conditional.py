"""Feeds are asked conditionally: an unchanged feed answers 304, which costs no parsing and marks
nothing deleted; item pages only where the feed lacks counts (after a 304 too)."""

import datetime as dt
from typing import Any

import pytest
import scrapy
from scrapy.http import HtmlResponse, Response, XmlResponse
from scrapy.spidermiddlewares.httperror import HttpError, HttpErrorMiddleware
from scrapy.utils.test import get_crawler
from sqlmodel import Session, col, select

from crawler.items import PostItem, ProfileItem
from crawler.parsers import feed as feed_parser
from crawler.spiders.base import AccountRef
from crawler.spiders.feed import FeedSpider
from models import Account, Ambassador, CrawlOutcome, CrawlRun, Post, PostSnapshot
from reach.db import get_engine
from sandbox.testing import SandboxProcess
from tests.conftest import get_testdata
from tests.crawler.conftest import BLOGS, crawl

URL = "http://liftoff.msfc.nasa.gov/rss.xml"
RSS = "application/rss+xml; charset=UTF-8"
# RFC 9110 section 8.8.3's example tag and an IMF-fixdate (section 5.6.7).
ETAG = '"xyzzy"'
MODIFIED = "Tue, 03 Jun 2003 09:39:21 GMT"
ITEMS = [  # rss_closed_comments.xml: (key, slash:comments)
    ("http://liftoff.msfc.nasa.gov/2003/06/03.html#item573", 3),
    ("http://liftoff.msfc.nasa.gov/2003/05/30.html#item572", 0),
    ("http://liftoff.msfc.nasa.gov/2003/05/27.html#item571", 12),
    ("http://liftoff.msfc.nasa.gov/2003/05/20.html#item570", None),
]


def spider() -> FeedSpider:
    crawler = get_crawler(FeedSpider)
    found = FeedSpider.from_crawler(crawler)
    found.window_start = dt.datetime(2003, 1, 1, tzinfo=dt.UTC)  # the sample's items are of 2003
    crawler.stats.open_spider()
    return found


def ref(s: FeedSpider, **state: Any) -> AccountRef:
    found = AccountRef(1, URL, URL, URL, None)
    found.state.update(state)
    s.refs[found.id] = found
    return found


def start(s: FeedSpider, r: AccountRef) -> scrapy.Request:
    (request,) = s.start_account(r)
    return request


def feed_answer(request: scrapy.Request, status: int = 200, **headers: str) -> Response:
    if status == 304:  # no body, the ETag repeated (RFC 9110 15.4.5)
        return Response(request.url, status=304, headers={"ETag": ETAG}, request=request)
    body = get_testdata("feed", "rss_closed_comments.xml")
    return XmlResponse(
        request.url, body=body, headers={"Content-Type": RSS, **headers}, request=request
    )


def test_the_first_page_is_asked_with_the_stored_validators_and_a_304_reaches_the_callback() -> (
    None
):
    s = spider()
    bare = start(s, ref(s, stored_validators=(None, None)))
    assert b"If-None-Match" not in bare.headers and b"If-Modified-Since" not in bare.headers
    request = start(s, ref(s, stored_validators=(ETAG, MODIFIED)))
    assert request.headers[b"If-None-Match"] == ETAG.encode()
    assert request.headers[b"If-Modified-Since"] == MODIFIED.encode()
    # Scrapy's HttpErrorMiddleware would turn a 304 into an HttpError unless the request lists it.
    middleware = HttpErrorMiddleware.from_crawler(s.crawler)
    middleware.process_spider_input(feed_answer(request, 304))
    unlisted = scrapy.Request(URL)
    with pytest.raises(HttpError):
        middleware.process_spider_input(feed_answer(unlisted, 304))


def test_a_304_costs_no_parsing_stores_nothing_new_and_marks_nothing_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a 304 was parsed")

    monkeypatch.setattr(feed_parser, "parse_feed", no_parsing)
    s = spider()
    r = ref(s, stored_validators=(ETAG, MODIFIED))
    request = start(s, r)
    out = list(s._dispatch(feed_answer(request, 304)))
    assert [type(o) for o in out[:-1]] == [ProfileItem]  # no post, no item page, no next page
    done = out[-1]
    assert done.ok and done.status == "active"
    assert done.window_start is None  # this read saw no post: nothing may be marked deleted
    assert s.crawler.stats.get_value("reach/feeds_not_modified") == 1
    assert r.id not in s.validators  # the stored validators stay as they are


def test_a_304_still_reads_the_item_pages_of_stored_posts_that_give_more_than_comments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed_parser, "parse_feed", lambda *a, **k: pytest.fail("parsed a 304"))
    s = spider()
    published = dt.datetime(2003, 6, 3, 9, 39, tzinfo=dt.UTC)
    stored = [
        PostItem(1, "feed", key, published, url=key.replace("#", "?p="), comments=comments)
        for key, comments in ITEMS
    ]
    # Item 2's page showed only its comment count when last read: not asked again.
    r = ref(
        s, stored_validators=(ETAG, MODIFIED), stored_posts=stored, page_adds_nothing={ITEMS[1][0]}
    )
    out = list(s._dispatch(feed_answer(start(s, r), 304)))
    pages = [o for o in out if isinstance(o, scrapy.Request)]
    assert [p.url for p in pages] == [stored[i].url for i in (0, 2, 3)]
    assert all(p.meta["fallback"] is None for p in pages)  # a failed page leaves the snapshot be
    page = HtmlResponse(
        pages[0].url,
        body=get_testdata("feed", "item_jsonld_socialmediaposting.html"),
        request=pages[0],
    )
    (item,) = s.on_item_page(page, r)
    assert item.comments == 3  # the unchanged feed's count, restated beside the page's own
    assert item.likes is not None


def test_validators_are_kept_only_from_a_whole_read() -> None:
    s = spider()
    r = ref(s, stored_validators=(None, None), page_adds_nothing=set())
    request = start(s, r)
    out = list(s.on_feed_page(feed_answer(request, ETag=ETAG, **{"Last-Modified": MODIFIED}), r))
    assert len([o for o in out if isinstance(o, scrapy.Request)]) == 5  # 4 item pages, page 2
    assert s.finish(r, ok=True).window_start is not None
    assert s.validators[r.id] == (ETAG, MODIFIED)
    r.warnings[("item page", "HTTP 503")] += 1  # one item page failed: its post lacks its likes
    s.finish(r, ok=True)
    assert s.validators[r.id] == (None, None)
    r.warnings.clear()
    s.finish(r, ok=False, error="ParseError", reason="page 2 is broken")
    assert s.validators[r.id] == (None, None)


def test_item_pages_only_where_the_feed_lacks_the_counts() -> None:
    s = spider()
    # Items 1 and 4 had pages that showed nothing the feed lacks; item 4's feed has no count.
    r = ref(s, page=1, seen=set(), page_adds_nothing={ITEMS[0][0], ITEMS[3][0]})
    out = list(s.on_feed_page(feed_answer(start(s, r)), r))
    asked = {
        o.meta["item"].platform_post_id
        for o in out
        if isinstance(o, scrapy.Request) and "item" in o.meta
    }
    assert asked == {ITEMS[1][0], ITEMS[2][0], ITEMS[3][0]}
    (kept,) = [o for o in out if isinstance(o, PostItem)]
    assert (kept.platform_post_id, kept.comments, kept.likes) == (ITEMS[0][0], 3, None)
    assert s.crawler.stats.get_value("reach/item_pages_skipped") == 1


def test_pages_that_added_nothing_are_read_from_the_last_clean_ok_crawl(session: Session) -> None:
    person = Ambassador(slug="amara", name="Amara", country="NG")
    session.add(person)
    session.flush()
    account = Account(ambassador_id=person.id, platform="feed", handle=URL, key=URL, base_url=URL)
    session.add(account)
    now = dt.datetime.now(dt.UTC)
    posts = [
        Post(
            account_id=0,
            platform="feed",
            platform_post_id=f"{URL}#{i}",
            published_at=now - dt.timedelta(days=1),
        )
        for i in range(3)
    ]
    runs = [CrawlRun(platform="feed", started_at=now - dt.timedelta(days=d)) for d in (2, 1)]
    session.add_all(runs)
    session.flush()
    for post in posts:
        post.account_id = account.id
    session.add_all(posts)
    session.flush()
    older, newer = runs
    # The newer run is the last ok one: post 0's page added nothing, post 1's page added likes;
    # post 2 added nothing in the older run only, which says nothing of its page now.
    session.add_all(
        [
            CrawlOutcome(crawl_run_id=older.id, account_id=account.id, ok=True, snapshots=3),
            CrawlOutcome(crawl_run_id=newer.id, account_id=account.id, ok=True, snapshots=2),
            PostSnapshot(post_id=posts[2].id, crawl_run_id=older.id, observed_at=now, comments=1),
            PostSnapshot(post_id=posts[0].id, crawl_run_id=newer.id, observed_at=now, comments=4),
            PostSnapshot(
                post_id=posts[1].id, crawl_run_id=newer.id, observed_at=now, comments=4, likes=9
            ),
        ]
    )
    session.commit()
    s = FeedSpider()
    (loaded,) = s.load_accounts(session)
    assert loaded.state["page_adds_nothing"] == {posts[0].platform_post_id}
    assert loaded.state["stored_validators"] == (None, None)
    # An item page failed in that run: its posts' counts prove nothing, every page is read.
    outcome = session.exec(select(CrawlOutcome).where(CrawlOutcome.crawl_run_id == newer.id)).one()
    outcome.warnings = [{"what": "item page", "reason": "HTTP 503", "count": 1}]
    session.add(outcome)
    session.commit()
    (loaded,) = FeedSpider().load_accounts(session)
    assert loaded.state["page_adds_nothing"] == set()


# -- against the sandbox --------------------------------------------------------------------------


def latest_counts(db_url: str) -> dict[str, tuple[Any, ...]]:
    """Each post's counts in its latest snapshot: the figures a report reads."""
    with Session(get_engine(db_url)) as session:
        rows = session.exec(
            select(Post.platform_post_id, PostSnapshot)
            .join(PostSnapshot, col(PostSnapshot.post_id) == Post.id)
            .where(Post.platform == "feed")
            .order_by(col(PostSnapshot.id))
        ).all()
    latest: dict[str, tuple[Any, ...]] = {}
    for key, snap in rows:
        latest[key] = (snap.likes, snap.comments, snap.reposts, snap.views, snap.approximate)
    return latest


@pytest.mark.slow
def test_second_feed_crawl_gets_304s_and_stores_the_same_figures(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    first = crawl("feed")
    assert first.status == "succeeded" and first.accounts_ok == 3, first.summary()
    figures = latest_counts(db_url)
    assert len(figures) > 5
    with Session(get_engine(db_url)) as session:
        stored = session.exec(select(Account).where(Account.platform == "feed")).all()
        assert all(a.feed_etag and a.feed_last_modified for a in stored)

    sandboxed.reset()
    second = crawl("feed")
    assert second.status == "succeeded" and second.accounts_ok == 3, second.summary()
    stats = sandboxed.stats()
    assert stats["statuses"].get("304") == len(BLOGS)
    # The feeds are not parsed; the item pages that gave more than comments are read again, for
    # the likes and shares that change without the feed changing (here: unchanged).
    with_more = sum(
        1
        for likes, _, reposts, views, _ in figures.values()
        if (likes, reposts, views) != (None, None, None)
    )
    assert with_more > 0 and stats["requests"]["/blogs/:name/:yyyy/:mm/:slug/"] == with_more
    assert second.stats.get("reach/feeds_not_modified") == len(BLOGS)
    assert second.stats.get("reach/posts_written", 0) == with_more
    assert second.stats.get("reach/posts_marked_deleted", 0) == 0
    assert latest_counts(db_url) == figures
    with Session(get_engine(db_url)) as session:
        assert not session.exec(select(Post).where(col(Post.deleted_at).is_not(None))).all()
        outcomes = session.exec(
            select(CrawlOutcome).where(CrawlOutcome.crawl_run_id == second.crawl_run_id)
        ).all()
        assert len(outcomes) == 3 and all(o.ok for o in outcomes)
        assert sum(o.snapshots for o in outcomes) == with_more

    sandboxed.reset()
    sandboxed.control("POST", "/_sandbox/day", {"day": 1})  # the feeds changed: read whole again
    third = crawl("feed")
    assert third.status == "succeeded", third.summary()
    assert sandboxed.stats()["statuses"].get("304") is None
    assert third.stats.get("reach/posts_written", 0) > 0
