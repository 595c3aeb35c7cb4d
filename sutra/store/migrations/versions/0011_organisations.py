"""Organisations: a switch to disable one, staff memberships with a role, API tokens per
organisation, the channel numbers that route webhooks, a web session's current organisation.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=f"fk_{table}_organization_id_organizations",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(
            sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("organization_id", _id_type(), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("is_platform_admin", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "memberships",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("user_id", _id_type(), nullable=False),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_memberships_user_id_users", ondelete="CASCADE"
        ),
        _org_fk("memberships"),
        sa.UniqueConstraint(
            "user_id", "organization_id", name="uq_memberships_user_id_organization_id"
        ),
    )
    op.create_index("ix_memberships_organization_id", "memberships", ["organization_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(), nullable=False),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("last4", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        _created_at(),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        _org_fk("api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.UniqueConstraint("uuid", name="uq_api_tokens_uuid"),
    )
    op.create_index("ix_api_tokens_organization_id", "api_tokens", ["organization_id"])
    op.create_table(
        "channel_numbers",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_channel_numbers"),
        _org_fk("channel_numbers"),
        sa.UniqueConstraint("kind", "address", name="uq_channel_numbers_kind_address"),
    )
    op.create_index("ix_channel_numbers_organization_id", "channel_numbers", ["organization_id"])
    # Every existing account ran its (only) organisation: it stays its administrator.
    op.execute(
        "INSERT INTO memberships (user_id, organization_id, role) "
        "SELECT id, organization_id, 'admin' FROM users"
    )


def downgrade() -> None:
    op.drop_table("channel_numbers")
    op.drop_table("api_tokens")
    op.drop_table("memberships")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_platform_admin")
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("organization_id")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("is_active")
