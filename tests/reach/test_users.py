"""Users, roles, passwords and API tokens, on SQLite and PostgreSQL."""

import hashlib

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session, select

import reach.users
from models import ApiToken, User
from reach.users import (
    ROLES,
    UserError,
    add_user,
    authenticate,
    get_user,
    list_users,
    new_token,
    remove_user,
    revoke_tokens,
    role_allows,
    set_password,
    user_for_token,
)

PASSWORD = "correct horse battery"


def test_added_user_is_stored_lower_cased_with_a_hash_not_the_password(session: Session) -> None:
    user = add_user(session, "  Amelie@Example.ORG ", "editor", PASSWORD)
    session.commit()
    session.expire_all()
    stored = session.exec(select(User)).one()
    assert (stored.id, stored.email, stored.role) == (user.id, "amelie@example.org", "editor")
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert stored.created_at.tzinfo is not None


def test_user_without_password_can_exist_but_cannot_sign_in_with_one(session: Session) -> None:
    add_user(session, "bot@example.org", "viewer", None)
    assert get_user(session, "bot@example.org").password_hash is None
    assert authenticate(session, "bot@example.org", "") is None
    assert authenticate(session, "bot@example.org", PASSWORD) is None


def test_same_email_in_another_case_is_refused_as_existing(session: Session) -> None:
    add_user(session, "amelie@example.org", "viewer", PASSWORD)
    with pytest.raises(UserError, match=r"^user exists: amelie@example\.org$"):
        add_user(session, "AMELIE@example.org", "admin", PASSWORD)
    assert len(list_users(session)) == 1


@pytest.mark.parametrize(
    "email",
    ["amelie", "amelie@example", "a@b@example.org", "@example.org", "ame lie@example.org",
     "amelie@.org", "amelie@example.", "amelie@example..org", ""],
)  # fmt: skip
def test_malformed_email_is_refused_with_its_value(session: Session, email: str) -> None:
    with pytest.raises(UserError, match=r"^not an e-mail address: "):
        add_user(session, email, "viewer", PASSWORD)
    assert list_users(session) == []


def test_over_long_email_is_refused(session: Session) -> None:
    with pytest.raises(UserError, match="at most 320 characters"):
        add_user(session, "a" * 310 + "@example.org", "viewer", PASSWORD)


def test_unknown_role_is_refused_naming_the_roles(session: Session) -> None:
    with pytest.raises(UserError, match=r"^unknown role 'boss': use viewer, editor or admin$"):
        add_user(session, "amelie@example.org", "boss", PASSWORD)
    assert list_users(session) == []


def test_password_under_ten_characters_is_refused(session: Session) -> None:
    with pytest.raises(UserError, match=r"^password too short: at least 10 characters$"):
        add_user(session, "amelie@example.org", "viewer", "123456789")
    assert list_users(session) == []
    add_user(session, "amelie@example.org", "viewer", "1234567890")
    with pytest.raises(UserError, match="password too short"):
        set_password(session, "amelie@example.org", "short")


def test_roles_rank_admin_over_editor_over_viewer() -> None:
    assert ROLES == ("viewer", "editor", "admin")
    allowed = {(r, n) for r in ROLES for n in ROLES if role_allows(r, n)}
    assert allowed == {
        ("viewer", "viewer"),
        ("editor", "viewer"),
        ("editor", "editor"),
        ("admin", "viewer"),
        ("admin", "editor"),
        ("admin", "admin"),
    }
    assert not role_allows("root", "viewer")  # a role nobody defined grants nothing
    with pytest.raises(UserError):
        role_allows("admin", "superuser")


def test_right_password_authenticates_in_any_case_of_the_email(session: Session) -> None:
    user = add_user(session, "amelie@example.org", "viewer", PASSWORD)
    assert authenticate(session, "Amelie@Example.org", PASSWORD) == user


def test_wrong_password_and_unknown_email_do_not_authenticate(session: Session) -> None:
    add_user(session, "amelie@example.org", "viewer", PASSWORD)
    assert authenticate(session, "amelie@example.org", PASSWORD + "!") is None
    assert authenticate(session, "nobody@example.org", PASSWORD) is None


def test_unknown_email_costs_one_hash_verification_like_a_known_one(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timing must not tell whether an address has an account."""
    add_user(session, "amelie@example.org", "viewer", PASSWORD)
    verified: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            verified.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(reach.users, "_hasher", Counting())
    for email in ("amelie@example.org", "nobody@example.org"):
        authenticate(session, email, "wrong password")
    assert len(verified) == 2
    assert all(h.startswith("$argon2id$") for h in verified)


def test_hash_made_with_older_parameters_is_renewed_on_sign_in(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reach.users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    add_user(session, "amelie@example.org", "viewer", PASSWORD)
    old = get_user(session, "amelie@example.org").password_hash
    monkeypatch.setattr(reach.users, "_hasher", PasswordHasher())
    assert authenticate(session, "amelie@example.org", PASSWORD) is not None
    new = get_user(session, "amelie@example.org").password_hash
    assert new != old
    assert new is not None
    assert not PasswordHasher().check_needs_rehash(new)
    assert authenticate(session, "amelie@example.org", PASSWORD) is not None


def test_new_password_replaces_the_old_one(session: Session) -> None:
    add_user(session, "amelie@example.org", "viewer", PASSWORD)
    set_password(session, "amelie@example.org", "a new long password")
    assert authenticate(session, "amelie@example.org", PASSWORD) is None
    assert authenticate(session, "amelie@example.org", "a new long password") is not None


def test_changes_to_a_missing_user_say_so(session: Session) -> None:
    for change in (
        lambda: set_password(session, "nobody@example.org", PASSWORD),
        lambda: remove_user(session, "nobody@example.org"),
        lambda: new_token(session, "nobody@example.org"),
        lambda: revoke_tokens(session, "nobody@example.org"),
    ):
        with pytest.raises(UserError, match=r"^no such user: nobody@example\.org$"):
            change()


def test_new_token_finds_its_user_and_records_its_use(session: Session) -> None:
    user = add_user(session, "amelie@example.org", "editor", None)
    token = new_token(session, "amelie@example.org")
    session.commit()
    assert token.startswith("reach_")
    assert len(token) > 40
    assert user_for_token(session, token) == user
    stored = session.exec(select(ApiToken)).one()
    assert stored.last_used_at is not None
    assert user_for_token(session, token + "x") is None
    assert user_for_token(session, "") is None


def test_only_the_tokens_hash_and_prefix_are_stored(session: Session) -> None:
    add_user(session, "amelie@example.org", "viewer", None)
    token = new_token(session, "amelie@example.org")
    session.commit()
    stored = session.exec(select(ApiToken)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.prefix == token[len("reach_") :][:8]
    assert token not in {stored.token_hash, stored.prefix}


def test_revoked_token_no_longer_works_and_others_do(session: Session) -> None:
    add_user(session, "amelie@example.org", "viewer", None)
    first = new_token(session, "amelie@example.org")
    second = new_token(session, "amelie@example.org")
    assert revoke_tokens(session, "amelie@example.org", prefix=first[6:14]) == 1
    assert user_for_token(session, first) is None
    assert user_for_token(session, second) is not None
    assert revoke_tokens(session, "amelie@example.org", prefix=first) == 0  # already revoked
    assert revoke_tokens(session, "amelie@example.org") == 1
    assert user_for_token(session, second) is None
    assert len(session.exec(select(ApiToken)).all()) == 2  # revoked tokens stay, for the record


def test_prefix_that_cannot_name_a_token_is_refused(session: Session) -> None:
    add_user(session, "amelie@example.org", "viewer", None)
    new_token(session, "amelie@example.org")
    with pytest.raises(UserError, match="give the 8 characters"):
        revoke_tokens(session, "amelie@example.org", prefix="reach_")


def test_removed_users_tokens_are_gone_and_no_longer_work(session: Session) -> None:
    add_user(session, "amelie@example.org", "viewer", PASSWORD)
    add_user(session, "wei@example.org", "viewer", PASSWORD)
    token = new_token(session, "amelie@example.org")
    other = new_token(session, "wei@example.org")
    session.commit()
    remove_user(session, "Amelie@example.org")
    session.commit()
    session.expire_all()
    assert user_for_token(session, token) is None
    assert user_for_token(session, other) is not None
    remaining = session.exec(select(ApiToken)).all()
    assert [t.user_id for t in remaining] == [get_user(session, "wei@example.org").id]
    assert [u.email for u in list_users(session)] == ["wei@example.org"]
