"""Item pipelines: validate early (drop with a counted reason), then write in batches."""

import dataclasses
import datetime as dt
import logging
import time
from collections import defaultdict
from typing import Any, Self

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from sqlalchemy import Connection, Row, bindparam, delete, func, select, tuple_, update
from sqlmodel import col

from crawler.items import AccountDone, PageItems, PostItem, ProfileItem, ReplyItem, ThreadItem
from crawler.spiders.base import AccountSpider
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
from reach.db import get_engine, is_transient, upsert, upsert_insert
from reach.runs import finish_run, heartbeat, open_run
from reach.settings import get_settings
from reach.text import text_hash

logger = logging.getLogger(__name__)
KINDS = {kind.value for kind in PostKind}
# Stored text is cut here: a Mastodon instance's own limit is 500 characters by default (some raise
# it to a few thousand), Bluesky's 300 graphemes, and a 15,000-word blog post is about 90,000.
# Past this it is no post but a payload.
MAX_TEXT_CHARS = 100_000
COUNT_COLUMNS = ("likes", "comments", "reposts", "quotes", "views")


class ValidationPipeline:
    """Drop items no database row should be made of, counting each reason in the stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.max_text = crawler.settings.getint("REACH_MAX_TEXT_CHARS", MAX_TEXT_CHARS)
        # Posts dropped here: their replies and thread marks, which come after them, go too.
        self.dropped_posts: set[tuple[str, str]] = set()

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
            self.cap_text(item)
        return item

    def _valid(self, item: Any) -> bool:
        try:
            self.check(item)
        except DropItem:
            if isinstance(item, PostItem):
                self.dropped_posts.add((item.platform, item.platform_post_id))
            return False
        self.cap_text(item)
        return True

    def cap_text(self, item: Any) -> None:
        """Cut a post's or reply's text to the stored maximum, flagging it (the post is kept)."""
        if isinstance(item, PostItem | ReplyItem) and item.text and len(item.text) > self.max_text:
            item.text = item.text[: self.max_text]
            item.text_truncated = True
            self.stats.inc_value("validation/text_truncated")

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
        elif (
            isinstance(item, ReplyItem | ThreadItem)
            and (item.platform, item.post_platform_id) in self.dropped_posts
        ):
            self.drop("post_dropped", item)
        elif isinstance(item, ReplyItem):
            if not item.platform_reply_id or not item.author_hash:
                self.drop("reply_without_id", item)
        elif not isinstance(item, AccountDone | ThreadItem):
            self.drop("unknown_item_type", item)


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


@dataclasses.dataclass
class AccountTally:
    posts_new: int = 0
    posts_updated: int = 0
    snapshots: int = 0


@dataclasses.dataclass
class Batch:
    """What one flush writes. It stays whole until its transaction commits, so a retry writes it
    all again and a flush that finally fails knows exactly what was lost."""

    posts: list[PostItem]
    profiles: list[ProfileItem]
    replies: list[ReplyItem]
    threads: list[ThreadItem]
    done: list[AccountDone]

    def __len__(self) -> int:
        return (
            len(self.posts)
            + len(self.profiles)
            + len(self.replies)
            + len(self.threads)
            + len(self.done)
        )


@dataclasses.dataclass
class Written:
    """What a committed flush changes in the writer's own bookkeeping (kept apart until commit)."""

    tally: dict[int, AccountTally] = dataclasses.field(
        default_factory=lambda: defaultdict(AccountTally)
    )
    alias: dict[int, int] = dataclasses.field(default_factory=dict)
    stats: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))


class WriteFailed(RuntimeError):
    """A flush failed on every attempt: its rows are lost and the run must say so."""


class DatabaseWriterPipeline:
    """Upsert posts on their natural key, append snapshots to the crawl run, in batches.

    Items are buffered and flushed every `REACH_WRITE_BATCH_SIZE` posts and when the spider
    closes: one transaction per flush, never one per item. A post's existing columns are only
    overwritten with values the crawl actually sent. A flush that meets a deadlock, a busy
    database or a lost connection is tried again (`REACH_WRITE_ATTEMPTS`); one that still fails
    stops the crawl, and its run ends `failed` with the reason.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = get_settings()
        self.batch_size = settings.write_batch_size
        self.attempts = settings.write_attempts
        self.posts: dict[tuple[str, str], PostItem] = {}
        self.profiles: dict[int, ProfileItem] = {}
        self.replies: dict[tuple[str, str], ReplyItem] = {}
        self.threads: dict[tuple[str, str], ThreadItem] = {}
        self.done: list[AccountDone] = []
        self.alias: dict[
            int, int
        ] = {}  # renamed handle's new row -> the account that has the history
        self.tally: dict[int, AccountTally] = defaultdict(AccountTally)
        self.finished: set[int] = set()
        self.failure: str | None = None  # why rows were lost; once set, nothing more is written
        self.run_id = 0
        self.started_at = utcnow()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    # -- lifecycle ------------------------------------------------------------------------------
    def open_spider(self) -> None:
        spider = self.crawler.spider
        assert isinstance(spider, AccountSpider)  # the writer only runs under the roster's spiders
        with get_engine().begin() as connection:
            run_id = spider.crawl_run_id
            if run_id is None:
                run_id = open_run(connection, spider.platform)
                spider.crawl_run_id = run_id
            found = connection.execute(
                select(col(CrawlRun.started_at)).where(col(CrawlRun.id) == run_id)
            ).first()
            if found is None:
                raise ValueError(f"crawl run {run_id} does not exist")
            self.started_at = found[0]
            heartbeat(connection, run_id)
        self.run_id = run_id
        self.crawler.stats.set_value("reach/crawl_run_id", run_id)

    def process_item(self, item: Any) -> Any:
        if self.failure is not None:
            self.crawler.stats.inc_value(
                "reach/items_lost"
            )  # the crawl is stopping: said in the run
            return item
        if isinstance(item, PageItems):
            for record in item.records:
                self._buffer(record)
        else:
            self._buffer(item)
        # Checked once a page is buffered, so a thread's replies and its mark share a flush.
        if len(self.posts) >= self.batch_size or len(self.replies) >= self.batch_size:
            self.flush()
        return item

    def _buffer(self, item: Any) -> None:
        if isinstance(item, PostItem):
            self.posts[(item.platform, item.platform_post_id)] = item  # last one of a key wins
        elif isinstance(item, ProfileItem):
            self.profiles[item.account_id] = item
        elif isinstance(item, ReplyItem):
            self.replies[(item.platform, item.platform_reply_id)] = item
        elif isinstance(item, ThreadItem):
            self.threads[(item.platform, item.post_platform_id)] = item
        elif isinstance(item, AccountDone):
            self.done.append(item)

    def close_spider(self) -> None:
        self.flush()
        self.close_run()

    # -- writing --------------------------------------------------------------------------------
    def _take(self) -> Batch:
        batch = Batch(
            list(self.posts.values()),
            list(self.profiles.values()),
            list(self.replies.values()),
            list(self.threads.values()),
            list(self.done),
        )
        self.posts, self.profiles, self.replies, self.threads, self.done = {}, {}, {}, {}, []
        return batch

    def flush(self) -> None:
        """Write everything buffered in one transaction, tried again while the error is transient."""
        if self.failure is not None:
            return
        batch = self._take()
        if not len(batch):
            return
        delay = 0.5
        for attempt in range(1, self.attempts + 1):
            now = utcnow()
            written = Written()
            try:
                with get_engine().begin() as connection:
                    self._write(connection, batch, now, written)
            except Exception as exc:  # noqa: BLE001 - any failure loses the rows: said below
                if not is_transient(exc) or attempt == self.attempts:
                    self._lost(batch, exc, attempt)
                    return
                self.crawler.stats.inc_value("reach/flush_retries")
                logger.warning(
                    "flush of %d rows failed (attempt %d of %d), retrying in %.1fs: %s",
                    len(batch),
                    attempt,
                    self.attempts,
                    delay,
                    _one_line(exc),
                )
                time.sleep(delay)
                delay *= 2
                continue
            self._committed(batch, written)
            return

    def _lost(self, batch: Batch, exc: Exception, attempts: int) -> None:
        """A flush that failed for good: say what was lost, and stop the crawl."""
        self.failure = (
            f"{len(batch.posts)} post(s), {len(batch.replies)} reply(ies) and "
            f"{len(batch.done)} account outcome(s) could not be written after {attempts} "
            f"attempt(s): {_one_line(exc)}"
        )
        stats = self.crawler.stats
        stats.set_value("reach/write_failed", self.failure)
        stats.inc_value("reach/items_lost", len(batch))
        logger.error("stopping the crawl: %s", self.failure)
        if self.crawler.engine is not None and self.crawler.engine.spider is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="write_failed"))

    def _committed(self, batch: Batch, written: Written) -> None:
        for account_id, tally in written.tally.items():
            total = self.tally[account_id]
            total.posts_new += tally.posts_new
            total.posts_updated += tally.posts_updated
            total.snapshots += tally.snapshots
        self.alias.update(written.alias)
        self.finished.update(done.account_id for done in batch.done)
        for key, value in written.stats.items():
            self.crawler.stats.inc_value(key, value)
        self.crawler.stats.inc_value("reach/flushes")

    def _write(
        self, connection: Connection, batch: Batch, now: dt.datetime, written: Written
    ) -> None:
        """One flush, in one lock order for every writer: the crawl run's row (SQLite's write lock),
        then the accounts concerned by id, then posts, snapshots, replies and outcomes by key, so
        two crawls of the same accounts queue instead of deadlocking."""
        heartbeat(connection, self.run_id)
        self._lock_accounts(connection, batch)
        self._write_profiles(connection, batch.profiles, now, written)
        self._write_posts(connection, batch.posts, now, written)
        self._write_replies(connection, batch.replies, batch.threads, now, written)
        self._write_done(connection, batch.done, now, written)

    def _account(self, account_id: int, written: Written | None = None) -> int:
        if written is not None and account_id in written.alias:
            return written.alias[account_id]
        return self.alias.get(account_id, account_id)

    def _lock_accounts(self, connection: Connection, batch: Batch) -> None:
        if connection.dialect.name != "postgresql":
            return  # SQLite has one writer at a time: the heartbeat already holds its lock
        items: tuple[ProfileItem | PostItem | ThreadItem | AccountDone, ...] = (
            *batch.profiles,
            *batch.posts,
            *batch.threads,
            *batch.done,
        )
        ids = {self._account(i.account_id) for i in items}
        if ids:
            connection.execute(
                select(col(Account.id))
                .where(col(Account.id).in_(sorted(ids)))
                .order_by(col(Account.id))
                .with_for_update()
            )

    def _write_profiles(
        self,
        connection: Connection,
        profiles: list[ProfileItem],
        now: dt.datetime,
        written: Written,
    ) -> None:
        """Each profile's account row and follower snapshot: a few statements per flush, not per account."""
        if not profiles:
            return
        profiles = sorted(profiles, key=lambda p: p.account_id)
        accounts = {
            row.id: row
            for row in connection.execute(
                select(Account).where(col(Account.id).in_([p.account_id for p in profiles]))
            )
        }
        owners = {
            (row.platform, row.platform_id): row
            for row in connection.execute(
                select(Account).where(
                    tuple_(Account.platform, Account.platform_id).in_(
                        [(accounts[p.account_id].platform, p.platform_id) for p in profiles]
                    )
                )
            )
        }
        updates, snapshots = [], []
        for profile in profiles:
            account = accounts[profile.account_id]
            owner = owners.get((account.platform, profile.platform_id))
            account_id = (
                account.id
                if owner is None or owner.id == account.id
                else self._adopt_history(connection, account, owner, written)
            )
            updates.append(
                {
                    "b_id": account_id,
                    "b_platform_id": profile.platform_id,
                    "b_url": profile.profile_url,
                }
            )
            counts = {
                "followers": profile.followers,
                "following": profile.following,
                "posts_count": profile.posts_count,
            }
            if any(value is not None for value in counts.values()):
                snapshots.append(
                    {
                        "account_id": account_id,
                        "crawl_run_id": self.run_id,
                        "observed_at": now,
                        **counts,
                    }
                )
        connection.execute(
            update(Account)
            .where(col(Account.id) == bindparam("b_id"))
            .values(
                platform_id=bindparam("b_platform_id"),
                status="active",
                status_reason=None,
                last_crawled_at=now,
                updated_at=now,
                profile_url=func.coalesce(bindparam("b_url"), Account.profile_url),
            ),
            updates,
        )
        if snapshots:
            connection.execute(
                upsert(
                    connection,
                    AccountSnapshot,
                    ["account_id", "crawl_run_id"],
                    ["observed_at", "followers", "following", "posts_count"],
                ),
                snapshots,
            )

    def _adopt_history(
        self, connection: Connection, account: Row[Any], owner: Row[Any], written: Written
    ) -> int:
        """A new handle that resolves to a known platform id is the same account renamed.

        The older row (`owner`) keeps its history and takes the new handle; the new row is removed.
        """
        if owner.ambassador_id != account.ambassador_id:
            raise ValueError(
                f"{account.platform} id {owner.platform_id} already belongs to account {owner.id} "
                "of another ambassador"
            )
        for table in (Post, AccountSnapshot, CrawlOutcome):
            connection.execute(
                update(table).where(table.account_id == account.id).values(account_id=owner.id)
            )
        connection.execute(delete(Account).where(Account.id == account.id))
        connection.execute(
            update(Account)
            .where(Account.id == owner.id)
            .values(key=account.key, handle=account.handle, base_url=account.base_url)
        )
        written.alias[account.id] = owner.id
        written.stats["reach/accounts_renamed"] += 1
        owner_id: int = owner.id
        return owner_id

    def _write_posts(
        self, connection: Connection, items: list[PostItem], now: dt.datetime, written: Written
    ) -> None:
        if not items:
            return
        items = sorted(items, key=lambda i: (i.platform, i.platform_post_id))
        # Multi-row upserts need the same columns in every row: group by what each item sent.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            row = {
                "account_id": self._account(item.account_id, written),
                "platform": item.platform,
                "platform_post_id": item.platform_post_id,
                "published_at": item.published_at,
                "kind": item.kind,
                "source": "crawl",
                "first_seen_at": now,
                "last_seen_at": now,
                "deleted_at": None,
                "text_truncated": item.text_truncated,
            }
            optional = {
                "url": item.url,
                "text": item.text,
                "text_hash": text_hash(item.text),
                "language": item.language,
                "original_url": item.original_url,
            }
            row.update({k: v for k, v in optional.items() if v is not None})
            groups[tuple(sorted(row))].append(row)
        ids: dict[tuple[str, str], int] = {}
        inserted: set[tuple[str, str]] = set()
        for columns, rows in groups.items():
            stmt = upsert_insert(connection)(Post)
            updated = [
                c
                for c in columns
                if c not in ("platform", "platform_post_id", "first_seen_at", "source")
            ]
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
            tally = written.tally[self._account(item.account_id, written)]
            if key in inserted:
                tally.posts_new += 1
            else:
                tally.posts_updated += 1
            tally.snapshots += 1
            snapshots.append(
                {
                    "post_id": ids[key],
                    "crawl_run_id": self.run_id,
                    "observed_at": now,
                    "approximate": item.approximate,
                    **{c: getattr(item, c) for c in COUNT_COLUMNS},
                }
            )
        snapshots.sort(key=lambda row: row["post_id"])
        connection.execute(
            upsert(
                connection,
                PostSnapshot,
                ["post_id", "crawl_run_id"],
                ["observed_at", "approximate", *COUNT_COLUMNS],
            ),
            snapshots,
        )
        written.stats["reach/posts_written"] += len(items)

    def _write_replies(
        self,
        connection: Connection,
        replies: list[ReplyItem],
        threads: list[ThreadItem],
        now: dt.datetime,
        written: Written,
    ) -> None:
        """Replies, then the mark on each post that its thread was read: in one transaction, so a
        thread counts as read only once its replies are stored."""
        if not replies and not threads:
            return
        wanted = {(r.platform, r.post_platform_id) for r in replies}
        post_ids: dict[tuple[str, str], int] = {}
        for chunk in _chunks(sorted(wanted)):
            found = connection.execute(
                select(col(Post.id), col(Post.platform), col(Post.platform_post_id)).where(
                    tuple_(Post.platform, Post.platform_post_id).in_(chunk)
                )
            )
            for post_id, platform, key in found:
                assert post_id is not None  # a stored post has its primary key
                post_ids[(platform, key)] = post_id
        if orphans := sum(1 for r in replies if (r.platform, r.post_platform_id) not in post_ids):
            written.stats["reach/replies_without_post"] += (
                orphans  # never expected: counted, not hidden
            )
        rows = [
            {
                "post_id": post_ids[(r.platform, r.post_platform_id)],
                "platform": r.platform,
                "platform_reply_id": r.platform_reply_id,
                "published_at": r.published_at,
                "text": r.text,
                "text_hash": text_hash(r.text),
                "language": r.language,
                "likes": r.likes,
                "author_hash": r.author_hash,
                "text_truncated": r.text_truncated,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for r in sorted(replies, key=lambda r: (r.platform, r.platform_reply_id))
            if (r.platform, r.post_platform_id) in post_ids
        ]
        if rows:
            connection.execute(
                upsert(
                    connection,
                    Reply,
                    ["platform", "platform_reply_id"],
                    ["text", "text_hash", "text_truncated", "language", "likes", "last_seen_at"],
                ),
                rows,
            )
        if threads:
            connection.execute(
                update(Post)
                .where(
                    col(Post.platform) == bindparam("b_platform"),
                    col(Post.platform_post_id) == bindparam("b_key"),
                )
                .values(thread_comments=bindparam("b_comments"), thread_gone=bindparam("b_gone")),
                [
                    {
                        "b_platform": t.platform,
                        "b_key": t.post_platform_id,
                        "b_comments": t.comments,
                        "b_gone": t.gone,
                    }
                    for t in sorted(threads, key=lambda t: (t.platform, t.post_platform_id))
                ],
            )
            written.stats["reach/threads_read"] += sum(1 for t in threads if not t.gone)
            written.stats["reach/threads_gone"] += sum(1 for t in threads if t.gone)
        written.stats["reach/replies_written"] += len(rows)

    def _write_done(
        self,
        connection: Connection,
        done_items: list[AccountDone],
        now: dt.datetime,
        written: Written,
    ) -> None:
        """Per-account outcomes, statuses and deletions: a few statements per flush, not per account."""
        if not done_items:
            return
        outcomes, crawled, statuses = [], [], []
        complete: dict[dt.datetime, list[int]] = defaultdict(list)
        for done in sorted(done_items, key=lambda d: self._account(d.account_id, written)):
            account_id = self._account(done.account_id, written)
            tally = AccountTally(**dataclasses.asdict(self.tally.get(account_id, AccountTally())))
            if account_id in written.tally:
                tally.posts_new += written.tally[account_id].posts_new
                tally.posts_updated += written.tally[account_id].posts_updated
                tally.snapshots += written.tally[account_id].snapshots
            outcomes.append(
                {
                    "crawl_run_id": self.run_id,
                    "account_id": account_id,
                    "ok": done.ok,
                    "error": done.error,
                    "reason": done.reason,
                    "warnings": done.warnings or None,
                    **dataclasses.asdict(tally),
                }
            )
            crawled.append({"b_id": account_id})
            if done.status:
                statuses.append(
                    {
                        "b_id": account_id,
                        "b_status": done.status,
                        "b_reason": None if done.ok else done.reason,
                    }
                )
            if done.window_start is not None:
                complete[done.window_start].append(account_id)
        connection.execute(
            upsert(
                connection,
                CrawlOutcome,
                ["crawl_run_id", "account_id"],
                ["ok", "error", "reason", "warnings", "posts_new", "posts_updated", "snapshots"],
            ),
            outcomes,
        )
        by_id = update(Account).where(col(Account.id) == bindparam("b_id"))
        connection.execute(by_id.values(last_crawled_at=now), crawled)
        if statuses:
            connection.execute(
                by_id.values(status=bindparam("b_status"), status_reason=bindparam("b_reason")),
                statuses,
            )
        for window_start, account_ids in complete.items():
            # A complete crawl of the window did not see these posts: they were deleted.
            result = connection.execute(
                update(Post)
                .where(
                    col(Post.account_id).in_(account_ids),
                    col(Post.published_at) >= window_start,
                    col(Post.last_seen_at) < self.started_at,
                    col(Post.deleted_at).is_(None),
                    col(Post.source) == "crawl",
                )
                .values(deleted_at=now)
            )
            written.stats["reach/posts_marked_deleted"] += result.rowcount or 0

    def close_run(self) -> None:
        """Record unfinished accounts, then close the crawl run (a shard leaves that to its starter)."""
        spider = self.crawler.spider
        stats = self.crawler.stats
        refs = getattr(spider, "refs", {})
        unfinished = [ref_id for ref_id in refs if ref_id not in self.finished]
        if self.failure is None:
            for ref_id in unfinished:
                reason = (
                    f"the crawl ended ({stats.get_value('finish_reason') or 'stopped'}) "
                    "before this account finished"
                )
                self.done.append(AccountDone(ref_id, ok=False, error="Unfinished", reason=reason))
            self.flush()
        if getattr(spider, "shards", 1) > 1:
            return  # run_crawl closes the run once every shard has written its outcomes
        status, ok, failed = finish_run(
            self.run_id,
            stats.get_stats(),
            getattr(spider, "accounts_loaded", False),
            len(refs),
            failure=self.failure,
        )
        stats.set_value("reach/run_status", status)
        stats.set_value("reach/accounts_failed", failed)
        stats.set_value("reach/accounts_ok", ok)


def _one_line(exc: BaseException) -> str:
    """A database error in one line: its first line, without SQLAlchemy's SQL and background link."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
