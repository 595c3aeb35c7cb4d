"""The web simulator's channel: replies are stored, and the simulator page reads them."""

from __future__ import annotations

from sutra.channels.base import OutboundMessage, SendResult


class Simulator:
    name = "sim"

    async def send(self, message: OutboundMessage) -> SendResult:
        return SendResult()
