"""`python -m bench fanout`: the nightly's crawl fanned out over Prefect workers, one worker vs two.

The demo roster's accounts spread over sandbox hosts on loopback (Mastodon over four instances,
blogs over three hosts, Bluesky on one AppView), every answer 0.2 s late as a real platform's are;
a real Prefect server, PostgreSQL, and `prefect worker start --pool reach --limit 1` processes (a
worker runs one shard at a time, as a machine one crawl keeps busy). The same fan-out (REACH_CRAWL_SHARDS=host,
4 shards) is timed from the first shard's start request to the last shard's end, with one worker
and then two, each on a fresh database. Both workers share this machine's cores.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PREFECT = Path(sys.executable).with_name("prefect")
POSTGRES_URL = os.environ.get(
    "REACH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MASTODON_HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
BLOG_HOSTS = ["127.0.0.6", "127.0.0.7", "127.0.0.8"]
APPVIEW_HOST = "127.0.0.9"
SHARDS = 4
LATENCY = 0.2  # seconds per answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _roster(path: Path, port: int) -> Path:
    """The demo roster with each Mastodon account and blog moved to one of the bench's hosts."""
    from cli.demo import DEMO_ROSTER, SANDBOX_PORT

    lines = DEMO_ROSTER.read_text(encoding="utf-8").splitlines()
    rows, seen = [lines[0]], {"mastodon": 0, "feed": 0}
    for line in lines[1:]:
        platform = line.split(",")[-2]
        hosts = {"mastodon": MASTODON_HOSTS, "feed": BLOG_HOSTS}.get(platform)
        if hosts:
            host = hosts[seen[platform] % len(hosts)]
            seen[platform] += 1
            line = line.replace(f"127.0.0.1:{SANDBOX_PORT}", f"{host}:{port}")
        rows.append(line)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _fresh_database(name: str, roster: Path) -> str:
    """A new PostgreSQL database holding the roster (dropped first if left by an earlier run)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlmodel import Session

    from reach.db import get_engine, upgrade
    from reach.roster import import_roster, parse_roster

    _drop_database(name)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    with Session(get_engine(url)) as session, session.begin():
        import_roster(session, parse_roster(roster, allow_private_hosts=True))
    get_engine(url).dispose()
    return url


def _drop_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class _Server:
    """`prefect server start` on a free port with its own PREFECT_HOME; stopped by its pid."""

    def __init__(self, home: Path) -> None:
        self.home, self.port = home, _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("REACH_", "PREFECT_"))}
        self.env = base | {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        log = (home / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=home,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.api + "/health", timeout=5).read()
                return
            time.sleep(0.5)
        raise SystemExit(
            "prefect server did not start: " + (home / "server.log").read_text()[-2000:]
        )

    def get(self, path: str, payload: Any) -> Any:
        request = urllib.request.Request(
            self.api + path,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        _stop(self.proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (twice: a worker exits on the second), then SIGKILL what is left, by pid."""
    for _ in range(2):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=3)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _fan_out_once(server: _Server, env: dict[str, str], workers: int, tmp: Path) -> dict[str, Any]:
    """Start `workers` workers, run the fan-out from this process, and time it."""
    procs = [
        subprocess.Popen(
            [str(PREFECT), "worker", "start", "--pool", "reach", "--type", "process"]
            + ["--limit", "1", "--name", f"bench-{i}"],
            env=env,
            cwd="/",
            stdout=(tmp / f"worker-{workers}-{i}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(workers)
    ]
    try:
        deadline = time.monotonic() + 60  # every worker polling before the clock starts
        while time.monotonic() < deadline:
            online = server.get("/work_pools/reach/workers/filter", {})
            if (
                sum(1 for w in online if w["name"].startswith("bench-") and w["status"] == "ONLINE")
                >= workers
            ):
                break
            time.sleep(0.5)
        # Its own process: Prefect reads its API address and settings once, at import.
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bench.fanout"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        total = time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"fan-out failed: {done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["process_seconds"] = total
    finally:
        for proc in procs:
            _stop(proc)
    return result


def _timed_fan_out() -> None:
    """In the child: the fan-out inside a flow (as the nightly runs it), timed; one JSON line out."""
    from prefect import flow

    from flows.shard import FanOut, fan_out

    @flow(name="bench-fan-out")
    def timed() -> tuple[float, FanOut]:
        began = time.perf_counter()
        result = fan_out(["mastodon", "bluesky", "feed"], None, 30, 0)
        return time.perf_counter() - began, result

    seconds, result = timed()
    if result.failures:
        raise SystemExit("fan-out failed: " + "; ".join(result.failures))
    accounts = sum(o.accounts_ok for o in result.outcomes)
    print(json.dumps({"seconds": seconds, "accounts": accounts, "shards": len(result.shards)}))


def main() -> None:
    from sandbox.testing import SandboxProcess

    with (
        tempfile.TemporaryDirectory(prefix="bench-fanout-") as folder,
        SandboxProcess(
            day=0, rate_limits=False, hosts=[*MASTODON_HOSTS, *BLOG_HOSTS, APPVIEW_HOST]
        ) as sandbox,
    ):
        tmp = Path(folder)
        sandbox.set_faults(slow=LATENCY)
        roster = _roster(tmp / "roster.csv", sandbox.port)
        server = _Server(tmp)
        database = f"bench_fanout_{os.getpid()}"
        try:
            env = server.env | {
                "REACH_HOME": str(ROOT),
                "REACH_TIMEZONE": "UTC",
                "REACH_VAR_DIR": str(tmp / "var"),
                "REACH_ALLOW_PRIVATE_HOSTS": "true",
                "REACH_BLUESKY_APPVIEW_URL": f"http://{APPVIEW_HOST}:{sandbox.port}",
                "REACH_CRAWL_SHARDS": "host",
                "REACH_CRAWL_SHARD_COUNT": str(SHARDS),
                "PREFECT_WORKER_QUERY_SECONDS": "1",
            }
            subprocess.run(
                [str(PREFECT), "work-pool", "create", "reach", "--type", "process"],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [str(PREFECT), "--no-prompt", "deploy", "--name", "shard"],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                timeout=180,
            )
            figures = {}
            for workers in (1, 2):
                url = _fresh_database(database, roster)
                figures[workers] = _fan_out_once(
                    server, env | {"REACH_DATABASE_URL": url}, workers, tmp
                )
        finally:
            server.stop()
            _drop_database(database)
    one, two = figures[1], figures[2]
    print(
        f"fan-out of {one['accounts']} accounts on {len(MASTODON_HOSTS) + len(BLOG_HOSTS) + 1} hosts "
        f"in {one['shards']} shards, answers {LATENCY} s late, one shard at a time per worker:"
    )
    for workers, row in figures.items():
        print(f"  {workers} worker(s): {row['seconds']:.1f} s wall, {row['accounts']} accounts ok")
    print(
        f"  two workers vs one: {one['seconds'] / two['seconds']:.2f} x faster (both on this {os.cpu_count()}-core machine)"
    )


if __name__ == "__main__":
    _timed_fan_out()
