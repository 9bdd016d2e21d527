"""Where the command line and the demo write: one console for results, one for errors."""

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    """Print an error to stderr and exit non-zero."""
    # One line however long; the message may echo user input, so it is never read as markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
