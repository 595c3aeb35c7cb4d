"""CPU turns (sutra.runtime.working): a turn is never lost, whatever ends the work."""

from __future__ import annotations

import asyncio

import pytest

from sutra.runtime.working import Working, away


async def _hold_and_time_out(working: Working, org: int) -> None:
    with pytest.raises(TimeoutError):
        # A model that never answers, waited for away from the turn.
        async with working.turn(org), asyncio.timeout(0.05), away():
            await asyncio.sleep(10)


def test_a_call_cut_off_while_away_gives_its_turn_back() -> None:
    async def scenario() -> tuple[int, int, list[str]]:
        working = Working(turns=1, guaranteed=0)
        order: list[str] = []

        async def other(org: int, name: str) -> None:
            async with working.turn(org):
                order.append(name)

        # Two organisations ask, so there is one turn between them.
        await asyncio.gather(_hold_and_time_out(working, 1), other(2, "b"), other(1, "a"))
        return working.share.running(1), working.share.running(2), order

    running_a, running_b, order = asyncio.run(scenario())
    assert (running_a, running_b) == (0, 0)
    assert sorted(order) == ["a", "b"]


def test_a_task_started_during_a_turn_takes_its_own() -> None:
    async def scenario() -> list[int]:
        working = Working(turns=1, guaranteed=0)
        seen: list[int] = []

        async def child() -> None:
            async with working.turn(2):
                seen.append(working.share.running(2))

        async with working.turn(1):
            task = asyncio.create_task(child())  # copies the context, not the turn
            await asyncio.sleep(0.01)
            seen.append(int(task.done()))
        await task
        return seen

    # The child waited for the parent's turn (not done while it was held), then had its own.
    assert asyncio.run(scenario()) == [0, 1]
