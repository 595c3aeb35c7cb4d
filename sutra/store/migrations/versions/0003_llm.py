"""LLM usage (tokens, latency, cost per call) and conversation memory.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _created_at() -> sa.Column[Any]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"], ["organizations.id"], name=f"fk_{table}_organization_id_organizations"
    )


def _contact_fk(table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["contact_id"],
        ["contacts.id"],
        name=f"fk_{table}_contact_id_contacts",
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "llm_usage",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("contact_id", _id_type(), nullable=True),
        sa.Column("flow_uuid", sa.String(), nullable=True),
        sa.Column("function", sa.String(), nullable=True),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_llm_usage"),
        _org_fk("llm_usage"),
        _contact_fk("llm_usage", "SET NULL"),
    )
    op.create_index(
        "ix_llm_usage_organization_id_created_at", "llm_usage", ["organization_id", "created_at"]
    )
    op.create_index("ix_llm_usage_contact_id_created_at", "llm_usage", ["contact_id", "created_at"])

    op.create_table(
        "llm_turns",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("contact_id", _id_type(), nullable=True),
        sa.Column("thread_id", sa.String(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_llm_turns"),
        _org_fk("llm_turns"),
        _contact_fk("llm_turns", "CASCADE"),
    )
    op.create_index(
        "ix_llm_turns_organization_id_thread_id", "llm_turns", ["organization_id", "thread_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_llm_turns_organization_id_thread_id", table_name="llm_turns")
    op.drop_table("llm_turns")
    op.drop_index("ix_llm_usage_contact_id_created_at", table_name="llm_usage")
    op.drop_index("ix_llm_usage_organization_id_created_at", table_name="llm_usage")
    op.drop_table("llm_usage")
