"""Plain text from platform HTML, and the text hash."""

import pytest

from reach.text import html_to_text, text_hash


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello &amp; welcome 🎉</p>", "Hello & welcome 🎉"),
        ("<p>New job!  So happy 🎉</p>", "New job! So happy 🎉"),
        (
            "<p>line one<br>line two</p><p>second paragraph</p>",
            "line one\nline two\n\nsecond paragraph",
        ),
        (
            '<p>see <a href="https://x.org/a"><span class="invisible">https://</span>x.org/a</a></p>',
            "see https://x.org/a",
        ),
        ("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", "<script>alert(1)</script>"),
        ("plain text", "plain text"),
    ],
)
def test_html_becomes_plain_text_with_entities_decoded_and_emoji_kept(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_one_paragraph_shortcut_gives_what_the_parser_gives() -> None:
    body = "A  post \n with   spaces and émoji 🚀"
    assert html_to_text(f"<p>{body}</p>") == html_to_text(f"<p>{body}</p><!-- parser path -->")


def test_text_hash_ignores_spacing_but_not_edits() -> None:
    assert text_hash("Hello  world") == text_hash("Hello world\n")
    assert text_hash("Hello world") != text_hash("Hello world!")
