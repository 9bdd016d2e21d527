"""The crawl run's lifecycle: runs whose process is gone are found and closed as interrupted."""

import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, select

from models import CrawlOutcome, CrawlRun, utcnow
from reach.db import get_engine
from reach.runs import HOST, STALE_AFTER, reap_stale_runs, record_unfinished, temp_prefix

REACH = Path(sys.executable).with_name("reach")


def _run(db_url: str, **values: object) -> int:
    row = {
        "platform": "mastodon",
        "source": "crawl",
        "status": "running",
        "started_at": utcnow(),
        "requests": 0,
        "items": 0,
        "errors": 0,
        **values,
    }
    with get_engine(db_url).begin() as connection:
        return int(
            connection.execute(insert(CrawlRun).values(**row).returning(CrawlRun.id)).scalar_one()
        )


def _gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_runs_whose_process_is_gone_are_closed_as_interrupted(db_url: str) -> None:
    now = utcnow()
    alive = _run(db_url, host=HOST, pid=os.getpid(), started_at=now)
    dead = _run(db_url, host=HOST, pid=_gone_pid(), started_at=now)
    # The pid exists, but its process started after the run did: a reused pid, not the owner.
    reused = _run(db_url, host=HOST, pid=os.getpid(), started_at=now - dt.timedelta(days=400))
    elsewhere_fresh = _run(
        db_url, host="worker-2", pid=1, heartbeat_at=now - dt.timedelta(minutes=1)
    )
    elsewhere_silent = _run(
        db_url, host="worker-2", pid=1, heartbeat_at=now - STALE_AFTER - dt.timedelta(minutes=1)
    )
    finished = _run(db_url, host=HOST, pid=_gone_pid(), status="succeeded")
    folder = Path(tempfile.mkdtemp(prefix=temp_prefix(dead)))

    reaped = {r.id: r.reason for r in reap_stale_runs()}

    assert set(reaped) == {dead, reused, elsewhere_silent}
    assert reaped[elsewhere_silent].startswith(
        "interrupted: its process on worker-2 has not been heard of"
    )
    assert not folder.exists()
    with Session(get_engine(db_url)) as session:
        status = dict(session.exec(select(CrawlRun.id, CrawlRun.status)).all())
        message = session.get(CrawlRun, dead).message
    assert status == {
        alive: "running",
        dead: "failed",
        reused: "failed",
        elsewhere_fresh: "running",
        elsewhere_silent: "failed",
        finished: "succeeded",
    }
    assert message.startswith("interrupted: its process ") and message.endswith(
        f"on {HOST} is gone"
    )
    assert reap_stale_runs() == []  # a run is closed once


def test_runs_reap_command_lists_what_it_closed(db_url: str) -> None:
    dead = _run(db_url, host=HOST, pid=_gone_pid())
    done = subprocess.run(
        [str(REACH), "runs", "reap"], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (
        f"crawl run {dead} (mastodon): interrupted" in done.stdout
        and "1 crawl run(s) closed" in done.stdout
    )


def test_a_killed_rerun_fails_only_the_accounts_of_its_ambassadors(session: Session) -> None:
    from tests.reach import factories

    amara = factories.ambassador(session, "amara-okafor")
    julien = factories.ambassador(session, "julien-moreau")
    hers = factories.account(session, amara, handle="@a@one.example")
    factories.account(session, julien, handle="@j@one.example")
    crawl = factories.run(session, dt.datetime.now(dt.UTC))
    crawl.status = "running"
    session.commit()
    record_unfinished(
        crawl.id, "the crawl process was killed (SIGKILL)", ambassadors=["amara-okafor"]
    )
    failed = session.exec(
        select(CrawlOutcome.account_id).where(CrawlOutcome.crawl_run_id == crawl.id)
    ).all()
    assert failed == [hers.id]  # Julien was not in this rerun
