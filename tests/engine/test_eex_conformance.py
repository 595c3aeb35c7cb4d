"""Glific's ``<%= %>`` snippets, as its safe interpreter's own tests define them
(test/glific/flows/expression_test.exs: a template, its bindings, what it renders; REFUSED
where Glific refuses the snippet), through Sutra's EEx subset. A refused snippet stays as the
author wrote it in Sutra, as in Glific.

Sutra runs a subset: arithmetic and comparison, ``rem``/``div``, ``<>``, ``&&``/``||``/``in``,
``if c, do: a, else: b``, lists, pipes, ``"#{...}"`` and the pure ``String``, ``Enum``,
``Decimal``, ``Integer``, ``Kernel`` and ``Timex.today`` functions of sutra/expressions/elixir.py.
``UNSUPPORTED`` lists the rows it does not run (map literals, ``cond``, ``with``, ``fn``,
ranges, sigils, local assignment, operator captures); they stay as written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sutra.expressions import evaluate_template
from sutra.expressions.env import Env

ENV = Env(now=datetime(2026, 1, 1, tzinfo=UTC))

ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("<%= 4 + 4 %>", {}, "8"),
    ("<%= 5 * 60 %>", {}, "300"),
    ("<%= rem(5, 2) %>", {}, "1"),
    ("<%= rem(13 * 2 + 1, 6) %>", {}, "3"),
    ("<%= @var + 1 %>", {"var": 4}, "5"),
    ('<%= String.upcase("hello") %>', {}, "HELLO"),
    ('<%= "a" <> "b" %>', {}, "ab"),
    ("<%= @contact.name %>", {"contact": {"name": "Ada"}}, "Ada"),
    ("You earned <%= 2 + 3 %> points", {}, "You earned 5 points"),
    ('<%= %{"city" => "Pune"} %>', {}, '{"city":"Pune"}'),
    ("<%= @results.profile %>", {"results": {"profile": {"city": "Pune"}}}, '{"city":"Pune"}'),
    ("<%= [1, 2, 3] %>", {}, "1, 2, 3"),
    ('<%= ["Math", "Science"] %>', {}, "Math, Science"),
    ("<%= Enum.take(@results, 2) %>", {"results": ["Math", "Science", "Art"]}, "Math, Science"),
    (
        "Please apply for the scholarship before Friday",
        {},
        "Please apply for the scholarship before Friday",
    ),
    ('<%= System.cmd("id", []) %>', {}, "REFUSED"),
    ('<%= File.read!("/etc/hostname") %>', {}, "REFUSED"),
    ('<%= :os.cmd(~c"id") %>', {}, "REFUSED"),
    ('<%= apply(System, :cmd, ["id", []]) %>', {}, "REFUSED"),
    ("<%= spawn(fn -> :ok end) %>", {}, "REFUSED"),
    ("<%= 5 / 0 %>", {}, "REFUSED"),
    ("<%= rem(5, 0) %>", {}, "REFUSED"),
    ("<%= div(5, 0) %>", {}, "REFUSED"),
    ("<%= 4 + %>", {}, "REFUSED"),
    ("<%= @missing %>", {}, ""),
    ("<%= " + " + ".join(["2"] * 40) + " %>", {}, "80"),
    ('<%= if 3 > 2, do: "yes", else: "no" %>', {}, "yes"),
    ('<%= if 1 > 2, do: "yes", else: "no" %>', {}, "no"),
    ('<%= cond do @n > 3 -> "big"; true -> "small" end %>', {"n": 5}, "big"),
    ('<%= "  hi  " |> String.trim() |> String.upcase() %>', {}, "HI"),
    ("<%= @n > 0 && @n <= 10 %>", {"n": 5}, "true"),
    ('<%= @missing || "default" %>', {}, "default"),
    ("<%= @n in [1, 2, 5] %>", {"n": 5}, "true"),
    ('<%= "count: #{@n}" %>', {"n": 5}, "count: 5"),
    ("<%= x = 3\nx * x %>", {}, "9"),
    ('<%= String.replace("a b c", " ", "-") %>', {}, "a-b-c"),
    ('<%= String.to_integer("5") %>', {}, "5"),
    ("<%= Enum.count(1..3) %>", {}, "3"),
    ('<%= Regex.match?(~r/ab/, "xabc") %>', {}, "true"),
    ('<%= Map.get(%{"a" => 1, "b" => 2}, "b") %>', {}, "2"),
    ("<%= hd([3, 4]) %>", {}, "3"),
    ("<%= ~s(hello) %>", {}, "hello"),
    ("<%= Decimal.mult(2, 3) %>", {}, "6"),
    ("<%= Decimal.div(9, 3) %>", {}, "3"),
    ("<%= Enum.sum([1, 2, 3]) %>", {}, "6"),
    ('<%= Enum.map_join(["a", "b"], ", ", &(&1)) %>', {}, "a, b"),
    ('<%= Enum.take([1, 2, 3], 2) |> Enum.join(", ") %>', {}, "1, 2"),
    ('<%= ["a", "b"] |> Enum.reverse() |> Enum.join("-") %>', {}, "b-a"),
    ('<%= inspect("en") %>', {}, '"en"'),
    ('<%= String.to_float("1.5") %>', {}, "1.5"),
    ("<%= 5 |> Kernel.>(0) %>", {}, "true"),
    ("<%= 1000 |> Kernel.+(1000) %>", {}, "2000"),
    ("<%= String.length(@name) %>", {"name": "abc"}, "3"),
    ("<%= @contact.fields.Grade %>", {"contact": {"fields": {"Grade": "8"}}}, "8"),
    ("<%= String %>", {}, "REFUSED"),
    (
        "<%= Enum.find(@results.list, fn x -> x > 3 end) %>",
        {"results": {"list": [1, 2, 3, 4, 5]}},
        "4",
    ),
    ("<%= 5 |> then(fn v -> v * 2 end) %>", {}, "10"),
    (
        '<%= if "TAP_1" in @contact.in_groups, do: 1, '
        'else: if "TAP_3" in @contact.in_groups, do: 2, else: 3 %>',
        {"contact": {"in_groups": ["TAP_3"]}},
        "2",
    ),
    (
        '<%= if "TAP_1" in @contact.in_groups, do: 1, else: 2 %>',
        {"contact": {"in_groups": ["x"]}},
        "2",
    ),
    ("<%= Glific.Repo.all() %>", {}, "REFUSED"),
    ("<%= with {:ok, v} <- {:ok, 5} do v * 2 end %>", {}, "10"),
]

# Glific forms Sutra's subset does not have: such a snippet stays as the author wrote it.
UNSUPPORTED = {
    '<%= %{"city" => "Pune"} %>',
    '<%= cond do @n > 3 -> "big"; true -> "small" end %>',
    "<%= x = 3\nx * x %>",
    "<%= Enum.count(1..3) %>",
    '<%= Regex.match?(~r/ab/, "xabc") %>',
    '<%= Map.get(%{"a" => 1, "b" => 2}, "b") %>',
    "<%= ~s(hello) %>",
    '<%= Enum.map_join(["a", "b"], ", ", &(&1)) %>',
    "<%= 5 |> Kernel.>(0) %>",
    "<%= 1000 |> Kernel.+(1000) %>",
    "<%= Enum.find(@results.list, fn x -> x > 3 end) %>",
    "<%= 5 |> then(fn v -> v * 2 end) %>",
    "<%= with {:ok, v} <- {:ok, 5} do v * 2 end %>",
}


@pytest.mark.parametrize(("template", "bindings", "expected"), ROWS)
def test_glific_eex_row(template: str, bindings: dict[str, Any], expected: str) -> None:
    rendered = evaluate_template(template, bindings, env=ENV)
    if expected == "REFUSED" or template in UNSUPPORTED:
        assert rendered == template
    else:
        assert rendered == expected


def test_eex_agreement_figure() -> None:
    """The figure docs/compatibility.md quotes."""
    assert len(ROWS) == 61
    assert len(UNSUPPORTED) == 13
    assert all(template in {t for t, _, _ in ROWS} for template in UNSUPPORTED)


def test_a_glific_router_on_the_contact_groups_routes_by_eex() -> None:
    # Glific's routing on groups (a real flow's form): the operand is an EEx snippet.
    from sutra.engine.session import Contact, Group

    from .flowkit import Chat, FlowBuilder, send

    operand = '<%= if "Pune" in @contact.in_groups, do: 1, else: 2 %>'
    flow = (
        FlowBuilder("Groups")
        .switch(
            "route",
            cases=[("has_number_eq", "1", "Pune")],
            operand=operand,
            result_name="where",
            to={"Pune": "pune", "Other": "other"},
        )
        .node("pune", send("Namaskar, Pune"))
        .node("other", send("Hello"))
    )
    in_pune = Contact(name="Asha", groups=[Group(uuid="g1", name="Pune")])
    assert Chat(flow, contact=in_pune).start() == ["Namaskar, Pune"]
    assert Chat(flow, contact=Contact(name="Ravi")).start() == ["Hello"]
