"""Render a built report: rich terminal table, CSV, JSON, XLSX (HTML is in reach.report.html)."""

import csv
import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from reach.metrics import METRICS, EntityMetrics, metric_rows
from reach.report.cells import csv_cell, xlsx_append
from reach.report.model import ENTITY_COLUMNS, Report, top_post_dict

FORMATS = ("table", "csv", "json", "xlsx", "html")


def fmt_int(value: int | None) -> str:
    """A count with thousands separators, or n/a when the platform did not publish it."""
    return "n/a" if value is None else f"{value:,}"


def fmt_counted(value: int | None, n: int, of: int, unit: str = "posts") -> str:
    """A sum that says how many items had the count when not all of them did."""
    if n == of:
        return fmt_int(value)
    return f"{fmt_int(value)} ({n} of {of} {unit})"


def fmt_float(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"


def fmt_rate(value: float | None, n: int, of: int) -> str:
    """The engagement rate, saying over how many posts when not all of them had counts."""
    text = fmt_float(value, 2, "%")
    return text if n == of or value is None else f"{text} ({n} of {of} posts)"


def fmt_sentiment(value: float | None, n: int) -> str:
    return "n/a (n=0)" if value is None else f"{value:+.2f} (n={n})"


def _group_label(report: Report) -> str:
    return {"ambassador": "Ambassador"}.get(report.by, report.by.capitalize())


def table_cells(row: EntityMetrics) -> list[str]:
    """The terminal/HTML cells of one group, missing counts shown with their coverage."""
    return [
        fmt_int(row.posts),
        fmt_counted(row.likes, row.likes_n, row.posts),
        fmt_counted(row.comments, row.comments_n, row.posts),
        fmt_counted(row.reposts, row.reposts_n, row.posts),
        fmt_counted(row.views, row.views_n, row.posts),
        fmt_counted(row.engagements, row.engagements_n, row.posts),
        fmt_rate(row.engagement_rate, row.engagement_rate_n, row.posts),
        fmt_int(row.impressions),
        fmt_int(row.members_reached),
        fmt_int(row.followers),
        fmt_counted(row.new_followers, row.new_followers_n, row.accounts, "accounts"),
        fmt_float(row.growth_rate, 1, "%"),
        fmt_int(row.potential_reach),
        fmt_sentiment(row.post_sentiment, row.post_sentiment_n),
        fmt_sentiment(row.reply_sentiment, row.reply_sentiment_n),
    ]


TABLE_HEADERS = [
    "Posts",
    "Likes",
    "Comments",
    "Reposts",
    "Views",
    "Engagements",
    "Eng. rate",
    "Impressions",
    "Members reached",
    "Followers",
    "New followers (net)",
    "Growth",
    "Potential reach (est.)",
    "Post sentiment",
    "Reply sentiment",
]


def render_table(report: Report, console: Console | None = None) -> str:
    """Print the rich table (and return its plain text)."""
    console = console or Console(width=220, record=True)
    h = report.headline
    table = Table(
        _group_label(report),
        "Source",
        *TABLE_HEADERS,
        title=f"Reach by {report.by}, {report.period.since} to {report.period.until}",
        caption=report.meaning,
        caption_justify="left",
    )
    for row in report.rows:
        table.add_row(row.name, row.sources, *table_cells(row))
    console.print(
        f"[bold]Headline[/]: posts {fmt_int(h.posts)} · engagements "
        f"{fmt_counted(h.engagements, h.engagements_n, h.posts)} · new followers (net) "
        f"{fmt_counted(h.new_followers, h.new_followers_n, h.accounts, 'accounts')} · potential "
        f"reach (estimate) {fmt_int(h.potential_reach)}",
        highlight=False,
    )
    console.print(table)
    return console.export_text() if console.record else ""


def render_csv(report: Report, bom: bool = True) -> str:
    """One row per group, the columns of ENTITY_COLUMNS; UTF-8 text starting with a byte-order mark.

    Excel reads a CSV without a BOM in the machine's legacy code page ("ChloÃ© MÃ¼ller"); the BOM
    tells it UTF-8. `bom=False` leaves it out for tools that would keep it as part of the first
    column name. Text that a spreadsheet would read as a formula is quote-prefixed
    (reach.report.cells).
    """
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=[c for c, _ in ENTITY_COLUMNS], lineterminator="\n")
    writer.writeheader()
    for row in report.row_dicts():
        writer.writerow({k: "" if v is None else csv_cell(v) for k, v in row.items()})
    return out.getvalue()


def is_empty(report: Report) -> bool:
    """Whether the period has nothing to show: no post, no follower figure, no imported analytics."""
    t = report.total
    return t.posts == 0 and all(
        v is None for v in (t.followers, t.new_followers, t.impressions, t.members_reached)
    )


def report_dict(report: Report) -> dict[str, Any]:
    """The whole report as JSON-ready values."""
    return {
        "period": {
            "since": report.period.since.isoformat(),
            "until": report.period.until.isoformat(),
            "timezone": report.period.timezone,
            "meaning": report.meaning,
            "as_of": report.as_of.isoformat() if report.as_of else None,
        },
        "by": report.by,
        "generated_at": report.generated_at.isoformat(),
        "empty": is_empty(report),
        "headline": report.headline.__dict__,
        "rows": report.row_dicts(),
        "top_posts": [top_post_dict(p) for p in report.top_posts],
        "metrics": metric_rows(),
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False, default=str)


def write_xlsx(report: Report, path: Path) -> None:
    """A workbook: the groups (header on row 1), the top posts, and an About sheet; text never a formula."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    wb = Workbook()
    ws = wb.active
    if not isinstance(ws, Worksheet):  # a new workbook opens on one worksheet
        raise TypeError(f"openpyxl's new workbook has no active worksheet (got {ws!r})")
    ws.title = f"by {report.by}"[:31]
    columns = [c for c, _ in ENTITY_COLUMNS]
    xlsx_append(ws, columns)
    for row in report.row_dicts():
        xlsx_append(ws, [row[c] for c in columns])
    ws.freeze_panes = "C2"
    posts = wb.create_sheet("top posts")
    post_rows = [top_post_dict(p) for p in report.top_posts]
    post_columns = list(post_rows[0]) if post_rows else ["id"]
    xlsx_append(posts, post_columns)
    for prow in post_rows:
        xlsx_append(posts, [prow[c] for c in post_columns])
    about = wb.create_sheet("about")
    xlsx_append(
        about,
        ["period", f"{report.period.since} to {report.period.until} ({report.period.timezone})"],
    )
    xlsx_append(about, ["meaning", report.meaning])
    xlsx_append(about, [])
    xlsx_append(about, ["column", "meaning"])
    for column, meaning in ENTITY_COLUMNS:
        metric = METRICS.get(column)
        xlsx_append(about, [column, f"{meaning}: {metric.formula}" if metric else meaning])
    xlsx_append(about, [])
    xlsx_append(about, ["metric", "label", "unit", "formula", "period", "version"])
    for m in metric_rows():
        xlsx_append(
            about, [m["key"], m["label"], m["unit"], m["formula"], m["period"], m["version"]]
        )
    for sheet in (ws, posts):
        for i in range(1, sheet.max_column + 1):
            sheet.column_dimensions[get_column_letter(i)].width = 16
    about.column_dimensions["B"].width = 120
    wb.save(path)


def cell_text(row: EntityMetrics, key: str) -> str:
    """One metric of a group as its table cell, with its coverage where not every item had it."""
    value = getattr(row, key)
    if key in ("likes", "comments", "reposts", "quotes", "views", "engagements"):
        return fmt_counted(value, getattr(row, f"{key}_n"), row.posts)
    if key == "engagement_rate":
        return fmt_rate(value, row.engagement_rate_n, row.posts)
    if key == "new_followers":
        return fmt_counted(value, row.new_followers_n, row.accounts, "accounts")
    if key == "growth_rate":
        return fmt_float(value, 1, "%")
    if key in ("post_sentiment", "reply_sentiment"):
        return fmt_sentiment(value, getattr(row, f"{key}_n"))
    if isinstance(value, float):
        return fmt_float(value)
    return fmt_int(value) if value is None or isinstance(value, int) else str(value)
