"""Fixtures: one sandbox process for the module's tests, faults reset after each test."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import truth
from sandbox.testing import SandboxProcess


class Fetched:
    """An HTTP answer: status, headers (case-insensitive) and body."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        """Body as JSON."""
        return json.loads(self.body)


def fetch(url: str, timeout: float = 10) -> Fetched:
    """GET a URL and return the answer whatever its status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return Fetched(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        return Fetched(err.code, err.headers, err.read())


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """A sandbox at day 0, shared by the session."""
    with SandboxProcess(day=0) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxProcess]:
    """The shared sandbox, with faults and counters reset after the test.

    The test's `truth.sandbox_now()` gets the sandbox's own calendar date (the process took
    $REACH_SANDBOX_DATE or the real date when it started), so the two agree whatever the date.
    """
    monkeypatch.setenv(truth.DATE_SETTING, sandbox.calendar_date().isoformat())
    yield sandbox
    sandbox.reset()
    sandbox.control("POST", "/_sandbox/day", {"day": 0})
    sandbox.set_date(None)
