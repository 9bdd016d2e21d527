"""What a flow run shows on its page in the Prefect UI: a per-platform table and a markdown summary.

The figures come from the core (`reach.report.run_highlights`, the registry's metrics); this module
only lays them out. Importing it has no side effects and loads no database code.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flows.tasks import PlatformOutcome

if TYPE_CHECKING:
    from reach.report import RunHighlights

TOP_POSTS = 5


def run_highlights(crawl_run_ids: Sequence[int], n: int = TOP_POSTS) -> "RunHighlights":
    """The core's highlights of these crawl runs (kept here for the demo's run summary)."""
    from reach.report import run_highlights as core_run_highlights

    return core_run_highlights(crawl_run_ids, n)


def results_table(outcomes: Sequence[PlatformOutcome]) -> list[dict[str, Any]]:
    """Rows of the per-platform results table artifact."""
    return [o.row() for o in outcomes]


def summary_markdown(
    title: str,
    outcomes: Sequence[PlatformOutcome],
    highlights: "RunHighlights",
    extra: Sequence[str] = (),
) -> str:
    """The run's markdown summary: what failed and why, top posts, followers gained."""
    from reach.metrics import METRICS

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
    lines += [
        "",
        "| platform | result | accounts ok / failed | posts new / updated | snapshots |",
        "|---|---|---:|---:|---:|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.platform} | {'ok' if o.ok else '**failed**'} ({o.status}) | "
            f"{o.accounts_ok} / {o.accounts_failed} | {o.posts_new} / {o.posts_updated} | {o.snapshots} |"
        )
    lines += ["", f"## Top {TOP_POSTS} posts seen by this run", ""]
    lines += _top_posts_lines(highlights)
    lines += ["", f"## {METRICS['new_followers'].label} since the previous crawl", ""]
    if highlights.followers_gained is not None:
        lines.append(
            f"{highlights.followers_gained:+,} followers over {highlights.accounts_compared} "
            "account(s) crawled before."
        )
        lines += [f"- {g.ambassador} ({g.platform}): {g.gained:+,}" for g in highlights.top_gainers]
    else:
        lines.append("First crawl of these accounts: nothing to compare with yet.")
    lines += [""] + list(extra)
    return "\n".join(lines) + "\n"


def _top_posts_lines(highlights: "RunHighlights") -> list[str]:
    from reach.metrics import METRICS
    from reach.report.render import fmt_int

    if not highlights.posts_seen:
        return ["No post was seen."]
    lines = []
    if highlights.top_posts:
        labels = " | ".join(
            METRICS[k].label for k in ("engagements", "likes", "comments", "reposts")
        )
        lines += [
            f"| ambassador | platform | {labels} | post |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for p in highlights.top_posts:
            link = f"[link]({p.url})" if p.url else ""
            lines.append(
                f"| {p.ambassador} | {p.platform} | {fmt_int(p.engagements)} | {fmt_int(p.likes)} | "
                f"{fmt_int(p.comments)} | {fmt_int(p.reposts)} | {link} |"
            )
    if highlights.posts_with_engagements < highlights.posts_seen:
        # A post whose platform publishes no count (a feed) is not ranked: its engagements are n/a, not 0.
        unranked = (
            f"{highlights.posts_with_engagements} of {highlights.posts_seen} post(s) seen have "
            "engagements; the others' platforms publish no count (n/a)."
        )
        lines += ([""] if lines else []) + [unranked]
    return lines


def publish_crawl_artifacts(
    key_prefix: str, title: str, outcomes: Sequence[PlatformOutcome], extra: Sequence[str] = ()
) -> str:
    """Create the `<prefix>-results` table and `<prefix>-summary` markdown; returns the markdown."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    ids = [o.crawl_run_id for o in outcomes if o.crawl_run_id is not None]
    markdown = summary_markdown(title, outcomes, run_highlights(ids, TOP_POSTS), extra)
    create_table_artifact(
        key=f"{key_prefix}-results",
        table=results_table(outcomes),
        description=f"{title}: per-platform crawl results",
    )
    create_markdown_artifact(
        key=f"{key_prefix}-summary",
        markdown=markdown,
        description=f"{title}: failures, top posts, followers gained",
    )
    return markdown
