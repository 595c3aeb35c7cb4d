"""``sutra serve`` refusing bodies too large for their endpoint, before they fill memory."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.server.conftest import ServerProcess
from tests.server.test_whatsapp import import_example

ROOT = Path(__file__).resolve().parents[2]
MB = 1_000_000


def peak_rss(server: ServerProcess) -> int:
    """The most memory the server process has held so far (VmHWM), in bytes."""
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def streamed(total: int) -> Iterator[bytes]:
    """A body with no Content-Length (chunked), 1 MB at a time."""
    for _ in range(total // MB):
        yield b"x" * MB


def test_four_100_mb_posts_are_refused_quickly_and_cost_no_memory(
    server_env: dict[str, str], make_server: Callable[..., ServerProcess]
) -> None:
    server = make_server(server_env)
    import_example(server)  # warms up the routes; memory is measured from here
    before = peak_rss(server)
    body = b"x" * (100 * MB)
    started = time.monotonic()
    # No signature, no token: each is refused, none is held in memory.
    whatsapp = server.post("/webhooks/whatsapp", content=body)
    whatsapp_streamed = server.post("/webhooks/whatsapp", content=streamed(100 * MB))
    gupshup = server.post("/webhooks/gupshup", content=streamed(100 * MB))
    api = server.post("/api/v1/flows/import", content=streamed(100 * MB))
    elapsed = time.monotonic() - started
    assert whatsapp.status_code == 413
    assert whatsapp.json()["detail"] == (
        "request body larger than 1000000 bytes (see SUTRA_CHANNEL_MAX_BYTES)"
    )
    assert whatsapp_streamed.status_code == 413
    # Without a body size announced, the token is checked before the body is read.
    assert gupshup.status_code == 401
    assert api.status_code == 401
    assert elapsed < 20, elapsed
    grown = peak_rss(server) - before
    assert grown < 30 * MB, f"the server grew by {grown / MB:.0f} MB"
    assert server.api("GET", "/healthz").status_code == 200


def test_the_limits_are_settings(
    server_env: dict[str, str], make_server: Callable[..., ServerProcess]
) -> None:
    server = make_server({**server_env, "SUTRA_FLOW_MAX_BYTES": "2000"})
    body = json.loads((ROOT / "examples" / "ask_gpt.json").read_text())
    response = server.api("POST", "/api/v1/flows/import", json=body)
    assert response.status_code == 413
    assert "SUTRA_FLOW_MAX_BYTES" in response.json()["detail"]
