"""Exports for spreadsheets and BI tools: typed, UTF-8 Excel can read, and unable to run code."""

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from reach.report import build_report, write_report
from reach.report.cells import csv_cell, csv_uncell
from reach.report.model import ENTITY_COLUMNS, ENTITY_HEADERS, TOP_POST_HEADERS, TopPost
from reach.report.render import XLSX_MAX_WIDTH, render_csv, render_json
from tests.reach import factories as f

runner = CliRunner()
HYPERLINK = '=HYPERLINK("http://x.example/","y")'
SUM = "=1+2"
CHLOE = "Chloé Müller"
CHLOE_POST = "https://example.social/@chloe/1"
LONG_TEXT = "Ein langer Beitrag über Reichweite. " * 8


def cells_by_key(sheet, headers: dict[str, str]) -> list[dict]:
    """The data rows of a sheet as {column key: cell}, read through its human headers."""
    key_of = {header: key for key, header in headers.items()}
    keys = [key_of[c.value] for c in sheet[1]]
    return [dict(zip(keys, row, strict=True)) for row in sheet.iter_rows(min_row=2)]


@pytest.fixture
def hostile(session: Session, db_url: str):
    """An ambassador whose name, team and post are formulas, and who lost followers."""
    person = f.ambassador(session, "hostile", HYPERLINK, cohort="+1", team="@SUM(A1)")
    account = f.account(session, person, "mastodon")
    before, last = f.run(session, f.at("2026-02-28", 2)), f.run(session, f.at("2026-03-31", 2))
    f.followers(session, account, before, 3600)
    f.followers(session, account, last, 3000)
    post = f.post(session, account, f.at("2026-03-20"), text=SUM)
    f.post_snapshot(session, post, last, likes=40, comments=3, reposts=7, quotes=0)
    bell = f.post(session, account, f.at("2026-03-21"), text="-2+3 \x07 #N/A")
    f.post_snapshot(session, bell, last, likes=1, comments=0, reposts=0, quotes=0)
    session.commit()
    return build_report(db_url, f.SEED_SINCE, f.SEED_UNTIL, timezone="UTC")


@pytest.fixture
def accented(session: Session, db_url: str):
    """Chloé Müller: 2,000 followers, a post of 1,210 engagements, +500 followers in March.

    A second ambassador's post has a link that is not http(s).
    """
    chloe = f.ambassador(session, "chloe-muller", CHLOE, country="DE")
    account = f.account(session, chloe, "mastodon")
    before, last = f.run(session, f.at("2026-02-28", 2)), f.run(session, f.at("2026-03-31", 2))
    f.followers(session, account, before, 2000)
    f.followers(session, account, last, 2500)
    post = f.post(session, account, f.at("2026-03-20", 9), text=LONG_TEXT, url=CHLOE_POST)
    f.post_snapshot(session, post, last, likes=1200, comments=3, reposts=7, quotes=0)
    other = f.account(session, f.ambassador(session, "zoe-other", "Zoé Other"), "mastodon")
    odd = f.post(session, other, f.at("2026-03-21"), url="javascript:alert(1)")
    f.post_snapshot(session, odd, last, likes=1, comments=0, reposts=0, quotes=0)
    session.commit()
    return build_report(db_url, f.SEED_SINCE, f.SEED_UNTIL, timezone="UTC")


@pytest.fixture
def empty_period(session: Session, db_url: str):
    """Two ambassadors with accounts, and nothing crawled or imported for March."""
    for slug, name in (("chloe-muller", CHLOE), ("ngozi-eze", "Ngozi Eze")):
        f.account(session, f.ambassador(session, slug, name), "mastodon")
    session.commit()
    return build_report(db_url, f.SEED_SINCE, f.SEED_UNTIL, timezone="UTC")


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+33 1", "'+33 1"),
        ("-x", "'-x"),
        ("@amelie@mastodon.social", "'@amelie@mastodon.social"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("plain", "plain"),
        ("'quoted", "'quoted"),
        ("", ""),
        (-600, -600),
        (1.5, 1.5),
    ],
)
def test_csv_cell_quotes_text_that_could_start_a_formula_and_leaves_numbers(value, written) -> None:
    assert csv_cell(value) == written
    if isinstance(value, str):
        assert csv_uncell(written) == value


def test_report_csv_writes_formulas_as_quoted_text_and_negative_numbers_as_numbers(
    hostile, tmp_path: Path
) -> None:
    text = write_report(hostile, "csv", tmp_path / "r.csv").read_text(encoding="utf-8")
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["name"] == "'" + HYPERLINK
    assert (row["cohort"], row["team"]) == ("'+1", "'@SUM(A1)")
    assert row["new_followers"] == "-600"


def test_report_command_csv_on_stdout_is_quoted_too(hostile, db_url: str, monkeypatch) -> None:
    monkeypatch.setenv("REACH_DATABASE_URL", db_url)
    result = runner.invoke(
        app,
        ["report", "--since", "2026-03-01", "--until", "2026-03-31", "--format", "csv"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert next(csv.DictReader(io.StringIO(result.stdout)))["name"] == "'" + HYPERLINK


def test_report_xlsx_writes_formulas_as_string_cells_on_every_sheet(
    hostile, tmp_path: Path
) -> None:
    wb = load_workbook(write_report(hostile, "xlsx", tmp_path / "r.xlsx"))
    cells = cells_by_key(wb["by ambassador"], ENTITY_HEADERS)[0]
    assert cells["name"].value == HYPERLINK and cells["name"].data_type == "s"
    assert cells["team"].value == "@SUM(A1)" and cells["team"].data_type == "s"
    assert cells["new_followers"].value == -600 and cells["new_followers"].data_type == "n"
    texts = {r["text"].value: r for r in cells_by_key(wb["top posts"], TOP_POST_HEADERS)}
    assert set(texts) == {SUM, "-2+3  #N/A"}  # the bell character openpyxl refuses is dropped
    for row in texts.values():
        assert row["text"].data_type == "s"
        assert row["ambassador"].value == HYPERLINK
        assert row["likes"].data_type == "n"
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            assert not any(c.data_type == "f" for c in row), sheet.title


def test_roster_csv_export_quotes_formulas_and_reads_back_unchanged(
    tmp_path: Path, session: Session
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "ambassador,slug,country,cohort,team,platform,account\n"
        f'"{HYPERLINK.replace(chr(34), chr(34) * 2)}",hostile,FR,=1+2,-team,mastodon,@x@example.social\n',
        encoding="utf-8",
    )
    assert runner.invoke(app, ["roster", "import", str(roster)]).exit_code == 0
    exported = tmp_path / "export.csv"
    assert runner.invoke(app, ["roster", "export", "--output", str(exported)]).exit_code == 0
    row = next(csv.DictReader(exported.open(encoding="utf-8")))
    assert (row["ambassador"], row["cohort"], row["team"], row["account"]) == (
        "'" + HYPERLINK,
        "'=1+2",
        "'-team",
        "'@x@example.social",
    )
    result = runner.invoke(app, ["roster", "import", str(exported)])
    assert result.exit_code == 0, result.output
    assert "+0 ~0, accounts +0 ~0, unchanged 1" in result.output.replace("\n", " ")


def test_every_export_column_has_one_distinct_xlsx_header() -> None:
    columns = [c for c, _ in ENTITY_COLUMNS]
    assert list(ENTITY_HEADERS) == columns
    assert len(set(ENTITY_HEADERS.values())) == len(columns)
    assert list(TOP_POST_HEADERS) == list(TopPost.__dataclass_fields__)
    assert len(set(TOP_POST_HEADERS.values())) == len(TOP_POST_HEADERS)
    assert "period_meaning" not in columns  # one meaning per report, not per row


def test_csv_starts_with_a_bom_so_excel_reads_accented_names(accented, tmp_path: Path) -> None:
    data = write_report(accented, "csv", tmp_path / "r.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + b"key,name,")
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert rows["chloe-muller"]["name"] == CHLOE
    assert rows["chloe-muller"]["engagement_rate"] == "60.5"  # in percent, as in the JSON
    assert rows["chloe-muller"]["period_until"] == "2026-03-31"


def test_csv_without_bom_starts_with_the_header(accented) -> None:
    text = render_csv(accented, bom=False)
    assert text.startswith("key,name,")
    assert CHLOE in text
    assert render_csv(accented).startswith("\ufeffkey,name,")


def test_xlsx_headers_are_bold_frozen_and_filterable_on_every_sheet(
    accented, tmp_path: Path
) -> None:
    wb = load_workbook(write_report(accented, "xlsx", tmp_path / "r.xlsx"))
    main, posts, about = wb["by ambassador"], wb["top posts"], wb["about"]
    assert [c.value for c in main[1]][:3] == ["Key", "Name", "Country"]
    assert [c.value for c in posts[1]] == list(TOP_POST_HEADERS.values())
    for sheet in (main, posts, about):
        assert all(c.font.b for c in sheet[1] if c.value is not None), sheet.title
        assert sheet.freeze_panes in ("A2", "C2"), sheet.title  # at least the header row
    assert main.freeze_panes == "C2"  # and the key and name columns
    assert (posts.freeze_panes, about.freeze_panes) == ("A2", "A2")
    assert main.auto_filter.ref == main.dimensions
    assert posts.auto_filter.ref == posts.dimensions


def test_xlsx_cells_are_typed_dates_percentages_integers_and_links(
    accented, tmp_path: Path
) -> None:
    wb = load_workbook(write_report(accented, "xlsx", tmp_path / "r.xlsx"))
    rows = {r["key"].value: r for r in cells_by_key(wb["by ambassador"], ENTITY_HEADERS)}
    chloe = rows["chloe-muller"]
    assert chloe["name"].value == CHLOE
    for column, day in (
        ("period_since", dt.datetime(2026, 3, 1)),
        ("period_until", dt.datetime(2026, 3, 31)),
    ):
        assert chloe[column].value == day and chloe[column].is_date
        assert chloe[column].number_format == "yyyy-mm-dd"
    assert chloe["engagement_rate"].value == pytest.approx(0.605)  # 1,210 / 2,000
    assert chloe["growth_rate"].value == pytest.approx(0.25)  # +500 / 2,000
    for column in ("engagement_rate", "growth_rate"):
        assert chloe[column].number_format == "0.00%"
    assert type(chloe["likes"].value) is int and chloe["likes"].value == 1200
    assert chloe["likes"].number_format == "#,##0"
    assert type(chloe["followers"].value) is int and chloe["followers"].number_format == "#,##0"
    assert chloe["views"].value is None  # not published: an empty cell, never 0
    link = chloe["top_post_url"]
    assert link.value == CHLOE_POST and link.hyperlink.target == CHLOE_POST
    assert link.style == "Hyperlink"
    odd = rows["zoe-other"]["top_post_url"]
    assert odd.value == "javascript:alert(1)" and odd.hyperlink is None and odd.data_type == "s"

    posts = {r["url"].value: r for r in cells_by_key(wb["top posts"], TOP_POST_HEADERS)}
    top = posts[CHLOE_POST]
    assert top["published_at"].value == dt.datetime(2026, 3, 20, 9)  # UTC, no tzinfo
    assert top["published_at"].value.tzinfo is None and top["published_at"].is_date
    assert top["engagement_rate"].value == pytest.approx(0.605)
    assert top["engagement_rate"].number_format == "0.00%"
    assert type(top["engagements"].value) is int and top["engagements"].value == 1210
    assert top["url"].hyperlink.target == CHLOE_POST and top["url"].style == "Hyperlink"
    assert posts["javascript:alert(1)"]["url"].hyperlink is None


def test_xlsx_columns_fit_their_content_up_to_a_cap(accented, tmp_path: Path) -> None:
    wb = load_workbook(write_report(accented, "xlsx", tmp_path / "r.xlsx"))
    for sheet in wb.worksheets:
        widths = {k: d.width for k, d in sheet.column_dimensions.items()}
        assert widths and all(0 < w <= XLSX_MAX_WIDTH for w in widths.values()), sheet.title
    posts = wb["top posts"]
    header = [c.value for c in posts[1]]
    letter = posts.cell(1, header.index("Text") + 1).column_letter
    assert posts.column_dimensions[letter].width == XLSX_MAX_WIDTH  # a long post, capped
    main = wb["by ambassador"]
    name = main.column_dimensions["B"].width
    assert len(CHLOE) < name < 30


def test_xlsx_about_sheet_maps_headers_to_keys_and_keeps_the_formulas(
    accented, tmp_path: Path
) -> None:
    about = load_workbook(write_report(accented, "xlsx", tmp_path / "r.xlsx"))["about"]
    rows = [[c.value for c in row] for row in about.iter_rows()]
    labels = {r[0]: r[1] for r in rows if r[0]}
    assert "as of the last crawl" in labels["Meaning"]
    assert labels["Data"].startswith("2 posts")
    assert isinstance(labels["Generated (UTC)"], dt.datetime)
    firsts = [r[:3] for r in rows]
    start = firsts.index(["Column (sheet by ambassador)", "Header", "Meaning"])
    by_key = {r[0]: r for r in rows[start + 1 : firsts.index([None, None, None], start)]}
    assert list(by_key) == list(ENTITY_HEADERS)
    assert by_key["engagement_rate"][1] == "Engagement rate"
    assert "x 100" in by_key["engagement_rate"][2]  # the formula, from the metric registry
    assert any(r[0] == "Metric" and r[3] == "Formula" for r in rows)


def test_empty_period_says_so_in_json_and_xlsx_and_keeps_every_csv_row(
    empty_period, tmp_path: Path
) -> None:
    data = json.loads(render_json(empty_period))
    assert data["empty"] is True
    assert {r["key"] for r in data["rows"]} == {"chloe-muller", "ngozi-eze"}
    about = load_workbook(write_report(empty_period, "xlsx", tmp_path / "r.xlsx"))["about"]
    data_row = next(r for r in about.iter_rows(values_only=True) if r[0] == "Data")
    assert str(data_row[1]).startswith("none:")
    rows = list(csv.DictReader(io.StringIO(render_csv(empty_period, bom=False))))
    assert {r["key"] for r in rows} == {"chloe-muller", "ngozi-eze"}
    assert all((r["posts"], r["likes"], r["followers"]) == ("0", "", "") for r in rows)


def test_period_with_posts_is_not_empty(accented) -> None:
    assert json.loads(render_json(accented))["empty"] is False


def test_reach_report_no_bom_leaves_the_mark_out(session: Session, tmp_path: Path) -> None:
    f.seed_case(session)
    args = ["report", "--since", "2026-03-01", "--until", "2026-03-31", "--format", "csv"]
    with_bom = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "a.csv")])
    without = CliRunner().invoke(app, [*args, "--no-bom", "--output", str(tmp_path / "b.csv")])
    assert with_bom.exit_code == 0 and without.exit_code == 0, without.output
    assert (tmp_path / "a.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (tmp_path / "b.csv").read_bytes().startswith(b"key,")


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_reach_report_says_on_stderr_when_a_file_holds_an_empty_period(
    empty_period, tmp_path: Path, fmt: str
) -> None:
    args = ["report", "--since", "2026-03-01", "--until", "2026-03-31", "--format", fmt]
    result = CliRunner().invoke(app, [*args, "--output", str(tmp_path / f"r.{fmt}")])
    assert result.exit_code == 0, result.output
    assert "note: 2026-03-01 to 2026-03-31 holds no data" in result.stderr
    assert (tmp_path / f"r.{fmt}").exists()


def test_reach_report_adds_no_note_when_the_period_has_data(
    session: Session, tmp_path: Path
) -> None:
    f.seed_case(session)
    args = ["report", "--since", "2026-03-01", "--until", "2026-03-31", "--format", "csv"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "holds no data" not in result.stderr
