"""``set_contact_channel`` (spec 14): send the contact's next messages through a channel.

Sutra's channels are its kinds (``whatsapp``, ``gupshup``, ``sim``); the action's channel is
matched by its name or uuid, case aside. The choice holds until the contact next writes: replies
go back the way they came.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "set_contact_channel", "uuid": "3a7e9a4c-6a60-4f0e-8d39-04f4bd1b3b1e",
...             "channel": {"uuid": "57f1078f-88aa-46f4-a59a-948a5739c03d", "name": "Gupshup"}})
[{'type': 'contact_channel_changed', 'channel': 'gupshup'}]
>>> run_action({"type": "set_contact_channel", "uuid": "3a7e9a4c-6a60-4f0e-8d39-04f4bd1b3b1e",
...             "channel": {"uuid": "57f1078f", "name": "Android Phone"}})[0]["reason"]
"no channel 'Android Phone' in Sutra (whatsapp, gupshup, sim)"
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, Ref, action
from sutra.engine.events import ContactChannelChanged
from sutra.engine.scope import Scope

CHANNELS = ("whatsapp", "gupshup", "sim")


@action("set_contact_channel")
class SetContactChannel(Action):
    type: Literal["set_contact_channel"] = "set_contact_channel"
    channel: Ref = Ref()

    def execute(self, scope: Scope) -> Interrupt | None:
        wanted = {self.channel.name.strip().lower(), self.channel.uuid.strip().lower()}
        channel = next((c for c in CHANNELS if c in wanted), None)
        if channel is None:
            name = self.channel.name or self.channel.uuid
            scope.skip(self, f"no channel {name!r} in Sutra ({', '.join(CHANNELS)})")
            return None
        scope.contact.channel = channel
        scope.emit(ContactChannelChanged(channel=channel))
        return None
