"""A crawl run's lifecycle, in one place: opened, kept alive, finished, failed, reaped, read back
as a `CrawlResult`; and the run an import records.

A run records the host and process that own it while it is `running`. A run whose process is
gone (SIGKILL, a machine restart) never closes itself: the next crawl, or `reach runs reap`,
closes it as failed with the reason "interrupted".
"""

import datetime as dt
import glob
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from sqlalchemy import Connection, insert, select, true, update
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from models import Account, Ambassador, CrawlOutcome, CrawlRun, RunStatus, Source, utcnow
from reach.db import get_engine
from reach.settings import get_settings
from reach.shards import account_host

HOST = socket.gethostname()[:255]
# A run owned by another host is stale when it has not been heard of for this long: its
# owner heartbeats at least every HEARTBEAT_SECONDS while it crawls.
STALE_AFTER = dt.timedelta(minutes=30)
HEARTBEAT_SECONDS = 60.0
TEMP_PREFIX = "reach-crawl-"


def temp_prefix(run_id: int) -> str:
    """The name prefix of the temporary folder of run `run_id` (removed when it is reaped)."""
    return f"{TEMP_PREFIX}{run_id}-"


def open_run(connection: Connection, platform: str, flow_run_id: str | None = None) -> int:
    """A new `running` crawl run owned by this process -> its id."""
    now = utcnow()
    run_id = connection.execute(
        insert(CrawlRun)
        .values(
            platform=platform,
            source=Source.CRAWL,
            status=RunStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            host=HOST,
            pid=os.getpid(),
            prefect_flow_run_id=flow_run_id,
            requests=0,
            items=0,
            errors=0,
        )
        .returning(col(CrawlRun.id))
    ).scalar_one()
    assert run_id is not None  # a primary key the database just made
    return run_id


def record_import(
    session: Session, platform: str, file: str, kind: str, flow_run_id: str | None
) -> CrawlRun:
    """The run of one imported file, in the caller's transaction: it exists only if the file's rows do."""
    run = CrawlRun(
        platform=platform,
        source=Source.IMPORT,
        status=RunStatus.SUCCEEDED,
        message=file,
        prefect_flow_run_id=flow_run_id,
        stats={"file": file, "kind": kind},
        finished_at=utcnow(),
    )
    session.add(run)
    session.flush()
    return run


def heartbeat(connection: Connection, run_id: int) -> None:
    """Say the run is alive. As a flush's first statement it also takes SQLite's write lock
    before the transaction reads anything, so two writers queue instead of failing."""
    connection.execute(
        update(CrawlRun).where(col(CrawlRun.id) == run_id).values(heartbeat_at=utcnow())
    )


def beat(run_id: int) -> None:
    """`heartbeat` in a transaction of its own (a crawl's starting process, while it waits)."""
    with get_engine().begin() as connection:
        heartbeat(connection, run_id)


def finish_run(
    run_id: int,
    stats: dict[str, Any],
    accounts_loaded: bool,
    accounts: int,
    failure: str | None = None,
) -> tuple[str, int, int]:
    """Close a crawl run with its health figures and overall status -> (status, accounts ok, failed).

    `failure` (rows that could not be written, a killed process) makes the run `failed` whatever
    its accounts did: a run that lost rows never says succeeded.
    """
    with get_engine().begin() as connection:
        outcomes = (
            connection.execute(
                select(col(CrawlOutcome.ok)).where(col(CrawlOutcome.crawl_run_id) == run_id)
            )
            .scalars()
            .all()
        )
        failed = sum(1 for ok in outcomes if not ok)
        message = f"{len(outcomes) - failed} account(s) ok, {failed} failed"
        if failure:
            status, message = RunStatus.FAILED, f"{failure} ({message})"
        elif not accounts_loaded:
            status, message = (
                RunStatus.FAILED,
                "the crawl could not read its accounts (see the crawl log)",
            )
        elif not outcomes:
            status = RunStatus.SUCCEEDED if not accounts else RunStatus.FAILED
        elif failed == 0:
            status = RunStatus.SUCCEEDED
        elif failed == len(outcomes):
            status = RunStatus.FAILED
        else:
            status = RunStatus.PARTIAL
        connection.execute(
            update(CrawlRun)
            .where(col(CrawlRun.id) == run_id)
            .values(
                status=status,
                finished_at=utcnow(),
                requests=stats.get("downloader/request_count", 0),
                items=stats.get("reach/posts_written", 0),
                errors=failed,
                message=message,
                stats={
                    k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                    for k, v in stats.items()
                    if isinstance(v, int | float | str | dt.datetime)
                },
            )
        )
    return str(status), len(outcomes) - failed, failed


def fail_run(run_id: int, message: str, only_running: bool = True) -> bool:
    """Record why a crawl run failed (by default only if nothing closed it already) -> changed."""
    query = update(CrawlRun).where(col(CrawlRun.id) == run_id)
    if only_running:
        query = query.where(col(CrawlRun.status) == RunStatus.RUNNING)
    with get_engine().begin() as connection:
        result = connection.execute(
            query.values(status=RunStatus.FAILED, message=message[-4000:], finished_at=utcnow())
        )
    return bool(result.rowcount)


def run_status(run_id: int) -> str | None:
    with get_engine().connect() as connection:
        return connection.execute(
            select(col(CrawlRun.status)).where(col(CrawlRun.id) == run_id)
        ).scalar()


def _process_alive(pid: int, since: dt.datetime) -> bool:
    """Process `pid` of this host exists and is the one that started before `since` (not a reuse)."""
    try:
        started = dt.datetime.fromtimestamp(psutil.Process(pid).create_time(), dt.UTC)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False
    return started <= since + dt.timedelta(seconds=2)


@dataclass
class StaleRun:
    """A `running` crawl run whose process is gone, closed by `reap_stale_runs`."""

    id: int
    platform: str
    reason: str


def stale_reason(run: Any, now: dt.datetime) -> str | None:
    """Why a `running` run is stale, or None while its owner may still be at work."""
    started = run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=dt.UTC)
    if run.host == HOST and run.pid:
        if _process_alive(run.pid, started):
            return None
        return f"interrupted: its process {run.pid} on {HOST} is gone"
    last = run.heartbeat_at or run.started_at
    last = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
    if now - last < STALE_AFTER:
        return None
    where = f"on {run.host}" if run.host else "on an unrecorded host"
    return f"interrupted: its process {where} has not been heard of since {last:%Y-%m-%d %H:%M} UTC"


def reap_stale_runs() -> list[StaleRun]:
    """Close every `running` crawl run whose process is gone as failed "interrupted"."""
    now = utcnow()
    with get_engine().connect() as connection:
        running = connection.execute(
            select(
                col(CrawlRun.id),
                col(CrawlRun.platform),
                col(CrawlRun.started_at),
                col(CrawlRun.heartbeat_at),
                col(CrawlRun.host),
                col(CrawlRun.pid),
            ).where(col(CrawlRun.status) == RunStatus.RUNNING, col(CrawlRun.source) == Source.CRAWL)
        ).all()
    reaped = []
    for run in running:
        reason = stale_reason(run, now)
        if reason and fail_run(run.id, reason):
            reaped.append(StaleRun(run.id, run.platform, reason))
            if run.host == HOST:
                for folder in glob.glob(
                    os.path.join(tempfile.gettempdir(), temp_prefix(run.id) + "*")
                ):
                    shutil.rmtree(folder, ignore_errors=True)
    return reaped


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
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def warning_text(self) -> str:
        """ "replies unavailable for 1 post: HTTP 404; ..." """
        return "; ".join(
            f"{w['what']} unavailable for {w['count']} post{'s' if w['count'] != 1 else ''}: "
            f"{w['reason']}"
            for w in self.warnings
        )


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
    message: str | None = None  # the crawl run's own account of how it ended
    peak_rss_mb: float | None = None  # of the crawl process, from the kernel's accounting
    cpu_seconds: float | None = None  # user + system time of the crawl process
    interrupted: str | None = None  # the signal that stopped it ("SIGTERM"), when one did
    reaped: list[StaleRun] = field(default_factory=list)  # earlier runs closed as interrupted

    @property
    def warnings(self) -> int:
        return sum(w["count"] for a in self.accounts for w in a.warnings)

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
        if self.interrupted:
            found.append(f"interrupted by {self.interrupted}")
        if self.exit_code < 0:
            found.append(f"the crawl process was killed by {signal.Signals(-self.exit_code).name}")
        elif self.exit_code != 0:
            found.append(f"scrapy exited with code {self.exit_code}")
        elif not self.stats:
            found.append("no stats were written: the crawl process died before closing")
        if lost := self.stats.get("reach/write_failed"):
            found.append(f"rows were lost: {lost}")
        if orphans := self.stats.get("reach/replies_without_post"):
            found.append(f"{orphans} reply(ies) arrived without their post and were not stored")
        expected = int(self.stats.get("reach/accounts", 0) or 0)
        if expected and self.responses == 0:
            found.append(f"0 responses for {expected} account(s)")
        if self.stats.get("log_count/CRITICAL"):
            found.append(f"{self.stats['log_count/CRITICAL']} critical error(s) in the log")
        if self.stats.get("spider_exceptions/count"):
            found.append(f"{self.stats['spider_exceptions/count']} spider exception(s)")
        if self.status == RunStatus.FAILED and not found:
            if self.accounts and self.accounts_failed == len(self.accounts):
                reasons = sorted({f"{a.error}: {a.reason}" for a in self.accounts if not a.ok})[:3]
                found.append(
                    "every account failed" + (f" ({'; '.join(reasons)})" if reasons else "")
                )
            else:
                found.append(self.message or "the crawl run failed")
        return found

    def notices(self) -> list[str]:
        """Warning lines that leave the crawl healthy: work put off to the next night."""
        found = []
        if deferred := int(self.stats.get("reach/threads_deferred", 0) or 0):
            found.append(f"{deferred} reply threads deferred to the next night: host budget share")
        return found

    def summary(self) -> str:
        warnings = f", {self.warnings} warning(s)" if self.warnings else ""
        notices = "".join(f"; {notice}" for notice in self.notices())
        return (
            f"{self.platform}: {self.status}, accounts ok {self.accounts_ok} / failed "
            f"{self.accounts_failed}{warnings}, posts new {self.posts_new} / updated {self.posts_updated}, "
            f"snapshots {self.snapshots}, {self.responses} responses in {self.seconds:.1f}s{notices}"
        )


def record_unfinished(
    run_id: int, reason: str, hosts: Sequence[str] = (), ambassadors: Sequence[str] = ()
) -> None:
    """An outcome for each account of a killed crawl that has none: what was ok stays ok.

    `hosts`, `ambassadors`: the crawl took only the accounts on these hosts (a nightly shard's) or
    of these ambassadors (a rerun's); the others were not this crawl's to fail.
    """
    with get_engine().begin() as connection:
        run = connection.execute(
            select(col(CrawlRun.platform)).where(col(CrawlRun.id) == run_id)
        ).scalar_one()
        done = select(col(CrawlOutcome.account_id)).where(col(CrawlOutcome.crawl_run_id) == run_id)
        rows = connection.execute(
            select(col(Account.id), col(Account.base_url))
            .join(Ambassador, col(Ambassador.id) == Account.ambassador_id)
            .where(
                col(Account.platform) == run,
                col(Ambassador.active).is_(True),
                col(Account.id).not_in(done),
                col(Ambassador.slug).in_(list(ambassadors)) if ambassadors else true(),
            )
        ).all()
        wanted = {h.lower() for h in hosts}
        appview = get_settings().bluesky_appview_url
        missing = [
            account_id
            for account_id, base_url in rows
            if not wanted or account_host(run, base_url, appview) in wanted
        ]
        if missing:
            connection.execute(
                insert(CrawlOutcome),
                [
                    {
                        "crawl_run_id": run_id,
                        "account_id": account_id,
                        "ok": False,
                        "error": "Unfinished",
                        "reason": reason,
                        "posts_new": 0,
                        "posts_updated": 0,
                        "snapshots": 0,
                    }
                    for account_id in missing
                ],
            )


def load_result(run_id: int, exit_code: int, seconds: float, stats: dict[str, Any]) -> CrawlResult:
    """A crawl's result from its crawl-run row and per-account outcomes."""
    with Session(get_engine()) as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        rows = session.exec(
            select_rows(CrawlOutcome, Account.handle, Ambassador.slug)
            .join(Account, col(Account.id) == CrawlOutcome.account_id)
            .join(Ambassador, col(Ambassador.id) == Account.ambassador_id)
            .where(CrawlOutcome.crawl_run_id == run_id)
            .order_by(Ambassador.slug)
        ).all()
        accounts = [
            AccountResult(
                handle,
                slug,
                o.ok,
                o.error,
                o.reason,
                o.posts_new,
                o.posts_updated,
                o.snapshots,
                o.warnings or [],
            )
            for o, handle, slug in rows
        ]
        return CrawlResult(
            run.platform, run_id, run.status, exit_code, seconds, stats, accounts, run.message
        )
