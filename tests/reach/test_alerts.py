"""Alerts: each event raised once (also by two writers at once), kept, listed and sent, on
hand-made histories with fixed dates (both backends)."""

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from models import Account, Alert, CrawlOutcome, CrawlRun
from reach.alerts import (
    check_all,
    coverage_drops,
    deliver,
    failing_accounts,
    follower_spikes,
    list_alerts,
    post_milestones,
    raise_alert,
    recent_alerts,
    run_health_alert,
)
from reach.db import get_engine
from reach.settings import Settings, get_settings
from tests.reach import factories as f
from tests.receivers import JsonReceiver
from tests.web.conftest import seed_dashboard, sign_in
from web.app import create_app

NOW = f.at("2026-03-20", 12)
runner = CliRunner()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return get_settings()


def crawl(
    session: Session,
    when: dt.datetime,
    platform: str = "feed",
    status: str = "succeeded",
    items: int = 0,
    stats: dict[str, Any] | None = None,
) -> CrawlRun:
    row = CrawlRun(
        platform=platform,
        status=status,
        started_at=when,
        finished_at=None if status == "running" else when + dt.timedelta(minutes=5),
        items=items,
        stats=stats,
    )
    session.add(row)
    session.flush()
    return row


def outcomes(session: Session, run: CrawlRun, accounts: list[Account], ok: int) -> None:
    """The first `ok` accounts crawled fine in `run`, the others failed."""
    for n, acc in enumerate(accounts):
        good = n < ok
        session.add(
            CrawlOutcome(
                crawl_run_id=run.id,
                account_id=acc.id,
                ok=good,
                error=None if good else "AccountNotFound",
                reason=None if good else "HTTP 404",
            )
        )
    session.flush()


def feed_accounts(session: Session, n: int = 10) -> list[Account]:
    amb = f.ambassador(session, "wei-chen")
    return [f.account(session, amb, "feed", f"https://blog{i}.example.org/feed") for i in range(n)]


def nights(first: str, count: int) -> list[dt.datetime]:
    start = dt.date.fromisoformat(first)
    return [f.at((start + dt.timedelta(days=d)).isoformat(), 2) for d in range(count)]


def history(session: Session, accounts: list[Account], ok: int = 10, items: int = 100) -> None:
    """Seven successful nightly feed crawls, March 1-7, each with `ok` accounts and `items`."""
    for when in nights("2026-03-01", 7):
        outcomes(session, crawl(session, when, items=items), accounts, ok)


def keys(alerts: list[Alert]) -> list[str]:
    return [a.key for a in alerts]


def count_alerts(db_url: str) -> int:
    with Session(get_engine(db_url)) as s:
        return s.execute(select(func.count()).select_from(Alert)).scalar_one()


# --- coverage ---------------------------------------------------------------------------------


def test_a_drop_of_40_percent_alerts_once_per_figure_and_run(
    session: Session, settings: Settings
) -> None:
    accounts = feed_accounts(session)
    history(session, accounts)
    latest = crawl(session, f.at("2026-03-08", 2), status="partial", items=60)
    outcomes(session, latest, accounts, 6)
    raised = coverage_drops(session, settings)
    assert keys(raised) == [
        f"coverage:feed:accounts_ok:run={latest.id}",
        f"coverage:feed:posts_seen:run={latest.id}",
    ]
    assert raised[0].kind == "coverage_drop" and raised[0].platform == "feed"
    assert raised[0].message.startswith(f"feed: 6 account(s) crawled ok in crawl run {latest.id}")
    assert "40% below the median 10 of the 7 successful run(s)" in raised[0].message
    assert coverage_drops(session, settings) == []  # the same run: nothing new


def test_a_drop_of_10_percent_does_not_alert_nor_does_a_run_still_running(
    session: Session, settings: Settings
) -> None:
    accounts = feed_accounts(session)
    history(session, accounts)
    outcomes(session, crawl(session, f.at("2026-03-08", 2), items=90), accounts, 9)
    # Tonight's run has not finished: its few outcomes so far are no evidence.
    outcomes(session, crawl(session, f.at("2026-03-09", 2), status="running"), accounts, 1)
    assert coverage_drops(session, settings) == []


def test_posts_seen_is_read_from_the_run_stats_when_they_have_it(
    session: Session, settings: Settings
) -> None:
    accounts = feed_accounts(session)
    history(session, accounts, items=5)  # items count posts and snapshots: 100 posts seen
    for run in session.execute(select(CrawlRun)).scalars():
        run.stats = {"reach/posts_seen": 100}
    latest = crawl(session, f.at("2026-03-08", 2), items=500, stats={"reach/posts_seen": 50})
    outcomes(session, latest, accounts, 10)
    assert keys(coverage_drops(session, settings)) == [f"coverage:feed:posts_seen:run={latest.id}"]


def test_fewer_than_3_earlier_runs_raise_no_coverage_alert(
    session: Session, settings: Settings
) -> None:
    accounts = feed_accounts(session)
    for when in nights("2026-03-01", 2):
        outcomes(session, crawl(session, when, items=100), accounts, 10)
    outcomes(session, crawl(session, f.at("2026-03-03", 2), items=0), accounts, 0)
    assert coverage_drops(session, settings) == []


def test_failed_and_partial_runs_are_not_the_baseline(session: Session, settings: Settings) -> None:
    accounts = feed_accounts(session)
    for when in nights("2026-03-01", 2):
        outcomes(session, crawl(session, when, items=100), accounts, 10)
    outcomes(session, crawl(session, f.at("2026-03-03", 2), status="failed"), accounts, 0)
    outcomes(session, crawl(session, f.at("2026-03-04", 2), status="partial"), accounts, 2)
    # Two successful runs before it: no norm yet, whatever the failed and partial ones said.
    outcomes(session, crawl(session, f.at("2026-03-05", 2), items=10), accounts, 1)
    assert coverage_drops(session, settings) == []


# --- failing accounts -------------------------------------------------------------------------


def test_an_account_failing_3_nights_alerts_once_and_again_only_after_a_success(
    session: Session, settings: Settings
) -> None:
    amb = f.ambassador(session, "amelie-laurent")
    bad, good = f.account(session, amb, "mastodon"), f.account(session, amb, "mastodon")
    runs = [crawl(session, when, "mastodon") for when in nights("2026-03-01", 9)]

    def night(n: int, bad_ok: bool) -> list[Alert]:
        outcomes(session, runs[n], [good, bad], 2 if bad_ok else 1)
        return failing_accounts(session, settings)

    assert night(0, False) == [] and night(1, False) == []
    third = night(2, False)
    assert keys(third) == [f"account-failing:account={bad.id}:since=run {runs[0].id}"]
    assert third[0].subject == "amelie-laurent" and third[0].platform == "mastodon"
    assert "failed its last 3 crawls in a row" in third[0].message
    assert "AccountNotFound: HTTP 404" in third[0].message
    assert night(3, False) == []  # a 4th failing night: the same streak
    assert night(4, True) == []  # a success ends it
    assert night(5, False) == [] and night(6, False) == []
    again = night(7, False)
    assert keys(again) == [f"account-failing:account={bad.id}:since=run {runs[5].id}"]
    assert count_alerts_in(session) == 2


def test_failures_in_a_running_run_or_another_platform_do_not_count(
    session: Session, settings: Settings
) -> None:
    amb = f.ambassador(session, "amelie-laurent")
    acc = f.account(session, amb, "mastodon")
    for when in nights("2026-03-01", 2):
        outcomes(session, crawl(session, when, "mastodon"), [acc], 0)
    outcomes(session, crawl(session, f.at("2026-03-03", 2), "mastodon", "running"), [acc], 0)
    outcomes(session, crawl(session, f.at("2026-03-04", 2), "bluesky"), [acc], 0)
    assert failing_accounts(session, settings) == []


def count_alerts_in(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Alert)).scalar_one()


# --- posts ------------------------------------------------------------------------------------


def test_a_post_crossing_1000_engagements_alerts_once(session: Session, settings: Settings) -> None:
    amb = f.ambassador(session, "ngozi-eze")
    acc = f.account(session, amb, "mastodon")
    p = f.post(session, acc, f.at("2026-03-10", 9))
    first = crawl(session, f.at("2026-03-11", 2), "mastodon")
    f.post_snapshot(session, p, first, likes=900, comments=50, reposts=40, quotes=9)  # 999
    assert check_all(session, settings, now=NOW) == []
    second = crawl(session, f.at("2026-03-12", 2), "mastodon")
    f.post_snapshot(session, p, second, likes=940, comments=50, reposts=40, quotes=None)
    raised = check_all(session, settings, now=NOW)
    assert keys(raised) == [f"post-engagements:1000:post={p.id}"]
    assert raised[0].kind == "post_milestone" and raised[0].subject == str(p.id)
    assert "reached 1,030 engagements" in raised[0].message and "passing 1,000" in raised[0].message
    assert check_all(session, settings, now=NOW) == []  # the next night: nothing new
    assert count_alerts_in(session) == 1


def test_counts_of_a_run_still_running_are_not_read(session: Session, settings: Settings) -> None:
    amb = f.ambassador(session, "ngozi-eze")
    p = f.post(session, f.account(session, amb, "mastodon"), f.at("2026-03-10", 9))
    running = crawl(session, f.at("2026-03-12", 2), "mastodon", "running")
    f.post_snapshot(session, p, running, likes=5000)
    assert post_milestones(session, settings, now=NOW) == []


def test_five_times_the_ambassadors_median_alerts(session: Session, settings: Settings) -> None:
    amb = f.ambassador(session, "ngozi-eze")
    acc = f.account(session, amb, "mastodon")
    night = crawl(session, f.at("2026-03-19", 2), "mastodon")
    posts = {}
    for day, likes in (("03-01", 10), ("03-02", 10), ("03-03", 12), ("03-04", 14), ("03-05", 70)):
        posts[likes] = f.post(session, acc, f.at(f"2026-{day}"))
        f.post_snapshot(session, posts[likes], night, likes=likes)
    old = f.post(session, acc, f.at("2025-11-01"))  # more than 90 days before: not in the median
    f.post_snapshot(session, old, night, likes=1)
    # Another ambassador with only 2 other posts: no median to compare with.
    few = f.account(session, f.ambassador(session, "wei-chen"), "mastodon")
    for day, likes in (("03-01", 1), ("03-02", 1), ("03-03", 900)):
        f.post_snapshot(session, f.post(session, few, f.at(f"2026-{day}")), night, likes=likes)
    raised = post_milestones(session, settings, now=NOW)
    assert keys(raised) == [f"post-spike:post={posts[70].id}"]
    assert raised[0].kind == "post_spike"
    assert "70 engagements, 6.4 times the median 11 of ngozi-eze's 4 other post(s)" in (
        raised[0].message
    )
    assert post_milestones(session, settings, now=NOW) == []


def test_just_under_five_times_the_median_does_not_alert(
    session: Session, settings: Settings
) -> None:
    acc = f.account(session, f.ambassador(session, "ngozi-eze"), "mastodon")
    night = crawl(session, f.at("2026-03-19", 2), "mastodon")
    for day, likes in (("03-01", 10), ("03-02", 10), ("03-03", 12), ("03-04", 14), ("03-05", 54)):
        f.post_snapshot(session, f.post(session, acc, f.at(f"2026-{day}")), night, likes=likes)
    assert post_milestones(session, settings, now=NOW) == []


# --- followers --------------------------------------------------------------------------------


def test_a_follower_spike_of_6_percent_alerts_and_4_percent_does_not(
    session: Session, settings: Settings
) -> None:
    amb = f.ambassador(session, "amelie-laurent")
    up, steady = f.account(session, amb, "mastodon"), f.account(session, amb, "mastodon")
    morning, evening = crawl(session, f.at("2026-03-17", 6)), crawl(session, f.at("2026-03-17", 18))
    next_day = crawl(session, f.at("2026-03-18", 12))
    # The last snapshot of a day counts: against 1,010, 1,071 is +6.0%.
    f.followers(session, up, morning, 1000)
    f.followers(session, up, evening, 1010)
    f.followers(session, up, next_day, 1071)
    # Against its last of March 17 (1,000), 1,040 is +4% (+15.6% against the morning's 900).
    f.followers(session, steady, morning, 900)
    f.followers(session, steady, evening, 1000)
    f.followers(session, steady, next_day, 1040)
    raised = follower_spikes(session, settings, now=NOW)
    assert keys(raised) == [f"followers-spike:account={up.id}:day=2026-03-18"]
    assert raised[0].subject == "amelie-laurent"
    assert "gained 61 followers on 2026-03-18: 1,010 -> 1,071 (+6.0%" in raised[0].message
    assert follower_spikes(session, settings, now=NOW) == []


def test_follower_gains_across_a_missing_day_are_not_a_daily_spike(
    session: Session, settings: Settings
) -> None:
    acc = f.account(session, f.ambassador(session, "amelie-laurent"), "mastodon")
    f.followers(session, acc, crawl(session, f.at("2026-03-17")), 1000)
    f.followers(session, acc, crawl(session, f.at("2026-03-19")), 1500)
    assert follower_spikes(session, settings, now=NOW) == []


# --- raising once -----------------------------------------------------------------------------


def test_raise_alert_twice_with_the_same_key_stores_one_row(session: Session, db_url: str) -> None:
    first = raise_alert(session, "post-engagements:1000:post=42", "post_milestone", "one")
    again = raise_alert(session, "post-engagements:1000:post=42", "post_milestone", "two")
    session.commit()
    assert first is not None and first.id is not None and again is None
    assert count_alerts(db_url) == 1
    assert list_alerts(session, None)[0].message == "one"


def test_a_second_writer_waits_for_the_first_and_then_raises_nothing(db_url: str) -> None:
    key = "run-health:5f0c0c8e-0000-4000-8000-000000000001"
    engine = get_engine(db_url)
    with Session(engine) as first:
        assert raise_alert(first, key, "run_health", "first") is not None
        got: list[Alert | None] = []

        def second_writer() -> None:
            with Session(engine) as second:
                got.append(raise_alert(second, key, "run_health", "second"))
                second.commit()

        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # held by the first writer's uncommitted row
        first.commit()
        thread.join(30)
    assert got == [None]
    assert count_alerts(db_url) == 1


def test_writers_at_once_store_the_event_once(db_url: str) -> None:
    key = "coverage:feed:accounts_ok:run=17"
    engine = get_engine(db_url)
    start = threading.Barrier(4)
    got: list[bool] = []

    def writer(n: int) -> None:
        with Session(engine) as s:
            start.wait()
            got.append(raise_alert(s, key, "coverage_drop", f"writer {n}") is not None)
            s.commit()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == [False, False, False, True]
    assert count_alerts(db_url) == 1


def test_run_health_names_the_flow_run_and_its_crawl_runs(session: Session) -> None:
    run = crawl(session, f.at("2026-03-10", 2), "bluesky", status="failed")
    run.prefect_flow_run_id = "0b7d6a8e-1111-4000-8000-000000000002"
    run.message = "interrupted (0 account(s) ok, 0 failed)"
    alert = run_health_alert(
        session,
        "0b7d6a8e-1111-4000-8000-000000000002",
        "nightly (nightly-2026-03-10)",
        "Crashed",
        "bluesky",
        "Execution was cancelled by the runtime environment.",
    )
    assert alert is not None and alert.key == "run-health:0b7d6a8e-1111-4000-8000-000000000002"
    assert alert.message.splitlines() == [
        (
            "nightly (nightly-2026-03-10) ended Crashed (bluesky): "
            "Execution was cancelled by the runtime environment."
        ),
        f"crawl run {run.id} (bluesky) failed: interrupted (0 account(s) ok, 0 failed)",
    ]
    again = run_health_alert(
        session, "0b7d6a8e-1111-4000-8000-000000000002", "nightly", "Crashed", None, "again"
    )
    assert again is None


# --- delivery ---------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[JsonReceiver]:
    r = JsonReceiver("127.0.0.4")
    yield r
    r.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.4", 0))
        return int(s.getsockname()[1])


def test_deliver_records_sent_at_against_a_real_receiver(
    session: Session, db_url: str, receiver: JsonReceiver
) -> None:
    alert = raise_alert(session, "post-spike:post=7", "post_spike", "post 7 has 70 engagements")
    assert alert is not None
    session.commit()
    deliver(session, [alert], [receiver.url])
    session.commit()
    assert [(m["title"], m["message"]) for m in receiver.received] == [
        ("reach alert: post_spike", "post 7 has 70 engagements")
    ]
    with Session(get_engine(db_url)) as fresh:
        stored = fresh.get(Alert, alert.id)
        assert stored is not None and stored.sent_at is not None and stored.send_error is None
    deliver(session, [alert], [receiver.url])  # already sent: not sent again
    assert len(receiver.received) == 1


def test_deliver_records_the_masked_error_when_the_receiver_is_down(
    session: Session, db_url: str
) -> None:
    alert = raise_alert(session, "post-spike:post=8", "post_spike", "post 8")
    assert alert is not None
    deliver(session, [alert], [f"json://reach:s3cr3t-pass@127.0.0.4:{closed_port()}/x"])
    session.commit()
    with Session(get_engine(db_url)) as fresh:
        stored = fresh.get(Alert, alert.id)
        assert stored is not None and stored.sent_at is None
        assert stored.send_error and "s3cr3t-pass" not in stored.send_error
        assert stored.send_error.startswith("json://reach:")


def test_deliver_without_a_target_says_so(session: Session) -> None:
    alert = raise_alert(session, "post-spike:post=9", "post_spike", "post 9")
    assert alert is not None
    deliver(session, [alert], [])
    assert alert.sent_at is None and alert.send_error and "REACH_NOTIFY_URLS" in alert.send_error


# --- reading back -----------------------------------------------------------------------------


def test_list_alerts_newest_first_and_since(session: Session) -> None:
    for n, day in enumerate(("2026-03-01", "2026-03-03", "2026-03-02")):
        alert = raise_alert(session, f"k{n}", "post_spike", f"m{n}")
        assert alert is not None
        alert.raised_at = f.at(day)
    session.commit()
    assert [a.key for a in list_alerts(session, None)] == ["k1", "k2", "k0"]
    assert [a.key for a in list_alerts(session, f.at("2026-03-02", 0))] == ["k1", "k2"]
    assert [a.key for a in recent_alerts(session, limit=2)] == ["k1", "k2"]


def reach(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Table rows on one line each, so a message is found whole in the output."""
    from cli.console import console

    monkeypatch.setattr(console, "_width", 250)


def test_reach_alerts_check_sends_the_new_ones_and_lists_them(
    session: Session, receiver: JsonReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    acc = f.account(
        session, f.ambassador(session, "amelie-laurent"), "mastodon", "@amelie@m.social"
    )
    for when in nights("2026-03-01", 3):
        outcomes(session, crawl(session, when, "mastodon"), [acc], 0)
    session.commit()
    monkeypatch.setenv("REACH_NOTIFY_URLS", receiver.url)
    get_settings.cache_clear()
    result = reach("alerts", "--check")
    assert result.exit_code == 0, result.stderr
    assert "1 new alert(s)" in result.stderr
    assert [m["title"] for m in receiver.received] == ["reach alert: account_failing"]
    session.expire_all()
    (stored,) = list_alerts(session, None)
    assert stored.sent_at is not None and stored.send_error is None
    assert "account_failing" in result.stdout and "amelie-laurent" in result.stdout
    assert "@amelie@m.social" in result.stdout and "UTC" in result.stdout
    again = reach("alerts", "--check")
    assert "0 new alert(s)" in again.stderr and len(receiver.received) == 1
    listed = reach("alerts", "--since", "2026-01-01")
    assert listed.exit_code == 0 and "account_failing" in listed.stdout
    later = reach("alerts", "--since", "2999-01-01")
    assert later.exit_code == 0 and "account_failing" not in later.stdout


def test_reach_alerts_lists_a_send_error(session: Session) -> None:
    raise_alert(session, "post-spike:post=9", "post_spike", "post 9 has 70 engagements")
    alert = list_alerts(session, None)[0]
    alert.send_error = "json://127.0.0.4:9/x: Connection refused"
    session.commit()
    result = reach("alerts")
    assert result.exit_code == 0
    assert "post 9 has 70 engagements" in result.stdout
    assert "Connection refused" in result.stdout


def test_reach_alerts_refuses_a_bad_date(db_url: str) -> None:
    result = reach("alerts", "--since", "2026-13-01")
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert "--since '2026-13-01' is not a date" in result.stderr


def test_the_crawl_health_page_lists_the_alerts(session: Session) -> None:
    seed_dashboard(session)
    raise_alert(session, "post-spike:post=1", "post_spike", "<b>post 1</b> has 70", "mastodon", "1")
    session.commit()
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        sign_in(client)
        html = client.get("/health").text
    table = html[html.index('id="alerts"') :]
    assert "post_spike" in table and "&lt;b&gt;post 1&lt;/b&gt; has 70" in table
    assert "not sent" in table
