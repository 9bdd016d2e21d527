"""WordPress-style blogs: RSS 2.0 or Atom feeds with comment counts, and item pages with schema.org counts.

RSS follows WordPress's feed-rss2.php: `<comments>`, `wfw:commentRss` and `slash:comments` are only
written when the post has comments or they are open, so a closed post without comments has no
count at all. Atom follows feed-atom.php with RFC 4685 `thr:total` and `link rel="replies"`.
`?paged=N` past the last page is a 404, as WordPress answers. Feeds carry an `ETag` and a
`Last-Modified` and answer a matching conditional GET with 304 (RFC 9110 section 13), as WordPress's
`WP::send_headers` does for feeds. Item pages carry schema.org
JSON-LD (`BlogPosting` or `SocialMediaPosting` with `interactionStatistic` InteractionCounters)
or, on "text" blogs, only rounded visible counts ("31K likes", "2,900 comments").
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from sandbox import truth
from sandbox.common import Answer, Ctx, iso, matches
from sandbox.truth import BlogPost, stable_hash

PER_PAGE = 10  # WordPress default posts_per_rss
RSS = "application/rss+xml; charset=UTF-8"
ATOM = "application/atom+xml; charset=UTF-8"
HTML = "text/html; charset=UTF-8"
GENERATOR = "6.6.2"


def _not_found(name: str | None = None) -> Answer:
    """WordPress's 404 page."""
    return Answer(
        404,
        "<!doctype html><title>Page not found</title><h1>Oops! That page can&rsquo;t be found.</h1>",
        content_type=HTML,
        account=name,
    )


def _gone(name: str) -> Answer:
    """A suspended blog: the host took it down."""
    return Answer(
        410,
        "<!doctype html><title>Gone</title><h1>This site has been archived or suspended.</h1>",
        content_type=HTML,
        account=name,
    )


def _post_id(post: BlogPost) -> int:
    """WordPress post id (?p=N)."""
    return 100 + stable_hash("wp", post.key) % 90_000


def _content(post: BlogPost, base: str) -> str:
    """Article body: HTML with entities, a link and an emoji."""
    if post.lang == "fr":
        text = "<p>Voici notre retour d&rsquo;exp&eacute;rience &laquo;&nbsp;sans filtre&nbsp;&raquo; 🎉</p>"
    else:
        text = (
            "<p>Here&#8217;s what we learned &amp; what we&#8217;d do differently next time 🚀</p>"
        )
    return text + (
        f'<p>Read the <a href="https://acme.example/docs/caching">docs</a> or '
        f'<a href="{base}/blogs/{post.blog}/">more posts</a>.</p>'
    )


def _page(ctx: Ctx, name: str) -> tuple[list[BlogPost], Answer | None]:
    """The posts of ?paged=N, or the 404 WordPress answers past the last page."""
    posts = list(truth.blog_posts(name, ctx.now, ctx.scale))
    try:
        paged = max(1, int(ctx.arg("paged") or 1))
    except ValueError:
        paged = 1
    if paged > 1 and (paged - 1) * PER_PAGE >= len(posts):
        return [], _not_found(name)
    return posts[(paged - 1) * PER_PAGE : paged * PER_PAGE], None


def _guard(ctx: Ctx, name: str) -> Answer | None:
    """Answer for a blog that does not exist or was taken down."""
    if matches(name, ctx.not_found):
        return _not_found(name)
    if matches(name, ctx.suspended):
        return _gone(name)
    return None


def rss(ctx: Ctx, name: str) -> Answer:
    """GET /blogs/<name>/feed/: RSS 2.0 as WordPress writes it (Atom blogs redirect to /feed/atom/)."""
    if (early := _guard(ctx, name)) is not None:
        return early
    if truth.blog_feed_format(name) == "atom":
        return Answer(
            301,
            "",
            {"Location": f"{ctx.base}/blogs/{name}/feed/atom/"},
            content_type=HTML,
            account=name,
        )
    page, error = _page(ctx, name)
    if error:
        return error
    site = f"{ctx.base}/blogs/{name}"
    hide_counts = matches(name, ctx.missing_fields)
    items = []
    for p in page:
        link = f"{ctx.base}{p.path}"
        counts = ""
        if p.counts_in_feed:
            counts = f"\n\t\t<comments>{link}#respond</comments>"
        tail = ""
        if p.counts_in_feed:
            tail = f"\n\t\t<wfw:commentRss>{link}feed/</wfw:commentRss>"
            if not hide_counts:
                tail += f"\n\t\t<slash:comments>{p.comments}</slash:comments>"
        items.append(f"""
\t<item>
\t\t<title>{html.escape(p.title, quote=False)}</title>
\t\t<link>{link}</link>{counts}
\t\t<dc:creator><![CDATA[{p.author}]]></dc:creator>
\t\t<pubDate>{format_datetime(p.published)}</pubDate>
\t\t<category><![CDATA[Engineering]]></category>
\t\t<guid isPermaLink="false">{site}/?p={_post_id(p)}</guid>
\t\t<description><![CDATA[{p.title} &#8230; <a href="{link}">Continue reading</a>]]></description>
\t\t<content:encoded><![CDATA[{_content(p, ctx.base)}]]></content:encoded>{tail}
\t</item>""")
    body = f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
\txmlns:content="http://purl.org/rss/1.0/modules/content/"
\txmlns:wfw="http://wellformedweb.org/CommentAPI/"
\txmlns:dc="http://purl.org/dc/elements/1.1/"
\txmlns:atom="http://www.w3.org/2005/Atom"
\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"
\t>

<channel>
\t<title>{html.escape(name.replace("-", " ").title())} &#8211; Notes</title>
\t<atom:link href="{site}/feed/" rel="self" type="application/rss+xml" />
\t<link>{site}/</link>
\t<description>Engineering notes &amp; talks</description>
\t<lastBuildDate>{format_datetime(page[0].published if page else ctx.now)}</lastBuildDate>
\t<language>en-US</language>
\t<sy:updatePeriod>
\thourly\t</sy:updatePeriod>
\t<sy:updateFrequency>
\t1\t</sy:updateFrequency>
\t<generator>https://wordpress.org/?v={GENERATOR}</generator>{"".join(items)}
\t</channel>
</rss>
"""
    url = f"{site}/feed/" + (f"?paged={ctx.arg('paged')}" if ctx.arg("paged") else "")
    return conditional(ctx, url, Answer(200, body, content_type=RSS, account=name))


def atom(ctx: Ctx, name: str) -> Answer:
    """GET /blogs/<name>/feed/atom/: Atom 1.0 with thr:total, for blogs that publish Atom."""
    if (early := _guard(ctx, name)) is not None:
        return early
    if truth.blog_feed_format(name) != "atom":
        return _not_found(name)
    page, error = _page(ctx, name)
    if error:
        return error
    site = f"{ctx.base}/blogs/{name}"
    hide_counts = matches(name, ctx.missing_fields)
    entries = []
    for p in page:
        link = f"{ctx.base}{p.path}"
        replies = ""
        if p.counts_in_feed and not hide_counts:
            replies = (
                f'\n\t\t<link rel="replies" type="text/html" href="{link}#comments" thr:count="{p.comments}" />'
                f'\n\t\t<link rel="replies" type="application/atom+xml" href="{link}feed/atom/" '
                f'thr:count="{p.comments}" />\n\t\t<thr:total>{p.comments}</thr:total>'
            )
        entries.append(f"""
\t<entry>
\t\t<author>
\t\t\t<name>{html.escape(p.author)}</name>
\t\t\t<uri>{site}/</uri>
\t\t</author>
\t\t<title type="html"><![CDATA[{p.title}]]></title>
\t\t<link rel="alternate" type="text/html" href="{link}" />
\t\t<id>{site}/?p={_post_id(p)}</id>
\t\t<updated>{_atom_time(p.published)}</updated>
\t\t<published>{_atom_time(p.published)}</published>
\t\t<category scheme="{site}" term="Engineering" />
\t\t<summary type="html"><![CDATA[{p.title} &#8230;]]></summary>
\t\t<content type="html" xml:base="{link}"><![CDATA[{_content(p, ctx.base)}]]></content>{replies}
\t</entry>""")
    body = f"""<?xml version="1.0" encoding="UTF-8"?><feed
  xmlns="http://www.w3.org/2005/Atom"
  xmlns:thr="http://purl.org/syndication/thread/1.0"
  xml:lang="en-US"
  >
\t<title type="text">{html.escape(name.replace("-", " ").title())} &#8211; Notes</title>
\t<subtitle type="text">Engineering notes &amp; talks</subtitle>
\t<updated>{_atom_time(page[0].published if page else ctx.now)}</updated>
\t<link rel="alternate" type="text/html" href="{site}/" />
\t<id>{site}/feed/atom/</id>
\t<link rel="self" type="application/atom+xml" href="{site}/feed/atom/" />
\t<generator uri="https://wordpress.org/" version="{GENERATOR}">WordPress</generator>{"".join(entries)}
</feed>
"""
    url = f"{site}/feed/atom/" + (f"?paged={ctx.arg('paged')}" if ctx.arg("paged") else "")
    return conditional(ctx, url, Answer(200, body, content_type=ATOM, account=name))


# Feed URL -> [(ETag, Last-Modified)] in the order served: a body keeps the Last-Modified it was
# first served with, and a changed body gets a later one even when the sandbox's clock was set
# back, so If-Modified-Since never takes a changed feed for an unchanged one.
_served: dict[str, list[tuple[str, datetime]]] = {}


def _last_modified(url: str, etag: str, now: datetime) -> datetime:
    history = _served.setdefault(url, [])
    for known, when in history:
        if known == etag:
            return when
    when = now.replace(microsecond=0)
    if history and when <= history[-1][1]:
        when = history[-1][1] + timedelta(seconds=1)
    history.append((etag, when))
    return when


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): `*`, or any listed tag, W/ or not."""
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def conditional(ctx: Ctx, url: str, answer: Answer) -> Answer:
    """A feed's 200 with its validators, or 304 Not Modified when the request's conditions match.

    RFC 9110 13.2.2: If-None-Match is evaluated first and, when present, If-Modified-Since is
    ignored; an unreadable If-Modified-Since date is ignored too.
    """
    body = answer.body.encode() if isinstance(answer.body, str) else bytes(answer.body)
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    modified = _last_modified(url, etag, ctx.now)
    validators = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
    not_modified = False
    if answer.account is not None and matches(answer.account, ctx.altered):
        return answer  # the fault sends another body than this one: nothing matches it
    if_none_match = ctx.headers.get("if-none-match")
    if if_none_match is not None:
        not_modified = _etag_matches(if_none_match, etag)
    elif (since := ctx.headers.get("if-modified-since")) is not None:
        try:
            not_modified = modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            not_modified = False
    if not_modified:
        # A 304 has no body and repeats the ETag a 200 would have sent (RFC 9110 15.4.5).
        return Answer(
            304, b"", {"ETag": etag}, content_type=answer.content_type, account=answer.account
        )
    answer.headers.update(validators)
    return answer


def _atom_time(dt: datetime) -> str:
    """Atom date as WordPress writes it: 2026-11-20T09:12:00Z."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def home(ctx: Ctx, name: str) -> Answer:
    """GET /blogs/<name>/: a front page that advertises the feed, for discovery."""
    if (early := _guard(ctx, name)) is not None:
        return early
    site = f"{ctx.base}/blogs/{name}"
    fmt = truth.blog_feed_format(name)
    feed = (
        f'<link rel="alternate" type="application/atom+xml" title="Feed" href="{site}/feed/atom/" />'
        if fmt == "atom"
        else f'<link rel="alternate" type="application/rss+xml" title="Feed" href="{site}/feed/" />'
    )
    links = "".join(
        f'<li><a href="{ctx.base}{p.path}">{html.escape(p.title)}</a></li>'
        for p in truth.blog_posts(name, ctx.now, ctx.scale)[:PER_PAGE]
    )
    return Answer(
        200,
        f"<!doctype html><html><head><title>{html.escape(name)}</title>{feed}</head>"
        f"<body><ul>{links}</ul></body></html>",
        content_type=HTML,
        account=name,
    )


def _interaction_statistic(p: BlogPost) -> list[dict[str, Any]]:
    """InteractionCounters; both http:// and https:// type URLs and a typed object occur on purpose."""
    if p.style == "blogposting":
        return [
            {
                "@type": "InteractionCounter",
                "interactionType": "http://schema.org/LikeAction",
                "userInteractionCount": p.likes,
            },
            {
                "@type": "InteractionCounter",
                "interactionType": "https://schema.org/CommentAction",
                "userInteractionCount": p.comments,
            },
        ]
    return [
        {
            "@type": "InteractionCounter",
            "interactionType": {"@type": "LikeAction"},
            "userInteractionCount": p.likes,
        },
        {
            "@type": "InteractionCounter",
            "interactionType": "http://schema.org/CommentAction",
            "userInteractionCount": p.comments,
        },
        {
            "@type": "InteractionCounter",
            "interactionType": "https://schema.org/ShareAction",
            "userInteractionCount": p.shares,
        },
    ]


def item(ctx: Ctx, name: str, year: str, month: str, slug: str) -> Answer:
    """GET /blogs/<name>/<yyyy>/<mm>/<slug>/: the article page with its counts."""
    if (early := _guard(ctx, name)) is not None:
        return early
    path = f"/blogs/{name}/{year}/{month}/{slug}/"
    post = next((p for p in truth.blog_posts(name, ctx.now, ctx.scale) if p.path == path), None)
    if post is None:
        return _not_found(name)
    url = f"{ctx.base}{path}"
    ld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "BlogPosting" if post.style == "blogposting" else "SocialMediaPosting",
        "headline": post.title,
        "url": url,
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "datePublished": iso(post.published).replace(".000Z", "+00:00"),
        "inLanguage": post.lang,
        "author": {"@type": "Person", "name": post.author, "url": f"{ctx.base}/blogs/{name}/"},
        "commentCount": post.comments,
    }
    if not matches(name, ctx.missing_fields):
        ld["interactionStatistic"] = _interaction_statistic(post)
    else:
        ld.pop("commentCount")
    script = (
        ""
        if post.style == "text"
        else (f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>')
    )
    if post.style == "text":
        # Only rounded, human-formatted counts: the crawler has to parse "31K" and "2,900".
        counts = (
            f'<div class="post-meta"><span class="likes-count">{post.likes_text}</span> &middot; '
            f'<a href="#comments" class="comments-link">{post.comments_text}</a></div>'
        )
    else:
        counts = f'<div class="post-meta"><a href="#comments">{post.comments} comments</a></div>'
    body = f"""<!doctype html>
<html lang="{post.lang}">
<head>
<meta charset="utf-8">
<title>{html.escape(post.title)} &#8211; {html.escape(name)}</title>
<link rel="canonical" href="{url}">
<meta property="og:type" content="article">
<meta property="article:published_time" content="{iso(post.published)}">
{script}
</head>
<body class="post-template-default single single-post">
<article id="post-{_post_id(post)}" class="post type-post status-publish">
<h1 class="entry-title">{html.escape(post.title)}</h1>
<div class="entry-meta">By <span class="author vcard">{html.escape(post.author)}</span>
<time class="entry-date published" datetime="{iso(post.published)}">{post.published:%B %d, %Y}</time></div>
{counts}
<div class="entry-content">{_content(post, ctx.base)}</div>
</article>
<div id="comments" class="comments-area">{"" if post.comments_open else '<p class="no-comments">Comments are closed.</p>'}</div>
</body>
</html>
"""
    return Answer(200, body, content_type=HTML, account=name)
