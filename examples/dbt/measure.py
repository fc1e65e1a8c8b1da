"""Measures ``dbt parse --no-partial-parse`` on a generated project: without a cache, with
jinja_bccache cold (empty cache directory) and warm, and with the only other Jinja cache for
dbt, run-cache-turbo's (``install_jinja_cache()``), cold and warm, in interleaved rounds; the
time an uncached parse spends compiling and parsing templates; and that every run produced
the same manifest. Run it with the Python of a virtualenv where dbt-core, dbt-duckdb and
jinja_bccache (and, for the comparison, run-cache-turbo) are installed:

    python measure.py PROJECT_DIR [--runs 5]

PROJECT_DIR is made by generate_project.py.
"""

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# dbt's own CLI, with the time Jinja spends compiling (Environment.compile) and parsing
# (Environment.parse, which dbt calls for what templates call) measured: what a cache can save.
TEMPLATE_TIMER = """
import atexit, sys, time
import jinja2
spent = [0.0, 0]
def timed(method):
    def run(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start
            spent[1] += 1
    return run
# compile() does not call parse(): neither is timed twice
jinja2.Environment.compile = timed(jinja2.Environment.compile)
jinja2.Environment.parse = timed(jinja2.Environment.parse)
atexit.register(lambda: print(f"TEMPLATES {spent[0]} {spent[1]}", file=sys.stderr))
from dbt.cli.main import cli
sys.argv = ["dbt"] + sys.argv[1:]
sys.exit(cli())
"""

PLAIN = (
    "from dbt.cli.main import cli; import sys; sys.argv = ['dbt'] + sys.argv[1:]; sys.exit(cli())"
)

# run-cache-turbo's Jinja cache, as its documentation activates it; it keeps its files in
# $DBT_ENGINE_STATE_HOME/state_jinja_cache.
PEER = (
    "from dbt_run_cache_turbo.jinja_cache import install_jinja_cache; install_jinja_cache(); "
    + PLAIN
)

# The peer's warm parse, with the time spent where any Jinja cache works timed: building a
# template from a string (dbt's get_template, the peer's cached one) and parsing. No cache can
# be faster than the peer by more than that.
PEER_TIMER = (
    """
import atexit, sys, time
from dbt_run_cache_turbo.jinja_cache import install_jinja_cache
install_jinja_cache()
import jinja2, dbt.clients.jinja, dbt_common.clients.jinja as common
spent = [0.0]
def timed(function):
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start
    return run
common.get_template = dbt.clients.jinja.get_template = timed(common.get_template)
jinja2.Environment.parse = timed(jinja2.Environment.parse)
atexit.register(lambda: print(f"PEER_JINJA {spent[0]}", file=sys.stderr))
"""
    + PLAIN
)

PARSE = ["parse", "--no-partial-parse", "--profiles-dir", "."]

#: Manifest fields that differ from run to run whatever the cache does.
VOLATILE = {
    "generated_at",
    "invocation_id",
    "invocation_started_at",
    "created_at",
    "run_started_at",
}


def run(project: str, argv: list, env: dict) -> tuple:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    with open(os.path.join(project, "target", "manifest.json"), encoding="utf-8") as f:
        manifest = normalized(json.load(f))
    return elapsed, proc.stderr, manifest


def normalized(value):
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def emptied(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    os.mkdir(directory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    project = os.path.abspath(args.project)
    cache_dir = tempfile.mkdtemp(prefix="dbt-jinja-bccache-")
    peer_home = tempfile.mkdtemp(prefix="dbt-peer-state-")
    env = dict(
        os.environ,
        JINJA_BCCACHE_URL=f"file://{cache_dir}",  # a directory this script empties for cold runs
        JINJA_BCCACHE_REPORT="1",
        DBT_ENGINE_STATE_HOME=peer_home,  # the peer's, emptied for its cold runs
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    python = sys.executable
    plain = [python, "-c", PLAIN, *PARSE]
    ours = [python, "-m", "jinja_bccache", "dbt", *PARSE]
    peer = [python, "-c", PEER, *PARSE]
    timer = [python, "-c", TEMPLATE_TIMER, *PARSE]
    has_peer = importlib.util.find_spec("dbt_run_cache_turbo") is not None

    # Each group of a round: (label, [(kind, command, directory to empty first or None)]).
    groups = [("no cache", [("no cache", plain, None)])]
    groups.append(("ours", [("cold", ours, cache_dir), ("warm", ours, None)]))
    if has_peer:
        groups.append(("peer", [("peer cold", peer, peer_home), ("peer warm", peer, None)]))
    times: dict = {kind: [] for _, runs in groups for kind, _, _ in runs}
    manifests: dict = {kind: [] for kind in times}
    reports = []

    run(project, plain, env)  # warms the OS's file cache and the .pyc files
    for round_ in range(args.runs):
        # rotated, so that no kind always runs first or right after another
        for _, runs in groups[round_ % len(groups) :] + groups[: round_ % len(groups)]:
            for kind, command, directory in runs:
                if directory is not None:
                    emptied(directory)
                elapsed, stderr, manifest = run(project, command, env)
                times[kind].append(elapsed)
                manifests[kind].append(manifest)
                if kind == "warm":
                    reports.append(
                        [line for line in stderr.splitlines() if "jinja_bccache" in line]
                    )
    spent = []
    peer_jinja = []
    for _ in range(args.runs):
        _, stderr, _ = run(project, timer, env)
        line = next(line for line in stderr.splitlines() if line.startswith("TEMPLATES "))
        spent.append(float(line.split()[1]))
        calls = int(line.split()[2])
        if has_peer:  # its cache is warm from the rounds
            _, stderr, _ = run(project, [python, "-c", PEER_TIMER, *PARSE], env)
            line = next(line for line in stderr.splitlines() if line.startswith("PEER_JINJA "))
            peer_jinja.append(float(line.split()[1]))

    median = {k: statistics.median(v) for k, v in times.items()}
    templates = statistics.median(spent)
    saved = median["no cache"] - median["warm"]
    print(f"dbt parse --no-partial-parse, {args.runs} interleaved rounds (median, min-max):")
    for label, values in times.items():
        print(f"  {label:<10} {median[label]:6.2f} s  ({min(values):.2f}-{max(values):.2f})")
    print(f"  compiling and parsing templates, uncached: {templates:.2f} s ({calls} calls)")
    print(
        f"  warm vs no cache: {saved:.2f} s saved, {saved / templates:.0%} of the compile and "
        f"parse time; {median['no cache'] / median['warm']:.2f}x"
    )
    if has_peer:
        ratios = [w / p for w, p in zip(times["warm"], times["peer warm"])]
        print(
            "  warm / peer warm, per round: "
            + " ".join(f"{r:.3f}" for r in ratios)
            + f"; median {statistics.median(ratios):.3f}"
        )
        faster = 1 - median["warm"] / median["peer warm"]
        print(f"  warm parse vs the peer's warm parse (medians): {faster:.1%} faster")
        left = statistics.median(peer_jinja)
        print(
            f"  the peer's warm parse spends {left:.2f} s building and parsing templates: "
            f"{left / median['peer warm']:.1%} of its run, the most any cache could beat it by"
        )
    else:
        print("  (run-cache-turbo is not installed: no comparison with it)")
    print(f"  warm runs: {reports[-1]}")
    reference = manifests["no cache"][0]
    for kind, found in manifests.items():
        same = all(m == reference for m in found)
        print(f"  {kind} manifests identical to the uncached one: {same}")
    shutil.rmtree(cache_dir, ignore_errors=True)
    shutil.rmtree(peer_home, ignore_errors=True)


if __name__ == "__main__":
    main()
