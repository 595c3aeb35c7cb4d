"""Adding a document to an assistant: extract its text, cut it into passages, embed them.

The document and all its passages are stored in one transaction, so a question never meets a
half-indexed document. Vectors are optional: without an embedding service, or when it fails,
the passages are stored without them (the reason is kept on the document) and are found by
their words alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from sutra.assistants import models as am
from sutra.assistants.chunking import Passage, passages
from sutra.assistants.embeddings import OpenAIEmbedder, embedder_for, to_bytes
from sutra.assistants.extract import ExtractError, extract
from sutra.assistants.settings import assistant_settings
from sutra.assistants.store import AssistantError, Assistants, DocumentView
from sutra.config import get_settings
from sutra.llm.base import LLMError
from sutra.llm.usage import UsageStore, cost_of

log = logging.getLogger(__name__)

# (stage, done, total): "extracting" 0/1, "embedding" n/of, "storing" 0/1.
Progress = Callable[[str, int, int], None]
INDEX_FUNCTION = "assistant:index"


async def add_document(
    assistants: Assistants,
    key: str,
    name: str,
    data: bytes,
    *,
    progress: Progress | None = None,
    embedder: OpenAIEmbedder | bool | None = True,
) -> DocumentView:
    """Index ``data`` (a file called ``name``) into assistant ``key``'s knowledge base.

    ``embedder``: True picks the configured one (see :func:`embedder_for`), None or False
    stores no vectors, an embedder uses that one.
    """
    report = progress or (lambda stage, done, total: None)
    name = name.strip().replace("\\", "/").rsplit("/", 1)[-1] or "document"
    assistant, _ = await assistants.resolve(key)
    report("extracting", 0, 1)
    try:
        # The parsers are CPU-bound and a big PDF takes seconds: off the event loop.
        extracted = await asyncio.to_thread(extract, name, data)
    except ExtractError as exc:
        raise AssistantError(str(exc), status=413 if "larger than" in str(exc) else 422) from None
    found = list(passages(extracted.blocks))
    report("extracting", 1, 1)
    if embedder is True:
        embedder = embedder_for(await assistants.settings(), assistant_settings())
    vectors, model, problem = await _embed(
        assistants, found, embedder or None, report, organization_id=assistant.organization_id
    )
    report("storing", 0, 1)
    async with assistants.db.begin() as session:
        document = am.Document(
            organization_id=assistant.organization_id,
            assistant_id=assistant.id,
            name=name,
            media_type=extracted.media_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            pages=extracted.pages,
            embedding_error=problem,
        )
        session.add(document)
        await session.flush()
        session.add_all(
            am.Chunk(
                document_id=document.id,
                position=position,
                text=passage.text,
                page=passage.page,
                section=passage.section,
                embedding=to_bytes(vectors[position]) if vectors is not None else None,
                embedding_model=model if vectors is not None else None,
            )
            for position, passage in enumerate(found)
        )
        document_id = document.id
    report("storing", 1, 1)
    return await assistants.document(key, document_id)


async def _embed(
    assistants: Assistants,
    found: list[Passage],
    embedder: OpenAIEmbedder | None,
    report: Progress,
    *,
    organization_id: int,
) -> tuple[np.ndarray | None, str | None, str | None]:
    """The passages' vectors, the model that made them, and why there are none."""
    if embedder is None:
        return None, None, "no embedding service configured"
    batch = assistant_settings().embedding_batch
    parts: list[np.ndarray] = []
    store = UsageStore(assistants.db)
    prices: Any = get_settings().llm_prices
    report("embedding", 0, len(found))
    for start in range(0, len(found), batch):
        texts = [p.text for p in found[start : start + batch]]
        try:
            embedded = await embedder.embed(texts)
        except LLMError as exc:
            log.warning("document stored without vectors: %s", exc.reason)
            return None, None, exc.reason
        # Indexing is staff's work, not a contact's: counted, never refused by a budget.
        await store.record(
            embedded.usage,
            organization_id=organization_id,
            contact_id=None,
            flow_uuid=None,
            function=INDEX_FUNCTION,
            cost=cost_of(embedded.usage, prices),
        )
        parts.append(embedded.vectors)
        report("embedding", min(len(found), start + batch), len(found))
    return np.concatenate(parts), embedder.model, None
