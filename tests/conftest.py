"""Shared fixtures: one migrated database per backend (SQLite file, the PostgreSQL server)."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import models  # noqa: F401  (registers the tables)
from reach.db import get_engine, upgrade
from reach.settings import get_settings

POSTGRES_SERVER_URL = os.environ.get(
    "REACH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Each test session works in its own schema of the `test` database, so two sessions running at
# once (a developer and CI, or parallel helpers) never empty each other's tables.
POSTGRES_SCHEMA = f"reach_test_{os.getpid()}"
POSTGRES_URL = str(
    make_url(POSTGRES_SERVER_URL).update_query_dict({"options": f"-csearch_path={POSTGRES_SCHEMA}"})
)
TESTS_DIR = Path(__file__).parent


def get_testdata(*parts: str) -> bytes:
    """A saved response under tests/sample_data/."""
    return TESTS_DIR.joinpath("sample_data", *parts).read_bytes()


def reset_postgres_schema() -> None:
    """Drop and recreate this session's schema in the test database."""
    engine = create_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{POSTGRES_SCHEMA}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{POSTGRES_SCHEMA}"'))
    finally:
        engine.dispose()


def drop_postgres_schema() -> None:
    engine = create_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{POSTGRES_SCHEMA}" CASCADE'))
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own var/ folder and no REACH_ setting from the caller's shell or .env.

    The sandbox's calendar date stays: the session's sandboxes were started with it, and the
    tests' `sandbox.truth` must see the same date.
    """
    for name in list(os.environ):
        if name.startswith("REACH_") and name not in (
            "REACH_TEST_POSTGRES_URL",
            "REACH_SANDBOX_DATE",
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REACH_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "reach.db"
    upgrade(f"sqlite:///{path}")
    get_engine(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str]:
    """This session's schema in the PostgreSQL test database, migrated to head once."""
    try:
        reset_postgres_schema()
    except Exception as exc:  # noqa: BLE001 - the message says what to do
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_SERVER_URL}: {exc} (start it; see .ci/run)"
        )
    upgrade(POSTGRES_URL)
    yield POSTGRES_URL
    get_engine(POSTGRES_URL).dispose()
    drop_postgres_schema()


def _truncate_postgres(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with get_engine(url).begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated, empty database on each backend, also set as REACH_DATABASE_URL."""
    if request.param == "sqlite":
        path = tmp_path / "var" / "reach.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_migrated")
        _truncate_postgres(url)
    monkeypatch.setenv("REACH_DATABASE_URL", url)
    get_settings.cache_clear()
    return url


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """A session on the parametrised database."""
    with Session(get_engine(db_url), expire_on_commit=False) as session:
        yield session
