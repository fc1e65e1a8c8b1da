"""dbt's use of Jinja without dbt, in fresh processes (benches/dbt_child.py is the child)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t

from harness import HERE, BenchError, Results, Setup

NAME = "dbt_pattern"

# Against no bytecode cache at all, as dbt runs: a figure to watch, not one the issue set.
TARGETS: dict[str, float] = {}


def run(s: Setup, res: Results) -> None:
    """dbt's use of Jinja without dbt (benches/dbt_child.py): a fresh process builds 400
    templates from strings, each through a new sandboxed Environment with an Undefined class
    made for its node, with no bytecode cache (as dbt does) and with jinja_bccache's (the
    Environment class given FromStringCacheMixin). A warm run must compile nothing, log
    nothing and leave the cache directory as it was."""
    count = 400
    cache_dir = s.new_dir("dbt-pattern")
    script = os.path.join(HERE, "dbt_child.py")

    def child(mode: str) -> dict[str, t.Any]:
        proc = subprocess.run(
            [sys.executable, script, mode, cache_dir, str(count)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise BenchError(f"dbt pattern ({mode}) failed:\n{proc.stderr.strip()}")
        out: dict[str, t.Any] = json.loads(proc.stdout)
        return out

    times: dict[str, list[float]] = {"none": [], "warm": [], "cold": []}
    p = s.profile
    for r in range(max(p.fresh_warm_rounds, p.fresh_cold_rounds)):
        if r < p.fresh_cold_rounds:
            shutil.rmtree(cache_dir)
            os.mkdir(cache_dir)
            out = child("ours")
            if out["compiles"] != count or out["logged"]:
                raise BenchError(f"dbt pattern, cold: {out['compiles']} compiles: {out}")
            times["cold"].append(out["load_us"])
        if r < p.fresh_warm_rounds:
            for mode in ("none", "ours") if r % 2 == 0 else ("ours", "none"):
                out = child(mode)
                if mode == "ours" and (out["compiles"] or out["logged"]):
                    raise BenchError(f"dbt pattern, warm: {out['compiles']} misses: {out}")
                times["warm" if mode == "ours" else "none"].append(out["load_us"])
        entries = len(os.listdir(cache_dir))
        if entries != count:
            raise BenchError(f"dbt pattern: {entries} entries for {count} templates")
    note = f"{count} templates, each a new sandboxed Environment with its own Undefined class"
    res.ratio(
        "dbt_pattern_warm",
        "dbt_pattern",
        "dbt's pattern, fresh process, warm cache",
        ("jinja_bccache", times["warm"]),
        ("no bytecode cache", times["none"]),
        note=note,
    )
    res.ratio(
        "dbt_pattern_cold",
        "dbt_pattern",
        "dbt's pattern, fresh process, cold cache",
        ("jinja_bccache", times["cold"]),
        ("no bytecode cache", times["none"]),
        note="compiles and writes all: Jinja's compiler dominates",
    )
