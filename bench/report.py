"""`python -m bench report`: build the reach report over a year of nightly snapshots.

1,000 ambassadors with two accounts each, one crawl a night for a year, a post every four days
per account, each post re-crawled for 30 nights: about 5.4 million post snapshots and 730,000
account snapshots. The rows are generated inside the database (a recursive CTE on SQLite,
generate_series on PostgreSQL), so loading takes seconds, not a Python loop. PostgreSQL runs in a
schema of its own, `bench_<pid>`, dropped afterwards: the tests' database and another engineer's
bench running at the same time are left alone. Each report is built RUNS times and every time is
printed, with the median judged against the target.
"""

import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

AMBASSADORS = 1000
DAYS = 365
POST_EVERY = 4
POSTS_PER_ACCOUNT = DAYS // POST_EVERY  # 91
RECRAWLS = 30
RUNS = 3
TARGETS = {"postgresql": 5.0, "sqlite": 10.0}
BENCH_POSTGRES_URL = os.environ.get(
    "REACH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
COUNTRIES = ["FR", "DE", "US", "GB", "NG", "CN", "IN", "BR", "JP", "ES", "IT", "KE", "CA", "MX"]
TEAMS = ["Marketing", "Engineering", "Design", "Sales", "Support"]


def _series(dialect: str, name: str, count: int) -> str:
    """A CTE of integers 0..count-1 named `name(n)`."""
    if dialect == "sqlite":
        return f"{name}(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM {name} WHERE n < {count - 1})"
    return f"{name}(n) AS (SELECT generate_series(0, {count - 1}))"


def _ts(dialect: str, base: dt.datetime, days_expr: str, hour: int) -> str:
    """SQL for base + days at an hour, in the storage format SQLAlchemy uses on each backend."""
    if dialect == "sqlite":
        # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC): compare
        # as strings, so the generated rows must use exactly that form.
        return (
            f"strftime('%Y-%m-%d %H:%M:%S', '{base:%Y-%m-%d}', '+' || ({days_expr}) || "
            f"' days', '+{hour} hours') || '.000000'"
        )
    return f"(timestamptz '{base:%Y-%m-%d} 00:00+00' + ({days_expr}) * interval '1 day' + interval '{hour} hours')"


def load(engine: Engine, base: dt.datetime) -> dict[str, int]:
    """Generate the dataset in the database; returns row counts."""
    d = engine.dialect.name
    rec = "RECURSIVE " if d == "sqlite" else ""
    true = "1" if d == "sqlite" else "true"
    now = _ts(d, base, str(DAYS), 0)
    country = (
        "CASE (n % 14) "
        + " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(COUNTRIES))
        + " END"
    )
    team = "CASE (n % 5) " + " ".join(f"WHEN {i} THEN '{t}'" for i, t in enumerate(TEAMS)) + " END"
    statements = [
        (
            f"WITH {rec}{_series(d, 'a', AMBASSADORS)} INSERT INTO ambassador "
            f"(id, slug, name, country, cohort, team, active, created_at, updated_at) "
            f"SELECT n + 1, 'bench-' || n, 'Bench Ambassador ' || n, {country}, "
            f"CASE WHEN n % 2 = 0 THEN '2025' ELSE '2026' END, {team}, {true}, {now}, {now} FROM a"
        ),
        (
            f"WITH {rec}{_series(d, 'a', AMBASSADORS * 2)} INSERT INTO account "
            f"(id, ambassador_id, platform, handle, key, platform_id, source, status, created_at, updated_at) "
            f"SELECT n + 1, n / 2 + 1, CASE WHEN n % 2 = 0 THEN 'mastodon' ELSE 'bluesky' END, "
            f"'@bench' || n || '@example.social', '@bench' || n || '@example.social', 'id-' || n, "
            f"'crawl', 'active', {now}, {now} FROM a"
        ),
        (
            f"WITH {rec}{_series(d, 'r', DAYS)} INSERT INTO crawlrun "
            f"(id, platform, source, status, started_at, finished_at, requests, items, errors) "
            f"SELECT n + 1, 'mastodon', 'crawl', 'succeeded', {_ts(d, base, 'n', 2)}, "
            f"{_ts(d, base, 'n', 3)}, 0, 0, 0 FROM r"
        ),
        (
            f"WITH {rec}{_series(d, 'a', AMBASSADORS * 2)}, {_series(d, 'r', DAYS)} "
            f"INSERT INTO accountsnapshot (account_id, crawl_run_id, observed_at, followers) "
            f"SELECT a.n + 1, r.n + 1, c.started_at, 100 + (a.n * 37) % 5000 + r.n * (a.n % 7) "
            f"FROM a CROSS JOIN r JOIN crawlrun c ON c.id = r.n + 1 ORDER BY a.n, r.n"
        ),
        (
            f"WITH {rec}{_series(d, 'a', AMBASSADORS * 2)}, {_series(d, 'k', POSTS_PER_ACCOUNT)} "
            f"INSERT INTO post (id, account_id, platform, platform_post_id, url, published_at, "
            f"kind, source, first_seen_at, last_seen_at) "
            f"SELECT a.n * {POSTS_PER_ACCOUNT} + k.n + 1, a.n + 1, "
            f"CASE WHEN a.n % 2 = 0 THEN 'mastodon' ELSE 'bluesky' END, "
            f"'bp' || (a.n * {POSTS_PER_ACCOUNT} + k.n), "
            f"'https://example.social/@bench' || a.n || '/' || k.n, "
            f"{_ts(d, base, f'k.n * {POST_EVERY} + a.n % {POST_EVERY}', 10)}, "
            f"CASE WHEN k.n % 20 = 0 THEN 'repost' ELSE 'original' END, 'crawl', {now}, {now} "
            f"FROM a CROSS JOIN k"
        ),
        # Each post is re-crawled for RECRAWLS nights after publication (the crawl's lookback).
        (
            f"WITH {rec}{_series(d, 'j', RECRAWLS)} "
            f"INSERT INTO postsnapshot (post_id, crawl_run_id, observed_at, likes, comments, reposts, "
            f"quotes, views, approximate) "
            f"SELECT p.id, c.id, c.started_at, (p.id % 50) * (j.n + 1), p.id % 7 + j.n / 3, "
            f"CASE WHEN p.id % 3 = 0 THEN NULL ELSE j.n END, 0, NULL, {'0' if d == 'sqlite' else 'false'} "
            f"FROM post p CROSS JOIN j "
            f"JOIN crawlrun c ON c.id = ((p.id - 1) % {POSTS_PER_ACCOUNT}) * {POST_EVERY} "
            f"+ ((p.id - 1) / {POSTS_PER_ACCOUNT}) % {POST_EVERY} + j.n + 2 "
            f"ORDER BY p.id, j.n"
        ),
    ]
    with engine.begin() as connection:
        if d == "postgresql" and connection.execute(text("SHOW is_superuser")).scalar() == "on":
            # The generated rows are consistent by construction: skip the foreign-key triggers
            # (two look-ups per snapshot row), for this transaction only.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            connection.execute(text(statement))
        if d == "postgresql":
            for table in ("ambassador", "account", "crawlrun", "post"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                )
    if d == "sqlite":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    with engine.connect() as connection:
        return {
            t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("post", "postsnapshot", "accountsnapshot")
        }


def run_one(label: str, url: str, base: dt.datetime) -> None:
    """Migrate, load, then time the report over the year and over its last 30 days."""
    from reach.db import get_engine, upgrade
    from reach.report import build_report

    began = time.perf_counter()
    upgrade(url)
    counts = load(get_engine(url), base)
    print(
        f"{label}: loaded {counts['postsnapshot']:,} post snapshots, "
        f"{counts['accountsnapshot']:,} account snapshots, {counts['post']:,} posts "
        f"in {time.perf_counter() - began:.1f} s",
        flush=True,
    )
    target = TARGETS[make_url(url).get_backend_name()]
    first = base.date()
    for name, since in (("year", first), ("last 30 days", first + dt.timedelta(days=DAYS - 30))):
        until = first + dt.timedelta(days=DAYS - 1)
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            report = build_report(url, since, until, by="ambassador", timezone="UTC")
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(
            f"{label}: report by ambassador over the {name} ({report.headline.posts:,} posts, "
            f"{len(report.rows):,} rows): {median:.2f} s median of "
            f"{', '.join(f'{t:.2f}' for t in times)} (target <= {target:.0f} s: "
            f"{'met' if median <= target else 'MISSED'})",
            flush=True,
        )
    get_engine(url).dispose()


def main() -> None:
    """Print the report build times on SQLite (temp file) and PostgreSQL (schema `bench_<pid>`)."""
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        run_one("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", base)
    schema = f"bench_{os.getpid()}"
    admin = create_engine(BENCH_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # noqa: BLE001 - the bench prints what it could not do
        print(f"PostgreSQL: skipped, not reachable at {BENCH_POSTGRES_URL}: {exc}")
        return
    url = make_url(BENCH_POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        run_one("PostgreSQL", url.render_as_string(hide_password=False), base)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
