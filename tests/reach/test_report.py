"""The report in every format, the seed case, escaping, and the `reach report` command."""

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from rich.console import Console
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from reach.report import (
    artifact_tables,
    build_report,
    print_top_ambassadors,
    summary_markdown,
    write_report,
)
from reach.report.model import ENTITY_HEADERS
from reach.report.render import render_table
from tests.reach import factories as f

KEY_OF_HEADER = {header: key for key, header in ENTITY_HEADERS.items()}


@pytest.fixture
def seeded(session: Session, db_url: str):
    """The seed case stored, and its report built."""
    f.seed_case(session)
    return build_report(db_url, f.SEED_SINCE, f.SEED_UNTIL, timezone="UTC")


def test_seed_case_in_the_terminal_table(seeded) -> None:
    text = render_table(seeded, Console(width=250, record=True, file=io.StringIO()))
    line = next(line for line in text.splitlines() if "Ngozi Eze" in line)
    for figure in ("31,000", "2,900", "1,600", "imported"):
        assert figure in line
    assert "Period 2026-03-01 to 2026-03-31" in text


def test_seed_case_in_csv_with_the_period_on_every_row(seeded, tmp_path: Path) -> None:
    path = write_report(seeded, "csv", tmp_path / "r.csv")
    rows = {r["key"]: r for r in csv.DictReader(path.open(encoding="utf-8-sig"))}
    ngozi = rows["ngozi-eze"]
    assert (ngozi["likes"], ngozi["comments"], ngozi["new_followers"]) == ("31000", "2900", "1600")
    assert ngozi["views"] == "" and ngozi["views_n"] == "0"  # missing stays missing
    assert ngozi["members_reached"] == "201000" and ngozi["sources"] == "imported"
    assert all(
        (r["period_since"], r["period_until"]) == ("2026-03-01", "2026-03-31")
        for r in rows.values()
    )
    assert "period_meaning" not in ngozi  # the same for every row: in the JSON and XLSX instead


def test_seed_case_in_xlsx(seeded, tmp_path: Path) -> None:
    wb = load_workbook(write_report(seeded, "xlsx", tmp_path / "r.xlsx"))
    sheet = wb["by ambassador"]
    header = [KEY_OF_HEADER[c.value] for c in sheet[1]]
    ngozi = next(
        dict(zip(header, (c.value for c in row), strict=True))
        for row in sheet.iter_rows(min_row=2)
        if row[0].value == "ngozi-eze"
    )
    assert (ngozi["likes"], ngozi["comments"], ngozi["new_followers"]) == (31000, 2900, 1600)
    assert "as of the last crawl" in wb["about"]["B2"].value


def test_seed_case_in_json(seeded, tmp_path: Path) -> None:
    data = json.loads(write_report(seeded, "json", tmp_path / "r.json").read_text())
    ngozi = next(r for r in data["rows"] if r["key"] == "ngozi-eze")
    assert (ngozi["likes"], ngozi["comments"], ngozi["new_followers"]) == (31000, 2900, 1600)
    assert data["period"]["since"] == "2026-03-01" and data["metrics"][0]["formula"]


def test_html_is_self_contained_shows_the_seed_case_and_escapes_post_text(
    seeded, tmp_path: Path
) -> None:
    html = write_report(seeded, "html", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "31,000" in html and "2,900" in html and "1,600" in html
    assert 'src="http' not in html and "<link " not in html
    assert html.count('class="figure"') == 4  # the four charts, drawn by the inlined charts.js
    assert "<script>window.__pwned" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    opened = html.count("<script>") + html.count('<script type="application/json"')
    assert html.lower().count("</script>") == opened


def test_artifact_tables_and_markdown_are_plain_values(seeded) -> None:
    tables = artifact_tables(seeded)
    assert tables["top_posts"][0]["likes"] == 31000
    assert tables["top_ambassadors"][0]["name"] == "Ngozi Eze"
    assert {r["metric"]: r["value"] for r in tables["headline"]}["new followers (net)"] == 3200
    markdown = summary_markdown(seeded, "var/reports/r.html")
    assert "| new followers (net) | 3,200 |" in markdown and "var/reports/r.html" in markdown


def test_top_ambassadors_table_for_the_demo(seeded) -> None:
    console = Console(width=200, record=True, file=io.StringIO())
    print_top_ambassadors(seeded, 10, console)
    text = console.export_text()
    first = next(line for line in text.splitlines() if "Ngozi Eze" in line)
    assert "1,600" in first and "33,900" in first


def test_reach_report_command_writes_each_format(seeded, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["report", "--since", "2026-03-01", "--until", "2026-03-31", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert "ngozi-eze" in result.output and "31000" in result.output
    result = runner.invoke(
        app,
        [
            "report",
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-31",
            "--by",
            "platform",
            "--format",
            "html",
            "--output",
            str(tmp_path / "p.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "linkedin" in (tmp_path / "p.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-03-31", "--until", "2026-03-01"], "is after --until"),
        (["--since", "01/03/2026", "--until", "2026-03-31"], "not a date in ISO format"),
        (
            ["--since", "2026-03-01", "--until", "2026-03-31", "--by", "planet"],
            "Invalid value for '--by'",
        ),
        (
            ["--since", "2026-03-01", "--until", "2026-03-31", "--format", "pdf"],
            "Invalid value for '--format'",
        ),
    ],
)
def test_reach_report_rejects_bad_options_clearly(
    db_url: str, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["report", *args])
    assert result.exit_code != 0
    assert message in result.output


@pytest.mark.parametrize("width", [80, 120])
def test_the_terminal_table_fits_its_width_and_cuts_no_number(seeded, width: int) -> None:
    console = Console(width=width, record=True, file=io.StringIO())
    text = render_table(seeded, console)
    assert max(len(line) for line in text.splitlines()) <= width
    table = text.split("Reach by ambassador")[1]
    for number in ("33,900", "1,600", "Ngozi Eze", "Amélie Laurent"):
        assert number in table
    assert "…" not in "".join(line.split("·")[0] for line in table.splitlines() if "│" in line)
    if width == 120:  # room for more than the default columns
        assert "31,000" in table and "2,900" in table


def test_the_terminal_table_takes_the_columns_asked_for(seeded) -> None:
    text = render_table(
        seeded, Console(width=200, record=True, file=io.StringIO()), ["likes", "views"]
    )
    header = next(line for line in text.splitlines() if "Likes" in line)
    assert "Views" in header and "Engagements" not in header
    with pytest.raises(ValueError, match="unknown column"):
        render_table(seeded, Console(file=io.StringIO()), ["shoe_size"])


def test_the_demos_top_ambassadors_table_fits_80_columns(seeded) -> None:
    console = Console(width=80, record=True, file=io.StringIO())
    print_top_ambassadors(seeded, 10, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    first = next(line for line in text.splitlines() if "Ngozi Eze" in line)
    assert "1,600" in first and "33,900" in first and "https://www.linkedi" in first
