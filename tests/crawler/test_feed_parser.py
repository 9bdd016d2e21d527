"""Feed parsing on the formats' own documented examples: a feed is read whole or not at all."""

import pytest

from crawler.parsers import feed
from crawler.parsers.common import ParseError
from tests.conftest import get_testdata

RSS = "rss2_spec_sample.xml"
FEED_URL = "http://liftoff.msfc.nasa.gov/feeds/rss.xml"


def parse(name: str, **kwargs: object) -> feed.FeedPage:
    return feed.parse_feed(get_testdata("feed", name), 7, **kwargs)  # type: ignore[arg-type]


# -- Whole feeds ------------------------------------------------------------------------------


def test_rss_specification_sample_gives_every_item_keyed_by_its_guid() -> None:
    page = parse(RSS, feed_url=FEED_URL, content_type="application/rss+xml; charset=UTF-8")
    keys = [item.platform_post_id for item, _ in page.entries]
    assert keys == [
        f"http://liftoff.msfc.nasa.gov/2003/{day}.html#item{n}"
        for day, n in [("06/03", 573), ("05/30", 572), ("05/27", 571), ("05/20", 570)]
    ]
    assert page.entries[0][1] == "http://liftoff.msfc.nasa.gov/news/2003/news-starcity.asp"
    assert page.language == "en" and page.links_dropped == 0
    assert all(item.text and "<" not in item.text for item, _ in page.entries)


def test_rss_item_without_link_uses_its_permalink_guid() -> None:
    # RSS 2.0: a guid is a permalink unless isPermaLink="false"; the sample's second item has no <link>.
    item, link = parse(RSS).entries[1]
    assert link == item.url == "http://liftoff.msfc.nasa.gov/2003/05/30.html#item572"


@pytest.mark.parametrize("name", ["atom_rfc4287_minimal.xml", "atom_rfc4287_extensive.xml"])
def test_atom_rfc_examples_give_their_entry_with_its_alternate_link(name: str) -> None:
    page = parse(name, feed_url="http://example.org/feed.atom", content_type="application/atom+xml")
    [(item, link)] = page.entries
    assert item.platform_post_id.startswith(("urn:uuid:", "tag:example.org"))
    assert (
        link is not None and link.startswith("http://example.org/200") and not link.endswith(".mp3")
    )


def test_blank_lines_before_the_xml_declaration_are_not_a_broken_feed() -> None:
    # Seen on WordPress sites whose theme or plugin prints a newline before the feed.
    body = b"\n\n" + get_testdata("feed", RSS)
    assert len(feed.parse_feed(body, 7).entries) == 4


# -- Not whole: fail with a reason, never a shorter feed ---------------------------------------


def test_truncated_feed_is_a_parse_error_not_its_first_items() -> None:
    with pytest.raises(
        ParseError,
        match=r"feed is not well-formed XML: Premature end of data .*\(line \d+, column \d+\)",
    ):
        parse("rss2_spec_sample_truncated.xml")


def test_feed_with_an_unclosed_tag_is_a_parse_error() -> None:
    with pytest.raises(
        ParseError,
        match=r"feed is not well-formed XML: Opening and ending tag mismatch: title line 27",
    ):
        parse("rss2_spec_sample_unclosed_tag.xml")


def test_no_prefix_of_a_feed_parses_as_a_feed() -> None:
    # Wherever a connection or a proxy cuts the body, the cut is seen (the sample ends "</rss>\n").
    body = get_testdata("feed", RSS)
    end = body.rindex(b"</rss>") + len(b"</rss>")
    for length in range(end):
        with pytest.raises(ParseError):
            feed.parse_feed(body[:length], 7)
    assert len(feed.parse_feed(body[:end], 7).entries) == 4


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match=r"feed is served as text/html, not XML"):
        parse("html_page.html", content_type="text/html; charset=UTF-8")
    with pytest.raises(ParseError, match=r"document is <html>, not an RSS or Atom feed"):
        parse("html_page.html")  # no Content-Type: the document itself says it is not a feed


@pytest.mark.parametrize("body", [b"", b" \r\n"])
def test_empty_body_is_not_an_empty_feed(body: bytes) -> None:
    with pytest.raises(ParseError, match="feed body is empty"):
        feed.parse_feed(body, 7)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/xml",
        "application/xml",
        "application/rss+xml; charset=UTF-8",
        "application/atom+xml",
        "application/rdf+xml",
        "TEXT/XML;charset=utf-8",
        None,
        "",
    ],
)
def test_xml_content_types_and_none_at_all_are_accepted(content_type: str | None) -> None:
    assert len(parse(RSS, content_type=content_type).entries) == 4


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/json", "text/plain", "application/octet-stream"]
)
def test_other_content_types_are_refused_with_the_type_named(content_type: str) -> None:
    with pytest.raises(ParseError, match=f"feed is served as {content_type}, not XML"):
        parse(RSS, content_type=f"{content_type}; charset=utf-8")


def test_json_body_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="not well-formed XML"):
        feed.parse_feed(b'{"json": true}', 7)


# -- Item links ---------------------------------------------------------------------------------


def test_relative_links_resolve_against_the_feed_url() -> None:
    page = parse("rss2_relative_and_javascript_links.xml", feed_url=FEED_URL)
    links = [link for _, link in page.entries]
    assert (
        links[0] == "http://liftoff.msfc.nasa.gov/feeds/news/2003/news-starcity.asp"
    )  # relative path
    assert links[3] == "http://liftoff.msfc.nasa.gov/news/2003/news-laundry.asp"  # root-relative
    assert [item.url for item, _ in page.entries] == links


def test_entry_keyed_by_its_link_is_keyed_by_the_resolved_link() -> None:
    item, _ = parse("rss2_relative_and_javascript_links.xml", feed_url=FEED_URL).entries[
        3
    ]  # no guid
    assert item.platform_post_id == "http://liftoff.msfc.nasa.gov/news/2003/news-laundry.asp"


def test_atom_relative_link_resolves_against_the_feed_url() -> None:
    [(item, link)] = parse(
        "atom_rfc4287_minimal_relative_link.xml", feed_url="http://example.org/feed/"
    ).entries
    assert link == item.url == "http://example.org/feed/2003/12/13/atom03"
    assert (
        item.platform_post_id == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    )  # the id, not the link


def test_javascript_link_is_dropped_and_counted_but_its_post_is_kept() -> None:
    page = parse("rss2_relative_and_javascript_links.xml", feed_url=FEED_URL)
    item, link = page.entries[2]
    assert link is None and item.url is None
    assert item.platform_post_id == "http://liftoff.msfc.nasa.gov/2003/05/27.html#item571"
    assert page.links_dropped == 1 and len(page.entries) == 4


@pytest.mark.parametrize(
    ("href", "feed_url"),
    [
        ("mailto:editor@example.com", FEED_URL),
        ("data:text/html,hi", FEED_URL),
        ("ftp://example.org/a", FEED_URL),
        ("http:///no-host", ""),
    ],
)
def test_links_that_are_not_http_are_dropped(href: str, feed_url: str) -> None:
    body = get_testdata("feed", RSS).replace(
        b"http://liftoff.msfc.nasa.gov/news/2003/news-starcity.asp", href.encode()
    )
    page = feed.parse_feed(body, 7, feed_url=feed_url)
    assert page.entries[0][1] is None and page.links_dropped == 1


def test_relative_link_without_a_feed_url_is_dropped_not_requested() -> None:
    page = parse("rss2_relative_and_javascript_links.xml")
    assert page.entries[0][1] is None and page.links_dropped == 3
