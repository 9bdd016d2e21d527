"""`python -m sandbox.capture [DIR]`: save representative sandbox answers as parser test fixtures."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sandbox import truth
from sandbox.testing import SandboxProcess

NAMES = [f"amb{i}" for i in range(40)]


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _write(path: Path, data: Any) -> None:
    """JSON pretty-printed (UTF-8 kept readable), text as is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, (dict, list)):
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    else:
        path.write_bytes(data)
    print(path)


def _mastodon(base: str, out: Path) -> None:
    """Account, a full statuses page with its Link header, one status of each kind, a context."""
    acc = json.loads(_get(f"{base}/api/v1/accounts/lookup?acct=alice")[2])
    _write(out / "account_lookup.json", acc)
    _status, headers, body = _get(f"{base}/api/v1/accounts/{acc['id']}/statuses?limit=20")
    _write(out / "statuses_page.json", json.loads(body))
    _write(out / "statuses_page.headers.json", {k: v for k, v in headers.items() if k.lower().startswith(("link", "x-ratelimit"))})
    picks: dict[str, Any] = {}
    for name in NAMES:
        aid = json.loads(_get(f"{base}/api/v1/accounts/lookup?acct={name}")[2])["id"]
        for s in json.loads(_get(f"{base}/api/v1/accounts/{aid}/statuses?limit=40")[2]):
            kind = ("status_boost" if s["reblog"] else "status_quote_deleted" if s["quote"] and s["quote"]["state"] == "deleted"
                    else "status_quote" if s["quote"] else "status_reply" if s["in_reply_to_id"] else
                    "status_missing_quotes_count" if "quotes_count" not in s else "status_original")
            picks.setdefault(kind, s)
            if kind == "status_original" and s["replies_count"] >= 3 and "context" not in picks:
                picks["context"] = json.loads(_get(f"{base}/api/v1/statuses/{s['id']}/context")[2])
        if len(picks) >= 7:
            break
    for kind, data in picks.items():
        _write(out / f"{kind}.json", data)
    _write(out / "error_not_found.json", json.loads(_get(f"{base}/api/v1/accounts/lookup?acct=nobody")[2]))
    _write(out / "account_suspended.json", json.loads(_get(f"{base}/api/v1/accounts/lookup?acct=suspended-sam")[2]))


def _bluesky(base: str, out: Path) -> None:
    """Handle resolution, profile, a first feed page with the pin, one item of each kind, a thread."""
    x = f"{base}/xrpc/"
    _write(out / "resolve_handle.json", json.loads(_get(f"{x}com.atproto.identity.resolveHandle?handle=alice.bsky.social")[2]))
    _write(out / "profile.json", json.loads(_get(f"{x}app.bsky.actor.getProfile?actor=alice.bsky.social")[2]))
    _status, headers, body = _get(f"{x}app.bsky.feed.getAuthorFeed?actor=alice.bsky.social&limit=10&includePins=true")
    _write(out / "author_feed_first_page_with_pin.json", json.loads(body))
    _write(out / "author_feed.headers.json", {k: v for k, v in headers.items() if k.lower().startswith("ratelimit")})
    picks: dict[str, Any] = {}
    for name in NAMES:
        feed = json.loads(_get(f"{x}app.bsky.feed.getAuthorFeed?actor={name}.bsky.social&limit=100")[2])["feed"]
        for item in feed:
            embed = item["post"].get("embed", {})
            reason = (item.get("reason") or {}).get("$type", "")
            kind = ("feed_item_repost" if reason.endswith("reasonRepost")
                    else "feed_item_quote_not_found" if embed.get("record", {}).get("$type", "").endswith("viewNotFound")
                    else "feed_item_quote" if embed.get("$type") == "app.bsky.embed.record#view"
                    else "feed_item_reply_parent_not_found" if item.get("reply", {}).get("parent", {}).get("notFound")
                    else "feed_item_reply_parent_blocked" if item.get("reply", {}).get("parent", {}).get("blocked")
                    else "feed_item_reply" if "reply" in item else "feed_item_post")
            picks.setdefault(kind, item)
            if kind == "feed_item_post" and item["post"]["replyCount"] >= 3 and "post_thread" not in picks:
                picks["post_thread"] = json.loads(_get(f"{x}app.bsky.feed.getPostThread?uri={item['post']['uri']}")[2])
        if len(picks) >= 8:
            break
    for kind, data in picks.items():
        _write(out / f"{kind}.json", data)
    _write(out / "error_profile_not_found.json", json.loads(_get(f"{x}app.bsky.actor.getProfile?actor=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")[2]))
    _write(out / "error_account_takedown.json", json.loads(_get(f"{x}app.bsky.actor.getProfile?actor=suspended-sam.bsky.social")[2]))
    _write(out / "error_resolve_handle.json", json.loads(_get(f"{x}com.atproto.identity.resolveHandle?handle=nobody.bsky.social")[2]))


def _blogs(base: str, out: Path) -> None:
    """An RSS feed with a closed-comments item, an Atom feed, and one item page per style."""
    now = truth.sandbox_now(0)
    rss = next(n for n in NAMES if truth.blog_feed_format(n) == "rss"
               and any(not p.counts_in_feed for p in truth.blog_posts(n, now)[:10]))
    _write(out / "rss_closed_comments.xml", _get(f"{base}/blogs/{rss}/feed/")[2])
    atom = next(n for n in NAMES if truth.blog_feed_format(n) == "atom")
    _write(out / "atom_thr_total.xml", _get(f"{base}/blogs/{atom}/feed/atom/")[2])
    for style, fname in (("blogposting", "item_jsonld_blogposting.html"),
                         ("socialmedia", "item_jsonld_socialmediaposting.html"), ("text", "item_text_counts.html")):
        post = next(p for n in NAMES if truth.blog_style(n) == style for p in truth.blog_posts(n, now)
                    if style != "text" or (p.likes >= 10_000 and p.comments >= 1000))
        _write(out / fname, _get(f"{base}{post.path}")[2])


def main() -> None:
    """Capture every platform into DIR (default tests/sample_data)."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/sample_data")
    with SandboxProcess(faults=["not_found=nobody", "suspended=suspended-sam"], rate_limits=True) as sb:
        _mastodon(sb.base_url, out / "mastodon")
        _bluesky(sb.base_url, out / "bluesky")
        _blogs(sb.base_url, out / "feed")
        sb.set_faults(rate_limit=1)  # already spent: the next API calls are refused
        for platform, path in (("mastodon", "/api/v1/accounts/lookup?acct=alice"),
                               ("bluesky", "/xrpc/app.bsky.actor.getProfile?actor=alice.bsky.social")):
            status, headers, body = _get(sb.base_url + path)
            _write(out / platform / "error_rate_limited.json",
                   {"status": status, "headers": {k: v for k, v in headers.items() if k.lower().startswith(("x-ratelimit", "ratelimit", "retry-after"))},
                    "body": json.loads(body)})
    # Counts come from the sandbox clock of the capture day; keep the day for readers.
    _write(out / "CAPTURED_AT.txt", f"{truth.sandbox_now(0).isoformat()}\n".encode())


if __name__ == "__main__":
    main()
