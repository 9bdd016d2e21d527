"""Flow `nightly-reach`: crawl every platform, score sentiment, build the reach report, check the
alerts and send the daily digest.

With REACH_CRAWL_SHARDS=host the crawl fans out over Prefect workers (flows.shard): one child run
of the crawl-shard deployment per shard of hosts; a failed or crashed shard fails its accounts only.

One platform failing stops no other step; the run ends Failed, naming each failed platform and
why, once everything that could run has run. Importing this module has no side effects.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

from prefect import flow, get_run_logger
from pydantic import Field

from flows.alerts import check_alerts
from flows.artifacts import publish_crawl_artifacts
from flows.crawl import failure_message, lookback_label, run_crawls
from flows.digest import digest_note, send_digest_task
from flows.report import publish_report_artifacts, report_period
from flows.sentiment import publish_sentiment_artifact
from flows.shard import FanOutRefused, fan_out
from flows.tasks import PLATFORMS, build_reach_report, score_sentiment
from models import CrawledPlatform as Platform

ARTIFACT_PREFIX = "nightly-reach"


class NightlyFailed(RuntimeError):
    """A step of the nightly run failed; the message says which platform or step, and why."""


def _run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    return (
        f"nightly-reach {'+'.join(p.get('platforms') or PLATFORMS)} · "
        f"{lookback_label(p.get('lookback_days'))} · report {p.get('report_days', 30)}d"
    )


@flow(name="nightly-reach", flow_run_name=_run_name)
def nightly_reach(
    platforms: Annotated[Sequence[Platform], Field(min_length=1)] = Field(
        default=PLATFORMS,
        description="Platforms to crawl, concurrently.",
    ),
    lookback_days: Annotated[int | None, Field(ge=1, le=3650)] = Field(
        default=None,
        description="How many days back to fetch posts. Empty means REACH_LOOKBACK_DAYS (30).",
    ),
    crawl_timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = Field(
        default=90,
        description="Each platform's crawl is stopped (its process killed) after this long.",
    ),
    crawl_retries: Annotated[int, Field(ge=0, le=3)] = Field(
        default=1,
        description="Retries of a crawl that got no answer at all (network down). A crawl whose accounts "
        "failed is not retried: the platform answered.",
    ),
    report_days: Annotated[int, Field(ge=1, le=3660)] = Field(
        default=30,
        description="Days covered by the report.",
    ),
    report_until: dt.date | None = Field(  # noqa: B008 - Prefect reads the description from a Field default
        default=None,
        description="Last day of the report. Empty means today in REACH_TIMEZONE.",
    ),
    send_digest: bool = Field(
        default=True,
        description="Send the daily digest (the day before the report's last day) after the report.",
    ),
) -> dict[str, Any]:
    """Crawl each platform concurrently, then score sentiment, then build the reach report."""
    from reach.settings import get_settings

    logger = get_run_logger()
    notes = []
    if get_settings().crawl_shards == "host":
        try:
            fanned = fan_out(platforms, lookback_days, crawl_timeout_minutes, crawl_retries)
        except FanOutRefused as exc:  # before anything is crawled: one line saying why
            raise NightlyFailed(str(exc)) from None
        outcomes, failures = fanned.outcomes, list(fanned.failures)
        notes.append(
            f"Fanned out over {len(fanned.shards)} shard(s): "
            + "; ".join(f"{s['shard']} {s['state']} ({s['flow_run']})" for s in fanned.shards)
        )
    else:
        outcomes = run_crawls(platforms, [], lookback_days, crawl_timeout_minutes, crawl_retries)
        failures = [m for m in [failure_message(outcomes)] if m]

    # Scoring and the report still run after a failed crawl: the other platforms' data is fresh.
    scored = score_sentiment(False, return_state=True)
    counts: dict[str, Any] | None = None
    if scored.is_completed():
        counts = scored.result()
        publish_sentiment_artifact(counts, key=f"{ARTIFACT_PREFIX}-sentiment")
        notes.append(
            f"Sentiment: {counts['scored']} text(s) scored, "
            f"{sum(counts['not_scored'].values())} not scored (other language or no text)."
        )
    else:
        failures.append(f"sentiment scoring: {scored.message}")

    since, until = report_period(report_days, report_until)
    built = build_reach_report(since, until, "ambassador", ["html", "csv"], return_state=True)
    paths: list[str] = []
    report_seconds = None
    if built.is_completed():
        files = built.result()
        report_seconds = round(files.report.build_seconds, 2)
        publish_report_artifacts(files, key_prefix=f"{ARTIFACT_PREFIX}-report")
        paths = [str(p) for p in files.paths]
        notes.append(f"Report {since} to {until}: " + ", ".join(f"`{p}`" for p in paths))
    else:
        failures.append(f"reach report: {built.message}")

    # The news after the numbers: neither step can fail the crawls or the report.
    alerted = check_alerts(return_state=True)
    if alerted.is_completed():
        raised = alerted.result()
        if raised:
            notes.append(f"Alerts raised: {len(raised)} (" + "; ".join(raised[:5]) + ")")
    else:
        notes.append(f"**Alerts not checked:** {alerted.message}")
    digest_results: list[dict[str, Any]] = []
    if send_digest:
        day = until - dt.timedelta(days=1)
        sent = send_digest_task(day, day, return_state=True)
        if sent.is_completed():
            digest_results = sent.result()
            notes.append(digest_note(digest_results))
        else:
            notes.append(f"Digest: **not sent**: {sent.message}")

    if failures:
        notes.insert(0, "**Run failed:** " + "; ".join(failures))
    publish_crawl_artifacts(ARTIFACT_PREFIX, f"Nightly reach {dt.date.today()}", outcomes, notes)
    if failures:
        raise NightlyFailed("; ".join(failures))
    logger.info("nightly run complete: %s", "; ".join(notes))
    return {
        "crawls": [o.row() for o in outcomes],
        "sentiment": counts,
        "report": paths,
        "report_seconds": report_seconds,
        "digest": digest_results,
    }
