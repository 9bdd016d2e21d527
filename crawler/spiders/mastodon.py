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
from crawler.parsers import mastodon as parse
from crawler.parsers.common import ParseError
from crawler.spiders.base import AccountRef, AccountSpider, AccountSuspended, failed_request

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
PAGE_SIZE = 40  # the API's maximum for account statuses


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

    def start_account(self, ref: AccountRef) -> Iterable[scrapy.Request]:
        if not ref.base_url:
            raise ParseError(f"account {ref.handle!r} has no instance URL")
        username = ref.key.split("@", 1)[0]
        ref.state.update(instance=parse.instance_of(ref.base_url), seen=set(), pages=set())
        url = f"{ref.base_url}/api/v1/accounts/lookup?{urlencode({'acct': username})}"
        yield self.request(ref, url, self.on_lookup)

    def on_lookup(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        payload = json.loads(response.body)
        if parse.is_suspended(payload):
            raise AccountSuspended(f"{ref.handle} is suspended on {ref.state['instance']}")
        profile = parse.parse_profile(payload, ref.id, ref.state["instance"])
        ref.state["account_id"] = payload["id"]
        yield profile
        query = urlencode({"limit": self.settings.getint("REACH_PAGE_SIZE") or PAGE_SIZE})
        yield self.request(
            ref,
            f"{ref.base_url}/api/v1/accounts/{payload['id']}/statuses?{query}",
            self.on_statuses,
        )

    def on_statuses(self, response: Response, ref: AccountRef) -> Iterator[Any]:
        items = parse.parse_statuses(json.loads(response.body), ref.id, ref.state["instance"])
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
