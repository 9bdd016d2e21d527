"""Fixtures for the flow tests: a sandbox, a small roster on it, Prefect's test harness and a real
Prefect server."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.testing.utilities import prefect_test_harness
from sqlmodel import Session

from reach.db import get_engine
from reach.roster import import_roster, parse_roster
from sandbox.testing import SandboxProcess

ROOT = Path(__file__).resolve().parents[2]
DEMO_ROSTER = ROOT / "reach" / "data" / "demo_roster.csv"
# Three ambassadors with accounts on every crawled platform: enough to see each platform's data.
AMBASSADORS = ("Amara Okafor", "Julien Moreau", "Li Na")
PREFECT_BIN = Path(sys.executable).with_name("prefect")


def write_roster(path: Path, port: int) -> Path:
    """The demo roster's rows for AMBASSADORS, pointed at a sandbox on `port`."""
    lines = DEMO_ROSTER.read_text(encoding="utf-8").splitlines()
    rows = [lines[0]] + [line for line in lines[1:] if line.split(",")[0] in AMBASSADORS]
    path.write_text(
        "\n".join(rows).replace("127.0.0.1:8787", f"127.0.0.1:{port}") + "\n", encoding="utf-8"
    )
    return path


def load_roster(url: str, roster: Path) -> None:
    """Import a roster into the database at `url`."""
    with Session(get_engine(url)) as session, session.begin():
        import_roster(session, parse_roster(roster, allow_private_hosts=True))


def free_port() -> int:
    """A port on 127.0.0.1 free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def flow_sandbox() -> Iterator[SandboxProcess]:
    """One sandbox for the flow tests, without rate limits (the crawler's pacing is tested elsewhere)."""
    with SandboxProcess(day=0, rate_limits=False) as sb:
        yield sb


@pytest.fixture
def sandbox(flow_sandbox: SandboxProcess) -> Iterator[SandboxProcess]:
    """The shared sandbox, faults and counters reset after the test."""
    yield flow_sandbox
    flow_sandbox.reset()


@pytest.fixture(scope="session")
def harness() -> Iterator[None]:
    """One Prefect test harness (a temporary API, about 9 s to start) for the session."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with prefect_test_harness(server_startup_timeout=60):
            yield


class PrefectServer:
    """A `prefect server start` on a free loopback port, with its own PREFECT_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a Prefect client of this server: no REACH_ or PREFECT_ setting leaks in."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("REACH_", "PREFECT_"))}
        return {
            **base,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **extra,
        }

    def start(self, timeout: float = 90) -> None:
        log = (self.home / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(PREFECT_BIN), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            cwd=self.home,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"prefect server exited: {(self.home / 'server.log').read_text()[-2000:]}"
                )
            try:
                if self.request("GET", "/health") is not None:
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("prefect server did not answer /health")

    def stop(self) -> None:
        """Stop the server we started, by its pid."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def request(self, method: str, path: str, payload: Any = None, attempts: int = 6) -> Any:
        """Call the REST API; HTTPError carries non-2xx answers.

        Like Prefect's own client, 429/502/503 are retried with backoff: a server on SQLite
        answers 503 while its database is locked by its own background services.
        """
        data = json.dumps(payload).encode() if payload is not None else None
        for attempt in range(attempts):
            req = urllib.request.Request(
                self.api_url + path,
                data=data,
                method=method,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as answer:
                    body = answer.read()
                return json.loads(body) if body else {}
            except urllib.error.HTTPError as exc:
                if exc.code not in (429, 502, 503) or attempt == attempts - 1:
                    raise
                time.sleep(float(exc.headers.get("Retry-After") or 0) or 0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/flow_runs/{flow_run_id}")

    def wait_for_state(
        self, flow_run_id: str, states: set[str], timeout: float = 120
    ) -> dict[str, Any]:
        """Poll a flow run until its state type is one of `states`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.flow_run(flow_run_id)
            if run["state_type"] in states:
                return run
            time.sleep(0.5)
        raise AssertionError(f"flow run {flow_run_id} still {run['state_type']} after {timeout}s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A Prefect server for the test module that asks for it, stopped by its pid at the end."""
    server = PrefectServer(tmp_path_factory.mktemp("prefect-home"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def deploy_all(server: PrefectServer, env: dict[str, str], pool: str) -> dict[str, dict[str, Any]]:
    """`prefect deploy --all` from prefect.yaml into a new process pool, as `make serve` does;
    the deployments by `flow/deployment` name."""
    subprocess.run(
        [str(PREFECT_BIN), "work-pool", "create", pool, "--type", "process"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [str(PREFECT_BIN), "--no-prompt", "deploy", "--all"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    flows = {f["id"]: f["name"] for f in server.request("POST", "/flows/filter", {})}
    found = server.request("POST", "/deployments/filter", {})
    return {f"{flows[d['flow_id']]}/{d['name']}": d for d in found}


def create_run_as_the_ui_does(
    server: PrefectServer, deployment_id: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    """`POST /api/deployments/{id}/create_flow_run` with the body the UI's Custom run form sends."""
    return server.request(
        "POST",
        f"/deployments/{deployment_id}/create_flow_run",
        {
            "parameters": parameters,
            "state": {"type": "SCHEDULED", "message": "Run from the Prefect UI"},
            "tags": [],
            "job_variables": {},
            "enforce_parameter_schema": True,
        },
    )


def http_status(call: Any) -> int:
    """The HTTP status a REST call failed with (0 when it succeeded)."""
    try:
        call()
    except urllib.error.HTTPError as err:
        return err.code
    return 0
