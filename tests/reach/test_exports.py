"""Exports for spreadsheets and BI tools: UTF-8 Excel can read, and unable to run code."""

import csv
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
from reach.report.render import render_csv, render_json
from tests.reach import factories as f

runner = CliRunner()
HYPERLINK = '=HYPERLINK("http://x.example/","y")'
SUM = "=1+2"
CHLOE = "Chloé Müller"
CHLOE_POST = "https://example.social/@chloe/1"


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
    """Chloé Müller: 2,000 followers, a post of 1,210 engagements, +500 followers in March."""
    chloe = f.ambassador(session, "chloe-muller", CHLOE, country="DE")
    account = f.account(session, chloe, "mastodon")
    before, last = f.run(session, f.at("2026-02-28", 2)), f.run(session, f.at("2026-03-31", 2))
    f.followers(session, account, before, 2000)
    f.followers(session, account, last, 2500)
    post = f.post(session, account, f.at("2026-03-20", 9), url=CHLOE_POST)
    f.post_snapshot(session, post, last, likes=1200, comments=3, reposts=7, quotes=0)
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
    main = wb["by ambassador"]
    header = [c.value for c in main[1]]
    cells = dict(zip(header, main[2], strict=True))
    assert cells["name"].value == HYPERLINK and cells["name"].data_type == "s"
    assert cells["team"].value == "@SUM(A1)" and cells["team"].data_type == "s"
    assert cells["new_followers"].value == -600 and cells["new_followers"].data_type == "n"
    posts = wb["top posts"]
    post_header = [c.value for c in posts[1]]
    texts = {r[post_header.index("text")].value: r for r in posts.iter_rows(min_row=2)}
    assert set(texts) == {SUM, "-2+3  #N/A"}  # the bell character openpyxl refuses is dropped
    for row in texts.values():
        assert row[post_header.index("text")].data_type == "s"
        assert row[post_header.index("ambassador")].value == HYPERLINK
        assert row[post_header.index("likes")].data_type == "n"
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


def test_empty_period_says_so_in_json_and_keeps_every_csv_row(empty_period) -> None:
    data = json.loads(render_json(empty_period))
    assert data["empty"] is True
    assert {r["key"] for r in data["rows"]} == {"chloe-muller", "ngozi-eze"}
    rows = list(csv.DictReader(io.StringIO(render_csv(empty_period, bom=False))))
    assert {r["key"] for r in rows} == {"chloe-muller", "ngozi-eze"}
    assert all((r["posts"], r["likes"], r["followers"]) == ("0", "", "") for r in rows)


def test_period_with_posts_is_not_empty(accented) -> None:
    assert json.loads(render_json(accented))["empty"] is False
