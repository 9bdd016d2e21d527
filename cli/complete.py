"""Shell completion of option values (`reach --install-completion` installs it)."""

from reach.report.render import TERMINAL_COLUMNS


def ambassador_slugs(incomplete: str) -> list[str]:
    """Slugs of the roster that start with what was typed; none when there is no database yet
    (completing never creates one)."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session, col, select

    from models import Ambassador
    from reach.db import get_engine, schema_problem

    try:
        if schema_problem():
            return []
        with Session(get_engine()) as session:
            query = select(Ambassador.slug).where(col(Ambassador.slug).startswith(incomplete))
            return sorted(session.exec(query.order_by(col(Ambassador.slug))).all())
    # A completion that fails (bad settings, database away) shows nothing, not a traceback.
    except (SQLAlchemyError, ValueError, OSError):
        return []


def report_columns(incomplete: str) -> list[str]:
    """The terminal table's columns; after a comma, the next one (`posts,eng` -> `posts,engagements`)."""
    done, _, last = incomplete.rpartition(",")
    chosen = set(done.split(",")) if done else set()
    prefix = f"{done}," if done else ""
    return [f"{prefix}{c}" for c in TERMINAL_COLUMNS if c.startswith(last) and c not in chosen]
