"""Blog feeds and item pages of the sandbox against the truth."""

from __future__ import annotations

import email.utils
import json
import re
import urllib.error
import urllib.request

import feedparser
import pytest

from sandbox import truth
from tests.sandbox.conftest import fetch

pytestmark = pytest.mark.slow  # starts a sandbox subprocess

NOW = truth.sandbox_now(0)


def _blog(fmt: str, style: str | None = None) -> str:
    """A blog name with the wanted feed format (and page style)."""
    return next(
        f"blog{i}"
        for i in range(200)
        if truth.blog_feed_format(f"blog{i}") == fmt
        and (style is None or truth.blog_style(f"blog{i}") == style)
        and len(truth.blog_posts(f"blog{i}", NOW)) > truth.WINDOW_DAYS // 10
    )


def test_rss_feed_has_wordpress_shape_and_truth_counts(sb) -> None:
    name = next(
        f"blog{i}"
        for i in range(300)
        if truth.blog_feed_format(f"blog{i}") == "rss"
        and any(not p.counts_in_feed for p in truth.blog_posts(f"blog{i}", NOW)[:10])
    )
    res = fetch(f"{sb.base_url}/blogs/{name}/feed/")
    assert res.status == 200 and res.headers["Content-Type"].startswith("application/rss+xml")
    xml = res.body.decode()
    items = xml.split("<item>")[1:]
    expected = truth.blog_posts(name, NOW)[:10]
    assert len(items) == len(expected)
    for raw, p in zip(items, expected, strict=False):
        assert (
            '<guid isPermaLink="false">' in raw
            and "<content:encoded><![CDATA[" in raw
            and "<dc:creator>" in raw
        )
        if p.counts_in_feed:
            assert (
                f"<slash:comments>{p.comments}</slash:comments>" in raw
                and "<wfw:commentRss>" in raw
            )
        else:
            assert "slash:comments" not in raw and "wfw:commentRss" not in raw
    parsed = feedparser.parse(res.body)
    assert not parsed.bozo and parsed.entries[0].link == f"{sb.base_url}{expected[0].path}"


def test_atom_feed_has_thr_total_and_rss_url_redirects(sb) -> None:
    name = _blog("atom")
    res = fetch(f"{sb.base_url}/blogs/{name}/feed/")  # urllib follows the 301
    assert res.status == 200 and res.headers["Content-Type"].startswith("application/atom+xml")
    totals = [int(t) for t in re.findall(r"<thr:total>(\d+)</thr:total>", res.body.decode())]
    assert totals == [p.comments for p in truth.blog_posts(name, NOW)[:10] if p.counts_in_feed]
    assert not feedparser.parse(res.body).bozo
    assert fetch(f"{sb.base_url}/blogs/{_blog('rss')}/feed/atom/").status == 404


def test_paging_past_the_last_page_is_404(sb) -> None:
    name = _blog("rss")
    pages = -(-len(truth.blog_posts(name, NOW)) // 10)
    assert fetch(f"{sb.base_url}/blogs/{name}/feed/?paged={pages}").status == 200
    assert fetch(f"{sb.base_url}/blogs/{name}/feed/?paged={pages + 1}").status == 404


def _ld(body: bytes) -> dict:
    m = re.search(rb'<script type="application/ld\+json">(.*?)</script>', body, re.DOTALL)
    assert m
    return json.loads(m.group(1))


def test_item_pages_expose_counts_as_json_ld_with_both_url_prefixes(sb) -> None:
    types = []
    for style, ld_type in (("blogposting", "BlogPosting"), ("socialmedia", "SocialMediaPosting")):
        name = next(
            f"blog{i}"
            for i in range(200)
            if truth.blog_style(f"blog{i}") == style and truth.blog_posts(f"blog{i}", NOW)
        )
        post = truth.blog_posts(name, NOW)[0]
        ld = _ld(fetch(f"{sb.base_url}{post.path}").body)
        assert ld["@type"] == ld_type
        counters = {
            json.dumps(c["interactionType"]): c["userInteractionCount"]
            for c in ld["interactionStatistic"]
        }
        types += list(counters)
        assert post.likes in counters.values() and post.comments in counters.values()
    assert any('"http://schema.org/' in t for t in types) and any(
        '"https://schema.org/' in t for t in types
    )
    assert '{"@type": "LikeAction"}' in types


def test_text_only_page_shows_rounded_counts(sb) -> None:
    name = next(
        f"blog{i}"
        for i in range(200)
        if truth.blog_style(f"blog{i}") == "text"
        and truth.blog_posts(f"blog{i}", NOW)
        and truth.blog_posts(f"blog{i}", NOW)[0].comments >= 1000
    )
    post = truth.blog_posts(name, NOW)[0]
    body = fetch(f"{sb.base_url}{post.path}").body.decode()
    assert "application/ld+json" not in body
    assert re.search(r"\d+(\.\d)?K likes", body) and post.likes_text in body
    assert re.search(r"\d,\d{3} comments", body) and post.comments_text in body


def test_unknown_item_is_404(sb) -> None:
    assert fetch(f"{sb.base_url}/blogs/blog1/2001/01/nothing-here/").status == 404


def _conditional(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET with request headers, whatever the status (urllib raises on a 304)."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feed_answers_304_to_its_own_validators_and_200_when_it_changed(sb, fmt: str) -> None:
    name = _blog(fmt)
    url = f"{sb.base_url}/blogs/{name}/feed/" + ("atom/" if fmt == "atom" else "")
    status, headers, body = _conditional(url)
    assert status == 200 and body
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert etag.startswith('"') and etag.endswith('"')
    assert email.utils.parsedate_to_datetime(modified).tzinfo is not None
    # A match: no body, the ETag repeated (RFC 9110 15.4.5); a weak or listed tag matches too.
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        status, headers, body = _conditional(url, **{"If-None-Match": header})
        assert (status, body, headers.get("ETag")) == (304, b"", etag), header
    assert _conditional(url, **{"If-Modified-Since": modified})[0] == 304
    # If-None-Match decides when present: a stale tag gets the feed whatever the date says.
    stale = {"If-None-Match": '"stale"', "If-Modified-Since": modified}
    assert _conditional(url, **stale)[0] == 200
    assert _conditional(url, **{"If-Modified-Since": "not a date"})[0] == 200
    # The next day the counts (and the posts) changed: the old validators get the new feed.
    sb.control("POST", "/_sandbox/day", {"day": 1})
    status, headers, body = _conditional(url, **{"If-None-Match": etag})
    assert status == 200 and body and headers["ETag"] != etag
    assert email.utils.parsedate_to_datetime(
        headers["Last-Modified"]
    ) > email.utils.parsedate_to_datetime(modified)
    assert _conditional(url, **{"If-Modified-Since": modified})[0] == 200
