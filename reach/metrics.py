"""The one metric registry, and the computation of every metric from the stored snapshots.

The CLI, the exports, the HTML report and the Prefect artifacts all read labels, units and
formulas from `METRICS`; nothing else defines a metric. Figures come from the append-only
snapshots (never from one overwritten count): per post the latest snapshot as of the last crawl,
per account the follower snapshots at the period's start and end, and for imported analytics
(LinkedIn) the daily and per-period series. What one flow run's crawls saw (its summary in the
Prefect UI) is read from those runs' own snapshots: the same engagements and net new followers,
between each account's previous crawl and these runs.
"""

import datetime as dt
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import (
    Account,
    AccountDailyMetric,
    AccountPeriodMetric,
    AccountSnapshot,
    Ambassador,
    CrawlRun,
    Post,
    PostCounts,
    PostSnapshot,
    Reply,
    Sentiment,
)
from models.content import SNAPSHOT_COUNTS

GROUPINGS = ("ambassador", "platform", "country", "cohort", "team")
COUNTS = SNAPSHOT_COUNTS
ENGAGEMENT_PARTS = ("likes", "comments", "reposts", "quotes")
# The per-post counts summed into a group's row (each with its _n).
SUMMED_COUNTS = ("likes", "comments", "reposts", "quotes", "views")
# A polarity within this distance of 0 reads as neutral in the sentiment distribution.
NEUTRAL_BAND = 0.05

PERIOD_POSTS = "posts published in the period, with their counts as of the last crawl"
PERIOD_FOLLOWERS = "net change between the follower snapshots at the period's start and end"


@dataclass(frozen=True)
class Metric:
    """One metric: how it is computed, in what unit, and what its period means."""

    key: str
    label: str
    unit: str
    formula: str
    period: str
    version: int = 1
    note: str = ""


def _m(
    key: str, label: str, unit: str, formula: str, period: str = PERIOD_POSTS, **kw: Any
) -> Metric:
    return Metric(key, label, unit, formula, period, **kw)


METRICS: dict[str, Metric] = {
    m.key: m
    for m in [
        _m(
            "posts",
            "Posts",
            "posts",
            "count of the posts published in the period; reposts of other people's posts excluded",
            "posts published in the period",
        ),
        _m(
            "likes",
            "Likes",
            "likes",
            "sum over posts of likes in the latest snapshot; posts "
            "whose platform does not publish likes are left out and counted in likes_n",
        ),
        _m(
            "comments",
            "Comments",
            "comments",
            "sum over posts of comments (replies) in the latest snapshot; n = posts with the count",
        ),
        _m(
            "reposts",
            "Reposts",
            "reposts",
            "sum over posts of reposts/boosts in the latest snapshot; n = posts with the count",
        ),
        _m(
            "quotes",
            "Quotes",
            "quotes",
            "sum over posts of quotes in the latest snapshot; n = posts with the count",
        ),
        _m(
            "views",
            "Views",
            "views",
            "sum over posts of views where the platform publishes them; n = posts with views",
        ),
        _m(
            "engagements",
            "Engagements",
            "interactions",
            "per post likes + comments + reposts + "
            "quotes (the counts its platform publishes), summed over posts; n = posts with at "
            "least one count",
        ),
        _m(
            "engagements_growth",
            "Engagement growth",
            "interactions",
            "per post engagements in "
            "the latest snapshot minus those in the snapshot of the previous crawl, summed over "
            "posts seen by both",
            "posts published in the period, last crawl vs the one before",
        ),
        _m(
            "engagement_rate",
            "Engagement rate",
            "%",
            "sum of engagements / sum of followers of "
            "the posting account at the time of each post x 100 (followers: the account snapshot "
            "nearest before publication, else the first after), over posts with both",
        ),
        _m(
            "applause_rate",
            "Applause rate",
            "likes/post",
            "likes / posts with a like count (Avinash Kaushik)",
        ),
        _m(
            "conversation_rate",
            "Conversation rate",
            "comments/post",
            "comments / posts with a comment count (Avinash Kaushik)",
        ),
        _m(
            "amplification_rate",
            "Amplification rate",
            "reposts/post",
            "reposts / posts with a repost count (Avinash Kaushik)",
        ),
        _m(
            "impressions",
            "Impressions",
            "impressions",
            "imported analytics (LinkedIn): sum of "
            "the account's daily impressions over the period's days; else the impressions of an "
            "export whose period is exactly this one; n = accounts with data",
            "days of the period (imported daily series)",
        ),
        _m(
            "members_reached",
            "Members reached",
            "members",
            "imported analytics (LinkedIn): "
            "members reached of the export whose period is exactly this one (de-duplicated by "
            "LinkedIn over its period, so never summed across periods; not available otherwise)",
            "exactly the period of an imported export",
        ),
        _m(
            "followers",
            "Followers",
            "followers",
            "sum over accounts of followers in the latest "
            "snapshot up to the period's end (imported: the export's total)",
            "at the end of the period",
        ),
        _m(
            "new_followers",
            "New followers (net)",
            "followers",
            "per account followers in the "
            "snapshot at the period's end minus the snapshot at its start (the latest at or "
            "before the start, else the first in the period); imported accounts with a daily "
            "series (LinkedIn): sum of the daily new followers over the period's days; n = "
            "accounts with a figure",
            PERIOD_FOLLOWERS,
            note="net: unfollows are subtracted",
        ),
        _m(
            "growth_rate",
            "Follower growth",
            "%",
            "new followers (net) / followers at the period's start x 100, over accounts with both",
            PERIOD_FOLLOWERS,
        ),
        _m(
            "potential_reach",
            "Potential reach (estimate)",
            "followers",
            "sum of followers at "
            "the period's end of the accounts that published at least one post in the period",
            "accounts that posted in the period",
            note="estimate: audiences overlap",
        ),
        _m(
            "post_sentiment",
            "Post sentiment",
            "polarity -1..1",
            "mean polarity of the posts' "
            "texts scored state=scored (unscorable texts are left out); n = posts scored",
        ),
        _m(
            "reply_sentiment",
            "Reply sentiment",
            "polarity -1..1",
            "mean polarity of the public "
            "replies to the period's posts, state=scored only; n = replies scored",
        ),
    ]
}


@dataclass(frozen=True)
class Period:
    """The report period: whole days `since`..`until` (inclusive) in the report's time zone."""

    since: dt.date
    until: dt.date
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}")

    @property
    def start(self) -> dt.datetime:
        """First instant of the period, in UTC."""
        zone = ZoneInfo(self.timezone)
        return dt.datetime.combine(self.since, dt.time(), zone).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """First instant after the period, in UTC."""
        zone = ZoneInfo(self.timezone)
        return dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), zone).astimezone(
            dt.UTC
        )

    @property
    def days(self) -> list[dt.date]:
        return [
            self.since + dt.timedelta(days=i) for i in range((self.until - self.since).days + 1)
        ]

    def meaning(self, as_of: dt.datetime | None) -> str:
        """The sentence every output carries: what the period means for the figures."""
        crawl = as_of.strftime("%Y-%m-%d %H:%M UTC") if as_of else "no crawl yet"
        return (
            f"Period {self.since.isoformat()} to {self.until.isoformat()} inclusive "
            f"({self.timezone}). Posts, engagements, views and sentiment: {PERIOD_POSTS} "
            f"({crawl}). New followers: {PERIOD_FOLLOWERS} (imported LinkedIn: sum of daily new "
            f"followers). Missing counts stay missing: each sum says how many posts had the count."
        )


@dataclass(slots=True)
class PostFact:
    """One post of the period with its latest counts, its growth since the previous crawl, and its
    context."""

    id: int
    account_id: int
    ambassador_id: int
    platform: str
    kind: str
    source: str
    url: str | None
    published_at: dt.datetime
    latest: dict[str, int | None]
    previous_engagements: int | None
    approximate: bool
    followers_at_post: int | None
    sentiment: float | None

    engagements: int | None = field(init=False)
    engagements_growth: int | None = field(init=False)
    engagement_rate: float | None = field(init=False)

    def __post_init__(self) -> None:
        # Computed once: roll-ups read these for every post of every group.
        latest = self.latest
        self.engagements = _engagements(
            latest["likes"], latest["comments"], latest["reposts"], latest["quotes"]
        )
        before = self.previous_engagements
        self.engagements_growth = (
            None if self.engagements is None or before is None else self.engagements - before
        )
        self.engagement_rate = (
            100.0 * self.engagements / self.followers_at_post
            if self.engagements is not None and self.followers_at_post
            else None
        )


def _engagements(
    likes: int | None, comments: int | None, reposts: int | None, quotes: int | None
) -> int | None:
    """likes + comments + reposts + quotes, the missing ones left out; None if all are missing."""
    # Spelled out: this runs twice for each of the period's posts.
    if likes is None and comments is None and reposts is None and quotes is None:
        return None
    return (likes or 0) + (comments or 0) + (reposts or 0) + (quotes or 0)


@dataclass
class AccountFact:
    """One account with its follower figures for the period and imported analytics."""

    id: int
    ambassador_id: int
    platform: str
    handle: str
    source: str
    followers_start: int | None = None
    followers_end: int | None = None
    new_followers: int | None = None
    new_followers_source: str = ""
    impressions: int | None = None
    members_reached: int | None = None
    reply_polarity_sum: float = 0.0
    reply_n: int = 0


def _label_source(account_source: str, platform: str) -> str:
    return "imported" if account_source == "import" or platform == "linkedin" else "crawled"


def last_crawl_at(session: Session) -> dt.datetime | None:
    """When the most recent crawl or import ran (the crawl runs table is small)."""
    return session.execute(
        select(func.max(func.coalesce(col(CrawlRun.finished_at), col(CrawlRun.started_at))))
    ).scalar()


def _scored_polarity(text_hash_column: Any) -> Any:
    sent = aliased(Sentiment)
    return (
        select(col(sent.polarity))
        .where(col(sent.text_hash) == text_hash_column, col(sent.state) == "scored")
        .order_by(col(sent.scored_at).desc(), col(sent.id).desc())
        .limit(1)
        .scalar_subquery()
    )


def _report_connection(session: Session) -> Connection:
    """The session's connection, tuned for the report's many small index look-ups.

    PostgreSQL's JIT compiles these queries (their estimated cost is high because they run one
    look-up per post or account) for about 0.3 s each, more than the compiled code saves: off for
    this transaction only.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL jit = off")
        connection.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1")
    return connection


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Every 700 new container objects start a collection that walks the young ones, and the older
    generations follow as they grow: for a year's 170,000 posts (a row, two dicts and a fact each)
    that costs about half a second and frees nothing, since none of them forms a cycle.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _batches_ahead(
    connection: Connection, stmt: Any, size: int = 10_000
) -> Iterator[Sequence[Any]]:
    """The statement's rows in batches, a thread fetching the next batch while the caller works
    on this one.

    The driver waits for the database with the GIL released, so on two cores the database
    computes the rows while Python builds on the ones it has: the time is about the longer of
    the two instead of their sum. (PostgreSQL runs the query in a server-side cursor.)
    """
    with connection.execute(stmt.execution_options(yield_per=size)) as result:
        batches = result.partitions()
        if _bound_to_its_thread(connection):
            yield from batches
            return
        with ThreadPoolExecutor(1) as pool:
            ahead = pool.submit(next, batches, None)
            while (batch := ahead.result()) is not None:
                ahead = pool.submit(next, batches, None)
                yield batch


def _bound_to_its_thread(connection: Connection) -> bool:
    """An in-memory SQLite database lives in one connection that only its thread may use."""
    url = connection.engine.url
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def post_facts(session: Session, period: Period) -> list[PostFact]:
    """Every post published in the period (reposts excluded), one SQL query, no snapshot scan.

    Each post's latest and previous counts and its account's followers at publication come from
    its `PostCounts` row, kept by triggers as snapshots are written: the cost grows with the posts
    of the period, not with the snapshot history.
    """
    stmt = (
        select(
            col(Post.id),
            col(Post.account_id),
            col(Account.ambassador_id),
            col(Post.platform),
            col(Post.kind),
            col(Post.source),
            col(Post.url),
            col(Post.published_at),
            col(PostCounts.followers_at_post),
            _scored_polarity(col(Post.text_hash)).label("polarity"),
            *[getattr(PostCounts, c) for c in COUNTS],
            col(PostCounts.approximate),
            *[getattr(PostCounts, f"prev_{c}") for c in ENGAGEMENT_PARTS],
            col(PostCounts.previous_id),
        )
        .join(Account, col(Account.id) == col(Post.account_id))
        .outerjoin(PostCounts, col(PostCounts.post_id) == col(Post.id))
        .where(
            col(Post.published_at) >= period.start,
            col(Post.published_at) < period.end,
            col(Post.kind) != "repost",
        )
    )
    n = len(COUNTS)
    facts = []
    connection = _report_connection(session)
    # Plain Core tuples: 170,000 posts a year, so per-row mappings and ORM objects cost seconds.
    with _collection_paused():
        for row in chain.from_iterable(_batches_ahead(connection, stmt)):
            (
                post_id,
                account_id,
                ambassador_id,
                platform,
                kind,
                source,
                url,
                published_at,
                followers,
                polarity,
            ) = row[:10]
            likes, comments, reposts, quotes, previous_id = row[11 + n :]
            facts.append(
                PostFact(
                    post_id,
                    account_id,
                    ambassador_id,
                    platform,
                    kind,
                    source,
                    url,
                    published_at,
                    dict(zip(COUNTS, row[10 : 10 + n], strict=True)),
                    None if previous_id is None else _engagements(likes, comments, reposts, quotes),
                    bool(row[10 + n]),
                    followers,
                    polarity,
                )
            )
    _fill_imported_counts(connection, facts)
    return facts


def _fill_imported_counts(connection: Connection, facts: list[PostFact]) -> None:
    """An imported post's count is the one of the latest export that carried it.

    Each LinkedIn export carries some counts only (a creator export has a post's impressions,
    its single-post export the reactions and comments), so the latest snapshot alone would lose
    what an earlier export said. Crawled posts keep their latest crawl's counts as they are.
    """
    gaps = {
        fact.id: fact
        for fact in facts
        if fact.source == "import" and any(v is None for v in fact.latest.values())
    }
    if not gaps:
        return
    known: dict[int, dict[str, int]] = {}
    ids = list(gaps)
    for start in range(0, len(ids), 500):
        rows = connection.execute(
            select(col(PostSnapshot.post_id), *[getattr(PostSnapshot, c) for c in COUNTS])
            .where(col(PostSnapshot.post_id).in_(ids[start : start + 500]))
            .order_by(col(PostSnapshot.observed_at), col(PostSnapshot.id))
        ).all()
        for post_id, *values in rows:  # oldest first: later exports overwrite
            known.setdefault(post_id, {}).update(
                {c: v for c, v in zip(COUNTS, values, strict=True) if v is not None}
            )
    for post_id, fact in gaps.items():
        found = known.get(post_id, {})
        fact.latest = {c: v if v is not None else found.get(c) for c, v in fact.latest.items()}
        fact.__post_init__()  # engagements and rates from the completed counts


def run_post_facts(session: Session, crawl_run_ids: Sequence[int]) -> list[PostFact]:
    """The posts these crawl runs saw (reposts excluded), with their counts at the run.

    A run's counts, not the latest: a later crawl must not change what the run's summary says.
    The growth since the previous crawl and the sentiment are not read (None).
    """
    ids = list(crawl_run_ids)
    if not ids:
        return []
    stmt = (
        select(
            col(Post.id),
            col(Post.account_id),
            col(Account.ambassador_id),
            col(Post.platform),
            col(Post.kind),
            col(Post.source),
            col(Post.url),
            col(Post.published_at),
            col(PostCounts.followers_at_post),
            col(PostSnapshot.approximate),
            *[getattr(PostSnapshot, c) for c in COUNTS],
        )
        .join(Post, col(Post.id) == col(PostSnapshot.post_id))
        .join(Account, col(Account.id) == col(Post.account_id))
        .outerjoin(PostCounts, col(PostCounts.post_id) == col(Post.id))
        .where(col(PostSnapshot.crawl_run_id).in_(ids), col(Post.kind) != "repost")
        .order_by(col(Post.id), col(PostSnapshot.observed_at), col(PostSnapshot.id))
    )
    facts: dict[int, PostFact] = {}
    for row in session.execute(stmt):
        (
            post_id,
            account_id,
            ambassador_id,
            platform,
            kind,
            source,
            url,
            published_at,
            followers,
            approximate,
        ) = row[:10]
        # Seen by two of these runs: the later snapshot wins (ordered by observed_at).
        facts[post_id] = PostFact(
            post_id,
            account_id,
            ambassador_id,
            platform,
            kind,
            source,
            url,
            published_at,
            dict(zip(COUNTS, row[10:], strict=True)),
            None,
            bool(approximate),
            followers,
            None,
        )
    return list(facts.values())


@dataclass
class FollowerChange:
    """One account's followers at a crawl run and its net change since the account's previous crawl."""

    account_id: int
    ambassador_id: int
    platform: str
    followers: int
    previous: int | None  # None: no earlier crawl counted this account's followers
    new_followers: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.new_followers = None if self.previous is None else self.followers - self.previous


def run_follower_changes(session: Session, crawl_run_ids: Sequence[int]) -> list[FollowerChange]:
    """`new_followers` between each account's previous crawl and these runs, in one query.

    The previous count is the account's latest snapshot before this run's from any other crawl;
    an account seen for the first time has no change (None), never 0.
    """
    ids = list(crawl_run_ids)
    if not ids:
        return []
    now, before = aliased(AccountSnapshot), aliased(AccountSnapshot)
    previous = (
        select(col(before.followers))
        .where(
            col(before.account_id) == col(now.account_id),
            col(before.observed_at) < col(now.observed_at),
            col(before.crawl_run_id).not_in(ids),
            col(before.followers).is_not(None),
        )
        .order_by(col(before.observed_at).desc(), col(before.id).desc())
        .limit(1)
        .correlate(now)
        .scalar_subquery()
    )
    stmt = (
        select(
            col(now.account_id),
            col(Account.ambassador_id),
            col(Account.platform),
            col(now.followers),
            previous.label("previous"),
        )
        .join(Account, col(Account.id) == col(now.account_id))
        .where(col(now.crawl_run_id).in_(ids), col(now.followers).is_not(None))
        .order_by(col(now.account_id), col(now.observed_at), col(now.id))
    )
    changes: dict[int, FollowerChange] = {}
    for account_id, ambassador_id, platform, followers, before_count in session.execute(stmt):
        if (
            account_id in changes
        ):  # counted by two of these runs: from the earlier count to the later
            before_count = changes[account_id].previous
        changes[account_id] = FollowerChange(
            account_id, ambassador_id, platform, followers, before_count
        )
    return list(changes.values())


def _account_followers(
    at_or_before: dt.datetime | None,
    first_from: dt.datetime | None,
    first_before: dt.datetime | None = None,
) -> Any:
    """Followers of the correlated account: latest at or before a time, or first from a time."""
    snap = aliased(AccountSnapshot)
    base = select(col(snap.followers)).where(
        col(snap.account_id) == col(Account.id), col(snap.followers).is_not(None)
    )
    if at_or_before is not None:
        stmt = base.where(col(snap.observed_at) <= at_or_before).order_by(
            col(snap.observed_at).desc(), col(snap.id).desc()
        )
    else:
        stmt = base.where(col(snap.observed_at) >= first_from)
        if first_before is not None:
            stmt = stmt.where(col(snap.observed_at) < first_before)
        stmt = stmt.order_by(col(snap.observed_at).asc(), col(snap.id).asc())
    return stmt.limit(1).correlate(Account).scalar_subquery()


def account_facts(session: Session, period: Period) -> list[AccountFact]:
    """Every account with followers at the period's start and end and its imported analytics."""
    start_before = _account_followers(period.start, None)
    start_within = _account_followers(None, period.start, period.end)
    end = _account_followers(period.end - dt.timedelta(microseconds=1), None)
    stmt = select(
        col(Account.id),
        col(Account.ambassador_id),
        col(Account.platform),
        col(Account.handle),
        col(Account.source),
        start_before.label("start_before"),
        start_within.label("start_within"),
        end.label("end"),
        _snapshots_in_period(period).label("n_in_period"),
    )
    facts: dict[int, AccountFact] = {}
    for row in _report_connection(session).execute(stmt).mappings():
        fact = AccountFact(
            row["id"],
            row["ambassador_id"],
            row["platform"],
            row["handle"],
            _label_source(row["source"], row["platform"]),
        )
        start = row["start_before"] if row["start_before"] is not None else row["start_within"]
        fact.followers_start, fact.followers_end = start, row["end"]
        # Two distinct snapshots are needed: one before/at the start (or the first inside) and a
        # later one inside the period; a single snapshot says nothing about change.
        distinct = row["n_in_period"] >= (1 if row["start_before"] is not None else 2)
        if start is not None and row["end"] is not None and distinct:
            fact.new_followers = row["end"] - start
            fact.new_followers_source = "snapshots"
        facts[fact.id] = fact
    _add_imported(session, period, facts)
    _add_reply_sentiment(session, period, facts)
    return list(facts.values())


def _snapshots_in_period(period: Period) -> Any:
    snap = aliased(AccountSnapshot)
    return (
        select(func.count(col(snap.id)))
        .where(
            col(snap.account_id) == col(Account.id),
            col(snap.followers).is_not(None),
            col(snap.observed_at) > period.start,
            col(snap.observed_at) < period.end,
        )
        .correlate(Account)
        .scalar_subquery()
    )


def _add_imported(session: Session, period: Period, facts: dict[int, AccountFact]) -> None:
    """Imported analytics: daily new followers and impressions, the matching period's totals."""
    daily = (
        select(
            col(AccountDailyMetric.account_id),
            func.sum(col(AccountDailyMetric.new_followers)),
            func.count(col(AccountDailyMetric.new_followers)),
            func.sum(col(AccountDailyMetric.impressions)),
            func.count(col(AccountDailyMetric.impressions)),
        )
        .where(
            col(AccountDailyMetric.day) >= period.since, col(AccountDailyMetric.day) <= period.until
        )
        .group_by(col(AccountDailyMetric.account_id))
    )
    for account_id, new_sum, new_n, imp_sum, imp_n in session.execute(daily):
        fact = facts.get(account_id)
        if fact is None:
            continue
        if new_n:
            fact.new_followers, fact.new_followers_source = int(new_sum), "daily series"
        if imp_n:
            fact.impressions = int(imp_sum)
    exact = select(AccountPeriodMetric).where(
        col(AccountPeriodMetric.period_start) == period.since,
        col(AccountPeriodMetric.period_end) == period.until,
    )
    for metric in session.execute(exact).scalars():
        fact = facts.get(metric.account_id)
        if fact is None:
            continue
        fact.members_reached = metric.members_reached
        if fact.impressions is None:
            fact.impressions = metric.impressions
    # Imported accounts may have no follower snapshot: the latest export's total stands in.
    totals = (
        select(col(AccountPeriodMetric.account_id), col(AccountPeriodMetric.followers_total))
        .where(
            col(AccountPeriodMetric.period_end) <= period.until,
            col(AccountPeriodMetric.followers_total).is_not(None),
        )
        .order_by(col(AccountPeriodMetric.account_id), col(AccountPeriodMetric.period_end))
    )
    for account_id, total in session.execute(totals):
        fact = facts.get(account_id)
        if fact is not None and fact.new_followers_source != "snapshots":
            fact.followers_end = total  # ordered by period_end: the last one wins


def _add_reply_sentiment(session: Session, period: Period, facts: dict[int, AccountFact]) -> None:
    """Mean polarity of replies to the period's posts, scored rows only, per posting account."""
    polarity = _scored_polarity(col(Reply.text_hash)).label("polarity")
    inner = (
        select(col(Post.account_id), polarity)
        .select_from(Reply)
        .join(Post, col(Post.id) == col(Reply.post_id))
        .where(
            col(Post.published_at) >= period.start,
            col(Post.published_at) < period.end,
            col(Post.kind) != "repost",
        )
        .subquery()
    )
    stmt = select(
        inner.c.account_id, func.sum(inner.c.polarity), func.count(inner.c.polarity)
    ).group_by(inner.c.account_id)
    for account_id, total, n in session.execute(stmt):
        if account_id in facts and n:
            facts[account_id].reply_polarity_sum, facts[account_id].reply_n = float(total), int(n)


def reply_polarities(session: Session, period: Period) -> list[float]:
    """Scored polarities of the replies to the period's posts (for the distribution chart)."""
    polarity = _scored_polarity(col(Reply.text_hash))
    stmt = (
        select(polarity)
        .select_from(Reply)
        .join(Post, col(Post.id) == col(Reply.post_id))
        .where(
            col(Post.published_at) >= period.start,
            col(Post.published_at) < period.end,
            col(Post.kind) != "repost",
        )
    )
    return [p for (p,) in session.execute(stmt) if p is not None]


def sentiment_languages(session: Session, period: Period) -> dict[str, dict[str, int]]:
    """The period's posts and their replies by the language of their latest sentiment row:
    {"scored": {"en": 812, "fr": 95}, "not_scored": {"es": 12, "": 3}} ("" is no language)."""
    posts = select(col(Post.text_hash)).where(
        col(Post.published_at) >= period.start,
        col(Post.published_at) < period.end,
        col(Post.kind) != "repost",
        col(Post.text_hash).is_not(None),
    )
    replies = (
        select(col(Reply.text_hash))
        .join(Post, col(Post.id) == col(Reply.post_id))
        .where(
            col(Post.published_at) >= period.start,
            col(Post.published_at) < period.end,
            col(Post.kind) != "repost",
            col(Reply.text_hash).is_not(None),
        )
    )
    hashes = [h for (h,) in session.execute(posts)] + [h for (h,) in session.execute(replies)]
    latest: dict[str, tuple[str, str]] = {}
    rows = session.execute(
        select(col(Sentiment.text_hash), col(Sentiment.state), col(Sentiment.language))
        .where(col(Sentiment.text_hash).in_(posts.union(replies).subquery().select()))
        .order_by(col(Sentiment.scored_at), col(Sentiment.id))
    )
    for text_hash, state, language in rows:
        latest[text_hash] = (state, language or "")
    counts: dict[str, dict[str, int]] = {"scored": {}, "not_scored": {}}
    for text_hash in hashes:
        if (found := latest.get(text_hash)) is not None:
            state, language = found
            by_language = counts["scored" if state == "scored" else "not_scored"]
            by_language[language] = by_language.get(language, 0) + 1
    return {k: dict(sorted(v.items())) for k, v in counts.items()}


@dataclass
class EntityMetrics:
    """The metrics of one group (an ambassador, a platform, a country, a cohort or a team)."""

    key: str
    name: str
    country: str = ""
    cohort: str = ""
    team: str = ""
    platforms: str = ""
    sources: str = ""
    accounts: int = 0
    posts: int = 0
    likes: int | None = None
    likes_n: int = 0
    comments: int | None = None
    comments_n: int = 0
    reposts: int | None = None
    reposts_n: int = 0
    quotes: int | None = None
    quotes_n: int = 0
    views: int | None = None
    views_n: int = 0
    engagements: int | None = None
    engagements_n: int = 0
    engagements_growth: int | None = None
    engagement_rate: float | None = None
    engagement_rate_n: int = 0
    applause_rate: float | None = None
    conversation_rate: float | None = None
    amplification_rate: float | None = None
    impressions: int | None = None
    impressions_n: int = 0
    members_reached: int | None = None
    followers: int | None = None
    new_followers: int | None = None
    new_followers_n: int = 0
    growth_rate: float | None = None
    potential_reach: int | None = None
    post_sentiment: float | None = None
    post_sentiment_n: int = 0
    reply_sentiment: float | None = None
    reply_sentiment_n: int = 0
    top_post_url: str | None = None
    top_post_engagements: int | None = None
    top_post_id: int | None = field(default=None, repr=False)


class GroupAttrs(TypedDict, total=False):
    """The descriptive columns an ambassador's row carries (other groupings have none)."""

    country: str
    cohort: str
    team: str


def _sum_known(values: Iterable[int | None]) -> tuple[int | None, int]:
    known = [v for v in values if v is not None]
    return (sum(known) if known else None), len(known)


def rollup(
    key: str,
    name: str,
    posts: list[PostFact],
    accounts: list[AccountFact],
    attrs: GroupAttrs | None = None,
) -> EntityMetrics:
    """Aggregate the posts and accounts of one group into its metrics."""
    row = EntityMetrics(key=key, name=name, **(attrs or {}))
    row.accounts = len(accounts)
    row.platforms = ", ".join(sorted({a.platform for a in accounts} | {p.platform for p in posts}))
    row.sources = ", ".join(sorted({a.source for a in accounts}))
    row.posts = len(posts)
    # A year-long report has 170,000 posts: comprehensions, not a loop of dict updates. A sum over
    # posts is None when no post had the figure, and its _n counts the posts that had it.
    latests = [p.latest for p in posts]
    for count in SUMMED_COUNTS:
        known = [v for latest in latests if (v := latest[count]) is not None]
        setattr(row, count, sum(known) if known else None)
        setattr(row, f"{count}_n", len(known))
    engaged = [p for p in posts if p.engagements is not None]
    row.engagements, row.engagements_n = _sum_known([p.engagements for p in engaged])
    row.engagements_growth, _ = _sum_known([p.engagements_growth for p in engaged])
    rated = [
        (e, f) for p in engaged if (e := p.engagements) is not None and (f := p.followers_at_post)
    ]
    row.engagement_rate_n = len(rated)
    if rated:
        row.engagement_rate = 100.0 * sum(e for e, _ in rated) / sum(f for _, f in rated)
    for rate, count in (
        ("applause_rate", "likes"),
        ("conversation_rate", "comments"),
        ("amplification_rate", "reposts"),
    ):
        total, n = getattr(row, count), getattr(row, f"{count}_n")
        setattr(row, rate, total / n if n else None)
    row.impressions, row.impressions_n = _sum_known(a.impressions for a in accounts)
    row.members_reached, _ = _sum_known(a.members_reached for a in accounts)
    row.followers, _ = _sum_known(a.followers_end for a in accounts)
    row.new_followers, row.new_followers_n = _sum_known(a.new_followers for a in accounts)
    grown = [
        (a.new_followers, a.followers_start)
        for a in accounts
        if a.new_followers is not None and a.followers_start
    ]
    if grown:
        row.growth_rate = 100.0 * sum(g for g, _ in grown) / sum(s for _, s in grown)
    posting = {p.account_id for p in posts}
    row.potential_reach, _ = _sum_known(a.followers_end for a in accounts if a.id in posting)
    scored = [p.sentiment for p in posts if p.sentiment is not None]
    row.post_sentiment_n = len(scored)
    row.post_sentiment = sum(scored) / len(scored) if scored else None
    row.reply_sentiment_n = sum(a.reply_n for a in accounts)
    if row.reply_sentiment_n:
        row.reply_sentiment = sum(a.reply_polarity_sum for a in accounts) / row.reply_sentiment_n
    if engaged:
        top = max(engaged, key=attrgetter("engagements"))  # the first of equals
        row.top_post_url, row.top_post_engagements, row.top_post_id = (
            top.url,
            top.engagements,
            top.id,
        )
    return row


def group_key(by: str, ambassador: Ambassador, platform: str) -> str:
    """The key of the group an account belongs to under a grouping."""
    if by == "ambassador":
        return ambassador.slug
    if by == "platform":
        return platform
    value = getattr(ambassador, by)
    return value if value else "(none)"


def rollups(
    session: Session, by: str, posts: list[PostFact], accounts: list[AccountFact]
) -> list[EntityMetrics]:
    """One row per group; every ambassador (or group) appears, with or without posts."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    ambassadors = {a.id: a for a in session.execute(select(Ambassador)).scalars()}
    account_group: dict[int, str] = {}
    group_accounts: dict[str, list[AccountFact]] = defaultdict(list)
    group_posts: dict[str, list[PostFact]] = defaultdict(list)
    names: dict[str, tuple[str, GroupAttrs]] = {}
    for amb in ambassadors.values():
        if by == "ambassador":
            names[amb.slug] = (
                amb.name,
                {"country": amb.country, "cohort": amb.cohort or "", "team": amb.team or ""},
            )
        elif by != "platform":
            key = group_key(by, amb, "")
            names[key] = (key, {})
    for acc in accounts:
        key = group_key(by, ambassadors[acc.ambassador_id], acc.platform)
        account_group[acc.id] = key
        group_accounts[key].append(acc)
        names.setdefault(key, (key, {}))
    for post in posts:
        group_posts[account_group[post.account_id]].append(post)
    rows = [
        rollup(key, name, group_posts[key], group_accounts[key], attrs)
        for key, (name, attrs) in names.items()
    ]
    rows.sort(key=lambda r: (-(r.engagements or 0), -(r.new_followers or 0), r.key))
    return rows


def metric_rows() -> list[dict[str, Any]]:
    """The registry as plain rows (for exports, the README and artifacts)."""
    return [
        {
            "key": m.key,
            "label": m.label,
            "unit": m.unit,
            "formula": m.formula,
            "period": m.period,
            "version": m.version,
            "note": m.note,
        }
        for m in METRICS.values()
    ]


__all__ = [
    "COUNTS",
    "GROUPINGS",
    "METRICS",
    "AccountFact",
    "EntityMetrics",
    "FollowerChange",
    "GroupAttrs",
    "Metric",
    "Period",
    "PostFact",
    "account_facts",
    "last_crawl_at",
    "metric_rows",
    "post_facts",
    "reply_polarities",
    "rollup",
    "rollups",
    "run_follower_changes",
    "run_post_facts",
]
