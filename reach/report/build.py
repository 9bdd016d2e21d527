"""Build the report data once from the database."""

import datetime as dt
import heapq
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from models import (
    Account,
    AccountDailyMetric,
    AccountPeriodMetric,
    AccountSnapshot,
    Ambassador,
    Post,
)
from reach.metrics import (
    AccountFact,
    EntityMetrics,
    Period,
    PostFact,
    account_facts,
    last_crawl_at,
    post_facts,
    reply_polarities,
    rollup,
    rollups,
    sentiment_languages,
)
from reach.report.model import ChartData, Headline, Report, TopPost

TOP_POSTS = 10
CHART_AMBASSADORS = 5
TEXT_CHARS = 280


@contextmanager
def session_for(session_or_url: Session | str | None) -> Iterator[Session]:
    if isinstance(session_or_url, Session):
        yield session_or_url
        return
    from reach.db import get_engine

    with Session(get_engine(session_or_url), expire_on_commit=False) as session:
        yield session


def build_report(
    session_or_url: Session | str | None,
    since: dt.date,
    until: dt.date,
    by: str = "ambassador",
    timezone: str | None = None,
) -> Report:
    """Compute every metric of the period once; the renderers only format this."""
    began = time.perf_counter()
    if timezone is None:
        from reach.settings import get_settings

        timezone = get_settings().timezone
    period = Period(since, until, timezone)
    with session_for(session_or_url) as session:
        as_of = last_crawl_at(session)
        posts = post_facts(session, period)
        accounts = account_facts(session, period)
        rows = rollups(session, by, posts, accounts)
        ambassadors = (
            rows if by == "ambassador" else rollups(session, "ambassador", posts, accounts)
        )
        total = rollup("all", "all", posts, accounts)
        headline = Headline(
            posts=total.posts,
            engagements=total.engagements,
            engagements_n=total.engagements_n,
            new_followers=total.new_followers,
            new_followers_n=total.new_followers_n,
            accounts=total.accounts,
            potential_reach=total.potential_reach,
            views=total.views,
            views_n=total.views_n,
            followers=total.followers,
        )
        top = rank_top_posts(session, posts)
        charts = ChartData(
            followers=_followers_series(session, period, ambassadors, accounts),
            engagements_by_day=_engagements_by_day(posts, timezone),
            post_polarities=[p.sentiment for p in posts if p.sentiment is not None],
            reply_polarities=reply_polarities(session, period),
        )
        languages = sentiment_languages(session, period)
    return Report(
        period=period,
        by=by,
        as_of=as_of,
        meaning=period.meaning(as_of),
        headline=headline,
        rows=rows,
        ambassadors=ambassadors,
        top_posts=top,
        charts=charts,
        generated_at=dt.datetime.now(dt.UTC),
        total=total,
        posts=posts,
        build_seconds=time.perf_counter() - began,
        sentiment_languages=languages,
    )


def rank_top_posts(session: Session, posts: list[PostFact], n: int = TOP_POSTS) -> list[TopPost]:
    """The n most engaging posts, the first seen of equals; posts without any count are not ranked."""
    # The top few of a year's 170,000 posts: a heap, not a full sort (same order as sorted()).
    ranked = heapq.nsmallest(
        n,
        (p for p in posts if p.engagements is not None),
        key=lambda p: (-(p.engagements or 0), p.id),
    )
    if not ranked:
        return []
    ids = [p.id for p in ranked]
    texts: dict[int, str | None] = dict(
        session.execute(select(col(Post.id), col(Post.text)).where(col(Post.id).in_(ids))).all()
    )
    owners = {
        pid: (name, slug)
        for pid, name, slug in session.execute(
            select(col(Post.id), col(Ambassador.name), col(Ambassador.slug))
            .join(Account, col(Account.id) == col(Post.account_id))
            .join(Ambassador, col(Ambassador.id) == col(Account.ambassador_id))
            .where(col(Post.id).in_(ids))
        )
    }
    out = []
    for p in ranked:
        text = texts.get(p.id) or ""
        if len(text) > TEXT_CHARS:
            text = text[: TEXT_CHARS - 1] + "…"
        name, slug = owners[p.id]
        out.append(
            TopPost(
                id=p.id,
                ambassador=name,
                ambassador_slug=slug,
                platform=p.platform,
                source="imported"
                if p.source == "import" or p.platform == "linkedin"
                else "crawled",
                url=p.url,
                published_at=p.published_at,
                text=text,
                likes=p.latest["likes"],
                comments=p.latest["comments"],
                reposts=p.latest["reposts"],
                quotes=p.latest["quotes"],
                views=p.latest["views"],
                impressions=p.latest["impressions"],
                engagements=p.engagements,
                engagements_growth=p.engagements_growth,
                engagement_rate=p.engagement_rate,
                followers_at_post=p.followers_at_post,
                approximate=p.approximate,
            )
        )
    return out


def _engagements_by_day(posts: list[PostFact], timezone: str) -> dict[str, dict[dt.date, int]]:
    """Engagements of the posts published each day, per platform."""
    zone = ZoneInfo(timezone)
    series: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for p in posts:
        if p.engagements is not None:
            series[p.platform][p.published_at.astimezone(zone).date()] += p.engagements
    return {k: dict(sorted(v.items())) for k, v in sorted(series.items())}


def _followers_series(
    session: Session, period: Period, ambassadors: list[EntityMetrics], accounts: list[AccountFact]
) -> dict[str, list[tuple[dt.date, int]]]:
    """Daily followers (sum of the ambassador's accounts) of the top ambassadors by new followers."""
    top = sorted(
        (r for r in ambassadors if r.new_followers is not None),
        key=lambda r: -(r.new_followers or 0),
    )[:CHART_AMBASSADORS]
    if not top:
        return {}
    slugs = {r.key: r.name for r in top}
    amb_ids: dict[str, int] = dict(
        session.execute(
            select(col(Ambassador.slug), col(Ambassador.id)).where(
                col(Ambassador.slug).in_(list(slugs))
            )
        ).all()
    )
    owner = {a.id: a.ambassador_id for a in accounts if a.ambassador_id in set(amb_ids.values())}
    if not owner:
        return {}
    per_account = follower_points(session, period, list(owner))
    by_id = {v: k for k, v in amb_ids.items()}
    series: dict[str, list[tuple[dt.date, int]]] = {}
    for amb_id, slug in by_id.items():
        mine = [per_account[a] for a, o in owner.items() if o == amb_id and per_account.get(a)]
        if not mine:
            continue
        last: list[int | None] = [None] * len(mine)
        points = []
        for day in period.days:
            for i, daily in enumerate(mine):
                if day in daily:
                    last[i] = daily[day]
            # A day counts once every account has a figure: an account whose first crawl comes
            # later in the period would otherwise show as a jump in followers.
            if all(v is not None for v in last):
                points.append((day, sum(v or 0 for v in last)))
        series[slugs[slug]] = points
    return series


def follower_points(
    session: Session, period: Period, account_ids: list[int]
) -> dict[int, dict[dt.date, int]]:
    """Each account's followers on the days of the period it has a figure for.

    Crawled: the last snapshot of each crawl day. Imported with a daily series (LinkedIn): the
    export's total walked back through the daily new followers, a figure for every day, so the
    line ends at the total instead of jumping to it at the export's last day.
    """
    if not account_ids:
        return {}
    zone = ZoneInfo(period.timezone)
    daily = session.execute(
        select(
            col(AccountDailyMetric.account_id),
            col(AccountDailyMetric.day),
            col(AccountDailyMetric.new_followers),
        ).where(
            col(AccountDailyMetric.account_id).in_(account_ids),
            col(AccountDailyMetric.day) >= period.since,
            col(AccountDailyMetric.new_followers).is_not(None),
        )
    ).all()
    gains: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for account_id, day, new in daily:
        gains[account_id][day] = new
    points: dict[int, dict[dt.date, int]] = defaultdict(dict)
    crawled = [a for a in account_ids if a not in gains]
    if crawled:
        snaps = session.execute(
            select(
                col(AccountSnapshot.account_id),
                col(AccountSnapshot.observed_at),
                col(AccountSnapshot.followers),
            )
            .where(
                col(AccountSnapshot.account_id).in_(crawled),
                col(AccountSnapshot.observed_at) >= period.start,
                col(AccountSnapshot.observed_at) < period.end,
                col(AccountSnapshot.followers).is_not(None),
            )
            .order_by(col(AccountSnapshot.observed_at), col(AccountSnapshot.id))
        ).all()
        for account_id, observed, followers in snaps:
            points[account_id][observed.astimezone(zone).date()] = followers
    for account_id, days in gains.items():
        total = session.execute(
            select(
                col(AccountPeriodMetric.period_start),
                col(AccountPeriodMetric.period_end),
                col(AccountPeriodMetric.followers_total),
            )
            .where(
                col(AccountPeriodMetric.account_id) == account_id,
                col(AccountPeriodMetric.followers_total).is_not(None),
                col(AccountPeriodMetric.period_end) >= period.since,
            )
            .order_by(col(AccountPeriodMetric.period_end).desc())
            .limit(1)
        ).first()
        if total is None:
            continue
        # An export lists every day of its period; a day it has no row for gained nothing.
        first, day, value = total
        while day >= max(first, period.since):
            if day <= period.until:
                points[account_id][day] = value
            value -= days.get(day, 0)
            day -= dt.timedelta(days=1)
        points[account_id] = dict(sorted(points[account_id].items()))
    return dict(points)
