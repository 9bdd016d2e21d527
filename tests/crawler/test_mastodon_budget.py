"""Fewer Mastodon requests for the same figures, the paging budget, and the night's reply share.

Parser and spider units run on saved responses in the API's documented shapes (no crawl); the
rest crawl the sandbox and count its requests.
"""

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy import Request
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from sqlmodel import Session, col, select
from twisted.python.failure import Failure

from crawler import settings as crawler_settings
from crawler.items import AccountDone, PageItems, ProfileItem
from crawler.middlewares import RateLimitMiddleware, is_paging
from crawler.parsers import mastodon
from crawler.spiders.base import AccountRef
from crawler.spiders.mastodon import MastodonSpider
from models import Account, AccountSnapshot, Post, PostSnapshot
from reach.db import get_engine
from sandbox.testing import SandboxProcess
from tests.conftest import get_testdata
from tests.crawler.conftest import MASTODON, crawl

INSTANCE = "mastodon.social"
BASE = f"https://{INSTANCE}"


def load(name: str) -> Any:
    return json.loads(get_testdata("mastodon", name))


# -- parsers on saved responses -----------------------------------------------------------------


def test_followers_come_from_the_account_embedded_in_the_first_status() -> None:
    page = load("statuses_page.json")
    account = mastodon.own_account(page, "1")
    assert account is not None
    profile = mastodon.parse_profile(account, 7, INSTANCE)
    assert profile.followers == page[0]["account"]["followers_count"] == 322930
    assert profile.platform_id == f"{INSTANCE}:1"


def test_a_boosts_inner_account_is_never_taken_for_the_crawled_account() -> None:
    boost = load("status_boost.json")
    booster, boosted = boost["account"], boost["reblog"]["account"]
    assert booster["followers_count"] != boosted["followers_count"]
    assert (
        mastodon.own_account([boost], str(booster["id"]))["followers_count"]
        == (booster["followers_count"])
    )
    assert mastodon.own_account([boost], str(boosted["id"])) is None
    assert mastodon.own_account([], "1") is None


def test_a_batch_answer_of_forty_ids_is_forty_profiles() -> None:
    payload = load("accounts_batch.json")
    found = mastodon.accounts_by_id(payload)
    assert sorted(found, key=int) == [str(i) for i in range(1, 41)]
    profiles = [mastodon.parse_profile(found[str(i)], i, INSTANCE) for i in range(1, 41)]
    assert [p.followers for p in profiles] == [a["followers_count"] for a in payload]
    assert len({p.platform_id for p in profiles}) == 40


def test_stored_platform_id_gives_back_the_instance_account_id() -> None:
    assert mastodon.account_id_of(f"{INSTANCE}:109", INSTANCE) == "109"
    assert mastodon.account_id_of("127.0.0.1:8080:109", "127.0.0.1:8080") == "109"
    assert mastodon.account_id_of("other.example:109", INSTANCE) is None  # the account moved
    assert mastodon.account_id_of(None, INSTANCE) is None


# -- the spider on fake responses ---------------------------------------------------------------


def _spider(accounts: int, username: str = "ambassador{i:02d}") -> MastodonSpider:
    """A spider with `accounts` accounts whose ids 1, 2, ... were resolved by an earlier crawl."""
    spider = MastodonSpider.from_crawler(get_crawler(MastodonSpider, {}))
    for i in range(1, accounts + 1):
        name = username.format(i=i)
        key = f"{name}@{INSTANCE}"
        spider.refs[i] = AccountRef(i, key, f"@{key}", BASE, f"{INSTANCE}:{i}")
    return spider


def _start(spider: MastodonSpider) -> list[Request]:
    requests = [r for ref in spider.refs.values() for r in spider.start_account(ref)]
    spider.started_all = True
    return requests


def _answer(request: Request, body: Any, status: int = 200) -> TextResponse:
    return TextResponse(request.url, status=status, body=json.dumps(body).encode(), request=request)


def _failure(request: Request, body: Any, status: int) -> Failure:
    failure = Failure(HttpError(_answer(request, body, status)))
    failure.request = request  # type: ignore[attr-defined]  # as Scrapy sets it on an errback's failure
    return failure


def _split(outputs: list[Any]) -> tuple[list[Request], list[Any], list[AccountDone]]:
    requests = [o for o in outputs if isinstance(o, Request)]
    records = [r for o in outputs if isinstance(o, PageItems) for r in o.records]
    records += [o for o in outputs if isinstance(o, ProfileItem)]
    done = [o for o in outputs if isinstance(o, AccountDone)]
    return requests, records, done


def test_a_known_account_id_goes_straight_to_its_statuses_and_takes_followers_from_them() -> None:
    spider = _spider(1, "gargron")  # the documentation's account 1
    (request,) = _start(spider)
    assert urlsplit(request.url).path == "/api/v1/accounts/1/statuses"  # no lookup
    page = load("statuses_page.json")
    outputs = list(spider._dispatch(_answer(request, page)))
    requests, records, _ = _split(outputs)
    profiles = [r for r in records if isinstance(r, ProfileItem)]
    assert [p.followers for p in profiles] == [322930]
    assert not [r for r in requests if "/api/v1/accounts" in r.url and "statuses" not in r.url]


def test_a_stale_account_id_is_looked_up_again() -> None:
    spider = _spider(1)
    (request,) = _start(spider)
    (lookup,) = _split(list(spider._failed(_failure(request, load("error_not_found.json"), 404))))[
        0
    ]
    assert urlsplit(lookup.url).path == "/api/v1/accounts/lookup"
    assert spider.refs[1].pending == 1 and not spider.refs[1].failed


def test_a_stored_id_whose_account_has_another_username_is_looked_up_again() -> None:
    spider = _spider(1, "someone_else")
    (request,) = _start(spider)
    requests, records, done = _split(
        list(spider._dispatch(_answer(request, load("statuses_page.json"))))
    )
    assert [urlsplit(r.url).path for r in requests] == ["/api/v1/accounts/lookup"]
    assert not records and not done  # Gargron's statuses are not someone_else's


def test_accounts_without_a_status_get_one_batch_and_a_422_falls_back_to_one_request_each() -> None:
    spider = _spider(3)
    pages = _start(spider)
    batches: list[Request] = []
    for request in pages:  # empty first pages: no embedded account
        batches += _split(list(spider._dispatch(_answer(request, []))))[0]
    (batch,) = batches  # sent once the instance has nothing else in flight
    assert urlsplit(batch.url).path == "/api/v1/accounts"
    assert parse_qs(urlsplit(batch.url).query)["id[]"] == ["1", "2", "3"]

    singles, _, done = _split(
        list(spider._failed(_failure(batch, load("error_accounts_limit.json"), 422)))
    )
    assert not done
    assert sorted(urlsplit(r.url).path for r in singles) == [
        f"/api/v1/accounts/{i}" for i in (1, 2, 3)
    ]
    assert INSTANCE in spider.no_batch  # remembered: the next accounts go one by one at once

    finished = []
    for single in singles:
        account = dict(load("accounts_batch.json")[int(single.url.rsplit("/", 1)[1]) - 1])
        _, records, done = _split(list(spider._dispatch(_answer(single, account))))
        assert [r.followers for r in records] == [account["followers_count"]]
        finished += done
    assert sorted((d.account_id, d.ok) for d in finished) == [(1, True), (2, True), (3, True)]


def test_a_batch_answer_profiles_each_account_and_a_suspended_one_ends_suspended() -> None:
    spider = _spider(2)
    batches = [b for r in _start(spider) for b in _split(list(spider._dispatch(_answer(r, []))))[0]]
    (batch,) = batches
    answer = [
        load("accounts_batch.json")[0],
        {**load("account_suspended.json"), "id": "2", "username": "ambassador02"},
    ]
    _, records, done = _split(list(spider._dispatch(_answer(batch, answer))))
    assert [(r.account_id, r.followers) for r in records] == [(1, answer[0]["followers_count"])]
    assert sorted((d.account_id, d.ok, d.status) for d in done) == [
        (1, True, "active"),
        (2, False, "suspended"),
    ]


def test_forty_accounts_fill_a_batch_without_waiting_for_the_instance_to_be_quiet() -> None:
    spider = _spider(41)
    pages = _start(spider)
    sent: list[Request] = []
    for request in pages[:40]:
        sent += _split(list(spider._dispatch(_answer(request, []))))[0]
    (full,) = sent  # the 41st page is still in flight
    assert len(parse_qs(urlsplit(full.url).query)["id[]"]) == 40
    # The last account's page comes back while the full batch is in flight: its partial batch
    # goes out once the instance has nothing else in flight.
    assert not _split(list(spider._dispatch(_answer(pages[40], []))))[0]
    forty = load("accounts_batch.json")
    (rest,) = _split(list(spider._dispatch(_answer(full, forty))))[0]
    assert parse_qs(urlsplit(rest.url).query)["id[]"] == ["41"]


# -- the paging budget, on a fake clock ---------------------------------------------------------


def _middleware() -> RateLimitMiddleware:
    crawler = get_crawler(
        MastodonSpider,
        {  # the documented budgets, as crawler/settings.py has them
            "REACH_RATE_BUDGETS": crawler_settings.REACH_RATE_BUDGETS,
            "REACH_PAGING_BUDGETS": crawler_settings.REACH_PAGING_BUDGETS,
        },
    )
    crawler.spider = MastodonSpider.from_crawler(crawler)
    return RateLimitMiddleware(crawler)


def _paced(middleware: RateLimitMiddleware, urls: list[str]) -> float:
    """When the last of `urls` may go out, each sent as soon as its budgets allow, from t=0."""
    now = 0.0
    for url in urls:
        request = Request(url)
        now += middleware.wait_time(request, now)
        middleware.record(request, now)
    return now


def test_paging_requests_are_paced_by_the_fifteen_minute_budget_too() -> None:
    page = f"{BASE}/api/v1/accounts/1/statuses?limit=40&max_id=99"
    assert is_paging(page) and not is_paging(f"{BASE}/api/v1/accounts/1/statuses?limit=40")
    # 600 paging requests: 300 / 15 min lets the second 300 out only after 900 s.
    assert _paced(_middleware(), [page] * 600) >= 900
    # 600 first pages count only against 300 / 5 min.
    assert (
        300
        <= _paced(_middleware(), [f"{BASE}/api/v1/accounts/{i}/statuses" for i in range(600)])
        < 900
    )


def test_first_pages_still_go_out_while_paging_waits() -> None:
    middleware = _middleware()
    page = f"{BASE}/api/v1/accounts/1/statuses?max_id=99"
    _paced(middleware, [page] * 300)  # the paging budget spent at once
    assert middleware.wait_time(Request(page), 1.0) > 800
    assert middleware.wait_time(Request(f"{BASE}/api/v1/accounts/2/statuses"), 301.0) == 0


def test_night_budget_is_requests_per_window_times_windows_in_the_night() -> None:
    middleware = _middleware()
    assert middleware.budget_of(INSTANCE, "mastodon") == (300, 300.0)  # documented, no headers yet
    spider = _spider(1)
    spider.rate_limits = lambda: middleware  # type: ignore[method-assign]
    assert spider.thread_cap(INSTANCE) == 3600  # 300 / 5 min over 2 h is 7,200; half of it


# -- against the sandbox ------------------------------------------------------------------------


def _figures(session: Session, run_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    accounts = session.exec(
        select(
            AccountSnapshot.account_id,
            AccountSnapshot.followers,
            AccountSnapshot.following,
            AccountSnapshot.posts_count,
        )
        .where(AccountSnapshot.crawl_run_id == run_id)
        .order_by(col(AccountSnapshot.account_id))
    ).all()
    posts = session.exec(
        select(
            Post.platform_post_id,
            PostSnapshot.likes,
            PostSnapshot.comments,
            PostSnapshot.reposts,
            PostSnapshot.quotes,
        )
        .join(PostSnapshot, col(PostSnapshot.post_id) == Post.id)
        .where(PostSnapshot.crawl_run_id == run_id)
        .order_by(col(Post.platform_post_id))
    ).all()
    return [tuple(a) for a in accounts], [tuple(p) for p in posts]


def _requests(sandbox: SandboxProcess) -> dict[str, int]:
    return sandbox.stats()["requests"]


@pytest.mark.slow
def test_a_second_crawl_of_unchanged_accounts_makes_no_lookup_and_no_context_request(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    first = crawl("mastodon")
    assert first.status == "succeeded", first.summary()
    assert _requests(sandboxed).get("/api/v1/accounts/lookup") == len(MASTODON)
    with Session(get_engine(db_url)) as session:
        assert all(
            a.platform_id
            for a in session.exec(select(Account).where(Account.platform == "mastodon"))
        )
    sandboxed.reset()
    second = crawl("mastodon")
    assert second.status == "succeeded", second.summary()
    requests = _requests(sandboxed)
    assert requests.get("/api/v1/accounts/lookup", 0) == 0, requests
    assert requests.get("/api/v1/statuses/:id/context", 0) == 0, requests
    assert requests.get("/api/v1/accounts", 0) == 0, requests  # followers came with the statuses
    with Session(get_engine(db_url)) as session:
        accounts_1, posts_1 = _figures(session, first.crawl_run_id)
        accounts_2, posts_2 = _figures(session, second.crawl_run_id)
    assert len(accounts_1) == len(MASTODON) and posts_1
    assert (accounts_2, posts_2) == (accounts_1, posts_1)


@pytest.mark.slow
def test_reply_threads_never_pass_the_hosts_share_and_the_rest_wait_for_the_next_night(
    db_url: str, roster: object, sandboxed: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = sandboxed.base_url.removeprefix("http://")
    # The sandbox's headers say 100,000 requests per window; a night of 0.03 s of a 5-minute
    # window gives 10 requests, 5 of them threads.
    monkeypatch.setenv("REACH_NIGHT_HOURS", str(0.03 / 3600))
    first = crawl("mastodon")
    assert first.status == "succeeded", first.summary()
    threading = {k: v for k, v in first.stats.items() if "thread" in k}
    assert f"reach/thread_cap/{host}" in first.stats, threading
    cap = first.stats[f"reach/thread_cap/{host}"]
    threads = _requests(sandboxed).get("/api/v1/statuses/:id/context", 0)
    deferred = first.stats.get("reach/threads_deferred", 0)
    assert 0 < threads == cap == first.stats["reach/thread_requests"]
    assert deferred > 0
    assert first.notices() == [
        f"{deferred} reply threads deferred to the next night: host budget share"
    ]
    assert first.notices()[0] in first.summary()
    assert all(a.ok for a in first.accounts)
    with Session(get_engine(db_url)) as session:
        read = session.exec(
            select(PostSnapshot.comments)
            .join(Post, col(Post.id) == PostSnapshot.post_id)
            .where(
                PostSnapshot.crawl_run_id == first.crawl_run_id,
                col(Post.thread_comments).is_not(None),
            )
        ).all()
        waiting = session.exec(
            select(PostSnapshot.comments)
            .join(Post, col(Post.id) == PostSnapshot.post_id)
            .where(
                PostSnapshot.crawl_run_id == first.crawl_run_id,
                col(Post.thread_comments).is_(None),
                col(PostSnapshot.comments) > 0,
                Post.kind != "repost",
            )
        ).all()
    assert len(read) == cap and len(waiting) == deferred
    assert min(read) >= max(waiting)  # the largest growth went first

    # The next night, with the default share, reads exactly the threads that waited.
    monkeypatch.delenv("REACH_NIGHT_HOURS")
    sandboxed.reset()
    second = crawl("mastodon")
    assert second.status == "succeeded", second.summary()
    assert _requests(sandboxed).get("/api/v1/statuses/:id/context", 0) == deferred
    assert second.stats.get("reach/threads_deferred", 0) == 0 and not second.notices()


def test_deferred_threads_reach_the_crawl_summary_and_the_nightly_outcome() -> None:
    from flows.tasks import outcome_from_result
    from reach.runs import CrawlResult

    result = CrawlResult("mastodon", 1, "succeeded", 0, 2.0, {"reach/threads_deferred": 12})
    line = "12 reply threads deferred to the next night: host budget share"
    assert result.notices() == [line] and result.summary().endswith(line)
    assert not result.problems()  # a deferral leaves the crawl healthy
    assert outcome_from_result(result, []).warnings == line
    assert CrawlResult("mastodon", 1, "succeeded", 0, 2.0, {}).notices() == []


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stored_id_that_answers_404_is_looked_up_again_and_a_gone_account_ends_not_found(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    first = crawl("mastodon")
    assert first.status == "succeeded", first.summary()
    sandboxed.reset()
    sandboxed.set_faults(rate_limit=100000, not_found=MASTODON[0])
    second = crawl("mastodon")
    requests = _requests(sandboxed)
    # Only the account whose id stopped answering is looked up again, and the lookup says 404.
    assert requests.get("/api/v1/accounts/lookup") == 1, requests
    assert second.stats.get("reach/mastodon/lookups_again") == 1
    outcome = {a.account.split("@")[1]: (a.ok, a.error) for a in second.accounts}
    assert outcome[MASTODON[0]] == (False, "AccountNotFound")
    assert all(outcome[name] == (True, None) for name in MASTODON[1:])
    with Session(get_engine(db_url)) as session:
        gone = session.exec(
            select(Account).where(col(Account.key).startswith(f"{MASTODON[0]}@"))
        ).one()
        assert gone.status == "not_found"
