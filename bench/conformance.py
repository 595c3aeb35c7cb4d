"""How closely Sutra agrees with the peers' published tables, per kind.

Runs the rows of the conformance suites (tests/engine/test_case_conformance.py: goflow's case
test reference and test table; tests/engine/test_functions.py: goflow's function, operator and
type examples) and prints, per kind, the rows where Sutra answers as the peer documents. The
suites themselves assert these figures; this prints them, and the rows that differ:

    .venv/bin/python bench/conformance.py [--rows]

It also times every case test on hostile messages (a WhatsApp message's 4,096 characters of
digits, separators, words, a 100,000-character text) and prints the slowest: no message may
make a case test take long, whatever its pattern.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from rich.console import Console
from rich.table import Table

from sutra.engine.cases import CASE_TESTS, CaseError, CaseInput
from sutra.engine.session import Environment
from tests.engine import test_case_conformance as cases
from tests.engine import test_functions as functions

HOSTILE = {
    "digits": "9" * 4096,
    "numbers": " ".join("98765" for _ in range(800)),
    "commas": "1," * 2048,
    "dots": "1." * 2048,
    "signs": "+1 " * 1365,
    "words": "word " * 800,
    "noise": "".join(random.Random(7).choice("0123456789 ,.-+()/:apm@") for _ in range(4096)),
    "long": "x" * 100_000,
}
ARGUMENTS = {"has_number_between": ["1", "10"], "has_pattern": ["(a+)+$"], "has_phrase": ["a b"]}


def slowest_case_tests() -> list[tuple[str, float]]:
    """Each case test's slowest time on the hostile messages, slowest first."""
    env = Environment(default_country="IN", locations=cases.RWANDA)
    worst: dict[str, float] = {}
    for name, test in CASE_TESTS.items():
        args = ARGUMENTS.get(name, ["1"])
        for text in HOSTILE.values():
            started = time.perf_counter()
            with contextlib.suppress(CaseError):
                test(CaseInput(text=text, value=text, now=cases.TABLE.now, env=env), args)
            worst[name] = max(worst.get(name, 0.0), time.perf_counter() - started)
    return sorted(worst.items(), key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", action="store_true", help="also list the rows that differ")
    shown = parser.parse_args().rows
    console = Console()

    table = Table(title="Router case tests against goflow's reference and test table")
    for column in ("kind", "category agrees", "stored value agrees"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    totals = [0, 0, 0, 0]
    for kind, counts in cases.figures().items():
        table.add_row(kind, f"{counts[0]} / {counts[1]}", f"{counts[2]} / {counts[3]}")
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    table.add_row("all", f"{totals[0]} / {totals[1]}", f"{totals[2]} / {totals[3]}", style="bold")
    console.print(table)

    examples = functions.ALL_EXAMPLES
    agreeing = sum(functions.evaluated(t) == expected for t, expected in examples)
    console.print(
        f"goflow's function, operator and type examples: [bold]{agreeing} / {len(examples)}[/]"
    )
    slowest = slowest_case_tests()[:3]
    console.print(
        "slowest case tests on hostile messages: "
        + ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in slowest)
    )
    if shown:
        for (source, call), (answer, why) in cases.DIFFERENCES.items():
            console.print(f"[dim]{source}[/] {call} → {answer!r}: {why}")
        for template, (answer, why) in functions.DIFFERENCES.items():
            console.print(f"[dim]functions[/] {template} → {answer!r}: {why}")


if __name__ == "__main__":
    main()
