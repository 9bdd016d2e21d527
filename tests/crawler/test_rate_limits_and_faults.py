"""Politeness and resilience: budgets kept, 429s waited out, every fault ends in a recorded reason."""

import pytest
from sqlmodel import Session, col, select

from models import Account, CrawlOutcome, CrawlRun, Post, PostSnapshot
from reach.db import get_engine
from reach.settings import get_settings
from sandbox.testing import SandboxProcess
from tests.crawler.conftest import BLOGS, BLUESKY, MASTODON, crawl

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def outcomes(db_url: str, run_id: int) -> dict[str, CrawlOutcome]:
    with Session(get_engine(db_url)) as session:
        rows = session.exec(
            select(CrawlOutcome, Account.key)
            .join(Account, col(Account.id) == CrawlOutcome.account_id)
            .where(CrawlOutcome.crawl_run_id == run_id)
        ).all()
        return {key: outcome for outcome, key in rows}


def snapshots_of(db_url: str, run_id: int) -> list[tuple]:
    with Session(get_engine(db_url)) as session:
        return [
            (s.post_id, s.likes, s.comments, s.reposts, s.quotes, s.views, s.observed_at)
            for s in session.exec(
                select(PostSnapshot)
                .where(PostSnapshot.crawl_run_id == run_id)
                .order_by(PostSnapshot.id)
            ).all()
        ]


@pytest.mark.parametrize("platform", ["mastodon", "bluesky"])
def test_small_budget_with_headers_is_kept_without_any_429(
    db_url: str,
    roster: object,
    sandboxed: SandboxProcess,
    platform: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REACH_REPLIES_PER_POST", "0")  # fewer requests: a shorter test, same pacing
    sandboxed.set_faults(rate_limit=8, rate_window=2)
    result = crawl(platform, extra_settings={"REACH_PAGE_SIZE": "5"})
    assert result.status == "succeeded", result.summary()
    assert result.responses > 16  # more requests than one window allows: pacing had to happen
    assert result.stats.get("ratelimit/waits", 0) > 0
    assert result.stats.get("ratelimit/429_received", 0) == 0
    assert sandboxed.stats()["sent_429"] == 0


@pytest.mark.parametrize("platform", ["mastodon", "bluesky"])
def test_429_storm_with_retry_after_is_waited_out(
    db_url: str, roster: object, sandboxed: SandboxProcess, platform: str
) -> None:
    sandboxed.set_faults(storm_429=4)
    result = crawl(platform)
    assert result.status == "succeeded", result.summary()
    assert result.stats["ratelimit/429_received"] == 4
    assert result.stats["ratelimit/wait_seconds"] >= 0.5  # it waited for Retry-After: 1
    assert sandboxed.stats()["sent_429"] == 4


def test_5xx_errors_are_retried_with_backoff(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    sandboxed.set_faults(error_5xx=2)
    result = crawl("feed")
    assert result.status == "succeeded", result.summary()
    assert result.stats["retry/count"] >= 2


FAULTS = [
    # (platform, fault, target, error, status the account gets)
    ("mastodon", "malformed_json", MASTODON[0], "ParseError", "active"),
    ("bluesky", "malformed_json", BLUESKY[0].split(".")[0], "ParseError", "active"),
    ("mastodon", "truncated", MASTODON[0], None, "active"),
    ("bluesky", "repeat_cursor", BLUESKY[0].split(".")[0], "ParseError", "active"),
    ("mastodon", "repeat_cursor", MASTODON[0], "ParseError", "active"),
    ("mastodon", "not_found", MASTODON[0], "AccountNotFound", "not_found"),
    ("bluesky", "not_found", BLUESKY[0].split(".")[0], "AccountNotFound", "not_found"),
    ("mastodon", "suspended", MASTODON[0], "AccountSuspended", "suspended"),
    ("bluesky", "suspended", BLUESKY[0].split(".")[0], "AccountSuspended", "suspended"),
    ("feed", "not_found", BLOGS[0], "HTTP404", "active"),
    ("feed", "robots_disallow", f"/blogs/{BLOGS[0]}/", "BlockedByRobotsTxt", "blocked_by_robots"),
    ("mastodon", "timeout", MASTODON[0], "DownloadTimeoutError", "active"),
]


@pytest.mark.parametrize(
    ("platform", "fault", "target", "error", "status"),
    FAULTS,
    ids=[f"{p}-{f}" for p, f, *_ in FAULTS],
)
def test_fault_fails_only_its_account_with_a_reason_and_keeps_stored_data(
    db_url: str,
    roster: object,
    sandboxed: SandboxProcess,
    platform: str,
    fault: str,
    target: str,
    error: str | None,
    status: str,
) -> None:
    first = crawl(platform)
    assert first.status == "succeeded", first.summary()
    before = snapshots_of(db_url, first.crawl_run_id)
    with Session(get_engine(db_url)) as session:
        live_before = len(session.exec(select(Post.id).where(col(Post.deleted_at).is_(None))).all())

    sandboxed.set_faults(**{fault: target})
    settings = {"REACH_PAGE_SIZE": "5"}  # several pages per account, so pagination faults show
    if fault == "timeout":
        settings |= {"DOWNLOAD_TIMEOUT": "2", "RETRY_TIMES": "1"}
    options: dict[str, object] = {}
    if (platform, fault) == ("bluesky", "repeat_cursor"):
        # A feed whose posts the last crawl all saw stops at its first page (the rest come
        # through getPosts); a window longer than that crawl's is paged from the top again.
        options["lookback_days"] = get_settings().lookback_days + 1
    result = crawl(platform, extra_settings=settings, **options)
    assert result.status == "partial", result.summary()
    assert not result.problems()  # partial is reported, not an unhealthy crawl
    by_key = outcomes(db_url, result.crawl_run_id)
    failed = {key: o for key, o in by_key.items() if not o.ok}
    assert len(failed) == 1 and len(by_key) == 3
    key, outcome = next(iter(failed.items()))
    assert target.strip("/").split("/")[-1] in key
    assert outcome.reason
    if error:
        assert outcome.error == error, outcome.reason
    with Session(get_engine(db_url)) as session:
        account = session.exec(select(Account).where(Account.key == key)).one()
        assert account.status == status
        if status != "active":
            assert account.status_reason == outcome.reason
        # data stored earlier is untouched: same snapshots, nothing marked deleted
        assert (
            len(session.exec(select(Post.id).where(col(Post.deleted_at).is_(None))).all())
            >= live_before
        )
    assert snapshots_of(db_url, first.crawl_run_id) == before


def test_missing_fields_are_stored_as_null_not_zero(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    sandboxed.set_faults(missing_fields=MASTODON[0])
    result = crawl("mastodon")
    assert result.status == "succeeded", result.summary()
    with Session(get_engine(db_url)) as session:
        account = session.exec(
            select(Account).where(
                Account.platform == "mastodon",
                Account.key.startswith(f"{MASTODON[0]}@", autoescape=True),
            )
        ).one()
        counts = session.exec(
            select(PostSnapshot.likes, PostSnapshot.comments)
            .join(Post, col(Post.id) == PostSnapshot.post_id)
            .where(Post.account_id == account.id, PostSnapshot.crawl_run_id == result.crawl_run_id)
        ).all()
        assert counts and all(likes is None and comments is None for likes, comments in counts)


def test_unknown_ambassador_fails_before_crawling(db_url: str, roster: object) -> None:
    from crawler.run import UnknownSelection

    with pytest.raises(UnknownSelection, match="unknown ambassador\\(s\\): nobody"):
        crawl("mastodon", ambassadors=["amara-okafor", "nobody"])


def test_timeout_stops_the_crawl_process_and_fails_its_run(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    import psutil

    from crawler.run import run_crawl
    from models import CrawlRun

    sandboxed.set_faults(slow=5)
    with pytest.raises(TimeoutError, match="mastodon crawl exceeded its 3s timeout"):
        run_crawl("mastodon", timeout=3)

    def ours(process: psutil.Process) -> bool:  # a crawl of this test's database, still alive
        try:
            return (
                "scrapy" in process.cmdline()
                and process.environ().get("REACH_DATABASE_URL") == db_url
            )
        except psutil.Error:
            return False

    assert [p for p in psutil.process_iter() if ours(p)] == []
    with Session(get_engine(db_url)) as session:
        run = session.exec(select(CrawlRun)).one()
        assert run.status == "failed" and "timeout" in run.message


def test_a_crawl_that_cannot_read_its_accounts_fails_and_says_so(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    result = crawl("mastodon", accounts=[f"@nobody@{sandboxed.base_url.removeprefix('http://')}"])
    assert result.status == "failed"
    assert any("spider exception" in problem for problem in result.problems())
    with Session(get_engine(db_url)) as session:
        from models import CrawlRun

        assert "could not read its accounts" in session.get(CrawlRun, result.crawl_run_id).message


@pytest.mark.parametrize("processes", [1, 3])
def test_feed_crawl_split_over_processes_closes_one_run_for_every_account(
    db_url: str,
    roster: object,
    sandboxed: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
    processes: int,
) -> None:
    monkeypatch.setenv("REACH_FEED_CRAWL_PROCESSES", str(processes))
    get_settings.cache_clear()
    sandboxed.set_faults(not_found=BLOGS[0])  # one blog fails, in whichever process has it
    result = crawl("feed")
    by_key = outcomes(db_url, result.crawl_run_id)
    assert (
        len(by_key) == len(BLOGS)
        and result.accounts_failed == 1
        and result.accounts_ok == len(BLOGS) - 1
    )
    assert result.status == "partial", result.summary()
    assert result.stats["reach/accounts"] == len(BLOGS)  # the processes' stats added up
    assert result.stats["reach/accounts_failed"] == 1
    with Session(get_engine(db_url)) as session:
        run = session.get(CrawlRun, result.crawl_run_id)
        assert run is not None and run.finished_at is not None and run.status == "partial"
        assert run.requests == result.stats["downloader/request_count"] > 0
        assert (
            run.items
            == result.stats["reach/posts_written"]
            == len(snapshots_of(db_url, result.crawl_run_id))
            > 0
        )
        assert run.message == f"{len(BLOGS) - 1} account(s) ok, 1 failed"
