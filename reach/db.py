"""Engines, sessions and migrations."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session, create_engine

from reach.settings import get_settings

if TYPE_CHECKING:  # Alembic is imported where it is used: every crawl process imports this module
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the report read while a crawl writes; the busy timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Checkpoint every 40 MB of WAL, not 4 MB: batch writers insert random keys, so each commit
    # rewrites many index pages and the default checkpointed nearly every commit.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    # A 64 MB page cache, not 2 MB: a crawl flush touches index pages all over the post,
    # snapshot and postcounts tables (docs/benchmarks.md).
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _postgres_utc(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Timestamps come back in UTC whatever the server's zone: no per-value conversion on read.
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.autocommit = autocommit


def upsert_insert(connection: Connection) -> Callable[..., Any]:
    """The connection's dialect's INSERT, which knows ON CONFLICT; only that dialect is imported."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def upsert(connection: Connection, table: Any, keys: list[str], updated: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, setting only `updated` to the values sent."""
    stmt = upsert_insert(connection)(table)
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in updated}
    )


def is_transient(exc: BaseException) -> bool:
    """A database error that the same transaction, tried again, may get past: a deadlock or
    serialization failure (PostgreSQL aborted one of two writers), a busy SQLite file, a lost
    connection. Constraint violations and bad SQL are not."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError)


def get_engine(url: str | None = None) -> Engine:
    """One engine per database URL (default: the configured one)."""
    return _engine(url or get_settings().database_url)


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A server that stops answering fails a connection attempt in seconds, not minutes.
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    event.listen(engine, "connect", _postgres_utc)
    return engine


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str | None = None) -> "Config":
    """Alembic configuration pointing at the project's migrations and the given database."""
    from alembic.config import Config

    # Alembic's default stdout is whatever sys.stdout was when alembic.config was first imported
    # (a test runner's capture, closed since): pass the current one.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%")
    )
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (creates the SQLite file if needed)."""
    from alembic import command

    url = url or get_settings().database_url
    get_engine(url)  # creates the SQLite parent folder
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str | None = None) -> str | None:
    """The schema revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_problem(url: str | None = None) -> str | None:
    """Why the database cannot be used as it is (missing, not migrated, an older schema, not
    answering), or None. Creates nothing: a SQLite file that does not exist is not made."""
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = url or get_settings().database_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"REACH_DATABASE_URL is not a database URL: {url!r}"
    shown = parsed.render_as_string(hide_password=True)
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        return (
            f"REACH_DATABASE_URL names no database SQLAlchemy knows: {parsed.drivername!r} "
            "(use sqlite:///path or postgresql+psycopg://user@host/db)"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(str(parsed.database))
        if not path.is_file():
            demo = path.with_name("demo.db")
            hint = (
                f" (the demo's database is {demo}: REACH_DATABASE_URL=sqlite:///{demo})"
                if demo.is_file()
                else ""
            )
            return f"no database at {path}: create it with `reach db upgrade`{hint}"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        current = current_revision(url)
    except Exception as exc:  # noqa: BLE001 - the message says what to do
        return f"the database {shown} does not answer: {str(exc).strip().splitlines()[0]}"
    if current is None:
        return f"the database {shown} has no tables yet: run `reach db upgrade`"
    if current != head:
        return f"the database {shown} is at schema {current}, this version needs {head}: run `reach db upgrade`"
    return None
