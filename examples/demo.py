"""jinja_bccache vs jinja2.bccache on a generated web-app template corpus.

    python examples/demo.py [--templates N] [--rounds R]

For each implementation of ``FileSystemBytecodeCache``, each with its own cache directory:

* cold -- one fresh Environment renders every template with the cache empty, so every
  template is compiled and its entry written (single run; Jinja's compiler dominates it);
* warm load -- a fresh Environment per round calls ``get_template`` for every name, so
  every template comes from the bytecode cache and nothing is rendered;
* warm load+render -- the same, also rendering each template, as an application would.

A fresh Environment (and a fresh cache object on the same directory) per round keeps
Jinja's in-memory template cache from hiding the bytecode cache, as in a newly started
process. The two implementations alternate within each round and the medians are reported,
because machines are noisy. Finally it checks that both rendered byte-identical output and
wrote entries with identical bytes, and exits 1 if not.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import io
import marshal
import os
import pickle
import platform
import shutil
import statistics
import sys
import tempfile
import time

import jinja2
import jinja2.bccache
from jinja2 import Environment, FileSystemLoader

import jinja_bccache
from jinja_bccache import _folding, bc_magic

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches"))
import corpus  # noqa: E402

IMPLS = [
    ("jinja2.bccache", jinja2.bccache.FileSystemBytecodeCache),
    ("jinja_bccache", jinja_bccache.FileSystemBytecodeCache),
]


class CountingEnvironment(Environment):
    """Counts compiles, to prove the warm rounds never miss the cache. Only a miss calls
    compile(), so the hit path being timed is untouched."""

    compiles = 0

    def compile(self, *args, **kwargs):  # type: ignore[override]
        self.compiles += 1
        return super().compile(*args, **kwargs)


def make_env(templates: str, cache_cls: type, cache_dir: str) -> CountingEnvironment:
    return CountingEnvironment(
        loader=FileSystemLoader(templates), bytecode_cache=cache_cls(cache_dir)
    )


def timed(fn, *args):
    """Run fn(*args) once; return (milliseconds, result). Collect garbage first so one
    implementation does not pay for the other's garbage."""
    gc.collect()
    start = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - start) * 1000.0, result


def load_all(env: Environment, names: list[str]) -> None:
    for name in names:
        env.get_template(name)


def render_all(env: Environment, names: list[str], ctx: dict) -> dict[str, str]:
    return {name: env.get_template(name).render(ctx) for name in names}


def strip_trailer(entry: bytes) -> bytes:
    """An entry of ours without its integrity trailer: an entry in Jinja's own format."""
    return entry[:-16] if entry.endswith(b"JBCXXH3\x01") else entry


def jinja_entry(entry: bytes) -> tuple:
    """(source checksum, code) of an entry in Jinja's format, as Jinja's own reader reads
    it; the folding record jinja_bccache appends to the code's constants (docs/isolation.md)
    is left out, so that what Jinja compiled can be compared."""
    f = io.BytesIO(strip_trailer(entry))
    if f.read(len(bc_magic)) != bc_magic:
        raise ValueError("not a Jinja bytecode entry")
    checksum = pickle.load(f)
    code = marshal.load(f)
    if _folding.record_of(code) is not None:
        code = code.replace(co_consts=code.co_consts[:-1])
    return checksum, code


def read_entries(directory: str) -> dict[str, bytes]:
    entries = {}
    for fname in sorted(os.listdir(directory)):
        with open(os.path.join(directory, fname), "rb") as f:
            entries[fname] = f.read()
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--templates", type=int, default=200, help="templates in the corpus (default 200)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="warm rounds per implementation (default 5)"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    root = tempfile.mkdtemp(prefix="jinja-bccache-demo-")
    try:
        return run(root, args.templates, args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: str, n_templates: int, rounds: int) -> int:
    templates = os.path.join(root, "templates")
    try:
        names = corpus.write_corpus(templates, n_templates)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ctx = corpus.context()
    groups = corpus.by_size(names)
    source_kb = sum(os.path.getsize(os.path.join(templates, n)) for n in names) / 1024
    cache_dirs = {label: os.path.join(root, "cache-" + label) for label, _ in IMPLS}
    for d in cache_dirs.values():
        os.mkdir(d)

    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"Jinja {importlib.metadata.version('jinja2')}, "
        f"jinja_bccache {importlib.metadata.version('jinja-bccache')}"
    )
    print(
        f"Corpus: {len(names)} templates, {source_kb:.0f} KB of source "
        f"({len(groups['small'])} small, {len(groups['medium'])} medium, "
        f"{len(groups['large'])} large); "
        f"{rounds} warm round{'' if rounds == 1 else 's'}"
    )

    # Disk against disk first: the in-process layer would answer our warm loads from memory.
    memory_budget = jinja_bccache.set_memory_cache(0)

    # Cold: every template compiled and written. One run each, since the cache is empty once.
    cold: dict[str, float] = {}
    outputs: dict[str, list[dict[str, str]]] = {label: [] for label, _ in IMPLS}
    for label, cls in IMPLS:
        env = make_env(templates, cls, cache_dirs[label])
        cold[label], out = timed(render_all, env, names, ctx)
        outputs[label].append(out)
        if env.compiles != len(names):
            print(
                f"FAIL: {label} cold run compiled {env.compiles} templates, expected {len(names)}"
            )
            return 1
    entries_after_cold = {label: read_entries(d) for label, d in cache_dirs.items()}

    # Warm: alternate the implementations, flipping who goes first each round.
    load: dict[str, list[float]] = {label: [] for label, _ in IMPLS}
    load_render: dict[str, list[float]] = {label: [] for label, _ in IMPLS}
    for r in range(rounds):
        order = IMPLS if r % 2 == 0 else IMPLS[::-1]
        for label, cls in order:
            env = make_env(templates, cls, cache_dirs[label])
            ms, _ = timed(load_all, env, names)
            load[label].append(ms)
            if env.compiles:
                print(f"FAIL: {label} warm load compiled {env.compiles} templates (cache miss)")
                return 1
        for label, cls in order:
            env = make_env(templates, cls, cache_dirs[label])
            ms, out = timed(render_all, env, names, ctx)
            load_render[label].append(ms)
            if env.compiles:
                print(f"FAIL: {label} warm render compiled {env.compiles} templates (cache miss)")
                return 1
            if r == 0:
                outputs[label].append(out)

    # Parity: every render by either implementation (cold and warm) must be identical, and
    # both directories must hold the same entry files, untouched by the warm rounds.
    ok = True
    reference = outputs[IMPLS[0][0]][0]
    differing = sorted(
        {n for outs in outputs.values() for out in outs for n in names if out[n] != reference[n]}
    )
    if differing:
        ok = False
        print(
            f"FAIL: rendered output differs for {len(differing)} templates, e.g. {differing[:3]}"
        )
    else:
        print(
            "OK: both implementations rendered byte-identical output for all "
            f"{len(names)} templates (cold and warm)"
        )

    entries = {label: read_entries(d) for label, d in cache_dirs.items()}
    a, b = entries.values()
    if entries != entries_after_cold:
        ok = False
        print("FAIL: the warm rounds changed the cache directories")
    # With environment isolation (the default) jinja_bccache names its entries by Jinja's key
    # combined with the Environment's fingerprint, so the names differ; each entry is in
    # Jinja's format, its code carrying the folding record, followed by the integrity
    # trailer (docs/format.md).
    ours = sorted((jinja_entry(v) for v in b.values()), key=lambda e: e[0])
    if sorted((jinja_entry(v) for v in a.values()), key=lambda e: e[0]) != ours:
        ok = False
        print("FAIL: the entry files differ in content")
    elif len(a) != len(names) or len(b) != len(names):
        ok = False
        print(f"FAIL: expected {len(names)} entry files, found {len(a)} and {len(b)}")
    else:
        cache_kb = sum(len(v) for v in a.values()) / 1024
        print(
            f"OK: both wrote {len(a)} entries of the same compiled code in Jinja's format "
            f"({cache_kb:.0f} KB in jinja2.bccache's directory; jinja_bccache's code carries "
            "its folding record, its entries a 16-byte integrity trailer, and their names "
            "include the environment fingerprint)"
        )

    # The table.
    med_load = {label: statistics.median(v) for label, v in load.items()}
    med_lr = {label: statistics.median(v) for label, v in load_render.items()}
    header = (
        f"{'implementation':<16} {'cold ms':>10} {'warm load ms':>14} {'warm load+render ms':>21}"
    )
    print()
    print(header)
    print("-" * len(header))
    for label, _ in IMPLS:
        print(f"{label:<16} {cold[label]:>10.1f} {med_load[label]:>14.2f} {med_lr[label]:>21.2f}")
    old, new = IMPLS[0][0], IMPLS[1][0]
    print("-" * len(header))
    print(
        f"{'ratio old/new':<16} {cold[old] / cold[new]:>9.2f}x "
        f"{med_load[old] / med_load[new]:>13.2f}x "
        f"{med_lr[old] / med_lr[new]:>20.2f}x"
    )
    print()
    print(
        "cold: single run, mostly Jinja's compiler. warm: median of rounds, "
        "fresh Environment each,"
    )
    print("every template read from disk (in-process layer off), as in a newly started process.")
    print("ratio = jinja2.bccache / jinja_bccache (> 1 means jinja_bccache is faster).")

    # The same process loading again through new Environments, with the in-process layer on.
    jinja_bccache.set_memory_cache(memory_budget)
    label, cls = IMPLS[1]
    repeat = []
    for r in range(rounds + 1):
        env = make_env(templates, cls, cache_dirs[label])
        ms, _ = timed(load_all, env, names)
        if r:  # the first round fills the layer
            repeat.append(ms)
    print()
    print(
        f"repeat loads in one process (in-process layer on): {statistics.median(repeat):.2f} ms, "
        f"{med_load[IMPLS[0][0]] / statistics.median(repeat):.1f}x jinja2.bccache"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
