"""Expressions of RapidPro's legacy flows, rewritten in today's syntax.

A legacy flow writes ``@flow.age`` for a result, ``@step.value`` for what the contact just said,
``@contact.district`` for a contact field and ``@(UPPER(flow.name))`` for an expression in the
old, spreadsheet-like dialect (``&`` joins text, ``<>`` is "not equal", functions are upper case
and count from 1). RapidPro rewrites all of them when it imports such a flow, and so do we:
to what Sutra's context holds where it has the same thing (``@input``, ``@fields.district``,
``@calendar.current_date``), otherwise to the spelling RapidPro writes today.

>>> migrate_template("Hi @contact.name, you said @step.value. Age: @contact.age")
'Hi @contact.name, you said @input. Age: @fields.age'
>>> migrate_template('@flow.color.category: @(UPPER(flow.color)) & @(CONCATENATE(step, "!"))')
'@results.color.category: @(upper(results.color.value)) & @(input & "!")'
>>> migrate_template("Mail bob@nyaruka.com, @@flow.x stays, @(WORD(flow.name, 2))")
'Mail bob@nyaruka.com, @@flow.x stays, @(word(results.name.value, 1))'

(Flows exported before version 8 wrote other syntaxes too; :mod:`.old_syntax` rewrites them
first.)

Text that does not parse as a legacy expression is kept as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from sutra.expressions import snakify
from sutra.flows.legacy.functions import migrate_call

# The names a legacy template can start with; ``@anything_else`` is plain text.
TOP_LEVELS = frozenset({"contact", "flow", "step", "date", "channel", "extra", "parent", "child"})
IDENTIFIER = re.compile(r"[^\W\d]\w*(?:\.\w+)*")
_CONTACT_ATTRIBUTES = frozenset(
    {"uuid", "id", "name", "first_name", "language", "created_on", "groups"}
)
# Contact URN schemes RapidPro knows, other than a phone number (which Sutra has).
_URN_SCHEMES = frozenset(
    {
        "discord",
        "email",
        "ext",
        "facebook",
        "fcm",
        "freshchat",
        "instagram",
        "jiochat",
        "line",
        "mailto",
        "rocketchat",
        "slack",
        "telegram",
        "twitter",
        "twitterid",
        "viber",
        "vk",
        "webchat",
        "wechat",
    }
)
# ``@flow.age.text`` and friends; Sutra stores a result's time as ``inserted_at``.
_RESULT_ATTRIBUTES = {"text": "input", "time": "inserted_at"}


@dataclass(frozen=True)
class _Out:
    """A rewritten piece: its text and whether it is a bare ``a.b.c`` path."""

    text: str
    path: bool = False
    # A list joined with an operator (CONCATENATE, SUM): bracketed when it is an operand.
    joined: bool = False


def _path(*parts: str) -> _Out:
    return _Out(".".join(parts), path=True)


def _expr(text: str) -> _Out:
    return _Out(text)


# --- variables -----------------------------------------------------------------------------------


def _variable(parts: list[str]) -> _Out:
    names = [part.lower() for part in parts]
    top, rest = names[0], names[1:]
    if top == "contact":
        return _contact("contact", "fields", rest)
    if top == "flow":
        return _results("results", rest)
    if top == "step":
        return _step(rest)
    if top == "date":
        return _date(rest)
    if top == "channel":
        return _path("contact", "channel", "name" if rest[:1] == ["name"] else "address")
    if top == "extra":
        return _extra(rest)
    if top in ("parent", "child"):
        if rest[:1] == ["contact"]:
            return _contact(f"{top}.contact", f"{top}.fields", rest[1:])
        return _results(f"{top}.results", rest)
    return _path(*names)


def _contact(contact: str, fields: str, rest: list[str]) -> _Out:
    if not rest:
        return _path(contact)
    key, more = rest[0], rest[1:]
    if key in _CONTACT_ATTRIBUTES:
        return _path(contact, key, *more)
    if key in ("tel", "tel_e164", "whatsapp"):
        return _path(contact, "urn" if more == ["urn"] else "phone")
    if key in _URN_SCHEMES:
        owner = contact.removesuffix("contact").removesuffix(".")
        urns = f"{owner}.urns" if owner else "urns"
        return _expr(f"format_urn({urns}.{key})")
    return _path(fields, key, *more)


def _results(results: str, rest: list[str]) -> _Out:
    if not rest:
        return _path(results)
    if rest[0] == "contact":
        return _contact("contact", "fields", rest[1:])
    # Sutra keys a result as it snakifies its name ("What's up?" is what_s_up, not what_s_up_).
    name, more = snakify(rest[0]) or rest[0], rest[1:]
    if not more:
        # A legacy result reads as its value (the number a case found in "I am 12");
        # Sutra's bare @results.x is what the contact said.
        return _path(results, name, "value")
    return _path(results, name, _RESULT_ATTRIBUTES.get(more[0], more[0]), *more[1:])


def _step(rest: list[str]) -> _Out:
    if not rest or rest == ["value"]:
        return _path("input")
    key, more = rest[0], rest[1:]
    if key == "contact":
        return _contact("contact", "fields", more)
    if key == "time":
        return _path("input", "created_on")
    return _path("input", *rest)


def _date(rest: list[str]) -> _Out:
    key = rest[0] if rest else "now"
    if key == "today":
        return _path("calendar", "current_date")
    if key in ("tomorrow", "yesterday"):
        return _path("calendar", key)
    return _expr("now()")


def _extra(rest: list[str]) -> _Out:
    if rest[:1] == ["flow"]:
        return _results("parent.results", rest[1:])
    if rest[:1] == ["contact"]:
        return _contact("parent.contact", "parent.fields", rest[1:])
    # What a legacy flow calls @extra is the JSON of the last webhook's response.
    return _path("webhook", "json", *rest)


# --- expressions -----------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str
    text: str


_TOKENS = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"]|"")*")
  | (?P<name>@?[^\W\d]\w*(?:\.\w+)*)
  | (?P<op><=|>=|<>|[-+*/^&=<>(),])
    """,
    re.VERBOSE,
)


class _Unparsable(ValueError):
    """The text is not a legacy expression; it is kept as written."""


def _tokenize(source: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(source):
        found = _TOKENS.match(source, position)
        if found is None:
            raise _Unparsable(source)
        position = found.end()
        kind = found.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, found.group()))
    return tokens


# Each level of the legacy grammar, loosest first; the new syntax binds them the same way.
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"=", "<>", "<", "<=", ">", ">="}),
    frozenset({"&"}),
    frozenset({"+", "-"}),
    frozenset({"*", "/"}),
    frozenset({"^"}),
)


class _Node(NamedTuple):
    kind: str  # number, string, bool, variable, call, group, negative, binary
    text: str = ""
    children: tuple[_Node, ...] = ()


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise _Unparsable(text or "end")
        self.index += 1
        return token

    def parse(self) -> _Node:
        node = self.level(0)
        if self.peek() is not None:
            raise _Unparsable("trailing text")
        return node

    def level(self, depth: int) -> _Node:
        if depth == len(_LEVELS):
            return self.unary()
        node = self.level(depth + 1)
        while (token := self.peek()) is not None and token.kind == "op":
            if token.text not in _LEVELS[depth]:
                break
            self.index += 1
            node = _Node("binary", token.text, (node, self.level(depth + 1)))
        return node

    def unary(self) -> _Node:
        token = self.peek()
        if token is not None and token.text == "-":
            self.index += 1
            return _Node("negative", "-", (self.unary(),))
        return self.atom()

    def atom(self) -> _Node:
        token = self.take()
        if token.kind == "number":
            return _Node("number", token.text)
        if token.kind == "string":
            return _Node("string", token.text[1:-1].replace('""', '"'))
        if token.text == "(":
            inner = self.level(0)
            self.take(")")
            return _Node("group", "", (inner,))
        if token.kind != "name":
            raise _Unparsable(token.text)
        name = token.text.lstrip("@")
        following = self.peek()
        if following is not None and following.text == "(":
            self.index += 1
            arguments: list[_Node] = []
            if (closing := self.peek()) is not None and closing.text == ")":
                self.index += 1
            else:
                arguments.append(self.level(0))
                while self.take().text == ",":
                    arguments.append(self.level(0))
                self.index -= 1
                self.take(")")
            return _Node("call", name.lower(), tuple(arguments))
        if name.lower() in ("true", "false"):
            return _Node("bool", name.lower())
        return _Node("variable", name)


def _render(node: _Node) -> _Out:
    if node.kind == "number":
        return _expr(node.text)
    if node.kind == "string":
        escaped = node.text.replace("\\", "\\\\").replace('"', '\\"')
        return _expr(f'"{escaped}"')
    if node.kind == "bool":
        return _expr(node.text)
    if node.kind == "variable":
        return _variable(node.text.split("."))
    if node.kind == "group":
        return _expr(f"({_render(node.children[0]).text})")
    if node.kind == "negative":
        return _expr(f"-{_operand(node.children[0])}")
    if node.kind == "call":
        return _call(node.text, [_render(child) for child in node.children])
    return _binary(node)


def _operand(node: _Node) -> str:
    out = _render(node)
    return f"({out.text})" if out.joined else out.text


def _is_date(node: _Node) -> bool:
    if node.kind == "group":
        return _is_date(node.children[0])
    if node.kind == "variable":
        return node.text.split(".")[0].lower() == "date"
    return node.kind == "call" and node.text in ("now", "today", "datevalue", "date", "edate")


def _date_value(node: _Node) -> str:
    """A date operand as a value date arithmetic can take (not its text)."""
    if node.kind == "variable":
        key = [*node.text.lower().split("."), "now"][1]
        offset = {"tomorrow": 1, "yesterday": -1}.get(key)
        if offset is not None:
            return f'datetime_add(today(), {offset}, "D")'
        return "today()" if key == "today" else "now()"
    return _render(node).text


def _binary(node: _Node) -> _Out:
    left, right = node.children
    op = node.text
    if op in ("+", "-") and _is_date(left) and not _is_date(right):
        if right.kind == "number" and float(right.text) == 0:
            return _render(left)
        amount = _operand(right)
        if op == "-":
            amount = amount[1:] if amount.startswith("-") else f"-{amount}"
        return _expr(f'datetime_add({_date_value(left)}, {amount}, "D")')
    shown = "!=" if op == "<>" else op
    return _expr(f"{_operand(left)} {shown} {_operand(right)}")


def _call(name: str, arguments: list[_Out]) -> _Out:
    text, joined = migrate_call(name, [argument.text for argument in arguments])
    return _Out(text, joined=joined)


def migrate_expression(source: str) -> str | None:
    """The body of a legacy ``@(...)`` in today's syntax, or None if it does not parse.

    >>> migrate_expression('IF(contact.age > 18, "adult", "minor") <> "x"')
    'if(fields.age > 18, "adult", "minor") != "x"'
    >>> migrate_expression("date.today + 7"), migrate_expression("date.now - 1")
    ('datetime_add(today(), 7, "D")', 'datetime_add(now(), -1, "D")')
    """
    out = _migrate(source)
    return out.text if out is not None else None


def _migrate(source: str) -> _Out | None:
    try:
        return _render(_Parser(_tokenize(source)).parse())
    except (_Unparsable, RecursionError):
        return None


# --- templates -------------------------------------------------------------------------------


def closing_paren(text: str, opening: int) -> int | None:
    depth, index, in_string = 0, opening, False
    while index < len(text):
        char = text[index]
        if in_string:
            if char == '"':
                # A doubled quote is a quote inside the string.
                if text[index + 1 : index + 2] == '"':
                    index += 1
                else:
                    in_string = False
        elif char == '"':
            in_string = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def _as_template(out: _Out) -> str:
    return f"@{out.text}" if out.path else f"@({out.text})"


def migrate_template(text: str) -> str:
    """A legacy template (message text, URL, operand, case argument) in today's syntax."""
    if "@" not in text:
        return text
    pieces: list[str] = []
    index = 0
    while (at := text.find("@", index)) >= 0:
        pieces.append(text[index:at])
        following = text[at + 1 : at + 2]
        if following == "@":
            pieces.append("@@")
            index = at + 2
            continue
        if following == "(":
            end = closing_paren(text, at + 1)
            out = _migrate(text[at + 2 : end]) if end is not None else None
            if end is not None and out is not None:
                pieces.append(_as_template(out))
                index = end + 1
                continue
        else:
            found = IDENTIFIER.match(text, at + 1)
            if found is not None and found.group().split(".")[0].lower() in TOP_LEVELS:
                pieces.append(_as_template(_variable(found.group().split("."))))
                index = found.end()
                continue
        pieces.append("@")
        index = at + 1
    pieces.append(text[index:])
    return "".join(pieces)
