"""Broadcasts from the console: what they start, when (a set time survives a restart), who
asked, and which session each start opened, for their delivery progress.

Revision ID: 0012
Revises: 0010
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as table:
        # Rows from before were started at once: "started".
        table.add_column(sa.Column("status", sa.String(), server_default="started", nullable=False))
        table.add_column(sa.Column("target", _json(), nullable=True))
        table.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("created_by", sa.String(), nullable=True))
        table.add_column(sa.Column("error", sa.Text(), nullable=True))
    op.create_index("ix_broadcasts_status_send_at", "broadcasts", ["status", "send_at"])
    with op.batch_alter_table("flow_starts") as table:
        table.add_column(sa.Column("session_uuid", sa.String(), nullable=True))
    op.create_index("ix_messages_session_uuid", "messages", ["session_uuid"])


def downgrade() -> None:
    op.drop_index("ix_messages_session_uuid", table_name="messages")
    with op.batch_alter_table("flow_starts") as table:
        table.drop_column("session_uuid")
    op.drop_index("ix_broadcasts_status_send_at", table_name="broadcasts")
    with op.batch_alter_table("broadcasts") as table:
        for column in ("error", "created_by", "lease_until", "started_at", "send_at", "target"):
            table.drop_column(column)
        table.drop_column("status")
