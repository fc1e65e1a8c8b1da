"""Instructions per operation, counted by valgrind (callgrind): what environment isolation
costs per hit and per new Environment, in a measure that noise does not move.

Timings on these machines vary by tens of percent between runs (shared cores), which hides
differences of a few percent; the number of instructions a path executes does not vary, with
hash randomization and address-space randomization off. It is not time (cache misses and
system calls weigh differently), so it complements ``run.py``, it does not replace it.

    python benches/instructions.py                      # this interpreter's jinja_bccache
    python benches/instructions.py --python OLD/bin/python --python .venv/bin/python

Each figure is (instructions of a run doing N operations - the same run doing none) / N:
both build the same N Environments, only one uses them.
Needs valgrind (``apt-get install valgrind``) and ``setarch``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
COUNT = 300

#: What one operation is, run in a child: (isolation, layer, kind, what).
CASES = {
    "hit, isolation on (layer warm)": ("on", "layer", "bench", "repeat"),
    "hit, isolation off (layer warm)": ("off", "layer", "bench", "repeat"),
    "hit, isolation on (layer off)": ("on", "storage", "bench", "repeat"),
    "hit, isolation off (layer off)": ("off", "storage", "bench", "repeat"),
    "first hit through a new Environment": ("on", "layer", "bench", "new"),
    "... a new SandboxedEnvironment": ("on", "layer", "sandboxed", "new"),
    "... a new Environment with an Undefined of its own (dbt's)": ("on", "layer", "node", "new"),
}


def child(
    isolation: str, layer: str, kind: str, what: str, count: int, run: bool, directory: str
) -> None:
    sys.path.insert(0, HERE)
    from benchenv import bench_env
    from dbt_child import node_environment
    from jinja2.sandbox import SandboxedEnvironment

    import jinja_bccache

    make = {
        "bench": bench_env,
        "sandboxed": lambda: bench_env(SandboxedEnvironment),
        "node": lambda: node_environment(SandboxedEnvironment, 0),
    }[kind]
    source = "".join(
        f"{{{{ x{i}|upper|e }}}} {{% if y is even_id %}}{{{{ z|money }}}}{{% endif %}}\n"
        for i in range(40)
    )
    if layer == "storage":
        jinja_bccache.set_memory_cache(0)
    cache = jinja_bccache.FileSystemBytecodeCache(
        directory, isolate_environments=isolation == "on"
    )
    first = make()
    bucket = cache.get_bucket(first, "t.html", "t.html", source)
    bucket.code = first.compile(source, "t.html", "t.html")
    cache.set_bucket(bucket)
    for _ in range(3):  # every table and memo warm
        assert cache.get_bucket(make(), "t.html", "t.html", source).code is not None
    envs = [make() for _ in range(count)] if what == "new" else [first] * count
    import gc

    gc.disable()
    for env in envs if run else ():
        cache.get_bucket(env, "t.html", "t.html", source)


def instructions(python: str, case: tuple[str, str, str, str], run: bool) -> int:
    directory = tempfile.mkdtemp(prefix="instructions-")
    try:
        argv = [python, os.path.abspath(__file__), "--child", *case, str(COUNT), str(int(run))]
        argv.append(directory)
        run = subprocess.run(
            ["setarch", "-R", "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
            + argv,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise SystemExit(f"no count from valgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", help="an interpreter to measure")
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        isolation, layer, kind, what, count, run, directory = args.child
        child(isolation, layer, kind, what, int(count), run == "1", directory)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    pythons = args.python or [sys.executable]
    print(f"{'instructions per operation':60s}" + "".join(f"{p[-28:]:>30s}" for p in pythons))
    figures: dict[str, list[float]] = {}
    for name, case in CASES.items():
        figures[name] = [
            (instructions(p, case, True) - instructions(p, case, False)) / COUNT for p in pythons
        ]
        if case[3] == "new":  # the first hit minus a repeat hit: what the new Environment adds
            repeat = figures["hit, isolation on (layer warm)"]
            figures[name] = [a - b for a, b in zip(figures[name], repeat)]
        print(f"{name:60s}" + "".join(f"{x:30,.0f}" for x in figures[name]))
    on, off = figures["hit, isolation on (layer off)"], figures["hit, isolation off (layer off)"]
    print(
        f"{'isolation per hit, on - off (layer off)':60s}"
        + "".join(f"{a - b:30,.0f}" for a, b in zip(on, off))
    )


if __name__ == "__main__":
    main()
