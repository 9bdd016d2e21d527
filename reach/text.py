"""Plain text from platform HTML, and the text hash that sentiment scores are keyed on."""

import hashlib
import re
import unicodedata

import lxml.html

_BLOCK_TAGS = {"p", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr"}
_SPACES = re.compile(r"[ \t\u00a0]+")
# One paragraph of plain words, the most common post body: no parser needed.
_SIMPLE_PARAGRAPH = re.compile(r"^\s*<p>([^<>&]*)</p>\s*$")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str | None) -> str | None:
    """Plain text from an HTML fragment: entities decoded, emoji kept, links kept as their text.

    Paragraphs and line breaks become newlines; Mastodon's invisible link parts (the `https://`
    and the tail of long URLs) are kept, so a link reads as its full address.
    """
    if html is None:
        return None
    if "<" not in html and "&" not in html:
        return html.strip()
    if simple := _SIMPLE_PARAGRAPH.match(html):
        return _tidy(simple.group(1))
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for element in root.iter("script", "style"):
        element.drop_tree()
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n\n" + (element.tail or "")
    return _tidy(root.text_content())


def _tidy(text: str) -> str:
    """Spaces collapsed and trimmed per line, at most one blank line in a row."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def text_hash(text: str | None) -> str | None:
    """SHA-256 of the NFC-normalised, whitespace-collapsed text: an edit gives a new hash."""
    if text is None:
        return None
    normal = " ".join(unicodedata.normalize("NFC", text).split())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()
