"""The stable-ABI (abi3) build against the per-version build, side by side on the hot paths.

One wheel for every CPython would be simpler to ship, but the stable ABI lacks what some hot
paths use: marshal's C functions (the abi3 build calls the ``marshal`` module instead), a
tuple's item array, dict version tags (the fingerprint memo compares dicts item by item
instead), and before 3.10 a UTF-8 view of a ``str`` without a copy. This measures what that
costs: both builds are installed in their own virtual environments over the same CPython, a
child process per build runs the same operations, and the parent alternates them round by
round (order reversed every other round) and compares medians.

    python benches/abi3.py --per-version .venv/bin/python --abi3 .venv-abi3/bin/python

``dev/bench-abi3.sh`` builds both and runs this. Writes benches/results/abi3.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))

#: What the abi3 build may cost on a hot path before per-version wheels are worth keeping.
LIMIT = 1.05


def child() -> None:
    """Runs in each build's interpreter: set up, calibrate, then time one batch of every
    operation per line read from stdin, answering with microseconds per template."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="jinja-bccache-abi3-") as root:
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else root
        with tempfile.TemporaryDirectory(dir=shm, prefix="jinja-bccache-abi3-") as writes:
            _serve(root, writes)


def _serve(root: str, writes: str) -> None:
    from time import perf_counter

    import jinja2
    from benchenv import bench_env
    from harness import FULL, Setup, calibrate, ours_fs, run_sample, storage_only, store

    import jinja_bccache

    s = Setup(root, FULL)
    samplers: dict[str, t.Callable[[int], float]] = {}
    per_op: dict[str, int] = {}

    def add(
        label: str, items: list[t.Any], op: t.Callable[[t.Any], t.Any], hits: bool, layer: bool
    ) -> None:
        """`layer`: with the in-process layer's default budget, else with it off (a hit that
        reaches the file), set around the timed loop, not inside it."""
        mode = contextlib.nullcontext if layer else storage_only
        with mode():
            results = [op(it) for it in items]
        if hits and any(getattr(result, "code", result) is None for result in results):
            raise SystemExit(f"{label}: not a hit, so not the path it names")

        def sample(number: int) -> float:
            with mode():
                start = perf_counter()
                for _ in range(number):
                    for it in items:
                        op(it)
                return perf_counter() - start

        samplers[label] = sample
        per_op[label] = len(items)

    for size in ("small", "medium", "large"):
        items = s.items[size]
        cache = ours_fs(s.new_dir(f"hit-{size}"))
        store(cache, s.env, items)

        def stored_hit(it: t.Any, cache: t.Any = cache) -> object:
            return cache.get_bucket(s.env, it.name, it.filename, it.source)

        add(f"filesystem hit ({size})", items, stored_hit, hits=True, layer=False)

    items = s.items["medium"]
    layered = ours_fs(s.new_dir("layer"))
    store(layered, s.env, items)

    def layer_hit(it: t.Any) -> object:
        return layered.get_bucket(s.env, it.name, it.filename, it.source)

    add("in-process layer hit (medium)", items, layer_hit, hits=True, layer=True)

    def new_env_hit(it: t.Any) -> object:
        return layered.get_bucket(bench_env(), it.name, it.filename, it.source)

    label = "get_bucket through a new Environment (medium)"
    add(label, items, new_env_hit, hits=True, layer=True)
    if layered.stats()["memory_hits"] < 2 * len(items):
        raise SystemExit("the layer did not serve the hits it is timed for")

    entries = []
    for it in items:
        bucket = jinja_bccache.Bucket(s.env, "k", "checksum")
        bucket.code = it.code
        entries.append(bucket.bytecode_to_string())

    def from_string(data: bytes) -> object:
        bucket = jinja_bccache.Bucket(s.env, "k", "checksum")
        bucket.bytecode_from_string(data)
        return bucket.code

    add("Bucket.bytecode_from_string (medium)", entries, from_string, hits=True, layer=True)
    writer = ours_fs(writes)
    buckets = []
    for it in items:
        bucket = writer.get_bucket(s.env, it.name, it.filename, it.source)
        bucket.code = it.code
        buckets.append(bucket)
    label = "set_bucket (medium; on /dev/shm where there is one)"
    add(label, buckets, writer.set_bucket, hits=False, layer=True)
    numbers = {label: calibrate(samplers[label], FULL.sample_s) for label in samplers}
    print(json.dumps({"ready": list(samplers), "jinja2": jinja2.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            break
        out = {
            label: run_sample(samplers[label], numbers[label])
            / numbers[label]
            / per_op[label]
            * 1e6
            for label in samplers
        }
        print(json.dumps(out), flush=True)


def start(python: str) -> tuple[subprocess.Popen[str], dict[str, t.Any]]:
    proc = subprocess.Popen(
        [python, os.path.abspath(__file__), "--child"],
        cwd=HERE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    hello = json.loads(proc.stdout.readline())
    return proc, hello


def build_of(python: str) -> str:
    code = "import jinja_bccache._native as n, os; print(os.path.basename(n.__file__))"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--per-version", help="python of the per-version build's environment")
    parser.add_argument("--abi3", help="python of the abi3 build's environment")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "abi3.json"))
    args = parser.parse_args()
    if args.child:
        child()
        return 0
    if not args.per_version or not args.abi3:
        parser.error("--per-version and --abi3 are required")
    # absolute, since the children run in benches/; not resolved, which would leave the venv
    builds = {"per-version": os.path.abspath(args.per_version), "abi3": os.path.abspath(args.abi3)}
    files = {label: build_of(python) for label, python in builds.items()}
    if "abi3" not in files["abi3"] or "abi3" in files["per-version"]:
        parser.error(f"the environments do not hold the builds they are named for: {files}")
    procs = {label: start(python) for label, python in builds.items()}
    labels = procs["per-version"][1]["ready"]
    samples: dict[str, dict[str, list[float]]] = {b: {op: [] for op in labels} for b in builds}
    order = list(builds)
    for r in range(args.rounds):
        for build in order if r % 2 == 0 else order[::-1]:
            proc = procs[build][0]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("round\n")
            proc.stdin.flush()
            for op, us in json.loads(proc.stdout.readline()).items():
                samples[build][op].append(us)
    for proc, _ in procs.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()

    rows = []
    print(f"{'operation':<50} {'per-version':>12} {'abi3':>10} {'abi3 / per-version':>20}")
    for op in labels:
        base = statistics.median(samples["per-version"][op])
        abi3 = statistics.median(samples["abi3"][op])
        ratio = abi3 / base
        rows.append({"operation": op, "per_version_us": base, "abi3_us": abi3, "ratio": ratio})
        mark = "" if ratio <= LIMIT else "  over the limit"
        print(f"{op:<50} {base:>10.2f}µs {abi3:>8.2f}µs {ratio:>20.3f}{mark}")
    worst = max(rows, key=lambda row: row["ratio"])
    verdict = "within" if worst["ratio"] <= LIMIT else "over"
    print(
        f"worst: {worst['operation']} at {worst['ratio']:.3f}× the per-version build's time: "
        f"{verdict} the {LIMIT:.2f}× limit"
    )
    version = subprocess.run(
        [args.per_version, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    result = {
        "python": version,
        "builds": files,
        "rounds": args.rounds,
        "limit": LIMIT,
        "rows": rows,
        "samples_us": samples,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
