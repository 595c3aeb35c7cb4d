"""Contacts' extra URNs (``add_contact_urn``) and tickets (``open_ticket``).

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contact_urns",
        sa.Column("id", _id(), primary_key=True),
        sa.Column(
            "organization_id",
            _id(),
            sa.ForeignKey("organizations.id", name="fk_contact_urns_organization_id_organizations"),
            nullable=False,
        ),
        sa.Column(
            "contact_id",
            _id(),
            sa.ForeignKey(
                "contacts.id", ondelete="CASCADE", name="fk_contact_urns_contact_id_contacts"
            ),
            nullable=False,
        ),
        sa.Column("scheme", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_urns"),
        sa.UniqueConstraint(
            "organization_id", "scheme", "path", name="uq_contact_urns_organization_id_scheme_path"
        ),
    )
    op.create_index("ix_contact_urns_contact_id", "contact_urns", ["contact_id"])
    op.create_table(
        "tickets",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("uuid", sa.String(), nullable=False),
        sa.Column(
            "organization_id",
            _id(),
            sa.ForeignKey("organizations.id", name="fk_tickets_organization_id_organizations"),
            nullable=False,
        ),
        sa.Column(
            "contact_id",
            _id(),
            sa.ForeignKey("contacts.id", ondelete="CASCADE", name="fk_tickets_contact_id_contacts"),
            nullable=False,
        ),
        sa.Column("topic", sa.String(), server_default="General", nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(), nullable=True),
        sa.Column("status", sa.String(), server_default="open", nullable=False),
        sa.Column("flow_uuid", sa.String(), nullable=True),
        sa.Column(
            "opened_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("uuid", name="uq_tickets_uuid"),
    )
    op.create_index(
        "ix_tickets_organization_id_status_opened_at",
        "tickets",
        ["organization_id", "status", "opened_at"],
    )
    op.create_index("ix_tickets_contact_id_status", "tickets", ["contact_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_tickets_contact_id_status", table_name="tickets")
    op.drop_index("ix_tickets_organization_id_status_opened_at", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_contact_urns_contact_id", table_name="contact_urns")
    op.drop_table("contact_urns")
