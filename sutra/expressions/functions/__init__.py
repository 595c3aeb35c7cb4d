"""The builtin functions, one module per family; importing this package registers them all.

Each function is one decorated Python function (see registry.py); its docstring's examples run
as doctests in the context goflow's reference uses (examples.py). To add a function, add it to
its family's module.
"""

from sutra.expressions.functions import (  # noqa: F401  (each module registers its functions)
    arrays,
    dates,
    extras,
    json,
    logic,
    numbers,
    text,
    urls,
)
from sutra.expressions.functions.registry import FUNCTIONS, Builtin, function

__all__ = ["FUNCTIONS", "Builtin", "function"]
