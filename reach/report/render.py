"""Render a built report: rich terminal table, CSV, JSON, XLSX (HTML is in reach.report.html)."""

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Column, Table

from reach.metrics import METRICS, EntityMetrics, metric_rows
from reach.report.cells import csv_cell, xlsx_append
from reach.report.model import (
    ENTITY_COLUMNS,
    ENTITY_HEADERS,
    TOP_POST_HEADERS,
    Report,
    top_post_dict,
)

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


def sentiment_languages_text(report: Report) -> str:
    """Which languages the period's texts were scored in, with the n of each, and which were not."""
    scored = report.sentiment_languages.get("scored", {})
    other = report.sentiment_languages.get("not_scored", {})
    if not scored and not other:
        return "Sentiment: no post or reply of this period has been scored yet."

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{language or 'unknown'} n={n:,}" for language, n in counts.items())

    text = f"Sentiment scored in (posts and replies): {listed(scored) or 'none'}"
    if other:
        text += f"; not scored (no scorer for the language, or no text): {listed(other)}"
    return text + "."


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


# The terminal table's columns: the first ones always, the others as the width allows, in order.
TERMINAL_DEFAULT = ("posts", "engagements", "new_followers", "top_post")
TERMINAL_MORE = (
    "likes",
    "comments",
    "reposts",
    "followers",
    "potential_reach",
    "views",
    "engagement_rate",
    "growth_rate",
    "impressions",
    "members_reached",
    "post_sentiment",
    "reply_sentiment",
    "sources",
)
TERMINAL_COLUMNS = TERMINAL_DEFAULT + TERMINAL_MORE
_TERMINAL_LABELS = {"top_post": "Top post", "sources": "Source"}


def _terminal_cell(row: EntityMetrics, key: str) -> str:
    if key == "top_post":
        return (
            f"{fmt_int(row.top_post_engagements)} · {row.top_post_url}" if row.top_post_url else "—"
        )
    if key == "sources":
        return row.sources
    return cell_text(row, key)


def _label(key: str) -> str:
    return _TERMINAL_LABELS.get(key) or METRICS[key].label


def _widths(report: Report, keys: Sequence[str]) -> dict[str, int]:
    """Each column's width: its widest cell, at least its header's first word (headers wrap)."""
    widths = {}
    for key in keys:
        if key == "top_post":
            continue
        cells = [len(_terminal_cell(r, key)) for r in report.rows]
        header = max(len(word) for word in _label(key).split())
        widths[key] = max([header, *cells])
    return widths


def terminal_columns(report: Report, width: int) -> list[str]:
    """The default columns, then each further one while the table still fits `width` (the top
    post keeps at least 20 characters)."""
    name = max([len(r.name) for r in report.rows] + [len(_group_label(report))])
    chosen = list(TERMINAL_DEFAULT)
    for key in TERMINAL_MORE:
        trial = [*chosen[:-1], key, chosen[-1]]
        widths = _widths(report, trial)
        if name + sum(widths.values()) + 20 + 3 * (len(trial) + 1) + 1 > width:
            break
        chosen = trial
    return chosen


def render_table(
    report: Report, console: Console | None = None, columns: Sequence[str] | None = None
) -> str:
    """Print the rich table (and return its plain text): the columns that fit the console, or
    those asked for. A number is never cut: each column is as wide as its widest cell (its
    header wraps instead), and the top post's URL is shortened to what is left."""
    console = console or Console(width=220, record=True)
    unknown = [c for c in columns or () if c not in TERMINAL_COLUMNS]
    if unknown:
        raise ValueError(
            f"unknown column(s): {', '.join(unknown)} (use {', '.join(TERMINAL_COLUMNS)})"
        )
    keys = list(columns) if columns else terminal_columns(report, console.width)
    widths = _widths(report, keys)
    name = max([len(r.name) for r in report.rows] + [len(_group_label(report))])
    left = console.width - name - sum(widths.values()) - 3 * (len(keys) + 1) - 1
    h = report.headline
    table = Table(
        Column(_group_label(report), width=name, no_wrap=True),
        title=f"Reach by {report.by}, {report.period.since} to {report.period.until}",
        caption=report.meaning,
        caption_justify="left",
    )
    for key in keys:
        if key == "top_post":
            table.add_column(_label(key), width=max(left, 12), overflow="ellipsis", no_wrap=True)
        else:
            table.add_column(_label(key), justify="right", width=widths[key])
    for row in report.rows:
        table.add_row(row.name, *(_terminal_cell(row, k) for k in keys))
    console.print(
        f"[bold]Headline[/]: posts {fmt_int(h.posts)} · engagements "
        f"{fmt_counted(h.engagements, h.engagements_n, h.posts)} · new followers (net) "
        f"{fmt_counted(h.new_followers, h.new_followers_n, h.accounts, 'accounts')} · potential "
        f"reach (estimate) {fmt_int(h.potential_reach)}",
        highlight=False,
    )
    console.print(sentiment_languages_text(report), highlight=False, markup=False)
    if is_empty(report):
        console.print(
            "[bold]This period holds no data:[/] no post was published in it and no follower "
            "count was recorded.",
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
        "sentiment_languages": report.sentiment_languages,
        "rows": report.row_dicts(),
        "top_posts": [top_post_dict(p) for p in report.top_posts],
        "metrics": metric_rows(),
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False, default=str)


# How the XLSX types its cells. Rates in percent (3.2 meaning 3.2%) become fractions shown as %,
# so that a spreadsheet computes with them; times are UTC without a zone (Excel has none) and the
# header says UTC; a count is an integer with thousands separators.
XLSX_PERCENT = frozenset({"engagement_rate", "growth_rate"})
XLSX_URLS = frozenset({"top_post_url", "url"})
XLSX_IDS = frozenset({"id"})
XLSX_DATE = "yyyy-mm-dd"
XLSX_DATETIME = "yyyy-mm-dd hh:mm"
XLSX_MAX_WIDTH = 60
XLSX_MAX_LINK = 2079  # Excel's longest hyperlink address; a longer URL stays plain text


def _utc_naive(value: dt.datetime) -> dt.datetime:
    """A time as UTC without tzinfo (a naive time read from SQLite is already UTC)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _is_web_url(value: Any) -> bool:
    """Only http(s) links become hyperlinks: a javascript: or file: URL stays inert text."""
    return (
        isinstance(value, str)
        and len(value) <= XLSX_MAX_LINK
        and urlsplit(value).scheme.lower() in ("http", "https")
    )


def _xlsx_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in XLSX_PERCENT and isinstance(value, int | float):
        return value / 100
    if isinstance(value, dt.datetime):
        return _utc_naive(value)
    return value


def _number_format(column: str, value: Any) -> str | None:
    if column in XLSX_PERCENT:
        return "0.00%"
    if isinstance(value, dt.datetime):
        return XLSX_DATETIME
    if isinstance(value, dt.date):
        return XLSX_DATE
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "0" if column in XLSX_IDS else "#,##0"
    if isinstance(value, float):
        return "0.00"
    return None


def _xlsx_table(sheet: Any, headers: list[str], columns: list[str], rows: list[list[Any]]) -> None:
    """A header row (bold, frozen, with an autofilter) and typed data rows on an empty sheet."""
    from openpyxl.styles import Font

    xlsx_append(sheet, headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in rows:
        typed = [_xlsx_value(c, v) for c, v in zip(columns, values, strict=True)]
        xlsx_append(sheet, typed)
        for column, cell in zip(columns, sheet[sheet.max_row], strict=True):
            number_format = _number_format(column, cell.value)
            if number_format:
                cell.number_format = number_format
            if column in XLSX_URLS and _is_web_url(cell.value):
                cell.hyperlink = cell.value
                cell.style = "Hyperlink"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{_column_letter(len(headers))}{sheet.max_row}"


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def _shown_width(value: Any, number_format: str) -> int:
    """About how many characters a cell shows."""
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return len(XLSX_DATETIME) if number_format == XLSX_DATETIME else len(XLSX_DATE)
    if isinstance(value, bool):
        return 5
    if isinstance(value, float) and number_format.endswith("%"):
        return len(f"{value * 100:,.2f}%")
    if isinstance(value, int | float):
        return len(f"{value:,.2f}" if isinstance(value, float) else f"{value:,}")
    return max((len(line) for line in str(value).splitlines()), default=0)


def _fit_columns(sheet: Any, header_rows: frozenset[int] = frozenset({1})) -> None:
    """Each column as wide as its widest cell (bold headers a little wider), at most 60 wide."""
    widths: dict[int, int] = {}
    for row in sheet.iter_rows():
        for cell in row:
            shown = _shown_width(cell.value, cell.number_format)
            if cell.row in header_rows:
                shown = int(shown * 1.1) + 1
            widths[cell.column] = max(widths.get(cell.column, 0), shown)
    for index, shown in widths.items():
        sheet.column_dimensions[_column_letter(index)].width = min(
            max(shown, 6) + 2, XLSX_MAX_WIDTH
        )


def write_xlsx(report: Report, path: Path) -> None:
    """A workbook for Excel: the groups, the top posts, and an about sheet; text never a formula.

    Headers are the human labels (the about sheet maps them to the CSV/JSON keys), bold, frozen
    and filterable; cells are typed (dates, UTC times, integers, percentages as fractions,
    http(s) links as hyperlinks) and columns fitted to their content.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.worksheet import Worksheet

    wb = Workbook()
    ws = wb.active
    if not isinstance(ws, Worksheet):  # a new workbook opens on one worksheet
        raise TypeError(f"openpyxl's new workbook has no active worksheet (got {ws!r})")
    ws.title = f"by {report.by}"[:31]
    columns = [c for c, _ in ENTITY_COLUMNS]
    rows = []
    for row in report.row_dicts():
        row["period_since"], row["period_until"] = report.period.since, report.period.until
        rows.append([row[c] for c in columns])
    _xlsx_table(ws, [ENTITY_HEADERS[c] for c in columns], columns, rows)
    ws.freeze_panes = "C2"  # the header row, and the key and name while scrolling right
    _fit_columns(ws)

    posts = wb.create_sheet("top posts")
    post_columns = list(TOP_POST_HEADERS)
    post_rows = [[getattr(p, c) for c in post_columns] for p in report.top_posts]
    _xlsx_table(posts, list(TOP_POST_HEADERS.values()), post_columns, post_rows)
    _fit_columns(posts)

    about = wb.create_sheet("about")
    period = report.period
    xlsx_append(
        about,
        [f"Reach by {report.by}", f"{period.since} to {period.until} (days in {period.timezone})"],
    )
    xlsx_append(about, ["Meaning", report.meaning])
    t = report.total
    data = (
        "none: no post was published and no account has a follower figure or imported "
        "analytics in this period; every row is n/a (empty cells)"
        if is_empty(report)
        else f"{t.posts:,} posts; {t.new_followers_n:,} of {t.accounts:,} accounts with a "
        "new-followers figure"
    )
    percentages = (
        "engagement rate and follower growth are fractions shown as % (0.032 is 3.20%); "
        "the CSV and JSON give them in percent (3.2)"
    )
    xlsx_append(about, ["Data", data])
    xlsx_append(about, ["Generated (UTC)", _utc_naive(report.generated_at)])
    as_of = _utc_naive(report.as_of) if report.as_of else "no crawl yet"
    xlsx_append(about, ["Counts as of (UTC)", as_of])
    xlsx_append(about, ["Percentages", percentages])
    xlsx_append(about, ["Sentiment languages", sentiment_languages_text(report)])
    for cell in about[1]:
        cell.font = Font(bold=True)
    header_rows = {1}

    def sub_table(headers: list[str], lines: list[list[Any]]) -> None:
        xlsx_append(about, [])
        xlsx_append(about, headers)
        header_rows.add(about.max_row)
        for cell in about[about.max_row]:
            cell.font = Font(bold=True)
        for line in lines:
            xlsx_append(about, line)

    def with_formula(column: str, meaning: str) -> str:
        metric = METRICS.get(column)
        return f"{meaning}: {metric.formula}" if metric else meaning

    sub_table(
        [f"Column (sheet {ws.title})", "Header", "Meaning"],
        [[c, ENTITY_HEADERS[c], with_formula(c, m)] for c, m in ENTITY_COLUMNS],
    )
    sub_table(
        ["Column (sheet top posts)", "Header", "Meaning"],
        [[c, h, with_formula(c, h)] for c, h in TOP_POST_HEADERS.items()],
    )
    sub_table(
        ["Metric", "Label", "Unit", "Formula", "Period", "Version"],
        [
            [m["key"], m["label"], m["unit"], m["formula"], m["period"], m["version"]]
            for m in metric_rows()
        ],
    )
    for row in about.iter_rows():
        for cell in row:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = XLSX_DATETIME
            elif isinstance(cell.value, str) and len(cell.value) > XLSX_MAX_WIDTH:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    about.freeze_panes = "A2"
    _fit_columns(about, frozenset(header_rows))
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
