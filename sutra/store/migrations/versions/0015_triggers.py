"""Triggers: the organisation's "no flow matched" (catch-all) flow, and scheduled triggers
(a flow started for a group daily or weekly, each occurrence a broadcast).

Revision ID: 0015
Revises: 0013
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _stamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("catch_all_flow_uuid", sa.String(), nullable=True))
    op.create_table(
        "schedules",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("flow_uuid", sa.String(), nullable=False),
        sa.Column("target", _json(), nullable=False),
        sa.Column("frequency", sa.String(), nullable=False),
        sa.Column("days", _json(), nullable=False),
        sa.Column("at_time", sa.String(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_broadcast_id", _id_type(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_schedules_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["last_broadcast_id"],
            ["broadcasts.id"],
            name="fk_schedules_last_broadcast_id_broadcasts",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_schedules_next_run_at", "schedules", ["next_run_at"])
    op.create_index("ix_schedules_organization_id", "schedules", ["organization_id"])


def downgrade() -> None:
    op.drop_table("schedules")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("catch_all_flow_uuid")
