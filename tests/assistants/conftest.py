"""Assistants on a real, migrated SQLite file, with the real ``openai`` SDK talking to the stub."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.assistants.indexing import add_document
from sutra.assistants.store import Assistants
from sutra.config import get_settings
from sutra.functions.registry import FunctionCall
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.store.db import create_async_engine_for, create_session_factory, migrate
from sutra.testing.documents import markdown_pdf
from sutra.testing.openai_server import OpenAIStubServer
from sutra.testing.postgres import reset_schema

HERE = Path(__file__).parent
FAQ_MARKDOWN = (HERE / "health_faq.md").read_text(encoding="utf-8")
KEY = "sk-assistants-0123456789"
ASSISTANT = "asst_sYY3vlpf2rHKuCzlk750fidn"
FAQ_PDF_NAME = "health-faq.pdf"


@pytest.fixture(scope="session")
def faq_pdf() -> bytes:
    return markdown_pdf(FAQ_MARKDOWN, title="Community Health FAQ")


@pytest.fixture(scope="module")
def stub_server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def stub(stub_server: OpenAIStubServer) -> OpenAIStubServer:
    stub_server.reset()
    return stub_server


@pytest.fixture
def no_llm_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Nothing of this machine's LLM settings: no key, no base URL (so no embeddings)."""
    for key in list(os.environ):
        if key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_")):
            monkeypatch.delenv(key)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def embeddings_env(
    no_llm_env: None, stub: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch
) -> OpenAIStubServer:
    """The platform's key and base URL point at the stub: passages and questions get vectors."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    return stub


# Read before no_llm_env clears SUTRA_ variables.
POSTGRES_URL = os.environ.get("SUTRA_TEST_POSTGRES_URL", "").strip()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not POSTGRES_URL, reason="set SUTRA_TEST_POSTGRES_URL (scripts/start-postgres.sh)"
            ),
        ),
    ]
)
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, no_llm_env: None
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database: SQLite (FTS5) and, when one is given, PostgreSQL (text search)."""
    if request.param == "postgresql":
        reset_schema(POSTGRES_URL)
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{tmp_path / 'assistants.db'}"
    migrate(url)
    engine = create_async_engine_for(url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def assistants(db: async_sessionmaker[AsyncSession]) -> Assistants:
    return Assistants(db, 1)


@pytest.fixture
async def provider(stub: OpenAIStubServer) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(api_key=KEY, base_url=stub.base_url)
    yield provider
    await provider.aclose()


@dataclass
class Faq:
    assistants: Assistants
    key: str
    pdf: bytes

    def call(self, provider: OpenAIProvider, **fields: object) -> FunctionCall:
        """A function call as a flow makes it for contact 1 of organisation 1."""
        return FunctionCall(
            fields={"organization_id": 1, "contact_id": 1, "flow_id": "flow-1", **fields},
            services=Services(llm=provider, db=self.assistants.db),
        )


async def add_contact(db: async_sessionmaker[AsyncSession], contact_id: int = 1) -> None:
    async with db.begin() as session:
        await session.execute(
            text(
                "INSERT INTO contacts (id, uuid, organization_id, urn, fields, status) "
                "VALUES (:id, :uuid, 1, :urn, '{}', 'active')"
            ),
            {"id": contact_id, "uuid": f"c-{contact_id}", "urn": f"sim:{contact_id}"},
        )


@pytest.fixture
async def faq(assistants: Assistants, faq_pdf: bytes) -> Faq:
    """The health FAQ assistant (the acceptance flow's id) with the FAQ uploaded as a PDF."""
    await assistants.create(
        "Health FAQ", instructions="You answer health questions for a community.", key=ASSISTANT
    )
    await add_document(assistants, ASSISTANT, FAQ_PDF_NAME, faq_pdf)
    await add_contact(assistants.db)
    return Faq(assistants, ASSISTANT, faq_pdf)
