"""The context every builtin's docstring example runs in.

It is the one goflow's function reference uses, so an example reads as goflow documents it: a
contact named Ryan Lewis with two groups and six fields, in America/Guayaquil (UTC-5), dates
written day first, at 13:24:30.123456 on 11 April 2018.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sutra.expressions.env import Env
from sutra.expressions.values import Aliased, ErrorValue, render

EXAMPLE_ENV = Env(
    timezone="America/Guayaquil",
    now=datetime(2018, 4, 11, 18, 24, 30, 123456, tzinfo=UTC),
    seed="examples",
)

_FIELDS: dict[str, Any] = {
    "activation_token": "AACC55",
    "age": Decimal(23),
    "gender": "Male",
    "join_date": datetime(2017, 12, 2, tzinfo=timezone(timedelta(hours=-2))),
    "not_set": None,
    "state": "Kigali",
}
_URNS = ["tel:+12024561111", "twitterid:54784326227#nyaruka", "mailto:foo@bar.com"]

EXAMPLE_CONTEXT: dict[str, Any] = {
    "contact": Aliased(
        {
            "__text__": "Ryan Lewis",
            "uuid": "5d76d86b-3bb9-4d5a-b822-c9d86f5d8e4f",
            "name": "Ryan Lewis",
            "first_name": "Ryan",
            "language": "eng",
            "urn": _URNS[0],
            "fields": _FIELDS,
            "groups": [
                {
                    "__text__": "Testers",
                    "uuid": "b7cf0d83-f1c9-411c-96fd-c511a4cfa86d",
                    "name": "Testers",
                },
                {
                    "__text__": "Males",
                    "uuid": "4f1f98fc-27a7-4a69-bbdb-24744ba739a9",
                    "name": "Males",
                },
            ],
        },
        aliases={"urns": _URNS},
    ),
    "fields": _FIELDS,
    "urns": {"tel": _URNS[0], "twitterid": _URNS[1], "mailto": _URNS[2], "whatsapp": None},
}


def show(template: str) -> None:
    """Print what ``template`` renders as in the example context, or ``ERROR`` when it is one
    expression and that expression fails (goflow's reference writes it so)."""
    from sutra.expressions.evaluate import evaluate_value

    value = evaluate_value(template, EXAMPLE_CONTEXT, env=EXAMPLE_ENV)
    print("ERROR" if isinstance(value, ErrorValue) else render(value))
