"""Machinery every platform spider shares: accounts from the roster, bookkeeping, failures.

Platform spiders only build requests and call their pure parsers; this class tracks each
account's outstanding requests and emits one `AccountDone` per account, ok or with its reason.
"""

import datetime as dt
import heapq
import itertools
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
from crawler.middlewares import RateLimitMiddleware, host_of
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


@dataclass(order=True)
class ThreadCandidate:
    """A post whose reply thread could be read tonight, ordered largest comment growth first."""

    priority: tuple[int, int]  # (-growth, arrival): a min-heap then pops the largest growth first
    account_id: int = field(compare=False)
    url: str = field(compare=False)
    handler: str = field(compare=False)
    meta: dict[str, Any] = field(compare=False)


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
        # Requests in flight per host, thread requests left out: a host's thread candidates are
        # released, largest growth first, once its own pages are all read.
        self.busy: Counter[str] = Counter()
        self.candidates: dict[str, list[ThreadCandidate]] = {}
        self.threads_sent: Counter[str] = Counter()
        self._arrival = itertools.count()
        self.started_all = False  # every start request has been yielded

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
        self.started_all = True
        # Hosts whose every answer came back while start requests were still being handed out.
        for output in self.settle(set(self.busy) | set(self.candidates)):
            yield output

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
        return self.group_request([ref], url, handler, secondary, **kwargs)

    def group_request(
        self,
        refs: list[AccountRef],
        url: str,
        handler: Callable[..., Iterator[Any]],
        secondary: str | None = None,
        **kwargs: Any,
    ) -> scrapy.Request:
        """One request on behalf of several accounts (a batch of profiles): its handler runs once
        per account, and a failure is each account's own."""
        for ref in refs:
            ref.pending += 1
        meta = {
            "account_id": refs[0].id,
            "account_ids": [ref.id for ref in refs],
            "handler": handler.__name__,
            "secondary": secondary,
            **kwargs.pop("meta", {}),
        }
        if secondary != "replies":
            meta["busy_host"] = host_of(url)
            self.busy[meta["busy_host"]] += 1
        return scrapy.Request(
            url,
            callback=self._dispatch,
            errback=self._failed,
            meta=meta,
            dont_filter=True,
            **kwargs,
        )

    def _dispatch(self, response: Response) -> Iterator[Any]:
        for account_id in response.meta["account_ids"]:
            yield from self._handle(response, self.refs[account_id])
        # Counted done only after every account's handler ran: their follow-up requests count first.
        if (host := response.meta.get("busy_host")) is not None:
            self.busy[host] -= 1
        yield from self.settle({host_of(response.url)})

    def _handle(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        ref.pending -= 1
        if ref.failed:
            return  # an account of a batch that failed meanwhile
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
        for account_id in request.meta["account_ids"]:
            yield from self._handle_failure(failure, request, self.refs[account_id])
        if (host := request.meta.get("busy_host")) is not None:
            self.busy[host] -= 1
        yield from self.settle({host_of(request.url)})

    def recover(self, failure: Failure, ref: AccountRef) -> list[scrapy.Request] | None:
        """Requests that take the place of a failed one (another way to the same data), or None."""
        return None

    def _handle_failure(
        self, failure: Failure, request: scrapy.Request, ref: AccountRef
    ) -> Iterator[Any]:
        ref.pending -= 1
        if ref.failed:
            return
        if (instead := self.recover(failure, ref)) is not None:
            yield from instead
            if ref.pending == 0:
                yield self.finish(ref, ok=True)
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
    # A thread is read only when its comment count grew since it was last read whole, at most
    # REACH_REPLIES_PER_POST replies, and a host's thread requests never pass
    # REACH_REPLY_REQUESTS_SHARE of its night budget (`thread_cap`). Each host's candidates wait
    # in a heap until its own pages are all read, then go out largest growth first; the rest
    # are deferred: their thread mark is not written, so they are candidates again next night.
    def thread_growth(self, ref: AccountRef, item: PostItem) -> int | None:
        """How many comments a post gained since its thread was last read whole (all of them if
        never read); None when its thread is not to be read (no comments, or none gained: a gone
        thread, 404/410, also waits until its count grows)."""
        if self.settings_.replies_per_post <= 0 or item.kind == "repost" or not item.comments:
            return None
        comments, _gone = ref.threads.get(item.platform_post_id, (None, False))
        if comments is None:
            return item.comments
        if item.comments <= comments:
            self.crawler.stats.inc_value("reach/threads_unchanged")
            return None
        return item.comments - comments

    def thread_request(
        self, ref: AccountRef, item: PostItem, url: str, handler: Callable[..., Iterator[Any]]
    ) -> Iterator[scrapy.Request]:
        """Queue a post's reply thread as a candidate of its host; nothing is sent yet.

        The account stays unfinished (`pending`) until the candidate is sent or deferred.
        """
        growth = self.thread_growth(ref, item)
        if growth is None:
            return iter(())
        ref.pending += 1
        candidate = ThreadCandidate(
            (-growth, next(self._arrival)),
            ref.id,
            url,
            handler.__name__,
            {"post_key": item.platform_post_id, "thread": (item.platform_post_id, item.comments)},
        )
        heapq.heappush(self.candidates.setdefault(host_of(url), []), candidate)
        return iter(())

    def thread_cap(self, host: str) -> int | None:
        """Most thread requests `host` gets tonight: REACH_REPLY_REQUESTS_SHARE of its night budget.

        The night budget is the host's requests per window (its rate-limit headers when seen, else
        the documented REACH_RATE_BUDGETS) times the windows in REACH_NIGHT_HOURS: 300 / 5 min
        over 2 h is 7,200 requests, 3,600 of them threads at the default share of 0.5. A host
        with no known budget (a blog) is not capped.
        """
        middleware = self.rate_limits()
        budget = middleware.budget_of(host, self.platform) if middleware is not None else None
        if budget is None:
            return None
        per_window, window = budget
        night = per_window * self.settings_.night_hours * 3600 / window
        return int(self.settings_.reply_requests_share * night)

    def rate_limits(self) -> RateLimitMiddleware | None:
        """The crawl's pacing middleware (what it learnt of each host's budget), if it runs."""
        if self.crawler.engine is None:  # a spider driven by hand, as unit tests do
            return None
        return self.crawler.get_downloader_middleware(RateLimitMiddleware)

    def host_quiet(self, host: str) -> Iterable[Any]:
        """Requests (or outcomes) a spider held back until `host` has nothing in flight, such as a
        partial batch; thread candidates go out only once this yields no request."""
        return ()

    def settle(self, hosts: set[str]) -> Iterator[Any]:
        """For each quiet host (nothing of its own in flight, every start request out): what was
        held back for it, then its thread candidates."""
        if not self.started_all:
            return
        hosts = hosts | {host for host in self.candidates if self.busy[host] <= 0}
        for host in sorted(hosts):
            if self.busy[host] > 0:
                continue
            yield from self.host_quiet(host)
            if self.busy[host] <= 0 and host in self.candidates:
                yield from self._release_threads(host)

    def _release_threads(self, host: str) -> Iterator[Any]:
        heap = self.candidates.pop(host)
        cap = self.thread_cap(host)
        if cap is not None:
            self.crawler.stats.set_value(f"reach/thread_cap/{host}", cap)
        while heap:
            candidate = heapq.heappop(heap)
            ref = self.refs[candidate.account_id]
            ref.pending -= 1
            if ref.failed:
                continue
            if cap is not None and self.threads_sent[host] >= cap:
                self.crawler.stats.inc_value("reach/threads_deferred")
                if ref.pending == 0:
                    yield self.finish(ref, ok=True)
                continue
            self.threads_sent[host] += 1
            self.crawler.stats.inc_value("reach/thread_requests")
            yield self.request(
                ref,
                candidate.url,
                getattr(self, candidate.handler),
                secondary="replies",
                meta=candidate.meta,
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
