"""The self-contained HTML report: plotly.js inlined once, escaped text, a sortable table."""

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from reach.metrics import METRICS, NEUTRAL_BAND
from reach.report.model import Report
from reach.report.render import TABLE_HEADERS, fmt_counted, fmt_int, table_cells

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Characters that could end a <script> element or start an HTML comment inside embedded JSON.
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def script_json(value: Any) -> Markup:
    """JSON safe to place inside a <script> element (a post's `</script>` cannot close it)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    for char, escape in _JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return Markup(text)


@lru_cache(maxsize=1)
def plotly_js() -> Markup:
    """The plotly.js bundle that ships with the plotly package, checked safe to inline."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():  # would end the inline element early; never seen in 7.1
        js = js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return Markup(js)


def _safe_url(url: str | None) -> str | None:
    # Only web links become hrefs: a javascript: URL in crawled data must not be clickable.
    return url if url and url.lower().startswith(("https://", "http://")) else None


def _figures(report: Report) -> list[dict[str, Any]]:
    """Plotly figures as JSON strings, with an id and a title each."""
    import plotly.graph_objects as go

    layout = {
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "height": 360,
        "template": "plotly_white",
        "legend": {"orientation": "h"},
    }
    charts = []
    followers = go.Figure(
        layout={
            **layout,
            "title": "Followers over time (top ambassadors by new followers)",
            "yaxis": {"title": "followers"},
        }
    )
    for name, points in report.charts.followers.items():
        followers.add_scatter(
            x=[d.isoformat() for d, _ in points],
            y=[v for _, v in points],
            mode="lines+markers",
            name=name,
        )
    charts.append(("chart-followers", followers))
    engagements = go.Figure(
        layout={
            **layout,
            "title": "Engagements per day by platform (posts published that day)",
            "barmode": "stack",
        }
    )
    for platform, days in report.charts.engagements_by_day.items():
        engagements.add_bar(x=[d.isoformat() for d in days], y=list(days.values()), name=platform)
    charts.append(("chart-engagements", engagements))
    top = go.Figure(
        layout={
            **layout,
            "title": "Top posts by engagements",
            "height": 420,
            "margin": {"l": 220, "r": 20, "t": 40, "b": 40},
        }
    )
    posts = list(reversed(report.top_posts))
    top.add_bar(
        y=[
            f"{i}. {p.ambassador} · {p.platform}"
            for i, p in zip(range(len(posts), 0, -1), posts, strict=True)
        ],
        x=[p.engagements for p in posts],
        orientation="h",
        name="engagements",
        hovertext=[p.text[:120] for p in posts],
        hoverinfo="x+text",
    )
    charts.append(("chart-top-posts", top))
    sentiment = go.Figure(
        layout={**layout, "title": "Sentiment distribution (scored texts)", "barmode": "group"}
    )
    for name, values in (
        ("posts", report.charts.post_polarities),
        ("replies", report.charts.reply_polarities),
    ):
        bins = {"negative": 0, "neutral": 0, "positive": 0}
        for v in values:
            bins[
                "negative" if v < -NEUTRAL_BAND else "positive" if v > NEUTRAL_BAND else "neutral"
            ] += 1
        sentiment.add_bar(x=list(bins), y=list(bins.values()), name=f"{name} (n={len(values)})")
    charts.append(("chart-sentiment", sentiment))
    return [{"id": cid, "json": script_json(fig.to_json())} for cid, fig in charts]


def render_html(report: Report) -> str:
    """One HTML file that opens offline: no CDN, no external asset."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default=True),
    )
    env.filters["int"] = fmt_int
    h = report.headline
    rows = []
    for row in report.ambassadors:
        rows.append({"row": row, "cells": table_cells(row), "top_url": _safe_url(row.top_post_url)})
    groups = None
    if report.by != "ambassador":
        groups = [{"row": r, "cells": table_cells(r)} for r in report.rows]
    headline = [
        ("Posts", fmt_int(h.posts), "published in the period, reposts excluded"),
        (
            "Engagements",
            fmt_int(h.engagements),
            f"{h.engagements_n} of {h.posts} posts with counts",
        ),
        (
            "New followers (net)",
            fmt_int(h.new_followers),
            f"{h.new_followers_n} of {h.accounts} accounts with a figure",
        ),
        (
            "Potential reach",
            fmt_int(h.potential_reach),
            "estimate: followers of accounts that posted",
        ),
    ]
    return env.get_template("report.html.j2").render(
        report=report,
        headline=headline,
        headers=TABLE_HEADERS,
        rows=rows,
        groups=groups,
        top_posts=[{"post": p, "url": _safe_url(p.url)} for p in report.top_posts],
        figures=_figures(report),
        plotly_js=plotly_js(),
        metrics=list(METRICS.values()),
        fmt_counted=fmt_counted,
    )
