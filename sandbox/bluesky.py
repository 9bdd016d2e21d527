"""Bluesky AppView fake under /xrpc/: resolveHandle, getProfile(s), getAuthorFeed, getPosts, getPostThread.

Shapes follow the atproto lexicons (app.bsky.feed.defs: postView, feedViewPost, replyRef,
reasonRepost, reasonPin, threadViewPost, notFoundPost, blockedPost; app.bsky.embed.record#view
with viewRecord / viewNotFound; app.bsky.actor.defs#profileViewDetailed). Errors are XRPC
`{"error": Name, "message": ...}` with status 400; a taken-down account answers
`AccountTakedown` / "Account has been suspended" as the public AppView does for getProfile.
The batch queries (getProfiles `actors`, getPosts `uris`: array parameters of at most 25 items,
lexicons/app/bsky/actor/getProfiles.json and feed/getPosts.json) leave out what they cannot show.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from sandbox import truth
from sandbox.common import Answer, Ctx, fake_cid, iso, matches
from sandbox.truth import OtherPost, Person, Post, Reply, stable_hash

_S32 = "234567abcdefghijklmnopqrstuvwxyz"
# DIDs cannot be turned back into handles, so remember the ones handed out.
_handle_by_did: dict[str, str] = {}


@lru_cache(maxsize=200_000)
def did_for(handle: str) -> str:
    """did:plc of a handle (24 base32 characters, as PLC identifiers are), remembered for later."""
    h = stable_hash("did", handle)
    ident = "".join(_S32[(h >> (i * 5)) & 31] for i in range(12))
    h2 = stable_hash("did2", handle)
    ident += "".join(_S32[(h2 >> (i * 5)) & 31] for i in range(12))
    did = f"did:plc:{ident}"
    _handle_by_did[did] = handle
    return did


def tid(dt: Any, key: str) -> str:
    """Record key as a TID: microseconds since epoch and a clock id, base32-sortable, 13 chars."""
    value = (int(dt.timestamp() * 1_000_000) << 10) | (stable_hash(key) & 0x3FF)
    return "".join(_S32[(value >> (60 - 5 * i)) & 31] for i in range(13))


def _error(name: str, message: str, account: str | None = None) -> Answer:
    """An XRPC error."""
    return Answer(400, {"error": name, "message": message}, account=account)


def _other_handle(p: Person) -> str:
    """Bluesky handle of someone else."""
    return f"{p.username.replace('_', '-')}.bsky.social"


def _basic(did: str, handle: str, display_name: str, created: str) -> dict[str, Any]:
    """app.bsky.actor.defs#profileViewBasic."""
    return {
        "did": did,
        "handle": handle,
        "displayName": display_name,
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/{fake_cid(did)}@jpeg",
        "associated": {"chat": {"allowIncoming": "following"}},
        "viewer": {"muted": False, "blockedBy": False},
        "labels": [],
        "createdAt": created,
    }


def _ambassador_basic(ctx: Ctx, handle: str) -> dict[str, Any]:
    """profileViewBasic of an ambassador (a fresh copy: callers may add keys)."""
    return dict(_cached_basic(handle, ctx.now, ctx.scale))


@lru_cache(maxsize=65_536)
def _cached_basic(handle: str, now: Any, scale: float) -> dict[str, Any]:
    """profileViewBasic of an ambassador, computed once per (handle, clock)."""
    prof = truth.profile("bluesky", handle, now, scale)
    return _basic(did_for(handle), handle, prof.display_name, iso(prof.created_at))


def _other_basic(p: Person) -> dict[str, Any]:
    """profileViewBasic of someone else."""
    handle = _other_handle(p)
    return _basic(did_for(handle), handle, p.display_name, "2023-05-01T10:00:00.000Z")


def _facets(
    text: str, tag: str | None, mention: tuple[str, str] | None, link: str | None
) -> list[dict[str, Any]]:
    """Rich-text facets with UTF-8 byte offsets, as app.bsky.richtext.facet requires."""
    raw = text.encode()
    out = []
    for needle, feature in (
        (
            f"@{mention[0]}" if mention else None,
            {"$type": "app.bsky.richtext.facet#mention", "did": mention[1] if mention else ""},
        ),
        (link, {"$type": "app.bsky.richtext.facet#link", "uri": link}),
        (f"#{tag}" if tag else None, {"$type": "app.bsky.richtext.facet#tag", "tag": tag}),
    ):
        if needle and (start := raw.find(needle.encode())) >= 0:
            out.append(
                {
                    "index": {"byteStart": start, "byteEnd": start + len(needle.encode())},
                    "features": [feature],
                }
            )
    return out


def _other_ref(other: OtherPost) -> tuple[str, str]:
    """(uri, cid) of someone else's post."""
    did = did_for(_other_handle(other.author))
    return f"at://{did}/app.bsky.feed.post/{tid(other.published, other.key)}", fake_cid(other.key)


def _other_record(other: OtherPost) -> dict[str, Any]:
    """The app.bsky.feed.post record of someone else's post."""
    rec: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": iso(other.published),
        "text": other.text,
    }
    if other.lang:
        rec["langs"] = [other.lang]
    return rec


def _other_view(other: OtherPost) -> dict[str, Any]:
    """postView of someone else's post."""
    uri, cid = _other_ref(other)
    return {
        "uri": uri,
        "cid": cid,
        "author": _other_basic(other.author),
        "record": _other_record(other),
        "replyCount": other.replies,
        "repostCount": other.reposts,
        "likeCount": other.likes,
        "quoteCount": other.quotes,
        "indexedAt": iso(other.published),
        "viewer": {},
        "labels": [],
    }


def _ref_or_missing(other: OtherPost) -> dict[str, Any]:
    """A reply parent: postView, or notFoundPost / blockedPost when it is gone or hidden."""
    uri, _ = _other_ref(other)
    if other.deleted:
        return {"$type": "app.bsky.feed.defs#notFoundPost", "uri": uri, "notFound": True}
    if other.blocked:
        did = did_for(_other_handle(other.author))
        return {
            "$type": "app.bsky.feed.defs#blockedPost",
            "uri": uri,
            "blocked": True,
            "author": {"did": did, "viewer": {"blockedBy": True}},
        }
    return {"$type": "app.bsky.feed.defs#postView", **_other_view(other)}


def post_ref(ctx: Ctx, post: Post) -> tuple[str, str]:
    """(uri, cid) of an ambassador's post."""
    did = did_for(post.seed.account)
    return f"at://{did}/app.bsky.feed.post/{tid(post.published, post.key)}", fake_cid(post.key)


def _parent_of(
    ctx: Ctx, post: Post
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """(record.reply strong refs, replyRef root view, replyRef parent view) of a reply."""
    seed = post.seed
    if seed.kind != "reply":
        return None
    if seed.self_reply_to:
        parent = truth.find_post("bluesky", seed.account, seed.self_reply_to, ctx.now, ctx.scale)
        p_uri, p_cid = _own_ref_by_key(seed.account, seed.self_reply_to, ctx.scale)
        parent_view = (
            {"$type": "app.bsky.feed.defs#postView", **post_view(ctx, parent)}
            if parent
            else {"$type": "app.bsky.feed.defs#notFoundPost", "uri": p_uri, "notFound": True}
        )
        above = _parent_of(ctx, parent) if parent else None
        root_ref = above[0]["root"] if above else {"cid": p_cid, "uri": p_uri}
        root_view = above[1] if above else parent_view
        return {"root": root_ref, "parent": {"cid": p_cid, "uri": p_uri}}, root_view, parent_view
    assert seed.other is not None
    uri, cid = _other_ref(seed.other)
    view = _ref_or_missing(seed.other)
    return {"root": {"cid": cid, "uri": uri}, "parent": {"cid": cid, "uri": uri}}, view, view


def _own_ref_by_key(account: str, key: str, scale: float) -> tuple[str, str]:
    """(uri, cid) of an own post from its key, even once deleted."""
    platform, acc, ordinal, index = key.rsplit("/", 3)
    seed = truth.day_seeds(platform, acc, int(ordinal), scale)[int(index)]
    return f"at://{did_for(account)}/app.bsky.feed.post/{tid(seed.published, key)}", fake_cid(key)


def post_view(ctx: Ctx, post: Post) -> dict[str, Any]:
    """postView of an ambassador's own post (not a repost)."""
    seed = post.seed
    uri, cid = post_ref(ctx, post)
    mention = None
    text = seed.text
    if seed.mention:
        handle = _other_handle(seed.mention)
        text = text.replace(f"@{seed.mention.username}", f"@{handle}")
        mention = (handle, did_for(handle))
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": iso(seed.published),
        "text": text,
    }
    facets = _facets(text, seed.tag, mention, seed.link)
    if facets:
        record["facets"] = facets
    if seed.lang:
        record["langs"] = [seed.lang]
    view: dict[str, Any] = {
        "uri": uri,
        "cid": cid,
        "author": _ambassador_basic(ctx, seed.account),
        "record": record,
    }
    parent = _parent_of(ctx, post)
    if parent:
        record["reply"] = parent[0]
    if seed.kind == "quote":
        assert seed.other is not None
        q_uri, q_cid = _other_ref(seed.other)
        record["embed"] = {"$type": "app.bsky.embed.record", "record": {"cid": q_cid, "uri": q_uri}}
        if seed.other.deleted:
            inner: dict[str, Any] = {
                "$type": "app.bsky.embed.record#viewNotFound",
                "uri": q_uri,
                "notFound": True,
            }
        else:
            o = seed.other
            inner = {
                "$type": "app.bsky.embed.record#viewRecord",
                "uri": q_uri,
                "cid": q_cid,
                "author": _other_basic(o.author),
                "value": _other_record(o),
                "labels": [],
                "likeCount": o.likes,
                "replyCount": o.replies,
                "repostCount": o.reposts,
                "quoteCount": o.quotes,
                "indexedAt": iso(o.published),
                "embeds": [],
            }
        view["embed"] = {"$type": "app.bsky.embed.record#view", "record": inner}
    elif seed.has_image:
        img = fake_cid(seed.key + "/img")
        did = did_for(seed.account)
        record["embed"] = {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": "Team photo at the meetup",
                    "aspectRatio": {"height": 800, "width": 1200},
                    "image": {
                        "$type": "blob",
                        "ref": {"$link": img},
                        "mimeType": "image/jpeg",
                        "size": 184321,
                    },
                }
            ],
        }
        view["embed"] = {
            "$type": "app.bsky.embed.images#view",
            "images": [
                {
                    "thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{did}/{img}@jpeg",
                    "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{img}@jpeg",
                    "alt": "Team photo at the meetup",
                    "aspectRatio": {"height": 800, "width": 1200},
                }
            ],
        }
    elif seed.link:
        ext = {
            "uri": seed.link,
            "title": "Acme — release notes",
            "description": "What is new at Acme.",
        }
        record["embed"] = {"$type": "app.bsky.embed.external", "external": ext}
        view["embed"] = {"$type": "app.bsky.embed.external#view", "external": ext}
    view.update(
        replyCount=post.replies,
        repostCount=post.reposts,
        likeCount=post.likes,
        quoteCount=post.quotes,
        indexedAt=iso(seed.published),
        viewer={"threadMuted": False, "embeddingDisabled": False},
        labels=[],
    )
    if matches(seed.account, ctx.missing_fields):
        for name in ("replyCount", "repostCount", "likeCount", "quoteCount"):
            view.pop(name, None)
    return view


def feed_item(ctx: Ctx, post: Post) -> dict[str, Any]:
    """feedViewPost: a post, a repost (reasonRepost, someone else's post) or a reply with its context."""
    seed = post.seed
    if seed.kind == "boost":
        assert seed.other is not None
        did = did_for(seed.account)
        view = _other_view(seed.other)
        if matches(seed.account, ctx.missing_fields):
            for name in ("replyCount", "repostCount", "likeCount", "quoteCount"):
                view.pop(name, None)
        return {
            "post": view,
            "reason": {
                "$type": "app.bsky.feed.defs#reasonRepost",
                "by": _ambassador_basic(ctx, seed.account),
                "uri": f"at://{did}/app.bsky.feed.repost/{tid(seed.published, seed.key)}",
                "cid": fake_cid(seed.key + "/repost"),
                "indexedAt": iso(seed.published),
            },
        }
    item: dict[str, Any] = {"post": post_view(ctx, post)}
    parent = _parent_of(ctx, post)
    if parent:
        item["reply"] = {"root": parent[1], "parent": parent[2]}
    return item


# --- handlers -----------------------------------------------------------------------------------


def _actor(ctx: Ctx) -> tuple[str | None, Answer | None]:
    """The handle behind ?actor= (handle or DID), or the XRPC error to answer."""
    actor = (ctx.arg("actor") or "").strip().lower()
    if not actor:
        return None, _error("InvalidRequest", 'Error: Params must have the property "actor"')
    handle = _handle_by_did.get(actor) if actor.startswith("did:") else actor.lstrip("@")
    if handle is None or matches(handle, ctx.not_found):
        return None, _error("InvalidRequest", "Profile not found", handle)
    if matches(handle, ctx.suspended):
        return None, _error("AccountTakedown", "Account has been suspended", handle)
    return handle, None


def resolve_handle(ctx: Ctx) -> Answer:
    """GET com.atproto.identity.resolveHandle?handle= -> {"did": ...}."""
    handle = (ctx.arg("handle") or "").strip().lower()
    if not handle or "." not in handle:
        return _error("InvalidRequest", "Error: handle must be a valid handle", handle or None)
    if matches(handle, ctx.not_found):
        return _error("InvalidRequest", "Unable to resolve handle", handle)
    return Answer(200, {"did": did_for(handle)}, account=handle)


def get_profile(ctx: Ctx) -> Answer:
    """GET app.bsky.actor.getProfile?actor= -> profileViewDetailed."""
    handle, error = _actor(ctx)
    if error:
        return error
    assert handle is not None
    prof = truth.profile("bluesky", handle, ctx.now, ctx.scale)
    live = truth.posts("bluesky", handle, ctx.now, ctx.scale)
    body = {
        **_ambassador_basic(ctx, handle),
        "description": prof.bio,
        "banner": f"https://cdn.bsky.app/img/banner/plain/{did_for(handle)}/{fake_cid(handle)}@jpeg",
        "followersCount": prof.followers,
        "followsCount": prof.following,
        "postsCount": prof.posts_count,
        "associated": {
            "lists": 0,
            "feedgens": 0,
            "starterPacks": 0,
            "labeler": False,
            "chat": {"allowIncoming": "following"},
        },
        "indexedAt": iso(prof.created_at),
        "createdAt": iso(prof.created_at),
    }
    pinned = next((p for p in live if p.pinned), None)
    if pinned:
        uri, cid = post_ref(ctx, pinned)
        body["pinnedPost"] = {"cid": cid, "uri": uri}
    if matches(handle, ctx.missing_fields):
        for name in ("followersCount", "followsCount", "postsCount"):
            body.pop(name)
    return Answer(200, body, account=handle)


MAX_BATCH = 25  # `maxLength` of getProfiles' actors and getPosts' uris


def _batch(ctx: Ctx, name: str) -> tuple[list[str], Answer | None]:
    """An XRPC array parameter (the name repeated), or the error for a missing or too long one."""
    values = [v.strip() for v in ctx.multi.get(name, []) if v.strip()]
    if not values:
        return [], _error("InvalidRequest", f'Error: Params must have the property "{name}"')
    if len(values) > MAX_BATCH:
        return [], _error(
            "InvalidRequest", f"Error: {name} must not have more than {MAX_BATCH} elements"
        )
    return values, None


def get_profiles(ctx: Ctx) -> Answer:
    """GET app.bsky.actor.getProfiles?actors=..: profileViewDetailed of each actor that can be shown.

    Unknown and taken-down actors are left out, in the order asked.
    """
    actors, error = _batch(ctx, "actors")
    if error:
        return error
    profiles = []
    for actor in actors:
        one = get_profile(
            Ctx(
                ctx.base,
                ctx.now,
                ctx.scale,
                {"actor": actor},
                ctx.missing_fields,
                ctx.repeat_cursor,
                ctx.not_found,
                ctx.suspended,
            )
        )
        if one.status == 200:
            profiles.append(one.body)
    return Answer(200, {"profiles": profiles})


def get_posts(ctx: Ctx) -> Answer:
    """GET app.bsky.feed.getPosts?uris=..: postView of each post that still exists (hydration).

    A deleted post, or one of an account not found or taken down, is left out.
    """
    uris, error = _batch(ctx, "uris")
    if error:
        return error
    wanted: dict[str, list[str]] = {}
    for uri in uris:
        parts = uri.removeprefix("at://").split("/")
        if len(parts) != 3 or not uri.startswith("at://"):
            return _error("InvalidRequest", f"Error: uris/{uris.index(uri)} must be a valid at-uri")
        if parts[1] == "app.bsky.feed.post":
            wanted.setdefault(parts[0].lower(), []).append(parts[2])
    found: dict[str, dict[str, Any]] = {}
    account = None
    for actor, rkeys in wanted.items():
        handle = _handle_by_did.get(actor) if actor.startswith("did:") else actor
        if not handle or matches(handle, ctx.not_found) or matches(handle, ctx.suspended):
            continue
        account = account or handle
        keys = set(rkeys)
        for post in truth.posts("bluesky", handle, ctx.now, ctx.scale):
            if post.kind != "boost" and tid(post.published, post.key) in keys:
                view = post_view(ctx, post)
                found[view["uri"]] = view
    # One account per batch is the crawler's case: its faults (missing fields...) then apply.
    return Answer(200, {"posts": [found[u] for u in uris if u in found]}, account=account)


def _encode_cursor(post: Post) -> str:
    """Opaque cursor: the sort timestamp and cid of the last item, base64url."""
    return (
        base64.urlsafe_b64encode(f"{int(post.published.timestamp() * 1000)}::{post.key}".encode())
        .decode()
        .rstrip("=")
    )


def _decode_cursor(cursor: str) -> int | None:
    """Milliseconds of the last item served, or None for a cursor we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(raw.split("::", 1)[0])
    except (ValueError, UnicodeDecodeError):
        return None


def get_author_feed(ctx: Ctx) -> Answer:
    """GET app.bsky.feed.getAuthorFeed: newest first, opaque cursor absent at the end, optional pin."""
    handle, error = _actor(ctx)
    if error:
        return error
    assert handle is not None
    try:
        limit = int(ctx.arg("limit") or 50)
    except ValueError:
        return _error("InvalidRequest", "Error: limit must be an integer", handle)
    if not 1 <= limit <= 100:
        return _error(
            "InvalidRequest",
            "Error: limit can not be greater than 100"
            if limit > 100
            else "Error: limit can not be less than 1",
            handle,
        )
    live = list(truth.posts("bluesky", handle, ctx.now, ctx.scale))
    flt = ctx.arg("filter") or "posts_with_replies"
    if flt == "posts_no_replies":
        live = [p for p in live if p.kind != "reply"]
    elif flt == "posts_and_author_threads":
        live = [p for p in live if p.kind != "reply" or p.seed.self_reply_to]
    elif flt == "posts_with_media":
        live = [p for p in live if p.seed.has_image and p.kind not in ("boost", "quote")]
    elif flt == "posts_with_video":
        live = []  # the sandbox's posts carry images, never video
    cursor = ctx.arg("cursor")
    if cursor:
        before = _decode_cursor(cursor)
        if before is None:
            return _error("InvalidRequest", "Malformed cursor", handle)
        live = [p for p in live if int(p.published.timestamp() * 1000) < before]
    page = live[:limit]
    feed = [feed_item(ctx, p) for p in page]
    if not cursor and ctx.flag("includePins"):
        pinned = next(
            (p for p in truth.posts("bluesky", handle, ctx.now, ctx.scale) if p.pinned), None
        )
        if pinned:
            feed.insert(
                0,
                {
                    "post": post_view(ctx, pinned),
                    "reason": {"$type": "app.bsky.feed.defs#reasonPin"},
                },
            )
    body: dict[str, Any] = {"feed": feed}
    if len(live) > limit:
        body["cursor"] = (
            cursor if (cursor and matches(handle, ctx.repeat_cursor)) else _encode_cursor(page[-1])
        )
    return Answer(200, body, account=handle)


def _reply_thread(ctx: Ctx, reply: Reply, parent_uri: str, parent_cid: str) -> dict[str, Any]:
    """threadViewPost of someone's reply to an ambassador's post."""
    handle = _other_handle(reply.author)
    uri = f"at://{did_for(handle)}/app.bsky.feed.post/{tid(reply.published, reply.key)}"
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": iso(reply.published),
        "text": reply.text,
        "reply": {
            "root": {"cid": parent_cid, "uri": parent_uri},
            "parent": {"cid": parent_cid, "uri": parent_uri},
        },
    }
    if reply.lang:
        record["langs"] = [reply.lang]
    post = {
        "uri": uri,
        "cid": fake_cid(reply.key),
        "author": _other_basic(reply.author),
        "record": record,
        "replyCount": 0,
        "repostCount": 0,
        "likeCount": reply.likes,
        "quoteCount": 0,
        "indexedAt": iso(reply.published),
        "viewer": {},
        "labels": [],
    }
    return {"$type": "app.bsky.feed.defs#threadViewPost", "post": post, "replies": []}


def get_post_thread(ctx: Ctx) -> Answer:
    """GET app.bsky.feed.getPostThread?uri=&depth=: the post, its parent and the visible replies."""
    uri = ctx.arg("uri") or ""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return _error("InvalidRequest", "Error: uri must be a valid at-uri")
    actor = parts[0].lower()
    handle = _handle_by_did.get(actor) if actor.startswith("did:") else actor
    post = None
    if handle and not matches(handle, ctx.not_found) and not matches(handle, ctx.suspended):
        post = next(
            (
                p
                for p in truth.posts("bluesky", handle, ctx.now, ctx.scale)
                if p.kind != "boost" and tid(p.published, p.key) == parts[2]
            ),
            None,
        )
    if post is None:
        return _error("NotFound", f"Post not found: {uri}", handle)
    try:
        depth = max(0, min(1000, int(ctx.arg("depth") or 6)))
    except ValueError:
        depth = 6
    p_uri, p_cid = post_ref(ctx, post)
    thread: dict[str, Any] = {
        "$type": "app.bsky.feed.defs#threadViewPost",
        "post": post_view(ctx, post),
        "replies": [_reply_thread(ctx, r, p_uri, p_cid) for r in post.replies_visible]
        if depth
        else [],
    }
    parent = _parent_of(ctx, post)
    if parent:
        pv = parent[2]
        if pv["$type"] == "app.bsky.feed.defs#postView":
            pv = {
                "$type": "app.bsky.feed.defs#threadViewPost",
                "post": {k: v for k, v in pv.items() if k != "$type"},
            }
        thread["parent"] = pv
    return Answer(200, {"thread": thread}, account=handle)
