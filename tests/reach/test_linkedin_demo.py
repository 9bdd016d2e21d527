"""The demo's LinkedIn exports: the seed case reaches `reach report` with its exact figures."""

import datetime as dt
from pathlib import Path

from sqlmodel import Session

from cli.demo import DEMO_ROSTER, linkedin_ambassadors
from flows.linkedin import import_inbox
from reach.linkedin.parse import CreatorExport, PostExport, parse_export
from reach.linkedin.samples import write_demo_exports
from reach.report import build_report
from reach.roster import import_roster, parse_roster

UNTIL = dt.date(2026, 3, 31)
SINCE = UNTIL - dt.timedelta(days=29)


def demo_roster(session: Session) -> list[tuple[str, str]]:
    """The bundled demo roster stored; (name, slug) of its ambassadors with a LinkedIn account."""
    import_roster(session, parse_roster(DEMO_ROSTER, allow_private_hosts=True))
    session.commit()
    return linkedin_ambassadors(session)


def test_demo_exports_bring_the_seed_case_into_the_report(
    tmp_path: Path, db_url: str, session: Session
) -> None:
    people = demo_roster(session)
    assert len(people) == 9 and ("Amara Okafor", "amara-okafor") in people
    inbox = tmp_path / "inbox"
    written = write_demo_exports(inbox, people, UNTIL)
    assert len(written) == 10  # a creator export each, and the seed post's own export

    outcomes = import_inbox(inbox, database_url=db_url)
    assert [o.ok for o in outcomes] == [True] * 10, [o.message for o in outcomes]

    report = build_report(db_url, SINCE, UNTIL, timezone="UTC")
    amara = next(r for r in report.rows if r.key == "amara-okafor")
    assert (amara.likes, amara.comments, amara.new_followers) == (31000, 2900, 1600)
    assert "linkedin" in amara.platforms and "imported" in amara.sources
    [seed] = [p for p in report.top_posts if p.ambassador_slug == "amara-okafor" and p.likes]
    assert (seed.platform, seed.likes, seed.comments, seed.reposts) == (
        "linkedin",
        31000,
        2900,
        460,
    )
    assert seed.impressions == 1_236_400 and seed.source == "imported"
    # Every LinkedIn ambassador shows imported impressions and members reached for the period.
    for _, slug in people:
        row = next(r for r in report.rows if r.key == slug)
        assert row.impressions and row.members_reached and row.new_followers is not None, slug


def test_demo_exports_are_deterministic_and_mix_both_generations(tmp_path: Path) -> None:
    people = [
        ("Amara Okafor", "amara-okafor"),
        ("Lucía García", "lucia-garcia"),
        ("Chen Jie", "chen-jie"),
    ]
    first = write_demo_exports(tmp_path / "a", people, UNTIL)
    second = write_demo_exports(tmp_path / "b", list(reversed(people)), UNTIL)
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert parse_export(a) == parse_export(b)
    names = [p.name for p in first]
    assert any(n.startswith("Content_") for n in names)
    assert any(n.startswith("AggregateAnalytics_") for n in names)
    creator = {p.name: parse_export(p) for p in first}
    amara = next(e for n, e in creator.items() if "Amara" in n and isinstance(e, CreatorExport))
    assert (amara.period_start, amara.period_end) == (SINCE, UNTIL)
    assert sum(d.new_followers or 0 for d in amara.days) == 1600
    [post] = [e for e in creator.values() if isinstance(e, PostExport)]
    assert (post.metrics["likes"], post.metrics["comments"], post.observed_on) == (
        31000,
        2900,
        UNTIL,
    )
    assert post.key.urn in {
        p.key.urn for p in amara.posts
    }  # the seed post tops her creator export too
