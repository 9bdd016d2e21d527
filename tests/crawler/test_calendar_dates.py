"""The crawl tests hold on every calendar date, not only on the date they happen to run.

The sandbox's world is keyed to its calendar date: follower growth and which day an account
deletes a post change with it. Two tests: a fast walk through every day of a year checking the
truth keeps the promises the end-to-end checks rely on, and the date-sensitive end-to-end checks
run with the sandbox set to fixed dates that cover both day parities and every deletion phase.
"""

import datetime as dt
from itertools import pairwise

import pytest

from sandbox import truth
from sandbox.testing import SandboxProcess
from tests.crawler.conftest import BLOGS
from tests.crawler.test_crawl_e2e import (
    ACCOUNTS,
    LOOKBACK_DAYS,
    SOCIAL,
    crawl_days_and_check,
    every_account_deleted_by,
    gone_posts,
)

YEAR = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(365)]
# Fixed, in the past of any real date the suite runs on, 61 days apart: their ordinals fall on
# six consecutive residues mod 6, so both parities and every deletion phase of every account.
SAMPLE_DATES = [
    dt.date(2025, 1, 15),
    dt.date(2025, 3, 17),
    dt.date(2025, 5, 17),
    dt.date(2025, 7, 17),
    dt.date(2025, 9, 16),
    dt.date(2025, 11, 16),
]
# Followers and deletions, the date-sensitive behaviour, live on the social platforms; the feed
# crawl is checked at the real date by test_crawl_e2e. Day 1 is left out here (day 0 and the
# deletion day show growth as well): four crawls a date instead of six.
DATE_PLATFORMS = SOCIAL


def test_sample_dates_cover_both_parities_and_every_deletion_phase() -> None:
    assert {d.toordinal() % 2 for d in SAMPLE_DATES} == {0, 1}
    for platform, accounts in ACCOUNTS.items():
        for account in accounts:
            phases = {truth.deletion_phase(platform, account, d.toordinal()) for d in SAMPLE_DATES}
            assert phases == {0, 1, 2}, (platform, account)
    # How far the deletion crawl goes depends on the phases: the sample reaches both day 2 and day 3.
    assert {every_account_deleted_by(d) for d in SAMPLE_DATES} == {2, 3}


def test_every_day_of_a_year_keeps_the_promises_the_crawl_tests_rely_on() -> None:
    for today in YEAR:
        now = [truth.sandbox_now(day, today) for day in range(4)]
        since = now[0] - dt.timedelta(days=LOOKBACK_DAYS - 1)
        for platform, accounts in ACCOUNTS.items():
            for account in accounts:
                followers = [truth.profile(platform, account, t).followers for t in now]
                assert all(b - a >= 1 for a, b in pairwise(followers)), (today, platform, account)
                # Every account has a reply thread to read (the reply and gone-thread tests use each).
                live = [p for p in truth.posts(platform, account, now[0]) if p.published >= since]
                assert any(p.replies_visible for p in live if p.kind != "boost"), (
                    today,
                    platform,
                    account,
                )
            live = [
                p
                for a in accounts
                for p in truth.posts(platform, a, now[0])
                if p.published >= since
            ]
            assert len([p for p in live if p.kind != "boost"]) > 20, (today, platform)
            assert sum(len(p.replies_visible) for p in live if p.kind != "boost") > 10, (
                today,
                platform,
            )
        # Within three days every account deletes an original it had at day 0, in the crawl window.
        last = every_account_deleted_by(today)
        gone = gone_posts(today, [0], last, since)
        assert gone and all(p.kind == "original" and since <= p.published < now[0] for p in gone), (
            today
        )
        # From day 0 to day 1 some post gains likes (check_likes_only_grow).
        before = {
            p.key: p for a in ACCOUNTS["mastodon"] for p in truth.posts("mastodon", a, now[0])
        }
        after = [
            p
            for a in ACCOUNTS["mastodon"]
            for p in truth.posts("mastodon", a, now[1])
            if p.key in before
        ]
        assert any(p.likes > before[p.key].likes for p in after), today
        blog_posts = [
            len([p for p in truth.blog_posts(b, now[0]) if p.published >= since]) for b in BLOGS
        ]
        assert sum(blog_posts) > 5 and min(blog_posts) > 0, today


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("today", SAMPLE_DATES, ids=str)
def test_crawls_match_the_truth_with_the_sandbox_at_a_fixed_date(
    today: dt.date, db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    assert today < dt.datetime.now(dt.UTC).date()  # the crawl window can only reach back
    sandboxed.set_date(today)
    days = crawl_days_and_check(db_url, sandboxed, DATE_PLATFORMS, with_day_1=False)
    assert days == [0, every_account_deleted_by(today, DATE_PLATFORMS)]
