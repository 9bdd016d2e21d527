"""The storage pipelines on both databases: validation, batched upserts, history kept on rename."""

import datetime as dt
from collections.abc import Iterator

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler
from sqlmodel import Session, select

from crawler.items import AccountDone, PostItem, ProfileItem
from crawler.pipelines import DatabaseWriterPipeline, ValidationPipeline
from crawler.run import _combined
from crawler.spiders.mastodon import MastodonSpider
from models import Account, AccountSnapshot, Ambassador, CrawlOutcome, CrawlRun, Post, PostSnapshot

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def accounts(session: Session) -> list[int]:
    person = Ambassador(slug="amara", name="Amara", country="NG")
    session.add(person)
    session.flush()
    rows = [
        Account(
            ambassador_id=person.id,
            platform="mastodon",
            handle=f"@{n}@m.example",
            key=f"{n}@m.example",
            base_url="https://m.example",
        )
        for n in ("amara", "amara_new")
    ]
    session.add_all(rows)
    session.commit()
    return [row.id for row in rows]


def writer(db_url: str, batch_size: int = 500) -> Iterator[DatabaseWriterPipeline]:
    crawler = get_crawler(MastodonSpider, {"REACH_WRITE_BATCH_SIZE": batch_size})
    crawler.spider = MastodonSpider()
    crawler.spider.crawler = crawler
    crawler.spider.accounts_loaded = True  # as start() sets it once the roster was read
    crawler.stats.open_spider()
    pipeline = DatabaseWriterPipeline.from_crawler(crawler)
    pipeline.batch_size = batch_size
    pipeline.open_spider()
    return pipeline


def post(account_id: int, key: str, **fields: object) -> PostItem:
    base = {
        "account_id": account_id,
        "platform": "mastodon",
        "platform_post_id": key,
        "published_at": NOW - dt.timedelta(days=1),
        "url": f"https://m.example/@amara/{key}",
        "text": "Hello",
        "likes": 1,
        "comments": 0,
        "reposts": 0,
    }
    return PostItem(**(base | fields))


def test_upsert_updates_only_what_was_sent_and_appends_snapshots(
    db_url: str, session: Session, accounts: list[int]
) -> None:
    first = writer(db_url)
    first.process_item(post(accounts[0], "1", language="en", likes=5))
    first.process_item(AccountDone(accounts[0], ok=True))
    first.close_spider()
    second = writer(db_url)
    second.process_item(
        post(accounts[0], "1", text="Hello, edited", language=None, url=None, likes=9)
    )
    second.process_item(post(accounts[0], "2"))
    second.process_item(AccountDone(accounts[0], ok=True))
    second.close_spider()
    session.expire_all()
    tallies = session.exec(
        select(CrawlOutcome.posts_new, CrawlOutcome.posts_updated).order_by(CrawlOutcome.id)
    ).all()
    assert tallies == [(1, 0), (1, 1)]  # the second crawl updated post 1 and found post 2
    row = session.exec(select(Post).where(Post.platform_post_id == "1")).one()
    assert (row.text, row.language, row.url) == (
        "Hello, edited",
        "en",
        "https://m.example/@amara/1",
    )
    history = session.exec(
        select(PostSnapshot.likes).where(PostSnapshot.post_id == row.id).order_by(PostSnapshot.id)
    ).all()
    assert history == [5, 9]  # counts over time, never overwritten


def test_duplicate_keys_in_one_batch_are_merged_and_batches_are_flushed_not_per_item(
    db_url: str, session: Session, accounts: list[int]
) -> None:
    pipeline = writer(db_url, batch_size=500)
    for i in range(120):
        pipeline.process_item(post(accounts[0], str(i % 100), likes=i))  # keys 0..19 come twice
    pipeline.process_item(
        AccountDone(accounts[0], ok=True, window_start=NOW - dt.timedelta(days=30))
    )
    pipeline.close_spider()
    assert len(session.exec(select(Post)).all()) == 100
    likes = dict(
        session.exec(
            select(Post.platform_post_id, PostSnapshot.likes).join(
                PostSnapshot, PostSnapshot.post_id == Post.id
            )
        ).all()
    )
    assert likes["5"] == 105  # the later sighting in a batch wins
    outcome = session.exec(select(CrawlOutcome)).one()
    assert (outcome.ok, outcome.posts_new, outcome.snapshots) == (True, 100, 100)
    run = session.exec(select(CrawlRun)).one()
    assert run.status == "succeeded" and run.finished_at is not None

    batched = writer(db_url, batch_size=50)
    for i in range(120):
        batched.process_item(post(accounts[0], f"b{i}"))
    batched.close_spider()
    assert batched.crawler.stats.get_value("reach/flushes") == 3  # 50 + 50 + 20 at close


def test_renamed_handle_resolving_to_a_known_id_keeps_one_history(
    db_url: str, session: Session, accounts: list[int]
) -> None:
    old, new = accounts
    first = writer(db_url)
    first.process_item(ProfileItem(old, "m.example:42", followers=100))
    first.process_item(post(old, "1"))
    first.process_item(AccountDone(old, ok=True))
    first.close_spider()
    second = writer(
        db_url
    )  # the roster now lists the new handle; the platform says it is account 42
    second.process_item(ProfileItem(new, "m.example:42", followers=130))
    second.process_item(post(new, "2"))
    second.process_item(AccountDone(new, ok=True))
    second.close_spider()
    session.expire_all()
    remaining = session.exec(select(Account).where(Account.platform_id == "m.example:42")).one()
    assert remaining.id == old and remaining.key == "amara_new@m.example"
    assert session.get(Account, new) is None
    assert session.exec(
        select(AccountSnapshot.followers)
        .where(AccountSnapshot.account_id == old)
        .order_by(AccountSnapshot.id)
    ).all() == [100, 130]
    assert {p.account_id for p in session.exec(select(Post)).all()} == {old}


def test_validation_drops_bad_items_with_a_counted_reason() -> None:
    crawler = get_crawler(MastodonSpider)
    crawler.stats.open_spider()
    pipeline = ValidationPipeline.from_crawler(crawler)
    good = post(1, "1")
    assert pipeline.process_item(good) is good
    for bad, reason in [
        (post(1, ""), "post_without_id"),
        (post(1, "2", likes=-3), "bad_likes"),
        (post(1, "3", kind="story"), "unknown_kind"),
        (post(1, "4", url="javascript:alert(1)"), "url_not_http"),
        (post(1, "5", published_at=dt.datetime(2026, 1, 1)), "naive_published_at"),
    ]:
        with pytest.raises(DropItem):
            pipeline.process_item(bad)
        assert crawler.stats.get_value(f"validation/dropped/{reason}") == 1


def test_shards_share_out_the_accounts_and_a_bad_shard_is_named(
    db_url: str, session: Session, accounts: list[int]
) -> None:
    shares = [
        [ref.id for ref in MastodonSpider(shard=f"{k}/2").load_accounts(session)] for k in range(2)
    ]
    assert sorted(shares[0] + shares[1]) == sorted(accounts) and all(
        len(share) == 1 for share in shares
    )
    assert [ref.id for ref in MastodonSpider().load_accounts(session)] == sorted(accounts)
    for bad in ("2/2", "1", "a/b", "-1/2"):
        with pytest.raises(ValueError, match="shard must be K/N"):
            MastodonSpider(shard=bad)


def test_stats_of_a_crawl_split_over_processes_add_up() -> None:
    first = {
        "reach/posts_written": 10,
        "downloader/request_count": 4,
        "elapsed_time_seconds": 9.5,
        "finish_time": "2026-11-28T03:00:09",
        "finish_reason": "finished",
        "reach/x": None,
        "memusage/max": 5,
    }
    second = {
        "reach/posts_written": 7,
        "downloader/request_count": 3,
        "elapsed_time_seconds": 12.0,
        "finish_time": "2026-11-28T03:00:12",
        "finish_reason": "finished",
        "reach/x": 1.5,
        "memusage/max": 4,
    }
    combined = _combined([second, first])
    assert combined["reach/posts_written"] == 17 and combined["downloader/request_count"] == 7
    assert (
        combined["elapsed_time_seconds"] == 12.0
        and combined["finish_time"] == "2026-11-28T03:00:12"
    )
    assert combined["memusage/max"] == 4  # the last to finish, not a sum
    assert combined["reach/x"] == 1.5  # a figure one process did not have is not lost
