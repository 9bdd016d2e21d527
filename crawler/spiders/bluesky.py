"""Bluesky: profiles and author feeds through the public AppView's XRPC endpoints.

Requests per account, night after night: the DID is kept once known (no resolveHandle), profiles
come 25 to a getProfiles request, and the author feed is paged only down to the first post the
last ok crawl had already seen; the window's other known posts are refreshed 25 at a time through
getPosts instead of paging on.
"""

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, ClassVar, NamedTuple
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select
from twisted.python.failure import Failure

from crawler.items import PostItem
from crawler.parsers import bluesky as parse
from crawler.parsers.common import ParseError
from crawler.spiders.base import AccountRef, AccountSpider, failed_request
from models import CrawlOutcome, CrawlRun, Post

PAGE_SIZE = 100  # getAuthorFeed's maximum
BATCH = 25  # getProfiles' `actors` and getPosts' `uris`: maxLength 25 in their lexicons
WINDOW_STAT = "reach/window_start"  # kept in the run's stats: the window its ok accounts cover
_GONE = {"AccountTakedown": "suspended", "AccountDeactivated": "suspended"}


class Known(NamedTuple):
    """A post of the window already stored: enough to ask for it again or to restate a repost."""

    kind: str
    published_at: dt.datetime
    url: str | None
    original_url: str | None


def _chunks(values: list[str], size: int = BATCH) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


class BlueskySpider(AccountSpider):
    """Profiles, posts, reposts, quotes and replies from the Bluesky AppView."""

    name = "bluesky"
    platform = "bluesky"
    # Scrapy reads this from the class, but declares it an instance variable (no ClassVar).
    custom_settings: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        # Bluesky AppView: 3,000 requests / 5 min per IP; RateLimit-* headers pace the rest.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        # API pages: getAuthorFeed's 100 postViews with their embeds, or a thread 6 levels deep,
        # run to 1-2 MB at most; 8 MB is no real page, and is refused as it streams in.
        "DOWNLOAD_MAXSIZE": 8 * 2**20,
        "DOWNLOAD_WARNSIZE": 2 * 2**20,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile_queue: list[AccountRef] = []  # accounts waiting for a getProfiles batch

    def xrpc(self, method: str, **params: Any) -> str:
        # doseq: XRPC takes an array parameter as the name repeated (actors=a&actors=b).
        base = self.settings_.bluesky_appview_url.rstrip("/")
        return f"{base}/xrpc/{method}?{urlencode(params, doseq=True)}"

    # -- what the last crawls stored ------------------------------------------------------------
    def load_accounts(self, session: Session) -> list[AccountRef]:
        refs = super().load_accounts(session)
        self._load_known(session, refs)
        return refs

    def _load_known(self, session: Session, refs: list[AccountRef]) -> None:
        """Each account's stored posts in the window (`known`), and those of them the feed may stop at
        (`overlap`).

        The overlap is what the account's last ok crawl C saw (last seen during or after C, first
        seen by its end), and only when C's window reached back at least as far as this one: C read
        every post of its window then (paging to its end, or to its own overlap and getPosts for the
        rest), so once the feed, newest first, reaches one of them, every older post of the window
        is one C stored. A post first stored later, by a crawl that failed part-way, is no such
        mark: the posts under it may never have been read.
        """
        by_id = {ref.id: ref for ref in refs}
        for ref in refs:
            ref.state.update(known={}, overlap=set())
        if not by_id:
            return
        last_ok = dict(
            session.exec(
                select(CrawlOutcome.account_id, func.max(CrawlOutcome.crawl_run_id))
                .join(CrawlRun, col(CrawlRun.id) == CrawlOutcome.crawl_run_id)
                .where(
                    col(CrawlOutcome.account_id).in_(list(by_id)),
                    col(CrawlOutcome.ok).is_(True),
                    CrawlRun.platform == self.platform,
                    col(CrawlRun.finished_at).is_not(None),
                )
                .group_by(col(CrawlOutcome.account_id))
            ).all()
        )
        covered: dict[int, tuple[dt.datetime, dt.datetime]] = {}
        if last_ok:
            runs = session.exec(
                select(CrawlRun).where(col(CrawlRun.id).in_(set(last_ok.values())))
            ).all()
            for run in runs:
                window = (run.stats or {}).get(WINDOW_STAT)
                if (
                    isinstance(window, str)
                    and run.finished_at is not None
                    and dt.datetime.fromisoformat(window) <= self.window_start
                ):
                    assert run.id is not None  # a stored run has its primary key
                    covered[run.id] = (run.started_at, run.finished_at)
        # More columns than sqlmodel's select() is typed for: SQLAlchemy's own, on the connection.
        rows = (
            session.connection()
            .execute(
                sa_select(
                    col(Post.account_id),
                    col(Post.platform_post_id),
                    col(Post.kind),
                    col(Post.published_at),
                    col(Post.url),
                    col(Post.original_url),
                    col(Post.first_seen_at),
                    col(Post.last_seen_at),
                ).where(
                    col(Post.account_id).in_(list(by_id)),
                    col(Post.published_at) >= self.window_start,
                    col(Post.deleted_at).is_(None),
                    col(Post.source) == "crawl",
                )
            )
            .all()
        )
        for account_id, key, kind, published, url, original, first_seen, last_seen in rows:
            ref = by_id[account_id]
            ref.state["known"][key] = Known(kind, published, url, original)
            run_id = last_ok.get(account_id)
            if run_id in covered:
                started, finished = covered[run_id]
                if first_seen <= finished and last_seen >= started:
                    ref.state["overlap"].add(key)

    # -- profiles -------------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        self.crawler.stats.set_value(WINDOW_STAT, self.window_start.isoformat())
        async for request in super().start():
            yield request
        while self.profile_queue:  # the last, short batch
            yield self.profiles_request()

    def start_account(self, ref: AccountRef) -> Iterable[scrapy.Request]:
        ref.state.update(seen=set(), cursors=set())
        stored = ref.platform_id if (ref.platform_id or "").startswith("did:") else None
        did = stored or (ref.key if ref.key.startswith("did:") else None)
        # getProfiles takes handles as well as DIDs: a first crawl needs no resolveHandle either.
        ref.state["actor"] = did or ref.key
        ref.state["by_did"] = did is not None
        self.profile_queue.append(ref)
        if len(self.profile_queue) >= BATCH:
            yield self.profiles_request()

    def profiles_request(self) -> scrapy.Request:
        """One getProfiles request for up to 25 queued accounts (they share its outcome)."""
        refs, self.profile_queue = self.profile_queue[:BATCH], self.profile_queue[BATCH:]
        for ref in refs:
            ref.pending += 1
        url = self.xrpc("app.bsky.actor.getProfiles", actors=[r.state["actor"] for r in refs])
        # base.py's request() serves one account; a batch is kept here, with its own dispatch.
        return scrapy.Request(
            url,
            callback=self._dispatch_profiles,
            errback=self._profiles_failed,
            meta={"account_ids": [r.id for r in refs], "handler": "on_profiles", "secondary": None},
            dont_filter=True,
        )

    def _dispatch_profiles(self, response: Response) -> Iterator[Any]:
        refs = [self.refs[account_id] for account_id in response.meta["account_ids"]]
        for ref in refs:
            ref.pending -= 1
        try:
            profiles = parse.parse_profiles(json.loads(response.body))
        except (ParseError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.crawler.stats.inc_value(f"reach/parse_errors/{self.platform}")
            for ref in refs:
                if not ref.failed:
                    ref.failed = True
                    yield self.finish(
                        ref, ok=False, error="ParseError", reason=f"{exc} ({response.url})"
                    )
            return
        by_did = {p["did"]: p for p in profiles}
        by_handle = {str(p.get("handle") or "").lower(): p for p in profiles}
        for ref in refs:
            if ref.failed:
                continue
            actor = ref.state["actor"]
            found = by_did.get(actor) if ref.state["by_did"] else by_handle.get(actor)
            try:
                outputs = list(self.on_profiles(ref, found))
            except (ParseError, KeyError, TypeError) as exc:
                self.crawler.stats.inc_value(f"reach/parse_errors/{self.platform}")
                ref.failed = True
                yield self.finish(
                    ref, ok=False, error="ParseError", reason=f"{exc} ({response.url})"
                )
                continue
            yield from outputs
            if ref.pending == 0 and not ref.failed:
                yield self.finish(ref, ok=True)

    def on_profiles(self, ref: AccountRef, profile: dict[str, Any] | None) -> Iterator[Any]:
        """One account's share of a getProfiles answer.

        Resolved again only when the stored DID shows no profile or the profile's handle is no
        longer the roster's; an account missing from the answer is asked for alone, whose error
        says whether it is unknown or suspended.
        """
        handle = None if ref.key.startswith("did:") else ref.key
        if profile is None:
            self.crawler.stats.inc_value("reach/bluesky/profile_missing")
        elif ref.state["by_did"] and handle and str(profile.get("handle") or "").lower() != handle:
            self.crawler.stats.inc_value("reach/bluesky/handle_changed")
        else:
            yield from self.use_profile(ref, profile)
            return
        if handle:
            url = self.xrpc("com.atproto.identity.resolveHandle", handle=handle)
            yield self.request(ref, url, self.on_resolve)
        else:
            url = self.xrpc("app.bsky.actor.getProfile", actor=ref.key)
            yield self.request(ref, url, self.on_profile)

    def _profiles_failed(self, failure: Failure) -> Iterator[Any]:
        for account_id in failed_request(failure).meta["account_ids"]:
            ref = self.refs[account_id]
            ref.pending -= 1
            if ref.failed:
                continue
            ref.failed = True
            error, reason, status = self.classify_failure(failure, ref)
            self.crawler.stats.inc_value(f"reach/account_errors/{error}")
            yield self.finish(ref, ok=False, error=error, reason=reason, status=status)

    def on_resolve(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        did = parse.parse_resolve_handle(json.loads(response.body))
        yield self.request(ref, self.xrpc("app.bsky.actor.getProfile", actor=did), self.on_profile)

    def on_profile(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        yield from self.use_profile(ref, json.loads(response.body))

    def use_profile(self, ref: AccountRef, payload: Any) -> Iterator[Any]:
        profile = parse.parse_profile(payload, ref.id)
        ref.state["did"] = profile.platform_id
        yield profile
        yield self.feed_request(ref, cursor=None)

    # -- posts ----------------------------------------------------------------------------------
    def feed_request(self, ref: AccountRef, cursor: str | None) -> scrapy.Request:
        params: dict[str, Any] = {
            "actor": ref.state["did"],
            "limit": self.settings.getint("REACH_PAGE_SIZE") or PAGE_SIZE,
            "includePins": "true",
        }
        if cursor:
            params["cursor"] = cursor
        return self.request(ref, self.xrpc("app.bsky.feed.getAuthorFeed", **params), self.on_feed)

    def on_feed(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        items, cursor = parse.parse_author_feed(json.loads(response.body), ref.id, ref.state["did"])
        reached_end_of_window = False
        reached_known = False
        for item, pinned in items:
            if not self.in_window(item.published_at):
                # An old pinned post heads the first page; it does not end the window.
                reached_end_of_window = reached_end_of_window or not pinned
                continue
            # The pinned post stands out of date order: it says nothing about the posts under it.
            reached_known = reached_known or (
                not pinned and item.platform_post_id in ref.state["overlap"]
            )
            if item.platform_post_id in ref.state["seen"]:
                continue  # the pinned post appears again in its own place
            ref.state["seen"].add(item.platform_post_id)
            yield item
            yield from self.replies_request(ref, item)
        if not cursor or reached_end_of_window:
            return
        if reached_known:
            yield from self.refresh_known(ref)
            return
        if cursor in ref.state["cursors"]:
            raise ParseError(f"pagination repeats: cursor {cursor!r} was already followed")
        ref.state["cursors"].add(cursor)
        yield self.feed_request(ref, cursor)

    def refresh_known(self, ref: AccountRef) -> Iterator[Any]:
        """The window's stored posts the feed pages did not reach: posts through getPosts, 25 a request.

        A post getPosts leaves out is gone; it is marked deleted only because every request of the
        account then succeeded (a failed one fails the account, and nothing is marked). A repost
        is no post getPosts can show: it is restated as stored, so an undone repost under the
        overlap stays until the feed is read down to it again or it leaves the window.
        """
        self.crawler.stats.inc_value("reach/bluesky/feeds_stopped_at_known")
        posts = []
        for key, known in ref.state["known"].items():
            if key in ref.state["seen"]:
                continue
            if known.kind != "repost" and "/app.bsky.feed.post/" in key:
                posts.append(key)
                continue
            self.crawler.stats.inc_value("reach/bluesky/reposts_restated")
            ref.state["seen"].add(key)
            yield PostItem(
                account_id=ref.id,
                platform=self.platform,
                platform_post_id=key,
                published_at=known.published_at,
                url=known.url,
                kind=known.kind,
                original_url=known.original_url,
            )
        for uris in _chunks(sorted(posts)):
            self.crawler.stats.inc_value("reach/bluesky/posts_refreshed", len(uris))
            yield self.request(
                ref,
                self.xrpc("app.bsky.feed.getPosts", uris=uris),
                self.on_posts,
                meta={"asked": uris},
            )

    def on_posts(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        asked = set(response.meta["asked"])
        found = 0
        for item in parse.parse_posts(json.loads(response.body), ref.id, ref.state["did"]):
            if item.platform_post_id not in asked or item.platform_post_id in ref.state["seen"]:
                continue
            found += 1
            ref.state["seen"].add(item.platform_post_id)
            yield item
            yield from self.replies_request(ref, item)
        if missing := len(asked) - found:
            self.crawler.stats.inc_value("reach/bluesky/posts_missing", missing)

    def replies_request(self, ref: AccountRef, item: PostItem) -> Iterator[scrapy.Request]:
        """The post's thread, when its comment count changed since it was last read."""
        url = self.xrpc(
            "app.bsky.feed.getPostThread", uri=item.platform_post_id, depth=6, parentHeight=0
        )
        return self.thread_request(ref, item, url, self.on_thread)

    def on_thread(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        yield from parse.parse_thread(
            json.loads(response.body),
            response.meta["post_key"],
            ref.state["did"],
            self.settings_.reply_author_salt.get_secret_value(),
            self.settings_.replies_per_post,
        )
        yield self.thread_read(response, ref)

    def classify_failure(self, failure: Failure, ref: AccountRef) -> tuple[str, str, str | None]:
        handler = failed_request(failure).meta["handler"]
        if isinstance(failure.value, HttpError) and handler in ("on_resolve", "on_profile"):
            response = failure.value.response
            try:
                body = json.loads(response.body)
            except ValueError:
                body = {}
            error, message = body.get("error", ""), body.get("message", "")
            if error in _GONE:
                return "AccountSuspended", f"{ref.handle}: {error} {message}".strip(), _GONE[error]
            if response.status in (400, 404):
                return (
                    "AccountNotFound",
                    f"{ref.handle}: {message or error or response.status}",
                    "not_found",
                )
        return super().classify_failure(failure, ref)
