"""`sutra chat`: a person types into the terminal and the flow answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sutra.testing.openai_server import OpenAIStubServer

ROOT = Path(__file__).resolve().parents[2]
SUTRA = Path(sys.executable).with_name("sutra")


def test_chat_in_the_terminal_asks_gpt_and_stores_the_conversation(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    done = subprocess.run(
        [str(SUTRA), "chat", str(ROOT / "examples" / "ask_gpt.json"), "--contact-name", "Asha"],
        input="What is photosynthesis?\n",
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Hi Asha! Ask me a question" in done.stdout
    assert "echo: What is photosynthesis?" in done.stdout
    assert "flow completed" in done.stdout
    assert openai_stub.requests[0]["messages"][-1]["content"] == "What is photosynthesis?"

    # The same conversation is in the database the chat used, ready for `sutra import` users.
    again = subprocess.run(
        [str(SUTRA), "chat", "Ask GPT"],
        input="/quit\n",
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert "Ask me a question" in again.stdout
