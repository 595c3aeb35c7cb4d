"""The operator console: contact imports with their progress, and the indexes its pages read by.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    now = sa.func.now()
    op.create_table(
        "contact_imports",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(), nullable=False),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("file_name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), server_default="running", nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("processed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refused", sa.Integer(), server_default="0", nullable=False),
        sa.Column("errors", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contact_imports"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_contact_imports_organization_id_organizations",
        ),
        sa.UniqueConstraint("uuid", name="uq_contact_imports_uuid"),
    )
    op.create_index(
        "ix_contacts_organization_id_last_message_at",
        "contacts",
        ["organization_id", "last_message_at"],
    )
    op.create_index("ix_runs_flow_uuid_created_at", "runs", ["flow_uuid", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_flow_uuid_created_at", table_name="runs")
    op.drop_index("ix_contacts_organization_id_last_message_at", table_name="contacts")
    op.drop_table("contact_imports")
