"""Downloader middlewares: keep to public hosts, obey robots.txt, and pace each host by its own rate limits."""

import asyncio
import datetime as dt
import email.utils
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import parse_qs, urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError

from crawler.handlers import REFUSED
from reach.handles import is_private_host
from reach.settings import get_settings


class PrivateHostGuardMiddleware:
    """Refuse http:// and private or loopback hosts unless REACH_ALLOW_PRIVATE_HOSTS is on.

    A roster or a payload could point the crawler at internal services. Every request passes
    here, redirects included (RedirectMiddleware sends its new request down the chain again):
    addresses are judged however they are spelled, and names by what they resolve to where the
    connection is made (`crawler.handlers.GuardedResolver`), whose refusal this turns into a reason.
    """

    def __init__(self, allow_private_hosts: bool, allowlist: frozenset[str]) -> None:
        self.allow = allow_private_hosts
        self.allowlist = allowlist

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = get_settings()
        return cls(settings.allow_private_hosts, settings.private_host_allowlist)

    def process_request(self, request: Request) -> None:
        if self.allow:
            return
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        if host in self.allowlist:
            return
        if parts.scheme != "https":
            raise IgnoreRequest(f"refused: plain http to {host}")
        if is_private_host(host):
            raise IgnoreRequest(f"refused: {host} is a private or loopback address")
        return

    def process_exception(self, request: Request, exception: Exception) -> None:
        host = (urlsplit(request.url).hostname or "").lower()
        if isinstance(exception, CannotResolveHostError | DNSLookupError) and host in REFUSED:
            raise IgnoreRequest(
                f"refused: {host} resolves only to private or loopback address(es) "
                f"{', '.join(REFUSED[host])}"
            )


def _pass_on(
    result: RobotParser | None, waiter: Deferred[RobotParser | None]
) -> RobotParser | None:
    waiter.callback(result)
    return result  # for the next waiter: a callback's return value is what the next one gets


class RobotsTxtEveryRequestMiddleware(RobotsTxtMiddleware):
    """Scrapy's RobotsTxtMiddleware, with a host's parsed robots.txt given to every request that
    waited for it.

    Scrapy 2.19 lets every request that arrives while robots.txt downloads await one shared
    Deferred; turning a Deferred into a future consumes its result, so only the first of them got
    the rules and the rest were sent as if the host had no robots.txt. Here each waiter awaits a
    Deferred of its own, fired with the shared one's result. A robots.txt that cannot be
    downloaded still allows everything, as Scrapy documents.
    """

    async def robot_parser(self, request: Request) -> RobotParser | None:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if not isinstance(pending, Deferred):
            return await super().robot_parser(request)  # the first request downloads it; or cached
        waiter: Deferred[RobotParser | None] = Deferred()
        pending.addBoth(_pass_on, waiter)
        return await maybe_deferred_to_future(waiter)


def host_of(url: str) -> str:
    """The host (with port) a request goes to: budgets are kept per host."""
    return urlsplit(url).netloc.lower()


# Mastodon's rack-attack `throttle_unauthenticated_paging` counts requests with any of these.
PAGING_PARAMETERS = frozenset({"max_id", "min_id", "since_id", "page"})


def is_paging(url: str) -> bool:
    """A request that pages through a list, which Mastodon also counts against its paging budget."""
    return not PAGING_PARAMETERS.isdisjoint(parse_qs(urlsplit(url).query, keep_blank_values=True))


def _reset_time(value: str, now: float) -> float | None:
    """A rate-limit reset as a wall-clock time: ISO 8601 (Mastodon), epoch or delta seconds."""
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            return dt.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return number if number > 1_000_000_000 else now + number


def _retry_after(value: str, now: float) -> float | None:
    """Retry-After as seconds to wait (delta seconds or an HTTP date)."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


@dataclass
class HostGate:
    """What we know of one host's budget: its headers, or the documented budget as a fallback."""

    budget: tuple[int, float] | None  # (requests, window seconds) from the platform's docs
    sent: deque[float] = field(default_factory=deque)
    seq: int = 0  # requests sent so far; a response's headers count those sent before it
    limit: int | None = None
    remaining: int | None = None  # estimated requests left in the current window
    reset_at: float | None = None
    window: float | None = None
    resume_at: float = 0.0

    def wait_time(self, now: float) -> float:
        """Seconds to wait before the next request keeps the host within its budget."""
        if self.resume_at > now:
            return self.resume_at - now
        if self.remaining is not None and self.reset_at is not None:
            if now >= self.reset_at:
                # The window has passed: a fresh budget until the next headers say otherwise.
                self.remaining = self.limit
                self.reset_at = now + (self.window or (self.budget[1] if self.budget else 60.0))
            if self.remaining is not None and self.remaining <= 0:
                return self.reset_at - now + 0.05
            return 0.0
        if self.budget:
            limit, window = self.budget
            while self.sent and self.sent[0] <= now - window:
                self.sent.popleft()
            if len(self.sent) >= limit:
                return self.sent[0] + window - now + 0.01
        return 0.0

    def record(self, now: float) -> int:
        """Count a request going out; returns its sequence number."""
        self.sent.append(now)
        self.seq += 1
        if self.remaining is not None:
            self.remaining -= 1
        return self.seq

    def update(
        self,
        limit: int | None,
        remaining: int,
        reset_at: float | None,
        window: float | None,
        request_seq: int,
    ) -> None:
        """Headers of one response, sent by request number `request_seq`.

        Requests sent after it may not be counted in its `remaining` yet, so they are taken off;
        within one window the lowest estimate wins (responses arrive out of order).
        """
        estimate = remaining - (self.seq - request_seq)
        same_window = (
            self.reset_at is not None
            and reset_at is not None
            and abs(reset_at - self.reset_at) < 1.0
        )
        if same_window and self.remaining is not None:
            estimate = min(estimate, self.remaining)
        self.remaining, self.reset_at = estimate, reset_at
        self.limit = limit if limit is not None else self.limit
        if window:
            self.window = window


def _int_header(response: Response, *names: bytes) -> int | None:
    for name in names:
        value = response.headers.get(name)
        if value is not None and value.decode("latin-1").strip().isdigit():
            return int(value.decode("latin-1"))
    return None


class RateLimitMiddleware:
    """Pace each host by its rate-limit headers so a crawl stays under budget; wait out any 429.

    Reads Mastodon's `X-RateLimit-*` and Bluesky's `RateLimit-*` headers; without headers it
    keeps to the platform's documented budget. On a 429 it waits for `Retry-After` (or the
    reset time) and sends the same request again. Paging requests (`is_paging`) of a platform
    with a paging budget (REACH_PAGING_BUDGETS: Mastodon's 300 / 15 min) pass a second gate of
    their host as well, which only they count, by the documented budget alone: Mastodon's
    headers describe whichever budget has fewer left, and cannot say which, so they keep
    updating the main gate (at worst it waits for the paging window: slower, never a 429).
    """

    max_429_retries = 8

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.enabled = settings.getbool("REACH_RATE_LIMITS_ENABLED", True)
        self.budgets: dict[str, tuple[int, float]] = {
            platform: (int(limit), float(window))
            for platform, (limit, window) in settings.getdict("REACH_RATE_BUDGETS").items()
        }
        self.paging_budgets: dict[str, tuple[int, float]] = {
            platform: (int(limit), float(window))
            for platform, (limit, window) in settings.getdict("REACH_PAGING_BUDGETS").items()
        }
        self.gates: dict[str, HostGate] = {}
        self.paging_gates: dict[str, HostGate] = {}
        self.clock = time.time  # a test's fake clock replaces it

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _platform(self) -> str:
        return getattr(self.crawler.spider, "platform", "")

    def _gate(self, request: Request) -> HostGate:
        host = host_of(request.url)
        gate = self.gates.get(host)
        if gate is None:
            gate = self.gates[host] = HostGate(self.budgets.get(self._platform()))
        return gate

    def _paging_gate(self, request: Request) -> HostGate | None:
        """The host's paging gate, for a paging request of a platform that has a paging budget."""
        budget = self.paging_budgets.get(self._platform())
        if budget is None or not is_paging(request.url):
            return None
        host = host_of(request.url)
        gate = self.paging_gates.get(host)
        if gate is None:
            gate = self.paging_gates[host] = HostGate(budget)
        return gate

    def _gates(self, request: Request) -> list[HostGate]:
        paging = self._paging_gate(request)
        return [self._gate(request)] + ([paging] if paging is not None else [])

    def budget_of(self, host: str, platform: str) -> tuple[int, float] | None:
        """(requests, window seconds) of `host`'s main budget: as its headers last said, else
        the platform's documented budget; None when neither is known."""
        documented = self.budgets.get(platform)
        gate = self.gates.get(host)
        limit = gate.limit if gate is not None and gate.limit else None
        window = (gate.window if gate is not None else None) or (
            documented[1] if documented else None
        )
        if limit is not None and window:
            return limit, window
        return documented

    def wait_time(self, request: Request, now: float) -> float:
        """Seconds before `request` may go out, by every budget it counts against."""
        return max(gate.wait_time(now) for gate in self._gates(request))

    def record(self, request: Request, now: float) -> None:
        """Count `request` going out against each of its budgets."""
        gates = self._gates(request)
        request.meta["ratelimit_seq"] = gates[0].record(now)
        for gate in gates[1:]:
            gate.record(now)

    async def process_request(self, request: Request) -> None:
        if not self.enabled or request.url.endswith("/robots.txt"):
            return
        while (wait := self.wait_time(request, self.clock())) > 0:
            self.crawler.stats.inc_value("ratelimit/waits")
            # Scrapy annotates `count` as int, but the sum it keeps works for seconds as floats.
            self.crawler.stats.inc_value("ratelimit/wait_seconds", round(wait, 3))  # type: ignore[arg-type]
            await asyncio.sleep(min(wait, 60))
        self.record(request, self.clock())
        return

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not self.enabled:
            return response
        gate = self._gate(request)
        now = self.clock()
        headers = response.headers
        remaining = _int_header(response, b"X-RateLimit-Remaining", b"RateLimit-Remaining")
        if remaining is not None and "ratelimit_seq" in request.meta:
            reset = headers.get(b"X-RateLimit-Reset") or headers.get(b"RateLimit-Reset")
            policy = re.search(
                r"w=(\d+)", (headers.get(b"RateLimit-Policy") or b"").decode("latin-1")
            )
            gate.update(
                _int_header(response, b"X-RateLimit-Limit", b"RateLimit-Limit"),
                remaining,
                _reset_time(reset.decode("latin-1"), now) if reset else None,
                float(policy.group(1)) if policy else None,
                request.meta["ratelimit_seq"],
            )
        if response.status != 429:
            return response
        self.crawler.stats.inc_value("ratelimit/429_received")
        retries = request.meta.get("ratelimit_retries", 0)
        if retries >= self.max_429_retries:
            return response  # gives up: the spider records the account's failure
        retry_after = headers.get(b"Retry-After")
        wait = _retry_after(retry_after.decode(), now) if retry_after else None
        if wait is None and gate.reset_at and gate.reset_at > now:
            wait = gate.reset_at - now
        wait = max(wait if wait is not None else 2.0**retries, 0.1)
        gate.resume_at = max(gate.resume_at, now + wait)
        retry = request.replace(dont_filter=True)
        retry.meta["ratelimit_retries"] = retries + 1
        return retry
