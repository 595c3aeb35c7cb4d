"""``set_contact_language``: the language the contact's messages are translated to.

Glific writes the language's name ("hindi"); the contact keeps its ISO code.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "set_contact_language", "uuid": "1fcfd29b-d6c5-4d09-8901-45c9bdc4f6b1",
...             "language": "hindi"})
[{'type': 'contact_language_changed', 'language': 'hi'}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, action
from sutra.engine.events import ContactLanguageChanged
from sutra.engine.languages import normalize_language
from sutra.engine.scope import Scope


@action("set_contact_language")
class SetContactLanguage(Action):
    type: Literal["set_contact_language"] = "set_contact_language"
    language: str

    def execute(self, scope: Scope) -> Interrupt | None:
        language = normalize_language(scope.template(self.language))
        scope.contact.language = language
        scope.emit(ContactLanguageChanged(language=language))
        return None
