"""Sample LinkedIn analytics exports (.xlsx) laid out as LinkedIn writes them.

One place for the layouts (issue #7): the tests build their workbooks here, and `reach demo`
drops `write_demo_exports()` into the LinkedIn inbox. The builders take plain figures and write
them cell for cell the way LinkedIn does; they know nothing of the parser (a shared
misunderstanding would pass every test).

- creator export, older generation (`Content_<start>_<end>_<Name>.xlsx`): numbers as numbers,
  demographics shares as fractions, one DEMOGRAPHICS sheet;
- creator export, 2026 generation (`AggregateAnalytics_<Name>_<start>_<end>.xlsx`): every value
  as text ("6530", "12%", "< 1%"), AUDIENCE and CONTENT DEMOGRAPHICS sheets;
- single-post export (`PostAnalytics_<Name>_<activityId>.xlsx`, 2026 `SinglePostAnalytics_...`).
"""

import datetime as dt
import os
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook

Generation = Literal["older", "2026"]
# (post URL, publish date, engagements or impressions): one row of a TOP POSTS table.
TopPostRow = tuple[str, dt.date, int]
# (category, value, share as a fraction of 1): one demographics row.
DemographicRow = tuple[str, str, float]
Tweak = Callable[[Workbook], None]

TOP_POSTS_BANNER = "Maximum of 50 posts available to include in this list"


def us_date(day: dt.date) -> str:
    """M/D/YYYY without leading zeros, as LinkedIn writes every date in its exports."""
    return f"{day.month}/{day.day}/{day.year}"


def creator_export_name(name: str, start: dt.date, end: dt.date, generation: Generation) -> str:
    """The file name LinkedIn gives a creator export of each generation."""
    if generation == "2026":
        return f"AggregateAnalytics_{name}_{start.isoformat()}_{end.isoformat()}.xlsx"
    return f"Content_{start.isoformat()}_{end.isoformat()}_{name.replace(' ', '')}.xlsx"


def post_export_name(name: str, activity_id: int, generation: Generation) -> str:
    """The file name LinkedIn gives a single-post export of each generation."""
    if generation == "2026":
        return f"SinglePostAnalytics_{name}_{activity_id}.xlsx"
    return f"PostAnalytics_{name.replace(' ', '')}_{activity_id}.xlsx"


def _cell(value: int | str, text: bool) -> int | str:
    """2026 files hold numbers as text; a str is written as given (for malformed samples)."""
    if isinstance(value, str):
        return value
    return str(value) if text else value


def _share(fraction: float, text: bool) -> float | str:
    if not text:
        return fraction
    pct = fraction * 100
    return "< 1%" if pct < 1 else f"{round(pct)}%"


def write_creator_export(
    path: Path,
    start: dt.date,
    end: dt.date,
    *,
    daily: Mapping[dt.date, tuple[int | str, int | str]],
    new_followers: Mapping[dt.date, int | str],
    total_followers: int,
    members_reached: int,
    impressions: int | None = None,
    top_by_engagements: Sequence[TopPostRow] = (),
    top_by_impressions: Sequence[TopPostRow] = (),
    demographics: Sequence[DemographicRow] | None = (),
    content_demographics: Sequence[DemographicRow] | None = None,
    generation: Generation = "older",
    followers_colon: bool = True,
    date_header: str = "Post publish date",
    tweak: Tweak | None = None,
) -> Path:
    """A creator analytics export: DISCOVERY, ENGAGEMENT, TOP POSTS, FOLLOWERS, demographics.

    `daily` maps each day to (impressions, engagements), `new_followers` each day to that day's
    gain; `impressions` defaults to the sum of the daily impressions. `demographics=None` leaves
    the demographics sheets out (they are optional); in 2026 files the CONTENT DEMOGRAPHICS sheet
    gets `content_demographics`, by default the audience rows. `tweak` edits the workbook before
    it is saved (malformed samples for tests).
    """
    text = generation == "2026"
    if impressions is None:
        impressions = sum(int(i) for i, _ in daily.values())
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    # DISCOVERY: a label/value block, no header row.
    ws.title = "DISCOVERY"
    ws.append(["Overall Performance", f"{us_date(start)} - {us_date(end)}"])
    ws.append(["Impressions", _cell(impressions, text)])
    ws.append(["Members reached", _cell(members_reached, text)])
    # ENGAGEMENT: one row per day under a header on row 1.
    ws = wb.create_sheet("ENGAGEMENT")
    ws.append(["Date", "Impressions", "Engagements"])
    for day, (day_impressions, day_engagements) in daily.items():
        ws.append([us_date(day), _cell(day_impressions, text), _cell(day_engagements, text)])
    # TOP POSTS: a banner, a blank row, then two independent tables side by side (A–C, E–G).
    ws = wb.create_sheet("TOP POSTS")
    ws.append([TOP_POSTS_BANNER])
    ws.append([])
    ws.append(
        ["Post URL", date_header, "Engagements", None, "Post URL", date_header, "Impressions"]
    )
    left, right = list(top_by_engagements), list(top_by_impressions)
    for n in range(max(len(left), len(right))):
        row: list[Any] = [None] * 7
        if n < len(left):
            row[0:3] = [left[n][0], us_date(left[n][1]), _cell(left[n][2], text)]
        if n < len(right):
            row[4:7] = [right[n][0], us_date(right[n][1]), _cell(right[n][2], text)]
        ws.append(row)
    # FOLLOWERS: the total in A1/B1, a blank row, a header on row 3, then each day's gain.
    ws = wb.create_sheet("FOLLOWERS")
    ws.append(
        [
            f"Total followers on {us_date(end)}" + (":" if followers_colon else ""),
            _cell(total_followers, text),
        ]
    )
    ws.append([])
    ws.append(["Date", "New followers"])
    for day, gained in new_followers.items():
        ws.append([us_date(day), _cell(gained, text)])
    if demographics is not None:
        sheets: list[tuple[str, Sequence[DemographicRow]]] = (
            [
                ("AUDIENCE DEMOGRAPHICS", demographics),
                (
                    "CONTENT DEMOGRAPHICS",
                    demographics if content_demographics is None else content_demographics,
                ),
            ]
            if text
            else [("DEMOGRAPHICS", demographics)]
        )
        for title, rows in sheets:
            ws = wb.create_sheet(title)
            ws.append(["Top Demographics", "Value", "Percentage"])
            for category, value, fraction in rows:
                ws.append([category, value, _share(fraction, text)])
    if tweak:
        tweak(wb)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_post_export(
    path: Path,
    *,
    url: str,
    published_on: dt.date,
    publish_time: str = "9:04 AM",
    impressions: int | str,
    members_reached: int | str,
    reactions: int | str,
    comments: int | str,
    reposts: int | str,
    saves: int | str = 0,
    sends: int | str = 0,
    profile_viewers: int | str = 0,
    followers_gained: int | str = 0,
    demographics: Sequence[DemographicRow] = (),
    generation: Generation = "2026",
    downloaded_on: dt.date | None = None,
    tweak: Tweak | None = None,
) -> Path:
    """A single-post export: one sheet of label/value rows, then a demographics block.

    The file carries no date of its own: its modification time is the download date, which
    `downloaded_on` sets (noon UTC). A str figure is written as given (for malformed samples).
    """
    text = generation == "2026"
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Post analytics"
    rows: list[list[Any]] = [
        ["Post URL", url],
        ["Post Date", us_date(published_on)],
        ["Post Publish Time", publish_time],
        [],
        ["Discovery"],
        ["Impressions", _cell(impressions, text)],
        ["Members reached", _cell(members_reached, text)],
        ["Profile activity"],
        ["Profile viewers from this post", _cell(profile_viewers, text)],
        ["Followers gained from this post", _cell(followers_gained, text)],
        ["Social engagements"],
        ["Reactions", _cell(reactions, text)],
        ["Comments", _cell(comments, text)],
        ["Reposts", _cell(reposts, text)],
        ["Saves", _cell(saves, text)],
        ["Sends on LinkedIn", _cell(sends, text)],
        [],
        ["Post viewer demographics"],
        ["Category", "Value", "%"],
    ]
    # This block writes its shares as text in both generations.
    rows += [
        [category, value, _share(fraction, True)] for category, value, fraction in demographics
    ]
    for row in rows:
        ws.append(row)
    if tweak:
        tweak(wb)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    if downloaded_on is not None:
        noon = dt.datetime(
            downloaded_on.year, downloaded_on.month, downloaded_on.day, 12, tzinfo=dt.UTC
        )
        os.utime(path, (noon.timestamp(), noon.timestamp()))
    return path


# --- the demo's exports ----------------------------------------------------------------------

DEMO_DAYS = 30
SEED_SLUG = "amara-okafor"
# The product's seed case: the post announcing Amara's new job.
SEED_REACTIONS, SEED_COMMENTS, SEED_NEW_FOLLOWERS = 31_000, 2_900, 1_600
SEED_REPOSTS, SEED_SAVES, SEED_SENDS = 460, 1_310, 395
SEED_IMPRESSIONS, SEED_MEMBERS_REACHED = 1_236_400, 612_800
SEED_FOLLOWERS_FROM_POST, SEED_PROFILE_VIEWERS = 1_140, 3_420
SEED_AGE_DAYS = 20  # published 20 days before the export's end

_TOPICS = [
    "what-a-week-at-our-engineering-offsite",
    "three-lessons-from-shipping-our-new-api",
    "we-are-hiring-join-my-team",
    "my-talk-at-the-developer-conference-is-online",
    "proud-of-what-our-customers-built-this-quarter",
    "a-thread-on-mentoring-junior-engineers",
    "notes-from-the-product-roadmap-session",
    "celebrating-five-years-at-the-company",
    "how-we-cut-our-cloud-bill-by-a-third",
    "reflections-after-a-month-of-remote-work",
]
_JOB_TITLES = [
    "Software Engineer",
    "Product Manager",
    "Marketing Manager",
    "Data Scientist",
    "Recruiter",
    "Founder",
]
_LOCATIONS = [
    "Lagos",
    "Paris",
    "Berlin",
    "London",
    "San Francisco Bay Area",
    "Bengaluru",
    "Tokyo",
    "Madrid",
    "Nairobi",
    "Shanghai",
]
_INDUSTRIES = [
    "Software Development",
    "IT Services and IT Consulting",
    "Financial Services",
    "Higher Education",
    "Marketing Services",
]
_SENIORITY = ["Senior", "Entry", "Manager", "Director"]


def activity_id(published: dt.date, rng: random.Random) -> int:
    """A LinkedIn activity id: the publish time in ms since the epoch, shifted left 22 bits."""
    moment = dt.datetime(published.year, published.month, published.day, tzinfo=dt.UTC)
    ms = int(moment.timestamp() * 1000) + rng.randrange(6 * 3600 * 1000, 18 * 3600 * 1000)
    return (ms << 22) | rng.getrandbits(22)


def _code(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(4))


def _post_url(slug: str, topic: str, ident: int, rng: random.Random, vanity_form: bool) -> str:
    if vanity_form:
        return f"https://www.linkedin.com/posts/{slug}_{topic}-activity-{ident}-{_code(rng)}"
    return f"https://www.linkedin.com/feed/update/urn:li:activity:{ident}/"


def _spread(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split along `weights` in whole numbers that add up to exactly `total`."""
    raw = [total * w / sum(weights) for w in weights]
    parts = [int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: parts[i] - raw[i])
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _demographics(rng: random.Random) -> list[DemographicRow]:
    rows: list[DemographicRow] = []
    for category, values in (
        ("Job titles", _JOB_TITLES),
        ("Locations", _LOCATIONS),
        ("Industries", _INDUSTRIES),
        ("Seniority", _SENIORITY),
    ):
        for value in rng.sample(values, 3):
            rows.append((category, value, round(rng.uniform(0.002, 0.18), 3)))
    return rows


def _creator_figures(
    days: list[dt.date],
    rng: random.Random,
    spike: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    """Daily impressions, engagements and gains of a typical member; `spike` adds one viral
    post's (impressions, engagements, new followers) decaying from its publish day."""
    base = rng.randint(150, 1400)
    impressions, engagements, followers = [], [], []
    for day in days:
        weekday = 1.0 if day.weekday() < 5 else 0.45
        shown = int(base * weekday * rng.uniform(0.6, 1.5))
        impressions.append(shown)
        engagements.append(int(shown * rng.uniform(0.01, 0.05)))
        followers.append(rng.choice([0, 0, 1, 1, 2, 3, 4, 6]))
    # A day whose withdrawn reactions outweigh new ones: LinkedIn reports it negative.
    if rng.random() < 0.3:
        engagements[rng.randrange(len(days))] = -rng.randint(1, 3)
    if spike is not None:
        weights = [0.0] * (len(days) - SEED_AGE_DAYS - 1) + [
            0.55**n for n in range(SEED_AGE_DAYS + 1)
        ]
        for series, extra in zip((impressions, engagements, followers), spike, strict=True):
            for i, part in enumerate(_spread(extra, weights)):
                series[i] += part
    return {
        "impressions": impressions,
        "engagements": engagements,
        "followers": followers,
        "members_reached": int(sum(impressions) * rng.uniform(0.38, 0.6)),
        "total_followers": rng.randint(600, 9000),
    }


def write_demo_exports(
    folder: Path, roster_people: Sequence[tuple[str, str]], until: dt.date
) -> list[Path]:
    """Deterministic exports for each (name, slug): a 30-day creator export ending `until`,
    older and 2026 generations alternating; for Amara Okafor also the seed post's export.

    Amara's creator export gains exactly 1,600 followers over the period, most of them after
    the post announcing her new job (31,000 reactions, 2,900 comments), published 20 days
    before `until`. Her single-post export is dated `until` (its download day), the day her
    creator export ends too, so both describe the post as of the same day.
    """
    start = until - dt.timedelta(days=DEMO_DAYS - 1)
    days = [start + dt.timedelta(days=n) for n in range(DEMO_DAYS)]
    written: list[Path] = []
    for index, (name, slug) in enumerate(sorted(roster_people, key=lambda p: p[1])):
        rng = random.Random(f"linkedin-demo:{slug}")  # a str seed is stable across processes
        generation: Generation = "2026" if index % 2 else "older"
        seed = slug == SEED_SLUG
        spike = None
        if seed:
            seed_on = until - dt.timedelta(days=SEED_AGE_DAYS)
            seed_id = activity_id(seed_on, rng)
            seed_topic = "im-thrilled-to-share-that-im-starting-a-new-position"
            seed_engagements = SEED_REACTIONS + SEED_COMMENTS + SEED_REPOSTS
            spike = (SEED_IMPRESSIONS, seed_engagements, 0)
        figures = _creator_figures(days, rng, spike)
        if seed:
            # Exactly 1,600 over the period: the everyday trickle, the rest after the post.
            trickle = sum(figures["followers"])
            weights = [0.0] * (DEMO_DAYS - SEED_AGE_DAYS - 1) + [
                0.6**n for n in range(SEED_AGE_DAYS + 1)
            ]
            figures["followers"] = [
                a + b
                for a, b in zip(
                    figures["followers"],
                    _spread(SEED_NEW_FOLLOWERS - trickle, weights),
                    strict=True,
                )
            ]
            figures["members_reached"] = SEED_MEMBERS_REACHED + figures["members_reached"] // 10
            figures["total_followers"] = 14_250
        # Each post a share of the period's everyday impressions, 1.5-6 % of them engaging.
        everyday = sum(figures["impressions"]) - (spike[0] if spike else 0)
        impressions_by_post, engagements_by_post = [], []
        for topic in rng.sample(_TOPICS, rng.randint(3, 7)):
            published = start + dt.timedelta(days=rng.randrange(DEMO_DAYS))
            url = _post_url(slug, topic, activity_id(published, rng), rng, rng.random() < 0.7)
            shown = int(everyday * rng.uniform(0.04, 0.2))
            impressions_by_post.append((url, published, shown))
            engagements_by_post.append((url, published, int(shown * rng.uniform(0.015, 0.06))))
        if seed:
            seed_url = _post_url(slug, seed_topic, seed_id, rng, vanity_form=True)
            engagements_by_post.append((seed_url, seed_on, seed_engagements))
            impressions_by_post.append((seed_url, seed_on, SEED_IMPRESSIONS))
        # The two TOP POSTS tables rank independently; the least engaging post, low on
        # impressions too, makes only one of them.
        engagements_by_post.sort(key=lambda p: -p[2])
        impressions_by_post.sort(key=lambda p: -p[2])
        if len(engagements_by_post) > 3:
            impressions_by_post = [
                p for p in impressions_by_post if p[0] != engagements_by_post[-1][0]
            ]
        path = folder / creator_export_name(name, start, until, generation)
        write_creator_export(
            path,
            start,
            until,
            daily={
                d: (i, e)
                for d, i, e in zip(
                    days, figures["impressions"], figures["engagements"], strict=True
                )
            },
            new_followers=dict(zip(days, figures["followers"], strict=True)),
            total_followers=figures["total_followers"],
            members_reached=figures["members_reached"],
            top_by_engagements=engagements_by_post,
            top_by_impressions=impressions_by_post,
            demographics=_demographics(rng),
            generation=generation,
            followers_colon=rng.random() < 0.7,
            date_header="Post Publish Date" if generation == "2026" else "Post publish date",
        )
        written.append(path)
        if seed:
            written.append(
                write_post_export(
                    folder / post_export_name(name, seed_id, "2026"),
                    url=f"https://www.linkedin.com/feed/update/urn:li:activity:{seed_id}/",
                    published_on=seed_on,
                    publish_time="8:12 AM",
                    impressions=SEED_IMPRESSIONS,
                    members_reached=SEED_MEMBERS_REACHED,
                    reactions=SEED_REACTIONS,
                    comments=SEED_COMMENTS,
                    reposts=SEED_REPOSTS,
                    saves=SEED_SAVES,
                    sends=SEED_SENDS,
                    profile_viewers=SEED_PROFILE_VIEWERS,
                    followers_gained=SEED_FOLLOWERS_FROM_POST,
                    demographics=[
                        ("Job title", "Software Engineer", 0.11),
                        ("Job title", "Recruiter", 0.06),
                        ("Location", "Lagos", 0.14),
                        ("Location", "London", 0.05),
                        ("Industry", "Software Development", 0.23),
                        ("Seniority", "Senior", 0.31),
                        ("Company", "Acme", 0.004),
                    ],
                    generation="2026",
                    downloaded_on=until,
                )
            )
    return written
