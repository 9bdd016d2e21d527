"""End to end: the sandbox, a real `scrapy crawl` subprocess, and the database, on both backends.

Every stored post, count and follower figure must equal the sandbox's truth.
"""

import datetime as dt

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


def _window(session: Session, run_id: int) -> dt.datetime:
    run = session.get(CrawlRun, run_id)
    return run.started_at - dt.timedelta(days=30) + dt.timedelta(minutes=1)


def _stored(session: Session, account: Account, run_id: int, since: dt.datetime) -> dict[str, tuple[Post, PostSnapshot]]:
    rows = session.exec(
        select(Post, PostSnapshot).join(PostSnapshot, col(PostSnapshot.post_id) == Post.id)
        .where(Post.account_id == account.id, PostSnapshot.crawl_run_id == run_id, Post.published_at >= since)
    ).all()
    return {post.platform_post_id: (post, snapshot) for post, snapshot in rows}


def _account(session: Session, platform: str, fragment: str) -> Account:
    return session.exec(select(Account).where(Account.platform == platform, col(Account.key).contains(fragment))).one()


def check_mastodon(session: Session, run_id: int, day: int, host: str) -> int:
    checked = 0
    since = _window(session, run_id)
    for name in MASTODON:
        account = _account(session, "mastodon", name)
        want = truth.expected("mastodon", name, day=day)
        snapshot = session.exec(select(AccountSnapshot).where(
            AccountSnapshot.account_id == account.id, AccountSnapshot.crawl_run_id == run_id)).one()
        assert (snapshot.followers, snapshot.following, snapshot.posts_count) == (
            want.profile.followers, want.profile.following, want.profile.posts_count)
        stored = _stored(session, account, run_id, since)
        expected = {f"{host}:{status_id(p)}": p for p in want.posts if p.published >= since}
        assert set(stored) == set(expected), name
        for key, post in expected.items():
            row, counts = stored[key]
            assert row.kind == KIND.get(post.kind, post.kind)
            if post.kind == "boost":  # someone else's engagement is never the ambassador's
                assert (counts.likes, counts.comments, counts.reposts) == (0, 0, 0)
            else:
                assert (counts.likes, counts.comments, counts.reposts) == (post.likes, post.replies, post.reposts)
                assert counts.quotes == (None if post.seed.quotes_count_missing else post.quotes)
            checked += 1
    return checked


def check_bluesky(session: Session, run_id: int, day: int, sandbox: SandboxProcess) -> int:
    checked = 0
    since = _window(session, run_id)
    for handle in BLUESKY:
        account = _account(session, "bluesky", handle)
        want = truth.expected("bluesky", handle, day=day)
        snapshot = session.exec(select(AccountSnapshot).where(
            AccountSnapshot.account_id == account.id, AccountSnapshot.crawl_run_id == run_id)).one()
        assert (snapshot.followers, snapshot.following, snapshot.posts_count) == (
            want.profile.followers, want.profile.following, want.profile.posts_count)
        assert account.platform_id and account.platform_id.startswith("did:plc:")
        stored = _stored(session, account, run_id, since)
        own = {post_ref(None, p)[0]: p for p in want.posts if p.published >= since and p.kind != "boost"}
        boosts = [p for p in want.posts if p.published >= since and p.kind == "boost"]
        assert len(stored) == len(own) + len(boosts), handle  # the pinned post is not counted twice
        for uri, post in own.items():
            row, counts = stored[uri]
            assert row.kind == post.kind
            assert (counts.likes, counts.comments, counts.reposts, counts.quotes) == (
                post.likes, post.replies, post.reposts, post.quotes)
            assert row.url.startswith(f"https://bsky.app/profile/{handle}/post/")
            checked += 1
        reposts = [(row, counts) for row, counts in stored.values() if row.kind == "repost"]
        assert len(reposts) == len(boosts)
        assert all(counts.likes is None and counts.comments is None for _, counts in reposts)
    return checked


def check_blogs(session: Session, run_id: int, day: int) -> int:
    checked = 0
    since = _window(session, run_id)
    for blog in BLOGS:
        account = _account(session, "feed", f"/blogs/{blog}/")
        stored = {row.url.split("://", 1)[1].split("/", 1)[1]: (row, counts)
                  for row, counts in _stored(session, account, run_id, since).values()}
        want = [p for p in truth.expected("blog", blog, day=day).blog_posts if p.published >= since]
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


def test_crawls_store_the_platforms_numbers_and_a_later_crawl_adds_growth(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    host = sandboxed.base_url.removeprefix("http://")
    results = {platform: crawl(platform) for platform in ("mastodon", "bluesky", "feed")}
    for result in results.values():
        assert result.status == "succeeded", result.summary()
        assert not result.problems() and result.accounts_ok == 3
    with Session(get_engine(db_url)) as session:
        assert check_mastodon(session, results["mastodon"].crawl_run_id, 0, host) > 20
        assert check_bluesky(session, results["bluesky"].crawl_run_id, 0, sandboxed) > 20
        assert check_blogs(session, results["feed"].crawl_run_id, 0) > 5
        posts_before = len(session.exec(select(Post.id)).all())
        replies = session.exec(select(Reply)).all()
        assert replies and all(len(r.author_hash) == 64 for r in replies)

    sandboxed.control("POST", "/_sandbox/day", {"day": 1})
    later = {platform: crawl(platform) for platform in ("mastodon", "bluesky", "feed")}
    with Session(get_engine(db_url)) as session:
        assert check_mastodon(session, later["mastodon"].crawl_run_id, 1, host) > 20
        assert check_bluesky(session, later["bluesky"].crawl_run_id, 1, sandboxed) > 20
        check_blogs(session, later["feed"].crawl_run_id, 1)
        keys = session.exec(select(Post.platform, Post.platform_post_id)).all()
        assert len(keys) == len(set(keys))  # no duplicate posts
        assert len(keys) >= posts_before
        for name in MASTODON:
            account = _account(session, "mastodon", name)
            history = session.exec(select(AccountSnapshot.followers).where(
                AccountSnapshot.account_id == account.id).order_by(AccountSnapshot.id)).all()
            assert len(history) == 2 and history[1] > history[0]  # new followers show as growth
        grown = session.exec(
            select(PostSnapshot.post_id, PostSnapshot.likes).where(col(PostSnapshot.crawl_run_id).in_(
                [results["mastodon"].crawl_run_id, later["mastodon"].crawl_run_id])).order_by(PostSnapshot.id)
        ).all()
        by_post: dict[int, list[int]] = {}
        for post_id, likes in grown:
            by_post.setdefault(post_id, []).append(likes)
        pairs = [v for v in by_post.values() if len(v) == 2]
        assert pairs and all(b >= a for a, b in pairs) and any(b > a for a, b in pairs)
        deleted = session.exec(select(Post).where(col(Post.deleted_at).is_not(None))).all()
        assert deleted, "a post that existed at day 0 and is gone at day 1 is marked deleted"
