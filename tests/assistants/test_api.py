"""``/api/v1/assistants`` as an NGO's developer uses it: over HTTP, with the bearer token, on
the real app (migrations, lifespan), the real SDK and the OpenAI stub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sutra.config import ServerSettings
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.web.app import create_app

from .conftest import ASSISTANT, FAQ_PDF_NAME, KEY

TOKEN = "assistants-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def http(
    tmp_path: Path, embeddings_env: OpenAIStubServer
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        f"sqlite:///{tmp_path / 'api.db'}",
        settings=ServerSettings(sutra_api_token=TOKEN, sutra_media_dir=str(tmp_path / "media")),
        services=Services(llm=OpenAIProvider(api_key=KEY, base_url=embeddings_env.base_url)),
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sutra", headers=AUTH
        ) as client,
    ):
        yield client


async def test_create_upload_ask_update_and_delete(
    http: httpx.AsyncClient, embeddings_env: OpenAIStubServer, faq_pdf: bytes
) -> None:
    created = await http.post(
        "/api/v1/assistants",
        json={"name": "Health FAQ", "instructions": "Be kind.", "id": ASSISTANT},
    )
    assert created.status_code == 201, created.text
    assert created.json()["id"] == ASSISTANT
    assert created.json()["live_version"]["number"] == 1

    uploaded = await http.post(
        f"/api/v1/assistants/{ASSISTANT}/documents",
        files={"file": (FAQ_PDF_NAME, faq_pdf, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    assert document["name"] == FAQ_PDF_NAME and document["vectors"] is True
    assert document["pages"] >= 3 and document["chunks"] > 20

    chunks = await http.get(f"/api/v1/assistants/{ASSISTANT}/documents/{document['id']}/chunks")
    malaria = [c for c in chunks.json()["results"] if "How is malaria spread?" in c["section"]]
    assert malaria and malaria[0]["page"] == 2

    embeddings_env.plan(Reply("Through the bite of infected Anopheles mosquitoes [1]."))
    asked = await http.post(
        f"/api/v1/assistants/{ASSISTANT}/ask", json={"question": "How is malaria spread?"}
    )
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["answer"].endswith(f"Sources:\n[1] {FAQ_PDF_NAME}, page 2")
    assert answer["retrieval"] == "hybrid" and answer["knew"] is True
    assert answer["passages"][0]["cited"] is True
    assert "female Anopheles" in answer["passages"][0]["text"]
    assert answer["thread_id"].startswith(f"{ASSISTANT}:thread-")

    patched = await http.patch(f"/api/v1/assistants/{ASSISTANT}", json={"temperature": 0.5})
    assert patched.json()["versions"] == 2 and patched.json()["live_version"]["number"] == 1
    live = await http.post(f"/api/v1/assistants/{ASSISTANT}/versions/2/live")
    assert live.json()["live_version"]["temperature"] == 0.5
    detail = (await http.get(f"/api/v1/assistants/{ASSISTANT}")).json()
    assert [v["live"] for v in detail["all_versions"]] == [False, True]

    listed = (await http.get("/api/v1/assistants")).json()["results"]
    assert [(a["id"], a["documents"]) for a in listed] == [(ASSISTANT, 1)]

    deleted = await http.delete(f"/api/v1/assistants/{ASSISTANT}/documents/{document['id']}")
    assert deleted.status_code == 204
    again = await http.post(
        f"/api/v1/assistants/{ASSISTANT}/ask", json={"question": "How is malaria spread?"}
    )
    assert again.json()["knew"] is False and again.json()["passages"] == []


async def test_a_raw_body_upload_names_its_file(http: httpx.AsyncClient) -> None:
    await http.post("/api/v1/assistants", json={"name": "Notes", "id": "asst_notes"})

    uploaded = await http.post(
        "/api/v1/assistants/asst_notes/documents",
        params={"name": "opening.md"},
        content=b"# Opening hours\n\nThe clinic opens at 8 am.",
    )

    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["media_type"] == "text/markdown"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("get", "/api/v1/assistants/asst_nobody", None, 404, "no assistant asst_nobody"),
        ("post", "/api/v1/assistants", {"name": "x", "id": "no spaces"}, 400, "id should be"),
        ("post", "/api/v1/assistants/asst_x/versions/9/live", None, 404, "has no version 9"),
        ("delete", "/api/v1/assistants/asst_x/documents/7", None, 404, "has no document 7"),
    ],
)
async def test_mistakes_are_answered_with_their_reason(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, str] | None,
    status: int,
    detail: str,
) -> None:
    await http.post("/api/v1/assistants", json={"name": "X", "id": "asst_x"})

    response = await http.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


async def test_an_assistant_id_is_taken_once(http: httpx.AsyncClient) -> None:
    first = await http.post("/api/v1/assistants", json={"name": "A", "id": "asst_same"})
    second = await http.post("/api/v1/assistants", json={"name": "B", "id": "asst_same"})

    assert first.status_code == 201
    assert second.status_code == 409


async def test_documents_that_cannot_be_read_are_refused(http: httpx.AsyncClient) -> None:
    await http.post("/api/v1/assistants", json={"name": "A", "id": "asst_a"})

    image = await http.post(
        "/api/v1/assistants/asst_a/documents",
        files={"file": ("photo.jpg", b"\xff\xd8\xff\xe0" * 10, "image/jpeg")},
    )
    too_big = await http.post(
        "/api/v1/assistants/asst_a/documents",
        params={"name": "big.txt"},
        content=b"a" * (20 * 1024 * 1024 + 1),
    )

    assert image.status_code == 422 and "not a document Sutra reads" in image.json()["detail"]
    assert too_big.status_code == 413


async def test_the_api_needs_the_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/assistants", headers={"Authorization": "Bearer wrong"})

    assert response.status_code == 401


async def test_a_document_of_several_megabytes_is_taken(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over the 1 MB most API bodies are held to, under the 20 MB a document may be.
    monkeypatch.setenv("SUTRA_EMBEDDINGS", "off")
    await http.post("/api/v1/assistants", json={"name": "Manual", "id": "asst_manual"})
    section = "## Chapter {i}\n\n" + "The health worker visits every household in the area. " * 20
    text = "\n\n".join(section.format(i=i) for i in range(2_500)).encode()
    assert 2_500_000 < len(text) < 20 * 1024 * 1024

    uploaded = await http.post(
        "/api/v1/assistants/asst_manual/documents",
        files={"file": ("manual.md", text, "text/markdown")},
    )

    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["chunks"] >= 2_500 and uploaded.json()["vectors"] is False
