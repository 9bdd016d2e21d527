"""The crawl off the happy path: every fault ends in stored rows or in a run that says what was lost.

One test per case, on SQLite and PostgreSQL, against the sandbox with its faults switched on.
A broken or cut feed and relative links are in test_feed_faults.py.
"""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, text
from sqlmodel import Session, col, select

from crawler.run import run_crawl
from models import Account, AccountSnapshot, CrawlOutcome, CrawlRun, Post, PostSnapshot, Reply
from reach.db import get_engine
from reach.settings import get_settings
from sandbox import truth
from sandbox.mastodon import status_id
from sandbox.testing import SandboxProcess
from tests.crawler.conftest import BLOGS, BLUESKY, MASTODON, crawl, import_accounts

pytestmark = pytest.mark.slow
REACH = Path(sys.executable).with_name("reach")


def outcome(session: Session, run_id: int, key_part: str) -> CrawlOutcome:
    return session.exec(
        select(CrawlOutcome)
        .join(Account, col(Account.id) == CrawlOutcome.account_id)
        .where(CrawlOutcome.crawl_run_id == run_id, col(Account.key).contains(key_part))
    ).one()


@pytest.mark.parametrize("status", [404, 410])
def test_gone_mastodon_thread_leaves_the_account_ok_with_its_warning(
    db_url: str, roster: object, sandboxed: SandboxProcess, status: int
) -> None:
    sandboxed.set_faults(gone_threads=[MASTODON[0]], gone_status=status)
    result = crawl("mastodon")
    assert result.status == "succeeded" and not result.problems(), result.summary()
    assert result.accounts_ok == 3 and result.warnings > 0
    with Session(get_engine(db_url)) as session:
        hit = outcome(session, result.crawl_run_id, MASTODON[0])
        assert hit.ok and hit.warnings and hit.warnings[0]["what"] == "replies"
        assert (
            hit.warnings[0]["reason"] == f"HTTP {status}"
            and hit.warnings[0]["count"] == result.warnings
        )
        assert outcome(session, result.crawl_run_id, MASTODON[1]).warnings is None
        gone = session.exec(select(Post).where(col(Post.thread_gone).is_(True))).all()
        assert len(gone) == result.warnings
    account = next(a for a in result.accounts if MASTODON[0] in a.account)
    assert account.warning_text().startswith("replies unavailable for ")

    sandboxed.reset()  # same day, no comment count grew: a gone thread is not asked for again
    again = crawl("mastodon")
    assert again.status == "succeeded" and again.warnings == 0
    assert sum(n for path, n in sandboxed.stats()["requests"].items() if "context" in path) == 0


def test_gone_bluesky_thread_is_a_warning_not_a_failure(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    sandboxed.set_faults(gone_threads=[BLUESKY[0].split(".")[0]])
    result = crawl("bluesky")
    assert result.status == "succeeded" and result.accounts_ok == 3, result.summary()
    with Session(get_engine(db_url)) as session:
        hit = outcome(session, result.crawl_run_id, BLUESKY[0])
        assert hit.ok and hit.warnings == [
            {"what": "replies", "reason": "HTTP 400", "count": result.warnings}
        ]
        assert result.warnings > 0


def test_instance_that_requires_authentication_gets_its_own_status(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    sandboxed.set_faults(requires_auth=True)
    result = crawl("mastodon")
    assert result.status == "failed" and result.accounts_failed == 3
    assert {a.error for a in result.accounts} == {"RequiresAuth"}
    assert all(
        "This method requires an authenticated user" in (a.reason or "") for a in result.accounts
    )
    with Session(get_engine(db_url)) as session:
        statuses = session.exec(select(Account.status).where(Account.platform == "mastodon")).all()
    assert set(statuses) == {"requires_auth"}


def test_unavailable_item_page_keeps_the_post_with_the_feeds_counts(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    sandboxed.set_faults(item_page_error=[BLOGS[0]])
    result = crawl("feed")
    assert result.status == "succeeded" and result.accounts_ok == 3, result.summary()
    with Session(get_engine(db_url)) as session:
        hit = outcome(session, result.crawl_run_id, f"/blogs/{BLOGS[0]}/")
        assert hit.ok and hit.posts_new > 0
        assert hit.warnings == [{"what": "item page", "reason": "HTTP 503", "count": hit.posts_new}]


def test_cut_short_answer_fails_its_account_with_a_reason_that_says_so(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    sandboxed.set_faults(truncated=[MASTODON[0]])
    result = crawl("mastodon")
    assert result.status == "partial" and result.accounts_failed == 1
    failed = next(a for a in result.accounts if not a.ok)
    assert failed.reason and "the response was cut short" in failed.reason


# -- writes that fail ----------------------------------------------------------------------------


# A deadlock victim is PostgreSQL's case: SQLite's writers queue on its one write lock.
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_deadlocked_flush_is_retried_and_every_row_lands(
    db_url: str, roster: object, sandboxed: SandboxProcess
) -> None:
    # A sequence is not rolled back with the failed transaction: it counts attempts across retries.
    with get_engine(db_url).begin() as connection:
        connection.execute(text("CREATE SEQUENCE fault_attempts"))
        connection.execute(
            text(
                "CREATE FUNCTION fault_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF nextval('fault_attempts') <= 2 THEN "
                "RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01'; END IF; RETURN NULL; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER fault_snapshot AFTER INSERT ON postsnapshot "
                "FOR EACH STATEMENT EXECUTE FUNCTION fault_snapshot()"
            )
        )
    try:
        result = crawl("mastodon")
        assert result.status == "succeeded", result.summary()
        assert result.stats["reach/flush_retries"] == 2
        with Session(get_engine(db_url)) as session:
            stored = session.exec(
                select(func.count())
                .select_from(PostSnapshot)
                .where(PostSnapshot.crawl_run_id == result.crawl_run_id)
            ).one()
        assert stored == result.stats["reach/posts_written"] == result.snapshots > 0
    finally:
        with get_engine(db_url).begin() as connection:
            connection.execute(text("DROP TRIGGER fault_snapshot ON postsnapshot"))
            connection.execute(text("DROP FUNCTION fault_snapshot()"))
            connection.execute(text("DROP SEQUENCE fault_attempts"))


def test_flush_that_fails_after_its_retries_fails_the_run(
    db_url: str, roster: object, sandboxed: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REACH_WRITE_ATTEMPTS", "2")
    with get_engine(db_url).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE FUNCTION fault_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER fault_snapshot AFTER INSERT ON postsnapshot "
                    "FOR EACH STATEMENT EXECUTE FUNCTION fault_snapshot()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER fault_snapshot BEFORE INSERT ON postsnapshot "
                    "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
                )
            )
    try:
        result = crawl("mastodon")
    finally:
        with get_engine(db_url).begin() as connection:
            connection.execute(
                text(
                    "DROP TRIGGER fault_snapshot"
                    + (" ON postsnapshot" if connection.dialect.name == "postgresql" else "")
                )
            )
            if connection.dialect.name == "postgresql":
                connection.execute(text("DROP FUNCTION fault_snapshot()"))
    assert result.status == "failed"
    assert "could not be written" in (result.message or "") and "injected" in (result.message or "")
    assert any(p.startswith("rows were lost: ") for p in result.problems())
    with Session(get_engine(db_url)) as session:
        assert session.exec(select(func.count()).select_from(PostSnapshot)).one() == 0


# -- overlapping runs ----------------------------------------------------------------------------


@pytest.fixture
def big_roster(db_url: str, sandboxed: SandboxProcess, tmp_path: Path) -> list[str]:
    """150 Mastodon accounts on the sandbox."""
    host = sandboxed.base_url.removeprefix("http://")
    names = [f"person_{i:03d}" for i in range(150)]
    import_accounts(db_url, tmp_path, "mastodon", [f"@{name}@{host}" for name in names])
    return names


def test_two_crawls_of_the_same_accounts_at_once_both_store_every_row(
    db_url: str, big_roster: list[str], sandboxed: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The nightly and a rerun from the UI: small flushes make their transactions interleave.
    monkeypatch.setenv("REACH_WRITE_BATCH_SIZE", "20")
    monkeypatch.setenv("REACH_REPLIES_PER_POST", "5")
    get_settings.cache_clear()
    results = [None, None]

    def run(i: int) -> None:
        results[i] = run_crawl("mastodon", timeout=300)  # type: ignore[call-overload]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(get_engine(db_url)) as session:
        posts = session.exec(select(func.count()).select_from(Post)).one()
        keys = session.exec(select(Post.platform, Post.platform_post_id)).all()
        assert len(keys) == len(set(keys)) == posts > 150
        for result in results:
            assert result is not None and result.status == "succeeded", result and result.summary()
            assert result.accounts_ok == 150
            run_id = result.crawl_run_id
            snapshots = session.exec(
                select(func.count())
                .select_from(PostSnapshot)
                .where(PostSnapshot.crawl_run_id == run_id)
            ).one()
            assert snapshots == result.stats["reach/posts_written"] == result.snapshots
            assert (
                session.exec(
                    select(func.count())
                    .select_from(AccountSnapshot)
                    .where(AccountSnapshot.crawl_run_id == run_id)
                ).one()
                == 150
            )
            assert (
                session.exec(
                    select(func.count())
                    .select_from(CrawlOutcome)
                    .where(CrawlOutcome.crawl_run_id == run_id)
                ).one()
                == 150
            )
        # Each run saw every post of the window once, the same posts.
        per_run = [
            set(
                session.exec(
                    select(PostSnapshot.post_id).where(PostSnapshot.crawl_run_id == r.crawl_run_id)
                ).all()
            )
            for r in results
        ]  # type: ignore[union-attr]
        assert per_run[0] == per_run[1] and len(per_run[0]) == results[0].snapshots  # type: ignore[union-attr]
        replies = session.exec(select(Reply.platform, Reply.platform_reply_id)).all()
        assert replies and len(replies) == len(set(replies))


# -- kills, SIGTERM and a database that goes away ------------------------------------------------


def _start_crawl(platform: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(REACH), "crawl", "--platform", platform, *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _crawl_under_way(db_url: str, **env: str) -> subprocess.Popen[str]:
    """`reach crawl --platform mastodon` in a process of its own, once 5 accounts are written."""
    proc = _start_crawl("mastodon", {**_env(), "REACH_WRITE_BATCH_SIZE": "10", **env})
    _wait_for(lambda: _outcomes(db_url) >= 5)
    return proc


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200"}


def _wait_for(predicate: object, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def _running_run(db_url: str) -> CrawlRun | None:
    with Session(get_engine(db_url)) as session:
        return session.exec(select(CrawlRun).where(CrawlRun.status == "running")).first()


def _outcomes(db_url: str) -> int:
    with Session(get_engine(db_url)) as session:
        return session.exec(select(func.count()).select_from(CrawlOutcome)).one()


def _scrapy_children(pid: int) -> list[psutil.Process]:
    try:
        return [
            p
            for p in psutil.Process(pid).children(recursive=True)
            if "scrapy" in " ".join(p.cmdline())
        ]
    except psutil.NoSuchProcess:
        return []


def _no_scrapy_left(pids: list[int]) -> bool:
    return not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        for pid in pids
    )


@pytest.fixture
def slow_roster(db_url: str, sandboxed: SandboxProcess, tmp_path: Path) -> list[str]:
    """40 Mastodon accounts and a sandbox that answers slowly: a crawl that lasts long enough to kill."""
    host = sandboxed.base_url.removeprefix("http://")
    names = [f"slow_{i:02d}" for i in range(40)]
    import_accounts(db_url, tmp_path, "mastodon", [f"@{name}@{host}" for name in names], who="Slow")
    sandboxed.set_faults(slow=0.15)
    return names


def test_killed_crawl_is_closed_as_interrupted_and_a_rerun_fetches_every_reply(
    db_url: str, slow_roster: list[str], sandboxed: SandboxProcess
) -> None:
    proc = _crawl_under_way(db_url)
    children = [p.pid for p in _scrapy_children(proc.pid)]
    assert children
    os.kill(proc.pid, signal.SIGKILL)  # parent and (by its death signal) the Scrapy child
    proc.wait()
    _wait_for(lambda: _no_scrapy_left(children), 20)
    killed = _running_run(db_url)
    assert killed is not None and killed.pid == proc.pid
    with Session(get_engine(db_url)) as session:
        kept_posts = session.exec(select(func.count()).select_from(Post)).one()
        kept_ok = session.exec(
            select(func.count())
            .select_from(CrawlOutcome)
            .where(CrawlOutcome.crawl_run_id == killed.id, col(CrawlOutcome.ok).is_(True))
        ).one()
    assert kept_posts > 0 and kept_ok >= 5

    sandboxed.set_faults(slow=None)
    rerun = crawl("mastodon")
    assert [r.id for r in rerun.reaped] == [killed.id]
    assert rerun.status == "succeeded", rerun.summary()
    with Session(get_engine(db_url)) as session:
        closed = session.get(CrawlRun, killed.id)
        assert closed.status == "failed" and closed.message.startswith("interrupted: ")
        assert session.exec(select(func.count()).select_from(Post)).one() >= kept_posts
        assert (
            session.exec(
                select(func.count())
                .select_from(CrawlOutcome)
                .where(CrawlOutcome.crawl_run_id == killed.id, col(CrawlOutcome.ok).is_(True))
            ).one()
            == kept_ok
        )
        # Every thread with comments was read whole by a run that stored its replies.
        unread = session.exec(
            select(func.count())
            .select_from(Post)
            .where(
                col(Post.thread_comments).is_(None),
                Post.kind != "repost",
                col(Post.id).in_(
                    select(PostSnapshot.post_id).where(
                        PostSnapshot.crawl_run_id == rerun.crawl_run_id,
                        col(PostSnapshot.comments) > 0,
                    )
                ),
            )
        ).one()
        assert unread == 0
        # Every reply the sandbox shows is stored, for every post of the window.
        host = sandboxed.base_url.removeprefix("http://")
        since = (
            session.get(CrawlRun, rerun.crawl_run_id).started_at
            - dt.timedelta(days=get_settings().lookback_days)
            + dt.timedelta(minutes=1)
        )
        compared = 0
        for name in slow_roster:
            for post in truth.expected("mastodon", name, day=0).posts:
                if post.published < since or post.kind == "boost" or not post.replies:
                    continue
                row = session.exec(
                    select(Post).where(Post.platform_post_id == f"{host}:{status_id(post)}")
                ).one()
                stored = session.exec(select(Reply.text).where(Reply.post_id == row.id)).all()
                assert sorted(stored) == sorted(r.text for r in post.replies_visible[:50]), (
                    name,
                    post.key,
                )
                compared += len(stored)
    assert compared > 100
    assert not [
        p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob(f"reach-crawl-{killed.id}-*")
    ]


def test_killed_scrapy_child_is_reported_as_killed_and_ok_accounts_stay_ok(
    db_url: str, slow_roster: list[str], sandboxed: SandboxProcess
) -> None:
    proc = _crawl_under_way(db_url)
    for child in _scrapy_children(proc.pid):
        child.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "killed by SIGKILL" in stderr and "Traceback" not in stderr
    with Session(get_engine(db_url)) as session:
        run = session.exec(select(CrawlRun)).one()
        assert run.status == "failed" and "killed by SIGKILL" in run.message
        outcomes = session.exec(
            select(CrawlOutcome).where(CrawlOutcome.crawl_run_id == run.id)
        ).all()
    assert len(outcomes) == 40
    assert sum(o.ok for o in outcomes) >= 5
    assert {o.error for o in outcomes if not o.ok} == {"Unfinished"}


def test_sigterm_stops_the_crawl_like_ctrl_c_and_leaves_no_crawler(
    db_url: str, slow_roster: list[str], sandboxed: SandboxProcess
) -> None:
    proc = _crawl_under_way(db_url)
    children = [p.pid for p in _scrapy_children(proc.pid)]
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM" in stderr and "Traceback" not in stderr
    assert _no_scrapy_left(children)
    with Session(get_engine(db_url)) as session:
        run = session.exec(select(CrawlRun)).one()
        outcomes = session.exec(
            select(CrawlOutcome).where(CrawlOutcome.crawl_run_id == run.id)
        ).all()
    assert run.status == "partial"
    assert len(outcomes) == 40 and any(o.error == "Unfinished" for o in outcomes)


class CuttableProxy:
    """A TCP proxy to PostgreSQL on 127.0.0.2 that a test can cut (every connection dropped,
    new ones refused) and restore: the database going away under a running crawl."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket

        self.target = target
        self.listener = socket.create_server(("127.0.0.2", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.sockets: list[object] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: object, sink: object) -> None:
        try:
            while data := source.recv(65536):  # type: ignore[attr-defined]
                sink.sendall(data)  # type: ignore[attr-defined]
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()  # type: ignore[attr-defined]

    def go_away(self) -> None:
        import socket

        self.cut.set()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
            self.sockets.clear()

    def come_back(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self.listener.close()
        self.go_away()


@pytest.fixture
def db_proxy(db_url: str) -> Iterator[tuple[CuttableProxy, str]]:
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    yield proxy, url.set(host="127.0.0.2", port=proxy.port).render_as_string(hide_password=False)
    proxy.close()


# A database server that goes away is PostgreSQL's case; SQLite is a local file.
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_database_that_goes_away_stops_the_crawl_and_fails_its_run_in_one_line(
    db_url: str,
    slow_roster: list[str],
    sandboxed: SandboxProcess,
    db_proxy: tuple[CuttableProxy, str],
) -> None:
    proxy, proxied_url = db_proxy
    proc = _crawl_under_way(db_url, REACH_DATABASE_URL=proxied_url, REACH_WRITE_ATTEMPTS="3")
    proxy.go_away()
    started = time.monotonic()
    threading.Timer(8.0, proxy.come_back).start()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    assert time.monotonic() - started < 60  # stopped promptly, not after crawling on for minutes
    with Session(get_engine(db_url)) as session:
        run = session.exec(select(CrawlRun)).one()
    assert run.status == "failed"
    assert "could not be written" in (run.message or ""), run.message
