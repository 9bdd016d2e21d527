"""What the crawl runs of one flow run saw: their most engaging posts and the followers gained.

The figures are the registry's (`engagements`, `new_followers`) read from those runs' own
snapshots; a post without any published count is not ranked and an account crawled for the
first time has no change, so a missing figure stays missing instead of reading 0.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from models import Ambassador
from reach.metrics import run_follower_changes, run_post_facts
from reach.report.build import rank_top_posts, session_for
from reach.report.model import TopPost

TOP_POSTS = 5


@dataclass
class FollowerGain:
    """One account's net new followers since its previous crawl."""

    ambassador: str
    platform: str
    gained: int


@dataclass
class RunHighlights:
    """The runs' most engaging posts and the followers their accounts gained since their last crawl."""

    top_posts: list[TopPost]
    posts_seen: int
    posts_with_engagements: int  # the n of `engagements`: posts with at least one count
    followers_gained: int | None  # `new_followers` summed; None when no account was crawled before
    accounts_compared: int  # the n of `new_followers`
    top_gainers: list[FollowerGain]


def run_highlights(
    crawl_run_ids: Sequence[int], n: int = TOP_POSTS, session_or_url: Session | str | None = None
) -> RunHighlights:
    """Top posts and followers gained, from the snapshots written by these crawl runs."""
    ids = list(crawl_run_ids)
    if not ids:
        return RunHighlights([], 0, 0, None, 0, [])
    with session_for(session_or_url) as session:
        posts = run_post_facts(session, ids)
        top = rank_top_posts(session, posts, n)
        gains = [
            (c.new_followers, c)
            for c in run_follower_changes(session, ids)
            if c.new_followers is not None
        ]
        gains.sort(key=lambda g: (-g[0], g[1].account_id))
        names: dict[int | None, str] = (
            dict(
                session.exec(
                    select(Ambassador.id, Ambassador.name).where(
                        col(Ambassador.id).in_({c.ambassador_id for _, c in gains[:n]})
                    )
                ).all()
            )
            if gains
            else {}
        )
    return RunHighlights(
        top_posts=top,
        posts_seen=len(posts),
        posts_with_engagements=sum(1 for p in posts if p.engagements is not None),
        followers_gained=sum(g for g, _ in gains) if gains else None,
        accounts_compared=len(gains),
        top_gainers=[FollowerGain(names[c.ambassador_id], c.platform, g) for g, c in gains[:n]],
    )
