"""The benchmark suite of issue 7: jinja_bccache side by side with jinja2.bccache.

    python benches/run.py [--quick] [--out FILE] [--only NAME[,NAME...]] [--tmpdir DIR]

Every figure is a ratio measured in this run: the implementations alternate round by round
(the order flips every round), each round times a batch of calls per implementation, and
the table reports the median per-call time of each and the median of the per-round ratios
(baseline time / jinja_bccache time, so > 1 means jinja_bccache is faster). Shared, noisy
machines make absolute times alone mean little; a ratio from paired rounds survives most of
that noise.

A hit in the storage scenarios (filesystem and memcached hits against the floor, isolation
and integrity costs) reaches the storage: jinja_bccache's in-process layer of unmarshalled
code, in versions that have one, is switched off there (and checked to have served nothing).
Everything else runs with the defaults, and "get_bucket repeat hit, in-process layer" rows
show what the layer does for a repeat hit.

Templates come from ``benches/corpus.py`` (a web-app-shaped corpus: inheritance, macros,
includes, loops), in three sizes. Every scenario first checks that what it times does what it
claims (a hit really returns code, clear() really empties the directory, a warm process
really compiles nothing) and reports an error instead of a figure otherwise.

``--quick`` is the smoke mode for CI (< 60 s): every scenario, few short rounds. Results
go to ``benches/results/latest.json`` (``quick.json`` with ``--quick``, so a smoke run
never replaces the full results the README's chart and table come from); ``benches/chart.py``
draws them, ``benches/report.py`` puts them in the README. The exit status is 1 if a scenario
failed, never because a target is missed: a benchmark reports, the tests assert.

This file only runs the suite: the timing and the shared setup are in ``harness.py``, the
scenarios and their targets in ``scenarios/``, the output in ``report.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import FULL, QUICK, Results, Setup, memory_layer  # noqa: E402
from machine import machine_info  # noqa: E402
from report import print_table, write_json  # noqa: E402
from scenarios import SCENARIOS, TARGETS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run for CI: every scenario, short (< 60 s)"
    )
    parser.add_argument(
        "--out", help="results JSON (default benches/results/latest.json, quick.json with --quick)"
    )
    parser.add_argument("--only", help="comma-separated scenarios to run: " + ", ".join(SCENARIOS))
    parser.add_argument(
        "--tmpdir", help="where the corpus and cache directories go (default: the system's)"
    )
    args = parser.parse_args()
    only = (
        list(SCENARIOS)
        if not args.only
        else [x.strip() for x in args.only.split(",") if x.strip()]
    )
    unknown = [x for x in only if x not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    out = args.out or os.path.join(HERE, "results", "quick.json" if args.quick else "latest.json")
    profile = QUICK if args.quick else FULL

    started = time.perf_counter()
    root = tempfile.mkdtemp(prefix="jinja-bccache-bench-", dir=args.tmpdir)
    res = Results(TARGETS)
    try:
        info = machine_info(root)
        print(
            f"{info['python']}, Jinja {info['jinja2']}, jinja_bccache {info['jinja_bccache']}, "
            f"{info['os']}, {info['cpu']} ({info['cpus_usable']} CPUs), {info['tmp_filesystem']}"
        )
        print(
            f"{'quick' if args.quick else 'full'} run: {profile.rounds} alternating rounds of "
            f"~{profile.sample_s * 1000:g} ms batches"
        )
        setup = Setup(root, profile)
        res.details["sizes"] = setup.size_info()
        res.details["memory_layer"] = memory_layer()
        for name in only:
            t0 = time.perf_counter()
            print(f"  {name} ...", end="", flush=True)
            try:
                SCENARIOS[name](setup, res)
                print(f" {time.perf_counter() - t0:.1f} s", flush=True)
            except Exception as exc:  # noqa: BLE001 -- report it, run the other scenarios
                print(" FAILED", flush=True)
                res.errors.append(
                    {"scenario": name, "error": repr(exc), "traceback": traceback.format_exc()}
                )
                traceback.print_exc()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print()
    print_table(res)
    write_json(
        out,
        {
            "machine": info,
            "mode": "quick" if args.quick else "full",
            "profile": dataclasses.asdict(profile),
            "elapsed_s": elapsed,
            "targets": TARGETS,
            "figures": res.figures,
            "costs": res.costs,
            "details": res.details,
            "errors": res.errors,
        },
    )
    print(f"\n{len(res.figures)} figures in {elapsed:.0f} s; results: {os.path.relpath(out)}")
    if res.errors:
        failed = ", ".join(e["scenario"] for e in res.errors)
        print(f"{len(res.errors)} scenario(s) failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
