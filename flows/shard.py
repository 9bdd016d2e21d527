"""Flow `crawl-shard` and the nightly's fan-out over Prefect workers (REACH_CRAWL_SHARDS=host).

The nightly splits the accounts by host (reach.shards), starts one child run of the `crawl-shard`
deployment per shard on the work pool and waits for them all: any worker that polls the pool, on
any machine, takes one. While it crawls, a shard holds a Prefect global concurrency limit of 1 per
host, so two workers never spend one host's budget at once. Importing this module has no side
effects (deploy and workers import it).
"""

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from prefect import flow, get_run_logger
from pydantic import Field

from flows.crawl import (
    CrawlsFailed,
    failure_message,
    host_limits,
    lookback_label,
    run_crawls,
)
from flows.tasks import PLATFORMS, PlatformOutcome, outcome_from_result
from models import CrawledPlatform as Platform

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

SHARD_DEPLOYMENT = "crawl-shard/shard"
POLL_SECONDS = 3.0
# Prefect's zombie detection (docs: "detect zombie flows"): shard runs send a heartbeat every
# PREFECT_FLOWS_HEARTBEAT_FREQUENCY (30 s, Prefect's minimum, set in prefect.yaml); one silent
# for this long had its worker or machine die and is marked Crashed by the server.
CRASH_AFTER_SILENT = dt.timedelta(seconds=90)
ZOMBIE_AUTOMATION = "reach: crash crawl-shard runs without heartbeat"
GONE = "its worker or machine is gone"
# A worker silent for this many of its heartbeat intervals is gone (Prefect's foreman default).
WORKER_SILENT_INTERVALS = 3
HEARTBEAT_CHECK_SECONDS = 15.0  # how often the nightly looks for a running shard's last heartbeat
# Beyond its crawls' own timeouts, how long the nightly waits for a shard still not finished
# (waiting for a host held by a dead worker's lease, or for a worker at all) before giving up on it.
WAIT_MARGIN_MINUTES = 30.0


class FanOutRefused(RuntimeError):
    """The nightly cannot fan out as configured (SQLite, no crawl-shard deployment): a retry will not help."""


def _hosts_label(hosts: Sequence[str]) -> str:
    """`127.0.0.2:8000`, `127.0.0.2:8000 +2 hosts`."""
    if not hosts:
        return "no host"
    more = len(hosts) - 1
    return hosts[0] + (f" +{more} host{'s' if more != 1 else ''}" if more else "")


def _shard_run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    return (
        f"crawl-shard {p.get('shard', '1/1')} · {_hosts_label(p.get('hosts') or [])} · "
        f"{'+'.join(p.get('platforms') or PLATFORMS)} · {lookback_label(p.get('lookback_days'))}"
    )


@flow(name="crawl-shard", flow_run_name=_shard_run_name)
def crawl_shard(
    hosts: Annotated[list[str], Field(min_length=1)] = Field(  # noqa: B008 - Prefect reads the description
        description="Hosts (host[:port]) whose accounts this shard crawls: all of each host's accounts.",
    ),
    platforms: Annotated[Sequence[Platform], Field(min_length=1)] = Field(
        default=PLATFORMS,
        description="Platforms with accounts on these hosts.",
    ),
    shard: str = Field(
        default="1/1", description="Which shard of the nightly this is (K/N), for the run's name."
    ),
    lookback_days: Annotated[int | None, Field(ge=1, le=3650)] = Field(
        default=None,
        description="How many days back to fetch posts. Empty means REACH_LOOKBACK_DAYS (30).",
    ),
    timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = Field(
        default=90,
        description="Each platform's crawl is stopped (its process killed) after this long.",
    ),
    retries: Annotated[int, Field(ge=0, le=3)] = Field(
        default=1,
        description="Retries of a crawl that got no answer at all (network down).",
    ),
) -> list[dict[str, Any]]:
    """Crawl the accounts on these hosts, one host's budget spent by one crawl at a time."""
    from reach.shards import limit_name

    logger = get_run_logger()
    with host_limits(hosts):
        logger.info("holding %s", ", ".join(limit_name(h) for h in hosts))
        outcomes = run_crawls(platforms, [], lookback_days, timeout_minutes, retries, hosts=hosts)
    failure = failure_message(outcomes)
    if failure:
        raise CrawlsFailed(failure)
    return [o.row() for o in outcomes]


@dataclass
class ShardPlan:
    """One child run of the nightly: whole hosts and the platforms that have accounts on them."""

    number: int
    count: int
    hosts: list[str]
    platforms: list[str]
    accounts: int

    @property
    def label(self) -> str:
        """`shard 2/3 (127.0.0.3:8000 +1 host)`"""
        return f"shard {self.number}/{self.count} ({_hosts_label(self.hosts)})"


def plan_fan_out(platforms: Sequence[str]) -> list[ShardPlan]:
    """The shards of tonight's crawl: REACH_CRAWL_SHARD_COUNT at most, a host never split."""
    from sqlmodel import Session

    from reach.db import get_engine
    from reach.settings import get_settings
    from reach.shards import accounts_per_host, plan_shards

    settings = get_settings()
    with Session(get_engine()) as session:
        per_host = accounts_per_host(session, platforms, settings.bluesky_appview_url)
    groups = plan_shards(
        {h: sum(c.values()) for h, c in per_host.items()}, settings.crawl_shard_count
    )
    return [
        ShardPlan(
            number=i,
            count=len(groups),
            hosts=hosts,
            platforms=[p for p in platforms if any(p in per_host[h] for h in hosts)],
            accounts=sum(sum(per_host[h].values()) for h in hosts),
        )
        for i, hosts in enumerate(groups, start=1)
    ]


def refuse_unless_fan_out_possible() -> None:
    """Raise FanOutRefused, saying why, when the database cannot take shards from several machines."""
    from reach.settings import get_settings

    if get_settings().is_sqlite:
        raise FanOutRefused(
            "REACH_CRAWL_SHARDS=host needs PostgreSQL, and REACH_DATABASE_URL is SQLite: shards on "
            "other workers and machines write at once, and a SQLite file has one writer on one "
            "machine. Set REACH_DATABASE_URL to PostgreSQL or unset REACH_CRAWL_SHARDS; nothing was crawled."
        )


def prepare_zombie_detection(client: "SyncPrefectClient") -> None:
    """The server's zombie detection of shard runs (each shard creates its hosts' limits)."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    if client.read_automations_by_name(ZOMBIE_AUTOMATION):
        return
    client.create_automation(
        AutomationCore(
            name=ZOMBIE_AUTOMATION,
            description="A crawl-shard run whose heartbeats stopped lost its worker: mark it Crashed, "
            "so the nightly that waits on it fails its accounts and goes on.",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"},
                expect={"prefect.flow-run.*"},
                match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                match_related=ResourceSpecification(
                    {"prefect.resource.role": "flow", "prefect.resource.name": "crawl-shard"}
                ),
                for_each={"prefect.resource.id"},
                posture=Posture.Proactive,
                threshold=1,
                within=CRASH_AFTER_SILENT,
            ),
            actions=[
                ChangeFlowRunState(
                    state=StateType.CRASHED,
                    message=f"no heartbeat for {CRASH_AFTER_SILENT.seconds} s: {GONE}",
                )
            ],
        )
    )


@dataclass
class FanOut:
    """What the shards did: an outcome per platform per shard, and each failed shard named."""

    outcomes: list[PlatformOutcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    shards: list[dict[str, Any]] = field(default_factory=list)  # one row per shard, for the summary


def fan_out(
    platforms: Sequence[str], lookback_days: int | None, timeout_minutes: float, retries: int
) -> FanOut:
    """Run each shard as a child run of the crawl-shard deployment and wait for them all.

    A shard that fails, or whose worker dies (Crashed), fails only its own accounts: it is named
    in `failures` and the others' outcomes stand.
    """
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    logger = get_run_logger()
    refuse_unless_fan_out_possible()
    plans = plan_fan_out(platforms)
    if not plans:
        logger.info("fan-out: no active account on %s", "+".join(platforms))
        return FanOut()
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(SHARD_DEPLOYMENT)
        except ObjectNotFound as exc:
            raise FanOutRefused(
                f"REACH_CRAWL_SHARDS=host needs the {SHARD_DEPLOYMENT} deployment: run "
                "`prefect deploy --all` (make serve) with this checkout's prefect.yaml"
            ) from exc
        prepare_zombie_detection(client)
        children: list[tuple[ShardPlan, FlowRun]] = []
        for plan in plans:
            child: FlowRun = run_deployment(  # type: ignore[assignment]  # sync here: no coroutine
                SHARD_DEPLOYMENT,
                parameters={
                    "hosts": plan.hosts,
                    "platforms": plan.platforms,
                    "shard": f"{plan.number}/{plan.count}",
                    "lookback_days": lookback_days,
                    "timeout_minutes": timeout_minutes,
                    "retries": retries,
                },
                timeout=0,  # started now; waited for below, all together
                as_subflow=True,
            )
            logger.info("%s: %d account(s), flow run %s", plan.label, plan.accounts, child.id)
            children.append((plan, child))
        env = (deployment.job_variables or {}).get("env") or {}
        finals = _wait(
            client,
            children,
            timeout_minutes * (retries + 1) + WAIT_MARGIN_MINUTES,
            heartbeats="PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in env,
        )
    result = FanOut()
    for plan, run in finals:
        _collect(plan, run, result)
    return result


def _wait(
    client: "SyncPrefectClient",
    children: list[tuple[ShardPlan, "FlowRun"]],
    minutes: float,
    heartbeats: bool,
) -> list[tuple[ShardPlan, "FlowRun"]]:
    """Poll the child runs until each is final.

    A child whose worker died is crashed: a running one silent for CRASH_AFTER_SILENT (should the
    server's automation not have done it yet), and a pending one whose worker stopped sending its
    own heartbeats (its process was started but never ran). One still not final after `minutes`
    is given up on.
    """
    from prefect.states import Crashed

    deadline = time.monotonic() + minutes * 60
    runs = dict(enumerate(run for _, run in children))
    pending = set(runs)
    checked: dict[int, float] = {}
    while pending:
        for i in sorted(pending):
            runs[i] = client.read_flow_run(runs[i].id)
            state = runs[i].state
            if state is not None and state.is_final():
                pending.discard(i)
            elif time.monotonic() - checked.get(i, 0.0) > HEARTBEAT_CHECK_SECONDS:
                checked[i] = time.monotonic()
                gone = _gone(client, runs[i], heartbeats)
                if gone:
                    client.set_flow_run_state(
                        runs[i].id, Crashed(message=f"{gone}: {GONE}"), force=True
                    )
        if pending and time.monotonic() > deadline:
            for i in pending:
                client.set_flow_run_state(
                    runs[i].id,
                    Crashed(
                        message=f"still {runs[i].state_name} after {minutes:g} min: the nightly "
                        "gave up on it (no worker took it, or its worker is gone)"
                    ),
                    force=True,
                )
                runs[i] = client.read_flow_run(runs[i].id)
            break
        if pending:
            time.sleep(POLL_SECONDS)
    return [(plan, runs[i]) for i, (plan, _) in enumerate(children)]


def _gone(client: "SyncPrefectClient", run: "FlowRun", heartbeats: bool) -> str | None:
    """Why the run's worker is known to be gone, or None while it may be alive.

    A running shard sends heartbeats (when enabled). A pending one has none yet: the worker that
    took it labels it with its name (prefect.worker.name), and a worker sends its own heartbeats;
    one silent for three of its intervals is what Prefect's foreman marks offline. A pending shard
    merely starting, under a live worker, is left alone.
    """
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_WORKER_HEARTBEAT_SECONDS

    state = run.state
    if state is None:
        return None
    if state.type == StateType.RUNNING and heartbeats:
        silent = _silent_seconds(client, run)
        if silent > CRASH_AFTER_SILENT.total_seconds():
            return f"no heartbeat for {silent:.0f} s"
    if state.type == StateType.PENDING:
        name = (run.labels or {}).get("prefect.worker.name")
        if not name or not run.work_pool_name:
            return None
        workers = client.read_workers_for_work_pool(run.work_pool_name)
        worker = next((w for w in workers if w.name == name), None)
        if worker is None or worker.last_heartbeat_time is None:
            return None
        silent = (dt.datetime.now(dt.UTC) - worker.last_heartbeat_time).total_seconds()
        if silent > WORKER_SILENT_INTERVALS * (
            worker.heartbeat_interval_seconds or PREFECT_WORKER_HEARTBEAT_SECONDS.value()
        ):
            return f"{state.name or 'Pending'}, and its worker {name} sent no heartbeat for {silent:.0f} s"
    return None


def _silent_seconds(client: "SyncPrefectClient", run: "FlowRun") -> float:
    """Seconds since the run's last heartbeat event (or since it started, before its first)."""
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOrder,
        EventResourceFilter,
    )

    page = client.read_events(
        EventFilter(
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run.id}"]),
            order=EventOrder.DESC,
        ),
        limit=1,
    )
    last = page.events[0].occurred if page.events else run.start_time
    if last is None:
        return 0.0
    return (dt.datetime.now(dt.UTC) - last).total_seconds()


def _collect(plan: ShardPlan, run: "FlowRun", into: FanOut) -> None:
    """A shard's outcomes from its crawl runs (the database, not the child's result, which stays on
    its worker); the crawl runs a dead shard left `running` are closed as interrupted."""
    from prefect.client.schemas.objects import StateType
    from sqlmodel import Session, col, select

    from models import CrawlRun, RunStatus
    from reach.db import get_engine
    from reach.runs import fail_run, load_result

    state = run.state_name or "unknown"
    message = (run.state.message if run.state else None) or ""
    completed = run.state is not None and run.state.type == StateType.COMPLETED
    with Session(get_engine()) as session:
        rows = session.exec(
            select(CrawlRun)
            .where(CrawlRun.prefect_flow_run_id == str(run.id))
            .order_by(col(CrawlRun.id))
        ).all()
        latest = {r.platform: (r.id, r.status, r.started_at, r.finished_at, r.stats) for r in rows}
    for platform in plan.platforms:
        label = f"{platform} [{plan.label}]"
        if platform not in latest:
            into.outcomes.append(
                PlatformOutcome(
                    label,
                    ok=False,
                    status="not crawled",
                    errors=f"the shard ended {state} before crawling it: {message}".rstrip(": "),
                )
            )
            continue
        run_id, status, started, finished, stats = latest[platform]
        assert run_id is not None  # rows read from the database have their primary key
        if status == RunStatus.RUNNING:
            fail_run(
                run_id, f"interrupted: its shard's flow run {run.name} ended {state}: {message}"
            )
        seconds = ((finished or started) - started).total_seconds() if started else 0.0
        result = load_result(run_id, 0, seconds, dict(stats or {}))
        outcome = outcome_from_result(result, result.problems())
        outcome.platform = label
        into.outcomes.append(outcome)
    into.shards.append(
        {
            "shard": plan.label,
            "flow_run": run.name,
            "state": state,
            "accounts": plan.accounts,
            "hosts": ", ".join(plan.hosts),
        }
    )
    if not completed:
        into.failures.append(
            f"{plan.label}, flow run {run.name}, ended {state} ({plan.accounts} account(s) on "
            f"{', '.join(plan.hosts)}): {message or 'no message from Prefect'}"
        )
