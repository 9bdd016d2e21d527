"""The self-contained HTML report: the dashboard's views with plotly.js and charts.js inlined."""

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from reach.metrics import METRICS, EntityMetrics
from reach.report.charts import charts_js, plotly_js, report_figures, script_json
from reach.report.model import Report
from reach.report.render import (
    TABLE_HEADERS,
    cell_text,
    fmt_counted,
    fmt_int,
    sentiment_languages_text,
    table_cells,
)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

__all__ = [
    "TEMPLATES",
    "headline_cards",
    "metric_cards",
    "render_html",
    "safe_url",
    "script_json",
    "view_filters",
]


def safe_url(url: str | None) -> str | None:
    # Only web links become hrefs: a javascript: URL in crawled data must not be clickable.
    return url if url and url.lower().startswith(("https://", "http://")) else None


def view_filters() -> dict[str, Any]:
    """The Jinja filters the shared views use."""
    return {"int": fmt_int, "sentiment_languages": sentiment_languages_text}


# What each card says under its figure: how many items the figure covers.
_CARD_NOTES: dict[str, Any] = {
    "posts": lambda r: "published in the period, reposts excluded",
    "engagements": lambda r: f"{r.engagements_n} of {r.posts} posts with counts",
    "new_followers": lambda r: f"{r.new_followers_n} of {r.accounts} accounts with a figure",
    "potential_reach": lambda r: "followers of the accounts that posted (audiences overlap)",
    "followers": lambda r: "at the end of the period",
    "likes": lambda r: f"{r.likes_n} of {r.posts} posts with the count",
    "comments": lambda r: f"{r.comments_n} of {r.posts} posts with the count",
    "reply_sentiment": lambda r: "mean polarity -1..1 of the replies scored",
}


def metric_cards(row: EntityMetrics, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Headline cards of a group's registry metrics: label, formatted value, what it covers."""
    return [
        {
            "key": key,
            "label": METRICS[key].label,
            "value": cell_text(row, key)
            if key.endswith("sentiment")
            else fmt_int(getattr(row, key)),
            "note": _CARD_NOTES[key](row),
        }
        for key in keys
    ]


def headline_cards(report: Report) -> list[dict[str, Any]]:
    return metric_cards(report.total, ("posts", "engagements", "new_followers", "potential_reach"))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default=True),
    )
    env.filters.update(view_filters())
    return env


def render_html(report: Report) -> str:
    """One HTML file that opens offline: no CDN, no external asset."""
    rows = [
        {"row": row, "cells": table_cells(row), "top_url": safe_url(row.top_post_url)}
        for row in report.ambassadors
    ]
    groups = None
    if report.by != "ambassador":
        groups = [{"row": r, "cells": table_cells(r)} for r in report.rows]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            headline=headline_cards(report),
            headers=TABLE_HEADERS,
            rows=rows,
            groups=groups,
            top_posts=[{"post": p, "url": safe_url(p.url)} for p in report.top_posts],
            figures=report_figures(report),
            plotly_js=Markup(plotly_js()),
            charts_js=Markup(charts_js().replace("</script", "<\\/script")),
            css=Markup((TEMPLATES / "views.css").read_text(encoding="utf-8")),
            metrics=list(METRICS.values()),
            fmt_counted=fmt_counted,
        )
    )
