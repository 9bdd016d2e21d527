"""A feed that is not whole fails its account and marks nothing deleted; item links that cannot be fetched are dropped.

Real `scrapy crawl` subprocesses on both databases: against the sandbox's broken-body faults, and
against a small HTTP server on 127.0.0.2 that serves the documented fixtures byte for byte (a body
cut before it reached the server, an HTML page, relative and `javascript:` links), which the sandbox
has no fault for.
"""

import datetime as dt
import email.utils
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from scrapy.http import XmlResponse
from scrapy.utils.test import get_crawler
from sqlmodel import Session, col, select

from crawler.items import PostItem, ProfileItem
from crawler.spiders.base import AccountRef
from crawler.spiders.feed import FeedSpider
from models import Account, CrawlOutcome, Post
from reach.db import get_engine
from reach.roster import import_roster, parse_roster
from reach.settings import get_settings
from sandbox.testing import SandboxProcess
from tests.conftest import get_testdata
from tests.crawler.conftest import BLOGS, crawl

pytestmark = pytest.mark.slow
RSS = "application/rss+xml; charset=UTF-8"


def outcomes(db_url: str, run_id: int) -> dict[str, CrawlOutcome]:
    with Session(get_engine(db_url)) as session:
        rows = session.exec(
            select(CrawlOutcome, Account.key)
            .join(Account, col(Account.id) == CrawlOutcome.account_id)
            .where(CrawlOutcome.crawl_run_id == run_id)
        ).all()
        return {key: outcome for outcome, key in rows}


def posts_by_account(db_url: str) -> dict[str, list[Post]]:
    with Session(get_engine(db_url)) as session:
        rows = session.exec(
            select(Post, Account.key).join(Account, col(Account.id) == Post.account_id)
        ).all()
        found: dict[str, list[Post]] = {}
        for post, key in rows:
            found.setdefault(key, []).append(post)
        return found


# -- The sandbox's broken feed ------------------------------------------------------------------


@pytest.mark.parametrize("blog", [BLOGS[0], BLOGS[1]])
def test_broken_feed_fails_its_account_and_marks_none_of_its_posts_deleted(
    db_url: str, roster: object, sandboxed: SandboxProcess, blog: str
) -> None:
    first = crawl("feed")
    assert first.status == "succeeded", first.summary()
    stored = posts_by_account(db_url)
    [key] = [key for key in stored if f"/blogs/{blog}/" in key]
    assert stored[key] and all(post.deleted_at is None for post in stored[key])

    # Half the feed, then bytes no XML parser accepts: a recovering parser reads the first half as the feed.
    sandboxed.set_faults(malformed_json=blog)
    result = crawl("feed")
    assert result.status == "partial", result.summary()
    by_key = outcomes(db_url, result.crawl_run_id)
    assert len(by_key) == len(BLOGS)
    assert not by_key[key].ok and by_key[key].error == "ParseError"
    assert "feed is not well-formed XML" in (by_key[key].reason or ""), by_key[key].reason
    assert all(outcome.ok for other, outcome in by_key.items() if other != key)
    after = posts_by_account(db_url)
    assert len(after[key]) == len(stored[key])
    assert [post.platform_post_id for post in after[key] if post.deleted_at is not None] == []


# -- A server that serves the fixtures as they are -----------------------------------------------


@dataclass
class FixtureSite:
    """What the local blog serves: the feed's body and Content-Type; every other path is a 404."""

    body: bytes = b""
    content_type: str | None = RSS
    requested: list[str] = field(default_factory=list)
    base: str = ""

    @property
    def url(self) -> str:
        return f"{self.base}/feeds/rss.xml"

    def serve(self, name: str, content_type: str | None = RSS) -> None:
        """A fixture as this site's feed: its 2003 dates moved into the crawl window (a day apart,
        newest first) and the sample's host replaced by this one, so no request leaves the machine."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        days = iter(range(1, 100))
        body = re.sub(
            rb"<pubDate>[^<]*</pubDate>",
            lambda _: (
                b"<pubDate>"
                + email.utils.format_datetime(
                    now - dt.timedelta(days=next(days)), usegmt=True
                ).encode()
                + b"</pubDate>"
            ),
            get_testdata("feed", name),
        )
        self.body = body.replace(b"http://liftoff.msfc.nasa.gov", self.base.encode())
        self.content_type = content_type


@pytest.fixture
def fixture_site() -> Iterator[FixtureSite]:
    site = FixtureSite()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requested.append(self.path)
            if self.path != "/feeds/rss.xml":
                self.send_response(404)  # robots.txt (so all allowed), item pages, ?paged=2
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            if site.content_type is not None:
                self.send_header("Content-Type", site.content_type)
            self.send_header("Content-Length", str(len(site.body)))
            self.end_headers()
            self.wfile.write(site.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.base = f"http://127.0.0.2:{server.server_port}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fixture_roster(
    db_url: str, fixture_site: FixtureSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """One ambassador whose blog is the fixture site; returns the account's key."""
    monkeypatch.setenv("REACH_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()
    path = tmp_path / "roster.csv"
    path.write_text(
        f"ambassador,country,cohort,team,platform,account\nLiftoff News,US,2026,Eng,feed,{fixture_site.url}\n"
    )
    with Session(get_engine(db_url)) as session:
        import_roster(session, parse_roster(path, allow_private_hosts=True))
        session.commit()
        return session.exec(select(Account.key)).one()


@pytest.mark.parametrize(
    ("served", "content_type", "reason"),
    [
        (
            "rss2_spec_sample_truncated.xml",
            RSS,
            "feed is not well-formed XML: Premature end of data",
        ),
        (
            "rss2_spec_sample_unclosed_tag.xml",
            RSS,
            "feed is not well-formed XML: Opening and ending tag mismatch",
        ),
        ("html_page.html", "text/html; charset=UTF-8", "feed is served as text/html, not XML"),
    ],
)
def test_feed_that_is_not_whole_fails_with_its_reason_and_marks_nothing_deleted(
    db_url: str,
    fixture_site: FixtureSite,
    fixture_roster: str,
    served: str,
    content_type: str,
    reason: str,
) -> None:
    fixture_site.serve("rss2_spec_sample.xml")
    first = crawl("feed")
    assert first.status == "succeeded", first.summary()
    assert len(posts_by_account(db_url)[fixture_roster]) == 4

    # Served whole, with a Content-Length that matches: only the document shows it is not a whole feed.
    fixture_site.serve(served, content_type)
    result = crawl("feed")
    assert result.status == "failed" and result.accounts_failed == 1, (
        result.summary()
    )  # its only account
    outcome = outcomes(db_url, result.crawl_run_id)[fixture_roster]
    assert not outcome.ok and outcome.error == "ParseError"
    assert (
        outcome.reason and outcome.reason.startswith(reason) and fixture_site.url in outcome.reason
    )
    posts = posts_by_account(db_url)[fixture_roster]
    assert len(posts) == 4 and all(post.deleted_at is None for post in posts)


def test_relative_links_are_fetched_resolved_and_javascript_links_dropped_and_counted(
    db_url: str, fixture_site: FixtureSite, fixture_roster: str
) -> None:
    fixture_site.serve("rss2_relative_and_javascript_links.xml")
    result = crawl("feed")
    assert result.status == "succeeded", result.summary()
    assert not result.problems()
    assert result.stats["reach/links_dropped/not_http"] == 1
    assert "spider_exceptions/ValueError" not in result.stats
    by_key = {post.platform_post_id: post for post in posts_by_account(db_url)[fixture_roster]}
    base = fixture_site.base
    assert len(by_key) == 4
    assert (
        by_key[f"{base}/2003/06/03.html#item573"].url == f"{base}/feeds/news/2003/news-starcity.asp"
    )
    assert (
        by_key[f"{base}/news/2003/news-laundry.asp"].url == f"{base}/news/2003/news-laundry.asp"
    )  # keyed by its link
    assert by_key[f"{base}/2003/05/27.html#item571"].url is None  # javascript:
    assert {"/feeds/news/2003/news-starcity.asp", "/news/2003/news-laundry.asp"} <= set(
        fixture_site.requested
    )
    assert not any("javascript" in path for path in fixture_site.requested)


# -- The spider alone, on a saved body -----------------------------------------------------------


def test_spider_requests_resolved_item_pages_and_keeps_the_post_whose_link_it_drops() -> None:
    crawler = get_crawler(FeedSpider)
    spider = FeedSpider.from_crawler(crawler)
    spider.window_start = dt.datetime(
        2003, 1, 1, tzinfo=dt.UTC
    )  # the spec sample's items are from 2003
    url = "http://liftoff.msfc.nasa.gov/feeds/rss.xml"
    ref = AccountRef(1, url, url, url, None)
    ref.state.update(page=1, seen=set())
    response = XmlResponse(
        url,
        body=get_testdata("feed", "rss2_relative_and_javascript_links.xml"),
        headers={"Content-Type": RSS},
    )
    out = list(spider.on_feed_page(response, ref))
    items = [o for o in out if isinstance(o, PostItem)]
    requests = [o for o in out if not isinstance(o, PostItem | ProfileItem)]
    assert [i.platform_post_id for i in items] == [
        "http://liftoff.msfc.nasa.gov/2003/05/27.html#item571"
    ]
    assert items[0].url is None
    assert [r.url for r in requests] == [
        "http://liftoff.msfc.nasa.gov/feeds/news/2003/news-starcity.asp",
        "http://liftoff.msfc.nasa.gov/2003/05/30.html#item572",
        "http://liftoff.msfc.nasa.gov/news/2003/news-laundry.asp",
        "http://liftoff.msfc.nasa.gov/feeds/rss.xml?paged=2",
    ]
    assert crawler.stats.get_value("reach/links_dropped/not_http") == 1
