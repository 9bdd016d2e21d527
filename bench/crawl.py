"""Crawl benchmark: 1,000 sandbox accounts, 60 days of posts, rate limits off, SQLite and PostgreSQL.

Prints pages/s, posts stored/s and the crawl process's peak RSS, next to `scrapy bench` pages/s
measured on the same machine in the same run.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from reach.db import get_engine, upgrade
from reach.roster import import_roster, parse_roster
from reach.settings import get_settings
from sandbox.testing import SandboxProcess

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "1000"))
DAYS = 60
POSTGRES = os.environ.get(
    "REACH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCHEMA = "bench_crawl"


def scrapy_bench_pages_per_second(seconds: int = 10) -> float:
    """Scrapy's own benchmark (a local link-following crawl) on this machine, now."""
    with tempfile.TemporaryDirectory() as tmp:  # outside the project: Scrapy's default settings
        env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
        out = subprocess.run(
            [sys.executable, "-m", "scrapy", "bench", "-s", f"CLOSESPIDER_TIMEOUT={seconds}"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
    pages_found = re.search(r"'response_received_count': (\d+)", out)
    elapsed_found = re.search(r"'elapsed_time_seconds': ([\d.]+)", out)
    if pages_found is None or elapsed_found is None:
        raise RuntimeError(f"scrapy bench printed no stats: {out[-500:]}")
    pages = int(pages_found.group(1))
    elapsed = float(elapsed_found.group(1))
    return pages / elapsed


def write_roster(path: Path, base_url: str, count: int) -> Path:
    host = base_url.removeprefix("http://")
    lines = ["ambassador,country,cohort,team,platform,account"]
    for i in range(count):
        name = f"bench{i:04d}"
        platform = ("mastodon", "bluesky", "feed")[i % 3]
        account = {
            "mastodon": f"@{name}@{host}",
            "bluesky": f"{name}.bsky.social",
            "feed": f"{base_url}/blogs/{name}/feed/",
        }[platform]
        lines.append(f"Bench {i:04d},FR,bench,bench,{platform},{account}")
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare(url: str, roster: Path, replies: bool) -> None:
    """A fresh migrated database holding the roster, set as the crawls' database."""
    os.environ["REACH_REPLIES_PER_POST"] = "50" if replies else "0"
    os.environ["REACH_DATABASE_URL"] = url
    get_settings.cache_clear()
    upgrade(url)
    with Session(get_engine(url)) as session:
        import_roster(session, parse_roster(roster, allow_private_hosts=True))
        session.commit()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_concurrent(label: str, url: str, roster: Path, sandbox: SandboxProcess) -> float:
    """The three platforms crawled at once, as the nightly flow runs them; returns posts/s."""
    from crawler.run import run_crawl

    prepare(url, roster, replies=False)
    sandbox_cpu = process_cpu_seconds(sandbox.pid)
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        results = list(
            pool.map(
                lambda platform: run_crawl(
                    platform,
                    lookback_days=DAYS,
                    extra_settings={"REACH_RATE_LIMITS_ENABLED": "False", "LOG_LEVEL": "WARNING"},
                ),
                ("mastodon", "bluesky", "feed"),
            )
        )
    wall = time.monotonic() - started
    posts = sum(int(r.stats.get("reach/posts_written", 0)) for r in results)
    pages = sum(r.responses for r in results)
    statuses = ", ".join(f"{r.platform} {r.status}" for r in results)
    print(
        f"  {label}: {pages:,} pages, {posts:,} posts in {wall:.1f}s wall -> {posts / wall:.0f} posts/s "
        f"stored end to end, {pages / wall:.0f} pages/s ({statuses})",
        flush=True,
    )
    # Everything shares this machine's cores: the crawlers, the database and the sandbox that
    # stands in for the platforms' servers.
    print(
        f"    CPU seconds: crawlers {sum(r.cpu_seconds or 0 for r in results):.1f}, sandbox "
        f"{process_cpu_seconds(sandbox.pid) - sandbox_cpu:.1f}, over {wall:.1f} s wall on "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    return posts / wall


def run_backend(
    label: str, url: str, roster: Path, quiet: bool = False, replies: bool = False
) -> tuple[float, float]:
    """Crawl every platform once, one after the other, into a fresh database; (pages/s, posts/s)."""
    from crawler.run import run_crawl

    prepare(url, roster, replies)
    pages = posts = 0
    seconds = 0.0
    peak = 0.0
    for platform in ("mastodon", "bluesky", "feed"):
        result = run_crawl(
            platform,
            lookback_days=DAYS,
            extra_settings={"REACH_RATE_LIMITS_ENABLED": "False", "LOG_LEVEL": "WARNING"},
        )
        problems = result.problems()
        responses = result.responses
        if not quiet:
            print(
                f"  {label} {platform:8} {responses:7,} pages {result.stats.get('reach/posts_written', 0):7,} posts "
                f"{result.seconds:6.1f}s  {responses / result.seconds:7.0f} pages/s  "
                f"crawler CPU {result.cpu_seconds:5.1f}s  peak RSS {result.peak_rss_mb:.0f} MB  status {result.status}"
                + (f"  PROBLEMS: {problems}" if problems else ""),
                flush=True,
            )
        pages += responses
        posts += int(result.stats.get("reach/posts_written", 0))
        seconds += result.seconds
        peak = max(peak, result.peak_rss_mb or 0)
    if not quiet:
        print(
            f"  {label} total: {pages:,} pages, {posts:,} posts in {seconds:.1f}s -> "
            f"{pages / seconds:.0f} pages/s, {posts / seconds:.0f} posts/s stored; peak RSS {peak:.0f} MB "
            f"(target <= 300 MB)",
            flush=True,
        )
    return pages / seconds, posts / seconds


def main() -> None:
    os.environ["REACH_ALLOW_PRIVATE_HOSTS"] = "true"
    scrapy_rate = scrapy_bench_pages_per_second()
    print(f"scrapy bench on this machine: {scrapy_rate:.0f} pages/s", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="reach-bench-") as tmp,
        SandboxProcess(day=0, rate_limits=False) as sandbox,
    ):
        os.environ["REACH_BLUESKY_APPVIEW_URL"] = sandbox.base_url
        roster = write_roster(Path(tmp) / "roster.csv", sandbox.base_url, ACCOUNTS)
        print(
            f"{ACCOUNTS} accounts (a third per platform), {DAYS} days of posts, rate limits off",
            flush=True,
        )
        # The fake platforms generate an account's posts the first time it is asked for; a real
        # platform serves them from storage. One unmeasured pass fills the sandbox's cache so the
        # figures below measure the crawler, not the generator.
        run_backend("warm-up", f"sqlite:///{tmp}/warmup.db", roster, quiet=True, replies=True)
        # Posts and counts (what the target is about), then the nightly workload with replies,
        # where most requests are small thread pages.
        results = {"SQLite": run_backend("SQLite", f"sqlite:///{tmp}/bench.db", roster)}
        results["SQLite, with replies"] = run_backend(
            "SQLite, with replies", f"sqlite:///{tmp}/replies.db", roster, replies=True
        )
        concurrent = {
            "SQLite": run_concurrent(
                "SQLite, platforms at once", f"sqlite:///{tmp}/all.db", roster, sandbox
            )
        }
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        pg_url = str(make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={SCHEMA}"}))
        try:
            results["PostgreSQL"] = run_backend("PostgreSQL", pg_url, roster)
            with admin.connect() as connection:  # a fresh schema for the concurrent run
                connection.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
            concurrent["PostgreSQL"] = run_concurrent(
                "PostgreSQL, platforms at once", pg_url, roster, sandbox
            )
        finally:
            get_engine(pg_url).dispose()
            with admin.connect() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            admin.dispose()
    for label, (pages_rate, posts_rate) in results.items():
        print(
            f"{label}, one platform at a time: crawl {pages_rate:.0f} pages/s = "
            f"{pages_rate / scrapy_rate:.2f} x scrapy bench (target >= 0.8); {posts_rate:.0f} posts/s"
        )
    for label, posts_rate in concurrent.items():
        print(
            f"{label}, platforms at once as the nightly flow runs them: {posts_rate:.0f} posts/s stored "
            f"end to end (target >= 2,000 on SQLite)"
        )


if __name__ == "__main__":
    main()
