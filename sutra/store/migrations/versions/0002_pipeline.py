"""The inbound pipeline's durable state: reply channel, contact leases, outbound retries.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("channel", sa.String(), nullable=True))
        batch.add_column(sa.Column("busy_owner", sa.String(), nullable=True))
        batch.add_column(sa.Column("busy_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    # The sweeper looks for inbound messages no flow has seen yet, across all contacts.
    op.create_index("ix_messages_direction_status", "messages", ["direction", "status"])


def downgrade() -> None:
    op.drop_index("ix_messages_direction_status", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("busy_until")
        batch.drop_column("busy_owner")
        batch.drop_column("channel")
