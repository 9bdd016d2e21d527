"""The deterministic world itself, without a server."""

from __future__ import annotations

from datetime import date

from sandbox import truth

TODAY = date(2026, 3, 15)
NAMES = [f"amb{i}" for i in range(12)]


def now(day: int) -> truth.datetime:
    return truth.sandbox_now(day, TODAY)


def test_same_name_same_world_and_other_names_differ() -> None:
    a = truth.expected("mastodon", "alice", now=now(0))
    b = truth.expected("mastodon", "alice", now=now(0))
    c = truth.expected("mastodon", "bob", now=now(0))
    assert [(p.key, p.likes, p.replies) for p in a.posts] == [
        (p.key, p.likes, p.replies) for p in b.posts
    ]
    assert a.profile == b.profile
    assert [p.seed.text for p in a.posts] != [p.seed.text for p in c.posts]


def test_day_offset_equals_calendar_shift() -> None:
    shifted = truth.sandbox_now(0, date(2026, 3, 16))
    assert [(p.key, p.likes) for p in truth.posts("bluesky", "alice", now(1))] == [
        (p.key, p.likes) for p in truth.posts("bluesky", "alice", shifted)
    ]


def test_posts_stay_within_window_and_before_now() -> None:
    for p in truth.posts("mastodon", "alice", now(0)):
        assert now(0) - truth.timedelta(days=truth.WINDOW_DAYS) <= p.published < now(0)


def test_later_day_grows_followers_counts_and_adds_posts() -> None:
    for name in NAMES[:4]:
        d0, d3 = (
            truth.expected("mastodon", name, now=now(0)),
            truth.expected("mastodon", name, now=now(3)),
        )
        assert d3.profile.followers > d0.profile.followers
        later = {p.key: p for p in d3.posts}
        common = [p for p in d0.posts if p.key in later]
        assert all(
            later[p.key].likes >= p.likes and later[p.key].replies >= p.replies for p in common
        )
        assert any(later[p.key].likes > p.likes or later[p.key].replies > p.replies for p in common)
        assert any(p.published >= now(0) for p in d3.posts)


def test_every_account_loses_a_post_within_three_days() -> None:
    for platform in ("mastodon", "bluesky"):
        for name in NAMES:
            later = {p.key for p in truth.posts(platform, name, now(3))}
            window_start = now(3) - truth.timedelta(days=truth.WINDOW_DAYS)
            gone = [
                p
                for p in truth.posts(platform, name, now(0))
                if p.key not in later and p.published >= window_start
            ]
            assert gone and all(p.seed.deleted_at <= now(3) for p in gone), (platform, name)


def test_world_has_every_kind_language_and_one_pin() -> None:
    kinds, langs = set(), set()
    for name in NAMES[:3]:
        live = truth.posts("mastodon", name, now(0))
        kinds |= {p.kind for p in live}
        langs |= {p.seed.lang for p in live}
        assert sum(p.pinned for p in live) == 1
    assert kinds == {"original", "reply", "boost", "quote"}
    assert {"en", "fr", "zh", None} <= langs


def test_boost_counts_belong_to_the_boosted_post() -> None:
    boosts = [p for p in truth.posts("mastodon", "alice", now(0)) if p.kind == "boost"]
    assert boosts and all(not p.is_own and p.likes == p.seed.other.likes for p in boosts)


def test_visible_replies_never_exceed_the_count_and_cover_sentiments() -> None:
    sentiments = set()
    for name in NAMES[:4]:
        for p in truth.posts("bluesky", name, now(0)):
            assert len(p.replies_visible) <= p.replies
            sentiments |= {r.sentiment for r in p.replies_visible}
    assert {"positive", "negative", "neutral"} <= sentiments


def test_some_quotes_point_to_deleted_posts_and_some_counts_are_missing() -> None:
    live = [p for name in NAMES for p in truth.posts("mastodon", name, now(0))]
    assert any(p.kind == "quote" and p.seed.other.deleted for p in live)
    assert any(p.seed.quotes_count_missing for p in live)
    assert any(p.likes == 0 and p.kind != "boost" for p in live)


def test_blogs_mix_feed_formats_page_styles_and_closed_comments() -> None:
    blogs = [f"blog{i}" for i in range(15)]
    assert {truth.blog_feed_format(b) for b in blogs} == {"rss", "atom"}
    assert {truth.blog_style(b) for b in blogs} == set(truth.BLOG_STYLES)
    posts = [p for b in blogs for p in truth.blog_posts(b, now(0))]
    assert any(not p.counts_in_feed for p in posts)
    assert truth.humanize(31_400) == "31K" and truth.humanize(2_900) == "2.9K"


def test_env_day(monkeypatch) -> None:
    monkeypatch.setenv("REACH_SANDBOX_DAY", "4")
    assert truth.day_from_env() == 4
