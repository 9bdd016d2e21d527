"""prefect.yaml deployed on a real Prefect server; runs created as the UI does, picked up by a worker."""

import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from models import Account, Ambassador, CrawlRun, Post
from reach.db import get_engine, upgrade
from reach.settings import Settings
from sandbox.testing import SandboxProcess
from tests.flows.conftest import (
    PREFECT_BIN,
    ROOT,
    PrefectServer,
    create_run_as_the_ui_does,
    deploy_all,
    http_status,
    load_roster,
    write_roster,
)
from tests.receivers import JsonReceiver

pytestmark = pytest.mark.slow
POOL = "reach"


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory, flow_sandbox: SandboxProcess) -> str:
    """A migrated SQLite database holding the small roster, as the worker's flows will see it."""
    folder = tmp_path_factory.mktemp("reach")
    url = f"sqlite:///{folder / 'reach.db'}"
    upgrade(url)
    load_roster(url, write_roster(folder / "roster.csv", flow_sandbox.port))
    return url


@pytest.fixture(scope="module")
def worker_env(
    server: PrefectServer, sqlite_url: str, flow_sandbox: SandboxProcess
) -> dict[str, str]:
    """What `make serve` gives the deploy command and the worker."""
    return server.env(
        REACH_HOME=str(ROOT),
        REACH_TIMEZONE="Europe/Paris",
        REACH_DATABASE_URL=sqlite_url,
        REACH_ALLOW_PRIVATE_HOSTS="true",
        REACH_BLUESKY_APPVIEW_URL=flow_sandbox.base_url,
    )


@pytest.fixture(scope="module")
def deployments(server: PrefectServer, worker_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`prefect deploy --all` from prefect.yaml; deployments by `flow/deployment` name."""
    return deploy_all(server, worker_env, POOL)


def run_worker_once(env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """A worker that picks up the runs due now, runs them, and exits."""
    return subprocess.run(
        [str(PREFECT_BIN), "worker", "start", "--pool", POOL, "--run-once"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_prefect_yaml_deploys_eight_flows_with_the_nightly_and_weekly_schedules(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
) -> None:
    assert set(deployments) == {
        "nightly-reach/nightly",
        "crawl/rerun",
        "score-sentiment/rescore",
        "reach-report/build",
        "import-linkedin/inbox",
        "digest/weekly-digest",
        "run-health/on-failure",
        "crawl-shard/shard",
    }
    weekly = deployments["digest/weekly-digest"]["schedules"][0]
    assert (weekly["schedule"]["cron"], weekly["schedule"]["timezone"]) == (
        "0 8 * * 1",
        "Europe/Paris",
    )
    assert weekly["parameters"] == {"period": "week"}
    # The run-health automation: every reach flow run that fails or crashes starts run-health.
    automations = server.request("POST", "/automations/filter", {})
    (automation,) = [a for a in automations if a["enabled"]]
    assert set(automation["trigger"]["expect"]) == {
        "prefect.flow-run.Failed",
        "prefect.flow-run.Crashed",
    }
    (action,) = automation["actions"]
    assert action["deployment_id"] == deployments["run-health/on-failure"]["id"]
    nightly = deployments["nightly-reach/nightly"]
    schedule = nightly["schedules"][0]["schedule"]
    assert (schedule["cron"], schedule["timezone"]) == ("0 2 * * *", "Europe/Paris")
    assert nightly["schedules"][0]["parameters"]["crawl_timeout_minutes"] == 90
    assert all(d["enforce_parameter_schema"] for d in deployments.values())
    for name in ("nightly-reach/nightly", "crawl/rerun"):  # SQLite: one crawling run at a time
        assert deployments[name]["global_concurrency_limit"]["limit"] == 1
        assert deployments[name]["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    # The pull step (REACH_HOME at deploy time), not the deploying shell's directory, decides
    # where the worker runs the flows.
    assert deployments["crawl/rerun"]["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    ]
    form = deployments["crawl/rerun"]["parameter_openapi_schema"]["properties"]
    assert form["platforms"]["items"]["enum"] == ["mastodon", "bluesky", "feed"]
    assert all(p.get("description") for p in form.values())


def test_deploying_without_reach_home_records_the_checkout(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
    worker_env: dict[str, str],
) -> None:
    env = {k: v for k, v in worker_env.items() if k != "REACH_HOME"}
    done = subprocess.run(
        [str(PREFECT_BIN), "--no-prompt", "deploy", "--name", "rerun"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    deployment = server.request("GET", "/deployments/name/crawl/rerun")
    assert deployment["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    ]


def test_ui_custom_run_of_crawl_is_run_by_a_worker_and_stores_posts(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
    worker_env: dict[str, str],
    sqlite_url: str,
) -> None:
    crawl_id = deployments["crawl/rerun"]["id"]
    # Wrong types never become runs: the enforced schema answers 409 to the form.
    assert (
        http_status(lambda: create_run_as_the_ui_does(server, crawl_id, {"lookback_days": "lots"}))
        == 409
    )
    assert (
        http_status(
            lambda: create_run_as_the_ui_does(server, crawl_id, {"platforms": ["linkedin"]})
        )
        == 409
    )

    run = create_run_as_the_ui_does(
        server,
        crawl_id,
        {
            "platforms": ["mastodon", "bluesky", "feed"],
            "ambassadors": ["amara-okafor", "li-na"],
            "lookback_days": 30,
        },
    )
    worker = run_worker_once(worker_env)
    final = server.wait_for_state(
        run["id"], {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}, timeout=60
    )
    assert final["state_type"] == "COMPLETED", (
        final["state"]["message"],
        worker.stdout[-3000:],
        worker.stderr[-3000:],
    )
    assert final["name"] == "crawl mastodon+bluesky+feed · 2 ambassadors · 30d"

    with Session(get_engine(sqlite_url)) as session:
        per_ambassador = dict(
            session.exec(
                select(Ambassador.slug, func.count(col(Post.id)))
                .join(Account, col(Account.ambassador_id) == Ambassador.id)
                .join(Post, col(Post.account_id) == Account.id)
                .group_by(Ambassador.slug)
            ).all()
        )
        runs = session.exec(select(CrawlRun).where(CrawlRun.prefect_flow_run_id == run["id"])).all()
    assert per_ambassador.keys() == {"amara-okafor", "li-na"}  # julien-moreau was not asked for
    assert all(n > 0 for n in per_ambassador.values())
    assert sorted((r.platform, r.status) for r in runs) == [
        ("bluesky", "succeeded"),
        ("feed", "succeeded"),
        ("mastodon", "succeeded"),
    ]
    artifacts = server.request(
        "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
    )
    assert {a["key"] for a in artifacts} == {"crawl-results", "crawl-summary"}


def test_unknown_ambassador_fails_the_run_naming_it(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
    worker_env: dict[str, str],
) -> None:
    run = create_run_as_the_ui_does(
        server,
        deployments["crawl/rerun"]["id"],
        {"platforms": ["feed"], "ambassadors": ["li-na", "no-such-person"]},
    )
    worker = run_worker_once(worker_env)
    final = server.wait_for_state(
        run["id"], {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}, timeout=60
    )
    assert final["state_type"] == "FAILED", worker.stdout[-2000:]
    assert "unknown ambassador(s): no-such-person" in final["state"]["message"]


def _scrapy_descendants(pid: int) -> list[psutil.Process]:
    """`scrapy crawl` processes started under a process (the worker)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "scrapy" in child.cmdline() and "crawl" in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def test_cancelling_a_crawl_run_leaves_no_scrapy_process(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
    worker_env: dict[str, str],
    sandbox: SandboxProcess,
    tmp_path: Path,
) -> None:
    sandbox.set_faults(slow=2)  # every answer takes 2 s: the crawl is still running when cancelled
    run = create_run_as_the_ui_does(
        server,
        deployments["crawl/rerun"]["id"],
        {"platforms": ["mastodon", "feed"], "lookback_days": 30},
    )
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(PREFECT_BIN), "worker", "start", "--pool", POOL],
        env=worker_env,
        cwd="/",
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # Mastodon's crawl process, and the feed crawl's, which is split over processes by default.
    expected = 1 + Settings.model_fields["feed_crawl_processes"].default
    try:
        deadline = time.monotonic() + 60
        crawlers: list[psutil.Process] = []
        while time.monotonic() < deadline and len(crawlers) < expected:
            time.sleep(0.5)
            crawlers = _scrapy_descendants(worker.pid)
        assert len(crawlers) == expected, (tmp_path / "worker.log").read_text()[-3000:]
        # What the UI's Cancel button does.
        server.request(
            "POST",
            f"/flow_runs/{run['id']}/set_state",
            {"state": {"type": "CANCELLING", "message": "Cancelled from the UI"}, "force": True},
        )
        server.wait_for_state(
            run["id"], {"CANCELLED", "CRASHED", "FAILED", "COMPLETED"}, timeout=60
        )
        _gone, alive = psutil.wait_procs(crawlers, timeout=15)
        assert alive == [], f"scrapy still running: {[p.pid for p in alive]}"
        assert server.flow_run(run["id"])["state_type"] == "CANCELLED"
    finally:
        _stop_worker(worker, log)


def _run_health(receiver: JsonReceiver) -> list[str]:
    """The run-health messages received (the nightly's own monitors send other alerts too)."""
    return [m["message"] for m in receiver.received if m["title"] == "reach alert: run_health"]


def _wait_for_messages(receiver: JsonReceiver, count: int, timeout: float = 150) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_run_health(receiver)) < count:
        time.sleep(1)
    return _run_health(receiver)


def _start_worker(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], Any]:
    log = log_path.open("w")
    worker = subprocess.Popen(
        [str(PREFECT_BIN), "worker", "start", "--pool", POOL],
        env=env | {"PREFECT_WORKER_QUERY_SECONDS": "2"},
        cwd="/",
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return worker, log


def _stop_worker(worker: subprocess.Popen[bytes], log: Any) -> None:
    worker.terminate()  # a worker exits on the second signal
    time.sleep(1)
    if worker.poll() is None:
        worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    log.close()


def test_a_failed_nightly_and_a_crashed_crawl_each_alert_once(
    server: PrefectServer,
    deployments: dict[str, dict[str, Any]],
    worker_env: dict[str, str],
    sandbox: SandboxProcess,
    tmp_path: Path,
) -> None:
    receiver = JsonReceiver("127.0.0.6")
    env = worker_env | {"REACH_NOTIFY_URLS": receiver.url}
    worker, log = _start_worker(env, tmp_path / "worker.log")
    try:
        # Failed: the Mastodon instance answers 401 to every call, so every account fails.
        sandbox.set_faults(requires_auth=True)
        failed = create_run_as_the_ui_does(
            server,
            deployments["nightly-reach/nightly"]["id"],
            {"platforms": ["mastodon"], "send_digest": False},
        )
        final = server.wait_for_state(failed["id"], {"COMPLETED", "FAILED", "CRASHED"}, timeout=180)
        assert final["state_type"] == "FAILED", (tmp_path / "worker.log").read_text()[-3000:]
        told = _wait_for_messages(receiver, 1)
        assert len(told) == 1, (tmp_path / "worker.log").read_text()[-3000:]
        message = told[0]
        assert "mastodon" in message and "nightly-reach" in message and "Failed" in message

        # Crashed: the crawl's flow process is killed; a killed process runs no hook of its own.
        sandbox.set_faults(requires_auth=None, slow=2)
        crashed = create_run_as_the_ui_does(
            server, deployments["crawl/rerun"]["id"], {"platforms": ["mastodon"]}
        )
        deadline = time.monotonic() + 90
        crawlers: list[psutil.Process] = []
        while time.monotonic() < deadline and not crawlers:
            time.sleep(0.5)
            crawlers = _scrapy_descendants(worker.pid)
        assert crawlers, (tmp_path / "worker.log").read_text()[-3000:]
        flow_process = crawlers[0].parent()
        assert flow_process is not None
        flow_process.kill()  # SIGKILL
        final = server.wait_for_state(
            crashed["id"], {"CRASHED", "FAILED", "COMPLETED"}, timeout=120
        )
        assert final["state_type"] == "CRASHED"
        told = _wait_for_messages(receiver, 2)
        assert len(told) == 2, (tmp_path / "worker.log").read_text()[-3000:]
        assert "crawl" in told[1] and "Crashed" in told[1]
        time.sleep(10)  # nothing more comes: each event is told once
        assert len(_run_health(receiver)) == 2
    finally:
        sandbox.set_faults(requires_auth=None, slow=None)
        _stop_worker(worker, log)
        receiver.stop()
