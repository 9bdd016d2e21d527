"""Downloader middlewares: keep to public hosts, and pace each host by its own rate limits."""

import asyncio
import datetime as dt
import email.utils
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from reach.handles import is_private_host
from reach.settings import get_settings


class PrivateHostGuardMiddleware:
    """Refuse http:// and private or loopback hosts unless REACH_ALLOW_PRIVATE_HOSTS is on.

    A roster or a payload could point the crawler at internal services; this is the last gate.
    """

    def __init__(self, allow_private_hosts: bool) -> None:
        self.allow = allow_private_hosts

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(get_settings().allow_private_hosts)

    def process_request(self, request: Request) -> None:
        if self.allow:
            return None
        parts = urlsplit(request.url)
        if parts.scheme != "https" or is_private_host(parts.hostname or ""):
            raise IgnoreRequest(f"private host or plain http refused: {request.url}")
        return None


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

    budget: tuple[int, float] | None  # (requests, window seconds) when no headers are sent
    reserve: int  # requests possibly in flight that the last headers did not count yet
    sent: deque[float] = field(default_factory=deque)
    remaining: int | None = None
    reset_at: float | None = None
    sent_since_headers: int = 0
    resume_at: float = 0.0

    def wait_time(self, now: float) -> float:
        """Seconds to wait before the next request keeps the host within its budget."""
        if self.resume_at > now:
            return self.resume_at - now
        if self.remaining is not None and self.reset_at is not None and self.reset_at > now:
            if self.remaining - self.sent_since_headers <= self.reserve:
                return self.reset_at - now + 0.05
            return 0.0
        if self.budget:
            limit, window = self.budget
            while self.sent and self.sent[0] <= now - window:
                self.sent.popleft()
            if len(self.sent) >= limit:
                return self.sent[0] + window - now + 0.01
        return 0.0

    def record(self, now: float) -> None:
        self.sent.append(now)
        self.sent_since_headers += 1

    def update(self, remaining: int, reset_at: float | None, now: float) -> None:
        """Headers of one response; within one window the lowest `remaining` seen is the truth."""
        same_window = self.reset_at is not None and reset_at is not None and abs(reset_at - self.reset_at) < 1
        if same_window and self.remaining is not None and self.reset_at and self.reset_at > now:
            if remaining >= self.remaining:
                return
        self.remaining, self.reset_at = remaining, reset_at
        self.sent_since_headers = 0


class RateLimitMiddleware:
    """Pace each host by its rate-limit headers so a crawl stays under budget; wait out any 429.

    Reads Mastodon's `X-RateLimit-*` and Bluesky's `RateLimit-*` headers; without headers it
    keeps to the platform's documented budget. On a 429 it waits for `Retry-After` (or the
    reset time) and sends the same request again.
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
        self.reserve = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 8)
        self.gates: dict[str, HostGate] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _gate(self, request: Request) -> HostGate:
        host = urlsplit(request.url).netloc
        gate = self.gates.get(host)
        if gate is None:
            platform = getattr(self.crawler.spider, "platform", "")
            gate = self.gates[host] = HostGate(self.budgets.get(platform), self.reserve)
        return gate

    async def process_request(self, request: Request) -> None:
        if not self.enabled or request.url.endswith("/robots.txt"):
            return None
        gate = self._gate(request)
        while (wait := gate.wait_time(time.time())) > 0:
            self.crawler.stats.inc_value("ratelimit/waits")
            self.crawler.stats.inc_value("ratelimit/wait_seconds", round(wait, 3))
            await asyncio.sleep(min(wait, 60))
        gate.record(time.time())
        return None

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not self.enabled:
            return response
        gate = self._gate(request)
        now = time.time()
        headers = response.headers
        remaining = headers.get(b"X-RateLimit-Remaining") or headers.get(b"RateLimit-Remaining")
        reset = headers.get(b"X-RateLimit-Reset") or headers.get(b"RateLimit-Reset")
        if remaining is not None and remaining.decode().strip().lstrip("-").isdigit():
            reset_at = _reset_time(reset.decode(), now) if reset else None
            gate.update(int(remaining.decode()), reset_at, now)
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
        wait = max(wait if wait is not None else 2.0 ** retries, 0.1)
        gate.resume_at = max(gate.resume_at, now + wait)
        retry = request.replace(dont_filter=True)
        retry.meta["ratelimit_retries"] = retries + 1
        return retry
