"""Start the sandbox as a subprocess for tests: `with SandboxProcess(day=1) as sb: get(sb.base_url + ...)`.

`SandboxProcess(today=date(2025, 3, 4))` fixes its calendar date; otherwise the process takes
$REACH_SANDBOX_DATE, else the real UTC date. `SandboxProcess(hosts=["127.0.0.2", "127.0.0.3"])`
serves each address at one port as its own platform host (`sb.url(i)`); `time_scale=K` divides
every rate-limit window by K.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self

_READY = re.compile(r"sandbox listening on http://[\d.]+:(\d+)")


class SandboxProcess:
    """A sandbox server in its own process (on a free port unless given); stopped by its pid on exit."""

    def __init__(
        self,
        day: int = 0,
        faults: list[str] | None = None,
        posts_per_day: float | None = None,
        rate_limits: bool = True,
        rate_window: float | None = None,
        startup_timeout: float = 20.0,
        port: int = 0,
        today: date | None = None,
        hosts: list[str] | None = None,
        time_scale: float | None = None,
    ) -> None:
        self.hosts = list(hosts) if hosts else ["127.0.0.1"]
        self.time_scale = time_scale
        self.requested_port = port
        self.day = day
        self.today = today
        self.faults = faults or []
        self.posts_per_day = posts_per_day
        self.rate_limits = rate_limits
        self.rate_window = rate_window
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT (the first host's address when `hosts` were given)."""
        return self.url(0)

    def url(self, index: int) -> str:
        """Base URL of the index-th host: http://ADDR:PORT."""
        return f"http://{self.hosts[index]}:{self.port}"

    @property
    def urls(self) -> list[str]:
        """Base URLs of every host, in the order given."""
        return [self.url(i) for i in range(len(self.hosts))]

    @property
    def pid(self) -> int:
        """Pid of the server process this object started."""
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Self:
        cmd = [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(self.requested_port),
            "--day",
            str(self.day),
        ]
        if self.today is not None:
            cmd += ["--date", self.today.isoformat()]
        for fault in self.faults:
            cmd += ["--fault", fault]
        if self.posts_per_day is not None:
            cmd += ["--posts-per-day", str(self.posts_per_day)]
        if not self.rate_limits:
            cmd.append("--no-rate-limit")
        if self.rate_window:
            cmd += ["--rate-window", str(self.rate_window)]
        if self.hosts != ["127.0.0.1"]:
            cmd += ["--hosts", ",".join(self.hosts)]
        if self.time_scale is not None:
            cmd += ["--time-scale", str(self.time_scale)]
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=root
        )
        deadline = time.monotonic() + self.startup_timeout
        assert self.proc.stdout is not None
        # The server prints its port once it listens; a readline loop needs no polling of a guessed port.
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if m := _READY.search(line):
                self.port = int(m.group(1))
                break
        if not self.port:
            self._stop()
            taken = f" (port {self.requested_port} in use?)" if self.requested_port else ""
            raise RuntimeError(f"sandbox did not start{taken}: {''.join(seen[-5:]).strip()}")
        self.control("GET", "/_sandbox/health")  # answers: it is up
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        """Terminate the process we started, by its pid, and reap it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()

    def control(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Call a /_sandbox endpoint and return its JSON."""
        data = (
            json.dumps(payload).encode()
            if payload is not None
            else (b"{}" if method == "POST" else None)
        )
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def set_faults(self, **faults: Any) -> Any:
        """Switch faults at runtime: set_faults(storm_429=3, not_found="alice"); None switches one off."""
        return self.control("POST", "/_sandbox/faults", faults)

    def stats(self) -> Any:
        """Request counts per path pattern, statuses sent and 429s; per host under "hosts"."""
        return self.control("GET", "/_sandbox/stats")

    def host_stats(self, index: int) -> Any:
        """One host's requests per pattern, 429s sent and requests in flight at most and now."""
        return self.stats()["hosts"][f"{self.hosts[index]}:{self.port}"]

    def set_date(self, today: date | None) -> date:
        """Move the calendar date day 0 stands for (None: back to the one given at start); returns it."""
        out = self.control("POST", "/_sandbox/date", {"date": today.isoformat() if today else None})
        return date.fromisoformat(out["date"])

    def calendar_date(self) -> date:
        """The calendar date the running sandbox's day 0 stands for."""
        return date.fromisoformat(self.control("GET", "/_sandbox/health")["date"])

    def reset(self) -> Any:
        """Faults back to those given at start, counters zeroed."""
        return self.control("POST", "/_sandbox/reset")
