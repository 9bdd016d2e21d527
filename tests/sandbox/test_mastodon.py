"""Mastodon endpoints of the sandbox against the truth."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from sandbox import truth
from tests.sandbox.conftest import fetch

pytestmark = pytest.mark.slow  # starts a sandbox subprocess

STATUS_FIELDS = {
    "id",
    "created_at",
    "in_reply_to_id",
    "in_reply_to_account_id",
    "sensitive",
    "spoiler_text",
    "visibility",
    "language",
    "uri",
    "url",
    "replies_count",
    "reblogs_count",
    "favourites_count",
    "edited_at",
    "content",
    "reblog",
    "account",
    "media_attachments",
    "mentions",
    "tags",
    "emojis",
    "card",
    "poll",
    "quote",
}


def _lookup(sb, name: str) -> dict:
    res = fetch(f"{sb.base_url}/api/v1/accounts/lookup?acct={name}")
    assert res.status == 200
    return res.json()


def _all_statuses(sb, aid: str, query: str = "limit=40") -> tuple[list[dict], int]:
    url, pages, out = f"{sb.base_url}/api/v1/accounts/{aid}/statuses?{query}", 0, []
    while url:
        res = fetch(url)
        assert res.status == 200
        out += res.json()
        pages += 1
        nxt = re.search(r'<([^>]+)>; rel="next"', res.headers.get("Link") or "")
        url = nxt.group(1) if nxt else None
    return out, pages


def test_lookup_returns_account_entity_matching_truth(sb) -> None:
    acc = _lookup(sb, "alice")
    prof = truth.profile("mastodon", "alice", truth.sandbox_now(0))
    assert acc["username"] == acc["acct"] == "alice"
    assert acc["followers_count"] == prof.followers and acc["statuses_count"] == prof.posts_count
    assert acc["url"] == f"{sb.base_url}/@alice" and acc["id"].isdigit()


def test_unknown_status_id_is_record_not_found(sb) -> None:
    res = fetch(f"{sb.base_url}/api/v1/accounts/1/statuses")
    assert res.status == 404 and res.json() == {"error": "Record not found"}


def test_link_pagination_walks_every_status_once(sb) -> None:
    aid = _lookup(sb, "alice")["id"]
    statuses, pages = _all_statuses(sb, aid, "limit=7")
    expected = truth.posts("mastodon", "alice", truth.sandbox_now(0))
    ids = [int(s["id"]) for s in statuses]
    assert len(ids) == len(set(ids)) == len(expected)
    assert ids == sorted(ids, reverse=True)
    assert pages == len(expected) // 7 + 1  # the short (or empty) last page has no next link
    assert set(statuses[0]) >= STATUS_FIELDS


def test_next_link_only_on_full_page(sb) -> None:
    aid = _lookup(sb, "alice")["id"]
    n = len(truth.posts("mastodon", "alice", truth.sandbox_now(0)))
    res = fetch(
        f"{sb.base_url}/api/v1/accounts/{aid}/statuses?limit=40&max_id=99999999999999999999"
    )
    first = fetch(f"{sb.base_url}/api/v1/accounts/{aid}/statuses?limit=40")
    assert len(first.json()) == min(40, n)
    last_id = _all_statuses(sb, aid, "limit=40")[0][-1]["id"]
    tail = fetch(f"{sb.base_url}/api/v1/accounts/{aid}/statuses?limit=40&max_id={last_id}")
    assert tail.json() == [] and 'rel="next"' not in (tail.headers.get("Link") or "")
    assert res.status == 200


def test_boost_has_zero_outer_counts_and_real_counts_inside(sb) -> None:
    aid = _lookup(sb, "alice")["id"]
    statuses, _ = _all_statuses(sb, aid)
    expected = {
        p.published.isoformat()[:19]: p
        for p in truth.posts("mastodon", "alice", truth.sandbox_now(0))
    }
    boosts = [s for s in statuses if s["reblog"]]
    assert boosts
    for s in boosts:
        assert (
            s["favourites_count"] == s["reblogs_count"] == s["replies_count"] == 0
            and s["content"] == ""
        )
        p = expected[s["created_at"][:19]]
        assert p.kind == "boost" and s["reblog"]["favourites_count"] == p.likes
        assert s["reblog"]["account"]["acct"] != "alice"


def test_counts_kinds_and_missing_quotes_count_match_truth(sb) -> None:
    aid = _lookup(sb, "bob")["id"]
    statuses, _ = _all_statuses(sb, aid)
    for s, p in zip(statuses, truth.posts("mastodon", "bob", truth.sandbox_now(0)), strict=False):
        assert (
            datetime.fromisoformat(s["created_at"]).timestamp()
            == int(p.published.timestamp() * 1000) / 1000
        )
        if p.kind == "boost":
            continue
        assert (s["favourites_count"], s["reblogs_count"], s["replies_count"]) == (
            p.likes,
            p.reposts,
            p.replies,
        )
        assert ("quotes_count" in s) != p.seed.quotes_count_missing
        assert (s["in_reply_to_id"] is not None) == (p.kind == "reply")
        assert (s["quote"] is not None) == (p.kind == "quote")
        if p.kind == "quote":
            assert s["quote"]["state"] == ("deleted" if p.seed.other.deleted else "accepted")


def test_filters_exclude_reblogs_replies_and_pinned(sb) -> None:
    aid = _lookup(sb, "alice")["id"]
    no_boosts, _ = _all_statuses(sb, aid, "limit=40&exclude_reblogs=true")
    no_replies, _ = _all_statuses(sb, aid, "limit=40&exclude_replies=true")
    pinned = fetch(f"{sb.base_url}/api/v1/accounts/{aid}/statuses?pinned=true").json()
    assert no_boosts and all(s["reblog"] is None for s in no_boosts)
    assert all(
        s["in_reply_to_id"] is None or s["in_reply_to_account_id"] == aid for s in no_replies
    )
    assert len(pinned) == 1 and pinned[0]["pinned"] is True


def test_context_returns_visible_replies_of_other_people(sb) -> None:
    aid = _lookup(sb, "alice")["id"]
    statuses, _ = _all_statuses(sb, aid)
    target = max((s for s in statuses if not s["reblog"]), key=lambda s: s["replies_count"])
    ctx = fetch(f"{sb.base_url}/api/v1/statuses/{target['id']}/context").json()
    assert set(ctx) == {"ancestors", "descendants"}
    assert 0 < len(ctx["descendants"]) <= target["replies_count"]
    assert all(
        d["in_reply_to_id"] == target["id"] and "@" in d["account"]["acct"]
        for d in ctx["descendants"]
    )


def test_rate_limit_headers_on_every_answer(sb) -> None:
    res = fetch(f"{sb.base_url}/api/v1/accounts/lookup?acct=alice")
    assert res.headers["X-RateLimit-Limit"] == "300"
    assert int(res.headers["X-RateLimit-Remaining"]) < 300
    datetime.fromisoformat(res.headers["X-RateLimit-Reset"])
