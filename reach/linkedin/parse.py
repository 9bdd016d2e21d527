"""Pure parsing of LinkedIn analytics exports (.xlsx) into typed dataclasses.

Two kinds of file, told apart by their sheets (people rename files, browsers add " (1)"):

- the creator export (`Content_<start>_<end>_<Name>.xlsx`, 2026 `AggregateAnalytics_...`):
  sheets DISCOVERY, ENGAGEMENT, TOP POSTS, FOLLOWERS and optional demographics sheets;
- the single-post export (`PostAnalytics_<Name>_<id>.xlsx`, 2026 `SinglePostAnalytics_...`):
  one sheet of label/value rows (Post URL, Post Date, Impressions, Reactions, ...), then a
  demographics block.

Older files hold numbers as numbers; 2026 files hold every value as text ("6530", "12%").
Dates are M/D/YYYY text and are parsed here, never by the spreadsheet library; a real date
cell (a file re-saved in Excel) is accepted as is. Every error names file, sheet, cell, problem.
"""

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

CREATOR_SHEETS = ("DISCOVERY", "ENGAGEMENT", "TOP POSTS", "FOLLOWERS")
DEMOGRAPHIC_SHEETS = {
    "DEMOGRAPHICS": "audience",
    "AUDIENCE DEMOGRAPHICS": "audience",
    "CONTENT DEMOGRAPHICS": "content",
}

_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_PERIOD = re.compile(r"^\s*(\d{1,2}/\d{1,2}/\d{4})\s*[-–]\s*(\d{1,2}/\d{1,2}/\d{4})\s*$")
_INTEGER = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")
_TOTAL_FOLLOWERS = re.compile(r"^\s*total followers on\s+(\S+?)\s*:?\s*$", re.IGNORECASE)
# Post URLs: /feed/update/urn:li:<type>:<id> or /posts/<vanity>_<slug>-<type>-<id>-<code>.
_URN = re.compile(r"urn(?::|%3A)li(?::|%3A)(activity|share|ugcPost)(?::|%3A)(\d+)", re.IGNORECASE)
_POSTS_PATH = re.compile(
    r"/posts/([^/_?#]+)_[^/?#]*?-(activity|share|ugcPost)-(\d+)", re.IGNORECASE
)
_URN_TYPES = {"activity": "activity", "share": "share", "ugcpost": "ugcPost"}

# Single-post labels we map to snapshot columns; every other numeric label goes to `extra`.
POST_METRIC_COLUMNS = {
    "impressions": "impressions",
    "members reached": "members_reached",
    "reactions": "likes",
    "comments": "comments",
    "reposts": "reposts",
}
_POST_TEXT_LABELS = {"post url", "post date", "post publish date", "post publish time"}


class BadExport(ValueError):
    """A file is not a LinkedIn export we understand; retrying will not help, fixing the file will."""

    def __init__(self, file: str, problem: str, sheet: str | None = None, cell: str | None = None):
        self.file, self.problem, self.sheet, self.cell = file, problem, sheet, cell
        if sheet and cell:
            where = f"{sheet}!{cell}: "
        elif sheet:
            where = f"sheet {sheet}: "
        else:
            where = ""
        super().__init__(f"{file}: {where}{problem}")


@dataclass(frozen=True)
class PostKey:
    """A post's stable key, `urn:li:<activity|share|ugcPost>:<id>`, and the author's vanity if shown."""

    urn: str
    vanity: str | None = None


@dataclass
class DailyMetric:
    """One day of the account's series; None where the export does not give that figure."""

    day: dt.date
    impressions: int | None = None
    engagements: int | None = None
    new_followers: int | None = None


@dataclass
class TopPostsEntry:
    """A post listed in the export's TOP POSTS sheet, its two tables merged: a metric absent from one
    table is None. Not a report figure: the importer stores it as a post and a snapshot."""

    url: str
    key: PostKey
    published_on: dt.date
    engagements: int | None = None
    impressions: int | None = None


@dataclass
class Demographic:
    """One demographics row: share as LinkedIn wrote it, and as a number when it is one."""

    scope: str
    category: str
    value: str
    share: str | None
    share_pct: float | None


@dataclass
class CreatorExport:
    """A personal creator analytics export for one period."""

    file: str
    period_start: dt.date
    period_end: dt.date
    impressions: int | None
    members_reached: int | None
    followers_total: int | None
    followers_on: dt.date
    days: list[DailyMetric]
    posts: list[TopPostsEntry]
    demographics: list[Demographic] = field(default_factory=list)

    @property
    def observed_on(self) -> dt.date:
        """Counts in this export are as of its end date."""
        return self.period_end


@dataclass
class PostExport:
    """A single-post analytics export."""

    file: str
    url: str
    key: PostKey
    published_on: dt.date
    observed_on: dt.date
    metrics: dict[str, int | None]
    extra: dict[str, Any]
    demographics: list[Demographic] = field(default_factory=list)


Export = CreatorExport | PostExport


def post_key(url: str) -> PostKey | None:
    """The stable key of a LinkedIn post URL (the URL itself is kept as given), or None."""
    match = _URN.search(url)
    if match:
        vanity = None
        path = _POSTS_PATH.search(url)
        if path:
            vanity = path.group(1).lower()
        return PostKey(f"urn:li:{_URN_TYPES[match.group(1).lower()]}:{match.group(2)}", vanity)
    match = _POSTS_PATH.search(url)
    if match:
        kind = _URN_TYPES[match.group(2).lower()]
        return PostKey(f"urn:li:{kind}:{match.group(3)}", match.group(1).lower())
    return None


def name_from_filename(filename: str) -> str | None:
    """The member's name as LinkedIn put it in an export's file name, or None if it has none."""
    stem = Path(filename).name
    stem = re.sub(r"\.xlsx$", "", stem, flags=re.IGNORECASE)
    stem = re.sub(r"\s*\(\d+\)\s*$", "", stem)  # browsers add " (1)" to a second download
    parts = stem.split("_")
    if len(parts) < 2:
        return None
    prefix = parts[0].lower()
    if prefix not in ("content", "aggregateanalytics", "postanalytics", "singlepostanalytics"):
        return None
    rest = [p for p in parts[1:] if not re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d+", p.strip())]
    name = " ".join(p.strip() for p in rest if p.strip())
    return name or None


def normalise_name(text: str) -> str:
    """Accent-, case- and space-insensitive form of a name, for matching file names."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c)).lower()


# --- cells -----------------------------------------------------------------------------------


class _Sheet:
    """A worksheet read once into memory (exports are small), with error helpers."""

    def __init__(self, file: str, title: str, rows: list[tuple[Any, ...]]):
        self.file, self.title, self.rows = file, title, rows

    def get(self, row: int, col: int) -> Any:
        """Value at 0-based (row, col), None beyond the data."""
        if row < len(self.rows) and col < len(self.rows[row]):
            return self.rows[row][col]
        return None

    def text(self, row: int, col: int) -> str:
        value = self.get(row, col)
        return "" if value is None else str(value).strip()

    def error(self, row: int, col: int, problem: str) -> BadExport:
        return BadExport(self.file, problem, self.title, f"{get_column_letter(col + 1)}{row + 1}")

    def integer(self, row: int, col: int, what: str, required: bool = False) -> int | None:
        """A whole number from a number cell or text like "6530", "6,530" or "-3"."""
        value = self.get(row, col)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.error(row, col, f"{what}: empty cell where a number should be")
            return None
        if isinstance(value, bool):
            raise self.error(row, col, f"{what}: expected a number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            raise self.error(row, col, f"{what}: expected a whole number, got {value!r}")
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            return int(value.strip().replace(",", ""))
        raise self.error(row, col, f"{what}: expected a number, got {value!r}")

    def date(self, row: int, col: int, what: str) -> dt.date:
        """A date from M/D/YYYY text, or from a real date cell (a file re-saved in Excel)."""
        value = self.get(row, col)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            parsed = parse_us_date(value)
            if parsed:
                return parsed
        if value is None or value == "":
            raise self.error(row, col, f"{what}: empty cell where a date (M/D/YYYY) should be")
        raise self.error(row, col, f"{what}: expected a date as M/D/YYYY, got {value!r}")


def parse_us_date(text: str) -> dt.date | None:
    """M/D/YYYY (LinkedIn's export format, US order whatever the member's locale) or None."""
    match = _DATE.match(text)
    if not match:
        return None
    month, day, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _label(value: Any) -> str:
    """A label cell compared case-insensitively, spaces collapsed, trailing colon dropped."""
    return " ".join(str(value or "").split()).lower().rstrip(":").strip()


def _share(sheet: _Sheet, row: int, col: int) -> tuple[str | None, float | None]:
    """A demographics share: older files hold a fraction (0.12), 2026 files text ("12%", "< 1%")."""
    value = sheet.get(row, col)
    if value is None or value == "":
        return None, None
    if isinstance(value, bool):
        raise sheet.error(row, col, f"share: expected a percentage, got {value!r}")
    if isinstance(value, int | float):
        pct = round(float(value) * 100, 4)
        return f"{pct:g}%", pct
    text = str(value).strip()
    match = _PERCENT.match(text)
    # "< 1%" and the like stay text only: a number would claim a precision LinkedIn withholds.
    return text, float(match.group(1)) if match else None


def _open(path: Path) -> dict[str, _Sheet]:
    name = path.name
    if not path.is_file():
        raise BadExport(name, f"no such file: {path}")
    if path.suffix.lower() != ".xlsx":
        raise BadExport(
            name,
            f"not an .xlsx file (LinkedIn exports are .xlsx; got {path.suffix or 'no extension'!r})",
        )
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (
        Exception
    ) as exc:  # a corrupt file raises BadZipFile, KeyError, ValueError... in openpyxl
        raise BadExport(
            name, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        return {
            ws.title.strip().upper(): _Sheet(name, ws.title, list(ws.iter_rows(values_only=True)))
            for ws in workbook.worksheets
        }
    finally:
        workbook.close()


# --- creator export --------------------------------------------------------------------------


def _require(sheets: dict[str, _Sheet], file: str, name: str) -> _Sheet:
    if name not in sheets:
        found = ", ".join(s.title for s in sheets.values())
        raise BadExport(
            file, f"sheet missing from a creator analytics export (sheets: {found})", name
        )
    return sheets[name]


def _header(sheet: _Sheet, row: int, first_col: int, labels: tuple[str, ...]) -> None:
    """Check a header row exactly where LinkedIn puts it; a moved header is an error, not a guess."""
    for offset, expected in enumerate(labels):
        col = first_col + offset
        if _label(sheet.get(row, col)) != expected:
            wanted = " | ".join(labels)
            found = next(
                (
                    f" (found it on row {r + 1})"
                    for r in range(min(len(sheet.rows), 20))
                    if r != row
                    and _label(sheet.get(r, first_col)) == labels[0]
                    and _label(sheet.get(r, first_col + 1)) == labels[1]
                ),
                "",
            )
            raise sheet.error(
                row,
                col,
                f"expected header {expected!r} of '{wanted}', got {sheet.text(row, col)!r}{found}",
            )


def _parse_discovery(sheet: _Sheet) -> tuple[dt.date, dt.date, int | None, int | None]:
    labels = {_label(sheet.get(r, 0)): r for r in range(len(sheet.rows))}
    if "overall performance" not in labels:
        raise sheet.error(
            0, 0, "expected the label 'Overall Performance' with the period beside it"
        )
    row = labels["overall performance"]
    match = _PERIOD.match(sheet.text(row, 1))
    if not match:
        raise sheet.error(
            row, 1, f"expected the period as 'M/D/YYYY - M/D/YYYY', got {sheet.text(row, 1)!r}"
        )
    start, end = parse_us_date(match.group(1)), parse_us_date(match.group(2))
    if start is None or end is None or start > end:
        raise sheet.error(row, 1, f"invalid period {sheet.text(row, 1)!r}")
    values: dict[str, int | None] = {}
    for label in ("impressions", "members reached"):
        if label not in labels:
            raise sheet.error(len(sheet.rows), 0, f"label {label.capitalize()!r} missing")
        values[label] = sheet.integer(labels[label], 1, label.capitalize())
    return start, end, values["impressions"], values["members reached"]


def _in_period(
    sheet: _Sheet, row: int, col: int, day: dt.date, start: dt.date, end: dt.date
) -> None:
    if not start <= day <= end:
        raise sheet.error(
            row,
            col,
            f"date {day:%m/%d/%Y} is outside the file's period {start:%m/%d/%Y} - {end:%m/%d/%Y}",
        )


def _data_rows(sheet: _Sheet, first: int) -> range:
    """Rows from `first` up to the last with anything in column A."""
    last = first
    for r in range(first, len(sheet.rows)):
        if sheet.text(r, 0):
            last = r + 1
    return range(first, last)


def _parse_engagement(sheet: _Sheet, start: dt.date, end: dt.date) -> dict[dt.date, DailyMetric]:
    _header(sheet, 0, 0, ("date", "impressions", "engagements"))
    days: dict[dt.date, DailyMetric] = {}
    for r in _data_rows(sheet, 1):
        day = sheet.date(r, 0, "Date")
        _in_period(sheet, r, 0, day, start, end)
        if day in days:
            raise sheet.error(r, 0, f"date {day:%m/%d/%Y} appears twice")
        # Engagements can be negative (LinkedIn nets out withdrawn reactions): keep the sign.
        days[day] = DailyMetric(
            day, sheet.integer(r, 1, "Impressions"), sheet.integer(r, 2, "Engagements")
        )
    return days


def _parse_followers(
    sheet: _Sheet, start: dt.date, end: dt.date
) -> tuple[int | None, dt.date, dict[dt.date, int | None]]:
    match = _TOTAL_FOLLOWERS.match(sheet.text(0, 0))
    if not match:
        raise sheet.error(
            0, 0, f"expected 'Total followers on M/D/YYYY:', got {sheet.text(0, 0)!r}"
        )
    followers_on = parse_us_date(match.group(1))
    if followers_on is None:
        raise sheet.error(0, 0, f"expected a date as M/D/YYYY in {sheet.text(0, 0)!r}")
    if followers_on < start:
        raise sheet.error(
            0,
            0,
            f"date {followers_on:%m/%d/%Y} is before the file's period "
            f"{start:%m/%d/%Y} - {end:%m/%d/%Y}",
        )
    total = sheet.integer(0, 1, "Total followers")
    _header(sheet, 2, 0, ("date", "new followers"))
    gains: dict[dt.date, int | None] = {}
    for r in _data_rows(sheet, 3):
        day = sheet.date(r, 0, "Date")
        _in_period(sheet, r, 0, day, start, end)
        if day in gains:
            raise sheet.error(r, 0, f"date {day:%m/%d/%Y} appears twice")
        gains[day] = sheet.integer(r, 1, "New followers")  # that day's gain, not a running total
    return total, followers_on, gains


def _parse_top_posts(sheet: _Sheet, end: dt.date) -> list[TopPostsEntry]:
    posts: dict[str, TopPostsEntry] = {}
    for first_col, metric in ((0, "engagements"), (4, "impressions")):
        _header(sheet, 2, first_col, ("post url", "post publish date", metric))
        for r in range(3, len(sheet.rows)):
            url = sheet.text(r, first_col)
            if not url:
                continue
            key = post_key(url)
            if key is None:
                raise sheet.error(r, first_col, f"not a LinkedIn post URL: {url!r}")
            published = sheet.date(r, first_col + 1, "Post publish date")
            if published > end:
                raise sheet.error(
                    r,
                    first_col + 1,
                    f"publish date {published:%m/%d/%Y} is after the "
                    f"file's period end {end:%m/%d/%Y}",
                )
            value = sheet.integer(r, first_col + 2, metric.capitalize())
            post = posts.setdefault(key.urn, TopPostsEntry(url, key, published))
            setattr(post, metric, value)
    return list(posts.values())


def _parse_demographics_sheet(sheet: _Sheet, scope: str) -> list[Demographic]:
    """Rows of `<category> | <value> | <share>` under a header row (first row)."""
    rows: list[Demographic] = []
    if not sheet.rows:
        return rows
    header = [_label(v) for v in sheet.rows[0]]
    if len(header) < 3 or header[1] != "value":
        raise sheet.error(
            0,
            1,
            f"expected header 'Top Demographics | Value | Percentage', got "
            f"{' | '.join(sheet.text(0, c) for c in range(3))!r}",
        )
    for r in range(1, len(sheet.rows)):
        category, value = sheet.text(r, 0), sheet.text(r, 1)
        if not category and not value:
            continue
        share, pct = _share(sheet, r, 2)
        rows.append(Demographic(scope, category, value, share, pct))
    return rows


def parse_creator(sheets: dict[str, _Sheet], file: str) -> CreatorExport:
    """The creator export: the period from DISCOVERY bounds every dated row of the other sheets."""
    start, end, impressions, reached = _parse_discovery(_require(sheets, file, "DISCOVERY"))
    days = _parse_engagement(_require(sheets, file, "ENGAGEMENT"), start, end)
    posts = _parse_top_posts(_require(sheets, file, "TOP POSTS"), end)
    total, followers_on, gains = _parse_followers(_require(sheets, file, "FOLLOWERS"), start, end)
    for day, gain in gains.items():
        days.setdefault(day, DailyMetric(day)).new_followers = gain
    demographics: list[Demographic] = []
    for name, scope in DEMOGRAPHIC_SHEETS.items():
        if name in sheets:
            demographics.extend(_parse_demographics_sheet(sheets[name], scope))
    return CreatorExport(
        file,
        start,
        end,
        impressions,
        reached,
        total,
        followers_on,
        [days[d] for d in sorted(days)],
        posts,
        demographics,
    )


# --- single-post export ----------------------------------------------------------------------


def _find_post_sheet(sheets: dict[str, _Sheet]) -> _Sheet | None:
    for sheet in sheets.values():
        if any(_label(sheet.get(r, 0)) == "post url" for r in range(min(len(sheet.rows), 10))):
            return sheet
    return None


def _extra_key(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label).strip("_")


def parse_post(sheet: _Sheet, file: str, observed_on: dt.date) -> PostExport:
    """The single-post export: label/value rows looked up by label, then a demographics block."""
    labels: dict[str, int] = {}
    demo_header: int | None = None
    for r in range(len(sheet.rows)):
        label = _label(sheet.get(r, 0))
        if label in ("category", "top demographics") and _label(sheet.get(r, 1)) == "value":
            demo_header = r
            break
        if label and label not in labels:
            labels[label] = r
    if "post url" not in labels:
        raise sheet.error(0, 0, "label 'Post URL' missing")
    url_row = labels["post url"]
    url = sheet.text(url_row, 1)
    key = post_key(url)
    if key is None:
        raise sheet.error(url_row, 1, f"not a LinkedIn post URL: {url!r}")
    date_label = "post date" if "post date" in labels else "post publish date"
    if date_label not in labels:
        raise sheet.error(url_row + 1, 0, "label 'Post Date' missing")
    published = sheet.date(labels[date_label], 1, "Post Date")
    metrics: dict[str, int | None] = {column: None for column in POST_METRIC_COLUMNS.values()}
    extra: dict[str, Any] = {}
    if "post publish time" in labels:
        extra["post_publish_time"] = sheet.text(labels["post publish time"], 1) or None
    for label, row in labels.items():
        if label in _POST_TEXT_LABELS:
            continue
        value = sheet.get(row, 1)
        if value is None or value == "":
            continue  # section titles like "Discovery" or "Post viewer demographics"
        if isinstance(value, str) and value.strip().endswith("%"):
            extra[_extra_key(label)] = value.strip()  # e.g. in-network share: kept as written
            continue
        number = sheet.integer(row, 1, sheet.text(row, 0))
        if label in POST_METRIC_COLUMNS:
            metrics[POST_METRIC_COLUMNS[label]] = number
        else:
            extra[_extra_key(label)] = number
    demographics: list[Demographic] = []
    if demo_header is not None:
        for r in range(demo_header + 1, len(sheet.rows)):
            category, value = sheet.text(r, 0), sheet.text(r, 1)
            if category or value:
                share, pct = _share(sheet, r, 2)
                demographics.append(Demographic("post", category, value, share, pct))
    return PostExport(file, url, key, published, observed_on, metrics, extra, demographics)


def parse_export(path: Path, observed_on: dt.date | None = None) -> Export:
    """Parse one export file; the format is told by its sheets, never by its name.

    A single-post export carries no date of its own: `observed_on` (default: the file's
    modification date in UTC, which the browser sets at download) dates its counts.
    """
    sheets = _open(path)
    name = path.name
    if any(s in sheets for s in CREATOR_SHEETS):
        return parse_creator(sheets, name)
    sheet = _find_post_sheet(sheets)
    if sheet is not None:
        if observed_on is None:
            observed_on = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date()
        return parse_post(sheet, name, observed_on)
    found = ", ".join(s.title for s in sheets.values())
    raise BadExport(
        name,
        f"not a LinkedIn analytics export: no sheet {' / '.join(CREATOR_SHEETS)} "
        f"and no 'Post URL' row (sheets: {found})",
    )
