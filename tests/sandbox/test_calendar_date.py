"""The sandbox's calendar date is a setting: REACH_SANDBOX_DATE, `--date`, `POST /_sandbox/date`."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sandbox import truth
from sandbox.server import serve
from sandbox.testing import SandboxProcess
from tests.sandbox.conftest import fetch

ROOT = Path(truth.__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "value", ["2025-13-01", "2025-02-30", "tomorrow", "20250304", "2025-W10-2", "2025-3-4"]
)
def test_malformed_date_is_refused_naming_the_setting_and_the_value(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(truth.DATE_SETTING, value)
    with pytest.raises(
        ValueError, match=rf"^REACH_SANDBOX_DATE must be a date as YYYY-MM-DD, got '{value}'$"
    ):
        truth.sandbox_today()


def test_date_setting_moves_the_clock_and_its_absence_is_the_real_utc_date(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(truth.DATE_SETTING, "2025-03-04")
    assert truth.sandbox_now(1) == datetime(2025, 3, 5, tzinfo=UTC)
    assert truth.sandbox_now(0, date(2025, 6, 1)) == datetime(
        2025, 6, 1, tzinfo=UTC
    )  # explicit date wins
    monkeypatch.delenv(truth.DATE_SETTING)
    before = datetime.now(UTC).date()
    assert truth.sandbox_today() in {
        before,
        datetime.now(UTC).date(),
    }  # midnight may pass in between


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--date", "2025-13-01"], {}, "--date"),
        ([], {truth.DATE_SETTING: "next monday"}, truth.DATE_SETTING),
    ],
)
def test_sandbox_command_refuses_a_malformed_date_in_one_line(
    args: list[str], env: dict[str, str], named: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port", "0", *args],
        check=False,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=ROOT,
        timeout=30,
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and named in lines[0] and "must be a date as YYYY-MM-DD" in lines[0], (
        done.stderr
    )


def test_serving_with_a_malformed_date_setting_exits_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What `reach sandbox` calls: refused before any reactor starts.
    monkeypatch.setenv(truth.DATE_SETTING, "2025-02-31")
    with pytest.raises(
        SystemExit, match=r"^sandbox: error: REACH_SANDBOX_DATE must be .* got '2025-02-31'$"
    ):
        serve(port=0)


@pytest.mark.slow
def test_sandbox_process_serves_the_truth_of_its_given_date() -> None:
    with SandboxProcess(today=date(2025, 3, 4), day=1) as sb:
        health = sb.control("GET", "/_sandbox/health")
        assert (health["date"], health["now"]) == ("2025-03-04", "2025-03-05T00:00:00+00:00")
        followers = fetch(f"{sb.base_url}/api/v1/accounts/lookup?acct=alice").json()[
            "followers_count"
        ]
        assert (
            followers
            == truth.profile("mastodon", "alice", truth.sandbox_now(1, date(2025, 3, 4))).followers
        )


@pytest.mark.slow
def test_date_control_moves_the_calendar_and_null_restores_the_start_date(
    sb: SandboxProcess,
) -> None:
    start = sb.calendar_date()
    assert sb.set_date(date(2025, 8, 9)) == date(2025, 8, 9)
    followers = fetch(f"{sb.base_url}/api/v1/accounts/lookup?acct=alice").json()["followers_count"]
    assert (
        followers
        == truth.profile("mastodon", "alice", truth.sandbox_now(0, date(2025, 8, 9))).followers
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        sb.control("POST", "/_sandbox/date", {"date": "2025-08-32"})
    assert refused.value.code == 400 and b"got '2025-08-32'" in refused.value.read()
    assert sb.calendar_date() == date(2025, 8, 9)  # a refused date changes nothing
    assert sb.set_date(None) == start
