"""Metrics on small hand-computed datasets, on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from sqlmodel import Session

from reach.metrics import METRICS, Period, account_facts, post_facts, rollups
from tests.reach import factories as f

MARCH = Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31))


def _by_slug(session: Session, period: Period = MARCH, by: str = "ambassador") -> dict:
    posts, accounts = post_facts(session, period), account_facts(session, period)
    return {row.key: row for row in rollups(session, by, posts, accounts)}


def test_missing_counts_stay_missing_and_say_how_many_posts_had_them(session: Session) -> None:
    amb = f.ambassador(session, "wei")
    acc = f.account(session, amb)
    crawl = f.run(session, f.at("2026-03-30"))
    for views in (100, None, 34):
        p = f.post(session, acc, f.at("2026-03-05"))
        f.post_snapshot(session, p, crawl, likes=2, comments=None, views=views)
    blog = f.post(session, acc, f.at("2026-03-06"))
    f.post_snapshot(session, blog, crawl)  # a feed post: no count published at all
    session.commit()
    row = _by_slug(session)["wei"]
    assert row.posts == 4
    assert (row.views, row.views_n) == (134, 2)
    assert (row.likes, row.likes_n) == (6, 3)
    assert (row.comments, row.comments_n) == (None, 0)
    assert (row.engagements, row.engagements_n) == (6, 3)
    assert row.applause_rate == 2.0 and row.conversation_rate is None


def test_latest_snapshot_wins_and_growth_is_since_previous_crawl(session: Session) -> None:
    amb = f.ambassador(session, "ana")
    acc = f.account(session, amb)
    first, second = f.run(session, f.at("2026-03-10")), f.run(session, f.at("2026-03-11"))
    p = f.post(session, acc, f.at("2026-03-09"))
    f.post_snapshot(session, p, first, likes=10, comments=1, reposts=2, quotes=0)
    f.post_snapshot(session, p, second, likes=15, comments=4, reposts=2, quotes=1)
    f.followers(session, acc, first, 500)
    session.commit()
    (fact,) = post_facts(session, MARCH)
    assert fact.latest["likes"] == 15 and fact.engagements == 22
    assert fact.engagements_growth == 22 - 13
    # followers at posting: no snapshot before publication, so the first after (500).
    assert fact.followers_at_post == 500
    assert fact.engagement_rate == pytest.approx(100 * 22 / 500)
    row = _by_slug(session)["ana"]
    assert row.engagements_growth == 9 and row.engagement_rate == pytest.approx(4.4)


def test_followers_at_posting_prefer_the_snapshot_before_publication(session: Session) -> None:
    amb = f.ambassador(session, "kofi")
    acc = f.account(session, amb)
    before, after = f.run(session, f.at("2026-03-04")), f.run(session, f.at("2026-03-06"))
    f.followers(session, acc, before, 1000)
    f.followers(session, acc, after, 4000)
    p = f.post(session, acc, f.at("2026-03-05"))
    f.post_snapshot(session, p, after, likes=100)
    session.commit()
    (fact,) = post_facts(session, MARCH)
    assert fact.followers_at_post == 1000 and fact.engagement_rate == pytest.approx(10.0)


def test_new_followers_across_a_handle_change_of_the_same_account(session: Session) -> None:
    amb = f.ambassador(session, "lea")
    acc = f.account(session, amb, handle="@lea_old@example.social")
    start, end = f.run(session, f.at("2026-02-28")), f.run(session, f.at("2026-03-31"))
    f.followers(session, acc, start, 1200)
    # The crawler merges the renamed handle into the same account row (stable platform_id).
    acc.handle, acc.key = "@lea_new@example.social", "@lea_new@example.social"
    session.add(acc)
    f.followers(session, acc, end, 1450)
    session.commit()
    row = _by_slug(session)["lea"]
    assert (row.new_followers, row.new_followers_n) == (250, 1)
    assert row.growth_rate == pytest.approx(100 * 250 / 1200)
    assert row.followers == 1450


def test_period_boundaries_are_whole_days_in_the_report_zone(session: Session) -> None:
    amb = f.ambassador(session, "sam")
    acc = f.account(session, amb)
    crawl = f.run(session, f.at("2026-04-02"))
    edges = {
        "before": dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=dt.UTC),
        "first": dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC),
        "last": dt.datetime(2026, 3, 31, 23, 59, 59, tzinfo=dt.UTC),
        "after": dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC),
    }
    for name, when in edges.items():
        f.post_snapshot(session, f.post(session, acc, when, text=name), crawl, likes=1)
    session.commit()
    assert _by_slug(session)["sam"].posts == 2
    # In Paris (UTC+1 in March), 2026-03-01 00:00 UTC is still the 1st, 23:59:59 UTC on the
    # 31st is April 1st local, and the post just before midnight UTC on Feb 28 is March 1st.
    paris = Period(MARCH.since, MARCH.until, "Europe/Paris")
    assert {p.published_at for p in post_facts(session, paris)} == {edges["before"], edges["first"]}


def test_new_followers_need_snapshots_at_both_ends(session: Session) -> None:
    amb = f.ambassador(session, "one-shot")
    acc = f.account(session, amb)
    f.followers(session, acc, f.run(session, f.at("2026-03-15")), 800)
    session.commit()
    row = _by_slug(session)["one-shot"]
    assert row.followers == 800
    assert (row.new_followers, row.new_followers_n) == (None, 0)


def test_an_ambassador_with_no_posts_is_listed_with_zero_posts(session: Session) -> None:
    quiet = f.ambassador(session, "quiet")
    acc = f.account(session, quiet)
    f.followers(session, acc, f.run(session, f.at("2026-02-20")), 90)
    f.followers(session, acc, f.run(session, f.at("2026-03-20")), 100)
    f.ambassador(session, "no-accounts")
    session.commit()
    rows = _by_slug(session)
    assert rows["quiet"].posts == 0 and rows["quiet"].engagements is None
    assert rows["quiet"].new_followers == 10 and rows["quiet"].potential_reach is None
    assert rows["no-accounts"].accounts == 0 and rows["no-accounts"].posts == 0


def test_a_repost_is_not_counted_as_the_ambassadors_engagement(session: Session) -> None:
    amb = f.ambassador(session, "booster")
    acc = f.account(session, amb)
    crawl = f.run(session, f.at("2026-03-20"))
    own = f.post(session, acc, f.at("2026-03-10"))
    boost = f.post(session, acc, f.at("2026-03-11"), kind="repost")
    f.post_snapshot(session, own, crawl, likes=3, reposts=1)
    f.post_snapshot(session, boost, crawl, likes=9000, reposts=4000)
    f.followers(session, acc, crawl, 50)
    session.commit()
    row = _by_slug(session)["booster"]
    assert (row.posts, row.likes, row.reposts, row.engagements) == (1, 3, 1, 4)


def test_potential_reach_sums_followers_of_accounts_that_posted(session: Session) -> None:
    amb = f.ambassador(session, "multi")
    posting, silent = (
        f.account(session, amb),
        f.account(session, amb, "bluesky", "multi.bsky.social"),
    )
    crawl = f.run(session, f.at("2026-03-20"))
    f.followers(session, posting, crawl, 700)
    f.followers(session, silent, crawl, 300)
    f.post_snapshot(session, f.post(session, posting, f.at("2026-03-02")), crawl, likes=1)
    session.commit()
    row = _by_slug(session)["multi"]
    assert row.potential_reach == 700 and row.followers == 1000
    assert "estimate" in METRICS["potential_reach"].label


def test_sentiment_averages_only_scored_texts_with_their_n(session: Session) -> None:
    amb = f.ambassador(session, "moody")
    acc = f.account(session, amb)
    crawl = f.run(session, f.at("2026-03-20"))
    happy = f.post(session, acc, f.at("2026-03-02"), text="great day")
    french = f.post(session, acc, f.at("2026-03-03"), text="c'est la vie")
    for p in (happy, french):
        f.post_snapshot(session, p, crawl, likes=1)
    f.scored(session, "great day", 0.8)
    f.scored(session, "c'est la vie", None, state="not_scored")
    f.reply(session, happy, "love it", f.at("2026-03-02", 13))
    f.reply(session, happy, "awful", f.at("2026-03-02", 14))
    f.scored(session, "love it", 0.5)
    f.scored(session, "awful", -1.0)
    session.commit()
    row = _by_slug(session)["moody"]
    assert (row.post_sentiment, row.post_sentiment_n) == (pytest.approx(0.8), 1)
    assert (row.reply_sentiment, row.reply_sentiment_n) == (pytest.approx(-0.25), 2)


def test_linkedin_figures_come_from_the_imported_series(session: Session) -> None:
    f.seed_case(session)
    row = _by_slug(session)["ngozi-eze"]
    assert (row.likes, row.comments, row.engagements) == (31000, 2900, 33900)
    assert row.new_followers == 1600  # the daily series over the period's days only
    assert row.impressions == 3000 and row.members_reached == 201000
    assert row.sources == "imported"
    # Members reached is never summed across periods: another period has none.
    other = _by_slug(session, Period(dt.date(2026, 3, 1), dt.date(2026, 3, 15)))["ngozi-eze"]
    assert other.members_reached is None and other.new_followers == 1600


def test_imported_counts_of_an_earlier_export_survive_a_later_export_without_them(
    session: Session,
) -> None:
    amara = f.ambassador(session, "amara-okafor")
    linkedin = f.account(
        session, amara, platform="linkedin", handle="amara-okafor", source="import"
    )
    job_post = f.post(session, linkedin, f.at("2026-03-10"), source="import")
    single = f.run(session, f.at("2026-03-20"), platform="linkedin", source="import")
    creator = f.run(session, f.at("2026-03-31"), platform="linkedin", source="import")
    f.post_snapshot(session, job_post, single, likes=31000, comments=2900, impressions=900000)
    f.post_snapshot(session, job_post, creator, impressions=1236400)  # TOP POSTS: no reactions
    session.commit()
    row = _by_slug(session)["amara-okafor"]
    assert (row.likes, row.comments, row.engagements) == (31000, 2900, 33900)


def test_rollups_by_platform_country_cohort_and_team(session: Session) -> None:
    f.seed_case(session)
    assert _by_slug(session, by="platform")["linkedin"].likes == 31000
    countries = _by_slug(session, by="country")
    assert countries["NG"].engagements == 33900 and countries["FR"].engagements == 50
    assert _by_slug(session, by="team")["Design"].new_followers == 1600
    assert _by_slug(session, by="cohort")["2026"].new_followers == 3200
    with pytest.raises(ValueError, match="unknown grouping"):
        _by_slug(session, by="planet")


def test_post_facts_on_an_in_memory_sqlite_database() -> None:
    """Its one connection may be used by its own thread only: the facts are read without the
    batch-fetching thread."""
    from reach.db import get_engine, upgrade

    url = "sqlite://"
    upgrade(url)
    with Session(get_engine(url)) as session:
        acc = f.account(session, f.ambassador(session, "mem"))
        p = f.post(session, acc, f.at("2026-03-09"))
        f.post_snapshot(session, p, f.run(session, f.at("2026-03-10")), likes=7)
        session.commit()
        (fact,) = post_facts(session, MARCH)
    assert fact.latest["likes"] == 7 and fact.engagements == 7
