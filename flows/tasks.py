"""Prefect tasks of the reach flows, cut at I/O boundaries: one per unit an operator would retry.

Importing this module has no side effects (deploy and workers import it); the heavy modules
(Scrapy runner, scorer, report) are imported inside the tasks.
"""

import datetime as dt
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from prefect import Task, get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun

from models import CRAWLED_PLATFORMS
from models import CrawledPlatform as Platform
from reach.settings import get_settings

PLATFORMS: list[Platform] = list(CRAWLED_PLATFORMS)
ReportGrouping = Literal["ambassador", "platform", "country", "cohort", "team"]
ReportFormat = Literal["html", "csv", "json", "xlsx", "table"]


class CrawlTaskFailed(RuntimeError):
    """A crawl that was not healthy; `outcome` is read back by the flow for the artifact."""

    outcome: "PlatformOutcome | None" = None


class CrawlUnhealthy(CrawlTaskFailed):
    """The platform answered but the crawl did not do its job (e.g. every account failed): a retry will not help."""


class CrawlUnreachable(CrawlTaskFailed):
    """The crawl got no answer at all or its process died: a retry later may help."""


@dataclass
class PlatformOutcome:
    """One platform's crawl as shown in the results artifact (plain values, picklable)."""

    platform: str
    ok: bool
    status: str
    crawl_run_id: int | None = None
    accounts_ok: int = 0
    accounts_failed: int = 0
    posts_new: int = 0
    posts_updated: int = 0
    snapshots: int = 0
    responses: int = 0
    seconds: float = 0.0
    errors: str = ""
    warnings: str = ""  # secondary requests that failed while the accounts stayed ok

    def row(self) -> dict[str, Any]:
        """The artifact table row."""
        row = asdict(self)
        row["seconds"] = round(self.seconds, 1)
        return row


def outcome_from_result(result: Any, problems: list[str]) -> PlatformOutcome:
    """A PlatformOutcome from reach.runs.CrawlResult and its problems."""
    failed = sorted({f"{a.error}: {a.reason}" for a in result.accounts if not a.ok})
    errors = problems + (
        [f"{result.accounts_failed} account(s) failed: " + "; ".join(failed[:3])]
        if failed and not problems
        else []
    )
    return PlatformOutcome(
        platform=result.platform,
        ok=not problems,
        status=result.status,
        crawl_run_id=result.crawl_run_id,
        accounts_ok=result.accounts_ok,
        accounts_failed=result.accounts_failed,
        posts_new=result.posts_new,
        posts_updated=result.posts_updated,
        snapshots=result.snapshots,
        responses=result.responses,
        seconds=result.seconds,
        errors="; ".join(errors),
        warnings="; ".join(filter(None, [*result.notices(), _warnings(result.accounts)])),
    )


def _warnings(accounts: list[Any], shown: int = 10) -> str:
    """ "@a@x: replies unavailable for 1 post: HTTP 404; ... and 3 more account(s)" """
    warned = [f"{a.account}: {a.warning_text()}" for a in accounts if a.warnings]
    more = f"; and {len(warned) - shown} more account(s)" if len(warned) > shown else ""
    return "; ".join(warned[:shown]) + more


def _retry_when_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only what a later attempt can fix: no answer at all, or a dead crawl process."""
    try:
        state.result()
    except CrawlUnreachable:
        return True
    except Exception:  # noqa: BLE001 - anything else (unknown slug, accounts not found, timeout) is final
        return False
    return False


@task(
    name="crawl_platform",
    task_run_name="crawl_platform {platform}",
    retries=0,
    retry_delay_seconds=60,
    retry_condition_fn=_retry_when_transient,
)
def crawl_platform(
    platform: str,
    ambassadors: list[str],
    lookback_days: int | None,
    timeout_seconds: float,
    hosts: list[str] | None = None,
) -> PlatformOutcome:
    """Crawl one platform in its own `scrapy crawl` process; raise when the crawl is unhealthy."""
    from prefect.runtime import flow_run

    from crawler.run import run_crawl

    logger = get_run_logger()
    last = [time.monotonic()]

    every = get_settings().progress_seconds

    def progress(pages: int, items: int) -> None:
        # The first stats line comes as the spider opens, before any page: nothing to tell yet.
        if pages and time.monotonic() - last[0] >= every:
            last[0] = time.monotonic()
            logger.info("%s: %d pages, %d items so far", platform, pages, items)

    # run_crawl enforces the timeout itself and kills the crawl's process group (a Prefect task
    # timeout could only interrupt this thread between two lines of the child's log).
    result = run_crawl(
        platform,
        ambassadors,
        lookback_days=lookback_days,
        flow_run_id=flow_run.id,
        timeout=timeout_seconds,
        on_progress=progress,
        hosts=hosts or (),
    )
    problems = result.problems()
    outcome = outcome_from_result(result, problems)
    logger.info("crawl run %s: %s", result.crawl_run_id, result.summary())
    for notice in result.notices():
        logger.warning("%s: %s", platform, notice)
    if problems:
        kind = CrawlUnreachable if result.responses == 0 or not result.stats else CrawlUnhealthy
        exc = kind(f"{platform}: " + "; ".join(problems))
        exc.outcome = outcome
        raise exc
    return outcome


@task(name="score_sentiment")
def score_sentiment(rescore: bool = False) -> dict[str, Any]:
    """Score the sentiment of every text not yet scored (local work: no retries)."""
    from reach.sentiment import score_pending

    summary = score_pending(rescore=rescore)
    get_run_logger().info(
        "sentiment: %d scored, %d not scored, %d already scored, %.1f s",
        summary.scored,
        sum(summary.not_scored.values()),
        summary.already_scored,
        summary.seconds,
    )
    return {
        "scored": summary.scored,
        "not_scored": dict(summary.not_scored),
        "already_scored": summary.already_scored,
        "texts_read": summary.texts_read,
        "seconds": round(summary.seconds, 2),
        "scorer": f"{summary.scorer} {summary.scorer_version}",
    }


@dataclass
class ReportFiles:
    """A built report and where it was written."""

    report: Any  # reach.report.Report
    paths: list[Path]


@task(name="build_reach_report")
def build_reach_report(
    since: dt.date, until: dt.date, by: str = "ambassador", formats: list[str] | None = None
) -> ReportFiles:
    """Build the reach report once and write it in each format under REACH_REPORTS_DIR."""
    from reach.report import build_report, default_report_path, write_report

    report = build_report(None, since, until, by=by)
    paths = [
        write_report(report, fmt, default_report_path(report, fmt))
        for fmt in formats or ["html", "csv"]
    ]
    get_run_logger().info(
        "report %s..%s by %s built in %.1f s: %s",
        since,
        until,
        by,
        report.build_seconds,
        ", ".join(str(p) for p in paths),
    )
    return ReportFiles(report, paths)
