"""Shell completion of option values, through the protocol the shells use (`_REACH_COMPLETE`)."""

from pathlib import Path

from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from models import Ambassador

runner = CliRunner()


def complete(words: str) -> list[str]:
    """What bash is offered after `words` (the last word is the one being typed)."""
    typed = words.split(" ")
    result = runner.invoke(
        app,
        [],
        prog_name="reach",
        env={
            "_REACH_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(typed) - 1),
        },
    )
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_platform_format_and_by_complete_their_choices() -> None:
    assert complete("reach crawl --platform ") == ["mastodon", "bluesky", "feed"]
    assert complete("reach report --format x") == ["xlsx"]
    assert complete("reach report --by c") == ["country", "cohort"]


def test_ambassador_slugs_complete_from_the_roster(session: Session) -> None:
    for slug in ("amelie-laurent", "ana-souza", "ngozi-okafor"):
        session.add(Ambassador(slug=slug, name=slug.title(), country="FR"))
    session.commit()
    assert complete("reach crawl --platform mastodon --ambassador a") == [
        "amelie-laurent",
        "ana-souza",
    ]


def test_completing_a_slug_without_a_database_offers_nothing_and_creates_nothing(
    tmp_path: Path,
) -> None:
    assert complete("reach crawl --ambassador a") == []
    assert not (tmp_path / "var").exists()


def test_report_columns_complete_after_each_comma() -> None:
    assert complete("reach report --columns posts,eng") == [
        "posts,engagements",
        "posts,engagement_rate",
    ]
    offered = complete("reach report --columns posts,")
    assert "posts,engagements" in offered and "posts,posts" not in offered
