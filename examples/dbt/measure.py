"""Measures ``dbt parse --no-partial-parse`` on a generated project: without a bytecode cache,
with jinja_bccache cold (empty cache directory) and warm, each the median of N runs; the time
dbt spends compiling templates in an uncached run; and that every run produced the same
manifest. Run it with the Python of a virtualenv where dbt-core, dbt-duckdb and jinja_bccache
are installed:

    python measure.py PROJECT_DIR [--runs 3]

PROJECT_DIR is made by generate_project.py.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# dbt's own CLI, with Jinja's Environment.compile timed: what a bytecode cache can save.
COMPILE_TIMER = """
import atexit, sys, time
import jinja2
spent = [0.0, 0]
_compile = jinja2.Environment.compile
def timed(self, *args, **kwargs):
    start = time.perf_counter()
    try:
        return _compile(self, *args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - start
        spent[1] += 1
jinja2.Environment.compile = timed
atexit.register(lambda: print(f"COMPILE {spent[0]} {spent[1]}", file=sys.stderr))
from dbt.cli.main import cli
sys.argv = ["dbt"] + sys.argv[1:]
sys.exit(cli())
"""

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    project = os.path.abspath(args.project)
    cache_dir = tempfile.mkdtemp(prefix="dbt-jinja-bccache-")
    env = dict(
        os.environ,
        JINJA_BCCACHE_URL=f"file://{cache_dir}",  # a directory this script empties for cold runs
        JINJA_BCCACHE_REPORT="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    plain = [
        sys.executable,
        "-c",
        "from dbt.cli.main import cli; import sys; "
        "sys.argv = ['dbt'] + sys.argv[1:]; sys.exit(cli())",
        *PARSE,
    ]
    cached = [sys.executable, "-m", "jinja_bccache", "dbt", *PARSE]
    timer = [sys.executable, "-c", COMPILE_TIMER, *PARSE]

    run(project, plain, env)  # warms the OS's file cache and the .pyc files
    times: dict = {"no cache": [], "cold": [], "warm": []}
    manifests = []
    reports = []
    for _ in range(args.runs):
        elapsed, _, manifest = run(project, plain, env)
        times["no cache"].append(elapsed)
        manifests.append(manifest)
        shutil.rmtree(cache_dir)
        os.mkdir(cache_dir)
        elapsed, _, manifest = run(project, cached, env)
        times["cold"].append(elapsed)
        manifests.append(manifest)
        elapsed, stderr, manifest = run(project, cached, env)
        times["warm"].append(elapsed)
        manifests.append(manifest)
        reports.append([line for line in stderr.splitlines() if "jinja_bccache" in line])
    compile_s = []
    for _ in range(args.runs):
        _, stderr, _ = run(project, timer, env)
        line = next(line for line in stderr.splitlines() if line.startswith("COMPILE "))
        compile_s.append(float(line.split()[1]))
        compiles = int(line.split()[2])

    median = {k: statistics.median(v) for k, v in times.items()}
    compile_median = statistics.median(compile_s)
    saved = median["no cache"] - median["warm"]
    print(f"dbt parse --no-partial-parse, {args.runs} runs each (median, min-max):")
    for label, values in times.items():
        print(f"  {label:<9} {median[label]:6.2f} s  ({min(values):.2f}-{max(values):.2f})")
    print(f"  compiling templates, uncached: {compile_median:.2f} s ({compiles} compiles)")
    print(
        f"  warm vs no cache: {saved:.2f} s saved, {saved / compile_median:.0%} of the compile "
        f"time; {median['no cache'] / median['warm']:.2f}x"
    )
    print(f"  warm runs: {reports[-1]}")
    same = all(m == manifests[0] for m in manifests)
    print(f"  manifests identical across all runs: {same}")
    shutil.rmtree(cache_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
