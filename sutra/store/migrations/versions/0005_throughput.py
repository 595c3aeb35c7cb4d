"""Durable flow starts and broadcasts; an index for renewing a worker's leases at once.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("flow_uuid", sa.String(), nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_broadcasts"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_broadcasts_organization_id_organizations",
        ),
    )
    op.create_table(
        "flow_starts",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("contact_id", _id_type(), nullable=False),
        sa.Column("flow_uuid", sa.String(), nullable=False),
        sa.Column("broadcast_id", _id_type(), nullable=True),
        sa.Column("status", sa.String(), server_default="pending", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_flow_starts"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_flow_starts_organization_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_flow_starts_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name="fk_flow_starts_broadcast_id_broadcasts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_flow_starts_contact_id_status", "flow_starts", ["contact_id", "status"])
    op.create_index(
        "ix_flow_starts_broadcast_id_contact_id", "flow_starts", ["broadcast_id", "contact_id"]
    )
    op.create_index("ix_contacts_busy_owner", "contacts", ["busy_owner"])


def downgrade() -> None:
    op.drop_index("ix_contacts_busy_owner", table_name="contacts")
    op.drop_table("flow_starts")
    op.drop_table("broadcasts")
