"""LinkedIn analytics exports: parsing both generations, storage, bad files, CLI and the flow."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app
from models import (
    Account,
    AccountDailyMetric,
    AccountPeriodMetric,
    AccountSnapshot,
    Ambassador,
    AudienceDemographic,
    CrawlRun,
    Post,
    PostSnapshot,
)
from reach.linkedin.parse import (
    BadExport,
    CreatorExport,
    PostExport,
    name_from_filename,
    parse_export,
    post_key,
)
from reach.linkedin.samples import write_creator_export, write_post_export
from reach.linkedin.store import import_files

D = dt.date
JAN_1, JAN_31 = D(2026, 1, 1), D(2026, 1, 31)
URL_SHARE = (
    "https://www.linkedin.com/posts/amara-okafor_ai-share-7412345678901234567-AbCd?utm_source=share"
)
URL_ACTIVITY = "https://www.linkedin.com/feed/update/urn:li:activity:7412345678901234999/"
URL_UGC = "https://www.linkedin.com/posts/amara-okafor_launch-ugcPost-7400000000000000001-Xy"
TABLES = (
    Account,
    AccountDailyMetric,
    AccountPeriodMetric,
    AccountSnapshot,
    AudienceDemographic,
    CrawlRun,
    Post,
    PostSnapshot,
)


def creator_workbook(
    path: Path,
    start: dt.date = JAN_1,
    end: dt.date = JAN_31,
    *,
    text: bool = False,
    daily: dict[dt.date, tuple[int, int]] | None = None,
    followers: dict[dt.date, int] | None = None,
    total: int = 5400,
    top_engagements: list[tuple[str, dt.date, int]] | None = None,
    top_impressions: list[tuple[str, dt.date, int]] | None = None,
    colon: bool = True,
    date_header: str = "Post publish date",
    demographics: bool = True,
    tweak: Any = None,
) -> Path:
    """A creator analytics export with these tests' defaults (text=True: the 2026 generation)."""
    days = [start + dt.timedelta(n) for n in range((end - start).days + 1)]
    return write_creator_export(
        path,
        start,
        end,
        daily=daily if daily is not None else {d: (100 + d.day, d.day % 5) for d in days},
        new_followers=followers if followers is not None else {d: 2 for d in days},
        total_followers=total,
        members_reached=2100,
        top_by_engagements=top_engagements
        if top_engagements is not None
        else [(URL_SHARE, D(2026, 1, 5), 420)],
        top_by_impressions=top_impressions
        if top_impressions is not None
        else [(URL_SHARE, D(2026, 1, 5), 9000)],
        demographics=[("Job titles", "Software Engineer", 0.12), ("Locations", "Lagos", 0.005)]
        if demographics
        else None,
        generation="2026" if text else "older",
        followers_colon=colon,
        date_header=date_header,
        tweak=tweak,
    )


def post_workbook(
    path: Path,
    *,
    url: str = URL_ACTIVITY,
    text: bool = True,
    reactions: Any = 31000,
    comments: Any = 2900,
    tweak: Any = None,
) -> Path:
    """A single-post export with these tests' defaults (the seed post's figures)."""
    return write_post_export(
        path,
        url=url,
        published_on=D(2026, 1, 10),
        publish_time="9:04 AM",
        impressions=1250000,
        members_reached=610000,
        reactions=reactions,
        comments=comments,
        reposts=410,
        saves=1200,
        sends=300,
        profile_viewers=3100,
        followers_gained=900,
        demographics=[("Job title", "Product Manager", 0.09), ("Location", "Nairobi", 0.005)],
        generation="2026" if text else "older",
        tweak=tweak,
    )


def counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {t.__name__: session.exec(select(func.count()).select_from(t)).one() for t in TABLES}


def table_values(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of the import tables, minus timestamps of the import itself."""
    session.expire_all()
    skip = {"imported_at", "created_at", "updated_at", "started_at", "finished_at"}
    out = {}
    for t in TABLES:
        cols = [c.name for c in t.__table__.columns if c.name not in skip]  # type: ignore[attr-defined]
        out[t.__name__] = sorted(
            tuple(str(getattr(r, c)) for c in cols) for r in session.exec(select(t)).all()
        )
    return out


@pytest.fixture
def roster(session: Session) -> dict[str, Ambassador]:
    people = {
        "amara": Ambassador(slug="amara-okafor", name="Amara Okafor", country="NG"),
        "amelie": Ambassador(slug="amelie-laurent", name="Amélie Laurent", country="FR"),
    }
    session.add_all(people.values())
    session.commit()
    return people


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "urn", "vanity"),
    [
        (URL_SHARE, "urn:li:share:7412345678901234567", "amara-okafor"),
        (URL_ACTIVITY, "urn:li:activity:7412345678901234999", None),
        (URL_UGC, "urn:li:ugcPost:7400000000000000001", "amara-okafor"),
        (
            "https://www.linkedin.com/posts/jo_x-activity-7411111111111111111-q1",
            "urn:li:activity:7411111111111111111",
            "jo",
        ),
        (
            "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7000000000000000001",
            "urn:li:share:7000000000000000001",
            None,
        ),
    ],
)
def test_post_key_is_derived_from_every_url_form(url: str, urn: str, vanity: str | None) -> None:
    key = post_key(url)
    assert key is not None and (key.urn, key.vanity) == (urn, vanity)


def test_a_profile_url_is_not_a_post() -> None:
    assert post_key("https://www.linkedin.com/in/amara-okafor") is None


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx", "AmaraOkafor"),
        ("Content_2026-01-01_2026-01-31_AmaraOkafor (1).xlsx", "AmaraOkafor"),
        ("AggregateAnalytics_Amara Okafor_2026-01-01_2026-01-31.xlsx", "Amara Okafor"),
        ("PostAnalytics_AmaraOkafor_7412345678901234567.xlsx", "AmaraOkafor"),
        ("SinglePostAnalytics_Amélie Laurent_7412345678901234567 (2).xlsx", "Amélie Laurent"),
        ("january.xlsx", None),
    ],
)
def test_name_is_read_from_linkedin_file_names(filename: str, name: str | None) -> None:
    assert name_from_filename(filename) == name


def test_older_creator_export_with_numeric_cells(tmp_path: Path) -> None:
    export = parse_export(creator_workbook(tmp_path / "renamed.xlsx"))
    assert isinstance(export, CreatorExport)
    assert (export.period_start, export.period_end) == (D(2026, 1, 1), D(2026, 1, 31))
    assert export.members_reached == 2100 and export.followers_total == 5400
    assert export.followers_on == D(2026, 1, 31)
    assert len(export.days) == 31 and export.days[0].impressions == 101
    assert sum(d.new_followers or 0 for d in export.days) == 62
    [post] = export.posts
    assert (post.url, post.engagements, post.impressions) == (URL_SHARE, 420, 9000)
    assert [(d.scope, d.category, d.share, d.share_pct) for d in export.demographics] == [
        ("audience", "Job titles", "12%", 12.0),
        ("audience", "Locations", "0.5%", 0.5),
    ]


def test_2026_creator_export_with_text_cells_and_its_quirks(tmp_path: Path) -> None:
    daily = {D(2026, 2, 1): (6530, 40), D(2026, 2, 2): (120, -3)}
    path = creator_workbook(
        tmp_path / "AggregateAnalytics_Amara Okafor_2026-02-01_2026-02-02.xlsx",
        D(2026, 2, 1),
        D(2026, 2, 2),
        text=True,
        daily=daily,
        followers={D(2026, 2, 1): 5, D(2026, 2, 2): 0},
        colon=False,
        date_header="Post Publish Date",
        top_engagements=[(URL_SHARE, D(2026, 1, 30), 77)],
        top_impressions=[(URL_SHARE, D(2026, 1, 30), 6530), (URL_UGC, D(2026, 2, 1), 15)],
    )
    export = parse_export(path)
    assert isinstance(export, CreatorExport)
    assert [(d.impressions, d.engagements, d.new_followers) for d in export.days] == [
        (6530, 40, 5),
        (120, -3, 0),
    ]  # a negative engagement day is kept as LinkedIn gave it
    assert export.followers_on == D(2026, 2, 2) and export.followers_total == 5400
    by_urn = {p.key.urn: p for p in export.posts}
    assert by_urn["urn:li:share:7412345678901234567"].engagements == 77
    only_in_impressions = by_urn["urn:li:ugcPost:7400000000000000001"]
    assert (only_in_impressions.impressions, only_in_impressions.engagements) == (15, None)
    shares = {(d.scope, d.value): (d.share, d.share_pct) for d in export.demographics}
    assert shares[("content", "Software Engineer")] == ("12%", 12.0)
    assert shares[("audience", "Lagos")] == ("< 1%", None)


def test_single_post_export_rows_are_found_by_label(tmp_path: Path) -> None:
    def shuffle(wb: Workbook) -> None:
        wb.active.insert_rows(4)  # rows come and go between versions
        wb.active["A4"], wb.active["B4"] = "Link engagements", "12"

    export = parse_export(
        post_workbook(tmp_path / "p.xlsx", tweak=shuffle), observed_on=D(2026, 2, 3)
    )
    assert isinstance(export, PostExport)
    assert export.key.urn == "urn:li:activity:7412345678901234999"
    assert export.published_on == D(2026, 1, 10) and export.observed_on == D(2026, 2, 3)
    assert export.metrics == {
        "impressions": 1250000,
        "members_reached": 610000,
        "likes": 31000,
        "comments": 2900,
        "reposts": 410,
    }
    assert export.extra["followers_gained_from_this_post"] == 900
    assert export.extra["link_engagements"] == 12
    assert [(d.category, d.share, d.share_pct) for d in export.demographics] == [
        ("Job title", "9%", 9.0),
        ("Location", "< 1%", None),
    ]


def test_a_date_cell_from_a_resave_in_excel_is_accepted(tmp_path: Path) -> None:
    def resaved(wb: Workbook) -> None:
        wb["ENGAGEMENT"]["A2"] = dt.datetime(2026, 1, 1)

    export = parse_export(creator_workbook(tmp_path / "x.xlsx", tweak=resaved))
    assert export.days[0].day == D(2026, 1, 1)


def _garbage(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04 this is not a zip")
    return path


def _csv(path: Path) -> Path:
    path.with_suffix(".csv").write_text("Date,Impressions\n1/1/2026,3\n")
    return path.with_suffix(".csv")


def _without(sheet: str) -> Any:
    return lambda wb: wb.remove(wb[sheet])


def _header_moved(wb: Workbook) -> None:
    wb["ENGAGEMENT"].insert_rows(1)


def _cell(sheet: str, ref: str, value: Any) -> Any:
    def set_cell(wb: Workbook) -> None:
        wb[sheet][ref] = value

    return set_cell


BAD_FILES = [
    ("not-xlsx", lambda p: _csv(p), "not an .xlsx file"),
    ("corrupt", lambda p: _garbage(p), "not a readable .xlsx workbook"),
    (
        "sheet-missing",
        lambda p: creator_workbook(p, tweak=_without("FOLLOWERS")),
        "sheet FOLLOWERS: sheet missing",
    ),
    (
        "header-moved",
        lambda p: creator_workbook(p, tweak=_header_moved),
        "ENGAGEMENT!A1: expected header 'date' of 'date | impressions | engagements', got '' (found it on row 2)",
    ),
    (
        "date-outside-period",
        lambda p: creator_workbook(p, tweak=_cell("ENGAGEMENT", "A7", "2/14/2026")),
        "ENGAGEMENT!A7: date 02/14/2026 is outside the file's period 01/01/2026 - 01/31/2026",
    ),
    (
        "text-for-number",
        lambda p: creator_workbook(p, tweak=_cell("ENGAGEMENT", "B7", "lots")),
        "ENGAGEMENT!B7: Impressions: expected a number, got 'lots'",
    ),
    (
        "follower-text",
        lambda p: creator_workbook(p, text=True, tweak=_cell("FOLLOWERS", "B9", "12%")),
        "FOLLOWERS!B9: New followers: expected a number, got '12%'",
    ),
    (
        "day-month-date",
        lambda p: creator_workbook(p, tweak=_cell("FOLLOWERS", "A4", "2026-01-01")),
        "FOLLOWERS!A4: Date: expected a date as M/D/YYYY, got '2026-01-01'",
    ),
    (
        "bad-post-url",
        lambda p: creator_workbook(p, tweak=_cell("TOP POSTS", "E4", "https://example.org/x")),
        "TOP POSTS!E4: not a LinkedIn post URL",
    ),
    (
        "reactions-text",
        lambda p: post_workbook(p, reactions="31K"),
        "Post analytics!B12: Reactions: expected a number, got '31K'",
    ),
    ("unknown-workbook", lambda p: (Workbook().save(p), p)[1], "not a LinkedIn analytics export"),
]


@pytest.mark.parametrize(("case", "build", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_file_names_file_sheet_cell_and_problem(
    tmp_path: Path, case: str, build: Any, message: str
) -> None:
    path = build(tmp_path / f"Content_2026-01-01_2026-01-31_AmaraOkafor_{case}.xlsx")
    with pytest.raises(BadExport) as caught:
        parse_export(path)
    assert str(caught.value).startswith(f"{path.name}: ")
    assert message in str(caught.value)


# --- storage (SQLite and PostgreSQL) ---------------------------------------------------------


def test_seed_case_is_stored_with_exact_figures(
    tmp_path: Path, db_url: str, session: Session, roster: dict[str, Ambassador]
) -> None:
    days = [D(2026, 1, 1) + dt.timedelta(n) for n in range(31)]
    gains = {d: 50 for d in days[:30]} | {days[30]: 100}  # 1,600 new followers over the period
    creator = creator_workbook(
        tmp_path / "Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx",
        followers=gains,
        top_engagements=[(URL_ACTIVITY, D(2026, 1, 10), 33900)],
        top_impressions=[(URL_ACTIVITY, D(2026, 1, 10), 1200000)],
    )
    single = post_workbook(tmp_path / "PostAnalytics_AmaraOkafor_7412345678901234999.xlsx")
    outcomes = import_files([creator, single], url=db_url)
    assert [o.ok for o in outcomes] == [True, True], [o.message for o in outcomes]

    session.expire_all()
    post = session.exec(select(Post)).one()
    assert (post.platform, post.platform_post_id, post.source, post.kind) == (
        "linkedin",
        "urn:li:activity:7412345678901234999",
        "import",
        "original",
    )
    assert post.url == URL_ACTIVITY
    assert post.published_at == dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    snaps = session.exec(select(PostSnapshot).where(PostSnapshot.likes.is_not(None))).all()  # type: ignore[union-attr]
    assert [(s.likes, s.comments, s.reposts) for s in snaps] == [(31000, 2900, 410)]
    from_top = session.exec(select(PostSnapshot).where(PostSnapshot.likes.is_(None))).one()  # type: ignore[union-attr]
    assert (from_top.impressions, from_top.extra, from_top.observed_at) == (
        1200000,
        {"engagements": 33900},
        dt.datetime(2026, 1, 31, tzinfo=dt.UTC),
    )
    account = session.exec(select(Account)).one()
    assert (account.platform, account.source, account.ambassador_id) == (
        "linkedin",
        "import",
        roster["amara"].id,
    )
    assert session.exec(select(func.sum(AccountDailyMetric.new_followers))).one() == 1600
    period = session.exec(select(AccountPeriodMetric)).one()
    assert (period.members_reached, period.followers_total) == (2100, 5400)
    follower_snap = session.exec(select(AccountSnapshot)).one()
    assert (follower_snap.followers, follower_snap.observed_at) == (
        5400,
        dt.datetime(2026, 1, 31, tzinfo=dt.UTC),
    )
    runs = session.exec(select(CrawlRun)).all()
    assert (
        sorted((r.platform, r.source, r.status) for r in runs)
        == [("linkedin", "import", "succeeded")] * 2
    )
    assert session.exec(select(func.count()).select_from(AudienceDemographic)).one() == 2


def test_roster_linkedin_account_is_used(
    tmp_path: Path, db_url: str, session: Session, roster: dict[str, Ambassador]
) -> None:
    session.add(
        Account(
            ambassador_id=roster["amelie"].id,
            platform="linkedin",
            key="amelie-l",
            handle="https://www.linkedin.com/in/amelie-l",
            source="import",
        )
    )
    session.commit()
    path = creator_workbook(
        tmp_path / "AggregateAnalytics_amelie laurent_2026-01-01_2026-01-31 (1).xlsx"
    )
    [outcome] = import_files([path], url=db_url)
    assert outcome.ok, outcome.message
    session.expire_all()
    assert [a.key for a in session.exec(select(Account)).all()] == ["amelie-l"]


def test_reimport_changes_nothing(
    tmp_path: Path, db_url: str, session: Session, roster: dict[str, Ambassador]
) -> None:
    files = [
        creator_workbook(tmp_path / "Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx", text=True),
        post_workbook(tmp_path / "SinglePostAnalytics_Amara Okafor_7412345678901234999.xlsx"),
    ]
    import_files(files, url=db_url)
    before, values = counts(session), table_values(session)
    again = import_files(files, url=db_url)
    assert all(o.ok and "unchanged" in o.message for o in again), [o.message for o in again]
    assert counts(session) == before
    assert table_values(session) == values


def test_overlapping_newer_export_updates_the_overlap(
    tmp_path: Path, db_url: str, session: Session, roster: dict[str, Ambassador]
) -> None:
    january = creator_workbook(
        tmp_path / "Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx",
        daily={D(2026, 1, d): (100, 1) for d in range(1, 32)},
    )
    # LinkedIn revises recent days upward: the newer export has more for the overlapping days.
    later = creator_workbook(
        tmp_path / "Content_2026-01-20_2026-02-10_AmaraOkafor.xlsx",
        D(2026, 1, 20),
        D(2026, 2, 10),
        daily={D(2026, 1, 20) + dt.timedelta(n): (150, 2) for n in range(22)},
    )
    assert all(o.ok for o in import_files([january], url=db_url))
    assert all(o.ok for o in import_files([later], url=db_url))
    session.expire_all()
    by_day = {m.day: m for m in session.exec(select(AccountDailyMetric)).all()}
    assert len(by_day) == 41
    assert by_day[D(2026, 1, 19)].impressions == 100
    assert by_day[D(2026, 1, 20)].impressions == 150 and by_day[D(2026, 1, 31)].engagements == 2
    assert by_day[D(2026, 1, 25)].source_file == later.name
    # Importing the older file again must not undo the revision.
    import_files([january], url=db_url)
    session.expire_all()
    assert (
        session.exec(select(AccountDailyMetric).where(AccountDailyMetric.day == D(2026, 1, 25)))
        .one()
        .impressions
        == 150
    )
    assert session.exec(select(func.count()).select_from(AccountPeriodMetric)).one() == 2


@pytest.mark.parametrize(
    ("case", "build", "message"), BAD_FILES[2:6], ids=[c[0] for c in BAD_FILES[2:6]]
)
def test_bad_file_stores_nothing_and_others_still_import(
    tmp_path: Path,
    db_url: str,
    session: Session,
    roster: dict[str, Ambassador],
    case: str,
    build: Any,
    message: str,
) -> None:
    bad = build(tmp_path / "Content_2026-02-01_2026-02-28_AmaraOkafor.xlsx")
    good = post_workbook(tmp_path / "PostAnalytics_AmaraOkafor_7412345678901234999.xlsx")
    outcomes = import_files([bad, good], url=db_url)
    assert [o.ok for o in outcomes] == [False, True]
    assert message in outcomes[0].message and outcomes[0].message.startswith(bad.name)
    assert counts(session) | {"Post": 0} == {t.__name__: 0 for t in TABLES} | {
        "Account": 1,
        "CrawlRun": 1,
        "PostSnapshot": 1,
    }


def test_cli_imports_a_folder_and_exit_code_says_some_failed(
    tmp_path: Path, db_url: str, session: Session, roster: dict[str, Ambassador]
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    creator_workbook(folder / "Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx")
    creator_workbook(
        folder / "Content_2026-02-01_2026-02-28_AmaraOkafor.xlsx",
        D(2026, 2, 1),
        D(2026, 2, 28),
        tweak=_cell("ENGAGEMENT", "B7", "lots"),
    )
    result = CliRunner().invoke(app, ["import", "linkedin", str(folder)])
    assert result.exit_code == 1
    assert "ENGAGEMENT!B7: Impressions: expected a number, got 'lots'" in result.output
    assert "1 of 2 file(s) failed" in result.output
    assert counts(session)["AccountPeriodMetric"] == 1


def test_cli_asks_for_ambassador_when_the_file_name_does_not_say(
    tmp_path: Path, db_url: str, session: Session, roster: dict[str, Ambassador]
) -> None:
    path = creator_workbook(tmp_path / "january.xlsx")
    result = CliRunner().invoke(app, ["import", "linkedin", str(path)])
    assert result.exit_code == 1 and "pass --ambassador SLUG" in result.output
    assert counts(session)["CrawlRun"] == 0
    result = CliRunner().invoke(
        app, ["import", "linkedin", str(path), "--ambassador", "amara-okafor"]
    )
    assert result.exit_code == 0, result.output
    assert counts(session)["AccountDailyMetric"] == 31


# --- the import-linkedin flow ----------------------------------------------------------------


def test_inbox_sorts_files_into_imported_and_failed(
    tmp_path: Path, db_url: str, session: Session, roster: dict[str, Ambassador]
) -> None:
    from flows.linkedin import import_inbox, outcomes_markdown

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    creator_workbook(inbox / "Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx")
    _csv(inbox / "notes.xlsx")
    (inbox / "half.xlsx.crdownload").write_bytes(b"...")
    outcomes = import_inbox(inbox, database_url=db_url)
    assert sorted((o.file, o.ok) for o in outcomes) == [
        ("Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx", True),
        ("notes.csv", False),
    ]
    assert (inbox / "imported" / "Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx").is_file()
    reason = (inbox / "failed" / "notes.csv.error.txt").read_text()
    assert "notes.csv: not an .xlsx file" in reason
    assert (inbox / "half.xlsx.crdownload").exists()  # still downloading: left for the next run
    assert "| `notes.csv` | **failed** |" in outcomes_markdown(inbox, outcomes)
    assert counts(session)["AccountDailyMetric"] == 31


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the session (it takes seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    # Its default 30 s wait ran out in a fresh clone, where the server's first start also
    # compiles Prefect's modules and migrates its database on a busy 2-core machine.
    with prefect_test_harness(server_startup_timeout=180):
        yield


def test_flow_imports_then_fails_naming_the_bad_file(
    tmp_path: Path,
    db_url: str,
    session: Session,
    roster: dict[str, Ambassador],
    prefect_harness: None,
) -> None:
    from prefect.client.orchestration import get_client

    from flows.linkedin import ARTIFACT_KEY, LinkedInImportFailed, import_linkedin

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    post_workbook(inbox / "PostAnalytics_AmaraOkafor_7412345678901234999.xlsx")
    creator_workbook(
        inbox / "Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx", tweak=_without("FOLLOWERS")
    )
    with pytest.raises(LinkedInImportFailed, match="sheet FOLLOWERS: sheet missing"):
        import_linkedin(folder=str(inbox))
    assert (inbox / "imported" / "PostAnalytics_AmaraOkafor_7412345678901234999.xlsx").is_file()
    assert (inbox / "failed" / "Content_2026-01-01_2026-01-31_AmaraOkafor.xlsx.error.txt").is_file()
    assert counts(session)["PostSnapshot"] == 1
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()  # type: ignore[attr-defined]
    assert any(a.key == ARTIFACT_KEY and "**failed**" in str(a.data) for a in artifact)
