"""The sandbox's GET /api/v1/accounts?id[]= (Mastodon 4.3+), as Api::V1::AccountsController#index."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from sandbox import truth
from tests.sandbox.conftest import fetch

pytestmark = pytest.mark.slow  # starts a sandbox subprocess

NAMES = [f"batch_person_{i:02d}" for i in range(41)]


def _ids(sb, names: list[str]) -> list[str]:
    """Ids handed out by lookup (the sandbox, like an instance, knows an id once it exists)."""
    ids = []
    for name in names:
        res = fetch(f"{sb.base_url}/api/v1/accounts/lookup?acct={name}")
        assert res.status == 200
        ids.append(res.json()["id"])
    return ids


def _batch(sb, ids: list[str]):
    return fetch(f"{sb.base_url}/api/v1/accounts?{urlencode([('id[]', i) for i in ids])}")


def test_forty_ids_answer_forty_accounts_with_their_followers(sb) -> None:
    sb.set_faults(rate_limit=100000)
    ids = _ids(sb, NAMES[:40])
    res = _batch(sb, ids)
    assert res.status == 200
    accounts = res.json()
    assert [a["id"] for a in accounts] == ids
    for name, account in zip(NAMES, accounts, strict=False):
        want = truth.profile("mastodon", name, truth.sandbox_now(), truth.DEFAULT_POSTS_PER_DAY)
        assert (account["username"], account["followers_count"]) == (name, want.followers)
    assert sb.stats()["requests"]["/api/v1/accounts"] == 1


def test_more_than_forty_ids_is_a_422(sb) -> None:
    sb.set_faults(rate_limit=100000)
    res = _batch(sb, _ids(sb, NAMES))
    assert res.status == 422
    assert "error" in res.json()


def test_unknown_ids_are_left_out_and_duplicates_answered_once(sb) -> None:
    sb.set_faults(rate_limit=100000)
    (known,) = _ids(sb, NAMES[:1])
    res = _batch(sb, [known, "1", known])
    assert res.status == 200
    assert [a["id"] for a in res.json()] == [known]


def test_a_suspended_account_is_answered_with_suspended_true(sb) -> None:
    sb.set_faults(rate_limit=100000)
    (aid,) = _ids(sb, NAMES[:1])
    sb.set_faults(rate_limit=100000, suspended=NAMES[0])
    (account,) = _batch(sb, [aid]).json()
    assert account["suspended"] is True and account["followers_count"] == 0
