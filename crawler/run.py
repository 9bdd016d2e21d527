"""Run one crawl as its own `scrapy crawl` process and judge its health from its stats.

One crawl per process: the Twisted reactor cannot restart inside a process, and in-process
runners hang or silently drop items under Prefect's event loop.
"""

import ctypes
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Account, Ambassador, CrawlOutcome, CrawlRun, utcnow
from reach.db import get_engine
from reach.settings import get_settings

SPIDERS = ("mastodon", "bluesky", "feed")
_PROGRESS = re.compile(r"Crawled (\d+) pages .*scraped (\d+) items")


class CrawlFailed(RuntimeError):
    """The crawl did not do its job (no responses, all accounts failed, the process died)."""


class UnknownSelection(ValueError):
    """A platform or ambassador asked for that does not exist (retrying will not help)."""


@dataclass
class AccountResult:
    account: str
    ambassador: str
    ok: bool
    error: str | None
    reason: str | None
    posts_new: int
    posts_updated: int
    snapshots: int


@dataclass
class CrawlResult:
    """What one crawl did, read back from its stats file and its crawl-run row."""

    platform: str
    crawl_run_id: int
    status: str
    exit_code: int
    seconds: float
    stats: dict[str, Any]
    accounts: list[AccountResult] = field(default_factory=list)
    peak_rss_mb: float | None = None  # of the crawl process, from the kernel's accounting
    cpu_seconds: float | None = None  # user + system time of the crawl process

    @property
    def accounts_ok(self) -> int:
        return sum(1 for a in self.accounts if a.ok)

    @property
    def accounts_failed(self) -> int:
        return sum(1 for a in self.accounts if not a.ok)

    @property
    def responses(self) -> int:
        return int(self.stats.get("downloader/response_count", 0))

    @property
    def posts_new(self) -> int:
        return sum(a.posts_new for a in self.accounts)

    @property
    def posts_updated(self) -> int:
        return sum(a.posts_updated for a in self.accounts)

    @property
    def snapshots(self) -> int:
        return sum(a.snapshots for a in self.accounts)

    def problems(self) -> list[str]:
        """Why this crawl is unhealthy (empty when it is healthy; `partial` is reported, not fatal)."""
        found = []
        if self.exit_code != 0:
            found.append(f"scrapy exited with code {self.exit_code}")
        if not self.stats:
            found.append("no stats were written: the crawl process died before closing")
        expected = int(self.stats.get("reach/accounts", 0) or 0)
        if expected and self.responses == 0:
            found.append(f"0 responses for {expected} account(s)")
        if self.stats.get("log_count/CRITICAL"):
            found.append(f"{self.stats['log_count/CRITICAL']} critical error(s) in the log")
        if self.stats.get("spider_exceptions/count"):
            found.append(f"{self.stats['spider_exceptions/count']} spider exception(s)")
        if self.status == "failed":
            reasons = sorted({f"{a.error}: {a.reason}" for a in self.accounts if not a.ok})[:3]
            found.append("every account failed" + (f" ({'; '.join(reasons)})" if reasons else ""))
        return found

    def summary(self) -> str:
        return (f"{self.platform}: {self.status}, accounts ok {self.accounts_ok} / failed "
                f"{self.accounts_failed}, posts new {self.posts_new} / updated {self.posts_updated}, "
                f"snapshots {self.snapshots}, {self.responses} responses in {self.seconds:.1f}s")


def check_selection(session: Session, platforms: Sequence[str], ambassadors: Sequence[str]) -> None:
    """Fail at once, naming them, on unknown platforms or ambassador slugs."""
    unknown = [p for p in platforms if p not in SPIDERS]
    if unknown:
        raise UnknownSelection(f"unknown platform(s): {', '.join(unknown)} (crawlable: {', '.join(SPIDERS)})")
    if ambassadors:
        known = set(session.exec(select(Ambassador.slug).where(col(Ambassador.slug).in_(list(ambassadors)))).all())
        missing = [slug for slug in ambassadors if slug not in known]
        if missing:
            raise UnknownSelection(f"unknown ambassador(s): {', '.join(missing)}")


def _die_with_parent() -> None:
    """In the child: get SIGKILL if the parent dies (a cancelled flow run leaves no crawler)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgrp()


KILL_GRACE_SECONDS = 5  # between SIGTERM and SIGKILL


def _signal_groups(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop the crawl process group: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    _signal_groups([process.pid], signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_groups([process.pid], signal.SIGKILL)
        process.wait()


@dataclass
class _Process:
    """One `scrapy crawl` process of a crawl (a crawl split over processes has several)."""

    process: subprocess.Popen[str]
    stats_file: Path
    log_path: Path
    pages_items: tuple[int, int] = (0, 0)
    tail: list[str] = field(default_factory=list)
    exit_code: int = -1
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0

    def follow(self, on_line: Callable[[], None]) -> None:
        """Keep its log and progress until it exits, then reap it with its peak memory and CPU."""
        assert self.process.stderr is not None
        with self.log_path.open("w") as log:
            for line in self.process.stderr:
                log.write(line)
                self.tail = (self.tail + [line.rstrip()])[-40:]
                if match := _PROGRESS.search(line):
                    self.pages_items = (int(match.group(1)), int(match.group(2)))
                    on_line()
        # wait4 reaps this very child and reports its own peak memory.
        try:
            _, status, usage = os.wait4(self.process.pid, 0)
        except ChildProcessError:  # already reaped by _stop after a cancellation
            return
        self.process.returncode = self.exit_code = os.waitstatus_to_exitcode(status)
        self.peak_rss_mb, self.cpu_seconds = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime

    def stats(self) -> dict[str, Any]:
        return json.loads(self.stats_file.read_text()) if self.stats_file.exists() else {}


# Of several processes' stats, these are not added up.
_LATEST_STATS = ("finish_time", "finish_reason", "elapsed_time_seconds", "memusage/max", "reach/crawl_run_id")


def _combined(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats of a crawl split over processes: counts added up, the rest from the last to finish."""
    combined: dict[str, Any] = {}
    for part in sorted(stats, key=lambda s: str(s.get("finish_time", ""))):
        for key, value in part.items():
            previous = combined.get(key)
            if value is None and previous is not None:
                continue
            adds = key not in _LATEST_STATS and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in (previous, value))
            combined[key] = previous + value if adds else value
    return combined


def run_crawl(
    platform: str,
    ambassadors: Sequence[str] = (),
    accounts: Sequence[str] = (),
    lookback_days: int | None = None,
    flow_run_id: str | None = None,
    timeout: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    extra_settings: dict[str, str] | None = None,
) -> CrawlResult:
    """Open a crawl run, run `scrapy crawl <platform>` for it, and read back what it did.

    A feed crawl is split over `REACH_FEED_CRAWL_PROCESSES` processes, each taking its share of
    the accounts (`-a shard=K/N`), all writing to the one crawl run, which is closed here.
    """
    engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        check_selection(session, [platform], ambassadors)
        run = CrawlRun(platform=platform, source="crawl", status="running", prefect_flow_run_id=flow_run_id)
        session.add(run)
        session.commit()
        run_id = run.id
    assert run_id is not None
    shards = get_settings().feed_crawl_processes if platform == "feed" else 1
    with tempfile.TemporaryDirectory(prefix="reach-crawl-") as tmp:
        command = [sys.executable, "-m", "scrapy", "crawl", platform, "-a", f"crawl_run_id={run_id}"]
        if ambassadors:
            command += ["-a", f"ambassadors={','.join(ambassadors)}"]
        if accounts:
            command += ["-a", f"accounts={','.join(accounts)}"]
        if lookback_days:
            command += ["-a", f"lookback_days={lookback_days}"]
        for name, value in (extra_settings or {}).items():
            command += ["-s", f"{name}={value}"]
        env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawler.settings"}
        started = time.monotonic()
        processes: list[_Process] = []
        for shard in range(shards):
            stats_file = Path(tmp) / f"stats-{shard}.json"
            shard_args = ["-a", f"shard={shard}/{shards}"] if shards > 1 else []
            processes.append(_Process(subprocess.Popen(
                [*command, *shard_args, "-s", f"REACH_STATS_FILE={stats_file}"], stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True, env=env,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl+setpgrp
            ), stats_file, Path(tmp) / f"crawl-{shard}.log"))
        # A watchdog enforces the timeout even when the crawl prints nothing. It only sends
        # signals (SIGTERM, then SIGKILL after the grace): reaping is the followers' job, because
        # their wait4 must be what collects each child's exit status and peak memory.
        timed_out = threading.Event()
        pids = [p.process.pid for p in processes]
        killer = threading.Timer(KILL_GRACE_SECONDS, _signal_groups, (pids, signal.SIGKILL))
        killer.daemon = True

        def on_timeout() -> None:
            timed_out.set()
            _signal_groups(pids, signal.SIGTERM)
            killer.start()

        watchdog = threading.Timer(timeout, on_timeout) if timeout else None
        if watchdog:
            watchdog.daemon = True
            watchdog.start()
        progress_lock = threading.Lock()

        def on_line() -> None:
            if on_progress:
                with progress_lock:
                    on_progress(sum(p.pages_items[0] for p in processes), sum(p.pages_items[1] for p in processes))

        try:
            followers = [threading.Thread(target=p.follow, args=(on_line,), daemon=True) for p in processes[1:]]
            for follower in followers:
                follower.start()
            processes[0].follow(on_line)
            for follower in followers:
                follower.join()
        except BaseException as exc:  # cancelled or interrupted: the run must not stay "running"
            _mark_failed(run_id, f"the crawl was stopped: {type(exc).__name__}: {exc}")
            raise
        finally:
            if watchdog:
                watchdog.cancel()
            killer.cancel()
            for p in processes:
                _stop(p.process)  # on timeout, cancellation or any error: no crawler is left behind
        if timed_out.is_set():
            _mark_failed(run_id, f"the {platform} crawl exceeded its {timeout:.0f}s timeout and was stopped",
                         only_running=False)
            raise TimeoutError(f"{platform} crawl exceeded its {timeout:.0f}s timeout and was stopped")
        parts = [p.stats() for p in processes]
        # The log tail of each process that died before writing its stats.
        tail = [line for p, part in zip(processes, parts, strict=True) if not part for line in p.tail]
    stats = _combined(parts) if all(parts) else {}
    if shards > 1 and stats:
        status, ok, failed = finish_run(run_id, stats, all("reach/accounts" in part for part in parts),
                                        int(stats.get("reach/accounts", 0)))
        stats.update({"reach/run_status": status, "reach/accounts_ok": ok, "reach/accounts_failed": failed})
    exit_code = next((p.exit_code for p in processes if p.exit_code != 0), 0)
    result = load_result(run_id, exit_code, time.monotonic() - started, stats)
    result.peak_rss_mb = max(p.peak_rss_mb for p in processes)
    result.cpu_seconds = sum(p.cpu_seconds for p in processes)
    if not stats:
        _mark_failed(run_id, "the crawl process ended without writing its stats:\n" + "\n".join(tail[-15:]))
        result.status = "failed"
    return result


def finish_run(run_id: int, stats: dict[str, Any], accounts_loaded: bool, accounts: int) -> tuple[str, int, int]:
    """Close a crawl run with its health figures and overall status -> (status, accounts ok, failed)."""
    with get_engine().begin() as connection:
        outcomes = connection.execute(
            select(CrawlOutcome.ok).where(CrawlOutcome.crawl_run_id == run_id)
        ).scalars().all()
        failed = sum(1 for ok in outcomes if not ok)
        message = f"{len(outcomes) - failed} account(s) ok, {failed} failed"
        if not accounts_loaded:
            status, message = "failed", "the crawl could not read its accounts (see the crawl log)"
        elif not outcomes:
            status = "succeeded" if not accounts else "failed"
        elif failed == 0:
            status = "succeeded"
        elif failed == len(outcomes):
            status = "failed"
        else:
            status = "partial"
        connection.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(
            status=status, finished_at=utcnow(), requests=stats.get("downloader/request_count", 0),
            items=stats.get("reach/posts_written", 0), errors=failed, message=message,
            stats={k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                   for k, v in stats.items() if isinstance(v, int | float | str | dt.datetime)},
        ))
    return status, len(outcomes) - failed, failed


def _mark_failed(run_id: int, message: str, only_running: bool = True) -> None:
    """Record why a crawl run failed (by default only if nothing closed it already)."""
    with Session(get_engine()) as session:
        run = session.get(CrawlRun, run_id)
        if run is not None and (run.status == "running" or not only_running):
            run.status, run.message = "failed", message[-4000:]
            session.add(run)
            session.commit()


def load_result(run_id: int, exit_code: int, seconds: float, stats: dict[str, Any]) -> CrawlResult:
    """A crawl's result from its crawl-run row and per-account outcomes."""
    with Session(get_engine()) as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        rows = session.exec(
            select(CrawlOutcome, Account.handle, Ambassador.slug)
            .join(Account, col(Account.id) == CrawlOutcome.account_id)
            .join(Ambassador, col(Ambassador.id) == Account.ambassador_id)
            .where(CrawlOutcome.crawl_run_id == run_id)
            .order_by(Ambassador.slug)
        ).all()
        accounts = [AccountResult(handle, slug, o.ok, o.error, o.reason, o.posts_new, o.posts_updated, o.snapshots)
                    for o, handle, slug in rows]
        return CrawlResult(run.platform, run_id, run.status, exit_code, seconds, stats, accounts)
