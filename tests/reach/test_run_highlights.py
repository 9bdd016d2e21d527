"""What one flow run's crawls saw: top posts and followers gained, from those runs' snapshots."""

from sqlmodel import Session

from reach.report import run_highlights
from tests.reach.factories import account, ambassador, at, followers, post, post_snapshot, run


def test_top_posts_rank_by_the_registrys_engagements_and_leave_out_posts_without_counts(
    session: Session,
) -> None:
    amb = ambassador(session, "amara-okafor", "Amara Okafor")
    masto, feed = (
        account(session, amb, "mastodon"),
        account(session, amb, "feed", "https://blog.example/feed"),
    )
    crawl, feed_crawl = run(session, at("2026-03-02")), run(session, at("2026-03-02"), "feed")
    quiet = post(session, masto, at("2026-03-01"))
    busy = post(session, masto, at("2026-03-01"))
    blog = post(session, feed, at("2026-03-01"))
    post_snapshot(session, quiet, crawl, likes=1, comments=None, reposts=None, quotes=None)
    post_snapshot(session, busy, crawl, likes=10, comments=2, reposts=None, quotes=3)
    post_snapshot(session, blog, feed_crawl)  # a feed publishes no count
    session.commit()

    h = run_highlights([crawl.id, feed_crawl.id], session_or_url=session)

    assert [(p.id, p.engagements) for p in h.top_posts] == [(busy.id, 15), (quiet.id, 1)]
    assert h.top_posts[0].reposts is None  # missing stays missing
    assert h.top_posts[0].ambassador == "Amara Okafor"
    assert (h.posts_seen, h.posts_with_engagements) == (3, 2)


def test_top_posts_leave_out_reposts_of_other_peoples_posts(session: Session) -> None:
    amb = ambassador(session, "li-na")
    acc = account(session, amb)
    crawl = run(session, at("2026-03-02"))
    own, boosted = (
        post(session, acc, at("2026-03-01")),
        post(session, acc, at("2026-03-01"), kind="repost"),
    )
    post_snapshot(session, own, crawl, likes=2)
    post_snapshot(session, boosted, crawl, likes=900)
    session.commit()

    h = run_highlights([crawl.id], session_or_url=session)

    assert [p.id for p in h.top_posts] == [own.id]
    assert h.posts_seen == 1


def test_top_posts_show_the_counts_at_the_run_not_those_of_a_later_crawl(session: Session) -> None:
    acc = account(session, ambassador(session, "julien-moreau"))
    first, later = run(session, at("2026-03-02")), run(session, at("2026-03-03"))
    p = post(session, acc, at("2026-03-01"))
    post_snapshot(session, p, first, likes=10)
    post_snapshot(session, p, later, likes=50)
    session.commit()

    assert [t.likes for t in run_highlights([first.id], session_or_url=session).top_posts] == [10]


def test_followers_gained_since_each_accounts_previous_counted_crawl(session: Session) -> None:
    amara, li = (
        ambassador(session, "amara-okafor", "Amara Okafor"),
        ambassador(session, "li-na", "Li Na"),
    )
    grower, shrinker = account(session, amara), account(session, li, "bluesky", "li.bsky.social")
    newcomer = account(session, li)
    old, blank, now = (
        run(session, at("2026-03-01")),
        run(session, at("2026-03-02")),
        run(session, at("2026-03-03")),
    )
    followers(session, grower, old, 100)
    followers(session, grower, blank, None)  # a crawl that did not read the count is skipped
    followers(session, grower, now, 130)
    followers(session, shrinker, old, 50)
    followers(session, shrinker, now, 45)
    followers(session, newcomer, now, 999)  # first crawl: nothing to compare with
    session.commit()

    h = run_highlights([now.id], session_or_url=session)

    assert (h.followers_gained, h.accounts_compared) == (25, 2)
    assert [(g.ambassador, g.platform, g.gained) for g in h.top_gainers] == [
        ("Amara Okafor", "mastodon", 30),
        ("Li Na", "bluesky", -5),
    ]


def test_a_first_crawl_has_no_followers_gained_rather_than_zero(session: Session) -> None:
    acc = account(session, ambassador(session, "amara-okafor"))
    crawl = run(session, at("2026-03-01"))
    followers(session, acc, crawl, 100)
    session.commit()

    h = run_highlights([crawl.id], session_or_url=session)

    assert (h.followers_gained, h.accounts_compared, h.top_gainers) == (None, 0, [])


def test_no_crawl_run_has_no_highlights(session: Session) -> None:
    h = run_highlights([], session_or_url=session)

    assert (h.top_posts, h.posts_seen, h.followers_gained, h.accounts_compared) == ([], 0, None, 0)
