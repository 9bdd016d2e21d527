"""The multi-host sandbox: per-host budgets and counts, requests in flight, and compressed time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from sandbox.server import parse_hosts
from sandbox.testing import SandboxProcess
from tests.sandbox.conftest import fetch

pytestmark = pytest.mark.slow  # starts sandbox subprocesses

LOOKUP = "/api/v1/accounts/lookup?acct=alice"
PROFILE = "/xrpc/app.bsky.actor.getProfile?actor=alice.bsky.social"
HOSTS = ["127.0.0.2", "127.0.0.3"]
SCALE = 100  # 5 minutes become 3 s, 15 minutes 9 s


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[SandboxProcess]:
    """Two loopback hosts at one port, time compressed 100 times."""
    with SandboxProcess(hosts=HOSTS, time_scale=SCALE) as sb:
        yield sb


@pytest.fixture
def hosts(two_hosts: SandboxProcess) -> Iterator[SandboxProcess]:
    """The shared two-host sandbox, faults and counters reset after the test."""
    yield two_hosts
    two_hosts.reset()


def _reset_in(answer_headers: Any) -> float:
    """Seconds from now to a Mastodon X-RateLimit-Reset timestamp."""
    reset = datetime.fromisoformat(answer_headers["X-RateLimit-Reset"])
    return reset.timestamp() - time.time()


def test_two_hosts_have_their_own_budgets_and_counts(hosts: SandboxProcess) -> None:
    # 30 s windows once compressed: three requests on a loaded machine fall inside one.
    hosts.set_faults(rate_limit=2, rate_window=3000)
    first = [fetch(hosts.url(0) + LOOKUP) for _ in range(3)]
    second = [fetch(hosts.url(1) + LOOKUP) for _ in range(2)]
    assert [a.status for a in first] == [200, 200, 429]
    assert [a.status for a in second] == [200, 200]  # the first host's spent budget is not its own
    assert [a.headers["X-RateLimit-Remaining"] for a in second] == ["1", "0"]
    a, b = hosts.host_stats(0), hosts.host_stats(1)
    assert a["requests"] == {"/api/v1/accounts/lookup": 3} and a["sent_429"] == 1
    assert b["requests"] == {"/api/v1/accounts/lookup": 2} and b["sent_429"] == 0
    totals = hosts.stats()
    assert totals["requests"] == {"/api/v1/accounts/lookup": 5} and totals["sent_429"] == 1
    assert set(totals["hosts"]) == {f"{h}:{hosts.port}" for h in HOSTS}


def test_max_concurrent_counts_slow_answers_in_flight(hosts: SandboxProcess) -> None:
    hosts.set_faults(slow=1.5, rate_limit="off")
    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(lambda _: fetch(hosts.url(0) + LOOKUP).status, range(3)))
    assert statuses == [200, 200, 200]
    a, b = hosts.host_stats(0), hosts.host_stats(1)
    assert a["max_concurrent"] == 3 and a["concurrent_now"] == 0
    assert b["max_concurrent"] == 0  # nothing was sent to the other host
    # From the first arrival to the last finish: the three slow answers overlapped.
    assert 1.5 <= a["last_at"] - a["first_at"] < 3 * 1.5 and b["first_at"] is None


def test_time_scale_shortens_the_window_and_says_so(hosts: SandboxProcess) -> None:
    bsky = fetch(hosts.url(0) + PROFILE)
    assert bsky.headers["X-Sandbox-Time-Scale"] == str(SCALE)
    assert bsky.headers["RateLimit-Policy"] == "3000;w=3"  # 300 s / 100
    assert 0 < int(bsky.headers["RateLimit-Reset"]) - time.time() <= 3 + 1
    hosts.set_faults(rate_limit=1)
    assert fetch(hosts.url(1) + LOOKUP).status == 200
    refused = fetch(hosts.url(1) + LOOKUP)
    assert refused.status == 429 and 0 < _reset_in(refused.headers) <= 3
    time.sleep(_reset_in(refused.headers) + 0.2)
    assert fetch(hosts.url(1) + LOOKUP).status == 200  # a new 3 s window, not a 5 min one


def test_mastodon_paging_requests_have_their_own_budget(hosts: SandboxProcess) -> None:
    aid = fetch(hosts.url(0) + LOOKUP).json()["id"]
    paging = f"/api/v1/accounts/{aid}/statuses?limit=40&max_id=99999999999999999999"
    hosts.set_faults(paging_limit=1)
    first = fetch(hosts.url(0) + paging)
    assert first.status == 200
    # The headers describe the budget with the least left: the paging one, 15 min / 100 = 9 s.
    assert (
        first.headers["X-RateLimit-Limit"] == "1" and first.headers["X-RateLimit-Remaining"] == "0"
    )
    assert 0 < _reset_in(first.headers) <= 9
    assert fetch(hosts.url(0) + paging).status == 429
    assert fetch(hosts.url(0) + LOOKUP).status == 200  # no paging argument: main budget only
    assert fetch(hosts.url(1) + paging).status == 200  # the other host's paging budget is untouched
    assert [hosts.host_stats(i)["paging"] for i in (0, 1)] == [1, 1]  # let through, per host


def test_parse_hosts_takes_lists_and_ranges_of_loopback_addresses() -> None:
    assert parse_hosts("127.0.0.2,127.0.0.3") == ["127.0.0.2", "127.0.0.3"]
    assert parse_hosts("127.1.0.254-127.1.1.1") == [
        "127.1.0.254",
        "127.1.0.255",
        "127.1.1.0",
        "127.1.1.1",
    ]
    with pytest.raises(ValueError, match="not a loopback"):
        parse_hosts("10.0.0.1")
    with pytest.raises(ValueError, match="twice"):
        parse_hosts("127.0.0.2,127.0.0.2")
