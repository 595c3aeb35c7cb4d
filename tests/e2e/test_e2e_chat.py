"""`sutra chat`: a person types into the terminal and the flow answers."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
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


def test_ctrl_c_at_the_prompt_leaves_at_once(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cli_env = {**cli_env, "PYTHONFAULTHANDLER": "1"}
    chat = subprocess.Popen(
        [str(SUTRA), "chat", str(ROOT / "examples" / "ask_gpt.json"), "--contact-name", "Asha"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env,
        cwd=tmp_path,
    )
    try:
        assert chat.stdout is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"you: " not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([chat.stdout], [], [], 1)
            if ready:
                seen += os.read(chat.stdout.fileno(), 4096)
        assert b"Ask me a question" in seen, seen
        # At the prompt, nothing typed (stdin stays open): Ctrl-C ends the chat without Enter.
        chat.send_signal(signal.SIGINT)
        try:
            assert chat.wait(timeout=10) == 0
        except subprocess.TimeoutExpired:
            # Still waiting: its threads' stacks (faulthandler) say where.
            chat.send_signal(signal.SIGABRT)
            chat.wait()
            raise AssertionError(chat.stderr.read().decode()[-4000:]) from None
        assert b"Traceback" not in chat.stderr.read() if chat.stderr else True
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.wait()
