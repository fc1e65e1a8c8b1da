"""The scenarios of ``benches/run.py``, one module per group, in the order a run goes through
them (and the results list them).

Each module declares ``NAME`` (what ``--only`` takes), ``TARGETS`` (the ratios its figures
are meant to reach, by figure id; empty if none) and ``run(setup, results)``. The suite's
targets are the union of the modules': a target lives next to the scenario that measures it,
so a figure and its target are added, changed or removed together.
"""

from __future__ import annotations

import types
import typing as t

from harness import Results, Setup

from . import (
    bucket_strings,
    clear,
    dbt_pattern,
    fresh_process,
    fs_hit,
    fs_set,
    imports,
    integrity,
    isolation,
    memcached,
    new_env,
)

MODULES: tuple[types.ModuleType, ...] = (
    fs_hit,
    fs_set,
    bucket_strings,
    memcached,
    fresh_process,
    clear,
    isolation,
    dbt_pattern,
    integrity,
    new_env,
    imports,
)


def _collect() -> tuple[dict[str, t.Callable[[Setup, Results], None]], dict[str, float]]:
    scenarios: dict[str, t.Callable[[Setup, Results], None]] = {}
    targets: dict[str, float] = {}
    for module in MODULES:
        if module.NAME in scenarios:
            raise ValueError(f"{module.__name__}: scenario {module.NAME!r} is declared twice")
        scenarios[module.NAME] = module.run
        # One id, one target: a second declaration would silently decide which one counts.
        twice = targets.keys() & module.TARGETS.keys()
        if twice:
            raise ValueError(f"{module.__name__}: targets declared twice: {sorted(twice)}")
        targets.update(module.TARGETS)
    return scenarios, targets


SCENARIOS, TARGETS = _collect()
