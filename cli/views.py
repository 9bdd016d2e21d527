"""Roster views shared by `reach roster` and the demo: the core's rows, rendered."""

from pathlib import Path

from rich.table import Column, Table
from sqlmodel import Session, select

from models import Account
from reach.roster import ImportResult, import_roster, parse_roster, roster_rows
from reach.settings import get_settings


def import_roster_file(session: Session, path: Path) -> str:
    """Import a roster file in the session's transaction -> the one-line summary to print.

    Raises reach.roster.RosterError (all rows or none)."""
    rows = parse_roster(path, allow_private_hosts=get_settings().allow_private_hosts)
    result: ImportResult = import_roster(session, rows)
    return (
        f"{path}: ambassadors +{result.ambassadors_created} ~{result.ambassadors_updated}, "
        f"accounts +{result.accounts_created} ~{result.accounts_updated}, unchanged {result.unchanged}"
    )


def roster_table(session: Session) -> Table:
    """Ambassadors, countries and their accounts with each account's status."""
    rows = roster_rows(session)
    status = {(a.platform, a.handle): a.status for a in session.exec(select(Account)).all()}
    table = Table(
        "ambassador",
        "country",
        "cohort",
        "team",
        "platform",
        Column("account", overflow="fold"),
        "status",
        title=f"Roster: {len({r['slug'] for r in rows})} ambassadors, "
        f"{len({r['country'] for r in rows})} countries, "
        f"{sum(1 for r in rows if r['platform'])} accounts",
    )
    previous = None
    for row in rows:
        first = row["slug"] != previous
        previous = row["slug"]
        table.add_row(
            row["ambassador"] if first else "",
            row["country"] if first else "",
            row["cohort"] if first else "",
            row["team"] if first else "",
            row["platform"],
            row["account"],
            status.get((row["platform"], row["account"]), ""),
        )
    return table
