"""The host whose budget each account's crawl spends, and the nightly's shards of hosts.

The platforms' budgets are per IP address and host (Mastodon 300 requests / 5 min per instance,
Bluesky's AppView, each blog's server): a host's accounts are crawled by one process at a time,
so a shard holds whole hosts, never part of one.
"""

from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlmodel import Session, col, func, select

from models import Account, Ambassador

NO_HOST = "no-host"  # accounts without a base URL: their crawl fails them, in one shard


def account_host(platform: str, base_url: str | None, appview_url: str) -> str:
    """`host[:port]` (lowercase) that an account's requests go to.

    Mastodon: the instance; Bluesky: the AppView every Bluesky request goes to; feeds: the feed's host.
    """
    url = appview_url if platform == "bluesky" else base_url
    return urlsplit(url or "").netloc.lower() or NO_HOST


def accounts_per_host(
    session: Session, platforms: Sequence[str], appview_url: str, ambassadors: Sequence[str] = ()
) -> dict[str, dict[str, int]]:
    """Per host, how many active accounts of active ambassadors (of these slugs, if any) it serves
    on each of these platforms."""
    query = (
        select(Account.platform, Account.base_url, func.count(col(Account.id)))
        .join(Ambassador, col(Ambassador.id) == Account.ambassador_id)
        .where(col(Account.platform).in_(list(platforms)), col(Ambassador.active).is_(True))
        .group_by(col(Account.platform), col(Account.base_url))
    )
    if ambassadors:
        query = query.where(col(Ambassador.slug).in_(list(ambassadors)))
    rows = session.exec(query).all()
    found: dict[str, dict[str, int]] = {}
    for platform, base_url, n in rows:
        per_platform = found.setdefault(account_host(platform, base_url, appview_url), {})
        per_platform[platform] = per_platform.get(platform, 0) + n
    return found


def plan_shards(counts: dict[str, int], shards: int) -> list[list[str]]:
    """Whole hosts spread over at most `shards` shards, each as close as can be to an equal count of
    accounts (largest host first, each to the lightest shard); empty shards are dropped.

    A host's crawl time is set by its own budget, so one large host is a shard of its own and the
    many small ones (blogs) are grouped: a shard crawls its hosts side by side.
    """
    loads = [(0, i, list[str]()) for i in range(max(1, shards))]
    for host in sorted(counts, key=lambda h: (-counts[h], h)):
        load, index, hosts = min(loads)
        hosts.append(host)
        loads[index] = (load + counts[host], index, hosts)
    return [sorted(hosts) for _, _, hosts in sorted(loads, key=lambda x: x[1]) if hosts]


def limit_name(host: str) -> str:
    """The Prefect global concurrency limit that lets one crawl at a time spend `host`'s budget."""
    return f"host:{host}"
