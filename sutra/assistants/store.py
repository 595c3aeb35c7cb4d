"""An organisation's assistants, their versions, documents and passages, as stored.

Every read and write is scoped to one organisation: another organisation's key finds nothing.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.assistants import models as am
from sutra.orgs import DEFAULT_ORG
from sutra.store import models as m

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_DONT_KNOW = "Sorry, I don't know: my documents do not cover that."
_KEY = re.compile(r"[A-Za-z0-9_-]{3,64}")
_ALPHABET = string.ascii_letters + string.digits


class AssistantError(Exception):
    """A request that cannot be done; ``status`` is the HTTP status the API answers with."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def new_key() -> str:
    """A key like OpenAI's assistant ids (``asst_`` and 24 letters or digits)."""
    return "asst_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


@dataclass(frozen=True)
class VersionView:
    number: int
    instructions: str
    model: str
    temperature: float
    dont_know: str
    live: bool
    created_at: datetime

    def json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "instructions": self.instructions,
            "model": self.model,
            "temperature": self.temperature,
            "dont_know": self.dont_know,
            "live": self.live,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class AssistantView:
    key: str
    name: str
    live: VersionView | None
    versions: int
    documents: int
    created_at: datetime

    def json(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "name": self.name,
            "live_version": self.live.json() if self.live else None,
            "versions": self.versions,
            "documents": self.documents,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class DocumentView:
    id: int
    name: str
    media_type: str
    size: int
    pages: int | None
    chunks: int
    vectors: bool
    embedding_error: str | None
    created_at: datetime

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "media_type": self.media_type,
            "size": self.size,
            "pages": self.pages,
            "chunks": self.chunks,
            "vectors": self.vectors,
            "embedding_error": self.embedding_error,
            "created_at": self.created_at.isoformat(),
        }


def check_settings(*, model: str | None, temperature: float | None, dont_know: str | None) -> None:
    if model is not None and not model.strip():
        raise AssistantError("model is empty")
    if temperature is not None and not 0 <= temperature <= 2:
        raise AssistantError("temperature should be between 0 and 2")
    if dont_know is not None and not dont_know.strip():
        raise AssistantError("dont_know is empty: the assistant needs something to say")


class Assistants:
    def __init__(self, db: async_sessionmaker[AsyncSession], organization_id: int) -> None:
        self.db = db
        self.org = organization_id

    # --- assistants and versions ------------------------------------------------------------

    async def create(
        self,
        name: str,
        *,
        instructions: str = "",
        model: str = DEFAULT_MODEL,
        temperature: float = 0.0,
        dont_know: str | None = None,
        key: str | None = None,
    ) -> AssistantView:
        """A new assistant with its first version, live."""
        if not name.strip():
            raise AssistantError("name is empty")
        check_settings(model=model, temperature=temperature, dont_know=dont_know)
        if key is not None and not _KEY.fullmatch(key):
            raise AssistantError("id should be 3-64 letters, digits, '_' or '-'")
        key = key or new_key()
        async with self.db.begin() as session:
            taken = await session.scalar(
                select(am.Assistant.id).where(
                    am.Assistant.organization_id == self.org, am.Assistant.key == key
                )
            )
            if taken is not None:
                raise AssistantError(f"an assistant {key} exists already", status=409)
            assistant = am.Assistant(organization_id=self.org, key=key, name=name.strip())
            session.add(assistant)
            await session.flush()
            version = am.AssistantVersion(
                assistant_id=assistant.id,
                number=1,
                instructions=instructions,
                model=model.strip(),
                temperature=temperature,
                dont_know=(dont_know or DEFAULT_DONT_KNOW).strip(),
            )
            session.add(version)
            await session.flush()
            assistant.live_version_id = version.id
        return await self.get(key)

    async def list(self) -> list[AssistantView]:
        async with self.db() as session:
            rows = await session.scalars(
                select(am.Assistant)
                .where(am.Assistant.organization_id == self.org)
                .order_by(am.Assistant.name, am.Assistant.id)
            )
            return [await self._view(session, row) for row in rows]

    async def get(self, key: str) -> AssistantView:
        async with self.db() as session:
            return await self._view(session, await self._row(session, key))

    async def resolve(
        self, key: str, version: int | None = None
    ) -> tuple[am.Assistant, am.AssistantVersion]:
        """The assistant and its live version (or version number ``version``)."""
        async with self.db() as session:
            assistant = await self._row(session, key)
            if version is None:
                found = (
                    await session.get(am.AssistantVersion, assistant.live_version_id)
                    if assistant.live_version_id is not None
                    else None
                )
            else:
                found = await self._version(session, assistant, version)
            if found is None:
                raise AssistantError(f"assistant {key} has no live version", status=409)
            return assistant, found

    async def versions(self, key: str) -> list[VersionView]:
        async with self.db() as session:
            assistant = await self._row(session, key)
            rows = await session.scalars(
                select(am.AssistantVersion)
                .where(am.AssistantVersion.assistant_id == assistant.id)
                .order_by(am.AssistantVersion.number)
            )
            return [_version_view(v, assistant.live_version_id) for v in rows]

    async def update(
        self,
        key: str,
        *,
        name: str | None = None,
        instructions: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        dont_know: str | None = None,
        make_live: bool = False,
    ) -> AssistantView:
        """Rename, and/or add a version: the newest version with these changes. The live
        version stays what it was unless ``make_live``."""
        check_settings(model=model, temperature=temperature, dont_know=dont_know)
        if name is not None and not name.strip():
            raise AssistantError("name is empty")
        async with self.db.begin() as session:
            assistant = await self._row(session, key, lock=True)
            if name is not None:
                assistant.name = name.strip()
            changes = {
                "instructions": instructions,
                "model": model.strip() if model is not None else None,
                "temperature": temperature,
                "dont_know": dont_know.strip() if dont_know is not None else None,
            }
            if any(value is not None for value in changes.values()):
                newest = await session.scalar(
                    select(am.AssistantVersion)
                    .where(am.AssistantVersion.assistant_id == assistant.id)
                    .order_by(am.AssistantVersion.number.desc())
                    .limit(1)
                )
                assert newest is not None
                version = am.AssistantVersion(
                    assistant_id=assistant.id,
                    number=newest.number + 1,
                    **{
                        field: getattr(newest, field) if value is None else value
                        for field, value in changes.items()
                    },
                )
                session.add(version)
                await session.flush()
                if make_live:
                    assistant.live_version_id = version.id
            assistant.updated_at = m.utcnow()
        return await self.get(key)

    async def make_live(self, key: str, number: int) -> AssistantView:
        async with self.db.begin() as session:
            assistant = await self._row(session, key, lock=True)
            version = await self._version(session, assistant, number)
            assistant.live_version_id = version.id
            assistant.updated_at = m.utcnow()
        return await self.get(key)

    # --- documents and passages ---------------------------------------------------------------

    async def documents(self, key: str) -> list[DocumentView]:
        async with self.db() as session:
            assistant = await self._row(session, key)
            counts = (
                select(
                    am.Chunk.document_id,
                    func.count(am.Chunk.id).label("chunks"),
                    func.count(am.Chunk.embedding).label("vectors"),
                )
                .group_by(am.Chunk.document_id)
                .subquery()
            )
            rows = await session.execute(
                select(am.Document, counts.c.chunks, counts.c.vectors)
                .outerjoin(counts, counts.c.document_id == am.Document.id)
                .where(am.Document.assistant_id == assistant.id)
                .order_by(am.Document.id)
            )
            return [_document_view(doc, chunks or 0, vectors or 0) for doc, chunks, vectors in rows]

    async def document(self, key: str, document_id: int) -> DocumentView:
        for document in await self.documents(key):
            if document.id == document_id:
                return document
        raise AssistantError(f"assistant {key} has no document {document_id}", status=404)

    async def delete_document(self, key: str, document_id: int) -> None:
        async with self.db.begin() as session:
            assistant = await self._row(session, key)
            document = await session.scalar(
                select(am.Document).where(
                    am.Document.id == document_id, am.Document.assistant_id == assistant.id
                )
            )
            if document is None:
                raise AssistantError(f"assistant {key} has no document {document_id}", status=404)
            # The chunks go by ON DELETE CASCADE, and with them their full-text entries.
            await session.delete(document)

    async def chunks(self, key: str, document_id: int) -> list[dict[str, Any]]:
        document = await self.document(key, document_id)
        async with self.db() as session:
            rows = await session.scalars(
                select(am.Chunk)
                .where(am.Chunk.document_id == document.id)
                .order_by(am.Chunk.position)
            )
            return [
                {
                    "id": chunk.id,
                    "position": chunk.position,
                    "page": chunk.page,
                    "section": chunk.section,
                    "text": chunk.text,
                    "vector": chunk.embedding is not None,
                }
                for chunk in rows
            ]

    async def settings(self) -> dict[str, Any]:
        """The organisation's stored settings (its own key, base URL, embedding choices)."""
        async with self.db() as session:
            org = await session.get(m.Organization, self.org)
            found = dict(org.settings or {}) if org is not None else {}
        if self.org != DEFAULT_ORG:
            found.setdefault("platform_key", False)  # the environment's key is not theirs
        return found

    # --- rows -----------------------------------------------------------------------------------

    async def _row(self, session: AsyncSession, key: str, *, lock: bool = False) -> am.Assistant:
        query = select(am.Assistant).where(
            am.Assistant.organization_id == self.org, am.Assistant.key == key
        )
        found = await session.scalar(query.with_for_update() if lock else query)
        if found is None:
            raise AssistantError(f"no assistant {key}", status=404)
        return found

    async def _version(
        self, session: AsyncSession, assistant: am.Assistant, number: int
    ) -> am.AssistantVersion:
        found = await session.scalar(
            select(am.AssistantVersion).where(
                am.AssistantVersion.assistant_id == assistant.id,
                am.AssistantVersion.number == number,
            )
        )
        if found is None:
            raise AssistantError(f"assistant {assistant.key} has no version {number}", status=404)
        return found

    async def _view(self, session: AsyncSession, assistant: am.Assistant) -> AssistantView:
        live = (
            await session.get(am.AssistantVersion, assistant.live_version_id)
            if assistant.live_version_id is not None
            else None
        )
        versions = await session.scalar(
            select(func.count()).where(am.AssistantVersion.assistant_id == assistant.id)
        )
        documents = await session.scalar(
            select(func.count()).where(am.Document.assistant_id == assistant.id)
        )
        return AssistantView(
            key=assistant.key,
            name=assistant.name,
            live=_version_view(live, assistant.live_version_id) if live else None,
            versions=versions or 0,
            documents=documents or 0,
            created_at=assistant.created_at,
        )


def _version_view(version: am.AssistantVersion, live_id: int | None) -> VersionView:
    return VersionView(
        number=version.number,
        instructions=version.instructions,
        model=version.model,
        temperature=version.temperature,
        dont_know=version.dont_know,
        live=version.id == live_id,
        created_at=version.created_at,
    )


def _document_view(document: am.Document, chunks: int, vectors: int) -> DocumentView:
    return DocumentView(
        id=document.id,
        name=document.name,
        media_type=document.media_type,
        size=document.size,
        pages=document.pages,
        chunks=chunks,
        vectors=chunks > 0 and vectors == chunks,
        embedding_error=document.embedding_error,
        created_at=document.created_at,
    )
