"""`reach digest`: the period's numbers to the team's e-mail and chat (or, with --dry-run, to the
terminal); targets are only ever printed masked."""

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from cli.console import fail
from reach.settings import get_settings

# Bad input or no target exits 2, like a usage error: running it again will not help.
BAD_INPUT = 2


def _day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date in ISO format YYYY-MM-DD", BAD_INPUT)
        raise  # unreachable: fail() exits


def _period(since: str | None, until: str | None, period: str | None) -> tuple[dt.date, dt.date]:
    from reach.digest import KINDS, digest_period

    if since or until:
        if period:
            fail("give --since and --until, or --period, not both", BAD_INPUT)
        if not (since and until):
            fail("--since and --until go together (YYYY-MM-DD, both inclusive)", BAD_INPUT)
        assert since and until  # fail() exits
        first, last = _day(since, "--since"), _day(until, "--until")
        if first > last:
            fail(f"--since {first} is after --until {last}", BAD_INPUT)
        return first, last
    kind = period or "day"
    if kind not in KINDS:
        fail(f"unknown --period {kind!r}: use {', '.join(KINDS)}", BAD_INPUT)
    today = dt.datetime.now(ZoneInfo(get_settings().timezone)).date()
    return digest_period(kind, today)


def digest(
    since: Annotated[
        str | None, typer.Option("--since", help="First day, YYYY-MM-DD (with --until).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day, inclusive, YYYY-MM-DD.")
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="day: yesterday (the default); week: the 7 days to yesterday; month: last month.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the chat text, the e-mail text and the targets; send nothing."
        ),
    ] = False,
) -> None:
    """Send the digest of a period to REACH_NOTIFY_URLS (and the Prefect Secret block's URLs)."""
    from flows.notify import NotifyBlockMissing, notify_urls
    from reach.db import schema_problem
    from reach.digest import build_digest, render_email, render_text, send_digest
    from reach.notify import is_email, masked

    first, last = _period(since, until, period)
    try:
        urls = notify_urls()
    except NotifyBlockMissing as exc:
        fail(str(exc), BAD_INPUT)
    if not urls and not dry_run:
        fail(
            "no target: set REACH_NOTIFY_URLS (Apprise URLs) or REACH_NOTIFY_SECRET_BLOCK, "
            "or use --dry-run",
            BAD_INPUT,
        )
    if problem := schema_problem():
        fail(problem, BAD_INPUT)
    built = build_digest(None, first, last)
    if dry_run:
        full, _ = render_email(built)
        typer.echo("--- chat text ---")
        typer.echo(render_text(built), nl=False)
        typer.echo("--- e-mail text ---")
        typer.echo(full, nl=False)
        typer.echo("--- targets (nothing sent) ---")
        for url in urls:
            kind = "e-mail (HTML and the report)" if is_email(url) else "the chat text"
            typer.echo(f"{masked(url)}: would get {kind}")
        if not urls:
            typer.echo("none: set REACH_NOTIFY_URLS or REACH_NOTIFY_SECRET_BLOCK")
        return
    results = send_digest(built, urls)
    for result in results:
        typer.echo(f"{result.target}: " + ("sent" if result.ok else f"failed: {result.error}"))
    if not all(r.ok for r in results):
        raise typer.Exit(1)
