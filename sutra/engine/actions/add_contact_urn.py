"""``add_contact_urn``: give the contact another address, e.g. a backup phone number.

The path is a template; a phone is kept in E.164, one written without ``+`` read in the
organisation's default country. An address the contact has already changes nothing; one that
is no address of its scheme is an error event naming it, and the flow goes on.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "add_contact_urn", "uuid": "4f552bf3-31ad-4125-84e9-9011ab2c1e99",
...             "scheme": "tel", "path": "@results.backup_phone"},
...            contact={"urn": "whatsapp:250788123123"}, country="RW",
...            results={"backup_phone": {"value": "0781 234 567", "category": "Has Phone"}})
[{'type': 'contact_urns_changed',
  'urns': ['whatsapp:250788123123', 'tel:+250781234567'],
  'added': 'tel:+250781234567'}]
>>> run_action({"type": "add_contact_urn", "uuid": "4f552bf3-31ad-4125-84e9-9011ab2c1e99",
...             "scheme": "tel", "path": "+250 781 234 567"},
...            contact={"urn": "whatsapp:250788123123", "urns": ["tel:+250781234567"]})
[]
>>> run_action({"type": "add_contact_urn", "uuid": "4f552bf3-31ad-4125-84e9-9011ab2c1e99",
...             "scheme": "tel", "path": "call me"})[0]["text"]
"unable to add URN 'tel:call me': not a phone number"
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, Text, action
from sutra.engine.events import ContactURNsChanged
from sutra.engine.scope import Scope
from sutra.engine.urns import normalize_urn


@action("add_contact_urn")
class AddContactURN(Action):
    type: Literal["add_contact_urn"] = "add_contact_urn"
    scheme: Text = ""
    path: Text = ""

    def execute(self, scope: Scope) -> Interrupt | None:
        path = scope.template(self.path).strip()
        if not path:
            scope.error(self, "can't add URN with empty path")
            return None
        try:
            urn = normalize_urn(self.scheme, path, scope.env.default_country)
        except ValueError as why:
            scope.error(self, f"unable to add URN '{self.scheme}:{path}': {why}")
            return None
        contact = scope.contact
        if urn in contact.all_urns():
            return None
        contact.urns.append(urn)
        scope.emit(ContactURNsChanged(urns=contact.all_urns(), added=urn))
        return None
