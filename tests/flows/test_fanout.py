"""The nightly fanned out over Prefect workers (REACH_CRAWL_SHARDS=host): a real Prefect server, two
process workers in processes of their own, PostgreSQL, and the sandbox on several loopback hosts."""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import create_engine, func, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from flows.nightly import NightlyFailed, nightly_reach
from models import Account, AccountSnapshot, CrawlOutcome, CrawlRun, Post, PostSnapshot
from reach.db import get_engine, upgrade
from reach.runs import record_unfinished
from reach.settings import get_settings
from reach.shards import account_host, plan_shards
from sandbox import truth
from sandbox.bluesky import post_ref
from sandbox.mastodon import status_id
from sandbox.testing import SandboxProcess
from tests.conftest import POSTGRES_SERVER_URL
from tests.flows.conftest import (
    AMBASSADORS,
    DEMO_ROSTER,
    PREFECT_BIN,
    ROOT,
    PrefectServer,
    create_run_as_the_ui_does,
    deploy_all,
    load_roster,
)
from tests.reach import factories

POOL = "reach"
# Mastodon instances, blogs and the AppView, each on a loopback address of its own.
MASTODON_HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
BLOG_HOSTS = ["127.0.0.5", "127.0.0.6", "127.0.0.7"]
APPVIEW_HOST = "127.0.0.8"
SHARDS = 3  # the AppView's three accounts, and two shards of three one-account hosts
# Per-host concurrency of each spider (its custom_settings): one crawl alone never exceeds it.
PER_HOST = {"mastodon": 4, "bluesky": 8, "feed": 4}
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


# -- units: the plan and the refusal -------------------------------------------------------------
def test_shards_hold_whole_hosts_and_spread_the_accounts() -> None:
    plan = plan_shards({"big.example": 30, "app.view": 10, "a": 5, "b": 5, "c": 1, "d": 1}, 3)
    assert plan == [["big.example"], ["app.view", "c"], ["a", "b", "d"]]
    assert plan_shards({"one": 9}, 4) == [["one"]]  # no empty shard
    assert sorted(h for s in plan for h in s) == sorted(
        ["big.example", "app.view", "a", "b", "c", "d"]
    )


def test_account_host_is_the_instance_the_appview_or_the_feed_host() -> None:
    appview = "https://public.api.bsky.app"
    assert account_host("mastodon", "https://Mastodon.Social", appview) == "mastodon.social"
    assert account_host("bluesky", None, appview) == "public.api.bsky.app"
    assert account_host("feed", "http://127.0.0.5:8000/blogs/x/feed/", appview) == "127.0.0.5:8000"


def test_a_fanned_out_nightly_on_sqlite_refuses_before_crawling(
    harness: None, sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "reach.db"
    db.write_bytes(sqlite_template.read_bytes())
    db_url = f"sqlite:///{db}"
    monkeypatch.setenv("REACH_DATABASE_URL", db_url)
    monkeypatch.setenv("REACH_CRAWL_SHARDS", "host")
    get_settings.cache_clear()
    with pytest.raises(NightlyFailed) as failed:
        nightly_reach(platforms=["feed"], send_digest=False)
    message = str(failed.value)
    assert "\n" not in message
    assert "REACH_CRAWL_SHARDS=host needs PostgreSQL" in message and "SQLite" in message
    with Session(get_engine(db_url)) as session:
        assert session.exec(select(CrawlRun)).all() == []  # nothing was crawled


def test_a_killed_shards_crawl_fails_only_the_accounts_on_its_hosts(session: Session) -> None:
    amara = factories.ambassador(session, "amara-okafor")
    mine = factories.account(session, amara, handle="@a@one.example")
    other = factories.account(session, amara, handle="@a@two.example")
    mine.base_url, other.base_url = "https://one.example", "https://two.example"
    crawl = factories.run(session, dt.datetime.now(dt.UTC))
    crawl.status = "running"
    session.commit()
    record_unfinished(crawl.id, "the crawl process was killed (SIGKILL)", ["one.example"])
    failed = session.exec(
        select(CrawlOutcome.account_id).where(CrawlOutcome.crawl_run_id == crawl.id)
    ).all()
    assert failed == [mine.id]  # two.example is another shard's


def test_a_spider_given_hosts_crawls_only_the_accounts_on_them(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crawler.spiders.bluesky import BlueskySpider
    from crawler.spiders.mastodon import MastodonSpider

    amara = factories.ambassador(session, "amara-okafor")
    for host in ("one.example", "two.example:8443"):
        account = factories.account(session, amara, handle=f"@a@{host}")
        account.base_url = f"https://{host}"
    factories.account(session, amara, platform="bluesky", handle="amara.bsky.social")
    session.commit()
    monkeypatch.setenv("REACH_BLUESKY_APPVIEW_URL", "https://appview.example")
    get_settings.cache_clear()
    refs = MastodonSpider(hosts="two.example:8443").load_accounts(session)
    assert [r.base_url for r in refs] == ["https://two.example:8443"]
    assert len(MastodonSpider().load_accounts(session)) == 2
    # Every Bluesky account's requests go to the AppView: all of them or none.
    assert len(BlueskySpider(hosts="appview.example").load_accounts(session)) == 1
    assert BlueskySpider(hosts="one.example").load_accounts(session) == []


# -- the fan-out on a real server ----------------------------------------------------------------
@pytest.fixture(scope="module")
def hosts_sandbox() -> Iterator[SandboxProcess]:
    """The sandbox on seven loopback hosts, without rate limits (pacing is tested elsewhere)."""
    with SandboxProcess(
        day=0, rate_limits=False, hosts=[*MASTODON_HOSTS, *BLOG_HOSTS, APPVIEW_HOST]
    ) as sb:
        yield sb


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A database of this module's own on the PostgreSQL server, migrated; dropped at the end."""
    name = f"reach_fanout_{os.getpid()}"
    admin = create_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - the message says what to do
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_SERVER_URL}: {exc}")
    url = make_url(POSTGRES_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_hosts_roster(path: Path, sb: SandboxProcess) -> Path:
    """AMBASSADORS' demo rows: ambassador i's instance on MASTODON_HOSTS[i], blog on BLOG_HOSTS[i]."""
    lines = DEMO_ROSTER.read_text(encoding="utf-8").splitlines()
    rows = [lines[0]]
    for line in lines[1:]:
        name, *_, platform, _account = line.split(",")
        if name not in AMBASSADORS:
            continue
        i = AMBASSADORS.index(name)
        host = {"mastodon": MASTODON_HOSTS, "feed": BLOG_HOSTS}.get(platform)
        rows.append(line.replace("127.0.0.1:8787", f"{host[i]}:{sb.port}") if host else line)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fan_env(
    server: PrefectServer,
    pg_url: str,
    hosts_sandbox: SandboxProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """What every worker gets: the same checkout and settings (on a second machine too)."""
    folder = tmp_path_factory.mktemp("reach-var")
    load_roster(pg_url, write_hosts_roster(folder / "roster.csv", hosts_sandbox))
    return server.env(
        REACH_HOME=str(ROOT),
        REACH_TIMEZONE="UTC",
        REACH_DATABASE_URL=pg_url,
        REACH_VAR_DIR=str(folder),
        REACH_REPORTS_DIR=str(folder / "reports"),
        REACH_ALLOW_PRIVATE_HOSTS="true",
        REACH_BLUESKY_APPVIEW_URL=f"http://{APPVIEW_HOST}:{hosts_sandbox.port}",
        REACH_CRAWL_SHARDS="host",
        REACH_CRAWL_SHARD_COUNT=str(SHARDS),
        PREFECT_WORKER_QUERY_SECONDS="2",
    )


@pytest.fixture(scope="module")
def deployments(server: PrefectServer, fan_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`prefect deploy --all` from prefect.yaml, as `make serve` does."""
    return deploy_all(server, fan_env, POOL)


class Worker:
    """`prefect worker start --pool reach --type process` in a session of its own, and the pids of
    every process it has started (sampled while it runs: a flow run's process is gone afterwards)."""

    def __init__(self, env: dict[str, str], log: Path, name: str) -> None:
        self.name = name
        self.log_path = log
        self._log = log.open("w")
        # --limit 2: each worker takes part of the shards (with no limit, the first to poll takes all).
        self.proc = subprocess.Popen(
            [str(PREFECT_BIN), "worker", "start", "--pool", POOL, "--type", "process"]
            + ["--limit", "2", "--name", name],
            env=env,
            cwd="/",
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to be killed as a machine dies
        )
        self.seen: set[int] = set()

    def sample(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.seen.update(c.pid for c in children)
        return children

    def kill_like_a_dead_machine(self) -> None:
        """SIGKILL the worker's process group and every process group under it."""
        groups = {self.proc.pid}
        for child in self.sample():
            with contextlib.suppress(ProcessLookupError):
                groups.add(os.getpgid(child.pid))
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the worker we started, by its pid (a worker exits on the second SIGTERM)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            time.sleep(1)
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def log_tail(self) -> str:
        return self.log_path.read_text()[-3000:]


@pytest.fixture
def workers(
    fan_env: dict[str, str], deployments: dict[str, dict[str, Any]], tmp_path: Path
) -> Iterator[list[Worker]]:
    """Two process workers, separate processes, and a thread noting which processes each started."""
    started = [Worker(fan_env, tmp_path / f"worker-{i}.log", f"fanout-{i}") for i in (1, 2)]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for worker in started:
                worker.sample()
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield started
    finally:
        done.set()
        watcher.join(5)
        for worker in started:
            worker.stop()


def shard_runs(server: PrefectServer, parent_id: str) -> list[dict[str, Any]]:
    """The crawl-shard child runs of a nightly run."""
    runs = server.request(
        "POST",
        "/flow_runs/filter",
        {"flow_runs": {"parent_flow_run_id": {"any_": [parent_id]}}},
    )
    return sorted(runs, key=lambda r: r["name"])


def worker_of(workers: list[Worker], pid: int) -> str:
    names = [w.name for w in workers if pid in w.seen]
    assert len(names) == 1, (pid, names)
    return names[0]


def check_truth(
    session: Session, nightly_runs: list[CrawlRun], lookback: int, now: dt.datetime
) -> int:
    """Each account's profile and every post's counts, as crawled by its shard, are the truth's."""
    checked = 0
    by_id = {r.id: r for r in nightly_runs}
    outcomes = session.exec(
        select(CrawlOutcome).where(col(CrawlOutcome.crawl_run_id).in_(list(by_id)))
    ).all()
    for outcome in outcomes:
        assert outcome.ok, (outcome.account_id, outcome.reason)
        account = session.get(Account, outcome.account_id)
        assert account is not None
        run = by_id[outcome.crawl_run_id]
        since = run.started_at - dt.timedelta(days=lookback) + dt.timedelta(minutes=1)
        stored = {
            post.platform_post_id: (post, snap)
            for post, snap in session.exec(
                select(Post, PostSnapshot)
                .join(PostSnapshot, col(PostSnapshot.post_id) == Post.id)
                .where(
                    Post.account_id == account.id,
                    PostSnapshot.crawl_run_id == run.id,
                    Post.published_at >= since,
                )
            ).all()
        }
        if account.platform == "feed":
            blog = account.key.rstrip("/").split("/")[-2]
            want = [
                p for p in truth.expected("blog", blog, now=now).blog_posts if p.published >= since
            ]
            paths = {
                post.url.split("://", 1)[1].split("/", 1)[1]: snap for post, snap in stored.values()
            }
            assert {p.path.lstrip("/") for p in want} == set(paths), blog
            for p in want:
                assert paths[p.path.lstrip("/")].comments == p.comments
                checked += 1
            continue
        name = (
            account.handle.lstrip("@").split("@")[0]
            if account.platform == "mastodon"
            else account.handle
        )
        want_account = truth.expected(account.platform, name, now=now)
        snapshot = session.exec(
            select(AccountSnapshot).where(
                AccountSnapshot.account_id == account.id, AccountSnapshot.crawl_run_id == run.id
            )
        ).one()
        assert (snapshot.followers, snapshot.following, snapshot.posts_count) == (
            want_account.profile.followers,
            want_account.profile.following,
            want_account.profile.posts_count,
        ), account.handle
        host = account_host("mastodon", account.base_url, "")
        for p in want_account.posts:
            if p.published < since or p.kind == "boost":
                continue
            key = (
                f"{host}:{status_id(p)}" if account.platform == "mastodon" else post_ref(None, p)[0]
            )
            _post, snap = stored[key]
            assert (snap.likes, snap.comments, snap.reposts) == (p.likes, p.replies, p.reposts), key
            checked += 1
    return checked


@pytest.mark.slow
@pytest.mark.postgres
def test_a_nightly_fans_out_over_two_workers_one_crawl_per_host_with_the_sandboxs_figures(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
    workers: list[Worker],
    hosts_sandbox: SandboxProcess,
    pg_url: str,
) -> None:
    assert "crawl-shard/shard" in deployments
    hosts_sandbox.reset()
    nightly = create_run_as_the_ui_does(
        server,
        deployments["nightly-reach/nightly"]["id"],
        {"platforms": ["mastodon", "bluesky", "feed"], "send_digest": False},
    )
    final = server.wait_for_state(nightly["id"], FINAL, timeout=400)
    logs = "\n".join(w.log_tail() for w in workers)
    assert final["state_type"] == "COMPLETED", (final["state"]["message"], logs)

    shards = shard_runs(server, nightly["id"])
    assert len(shards) == SHARDS, logs
    assert all(s["state_type"] == "COMPLETED" for s in shards)
    assert all(s["name"].startswith("crawl-shard ") for s in shards)
    appview = f"{APPVIEW_HOST}:{hosts_sandbox.port}"
    with Session(get_engine(pg_url)) as session:
        runs = session.exec(
            select(CrawlRun).where(col(CrawlRun.prefect_flow_run_id).in_([s["id"] for s in shards]))
        ).all()
        assert all(r.status == "succeeded" for r in runs), [(r.id, r.message) for r in runs]
        # Each shard ran on a worker; between them, both workers crawled.
        shard_worker = {r.prefect_flow_run_id: worker_of(workers, r.pid) for r in runs}
        assert len(shard_worker) == SHARDS
        assert set(shard_worker.values()) == {"fanout-1", "fanout-2"}, shard_worker

        # Every account of a host was crawled by one shard: one host's budget, one crawl at a time.
        shard_of_host: dict[str, set[str]] = {}
        for outcome, account in session.exec(
            select(CrawlOutcome, Account)
            .join(Account, col(Account.id) == CrawlOutcome.account_id)
            .where(col(CrawlOutcome.crawl_run_id).in_([r.id for r in runs]))
        ).all():
            run = next(r for r in runs if r.id == outcome.crawl_run_id)
            host = account_host(account.platform, account.base_url, f"http://{appview}")
            shard_of_host.setdefault(host, set()).add(str(run.prefect_flow_run_id))
        assert len(shard_of_host) == 7 and all(len(s) == 1 for s in shard_of_host.values())
        assert session.exec(select(func.count(col(CrawlOutcome.id)))).one() == 9

        checked = check_truth(
            session,
            list(runs),
            get_settings().lookback_days,
            truth.sandbox_now(0, hosts_sandbox.calendar_date()),
        )
        assert checked > 40

        keys = session.exec(select(Post.platform, Post.platform_post_id)).all()
        assert len(keys) == len(set(keys))  # no post twice
        per_post = session.exec(
            select(PostSnapshot.post_id, func.count(col(PostSnapshot.id)))
            .where(col(PostSnapshot.crawl_run_id).in_([r.id for r in runs]))
            .group_by(col(PostSnapshot.post_id))
        ).all()
        assert per_post and all(n == 1 for _, n in per_post)  # one snapshot per post and night

    # The sandbox saw each host's requests in flight at most as one spider sends them.
    stats = hosts_sandbox.stats()["hosts"]
    platform_of = {f"{h}:{hosts_sandbox.port}": "mastodon" for h in MASTODON_HOSTS}
    platform_of |= {f"{h}:{hosts_sandbox.port}": "feed" for h in BLOG_HOSTS} | {appview: "bluesky"}
    assert set(stats) == set(platform_of)
    for host, entry in stats.items():
        assert sum(entry["requests"].values()) > 0
        assert 1 <= entry["max_concurrent"] <= PER_HOST[platform_of[host]], (host, entry)

    # Each host's limit exists with one slot, free again.
    limits = {
        limit["name"]: limit
        for limit in server.request("POST", "/v2/concurrency_limits/filter", {})
    }
    for host in platform_of:
        assert limits[f"host:{host}"]["limit"] == 1
        assert limits[f"host:{host}"]["active_slots"] == 0


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("deployment", ["crawl-shard/shard", "crawl/rerun"])
def test_a_crawl_waits_while_another_crawl_holds_its_hosts_limit(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
    workers: list[Worker],
    hosts_sandbox: SandboxProcess,
    pg_url: str,
    deployment: str,
) -> None:
    """A nightly's shard, or a rerun from the UI of an ambassador on that host."""
    host = f"{BLOG_HOSTS[0]}:{hosts_sandbox.port}"
    limit = f"host:{host}"
    with contextlib.suppress(urllib.error.HTTPError):  # 409: the nightly made it already
        server.request("POST", "/v2/concurrency_limits/", {"name": limit, "limit": 1})
    # Another crawl of this host (a worker elsewhere) holds its one slot.
    held = server.request(
        "POST",
        "/v2/concurrency_limits/increment-with-lease",
        {"slots": 1, "names": [limit], "mode": "concurrency", "lease_duration": 120},
    )
    try:
        parameters: dict[str, Any] = (
            {"hosts": [host], "platforms": ["feed"], "shard": "1/1", "retries": 0}
            if deployment == "crawl-shard/shard"
            else {"platforms": ["feed"], "ambassadors": ["amara-okafor"]}  # her blog is on host
        )
        run = create_run_as_the_ui_does(server, deployments[deployment]["id"], parameters)
        server.wait_for_state(run["id"], {"RUNNING"}, timeout=90)
        time.sleep(8)  # started on a worker, it waits for the slot: it crawls nothing meanwhile
        with Session(get_engine(pg_url)) as session:
            assert not session.exec(
                select(CrawlRun).where(CrawlRun.prefect_flow_run_id == run["id"])
            ).all()
        assert server.flow_run(run["id"])["state_type"] == "RUNNING"
        released = dt.datetime.now(dt.UTC)
    finally:
        server.request(
            "POST", "/v2/concurrency_limits/decrement-with-lease", {"lease_id": held["lease_id"]}
        )
    final = server.wait_for_state(run["id"], FINAL, timeout=120)
    assert final["state_type"] == "COMPLETED", final["state"]["message"]
    with Session(get_engine(pg_url)) as session:
        (crawl,) = session.exec(
            select(CrawlRun).where(CrawlRun.prefect_flow_run_id == run["id"])
        ).all()
    assert crawl.status == "succeeded" and crawl.started_at >= released


def _pid(flow_run: dict[str, Any]) -> int | None:
    """The process a worker started for a flow run (Prefect records it as infrastructure_pid)."""
    value = flow_run.get("infrastructure_pid")
    return int(str(value).rsplit(":", 1)[-1]) if value else None


def _crawling(worker: Worker) -> bool:
    """A `scrapy crawl` is running under the worker."""
    for child in worker.sample():
        try:
            if "scrapy" in child.cmdline() and "crawl" in child.cmdline():
                return True
        except psutil.NoSuchProcess:
            pass
    return False


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(600)  # a dead worker's runs are crashed after 90 s without a heartbeat
def test_a_worker_killed_mid_run_fails_only_its_shards_named_in_the_nightly(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
    workers: list[Worker],
    hosts_sandbox: SandboxProcess,
    pg_url: str,
) -> None:
    hosts_sandbox.reset()
    hosts_sandbox.set_faults(slow=2)  # every answer takes 2 s: the shards are mid-crawl when killed
    try:
        nightly = create_run_as_the_ui_does(
            server,
            deployments["nightly-reach/nightly"]["id"],
            {"platforms": ["mastodon", "bluesky", "feed"], "send_digest": False},
        )
        deadline = time.monotonic() + 180
        shards: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            shards = shard_runs(server, nightly["id"])
            if len(shards) == SHARDS and all(_pid(s) for s in shards):
                break
            time.sleep(0.5)
        logs = "\n".join(w.log_tail() for w in workers)
        assert len(shards) == SHARDS and all(_pid(s) for s in shards), logs
        parent_pid = _pid(server.flow_run(nightly["id"]))
        assert parent_pid is not None
        # The worker that does not run the nightly itself, with its shards.
        (victim,) = [w for w in workers if parent_pid not in w.seen]
        killed = {s["id"] for s in shards if _pid(s) in victim.seen}
        assert killed, logs
        while time.monotonic() < deadline and not _crawling(victim):
            time.sleep(0.2)
        assert _crawling(victim), victim.log_tail()
        victim.kill_like_a_dead_machine()
    finally:
        hosts_sandbox.set_faults(slow=None)

    # Its runs fall silent; the server crashes them; the nightly fails those shards only, naming them.
    try:
        final = server.wait_for_state(nightly["id"], FINAL, timeout=400)
    except AssertionError:
        heartbeats = server.request(
            "POST",
            "/events/filter",
            {"filter": {"event": {"prefix": ["prefect.flow-run"]}}, "limit": 50},
        )
        raise AssertionError(
            (
                [(s["name"], s["state_type"]) for s in shard_runs(server, nightly["id"])],
                [
                    (e["event"], e["resource"].get("prefect.resource.name"), e["occurred"])
                    for e in heartbeats["events"]
                ],
                server.request("POST", "/automations/filter", {}),
            )
        ) from None
    assert final["state_type"] == "FAILED", final["state"]["message"]
    message = final["state"]["message"]
    states = {s["id"]: s for s in shard_runs(server, nightly["id"])}
    for shard_id in killed:
        assert states[shard_id]["state_type"] == "CRASHED"
        assert states[shard_id]["name"] in message, message
    survivors = [s for s in states.values() if s["id"] not in killed]
    assert survivors and all(s["state_type"] == "COMPLETED" for s in survivors)
    assert all(s["name"] not in message for s in survivors)
    # The rest of the nightly ran on what was crawled.
    tasks = server.request(
        "POST", "/task_runs/filter", {"task_runs": {"flow_run_id": {"any_": [nightly["id"]]}}}
    )
    done = {t["name"].split("-")[0] for t in tasks if t["state_type"] == "COMPLETED"}
    assert {"score_sentiment", "build_reach_report"} <= done, sorted(done)

    with Session(get_engine(pg_url)) as session:
        runs = session.exec(
            select(CrawlRun).where(col(CrawlRun.prefect_flow_run_id).in_(list(states)))
        ).all()
    for run in runs:
        if run.prefect_flow_run_id in killed:  # closed, not left running: "interrupted"
            assert run.status == "failed" and (run.message or "").startswith("interrupted"), (
                run.id,
                run.message,
            )
        else:
            assert run.status == "succeeded", (run.id, run.message)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_pending_shard_is_crashed_when_its_worker_is_gone_not_while_its_worker_lives(
    server: PrefectServer, deployments: dict[str, dict[str, Any]]
) -> None:
    """A worker killed after starting a shard's process, before the shard ran, left it PENDING:
    no flow-run heartbeat ever comes; the worker's own heartbeats tell a dead worker from a slow
    start under a live one."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.shard import ShardPlan, _wait

    shard = deployments["crawl-shard/shard"]["id"]
    runs = {}
    for worker, interval in (("ghost-worker", 1), ("live-worker", 600)):
        server.request(
            "POST",
            f"/work_pools/{POOL}/workers/heartbeat",
            {"name": worker, "heartbeat_interval_seconds": interval},
        )
        run = server.request(
            "POST",
            f"/deployments/{shard}/create_flow_run",
            {
                "parameters": {"hosts": [f"{worker}.example"], "platforms": ["feed"]},
                "state": {"type": "PENDING", "name": "Submitting"},  # workers take SCHEDULED only
            },
        )
        server.request("PATCH", f"/flow_runs/{run['id']}/labels", {"prefect.worker.name": worker})
        runs[worker] = run
    time.sleep(4)  # three of the ghost's 1 s intervals, and more, without its heartbeat
    with temporary_settings({PREFECT_API_URL: server.api_url}), get_client(sync_client=True) as c:
        children = [
            (ShardPlan(i, 2, [f"{w}.example"], ["feed"], 1), c.read_flow_run(run["id"]))
            for i, (w, run) in enumerate(runs.items(), start=1)
        ]
        finals = {plan.hosts[0]: run for plan, run in _wait(c, children, 0.3, heartbeats=True)}
    ghost, live = finals["ghost-worker.example"], finals["live-worker.example"]
    assert ghost.state is not None and ghost.state.is_crashed()
    assert "its worker ghost-worker sent no heartbeat" in (ghost.state.message or "")
    # Under a live worker it is waited on, until the nightly's deadline only.
    assert live.state is not None and live.state.is_crashed()
    assert "gave up on it" in (live.state.message or ""), live.state.message
