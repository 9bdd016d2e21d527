"""The flows' and tasks' logic as units: task functions through `.fn()`, flows on Prefect's test
harness (no server), the crawl faked where the task imports it (`crawler.run.run_crawl`).

The server tests (test_deployments.py, test_ui_screenshot.py) keep deployments and UI runs; the
real crawls under a flow are in test_nightly.py.
"""

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.logging import disable_run_logger
from prefect.states import Completed, Failed, State
from sqlmodel import Session

from flows.artifacts import results_table, summary_markdown
from flows.crawl import CrawlsFailed, crawl, failure_message, lookback_label, run_crawls
from flows.linkedin import (
    InboxOutcome,
    LinkedInImportFailed,
    _free_name,
    import_linkedin,
    inbox_files,
    outcomes_markdown,
)
from flows.report import reach_report, report_period
from flows.tasks import (
    CrawlUnhealthy,
    CrawlUnreachable,
    PlatformOutcome,
    _retry_when_transient,
    build_reach_report,
    crawl_platform,
    outcome_from_result,
    score_sentiment,
)
from reach.db import get_engine
from reach.linkedin.samples import creator_export_name, write_creator_export
from reach.report import FollowerGain, RunHighlights, TopPost
from reach.runs import AccountResult, CrawlResult
from reach.settings import get_settings
from tests.reach import factories as f

SQLITE_ONLY = pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # the SQL is tested on both in tests/reach


# --- fakes ------------------------------------------------------------------------------------


def account_result(
    account: str = "@amara@mastodon.example",
    ok: bool = True,
    error: str | None = None,
    reason: str | None = None,
    posts_new: int = 3,
    warnings: list[dict[str, Any]] | None = None,
) -> AccountResult:
    return AccountResult(
        account, "amara-okafor", ok, error, reason, posts_new, 1, posts_new + 1, warnings or []
    )


def crawl_result(
    platform: str = "mastodon",
    status: str = "succeeded",
    accounts: list[AccountResult] | None = None,
    responses: int = 12,
    crawl_run_id: int = 41,
    exit_code: int = 0,
) -> CrawlResult:
    accounts = [account_result()] if accounts is None else accounts
    stats = (
        {"downloader/response_count": responses, "reach/accounts": len(accounts)}
        if responses
        else {}
    )
    return CrawlResult(platform, crawl_run_id, status, exit_code, 2.345, stats, accounts)


def every_account_failed(platform: str = "bluesky", crawl_run_id: int = 42) -> CrawlResult:
    return crawl_result(
        platform,
        "failed",
        [
            account_result("@a", ok=False, error="AccountNotFound", reason="HTTP 404", posts_new=0),
            account_result("@b", ok=False, error="AccountNotFound", reason="HTTP 404", posts_new=0),
        ],
        crawl_run_id=crawl_run_id,
    )


class FakeCrawls:
    """Stands in for crawler.run.run_crawl: one answer (a result, or an exception to raise) per call."""

    def __init__(self, answers: dict[str, list[CrawlResult | BaseException]]) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def __call__(self, platform: str, ambassadors: list[str], **kwargs: Any) -> CrawlResult:
        self.calls.append({"platform": platform, "ambassadors": ambassadors, **kwargs})
        answer = self.answers[platform].pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def platforms(self) -> list[str]:
        return [c["platform"] for c in self.calls]


@pytest.fixture
def fake_crawls(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[Any]]], FakeCrawls]:
    def install(answers: dict[str, list[Any]]) -> FakeCrawls:
        fake = FakeCrawls(answers)
        monkeypatch.setattr("crawler.run.run_crawl", fake)  # crawl_platform imports it when it runs
        return fake

    return install


@pytest.fixture
def no_run_logger() -> Iterator[None]:
    """A task's `.fn()` outside a run: its get_run_logger() gets a silent logger."""
    with disable_run_logger():
        yield


def artifacts_of(state: State[Any]) -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    # A table artifact's data comes back as JSON text.
    return {
        a.key: json.loads(a.data) if a.type == "table" and isinstance(a.data, str) else a.data
        for a in found
    }


def flow_run_name(state: State[Any]) -> str:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id).name


# --- flows/tasks.py: crawl_platform, outcome_from_result, the retry condition --------------------


def test_a_healthy_crawl_returns_its_outcome_with_the_crawls_counts(
    fake_crawls: Callable[..., FakeCrawls],
    no_run_logger: None,
) -> None:
    fake = fake_crawls({"mastodon": [crawl_result()]})

    outcome = crawl_platform.fn("mastodon", ["amara-okafor"], 7, 600.0)

    assert outcome.ok and outcome.status == "succeeded" and outcome.crawl_run_id == 41
    assert (outcome.accounts_ok, outcome.posts_new, outcome.snapshots, outcome.responses) == (
        1,
        3,
        4,
        12,
    )
    [call] = fake.calls
    assert (call["platform"], call["ambassadors"], call["lookback_days"], call["timeout"]) == (
        "mastodon",
        ["amara-okafor"],
        7,
        600.0,
    )


def test_a_crawl_whose_every_account_failed_raises_unhealthy_carrying_its_outcome(
    fake_crawls: Callable[..., FakeCrawls],
    no_run_logger: None,
) -> None:
    fake_crawls({"bluesky": [every_account_failed()]})

    with pytest.raises(
        CrawlUnhealthy, match=r"^bluesky: every account failed \(AccountNotFound: HTTP 404\)"
    ) as err:
        crawl_platform.fn("bluesky", [], None, 60.0)

    outcome = err.value.outcome  # type: ignore[attr-defined]
    assert not outcome.ok and outcome.accounts_failed == 2 and outcome.crawl_run_id == 42


def test_a_crawl_that_got_no_answer_raises_unreachable(
    fake_crawls: Callable[..., FakeCrawls],
    no_run_logger: None,
) -> None:
    fake_crawls({"feed": [crawl_result("feed", "failed", responses=0)]})

    with pytest.raises(CrawlUnreachable, match="^feed: "):
        crawl_platform.fn("feed", [], None, 60.0)


def test_a_crawl_process_that_died_before_writing_stats_is_unreachable(
    fake_crawls: Callable[..., FakeCrawls],
    no_run_logger: None,
) -> None:
    fake_crawls({"mastodon": [crawl_result(responses=0, exit_code=-9)]})

    with pytest.raises(CrawlUnreachable, match="killed by SIGKILL"):
        crawl_platform.fn("mastodon", [], None, 60.0)


def test_outcome_of_a_partial_crawl_names_up_to_three_distinct_account_failures() -> None:
    failures = [
        account_result(
            f"@x{i}", ok=False, error="AccountNotFound", reason=f"HTTP 40{i}", posts_new=0
        )
        for i in range(5)
    ] + [account_result("@dup", ok=False, error="AccountNotFound", reason="HTTP 400")]
    result = crawl_result(status="partial", accounts=[account_result(), *failures])

    outcome = outcome_from_result(result, result.problems())

    assert outcome.ok and outcome.status == "partial"
    assert outcome.errors == (
        "6 account(s) failed: AccountNotFound: HTTP 400; AccountNotFound: HTTP 401; "
        "AccountNotFound: HTTP 402"
    )


def test_outcome_of_an_unhealthy_crawl_gives_its_problems_not_the_account_list() -> None:
    outcome = outcome_from_result(every_account_failed(), ["rows were lost: 3"])

    assert not outcome.ok and outcome.errors == "rows were lost: 3"


def test_outcome_warnings_list_ten_accounts_and_count_the_rest() -> None:
    warning = [{"what": "replies", "count": 1, "reason": "HTTP 404"}]
    result = crawl_result(accounts=[account_result(f"@a{i}", warnings=warning) for i in range(12)])

    warnings = outcome_from_result(result, []).warnings

    assert warnings.startswith("@a0: replies unavailable for 1 post: HTTP 404; @a1: ")
    assert warnings.count("replies unavailable") == 10 and warnings.endswith(
        "; and 2 more account(s)"
    )


def test_only_a_crawl_that_got_no_answer_is_retried() -> None:
    def retried(state: State[Any]) -> bool:
        return _retry_when_transient(crawl_platform, None, state)  # type: ignore[arg-type]

    assert retried(Failed(data=CrawlUnreachable("mastodon: 0 responses for 3 account(s)")))
    assert not retried(Failed(data=CrawlUnhealthy("mastodon: every account failed")))
    assert not retried(Failed(data=TimeoutError("mastodon: stopped after 60 s")))
    assert not retried(Completed(data=PlatformOutcome("mastodon", ok=True, status="succeeded")))


def test_results_table_rows_round_seconds_for_reading() -> None:
    [row] = results_table([outcome_from_result(crawl_result(), [])])

    assert row["seconds"] == 2.3 and row["platform"] == "mastodon" and row["ok"] is True


# --- flows/tasks.py: score_sentiment and build_reach_report, on a real database ----------------


@SQLITE_ONLY
def test_score_sentiment_scores_new_texts_once(db_url: str, no_run_logger: None) -> None:
    with Session(get_engine(db_url)) as session:
        acc = f.account(session, f.ambassador(session, "amara-okafor"))
        f.post(session, acc, f.at("2026-03-01"), text="What a wonderful, happy launch day!")
        f.post(session, acc, f.at("2026-03-01"), text=None)
        session.commit()

    first = score_sentiment.fn()
    again = score_sentiment.fn()

    assert first["scored"] == 1 and first["scorer"].startswith("textblob")
    assert (again["scored"], again["already_scored"]) == (0, 1)


@SQLITE_ONLY
def test_build_reach_report_writes_each_format_under_the_reports_dir(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_run_logger: None,
) -> None:
    monkeypatch.setenv("REACH_REPORTS_DIR", str(tmp_path / "reports"))
    get_settings.cache_clear()
    with Session(get_engine(db_url)) as session:
        f.seed_case(session)

    files = build_reach_report.fn(f.SEED_SINCE, f.SEED_UNTIL, "platform", ["csv", "json"])

    assert [p.name for p in files.paths] == [
        "reach-report-2026-03-01-2026-03-31-by-platform.csv",
        "reach-report-2026-03-01-2026-03-31-by-platform.json",
    ]
    assert all(p.parent == tmp_path / "reports" and p.stat().st_size > 0 for p in files.paths)
    assert files.report.headline.posts == 2 and files.report.by == "platform"


# --- flows/crawl.py ---------------------------------------------------------------------------


def test_failure_message_names_each_failed_platform_and_why() -> None:
    outcomes = [
        PlatformOutcome("mastodon", ok=True, status="succeeded"),
        PlatformOutcome("bluesky", ok=False, status="failed", errors="robots.txt forbids /xrpc"),
        PlatformOutcome("feed", ok=False, status="interrupted"),
    ]

    assert failure_message(outcomes) == (
        "2 of 3 crawl(s) failed: bluesky: robots.txt forbids /xrpc; feed: interrupted"
    )
    assert failure_message(outcomes[:1]) is None


def test_lookback_label_falls_back_to_the_configured_lookback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REACH_LOOKBACK_DAYS", "14")
    get_settings.cache_clear()

    assert (lookback_label(None), lookback_label(3)) == ("14d", "3d")


def test_one_failed_or_crashed_crawl_stops_no_other_and_each_outcome_says_why(
    harness: None,
    fake_crawls: Callable[..., FakeCrawls],
) -> None:
    fake = fake_crawls(
        {
            "mastodon": [crawl_result()],
            "bluesky": [every_account_failed()],
            "feed": [RuntimeError("feed: scrapy is not installed")],
        }
    )

    @flow
    def collect() -> list[PlatformOutcome]:
        return run_crawls(["mastodon", "bluesky", "feed", "mastodon"], ["amara-okafor"], 7, 1.5)

    outcomes = collect()

    assert sorted(fake.platforms()) == ["bluesky", "feed", "mastodon"]  # each platform once
    assert all(c["timeout"] == 90.0 and c["lookback_days"] == 7 for c in fake.calls)
    assert [(o.platform, o.ok) for o in outcomes] == [
        ("mastodon", True),
        ("bluesky", False),
        ("feed", False),
    ]
    bluesky, feed = outcomes[1], outcomes[2]
    assert (
        bluesky.errors == "every account failed (AccountNotFound: HTTP 404)"
    )  # without the platform prefix
    assert (bluesky.accounts_failed, bluesky.crawl_run_id) == (
        2,
        42,
    )  # the failed task's own outcome
    assert (feed.status, feed.errors, feed.crawl_run_id) == (
        "failed",
        "scrapy is not installed",
        None,
    )


def test_a_crawl_that_got_no_answer_is_retried_and_one_that_failed_is_not(
    harness: None,
    fake_crawls: Callable[..., FakeCrawls],
) -> None:
    fake = fake_crawls(
        {
            "mastodon": [crawl_result(status="failed", responses=0), crawl_result()],
            "bluesky": [every_account_failed(), crawl_result("bluesky")],
        }
    )

    @flow
    def with_one_retry() -> list[PlatformOutcome]:
        return run_crawls(["mastodon", "bluesky"], [], None, 1, retries=1)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(crawl_platform, "retry_delay_seconds", 0)
        mastodon, bluesky = with_one_retry()

    assert fake.platforms().count("mastodon") == 2 and mastodon.ok
    assert fake.platforms().count("bluesky") == 1 and not bluesky.ok


@SQLITE_ONLY
def test_crawl_flow_fails_naming_the_failed_platform_and_publishes_the_runs_figures(
    harness: None,
    db_url: str,
    fake_crawls: Callable[..., FakeCrawls],
) -> None:
    with Session(get_engine(db_url)) as session:
        amara = f.ambassador(session, "amara-okafor", "Amara Okafor")
        acc = f.account(session, amara)
        before, now = f.run(session, f.at("2026-03-01")), f.run(session, f.at("2026-03-02"))
        f.followers(session, acc, before, 100)
        f.followers(session, acc, now, 112)
        p = f.post(session, acc, f.at("2026-03-01"), url="https://mastodon.example/@amara/1")
        f.post_snapshot(session, p, now, likes=9, comments=1)  # reposts not read: n/a, not 0
        session.commit()
        now_id = now.id
    fake_crawls(
        {"mastodon": [crawl_result(crawl_run_id=now_id)], "bluesky": [every_account_failed()]}
    )

    state = crawl(platforms=["mastodon", "bluesky"], lookback_days=7, return_state=True)

    assert state.is_failed()
    with pytest.raises(
        CrawlsFailed, match=r"^1 of 2 crawl\(s\) failed: bluesky: every account failed"
    ):
        state.result()
    assert flow_run_name(state) == "crawl mastodon+bluesky · all ambassadors · 7d"
    artifacts = artifacts_of(state)
    summary = str(artifacts["crawl-summary"])
    assert "**Failed: bluesky**" in summary
    assert (
        "| Amara Okafor | mastodon | 10 | 9 | 1 | n/a | [link](https://mastodon.example/@amara/1) |"
        in summary
    )
    assert "+12 followers over 1 account(s) crawled before." in summary


@SQLITE_ONLY
def test_crawl_flow_fails_at_once_on_an_unknown_ambassador(
    harness: None,
    db_url: str,
    fake_crawls: Callable[..., FakeCrawls],
) -> None:
    fake = fake_crawls({"mastodon": [crawl_result()]})

    state = crawl(platforms=["mastodon"], ambassadors=["nobody-here"], return_state=True)

    assert state.is_failed() and "unknown ambassador(s): nobody-here" in (state.message or "")
    assert fake.calls == []


# --- flows/artifacts.py -----------------------------------------------------------------------


def top_post(
    engagements: int, likes: int | None, reposts: int | None, url: str | None = "https://x/1"
) -> TopPost:
    return TopPost(
        id=1,
        ambassador="Li Na",
        ambassador_slug="li-na",
        platform="bluesky",
        source="crawled",
        url=url,
        published_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        text="",
        likes=likes,
        comments=None,
        reposts=reposts,
        quotes=None,
        views=None,
        impressions=None,
        engagements=engagements,
        engagements_growth=None,
        engagement_rate=None,
        followers_at_post=None,
        approximate=False,
    )


def highlights(**kw: Any) -> RunHighlights:
    return RunHighlights(
        **{
            "top_posts": [],
            "posts_seen": 0,
            "posts_with_engagements": 0,
            "followers_gained": None,
            "accounts_compared": 0,
            "top_gainers": [],
            **kw,
        }
    )


def test_summary_shows_missing_counts_as_na_never_zero() -> None:
    markdown = summary_markdown(
        "Crawl",
        [PlatformOutcome("bluesky", ok=True, status="succeeded")],
        highlights(
            top_posts=[top_post(7, likes=7, reposts=None, url=None)],
            posts_seen=1,
            posts_with_engagements=1,
        ),
    )

    assert "| Li Na | bluesky | 7 | 7 | n/a | n/a |  |" in markdown
    assert "| ambassador | platform | Engagements | Likes | Comments | Reposts | post |" in markdown


def test_summary_says_how_many_posts_seen_had_no_count_to_rank_by() -> None:
    markdown = summary_markdown("Crawl", [], highlights(posts_seen=4, posts_with_engagements=0))

    assert (
        "0 of 4 post(s) seen have engagements; the others' platforms publish no count (n/a)."
        in markdown
    )
    assert "No post was seen." not in markdown and "No crawl ran." in markdown


def test_summary_of_a_first_crawl_has_no_followers_gained_rather_than_zero() -> None:
    markdown = summary_markdown("Crawl", [], highlights())

    assert "First crawl of these accounts: nothing to compare with yet." in markdown
    assert "+0" not in markdown and "No post was seen." in markdown


def test_summary_lists_failures_warnings_followers_gained_and_extra_notes() -> None:
    outcomes = [
        PlatformOutcome(
            "mastodon",
            ok=True,
            status="succeeded",
            accounts_ok=3,
            posts_new=5,
            warnings="@a@x: replies unavailable for 1 post: HTTP 404",
        ),
        PlatformOutcome("feed", ok=False, status="failed", errors="0 responses for 2 account(s)"),
    ]
    markdown = summary_markdown(
        "Nightly reach",
        outcomes,
        highlights(
            followers_gained=-3,
            accounts_compared=2,
            top_gainers=[
                FollowerGain("Li Na", "bluesky", 4),
                FollowerGain("Amara Okafor", "mastodon", -7),
            ],
        ),
        extra=["**Run failed:** feed"],
    )

    assert markdown.startswith(
        "# Nightly reach\n\n**Failed: feed**\n- **feed**: 0 responses for 2 account(s)\n"
    )
    assert "- **mastodon**: @a@x: replies unavailable for 1 post: HTTP 404" in markdown
    assert "| mastodon | ok (succeeded) | 3 / 0 | 5 / 0 | 0 |" in markdown
    assert "| feed | **failed** (failed) |" in markdown
    assert "## New followers (net) since the previous crawl" in markdown
    assert (
        "-3 followers over 2 account(s) crawled before.\n- Li Na (bluesky): +4\n- Amara Okafor (mastodon): -7"
        in markdown
    )
    assert markdown.endswith("**Run failed:** feed\n")


# --- flows/report.py --------------------------------------------------------------------------


def test_report_period_is_whole_days_ending_on_until() -> None:
    assert report_period(7, dt.date(2026, 3, 31)) == (dt.date(2026, 3, 25), dt.date(2026, 3, 31))
    assert report_period(1, dt.date(2026, 3, 31)) == (dt.date(2026, 3, 31), dt.date(2026, 3, 31))


def test_report_period_ends_today_in_the_given_time_zone() -> None:
    # Kiritimati (UTC+14) and Pago Pago (UTC-11) are on different dates for most of each day.
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        today = dt.datetime.now(ZoneInfo(zone)).date()
        assert report_period(30, timezone=zone) == (today - dt.timedelta(days=29), today)


@SQLITE_ONLY
def test_reach_report_flow_writes_the_files_and_publishes_the_headline(
    harness: None,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REACH_REPORTS_DIR", str(tmp_path / "reports"))
    get_settings.cache_clear()
    with Session(get_engine(db_url)) as session:
        f.seed_case(session)

    state = reach_report(
        since=f.SEED_SINCE, until=f.SEED_UNTIL, by="platform", formats=["csv"], return_state=True
    )

    result = state.result()
    assert (result["since"], result["until"]) == ("2026-03-01", "2026-03-31")
    assert [Path(p).name for p in result["files"]] == [
        "reach-report-2026-03-01-2026-03-31-by-platform.csv"
    ]
    assert flow_run_name(state) == "reach-report 2026-03-01..2026-03-31 · by platform"
    artifacts = artifacts_of(state)
    headline = {row["metric"]: row["value"] for row in artifacts["reach-report-headline"]}
    assert headline["posts"] == 2 and headline["engagements"] == 31000 + 2900 + 40 + 3 + 7
    assert result["files"][0] in str(artifacts["reach-report-summary"])


def test_report_summary_links_to_the_dashboard_page_of_its_period(
    harness: None,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REACH_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("REACH_DASHBOARD_URL", "https://reach.example.org/")
    get_settings.cache_clear()
    with Session(get_engine(db_url)) as session:
        f.seed_case(session)

    state = reach_report(since=f.SEED_SINCE, until=f.SEED_UNTIL, formats=["csv"], return_state=True)

    summary = str(artifacts_of(state)["reach-report-summary"])
    page = "https://reach.example.org/?range=custom&since=2026-03-01&until=2026-03-31"
    assert f"[{page}]({page})" in summary
    assert "Set REACH_DASHBOARD_URL" not in summary


# --- flows/linkedin.py ------------------------------------------------------------------------


def test_inbox_files_leave_out_hidden_half_downloaded_and_sorted_away_files(tmp_path: Path) -> None:
    for name in (
        "b.xlsx",
        "a.xlsx",
        ".hidden.xlsx",
        "~$a.xlsx",
        "c.xlsx.crdownload",
        "d.part",
        "a.xlsx.error.txt",
    ):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "imported").mkdir()
    (tmp_path / "imported" / "old.xlsx").write_bytes(b"x")

    assert [p.name for p in inbox_files(tmp_path)] == ["a.xlsx", "b.xlsx"]
    assert inbox_files(tmp_path / "missing") == []


def test_a_file_sorted_away_never_overwrites_an_earlier_one_of_the_same_name(
    tmp_path: Path,
) -> None:
    (tmp_path / "export.xlsx").write_bytes(b"1")
    (tmp_path / "export (1).xlsx").write_bytes(b"2")

    assert _free_name(tmp_path, "export.xlsx") == tmp_path / "export (2).xlsx"
    assert _free_name(tmp_path, "new.xlsx") == tmp_path / "new.xlsx"


def test_import_summary_keeps_each_message_on_its_table_row(tmp_path: Path) -> None:
    outcomes = [
        InboxOutcome("a.xlsx", True, "a.xlsx: creator export for Li Na: 3 posts", tmp_path),
        InboxOutcome(
            "b.xlsx", False, "b.xlsx: sheet TOP POSTS: a | in a cell\nand a line", tmp_path
        ),
    ]

    markdown = outcomes_markdown(tmp_path, outcomes)

    assert "2 file(s): 1 imported, 1 failed." in markdown
    assert "| `a.xlsx` | imported | creator export for Li Na: 3 posts |" in markdown
    assert "| `b.xlsx` | **failed** | sheet TOP POSTS: a \\| in a cell and a line |" in markdown


@SQLITE_ONLY
def test_import_linkedin_sorts_the_inbox_and_fails_naming_the_bad_file_after_the_good_one(
    harness: None,
    db_url: str,
    tmp_path: Path,
) -> None:
    with Session(get_engine(db_url)) as session:
        f.ambassador(session, "ngozi-eze", "Ngozi Eze")
        session.commit()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    start, end = dt.date(2026, 1, 1), dt.date(2026, 1, 7)
    days = [start + dt.timedelta(n) for n in range(7)]
    good = write_creator_export(
        inbox / creator_export_name("Ngozi Eze", start, end, "older"),
        start,
        end,
        daily={d: (100, 5) for d in days},
        new_followers={d: 2 for d in days},
        total_followers=1000,
        members_reached=500,
    )
    (inbox / "broken.xlsx").write_bytes(b"not a workbook")
    (inbox / "later.xlsx.crdownload").write_bytes(b"still downloading")

    state = import_linkedin(folder=str(inbox), return_state=True)

    assert state.is_failed()
    with pytest.raises(LinkedInImportFailed, match=r"^1 of 2 file\(s\) failed .*broken\.xlsx"):
        state.result()
    assert (inbox / "imported" / good.name).exists() and not good.exists()
    assert (inbox / "failed" / "broken.xlsx").exists()
    assert (
        (inbox / "failed" / "broken.xlsx.error.txt")
        .read_text(encoding="utf-8")
        .startswith("broken.xlsx")
    )
    assert (inbox / "later.xlsx.crdownload").exists()  # left for the next run
    assert flow_run_name(state) == f"import-linkedin {inbox}"
    assert "1 imported, 1 failed" in str(artifacts_of(state)["linkedin-import"])


# --- flows/digest.py --------------------------------------------------------------------------


def test_digest_flow_sends_the_period_and_fails_naming_a_target_that_refused(
    harness: None, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.digest import digest
    from tests.receivers import JsonReceiver

    with Session(get_engine(db_url)) as session:
        f.seed_case(session)
    good, refusing = JsonReceiver("127.0.0.7"), JsonReceiver("127.0.0.8", status=500)
    try:
        monkeypatch.setenv("REACH_NOTIFY_URLS", good.url)
        get_settings.cache_clear()
        sent = digest(since=f.SEED_SINCE, until=f.SEED_UNTIL, return_state=True)
        assert sent.is_completed() and [r["ok"] for r in sent.result()] == [True]
        assert "31,000" in good.received[0]["message"]

        monkeypatch.setenv("REACH_NOTIFY_URLS", refusing.url)
        get_settings.cache_clear()
        refused = digest(since=f.SEED_SINCE, until=f.SEED_UNTIL, return_state=True)
        assert refused.is_failed()
        assert refused.message is not None and "**not sent** to json://127.0.0.8" in refused.message
    finally:
        good.stop()
        refusing.stop()
