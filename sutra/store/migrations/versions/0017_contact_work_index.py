"""An index on a contact's messages by direction and status.

Every claim and every release asks whether a contact has a message to handle or to send. With
only ``(direction, status)`` and ``(contact_id, created_at)`` to choose from, SQLite's planner
took the first and walked every outbound message ever sent, once per contact per unit of work:
a burst of 10,000 contacts slowed to a crawl as the sent messages piled up.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_contact_id_direction_status",
        "messages",
        ["contact_id", "direction", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_messages_contact_id_direction_status", table_name="messages")
