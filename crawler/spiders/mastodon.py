"""Mastodon: public profile and statuses of each account, through the instance's REST API."""

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.items import PostItem
from crawler.middlewares import host_of
from crawler.parsers import mastodon as parse
from crawler.parsers.common import ParseError
from crawler.spiders.base import AccountRef, AccountSpider, AccountSuspended, failed_request

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
PAGE_SIZE = 40  # the API's maximum for account statuses
ACCOUNTS_PER_BATCH = 40  # GET /api/v1/accounts?id[]= takes up to 40 ids (more: 422)


def next_link(response: Response) -> str | None:
    """The `rel="next"` URL of a Link header (sent only when the page was full)."""
    header = response.headers.get(b"Link")
    match = _NEXT.search(header.decode("latin-1")) if header else None
    return match.group(1) if match else None


class MastodonSpider(AccountSpider):
    """Profiles, statuses (own, replies, boosts, quotes) and replies from Mastodon instances."""

    name = "mastodon"
    platform = "mastodon"
    # Scrapy reads this from the class, but declares it an instance variable (no ClassVar).
    custom_settings: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        # Mastodon: 300 requests / 5 min per IP without a token; headers pace the rest.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        # Every answer is an API page: 40 statuses (or a context of 40 ancestors and 60
        # descendants), each with its full Account, at a few KB apiece: well under 1 MB. A body
        # 8 times that is no real page; it is refused as it streams in instead of being parsed.
        "DOWNLOAD_MAXSIZE": 8 * 2**20,
        "DOWNLOAD_WARNSIZE": 2 * 2**20,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Accounts whose first statuses page carried no own status: their profile is fetched in
        # batches per instance host (ids of the accounts waiting).
        self.profiles_wanted: dict[str, list[int]] = {}
        # Instances that answered the batch endpoint 404 or 422 (before 4.3): one request each.
        self.no_batch: set[str] = set()

    def start_account(self, ref: AccountRef) -> Iterable[scrapy.Request]:
        if not ref.base_url:
            raise ParseError(f"account {ref.handle!r} has no instance URL")
        instance = parse.instance_of(ref.base_url)
        ref.state.update(instance=instance, seen=set(), pages=set(), profile=False)
        known = parse.account_id_of(ref.platform_id, instance)
        if known is None:
            yield self.lookup_request(ref)
            return
        # The id resolved by an earlier crawl is stable: no lookup (looked up again on 404/410).
        ref.state["account_id"] = known
        yield self.statuses_request(ref, stored_id=True)

    def lookup_request(self, ref: AccountRef, then_statuses: bool = True) -> scrapy.Request:
        username = ref.key.split("@", 1)[0]
        url = f"{ref.base_url}/api/v1/accounts/lookup?{urlencode({'acct': username})}"
        return self.request(ref, url, self.on_lookup, meta={"then_statuses": then_statuses})

    def statuses_request(self, ref: AccountRef, stored_id: bool = False) -> scrapy.Request:
        query = urlencode({"limit": self.settings.getint("REACH_PAGE_SIZE") or PAGE_SIZE})
        return self.request(
            ref,
            f"{ref.base_url}/api/v1/accounts/{ref.state['account_id']}/statuses?{query}",
            self.on_statuses,
            meta={"first_page": True, "stored_id": stored_id},
        )

    def on_lookup(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        payload = json.loads(response.body)
        yield from self.profile(payload, ref)
        ref.state["account_id"] = str(payload["id"])
        if response.meta.get("then_statuses", True):
            yield self.statuses_request(ref)

    def same_handle(self, account: dict[str, Any], ref: AccountRef) -> bool:
        """Whether the Account behind a stored id still has the roster's username."""
        return str(account.get("username", "")).lower() == ref.key.split("@", 1)[0].lower()

    def look_up_again(
        self, ref: AccountRef, then_statuses: bool = True
    ) -> Iterator[scrapy.Request]:
        """The stored id no longer answers for the roster's handle (gone, or the handle changed):
        resolve the handle again and carry on from there, as a first crawl does."""
        self.crawler.stats.inc_value("reach/mastodon/lookups_again")
        ref.state["pages"].clear()
        yield self.lookup_request(ref, then_statuses=then_statuses)

    def profile(self, account: dict[str, Any], ref: AccountRef) -> Iterator[Any]:
        """The account's profile from its Account entity; a suspended one fails the account."""
        if parse.is_suspended(account):
            raise AccountSuspended(f"{ref.handle} is suspended on {ref.state['instance']}")
        yield parse.parse_profile(account, ref.id, ref.state["instance"])
        ref.state["profile"] = True

    # -- profiles of accounts whose first page had no status -----------------------------------
    def want_profile(self, ref: AccountRef) -> Iterator[scrapy.Request]:
        """Queue the account for its instance's next batch; a full batch goes out at once."""
        host = host_of(ref.base_url or "")
        waiting = self.profiles_wanted.setdefault(host, [])
        waiting.append(ref.id)
        ref.pending += 1  # the account is not done while its profile waits
        if len(waiting) >= ACCOUNTS_PER_BATCH:
            yield from self.profile_requests(host)

    def profile_requests(self, host: str) -> Iterator[scrapy.Request]:
        """What the host's waiting accounts need: `GET /api/v1/accounts?id[]=...` (4.3+) in
        batches of 40, or one `GET /api/v1/accounts/:id` each where batches are refused."""
        refs = []
        for account_id in self.profiles_wanted.pop(host, []):
            ref = self.refs[account_id]
            ref.pending -= 1
            if not ref.failed:
                refs.append(ref)
        if host in self.no_batch:
            for ref in refs:
                yield self.account_request(ref)
            return
        for start in range(0, len(refs), ACCOUNTS_PER_BATCH):
            batch = refs[start : start + ACCOUNTS_PER_BATCH]
            query = urlencode([("id[]", ref.state["account_id"]) for ref in batch])
            self.crawler.stats.inc_value("reach/mastodon/profile_batches")
            yield self.group_request(
                batch, f"{batch[0].base_url}/api/v1/accounts?{query}", self.on_accounts
            )

    def account_request(self, ref: AccountRef) -> scrapy.Request:
        url = f"{ref.base_url}/api/v1/accounts/{ref.state['account_id']}"
        return self.request(ref, url, self.on_account)

    def host_quiet(self, host: str) -> Iterable[Any]:
        return self.profile_requests(host) if host in self.profiles_wanted else ()

    def on_accounts(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        if "accounts" not in response.meta:  # parsed once for all the accounts of the batch
            response.meta["accounts"] = parse.accounts_by_id(json.loads(response.body))
        account = response.meta["accounts"].get(str(ref.state["account_id"]))
        if account is None:
            # Left out: the id is no longer the instance's (deleted, or a stale id).
            yield from self.look_up_again(ref)
        elif not self.same_handle(account, ref):
            yield from self.look_up_again(ref)
        else:
            yield from self.profile(account, ref)

    def on_account(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        account = json.loads(response.body)
        if isinstance(account, dict) and not self.same_handle(account, ref):
            yield from self.look_up_again(ref)
        else:
            yield from self.profile(account, ref)

    def recover(self, failure: Failure, ref: AccountRef) -> list[scrapy.Request] | None:
        if not isinstance(failure.value, HttpError):
            return None
        status = failure.value.response.status
        request = failed_request(failure)
        handler = request.meta["handler"]
        if handler == "on_accounts" and status in (404, 422):
            # Before 4.3 there is no batch endpoint (404); 422 is its answer to a list it refuses.
            self.no_batch.add(host_of(request.url))
            self.crawler.stats.inc_value("reach/mastodon/profile_batch_refused")
            return [self.account_request(ref)]
        stale = handler == "on_account" or (
            handler == "on_statuses" and request.meta.get("stored_id")
        )
        if stale and status in (404, 410):
            # The stored id is gone (the account was deleted and made again, or moved).
            return list(self.look_up_again(ref))
        return None

    def on_statuses(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        payload = json.loads(response.body)
        if response.meta.get("first_page") and not ref.state["profile"]:
            # Every Status.account is the full Account: its followers save a profile request.
            account = parse.own_account(payload, str(ref.state["account_id"]))
            if account is not None and not self.same_handle(account, ref):
                yield from self.look_up_again(ref)
                return  # this page is another account's: nothing of it is stored
            if account is not None:
                yield from self.profile(account, ref)
            else:
                yield from self.want_profile(ref)
        items = parse.parse_statuses(payload, ref.id, ref.state["instance"])
        reached_end_of_window = False
        for item in items:
            if not self.in_window(item.published_at):
                reached_end_of_window = True
                continue
            if item.platform_post_id in ref.state["seen"]:
                continue
            ref.state["seen"].add(item.platform_post_id)
            yield item
            yield from self.replies_request(ref, item)
        link = next_link(response)
        if link and not reached_end_of_window:
            if link in ref.state["pages"]:
                raise ParseError(f"pagination repeats: the next link {link} was already followed")
            ref.state["pages"].add(link)
            yield self.request(ref, link, self.on_statuses)

    def replies_request(self, ref: AccountRef, item: PostItem) -> Iterator[scrapy.Request]:
        """The status's thread (`context`), when its comment count changed since it was last read."""
        url = f"{ref.base_url}/api/v1/statuses/{parse.status_id_of(item.platform_post_id)}/context"
        return self.thread_request(ref, item, url, self.on_context)

    def on_context(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        yield from parse.parse_context(
            json.loads(response.body),
            response.meta["post_key"],
            ref.state["instance"],
            str(ref.state["account_id"]),
            self.settings_.reply_author_salt.get_secret_value(),
            self.settings_.replies_per_post,
        )
        yield self.thread_read(response, ref)

    def classify_failure(self, failure: Failure, ref: AccountRef) -> tuple[str, str, str | None]:
        if (
            isinstance(failure.value, HttpError)
            and failed_request(failure).meta["handler"] == "on_lookup"
        ):
            status = failure.value.response.status
            if status == 404:
                return (
                    "AccountNotFound",
                    f"{ref.handle} not found on {ref.state['instance']}",
                    "not_found",
                )
            if status in (403, 410):
                return "AccountSuspended", f"{ref.handle} is suspended (HTTP {status})", "suspended"
        return super().classify_failure(failure, ref)
