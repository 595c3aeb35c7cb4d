"""The tables of assistants: the assistant, its versions, its documents and their chunks.

An assistant's *key* (``asst_…``) is what flows name in ``filesearch-gpt``'s ``assistant_id``;
it can be given at creation so that a flow exported from Glific runs unchanged. Settings
(instructions, model, temperature, the "don't know" text) are versioned: an update adds a
version, and one version is live. The knowledge base (documents and their chunks) belongs to
the assistant and is shared by its versions.

The full-text indexes live beside these tables and outside the models (an FTS5 virtual table
on SQLite, an expression GIN index on PostgreSQL, both made by migration 0009):
:func:`include_name` keeps them out of the schema comparison.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from sutra.store.models import ID_TYPE, Base, CleanString, CleanText, UTCDateTime, utcnow

# Made by the migration in each database's own dialect, unknown to the models.
FULL_TEXT_NAMES = frozenset(
    {
        "chunks_fts",
        "chunks_fts_config",
        "chunks_fts_content",
        "chunks_fts_data",
        "chunks_fts_docsize",
        "chunks_fts_idx",
        "ix_chunks_text_search",
    }
)


def _created_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: everything but the full-text index objects."""
    return name not in FULL_TEXT_NAMES


class Assistant(Base):
    __tablename__ = "assistants"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("organizations.id"))
    key: Mapped[str] = mapped_column(CleanString())
    name: Mapped[str] = mapped_column(CleanString())
    # Versions and assistants reference each other; use_alter breaks the cycle at creation.
    live_version_id: Mapped[int | None] = mapped_column(
        ID_TYPE,
        ForeignKey("assistant_versions.id", use_alter=True, ondelete="SET NULL"),
        nullable=True,
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class AssistantVersion(Base):
    __tablename__ = "assistant_versions"
    __table_args__ = (UniqueConstraint("assistant_id", "number"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    assistant_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("assistants.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer())
    instructions: Mapped[str] = mapped_column(CleanText(), default="")
    model: Mapped[str] = mapped_column(CleanString())
    temperature: Mapped[float] = mapped_column(Float(), default=0.0)
    # What the assistant answers when no passage of its documents is relevant.
    dont_know: Mapped[str] = mapped_column(CleanText())
    created_at: Mapped[datetime] = _created_at()


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_assistant_id", "assistant_id"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("organizations.id"))
    assistant_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("assistants.id", ondelete="CASCADE")
    )
    # The file name as uploaded: answers cite it.
    name: Mapped[str] = mapped_column(CleanString())
    media_type: Mapped[str] = mapped_column(CleanString())
    size: Mapped[int] = mapped_column(Integer())
    sha256: Mapped[str] = mapped_column(CleanString())
    pages: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    # Why the chunks have no vectors (no embedding service, or it failed); None when they do.
    embedding_error: Mapped[str | None] = mapped_column(CleanText(), nullable=True)
    created_at: Mapped[datetime] = _created_at()


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_document_id", "document_id"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("documents.id", ondelete="CASCADE")
    )
    # Its place in the document, from 0.
    position: Mapped[int] = mapped_column(Integer())
    text: Mapped[str] = mapped_column(CleanText())
    # The page it starts on (PDF), else None; section: the headings above it, or a sheet's row.
    page: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    section: Mapped[str] = mapped_column(CleanText(), default="")
    # float32, little-endian, unit length; only comparable with vectors of the same model.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)
    embedding_model: Mapped[str | None] = mapped_column(CleanString(), nullable=True)
