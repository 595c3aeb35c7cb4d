"""Assistants: versions, documents, chunks, and a full-text index on the chunks.

SQLite: an FTS5 table over ``chunks.text`` (external content, so the text is stored once) kept
in step by triggers. PostgreSQL: a GIN index on the chunks' English text search vector.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# porter: "vaccines" finds "vaccine"; unicode61 with diacritics folded splits any script.
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
]
POSTGRES_FTS = [
    "CREATE INDEX ix_chunks_text_search ON chunks USING gin (to_tsvector('english', text))",
]


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _now(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"], ["organizations.id"], name=f"fk_{table}_organization_id_organizations"
    )


def upgrade() -> None:
    op.create_table(
        "assistants",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("live_version_id", _id_type(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_assistants"),
        _org_fk("assistants"),
        sa.UniqueConstraint("organization_id", "key", name="uq_assistants_organization_id_key"),
    )
    op.create_table(
        "assistant_versions",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("assistant_id", _id_type(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("dont_know", sa.Text(), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_assistant_versions"),
        sa.ForeignKeyConstraint(
            ["assistant_id"],
            ["assistants.id"],
            name="fk_assistant_versions_assistant_id_assistants",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "assistant_id", "number", name="uq_assistant_versions_assistant_id_number"
        ),
    )
    with op.batch_alter_table("assistants") as batch:
        batch.create_foreign_key(
            "fk_assistants_live_version_id_assistant_versions",
            "assistant_versions",
            ["live_version_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "documents",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("assistant_id", _id_type(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("media_type", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("embedding_error", sa.Text(), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        _org_fk("documents"),
        sa.ForeignKeyConstraint(
            ["assistant_id"],
            ["assistants.id"],
            name="fk_documents_assistant_id_assistants",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_documents_assistant_id", "documents", ["assistant_id"])
    op.create_table(
        "chunks",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("document_id", _id_type(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("section", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_model", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chunks"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name="fk_chunks_document_id_documents",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_chunks_document_id", "chunks", ["document_id"])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRES_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("chunks_fts_update", "chunks_fts_delete", "chunks_fts_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS chunks_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_chunks_text_search")
    op.drop_index("ix_chunks_document_id", table_name="chunks")
    op.drop_table("chunks")
    op.drop_index("ix_documents_assistant_id", table_name="documents")
    op.drop_table("documents")
    with op.batch_alter_table("assistants") as batch:
        batch.drop_constraint(
            "fk_assistants_live_version_id_assistant_versions", type_="foreignkey"
        )
    op.drop_table("assistant_versions")
    op.drop_table("assistants")
