"""What a flow run shows on its page in the Prefect UI: a per-platform table and a markdown summary."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flows.tasks import PlatformOutcome

TOP_POSTS = 5


@dataclass
class TopPost:
    """A post seen by this run, with its counts at this run."""

    ambassador: str
    platform: str
    url: str | None
    engagements: int
    likes: int | None
    comments: int | None
    reposts: int | None


@dataclass
class Highlights:
    """The run's most engaging posts and the followers its accounts gained since their last crawl."""

    top_posts: list[TopPost]
    followers_gained: int
    accounts_compared: int
    top_gainers: list[tuple[str, str, int]]  # (ambassador, platform, gained)


def run_highlights(crawl_run_ids: Sequence[int], n: int = TOP_POSTS) -> Highlights:
    """Top posts and followers gained, from the snapshots written by these crawl runs."""
    from sqlalchemy import func
    from sqlmodel import Session, col, select

    from models import Account, AccountSnapshot, Ambassador, Post, PostSnapshot
    from reach.db import get_engine

    ids = list(crawl_run_ids)
    if not ids:
        return Highlights([], 0, 0, [])
    engagements = (func.coalesce(PostSnapshot.likes, 0) + func.coalesce(PostSnapshot.comments, 0)
                   + func.coalesce(PostSnapshot.reposts, 0) + func.coalesce(PostSnapshot.quotes, 0))
    with Session(get_engine()) as session:
        rows = session.exec(
            select(Ambassador.name, Post.platform, Post.url, engagements, PostSnapshot.likes,
                   PostSnapshot.comments, PostSnapshot.reposts)
            .join(Post, col(Post.id) == PostSnapshot.post_id)
            .join(Account, col(Account.id) == Post.account_id)
            .join(Ambassador, col(Ambassador.id) == Account.ambassador_id)
            .where(col(PostSnapshot.crawl_run_id).in_(ids))
            .order_by(engagements.desc(), col(Post.id))
            .limit(n)
        ).all()
        top = [TopPost(*row) for row in rows]
        current = session.exec(
            select(AccountSnapshot.account_id, AccountSnapshot.observed_at, AccountSnapshot.followers,
                   Ambassador.name, Account.platform)
            .join(Account, col(Account.id) == AccountSnapshot.account_id)
            .join(Ambassador, col(Ambassador.id) == Account.ambassador_id)
            .where(col(AccountSnapshot.crawl_run_id).in_(ids), col(AccountSnapshot.followers).is_not(None))
        ).all()
        gainers: list[tuple[str, str, int]] = []
        for account_id, observed_at, followers, name, platform in current:
            # The account's previous count, from any earlier crawl: the gain is since then.
            before = session.exec(
                select(AccountSnapshot.followers)
                .where(AccountSnapshot.account_id == account_id, AccountSnapshot.observed_at < observed_at,
                       col(AccountSnapshot.crawl_run_id).not_in(ids), col(AccountSnapshot.followers).is_not(None))
                .order_by(col(AccountSnapshot.observed_at).desc()).limit(1)
            ).first()
            if before is not None:
                gainers.append((name, platform, followers - before))
    gainers.sort(key=lambda g: -g[2])
    return Highlights(top, sum(g[2] for g in gainers), len(gainers), gainers[:n])


def results_table(outcomes: Sequence[PlatformOutcome]) -> list[dict[str, Any]]:
    """Rows of the per-platform results table artifact."""
    return [o.row() for o in outcomes]


def summary_markdown(title: str, outcomes: Sequence[PlatformOutcome], highlights: Highlights,
                     extra: Sequence[str] = ()) -> str:
    """The run's markdown summary: what failed and why, top posts, followers gained."""
    failed = [o for o in outcomes if not o.ok]
    lines = [f"# {title}", ""]
    if failed:
        lines.append(f"**Failed: {', '.join(o.platform for o in failed)}**")
        lines += [f"- **{o.platform}**: {o.errors or o.status}" for o in failed]
    else:
        lines.append("All crawls succeeded." if outcomes else "No crawl ran.")
    warned = [o for o in outcomes if o.warnings]
    if warned:
        lines += ["", "**Warnings** (the accounts stayed ok):"]
        lines += [f"- **{o.platform}**: {o.warnings}" for o in warned]
    lines += ["", "| platform | result | accounts ok / failed | posts new / updated | snapshots |",
              "|---|---|---:|---:|---:|"]
    for o in outcomes:
        lines.append(f"| {o.platform} | {'ok' if o.ok else '**failed**'} ({o.status}) | "
                     f"{o.accounts_ok} / {o.accounts_failed} | {o.posts_new} / {o.posts_updated} | {o.snapshots} |")
    lines += ["", f"## Top {TOP_POSTS} posts seen by this run", ""]
    if highlights.top_posts:
        lines += ["| ambassador | platform | engagements | likes | comments | reposts | post |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for p in highlights.top_posts:
            link = f"[link]({p.url})" if p.url else ""
            lines.append(f"| {p.ambassador} | {p.platform} | {p.engagements} | {_n(p.likes)} | "
                         f"{_n(p.comments)} | {_n(p.reposts)} | {link} |")
    else:
        lines.append("No post was seen.")
    lines += ["", "## Followers gained since the previous crawl", ""]
    if highlights.accounts_compared:
        lines.append(f"{highlights.followers_gained:+,} followers over {highlights.accounts_compared} "
                     "account(s) crawled before.")
        lines += [f"- {name} ({platform}): {gained:+,}" for name, platform, gained in highlights.top_gainers]
    else:
        lines.append("First crawl of these accounts: nothing to compare with yet.")
    lines += [""] + list(extra)
    return "\n".join(lines) + "\n"


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def publish_crawl_artifacts(key_prefix: str, title: str, outcomes: Sequence[PlatformOutcome],
                            extra: Sequence[str] = ()) -> str:
    """Create the `<prefix>-results` table and `<prefix>-summary` markdown; returns the markdown."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    ids = [o.crawl_run_id for o in outcomes if o.crawl_run_id is not None]
    markdown = summary_markdown(title, outcomes, run_highlights(ids), extra)
    create_table_artifact(key=f"{key_prefix}-results", table=results_table(outcomes),
                          description=f"{title}: per-platform crawl results")
    create_markdown_artifact(key=f"{key_prefix}-summary", markdown=markdown,
                             description=f"{title}: failures, top posts, followers gained")
    return markdown
