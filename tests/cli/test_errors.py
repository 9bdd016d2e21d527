"""Errors a person can act on: a missing, unmigrated or mistyped database gets one line naming it
and the command that fixes it, a non-zero exit, no traceback, and no file created."""

from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from reach.settings import get_settings

runner = CliRunner()
READERS = [["report"], ["roster", "list"], ["users", "list"], ["runs", "reap"]]


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", READERS, ids=[" ".join(c) for c in READERS])
def test_a_missing_database_is_named_with_its_fix_and_not_created(
    tmp_path: Path, command: list[str]
) -> None:
    before = files_under(tmp_path)
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"error: no database at {tmp_path / 'var' / 'reach.db'}: create it with `reach db upgrade`"
    )
    assert files_under(tmp_path) == before and not (tmp_path / "var" / "reach.db").exists()


def test_a_missing_database_points_at_the_demos_when_there_is_one(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo.db").write_bytes(b"")
    result = runner.invoke(app, ["report"])
    assert result.exit_code == 2
    assert f"REACH_DATABASE_URL=sqlite:///{tmp_path / 'var' / 'demo.db'}" in result.stderr


def test_an_unmigrated_database_says_to_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    monkeypatch.setenv("REACH_DATABASE_URL", f"sqlite:///{empty}")
    get_settings.cache_clear()
    result = runner.invoke(app, ["roster", "list"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: the database sqlite:///{empty} has no tables yet: run `reach db upgrade`"
    )


def test_a_mistyped_database_url_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REACH_DATABASE_URL", "postgress://nowhere")
    get_settings.cache_clear()
    result = runner.invoke(app, ["report"])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: REACH_DATABASE_URL names no database") and "postgress" in line
    assert "Traceback" not in result.output
    assert files_under(tmp_path) == set()


def test_help_needs_no_database(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout
    assert files_under(tmp_path) == set()


def test_a_database_url_that_is_no_url_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REACH_DATABASE_URL", "var/reach.db")
    get_settings.cache_clear()
    result = runner.invoke(app, ["roster", "list"])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: REACH_DATABASE_URL: not a database URL: 'var/reach.db'")
    assert files_under(tmp_path) == set()


def test_version_is_the_packages() -> None:
    import tomllib

    from tests.conftest import TESTS_DIR

    pyproject = tomllib.loads((TESTS_DIR.parent / "pyproject.toml").read_text(encoding="utf-8"))
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"reach {pyproject['project']['version']}"


def test_help_lists_the_choices() -> None:
    report = runner.invoke(app, ["report", "--help"], env={"COLUMNS": "200"}).stdout
    assert (
        "table|csv|json|xlsx|html" in report and "ambassador|platform|country|cohort|team" in report
    )
    assert (
        "mastodon|bluesky|feed"
        in runner.invoke(app, ["crawl", "--help"], env={"COLUMNS": "200"}).stdout
    )


def test_platform_any_case_and_a_mistyped_slug_suggests_the_right_one(session: Session) -> None:
    from tests.reach import factories as f

    f.ambassador(session, "li-na", "Li Na")
    session.commit()
    result = runner.invoke(app, ["crawl", "--platform", "Mastodon", "--ambassador", "li-nq"])
    assert result.exit_code != 0
    assert "unknown ambassador(s): li-nq (did you mean li-na?)" in result.stderr


def _broken_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tempfile

    from reach.settings import Settings

    def boom(self: Settings) -> dict[str, str]:
        raise RuntimeError("the settings object broke\nsecond line of the message")

    monkeypatch.setattr(Settings, "masked", boom)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()


def test_an_unexpected_error_is_one_line_naming_where_its_traceback_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    _broken_settings(monkeypatch, tmp_path)
    monkeypatch.setattr("sys.argv", ["reach", "config", "show"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: unexpected RuntimeError: the settings object broke (traceback")
    (written,) = (tmp_path / "tmp" / "reach-errors").iterdir()
    assert str(written) in line and "`reach --debug ...` prints it" in line
    text = written.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "second line of the message" in text


def test_debug_lets_the_traceback_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import main

    _broken_settings(monkeypatch, tmp_path)
    monkeypatch.setattr("sys.argv", ["reach", "--debug", "config", "show"])
    with pytest.raises(RuntimeError, match="the settings object broke"):
        main()
    assert not (tmp_path / "tmp" / "reach-errors").exists()


def test_reach_crawl_warns_of_reply_threads_deferred_to_the_next_night(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crawler.run
    from reach.runs import CrawlResult

    def crawled(*args: object, **kwargs: object) -> CrawlResult:
        return CrawlResult("mastodon", 7, "succeeded", 0, 1.0, {"reach/threads_deferred": 12})

    monkeypatch.setattr(crawler.run, "run_crawl", crawled)
    result = runner.invoke(app, ["crawl", "--platform", "mastodon"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: 12 reply threads deferred to the next night: host budget share"
        in result.stderr.splitlines()
    )
