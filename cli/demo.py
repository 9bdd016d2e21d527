"""`reach demo`: the main job end to end on the embedded default (SQLite under ./var).

Starts the platform sandbox on 127.0.0.1:8787, runs the `nightly-reach` flow on Prefect's
ephemeral API (no server to start), runs it again one sandbox day later, prints what each run
did, and stops the sandbox. Each step is a function so later steps can be appended to run_demo().
"""

import datetime as dt
import os
import time
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sqlmodel import Session

    from sandbox.testing import SandboxProcess

DEMO_ROSTER = Path(str(files("reach") / "data" / "demo_roster.csv"))
SANDBOX_PORT = 8787  # the demo roster's accounts live on http://127.0.0.1:8787
# Mastodon's real budget (300 requests / 5 min) would make the crawler wait for the window to
# reset, correctly; the demo's sandbox grants a larger budget so the demo takes under 2 minutes.
SANDBOX_RATE_BUDGET = 5000


def sandbox_port() -> int:
    """8787, or REACH_DEMO_SANDBOX_PORT when 8787 is taken (the roster is then rewritten to it)."""
    return int(os.environ.get("REACH_DEMO_SANDBOX_PORT") or SANDBOX_PORT)


def demo_roster(var_dir: Path) -> Path:
    """The bundled roster, its accounts moved to the sandbox's port when it is not 8787."""
    port = sandbox_port()
    if port == SANDBOX_PORT:
        return DEMO_ROSTER
    moved = var_dir / "demo_roster.csv"
    moved.parent.mkdir(parents=True, exist_ok=True)
    moved.write_text(
        DEMO_ROSTER.read_text(encoding="utf-8").replace(
            f"127.0.0.1:{SANDBOX_PORT}", f"127.0.0.1:{port}"
        ),
        encoding="utf-8",
    )
    return moved


def demo_environment(var_dir: Path) -> dict[str, str]:
    """Settings for the demo: its own SQLite file, and the sandbox standing in for the platforms."""
    return {
        "REACH_DATABASE_URL": f"sqlite:///{(var_dir / 'demo.db').resolve()}",
        "REACH_ALLOW_PRIVATE_HOSTS": "true",
        "REACH_BLUESKY_APPVIEW_URL": f"http://127.0.0.1:{sandbox_port()}",
        "REACH_REPORTS_DIR": str((var_dir / "demo-reports").resolve()),
        # A progress line every few seconds while the demo crawls, instead of every 30 s.
        "REACH_PROGRESS_SECONDS": "3",
    }


def prefect_environment(var_dir: Path) -> dict[str, str]:
    """Prefect's ephemeral API with its database under var/, and no telemetry (offline machines).

    On a fresh clone the ephemeral server first creates and migrates its database: on a slow
    2-core machine that took longer than Prefect's default 20 s start-up wait, and the demo
    failed before it began, so the demo waits up to 2 minutes.
    """
    return {
        "PREFECT_HOME": os.environ.get("PREFECT_HOME", str((var_dir / "prefect").resolve())),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": os.environ.get(
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"
        ),
    }


def run_nightly(sandbox: "SandboxProcess", day: int) -> Any:
    """Run the nightly flow against the sandbox moved to `day`; returns its final Prefect state.

    One sandbox serves both nights, as a platform keeps its ids: the second night then asks for
    the accounts by the ids the first one stored (a new sandbox would not know them).
    """
    from flows.nightly import nightly_reach
    from reach.settings import get_settings

    today = dt.datetime.now(ZoneInfo(get_settings().timezone)).date()
    sandbox.reset()
    sandbox.control("POST", "/_sandbox/day", {"day": day})
    # The sandbox's clock runs `day` days ahead: the report ends on the sandbox's today.
    return nightly_reach(
        crawl_retries=0, report_until=today + dt.timedelta(days=day), return_state=True
    )


def print_run_summary(title: str, state: Any, seconds: float) -> None:
    """What one nightly run did: per platform, followers gained, top posts, the report files."""
    from rich.table import Table
    from sqlmodel import Session, select

    from cli.console import console
    from models import CrawlRun
    from reach.db import get_engine
    from reach.report import run_highlights
    from reach.runs import load_result

    flow_run_id = str(state.state_details.flow_run_id)
    with Session(get_engine()) as session:
        runs = session.exec(
            select(CrawlRun)
            .where(CrawlRun.prefect_flow_run_id == flow_run_id)
            .order_by(CrawlRun.platform)
        ).all()
    table = Table(
        "platform",
        "status",
        "accounts ok / failed",
        "posts new / updated",
        "snapshots",
        title=f"{title}: {state.name} in {seconds:.0f} s",
    )
    for run in runs:
        assert run.id is not None
        result = load_result(run.id, 0, 0.0, run.stats or {})
        table.add_row(
            run.platform,
            run.status,
            f"{result.accounts_ok} / {result.accounts_failed}",
            f"{result.posts_new} / {result.posts_updated}",
            str(result.snapshots),
        )
    console.print(table)
    if not state.is_completed():
        console.print(f"[bold red]{state.message}[/]", soft_wrap=True)
    highlights = run_highlights([r.id for r in runs if r.id is not None])
    if highlights.accounts_compared:
        console.print(
            f"followers gained since the previous crawl: {highlights.followers_gained:+,} "
            f"over {highlights.accounts_compared} accounts"
        )
    for post in highlights.top_posts[:3]:
        console.print(
            f"  top post: {post.ambassador} ({post.platform}) {post.engagements:,} engagements "
            f"{post.url or ''}",
            soft_wrap=True,
        )
    if state.is_completed():
        for path in state.result()["report"]:
            console.print(f"report: {path}", soft_wrap=True)


def print_report(days: int, day_offset: int) -> Any:
    """Write the HTML reach report of the last `days` days and print its top-10 ambassadors."""
    from cli.console import console
    from reach.report import build_report, default_report_path, print_top_ambassadors, write_report
    from reach.settings import get_settings

    until = dt.datetime.now(ZoneInfo(get_settings().timezone)).date() + dt.timedelta(
        days=day_offset
    )
    report = build_report(None, until - dt.timedelta(days=days - 1), until)
    path = write_report(report, "html", default_report_path(report, "html"))
    console.print(f"\n[bold]reach report:[/] {path}", soft_wrap=True)
    print_top_ambassadors(report, 10, console=console)
    return report.period


DEMO_USER, DEMO_PASSWORD = "demo@example.org", "demo-password"


def invite_to_dashboard(period: Any) -> None:
    """A dashboard user in the demo database, and how to open the demo's period in it."""
    from sqlmodel import Session

    from cli.console import console
    from reach.dashboard import period_url
    from reach.db import get_engine
    from reach.users import UserError, add_user

    with Session(get_engine()) as session:
        try:
            add_user(session, DEMO_USER, "admin", DEMO_PASSWORD)
            session.commit()
        except UserError:
            session.rollback()  # made by an earlier demo
    console.print(
        f"[bold]dashboard:[/] run [bold].venv/bin/reach web --demo[/], open "
        f"{period_url('http://127.0.0.1:8000', period)} and sign in as {DEMO_USER} / "
        f"{DEMO_PASSWORD} (a user of the demo database only)",
        soft_wrap=True,
        highlight=False,
    )


def linkedin_ambassadors(session: "Session") -> list[tuple[str, str]]:
    """(name, slug) of each ambassador with a LinkedIn account in the roster."""
    from sqlmodel import col, select

    from models import Account, Ambassador

    rows = session.exec(
        select(Ambassador.name, Ambassador.slug)
        .join(Account, col(Account.ambassador_id) == Ambassador.id)
        .where(col(Account.platform) == "linkedin")
        .distinct()
        .order_by(Ambassador.slug)
    ).all()
    return [(name, slug) for name, slug in rows]


def import_demo_linkedin(day_offset: int) -> bool:
    """Drop seeded LinkedIn exports (incl. the seed case) into the inbox; run import-linkedin.

    LinkedIn is never crawled: its figures come from the ambassadors' own analytics exports.
    The exports end on the report's last day, so the report's 30 days match their period.
    """
    from sqlmodel import Session

    from cli.console import console
    from flows.linkedin import import_linkedin
    from reach.db import get_engine
    from reach.linkedin.samples import write_demo_exports
    from reach.settings import get_settings

    settings = get_settings()
    until = dt.datetime.now(ZoneInfo(settings.timezone)).date() + dt.timedelta(days=day_offset)
    with Session(get_engine()) as session:
        people = linkedin_ambassadors(session)
    inbox = settings.linkedin_inbox
    write_demo_exports(inbox, people, until)
    console.print(
        f"\n[bold]import-linkedin[/] {inbox} (sample exports of {len(people)} ambassadors)",
        soft_wrap=True,
    )
    state = import_linkedin(folder=str(inbox), return_state=True)
    if not state.is_completed():
        console.print(f"[bold red]{state.message}[/]", soft_wrap=True)
        return False
    for line in state.result():
        console.print(f"  {line}", soft_wrap=True)
    return True


def print_linkedin_beside_crawled(
    days: int, day_offset: int, seed_slug: str = "amara-okafor"
) -> None:
    """Each platform's figures for the report's period, imported LinkedIn beside the crawled
    platforms; then the seed case: the ambassador's most liked LinkedIn post and followers gained."""
    from rich.table import Table
    from sqlmodel import Session, select

    from cli.console import console
    from models import Ambassador
    from reach.db import get_engine
    from reach.metrics import Period, account_facts, post_facts
    from reach.report import build_report
    from reach.report.render import fmt_counted, fmt_int
    from reach.settings import get_settings

    timezone = get_settings().timezone
    until = dt.datetime.now(ZoneInfo(timezone)).date() + dt.timedelta(days=day_offset)
    since = until - dt.timedelta(days=days - 1)
    report = build_report(None, since, until, by="platform")
    table = Table(title=f"By platform, {since} to {until}")
    for header in (
        "Platform",
        "Posts",
        "Likes",
        "Comments",
        "Impressions",
        "Members reached",
        "New followers (net)",
    ):
        table.add_column(header, overflow="fold")  # narrow terminals: fold, never cut a figure
    for row in sorted(report.rows, key=lambda r: r.key):
        table.add_row(
            f"{row.key} ({row.sources})",
            fmt_int(row.posts),
            fmt_counted(row.likes, row.likes_n, row.posts),
            fmt_counted(row.comments, row.comments_n, row.posts),
            fmt_int(row.impressions),
            fmt_int(row.members_reached),
            fmt_counted(row.new_followers, row.new_followers_n, row.accounts, "accounts"),
        )
    console.print(table)
    period = Period(since, until, timezone)
    with Session(get_engine()) as session:
        person = session.exec(select(Ambassador).where(Ambassador.slug == seed_slug)).first()
        if person is None:
            return
        posts = [
            p
            for p in post_facts(session, period)
            if p.ambassador_id == person.id
            and p.platform == "linkedin"
            and p.latest["likes"] is not None
        ]
        gained = [
            a.new_followers
            for a in account_facts(session, period)
            if a.ambassador_id == person.id
            and a.platform == "linkedin"
            and a.new_followers is not None
        ]
    best = max(posts, key=lambda p: p.latest["likes"] or 0, default=None)
    if best is not None:
        console.print(
            f"seed case, {person.name} on LinkedIn (imported): {fmt_int(best.latest['likes'])} "
            f"reactions, {fmt_int(best.latest['comments'])} comments on {best.url}; "
            f"{fmt_int(sum(gained))} new followers over the period",
            soft_wrap=True,
        )


def run_demo() -> None:
    """Create the demo database, import the bundled roster and sample LinkedIn exports, then run
    the nightly job twice."""
    from sqlmodel import Session

    from cli.console import console
    from cli.views import import_roster_file, roster_table
    from reach.db import get_engine, upgrade
    from reach.settings import get_settings
    from sandbox.testing import SandboxProcess

    started = time.monotonic()
    var_dir = get_settings().var_dir
    os.environ.update(demo_environment(var_dir))
    os.environ.update(prefect_environment(var_dir))
    get_settings.cache_clear()
    settings = get_settings()
    console.print(f"[bold]demo database:[/] {settings.database_url}")
    upgrade()
    with Session(get_engine(), expire_on_commit=False) as session, session.begin():
        console.print(import_roster_file(session, demo_roster(var_dir)))
    with Session(get_engine()) as session:
        console.print(roster_table(session))

    failed = not import_demo_linkedin(day_offset=1)  # the report's last day (sandbox day 1)
    with SandboxProcess(port=sandbox_port(), faults=[f"rate_limit={SANDBOX_RATE_BUDGET}"]) as sb:
        for day in (0, 1):
            began = time.monotonic()
            console.print(
                f"\n[bold]nightly-reach, sandbox day {day}[/] (Prefect's ephemeral API, no server)"
            )
            state = run_nightly(sb, day)
            print_run_summary(f"nightly-reach day {day}", state, time.monotonic() - began)
            failed = failed or not state.is_completed()
    period = print_report(settings.lookback_days, day_offset=1)
    print_linkedin_beside_crawled(settings.lookback_days, day_offset=1)
    console.print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    invite_to_dashboard(period)
    if failed:
        raise SystemExit(1)
