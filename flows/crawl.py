"""Flow `crawl`: the rerun of some platforms for some ambassadors, from the Prefect UI.

Importing this module has no side effects (deploy and workers import it).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from flows.artifacts import publish_crawl_artifacts
from flows.tasks import PLATFORMS, PlatformOutcome, crawl_platform
from models import CrawledPlatform as Platform
from reach.settings import get_settings

# A held host slot's lease is renewed while its crawl lives; a killed worker's hold ends this long
# after its last renewal, so the next night (or a rerun) is not locked out for good.
LEASE_SECONDS = 60.0


class CrawlsFailed(RuntimeError):
    """At least one platform's crawl failed; the message says which and why."""


def lookback_label(lookback_days: int | None) -> str:
    """`30d`, the configured lookback when none is given."""
    if lookback_days is None:
        from reach.settings import get_settings

        lookback_days = get_settings().lookback_days
    return f"{lookback_days}d"


def run_crawls(
    platforms: Sequence[str],
    ambassadors: Sequence[str],
    lookback_days: int | None,
    timeout_minutes: float,
    retries: int = 0,
    hosts: Sequence[str] = (),
) -> list[PlatformOutcome]:
    """Crawl the platforms concurrently (one task each) and collect every outcome, failed or not.

    `hosts` narrows each crawl to the accounts on those hosts (a nightly shard's).
    """
    timeout = timeout_minutes * 60
    # The timeout is enforced by run_crawl, which kills the crawl's process group and names the
    # platform. Prefect's task timeout cannot interrupt a thread blocked reading the child's log
    # (Prefect 3.9 warns so on every run), so it is not set.
    crawl = crawl_platform.with_options(retries=retries)
    # Threads are enough: each task waits on its own `scrapy crawl` process.
    futures = {
        p: crawl.submit(p, list(ambassadors), lookback_days, timeout, list(hosts) or None)
        for p in dict.fromkeys(platforms)
    }
    outcomes = []
    for platform, future in futures.items():
        future.wait()  # every crawl finishes before anything is judged: one failure stops no other
        result = future.result(raise_on_failure=False)
        if isinstance(result, PlatformOutcome):
            outcomes.append(result)
        else:
            outcome = getattr(result, "outcome", None) or PlatformOutcome(
                platform, ok=False, status="failed"
            )
            outcome.ok = False
            outcome.errors = (
                str(result)
                if isinstance(result, BaseException)
                else (future.state.message or "crashed")
            )
            outcome.errors = outcome.errors.removeprefix(f"{platform}: ")
            outcomes.append(outcome)
    return outcomes


@contextmanager
def host_limits(hosts: Sequence[str], lease_seconds: float = LEASE_SECONDS) -> Iterator[None]:
    """Hold the Prefect global concurrency limit of each host (`host:<host>`, limit 1, created if
    missing) while crawling: one crawl at a time spends a host's budget, a nightly's shard or a
    rerun from the UI, on whatever worker."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectAlreadyExists

    from reach.shards import limit_name

    names = [limit_name(h) for h in sorted(set(hosts))]
    if not names:
        yield
        return
    with get_client(sync_client=True) as client:
        for name in names:
            # Upsert: a limit raised above 1 by hand would let two crawls share a host's budget.
            # It is not atomic: a crawl starting at the same moment may have just created it.
            with suppress(ObjectAlreadyExists):
                client.upsert_global_concurrency_limit_by_name(name, limit=1)
    with concurrency(names, occupy=1, strict=True, lease_duration=lease_seconds):
        yield


def failure_message(outcomes: Sequence[PlatformOutcome]) -> str | None:
    """`bluesky: every account failed (...); feed: ...`, or None when every crawl succeeded."""
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return None
    return f"{len(failed)} of {len(outcomes)} crawl(s) failed: " + "; ".join(
        f"{o.platform}: {o.errors or o.status}" for o in failed
    )


def _crawl_run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    platforms = "+".join(params.get("platforms") or PLATFORMS)
    slugs = params.get("ambassadors") or []
    who = (
        "all ambassadors"
        if not slugs
        else (slugs[0] if len(slugs) == 1 else f"{len(slugs)} ambassadors")
    )
    return f"crawl {platforms} · {who} · {lookback_label(params.get('lookback_days'))}"


@flow(name="crawl", flow_run_name=_crawl_run_name)
def crawl(
    platforms: Annotated[Sequence[Platform], Field(min_length=1)] = Field(
        default=PLATFORMS,
        description="Platforms to crawl (mastodon, bluesky, feed). LinkedIn is never crawled: "
        "use the import-linkedin flow.",
    ),
    ambassadors: Sequence[str] = Field(
        default=[],
        description="Ambassador slugs to crawl, e.g. amara-okafor. Empty means every active ambassador. An "
        "unknown slug fails the run at once.",
    ),
    lookback_days: Annotated[int | None, Field(ge=1, le=3650)] = Field(
        default=None,
        description="How many days back to fetch posts. Empty means REACH_LOOKBACK_DAYS (30).",
    ),
    timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = Field(
        default=60,
        description="Each platform's crawl is stopped (its process killed) after this long.",
    ),
) -> list[dict[str, object]]:
    """Crawl the chosen platforms for the chosen ambassadors now; fails naming what failed."""
    from crawler.run import check_selection
    from reach.db import session_scope
    from reach.shards import accounts_per_host

    with session_scope() as session:
        check_selection(
            session, platforms, ambassadors
        )  # UnknownSelection names them: fail at once
        settings = get_settings()
        # With shards the hosts' budgets are guarded by their limits: a rerun waits its turn too.
        hosts = (
            list(accounts_per_host(session, platforms, settings.bluesky_appview_url, ambassadors))
            if settings.crawl_shards == "host"
            else []
        )
    with host_limits(hosts):
        outcomes = run_crawls(platforms, ambassadors, lookback_days, timeout_minutes)
    failure = failure_message(outcomes)
    publish_crawl_artifacts("crawl", f"Crawl {'+'.join(platforms)}", outcomes)
    if failure:
        raise CrawlsFailed(failure)
    get_run_logger().info("every crawl succeeded: %s", ", ".join(o.platform for o in outcomes))
    return [o.row() for o in outcomes]
