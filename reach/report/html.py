"""The self-contained HTML report: the dashboard's views with plotly.js and charts.js inlined."""

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from reach.metrics import METRICS
from reach.report.charts import charts_js, plotly_js, report_figures, script_json
from reach.report.model import Report
from reach.report.render import TABLE_HEADERS, fmt_counted, fmt_int, table_cells

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

__all__ = ["TEMPLATES", "headline_cards", "render_html", "safe_url", "script_json", "view_filters"]


def safe_url(url: str | None) -> str | None:
    # Only web links become hrefs: a javascript: URL in crawled data must not be clickable.
    return url if url and url.lower().startswith(("https://", "http://")) else None


def view_filters() -> dict[str, Any]:
    """The Jinja filters the shared views use."""
    return {"int": fmt_int}


def headline_cards(report: Report) -> list[dict[str, Any]]:
    h = report.headline
    return [
        {
            "key": "posts",
            "label": METRICS["posts"].label,
            "value": fmt_int(h.posts),
            "note": "published in the period, reposts excluded",
        },
        {
            "key": "engagements",
            "label": METRICS["engagements"].label,
            "value": fmt_int(h.engagements),
            "note": f"{h.engagements_n} of {h.posts} posts with counts",
        },
        {
            "key": "new_followers",
            "label": METRICS["new_followers"].label,
            "value": fmt_int(h.new_followers),
            "note": f"{h.new_followers_n} of {h.accounts} accounts with a figure",
        },
        {
            "key": "potential_reach",
            "label": METRICS["potential_reach"].label,
            "value": fmt_int(h.potential_reach),
            "note": "followers of the accounts that posted (audiences overlap)",
        },
    ]


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
