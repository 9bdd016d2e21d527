"""Migrations: an empty database upgrades to head, and models and migrations agree."""

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from reach.db import alembic_config, current_revision, get_engine, upgrade
from tests.conftest import POSTGRES_URL, reset_postgres_schema


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'empty.db'}"
    request.getfixturevalue("postgres_migrated")  # so the session drops its schema at the end
    reset_postgres_schema()  # each test below leaves the schema at head again
    return POSTGRES_URL


def test_empty_database_upgrades_to_head_and_matches_models(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert current_revision(empty_url) == _head()
    tables = set(inspect(get_engine(empty_url)).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    command.check(alembic_config(empty_url))  # raises if models and migrations differ


def test_downgrade_to_base_removes_every_table(empty_url: str) -> None:
    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "base")
    assert set(inspect(get_engine(empty_url)).get_table_names()) <= {"alembic_version"}
    upgrade(empty_url)  # and back, so a migrated schema is left behind
