"""Flow `reach-report`: build the reach report of a period and publish its headline.

Importing this module has no side effects (deploy and workers import it).
"""

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from flows.tasks import ReportFiles, ReportFormat, ReportGrouping, build_reach_report
from reach.settings import get_settings


def report_period(
    days: int, until: dt.date | None = None, timezone: str | None = None
) -> tuple[dt.date, dt.date]:
    """`days` whole days ending `until` (default today in the configured time zone)."""
    if until is None:
        from zoneinfo import ZoneInfo

        until = dt.datetime.now(ZoneInfo(timezone or get_settings().timezone)).date()
    return until - dt.timedelta(days=days - 1), until


def publish_report_artifacts(files: ReportFiles, key_prefix: str = "reach-report") -> str:
    """Headline and top-posts tables plus a markdown summary linking to the files."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from reach.report import artifact_tables, summary_markdown

    tables = artifact_tables(files.report)
    create_table_artifact(
        key=f"{key_prefix}-headline",
        table=tables["headline"],
        description="The report's headline numbers",
    )
    create_table_artifact(
        key=f"{key_prefix}-top-posts",
        table=tables["top_posts"],
        description="The period's most engaging posts",
    )
    create_table_artifact(
        key=f"{key_prefix}-top-ambassadors",
        table=tables["top_ambassadors"],
        description="Ambassadors ranked by engagements, then new followers",
    )
    from reach.dashboard import period_url

    # A path on the worker opens in no browser: the link goes to the dashboard when it is known.
    dashboard = get_settings().dashboard_url
    link = period_url(dashboard, files.report.period) if dashboard else None
    markdown = summary_markdown(files.report, link=link)
    if files.paths:
        markdown += "\nFiles on the worker:\n" + "".join(f"\n- `{p}`" for p in files.paths)
    if not dashboard:
        markdown += "\n\nSet REACH_DASHBOARD_URL to link this summary to the dashboard.\n"
    create_markdown_artifact(
        key=f"{key_prefix}-summary",
        markdown=markdown,
        description="What the report covers and its headline numbers",
    )
    return markdown


def _run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    since, until = p.get("since"), p.get("until")
    span = f"{since}..{until}" if since and until else f"{p.get('days', 30)}d to {until or 'today'}"
    return f"reach-report {span} · by {p.get('by', 'ambassador')}"


@flow(name="reach-report", flow_run_name=_run_name)
def reach_report(
    days: Annotated[int, Field(ge=1, le=3660)] = Field(
        default=30,
        description="Length of the period in days, ending on `until` (ignored when `since` is set).",
    ),
    until: dt.date | None = Field(  # noqa: B008 - Prefect reads the description from a Field default
        default=None,
        description="Last day of the period, inclusive. Empty means today in REACH_TIMEZONE.",
    ),
    since: dt.date | None = Field(  # noqa: B008 - Prefect reads the description from a Field default
        default=None,
        description="First day of the period, inclusive. Empty means `days` days before `until`.",
    ),
    by: ReportGrouping = Field(  # noqa: B008 - Prefect reads the description from a Field default
        default="ambassador",
        description="One row per ambassador, platform, country, cohort or team.",
    ),
    formats: Annotated[Sequence[ReportFormat], Field(min_length=1)] = Field(
        default=["html", "csv"],
        description="Files written under REACH_REPORTS_DIR.",
    ),
) -> dict[str, Any]:
    """Build the reach report of a period, write its files and publish its headline."""
    start, end = report_period(days, until)
    if since is not None:
        start = since
    files = build_reach_report(start, end, by, list(formats))
    publish_report_artifacts(files)
    return {"since": str(start), "until": str(end), "files": [str(p) for p in files.paths]}
