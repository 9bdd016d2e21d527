"""Machinery every platform spider shares: accounts from the roster, bookkeeping, failures.

Platform spiders only build requests and call their pure parsers; this class tracks each
account's outstanding requests and emits one `AccountDone` per account, ok or with its reason.
"""

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from sqlmodel import Session, col, select
from twisted.python.failure import Failure

from crawler.items import AccountDone, PageItems, PostItem, ReplyItem
from crawler.parsers.common import ParseError
from models import Account, Ambassador, Post, PostCounts, utcnow
from reach.db import get_engine
from reach.handles import HandleError, parse_account
from reach.settings import get_settings


class AccountNotFound(Exception):
    """The platform says the account does not exist (a retry will not help)."""


class AccountSuspended(Exception):
    """The platform suspended or took down the account (a retry will not help)."""


@dataclass
class AccountRef:
    """What a spider needs to know about one account while crawling it."""

    id: int
    key: str
    handle: str
    base_url: str | None
    platform_id: str | None
    # Comment counts seen by the previous crawl, so unchanged threads are not fetched again.
    known_comments: dict[str, int | None] = field(default_factory=dict)
    pending: int = 0
    failed: bool = False
    complete: bool = True
    state: dict[str, Any] = field(default_factory=dict)


class UnknownAccounts(ValueError):
    """Accounts or ambassadors asked for by name that the roster does not have."""


def parse_shard(text: str) -> tuple[int, int]:
    """`-a shard=K/N` (this process takes the accounts whose id is K modulo N) -> (K, N); "" is 0/1."""
    if not text:
        return 0, 1
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise ValueError(f"shard must be K/N with 0 <= K < N, got {text!r}")
    return int(index), int(count)


class AccountSpider(scrapy.Spider):
    """Base class: reads its platform's accounts from the database and crawls each one."""

    platform: str = ""

    def __init__(
        self,
        ambassadors: str = "",
        accounts: str = "",
        lookback_days: str | int | None = None,
        crawl_run_id: str | int | None = None,
        shard: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings_ = get_settings()
        self.slugs = [s for s in (ambassadors or "").split(",") if s]
        self.account_texts = [a for a in (accounts or "").split(",") if a]
        days = int(lookback_days) if lookback_days else self.settings_.lookback_days
        self.lookback_days = days
        self.window_start = utcnow() - dt.timedelta(days=days)
        self.crawl_run_id = int(crawl_run_id) if crawl_run_id else None
        self.shard, self.shards = parse_shard(shard)
        self.refs: dict[int, AccountRef] = {}

    # -- accounts -------------------------------------------------------------------------------
    def load_accounts(self, session: Session) -> list[AccountRef]:
        """Active accounts of active ambassadors on this platform, narrowed by -a options."""
        query = (
            select(Account)
            .join(Ambassador, col(Ambassador.id) == Account.ambassador_id)
            .where(Account.platform == self.platform, col(Ambassador.active).is_(True))
            .order_by(Account.id)
        )
        if self.slugs:
            known = set(session.exec(select(Ambassador.slug).where(col(Ambassador.slug).in_(self.slugs))).all())
            missing = sorted(set(self.slugs) - known)
            if missing:
                raise UnknownAccounts(f"unknown ambassador(s): {', '.join(missing)}")
            query = query.where(col(Ambassador.slug).in_(self.slugs))
        accounts = list(session.exec(query).all())
        if self.account_texts:
            keys: dict[str, str] = {}
            for text in self.account_texts:
                try:
                    keys[parse_account(self.platform, text, True).key] = text
                except HandleError as exc:
                    raise UnknownAccounts(str(exc)) from exc
            accounts = [a for a in accounts if a.key in keys]
            missing = sorted(text for key, text in keys.items() if key not in {a.key for a in accounts})
            if missing:
                raise UnknownAccounts(f"not in the roster for {self.platform}: {', '.join(missing)}")
        refs = [AccountRef(a.id, a.key, a.handle, a.base_url, a.platform_id) for a in accounts
                if a.id % self.shards == self.shard]
        self._load_known_comments(session, refs)
        return refs

    def _load_known_comments(self, session: Session, refs: list[AccountRef]) -> None:
        """The latest stored comment count per post in the window, per account."""
        by_id = {ref.id: ref for ref in refs}
        if not by_id:
            return
        # Each post's latest snapshot, kept in PostCounts: a month of nightly crawls is not read back.
        rows = session.exec(
            select(Post.account_id, Post.platform_post_id, PostCounts.comments)
            .join(PostCounts, col(PostCounts.post_id) == Post.id)
            .where(col(Post.account_id).in_(list(by_id)), Post.published_at >= self.window_start)
        ).all()
        for account_id, key, comments in rows:
            by_id[account_id].known_comments[key] = comments

    async def start(self) -> AsyncIterator[Any]:
        """One start request (or several) per account."""
        with Session(get_engine()) as session:
            refs = self.load_accounts(session)
        self.accounts_loaded = True  # a crawl that could not even read its accounts has failed
        self.crawler.stats.set_value("reach/accounts", len(refs))
        self.logger.info("crawling %d %s account(s), lookback %d days", len(refs), self.platform, self.lookback_days)
        for ref in refs:
            self.refs[ref.id] = ref
            try:
                requests = list(self.start_account(ref))
            except (HandleError, ParseError, ValueError) as exc:
                yield self.finish(ref, ok=False, error=type(exc).__name__, reason=str(exc))
                continue
            for request in requests:
                yield request

    def start_account(self, ref: AccountRef) -> Iterable[scrapy.Request]:
        """The first request(s) for one account."""
        raise NotImplementedError

    # -- requests and bookkeeping ---------------------------------------------------------------
    def request(
        self, ref: AccountRef, url: str, handler: Callable[..., Iterator[Any]], **kwargs: Any
    ) -> scrapy.Request:
        """A request for one account; its handler's exceptions fail the account, not the crawl."""
        ref.pending += 1
        meta = {"account_id": ref.id, "handler": handler.__name__, **kwargs.pop("meta", {})}
        return scrapy.Request(url, callback=self._dispatch, errback=self._failed, meta=meta,
                              dont_filter=True, **kwargs)

    def _dispatch(self, response: Response) -> Iterator[Any]:
        ref = self.refs[response.meta["account_id"]]
        ref.pending -= 1
        handler = getattr(self, response.meta["handler"])
        records: list[PostItem | ReplyItem] = []
        done: AccountDone | None = None
        try:
            for output in handler(response, ref):
                if isinstance(output, PostItem | ReplyItem):
                    records.append(output)
                else:
                    yield output
        except (AccountNotFound, AccountSuspended) as exc:
            status = "not_found" if isinstance(exc, AccountNotFound) else "suspended"
            done = self.finish(ref, ok=False, error=type(exc).__name__, reason=str(exc), status=status)
        except (ParseError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            self.crawler.stats.inc_value(f"reach/parse_errors/{self.platform}")
            done = self.finish(ref, ok=False, error="ParseError", reason=f"{exc} ({response.url})")
        if records:
            yield PageItems(records)
        if done is not None:
            ref.failed = True
            yield done
        elif ref.pending == 0 and not ref.failed:
            yield self.finish(ref, ok=True)

    def _failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        ref = self.refs[request.meta["account_id"]]
        ref.pending -= 1
        if ref.failed:
            return
        ref.failed = True
        error, reason, status = self.classify_failure(failure, ref)
        self.crawler.stats.inc_value(f"reach/account_errors/{error}")
        yield self.finish(ref, ok=False, error=error, reason=reason, status=status)

    def classify_failure(self, failure: Failure, ref: AccountRef) -> tuple[str, str, str | None]:
        """(error name, reason, new account status) for a failed request."""
        request = failure.request  # type: ignore[attr-defined]
        if failure.check(IgnoreRequest) and "robots.txt" in str(failure.value):
            return "BlockedByRobotsTxt", f"robots.txt forbids {request.url}", "blocked_by_robots"
        if failure.check(HttpError):
            response = failure.value.response
            status = response.status
            text = response.text[:200] if hasattr(response, "text") else ""
            if status == 429:
                return "RateLimited", f"HTTP 429 from {request.url} after waiting: {text}", None
            return f"HTTP{status}", f"HTTP {status} from {request.url}: {text}".strip(), None
        value = failure.value
        return type(value).__name__, f"{value or type(value).__name__} ({request.url})", None

    def finish(
        self, ref: AccountRef, ok: bool, error: str | None = None, reason: str | None = None,
        status: str | None = None,
    ) -> AccountDone:
        """The account's outcome; a complete, successful crawl allows marking deletions."""
        window = self.window_start if ok and ref.complete else None
        return AccountDone(ref.id, ok, error, reason, status if not ok else "active", window)

    def in_window(self, when: dt.datetime) -> bool:
        return when >= self.window_start
