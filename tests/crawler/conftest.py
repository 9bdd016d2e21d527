"""Crawler fixtures: the sandbox in its own process, a roster pointing at it, a crawl helper."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from crawler.run import run_crawl
from reach.db import get_engine
from reach.roster import import_roster, parse_roster
from reach.runs import CrawlResult
from reach.settings import get_settings
from sandbox import truth
from sandbox.testing import SandboxProcess

MASTODON = ["amara_okafor", "wei_zhang", "chloe_bernard"]
BLUESKY = ["amara-okafor.bsky.social", "wei-zhang.bsky.social", "ngozi-eze.bsky.social"]
BLOGS = ["amara-okafor", "julien-moreau", "li-na"]  # a mix of RSS and Atom blogs and page styles


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """One sandbox for the crawler tests, with a budget large enough not to slow them down."""
    with SandboxProcess(day=0, faults=["rate_limit=100000"]) as sb:
        yield sb


@pytest.fixture
def sandboxed(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxProcess]:
    """Settings that point the crawler at the sandbox; faults, day and calendar date reset afterwards.

    The sandbox keeps the date it started with ($REACH_SANDBOX_DATE, else the real date): the
    test's `sandbox.truth` gets the same date, and a date in the past lengthens the crawl's
    lookback by as many days, since the crawler's window follows the real clock.
    """
    monkeypatch.setenv("REACH_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("REACH_BLUESKY_APPVIEW_URL", sandbox.base_url)
    sandbox.reset()
    sandbox.control("POST", "/_sandbox/day", {"day": 0})
    today = sandbox.set_date(None)
    monkeypatch.setenv(truth.DATE_SETTING, today.isoformat())
    behind = (dt.datetime.now(dt.UTC).date() - today).days
    if behind > 0:
        monkeypatch.setenv("REACH_LOOKBACK_DAYS", str(get_settings().lookback_days + behind))
    get_settings.cache_clear()
    yield sandbox
    sandbox.reset()
    sandbox.control("POST", "/_sandbox/day", {"day": 0})
    sandbox.set_date(None)


def write_roster(path: Path, base_url: str) -> Path:
    """A roster of three ambassadors with accounts on every crawlable platform of the sandbox."""
    host = base_url.removeprefix("http://")
    lines = ["ambassador,country,cohort,team,platform,account"]
    people = [("Amara Okafor", "NG"), ("Wei Zhang", "CN"), ("Third Person", "FR")]
    for (name, country), masto, bsky, blog in zip(people, MASTODON, BLUESKY, BLOGS, strict=True):
        lines += [
            f"{name},{country},2026,Eng,mastodon,@{masto}@{host}",
            f"{name},{country},2026,Eng,bluesky,{bsky}",
            f"{name},{country},2026,Eng,feed,{base_url}/blogs/{blog}/feed/",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def roster(db_url: str, sandboxed: SandboxProcess, tmp_path: Path) -> Path:
    """The three-ambassador roster imported into the test database."""
    path = write_roster(tmp_path / "roster.csv", sandboxed.base_url)
    with Session(get_engine(db_url)) as session:
        import_roster(session, parse_roster(path, allow_private_hosts=True))
        session.commit()
    return path


def import_accounts(
    db_url: str, folder: Path, platform: str, accounts: list[str], who: str = "Person"
) -> None:
    """One ambassador per account ("<who> 000", ...) imported into the test database."""
    lines = ["ambassador,country,cohort,team,platform,account"]
    lines += [
        f"{who} {i:03d},FR,2026,Eng,{platform},{account}" for i, account in enumerate(accounts)
    ]
    path = folder / f"{who.lower()}-{platform}.csv"
    path.write_text("\n".join(lines) + "\n")
    with Session(get_engine(db_url)) as session:
        import_roster(session, parse_roster(path, allow_private_hosts=True))
        session.commit()


def crawl(platform: str, **kwargs: object) -> CrawlResult:
    """A real crawl subprocess, with a timeout so a hang fails the test instead of blocking it."""
    return run_crawl(platform, timeout=120, **kwargs)  # type: ignore[arg-type]
