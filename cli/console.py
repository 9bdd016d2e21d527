"""Where the command line and the demo write: one console for results, one for errors."""

import datetime as dt
import functools
import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True)


def error_line(message: str) -> None:
    """Print an error to stderr as one line however long; the message may echo user input, so
    it is never read as markup."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> None:
    """Print an error to stderr and exit non-zero."""
    error_line(message)
    raise typer.Exit(code)


def write_traceback(exc: BaseException) -> Path:
    """Write an unexpected error's traceback to a file of its own in the temporary directory
    (never into the project's var/ folder: a read-only command creates nothing there)."""
    folder = Path(tempfile.gettempdir()) / "reach-errors"
    folder.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}-{os.getpid()}.txt"
    path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path


Command = TypeVar("Command", bound=Callable[..., Any])


def needs_database(command: Command) -> Command:
    """Run the command only on a database that exists and is migrated: else one line saying
    which database and what fixes it, exit 2, and nothing created."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        from reach.db import schema_problem
        from reach.settings import get_settings

        try:
            get_settings()
        except ValidationError as exc:
            first = exc.errors()[0]
            name = "REACH_" + str(first["loc"][0]).upper() if first["loc"] else "a setting"
            fail(f"{name}: {first['msg'].removeprefix('Value error, ')}", 2)
        if problem := schema_problem():
            fail(problem, 2)
        return command(*args, **kwargs)

    return checked  # type: ignore[return-value]
