"""A newly started process loading the whole corpus, warm and cold (the child is
benches/fresh_process_child.py)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import typing as t

from harness import HERE, BenchError, Results, Setup

NAME = "fresh_process"

TARGETS = {
    "fresh_warm": 2,
}


def _child(impl: str, s: Setup, cache_dir: str, names_file: str) -> dict[str, t.Any]:
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "fresh_process_child.py"),
            impl,
            s.templates,
            cache_dir,
            names_file,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise BenchError(f"fresh process ({impl}) failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)


def run(s: Setup, res: Results) -> None:
    """A newly started process loading all 200 corpus templates (get_template, no render):
    warm -- every template from the bytecode cache; cold -- the cache directory empty, so
    every template is compiled and written. Timed inside the child, after its imports."""
    names_file = os.path.join(s.root, "names.txt")
    with open(names_file, "w", encoding="utf-8") as f:
        f.write("\n".join(s.names))
    dirs = {"ours": s.new_dir("fresh-ours"), "jinja2": s.new_dir("fresh-jinja2")}
    warm: dict[str, list[float]] = {k: [] for k in dirs}
    cold: dict[str, list[float]] = {k: [] for k in dirs}
    imports: dict[str, list[float]] = {k: [] for k in dirs}
    p = s.profile
    for r in range(max(p.fresh_warm_rounds, p.fresh_cold_rounds)):
        order = list(dirs) if r % 2 == 0 else list(dirs)[::-1]
        if r < p.fresh_cold_rounds:
            for impl in order:
                shutil.rmtree(dirs[impl])
                os.mkdir(dirs[impl])
                out = _child(impl, s, dirs[impl], names_file)
                if out["compiles"] != len(s.names):
                    raise BenchError(
                        f"cold fresh process ({impl}) compiled {out['compiles']} of {len(s.names)}"
                    )
                cold[impl].append(out["load_us"])
        if r < p.fresh_warm_rounds:
            for impl in order:
                out = _child(impl, s, dirs[impl], names_file)
                if out["compiles"]:
                    raise BenchError(
                        f"warm fresh process ({impl}) compiled {out['compiles']} templates"
                    )
                warm[impl].append(out["load_us"])
                imports[impl].append(out["import_us"])
    res.ratio(
        "fresh_warm",
        "fresh_process",
        "fresh process, 200 templates, warm cache",
        ("jinja_bccache", warm["ours"]),
        ("jinja2.bccache", warm["jinja2"]),
        note="time after imports: cache object, Environment, 200 get_template",
    )
    res.ratio(
        "fresh_cold",
        "fresh_process",
        "fresh process, 200 templates, cold cache",
        ("jinja_bccache", cold["ours"]),
        ("jinja2.bccache", cold["jinja2"]),
        note="compiles and writes all 200: Jinja's compiler dominates",
    )
    res.details["fresh_process_imports_us"] = {k: statistics.median(v) for k, v in imports.items()}
