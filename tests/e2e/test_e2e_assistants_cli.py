"""``sutra assistant`` as staff run it: create, add the FAQ, list, ask; and offline, in a network
namespace with no key: the embedded model answers from the documents, and says it does not know
when they do not cover the question."""

from __future__ import annotations

from pathlib import Path

from sutra.testing.documents import markdown_pdf
from sutra.testing.openai_server import OpenAIStubServer, Reply

from .helpers import REPO_ROOT, SUTRA, run_cli
from .test_e2e_local_llm import offline  # noqa: F401 (the fixture)

FAQ = REPO_ROOT / "tests" / "assistants" / "health_faq.md"
DONT_KNOW = "Sorry, I don't know: my documents do not cover that."


def _faq_pdf(directory: Path) -> Path:
    path = directory / "health-faq.pdf"
    path.write_bytes(markdown_pdf(FAQ.read_text(encoding="utf-8")))
    return path


def test_create_add_a_document_list_and_ask(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    pdf = _faq_pdf(tmp_path)

    created = run_cli(
        "assistant", "create", "Health FAQ", "--id", "asst_faq", env=cli_env, cwd=tmp_path
    )
    added = run_cli("assistant", "add-doc", "asst_faq", pdf, env=cli_env, cwd=tmp_path)
    listed = run_cli("assistant", "list", env=cli_env, cwd=tmp_path)
    openai_stub.plan(Reply("Female Anopheles mosquitoes carry it [1]."))
    asked = run_cli(
        "assistant", "ask", "asst_faq", "Which mosquito carries malaria?", env=cli_env, cwd=tmp_path
    )

    assert created.returncode == 0, created.stderr
    assert "created assistant asst_faq (Health FAQ)" in created.stdout
    assert added.returncode == 0, added.stderr
    assert "added health-faq.pdf (document 1, 5 pages)" in " ".join(added.stdout.split())
    assert "with vectors" in added.stdout
    assert "asst_faq" in listed.stdout and "Health FAQ" in listed.stdout
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.strip() == (
        "Female Anopheles mosquitoes carry it [1].\n\nSources:\n[1] health-faq.pdf, page 2"
    )
    assert "thread: asst_faq:thread-" in asked.stderr


def test_a_missing_assistant_or_file_is_an_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    missing = run_cli("assistant", "add-doc", "asst_nobody", FAQ, env=cli_env, cwd=tmp_path)
    no_file = run_cli(
        "assistant", "add-doc", "asst_nobody", tmp_path / "x.pdf", env=cli_env, cwd=tmp_path
    )

    assert missing.returncode == 2 and "no assistant asst_nobody" in missing.stderr
    assert no_file.returncode == 2 and "no file" in no_file.stderr


def test_offline_the_embedded_model_answers_from_the_documents(
    tmp_path: Path,
    cli_env: dict[str, str],
    offline: list[str],  # noqa: F811
) -> None:
    import subprocess

    env = {k: v for k, v in cli_env.items() if not k.startswith("OPENAI_")}
    env["SUTRA_LOCAL_MAX_TOKENS"] = "80"
    pdf = _faq_pdf(tmp_path)

    def sutra(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*offline, str(SUTRA), *map(str, args)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    assert sutra("assistant", "create", "Health FAQ", "--id", "asst_faq").returncode == 0
    added = sutra("assistant", "add-doc", "asst_faq", pdf)
    known = sutra("assistant", "ask", "asst_faq", "Which mosquito carries malaria?", "--passages")
    unknown = sutra("assistant", "ask", "asst_faq", "What is the capital of France?")

    assert added.returncode == 0, added.stderr
    assert "words only (no embedding service configured)" in " ".join(added.stdout.split())
    assert known.returncode == 0, known.stderr
    answer, _, passages = known.stdout.partition("\n[1] ")
    # SmolLM2-135M words it its own way; what it was given and what it cites are ours.
    assert "Source" in answer and "health-faq.pdf, page 2" in answer
    assert "anopheles" in answer.lower()
    assert passages.startswith("health-faq.pdf, page 2 — Mosquito-borne diseases › How is malaria")
    assert unknown.returncode == 0, unknown.stderr
    assert unknown.stdout.strip() == DONT_KNOW
