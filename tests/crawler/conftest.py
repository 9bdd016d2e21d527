"""Crawler fixtures: the sandbox in its own process, a roster pointing at it, a crawl helper."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from crawler.run import CrawlResult, run_crawl
from reach.db import get_engine
from reach.roster import import_roster, parse_roster
from reach.settings import get_settings
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
    """Settings that point the crawler at the sandbox; faults and day reset afterwards."""
    monkeypatch.setenv("REACH_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("REACH_BLUESKY_APPVIEW_URL", sandbox.base_url)
    get_settings.cache_clear()
    sandbox.reset()
    sandbox.control("POST", "/_sandbox/day", {"day": 0})
    yield sandbox
    sandbox.reset()
    sandbox.control("POST", "/_sandbox/day", {"day": 0})


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


def crawl(platform: str, **kwargs: object) -> CrawlResult:
    """A real crawl subprocess, with a timeout so a hang fails the test instead of blocking it."""
    return run_crawl(platform, timeout=120, **kwargs)  # type: ignore[arg-type]
