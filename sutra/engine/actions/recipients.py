"""Who ``start_session`` and ``send_broadcast`` reach: contacts, groups and urns a flow lists.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "send_broadcast", "uuid": "ac110f56-a66c-4462-921c-b2c6d1c6dadb",
...             "text": "Hi", "urns": ["tel:+12065551212", "not a urn", " "]})[0]["urns"]
['tel:+12065551212']
"""

from __future__ import annotations

from sutra.engine.actions.base import Ref
from sutra.engine.events import GroupRef
from sutra.engine.scope import Scope

# One action can fan out to a whole group; a list written into a flow stays small.
MAX_LISTED = 100


def recipients(
    scope: Scope, contacts: list[Ref], groups: list[Ref], urns: list[str]
) -> tuple[list[str], list[GroupRef], list[str]]:
    """Contact uuids, group references and urns (templated, ``scheme:path`` only)."""
    rendered = [scope.template(urn).strip() for urn in urns]
    return (
        [c.uuid for c in contacts if c.uuid][:MAX_LISTED],
        [GroupRef(uuid=g.uuid, name=g.name) for g in groups if g.uuid or g.name][:MAX_LISTED],
        [u for u in rendered if _is_urn(u)][:MAX_LISTED],
    )


def _is_urn(text: str) -> bool:
    scheme, _, path = text.partition(":")
    return bool(scheme) and scheme.isalnum() and bool(path.strip()) and " " not in text
