"""The dashboard's pages: overview, leaderboard, ambassador, post, crawl health, exports and the
LinkedIn upload. Each lays out what `reach.dashboard` and the report computed."""

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import select
from sqlmodel import Session, col
from starlette.exceptions import HTTPException

from models import Ambassador
from reach import dashboard as views
from reach.alerts import recent_alerts
from reach.dashboard import BadPeriod, Change, PeriodChoice
from reach.db import get_engine
from reach.metrics import METRICS
from reach.report import FORMATS, Report, default_report_path, write_report
from reach.report.charts import line_figure, report_figures, sentiment_figure
from reach.report.html import metric_cards, safe_url
from reach.report.render import cell_text, fmt_float, fmt_int
from reach.settings import get_settings
from web import security
from web.data import Pair, Reports, today
from web.rendering import page_user, render
from web.uploads import UploadTooLarge, import_roster_upload, import_upload

router = APIRouter()
LEADERBOARD_COLUMNS = [
    (key, METRICS[key].label)
    for key in (
        "posts",
        "likes",
        "comments",
        "reposts",
        "views",
        "engagements",
        "engagement_rate",
        "followers",
        "new_followers",
        "potential_reach",
        "reply_sentiment",
    )
]
LEADERBOARD_PAGE = 100  # rows per page: a programme of 1,000 is ten pages, not one 1 MB table
EXPORTS = {"csv": "text/csv", "xlsx": None, "json": "application/json", "html": "text/html"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def choose(request: Request) -> PeriodChoice:
    q = request.query_params
    return views.choose_period(
        today(get_settings().timezone),
        get_settings().timezone,
        q.get("range"),
        q.get("since"),
        q.get("until"),
        q.get("month"),
    )


def _reports(request: Request) -> Reports:
    reports: Reports = request.app.state.reports
    return reports


def _sandbox_bluesky() -> bool:
    from urllib.parse import urlsplit

    return views.is_loopback(urlsplit(get_settings().bluesky_appview_url).hostname or "")


def _change_text(change: Change, before: Report) -> tuple[str, str]:
    """ "+1,200 (+12.5%) vs 2026-10-02 to 2026-10-31", and whether it went up or down."""
    span = f"vs {before.period.since} to {before.period.until}"
    delta = change.delta
    if delta is None:
        then = "n/a" if change.previous is None else f"{change.previous:,}"
        return f"no change to show {span} (then: {then})", ""
    sign = "+" if delta > 0 else ""
    pct = f" ({sign}{change.percent:.1f}%)" if change.percent is not None else ""
    number = f"{delta:,}" if isinstance(delta, int) else f"{delta:,.2f}"
    return f"{sign}{number}{pct} {span}", "up" if delta > 0 else "down" if delta < 0 else ""


def _page(request: Request, name: str, choice: PeriodChoice, **context: Any) -> HTMLResponse:
    return render(
        request,
        name,
        choice=choice,
        period_query=urlencode(choice.query()),
        ranges=views.RANGES,
        **context,
    )


def _bad_period(request: Request, exc: BadPeriod) -> HTMLResponse:
    return render(request, "error.html.j2", 400, title="Bad period", message=str(exc))


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    page_user(request)
    try:
        choice = choose(request)
    except BadPeriod as exc:
        return _bad_period(request, exc)
    pair = _reports(request).pair(choice)
    report = pair.report
    cards = []
    for change in views.headline_changes(report, pair.before):
        text, direction = _change_text(change, pair.before)
        value = change.value
        cards.append(
            {
                "key": change.key,
                "label": change.label,
                "value": fmt_int(value) if not isinstance(value, float) else fmt_float(value),
                "note": change.covers,
                "change": text,
                "direction": direction,
            }
        )
    sandboxed = _sandbox_post_ids(report)
    return _page(
        request,
        "overview.html.j2",
        choice,
        report=report,
        cards=cards,
        figures=report_figures(report),
        top_posts=[
            {
                "post": p,
                "url": None if p.id in sandboxed else safe_url(p.url),
                "note": "sandbox post" if p.id in sandboxed else "",
            }
            for p in report.top_posts
        ],
    )


def _sandbox_post_ids(report: Report) -> set[int]:
    """The top posts that were crawled from the sandbox (their URLs name no real post)."""
    from models import Account, Post

    ids = [p.id for p in report.top_posts]
    if not ids:
        return set()
    bluesky = _sandbox_bluesky()
    with Session(get_engine()) as session:
        rows = session.execute(
            select(col(Post.id), Account)
            .join(Account, col(Account.id) == col(Post.account_id))
            .where(col(Post.id).in_(ids))
        ).all()
    return {pid for pid, account in rows if views.is_sandbox(account, bluesky)}


@router.get("/ambassadors", response_class=HTMLResponse)
def ambassadors(request: Request) -> Response:
    page_user(request)
    q = request.query_params
    try:
        choice = choose(request)
        filters = views.Filters(
            q.get("country", ""), q.get("cohort", ""), q.get("team", ""), q.get("platform", "")
        )
        sort = q.get("sort", "engagements")
        desc = q.get("dir", "desc") != "asc"
        reports = _reports(request)
        pair: Pair = reports.pair(choice)
        ranks = reports.derived(
            pair,
            ("leaderboard", filters, sort, desc),
            lambda: views.leaderboard(pair.report, pair.before, filters, sort, desc),
        )
        page = int(q.get("page", "1"))
    except BadPeriod as exc:
        return _bad_period(request, exc)
    except ValueError:
        return _bad_period(request, BadPeriod(f"page {q.get('page')!r} is not a number"))
    pages = max(1, -(-len(ranks) // LEADERBOARD_PAGE))
    page = min(max(page, 1), pages)
    shown = ranks[(page - 1) * LEADERBOARD_PAGE : page * LEADERBOARD_PAGE]
    base = {**choice.query(), **{k: v for k, v in vars(filters).items() if v}}

    def page_link(number: int) -> str:
        return "?" + urlencode(
            {**base, "sort": sort, "dir": "desc" if desc else "asc", "page": number}
        )

    def sort_link(column: str) -> str:
        direction = "asc" if sort == column and desc else "desc"
        return "?" + urlencode({**base, "sort": column, "dir": direction})

    period_query = urlencode(choice.query())

    def table() -> Markup:
        templates: Any = request.app.state.templates
        return Markup(
            templates.env.get_template("_leaderboard_table.html.j2").render(
                ranks=shown,
                columns=LEADERBOARD_COLUMNS,
                cell=cell_text,
                sort=sort,
                desc=desc,
                sort_link=sort_link,
                period_query=period_query,
            )
        )

    return _page(
        request,
        "leaderboard.html.j2",
        choice,
        report=pair.report,
        ranks=shown,
        total=len(ranks),
        page=page,
        pages=pages,
        page_size=LEADERBOARD_PAGE,
        page_link=page_link,
        filters=filters,
        choices=reports.derived(pair, ("choices",), lambda: views.filter_choices(pair.report)),
        sort=sort,
        desc=desc,
        table=reports.derived(pair, ("table", filters, sort, desc, page), table),
    )


@router.get("/ambassadors/{slug}", response_class=HTMLResponse)
def ambassador(request: Request, slug: str) -> Response:
    page_user(request)
    try:
        choice = choose(request)
    except BadPeriod as exc:
        return _bad_period(request, exc)
    reports = _reports(request)
    report = reports.get(choice.period)

    def build() -> views.AmbassadorView | None:
        with Session(get_engine()) as session:
            return views.ambassador_view(session, report, slug, _sandbox_bluesky())

    # Accounts, follower series and posts once per ambassador and data version.
    view = reports.derived(report, ("ambassador", slug), build)
    if view is None:
        raise HTTPException(404, f"no ambassador {slug!r}")
    followers = line_figure(
        "chart-account-followers",
        "Followers per account (one point per crawl day)",
        [(a.followers.name, a.followers.points) for a in view.accounts],
        "followers",
    )
    return _page(
        request,
        "ambassador.html.j2",
        choice,
        report=report,
        view=view,
        row=view.row,
        cards=metric_cards(
            view.row,
            (
                "posts",
                "engagements",
                "new_followers",
                "followers",
                "likes",
                "comments",
                "reply_sentiment",
            ),
        ),
        figures=[followers],
    )


@router.get("/posts/{post_id}", response_class=HTMLResponse)
def post(request: Request, post_id: int) -> Response:
    page_user(request)
    with Session(get_engine()) as session:
        view = views.post_view(session, post_id, _sandbox_bluesky())
    if view is None:
        raise HTTPException(404, f"no post {post_id}")
    stamps = [s.observed_at.strftime("%Y-%m-%d %H:%M") for s in view.snapshots]
    series: list[tuple[str, list[tuple[str, int | float]]]] = []
    for count in ("likes", "comments", "reposts", "quotes", "views", "impressions"):
        points: list[tuple[str, int | float]] = [
            (t, v)
            for t, s in zip(stamps, view.snapshots, strict=True)
            if (v := s.counts[count]) is not None
        ]
        if points:
            series.append((METRICS[count].label, points))
    history = line_figure(
        "chart-post-history",
        "Counts at each crawl (one point per snapshot)",
        series,
        "count",
        "%b %-d %H:%M",
    )
    sentiment = sentiment_figure("chart-reply-sentiment", None, view.polarities)
    return render(
        request,
        "post.html.j2",
        view=view,
        stamps=stamps,
        figures=[history, sentiment],
        counts=[c for c in ("likes", "comments", "reposts", "quotes", "views", "impressions")],
        labels={c: METRICS[c].label for c in METRICS},
        sentiment=None
        if view.reply_sentiment is None
        else f"{view.reply_sentiment:+.2f} (n={view.reply_sentiment_n})",
    )


@router.get("/health", response_class=HTMLResponse)
def health(request: Request) -> Response:
    page_user(request)
    with Session(get_engine()) as session:
        state = views.crawl_health(
            session, dt.datetime.now(dt.UTC), get_settings().prefect_ui_url or None
        )
        alerts = recent_alerts(session)
    return render(
        request,
        "health.html.j2",
        health=state,
        stale_days=views.STALE_AFTER.days,
        alerts=alerts,
    )


@router.get("/export/{fmt}")
def export(request: Request, fmt: str) -> Response:
    page_user(request)
    if fmt not in EXPORTS:
        raise HTTPException(404, f"no export {fmt!r}: use csv, xlsx, json or html")
    try:
        choice = choose(request)
    except BadPeriod as exc:
        return _bad_period(request, exc)
    by = request.query_params.get("by", "ambassador")
    if by not in ("ambassador", "platform", "country", "cohort", "team"):
        raise HTTPException(404, f"cannot group by {by!r}")
    report = _reports(request).get(choice.period, by)
    name = default_report_path(report, fmt, ".").name
    with tempfile.TemporaryDirectory(prefix="reach-export-") as folder:
        data = write_report(report, fmt, Path(folder) / name).read_bytes()
    assert fmt in FORMATS
    return Response(
        data,
        media_type=EXPORTS[fmt] or XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/linkedin", response_class=HTMLResponse)
def linkedin_form(request: Request) -> Response:
    page_user(request, "editor")
    return render(request, "linkedin.html.j2", ambassadors=_ambassadors(), outcome=None)


@router.post("/linkedin", response_class=HTMLResponse)
def linkedin_upload(
    request: Request,
    file: Annotated[UploadFile, File()],
    ambassador: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    page_user(request, "editor")
    if not security.csrf_ok(request, csrf_token):
        return _form_expired(request)
    try:
        outcome = import_upload(file, ambassador or None)
    except UploadTooLarge as exc:
        return render(
            request,
            "linkedin.html.j2",
            413,
            ambassadors=_ambassadors(),
            outcome={"ok": False, "message": str(exc)},
        )
    return render(
        request,
        "linkedin.html.j2",
        200 if outcome.ok else 422,
        ambassadors=_ambassadors(),
        outcome={"ok": outcome.ok, "message": outcome.message},
    )


def _form_expired(request: Request) -> HTMLResponse:
    return render(
        request,
        "error.html.j2",
        403,
        title="Form expired",
        message="The form's CSRF token is missing or wrong: reload the page and upload again.",
    )


def _ambassadors() -> list[tuple[str, str]]:
    with Session(get_engine()) as session:
        return [
            (slug, name)
            for slug, name in session.execute(
                select(col(Ambassador.slug), col(Ambassador.name)).order_by(col(Ambassador.name))
            ).all()
        ]


@router.get("/roster", response_class=HTMLResponse)
def roster_page(request: Request) -> Response:
    page_user(request)
    return _roster(request, None)


@router.post("/roster", response_class=HTMLResponse)
def roster_upload(
    request: Request,
    file: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    page_user(request, "editor")
    if not security.csrf_ok(request, csrf_token):
        return _form_expired(request)
    try:
        ok, message = import_roster_upload(file)
    except UploadTooLarge as exc:
        ok, message = False, str(exc)
    return _roster(request, {"ok": ok, "message": message}, 200 if ok else 422)


def _roster(request: Request, outcome: dict[str, Any] | None, status: int = 200) -> HTMLResponse:
    from reach.roster import roster_rows

    with Session(get_engine()) as session:
        rows = roster_rows(session)
    return render(request, "roster.html.j2", status, rows=rows, outcome=outcome)
