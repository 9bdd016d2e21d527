"""Alerts: each event raised once, kept, listed and sent.

An alert is keyed by the event's identity (`post-engagements:1000:post=42`,
`account-failing:account=5:since=run 12`), never by the check that found it: the monitors can run
after every crawl, twice at once (the nightly and a rerun), and each event is still stored and
sent once (INSERT ... ON CONFLICT DO NOTHING on the key).

The monitors read only complete evidence: crawl runs that finished, and snapshots of finished
runs; a `running` run is never compared with anything. Each returns the alerts it newly raised.
Their windows (90 days of posts, a week of follower snapshots) end at `now`, the current time
unless a caller (a test, a replay) gives another.
"""

import bisect
import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session, col

from models import (
    Account,
    AccountSnapshot,
    Alert,
    AlertKind,
    Ambassador,
    CrawlOutcome,
    CrawlRun,
    Post,
    PostCounts,
    PostSnapshot,
    RunStatus,
    Source,
    key_of,
    utcnow,
)
from reach.db import upsert_insert
from reach.metrics import _engagements
from reach.notify import send
from reach.settings import Settings

KEY_LENGTH = 300  # Alert.key
# Coverage: the latest run against the median of this many successful runs before it, and only
# once there are at least MIN_BASELINE_RUNS of them (two nights say nothing about a norm).
BASELINE_RUNS = 7
MIN_BASELINE_RUNS = 3
POSTS_SEEN_STAT = "reach/posts_seen"
# Failing accounts: this many failed crawls in a row, in distinct runs of the account's platform.
FAILING_STREAK = 3
# Post spikes: this many times the ambassador's median over its other posts of the window.
SPIKE_FACTOR = 5
SPIKE_WINDOW = dt.timedelta(days=90)
MIN_OTHER_POSTS = 3
# Follower spikes: the days of the last week (each against the day before it) are looked at, so
# a night the monitors did not run is caught up the next one.
FOLLOWER_DAYS = 7
NO_TARGET = "no notification URL configured (REACH_NOTIFY_URLS or REACH_NOTIFY_SECRET_BLOCK)"

_FINISHED = col(CrawlRun.status) != RunStatus.RUNNING


def raise_alert(
    session: Session,
    key: str,
    kind: str,
    message: str,
    platform: str | None = None,
    subject: str | None = None,
) -> Alert | None:
    """Store the event `key` -> the new Alert, or None when it was raised before (by this process
    or another one at the same moment: the database's unique key decides)."""
    if len(key) > KEY_LENGTH:
        raise ValueError(f"alert key longer than {KEY_LENGTH} characters: {key[:60]}...")
    connection = session.connection()
    stmt = (
        upsert_insert(connection)(Alert)
        .values(
            key=key,
            kind=str(kind),
            platform=platform,
            subject=subject,
            message=message,
            raised_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(Alert.id))
    )
    alert_id = connection.execute(stmt).scalar_one_or_none()
    return None if alert_id is None else session.get(Alert, alert_id)


# --- coverage ---------------------------------------------------------------------------------


def _posts_seen(run: CrawlRun) -> int:
    value = (run.stats or {}).get(POSTS_SEEN_STAT)
    return int(value) if isinstance(value, int | float) else run.items


def coverage_drops(session: Session, settings: Settings) -> list[Alert]:
    """Per platform, its latest finished crawl (succeeded or partial) against the median of the
    successful runs before it: accounts crawled ok, and posts seen, each more than
    `alert_drop_pct` % below that median raise one alert for that run."""
    raised: list[Alert] = []
    platforms = session.execute(
        select(col(CrawlRun.platform)).where(col(CrawlRun.source) == Source.CRAWL).distinct()
    ).scalars()
    for platform in sorted(platforms):
        crawls = (
            col(CrawlRun.platform) == platform,
            col(CrawlRun.source) == Source.CRAWL,
            col(CrawlRun.finished_at).is_not(None),
        )
        latest = session.execute(
            select(CrawlRun)
            .where(*crawls, col(CrawlRun.status).in_([RunStatus.SUCCEEDED, RunStatus.PARTIAL]))
            .order_by(col(CrawlRun.started_at).desc(), col(CrawlRun.id).desc())
            .limit(1)
        ).scalar()
        if latest is None:
            continue
        # The baseline is the healthy norm: runs that succeeded, not partial ones.
        before = list(
            session.execute(
                select(CrawlRun)
                .where(
                    *crawls,
                    col(CrawlRun.status) == RunStatus.SUCCEEDED,
                    or_(
                        col(CrawlRun.started_at) < latest.started_at,
                        and_(
                            col(CrawlRun.started_at) == latest.started_at,
                            col(CrawlRun.id) < latest.id,
                        ),
                    ),
                )
                .order_by(col(CrawlRun.started_at).desc(), col(CrawlRun.id).desc())
                .limit(BASELINE_RUNS)
            ).scalars()
        )
        if len(before) < MIN_BASELINE_RUNS:
            continue
        runs = [latest, *before]
        ids = [key_of(r) for r in runs]
        ok_counts: dict[int, int] = {
            run_id: count
            for run_id, count in session.execute(
                select(col(CrawlOutcome.crawl_run_id), func.count())
                .where(col(CrawlOutcome.crawl_run_id).in_(ids), col(CrawlOutcome.ok))
                .group_by(col(CrawlOutcome.crawl_run_id))
            ).all()
        }
        figures = {
            "accounts_ok": ("account(s) crawled ok", [ok_counts.get(key_of(r), 0) for r in runs]),
            "posts_seen": ("post(s) seen", [_posts_seen(r) for r in runs]),
        }
        for figure, (label, (value, *earlier)) in figures.items():
            median = statistics.median(earlier)
            if median <= 0:
                continue
            drop = 100.0 * (median - value) / median
            if drop <= settings.alert_drop_pct:
                continue
            alert = raise_alert(
                session,
                f"coverage:{platform}:{figure}:run={latest.id}",
                AlertKind.COVERAGE_DROP,
                f"{platform}: {value:,} {label} in crawl run {latest.id} "
                f"({latest.status}, {latest.started_at:%Y-%m-%d %H:%M} UTC), {drop:.0f}% below "
                f"the median {median:,g} of the {len(before)} successful run(s) before it "
                f"(alert above {settings.alert_drop_pct:g}%)",
                platform=platform,
            )
            if alert:
                raised.append(alert)
    return raised


# --- failing accounts -------------------------------------------------------------------------


@dataclass
class _Outcome:
    run_id: int
    started_at: dt.datetime
    ok: bool
    error: str | None
    reason: str | None


def _outcomes(session: Session, account_ids: Sequence[int] | None, last: int | None) -> Any:
    """Accounts' outcomes in finished crawls of their own platform, newest first, numbered per
    account (`n` = 1 for the newest); only the `last` newest of each when given."""
    newest_first = (col(CrawlRun.started_at).desc(), col(CrawlRun.id).desc())
    query = (
        select(
            col(CrawlOutcome.account_id).label("account_id"),
            col(CrawlOutcome.crawl_run_id).label("run_id"),
            col(CrawlRun.started_at).label("started_at"),
            col(CrawlOutcome.ok).label("ok"),
            col(CrawlOutcome.error).label("error"),
            col(CrawlOutcome.reason).label("reason"),
            func.row_number()
            .over(partition_by=col(CrawlOutcome.account_id), order_by=newest_first)
            .label("n"),
        )
        .join(CrawlRun, col(CrawlRun.id) == col(CrawlOutcome.crawl_run_id))
        .join(Account, col(Account.id) == col(CrawlOutcome.account_id))
        .where(
            _FINISHED,
            col(CrawlRun.source) == Source.CRAWL,
            col(CrawlRun.platform) == col(Account.platform),
        )
    )
    if account_ids is not None:
        query = query.where(col(CrawlOutcome.account_id).in_(account_ids))
    ranked = query.subquery()
    outer = select(ranked)
    if last is not None:
        outer = outer.where(ranked.c.n <= last)
    return session.execute(outer.order_by(ranked.c.account_id, ranked.c.n)).all()


def failing_accounts(session: Session, settings: Settings) -> list[Alert]:
    """An account whose last 3 crawls (3 distinct finished runs of its platform) all failed:
    one alert per streak, keyed by the run the streak started in, so it is raised again only
    after a success ended the streak and a new one began."""
    del settings  # no threshold of its own: three nights is the rule
    last: dict[int, list[_Outcome]] = defaultdict(list)
    for row in _outcomes(session, None, FAILING_STREAK):
        last[row.account_id].append(
            _Outcome(row.run_id, row.started_at, row.ok, row.error, row.reason)
        )
    failing = [
        account_id
        for account_id, outcomes in last.items()
        if len(outcomes) == FAILING_STREAK and not any(o.ok for o in outcomes)
    ]
    if not failing:
        return []
    history: dict[int, list[_Outcome]] = defaultdict(list)
    for row in _outcomes(session, failing, None):
        history[row.account_id].append(
            _Outcome(row.run_id, row.started_at, row.ok, row.error, row.reason)
        )
    accounts = {
        account.id: (account, slug)
        for account, slug in session.execute(
            select(Account, col(Ambassador.slug))
            .join(Ambassador, col(Ambassador.id) == col(Account.ambassador_id))
            .where(col(Account.id).in_(failing))
        ).all()
    }
    raised: list[Alert] = []
    for account_id in sorted(failing):
        streak: list[_Outcome] = []
        for outcome in history[account_id]:  # newest first, up to the last success
            if outcome.ok:
                break
            streak.append(outcome)
        first, latest = streak[-1], streak[0]
        account, slug = accounts[account_id]
        why = ": ".join(part for part in (latest.error, latest.reason) if part) or "no reason given"
        alert = raise_alert(
            session,
            f"account-failing:account={account_id}:since=run {first.run_id}",
            AlertKind.ACCOUNT_FAILING,
            f"{account.handle} ({account.platform}, {slug}) failed its last {len(streak)} "
            f"crawls in a row, since crawl run {first.run_id} "
            f"({first.started_at:%Y-%m-%d %H:%M} UTC); latest, run {latest.run_id}: {why}",
            platform=account.platform,
            subject=slug,
        )
        if alert:
            raised.append(alert)
    return raised


# --- posts ------------------------------------------------------------------------------------


@dataclass
class _PostFigure:
    id: int
    ambassador: str
    platform: str
    url: str | None
    published_at: dt.datetime
    engagements: int


def _recent_posts(session: Session, now: dt.datetime) -> list[_PostFigure]:
    """Posts published in the window before `now` (not reposts: their counts are another's
    post's, nor deleted ones) with their latest engagements, read from a finished run."""
    rows = session.execute(
        select(
            col(Post.id),
            col(Ambassador.slug),
            col(Post.platform),
            col(Post.url),
            col(Post.published_at),
            col(PostCounts.likes),
            col(PostCounts.comments),
            col(PostCounts.reposts),
            col(PostCounts.quotes),
        )
        .join(PostCounts, col(PostCounts.post_id) == col(Post.id))
        .join(PostSnapshot, col(PostSnapshot.id) == col(PostCounts.latest_id))
        .join(CrawlRun, col(CrawlRun.id) == col(PostSnapshot.crawl_run_id))
        .join(Account, col(Account.id) == col(Post.account_id))
        .join(Ambassador, col(Ambassador.id) == col(Account.ambassador_id))
        .where(
            _FINISHED,
            col(Post.kind) != "repost",
            col(Post.deleted_at).is_(None),
            col(Post.published_at) >= now - SPIKE_WINDOW,
            col(Post.published_at) <= now,
        )
        .order_by(col(Post.id))
    ).all()
    posts = []
    for post_id, slug, platform, url, published_at, likes, comments, reposts, quotes in rows:
        engagements = _engagements(likes, comments, reposts, quotes)
        if engagements is not None:
            posts.append(_PostFigure(post_id, slug, platform, url, published_at, engagements))
    return posts


def _median_without(ordered: list[int], value: int) -> float:
    """The median of `ordered` (sorted) with one occurrence of `value` left out."""
    skip = bisect.bisect_left(ordered, value)
    size = len(ordered) - 1

    def at(i: int) -> int:
        return ordered[i if i < skip else i + 1]

    middle = size // 2
    return float(at(middle)) if size % 2 else (at(middle - 1) + at(middle)) / 2


def post_milestones(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> list[Alert]:
    """A post of the last 90 days whose latest engagements reached `alert_post_engagements`
    (one alert per post and threshold), or 5 times its ambassador's median over that
    ambassador's other posts of the window (at least 3 of them; one alert per post)."""
    now = now or utcnow()
    threshold = settings.alert_post_engagements
    posts = _recent_posts(session, now)
    by_ambassador: dict[str, list[int]] = defaultdict(list)
    for p in posts:
        by_ambassador[p.ambassador].append(p.engagements)
    for values in by_ambassador.values():
        values.sort()
    raised: list[Alert] = []
    for p in posts:
        where = f"post {p.id} by {p.ambassador} ({p.platform}, published {p.published_at:%Y-%m-%d})"
        link = f": {p.url}" if p.url else ""
        if p.engagements >= threshold:
            alert = raise_alert(
                session,
                f"post-engagements:{threshold}:post={p.id}",
                AlertKind.POST_MILESTONE,
                f"{where} reached {p.engagements:,} engagements (likes + comments + reposts + "
                f"quotes), passing {threshold:,}{link}",
                platform=p.platform,
                subject=str(p.id),
            )
            if alert:
                raised.append(alert)
        values = by_ambassador[p.ambassador]
        if len(values) - 1 < MIN_OTHER_POSTS:
            continue
        median = _median_without(values, p.engagements)
        # A median of 0 still makes a norm: 5 engagements stand out against it.
        if p.engagements < SPIKE_FACTOR * max(median, 1.0):
            continue
        times = f"{p.engagements / median:.1f} times" if median else "against"
        alert = raise_alert(
            session,
            f"post-spike:post={p.id}",
            AlertKind.POST_SPIKE,
            f"{where} has {p.engagements:,} engagements, {times} the median {median:,g} of "
            f"{p.ambassador}'s {len(values) - 1} other post(s) of the last "
            f"{SPIKE_WINDOW.days} days{link}",
            platform=p.platform,
            subject=str(p.id),
        )
        if alert:
            raised.append(alert)
    return raised


# --- followers --------------------------------------------------------------------------------


def follower_spikes(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> list[Alert]:
    """An account gaining more than `alert_followers_pct` % followers between its last snapshot
    of one day and its last of the day before (days in REACH_TIMEZONE, the last week): one
    alert per account and day."""
    now = now or utcnow()
    zone = ZoneInfo(settings.timezone)
    rows = session.execute(
        select(
            col(AccountSnapshot.account_id),
            col(AccountSnapshot.observed_at),
            col(AccountSnapshot.id),
            col(AccountSnapshot.followers),
        )
        .join(CrawlRun, col(CrawlRun.id) == col(AccountSnapshot.crawl_run_id))
        .where(
            _FINISHED,
            col(AccountSnapshot.followers).is_not(None),
            col(AccountSnapshot.observed_at) >= now - dt.timedelta(days=FOLLOWER_DAYS + 1),
            col(AccountSnapshot.observed_at) <= now,
        )
        .order_by(col(AccountSnapshot.observed_at), col(AccountSnapshot.id))
    ).all()
    last_of_day: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for account_id, observed_at, _id, followers in rows:  # oldest first: the last one stays
        last_of_day[account_id][observed_at.astimezone(zone).date()] = followers
    first_day = (now - dt.timedelta(days=FOLLOWER_DAYS)).astimezone(zone).date()
    spikes = []
    for account_id, days in last_of_day.items():
        for day, followers in sorted(days.items()):
            before = days.get(day - dt.timedelta(days=1))
            if day < first_day or not before:
                continue
            pct = 100.0 * (followers - before) / before
            if pct > settings.alert_followers_pct:
                spikes.append((account_id, day, before, followers, pct))
    if not spikes:
        return []
    accounts = {
        account.id: (account, slug)
        for account, slug in session.execute(
            select(Account, col(Ambassador.slug))
            .join(Ambassador, col(Ambassador.id) == col(Account.ambassador_id))
            .where(col(Account.id).in_({s[0] for s in spikes}))
        ).all()
    }
    raised: list[Alert] = []
    for account_id, day, before, followers, pct in sorted(spikes, key=lambda s: (s[1], s[0])):
        account, slug = accounts[account_id]
        alert = raise_alert(
            session,
            f"followers-spike:account={account_id}:day={day.isoformat()}",
            AlertKind.FOLLOWERS_SPIKE,
            f"{account.handle} ({account.platform}, {slug}) gained {followers - before:,} "
            f"followers on {day.isoformat()}: {before:,} -> {followers:,} (+{pct:.1f}%, alert "
            f"above {settings.alert_followers_pct:g}%)",
            platform=account.platform,
            subject=slug,
        )
        if alert:
            raised.append(alert)
    return raised


# --- flow runs, all monitors, delivery, reading back -----------------------------------------


def run_health_alert(
    session: Session,
    flow_run_id: str,
    flow_name: str,
    state_name: str | None,
    platform: str | None,
    reason: str,
) -> Alert | None:
    """A reach flow run that ended badly (Failed, Crashed): alerted once per flow run, with the
    crawl runs it opened and how they ended."""
    message = f"{flow_name} ended {state_name or 'in an unknown state'}" + (
        f" ({platform})" if platform else ""
    )
    message += f": {reason}"
    crawls = session.execute(
        select(CrawlRun)
        .where(col(CrawlRun.prefect_flow_run_id) == flow_run_id)
        .order_by(col(CrawlRun.id))
    ).scalars()
    for run in crawls:
        message += f"\ncrawl run {run.id} ({run.platform}) {run.status}"
        message += f": {run.message}" if run.message else ""
    return raise_alert(
        session,
        f"run-health:{flow_run_id}",
        AlertKind.RUN_HEALTH,
        message,
        platform=platform,
    )


def check_all(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> list[Alert]:
    """Run every monitor -> the alerts newly raised (none for an event raised before)."""
    return [
        *coverage_drops(session, settings),
        *failing_accounts(session, settings),
        *post_milestones(session, settings, now=now),
        *follower_spikes(session, settings, now=now),
    ]


def deliver(session: Session, alerts: Sequence[Alert], urls: Sequence[str]) -> None:
    """Send each alert not sent yet to every target; record `sent_at` (some target took it) and
    `send_error` (each target that did not, masked). A receiver that is down is a recorded
    error, never an exception. Everything is sent before anything is written, so no database
    lock is held while a receiver is slow."""
    outcomes: list[tuple[Alert, dt.datetime | None, str | None]] = []
    for alert in alerts:
        if alert.sent_at is not None:
            continue
        if not urls:
            outcomes.append((alert, None, NO_TARGET))
            continue
        try:
            results = send(urls, f"reach alert: {alert.kind}", alert.message)
        except Exception as exc:  # noqa: BLE001 - send() returns failures; never let one escape
            outcomes.append((alert, None, f"sending failed: {type(exc).__name__}"))
            continue
        failed = "; ".join(f"{r.target}: {r.error}" for r in results if not r.ok)
        sent_at = utcnow() if any(r.ok for r in results) else None
        outcomes.append((alert, sent_at, failed or None))
    for alert, sent_at, error in outcomes:
        alert.sent_at, alert.send_error = sent_at, error
        session.add(alert)
    session.flush()


def list_alerts(session: Session, since: dt.datetime | None = None) -> list[Alert]:
    """Alerts raised since `since` (all when None), newest first."""
    query = select(Alert).order_by(col(Alert.raised_at).desc(), col(Alert.id).desc())
    if since is not None:
        query = query.where(col(Alert.raised_at) >= since)
    return list(session.execute(query).scalars())


def recent_alerts(session: Session, limit: int = 50) -> list[Alert]:
    """The `limit` newest alerts (the dashboard's crawl health page)."""
    query = select(Alert).order_by(col(Alert.raised_at).desc(), col(Alert.id).desc())
    return list(session.execute(query.limit(limit)).scalars())
