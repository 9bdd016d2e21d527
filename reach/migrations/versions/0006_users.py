"""users: the dashboard's users, their roles and API tokens

- user: one row per person, e-mail stored lower-cased and unique, an argon2 password hash (NULL
  for a user who signs in with API tokens only) and a role (viewer, editor or admin);
- apitoken: the SHA-256 of each token (never the token) with a short prefix to tell a user's
  tokens apart; removing a user removes its tokens (ON DELETE CASCADE), revoking one keeps it.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_user_email", "user", ["email"], unique=True)
    op.create_table(
        "apitoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_apitoken_user_id", "apitoken", ["user_id"])
    op.create_index("ix_apitoken_token_hash", "apitoken", ["token_hash"], unique=True)


def downgrade() -> None:
    op.drop_table("apitoken")  # drops its indexes with it
    op.drop_index("ix_user_email", table_name="user")
    op.drop_table("user")
