"""Replies to the ambassadors' posts: stored as the sandbox shows them, fetched only when grown."""

import datetime as dt

import pytest
from sqlmodel import Session, col, select

from models import Account, CrawlRun, Post, Reply
from reach.db import get_engine
from reach.settings import get_settings
from sandbox import truth
from sandbox.mastodon import status_id
from sandbox.testing import SandboxProcess
from tests.crawler.conftest import BLUESKY, MASTODON, crawl

pytestmark = pytest.mark.slow


def thread_requests(sandbox: SandboxProcess) -> int:
    requests = sandbox.stats()["requests"]
    return sum(n for path, n in requests.items() if "context" in path or "getPostThread" in path)


def test_stored_replies_match_the_sandbox_and_unchanged_threads_are_not_fetched_again(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    host = sandboxed.base_url.removeprefix("http://")
    first = crawl("mastodon")
    assert first.status == "succeeded", first.summary()
    with Session(get_engine(db_url)) as session:
        run = session.get(CrawlRun, first.crawl_run_id)
        since = (
            run.started_at
            - dt.timedelta(days=get_settings().lookback_days)
            + dt.timedelta(minutes=1)
        )
        compared = 0
        for name in MASTODON:
            session.exec(
                select(Account).where(
                    Account.platform == "mastodon",
                    Account.key.startswith(f"{name}@", autoescape=True),
                )
            ).one()
            for post in truth.expected("mastodon", name, day=0).posts:
                if post.published < since or post.kind == "boost" or not post.replies:
                    continue
                row = session.exec(
                    select(Post).where(Post.platform_post_id == f"{host}:{status_id(post)}")
                ).one()
                stored = session.exec(select(Reply).where(Reply.post_id == row.id)).all()
                want = post.replies_visible[:50]
                assert sorted((r.text, r.likes, r.language) for r in stored) == sorted(
                    (r.text, r.likes, r.lang) for r in want
                )
                assert {r.author_hash for r in stored}.isdisjoint({r.author.username for r in want})
                compared += len(want)
        assert compared > 10

    sandboxed.reset()
    again = crawl("mastodon")  # same day: no comment count changed
    assert again.status == "succeeded"
    assert thread_requests(sandboxed) == 0
    assert again.stats.get("reach/threads_unchanged", 0) > 0

    sandboxed.reset()
    sandboxed.control("POST", "/_sandbox/day", {"day": 1})
    later = crawl("mastodon")
    assert later.status == "succeeded"
    # Exactly the threads whose comment count grew (or that are new) are read again.
    with Session(get_engine(db_url)) as session:
        since = (
            session.get(CrawlRun, later.crawl_run_id).started_at
            - dt.timedelta(days=get_settings().lookback_days)
            + dt.timedelta(minutes=1)
        )
    changed = 0
    for name in MASTODON:
        before = {p.key: p.replies for p in truth.expected("mastodon", name, day=0).posts}
        changed += sum(
            1
            for p in truth.expected("mastodon", name, day=1).posts
            if p.published >= since
            and p.kind != "boost"
            and p.replies
            and p.replies > (before.get(p.key) or 0)
        )
    assert thread_requests(sandboxed) == changed


def test_bluesky_thread_replies_are_stored_with_hashed_authors(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    result = crawl("bluesky")
    assert result.status == "succeeded", result.summary()
    with Session(get_engine(db_url)) as session:
        account = session.exec(select(Account).where(Account.key == BLUESKY[0])).one()
        replies = session.exec(
            select(Reply)
            .join(Post, col(Post.id) == Reply.post_id)
            .where(Post.account_id == account.id)
        ).all()
        want = sum(
            len(p.replies_visible[:50])
            for p in truth.expected("bluesky", BLUESKY[0], day=0).posts
            if p.kind != "boost"
            and p.replies
            and p.published
            >= session.get(CrawlRun, result.crawl_run_id).started_at
            - dt.timedelta(days=get_settings().lookback_days)
        )
        assert len(replies) == want > 0
        assert all(len(r.author_hash) == 64 and r.published_at.tzinfo for r in replies)
