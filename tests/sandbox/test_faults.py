"""Every fault switch, the control API and the command line of the sandbox."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error

import pytest

from sandbox import truth
from sandbox.bluesky import tid
from sandbox.testing import SandboxProcess
from tests.sandbox.conftest import fetch

pytestmark = pytest.mark.slow  # starts a sandbox subprocess

LOOKUP = "/api/v1/accounts/lookup?acct=alice"
PROFILE = "/xrpc/app.bsky.actor.getProfile?actor=alice.bsky.social"


def _raw_get(sb, path: str, timeout: float = 5) -> tuple[int, int, bytes]:
    """(status, promised Content-Length, bytes actually read before the server hung up)."""
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    promised = int(resp.getheader("Content-Length"))
    try:
        data = resp.read()
    except http.client.IncompleteRead as exc:
        data = exc.partial
    conn.close()
    return resp.status, promised, data


def test_rate_limit_budget_then_429_with_headers(sb) -> None:
    sb.set_faults(rate_limit=3)
    answers = [fetch(sb.base_url + LOOKUP) for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[3].json() == {"error": "Too many requests"}
    bsky = [fetch(sb.base_url + PROFILE) for _ in range(4)]
    assert bsky[3].status == 429 and int(bsky[3].headers["Retry-After"]) >= 1
    assert (
        bsky[3].json()["error"] == "RateLimitExceeded"
        and bsky[3].headers["RateLimit-Policy"] == "3;w=300"
    )
    assert sb.stats()["sent_429"] == 2


def test_rate_window_refills_budget() -> None:
    # A window long enough that three requests on a loaded machine fall inside it.
    with SandboxProcess(faults=["rate_limit=2"], rate_window=6) as sb:
        assert [fetch(sb.base_url + LOOKUP).status for _ in range(3)] == [200, 200, 429]
        time.sleep(6.2)
        assert fetch(sb.base_url + LOOKUP).status == 200


def test_rate_limits_off_sends_no_headers(sb) -> None:
    sb.set_faults(rate_limit="off")
    res = fetch(sb.base_url + LOOKUP)
    assert res.status == 200 and "X-RateLimit-Limit" not in res.headers


def test_storm_429_hits_the_next_n_requests(sb) -> None:
    sb.set_faults(storm_429=2)
    statuses = [fetch(sb.base_url + PROFILE) for _ in range(3)]
    assert [s.status for s in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "1"


def test_error_5xx_hits_the_next_n_requests(sb) -> None:
    sb.set_faults(error_5xx=1)
    assert [fetch(sb.base_url + LOOKUP).status for _ in range(2)] == [503, 200]


def test_slow_delays_answers(sb) -> None:
    sb.set_faults(slow=0.5)
    start = time.monotonic()
    assert fetch(sb.base_url + LOOKUP).status == 200
    assert time.monotonic() - start >= 0.5


def test_timeout_never_answers_the_named_account(sb) -> None:
    sb.set_faults(timeout="alice")
    with pytest.raises((TimeoutError, socket.timeout, OSError)):
        fetch(sb.base_url + LOOKUP, timeout=1)
    assert fetch(sb.base_url + "/api/v1/accounts/lookup?acct=bob").status == 200


def test_malformed_json_for_the_named_account(sb) -> None:
    sb.set_faults(malformed_json="alice")
    res = fetch(sb.base_url + PROFILE)
    assert res.status == 200
    with pytest.raises(json.JSONDecodeError):
        res.json()
    assert fetch(sb.base_url + "/xrpc/app.bsky.actor.getProfile?actor=bob.bsky.social").json()[
        "handle"
    ]


def test_truncated_body_is_a_short_read(sb) -> None:
    sb.set_faults(truncated="alice")
    status, promised, data = _raw_get(sb, LOOKUP)
    assert status == 200 and 0 < len(data) < promised


def test_missing_fields_drops_counts(sb) -> None:
    sb.set_faults(missing_fields="alice")
    acc = fetch(sb.base_url + LOOKUP).json()
    assert "followers_count" not in acc
    statuses = fetch(f"{sb.base_url}/api/v1/accounts/{acc['id']}/statuses").json()
    assert statuses and all(
        "favourites_count" not in s and "replies_count" not in s for s in statuses
    )
    feed = fetch(sb.base_url + "/xrpc/app.bsky.feed.getAuthorFeed?actor=alice.bsky.social").json()[
        "feed"
    ]
    assert all("likeCount" not in i["post"] for i in feed)


def test_repeat_cursor_never_advances(sb) -> None:
    sb.set_faults(repeat_cursor="alice")
    url = sb.base_url + "/xrpc/app.bsky.feed.getAuthorFeed?actor=alice.bsky.social&limit=5"
    first = fetch(url).json()["cursor"]
    second = fetch(f"{url}&cursor={first}").json()["cursor"]
    third = fetch(f"{url}&cursor={second}").json()["cursor"]
    assert first == second == third
    aid = fetch(sb.base_url + LOOKUP).json()["id"]
    link = fetch(
        f"{sb.base_url}/api/v1/accounts/{aid}/statuses?limit=5&max_id=99999999999999999999"
    )
    assert "max_id=99999999999999999999" in link.headers["Link"]


def test_robots_disallow_prefix(sb) -> None:
    assert fetch(sb.base_url + "/robots.txt").body == b"User-agent: *\nDisallow:\n"
    sb.set_faults(robots_disallow="/blogs/")
    assert b"Disallow: /blogs/" in fetch(sb.base_url + "/robots.txt").body


def test_huge_body_streams_valid_json_and_feeds_of_the_asked_size_without_content_length(
    sb,
) -> None:
    sb.set_faults(huge_body=["alice", "/blogs/bob/feed/"], huge_body_mb=2)
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=5)
    conn.request("GET", LOOKUP)
    resp = conn.getresponse()
    assert (
        resp.getheader("Content-Length") is None
        and resp.getheader("Transfer-Encoding") == "chunked"
    )
    body = resp.read()
    conn.close()
    assert len(body) == 2 * 2**20 and json.loads(body)["acct"] == "alice"
    feed = fetch(sb.base_url + "/blogs/bob/feed/").body
    assert len(feed) == 2 * 2**20 and feed.rstrip().endswith(
        (b"</rss>", b"</feed>")
    )  # still one document
    assert (
        len(fetch(sb.base_url + "/api/v1/accounts/lookup?acct=bob").body) < 10_000
    )  # others unchanged


def test_not_found_per_platform(sb) -> None:
    sb.set_faults(not_found="alice")
    assert fetch(sb.base_url + LOOKUP).json() == {"error": "Record not found"}
    res = fetch(sb.base_url + "/xrpc/com.atproto.identity.resolveHandle?handle=alice.bsky.social")
    assert res.status == 400 and res.json() == {
        "error": "InvalidRequest",
        "message": "Unable to resolve handle",
    }
    assert fetch(sb.base_url + "/blogs/alice/feed/").status == 404


def test_suspended_per_platform(sb) -> None:
    sb.set_faults(suspended=["alice"])
    acc = fetch(sb.base_url + LOOKUP).json()
    assert acc["suspended"] is True and acc["followers_count"] == 0
    assert fetch(f"{sb.base_url}/api/v1/accounts/{acc['id']}/statuses").json() == []
    res = fetch(sb.base_url + PROFILE)
    assert res.status == 400 and res.json() == {
        "error": "AccountTakedown",
        "message": "Account has been suspended",
    }
    assert fetch(sb.base_url + "/blogs/alice/").status == 410


def test_stats_count_per_path_pattern_and_reset_clears(sb) -> None:
    sb.reset()
    fetch(sb.base_url + LOOKUP)
    fetch(sb.base_url + "/api/v1/accounts/lookup?acct=bob")
    stats = sb.stats()
    assert stats["requests"] == {"/api/v1/accounts/lookup": 2} and stats["statuses"] == {"200": 2}
    sb.set_faults(not_found="bob")
    sb.reset()
    assert sb.stats()["total"] == 0 and sb.control("GET", "/_sandbox/faults")["faults"] == {}


def test_unknown_fault_is_rejected(sb) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        sb.set_faults(no_such_fault=1)
    assert err.value.code == 400


def test_command_line_faults_and_day_survive_reset() -> None:
    with SandboxProcess(day=2, faults=["not_found=zed", "storm_429=1"]) as sb:
        assert fetch(sb.base_url + LOOKUP).status == 429
        assert fetch(sb.base_url + "/api/v1/accounts/lookup?acct=zed").status == 404
        sb.reset()
        assert sb.control("GET", "/_sandbox/faults")["faults"]["not_found"] == ["zed"]
        assert fetch(sb.base_url + LOOKUP).status == 429  # the start-up storm is back too
        followers = fetch(sb.base_url + LOOKUP).json()["followers_count"]
        assert followers == truth.profile("mastodon", "alice", truth.sandbox_now(2)).followers


def test_later_day_shows_growth_and_drops_a_deleted_post(sb) -> None:
    handle = "alice.bsky.social"
    gone = next(
        p
        for p in truth.posts("bluesky", handle, truth.sandbox_now(0))
        if p.seed.deleted_at and p.seed.deleted_at <= truth.sandbox_now(3)
    )
    did = fetch(f"{sb.base_url}/xrpc/com.atproto.identity.resolveHandle?handle={handle}").json()[
        "did"
    ]
    thread = f"{sb.base_url}/xrpc/app.bsky.feed.getPostThread?uri=at://{did}/app.bsky.feed.post/{tid(gone.published, gone.key)}"
    day0 = fetch(sb.base_url + PROFILE).json()
    assert fetch(thread).status == 200
    sb.control("POST", "/_sandbox/day", {"day": 3})
    day3 = fetch(sb.base_url + PROFILE).json()
    assert day3["followersCount"] > day0["followersCount"]
    assert fetch(thread).json()["error"] == "NotFound"
