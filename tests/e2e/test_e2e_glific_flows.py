"""Real Glific flow files (``../shared/glific-flows``, read in place): import and run them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sutra.testing.openai_server import OpenAIStubServer, Reply

from .helpers import GLIFIC_FLOWS, run_cli, simulate

pytestmark = pytest.mark.skipif(
    not GLIFIC_FLOWS.is_dir(), reason=f"the shared Glific flows are not at {GLIFIC_FLOWS}"
)

# Flow-editor data that ships next to the flows: not flow files.
EDITOR_DATA = {"completion.json", "functions.json", "webhook.json"}


def flow_files() -> list[str]:
    if not GLIFIC_FLOWS.is_dir():
        return []
    return sorted(p.name for p in GLIFIC_FLOWS.glob("*.json") if p.name not in EDITOR_DATA)


def definitions(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if "nodes" in data:
        return [data]
    return [item.get("definition", item) for item in data["flows"]]


def table_rows(stdout: str) -> list[list[str]]:
    """The rows of a rich table as printed, a cell's wrapped lines joined without spaces."""
    found: list[list[str]] = []
    for line in stdout.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[1]:  # a new row starts where the uuid column has text
            found.append(cells)
        elif found:
            found[-1] = [a + b for a, b in zip(found[-1], cells, strict=True)]
    return found


def test_the_shared_files_are_there() -> None:
    assert {"direct_gpt.json", "direct_with_GPT.json", "survey.json"} <= set(flow_files())


@pytest.mark.parametrize("name", flow_files())
def test_import_prints_every_flow_name_and_uuid(
    name: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = GLIFIC_FLOWS / name

    done = run_cli("import", path, env=cli_env, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    printed = {row[1]: row[0] for row in table_rows(done.stdout)}
    for definition in definitions(path):
        assert definition["uuid"] in printed, done.stdout
        # Compare without white space: a long name wraps inside its column.
        shown = "".join(printed[definition["uuid"]].split())
        assert shown == "".join(definition["name"].split()), done.stdout
    assert (tmp_path / "cli.db").exists()
    assert not (tmp_path / "sutra.db").exists()


def test_import_again_keeps_the_revision(tmp_path: Path, cli_env: dict[str, str]) -> None:
    path = GLIFIC_FLOWS / "help.json"
    run_cli("import", path, env=cli_env, cwd=tmp_path)

    again = run_cli("import", path, env=cli_env, cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    [row] = table_rows(again.stdout)
    assert row[2] == "1(unchanged)"


@pytest.mark.parametrize("name", sorted(EDITOR_DATA))
def test_editor_data_is_refused_in_one_line(
    name: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    done = run_cli("import", GLIFIC_FLOWS / name, env=cli_env, cwd=tmp_path)

    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert name in line
    assert "not a flow file" in line


@pytest.mark.parametrize("name", ["direct_gpt.json", "direct_with_GPT.json"])
def test_direct_gpt_chains_two_calls(
    name: str, tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    first = "Photosynthesis turns light into chemical energy in plants."
    second = "Rating: 9/10. Clear and short."
    openai_stub.plan(Reply(first), Reply(second))

    sim = simulate(
        GLIFIC_FLOWS / name,
        "What is photosynthesis?",
        "Rate that answer please",
        env=cli_env,
        cwd=tmp_path,
    )

    assert sim.returncode == 0, sim.explain()
    assert sim.messages == ["Pls ask a question to GPT.", first, second]
    one, two = openai_stub.requests
    assert one["model"] == two["model"] == "gpt-4o"
    assert one["messages"][-1] == {"role": "user", "content": "What is photosynthesis?"}
    assert one["messages"][0]["role"] == "system"
    assert one["messages"][0]["content"].startswith("Answer in less than 5 sentences.")
    assert two["messages"][-1] == {"role": "user", "content": "Rate that answer please"}
    # The second prompt quotes the first answer.
    assert first in two["messages"][0]["content"]
    assert sim.status == "completed"
    assert sim.results["gpt_response"]["parsed_msg"] == first
    assert sim.results["gpt_response2"]["parsed_msg"] == second


@dataclass
class Expect:
    """How far a flow gets with what Sutra has today, and what it reports on the way."""

    says: list[str] = field(default_factory=list)
    status: str = "completed"
    # A message sent (a prefix of it is enough).
    message: str | None = None
    # Each (event type, text the event mentions).
    reports: list[tuple[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


EXPECTATIONS: dict[str, Expect] = {
    "GPT_Vision.json": Expect(
        # The simulator sends text only, so the flow keeps asking for an image.
        says=["hello"],
        status="waiting",
        message="Please share an image only",
    ),
    "ab_test.json": Expect(
        # Whichever arm the random split picks, "yes" leads to the registration sub-flow.
        says=["yes"],
        message="Great! Please register with us",
        reports=[("warning", "Registration Workflow")],
    ),
    "call_and_wait.json": Expect(
        # filesearch-gpt runs, but a fresh database has no assistant of that id.
        message="failure",
        reports=[("webhook_called", "no assistant asst_pJMbE1OALvgWtZfGfDicrgAD")],
    ),
    "feedback.json": Expect(
        says=["1", "1", "1"],
        message="Thank you! We are so happy to hear that.",
        reports=[("warning", "Activity"), ("input_labels_added", "Understood")],
    ),
    "filesearch_GPT_textandvoice.json": Expect(
        # Answered once its assistant exists: tests/e2e/test_e2e_filesearch.py.
        says=["How do I create a flow?"],
        message="text response failed.",
        reports=[("webhook_called", "no assistant asst_sYY3vlpf2rHKuCzlk750fidn")],
    ),
    "help.json": Expect(
        says=["2"],
        message="We hope that helped you out.",
        reports=[("contact_groups_changed", "")],
    ),
    "interactive.json": Expect(message="How excited are you for Glific?"),
    "language.json": Expect(
        says=["2"],
        message="Your language is now set to",
        reports=[("contact_language_changed", "")],
    ),
    "media.json": Expect(message="This is the flow to test the media attachement"),
    "multiple_profile.json": Expect(
        says=["Select Profile", "1"],
        status="waiting",
        reports=[("action_skipped", "set_contact_profile")],
    ),
    "new_contact.json": Expect(
        # Its first sub-flow is not in the file: skipped with a warning. With no child run the
        # router after it takes its default category (Expired), which ends the flow.
        reports=[("warning", "Optin workflow")],
    ),
    "optin.json": Expect(
        # Anything but 👍/👎 asks again (those two: see test_optin_thumbs_up_opts_in).
        says=["maybe later"],
        status="waiting",
        message="Optin template",
    ),
    "out_of_office.json": Expect(message="We are currently not in the office"),
    "preference.json": Expect(
        says=["1", "5"],
        reports=[("contact_field_changed", "poetry")],
    ),
    "registration.json": Expect(
        says=["Vikas Singh", "4"],
        message="Thank you for introducing yourself to us Vikas Singh",
        reports=[("contact_field_changed", "19 or above")],
    ),
    "survey.json": Expect(
        says=["y", "n", "Y", "y", "n", "y"],
        # The flow calls http://api.glific.test:4000, which does not resolve: Failure ends it.
        reports=[("webhook_called", "api.glific.test")],
        env={"SUTRA_WEBHOOK_TIMEOUT": "2"},
    ),
    "wait_for_result.json": Expect(reports=[("contact_groups_changed", "new_col_25")]),
}


def test_every_shared_flow_has_an_expectation() -> None:
    chained = {"direct_gpt.json", "direct_with_GPT.json"}
    assert set(flow_files()) - chained == set(EXPECTATIONS)


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_shared_flow_runs_as_far_as_it_can(
    name: str, tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    expect = EXPECTATIONS[name]

    sim = simulate(GLIFIC_FLOWS / name, *expect.says, env={**cli_env, **expect.env}, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    assert "Traceback" not in sim.stderr
    assert sim.of_type("flow_entered"), sim.explain()
    assert sim.status == expect.status, sim.explain()
    assert not sim.of_type("failure"), sim.explain()
    if expect.message is not None:
        assert any(text.startswith(expect.message) for text in sim.messages), sim.messages
    for kind, mentions in expect.reports:
        assert any(mentions in json.dumps(e, ensure_ascii=False) for e in sim.of_type(kind)), (
            f"no {kind} event mentioning {mentions!r}\n{sim.explain()}"
        )


def test_optin_thumbs_up_opts_in(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    sim = simulate(GLIFIC_FLOWS / "optin.json", "👍", env=cli_env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    assert sim.results["optin"]["category"] == "optin"
    assert sim.messages[-1].startswith("Thank you for giving us the permission.")
    assert sim.status == "completed"
