"""Sends paced at a number's messaging limit: replies before broadcasts, pauses honoured."""

from __future__ import annotations

import asyncio

from sutra.runtime.pacing import Pacer


async def test_replies_go_before_waiting_broadcast_messages() -> None:
    pacer = Pacer(20)
    pacer.start()
    order: list[str] = []

    async def send(name: str, *, urgent: bool) -> None:
        await pacer.wait(urgent=urgent)
        order.append(name)

    try:
        broadcast = [asyncio.create_task(send(f"b{i}", urgent=False)) for i in range(6)]
        await asyncio.sleep(0.12)  # the first broadcast messages are on their way
        replies = [asyncio.create_task(send(f"r{i}", urgent=True)) for i in range(2)]
        await asyncio.gather(*broadcast, *replies)
    finally:
        await pacer.stop()
    # Every reply overtook the broadcast messages still waiting when it came.
    first_reply = order.index("r0")
    assert order[first_reply : first_reply + 2] == ["r0", "r1"]
    assert first_reply < 6
    assert [n for n in order if n.startswith("b")] == [f"b{i}" for i in range(6)]


async def test_a_provider_pause_holds_every_send_until_it_ends() -> None:
    pacer = Pacer(1000)
    pacer.start()
    loop = asyncio.get_running_loop()
    try:
        await pacer.wait(urgent=True)
        pacer.pause(0.3)  # a 130429 or Retry-After: 0.3
        paused_at = loop.time()
        await pacer.wait(urgent=True)
        assert loop.time() - paused_at >= 0.29
    finally:
        await pacer.stop()


async def test_the_pace_is_the_limit() -> None:
    pacer = Pacer(50)
    pacer.start()
    loop = asyncio.get_running_loop()
    try:
        await pacer.wait(urgent=False)  # the first send after a quiet spell goes at once
        started = loop.time()
        await asyncio.gather(*(pacer.wait(urgent=False) for _ in range(100)))
        # 100 sends at 50/s cannot take less than ~2 s (a second's allowance may be saved up,
        # none was here); the limit is a floor on the time, never a target for a timed test.
        assert loop.time() - started >= 1.9
    finally:
        await pacer.stop()
