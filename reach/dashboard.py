"""What the dashboard's pages show, as plain data: the period picker, each period against the one
before, the leaderboard, an ambassador, a post, the crawl health.

Every figure is a registry metric computed by `reach.report.build_report` (or read from the
stored snapshots for a history chart); the web app only lays these out.
"""

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlmodel import Session, col

from models import (
    Account,
    Ambassador,
    CrawlOutcome,
    CrawlRun,
    Post,
    PostSnapshot,
    Reply,
    RunStatus,
    Source,
)
from models.content import SNAPSHOT_COUNTS
from reach.metrics import METRICS, EntityMetrics, Period
from reach.report import Report, top_ambassadors
from reach.report.build import TEXT_CHARS, follower_points

RANGES = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_RANGE = "30d"
STALE_AFTER = dt.timedelta(days=2)
# The headline figures, each a registry metric, with the attribute of EntityMetrics it reads.
HEADLINE_METRICS = ("posts", "engagements", "new_followers", "potential_reach", "impressions")


class BadPeriod(ValueError):
    """A period picker value that names no period (shown on the page, one line)."""


@dataclass(frozen=True)
class PeriodChoice:
    """What the picker asked for and the period it means."""

    range: str  # 7d / 30d / 90d / month / custom
    period: Period
    month: str = ""

    def query(self) -> dict[str, str]:
        """The query parameters that select this period again (links, exports, the API)."""
        if self.range == "month":
            return {"range": "month", "month": self.month}
        if self.range == "custom":
            return {
                "range": "custom",
                "since": self.period.since.isoformat(),
                "until": self.period.until.isoformat(),
            }
        return {"range": self.range, "until": self.period.until.isoformat()}

    @property
    def label(self) -> str:
        if self.range in RANGES:
            return f"last {RANGES[self.range]} days to {self.period.until.isoformat()}"
        if self.range == "month":
            return self.period.since.strftime("%B %Y")
        return f"{self.period.since.isoformat()} to {self.period.until.isoformat()}"


def _date(name: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadPeriod(f"{name} {value!r} is not a date (use YYYY-MM-DD)") from None


def choose_period(
    today: dt.date,
    timezone: str,
    range: str | None = None,
    since: str | None = None,
    until: str | None = None,
    month: str | None = None,
) -> PeriodChoice:
    """The period of the picker's values; the rolling ranges end `until` (default: today)."""
    if not range:
        range = "custom" if since else "month" if month else DEFAULT_RANGE
    if range in RANGES:
        end = _date("until", until) if until else today
        start = end - dt.timedelta(days=RANGES[range] - 1)
        return PeriodChoice(range, Period(start, end, timezone))
    if range == "month":
        text = month or today.strftime("%Y-%m")
        try:
            first = dt.date.fromisoformat(f"{text}-01")
        except ValueError:
            raise BadPeriod(f"month {text!r} is not a month (use YYYY-MM)") from None
        after = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return PeriodChoice("month", Period(first, after - dt.timedelta(days=1), timezone), text)
    if range == "custom":
        if not since or not until:
            raise BadPeriod("a custom period needs both since and until (YYYY-MM-DD)")
        start, end = _date("since", since), _date("until", until)
        if start > end:
            raise BadPeriod(f"since {start} is after until {end}")
        if (end - start).days > 3660:
            raise BadPeriod("a period is at most ten years long")
        return PeriodChoice("custom", Period(start, end, timezone))
    raise BadPeriod(f"unknown range {range!r}: use 7d, 30d, 90d, month or custom")


def previous_period(period: Period) -> Period:
    """The period of the same length that ends the day before this one starts."""
    length = period.until - period.since
    until = period.since - dt.timedelta(days=1)
    return Period(until - length, until, period.timezone)


@dataclass
class Change:
    """A figure of this period against the previous one (None where either side has none)."""

    key: str
    label: str
    value: int | float | None
    previous: int | float | None
    covers: str

    @property
    def delta(self) -> int | float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def percent(self) -> float | None:
        if self.delta is None or not self.previous:
            return None
        return 100.0 * self.delta / abs(self.previous)


def headline_changes(report: Report, before: Report) -> list[Change]:
    """Posts, engagements, new followers, potential reach and impressions (when imported)."""
    now, then = report.total, before.total
    covers = {
        "posts": "published in the period, reposts excluded",
        "engagements": f"{now.engagements_n} of {now.posts} posts with counts",
        "new_followers": f"{now.new_followers_n} of {now.accounts} accounts with a figure",
        "potential_reach": "estimate: followers of the accounts that posted",
        "impressions": f"{now.impressions_n} imported account(s) with data",
    }
    changes = []
    for key in HEADLINE_METRICS:
        if key == "impressions" and now.impressions is None and then.impressions is None:
            continue  # nothing imported: the card would only say n/a
        changes.append(
            Change(key, METRICS[key].label, getattr(now, key), getattr(then, key), covers[key])
        )
    return changes


@dataclass
class Rank:
    row: EntityMetrics
    rank: int
    previous_rank: int | None

    @property
    def change(self) -> int | None:
        """Places gained since the previous period (positive: up)."""
        return None if self.previous_rank is None else self.previous_rank - self.rank


SORTABLE = (
    "engagements",
    "new_followers",
    "posts",
    "likes",
    "comments",
    "reposts",
    "views",
    "followers",
    "potential_reach",
    "engagement_rate",
    "growth_rate",
    "reply_sentiment",
    "name",
    "country",
)


@dataclass(frozen=True)
class Filters:
    country: str = ""
    cohort: str = ""
    team: str = ""
    platform: str = ""

    def keep(self, row: EntityMetrics) -> bool:
        return (
            (not self.country or row.country == self.country)
            and (not self.cohort or row.cohort == self.cohort)
            and (not self.team or row.team == self.team)
            and (not self.platform or self.platform in row.platforms.split(", "))
        )


def leaderboard(
    report: Report, before: Report, filters: Filters, sort: str = "engagements", desc: bool = True
) -> list[Rank]:
    """Every ambassador ranked by engagements, then new followers (as the report ranks them),
    with the rank they held in the previous period; then filtered and sorted as asked."""
    if sort not in SORTABLE:
        raise BadPeriod(f"cannot sort by {sort!r}: use one of {', '.join(SORTABLE)}")
    ranked = top_ambassadors(report, len(report.ambassadors))
    # A rank among the previous period's all-empty rows means nothing: those have none.
    earlier = {
        r.key: i
        for i, r in enumerate(top_ambassadors(before, len(before.ambassadors)), 1)
        if r.posts > 0 or r.new_followers is not None
    }
    rows = [
        Rank(row, i, earlier.get(row.key)) for i, row in enumerate(ranked, 1) if filters.keep(row)
    ]

    def key(rank: Rank) -> Any:
        value = getattr(rank.row, sort)
        if isinstance(value, str):
            return (0, value.lower())
        return (0 if value is not None else 1, -(value or 0) if desc else (value or 0))

    if sort in ("name", "country"):
        rows.sort(key=key, reverse=desc)
    else:
        rows.sort(key=lambda r: (key(r), r.rank))
    return rows


def filter_choices(report: Report) -> dict[str, list[str]]:
    rows = report.ambassadors
    return {
        "country": sorted({r.country for r in rows if r.country}),
        "cohort": sorted({r.cohort for r in rows if r.cohort}),
        "team": sorted({r.team for r in rows if r.team}),
        "platform": sorted({p for r in rows for p in r.platforms.split(", ") if p}),
    }


@dataclass
class Series:
    """One line of a chart: a name and its (x, y) points."""

    name: str
    points: list[tuple[str, int | float]]


@dataclass
class AccountView:
    id: int
    platform: str
    handle: str
    profile_url: str | None
    source: str
    status: str
    status_reason: str | None
    last_crawled_at: dt.datetime | None
    last_error: str | None
    followers: Series


@dataclass
class PostRow:
    id: int
    platform: str
    published_at: dt.datetime
    text: str
    link: "Link"
    likes: int | None
    comments: int | None
    reposts: int | None
    views: int | None
    engagements: int | None
    engagements_growth: int | None
    approximate: bool


@dataclass
class Link:
    """Where a post's "open" goes: its public URL, or a note saying why there is none."""

    url: str | None
    note: str = ""


@dataclass
class AmbassadorView:
    ambassador: Ambassador
    row: EntityMetrics
    accounts: list[AccountView]
    posts: list[PostRow]


def public_link(url: str | None, sandbox: bool) -> Link:
    """A post's public link; none for a sandbox post (it does not exist on the real platform)."""
    if sandbox:
        return Link(None, "sandbox post: it exists only in the project's sandbox")
    if url and url.lower().startswith(("https://", "http://")):
        return Link(url)
    return Link(None, "no public URL")


def is_sandbox(account: Account, sandbox_bluesky: bool = False) -> bool:
    """An account crawled from a loopback host (the project's sandbox), whose posts' URLs name a
    real platform where they do not exist. Bluesky accounts have no host of their own: they are
    the sandbox's when the configured AppView is (`sandbox_bluesky`)."""
    for url in (account.base_url, account.profile_url):
        host = (urlsplit(url).hostname or "") if url else ""
        if host and is_loopback(host):
            return True
    return account.platform == "bluesky" and sandbox_bluesky


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


def ambassador_view(
    session: Session, report: Report, slug: str, sandbox_bluesky: bool = False
) -> AmbassadorView | None:
    amb = session.execute(select(Ambassador).where(col(Ambassador.slug) == slug)).scalar()
    row = next((r for r in report.ambassadors if r.key == slug), None)
    if amb is None or row is None:
        return None
    accounts = list(
        session.execute(
            select(Account).where(col(Account.ambassador_id) == amb.id).order_by(col(Account.id))
        ).scalars()
    )
    views = [
        AccountView(
            id=a.id or 0,
            platform=a.platform,
            handle=a.handle,
            profile_url=a.profile_url if not is_sandbox(a, sandbox_bluesky) else None,
            source="imported"
            if a.source == Source.IMPORT or a.platform == "linkedin"
            else "crawled",
            status=a.status,
            status_reason=a.status_reason,
            last_crawled_at=a.last_crawled_at,
            last_error=_last_error(session, a.id or 0),
            followers=follower_series(session, a, report.period),
        )
        for a in accounts
    ]
    return AmbassadorView(amb, row, views, _posts(session, report, accounts, sandbox_bluesky))


def _last_error(session: Session, account_id: int) -> str | None:
    """The account's latest crawl outcome's error, if that outcome failed."""
    outcome = session.execute(
        select(col(CrawlOutcome.ok), col(CrawlOutcome.error), col(CrawlOutcome.reason))
        .where(col(CrawlOutcome.account_id) == account_id)
        .order_by(col(CrawlOutcome.id).desc())
        .limit(1)
    ).first()
    if outcome is None or outcome.ok:
        return None
    return f"{outcome.error}: {outcome.reason}" if outcome.reason else outcome.error


def follower_series(session: Session, account: Account, period: Period) -> Series:
    """Followers at each crawl day of the period (imported daily series: every day)."""
    points = follower_points(session, period, [account.id or 0]).get(account.id or 0, {})
    return Series(
        f"{account.platform} {account.handle}", [(d.isoformat(), v) for d, v in points.items()]
    )


def _posts(
    session: Session, report: Report, accounts: list[Account], sandbox_bluesky: bool
) -> list[PostRow]:
    """The ambassador's posts of the period, newest first, with their latest counts."""
    ids = {a.id for a in accounts}
    sandboxed = {a.id for a in accounts if is_sandbox(a, sandbox_bluesky)}
    facts = [p for p in report.posts if p.account_id in ids]
    facts.sort(key=lambda p: p.published_at, reverse=True)
    texts = dict(
        session.execute(
            select(col(Post.id), col(Post.text)).where(col(Post.id).in_([p.id for p in facts]))
        ).all()
    )
    return [
        PostRow(
            id=p.id,
            platform=p.platform,
            published_at=p.published_at,
            text=_short(texts.get(p.id)),
            link=public_link(p.url, p.account_id in sandboxed),
            likes=p.latest["likes"],
            comments=p.latest["comments"],
            reposts=p.latest["reposts"],
            views=p.latest["views"],
            engagements=p.engagements,
            engagements_growth=p.engagements_growth,
            approximate=p.approximate,
        )
        for p in facts
    ]


def _short(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


@dataclass
class Snapshot:
    observed_at: dt.datetime
    counts: dict[str, int | None]
    engagements: int | None
    approximate: bool


@dataclass
class PostView:
    post: Post
    ambassador: Ambassador
    account: Account
    link: Link
    snapshots: list[Snapshot]
    reply_sentiment: float | None
    reply_sentiment_n: int
    replies: int
    polarities: list[float] = field(default_factory=list)


def post_view(session: Session, post_id: int, sandbox_bluesky: bool = False) -> PostView | None:
    """One post with its counts at every crawl and its replies' sentiment."""
    from reach.metrics import _engagements, _scored_polarity

    found = session.execute(
        select(Post, Account, Ambassador)
        .join(Account, col(Account.id) == col(Post.account_id))
        .join(Ambassador, col(Ambassador.id) == col(Account.ambassador_id))
        .where(col(Post.id) == post_id)
    ).first()
    if found is None:
        return None
    post, account, ambassador = found
    rows = session.execute(
        select(
            col(PostSnapshot.observed_at),
            col(PostSnapshot.approximate),
            *[getattr(PostSnapshot, c) for c in SNAPSHOT_COUNTS],
        )
        .where(col(PostSnapshot.post_id) == post_id)
        .order_by(col(PostSnapshot.observed_at), col(PostSnapshot.id))
    ).all()
    snapshots = []
    for observed, approximate, *values in rows:
        counts = dict(zip(SNAPSHOT_COUNTS, values, strict=True))
        snapshots.append(
            Snapshot(
                observed,
                counts,
                _engagements(
                    counts["likes"], counts["comments"], counts["reposts"], counts["quotes"]
                ),
                bool(approximate),
            )
        )
    polarities = [
        p
        for (p,) in session.execute(
            select(_scored_polarity(col(Reply.text_hash))).where(col(Reply.post_id) == post_id)
        )
        if p is not None
    ]
    replies = session.execute(
        select(func.count(col(Reply.id))).where(col(Reply.post_id) == post_id)
    ).scalar_one()
    return PostView(
        post=post,
        ambassador=ambassador,
        account=account,
        link=public_link(post.url, is_sandbox(account, sandbox_bluesky)),
        snapshots=snapshots,
        reply_sentiment=sum(polarities) / len(polarities) if polarities else None,
        reply_sentiment_n=len(polarities),
        replies=replies,
        polarities=polarities,
    )


@dataclass
class RunRow:
    id: int
    platform: str
    source: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    message: str | None
    flow_run_url: str | None


@dataclass
class FailingAccount:
    ambassador: str
    slug: str
    platform: str
    handle: str
    status: str
    error: str | None
    last_crawled_at: dt.datetime | None


@dataclass
class Health:
    runs: list[RunRow]
    failing: list[FailingAccount]
    stale: list[FailingAccount]
    ok: bool


def crawl_health(
    session: Session,
    now: dt.datetime,
    prefect_ui_url: str | None = None,
    runs_per_platform: int = 5,
) -> Health:
    """The last runs per platform, failing accounts with reasons, accounts not crawled in 2 days."""
    runs: list[RunRow] = []
    for (platform,) in session.execute(select(col(CrawlRun.platform)).distinct()).all():
        for run in session.execute(
            select(CrawlRun)
            .where(col(CrawlRun.platform) == platform)
            .order_by(col(CrawlRun.id).desc())
            .limit(runs_per_platform)
        ).scalars():
            link = None
            if prefect_ui_url and run.prefect_flow_run_id:
                link = f"{prefect_ui_url.rstrip('/')}/runs/flow-run/{run.prefect_flow_run_id}"
            runs.append(
                RunRow(
                    run.id or 0,
                    run.platform,
                    run.source,
                    run.status,
                    run.started_at,
                    run.finished_at,
                    run.message,
                    link,
                )
            )
    runs.sort(key=lambda r: (r.platform, -r.id))
    failing, stale = [], []
    rows = session.execute(
        select(Account, Ambassador)
        .join(Ambassador, col(Ambassador.id) == col(Account.ambassador_id))
        .where(col(Ambassador.active).is_(True), col(Account.source) == Source.CRAWL)
        .order_by(col(Ambassador.slug), col(Account.platform))
    ).all()
    for account, ambassador in rows:
        error = _last_error(session, account.id or 0)
        item = FailingAccount(
            ambassador.name,
            ambassador.slug,
            account.platform,
            account.handle,
            account.status,
            error or account.status_reason,
            account.last_crawled_at,
        )
        if error or account.status != "active":
            failing.append(item)
        last = account.last_crawled_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        if last is None or now - last > STALE_AFTER:
            stale.append(item)
    latest_failed = any(
        r.status == RunStatus.FAILED for r in {r.platform: r for r in reversed(runs)}.values()
    )
    return Health(runs, failing, stale, not (failing or stale or latest_failed))


def data_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever a figure may: a crawl or import run, a sentiment score, a roster edit.

    Cheap (a few index look-ups), so a page can ask it on every request and reuse a report built
    for the same version.
    """
    from models import Sentiment

    runs = session.execute(
        select(
            func.max(col(CrawlRun.id)),
            func.max(func.coalesce(col(CrawlRun.finished_at), col(CrawlRun.started_at))),
            func.count(col(CrawlRun.id)).filter(col(CrawlRun.status) == RunStatus.RUNNING),
        )
    ).one()
    scored = session.execute(select(func.max(col(Sentiment.id)))).scalar()
    roster = session.execute(
        select(func.max(col(Ambassador.updated_at)), func.count(col(Ambassador.id)))
    ).one()
    accounts = session.execute(
        select(func.max(col(Account.updated_at)), func.count(col(Account.id)))
    ).one()
    return (*runs, scored, *roster, *accounts)


def period_url(dashboard_url: str, period: Period, page: str = "/") -> str:
    """The dashboard page of a period (for links from Prefect artifacts and digests)."""
    query = f"range=custom&since={period.since.isoformat()}&until={period.until.isoformat()}"
    return f"{dashboard_url.rstrip('/')}{page}?{query}"
