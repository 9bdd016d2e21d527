"""Dashboard users, their roles, passwords and API tokens.

Every function takes the caller's session and flushes; the caller commits (or rolls back, so a
refused change stores nothing). Passwords are hashed with argon2id; of a token only its SHA-256
is stored, so a copy of the database lets nobody in.
"""

import datetime as dt
import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from models import ApiToken, Role, User, key_of, utcnow

ROLES: tuple[str, ...] = tuple(role.value for role in Role)  # lowest first
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "reach_"
PREFIX_LENGTH = 8
_EMAIL_MAX = 320
USE_RECORDED_EVERY = dt.timedelta(minutes=1)

_hasher = PasswordHasher()


class UserError(ValueError):
    """A user change refused for its input (bad e-mail, unknown role, ...): a retry cannot help."""


def role_allows(role: str, needed: str) -> bool:
    """Whether `role` may do what `needed` may: admin > editor > viewer; an unknown role nothing."""
    if needed not in ROLES:
        raise UserError(f"unknown role {needed!r}: use {_roles_text()}")
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_new_user(session: Session, email: str, role: str) -> str:
    """The checks `add_user` makes before it stores, so a form or a prompt can refuse early.

    Returns the e-mail address as it would be stored.
    """
    address = _valid_email(email)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: use {_roles_text()}")
    if _find(session, address) is not None:
        raise UserError(f"user exists: {address}")
    return address


def add_user(session: Session, email: str, role: str, password: str | None) -> User:
    """Store a new user; without a password the user signs in with API tokens only."""
    address = check_new_user(session, email, role)
    user = User(
        email=address,
        role=role,
        password_hash=None if password is None else _hasher.hash(_valid_password(password)),
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, email: str) -> User:
    """The user with this e-mail address (any case)."""
    user = _find(session, _normalised(email))
    if user is None:
        raise UserError(f"no such user: {_normalised(email)}")
    return user


def set_password(session: Session, email: str, password: str) -> None:
    """Give a user a new password (the old one stops working)."""
    user = get_user(session, email)
    user.password_hash = _hasher.hash(_valid_password(password))
    user.updated_at = utcnow()
    session.add(user)
    session.flush()


def list_users(session: Session) -> list[User]:
    """Every user, by e-mail address."""
    return list(session.exec(select(User).order_by(col(User.email))).all())


def active_token_counts(session: Session) -> dict[int, int]:
    """How many tokens each user has that are not revoked, by user id (users with none left out)."""
    rows = session.exec(
        select(ApiToken.user_id, func.count())
        .where(col(ApiToken.revoked_at).is_(None))
        .group_by(col(ApiToken.user_id))
    ).all()
    return {user_id: count for user_id, count in rows}


def remove_user(session: Session, email: str) -> None:
    """Remove a user; the database removes its tokens with it (ON DELETE CASCADE)."""
    session.delete(get_user(session, email))
    session.flush()


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user whose e-mail and password these are, or None.

    The effort is the same whether or not the e-mail exists (a hash is verified either way), so
    the time taken does not tell which addresses have accounts.
    """
    user = _find(session, _normalised(email))
    stored = user.password_hash if user is not None else None
    try:
        _hasher.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or stored is None:
        return None  # matched the dummy hash: still nobody
    if _hasher.check_needs_rehash(stored):  # hashed with older parameters than today's
        user.password_hash = _hasher.hash(password)
        session.add(user)
        session.flush()
    return user


def new_token(session: Session, email: str) -> str:
    """A new API token for the user, returned once: only its SHA-256 is stored."""
    user = get_user(session, email)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(user_id=key_of(user), token_hash=_token_hash(token), prefix=_prefix_of(token))
    )
    session.flush()
    return token


def revoke_tokens(session: Session, email: str, prefix: str | None = None) -> int:
    """Revoke the user's tokens (only the one with this prefix, if given); returns how many."""
    user = get_user(session, email)
    query = select(ApiToken).where(
        ApiToken.user_id == key_of(user), col(ApiToken.revoked_at).is_(None)
    )
    if prefix is not None:
        wanted = _prefix_of(prefix.strip())
        if len(wanted) != PREFIX_LENGTH:
            raise UserError(
                f"token prefix {prefix!r}: give the {PREFIX_LENGTH} characters after "
                f"{TOKEN_PREFIX!r} (or the whole token)"
            )
        query = query.where(ApiToken.prefix == wanted)
    now = utcnow()
    tokens = session.exec(query).all()
    for token in tokens:
        token.revoked_at = now
        session.add(token)
    session.flush()
    return len(tokens)


def user_for_token(session: Session, token: str) -> User | None:
    """The user this API token belongs to, or None (unknown or revoked); records its use."""
    row = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(ApiToken.token_hash == _token_hash(token), col(ApiToken.revoked_at).is_(None))
    ).first()
    if row is None:
        return None
    stored, user = row
    now = utcnow()
    last = stored.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    # To the minute: a script calling the API many times a second does not write each time.
    if last is None or now - last > USE_RECORDED_EVERY:
        stored.last_used_at = now
        session.add(stored)
        session.flush()
    return user


def _normalised(email: str) -> str:
    return email.strip().lower()


def _valid_email(email: str) -> str:
    address = _normalised(email)
    local, _, domain = address.partition("@")
    labels = domain.split(".")
    if (
        address.count("@") != 1
        or not local
        or len(labels) < 2
        or not all(labels)
        or any(c.isspace() for c in address)
    ):
        raise UserError(f"not an e-mail address: {email!r}")
    if len(address) > _EMAIL_MAX:
        raise UserError(f"e-mail address too long: at most {_EMAIL_MAX} characters")
    return address


def _valid_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _roles_text() -> str:
    return ", ".join(ROLES[:-1]) + " or " + ROLES[-1]


def _find(session: Session, address: str) -> User | None:
    return session.exec(select(User).where(User.email == address)).first()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _prefix_of(token: str) -> str:
    # The part after "reach_": the first characters of the token are the same in every token.
    return token.removeprefix(TOKEN_PREFIX)[:PREFIX_LENGTH]


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Made with today's parameters, so verifying it costs what verifying a real hash costs.
    return _hasher.hash(secrets.token_urlsafe(16))
