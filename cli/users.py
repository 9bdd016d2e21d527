"""`reach users`: the dashboard's users, their roles, passwords and API tokens."""

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import console, err, fail, needs_database

users_app = typer.Typer(help="Dashboard users, their roles and API tokens.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from one line of stdin instead of a prompt."
    ),
]
# Bad input (a UserError) exits 2, like a usage error: running it again will not help.
BAD_INPUT = 2


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


@users_app.command("add")
@needs_database
def users_add(
    email: Annotated[str, typer.Argument(help="E-mail address (stored lower-cased).")],
    role: Annotated[str, typer.Option("--role", help="viewer, editor or admin.")],
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool,
        typer.Option("--no-password", help="No password: the user signs in with API tokens only."),
    ] = False,
) -> None:
    """Add a user; asks for the password twice (hidden) unless --password-stdin or --no-password."""
    from reach.db import session_scope
    from reach.users import UserError, add_user, check_new_user

    if password_stdin and no_password:
        fail("--password-stdin and --no-password exclude each other", BAD_INPUT)
    try:
        # Refused before the password is typed, and the database is not held during the prompt.
        with session_scope() as session:
            check_new_user(session, email, role)
        password = None if no_password else _read_password(password_stdin)
        with session_scope() as session:
            user = add_user(session, email, role, password)
    except UserError as exc:
        fail(str(exc), BAD_INPUT)
    console.print(f"added {escape(user.email)} ({user.role})", highlight=False)


@users_app.command("list")
@needs_database
def users_list() -> None:
    """Print the users: e-mail, role, when added, how many API tokens are active."""
    from reach.db import session_scope
    from reach.users import active_token_counts, list_users

    with session_scope() as session:
        users = list_users(session)
        tokens = active_token_counts(session)
    table = Table("email", "role", "created", "tokens active", title="Users")
    for user in users:
        table.add_row(
            escape(user.email),
            user.role,
            user.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            str(tokens.get(user.id or 0, 0)),
        )
    console.print(table)


@users_app.command("remove")
@needs_database
def users_remove(email: Annotated[str, typer.Argument(help="E-mail address.")]) -> None:
    """Remove a user and its API tokens."""
    from reach.db import session_scope
    from reach.users import UserError, remove_user

    try:
        with session_scope() as session:
            remove_user(session, email)
    except UserError as exc:
        fail(str(exc), BAD_INPUT)
    console.print(f"removed {escape(email.strip().lower())} and its tokens", highlight=False)


@users_app.command("token")
@needs_database
def users_token(email: Annotated[str, typer.Argument(help="E-mail address.")]) -> None:
    """Make a new API token for a user and print it (alone on stdout, for scripts)."""
    from reach.db import session_scope
    from reach.users import UserError, new_token

    try:
        with session_scope() as session:
            token = new_token(session, email)
    except UserError as exc:
        fail(str(exc), BAD_INPUT)
    typer.echo(token)
    err.print(
        "this token is shown once: only its hash is stored (revoke it with `reach users revoke`)",
        highlight=False,
        soft_wrap=True,
    )


@users_app.command("revoke")
@needs_database
def users_revoke(
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix",
            help="Only the token whose 8 characters after `reach_` are these (or the whole token).",
        ),
    ] = None,
) -> None:
    """Revoke a user's API tokens (all of them, or one with --prefix) and print how many."""
    from reach.db import session_scope
    from reach.users import UserError, revoke_tokens

    try:
        with session_scope() as session:
            count = revoke_tokens(session, email, prefix)
    except UserError as exc:
        fail(str(exc), BAD_INPUT)
    console.print(f"{count} token(s) revoked", highlight=False)


@users_app.command("password")
@needs_database
def users_password(
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a user's password; asks for it twice (hidden) unless --password-stdin."""
    from reach.db import session_scope
    from reach.users import UserError, get_user, set_password

    try:
        with session_scope() as session:
            get_user(session, email)  # refused before the password is typed
        password = _read_password(password_stdin)
        with session_scope() as session:
            set_password(session, email, password)
    except UserError as exc:
        fail(str(exc), BAD_INPUT)
    console.print(f"password set for {escape(email.strip().lower())}", highlight=False)
