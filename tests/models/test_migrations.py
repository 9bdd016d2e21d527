"""Migrations: an empty database upgrades to head, and models and migrations agree."""

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel, select

from models import PostCounts
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


def test_upgrade_fills_post_counts_from_the_history_already_stored(empty_url: str) -> None:
    """Migration 0003 on a database with a history: every post gets its row, as if the triggers
    had been there all along."""
    upgrade(empty_url, "0002")
    t = [dt.datetime(2026, 1, d, 8, tzinfo=dt.UTC) for d in range(1, 6)]
    with get_engine(empty_url).begin() as connection:

        def insert(table: str, **values: object) -> None:
            columns = ", ".join(values)
            connection.execute(
                text(
                    f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in values)})"
                ),
                values,
            )

        insert(
            "ambassador",
            id=1,
            slug="amelie",
            name="Amélie",
            country="FR",
            active=True,
            created_at=t[0],
            updated_at=t[0],
        )
        insert(
            "account",
            id=1,
            ambassador_id=1,
            platform="mastodon",
            handle="@a@m.social",
            key="a@m.social",
            source="crawl",
            status="active",
            created_at=t[0],
            updated_at=t[0],
        )
        for run in (1, 2, 3, 4):
            insert(
                "crawlrun",
                id=run,
                platform="mastodon",
                source="crawl",
                status="succeeded",
                started_at=t[run],
                requests=0,
                items=0,
                errors=0,
            )
            insert(
                "accountsnapshot",
                account_id=1,
                crawl_run_id=run,
                observed_at=t[run],
                followers=100 * run,
            )
        insert(
            "post",
            id=1,
            account_id=1,
            platform="mastodon",
            platform_post_id="1",
            published_at=t[2] + dt.timedelta(hours=1),
            kind="original",
            source="crawl",
            first_seen_at=t[3],
            last_seen_at=t[4],
        )
        insert(
            "post",
            id=2,
            account_id=1,
            platform="mastodon",
            platform_post_id="2",
            published_at=t[0],
            kind="original",
            source="crawl",
            first_seen_at=t[2],
            last_seen_at=t[2],
        )
        for run, likes in ((3, 5), (4, 9)):
            insert(
                "postsnapshot",
                post_id=1,
                crawl_run_id=run,
                observed_at=t[run],
                likes=likes,
                approximate=False,
            )
        insert(
            "postsnapshot", post_id=2, crawl_run_id=2, observed_at=t[2], likes=1, approximate=False
        )
    upgrade(empty_url)
    with Session(get_engine(empty_url)) as session:
        rows = {r.post_id: r for r in session.exec(select(PostCounts)).all()}
    assert (rows[1].likes, rows[1].prev_likes, rows[1].followers_at_post) == (9, 5, 200)
    # Published before the account's first snapshot: the first one after.
    assert (rows[2].likes, rows[2].previous_id, rows[2].followers_at_post) == (1, None, 100)
