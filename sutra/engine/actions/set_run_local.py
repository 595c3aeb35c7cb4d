"""``set_run_local`` (spec 14): set, increment or clear a value the run keeps in ``@locals``.

Names are goflow's (``^[a-z_][a-z0-9_]{0,63}$``) and values at most 1,000 characters; an
increment adds the value (1 by default) to the local read as a whole number (0 when unset).

>>> from sutra.engine.testing import run_locals
>>> step = {"type": "set_run_local", "uuid": "7f29126a-e9cd-455b-bc7b-fc92c05e8ef1",
...         "local": "counter", "value": "1", "operation": "increment"}
>>> run_locals(step), run_locals(step, locals={"counter": "41"})
({'counter': '1'}, {'counter': '42'})
>>> run_locals({**step, "operation": "set", "value": "@contact.name"})
{'counter': 'Ben Haggerty'}
>>> run_locals({**step, "operation": "clear"}, locals={"counter": "3", "other": "x"})
{'other': 'x'}
"""

from __future__ import annotations

import re
from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, action
from sutra.engine.scope import Scope
from sutra.expressions.values import parse_number

LOCAL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
MAX_VALUE = 1000


@action("set_run_local")
class SetRunLocal(Action):
    type: Literal["set_run_local"] = "set_run_local"
    local: str
    value: str = ""
    operation: Literal["set", "increment", "clear"] = "set"

    def execute(self, scope: Scope) -> Interrupt | None:
        if not LOCAL_NAME.fullmatch(self.local):
            scope.skip(self, f"{self.local!r} is not a local's name (a-z, 0-9, _)")
            return None
        if self.operation == "clear":
            scope.set_local(self.local, None)
            return None
        value = scope.template(self.value)[:MAX_VALUE]
        if self.operation == "increment":
            step = parse_number(value) if value.strip() else 1
            current = parse_number(scope.run.locals.get(self.local) or "0")
            if step is None or current is None or step != step.to_integral_value():
                scope.skip(self, f"cannot add {value!r} to local {self.local!r}")
                return None
            value = str(int(current) + int(step))
        scope.set_local(self.local, value)
        return None
