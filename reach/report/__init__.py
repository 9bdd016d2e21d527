"""The reach report: build the data once, render it as a table, CSV, JSON, XLSX or HTML.

Public API (CLI, `make demo`, Prefect flows): `build_report`, `write_report`,
`artifact_tables`, `summary_markdown`, `print_top_ambassadors`, and `run_highlights` (what one
flow run's crawls saw).
"""

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from reach.report.build import build_report
from reach.report.highlights import FollowerGain, RunHighlights, run_highlights
from reach.report.model import Report, TopPost, entity_dict, top_post_dict
from reach.report.render import (
    FORMATS,
    fmt_counted,
    fmt_int,
    is_empty,
    render_csv,
    render_json,
    render_table,
)


def write_report(report: Report, fmt: str, path: str | Path, bom: bool = True) -> Path:
    """Write the report in one format (table, csv, json, xlsx, html) to a file; returns the path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "table":
        path.write_text(
            render_table(report, Console(width=220, record=True, file=io.StringIO())),
            encoding="utf-8",
        )
    elif fmt == "csv":
        path.write_text(render_csv(report, bom=bom), encoding="utf-8")
    elif fmt == "json":
        path.write_text(render_json(report), encoding="utf-8")
    elif fmt == "xlsx":
        from reach.report.render import write_xlsx

        write_xlsx(report, path)
    else:
        from reach.report.html import render_html

        path.write_text(render_html(report), encoding="utf-8")
    return path


def default_report_path(report: Report, fmt: str, directory: str | Path | None = None) -> Path:
    """reports_dir/reach-report-<since>-<until>-by-<group>.<ext>."""
    if directory is None:
        from reach.settings import get_settings

        directory = get_settings().reports_dir
    ext = "txt" if fmt == "table" else fmt
    name = f"reach-report-{report.period.since}-{report.period.until}-by-{report.by}.{ext}"
    return Path(directory) / name


def artifact_tables(report: Report, n: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Headline numbers, top posts and top ambassadors as plain lists of dicts (table artifacts)."""
    h = report.headline
    headline: list[dict[str, Any]] = [
        {"metric": "posts", "value": h.posts, "covers": f"{h.posts} posts"},
        {
            "metric": "engagements",
            "value": h.engagements,
            "covers": f"{h.engagements_n} of {h.posts} posts",
        },
        {
            "metric": "new followers (net)",
            "value": h.new_followers,
            "covers": f"{h.new_followers_n} of {h.accounts} accounts",
        },
        {
            "metric": "potential reach (estimate)",
            "value": h.potential_reach,
            "covers": "followers of the accounts that posted",
        },
        {"metric": "views", "value": h.views, "covers": f"{h.views_n} of {h.posts} posts"},
    ]
    posts = [
        {
            k: v
            for k, v in top_post_dict(p).items()
            if k
            in (
                "ambassador",
                "platform",
                "source",
                "url",
                "published_at",
                "likes",
                "comments",
                "reposts",
                "views",
                "engagements",
                "engagements_growth",
            )
        }
        for p in report.top_posts[:n]
    ]
    ambassadors = [
        {
            k: v
            for k, v in entity_dict(r, report).items()
            if k
            in (
                "name",
                "country",
                "sources",
                "posts",
                "engagements",
                "new_followers",
                "followers",
                "potential_reach",
                "top_post_url",
            )
        }
        for r in top_ambassadors(report, n)
    ]
    return {"headline": headline, "top_posts": posts, "top_ambassadors": ambassadors}


def top_ambassadors(report: Report, n: int = 10) -> list[Any]:
    """Ambassadors ranked by engagements, then new followers."""
    return sorted(
        report.ambassadors, key=lambda r: (-(r.engagements or 0), -(r.new_followers or 0), r.key)
    )[:n]


def summary_markdown(report: Report, link: str | None = None) -> str:
    """A markdown summary: period meaning, headline numbers, link to the file (markdown artifact)."""
    lines = [
        f"# Reach {report.period.since} to {report.period.until}",
        "",
        report.meaning,
        "",
        "| metric | value | covers |",
        "|---|---:|---|",
    ]
    for r in artifact_tables(report)["headline"]:
        lines.append(f"| {r['metric']} | {fmt_int(r['value'])} | {r['covers']} |")
    if link:
        lines += ["", f"On the dashboard: [{link}]({link})"]
    return "\n".join(lines) + "\n"


def print_top_ambassadors(report: Report, n: int = 10, console: Console | None = None) -> None:
    """The top-n ambassadors table printed by `make demo` (new followers, engagements, top post).

    Each column is as wide as its widest cell (headers wrap) and the top post's URL is shortened
    to what is left, so the table fits the console and no number is cut.
    """
    console = console or Console()
    rows = [
        (
            str(i),
            row.name,
            fmt_counted(row.new_followers, row.new_followers_n, row.accounts, "accounts"),
            fmt_counted(row.engagements, row.engagements_n, row.posts),
            f"{fmt_int(row.top_post_engagements)} · {row.top_post_url}"
            if row.top_post_url
            else "—",
        )
        for i, row in enumerate(top_ambassadors(report, n), 1)
    ]
    headers = ("#", "Ambassador", "New followers (net)", "Engagements", "Top post")
    widths = [
        max([max(len(word) for word in header.split()), *(len(r[i]) for r in rows)])
        for i, header in enumerate(headers[:-1])
    ]
    left = max(12, console.width - sum(widths) - 3 * len(headers) - 1)
    table = Table(
        title=f"Top {n} ambassadors, {report.period.since} to {report.period.until}",
        caption=report.meaning,
        caption_justify="left",
    )
    for header, width in zip(headers[:-1], widths, strict=True):
        table.add_column(header, width=width, justify="left" if header == "Ambassador" else "right")
    table.add_column(headers[-1], width=left, overflow="ellipsis", no_wrap=True)
    for cells in rows:
        table.add_row(*cells)
    console.print(table)


__all__ = [
    "FORMATS",
    "FollowerGain",
    "Report",
    "RunHighlights",
    "TopPost",
    "artifact_tables",
    "build_report",
    "default_report_path",
    "is_empty",
    "print_top_ambassadors",
    "render_csv",
    "render_json",
    "render_table",
    "run_highlights",
    "summary_markdown",
    "top_ambassadors",
    "write_report",
]
