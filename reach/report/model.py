"""The report's data, built once and rendered by every format."""

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from reach.metrics import METRICS, EntityMetrics, Period, PostFact


@dataclass
class TopPost:
    """One of the period's most engaging posts, with the figures behind its rank."""

    id: int
    ambassador: str
    ambassador_slug: str
    platform: str
    source: str
    url: str | None
    published_at: dt.datetime
    text: str
    likes: int | None
    comments: int | None
    reposts: int | None
    quotes: int | None
    views: int | None
    impressions: int | None
    engagements: int | None
    engagements_growth: int | None
    engagement_rate: float | None
    followers_at_post: int | None
    approximate: bool


@dataclass
class Headline:
    """The four numbers on top of the report, each with how many items it covers."""

    posts: int
    engagements: int | None
    engagements_n: int
    new_followers: int | None
    new_followers_n: int
    accounts: int
    potential_reach: int | None
    views: int | None
    views_n: int
    followers: int | None


@dataclass
class ChartData:
    """Series behind the HTML charts (plain values, no plotting objects)."""

    followers: dict[str, list[tuple[dt.date, int]]] = field(default_factory=dict)
    engagements_by_day: dict[str, dict[dt.date, int]] = field(default_factory=dict)
    post_polarities: list[float] = field(default_factory=list)
    reply_polarities: list[float] = field(default_factory=list)


@dataclass
class Report:
    """Everything a report shows: period, headline, one row per group, top posts, charts."""

    period: Period
    by: str
    as_of: dt.datetime | None
    meaning: str
    headline: Headline
    rows: list[EntityMetrics]
    ambassadors: list[EntityMetrics]
    top_posts: list[TopPost]
    charts: ChartData
    generated_at: dt.datetime
    total: EntityMetrics  # every account of the period as one group: the headline's registry row
    posts: list[PostFact] = field(default_factory=list, repr=False)  # the facts the rows came from
    build_seconds: float = 0.0
    # Posts and replies of the period by the language they were scored in (or not): see
    # reach.metrics.sentiment_languages.
    sentiment_languages: dict[str, dict[str, int]] = field(default_factory=dict)

    def row_dicts(self) -> list[dict[str, Any]]:
        """One dict per group, in the documented column order."""
        return [entity_dict(row, self) for row in self.rows]


# The export columns, in order. Each `_n` column says how many posts (or accounts) had the count.
ENTITY_COLUMNS: list[tuple[str, str]] = [
    ("key", "group key: ambassador slug, platform, country code, cohort or team"),
    ("name", "ambassador name (or the group key)"),
    ("country", "ISO 3166 country (ambassador rows)"),
    ("cohort", "cohort (ambassador rows)"),
    ("team", "team (ambassador rows)"),
    ("platforms", "platforms of the group's accounts"),
    ("sources", "crawled and/or imported (LinkedIn exports)"),
    ("accounts", "accounts in the group"),
    *[(k, METRICS[k].label) for k in ("posts",)],
    *[
        c
        for k in ("likes", "comments", "reposts", "quotes", "views", "engagements")
        for c in ((k, METRICS[k].label), (f"{k}_n", f"posts with {k} published"))
    ],
    ("engagements_growth", METRICS["engagements_growth"].label),
    ("engagement_rate", METRICS["engagement_rate"].label + " (%)"),
    ("engagement_rate_n", "posts with engagements and followers at posting"),
    ("applause_rate", METRICS["applause_rate"].label),
    ("conversation_rate", METRICS["conversation_rate"].label),
    ("amplification_rate", METRICS["amplification_rate"].label),
    ("impressions", METRICS["impressions"].label),
    ("impressions_n", "accounts with impressions"),
    ("members_reached", METRICS["members_reached"].label),
    ("followers", METRICS["followers"].label),
    ("new_followers", METRICS["new_followers"].label),
    ("new_followers_n", "accounts with a new-followers figure"),
    ("growth_rate", METRICS["growth_rate"].label + " (%)"),
    ("potential_reach", METRICS["potential_reach"].label),
    ("post_sentiment", METRICS["post_sentiment"].label),
    ("post_sentiment_n", "posts scored"),
    ("reply_sentiment", METRICS["reply_sentiment"].label),
    ("reply_sentiment_n", "replies scored"),
    ("top_post_url", "the group's most engaging post"),
    ("top_post_engagements", "its engagements"),
    ("period_since", "first day of the period"),
    ("period_until", "last day of the period (inclusive)"),
]
# The period's meaning is the same for every row, so it is not a column: the JSON carries it in
# `period.meaning`, the XLSX on its about sheet, and the README states it.

# The XLSX headers: what a person reads in a spreadsheet (CSV and JSON keep the column keys,
# which BI tools and scripts select by). Rates are labelled with their unit.
ENTITY_HEADERS: dict[str, str] = {
    "key": "Key",
    "name": "Name",
    "country": "Country",
    "cohort": "Cohort",
    "team": "Team",
    "platforms": "Platforms",
    "sources": "Sources",
    "accounts": "Accounts",
    "posts": METRICS["posts"].label,
    **{
        c: h
        for k in ("likes", "comments", "reposts", "quotes", "views", "engagements")
        for c, h in ((k, METRICS[k].label), (f"{k}_n", f"Posts with {k}"))
    },
    "engagements_growth": METRICS["engagements_growth"].label,
    "engagement_rate": METRICS["engagement_rate"].label,
    "engagement_rate_n": "Posts with engagement rate",
    **{
        k: f"{METRICS[k].label} ({METRICS[k].unit})"
        for k in ("applause_rate", "conversation_rate", "amplification_rate")
    },
    "impressions": METRICS["impressions"].label,
    "impressions_n": "Accounts with impressions",
    "members_reached": METRICS["members_reached"].label,
    "followers": METRICS["followers"].label,
    "new_followers": METRICS["new_followers"].label,
    "new_followers_n": "Accounts with new followers",
    "growth_rate": METRICS["growth_rate"].label,
    "potential_reach": METRICS["potential_reach"].label,
    "post_sentiment": f"{METRICS['post_sentiment'].label} (-1..1)",
    "post_sentiment_n": "Posts scored",
    "reply_sentiment": f"{METRICS['reply_sentiment'].label} (-1..1)",
    "reply_sentiment_n": "Replies scored",
    "top_post_url": "Top post",
    "top_post_engagements": "Top post engagements",
    "period_since": "Period start",
    "period_until": "Period end (inclusive)",
}

# The top posts' columns (the fields of TopPost, in order) and their XLSX headers.
TOP_POST_HEADERS: dict[str, str] = {
    "id": "Post id",
    "ambassador": "Ambassador",
    "ambassador_slug": "Ambassador key",
    "platform": "Platform",
    "source": "Source",
    "url": "URL",
    "published_at": "Published (UTC)",
    "text": "Text",
    "likes": "Likes",
    "comments": "Comments",
    "reposts": "Reposts",
    "quotes": "Quotes",
    "views": "Views",
    "impressions": "Impressions",
    "engagements": "Engagements",
    "engagements_growth": "Engagement growth",
    "engagement_rate": "Engagement rate",
    "followers_at_post": "Followers at posting",
    "approximate": "Counts approximate",
}


def entity_dict(row: EntityMetrics, report: "Report") -> dict[str, Any]:
    """One group's row as a dict of the export columns (floats rounded for reading)."""
    data = asdict(row)
    data["period_since"] = report.period.since.isoformat()
    data["period_until"] = report.period.until.isoformat()
    out: dict[str, Any] = {}
    for column, _ in ENTITY_COLUMNS:
        value = data.get(column)
        out[column] = round(value, 4) if isinstance(value, float) else value
    return out


def top_post_dict(post: TopPost) -> dict[str, Any]:
    """A top post as plain values."""
    data = asdict(post)
    data["published_at"] = post.published_at.isoformat()
    if post.engagement_rate is not None:
        data["engagement_rate"] = round(post.engagement_rate, 4)
    return data
