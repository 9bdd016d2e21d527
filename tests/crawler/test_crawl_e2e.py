"""End to end: the sandbox, a real `scrapy crawl` subprocess, and the database, on both backends.

Every stored post, count, follower figure and deletion must equal the sandbox's truth, whatever
the sandbox's calendar date: growth and deletions are read from `sandbox.truth`, never assumed.
"""

import datetime as dt
from collections.abc import Sequence
from itertools import pairwise

import pytest
from sqlmodel import Session, col, select

from crawler.parsers.common import count_from_text
from models import Account, AccountSnapshot, CrawlRun, Post, PostSnapshot, Reply
from reach.db import get_engine
from sandbox import truth
from sandbox.bluesky import post_ref
from sandbox.mastodon import status_id
from sandbox.testing import SandboxProcess
from tests.crawler.conftest import BLOGS, BLUESKY, MASTODON, crawl

pytestmark = pytest.mark.slow
KIND = {"boost": "repost"}
LOOKBACK_DAYS = 30  # how far back of the sandbox's clock the crawls look
SOCIAL = ("mastodon", "bluesky")  # the platforms whose followers grow and whose posts get deleted
ACCOUNTS = {"mastodon": MASTODON, "bluesky": BLUESKY}


def lookback_days(today: dt.date) -> int:
    """`lookback_days` that starts the crawl window LOOKBACK_DAYS before the sandbox's date.

    The crawler's window follows the real clock (`utcnow() - lookback_days`) while the sandbox's
    clock is midnight of its own date: a sandbox set in the past needs a longer lookback.
    """
    return LOOKBACK_DAYS + max(0, (dt.datetime.now(dt.UTC).date() - today).days)


def window(session: Session, run_id: int, lookback: int) -> dt.datetime:
    """Start of the crawl's window, a minute late: the spider starts its clock after the run row."""
    run = session.get(CrawlRun, run_id)
    return run.started_at - dt.timedelta(days=lookback) + dt.timedelta(minutes=1)


def _stored(
    session: Session, account: Account, run_id: int, since: dt.datetime
) -> dict[str, tuple[Post, PostSnapshot]]:
    rows = session.exec(
        select(Post, PostSnapshot)
        .join(PostSnapshot, col(PostSnapshot.post_id) == Post.id)
        .where(
            Post.account_id == account.id,
            PostSnapshot.crawl_run_id == run_id,
            Post.published_at >= since,
        )
    ).all()
    return {post.platform_post_id: (post, snapshot) for post, snapshot in rows}


def _account(session: Session, platform: str, fragment: str) -> Account:
    return session.exec(
        select(Account).where(Account.platform == platform, col(Account.key).contains(fragment))
    ).one()


def check_mastodon(
    session: Session, run_id: int, since: dt.datetime, now: dt.datetime, host: str
) -> int:
    checked = 0
    for name in MASTODON:
        account = _account(session, "mastodon", name)
        want = truth.expected("mastodon", name, now=now)
        snapshot = session.exec(
            select(AccountSnapshot).where(
                AccountSnapshot.account_id == account.id, AccountSnapshot.crawl_run_id == run_id
            )
        ).one()
        assert (snapshot.followers, snapshot.following, snapshot.posts_count) == (
            want.profile.followers,
            want.profile.following,
            want.profile.posts_count,
        )
        stored = _stored(session, account, run_id, since)
        expected = {f"{host}:{status_id(p)}": p for p in want.posts if p.published >= since}
        assert set(stored) == set(expected), name
        for key, post in expected.items():
            row, counts = stored[key]
            assert row.kind == KIND.get(post.kind, post.kind)
            if post.kind == "boost":  # someone else's engagement is never the ambassador's
                assert (counts.likes, counts.comments, counts.reposts) == (0, 0, 0)
            else:
                assert (counts.likes, counts.comments, counts.reposts) == (
                    post.likes,
                    post.replies,
                    post.reposts,
                )
                assert counts.quotes == (None if post.seed.quotes_count_missing else post.quotes)
            checked += 1
    return checked


def check_bluesky(session: Session, run_id: int, since: dt.datetime, now: dt.datetime) -> int:
    checked = 0
    for handle in BLUESKY:
        account = _account(session, "bluesky", handle)
        want = truth.expected("bluesky", handle, now=now)
        snapshot = session.exec(
            select(AccountSnapshot).where(
                AccountSnapshot.account_id == account.id, AccountSnapshot.crawl_run_id == run_id
            )
        ).one()
        assert (snapshot.followers, snapshot.following, snapshot.posts_count) == (
            want.profile.followers,
            want.profile.following,
            want.profile.posts_count,
        )
        assert account.platform_id and account.platform_id.startswith("did:plc:")
        stored = _stored(session, account, run_id, since)
        own = {
            post_ref(None, p)[0]: p
            for p in want.posts
            if p.published >= since and p.kind != "boost"
        }
        boosts = [p for p in want.posts if p.published >= since and p.kind == "boost"]
        assert len(stored) == len(own) + len(boosts), handle  # the pinned post is not counted twice
        for uri, post in own.items():
            row, counts = stored[uri]
            assert row.kind == post.kind
            assert (counts.likes, counts.comments, counts.reposts, counts.quotes) == (
                post.likes,
                post.replies,
                post.reposts,
                post.quotes,
            )
            assert row.url.startswith(f"https://bsky.app/profile/{handle}/post/")
            checked += 1
        reposts = [(row, counts) for row, counts in stored.values() if row.kind == "repost"]
        assert len(reposts) == len(boosts)
        assert all(counts.likes is None and counts.comments is None for _, counts in reposts)
    return checked


def check_blogs(session: Session, run_id: int, since: dt.datetime, now: dt.datetime) -> int:
    checked = 0
    for blog in BLOGS:
        account = _account(session, "feed", f"/blogs/{blog}/")
        stored = {
            row.url.split("://", 1)[1].split("/", 1)[1]: (row, counts)
            for row, counts in _stored(session, account, run_id, since).values()
        }
        want = [p for p in truth.expected("blog", blog, now=now).blog_posts if p.published >= since]
        assert {p.path.lstrip("/") for p in want} == set(stored), blog
        for post in want:
            _row, counts = stored[post.path.lstrip("/")]
            assert counts.comments == post.comments
            if post.style == "text":  # only "31K likes" on the page: rounded, and flagged so
                likes, rounded = count_from_text(post.likes_text.split()[0])
                assert (counts.likes, counts.approximate) == (likes, rounded)
            else:
                assert (counts.likes, counts.approximate) == (post.likes, False)
            assert counts.reposts == (post.shares if post.style == "socialmedia" else None)
            checked += 1
    return checked


def post_key(post: truth.Post, host: str) -> tuple[str, str]:
    """(platform, platform_post_id) under which the crawler stores a sandbox post."""
    if post.seed.platform == "mastodon":
        return "mastodon", f"{host}:{status_id(post)}"
    return "bluesky", post_ref(None, post)[0]


def gone_posts(
    today: dt.date,
    stored_on: Sequence[int],
    day: int,
    since: dt.datetime,
    platforms: Sequence[str] = SOCIAL,
) -> list[truth.Post]:
    """Posts the truth had alive on a crawled day (in the window) that are gone at `day`."""
    gone = []
    for platform in platforms:
        for account in ACCOUNTS[platform]:
            alive = {p.key for p in truth.posts(platform, account, truth.sandbox_now(day, today))}
            seen: dict[str, truth.Post] = {}
            for earlier in stored_on:
                seen.update(
                    (p.key, p)
                    for p in truth.posts(platform, account, truth.sandbox_now(earlier, today))
                    if p.published >= since
                )
            gone += [p for key, p in seen.items() if key not in alive]
    return gone


def every_account_deleted_by(today: dt.date, platforms: Sequence[str] = SOCIAL) -> int:
    """The first sandbox day (1..3) by which every account has deleted a post it had at day 0."""
    since = truth.sandbox_now(0, today) - dt.timedelta(days=LOOKBACK_DAYS - 1)
    for day in (1, 2, 3):
        gone = {
            (p.seed.platform, p.seed.account) for p in gone_posts(today, [0], day, since, platforms)
        }
        if gone == {(platform, a) for platform in platforms for a in ACCOUNTS[platform]}:
            return day
    raise AssertionError(
        f"an account deletes nothing within 3 days of {today}: the sandbox's promise broke"
    )


def start_date(sandbox_date: dt.date, platforms: Sequence[str] = SOCIAL) -> dt.date:
    """The sandbox's date, moved back (0-2 days) just enough that its clock at the deletion day is
    not more than a day ahead of the real clock: the crawler drops posts from further ahead as future."""
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for back in range(3):
        today = sandbox_date - dt.timedelta(days=back)
        if truth.sandbox_now(every_account_deleted_by(today, platforms), today) <= latest:
            return today
    return sandbox_date - dt.timedelta(
        days=3
    )  # a sandbox date ahead of the real one: the checks will say


def crawl_days_and_check(
    db_url: str, sandbox: SandboxProcess, platforms: Sequence[str], with_day_1: bool = True
) -> list[int]:
    """Crawl at sandbox day 0, (1,) and the day by which every account has deleted a post; check each.

    Returns the sandbox days crawled. Whatever the sandbox's calendar date, the crawl window is
    moved to match it, and every expected figure (counts, followers, deletions) is the truth's.
    """
    host = sandbox.base_url.removeprefix("http://")
    social = [p for p in SOCIAL if p in platforms]
    today = sandbox.set_date(start_date(sandbox.calendar_date(), social))
    lookback = lookback_days(today)
    days = sorted({0, every_account_deleted_by(today, social)} | ({1} if with_day_1 else set()))
    runs: dict[int, dict[str, int]] = {}
    since: dict[str, dt.datetime] = {}  # platform -> window of its latest crawl
    for day in days:
        sandbox.control("POST", "/_sandbox/day", {"day": day})
        results = {platform: crawl(platform, lookback_days=lookback) for platform in platforms}
        for result in results.values():
            assert result.status == "succeeded", (today, day, result.summary())
            assert not result.problems() and result.accounts_ok == 3, (
                today,
                day,
                result.problems(),
            )
        runs[day] = {platform: result.crawl_run_id for platform, result in results.items()}
        now = truth.sandbox_now(day, today)
        with Session(get_engine(db_url)) as session:
            since.update(
                (platform, window(session, run_id, lookback))
                for platform, run_id in runs[day].items()
            )
            if "mastodon" in platforms:
                assert (
                    check_mastodon(session, runs[day]["mastodon"], since["mastodon"], now, host)
                    > 20
                )
            if "bluesky" in platforms:
                assert check_bluesky(session, runs[day]["bluesky"], since["bluesky"], now) > 20
            if "feed" in platforms:
                blog_posts = check_blogs(session, runs[day]["feed"], since["feed"], now)
                assert blog_posts > 5 or day > 0
            if day == 0:
                replies = session.exec(select(Reply)).all()
                assert replies and all(len(r.author_hash) == 64 for r in replies)
            keys = session.exec(select(Post.platform, Post.platform_post_id)).all()
            assert len(keys) == len(set(keys))  # no duplicate posts
            check_followers(session, social, today, [d for d in days if d <= day])
            gone = gone_posts(
                today, [d for d in runs if d < day], day, max(since[p] for p in social), social
            )
            check_deletions(session, gone, host)
    if "mastodon" in platforms:
        check_likes_only_grow(db_url, runs[days[0]]["mastodon"], runs[days[1]]["mastodon"])
    return days


def check_followers(
    session: Session, platforms: Sequence[str], today: dt.date, days: Sequence[int]
) -> None:
    """Each account's stored followers history is the truth's, day by day, and so is its growth."""
    for platform in platforms:
        for name in ACCOUNTS[platform]:
            account = _account(session, platform, name)
            history = session.exec(
                select(AccountSnapshot.followers)
                .where(AccountSnapshot.account_id == account.id)
                .order_by(col(AccountSnapshot.id))
            ).all()
            want = [
                truth.profile(platform, name, truth.sandbox_now(day, today)).followers
                for day in days
            ]
            assert history == want, (platform, name, today, days)
            assert [b - a for a, b in pairwise(history)] == [b - a for a, b in pairwise(want)]


def check_deletions(session: Session, gone: list[truth.Post], host: str) -> None:
    """The posts marked deleted are exactly those the truth says are gone: none missed, none false."""
    assert all(p.kind != "boost" for p in gone)  # only own posts are deleted, never reposts
    deleted = session.exec(
        select(Post.platform, Post.platform_post_id).where(col(Post.deleted_at).is_not(None))
    ).all()
    assert set(deleted) == {post_key(p, host) for p in gone}


def check_likes_only_grow(db_url: str, first_run: int, later_run: int) -> None:
    """Between two crawls a post's likes never shrink, and some grow."""
    with Session(get_engine(db_url)) as session:
        grown = session.exec(
            select(PostSnapshot.post_id, PostSnapshot.likes)
            .where(col(PostSnapshot.crawl_run_id).in_([first_run, later_run]))
            .order_by(col(PostSnapshot.id))
        ).all()
    by_post: dict[int, list[int]] = {}
    for post_id, likes in grown:
        by_post.setdefault(post_id, []).append(likes)
    pairs = [v for v in by_post.values() if len(v) == 2]
    assert pairs and all(b >= a for a, b in pairs) and any(b > a for a, b in pairs)


def test_crawls_store_the_platforms_numbers_and_later_crawls_store_growth_and_deletions(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    crawl_days_and_check(db_url, sandboxed, ("mastodon", "bluesky", "feed"))
