"""Machinery every platform spider shares: accounts from the roster, bookkeeping, failures.

Platform spiders only build requests and call their pure parsers; this class tracks each
account's outstanding requests and emits one `AccountDone` per account, ok or with its reason.
"""

import datetime as dt
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, ResponseDataLossError
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from sqlmodel import Session, col, select
from twisted.python.failure import Failure

from crawler.items import AccountDone, PageItems, PostItem, ReplyItem, ThreadItem
from crawler.parsers.common import ParseError
from models import Account, Ambassador, Post, utcnow
from reach.db import get_engine
from reach.handles import HandleError, parse_account
from reach.settings import get_settings
from reach.shards import account_host


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
    # Per post in the window: (comment count its thread was last read whole at, thread gone).
    threads: dict[str, tuple[int | None, bool]] = field(default_factory=dict)
    pending: int = 0
    failed: bool = False
    complete: bool = True
    state: dict[str, Any] = field(default_factory=dict)
    # Secondary requests that failed: (what, reason) -> how many.
    warnings: Counter[tuple[str, str]] = field(default_factory=Counter)


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


def _body_text(response: Response) -> str:
    try:
        return response.text[:200]
    except (AttributeError, UnicodeDecodeError):
        return ""


def failed_request(failure: Failure) -> scrapy.Request:
    """The request an errback's failure is about: Scrapy sets it on the Failure."""
    request: scrapy.Request = failure.request  # type: ignore[attr-defined]  # Twisted's Failure does not declare it
    return request


def _gone(failure: Failure) -> bool:
    """The platform says the thing is not there: 404/410, or XRPC's 400 `NotFound`."""
    if not isinstance(failure.value, HttpError):
        return False
    response = failure.value.response
    return response.status in (404, 410) or (
        response.status == 400 and b'"NotFound"' in response.body
    )


def short_reason(failure: Failure, maxsize: int = 0) -> str:
    """What went wrong with a request, in a few words and never empty ("HTTP 404", "timed out").

    `maxsize` is the spider's DOWNLOAD_MAXSIZE, for requests that carry no cap of their own.
    """
    value = failure.value
    assert value is not None  # an errback's failure always carries its exception
    if isinstance(value, HttpError):
        return f"HTTP {value.response.status}"
    if isinstance(value, DownloadCancelledError):
        # Scrapy cancels a download only when its body goes over DOWNLOAD_MAXSIZE.
        limit = failed_request(failure).meta.get("download_maxsize", maxsize)
        return f"response larger than {limit / 2**20:g} MB"
    if isinstance(value, ResponseDataLossError):
        return "the response was cut short (fewer bytes than its Content-Length)"
    if isinstance(value, IgnoreRequest):
        return str(value) or "request ignored"
    inner = _innermost(value)
    if type(inner).__module__.split(".")[0] in ("OpenSSL", "service_identity"):
        return f"TLS certificate not accepted: {type(inner).__name__}: {inner}"
    text = str(value).strip()
    return f"{type(value).__name__}: {text}" if text else type(value).__name__


def _innermost(value: BaseException) -> BaseException:
    """The error under Scrapy's and Twisted's wrappers (a DownloadFailedError's ResponseFailed's reasons)."""
    for _ in range(5):
        reasons = getattr(value, "reasons", None)
        if reasons:
            value = getattr(reasons[0], "value", reasons[0])
        elif value.__cause__ is not None:
            value = value.__cause__
        else:
            break
    return value


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
        hosts: str = "",
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
        # -a hosts=h1,h2: only the accounts whose requests go to these hosts (a nightly shard's).
        self.hosts = {h.lower() for h in (hosts or "").split(",") if h}
        self.refs: dict[int, AccountRef] = {}

    # -- accounts -------------------------------------------------------------------------------
    def load_accounts(self, session: Session) -> list[AccountRef]:
        """Active accounts of active ambassadors on this platform, narrowed by -a options."""
        query = (
            select(Account)
            .join(Ambassador, col(Ambassador.id) == Account.ambassador_id)
            .where(Account.platform == self.platform, col(Ambassador.active).is_(True))
            .order_by(col(Account.id))
        )
        if self.slugs:
            known = set(
                session.exec(
                    select(Ambassador.slug).where(col(Ambassador.slug).in_(self.slugs))
                ).all()
            )
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
            missing = sorted(
                text for key, text in keys.items() if key not in {a.key for a in accounts}
            )
            if missing:
                raise UnknownAccounts(
                    f"not in the roster for {self.platform}: {', '.join(missing)}"
                )
        if self.hosts:
            appview = self.settings_.bluesky_appview_url
            accounts = [
                a
                for a in accounts
                if account_host(self.platform, a.base_url, appview) in self.hosts
            ]
        refs = []
        for a in accounts:
            assert a.id is not None  # rows read from the database have their primary key
            if a.id % self.shards == self.shard:
                refs.append(AccountRef(a.id, a.key, a.handle, a.base_url, a.platform_id))
        self._load_threads(session, refs)
        return refs

    def _load_threads(self, session: Session, refs: list[AccountRef]) -> None:
        """What each post's reply thread was last read at, per account (threads never read are absent).

        Read from what finished reads wrote with their replies, never from a snapshot's comment
        count: an interrupted run stored counts whose replies it never wrote.
        """
        by_id = {ref.id: ref for ref in refs}
        if not by_id:
            return
        rows = session.exec(
            select(
                Post.account_id, Post.platform_post_id, Post.thread_comments, Post.thread_gone
            ).where(
                col(Post.account_id).in_(list(by_id)),
                Post.published_at >= self.window_start,
                col(Post.thread_comments).is_not(None),
            )
        ).all()
        for account_id, key, comments, gone in rows:
            by_id[account_id].threads[key] = (comments, gone)

    async def start(self) -> AsyncIterator[Any]:
        """One start request (or several) per account."""
        with Session(get_engine()) as session:
            refs = self.load_accounts(session)
        self.accounts_loaded = True  # a crawl that could not even read its accounts has failed
        self.crawler.stats.set_value("reach/accounts", len(refs))
        self.logger.info(
            "crawling %d %s account(s), lookback %d days",
            len(refs),
            self.platform,
            self.lookback_days,
        )
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
        self,
        ref: AccountRef,
        url: str,
        handler: Callable[..., Iterator[Any]],
        secondary: str | None = None,
        **kwargs: Any,
    ) -> scrapy.Request:
        """A request for one account; its handler's exceptions fail the account, not the crawl.

        A `secondary` request ("replies", "item page") is not what the account exists for: when it
        fails, the account records a warning under that name and stays ok.
        """
        ref.pending += 1
        meta = {
            "account_id": ref.id,
            "handler": handler.__name__,
            "secondary": secondary,
            **kwargs.pop("meta", {}),
        }
        return scrapy.Request(
            url,
            callback=self._dispatch,
            errback=self._failed,
            meta=meta,
            dont_filter=True,
            **kwargs,
        )

    def _dispatch(self, response: Response) -> Iterator[Any]:
        ref = self.refs[response.meta["account_id"]]
        ref.pending -= 1
        handler = getattr(self, response.meta["handler"])
        records: list[PostItem | ReplyItem | ThreadItem] = []
        requests: list[Any] = []
        done: AccountDone | None = None
        try:
            for output in handler(response, ref):
                if isinstance(output, PostItem | ReplyItem | ThreadItem):
                    records.append(output)
                else:
                    requests.append(output)
        except (AccountNotFound, AccountSuspended) as exc:
            status = "not_found" if isinstance(exc, AccountNotFound) else "suspended"
            done = self.finish(
                ref, ok=False, error=type(exc).__name__, reason=str(exc), status=status
            )
        except (ParseError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            self.crawler.stats.inc_value(f"reach/parse_errors/{self.platform}")
            if response.meta["secondary"]:
                assert response.request is not None  # a callback's response knows its request
                records = self._secondary_failed(
                    ref, response.request, f"unreadable answer: {exc}", gone=False
                )
            else:
                done = self.finish(
                    ref, ok=False, error="ParseError", reason=f"{exc} ({response.url})"
                )
        # A page's posts reach the writer before the requests for their threads are even
        # scheduled: a thread's replies must never arrive before the post they belong to.
        if records:
            yield PageItems(records)
        yield from requests
        if done is not None:
            ref.failed = True
            yield done
        elif ref.pending == 0 and not ref.failed:
            yield self.finish(ref, ok=True)

    def _failed(self, failure: Failure) -> Iterator[Any]:
        request = failed_request(failure)
        ref = self.refs[request.meta["account_id"]]
        ref.pending -= 1
        if ref.failed:
            return
        if request.meta["secondary"]:
            records = self._secondary_failed(
                ref, request, self.short_reason(failure), gone=_gone(failure)
            )
            if records:
                yield PageItems(records)
            if ref.pending == 0:
                yield self.finish(ref, ok=True)
            return
        ref.failed = True
        error, reason, status = self.classify_failure(failure, ref)
        self.crawler.stats.inc_value(f"reach/account_errors/{error}")
        yield self.finish(ref, ok=False, error=error, reason=reason, status=status)

    def _secondary_failed(
        self, ref: AccountRef, request: scrapy.Request, reason: str, gone: bool
    ) -> list[PostItem | ReplyItem | ThreadItem]:
        """Record the warning; what the account still stores (the post whose item page failed, the
        gone thread) is returned."""
        what = request.meta["secondary"]
        ref.warnings[(what, reason)] += 1
        self.crawler.stats.inc_value(f"reach/warnings/{what}")
        records: list[PostItem | ReplyItem | ThreadItem] = []
        if (fallback := request.meta.get("fallback")) is not None:
            records.append(fallback)  # e.g. the feed's own counts when the item page is unavailable
        thread = request.meta.get("thread")
        if thread is not None and gone:
            records.append(ThreadItem(ref.id, self.platform, thread[0], thread[1], gone=True))
        return records

    # -- reply threads --------------------------------------------------------------------------
    def thread_wanted(self, ref: AccountRef, item: PostItem) -> bool:
        """Read a post's replies when it has comments and their count changed since its thread was
        last read whole; a gone thread (404/410) waits until its count grows."""
        if self.settings_.replies_per_post <= 0 or item.kind == "repost" or not item.comments:
            return False
        last = ref.threads.get(item.platform_post_id)
        if last is None:
            return True
        comments, gone = last
        if comments is None:
            return True
        if item.comments == comments or (gone and item.comments < comments):
            self.crawler.stats.inc_value("reach/threads_unchanged")
            return False
        return True

    def thread_request(
        self, ref: AccountRef, item: PostItem, url: str, handler: Callable[..., Iterator[Any]]
    ) -> Iterator[scrapy.Request]:
        """The request for a post's reply thread, when `thread_wanted`."""
        if self.thread_wanted(ref, item):
            yield self.request(
                ref,
                url,
                handler,
                secondary="replies",
                meta={
                    "post_key": item.platform_post_id,
                    "thread": (item.platform_post_id, item.comments),
                },
            )

    def thread_read(self, response: Response, ref: AccountRef) -> ThreadItem:
        """The mark that the thread of `response`'s post was read whole at its comment count."""
        key, comments = response.meta["thread"]
        return ThreadItem(ref.id, self.platform, key, comments)

    def classify_failure(self, failure: Failure, ref: AccountRef) -> tuple[str, str, str | None]:
        """(error name, reason, new account status) for a failed request."""
        request = failed_request(failure)
        if isinstance(failure.value, IgnoreRequest) and "robots.txt" in str(failure.value):
            return "BlockedByRobotsTxt", f"robots.txt forbids {request.url}", "blocked_by_robots"
        if isinstance(failure.value, HttpError):
            response = failure.value.response
            status = response.status
            text = _body_text(response)
            if status == 429:
                return (
                    "RateLimited",
                    f"HTTP 429 from {request.url} after waiting: {text}".strip(),
                    None,
                )
            if status == 401:
                # Instances with DISALLOW_UNAUTHENTICATED_API_ACCESS (or limited federation mode).
                return (
                    "RequiresAuth",
                    f"HTTP 401 from {request.url}: {text}".strip(),
                    "requires_auth",
                )
            return f"HTTP{status}", f"HTTP {status} from {request.url}: {text}".strip(), None
        return type(failure.value).__name__, f"{self.short_reason(failure)} ({request.url})", None

    def short_reason(self, failure: Failure) -> str:
        return short_reason(failure, self.settings.getint("DOWNLOAD_MAXSIZE"))

    def finish(
        self,
        ref: AccountRef,
        ok: bool,
        error: str | None = None,
        reason: str | None = None,
        status: str | None = None,
    ) -> AccountDone:
        """The account's outcome; a complete, successful crawl allows marking deletions."""
        window = self.window_start if ok and ref.complete else None
        warnings = [
            {"what": what, "reason": why, "count": count}
            for (what, why), count in sorted(ref.warnings.items())
        ]
        return AccountDone(
            ref.id, ok, error, reason, status if not ok else "active", window, warnings
        )

    def in_window(self, when: dt.datetime) -> bool:
        return when >= self.window_start
