"""The digest: a period's numbers for the team's inbox and chat, against the period before.

Every figure is a registry metric from `reach.report.build_report` (the headline changes are the
dashboard's own `headline_changes`); a count no platform published reads n/a, never 0. E-mail
targets get the full digest as HTML with the period's HTML report attached; chat and webhook
targets get the short text, which carries the dashboard link.
"""

import datetime as dt
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select
from sqlmodel import Session, col

from models import CrawlRun, RunStatus
from reach.dashboard import Change, headline_changes, period_url, previous_period
from reach.metrics import METRICS, EntityMetrics, Period
from reach.notify import Sent, is_email, send
from reach.report import Report, TopPost, build_report, default_report_path, write_report
from reach.report.build import session_for
from reach.report.html import TEMPLATES, safe_url
from reach.report.render import fmt_counted, fmt_int
from reach.settings import get_settings

DigestKind = Literal["day", "week", "month"]
KINDS: tuple[DigestKind, ...] = ("day", "week", "month")
TOP = 5
MESSAGE_CHARS = 300
FAILED_STATUSES = (RunStatus.FAILED, RunStatus.PARTIAL)


def digest_period(kind: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """day: yesterday; week: the 7 days ending yesterday; month: the previous calendar month."""
    yesterday = today - dt.timedelta(days=1)
    if kind == "day":
        return yesterday, yesterday
    if kind == "week":
        return yesterday - dt.timedelta(days=6), yesterday
    if kind == "month":
        last = today.replace(day=1) - dt.timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"unknown digest period {kind!r}: use {', '.join(KINDS)}")


@dataclass
class Failure:
    """A crawl or import run of the period that failed or finished partly."""

    platform: str
    status: str
    started_at: dt.datetime
    message: str


@dataclass
class Digest:
    """What a digest says: the period, its changes, its leaders, its failed runs and the link."""

    period: Period
    previous: Period
    meaning: str
    changes: list[Change]
    top_posts: list[TopPost]
    top_by_new_followers: list[EntityMetrics]
    top_by_engagements: list[EntityMetrics]
    failures: list[Failure]
    link: str | None
    report: Report = field(repr=False)  # the period's report, attached to the e-mails

    @property
    def title(self) -> str:
        return f"Reach digest {period_label(self.period)}"


def period_label(period: Period) -> str:
    if period.since == period.until:
        return period.since.isoformat()
    return f"{period.since.isoformat()} to {period.until.isoformat()}"


def build_digest(session_or_url: Session | str | None, since: dt.date, until: dt.date) -> Digest:
    """The digest of since..until (inclusive), compared with the same number of days before."""
    settings = get_settings()
    with session_for(session_or_url) as session:
        report = build_report(session, since, until)
        before = previous_period(report.period)
        earlier = build_report(session, before.since, before.until)
        failures = _failures(session, report.period)
    with_followers = [r for r in report.ambassadors if r.new_followers is not None]
    with_engagements = [r for r in report.ambassadors if r.engagements is not None]
    return Digest(
        period=report.period,
        previous=before,
        meaning=report.meaning,
        changes=headline_changes(report, earlier),
        top_posts=report.top_posts[:TOP],
        top_by_new_followers=sorted(
            with_followers, key=lambda r: (-(r.new_followers or 0), -(r.engagements or 0), r.key)
        )[:TOP],
        top_by_engagements=sorted(
            with_engagements, key=lambda r: (-(r.engagements or 0), -(r.new_followers or 0), r.key)
        )[:TOP],
        failures=failures,
        link=period_url(settings.dashboard_url, report.period) if settings.dashboard_url else None,
        report=report,
    )


def _failures(session: Session, period: Period) -> list[Failure]:
    runs = session.execute(
        select(CrawlRun)
        .where(
            col(CrawlRun.status).in_([str(s) for s in FAILED_STATUSES]),
            col(CrawlRun.started_at) >= period.start,
            col(CrawlRun.started_at) < period.end,
        )
        .order_by(col(CrawlRun.started_at), col(CrawlRun.id))
    ).scalars()
    return [
        Failure(
            run.platform,
            run.status,
            run.started_at,
            _one_line(run.message or "no message recorded"),
        )
        for run in runs
    ]


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MESSAGE_CHARS else flat[: MESSAGE_CHARS - 1] + "…"


# Formatting: counts through the report's own formatters, so n/a reads the same everywhere.


def fmt_value(value: float | None) -> str:
    """A count with thousands separators (a rate with two decimals), or n/a."""
    if value is None or isinstance(value, int):
        return fmt_int(value)
    return f"{value:,.2f}"


def fmt_change(change: Change) -> str:
    """'+1,234 (+12%)' against the previous period, or why there is no change to give."""
    if change.value is None:
        return "no figure this period"
    if change.previous is None:
        return "no figure for the previous period"
    delta = change.delta or 0
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    text = f"{sign}{fmt_value(abs(delta))}"
    if change.percent is not None:
        text += f" ({change.percent:+,.0f}%)"
    return text


def platform_name(platform: str) -> str:
    names = {"linkedin": "LinkedIn", "bluesky": "Bluesky", "mastodon": "Mastodon", "feed": "blog"}
    return names.get(platform, platform)


def _post_line(post: TopPost) -> str:
    likes, comments = METRICS["likes"].label.lower(), METRICS["comments"].label.lower()
    return (
        f"{post.ambassador} on {platform_name(post.platform)}: "
        f"{fmt_int(post.engagements)} {METRICS['engagements'].label.lower()} "
        f"({fmt_int(post.likes)} {likes}, {fmt_int(post.comments)} {comments})"
        + (f" {post.url}" if post.url else "")
    )


def _failures_line(digest: Digest) -> str:
    n = len(digest.failures)
    if not n:
        return "Crawl runs: none failed."
    platforms = ", ".join(sorted({platform_name(f.platform) for f in digest.failures}))
    return f"Crawl runs: {n} failed or partial ({platforms})."


def render_text(digest: Digest) -> str:
    """The short text for chat: the headline with its changes, the top post, failures, the link."""
    lines = [digest.title]
    for change in digest.changes:
        lines.append(f"{change.label}: {fmt_value(change.value)}, {fmt_change(change)}")
    lines.append(f"(changes against {period_label(digest.previous)})")
    if digest.top_posts:
        lines.append("Top post: " + _post_line(digest.top_posts[0]))
    else:
        lines.append("Top post: none with counts in the period.")
    lines.append(_failures_line(digest))
    if digest.link:
        lines.append(f"Dashboard: {digest.link}")
    return "\n".join(lines) + "\n"


def _ambassador_line(row: EntityMetrics) -> str:
    return (
        f"{row.name}: {fmt_counted(row.new_followers, row.new_followers_n, row.accounts, 'accounts')} "
        f"{METRICS['new_followers'].label.lower()}, "
        f"{fmt_counted(row.engagements, row.engagements_n, row.posts)} "
        f"{METRICS['engagements'].label.lower()}"
    )


def render_email_text(digest: Digest) -> str:
    """The full digest as plain text (the e-mail's text, and what --dry-run prints)."""
    out = [digest.title, "", digest.meaning, ""]
    out.append(f"Against the previous period ({period_label(digest.previous)}):")
    for c in digest.changes:
        out.append(
            f"  {c.label}: {fmt_value(c.value)} ({fmt_change(c)}; "
            f"previous {fmt_value(c.previous)}) - {c.covers}"
        )
    out += ["", f"Top {TOP} posts:"]
    out += [f"  {i}. {_post_line(p)}" for i, p in enumerate(digest.top_posts, 1)] or ["  none"]
    out += ["", f"Top {TOP} ambassadors by {METRICS['new_followers'].label.lower()}:"]
    out += [
        f"  {i}. {_ambassador_line(r)}" for i, r in enumerate(digest.top_by_new_followers, 1)
    ] or ["  none with a figure"]
    out += ["", f"Top {TOP} ambassadors by {METRICS['engagements'].label.lower()}:"]
    out += [
        f"  {i}. {_ambassador_line(r)}" for i, r in enumerate(digest.top_by_engagements, 1)
    ] or ["  none with a figure"]
    out += ["", _failures_line(digest)]
    out += [
        f"  {platform_name(f.platform)} {f.status} {f.started_at:%Y-%m-%d %H:%M}: {f.message}"
        for f in digest.failures
    ]
    if digest.link:
        out += ["", f"On the dashboard: {digest.link}"]
    return "\n".join(out) + "\n"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters.update(value=fmt_value, int=fmt_int, change=fmt_change, platform=platform_name)
    env.filters.update(counted=fmt_counted, safe_url=safe_url)
    return env


def render_email(digest: Digest) -> tuple[str, str]:
    """The full digest -> (plain text, HTML); the HTML is autoescaped, its links web links only."""
    html = (
        _environment()
        .get_template("digest.html.j2")
        .render(
            digest=digest,
            previous=period_label(digest.previous),
            labels={k: METRICS[k].label for k in ("likes", "comments", "engagements")}
            | {"new_followers": METRICS["new_followers"].label},
            failures_line=_failures_line(digest),
            top=TOP,
        )
    )
    return render_email_text(digest), html


def send_digest(digest: Digest, urls: Sequence[str], attach_report: bool = True) -> list[Sent]:
    """E-mail targets get the HTML digest and the HTML report attached, the others the short
    text; one result per target, never an exception for a target that is down or refuses."""
    full, html = render_email(digest)
    text = render_text(digest)
    if not attach_report or not any(is_email(u) for u in urls):
        return send(urls, digest.title, text, html=html, email_text=full)
    with tempfile.TemporaryDirectory(prefix="reach-digest-") as folder:
        path = write_report(
            digest.report, "html", default_report_path(digest.report, "html", Path(folder))
        )
        return send(urls, digest.title, text, html=html, attachment=path, email_text=full)


__all__ = [
    "KINDS",
    "Digest",
    "DigestKind",
    "Failure",
    "build_digest",
    "digest_period",
    "fmt_change",
    "period_label",
    "render_email",
    "render_email_text",
    "render_text",
    "send_digest",
]
