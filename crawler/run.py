"""Run one crawl as its own `scrapy crawl` process and judge its health from its stats.

One crawl per process: the Twisted reactor cannot restart inside a process, and in-process
runners hang or silently drop items under Prefect's event loop.
"""

import contextlib
import ctypes
import difflib
import json
import logging
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

from sqlmodel import Session, col, select

from models import CRAWLED_PLATFORMS, Ambassador, RunStatus
from reach.db import get_engine, is_transient
from reach.runs import (
    HEARTBEAT_SECONDS,
    CrawlResult,
    beat,
    fail_run,
    finish_run,
    load_result,
    open_run,
    reap_stale_runs,
    record_unfinished,
    run_status,
    temp_prefix,
)
from reach.settings import get_settings

logger = logging.getLogger(__name__)
SPIDERS = CRAWLED_PLATFORMS  # one spider per crawled platform, named after it
_PROGRESS = re.compile(r"Crawled (\d+) pages .*scraped (\d+) items")


class CrawlFailed(RuntimeError):
    """The crawl did not do its job (no responses, all accounts failed, the process died)."""


class UnknownSelection(ValueError):
    """A platform or ambassador asked for that does not exist (retrying will not help)."""


class DatabaseUnavailable(RuntimeError):
    """The database stopped answering during the crawl (a retry once it answers may help)."""


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """ " (did you mean li-na?)" for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not close:
        return ""
    match = next(c for c in choices if c.lower() == close[0])
    return f" (did you mean {match}?)"


def check_selection(session: Session, platforms: Sequence[str], ambassadors: Sequence[str]) -> None:
    """Fail at once, naming them, on unknown platforms or ambassador slugs."""
    unknown = [p for p in platforms if p not in SPIDERS]
    if unknown:
        raise UnknownSelection(
            "unknown platform(s): "
            + ", ".join(f"{p}{did_you_mean(p, SPIDERS)}" for p in unknown)
            + f" (crawlable: {', '.join(SPIDERS)})"
        )
    if ambassadors:
        known = set(
            session.exec(
                select(Ambassador.slug).where(col(Ambassador.slug).in_(list(ambassadors)))
            ).all()
        )
        missing = [slug for slug in ambassadors if slug not in known]
        if missing:
            every = list(session.exec(select(Ambassador.slug)).all())
            raise UnknownSelection(
                "unknown ambassador(s): "
                + ", ".join(f"{slug}{did_you_mean(slug, every)}" for slug in missing)
            )


def _die_with_parent() -> None:
    """In the child: get SIGKILL if the parent dies (a cancelled flow run leaves no crawler)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgrp()


# Between SIGTERM and SIGKILL: Scrapy's graceful stop lets in-flight requests finish, then
# flushes what it holds and records the unfinished accounts.
STOP_GRACE_SECONDS = 30
DATABASE_WAIT_SECONDS = 60  # for the database to answer again before a crawl's end is recorded


def _signal_groups(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)


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
_LATEST_STATS = (
    "finish_time",
    "finish_reason",
    "elapsed_time_seconds",
    "memusage/max",
    "reach/crawl_run_id",
    "reach/peak_rss_mb",
)


def _combined(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats of a crawl split over processes: counts added up, the rest from the last to finish."""
    combined: dict[str, Any] = {}
    for part in sorted(stats, key=lambda s: str(s.get("finish_time", ""))):
        for key, value in part.items():
            previous = combined.get(key)
            if value is None and previous is not None:
                continue
            adds = key not in _LATEST_STATS and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in (previous, value)
            )
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
    stop: "StopRequest | None" = None,
    hosts: Sequence[str] = (),
) -> CrawlResult:
    """Open a crawl run, run `scrapy crawl <platform>` for it, and read back what it did.

    Runs left `running` by a process that is gone are closed as interrupted first. A feed crawl
    is split over `REACH_FEED_CRAWL_PROCESSES` processes, each taking its share of the accounts
    (`-a shard=K/N`), all writing to the one crawl run, which is closed here. `stop` (set from a
    signal handler) stops the crawl the way Scrapy stops on SIGTERM: unfinished accounts are
    recorded and the run ends `partial` or `failed`; no crawl process outlives this call.
    """
    reaped = reap_stale_runs()
    engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        check_selection(session, [platform], ambassadors)
    with engine.begin() as connection:
        run_id = open_run(connection, platform, flow_run_id)
    shards = get_settings().feed_crawl_processes if platform == "feed" else 1
    with tempfile.TemporaryDirectory(prefix=temp_prefix(run_id)) as tmp:
        command = [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            platform,
            "-a",
            f"crawl_run_id={run_id}",
        ]
        if ambassadors:
            command += ["-a", f"ambassadors={','.join(ambassadors)}"]
        if accounts:
            command += ["-a", f"accounts={','.join(accounts)}"]
        if lookback_days:
            command += ["-a", f"lookback_days={lookback_days}"]
        if hosts:  # a nightly shard's hosts (reach.shards): their accounts only
            command += ["-a", f"hosts={','.join(hosts)}"]
        for name, value in (extra_settings or {}).items():
            command += ["-s", f"{name}={value}"]
        env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawler.settings"}
        started = time.monotonic()
        processes: list[_Process] = []
        for shard in range(shards):
            stats_file = Path(tmp) / f"stats-{shard}.json"
            shard_args = ["-a", f"shard={shard}/{shards}"] if shards > 1 else []
            processes.append(
                _Process(
                    subprocess.Popen(
                        [*command, *shard_args, "-s", f"REACH_STATS_FILE={stats_file}"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                        env=env,
                        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl+setpgrp
                    ),
                    stats_file,
                    Path(tmp) / f"crawl-{shard}.log",
                )
            )
        progress_lock = threading.Lock()

        def on_line() -> None:
            if on_progress:
                with progress_lock:
                    on_progress(
                        sum(p.pages_items[0] for p in processes),
                        sum(p.pages_items[1] for p in processes),
                    )

        # Each process is followed on a thread of its own (their wait4 collects each child's exit
        # status and peak memory); this thread watches the clock, the stop request and the heartbeat.
        followers = [
            threading.Thread(target=p.follow, args=(on_line,), daemon=True) for p in processes
        ]
        for follower in followers:
            follower.start()
        pids = [p.process.pid for p in processes]
        deadline = started + timeout if timeout else None
        timed_out = interrupted = None
        try:
            last_beat = time.monotonic()
            while any(f.is_alive() for f in followers):
                for follower in followers:
                    follower.join(0.2)
                now = time.monotonic()
                if deadline and now > deadline:
                    timed_out = (
                        f"the {platform} crawl exceeded its {timeout:.0f}s timeout and was stopped"
                    )
                    break
                if stop is not None and stop.signal_name:
                    interrupted = stop.signal_name
                    break
                if now - last_beat >= HEARTBEAT_SECONDS:
                    last_beat = now
                    # A missed heartbeat is harmless (another host's runs are judged after 30 min):
                    # it must not print a line of its own while the database is away.
                    with contextlib.suppress(Exception):
                        beat(run_id)
        except BaseException as exc:  # cancelled (Prefect) or interrupted: stop, close, re-raise
            _stop(pids, followers)
            _try(
                fail_run,
                run_id,
                f"interrupted: the crawl was stopped ({type(exc).__name__}: {exc})".strip(),
            )
            raise
        if timed_out or interrupted:
            _stop(pids, followers)
        parts = [p.stats() for p in processes]
        # The log tail of each process that died before writing its stats.
        tail = [
            line for p, part in zip(processes, parts, strict=True) if not part for line in p.tail
        ]
    if timed_out:
        _try(fail_run, run_id, timed_out, only_running=False)
        raise TimeoutError(timed_out)
    stats = _combined(parts) if all(parts) else {}
    exit_code = next((p.exit_code for p in processes if p.exit_code != 0), 0)
    # The database may be away (that may be why the crawl stopped): wait a while for it, so the
    # run ends with its own reason rather than as "interrupted" later.
    waited_until = time.monotonic() + DATABASE_WAIT_SECONDS
    while True:
        try:
            _close(
                run_id,
                platform,
                stats,
                parts,
                processes,
                tail,
                shards,
                interrupted,
                hosts,
                ambassadors,
            )
            result = load_result(run_id, exit_code, time.monotonic() - started, stats)
            break
        except Exception as exc:
            if not is_transient(exc):
                raise
            if time.monotonic() > waited_until:
                raise DatabaseUnavailable(
                    f"the database stopped answering ({_first_line(exc)}); crawl run {run_id} will be "
                    "closed as interrupted by the next crawl or `reach runs reap`"
                ) from exc
            time.sleep(2)
    result.peak_rss_mb = max(
        part.get("reach/peak_rss_mb") or p.peak_rss_mb
        for p, part in zip(processes, parts, strict=True)
    )
    result.cpu_seconds = sum(p.cpu_seconds for p in processes)
    result.interrupted = interrupted
    result.reaped = reaped
    return result


class StopRequest:
    """Set from a signal handler (SIGTERM, SIGINT) to stop a running crawl gracefully."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __call__(self, signum: int, _frame: object = None) -> None:
        self.signal_name = signal.Signals(signum).name


def _stop(pids: Sequence[int], followers: Sequence[threading.Thread]) -> None:
    """SIGTERM the crawl processes (Scrapy's graceful stop), SIGKILL what outlives the grace."""
    _signal_groups(pids, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for follower in followers:
        follower.join(max(0.0, deadline - time.monotonic()))
    if any(f.is_alive() for f in followers):
        _signal_groups(pids, signal.SIGKILL)
        for follower in followers:
            follower.join(5)


def _close(
    run_id: int,
    platform: str,
    stats: dict[str, Any],
    parts: list[dict[str, Any]],
    processes: list["_Process"],
    tail: list[str],
    shards: int,
    interrupted: str | None,
    hosts: Sequence[str] = (),
    ambassadors: Sequence[str] = (),
) -> None:
    """Close the run if its processes could not: split crawls, killed processes, lost writes."""
    if shards > 1 and stats:
        failure = (
            stats.get("reach/write_failed")
            if isinstance(stats.get("reach/write_failed"), str)
            else None
        )
        status, ok, failed = finish_run(
            run_id,
            stats,
            all("reach/accounts" in part for part in parts),
            int(stats.get("reach/accounts", 0)),
            failure=failure,
        )
        stats.update(
            {"reach/run_status": status, "reach/accounts_ok": ok, "reach/accounts_failed": failed}
        )
    killed = [signal.Signals(-p.exit_code).name for p in processes if p.exit_code < 0]
    if killed and run_status(run_id) == RunStatus.RUNNING:
        record_unfinished(
            run_id,
            f"the crawl process was killed ({killed[0]}) before this account finished",
            hosts,
            ambassadors,
        )
    if stats.get("reach/write_failed"):
        fail_run(run_id, f"rows were lost: {stats['reach/write_failed']}", only_running=False)
    elif run_status(run_id) == RunStatus.RUNNING:
        if killed:
            reason = f"interrupted: the {platform} crawl process was killed by {killed[0]}"
        elif interrupted:
            reason = f"interrupted: stopped by {interrupted} before the crawl could close"
        else:
            reason = "the crawl process ended without closing its run:\n" + "\n".join(tail[-15:])
        fail_run(run_id, reason)


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def _try(action: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """A bookkeeping write that must not hide the error being handled (the database may be away)."""
    try:
        action(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the stale-run reaper closes the run later
        logger.warning("could not record the crawl run's end: %s", _first_line(exc))
