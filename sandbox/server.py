"""The sandbox HTTP server: routing, rate limits, fault switches and stats, on twisted.web (127.0.0.1 only)."""

from __future__ import annotations

import ipaddress
import json
import re
import resource
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any, Protocol, cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPullProducer
from twisted.internet.protocol import ServerFactory
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from zope.interface import implementer  # type: ignore[import-untyped]  # ships no type information

from sandbox import blogs, bluesky, mastodon, truth
from sandbox.common import Answer, Ctx, matches

# Documented public budgets: Mastodon 300 requests / 5 min per IP (docs "Rate limits");
# Bluesky AppView 3000 / 5 min per IP (atproto "Rate Limits" page).
DEFAULT_BUDGETS = {"mastodon": 300, "bluesky": 3000}
DEFAULT_WINDOW = 300.0
# Conditional request headers (RFC 9110 section 13) a handler may answer 304 to: in its context
# and in the cache key, so a cached 200 is never sent for a request that matches.
CONDITIONAL_HEADERS = ("if-none-match", "if-modified-since")
# Mastodon's rack-attack `throttle_unauthenticated_paging`: requests with `max_id`, `min_id`,
# `since_id` or `page` also count against 300 / 15 min per IP.
PAGING_BUDGET = 300
PAGING_WINDOW = 900.0
_PAGING_ARGS = (b"max_id", b"min_id", b"since_id", b"page")
# Open files a sandbox keeps free beyond one listening socket per host: connections in flight
# and the ones a crawler keeps alive between requests.
FD_HEADROOM = 512
ACCOUNT_FAULTS = (
    "malformed_json",
    "truncated",
    "missing_fields",
    "repeat_cursor",
    "not_found",
    "suspended",
    "gone_threads",
    "item_page_error",
    "huge_body",
)
COUNTER_FAULTS = ("storm_429", "error_5xx")
# Answers kept for identical requests, by encoded size: the crawl benchmark's 1,000 accounts
# (about 8,000 distinct pages, ~130 MB) fit, so repeated crawls measure the crawler rather than
# the fake platform re-rendering pages a real one would serve from its own caches.
CACHE_BYTES = 384 * 2**20
FAULT_NAMES = (
    ACCOUNT_FAULTS
    + COUNTER_FAULTS
    + (
        "rate_limit",
        "rate_window",
        "paging_limit",
        "slow",
        "timeout",
        "robots_disallow",
        "gone_status",
        "requires_auth",
        "huge_body_mb",
    )
)
# Size of a `huge_body` answer unless `huge_body_mb` says otherwise; streamed, never held whole.
HUGE_BODY_MB = 20.0
_PAD_CHUNK = b" " * 2**16
# Thread endpoints that `gone_threads` answers as a deleted post does, and blog item pages.
_THREADS = ("/api/v1/statuses/:id/context", "/xrpc/app.bsky.feed.getPostThread")
_ITEM_PAGE = "/blogs/:name/:yyyy/:mm/:slug/"

Handler = Callable[..., Answer]
ROUTES: list[tuple[str, str, re.Pattern[str], Handler]] = [
    # (platform, stats pattern, path regex, handler taking ctx and the regex groups)
    (
        "mastodon",
        "/api/v1/accounts/lookup",
        re.compile(r"/api/v1/accounts/lookup/?"),
        mastodon.lookup,
    ),
    ("mastodon", "/api/v1/accounts", re.compile(r"/api/v1/accounts/?"), mastodon.accounts),
    (
        "mastodon",
        "/api/v1/accounts/:id/statuses",
        re.compile(r"/api/v1/accounts/([^/]+)/statuses/?"),
        mastodon.statuses,
    ),
    (
        "mastodon",
        "/api/v1/accounts/:id",
        re.compile(r"/api/v1/accounts/([^/]+)/?"),
        mastodon.account,
    ),
    (
        "mastodon",
        "/api/v1/statuses/:id/context",
        re.compile(r"/api/v1/statuses/([^/]+)/context/?"),
        mastodon.context,
    ),
    (
        "mastodon",
        "/api/v1/statuses/:id",
        re.compile(r"/api/v1/statuses/([^/]+)/?"),
        mastodon.status,
    ),
    (
        "bluesky",
        "/xrpc/com.atproto.identity.resolveHandle",
        re.compile(r"/xrpc/com\.atproto\.identity\.resolveHandle"),
        bluesky.resolve_handle,
    ),
    (
        "bluesky",
        "/xrpc/app.bsky.actor.getProfile",
        re.compile(r"/xrpc/app\.bsky\.actor\.getProfile"),
        bluesky.get_profile,
    ),
    (
        "bluesky",
        "/xrpc/app.bsky.actor.getProfiles",
        re.compile(r"/xrpc/app\.bsky\.actor\.getProfiles"),
        bluesky.get_profiles,
    ),
    (
        "bluesky",
        "/xrpc/app.bsky.feed.getPosts",
        re.compile(r"/xrpc/app\.bsky\.feed\.getPosts"),
        bluesky.get_posts,
    ),
    (
        "bluesky",
        "/xrpc/app.bsky.feed.getAuthorFeed",
        re.compile(r"/xrpc/app\.bsky\.feed\.getAuthorFeed"),
        bluesky.get_author_feed,
    ),
    (
        "bluesky",
        "/xrpc/app.bsky.feed.getPostThread",
        re.compile(r"/xrpc/app\.bsky\.feed\.getPostThread"),
        bluesky.get_post_thread,
    ),
    ("blog", "/blogs/:name/feed/atom/", re.compile(r"/blogs/([^/]+)/feed/atom/?"), blogs.atom),
    ("blog", "/blogs/:name/feed/", re.compile(r"/blogs/([^/]+)/feed/?"), blogs.rss),
    (
        "blog",
        "/blogs/:name/:yyyy/:mm/:slug/",
        re.compile(r"/blogs/([^/]+)/(\d{4})/(\d{2})/([^/]+)/?"),
        blogs.item,
    ),
    ("blog", "/blogs/:name/", re.compile(r"/blogs/([^/]+)/?"), blogs.home),
]

_TOO_MANY = {
    "mastodon": {"error": "Too many requests"},
    "bluesky": {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
}
_UNAVAILABLE = {
    "mastodon": {"error": "There was a temporary problem serving your request, please try again"},
    "bluesky": {"error": "InternalServerError", "message": "Internal Server Error"},
}


@dataclass
class HostStats:
    """One platform host's own counts. A host is a listening address:port, as a crawler's netloc is."""

    requests: Counter[str] = field(default_factory=Counter)
    sent_429: int = 0
    paging: int = 0  # requests let through that counted against Mastodon's paging budget too
    concurrent_now: int = 0  # requests arrived and not yet finished (a slow answer counts)
    max_concurrent: int = 0
    first_at: float | None = None  # epoch seconds of the first arrival and the last finish
    last_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The host's entry in /_sandbox/stats."""
        return {
            "requests": dict(self.requests),
            "sent_429": self.sent_429,
            "paging": self.paging,
            "max_concurrent": self.max_concurrent,
            "concurrent_now": self.concurrent_now,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


@dataclass
class State:
    """Mutable sandbox state: clock, scale, faults, rate-limit windows and stats."""

    day: int = 0
    today: date = field(default_factory=truth.sandbox_today)  # the calendar date `day` counts from
    initial_today: date | None = (
        None  # the date given at start, restored by POST /_sandbox/date {"date": null}
    )
    scale: float = truth.DEFAULT_POSTS_PER_DAY
    faults: dict[str, Any] = field(default_factory=dict)
    initial_faults: dict[str, Any] = field(default_factory=dict)
    # (host, budget name) -> (window start, used): the budgets are per IP address and per host.
    windows: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    hosts: dict[str, HostStats] = field(default_factory=dict)  # "127.0.0.2:PORT" -> its counts
    time_scale: float = 1.0  # every budget window is divided by it
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    sent_429: int = 0
    version: int = 0  # bumped when faults or the day change: the response cache keys on it

    @property
    def now(self) -> datetime:
        """The sandbox clock (fixed for the life of the process, moved by `day` and `today`)."""
        return truth.sandbox_now(self.day, self.today)

    def accounts(self, fault: str) -> set[str]:
        """Accounts a per-account fault names."""
        value = self.faults.get(fault)
        if value is None:
            return set()
        return {str(v).lower() for v in (value if isinstance(value, list) else [value])}

    def set_fault(self, name: str, value: Any) -> None:
        """Switch a fault on (value) or off (None / false)."""
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        self.version += 1
        if value is None or value is False:
            self.faults.pop(name, None)
            return
        if name in ACCOUNT_FAULTS:
            value = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        elif name in COUNTER_FAULTS or name == "gone_status":
            value = int(value)
        elif name == "requires_auth":
            value = str(value).lower() not in ("false", "0", "off", "no")
        elif name in ("slow", "rate_window", "huge_body_mb"):
            value = float(value)
        elif name in ("rate_limit", "paging_limit"):
            value = "off" if str(value).lower() in ("off", "none", "0") else int(value)
        self.faults[name] = value

    def reset(self) -> None:
        """Back to the faults given at start; counters and rate windows zeroed."""
        self.faults = {
            k: (list(v) if isinstance(v, list) else v) for k, v in self.initial_faults.items()
        }
        self.version += 1
        self.windows.clear()
        self.requests.clear()
        self.statuses.clear()
        self.sent_429 = 0
        for host in self.hosts.values():  # requests still in flight stay counted
            host.requests.clear()
            host.sent_429 = 0
            host.paging = 0
            host.max_concurrent = host.concurrent_now
            host.first_at = host.last_at = None

    def host(self, key: str) -> HostStats:
        """The counts of one host (created on first use)."""
        found = self.hosts.get(key)
        if found is None:
            found = self.hosts[key] = HostStats()
        return found


# Typed views of the Twisted objects the sandbox calls. twisted.web's Request is unannotated, and
# the reactor is typed through zope Interfaces, whose methods mypy (with no zope plugin) cannot call.
class _Transport(Protocol):
    def loseConnection(self) -> None: ...


class _Channel(Protocol):
    transport: _Transport | None


class _Request(Protocol):
    path: bytes
    method: bytes
    uri: bytes
    args: dict[bytes, list[bytes]]
    content: IO[bytes] | None
    channel: _Channel
    _disconnected: bool

    def getHeader(self, key: str) -> str | None: ...
    def getHost(self) -> IPv4Address | IPv6Address: ...
    def setHeader(self, name: str, value: str) -> None: ...
    def setResponseCode(self, code: int) -> None: ...
    def notifyFinish(self) -> Deferred[None]: ...
    def registerProducer(self, producer: object, streaming: bool) -> None: ...
    def unregisterProducer(self) -> None: ...
    def write(self, data: bytes) -> None: ...
    def finish(self) -> None: ...


class _ListeningPort(Protocol):
    def getHost(self) -> IPv4Address: ...


class _Reactor(Protocol):
    def listenTCP(
        self, port: int, factory: ServerFactory[Any], backlog: int = 50, interface: str = ""
    ) -> _ListeningPort: ...
    def callLater(self, delay: float, callable: Callable[[], None]) -> object: ...
    def run(self) -> None: ...


def parse_fault(spec: str) -> tuple[str, Any]:
    """`name=arg` or `name` (from --fault) into a (name, value) pair."""
    name, _, arg = spec.partition("=")
    return name.strip(), (arg.strip() if arg else True)


class SandboxResource(Resource):
    """Every request lands here: one leaf resource routes all three platforms."""

    isLeaf = True

    def __init__(self, state: State) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Twisted's Resource.__init__ is unannotated
        self.state = state
        self.cache: OrderedDict[tuple[Any, ...], Answer] = OrderedDict()
        self.cache_bytes = 0

    def render(self, request: _Request) -> bytes | int:
        """Dispatch one request."""
        path = request.path.decode("utf-8", "replace")
        method = request.method.decode()
        request.setHeader("X-Sandbox-Time-Scale", f"{self.state.time_scale:g}")
        if path.startswith("/_sandbox/"):
            return self._control(request, method, path)
        host = self._arrive(request)
        if path == "/robots.txt":
            self.state.requests["/robots.txt"] += 1
            host.requests["/robots.txt"] += 1
            return self._send(
                request, Answer(200, self._robots(), content_type="text/plain; charset=utf-8")
            )
        for platform, pattern, regex, handler in ROUTES:  # noqa: B007 - the match is used after the loop
            m = regex.fullmatch(path)
            if m:
                break
        else:
            self.state.requests["(unrouted)"] += 1
            host.requests["(unrouted)"] += 1
            if path.startswith("/xrpc/"):
                return self._send(
                    request,
                    Answer(
                        501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}
                    ),
                )
            return self._send(request, Answer(404, {"error": "Record not found"}))
        self.state.requests[pattern] += 1
        host.requests[pattern] += 1
        early = self._gate(request, platform)
        if early is None and platform == "mastodon" and self.state.faults.get("requires_auth"):
            # DISALLOW_UNAUTHENTICATED_API_ACCESS or limited federation mode (Mastodon's docs).
            early = Answer(401, {"error": "This method requires an authenticated user"})
        if early is not None:
            return self._send(request, early)
        # Identical requests under identical faults get identical bodies: serve them from memory.
        key = (
            request.uri,
            request.getHeader("host"),
            *(request.getHeader(name) for name in CONDITIONAL_HEADERS),
            self.state.version,
        )
        answer = self.cache.get(key)
        if answer is None:
            answer = handler(self._ctx(request), *m.groups())
            if answer.status == 200:
                answer.body = _encode(answer.body)
                self.cache[key] = answer
                self.cache_bytes += len(answer.body)
                while self.cache_bytes > CACHE_BYTES:
                    self.cache_bytes -= len(self.cache.popitem(last=False)[1].body)
        else:
            self.cache.move_to_end(key)
        answer = self._gone(pattern, answer)
        self._rate_headers(request, platform)
        timeout = self.state.faults.get("timeout")
        if timeout and (
            path.startswith(str(timeout))
            if str(timeout).startswith("/")
            else answer.account is not None and matches(answer.account, {str(timeout).lower()})
        ):
            request.notifyFinish().addErrback(lambda _: None)
            return NOT_DONE_YET  # never answered: the client's timeout has to fire
        return self._send(request, answer)

    def _arrive(self, request: _Request) -> HostStats:
        """Count a request in flight on its host from now until it is finished or dropped."""
        host = self.state.host(_host_key(request))
        host.concurrent_now += 1
        host.max_concurrent = max(host.max_concurrent, host.concurrent_now)
        if host.first_at is None:
            host.first_at = time.time()

        def done(_: object) -> None:
            host.concurrent_now -= 1
            host.last_at = time.time()

        request.notifyFinish().addBoth(done)
        return host

    def _gone(self, pattern: str, answer: Answer) -> Answer:
        """The per-account faults that replace a thread or an item page after it was built."""
        account = answer.account
        if account is None or answer.status != 200:
            return answer
        if pattern in _THREADS and matches(account, self.state.accounts("gone_threads")):
            if pattern.startswith("/xrpc/"):  # the AppView answers a deleted post's thread so
                return Answer(
                    400, {"error": "NotFound", "message": "Post not found"}, account=account
                )
            return Answer(
                int(self.state.faults.get("gone_status") or 404),
                {"error": "Record not found"},
                account=account,
            )
        if pattern == _ITEM_PAGE and matches(account, self.state.accounts("item_page_error")):
            return Answer(
                503,
                "<h1>Service Unavailable</h1>",
                content_type="text/html; charset=utf-8",
                account=account,
            )
        return answer

    # --- gates: injected errors and rate limits ----------------------------------------------

    def _gate(self, request: _Request, platform: str) -> Answer | None:
        """Injected 429/503 and the per-platform budget, before any work is done."""
        st = self.state
        if st.faults.get("storm_429", 0) > 0 or st.faults.get("error_5xx", 0) > 0:
            self._rate_headers(request, platform)
        if st.faults.get("storm_429", 0) > 0:
            st.faults["storm_429"] -= 1
            st.sent_429 += 1
            st.host(_host_key(request)).sent_429 += 1
            return Answer(
                429,
                _TOO_MANY.get(platform, "Too Many Requests"),
                {"Retry-After": "1"},
                content_type=_ctype(platform),
            )
        if st.faults.get("error_5xx", 0) > 0:
            st.faults["error_5xx"] -= 1
            return Answer(
                503,
                _UNAVAILABLE.get(platform, "<h1>Service Unavailable</h1>"),
                {"Retry-After": "1"},
                content_type=_ctype(platform),
            )
        host = _host_key(request)
        budgets = self._budgets(request, platform)
        for name, budget, window in budgets:
            start, used = self._window(host, name, window)
            if used >= budget:
                st.sent_429 += 1
                st.host(host).sent_429 += 1
                self._rate_headers(request, platform)
                reset_in = max(1, int(start + window - time.time() + 0.999))
                headers = {"Retry-After": str(reset_in)} if platform == "bluesky" else {}
                return Answer(429, _TOO_MANY[platform], headers)
        for name, _budget, window in budgets:
            start, used = self._window(host, name, window)
            st.windows[(host, name)] = (start, used + 1)
            if name == "mastodon-paging":
                st.host(host).paging += 1
        return None

    def _budgets(self, request: _Request, platform: str) -> list[tuple[str, int, float]]:
        """The budgets a request counts against: (name, requests allowed, window seconds)."""
        budget = self._budget(platform)
        if budget is None:
            return []
        out = [(platform, budget, self._window_seconds())]
        if platform == "mastodon" and any(request.args.get(a) for a in _PAGING_ARGS):
            paging = self.state.faults.get("paging_limit")
            # A `rate_limit` fault (tests of pacing) sets one budget, as before: the paging
            # budget then applies only when `paging_limit` names its own.
            if paging is None and "rate_limit" not in self.state.faults:
                paging = PAGING_BUDGET
            if paging is not None and paging != "off":
                out.append(("mastodon-paging", int(paging), self._paging_window_seconds()))
        return out

    def _budget(self, platform: str) -> int | None:
        """Requests allowed per window for a platform, or None when unlimited."""
        if platform not in DEFAULT_BUDGETS:
            return None  # blogs (WordPress) publish no rate limit
        limit = self.state.faults.get("rate_limit")
        if limit == "off":
            return None
        return int(limit) if limit else DEFAULT_BUDGETS[platform]

    def _window_seconds(self) -> float:
        """Length of a rate-limit window, compressed by the time scale."""
        return float(self.state.faults.get("rate_window") or DEFAULT_WINDOW) / self.state.time_scale

    def _paging_window_seconds(self) -> float:
        """Mastodon's paging window: three times the main one (15 min against 5), compressed."""
        window = self.state.faults.get("rate_window")
        return (3 * float(window) if window else PAGING_WINDOW) / self.state.time_scale

    def _window(self, host: str, name: str, window: float) -> tuple[float, int]:
        """A host's current fixed window (start, used), opening a new one when the old has passed.

        Windows are aligned on the epoch, as rack-attack's are (period boundaries at now // period).
        """
        start, used = self.state.windows.get((host, name), (0.0, 0))
        now = time.time()
        if now - start >= window:
            start, used = now - (now % window), 0
            self.state.windows[(host, name)] = (start, used)
        return start, used

    def _rate_headers(self, request: _Request, platform: str) -> None:
        """Rate-limit headers in each platform's own dialect, on every API answer.

        They describe the budget with the fewest requests left (for a Mastodon paging request,
        often the 15-minute one), in compressed time when a time scale is set.
        """
        host = _host_key(request)
        windows = []
        for name, budget, window in self._budgets(request, platform):
            start, used = self._window(host, name, window)
            windows.append((max(0, budget - used), budget, start + window, window))
        if not windows:
            return
        remaining, budget, reset, window = min(windows)
        if platform == "mastodon":
            request.setHeader("X-RateLimit-Limit", str(budget))
            request.setHeader("X-RateLimit-Remaining", str(remaining))
            request.setHeader(
                "X-RateLimit-Reset",
                datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            )
        else:
            request.setHeader("RateLimit-Limit", str(budget))
            request.setHeader("RateLimit-Remaining", str(remaining))
            request.setHeader("RateLimit-Reset", str(int(reset)))
            request.setHeader("RateLimit-Policy", f"{budget};w={window:g}")

    # --- answering ----------------------------------------------------------------------------

    def _ctx(self, request: _Request) -> Ctx:
        """Request context for a platform handler."""
        host = request.getHeader("host") or f"127.0.0.1:{request.getHost().port}"
        args = {
            k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace")
            for k, v in request.args.items()
            if v
        }
        st = self.state
        return Ctx(
            base=f"http://{host}",
            now=st.now,
            scale=st.scale,
            args=args,
            missing_fields=st.accounts("missing_fields"),
            repeat_cursor=st.accounts("repeat_cursor"),
            not_found=st.accounts("not_found"),
            suspended=st.accounts("suspended"),
            multi={
                k.decode("utf-8", "replace"): [x.decode("utf-8", "replace") for x in v]
                for k, v in request.args.items()
            },
            headers={
                name: value
                for name in CONDITIONAL_HEADERS
                if (value := request.getHeader(name)) is not None
            },
            altered=st.accounts("malformed_json") | st.accounts("truncated"),
        )

    def _send(self, request: _Request, answer: Answer) -> bytes | int:
        """Encode and send, applying the body faults (malformed, truncated) and the slow switch."""
        st = self.state
        data = _encode(answer.body)
        account = answer.account
        truncated = account is not None and matches(account, st.accounts("truncated"))
        if (
            account is not None
            and matches(account, st.accounts("malformed_json"))
            and answer.status == 200
        ):
            data = data[: max(1, len(data) // 2)] + b'",,}\x00{'  # no parser accepts this
        st.statuses[str(answer.status)] += 1
        request.setResponseCode(answer.status)
        request.setHeader("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            request.setHeader(name, value)
        if answer.status == 200 and self._huge(request, account):
            # No Content-Length (chunked, as a streaming API or a generated feed sends it): the
            # client only learns the size by reading. Trailing whitespace keeps JSON and XML valid.
            size = max(len(data), int(float(st.faults.get("huge_body_mb") or HUGE_BODY_MB) * 2**20))
            request.notifyFinish().addErrback(lambda _: None)
            request.registerProducer(_Padded(request, data, size), False)
            return NOT_DONE_YET
        request.setHeader("Content-Length", str(len(data)))
        slow = float(st.faults.get("slow") or 0)
        if not truncated and not slow:
            return data if request.method != b"HEAD" else b""

        def finish() -> None:
            if request._disconnected:
                return
            if truncated:
                # Promise the whole body, send half and hang up: the client sees a short read.
                request.write(data[: len(data) // 2])
                transport = request.channel.transport
                assert transport is not None  # still connected: `_disconnected` was checked above
                transport.loseConnection()
                return
            request.write(data)
            request.finish()

        request.notifyFinish().addErrback(lambda _: None)
        if slow:
            from twisted.internet import reactor  # imported late: importing it installs a reactor

            cast(_Reactor, reactor).callLater(slow, finish)
        else:
            finish()
        return NOT_DONE_YET

    def _huge(self, request: _Request, account: str | None) -> bool:
        """`huge_body` names the answer's account, or a path prefix (e.g. a blog's item pages)."""
        names = self.state.accounts("huge_body")
        path = request.path.decode("utf-8", "replace").lower()
        return bool(names) and (
            (account is not None and matches(account, names))
            or any(n.startswith("/") and path.startswith(n) for n in names)
        )

    def _robots(self) -> str:
        """robots.txt: everything allowed unless the robots_disallow fault names prefixes."""
        prefixes = self.state.faults.get("robots_disallow")
        lines = ["User-agent: *"]
        if prefixes:
            for prefix in prefixes if isinstance(prefixes, list) else [prefixes]:
                lines.append(f"Disallow: {prefix}")
        else:
            lines.append("Disallow:")
        return "\n".join(lines) + "\n"

    # --- control API --------------------------------------------------------------------------

    def _control(self, request: _Request, method: str, path: str) -> bytes:
        """/_sandbox/{health,stats,faults,reset,day,date}: test hooks, never rate limited or faulted."""
        st = self.state
        request.setHeader("Content-Type", "application/json")
        payload: Any = None
        if method == "POST":
            raw = request.content.read() if request.content else b""
            try:
                payload = json.loads(raw or b"{}")
            except json.JSONDecodeError as exc:
                request.setResponseCode(400)
                return json.dumps({"error": f"bad JSON: {exc}"}).encode()
        if path == "/_sandbox/health":
            out: Any = {
                "ok": True,
                "date": st.today.isoformat(),
                "day": st.day,
                "now": st.now.isoformat(),
                "scale": st.scale,
            }
        elif path == "/_sandbox/stats":
            out = {
                "requests": dict(st.requests),
                "statuses": dict(st.statuses),
                "sent_429": st.sent_429,
                "total": sum(st.requests.values()),
                "time_scale": st.time_scale,
                "hosts": {key: host.as_json() for key, host in st.hosts.items()},
            }
        elif path == "/_sandbox/faults" and method == "POST":
            try:
                for name, value in (payload or {}).items():
                    if name == "robots_disallow" and value is not None:
                        st.faults[name] = value if isinstance(value, list) else [value]
                        st.version += 1
                    else:
                        st.set_fault(name, value)
            except (ValueError, TypeError) as exc:
                request.setResponseCode(400)
                return json.dumps({"error": str(exc)}).encode()
            out = {"faults": st.faults}
        elif path == "/_sandbox/faults":
            out = {"faults": st.faults, "known": list(FAULT_NAMES)}
        elif path == "/_sandbox/reset" and method == "POST":
            st.reset()
            out = {"faults": st.faults}
        elif path == "/_sandbox/day" and method == "POST":
            st.day = int((payload or {}).get("day", st.day))
            st.version += 1
            out = {"day": st.day, "now": st.now.isoformat()}
        elif path == "/_sandbox/date" and method == "POST":
            # The calendar date the sandbox's day counts from; null goes back to the one given at start.
            value = (payload or {}).get("date")
            try:
                st.today = (
                    truth.parse_date(str(value), "date")
                    if value is not None
                    else (st.initial_today or truth.sandbox_today())
                )
            except ValueError as exc:
                request.setResponseCode(400)
                return json.dumps({"error": str(exc)}).encode()
            st.version += 1
            out = {"date": st.today.isoformat(), "day": st.day, "now": st.now.isoformat()}
        else:
            request.setResponseCode(404)
            out = {"error": "unknown control endpoint"}
        return json.dumps(out, default=str).encode()


@implementer(IPullProducer)
class _Padded:
    """Sends `data` then whitespace up to `size` bytes, one chunk each time the connection asks
    for more: a 50 MB answer costs the sandbox 64 KB, and stops when the client hangs up."""

    def __init__(self, request: _Request, data: bytes, size: int) -> None:
        self.request, self.data, self.left = request, data, size - len(data)

    def resumeProducing(self) -> None:
        if self.data:
            self.request.write(self.data)
            self.data = b""
            return
        if self.left > 0:
            chunk = _PAD_CHUNK[: self.left]
            self.left -= len(chunk)
            self.request.write(chunk)
            return
        self.request.unregisterProducer()
        self.request.finish()

    def stopProducing(self) -> None:
        self.left = 0
        self.data = b""


def _host_key(request: _Request) -> str:
    """The host a request arrived on: the listening address and port (one platform host each)."""
    addr = request.getHost()
    return f"{addr.host}:{addr.port}"


def parse_hosts(spec: str) -> list[str]:
    """`127.0.0.2,127.0.0.3` or ranges `127.1.0.1-127.1.7.208` into loopback addresses, in order."""
    hosts: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        first, _, last = part.partition("-")
        start = ipaddress.IPv4Address(first.strip())
        end = ipaddress.IPv4Address(last.strip()) if last else start
        if end < start:
            raise ValueError(f"host range {part!r} ends before it starts")
        for number in range(int(start), int(end) + 1):
            address = ipaddress.IPv4Address(number)
            if not address.is_loopback:
                raise ValueError(f"{address} is not a loopback address (127.0.0.0/8)")
            hosts.append(str(address))
    if len(set(hosts)) != len(hosts):
        raise ValueError("a host is listed twice")
    return hosts


def _open_file_room(hosts: int) -> None:
    """Raise the soft open-file limit to the hard one; refuse when the hosts still need more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and hosts + FD_HEADROOM > soft:
        raise SystemExit(
            f"sandbox: error: {hosts} hosts need {hosts + FD_HEADROOM} open files; "
            f"the limit is {soft} (ulimit -n)"
        )


def _encode(body: Any) -> bytes:
    """Body bytes: JSON compact as the platforms send it, text as UTF-8."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _ctype(platform: str) -> str:
    """Content type of injected error bodies."""
    return "text/html; charset=UTF-8" if platform == "blog" else "application/json; charset=utf-8"


class QuietSite(Site):
    """A Site without the per-request access log (it costs more than serving the request)."""

    def log(self, request: http.Request) -> None:
        """Skip access logging."""


def build_state(
    day: int = 0,
    faults: list[str] | None = None,
    scale: float = truth.DEFAULT_POSTS_PER_DAY,
    rate_limits: bool = True,
    rate_window: float | None = None,
    today: date | None = None,
    time_scale: float = 1.0,
) -> State:
    """State for a new sandbox from command-line style options; `today` defaults to $REACH_SANDBOX_DATE."""
    today = today or truth.sandbox_today()
    if time_scale <= 0:
        raise ValueError(f"time scale must be positive, got {time_scale}")
    st = State(day=day, scale=scale, today=today, initial_today=today, time_scale=time_scale)
    for spec in faults or []:
        name, value = parse_fault(spec)
        if name == "robots_disallow":
            st.faults.setdefault(name, []).append(value)
        elif name in ACCOUNT_FAULTS and name in st.faults:
            st.faults[name].append(str(value))
        else:
            st.set_fault(name, value)
    if not rate_limits:
        st.faults["rate_limit"] = "off"
    if rate_window:
        st.faults["rate_window"] = float(rate_window)
    st.initial_faults = {k: (list(v) if isinstance(v, list) else v) for k, v in st.faults.items()}
    return st


def serve(
    port: int = 8787,
    day: int = 0,
    faults: list[str] | None = None,
    scale: float = truth.DEFAULT_POSTS_PER_DAY,
    rate_limits: bool = True,
    rate_window: float | None = None,
    today: date | None = None,
    hosts: list[str] | None = None,
    time_scale: float = 1.0,
) -> None:
    """Serve the sandbox on 127.0.0.1:port until interrupted (blocks; port 0 picks a free one).

    `today` is the calendar date day 0 stands for: default $REACH_SANDBOX_DATE, else the real UTC date.
    `hosts` are loopback addresses served at the same port, each its own platform host with its
    own budgets and counts (default 127.0.0.1 alone). `time_scale` K divides every budget window.
    """
    try:
        today = today or truth.sandbox_today()
    except (
        ValueError
    ) as exc:  # a malformed REACH_SANDBOX_DATE, from any caller: one line, no traceback
        raise SystemExit(f"sandbox: error: {exc}") from None
    from twisted.internet import reactor as installed

    reactor = cast(_Reactor, installed)
    hosts = hosts or ["127.0.0.1"]
    try:
        state = build_state(day, faults, scale, rate_limits, rate_window, today, time_scale)
    except ValueError as exc:
        raise SystemExit(f"sandbox: error: {exc}") from None
    # One listening socket per host, so a few thousand blogs (one host each) cost that many open
    # files: 127.0.0.0/8 holds 16 million addresses, and *.localhost names do not resolve here.
    _open_file_room(len(hosts))
    site = QuietSite(SandboxResource(state))  # type: ignore[no-untyped-call]  # Site.__init__ is unannotated
    actual = reactor.listenTCP(port, site, backlog=128, interface=hosts[0]).getHost().port
    for address in hosts[1:]:  # the same port on every address: the first one chose it
        reactor.listenTCP(actual, site, interface=address)
    for address in hosts:
        state.host(f"{address}:{actual}")
    # SandboxProcess waits for this exact line to learn the port.
    print(
        f"sandbox listening on http://{hosts[0]}:{actual} hosts={len(hosts)} "
        f"time_scale={time_scale:g} date={state.today} day={day} now={state.now.isoformat()}",
        flush=True,
    )
    sys.stdout.flush()
    reactor.run()
