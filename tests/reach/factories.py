"""Row factories for the metric and report tests: insert posts and snapshots directly."""

import datetime as dt
import itertools

from sqlmodel import Session

from models import (
    Account,
    AccountDailyMetric,
    AccountPeriodMetric,
    AccountSnapshot,
    Ambassador,
    CrawlRun,
    Post,
    PostSnapshot,
    Reply,
    Sentiment,
)
from reach.text import text_hash

_ids = itertools.count(1)


def at(day: str, hour: int = 12) -> dt.datetime:
    """An aware UTC time on an ISO day."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def ambassador(
    session: Session,
    slug: str,
    name: str | None = None,
    country: str = "FR",
    cohort: str | None = "2026",
    team: str | None = "Marketing",
) -> Ambassador:
    row = Ambassador(
        slug=slug,
        name=name or slug.replace("-", " ").title(),
        country=country,
        cohort=cohort,
        team=team,
    )
    session.add(row)
    session.flush()
    return row


def account(
    session: Session,
    amb: Ambassador,
    platform: str = "mastodon",
    handle: str | None = None,
    source: str = "crawl",
) -> Account:
    handle = handle or f"@{amb.slug}{next(_ids)}@example.social"
    row = Account(
        ambassador_id=amb.id,
        platform=platform,
        handle=handle,
        key=handle.lower(),
        platform_id=f"id-{handle}",
        source=source,
    )
    session.add(row)
    session.flush()
    return row


def run(
    session: Session, when: dt.datetime, platform: str = "mastodon", source: str = "crawl"
) -> CrawlRun:
    row = CrawlRun(
        platform=platform, source=source, status="succeeded", started_at=when, finished_at=when
    )
    session.add(row)
    session.flush()
    return row


def post(
    session: Session,
    acc: Account,
    published: dt.datetime,
    kind: str = "original",
    text: str | None = "hello",
    source: str = "crawl",
    url: str | None = None,
) -> Post:
    n = next(_ids)
    row = Post(
        account_id=acc.id,
        platform=acc.platform,
        platform_post_id=f"p{n}",
        url=url or f"https://example.social/@x/{n}",
        published_at=published,
        text=text,
        text_hash=text_hash(text),
        kind=kind,
        source=source,
    )
    session.add(row)
    session.flush()
    return row


def post_snapshot(session: Session, p: Post, crawl: CrawlRun, **counts: int | None) -> PostSnapshot:
    row = PostSnapshot(post_id=p.id, crawl_run_id=crawl.id, observed_at=crawl.started_at, **counts)
    session.add(row)
    session.flush()
    return row


def followers(
    session: Session, acc: Account, crawl: CrawlRun, count: int | None
) -> AccountSnapshot:
    row = AccountSnapshot(
        account_id=acc.id, crawl_run_id=crawl.id, observed_at=crawl.started_at, followers=count
    )
    session.add(row)
    session.flush()
    return row


def daily(
    session: Session,
    acc: Account,
    day: str,
    new_followers: int | None = None,
    impressions: int | None = None,
) -> None:
    session.add(
        AccountDailyMetric(
            account_id=acc.id,
            day=dt.date.fromisoformat(day),
            new_followers=new_followers,
            impressions=impressions,
        )
    )
    session.flush()


def period_metric(
    session: Session,
    acc: Account,
    start: str,
    end: str,
    members_reached: int,
    impressions: int | None = None,
    followers_total: int | None = None,
) -> None:
    session.add(
        AccountPeriodMetric(
            account_id=acc.id,
            period_start=dt.date.fromisoformat(start),
            period_end=dt.date.fromisoformat(end),
            members_reached=members_reached,
            impressions=impressions,
            followers_total=followers_total,
        )
    )
    session.flush()


def scored(session: Session, text: str, polarity: float | None, state: str = "scored") -> None:
    session.add(
        Sentiment(
            text_hash=text_hash(text) or "",
            scorer="textblob",
            scorer_version="1",
            state=state,
            polarity=polarity,
        )
    )
    session.flush()


def reply(session: Session, p: Post, text: str, published: dt.datetime) -> Reply:
    row = Reply(
        post_id=p.id,
        platform=p.platform,
        platform_reply_id=f"r{next(_ids)}",
        published_at=published,
        text=text,
        text_hash=text_hash(text),
        author_hash="h",
    )
    session.add(row)
    session.flush()
    return row


SEED_SINCE, SEED_UNTIL = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
INJECTED = '<script>window.__pwned = 1</script> & "quotes" <b>bold</b>'


def seed_case(session: Session) -> None:
    """The model case: a LinkedIn post with 31,000 likes and 2,900 comments, +1,600 followers.

    LinkedIn rows are written the way the importer stores them (platform linkedin, source import,
    counts dated by the export's end, new followers as a daily series); a crawled Mastodon
    ambassador gains 1,600 through snapshots and has a post carrying an injected script.
    """
    ngozi = ambassador(session, "ngozi-eze", "Ngozi Eze", country="NG", team="Design")
    linkedin = account(
        session, ngozi, "linkedin", "https://www.linkedin.com/in/ngozi-eze", "import"
    )
    imported = run(session, at("2026-03-31", 23), "linkedin", "import")
    p = post(
        session,
        linkedin,
        at("2026-03-10", 9),
        source="import",
        text="Our launch story",
        url="https://www.linkedin.com/feed/update/urn:li:activity:7300000000000000001",
    )
    post_snapshot(
        session, p, imported, likes=31000, comments=2900, impressions=512000, members_reached=201000
    )
    for day, gained in (("2026-03-01", 100), ("2026-03-10", 1200), ("2026-03-11", 300)):
        daily(session, linkedin, day, new_followers=gained, impressions=1000)
    daily(session, linkedin, "2026-04-01", new_followers=999)  # outside the period
    period_metric(
        session,
        linkedin,
        "2026-03-01",
        "2026-03-31",
        members_reached=201000,
        impressions=530000,
        followers_total=12000,
    )

    amelie = ambassador(session, "amelie-laurent", "Amélie Laurent")
    masto = account(session, amelie, "mastodon")
    before, mid, last = (run(session, at(d, 2)) for d in ("2026-02-28", "2026-03-15", "2026-03-31"))
    followers(session, masto, before, 2000)
    followers(session, masto, mid, 2700)
    followers(session, masto, last, 3600)
    q = post(session, masto, at("2026-03-20"), text=INJECTED)
    post_snapshot(session, q, last, likes=40, comments=3, reposts=7, quotes=0)
    session.commit()
