"""How closely Sutra agrees with the peers' published tables, per kind.

Runs the rows of the conformance suites (tests/engine/test_case_conformance.py: goflow's case
test reference and test table; tests/engine/test_functions.py: goflow's function, operator and
type examples) and prints, per kind, the rows where Sutra answers as the peer documents. The
suites themselves assert these figures; this prints them, and the rows that differ:

    .venv/bin/python bench/conformance.py [--rows]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from tests.engine import test_case_conformance as cases
from tests.engine import test_functions as functions


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
    if shown:
        for (source, call), (answer, why) in cases.DIFFERENCES.items():
            console.print(f"[dim]{source}[/] {call} → {answer!r}: {why}")
        for template, (answer, why) in functions.DIFFERENCES.items():
            console.print(f"[dim]functions[/] {template} → {answer!r}: {why}")


if __name__ == "__main__":
    main()
