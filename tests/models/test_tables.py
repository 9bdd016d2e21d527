"""The model layer on SQLite and PostgreSQL alike."""

import datetime as dt

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, select

from models import Account, AccountSnapshot, Ambassador, CrawlRun, Post, PostCounts, PostSnapshot


def _account(session: Session, key: str = "amelie@mastodon.social") -> Account:
    person = Ambassador(slug="amelie", name="Amélie", country="FR")
    session.add(person)
    session.flush()
    account = Account(ambassador_id=person.id, platform="mastodon", handle=f"@{key}", key=key)
    session.add(account)
    session.flush()
    return account


def test_timestamps_come_back_aware_in_utc(session: Session) -> None:
    account = _account(session)
    paris = dt.timezone(dt.timedelta(hours=1))
    post = Post(
        account_id=account.id,
        platform="mastodon",
        platform_post_id="1",
        published_at=dt.datetime(2026, 3, 1, 9, 30, tzinfo=paris),
    )
    session.add(post)
    session.commit()
    session.expire_all()
    stored = session.exec(select(Post)).one().published_at
    assert stored == dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    assert stored.utcoffset() == dt.timedelta(0)


def test_naive_timestamp_is_refused(session: Session) -> None:
    account = _account(session)
    session.add(
        Post(
            account_id=account.id,
            platform="mastodon",
            platform_post_id="1",
            published_at=dt.datetime(2026, 3, 1, 9, 30),
        )
    )
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_missing_counts_stay_null_not_zero(session: Session) -> None:
    account = _account(session)
    run = CrawlRun(platform="mastodon")
    post = Post(
        account_id=account.id,
        platform="mastodon",
        platform_post_id="1",
        published_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )
    session.add_all([run, post])
    session.flush()
    session.add(
        PostSnapshot(
            post_id=post.id, crawl_run_id=run.id, observed_at=run.started_at, likes=0, comments=None
        )
    )
    session.commit()
    snapshot = session.exec(select(PostSnapshot)).one()
    assert (snapshot.likes, snapshot.comments, snapshot.views) == (0, None, None)


def test_post_natural_key_is_unique(session: Session) -> None:
    account = _account(session)
    for _ in range(2):
        session.add(
            Post(
                account_id=account.id,
                platform="mastodon",
                platform_post_id="42",
                published_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            )
        )
    with pytest.raises(IntegrityError):
        session.flush()


def test_snapshots_append_one_row_per_crawl_run(session: Session) -> None:
    account = _account(session)
    runs = [CrawlRun(platform="mastodon") for _ in range(3)]
    session.add_all(runs)
    session.flush()
    for followers, run in zip((10, 12, 15), runs, strict=True):
        session.add(
            AccountSnapshot(
                account_id=account.id,
                crawl_run_id=run.id,
                observed_at=run.started_at,
                followers=followers,
            )
        )
    session.commit()
    history = session.exec(select(AccountSnapshot.followers).order_by(AccountSnapshot.id)).all()
    assert history == [10, 12, 15]
    session.add(
        AccountSnapshot(
            account_id=account.id,
            crawl_run_id=runs[0].id,
            observed_at=runs[0].started_at,
            followers=99,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_stable_platform_id_is_unique_per_platform(session: Session) -> None:
    first = _account(session)
    first.platform_id = "mastodon.social:109"
    second = Account(
        ambassador_id=first.ambassador_id,
        platform="mastodon",
        handle="@x@mastodon.social",
        key="x@mastodon.social",
        platform_id="mastodon.social:109",
    )
    session.add(second)
    with pytest.raises(IntegrityError):
        session.flush()


def test_post_counts_follow_the_snapshot_history_whatever_order_it_is_written_in(
    session: Session,
) -> None:
    account = _account(session)
    post = Post(
        account_id=account.id,
        platform="mastodon",
        platform_post_id="1",
        published_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    runs = [CrawlRun(platform="mastodon") for _ in range(4)]
    session.add_all([post, *runs])
    session.flush()

    def snapshot(run: CrawlRun, day: int, likes: int | None) -> None:
        session.add(
            PostSnapshot(
                post_id=post.id,
                crawl_run_id=run.id,
                likes=likes,
                observed_at=dt.datetime(2026, 1, day, tzinfo=dt.UTC),
            )
        )
        session.flush()

    def counts() -> tuple[int | None, int | None, dt.datetime]:
        row = session.exec(select(PostCounts).where(PostCounts.post_id == post.id)).one()
        session.refresh(row)
        return row.likes, row.prev_likes, row.observed_at

    assert session.exec(select(PostCounts)).all() == []  # no snapshot, no row
    snapshot(runs[0], 2, 10)
    assert counts() == (10, None, dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    snapshot(runs[1], 4, 30)
    assert counts() == (30, 10, dt.datetime(2026, 1, 4, tzinfo=dt.UTC))
    snapshot(runs[2], 3, 20)  # written late, observed in between: becomes the previous one only
    assert counts() == (30, 20, dt.datetime(2026, 1, 4, tzinfo=dt.UTC))
    session.execute(
        update(PostSnapshot).where(PostSnapshot.crawl_run_id == runs[1].id).values(likes=None)
    )  # a count corrected to missing stays missing
    assert counts() == (None, 20, dt.datetime(2026, 1, 4, tzinfo=dt.UTC))
    snapshot(runs[3], 5, 40)
    assert counts() == (40, None, dt.datetime(2026, 1, 5, tzinfo=dt.UTC))


def test_followers_at_post_follow_the_account_history_and_the_post(session: Session) -> None:
    account = _account(session)
    other = Account(
        ambassador_id=account.ambassador_id,
        platform="bluesky",
        handle="amelie.bsky.social",
        key="amelie.bsky.social",
    )
    post = Post(
        account_id=account.id,
        platform="mastodon",
        platform_post_id="1",
        published_at=dt.datetime(2026, 1, 10, tzinfo=dt.UTC),
    )
    runs = [CrawlRun(platform="mastodon") for _ in range(5)]
    session.add_all([other, post, *runs])
    session.flush()

    def followers(run: CrawlRun, day: int, count: int | None, owner: Account = account) -> None:
        session.add(
            AccountSnapshot(
                account_id=owner.id,
                crawl_run_id=run.id,
                followers=count,
                observed_at=dt.datetime(2026, 1, day, tzinfo=dt.UTC),
            )
        )
        session.flush()

    def at_post() -> int | None:
        row = session.exec(select(PostCounts).where(PostCounts.post_id == post.id)).one()
        session.refresh(row)
        return row.followers_at_post

    session.add(
        PostSnapshot(
            post_id=post.id,
            crawl_run_id=runs[0].id,
            likes=1,
            observed_at=dt.datetime(2026, 1, 20, tzinfo=dt.UTC),
        )
    )
    session.flush()
    assert at_post() is None  # no account snapshot yet
    followers(runs[0], 20, 200)
    assert at_post() == 200  # only one after publication: the first after
    followers(runs[1], 15, 150)
    assert at_post() == 150  # a nearer one after
    followers(runs[2], 5, 50)
    assert at_post() == 50  # one before publication wins
    followers(runs[3], 8, 80)
    assert at_post() == 80  # the nearest before
    followers(runs[4], 9, None)
    assert at_post() == 80  # a snapshot without a follower count is no answer
    session.execute(
        update(Post)
        .where(Post.id == post.id)
        .values(published_at=dt.datetime(2026, 1, 6, tzinfo=dt.UTC))
    )
    assert at_post() == 50  # the post's time corrected
    session.execute(
        update(AccountSnapshot)
        .where(AccountSnapshot.crawl_run_id == runs[2].id)
        .values(account_id=other.id)
    )
    assert at_post() == 80  # the snapshot moved to another account: first after, of those left
