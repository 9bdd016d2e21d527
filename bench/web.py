"""`python -m bench web`: page times of the dashboard over the report benchmark's dataset.

The dataset of `bench report` (1,000 ambassadors, a year of nightly snapshots, about 5.4 million
post snapshots) is loaded on SQLite (a temporary file) and on PostgreSQL (a schema `bench_<pid>`,
dropped afterwards). `reach web` serves it from a process of its own, a real uvicorn server on
loopback, and 8 concurrent clients ask for the overview, the leaderboard, one ambassador and one
post over the last 30 days of the dataset, signed in with an API token. Each page's first request
is timed on its own (the overview's builds the period's reports, which later requests read from
memory); a warm-up round follows, then REQUESTS requests per page, whose p50 and p95 are printed
and judged against the target.
"""

import datetime as dt
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.report import BENCH_POSTGRES_URL, DAYS, load

BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # the report benchmark's first day
PERIOD_DAYS = 30
CLIENTS = 8
REQUESTS = 200  # per page, shared out among the clients
TARGET_MS = 300.0
HOST = "127.0.0.9"
ROOT = Path(__file__).resolve().parent.parent


def prepare(url: str) -> tuple[str, dict[str, str]]:
    """Migrate, load the dataset, add a viewer; returns its API token and the pages to time."""
    from sqlmodel import Session, col, select

    from models import Account, Ambassador, Post
    from reach.db import get_engine, upgrade
    from reach.users import add_user, new_token

    began = time.perf_counter()
    upgrade(url)
    counts = load(get_engine(url), BASE)
    print(
        f"  loaded {counts['postsnapshot']:,} post snapshots, {counts['post']:,} posts "
        f"in {time.perf_counter() - began:.0f} s",
        flush=True,
    )
    since = BASE.date() + dt.timedelta(days=DAYS - PERIOD_DAYS)
    until = BASE.date() + dt.timedelta(days=DAYS - 1)
    middle = dt.datetime.combine(since + dt.timedelta(days=PERIOD_DAYS // 2), dt.time(), dt.UTC)
    with Session(get_engine(url)) as session:
        # A post from the middle of the period, and its ambassador: both are in its report.
        post_id, slug = session.exec(
            select(col(Post.id), col(Ambassador.slug))
            .join(Account, col(Account.id) == col(Post.account_id))
            .join(Ambassador, col(Ambassador.id) == col(Account.ambassador_id))
            .where(col(Post.published_at) >= middle)
            .order_by(col(Post.published_at), col(Post.id))
            .limit(1)
        ).one()
        email = f"bench-{os.getpid()}@example.org"
        add_user(session, email, "viewer", secrets.token_urlsafe(16))
        token = new_token(session, email)
        session.commit()
    get_engine(url).dispose()
    period = f"range=custom&since={since}&until={until}"
    return token, {
        "overview": f"/?{period}",
        "leaderboard": f"/ambassadors?{period}",
        "ambassador": f"/ambassadors/{slug}?{period}",
        "post": f"/posts/{post_id}",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve(url: str, var_dir: Path, timeout: float = 60.0) -> Iterator[str]:
    """`reach web` on loopback in its own process; yields its base URL, stops it by its pid."""
    port = free_port()
    env = {
        **os.environ,
        "REACH_DATABASE_URL": url,
        "REACH_VAR_DIR": str(var_dir),
        "REACH_TIMEZONE": "UTC",
    }
    reach = Path(sys.executable).with_name("reach")
    log = var_dir / "web.log"
    with open(log, "w", encoding="utf-8") as out:
        server = subprocess.Popen(
            [str(reach), "web", "--host", HOST, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    base_url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"reach web exited ({server.returncode}): {log.read_text()}")
            try:
                if httpx.get(f"{base_url}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"reach web not healthy after {timeout:.0f} s: {log.read_text()}"
                )
            time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def timed_gets(base_url: str, token: str, path: str, count: int) -> list[float]:
    """One client asking for a page `count` times; the seconds of each answer."""
    times = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
    return times


def concurrently(base_url: str, token: str, path: str, total: int) -> tuple[list[float], float]:
    """`total` requests shared out among CLIENTS clients asking at the same time; the seconds
    of each answer, and the wall time of them all."""
    shares = [total // CLIENTS + (i < total % CLIENTS) for i in range(CLIENTS)]
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        runs = list(pool.map(lambda n: timed_gets(base_url, token, path, n), shares))
    return [t for run in runs for t in run], time.perf_counter() - started


def run_one(label: str, url: str) -> None:
    """Load the dataset, serve it, and print each page's times."""
    print(f"{label}:", flush=True)
    token, pages = prepare(url)
    with (
        tempfile.TemporaryDirectory(prefix="bench-web-") as var_dir,
        serve(url, Path(var_dir)) as base,
    ):
        cold = {name: timed_gets(base, token, path, 1)[0] for name, path in pages.items()}
        for path in pages.values():
            concurrently(base, token, path, CLIENTS)  # warm-up: one request per client
        for name, path in pages.items():
            answers, wall = concurrently(base, token, path, REQUESTS)
            times = sorted(t * 1000 for t in answers)
            p50 = statistics.median(times)
            p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
            verdict = "met" if p95 <= TARGET_MS else "MISSED"
            print(
                f"  {name:<12} n={len(times)}  p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  "
                f"{len(times) / wall:5.1f} pages/s  "
                f"first (cold) request {cold[name] * 1000:6.0f} ms  "
                f"(target p95 <= {TARGET_MS:.0f} ms: {verdict})",
                flush=True,
            )


def main() -> None:
    """Print page times on SQLite (temp file) and PostgreSQL (schema `bench_<pid>`)."""
    print(f"{CLIENTS} clients, {REQUESTS} requests per page, the dataset's last {PERIOD_DAYS} days")
    with tempfile.TemporaryDirectory() as tmp:
        run_one("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}")
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
        run_one("PostgreSQL", url.render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
