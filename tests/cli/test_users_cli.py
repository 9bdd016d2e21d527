"""`reach users`: add, list, token, revoke, password and remove, through the command line."""

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app
from models import ApiToken, User
from reach.users import authenticate, user_for_token

runner = CliRunner()
PASSWORD = "correct horse battery"


def reach(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin, catch_exceptions=False)


def works(session: Session, token: str) -> bool:
    """Whether the token signs in; commits, so the command line does not wait on our lock."""
    user = user_for_token(session, token)
    session.commit()
    return user is not None


def users(session: Session) -> list[User]:
    session.expire_all()
    return list(session.exec(select(User)).all())


def test_add_with_password_on_stdin_then_sign_in(session: Session) -> None:
    result = reach(
        "users", "add", "Amelie@Example.org", "--role", "editor", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "added amelie@example.org (editor)" in result.stdout
    assert [(u.email, u.role) for u in users(session)] == [("amelie@example.org", "editor")]
    assert authenticate(session, "amelie@example.org", PASSWORD) is not None


def test_add_asks_for_the_password_twice_without_echoing_it(session: Session) -> None:
    result = reach(
        "users", "add", "amelie@example.org", "--role", "viewer", stdin=f"{PASSWORD}\n" * 2
    )
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.output
    assert "Password" in result.stderr and "confirmation" in result.stderr  # asked twice
    assert authenticate(session, "amelie@example.org", PASSWORD) is not None


def test_list_shows_each_user_with_role_and_active_tokens(session: Session) -> None:
    reach(
        "users", "add", "amelie@example.org", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    reach("users", "add", "wei@example.org", "--role", "viewer", "--no-password")
    reach("users", "token", "wei@example.org")
    reach("users", "token", "wei@example.org")
    result = reach("users", "list")
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "@example.org" in line]
    assert len(rows) == 2
    assert "amelie@example.org" in rows[0] and "admin" in rows[0] and rows[0].split()[-2] == "0"
    assert "wei@example.org" in rows[1] and "viewer" in rows[1] and rows[1].split()[-2] == "2"


def test_token_is_printed_alone_on_stdout_and_works(session: Session) -> None:
    reach("users", "add", "wei@example.org", "--role", "viewer", "--no-password")
    result = reach("users", "token", "wei@example.org")
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert token.startswith("reach_")
    assert "shown once" in result.stderr
    user = user_for_token(session, token)
    session.commit()
    assert user is not None
    assert user.email == "wei@example.org"
    assert session.exec(select(ApiToken)).one().token_hash != token


def test_revoke_says_how_many_and_the_token_stops_working(session: Session) -> None:
    reach("users", "add", "wei@example.org", "--role", "viewer", "--no-password")
    first = reach("users", "token", "wei@example.org").stdout.strip()
    second = reach("users", "token", "wei@example.org").stdout.strip()
    result = reach("users", "revoke", "wei@example.org", "--prefix", first[6:14])
    assert result.exit_code == 0
    assert "1 token(s) revoked" in result.stdout
    assert not works(session, first)
    assert works(session, second)
    assert "1 token(s) revoked" in reach("users", "revoke", "wei@example.org").stdout
    assert not works(session, second)


def test_remove_takes_the_users_tokens_with_it(session: Session) -> None:
    reach("users", "add", "wei@example.org", "--role", "viewer", "--no-password")
    token = reach("users", "token", "wei@example.org").stdout.strip()
    result = reach("users", "remove", "WEI@example.org")
    assert result.exit_code == 0
    assert users(session) == []
    assert session.exec(select(ApiToken)).all() == []
    assert not works(session, token)


def test_password_command_sets_a_new_password(session: Session) -> None:
    reach("users", "add", "wei@example.org", "--role", "viewer", "--no-password")
    result = reach(
        "users", "password", "wei@example.org", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert result.exit_code == 0
    assert authenticate(session, "wei@example.org", PASSWORD) is not None


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "amelie@example.org", "--role", "boss", "--password-stdin"], PASSWORD,
         "error: unknown role 'boss': use viewer, editor or admin"),
        (["add", "amelie@example", "--role", "viewer", "--password-stdin"], PASSWORD,
         "error: not an e-mail address: 'amelie@example'"),
        (["add", "amelie@example.org", "--role", "viewer", "--password-stdin"], "short\n",
         "error: password too short: at least 10 characters"),
        (["token", "nobody@example.org"], None, "error: no such user: nobody@example.org"),
        (["remove", "nobody@example.org"], None, "error: no such user: nobody@example.org"),
        (["password", "nobody@example.org", "--password-stdin"], PASSWORD,
         "error: no such user: nobody@example.org"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line_and_stores_nothing(
    session: Session, args: list[str], stdin: str | None, message: str
) -> None:
    result = reach("users", *args, stdin=stdin)
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
    assert result.stdout == ""
    assert users(session) == []


def test_bad_role_is_refused_before_the_password_is_asked(session: Session) -> None:
    result = reach("users", "add", "amelie@example.org", "--role", "boss")
    assert result.exit_code == 2
    assert "Password" not in result.output
    assert result.stderr == "error: unknown role 'boss': use viewer, editor or admin\n"


def test_existing_user_is_refused_and_kept_as_it_was(session: Session) -> None:
    reach(
        "users", "add", "amelie@example.org", "--role", "viewer", "--password-stdin", stdin=PASSWORD
    )
    result = reach(
        "users", "add", "AMELIE@example.org", "--role", "admin", "--password-stdin",
        stdin="another long password",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == "error: user exists: amelie@example.org\n"
    assert [u.role for u in users(session)] == ["viewer"]
    assert authenticate(session, "amelie@example.org", PASSWORD) is not None
