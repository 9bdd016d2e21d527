"""Bluesky asks for less: the DID kept, profiles 25 a request, the feed paged down to known posts only.

The spider's own tests run its callbacks on saved responses in the lexicons' shapes; the sandbox
tests count the requests a second crawl makes and check its figures against the first's and the
truth's.
"""

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import scrapy
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler
from sqlmodel import Session, col, select

from crawler.items import AccountDone, PostItem, ProfileItem
from crawler.parsers import bluesky as parse
from crawler.spiders.base import AccountRef
from crawler.spiders.bluesky import BlueskySpider, Known
from models import AccountSnapshot, Post, PostSnapshot
from reach.db import get_engine
from sandbox.testing import SandboxProcess
from tests.conftest import get_testdata
from tests.crawler import test_crawl_e2e as e2e
from tests.crawler.conftest import BLUESKY, crawl

APPVIEW = "https://public.api.bsky.app"
BSKY_DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
ANNOUNCEMENT = f"at://{BSKY_DID}/app.bsky.feed.post/3l66vf2q4pi26"  # 2024-10-10
POST = f"at://{BSKY_DID}/app.bsky.feed.post/3k4duaz5vfs2b"  # 2023-08-08
QUOTE = f"at://{BSKY_DID}/app.bsky.feed.post/3k44deefqdk2g"  # 2023-08-07, pinned on one page


def saved(name: str) -> Any:
    return json.loads(get_testdata("bluesky", name))


def spider(window_start: dt.datetime = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)) -> BlueskySpider:
    crawler = get_crawler(BlueskySpider)
    found = BlueskySpider.from_crawler(crawler)
    found.settings_ = found.settings_.model_copy(update={"bluesky_appview_url": APPVIEW})
    found.window_start = window_start
    crawler.stats.open_spider()
    return found


def ref(
    spider: BlueskySpider, account_id: int, key: str, did: str | None = None, **state: Any
) -> AccountRef:
    found = AccountRef(account_id, key, key, None, did)
    found.state.update(known={}, overlap=set(), **state)
    spider.refs[account_id] = found
    return found


def params(request: scrapy.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def method(request: scrapy.Request) -> str:
    return urlsplit(request.url).path.rsplit("/", 1)[-1]


def answer(request: scrapy.Request, body: Any) -> TextResponse:
    return TextResponse(request.url, body=json.dumps(body).encode(), request=request)


# -- profiles -------------------------------------------------------------------------------------


def test_get_profiles_with_25_actors_is_parsed_into_25_profiles() -> None:
    profiles = parse.parse_profiles(saved("get_profiles_25.json"))
    assert len(profiles) == 25
    items = [parse.parse_profile(p, i) for i, p in enumerate(profiles)]
    assert len({item.platform_id for item in items}) == 25
    assert items[3].followers == 1003 and items[3].following == 103 and items[3].posts_count == 13
    assert items[3].profile_url == "https://bsky.app/profile/ambassador-03.bsky.social"


def test_profiles_are_asked_25_accounts_a_request_by_stored_did_else_by_handle() -> None:
    s = spider()
    profiles = saved("get_profiles_25.json")["profiles"]
    requests = []
    for i in range(30):
        handle = f"ambassador-{i:02d}.bsky.social"
        did = profiles[i]["did"] if i < 25 and i % 2 == 0 else None  # the even ones crawled before
        requests += list(s.start_account(ref(s, i, handle, did)))
    assert len(requests) == 1  # the 25th account filled the first batch
    while s.profile_queue:
        requests.append(s.profiles_request())
    assert [method(r) for r in requests] == ["app.bsky.actor.getProfiles"] * 2
    first, rest = (params(r)["actors"] for r in requests)
    assert len(first) == 25 and len(rest) == 5
    assert first[:3] == [profiles[0]["did"], "ambassador-01.bsky.social", profiles[2]["did"]]
    assert all(s.refs[i].pending == 1 for i in range(30))


def test_each_account_takes_its_profile_from_the_batch_and_only_missing_or_renamed_resolve_again() -> (
    None
):
    s = spider()
    profiles = saved("get_profiles_25.json")["profiles"]
    refs = [
        ref(s, i, f"ambassador-{i:02d}.bsky.social", profiles[i]["did"] if i % 2 else None)
        for i in range(25)
    ]
    refs[5].key = refs[5].handle = "renamed.bsky.social"  # the roster's handle, no longer the DID's
    (batch,) = [request for r in refs for request in s.start_account(r)]
    body = {"profiles": [p for i, p in enumerate(profiles) if i != 7]}  # 7's DID shows nothing
    out = list(s._dispatch_profiles(answer(batch, body)))
    items = [o for o in out if isinstance(o, ProfileItem)]
    requests = [o for o in out if isinstance(o, scrapy.Request)]
    assert sorted(i.account_id for i in items) == sorted(set(range(25)) - {5, 7})
    feeds = [r for r in requests if method(r) == "app.bsky.feed.getAuthorFeed"]
    assert len(feeds) == 23 and all(params(r)["includePins"] == ["true"] for r in feeds)
    resolves = [r for r in requests if method(r) == "com.atproto.identity.resolveHandle"]
    assert sorted(params(r)["handle"][0] for r in resolves) == [
        "ambassador-07.bsky.social",
        "renamed.bsky.social",
    ]
    assert not [o for o in out if isinstance(o, AccountDone)]
    assert s.crawler.stats.get_value("reach/bluesky/profile_missing") == 1
    assert s.crawler.stats.get_value("reach/bluesky/handle_changed") == 1


# -- the feed and the known posts ----------------------------------------------------------------


def feed_response(s: BlueskySpider, r: AccountRef, name: str) -> TextResponse:
    r.state.update(did=BSKY_DID, seen=set(), cursors=set())
    return answer(s.feed_request(r, cursor=None), saved(name))


def test_old_pinned_post_comes_flagged_and_does_not_end_the_paging() -> None:
    items, cursor = parse.parse_author_feed(
        saved("author_feed_page_with_old_pin.json"), 1, BSKY_DID
    )
    assert (items[0][0].platform_post_id, items[0][1]) == (QUOTE, True)
    s = spider(window_start=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))  # the pinned post is older
    r = ref(s, 1, "bsky.app")
    out = list(s.on_feed(feed_response(s, r, "author_feed_page_with_old_pin.json"), r))
    posts = [o for o in out if isinstance(o, PostItem)]
    assert [p.kind for p in posts] == ["repost", "original"]
    assert posts[1].platform_post_id == ANNOUNCEMENT
    (next_page,) = [o for o in out if isinstance(o, scrapy.Request) and "getAuthorFeed" in o.url]
    assert params(next_page)["cursor"] == [cursor]


def test_pinned_post_in_the_window_is_stored_once() -> None:
    s = spider()
    r = ref(s, 1, "bsky.app")
    out = list(s.on_feed(feed_response(s, r, "author_feed_first_page_with_pin.json"), r))
    keys = [o.platform_post_id for o in out if isinstance(o, PostItem)]
    assert keys.count(ANNOUNCEMENT) == 1 and len(keys) == len(set(keys)) == 5


def test_a_known_pinned_post_does_not_stop_the_paging_out_of_its_place() -> None:
    s = spider()  # the pinned quote is in the window, and the last ok crawl saw it
    r = ref(s, 1, "bsky.app")
    r.state["overlap"].add(QUOTE)
    out = list(s.on_feed(feed_response(s, r, "author_feed_page_with_old_pin.json"), r))
    asked = [method(o) for o in out if isinstance(o, scrapy.Request)]
    assert "app.bsky.feed.getAuthorFeed" in asked and "app.bsky.feed.getPosts" not in asked
    assert next(o.platform_post_id for o in out if isinstance(o, PostItem)) == QUOTE


def test_feed_stops_at_a_post_the_last_ok_crawl_saw_and_asks_get_posts_for_the_rest() -> None:
    s = spider()
    r = ref(s, 1, "bsky.app")
    old = dt.datetime(2023, 6, 1, tzinfo=dt.UTC)
    older = [f"at://{BSKY_DID}/app.bsky.feed.post/3jz{i:02d}aaaaaaa" for i in range(30)]
    repost = f"at://{BSKY_DID}/app.bsky.feed.repost/3jzrepostaaaa"
    for key in [ANNOUNCEMENT, POST, *older]:
        r.state["known"][key] = Known("original", old, None, None)
    r.state["known"][repost] = Known("repost", old, "https://bsky.app/profile/x/post/1", None)
    r.state["overlap"].add(ANNOUNCEMENT)
    response = feed_response(s, r, "author_feed_first_page_with_pin.json")
    out = list(s.on_feed(response, r))
    requests = [o for o in out if isinstance(o, scrapy.Request)]
    assert "app.bsky.feed.getAuthorFeed" not in {method(o) for o in requests}  # no next page
    asked = [params(o)["uris"] for o in requests if method(o) == "app.bsky.feed.getPosts"]
    assert [len(uris) for uris in asked] == [25, 5]
    assert sorted(uri for uris in asked for uri in uris) == sorted(
        older
    )  # the page's own posts are not asked again
    restated = [o for o in out if isinstance(o, PostItem) and o.platform_post_id == repost]
    assert len(restated) == 1 and restated[0].kind == "repost" and restated[0].likes is None


def test_get_posts_refreshes_the_counts_and_what_it_leaves_out_is_not_stored() -> None:
    s = spider()
    r = ref(s, 1, "bsky.app", BSKY_DID, seen=set())
    r.state["did"] = BSKY_DID
    r.threads.update({ANNOUNCEMENT: (5, False), POST: (3, False)})  # read at these counts
    deleted = f"at://{BSKY_DID}/app.bsky.feed.post/3jzdeletedaaa"
    request = s.request(
        r, s.xrpc("app.bsky.feed.getPosts", uris=[ANNOUNCEMENT, POST, deleted]), s.on_posts
    )
    request.meta["asked"] = [ANNOUNCEMENT, POST, deleted]
    out = list(s.on_posts(answer(request, saved("get_posts.json")), r))
    counts = {
        o.platform_post_id: (o.likes, o.comments, o.reposts, o.quotes)
        for o in out
        if isinstance(o, PostItem)
    }
    assert counts == {ANNOUNCEMENT: (120, 5, 31, 4), POST: (17, 3, 2, 1)}
    assert not [o for o in out if isinstance(o, scrapy.Request)]  # comment counts unchanged
    assert s.crawler.stats.get_value("reach/bluesky/posts_missing") == 1


# -- against the sandbox --------------------------------------------------------------------------


def requests_by_method(sandbox: SandboxProcess) -> dict[str, int]:
    return {
        path.rsplit("/", 1)[-1]: n
        for path, n in sandbox.stats()["requests"].items()
        if path.startswith("/xrpc/")
    }


def figures(
    db_url: str, run_id: int
) -> tuple[dict[int, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """(followers per account, counts per post) as one run stored them."""
    with Session(get_engine(db_url)) as session:
        accounts = {
            a.account_id: (a.followers, a.following, a.posts_count)
            for a in session.exec(
                select(AccountSnapshot).where(AccountSnapshot.crawl_run_id == run_id)
            )
        }
        posts = {
            post.platform_post_id: (snap.likes, snap.comments, snap.reposts, snap.quotes)
            for post, snap in session.exec(
                select(Post, PostSnapshot)
                .join(PostSnapshot, col(PostSnapshot.post_id) == Post.id)
                .where(PostSnapshot.crawl_run_id == run_id)
            )
        }
    return accounts, posts


@pytest.mark.slow
def test_second_crawl_of_unchanged_accounts_resolves_nothing_reads_no_thread_and_stores_the_same(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    # Pages of 10: every account's window runs over several, so the second crawl stops at known
    # posts and asks getPosts for the rest.
    settings = {"REACH_PAGE_SIZE": "10"}
    first = crawl("bluesky", extra_settings=settings)
    assert first.status == "succeeded" and first.accounts_ok == 3, first.summary()
    asked = requests_by_method(sandboxed)
    assert asked["app.bsky.actor.getProfiles"] == 1  # three accounts, one request
    assert "com.atproto.identity.resolveHandle" not in asked  # getProfiles takes handles
    assert "app.bsky.actor.getProfile" not in asked
    first_pages = asked["app.bsky.feed.getAuthorFeed"]
    assert first_pages > 3 * 2

    sandboxed.reset()
    second = crawl("bluesky", extra_settings=settings)
    assert second.status == "succeeded" and second.accounts_ok == 3, second.summary()
    asked = requests_by_method(sandboxed)
    assert "com.atproto.identity.resolveHandle" not in asked
    assert "app.bsky.feed.getPostThread" not in asked
    assert asked["app.bsky.actor.getProfiles"] == 1
    assert asked["app.bsky.feed.getAuthorFeed"] == 3  # one page each: its posts were all known
    assert asked["app.bsky.feed.getPosts"] >= 3
    assert second.stats.get("reach/posts_marked_deleted", 0) == 0
    assert figures(db_url, second.crawl_run_id) == figures(db_url, first.crawl_run_id)
    with Session(get_engine(db_url)) as session:
        assert not session.exec(select(Post).where(col(Post.deleted_at).is_not(None))).all()
    assert len(BLUESKY) == 3


@pytest.mark.slow
def test_crawls_that_stop_at_known_posts_store_the_truth_and_mark_exactly_the_deleted_posts(
    db_url: str, roster: object, sandboxed: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end-to-end checks of test_crawl_e2e, day after day, with pages of 10: every later crawl
    stops at known posts, takes the rest from getPosts, and what getPosts leaves out is deleted."""

    def paged(platform: str, **kwargs: Any) -> Any:
        return crawl(platform, extra_settings={"REACH_PAGE_SIZE": "10"}, **kwargs)

    monkeypatch.setattr(e2e, "crawl", paged)
    days = e2e.crawl_days_and_check(db_url, sandboxed, ("bluesky",))
    assert len(days) >= 2
    with Session(get_engine(db_url)) as session:
        deleted = session.exec(select(Post).where(col(Post.deleted_at).is_not(None))).all()
    assert deleted  # the sandbox deletes a post of every account by the last day crawled
    stats = requests_by_method(sandboxed)
    assert stats.get("app.bsky.feed.getPosts", 0) > 0
