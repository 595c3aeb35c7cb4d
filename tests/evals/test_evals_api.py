"""Evaluations through the REST API on the real app: golden sets, runs scored by embeddings and
an LLM judge over the real openai SDK (loopback stub), estimates, comparisons, cancel, resume."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sutra.evals.judge import RUBRIC
from sutra.evals.models import EvalResult
from sutra.store import models as m
from sutra.testing.openai_server import OpenAIStubServer
from tests.support import eventually

from .conftest import HEADERS, Bot, Evals, csv_of, open_evals

PROMPT = "You answer questions about child health in one sentence."
HANDS = "How long should I wash my hands?"
HANDS_EXPECTED = "Wash your hands with soap and water for at least twenty seconds."
ORS = "What helps a child with diarrhoea?"
ORS_EXPECTED = "Give oral rehydration salts (ORS) and zinc, and keep breastfeeding."
GOLDEN = csv_of(
    [
        (HANDS, HANDS_EXPECTED, "hygiene"),
        (ORS, ORS_EXPECTED, "nutrition"),
    ]
)
GPT_TARGET = {"kind": "gpt", "prompt": PROMPT, "model": "gpt-4o-mini", "temperature": 0}


async def finished(evals: Evals, run_id: int, timeout: float = 20) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run: dict[str, Any] = await evals.api("GET", f"/runs/{run_id}")
        return run if run["status"] not in ("queued", "running") else None

    return await eventually(check, timeout=timeout)


async def golden(evals: Evals, csv: str = GOLDEN, name: str = "faq") -> int:
    response = await evals.upload(csv, name=name)
    assert response.status_code == 201, response.text
    golden_id: int = response.json()["id"]
    return golden_id


# --- golden sets -------------------------------------------------------------------------------


async def test_a_bad_row_is_refused_with_its_row_and_column(evals: Evals) -> None:
    bad = csv_of([(HANDS, HANDS_EXPECTED, "hygiene"), (ORS, "", "nutrition")])

    response = await evals.upload(bad)

    assert response.status_code == 422
    assert response.json()["detail"] == "row 3, column answer: is empty"
    assert response.json()["errors"] == [{"row": 3, "column": "answer", "message": "is empty"}]
    assert (await evals.api("GET", "/golden-sets"))["golden_sets"] == []


async def test_a_missing_column_is_named(evals: Evals) -> None:
    response = await evals.upload("question,reply\nWhat?,That\n")

    assert response.status_code == 422
    assert response.json()["detail"].startswith("row 1, column answer: missing from the header")


async def test_a_set_has_no_80_row_cap_and_uploading_again_adds_a_version(evals: Evals) -> None:
    many = csv_of([(f"Question {i}?", f"Answer {i}.", "bulk") for i in range(500)])

    first = (await evals.upload(many, name="bulk")).json()
    second = (await evals.upload(GOLDEN, name="bulk")).json()

    assert (first["version"], first["rows"]) == (1, 500)
    assert (second["version"], second["rows"]) == (2, 2)
    shown = await evals.api("GET", f"/golden-sets/{first['id']}")
    assert shown["questions"][499]["question"] == "Question 499?"


async def test_an_xlsx_file_with_tags_is_read(evals: Evals) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Question", "Expected answer", "Category", "Tags"])
    sheet.append([HANDS, HANDS_EXPECTED, "hygiene", "hands; soap"])
    sheet.append([None, None, None, None])
    sheet.append([ORS, ORS_EXPECTED, None, None])
    data = io.BytesIO()
    book.save(data)

    response = await evals.http.post(
        "/api/v1/evals/golden-sets",
        params={"name": "sheet"},
        files={"file": ("faq.xlsx", data.getvalue())},
        headers=HEADERS,
    )

    assert response.status_code == 201, response.text
    shown = await evals.api("GET", f"/golden-sets/{response.json()['id']}")
    assert [(q["question"], q["category"], q["tags"]) for q in shown["questions"]] == [
        (HANDS, "hygiene", ["hands", "soap"]),
        (ORS, None, []),
    ]


# --- scoring -----------------------------------------------------------------------------------


async def test_a_paraphrase_scores_high_and_a_wrong_answer_low(
    evals: Evals, stub: OpenAIStubServer, llm_env: Bot
) -> None:
    paraphrase = "Wash hands with soap and water for twenty seconds at least."
    wrong = "Stop giving the child any water and wait for the diarrhoea to end."
    llm_env.answers = {HANDS: paraphrase, ORS: wrong}
    golden_id = await golden(evals)

    run = await evals.api(
        "POST",
        "/runs",
        json={"golden_set_id": golden_id, "target": GPT_TARGET, "options": {"duplication": 2}},
    )
    done = await finished(evals, run["id"])

    assert done["status"] == "completed", done
    results = await evals.api("GET", f"/runs/{run['id']}/results")
    by_question = {q["question"]: q for q in results["questions"]}
    hands, ors = by_question[HANDS], by_question[ORS]
    assert hands["score"] > 0.7 and hands["verdict"] == "aligned", hands
    assert ors["score"] < 0.3 and ors["verdict"] == "drifted", ors
    for answer in hands["answers"]:
        assert answer["similarity"] > 0.7 and answer["judge_score"] > 0.7
        assert answer["answer"] == paraphrase and answer["judge_reasoning"]
    for answer in ors["answers"]:
        assert answer["similarity"] < 0.3 and answer["judge_score"] < 0.3
    assert done["summary"]["questions"]["aligned"] == 1
    assert done["summary"]["questions"]["drifted"] == 1
    # Same answer on both repeats: perfectly consistent.
    assert done["summary"]["consistency"]["mean_spread"] == 0

    # The target got the configuration as parse_via_chat_gpt sends it.
    targets = [r for r in stub.requests if r["messages"][0]["content"] == PROMPT]
    assert len(targets) == 4
    assert all(r["model"] == "gpt-4o-mini" and r["temperature"] == 0 for r in targets)
    # The judge: the rubric, the three texts between markers, a JSON schema, the judge model.
    judged = [r for r in stub.requests if r["messages"][0]["content"] == RUBRIC]
    assert len(judged) == 4
    for request in judged:
        assert request["model"] == "gpt-4o-mini"
        assert request["response_format"]["type"] == "json_schema"
        assert request["temperature"] == 0
    ors_prompt = next(r for r in judged if ORS in r["messages"][1]["content"])["messages"][1]
    assert ors_prompt["content"] == (
        f"<question>\n{ORS}\n</question>\n<expected>\n{ORS_EXPECTED}\n</expected>\n"
        f"<answer>\n{wrong}\n</answer>"
    )
    # Embeddings: each expected answer once, each answer once, with the configured model.
    embedded = [text for r in stub.embedding_requests for text in r["input"]]
    assert {r["model"] for r in stub.embedding_requests} == {"text-embedding-3-small"}
    assert sorted(embedded) == sorted(
        [HANDS_EXPECTED, ORS_EXPECTED, paraphrase, paraphrase, wrong, wrong]
    )


async def test_tokens_and_cost_are_counted_per_row_and_in_the_usage_table(
    evals: Evals, llm_env: Bot
) -> None:
    golden_id = await golden(evals)
    estimate = await evals.api(
        "POST", "/estimate", json={"golden_set_id": golden_id, "target": GPT_TARGET}
    )
    run = await evals.api("POST", "/runs", json={"golden_set_id": golden_id, "target": GPT_TARGET})
    done = await finished(evals, run["id"])

    # 2 questions: 2 target calls, 2 judge calls, 4 embedding requests.
    assert estimate["calls"] == 8
    assert estimate["cost"] > 0
    assert run["estimate"] == {
        k: v for k, v in estimate.items() if k not in ("target_label", "config")
    }
    results = (await evals.api("GET", f"/runs/{run['id']}/results"))["questions"]
    for question in results:
        answer = question["answers"][0]
        assert answer["prompt_tokens"] > 0 and answer["completion_tokens"] > 0
        assert answer["cost"] > 0 and answer["latency_ms"] > 0
    assert done["summary"]["cost"] > 0
    async with evals.state.repo.sessions() as db:
        usage = list(await db.scalars(select(m.LLMUsage)))
    assert sorted({u.function for u in usage}) == ["eval_embedding", "eval_judge", "eval_target"]
    assert round(sum(u.cost for u in usage), 6) == done["summary"]["cost"]


async def test_exact_contains_and_length(evals: Evals, llm_env: Bot) -> None:
    llm_env.answers = {"Capital of France?": "The capital is Paris.", "Two plus two?": "4"}
    golden_id = await golden(
        evals, csv_of([("Capital of France?", "Paris", "geo"), ("Two plus two?", "4", "maths")])
    )

    run = await evals.api(
        "POST",
        "/runs",
        json={"golden_set_id": golden_id, "target": GPT_TARGET, "options": {"judge": "off"}},
    )
    await finished(evals, run["id"])

    rows = (await evals.api("GET", f"/runs/{run['id']}/results"))["questions"]
    paris, four = rows[0]["answers"][0], rows[1]["answers"][0]
    assert (paris["exact"], paris["contains"], paris["answer_chars"]) == (False, True, 21)
    assert (four["exact"], four["contains"], four["answer_chars"]) == (True, True, 1)
    assert paris["judge_score"] is None and paris["score"] == paris["similarity"]


async def test_the_csv_has_a_line_per_answer(evals: Evals, llm_env: Bot) -> None:
    llm_env.answers = {HANDS: '=HYPERLINK("x")'}
    golden_id = await golden(evals)
    run = await evals.api("POST", "/runs", json={"golden_set_id": golden_id, "target": GPT_TARGET})
    await finished(evals, run["id"])

    response = await evals.http.get(
        f"/api/v1/evals/runs/{run['id']}/results", params={"format": "csv"}, headers=HEADERS
    )

    lines = response.text.splitlines()
    assert response.headers["content-type"].startswith("text/csv")
    assert lines[0].startswith(
        "position,repeat,category,tags,question,ground_truth_answer,llm_answer,score"
    )
    assert len(lines) == 3
    assert "'=HYPERLINK" in response.text  # opens as text in a spreadsheet


# --- targets -----------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ASK_GPT_FLOW = "5b8e4d3a-6f0e-4c1d-9a55-2f4a1e0c9b10"
ASK_GPT_NODE = "7a1c0000-0000-4000-8000-000000000003"


async def _import_example(evals: Evals) -> None:
    response = await evals.http.post(
        "/api/v1/flows/import",
        content=(EXAMPLES / "ask_gpt.json").read_bytes(),
        headers={**HEADERS, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


async def test_a_flow_node_target_sends_the_nodes_prompt_and_model(
    evals: Evals, stub: OpenAIStubServer
) -> None:
    await _import_example(evals)
    golden_id = await golden(evals)
    target = {"kind": "flow_node", "flow_uuid": ASK_GPT_FLOW, "node_uuid": ASK_GPT_NODE}

    run = await evals.api(
        "POST",
        "/runs",
        json={"golden_set_id": golden_id, "target": target, "options": {"judge": "off"}},
    )
    await finished(evals, run["id"])

    assert run["target"]["kind"] == "gpt" and run["target"]["source"]["flow_name"] == "Ask GPT"
    asked = [r for r in stub.requests if r["messages"][-1]["content"] in (HANDS, ORS)]
    assert len(asked) == 2
    assert {r["model"] for r in asked} == {"gpt-4o"}
    assert asked[0]["messages"][0]["content"].startswith("You help people at an NGO helpline.")


async def test_a_whole_flow_answers_as_a_simulated_contact(
    evals: Evals, stub: OpenAIStubServer
) -> None:
    await _import_example(evals)
    golden_id = await golden(evals)

    by_result = await evals.api(
        "POST",
        "/runs",
        json={
            "golden_set_id": golden_id,
            "target": {"kind": "flow", "flow_uuid": ASK_GPT_FLOW, "result": "gpt_response"},
            "options": {"judge": "off"},
        },
    )
    by_messages = await evals.api(
        "POST",
        "/runs",
        json={
            "golden_set_id": golden_id,
            "target": {"kind": "flow", "flow_uuid": ASK_GPT_FLOW},
            "options": {"judge": "off"},
        },
    )
    await finished(evals, by_result["id"])
    await finished(evals, by_messages["id"])

    first = (await evals.api("GET", f"/runs/{by_result['id']}/results"))["questions"]
    assert [q["answers"][0]["answer"] for q in first] == [f"echo: {HANDS}", f"echo: {ORS}"]
    second = (await evals.api("GET", f"/runs/{by_messages['id']}/results"))["questions"]
    assert f"echo: {HANDS}" in second[0]["answers"][0]["answer"]
    # The runtime ran on its own database: no evaluation contact among the real ones.
    async with evals.state.repo.sessions() as db:
        assert list(await db.scalars(select(m.Contact.urn))) == []


# --- comparison, cancel, resume ----------------------------------------------------------------


async def test_comparing_two_runs_names_what_improved_and_regressed(
    evals: Evals, llm_env: Bot
) -> None:
    golden_id = await golden(evals)
    llm_env.answers = {HANDS: HANDS_EXPECTED, ORS: "Nothing helps."}
    before = await evals.api(
        "POST", "/runs", json={"golden_set_id": golden_id, "target": GPT_TARGET}
    )
    await finished(evals, before["id"])
    llm_env.answers = {HANDS: "Rinse quickly.", ORS: ORS_EXPECTED}
    after = await evals.api(
        "POST", "/runs", json={"golden_set_id": golden_id, "target": GPT_TARGET}
    )
    await finished(evals, after["id"])

    found = await evals.api("GET", "/compare", params={"a": before["id"], "b": after["id"]})

    statuses = {q["question"]: (q["status"], q["delta"]) for q in found["questions"]}
    assert statuses[ORS][0] == "improved" and statuses[ORS][1] > 0.5
    assert statuses[HANDS][0] == "regressed" and statuses[HANDS][1] < -0.5
    assert (found["overall"]["improved"], found["overall"]["regressed"]) == (1, 1)
    assert found["categories"]["nutrition"]["delta"] > 0.5
    assert found["categories"]["hygiene"]["delta"] < -0.5


async def test_a_run_can_be_cancelled(evals: Evals, stub: OpenAIStubServer) -> None:
    many = csv_of([(f"Question {i}?", f"Answer {i}.", "bulk") for i in range(40)])
    golden_id = await golden(evals, many)
    stub.delay = 0.2

    run = await evals.api(
        "POST",
        "/runs",
        json={
            "golden_set_id": golden_id,
            "target": GPT_TARGET,
            "options": {"judge": "off", "concurrency": 2},
        },
    )
    await eventually(lambda: _done_at_least(evals, run["id"], 1))
    await evals.api("POST", f"/runs/{run['id']}/cancel")
    done = await finished(evals, run["id"], timeout=5)

    assert done["status"] == "cancelled"
    assert 1 <= done["done"] < 40
    await asyncio.sleep(0.5)
    assert (await evals.api("GET", f"/runs/{run['id']}"))["done"] == done["done"]


async def _done_at_least(evals: Evals, run_id: int, count: int) -> bool:
    return bool((await evals.api("GET", f"/runs/{run_id}"))["done"] >= count)


async def test_a_restarted_server_resumes_an_unfinished_run(
    tmp_path: Path, llm_env: Bot, stub: OpenAIStubServer
) -> None:
    db = tmp_path / "restart.db"
    many = csv_of([(f"Question {i}?", f"Answer {i}.", "bulk") for i in range(12)])
    stub.delay = 0.1
    async with open_evals(db) as first:
        golden_id = await golden(first, many)
        run = await first.api(
            "POST",
            "/runs",
            json={
                "golden_set_id": golden_id,
                "target": GPT_TARGET,
                "options": {"judge": "off", "concurrency": 1},
            },
        )
        await eventually(lambda: _done_at_least(first, run["id"], 3))
    # The first server is gone mid-run: what it stored stays, the run is unfinished.
    async with open_evals(db) as second:
        kept = await _results(second)
        assert 3 <= len(kept) < 12
        assert (await second.api("GET", f"/runs/{run['id']}"))["status"] in ("running", "queued")
        done = await finished(second, run["id"])
        assert done["status"] == "completed" and done["done"] == 12
        after = await _results(second)
    assert len(after) == 12
    # Rows done before the restart were not asked again.
    assert {k: after[k] for k in kept} == kept
    asked = [
        r["messages"][-1]["content"] for r in stub.requests if r["messages"][0]["content"] == PROMPT
    ]
    assert len(asked) <= 13 and sorted(set(asked)) == sorted(f"Question {i}?" for i in range(12))


async def _results(evals: Evals) -> dict[tuple[int, int], Any]:
    async with evals.state.repo.sessions() as db:
        rows = await db.scalars(select(EvalResult))
        return {(r.position, r.repeat): (r.id, r.created_at) for r in rows}


async def test_the_api_needs_its_token_and_the_page_endpoints_a_session(evals: Evals) -> None:
    import httpx

    transport = httpx.ASGITransport(app=evals.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evals") as stranger:
        assert (await stranger.get("/api/v1/evals/runs")).status_code == 401
        assert (await stranger.get("/evals/api/runs")).status_code == 401
        assert (await stranger.get("/evals")).status_code == 303  # to the sign-in form
    # Signed in, a write without the CSRF header is refused.
    request = evals.http.build_request(
        "POST", "/evals/api/golden-sets", params={"name": "x"}, content=GOLDEN.encode()
    )
    del request.headers["x-csrftoken"]
    refused = await evals.http.send(request)
    assert refused.status_code == 403
    assert (await evals.http.get("/evals/api/runs")).json() == {"runs": []}
