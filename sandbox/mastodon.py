"""Mastodon REST API v1 fake: accounts/lookup, accounts(?id[]=), accounts/:id(/statuses),
statuses/:id(/context).

Shapes follow docs.joinmastodon.org (entities/Status, entities/Account, entities/Quote,
methods/accounts). Suspended accounts: since Mastodon 3.3.0 lookup answers 200 with
`"suspended": true`, empty profile and zero counts (methods/accounts, "Suspended user";
410 Gone was only used from 2.4.0 until 3.3.0), and their statuses list is empty.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sandbox import truth
from sandbox.common import Answer, Ctx, iso, matches, snowflake
from sandbox.truth import OtherPost, Person, Post, Reply, stable_hash

NOT_FOUND = {"error": "Record not found"}
_TEN_MIN = timedelta(minutes=10)
_ONE_DAY = timedelta(days=1)
COUNT_FIELDS = ("replies_count", "reblogs_count", "favourites_count", "quotes_count")
ACCOUNT_COUNT_FIELDS = ("followers_count", "following_count", "statuses_count")

# Account ids and status ids cannot be turned back into names, so remember the ones handed out.
_account_by_id: dict[str, str] = {}
_status_by_id: dict[str, tuple[str, str]] = {}  # status id -> (account, post key)


def account_id(username: str) -> str:
    """Numeric-string id of a local account, remembered for later /accounts/:id calls."""
    aid = str(109_000_000_000_000_000 + stable_hash("macct", username) % 10**15)
    _account_by_id[aid] = username
    return aid


def status_id(post: Post) -> str:
    """Snowflake id of an ambassador's status, remembered for /statuses/:id."""
    sid = str(snowflake(post.published, post.key))
    _status_by_id[sid] = (post.seed.account, post.key)
    return sid


def _remote_account(p: Person) -> dict[str, Any]:
    """Account entity of someone on another instance."""
    return {
        "id": str(110_000_000_000_000_000 + stable_hash("macct", p.acct) % 10**15),
        "username": p.username,
        "acct": p.acct,
        "display_name": p.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": "2022-11-04T00:00:00.000Z",
        "note": "",
        "url": f"https://{p.domain}/@{p.username}",
        "uri": f"https://{p.domain}/users/{p.username}",
        "avatar": f"https://{p.domain}/avatars/original/missing.png",
        "avatar_static": f"https://{p.domain}/avatars/original/missing.png",
        "header": f"https://{p.domain}/headers/original/missing.png",
        "header_static": f"https://{p.domain}/headers/original/missing.png",
        "followers_count": p.followers,
        "following_count": 100 + p.followers % 300,
        "statuses_count": 500 + p.followers % 2000,
        "last_status_at": "2025-01-01",
        "emojis": [],
        "fields": [],
    }


def account_entity(ctx: Ctx, username: str) -> dict[str, Any]:
    """Account entity of an ambassador (a local account of the sandbox instance)."""
    prof = truth.profile("mastodon", username, ctx.now, ctx.scale)
    live = truth.posts("mastodon", username, ctx.now, ctx.scale)
    entity: dict[str, Any] = {
        "id": account_id(username),
        "username": username,
        "acct": username,
        "display_name": prof.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": True,
        "group": False,
        # Mastodon rounds account creation to the day.
        "created_at": prof.created_at.strftime("%Y-%m-%dT00:00:00.000Z"),
        "note": f"<p>{html.escape(prof.bio, quote=False)}</p>",
        "url": f"{ctx.base}/@{username}",
        "uri": f"{ctx.base}/users/{username}",
        "avatar": f"{ctx.base}/avatars/original/missing.png",
        "avatar_static": f"{ctx.base}/avatars/original/missing.png",
        "header": f"{ctx.base}/headers/original/missing.png",
        "header_static": f"{ctx.base}/headers/original/missing.png",
        "followers_count": prof.followers,
        "following_count": prof.following,
        "statuses_count": prof.posts_count,
        "last_status_at": live[0].published.strftime("%Y-%m-%d") if live else None,
        "hide_collections": False,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": [
            {
                "name": "Work",
                "value": '<a href="https://acme.example" target="_blank" rel="nofollow noopener me" '
                'translate="no"><span class="invisible">https://</span><span class="">acme.example'
                '</span><span class="invisible"></span></a>',
                "verified_at": None,
            }
        ],
    }
    if matches(username, ctx.suspended):
        # methods/accounts "Suspended user" example: profile emptied, counts zeroed.
        entity.update(
            display_name="",
            note="",
            fields=[],
            followers_count=0,
            following_count=0,
            statuses_count=0,
            last_status_at=None,
            suspended=True,
            discoverable=False,
        )
    if matches(username, ctx.missing_fields):
        for name in ACCOUNT_COUNT_FIELDS:
            entity.pop(name, None)
    return entity


def _account_memo(ctx: Ctx, username: str) -> dict[str, Any]:
    """account_entity computed once per request context: every status of a page embeds it."""
    memo: dict[str, dict[str, Any]] = ctx.__dict__.setdefault("_accounts", {})
    if username not in memo:
        memo[username] = account_entity(ctx, username)
    return memo[username]


def _link(url: str) -> str:
    """A link as Mastodon's formatter writes it, with the invisible scheme span."""
    scheme, rest = url.split("://", 1)
    shown, hidden = rest[:30], rest[30:]
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{scheme}://</span><span class="{"ellipsis" if hidden else ""}">'
        f'{html.escape(shown)}</span><span class="invisible">{html.escape(hidden)}</span></a>'
    )


def _content(ctx: Ctx, text: str, tag: str | None, mention: Person | None, link: str | None) -> str:
    """Status HTML: escaped text with hashtag, mention and link markup, as Mastodon renders it."""
    body = html.escape(text, quote=True).replace("&#x27;", "&#39;")
    if link:
        body = body.replace(html.escape(link, quote=True), _link(link))
    if tag:
        body = body.replace(
            f"#{tag}",
            f'<a href="{ctx.base}/tags/{tag}" class="mention hashtag" rel="tag">#<span>{tag}</span></a>',
        )
    if mention:
        body = body.replace(
            f"@{mention.username}",
            f'<span class="h-card" translate="no"><a href="https://{mention.domain}/@{mention.username}" '
            f'class="u-url mention">@<span>{mention.username}</span></a></span>',
        )
    return f"<p>{body}</p>"


def _base_status(
    ctx: Ctx, sid: str, created: datetime, account: dict[str, Any], uri: str, url: str | None
) -> dict[str, Any]:
    """Fields every Status entity carries, in the order the docs list them."""
    return {
        "id": sid,
        "created_at": iso(created),
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": None,
        "uri": uri,
        "url": url,
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "quotes_count": 0,
        "edited_at": None,
        "favourited": False,
        "reblogged": False,
        "muted": False,
        "bookmarked": False,
        "content": "",
        "filtered": [],
        "reblog": None,
        "application": None,
        "account": account,
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "quote": None,
        "card": None,
        "poll": None,
    }


def _other_status(ctx: Ctx, other: OtherPost) -> dict[str, Any]:
    """Status of someone else's post (boosted, quoted or replied to)."""
    sid = str(snowflake(other.published, other.key))
    a = other.author
    s = _base_status(
        ctx,
        sid,
        other.published,
        _remote_account(a),
        f"https://{a.domain}/users/{a.username}/statuses/{sid}",
        f"https://{a.domain}/@{a.username}/{sid}",
    )
    s.update(
        language=other.lang,
        content=_content(ctx, other.text, None, None, None),
        replies_count=other.replies,
        reblogs_count=other.reposts,
        favourites_count=other.likes,
        quotes_count=other.quotes,
    )
    return s


def _reply_status(ctx: Ctx, reply: Reply, parent_id: str, parent_account_id: str) -> dict[str, Any]:
    """Status of someone's reply to an ambassador's post (a descendant in /context)."""
    sid = str(snowflake(reply.published, reply.key))
    a = reply.author
    s = _base_status(
        ctx,
        sid,
        reply.published,
        _remote_account(a),
        f"https://{a.domain}/users/{a.username}/statuses/{sid}",
        f"https://{a.domain}/@{a.username}/{sid}",
    )
    s.update(
        in_reply_to_id=parent_id,
        in_reply_to_account_id=parent_account_id,
        language=reply.lang,
        content=_content(ctx, reply.text, None, None, None),
        favourites_count=reply.likes,
    )
    return s


def status_entity(ctx: Ctx, post: Post) -> dict[str, Any]:
    """Status entity of an ambassador's post; a boost wraps the boosted status with zero counts."""
    seed = post.seed
    name = seed.account
    sid = status_id(post)
    account = _account_memo(ctx, name)
    if seed.kind == "boost":
        assert seed.other is not None
        uri = f"{ctx.base}/users/{name}/statuses/{sid}/activity"
        s = _base_status(ctx, sid, seed.published, account, uri, uri)
        s["reblog"] = _other_status(ctx, seed.other)
        return _strip(ctx, s, name)
    s = _base_status(
        ctx,
        sid,
        seed.published,
        account,
        f"{ctx.base}/users/{name}/statuses/{sid}",
        f"{ctx.base}/@{name}/{sid}",
    )
    content = _content(ctx, seed.text, seed.tag, seed.mention, seed.link)
    if stable_hash("emoji", seed.key) % 4 == 0:
        content = content[:-4] + " :acme:</p>"
        s["emojis"] = [
            {
                "shortcode": "acme",
                "url": f"{ctx.base}/emoji/acme.png",
                "static_url": f"{ctx.base}/emoji/acme_static.png",
                "visible_in_picker": True,
            }
        ]
    s.update(
        language=seed.lang,
        replies_count=post.replies,
        reblogs_count=post.reposts,
        favourites_count=post.likes,
        quotes_count=post.quotes,
        edited_at=iso(seed.published + _TEN_MIN) if seed.edited else None,
        application={"name": "Web", "website": None},
        tags=[{"name": seed.tag, "url": f"{ctx.base}/tags/{seed.tag}"}],
        pinned=post.pinned,
    )
    if seed.mention:
        m = seed.mention
        s["mentions"] = [
            {
                "id": _remote_account(m)["id"],
                "username": m.username,
                "url": f"https://{m.domain}/@{m.username}",
                "acct": m.acct,
            }
        ]
    if seed.link:
        s["card"] = {
            "url": seed.link,
            "title": "Acme — release notes",
            "description": "What is new at Acme.",
            "language": "en",
            "type": "link",
            "author_name": "",
            "author_url": "",
            "provider_name": "Acme",
            "provider_url": "",
            "html": "",
            "width": 400,
            "height": 200,
            "image": None,
            "image_description": "",
            "embed_url": "",
            "blurhash": None,
            "published_at": None,
            "authors": [],
        }
    if seed.has_image:
        mid = str(snowflake(seed.published, seed.key + "/media"))
        s["media_attachments"] = [
            {
                "id": mid,
                "type": "image",
                "url": f"{ctx.base}/media/{mid}.png",
                "preview_url": f"{ctx.base}/media/{mid}_small.png",
                "remote_url": None,
                "meta": {
                    "original": {"width": 1200, "height": 800, "size": "1200x800", "aspect": 1.5}
                },
                "description": "Team photo at the meetup",
                "blurhash": "UFBWY:8_0Jxv%MoLbHWB9tR*jZRj",
            }
        ]
    if seed.has_poll:
        s["poll"] = {
            "id": str(stable_hash("poll", seed.key) % 10**6),
            "expires_at": iso(seed.published + _ONE_DAY),
            "expired": True,
            "multiple": False,
            "votes_count": 12,
            "voters_count": 12,
            "options": [{"title": "Yes", "votes_count": 9}, {"title": "No", "votes_count": 3}],
            "emojis": [],
            "voted": False,
            "own_votes": [],
        }
    if seed.kind == "reply":
        if seed.self_reply_to:
            s["in_reply_to_id"] = str(
                snowflake(_published_of(seed.self_reply_to, ctx.scale), seed.self_reply_to)
            )
            s["in_reply_to_account_id"] = account["id"]
        else:
            assert seed.other is not None
            s["in_reply_to_id"] = str(snowflake(seed.other.published, seed.other.key))
            s["in_reply_to_account_id"] = _remote_account(seed.other.author)["id"]
    if seed.kind == "quote":
        assert seed.other is not None
        other = _other_status(ctx, seed.other)
        # Quote entity (4.4+): only "accepted" carries the status; a deleted original is "deleted".
        s["quote"] = (
            {"state": "deleted", "quoted_status": None}
            if seed.other.deleted
            else {"state": "accepted", "quoted_status": other}
        )
        s["content"] = f'<p class="quote-inline">RE: {_link(other["url"])}</p>' + content
    else:
        s["content"] = content
    if seed.quotes_count_missing:
        s.pop("quotes_count")
    return _strip(ctx, s, name)


def _published_of(key: str, scale: float) -> datetime:
    """Publication time of an own post from its key (platform/account/ordinal/index)."""
    platform, account, ordinal, index = key.rsplit("/", 3)
    return truth.day_seeds(platform, account, int(ordinal), scale)[int(index)].published


def _strip(ctx: Ctx, s: dict[str, Any], account: str) -> dict[str, Any]:
    """Apply the missing_fields fault: counts absent, as some servers and proxies serve them."""
    if matches(account, ctx.missing_fields):
        for status in (s, s.get("reblog") or {}):
            for name in COUNT_FIELDS:
                status.pop(name, None)
    return s


# --- handlers -----------------------------------------------------------------------------------


def lookup(ctx: Ctx) -> Answer:
    """GET /api/v1/accounts/lookup?acct=username."""
    acct = (ctx.arg("acct") or "").lstrip("@").split("@")[0].lower()
    if not acct or matches(acct, ctx.not_found):
        return Answer(404, NOT_FOUND, account=acct or None)
    return Answer(200, account_entity(ctx, acct), account=acct)


def account(ctx: Ctx, aid: str) -> Answer:
    """GET /api/v1/accounts/:id."""
    name = _account_by_id.get(aid)
    if name is None or matches(name, ctx.not_found):
        return Answer(404, NOT_FOUND, account=name)
    return Answer(200, account_entity(ctx, name), account=name)


ACCOUNTS_LIMIT = 40  # DEFAULT_ACCOUNTS_LIMIT of Api::V1::AccountsController


def accounts(ctx: Ctx) -> Answer:
    """GET /api/v1/accounts?id[]=...&id[]=... (Mastodon 4.3+): several Accounts in one answer.

    As Api::V1::AccountsController#index: ids are de-duplicated, more than 40 is a 422
    (Mastodon::ValidationError), and ids it does not know are left out rather than refused;
    suspended accounts are in the answer with `suspended: true`.
    """
    ids = list(dict.fromkeys(ctx.multi.get("id[]", [])))
    if len(ids) > ACCOUNTS_LIMIT:
        return Answer(422, {"error": "Mastodon::ValidationError"})
    body = []
    for aid in ids:
        name = _account_by_id.get(aid)
        if name is not None and not matches(name, ctx.not_found):
            body.append(_account_memo(ctx, name))
    return Answer(200, body)


def _int(value: str | None) -> int | None:
    """Parse an id parameter; junk counts as absent."""
    try:
        return int(value) if value else None
    except ValueError:
        return None


def statuses(ctx: Ctx, aid: str) -> Answer:
    """GET /api/v1/accounts/:id/statuses with Link pagination (next only on a full page)."""
    name = _account_by_id.get(aid)
    if name is None or matches(name, ctx.not_found):
        return Answer(404, NOT_FOUND, account=name)
    if matches(name, ctx.suspended):
        return Answer(200, [], account=name)
    try:
        limit = min(40, max(1, int(ctx.arg("limit") or 20)))
    except ValueError:
        limit = 20
    items = [(int(status_id(p)), p) for p in truth.posts("mastodon", name, ctx.now, ctx.scale)]
    items.sort(key=lambda x: x[0], reverse=True)
    if ctx.flag("pinned"):
        items = [x for x in items if x[1].pinned]
    if ctx.flag("exclude_reblogs"):
        items = [x for x in items if x[1].kind != "boost"]
    if ctx.flag("exclude_replies"):
        # Only replies to *other* accounts are filtered; self-threads stay (docs: "in reply to a different account").
        items = [x for x in items if not (x[1].kind == "reply" and x[1].seed.self_reply_to is None)]
    if ctx.flag("only_media"):
        items = [x for x in items if x[1].seed.has_image and x[1].kind != "boost"]
    max_id, since_id, min_id = (
        _int(ctx.arg("max_id")),
        _int(ctx.arg("since_id")),
        _int(ctx.arg("min_id")),
    )
    if max_id is not None:
        items = [x for x in items if x[0] < max_id]
    if since_id is not None:
        items = [x for x in items if x[0] > since_id]
    if min_id is not None:
        items = [x for x in items if x[0] > min_id][
            -limit:
        ]  # the ones immediately newer than min_id
    page = items[:limit]
    body = [status_entity(ctx, p) for _, p in page]
    keep = {
        k: v
        for k, v in ctx.args.items()
        if k in ("exclude_replies", "exclude_reblogs", "only_media", "pinned")
    }
    url = f"{ctx.base}/api/v1/accounts/{aid}/statuses"
    links = []
    if len(page) == limit:
        next_max = (
            ctx.arg("max_id")
            if matches(name, ctx.repeat_cursor) and ctx.arg("max_id")
            else str(page[-1][0])
        )
        links.append(
            f'<{url}?{urlencode({"limit": limit, **keep, "max_id": next_max})}>; rel="next"'
        )
    if page:
        links.append(
            f'<{url}?{urlencode({"limit": limit, **keep, "min_id": page[0][0]})}>; rel="prev"'
        )
    headers = {"Link": ", ".join(links)} if links else {}
    return Answer(200, body, headers, account=name)


def _find_status(ctx: Ctx, sid: str) -> Post | None:
    """The ambassador post behind a status id handed out earlier."""
    ref = _status_by_id.get(sid)
    if ref is None or matches(ref[0], ctx.not_found) or matches(ref[0], ctx.suspended):
        return None
    return truth.find_post("mastodon", ref[0], ref[1], ctx.now, ctx.scale)


def status(ctx: Ctx, sid: str) -> Answer:
    """GET /api/v1/statuses/:id."""
    post = _find_status(ctx, sid)
    if post is None:
        return Answer(404, NOT_FOUND)
    return Answer(200, status_entity(ctx, post), account=post.seed.account)


def context(ctx: Ctx, sid: str) -> Answer:
    """GET /api/v1/statuses/:id/context: the replied-to post and the visible replies."""
    post = _find_status(ctx, sid)
    if post is None:
        return Answer(404, NOT_FOUND)
    seed = post.seed
    ancestors: list[dict[str, Any]] = []
    if seed.kind == "reply" and seed.self_reply_to:
        parent = truth.find_post("mastodon", seed.account, seed.self_reply_to, ctx.now, ctx.scale)
        if parent is not None:
            ancestors.append(status_entity(ctx, parent))
    elif seed.kind == "reply" and seed.other and not seed.other.deleted and not seed.other.blocked:
        ancestors.append(_other_status(ctx, seed.other))
    own_id = account_id(seed.account)
    descendants = [_reply_status(ctx, r, sid, own_id) for r in post.replies_visible]
    return Answer(200, {"ancestors": ancestors, "descendants": descendants}, account=seed.account)
