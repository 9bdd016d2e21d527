"""`reach alerts`: the alerts raised (newest first), and with --check the monitors run now."""

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import console, err, fail, needs_database
from reach.settings import get_settings

# A bad date exits 2, like a usage error: running it again will not help.
BAD_INPUT = 2


def _since(value: str) -> dt.datetime:
    """The start of day `value` in REACH_TIMEZONE, as an aware time."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r} is not a date in ISO format YYYY-MM-DD", BAD_INPUT)
        raise  # unreachable: fail() exits
    return dt.datetime.combine(day, dt.time(), ZoneInfo(get_settings().timezone))


@needs_database
def alerts(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only alerts raised from this day on, YYYY-MM-DD."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Run the monitors now and send the new alerts to REACH_NOTIFY_URLS "
            "(and REACH_NOTIFY_SECRET_BLOCK's).",
        ),
    ] = False,
) -> None:
    """List the alerts raised: when, what kind, about what, and whether they were sent."""
    from flows.notify import NotifyBlockMissing, notify_urls
    from reach.alerts import check_all, deliver, list_alerts
    from reach.db import session_scope

    start = _since(since) if since else None
    settings = get_settings()
    if check:
        with session_scope() as session:
            new = check_all(session, settings)
        if new:
            # Sent after the alerts are stored: a receiver that is slow holds no lock.
            try:
                urls = notify_urls()  # REACH_NOTIFY_URLS and the Secret block's
            except NotifyBlockMissing as exc:
                fail(str(exc), 2)
            with session_scope() as session:
                deliver(session, new, urls)
        err.print(f"{len(new)} new alert(s)", highlight=False)
    with session_scope() as session:
        rows = list_alerts(session, start)
    table = Table(
        "raised", "kind", "platform", "subject", "message", "sent / error", title="Alerts"
    )
    for alert in rows:
        if alert.sent_at:
            sent = alert.sent_at.strftime("%Y-%m-%d %H:%M UTC")
            if alert.send_error:
                sent += f" [yellow]({escape(alert.send_error)})[/]"
        else:
            sent = f"[red]{escape(alert.send_error or 'not sent')}[/]"
        table.add_row(
            alert.raised_at.strftime("%Y-%m-%d %H:%M UTC"),
            alert.kind,
            alert.platform or "—",
            escape(alert.subject or "—"),
            escape(alert.message),
            sent,
        )
    console.print(table)
