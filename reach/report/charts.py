"""The charts of the report and the dashboard: plotly figures as JSON, drawn by `charts.js`.

One set of figures for both outputs: the static HTML report inlines plotly.js and charts.js, the
dashboard serves them as files (its pages run no inline script).
"""

import datetime as dt
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from reach.metrics import NEUTRAL_BAND
from reach.report.model import Report

CHARTS_JS = Path(__file__).resolve().parent.parent / "templates" / "charts.js"
# Characters that could end a <script> element or start an HTML comment inside embedded JSON.
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
    "height": 360,
    "paper_bgcolor": "#fff",
    "plot_bgcolor": "#fff",
    "legend": {"orientation": "h"},
    "autosize": True,
}


def script_json(value: Any) -> Markup:
    """JSON safe to place inside a <script> element (a post's `</script>` cannot close it)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    for char, escape in _JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return Markup(text)


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle that ships with the plotly package, checked safe to inline."""
    from plotly.offline import get_plotlyjs

    js: str = get_plotlyjs()
    if "</script" in js.lower():  # would end the inline element early; never seen in 7.1
        js = js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return js


@lru_cache(maxsize=1)
def charts_js() -> str:
    return CHARTS_JS.read_text(encoding="utf-8")


def figure(chart_id: str, title: str, data: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
    """One chart: an element id and the figure's JSON (safe inside a script element)."""
    spec = {"data": data, "layout": {**_LAYOUT, "title": {"text": title}, **layout}}
    return {"id": chart_id, "title": title, "json": script_json(spec), "empty": not data}


def line_figure(
    chart_id: str,
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[str, int | float]]]],
    y_title: str = "",
    x_format: str = "%b %-d",
) -> dict[str, Any]:
    """Lines with a marker at each point (one point per crawl day, or per snapshot); days on
    the x axis are labelled as days even when there are only two of them."""
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": [x for x, _ in points],
            "y": [y for _, y in points],
        }
        for name, points in series
        if points
    ]
    return figure(
        chart_id,
        title,
        data,
        yaxis={"title": {"text": y_title}},
        xaxis={"type": "date", "tickformat": x_format},
    )


def bar_figure(
    chart_id: str, title: str, series: dict[str, dict[str, int]], **layout: Any
) -> dict[str, Any]:
    data = [
        {"type": "bar", "name": name, "x": list(values), "y": list(values.values())}
        for name, values in series.items()
    ]
    return figure(chart_id, title, data, **layout)


def sentiment_bins(values: Sequence[float]) -> dict[str, int]:
    """Negative / neutral / positive counts (neutral: within NEUTRAL_BAND of 0)."""
    bins = {"negative": 0, "neutral": 0, "positive": 0}
    for v in values:
        bins[
            "negative" if v < -NEUTRAL_BAND else "positive" if v > NEUTRAL_BAND else "neutral"
        ] += 1
    return bins


def sentiment_figure(
    chart_id: str, posts: Sequence[float] | None, replies: Sequence[float]
) -> dict[str, Any]:
    series = {}
    if posts is not None:
        series[f"posts (n={len(posts)})"] = sentiment_bins(posts)
    series[f"replies (n={len(replies)})"] = sentiment_bins(replies)
    return bar_figure(chart_id, "Sentiment distribution (scored texts)", series, barmode="group")


def _days(points: Sequence[tuple[dt.date, int]]) -> list[tuple[str, int | float]]:
    return [(d.isoformat(), v) for d, v in points]


def report_figures(report: Report) -> list[dict[str, Any]]:
    """The report's four charts: followers per day, engagements per day, top posts, sentiment."""
    charts = [
        line_figure(
            "chart-followers",
            "Followers per day (top ambassadors by new followers)",
            [(name, _days(points)) for name, points in report.charts.followers.items()],
            "followers",
        ),
        bar_figure(
            "chart-engagements",
            "Engagements per day by platform (posts published that day)",
            {
                platform: {d.isoformat(): v for d, v in days.items()}
                for platform, days in report.charts.engagements_by_day.items()
            },
            barmode="stack",
        ),
    ]
    posts = list(reversed(report.top_posts))
    charts.append(
        figure(
            "chart-top-posts",
            "Top posts by engagements",
            [
                {
                    "type": "bar",
                    "orientation": "h",
                    "name": "engagements",
                    "y": [
                        f"{i}. {p.ambassador} · {p.platform}"
                        for i, p in zip(range(len(posts), 0, -1), posts, strict=True)
                    ],
                    "x": [p.engagements for p in posts],
                    "hovertext": [p.text[:120] for p in posts],
                    "hoverinfo": "x+text",
                }
            ]
            if posts
            else [],
            height=420,
            margin={"l": 220, "r": 20, "t": 40, "b": 40},
        )
    )
    charts.append(
        sentiment_figure(
            "chart-sentiment", report.charts.post_polarities, report.charts.reply_polarities
        )
    )
    return charts
