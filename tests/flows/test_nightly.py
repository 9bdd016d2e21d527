"""The nightly flow on Prefect's test harness, against the sandbox with one platform failing."""

import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlalchemy import func
from sqlmodel import Session, col, select

from flows.nightly import nightly_reach
from models import CrawlRun, Post
from reach.db import get_engine
from reach.settings import get_settings
from sandbox.testing import SandboxProcess
from tests.flows.conftest import load_roster, write_roster
from tests.receivers import JsonReceiver

pytestmark = pytest.mark.slow


@pytest.fixture
def crawl_env(
    db_url: str, sandbox: SandboxProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The small roster in the test database, and settings pointing the crawler at the sandbox."""
    monkeypatch.setenv("REACH_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("REACH_BLUESKY_APPVIEW_URL", sandbox.base_url)
    monkeypatch.setenv("REACH_REPORTS_DIR", str(tmp_path / "reports"))
    get_settings.cache_clear()
    load_roster(db_url, write_roster(tmp_path / "roster.csv", sandbox.port))
    return db_url


def test_one_platform_failing_fails_the_run_naming_it_and_keeps_the_others_data(
    harness: None,
    crawl_env: str,
    sandbox: SandboxProcess,
    tmp_path: Path,
) -> None:
    sandbox.set_faults(robots_disallow="/xrpc")  # Bluesky's whole API is off limits to crawlers

    state = nightly_reach(crawl_retries=0, return_state=True)

    assert state.is_failed()
    assert state.message is not None and "1 of 3 crawl(s) failed: bluesky:" in state.message
    assert "robots" in state.message.lower()
    with Session(get_engine(crawl_env)) as session:
        posts = dict(
            session.exec(
                select(Post.platform, func.count(col(Post.id))).group_by(Post.platform)
            ).all()
        )
        runs = dict(session.exec(select(CrawlRun.platform, CrawlRun.status)).all())
    assert posts.get("mastodon", 0) > 0 and posts.get("feed", 0) > 0 and "bluesky" not in posts
    assert runs == {"mastodon": "succeeded", "feed": "succeeded", "bluesky": "failed"}
    # Scoring and the report ran anyway: the other platforms' data is fresh.
    assert list((tmp_path / "reports").glob("reach-report-*.html"))

    with get_client(sync_client=True) as client:
        artifacts = {
            a.key: a
            for a in client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
                )
            )
        }
    assert {
        "nightly-reach-results",
        "nightly-reach-summary",
        "nightly-reach-sentiment",
        "nightly-reach-report-summary",
    } <= artifacts.keys()
    summary = str(artifacts["nightly-reach-summary"].data)
    assert "**Failed: bluesky**" in summary and "robots" in summary.lower()
    table = artifacts["nightly-reach-results"].data
    rows = {
        row["platform"]: row for row in (table if isinstance(table, list) else json.loads(table))
    }
    assert rows["bluesky"]["ok"] is False and "robots" in rows["bluesky"]["errors"].lower()
    assert rows["mastodon"]["ok"] is True and rows["mastodon"]["posts_new"] > 0


def test_gone_reply_threads_leave_the_nightly_completed_with_warnings_in_its_summary(
    harness: None,
    crawl_env: str,
    sandbox: SandboxProcess,
) -> None:
    sandbox.set_faults(gone_threads=["amara_okafor", "amara-okafor"])  # Mastodon and Bluesky

    state = nightly_reach(platforms=["mastodon", "bluesky"], crawl_retries=0, return_state=True)

    assert state.is_completed(), state.message
    with Session(get_engine(crawl_env)) as session:
        runs = dict(session.exec(select(CrawlRun.platform, CrawlRun.status)).all())
    assert runs == {"mastodon": "succeeded", "bluesky": "succeeded"}
    with get_client(sync_client=True) as client:
        artifacts = {
            a.key: a
            for a in client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
                )
            )
        }
    summary = str(artifacts["nightly-reach-summary"].data)
    assert (
        "All crawls succeeded." in summary and "**Warnings** (the accounts stayed ok):" in summary
    )
    assert "replies unavailable for " in summary and "HTTP 404" in summary and "HTTP 400" in summary
    table = artifacts["nightly-reach-results"].data
    rows = {
        row["platform"]: row for row in (table if isinstance(table, list) else json.loads(table))
    }
    assert rows["mastodon"]["ok"] is True and "replies unavailable" in rows["mastodon"]["warnings"]


def test_the_nightly_sends_the_daily_digest_and_a_refused_send_fails_nothing(
    harness: None,
    crawl_env: str,
    sandbox: SandboxProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, refusing = JsonReceiver("127.0.0.7"), JsonReceiver("127.0.0.8", status=500)
    try:
        monkeypatch.setenv("REACH_NOTIFY_URLS", f"{good.url} {refusing.url}")
        get_settings.cache_clear()

        state = nightly_reach(platforms=["mastodon"], crawl_retries=0, return_state=True)

        assert state.is_completed(), state.message
        digests = [m for m in good.received if not m["title"].startswith("reach alert")]
        assert len(digests) == 1 and "Reach" in digests[0]["title"]
        result = state.result()
        assert [r["ok"] for r in result["digest"]] == [True, False]
        assert list((tmp_path / "reports").glob("reach-report-*.html"))  # the report is kept
        with get_client(sync_client=True) as client:
            artifacts = {
                a.key: a
                for a in client.read_artifacts(
                    artifact_filter=ArtifactFilter(
                        flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
                    )
                )
            }
        summary = str(artifacts["nightly-reach-summary"].data)
        assert "Digest: sent to json://127.0.0.7" in summary
        assert "**not sent** to json://127.0.0.8" in summary
    finally:
        good.stop()
        refusing.stop()
