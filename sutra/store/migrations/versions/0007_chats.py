"""The operator console: taking a chat over, what staff have read, alerts seen.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable columns only: adding them rewrites no rows on either database.
    op.add_column("contacts", sa.Column("taken_over_at", sa.DateTime(timezone=True)))
    op.add_column("contacts", sa.Column("taken_over_by", sa.String()))
    op.add_column("contacts", sa.Column("chat_read_id", _id_type()))
    op.add_column("users", sa.Column("alerts_seen_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # Batch mode: SQLite drops columns by rebuilding the table.
    with op.batch_alter_table("users") as batch:
        batch.drop_column("alerts_seen_at")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("chat_read_id")
        batch.drop_column("taken_over_by")
        batch.drop_column("taken_over_at")
