"""The `reach` command line."""

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table
from sqlmodel import Session

from cli import complete
from cli.alerts import alerts
from cli.console import console, err, error_line, fail, needs_database, write_traceback
from cli.digest import digest
from cli.users import users_app
from models import CrawledPlatform
from reach.settings import get_settings

Grouping = Literal["ambassador", "platform", "country", "cohort", "team"]
Format = Literal["table", "csv", "json", "xlsx", "html"]
app = typer.Typer(help="Measure the public reach of an ambassador programme.", no_args_is_help=True)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        console.print(f"reach {version('ambassador-reach')}")
        raise typer.Exit()


# Set by --debug: an unexpected error prints its traceback instead of one line.
_options = {"debug": False}


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the full traceback of an unexpected error.")
    ] = False,
) -> None:
    """Measure the public reach of an ambassador programme."""
    _options["debug"] = debug


def main() -> None:
    """The `reach` command: an unexpected error is one line saying where its traceback was
    written (`reach --debug ...` prints it), and exit code 1."""
    try:
        app()
    except Exception as exc:  # the last resort of the command line
        if _options["debug"]:
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        path = write_traceback(exc)
        error_line(
            f"unexpected {type(exc).__name__}{': ' + reason if reason else ''} (traceback in "
            f"{path}; `reach --debug ...` prints it)"
        )
        raise SystemExit(1) from None


config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
roster_app = typer.Typer(help="Ambassadors and their public accounts.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(roster_app, name="roster")
app.add_typer(users_app, name="users")
app.command("digest")(digest)
app.command("alerts")(alerts)


def open_session() -> Session:
    """A session on the configured database, which must be migrated to head."""
    from reach.db import get_engine

    return Session(get_engine(), expire_on_commit=False)


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings (secrets masked)."""
    table = Table("setting", "value", title="Effective settings")
    for name, value in get_settings().masked().items():
        table.add_row(name, value)
    console.print(table)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the migrations (creates the SQLite database on first use)."""
    from reach.db import current_revision, upgrade

    upgrade(revision=revision)
    console.print(f"database at revision [bold]{current_revision()}[/]")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the configured database."""
    from reach.db import current_revision

    console.print(current_revision() or "empty (run `reach db upgrade`)")


@roster_app.command("import")
@needs_database
def roster_import(
    path: Annotated[Path, typer.Argument(help="Roster file, .csv or .yaml.")],
) -> None:
    """Import a roster; any invalid row imports nothing and lists the errors (the first 100)."""
    from cli.views import import_roster_file
    from reach.roster import RosterError

    try:
        with open_session() as session, session.begin():
            summary = import_roster_file(session, path)
    except RosterError as exc:
        fail(str(exc))
    console.print(summary)


@roster_app.command("export")
@needs_database
def roster_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or yaml.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout).")
    ] = None,
) -> None:
    """Write the stored roster in a form `reach roster import` reads back."""
    from reach.roster import export_roster

    if fmt not in ("csv", "yaml"):
        fail(f"unknown format {fmt!r}: use csv or yaml")
    with open_session() as session:
        text = export_roster(session, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@roster_app.command("list")
@needs_database
def roster_list() -> None:
    """Print the roster: ambassadors, countries and their accounts."""
    from cli.views import roster_table

    with open_session() as session:
        console.print(roster_table(session))


@app.command("demo")
def demo() -> None:
    """Run the main job end to end on the embedded default, against the local sandbox."""
    from cli.demo import run_demo

    run_demo()


@app.command("score")
@needs_database
def score(
    rescore: Annotated[bool, typer.Option("--rescore", help="Score every text again.")] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes (default: all cores for a big backlog)."),
    ] = None,
) -> None:
    """Score the sentiment of post and reply texts not yet scored (English only)."""
    from reach.sentiment import score_pending

    summary = score_pending(rescore=rescore, workers=workers)
    title = f"Sentiment ({summary.scorer} {summary.scorer_version})"
    table = Table("outcome", "texts", title=title)
    table.add_row("scored", str(summary.scored))
    for reason, count in sorted(summary.not_scored.items(), key=lambda item: -item[1]):
        table.add_row(f"not scored: {reason}", str(count))
    table.add_row("already scored", str(summary.already_scored))
    table.add_row("languages filled in", str(summary.languages_filled))
    console.print(table)
    console.print(
        f"{summary.texts_read} texts in {summary.seconds:.1f} s "
        f"({summary.rate:,.0f}/s, {summary.workers} process{'es' if summary.workers > 1 else ''})"
    )


import_app = typer.Typer(
    help="Import analytics exports (platforms we never crawl).", no_args_is_help=True
)
app.add_typer(import_app, name="import")


@import_app.command("linkedin")
@needs_database
def import_linkedin(
    paths: Annotated[
        list[Path], typer.Argument(help="LinkedIn .xlsx exports, or folders of them.")
    ],
    ambassador: Annotated[
        str | None,
        typer.Option(
            "--ambassador",
            help="Ambassador slug (default: the name in the file name).",
            autocompletion=complete.ambassador_slugs,
        ),
    ] = None,
) -> None:
    """Import LinkedIn analytics exports; each file all or nothing, exit 1 if any failed."""
    from reach.linkedin.store import expand_paths, import_files

    files = expand_paths(paths)
    if not files:
        fail("no .xlsx file found in " + ", ".join(str(p) for p in paths))
    outcomes = import_files(files, ambassador_slug=ambassador)
    for outcome in outcomes:
        if outcome.ok:
            console.print(f"[green]ok[/] {outcome.message}", highlight=False, soft_wrap=True)
        else:
            err.print(f"[bold red]failed[/] {outcome.message}", highlight=False, soft_wrap=True)
    failed = sum(1 for o in outcomes if not o.ok)
    if failed:
        fail(f"{failed} of {len(outcomes)} file(s) failed; nothing was stored from them")


@app.command("sandbox")
def sandbox(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8787,
    day: Annotated[
        int | None, typer.Option("--day", help="Simulated day (default REACH_SANDBOX_DAY or 0).")
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Calendar date of day 0, YYYY-MM-DD "
            "(default REACH_SANDBOX_DATE, else today in UTC).",
        ),
    ] = None,
    fault: Annotated[
        list[str] | None, typer.Option("--fault", help="Fault switch NAME[=ARG], repeatable.")
    ] = None,
) -> None:
    """Serve the local fake of the platforms on 127.0.0.1 (for the demo, tests and benchmarks)."""
    try:
        from sandbox import serve
        from sandbox.truth import day_from_env, parse_date
    except ImportError:  # the sandbox ships with the checkout, not with the installed product
        fail("the sandbox runs from a checkout of ambassador-reach: `python -m sandbox` there")
    try:
        today = parse_date(date, "--date") if date else None
    except ValueError as exc:
        fail(str(exc))
    serve(
        port=port, day=day if day is not None else day_from_env(), faults=fault or [], today=today
    )


@app.command("crawl")
@needs_database
def crawl(
    platform: Annotated[
        CrawledPlatform,
        typer.Option("--platform", help="The platform to crawl (any case).", case_sensitive=False),
    ],
    ambassador: Annotated[
        list[str] | None,
        typer.Option(
            "--ambassador",
            help="Slug; repeatable. Default: all.",
            autocompletion=complete.ambassador_slugs,
        ),
    ] = None,
    lookback_days: Annotated[
        int | None, typer.Option("--lookback-days", min=1, help="Default REACH_LOOKBACK_DAYS.")
    ] = None,
) -> None:
    """Crawl one platform in its own Scrapy process and print what it did."""
    import signal

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from crawler.run import DatabaseUnavailable, StopRequest, UnknownSelection, run_crawl

    # SIGTERM (timeout, supervisors) stops the crawl like Ctrl-C: gracefully, nothing left running.
    stop = StopRequest()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task(f"crawling {platform}", total=None)
        try:
            result = run_crawl(
                platform,
                ambassador or [],
                lookback_days=lookback_days,
                stop=stop,
                on_progress=lambda pages, items: progress.update(
                    task, description=f"crawling {platform}: {pages} pages, {items} items"
                ),
            )
        except (UnknownSelection, DatabaseUnavailable) as exc:
            fail(str(exc))
    for stale in result.reaped:
        err.print(
            f"closed crawl run {stale.id} ({stale.platform}): {stale.reason}", highlight=False
        )
    table = Table(
        "ambassador",
        "account",
        "result",
        "posts new",
        "updated",
        "snapshots",
        title=f"crawl run {result.crawl_run_id}: {result.summary()}",
    )
    for account in result.accounts:
        outcome = "ok" if account.ok else f"[red]{account.error}[/]: {account.reason}"
        if account.warnings:
            outcome += f" [yellow]({account.warning_text()})[/]"
        table.add_row(
            account.ambassador,
            account.account,
            outcome,
            str(account.posts_new),
            str(account.posts_updated),
            str(account.snapshots),
        )
    console.print(table)
    for notice in result.notices():  # what waits for the next night, the crawl staying healthy
        err.print(f"warning: {notice}", highlight=False)
    problems = result.problems()
    if problems:
        code = 128 + signal.Signals[result.interrupted].value if result.interrupted else 1
        fail(f"{platform} crawl unhealthy: " + "; ".join(problems), code)


runs_app = typer.Typer(help="Crawl runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("reap")
@needs_database
def runs_reap() -> None:
    """Close crawl runs left `running` by a process that is gone, as failed "interrupted"."""
    from reach.runs import reap_stale_runs

    reaped = reap_stale_runs()
    for stale in reaped:
        console.print(f"crawl run {stale.id} ({stale.platform}): {stale.reason}", highlight=False)
    console.print(f"{len(reaped)} crawl run(s) closed")


@app.command("report")
@needs_database
def report(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="First day, YYYY-MM-DD (default: REACH_LOOKBACK_DAYS before --until)."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Last day, inclusive, YYYY-MM-DD (default: today)."),
    ] = None,
    by: Annotated[
        Grouping,
        typer.Option("--by", help="One row per group of this kind.", case_sensitive=False),
    ] = "ambassador",
    fmt: Annotated[
        Format,
        typer.Option("--format", help="Output format.", case_sensitive=False),
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write (default: stdout for table/csv/json, REACH_REPORTS_DIR for xlsx/html).",
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Terminal table columns, comma-separated (default: those that fit): "
            "posts, engagements, new_followers, top_post, likes, comments, reposts, followers, "
            "potential_reach, views, engagement_rate, growth_rate, impressions, members_reached, "
            "post_sentiment, reply_sentiment, sources.",
            autocompletion=complete.report_columns,
        ),
    ] = None,
    bom: Annotated[
        bool,
        typer.Option(
            "--bom/--no-bom",
            help="Start the CSV with a byte-order mark (Excel reads its accents right).",
        ),
    ] = True,
) -> None:
    """Reach metrics of a period: one row per ambassador (or platform, country, cohort, team)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from reach.metrics import GROUPINGS
    from reach.report import (
        FORMATS,
        build_report,
        default_report_path,
        is_empty,
        render_csv,
        render_json,
        render_table,
        write_report,
    )

    def parse_day(value: str, option: str) -> dt.date:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            fail(f"{option} {value!r} is not a date in ISO format YYYY-MM-DD")
            raise  # unreachable: fail() exits

    settings = get_settings()
    if by not in GROUPINGS:
        fail(f"unknown --by {by!r}: use one of {', '.join(GROUPINGS)}")
    if fmt not in FORMATS:
        fail(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    last = (
        parse_day(until, "--until")
        if until
        else dt.datetime.now(ZoneInfo(settings.timezone)).date()
    )
    first = (
        parse_day(since, "--since")
        if since
        else last - dt.timedelta(days=settings.lookback_days - 1)
    )
    if first > last:
        fail(f"--since {first} is after --until {last}")
    built = build_report(None, first, last, by=by)
    if output is None and fmt in ("xlsx", "html"):
        output = default_report_path(built, fmt)
    if output is not None:
        path = write_report(built, fmt, output, bom=bom)
        err.print(f"report written to {path}", highlight=False)
    elif fmt == "table":
        chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
        try:
            render_table(built, console, chosen)
        except ValueError as exc:
            fail(str(exc), 2)
    else:
        typer.echo(render_csv(built, bom=bom) if fmt == "csv" else render_json(built), nl=False)
    if fmt != "table" and is_empty(built):  # the file cannot say it without breaking its format
        err.print(
            f"note: {first} to {last} holds no data (no post, no follower figure, no imported "
            "analytics): every figure is empty",
            highlight=False,
        )


@app.command("web")
def web(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Serve the database `make demo` filled (var/demo.db).")
    ] = False,
) -> None:
    """Serve the dashboard (sign in with a user of `reach users add`)."""
    import os

    import uvicorn

    from reach.db import schema_problem

    if demo:
        from cli.demo import demo_environment

        os.environ.update(demo_environment(get_settings().var_dir))
        get_settings.cache_clear()
    settings = get_settings()
    if problem := schema_problem():
        fail(problem)
    from web.app import create_app

    proxies = settings.web_trusted_proxies.strip()
    console.print(
        f"dashboard: http://{host}:{port}/  (database {settings.masked()['REACH_DATABASE_URL']})"
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        log_level="info",
    )
