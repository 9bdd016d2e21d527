"""Settings: defaults, environment, and what `reach config show` reveals."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from reach.settings import Settings


def test_default_database_is_an_absolute_sqlite_file_under_var(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'reach.db'}"
    assert settings.lookback_days == 30 and settings.allow_private_hosts is False


def test_environment_overrides_and_relative_sqlite_paths_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REACH_DATABASE_URL", "sqlite:///data/x.db")
    monkeypatch.setenv("REACH_LOOKBACK_DAYS", "7")
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'x.db'}"
    assert settings.lookback_days == 7


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REACH_TIMEZONE=Europe/Paris\n")
    assert Settings().timezone == "Europe/Paris"


def test_unknown_timezone_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REACH_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Settings()


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REACH_DATABASE_URL", "postgresql+psycopg://reach:s3cret@db.example/reach")
    monkeypatch.setenv("REACH_REPLY_AUTHOR_SALT", "pepper-123")
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert "s3cret" not in result.output and "pepper-123" not in result.output
    assert "postgresql+psycopg://reach:***@db.example/reach" in result.output
    assert "REACH_LOOKBACK_DAYS" in result.output
