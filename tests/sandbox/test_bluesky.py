"""Bluesky XRPC endpoints of the sandbox against the truth."""

from __future__ import annotations

import pytest

from sandbox import truth
from tests.sandbox.conftest import fetch

pytestmark = pytest.mark.slow  # starts a sandbox subprocess

XRPC = "/xrpc/"
HANDLE = "alice.bsky.social"


def _feed(sb, actor: str = HANDLE, extra: str = "") -> tuple[list[dict], int]:
    items, cursor, pages = [], None, 0
    while True:
        url = f"{sb.base_url}{XRPC}app.bsky.feed.getAuthorFeed?actor={actor}&limit=17{extra}"
        res = fetch(url + (f"&cursor={cursor}" if cursor else ""))
        assert res.status == 200
        body = res.json()
        items += body["feed"]
        pages += 1
        cursor = body.get("cursor")
        if not cursor:
            return items, pages


def test_resolve_handle_and_profile_by_did(sb) -> None:
    did = fetch(f"{sb.base_url}{XRPC}com.atproto.identity.resolveHandle?handle={HANDLE}").json()[
        "did"
    ]
    assert did.startswith("did:plc:") and len(did) == len("did:plc:") + 24
    prof = fetch(f"{sb.base_url}{XRPC}app.bsky.actor.getProfile?actor={did}").json()
    truth_prof = truth.profile("bluesky", HANDLE, truth.sandbox_now(0))
    assert prof["handle"] == HANDLE and prof["did"] == did
    assert (prof["followersCount"], prof["followsCount"], prof["postsCount"]) == (
        truth_prof.followers,
        truth_prof.following,
        truth_prof.posts_count,
    )
    assert prof["pinnedPost"]["uri"].startswith(f"at://{did}/app.bsky.feed.post/")


def test_author_feed_cursor_walk_matches_truth_and_ends_without_cursor(sb) -> None:
    items, pages = _feed(sb)
    expected = truth.posts("bluesky", HANDLE, truth.sandbox_now(0))
    assert len(items) == len(expected) and pages == -(-len(expected) // 17)
    for item, p in zip(items, expected, strict=False):
        if p.kind == "boost":
            assert item["reason"]["$type"] == "app.bsky.feed.defs#reasonRepost"
            assert item["post"]["author"]["handle"] != HANDLE
            assert item["reason"]["by"]["handle"] == HANDLE
        else:
            assert "reason" not in item
            post = item["post"]
            assert (
                post["likeCount"],
                post["repostCount"],
                post["replyCount"],
                post["quoteCount"],
            ) == (p.likes, p.reposts, p.replies, p.quotes)
            assert post["record"]["$type"] == "app.bsky.feed.post"
            assert post["record"].get("langs") == ([p.seed.lang] if p.seed.lang else None)
            assert ("reply" in post["record"]) == ("reply" in item) == (p.kind == "reply")


def test_pinned_post_prepended_on_first_page_only(sb) -> None:
    first = fetch(
        f"{sb.base_url}{XRPC}app.bsky.feed.getAuthorFeed?actor={HANDLE}&limit=5&includePins=true"
    ).json()
    assert (
        first["feed"][0]["reason"] == {"$type": "app.bsky.feed.defs#reasonPin"}
        and len(first["feed"]) == 6
    )
    second = fetch(
        f"{sb.base_url}{XRPC}app.bsky.feed.getAuthorFeed?actor={HANDLE}&limit=5&includePins=true"
        f"&cursor={first['cursor']}"
    ).json()
    assert all(
        (i.get("reason") or {}).get("$type") != "app.bsky.feed.defs#reasonPin"
        for i in second["feed"]
    )
    items, _ = _feed(sb, extra="&includePins=true")
    pinned_uri = first["feed"][0]["post"]["uri"]
    assert sum(i["post"]["uri"] == pinned_uri for i in items) == 2  # pin + its chronological place


def test_quote_of_deleted_post_and_missing_parent(sb) -> None:
    found = set()
    for n in range(8):
        handle = f"amb{n}.bsky.social"
        for item in _feed(sb, handle)[0]:
            embed = item["post"].get("embed", {})
            if embed.get("$type") == "app.bsky.embed.record#view":
                found.add(embed["record"]["$type"])
            if "reply" in item:
                found.add(item["reply"]["parent"]["$type"])
    assert {
        "app.bsky.embed.record#viewRecord",
        "app.bsky.embed.record#viewNotFound",
        "app.bsky.feed.defs#notFoundPost",
        "app.bsky.feed.defs#postView",
    } <= found


def test_filter_posts_no_replies(sb) -> None:
    items, _ = _feed(sb, extra="&filter=posts_no_replies")
    assert items and all("reply" not in i["post"]["record"] for i in items)


def test_post_thread_returns_visible_replies(sb) -> None:
    items, _ = _feed(sb)
    expected = {p.likes: p for p in truth.posts("bluesky", HANDLE, truth.sandbox_now(0))}
    item = max((i for i in items if "reason" not in i), key=lambda i: i["post"]["replyCount"])
    thread = fetch(
        f"{sb.base_url}{XRPC}app.bsky.feed.getPostThread?uri={item['post']['uri']}"
    ).json()["thread"]
    assert thread["$type"] == "app.bsky.feed.defs#threadViewPost"
    assert 0 < len(thread["replies"]) <= item["post"]["replyCount"]
    assert all(
        r["post"]["record"]["reply"]["parent"]["uri"] == item["post"]["uri"]
        for r in thread["replies"]
    )
    assert expected


def test_xrpc_errors(sb) -> None:
    bad_limit = fetch(f"{sb.base_url}{XRPC}app.bsky.feed.getAuthorFeed?actor={HANDLE}&limit=101")
    assert bad_limit.status == 400 and bad_limit.json()["error"] == "InvalidRequest"
    missing = fetch(
        f"{sb.base_url}{XRPC}app.bsky.feed.getPostThread?uri=at://did:plc:nobody/app.bsky.feed.post/x"
    )
    assert missing.status == 400 and missing.json()["error"] == "NotFound"
    unknown = fetch(
        f"{sb.base_url}{XRPC}app.bsky.actor.getProfile?actor=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    )
    assert unknown.status == 400 and unknown.json() == {
        "error": "InvalidRequest",
        "message": "Profile not found",
    }


def test_rate_limit_headers(sb) -> None:
    res = fetch(f"{sb.base_url}{XRPC}app.bsky.actor.getProfile?actor={HANDLE}")
    assert (
        res.headers["RateLimit-Limit"] == "3000" and res.headers["RateLimit-Policy"] == "3000;w=300"
    )
    assert int(res.headers["RateLimit-Reset"]) > 1_700_000_000


def test_get_profiles_answers_many_actors_by_handle_or_did_and_leaves_out_the_unknown(sb) -> None:
    others = ["bob.bsky.social", "carol.bsky.social"]
    did = fetch(f"{sb.base_url}{XRPC}com.atproto.identity.resolveHandle?handle={HANDLE}").json()[
        "did"
    ]
    query = "&".join(f"actors={a}" for a in [did, *others, "nobody-here.bsky.social"])
    sb.set_faults(not_found="nobody-here")
    res = fetch(f"{sb.base_url}{XRPC}app.bsky.actor.getProfiles?{query}")
    assert res.status == 200
    profiles = res.json()["profiles"]
    assert [p["handle"] for p in profiles] == [HANDLE, *others]
    for p in profiles:
        want = truth.profile("bluesky", p["handle"], truth.sandbox_now(0))
        assert (p["followersCount"], p["followsCount"], p["postsCount"]) == (
            want.followers,
            want.following,
            want.posts_count,
        )
    too_many = "&".join(f"actors=a{i}.bsky.social" for i in range(26))
    res = fetch(f"{sb.base_url}{XRPC}app.bsky.actor.getProfiles?{too_many}")
    assert res.status == 400 and res.json()["error"] == "InvalidRequest"
    assert fetch(f"{sb.base_url}{XRPC}app.bsky.actor.getProfiles").status == 400


def test_get_posts_hydrates_own_posts_as_the_feed_shows_them_and_leaves_out_deleted_ones(
    sb,
) -> None:
    items, _ = _feed(sb)
    views = {i["post"]["uri"]: i["post"] for i in items if "reason" not in i}
    uris = list(views)[:3]
    did = uris[0].removeprefix("at://").split("/")[0]
    gone = f"at://{did}/app.bsky.feed.post/2222222222222"  # a record key no post has
    query = "&".join(f"uris={u}" for u in [uris[0], gone, *uris[1:]])
    res = fetch(f"{sb.base_url}{XRPC}app.bsky.feed.getPosts?{query}")
    assert res.status == 200
    posts = res.json()["posts"]
    assert [p["uri"] for p in posts] == uris  # in the order asked, the missing one left out
    for post in posts:
        assert post == views[post["uri"]]
    too_many = "&".join(f"uris={uris[0]}" for _ in range(26))
    assert fetch(f"{sb.base_url}{XRPC}app.bsky.feed.getPosts?{too_many}").status == 400
