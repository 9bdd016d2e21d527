"""Flow `score-sentiment`: score the sentiment of texts not yet scored (or all of them again).

Importing this module has no side effects (deploy and workers import it).
"""

from typing import Any

from prefect import flow
from pydantic import Field

from flows.tasks import score_sentiment


def _run_name() -> str:
    from prefect.runtime import flow_run

    return "score-sentiment " + (
        "rescore all" if flow_run.parameters.get("rescore") else "new texts"
    )


def publish_sentiment_artifact(
    counts: dict[str, Any], key: str = "score-sentiment-results"
) -> None:
    """A table of what the scoring did: scored, not scored by reason, already scored."""
    from prefect.artifacts import create_table_artifact

    rows = [{"outcome": "scored", "texts": counts["scored"]}]
    rows += [
        {"outcome": f"not scored: {reason}", "texts": n}
        for reason, n in sorted(counts["not_scored"].items())
    ]
    rows.append({"outcome": "already scored", "texts": counts["already_scored"]})
    create_table_artifact(
        key=key, table=rows, description=f"Sentiment scoring ({counts['scorer']})"
    )


@flow(name="score-sentiment", flow_run_name=_run_name)
def score_sentiment_flow(
    rescore: bool = Field(
        default=False,
        description="Score every text again (replaces this scorer version's scores). Off: only texts that are"
        " new or edited since they were scored.",
    ),
) -> dict[str, Any]:
    """Score the sentiment of post and reply texts (English only, TextBlob)."""
    counts = score_sentiment(rescore)
    publish_sentiment_artifact(counts)
    return counts
