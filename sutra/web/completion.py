"""What the flow editor's ``@`` autocomplete offers: the variables and functions Sutra evaluates.

The editor asks ``/flow-editor/completion`` for ``{context, functions, webhook}``:

* ``context`` is a schema of types and properties. ``root`` is what may follow ``@`` in a flow
  step; ``root_no_session`` what may follow it outside one. A type with a ``property_template``
  lists keys the editor knows at run time: ``fields`` (the contact fields it loads),
  ``globals`` and ``results`` (the result names of the flow being edited).
* ``functions`` are the expression functions (``@(upper(contact.name))``).
* ``webhook`` lists the FUNCTION choices of a webhook node, each with the JSON body template that
  picking it puts in the node: one entry per registered webhook function.

Everything here describes Sutra's own evaluator (sutra.expressions, sutra.engine.scope); a test
checks that every function offered is one the evaluator knows.
"""

from __future__ import annotations

import json
from typing import Any

from sutra.functions.registry import all_functions


def _prop(key: str, help: str, type: str = "text") -> dict[str, str]:
    return {"key": key, "help": help, "type": type}


def _keyed(name: str, help: str, type: str) -> dict[str, Any]:
    return {
        "name": name,
        "key_source": name,
        "property_template": {"key": "{key}", "help": help, "type": type},
    }


TYPES: list[dict[str, Any]] = [
    {
        "name": "contact",
        "properties": [
            _prop("__default__", "the contact's name"),
            _prop("uuid", "the contact's UUID"),
            _prop("id", "the contact's id"),
            _prop("name", "the contact's full name"),
            _prop("first_name", "the first word of the contact's name"),
            _prop("phone", "the contact's phone number"),
            _prop("urn", "the contact's address, e.g. whatsapp:919812345678"),
            _prop("language", "the contact's language"),
            _prop("fields", "the contact's custom fields", "fields"),
            _prop("groups", "the groups the contact is in", "group_list"),
        ],
    },
    _keyed("fields", "{key} for the contact", "any"),
    _keyed("globals", "the global value {key}", "text"),
    _keyed("results", "the result {key}", "result"),
    {
        "name": "result",
        "properties": [
            _prop("__default__", "the value"),
            _prop("value", "the value"),
            _prop("category", "the category the value fell in"),
            _prop("input", "what the contact sent"),
            _prop("parsed_msg", "a GPT function's answer (parse_via_chat_gpt)", "any"),
            _prop("success", "whether a webhook function succeeded"),
            _prop("error", "why a webhook function failed"),
            _prop("inserted_at", "when the result was saved"),
        ],
    },
    {"name": "any", "properties": []},
    {"name": "group_list", "properties": []},
    {
        "name": "input",
        "properties": [
            _prop("__default__", "the text and attachments of the message"),
            _prop("text", "the text of the message"),
            _prop("attachments", "the attachments of the message", "any"),
            _prop("uuid", "the UUID of the message"),
        ],
    },
    {
        "name": "flow",
        "properties": [
            _prop("__default__", "the flow's name"),
            _prop("name", "the flow's name"),
            _prop("uuid", "the flow's UUID"),
            _prop("id", "the flow's id (its UUID)"),
        ],
    },
    {
        "name": "run",
        "properties": [
            _prop("status", "the run's status"),
            _prop("uuid", "the run's UUID"),
            _prop("results", "the run's results", "results"),
        ],
    },
    {
        "name": "related_run",
        "properties": [
            _prop("__default__", "the flow's name"),
            _prop("uuid", "the run's UUID"),
            _prop("status", "the run's status"),
            _prop("results", "the results of that run", "results"),
            _prop("flow", "that run's flow", "flow"),
        ],
    },
    {
        "name": "webhook",
        "properties": [
            _prop("__default__", "the status of the last webhook call"),
            _prop("status", "the HTTP status of the last webhook call (200 when it worked)"),
            _prop("json", "the JSON the last webhook call answered", "any"),
        ],
    },
    {
        "name": "calendar",
        "properties": [
            _prop("current_date", "today, as 31/01/2026"),
            _prop("yesterday", "yesterday, as 30/01/2026"),
            _prop("tomorrow", "tomorrow, as 01/02/2026"),
            _prop("current_day", "the name of today's weekday"),
            _prop("current_month", "the name of this month"),
            _prop("current_year", "this year"),
        ],
    },
]

ROOT: list[dict[str, str]] = [
    _prop("contact", "the contact", "contact"),
    _prop("fields", "the contact's custom fields", "fields"),
    _prop("results", "the results of this flow's run", "results"),
    _prop("input", "the message the contact sent last", "input"),
    _prop("flow", "this flow", "flow"),
    _prop("run", "this run of the flow", "run"),
    _prop("parent", "the run that started this flow as a sub-flow", "related_run"),
    _prop("child", "the run of the last sub-flow this flow started", "related_run"),
    _prop("webhook", "the last webhook or function call", "webhook"),
    _prop("globals", "the organisation's global values", "globals"),
    _prop("calendar", "dates, in the organisation's time zone", "calendar"),
]

# Outside a flow step (e.g. a message template) only the contact's own data is known.
ROOT_NO_SESSION: list[dict[str, str]] = [
    prop for prop in ROOT if prop["key"] in ("contact", "fields", "globals", "calendar")
]


def _fn(signature: str, summary: str, template: str, output: str) -> dict[str, Any]:
    return {
        "signature": signature,
        "summary": summary,
        "detail": "",
        "examples": [{"template": template, "output": output}],
    }


FUNCTIONS: list[dict[str, Any]] = [
    _fn("abs(number)", "The absolute value of `number`.", "@(abs(-4))", "4"),
    _fn("and(values...)", "Whether every one of `values` is true.", "@(and(true, false))", "false"),
    _fn(
        "contains(text, part)",
        "Whether `text` contains `part`, ignoring case.",
        '@(contains("Good morning", "MORNING"))',
        "true",
    ),
    _fn(
        "default(value, fallback)",
        "`value`, or `fallback` when `value` is empty or unknown.",
        '@(default(contact.name, "friend"))',
        "friend",
    ),
    _fn("div(a, b)", "`a` divided by `b`, rounded down to a whole number.", "@(div(7, 2))", "3"),
    _fn("if(test, yes, no)", "`yes` if `test` is true, else `no`.", "@(if(1 > 2, 1, 2))", "2"),
    _fn("len(text)", "The number of characters in `text`.", '@(len("hello"))', "5"),
    _fn(
        "length(value)",
        "The number of items in a list, or of characters in text.",
        '@(length("hi"))',
        "2",
    ),
    _fn("lower(text)", "`text` in lower case.", '@(lower("HeLLo"))', "hello"),
    _fn("max(numbers...)", "The largest of `numbers`.", "@(max(1, 5, 3))", "5"),
    _fn("min(numbers...)", "The smallest of `numbers`.", "@(min(1, 5, 3))", "1"),
    _fn("mod(a, b)", "The remainder of `a` divided by `b`.", "@(mod(7, 3))", "1"),
    _fn("not(value)", "The opposite of `value`.", "@(not(true))", "false"),
    _fn("now()", "The current date and time.", "@(now())", "2026-01-31T10:00:00+05:30"),
    _fn("number(text)", "`text` as a number.", '@(number("42"))', "42"),
    _fn("or(values...)", "Whether any one of `values` is true.", "@(or(true, false))", "true"),
    _fn("rem(a, b)", "The remainder of `a` divided by `b`.", "@(rem(7, 3))", "1"),
    _fn(
        "round(number, places)",
        "`number` rounded to `places` decimals.",
        "@(round(3.14, 1))",
        "3.1",
    ),
    _fn("text(value)", "`value` as text.", "@(text(42))", "42"),
    _fn("title(text)", "`text` with each word capitalised.", '@(title("hi there"))', "Hi There"),
    _fn("today()", "Today's date.", "@(today())", "2026-01-31"),
    _fn("trim(text)", "`text` without spaces at either end.", '@(trim("  hi  "))', "hi"),
    _fn("upper(text)", "`text` in upper case.", '@(upper("hello"))', "HELLO"),
    _fn("word(text, index)", "The word at `index` (from 0) in `text`.", '@(word("a b c", 1))', "b"),
    _fn("word_count(text)", "The number of words in `text`.", '@(word_count("a b c"))', "3"),
]


def webhook_functions() -> list[dict[str, Any]]:
    """The FUNCTION choices: every registered webhook function with its body template.

    ``body`` is the JSON text the editor puts in the node's body, as Glific's presets have it;
    ``response_format_example`` shows what ``@results.NAME`` will hold.
    """
    return [
        {
            "name": spec.name,
            "body": json.dumps(spec.body_template, indent=1, ensure_ascii=False),
            "headers": {"Content-Type": "application/json"},
            "response_format_example": json.dumps(spec.response_example, ensure_ascii=False),
            "description": spec.description,
        }
        for spec in all_functions()
    ]


def completion() -> dict[str, Any]:
    return {
        "context": {"types": TYPES, "root": ROOT, "root_no_session": ROOT_NO_SESSION},
        "functions": FUNCTIONS,
        "webhook": webhook_functions(),
    }
