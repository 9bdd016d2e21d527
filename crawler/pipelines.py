"""Item pipelines: validate early (drop with a counted reason), then write in batches."""

import dataclasses
import datetime as dt
from collections import defaultdict
from typing import Any, Self

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, tuple_, update
from sqlmodel import col

from crawler.items import AccountDone, PageItems, PostItem, ProfileItem, ReplyItem
from crawler.run import finish_run
from models import (
    Account,
    AccountSnapshot,
    CrawlOutcome,
    CrawlRun,
    Post,
    PostKind,
    PostSnapshot,
    Reply,
    utcnow,
)
from reach.db import get_engine, upsert_insert
from reach.settings import get_settings
from reach.text import text_hash

KINDS = {kind.value for kind in PostKind}
COUNT_COLUMNS = ("likes", "comments", "reposts", "quotes", "views")


class ValidationPipeline:
    """Drop items no database row should be made of, counting each reason in the stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def drop(self, reason: str, item: Any) -> None:
        self.stats.inc_value(f"validation/dropped/{reason}")
        raise DropItem(f"{reason}: {item!r}"[:300])

    def process_item(self, item: Any) -> Any:
        if isinstance(item, PageItems):  # a page's records: drop the bad ones, keep the rest
            item.records = [record for record in item.records if self._valid(record)]
        else:
            self.check(item)
        return item

    def _valid(self, item: Any) -> bool:
        try:
            self.check(item)
        except DropItem:
            return False
        return True

    def check(self, item: Any) -> None:
        """Raise DropItem (counting the reason) when an item must not be stored."""
        if isinstance(item, PostItem):
            if not item.platform_post_id:
                self.drop("post_without_id", item)
            if item.published_at.tzinfo is None:
                self.drop("naive_published_at", item)
            if item.published_at > utcnow() + dt.timedelta(days=1):
                self.drop("published_in_future", item)
            if item.kind not in KINDS:
                self.drop("unknown_kind", item)
            if item.url and not item.url.startswith(("http://", "https://")):
                self.drop("url_not_http", item)
            for column in COUNT_COLUMNS:
                value = getattr(item, column)
                if value is not None and (not isinstance(value, int) or value < 0):
                    self.drop(f"bad_{column}", item)
        elif isinstance(item, ProfileItem):
            if not item.platform_id:
                self.drop("profile_without_id", item)
            for column in ("followers", "following", "posts_count"):
                value = getattr(item, column)
                if value is not None and value < 0:
                    self.drop(f"bad_{column}", item)
        elif isinstance(item, ReplyItem):
            if not item.platform_reply_id or not item.author_hash:
                self.drop("reply_without_id", item)
        elif not isinstance(item, AccountDone):
            self.drop("unknown_item_type", item)


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


@dataclasses.dataclass
class AccountTally:
    posts_new: int = 0
    posts_updated: int = 0
    snapshots: int = 0


class DatabaseWriterPipeline:
    """Upsert posts on their natural key, append snapshots to the crawl run, in batches.

    Items are buffered and flushed every `REACH_WRITE_BATCH_SIZE` posts and when the spider
    closes: one transaction per flush, never one per item. A post's existing columns are only
    overwritten with values the crawl actually sent.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.batch_size = get_settings().write_batch_size
        self.posts: dict[tuple[str, str], PostItem] = {}
        self.profiles: dict[int, ProfileItem] = {}
        self.replies: dict[tuple[str, str], ReplyItem] = {}
        self.done: list[AccountDone] = []
        self.alias: dict[int, int] = {}  # renamed handle's new row -> the account that has the history
        self.tally: dict[int, AccountTally] = defaultdict(AccountTally)
        self.finished: set[int] = set()
        self.run_id = 0
        self.started_at = utcnow()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    # -- lifecycle ------------------------------------------------------------------------------
    def open_spider(self) -> None:
        spider = self.crawler.spider
        engine = get_engine()
        with engine.begin() as connection:
            run_id = getattr(spider, "crawl_run_id", None)
            if run_id is None:
                run_id = connection.execute(
                    insert(CrawlRun).values(platform=spider.platform, source="crawl", status="running",
                                            started_at=self.started_at, requests=0, items=0, errors=0)
                    .returning(CrawlRun.id)
                ).scalar_one()
                spider.crawl_run_id = run_id
            else:
                found = connection.execute(select(CrawlRun.started_at).where(CrawlRun.id == run_id)).first()
                if found is None:
                    raise ValueError(f"crawl run {run_id} does not exist")
                self.started_at = found[0]
                connection.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(status="running"))
        self.run_id = run_id
        self.crawler.stats.set_value("reach/crawl_run_id", run_id)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, PageItems):
            for record in item.records:
                self.process_item(record)
        elif isinstance(item, PostItem):
            self.posts[(item.platform, item.platform_post_id)] = item  # last one of a key wins
            if len(self.posts) >= self.batch_size:
                self.flush()
        elif isinstance(item, ProfileItem):
            self.profiles[item.account_id] = item
        elif isinstance(item, ReplyItem):
            self.replies[(item.platform, item.platform_reply_id)] = item
            if len(self.replies) >= self.batch_size:
                self.flush()
        elif isinstance(item, AccountDone):
            self.done.append(item)
        return item

    def close_spider(self) -> None:
        self.flush()
        self.close_run()

    # -- writing --------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything buffered in one transaction, in dependency order."""
        if not (self.posts or self.profiles or self.replies or self.done):
            return
        now = utcnow()
        with get_engine().begin() as connection:
            self._write_profiles(connection, now)
            self._write_posts(connection, now)
            self._write_replies(connection, now)
            self._write_done(connection, now)
        self.crawler.stats.inc_value("reach/flushes")

    def _account(self, account_id: int) -> int:
        return self.alias.get(account_id, account_id)

    def _write_profiles(self, connection: Connection, now: dt.datetime) -> None:
        """Each profile's account row and follower snapshot: a few statements per flush, not per account."""
        if not self.profiles:
            return
        profiles = list(self.profiles.values())
        self.profiles.clear()
        accounts = {row.id: row for row in connection.execute(
            select(Account).where(col(Account.id).in_([p.account_id for p in profiles])))}
        owners = {(row.platform, row.platform_id): row for row in connection.execute(
            select(Account).where(tuple_(Account.platform, Account.platform_id).in_(
                [(accounts[p.account_id].platform, p.platform_id) for p in profiles])))}
        updates, snapshots = [], []
        for profile in profiles:
            account = accounts[profile.account_id]
            owner = owners.get((account.platform, profile.platform_id))
            account_id = account.id if owner is None or owner.id == account.id else self._adopt_history(
                connection, account, owner)
            updates.append({"b_id": account_id, "b_platform_id": profile.platform_id, "b_url": profile.profile_url})
            counts = {"followers": profile.followers, "following": profile.following,
                      "posts_count": profile.posts_count}
            if any(value is not None for value in counts.values()):
                snapshots.append({"account_id": account_id, "crawl_run_id": self.run_id,
                                  "observed_at": now, **counts})
        connection.execute(
            update(Account).where(Account.id == bindparam("b_id")).values(
                platform_id=bindparam("b_platform_id"), status="active", status_reason=None,
                last_crawled_at=now, updated_at=now,
                profile_url=func.coalesce(bindparam("b_url"), Account.profile_url),
            ), updates)
        if snapshots:
            stmt = upsert_insert(connection)(AccountSnapshot)
            connection.execute(stmt.on_conflict_do_update(
                index_elements=["account_id", "crawl_run_id"],
                set_={c: stmt.excluded[c] for c in ("observed_at", "followers", "following", "posts_count")},
            ), snapshots)

    def _adopt_history(self, connection: Connection, account: Row[Any], owner: Row[Any]) -> int:
        """A new handle that resolves to a known platform id is the same account renamed.

        The older row (`owner`) keeps its history and takes the new handle; the new row is removed.
        """
        if owner.ambassador_id != account.ambassador_id:
            raise ValueError(
                f"{account.platform} id {owner.platform_id} already belongs to account {owner.id} "
                "of another ambassador"
            )
        for table in (Post, AccountSnapshot, CrawlOutcome):
            connection.execute(update(table).where(table.account_id == account.id).values(account_id=owner.id))
        connection.execute(delete(Account).where(Account.id == account.id))
        connection.execute(update(Account).where(Account.id == owner.id).values(
            key=account.key, handle=account.handle, base_url=account.base_url))
        self.alias[account.id] = owner.id
        self.crawler.stats.inc_value("reach/accounts_renamed")
        return owner.id

    def _write_posts(self, connection: Connection, now: dt.datetime) -> None:
        if not self.posts:
            return
        items = list(self.posts.values())
        self.posts.clear()
        # Multi-row upserts need the same columns in every row: group by what each item sent.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            row = {
                "account_id": self._account(item.account_id), "platform": item.platform,
                "platform_post_id": item.platform_post_id, "published_at": item.published_at,
                "kind": item.kind, "source": "crawl", "first_seen_at": now, "last_seen_at": now,
                "deleted_at": None,
            }
            optional = {"url": item.url, "text": item.text, "text_hash": text_hash(item.text),
                        "language": item.language, "original_url": item.original_url}
            row.update({k: v for k, v in optional.items() if v is not None})
            groups[tuple(sorted(row))].append(row)
        ids: dict[tuple[str, str], int] = {}
        inserted: set[tuple[str, str]] = set()
        for columns, rows in groups.items():
            stmt = upsert_insert(connection)(Post)
            updated = [c for c in columns if c not in ("platform", "platform_post_id", "first_seen_at", "source")]
            stmt = stmt.on_conflict_do_update(
                index_elements=["platform", "platform_post_id"],
                set_={c: stmt.excluded[c] for c in updated},
            ).returning(Post.id, Post.platform, Post.platform_post_id, Post.first_seen_at)
            # An upsert never changes first_seen_at, so it reads back as this flush's time only
            # for the posts it inserted: new and updated posts are told apart without a lookup.
            for post_id, platform, key, first_seen_at in connection.execute(stmt, rows):
                ids[(platform, key)] = post_id
                if first_seen_at == now:
                    inserted.add((platform, key))
        snapshots = []
        for item in items:
            key = (item.platform, item.platform_post_id)
            tally = self.tally[self._account(item.account_id)]
            if key in inserted:
                tally.posts_new += 1
            else:
                tally.posts_updated += 1
            tally.snapshots += 1
            snapshots.append({
                "post_id": ids[key], "crawl_run_id": self.run_id, "observed_at": now,
                "approximate": item.approximate, **{c: getattr(item, c) for c in COUNT_COLUMNS},
            })
        stmt = upsert_insert(connection)(PostSnapshot)
        connection.execute(stmt.on_conflict_do_update(
            index_elements=["post_id", "crawl_run_id"],
            set_={c: stmt.excluded[c] for c in ("observed_at", "approximate", *COUNT_COLUMNS)},
        ), snapshots)
        self.crawler.stats.inc_value("reach/posts_written", len(items))

    def _write_replies(self, connection: Connection, now: dt.datetime) -> None:
        if not self.replies:
            return
        replies = list(self.replies.values())
        self.replies.clear()
        post_ids: dict[tuple[str, str], int] = {}
        for chunk in _chunks(list({(r.platform, r.post_platform_id) for r in replies})):
            rows = connection.execute(
                select(Post.id, Post.platform, Post.platform_post_id)
                .where(tuple_(Post.platform, Post.platform_post_id).in_(chunk))
            )
            post_ids.update({(platform, key): post_id for post_id, platform, key in rows})
        rows = [
            {"post_id": post_ids[(r.platform, r.post_platform_id)], "platform": r.platform,
             "platform_reply_id": r.platform_reply_id, "published_at": r.published_at,
             "text": r.text, "text_hash": text_hash(r.text), "language": r.language, "likes": r.likes,
             "author_hash": r.author_hash, "first_seen_at": now, "last_seen_at": now}
            for r in replies if (r.platform, r.post_platform_id) in post_ids
        ]
        if rows:
            stmt = upsert_insert(connection)(Reply)
            connection.execute(stmt.on_conflict_do_update(
                index_elements=["platform", "platform_reply_id"],
                set_={c: stmt.excluded[c] for c in ("text", "text_hash", "language", "likes", "last_seen_at")},
            ), rows)
        self.crawler.stats.inc_value("reach/replies_written", len(rows))

    def _write_done(self, connection: Connection, now: dt.datetime) -> None:
        """Per-account outcomes, statuses and deletions: a few statements per flush, not per account."""
        if not self.done:
            return
        outcomes, crawled, statuses = [], [], []
        complete: dict[dt.datetime, list[int]] = defaultdict(list)
        for done in self.done:
            account_id = self._account(done.account_id)
            self.finished.add(done.account_id)
            tally = self.tally.get(account_id, AccountTally())
            outcomes.append({"crawl_run_id": self.run_id, "account_id": account_id, "ok": done.ok,
                             "error": done.error, "reason": done.reason, **dataclasses.asdict(tally)})
            crawled.append({"b_id": account_id})
            if done.status:
                statuses.append({"b_id": account_id, "b_status": done.status,
                                 "b_reason": None if done.ok else done.reason})
            if done.window_start is not None:
                complete[done.window_start].append(account_id)
        self.done.clear()
        stmt = upsert_insert(connection)(CrawlOutcome)
        connection.execute(stmt.on_conflict_do_update(
            index_elements=["crawl_run_id", "account_id"],
            set_={c: stmt.excluded[c] for c in ("ok", "error", "reason", "posts_new", "posts_updated", "snapshots")},
        ), outcomes)
        by_id = update(Account).where(Account.id == bindparam("b_id"))
        connection.execute(by_id.values(last_crawled_at=now), crawled)
        if statuses:
            connection.execute(by_id.values(status=bindparam("b_status"), status_reason=bindparam("b_reason")),
                               statuses)
        for window_start, account_ids in complete.items():
            # A complete crawl of the window did not see these posts: they were deleted.
            result = connection.execute(
                update(Post).where(
                    col(Post.account_id).in_(account_ids), Post.published_at >= window_start,
                    Post.last_seen_at < self.started_at, Post.deleted_at.is_(None), Post.source == "crawl",
                ).values(deleted_at=now)
            )
            self.crawler.stats.inc_value("reach/posts_marked_deleted", result.rowcount or 0)

    def close_run(self) -> None:
        """Record unfinished accounts, then close the crawl run (a shard leaves that to its starter)."""
        spider = self.crawler.spider
        stats = self.crawler.stats
        refs = getattr(spider, "refs", {})
        unfinished = [ref_id for ref_id in refs if ref_id not in self.finished]
        for ref_id in unfinished:
            reason = f"the crawl ended ({stats.get_value('finish_reason') or 'stopped'}) before this account finished"
            self.done.append(AccountDone(ref_id, ok=False, error="Unfinished", reason=reason))
        self.flush()
        if getattr(spider, "shards", 1) > 1:
            return  # run_crawl closes the run once every shard has written its outcomes
        status, ok, failed = finish_run(self.run_id, stats.get_stats(), getattr(spider, "accounts_loaded", False),
                                        len(refs))
        stats.set_value("reach/run_status", status)
        stats.set_value("reach/accounts_failed", failed)
        stats.set_value("reach/accounts_ok", ok)

