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
never replaces the full results the README's chart is drawn from); ``benches/chart.py``
draws them. The exit status is 1 if a scenario failed, never because a target is missed:
a benchmark reports, the tests assert.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import hashlib
import importlib.metadata
import itertools
import json
import marshal
import os
import pickle
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import corpus  # noqa: E402
import jinja2  # noqa: E402
import jinja2.bccache  # noqa: E402
import jinja2.meta  # noqa: E402
from benchenv import bench_env  # noqa: E402
from jinja2 import FileSystemLoader  # noqa: E402

import jinja_bccache  # noqa: E402

SIZES = ("small", "medium", "large")

# Templates per size a timed call goes through (each call loads all of them once and the
# per-template time is reported), so one odd template does not make the figure.
PER_SIZE = 3


@dataclasses.dataclass(frozen=True)
class Profile:
    rounds: int  # alternating rounds of in-process comparisons
    sample_s: float  # the length of one timed batch of calls
    fresh_warm_rounds: int  # fresh processes per implementation, warm cache
    fresh_cold_rounds: int  # ... cold cache (each compiles all 200 templates: ~3 s)
    clear_rounds: int  # clear() of 20 000 entries (each round repopulates both directories)
    import_rounds: int  # fresh interpreters per import variant


QUICK = Profile(
    rounds=3,
    sample_s=0.004,
    fresh_warm_rounds=2,
    fresh_cold_rounds=1,
    clear_rounds=1,
    import_rounds=3,
)
FULL = Profile(
    rounds=31,
    sample_s=0.05,
    fresh_warm_rounds=21,
    fresh_cold_rounds=5,
    clear_rounds=9,
    import_rounds=21,
)

# The targets of issue 7 (ratios; jinja_bccache faster when > 1).
TARGETS: dict[str, float] = {
    "fs_hit_small": 4,
    "fs_hit_medium": 4,
    "fs_hit_large": 3,
    # "within 1.25x of the floor": floor time / our time >= 1 / 1.25
    "fs_hit_floor_small": 0.8,
    "fs_hit_floor_medium": 0.8,
    "fs_hit_floor_large": 0.8,
    "fs_set_small": 3,
    "fs_set_medium": 3,
    "fs_set_large": 1.5,
    "fs_set_tmpfs_small": 3,
    "fs_set_tmpfs_medium": 3,
    "fs_set_tmpfs_large": 1.5,
    "from_string_small": 4,
    "from_string_medium": 4,
    "from_string_large": 3,
    "memcached_native": 3,
    "memcached_same_client": 2,
    "fresh_warm": 2,
    "clear_20000": 1.5,
    "new_env": 20,
    "new_env_get_bucket": 20,
}


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------

# A sampler times `number` operations and returns the elapsed seconds; whatever it must set up
# (fresh Environments, a repopulated directory) it does outside the timed part.
Sampler = t.Callable[[int], float]


def loop(fn: t.Callable[[], object]) -> Sampler:
    def sample(number: int) -> float:
        rng = range(number)
        start = time.perf_counter()
        for _ in rng:
            fn()
        return time.perf_counter() - start

    return sample


def run_sample(sampler: Sampler, number: int) -> float:
    # As timeit: no collection inside a timed batch (one implementation must not pay for the
    # other's garbage), a full collection before it.
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        return sampler(number)
    finally:
        if enabled:
            gc.enable()


def calibrate(sampler: Sampler, target_s: float) -> int:
    """How many operations make a batch of about ``target_s`` (this also warms up)."""
    number = 1
    while True:
        elapsed = run_sample(sampler, number)
        if elapsed >= target_s / 4 or number >= 1 << 22:
            break
        number *= 4
    return max(1, round(number * target_s / max(elapsed, 1e-9)))


def compare(
    samplers: dict[str, Sampler], rounds: int, sample_s: float, per_op: int = 1
) -> dict[str, list[float]]:
    """Alternate the samplers round by round (order reversed every other round); return the
    per-operation microseconds of every round for each, divided by ``per_op`` (the templates
    one operation goes through)."""
    labels = list(samplers)
    numbers = {label: calibrate(samplers[label], sample_s) for label in labels}
    samples: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(rounds):
        for label in labels if r % 2 == 0 else labels[::-1]:
            n = numbers[label]
            samples[label].append(run_sample(samplers[label], n) / n / per_op * 1e6)
    return samples


def round_ratios(base: list[float], ours: list[float]) -> dict[str, float]:
    """The spread of the per-round ratios (each round pairs the two implementations
    measured back to back), a measure of how noisy the machine was."""
    ratios = sorted(b / o for b, o in zip(base, ours))
    if len(ratios) < 2:
        return {"median": ratios[0], "p25": ratios[0], "p75": ratios[0]}
    p25, _, p75 = statistics.quantiles(ratios, n=4, method="inclusive")
    return {"median": statistics.median(ratios), "p25": p25, "p75": p75}


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        self.figures: list[dict[str, t.Any]] = []
        self.costs: list[dict[str, t.Any]] = []
        self.errors: list[dict[str, str]] = []
        self.details: dict[str, t.Any] = {}

    def ratio(
        self,
        fid: str,
        scenario: str,
        figure: str,
        ours: tuple[str, list[float]],
        base: tuple[str, list[float]],
        note: str = "",
    ) -> None:
        target = TARGETS.get(fid)
        ours_us, base_us = statistics.median(ours[1]), statistics.median(base[1])
        # The median of the per-round ratios: each round measures both back to back, so a
        # machine that slows down between rounds does not bias it as it can a quotient of
        # medians (which can differ from it a little, and is kept too).
        rr = round_ratios(base[1], ours[1])
        ratio = rr["median"]
        self.figures.append(
            {
                "id": fid,
                "scenario": scenario,
                "figure": figure,
                "ours": {"label": ours[0], "us": ours_us, "samples_us": ours[1]},
                "baseline": {"label": base[0], "us": base_us, "samples_us": base[1]},
                "ratio": ratio,
                "round_ratios": rr,
                "ratio_of_medians": base_us / ours_us,
                "target": target,
                "met": None if target is None else ratio >= target,
                "note": note,
            }
        )

    def skip(self, fid: str, scenario: str, figure: str, reason: str) -> None:
        self.figures.append(
            {
                "id": fid,
                "scenario": scenario,
                "figure": figure,
                "skipped": reason,
                "target": TARGETS.get(fid),
                "met": None,
            }
        )

    def cost(
        self, cid: str, what: str, us: float, note: str = "", samples_us: list[float] | None = None
    ) -> None:
        self.costs.append(
            {"id": cid, "what": what, "us": us, "note": note, "samples_us": samples_us or []}
        )


class BenchError(Exception):
    """What a scenario timed is not what it claims (a miss where a hit was expected, ...)."""


# ---------------------------------------------------------------------------------------------
# Setup shared by the scenarios
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Item:
    name: str
    filename: str  # as FileSystemLoader reports it: part of Jinja's cache key
    source: str
    code: t.Any


class Setup:
    def __init__(self, root: str, profile: Profile) -> None:
        self.root = root
        self.profile = profile
        self.templates = os.path.join(root, "templates")
        self.names = corpus.write_corpus(self.templates, 200)
        self.env = bench_env()
        groups = corpus.by_size(self.names)
        self.items: dict[str, list[Item]] = {}
        for size in SIZES:
            # Pages, not the fixed layouts/partials: the sizes are meant for them.
            pages = [n for n in groups[size] if n.startswith("pages/")][:PER_SIZE]
            self.items[size] = [self._item(n) for n in pages]
        self._dirs = 0

    def _item(self, name: str) -> Item:
        filename = os.path.normpath(os.path.join(self.templates, *name.split("/")))
        with open(filename, encoding="utf-8") as f:
            source = f.read()
        return Item(name, filename, source, self.env.compile(source, name, filename))

    def new_dir(self, label: str) -> str:
        self._dirs += 1
        path = os.path.join(self.root, f"cache-{self._dirs:02d}-{label}")
        os.mkdir(path)
        return path

    def size_info(self) -> dict[str, t.Any]:
        info = {}
        for size, items in self.items.items():
            info[size] = {
                "templates": [it.name for it in items],
                "source_bytes": [len(it.source.encode("utf-8")) for it in items],
                "entry_bytes": [_entry_bytes(self.env, it) for it in items],  # Jinja's, no trailer
            }
        return info


def _entry_bytes(env: jinja2.Environment, item: Item) -> int:
    bucket = jinja2.bccache.Bucket(env, "k", hashlib.sha1(item.source.encode("utf-8")).hexdigest())
    bucket.code = item.code
    return len(bucket.bytecode_to_string())


def store(cache: jinja2.bccache.BytecodeCache, env: jinja2.Environment, items: list[Item]) -> None:
    """Write every item's entry through ``cache`` and check that it then hits."""
    for it in items:
        bucket = cache.get_bucket(env, it.name, it.filename, it.source)
        bucket.code = it.code
        cache.set_bucket(bucket)
    check_hits(cache, env, items)


def check_hits(
    cache: jinja2.bccache.BytecodeCache, env: jinja2.Environment, items: list[Item]
) -> None:
    for it in items:
        if cache.get_bucket(env, it.name, it.filename, it.source).code is None:
            raise BenchError(
                f"{type(cache).__module__}.{type(cache).__name__}: no hit for {it.name}"
            )


# jinja_bccache's in-process layer of unmarshalled code (a process-wide budget; 0 turns it
# off), in the versions that have one. The storage scenarios (a filesystem or memcached hit,
# the floor, isolation and integrity costs) time what a hit costs when it reaches the
# storage -- every first load of a template in a process -- so they run with the layer off;
# the others run with the defaults, and fs_hit adds rows for a repeat hit served by the layer.
_set_memory_cache = getattr(jinja_bccache, "set_memory_cache", None)
_memory_cache_info = getattr(jinja_bccache, "memory_cache_info", None)


def memory_layer() -> dict[str, t.Any]:
    if _set_memory_cache is None:
        return {"present": False}
    info: dict[str, t.Any] = {"present": True}
    if _memory_cache_info is not None:
        info["max_bytes"] = _memory_cache_info()[2]
    return info


@contextlib.contextmanager
def storage_only() -> t.Iterator[None]:
    if _set_memory_cache is None:
        yield
        return
    previous = _set_memory_cache(0)
    try:
        yield
        # Prove it: a layer that kept entries while off would have served the "storage" hits.
        if _memory_cache_info is not None and _memory_cache_info()[0]:
            raise BenchError(
                f"the in-process layer holds {_memory_cache_info()[0]} entries while off"
            )
    finally:
        _set_memory_cache(previous)


def check_storage_hits(*caches: t.Any) -> None:
    """After a storage scenario: none of jinja_bccache's caches served a hit from memory."""
    for cache in caches:
        stats = getattr(cache, "stats", None)
        if isinstance(cache, jinja_bccache.BytecodeCache) and callable(stats):
            memory_hits = stats().get("memory_hits", 0)
            if memory_hits:
                raise BenchError(
                    f"{memory_hits} hits came from the in-process layer in a storage scenario"
                )


def hit_sampler(
    cache: jinja2.bccache.BytecodeCache, env: jinja2.Environment, items: list[Item]
) -> Sampler:
    args = [(env, it.name, it.filename, it.source) for it in items]
    get_bucket = cache.get_bucket

    def op() -> None:
        for a in args:
            get_bucket(*a)

    return loop(op)


def ours_fs(directory: str, **options: t.Any) -> t.Any:
    return jinja_bccache.FileSystemBytecodeCache(directory, **options)


def jinja_fs(directory: str) -> t.Any:
    return jinja2.bccache.FileSystemBytecodeCache(directory)


def entry_path(cache: t.Any, env: jinja2.Environment, it: Item) -> str:
    # Through Jinja's own API (get_bucket, directory, pattern): works whatever key the
    # cache computes (ours combines Jinja's with the environment fingerprint).
    bucket = cache.get_bucket(env, it.name, it.filename, it.source)
    return os.path.join(cache.directory, cache.pattern % (bucket.key,))


# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------


def scenario_fs_hit(s: Setup, res: Results) -> None:
    with storage_only():
        _fs_hit_storage(s, res)
    if memory_layer()["present"]:
        _fs_hit_memory(s, res)


def _fs_hit_storage(s: Setup, res: Results) -> None:
    """get_bucket on a warm filesystem cache, per size, against jinja2.bccache and the floor;
    jinja_bccache's in-process layer (if any) off, so every hit reads and unmarshals the entry.

    The floor is what any implementation must do for a hit, in the cheapest Python: open,
    fstat, read and close the entry file (os-level calls, no file object), sha1 the source
    (Jinja's checksum) and marshal.loads the payload (offset known in advance, so no parsing
    at all). It skips computing the key and checking the header, so it is a true lower bound.
    """
    env = s.env
    header = len(jinja2.bccache.bc_magic) + len(pickle.dumps("0" * 40, 2))
    for size in SIZES:
        items = s.items[size]
        ours, jin = ours_fs(s.new_dir("ours")), jinja_fs(s.new_dir("jinja2"))
        store(ours, env, items)
        store(jin, env, items)
        floor_args = [(entry_path(ours, env, it), it.source) for it in items]
        for path, _source in floor_args:
            with open(path, "rb") as f:
                code = marshal.loads(f.read()[header:])
            if not hasattr(code, "co_code"):
                raise BenchError(f"floor: {path} did not unmarshal to code")

        def floor(args=floor_args, header=header) -> None:
            for path, source in args:
                fd = os.open(path, os.O_RDONLY)
                try:
                    data = os.read(fd, os.fstat(fd).st_size)
                finally:
                    os.close(fd)
                hashlib.sha1(source.encode("utf-8")).hexdigest()
                marshal.loads(memoryview(data)[header:])

        samples = compare(
            {
                "ours": hit_sampler(ours, env, items),
                "jinja2": hit_sampler(jin, env, items),
                "floor": loop(floor),
            },
            s.profile.rounds,
            s.profile.sample_s,
            per_op=len(items),
        )
        check_storage_hits(ours)
        res.ratio(
            f"fs_hit_{size}",
            "fs_hit",
            f"FS get_bucket hit, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
        )
        res.ratio(
            f"fs_hit_floor_{size}",
            "fs_hit",
            f"FS get_bucket hit vs floor, {size}",
            ("jinja_bccache", samples["ours"]),
            ("floor", samples["floor"]),
            note="floor = os.open/fstat/read/close + sha1(source) + marshal.loads(payload)",
        )


def _fs_hit_memory(s: Setup, res: Results) -> None:
    """A repeat get_bucket hit with jinja_bccache's defaults: served by its in-process layer
    (the key, the checksum and a lookup), against jinja2.bccache, which reads the file."""
    env = s.env
    for size in SIZES:
        items = s.items[size]
        ours, jin = ours_fs(s.new_dir("mem-ours")), jinja_fs(s.new_dir("mem-jinja2"))
        store(ours, env, items)
        store(jin, env, items)
        samples = compare(
            {"ours": hit_sampler(ours, env, items), "jinja2": hit_sampler(jin, env, items)},
            s.profile.rounds,
            s.profile.sample_s,
            per_op=len(items),
        )
        stats = ours.stats() if callable(getattr(ours, "stats", None)) else {}
        note = "jinja_bccache defaults (in-process layer on, warm)"
        if "memory_hits" in stats and "hits" in stats:
            note += f"; {stats['memory_hits']} of {stats['hits']} hits from memory"
        res.ratio(
            f"mem_hit_{size}",
            "fs_hit",
            f"get_bucket repeat hit, in-process layer, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
            note=note,
        )


def scenario_fs_set(s: Setup, res: Results) -> None:
    """set_bucket (an atomic write of the whole entry) per size, overwriting one entry, on the
    benchmark's filesystem and, when the machine has one, on a tmpfs (where /tmp lives on many
    systems, and where the kernel's share is small enough to show what the Python side costs).

    The floor is the cheapest atomic write in Python: marshal.dumps of the code after a
    precomputed header, then create a temp file with a fixed name, write, close and rename it
    over the entry (no random name, no trailer, no key): where the kernel's cost starts. No
    implementation can beat jinja2.bccache by more than jinja2.bccache's time over the floor's,
    so that ratio is reported as the bound."""
    _fs_set(s, res, s.root, "")
    shm = "/dev/shm"
    if _filesystem(s.root) != "tmpfs" and os.path.isdir(shm) and _filesystem(shm) == "tmpfs":
        root = tempfile.mkdtemp(prefix="jinja-bccache-bench-", dir=shm)
        try:
            _fs_set(s, res, root, "tmpfs")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _fs_set(s: Setup, res: Results, root: str, where: str) -> None:
    env = s.env
    fid, label = (f"_{where}", f" ({where})") if where else ("", "")
    dirs = itertools.count()

    def new_dir(name: str) -> str:
        path = os.path.join(root, f"set{fid}-{next(dirs):02d}-{name}")
        os.mkdir(path)
        return path

    for size in SIZES:
        items = s.items[size]
        samplers = {}
        floor_dir = new_dir("floor")
        floor_args = []
        for it in items:
            checksum = hashlib.sha1(it.source.encode("utf-8")).hexdigest()
            path = os.path.join(floor_dir, hashlib.sha1(it.name.encode("utf-8")).hexdigest())
            floor_args.append(
                (path, path + ".tmp", jinja2.bccache.bc_magic + pickle.dumps(checksum, 2), it.code)
            )

        def floor(args=floor_args, flags=os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> None:
            for path, tmp, header, code in args:
                data = header + marshal.dumps(code)
                fd = os.open(tmp, flags, 0o600)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                os.rename(tmp, path)

        floor()  # the entries exist, so every timed rename replaces one, as for the caches
        samplers["floor"] = loop(floor)
        for impl, cache in (
            ("ours", ours_fs(new_dir("ours"))),
            ("jinja2", jinja_fs(new_dir("jinja2"))),
        ):
            store(cache, env, items)
            buckets = []
            for it in items:
                bucket = cache.get_bucket(env, it.name, it.filename, it.source)
                bucket.code = it.code
                buckets.append(bucket)

            def op(set_bucket=cache.set_bucket, buckets=buckets) -> None:
                for b in buckets:
                    set_bucket(b)

            samplers[impl] = loop(op)
        samples = compare(samplers, s.profile.rounds, s.profile.sample_s, per_op=len(items))
        res.ratio(
            f"fs_set{fid}_{size}",
            "fs_set",
            f"FS set_bucket{label}, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
        )
        res.ratio(
            f"fs_set{fid}_floor_{size}",
            "fs_set",
            f"FS set_bucket{label} vs floor, {size}",
            ("jinja_bccache", samples["ours"]),
            ("floor", samples["floor"]),
            note="floor = marshal.dumps + os.open(O_EXCL)/write/close/rename",
        )
        res.ratio(
            f"fs_set{fid}_bound_{size}",
            "fs_set",
            f"FS set_bucket{label}, the floor's ratio (bound), {size}",
            ("floor", samples["floor"]),
            ("jinja2.bccache", samples["jinja2"]),
            note="jinja2.bccache vs the floor: the best ratio any implementation can reach",
        )


def scenario_bucket_strings(s: Setup, res: Results) -> None:
    """Bucket.bytecode_from_string / bytecode_to_string per size (the memcached path's
    (de)serialisation, no I/O). from_string is given Jinja's bytes, which both read."""
    env = s.env
    for size in SIZES:
        items = s.items[size]
        from_samplers, to_samplers = {}, {}
        for label, cls in (("ours", jinja_bccache.Bucket), ("jinja2", jinja2.bccache.Bucket)):
            pairs = []
            for it in items:
                checksum = hashlib.sha1(it.source.encode("utf-8")).hexdigest()
                writer = jinja2.bccache.Bucket(env, "key", checksum)
                writer.code = it.code
                data = writer.bytecode_to_string()
                bucket = cls(env, "key", checksum)
                bucket.bytecode_from_string(data)
                if bucket.code is None:
                    raise BenchError(
                        f"{cls.__module__}.Bucket.bytecode_from_string refused {it.name}"
                    )
                if bucket.bytecode_to_string() != data:
                    raise BenchError(
                        f"{cls.__module__}.Bucket.bytecode_to_string differs for {it.name}"
                    )
                pairs.append((bucket, data))

            def from_op(pairs=pairs) -> None:
                for bucket, data in pairs:
                    bucket.bytecode_from_string(data)

            def to_op(pairs=pairs) -> None:
                for bucket, _ in pairs:
                    bucket.bytecode_to_string()

            from_samplers[label] = loop(from_op)
            to_samplers[label] = loop(to_op)
        samples = compare(from_samplers, s.profile.rounds, s.profile.sample_s, per_op=len(items))
        res.ratio(
            f"from_string_{size}",
            "bucket_strings",
            f"Bucket.bytecode_from_string, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
        )
        samples = compare(to_samplers, s.profile.rounds, s.profile.sample_s, per_op=len(items))
        res.ratio(
            f"to_string_{size}",
            "bucket_strings",
            f"Bucket.bytecode_to_string, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
        )


class Memcached:
    """A private memcached on a free loopback port, stopped on exit."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> "Memcached":
        exe = shutil.which("memcached")
        if exe is None:
            raise FileNotFoundError("memcached is not installed (dev/bench.sh installs it)")
        for _ in range(5):  # the free port found may be taken before memcached binds it
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
            # -U 0: no UDP; -u nobody: memcached refuses to run as root without it (ignored
            # otherwise).
            self.proc = subprocess.Popen(
                [exe, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-u", "nobody"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return self
                except OSError:
                    time.sleep(0.02)
            self._stop()
        raise RuntimeError("could not start memcached")

    def _stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __exit__(self, *exc: object) -> None:
        self._stop()


def scenario_memcached(s: Setup, res: Results) -> None:
    """A memcached hit (medium templates) on a real memcached: jinja2.bccache and
    jinja_bccache given the same pymemcache client, and jinja_bccache with its own
    MemcachedClient when the installed version has one."""
    try:
        from pymemcache.client.base import Client
    except ImportError:
        for fid, fig in (
            ("memcached_same_client", "memcached hit, same pymemcache client"),
            ("memcached_native", "memcached hit, native client vs jinja2 + pymemcache"),
        ):
            res.skip(
                fid, "memcached", fig, "pymemcache is not installed (benches/requirements.txt)"
            )
        return
    env, items = s.env, s.items["medium"]
    with Memcached() as server, storage_only():
        # no_delay: without TCP_NODELAY every request waits on Nagle/delayed ACK; one client
        # object for both caches, so the client's cost is identical.
        client = Client(("127.0.0.1", server.port), no_delay=True, connect_timeout=5, timeout=5)
        caches: dict[str, t.Any] = {
            "ours_pymemcache": jinja_bccache.MemcachedBytecodeCache(client),
            "jinja2": jinja2.bccache.MemcachedBytecodeCache(client),
        }
        native_cls = getattr(jinja_bccache, "MemcachedClient", None)
        if native_cls is not None:
            caches["ours_native"] = jinja_bccache.MemcachedBytecodeCache(
                native_cls([f"127.0.0.1:{server.port}"])
            )
        for cache in caches.values():
            store(cache, env, items)
        samples = compare(
            {label: hit_sampler(cache, env, items) for label, cache in caches.items()},
            s.profile.rounds,
            s.profile.sample_s,
            per_op=len(items),
        )
        check_storage_hits(*caches.values())
        client.close()
    res.ratio(
        "memcached_same_client",
        "memcached",
        "memcached hit, same pymemcache client",
        ("jinja_bccache", samples["ours_pymemcache"]),
        ("jinja2.bccache", samples["jinja2"]),
        note="medium templates; both caches share one pymemcache Client (no_delay)",
    )
    if "ours_native" in samples:
        res.ratio(
            "memcached_native",
            "memcached",
            "memcached hit, native client vs jinja2 + pymemcache",
            ("jinja_bccache+MemcachedClient", samples["ours_native"]),
            ("jinja2.bccache+pymemcache", samples["jinja2"]),
            note="medium templates",
        )
    else:
        res.skip(
            "memcached_native",
            "memcached",
            "memcached hit, native client vs jinja2 + pymemcache",
            "the installed jinja_bccache has no MemcachedClient",
        )


def _child(impl: str, s: Setup, cache_dir: str, names_file: str) -> dict[str, t.Any]:
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "fresh_process.py"),
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


def scenario_fresh_process(s: Setup, res: Results) -> None:
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


class _ScandirUnlink:
    """The floor of clear(): list the directory and unlink every file, matching nothing."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.pattern = "__jinja2_%s.cache"

    def clear(self) -> None:
        with os.scandir(self.directory) as entries:
            for entry in entries:
                os.unlink(entry.path)


def scenario_clear(s: Setup, res: Results) -> None:
    """clear() of a directory holding 20 000 entries of this cache's pattern, and the floor:
    the same directory listed and every file unlinked from Python with no name matching."""
    count = 20_000
    env, it = s.env, s.items["small"][0]
    caches: dict[str, t.Any] = {
        "ours": ours_fs(s.new_dir("clear-ours")),
        "jinja2": jinja_fs(s.new_dir("clear-jinja2")),
        "floor": _ScandirUnlink(s.new_dir("clear-floor")),
    }
    payload = {}
    for label in ("ours", "jinja2"):
        cache = caches[label]
        store(cache, env, [it])
        with open(entry_path(cache, env, it), "rb") as f:
            payload[label] = f.read()
    payload["floor"] = payload["ours"]
    # Real entries' bytes under names of the default pattern (sha1 hex keys), the same names
    # in both directories.
    names = [
        caches["ours"].pattern % hashlib.sha1(str(i).encode()).hexdigest() for i in range(count)
    ]
    times: dict[str, list[float]] = {k: [] for k in caches}

    def populate(label: str) -> None:
        directory = caches[label].directory
        shutil.rmtree(directory)
        os.mkdir(directory)
        data = payload[label]
        for name in names:
            fd = os.open(
                os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
            os.write(fd, data)
            os.close(fd)

    for r in range(s.profile.clear_rounds):
        for label in list(caches) if r % 2 == 0 else list(caches)[::-1]:
            populate(label)
            elapsed = run_sample(_clear_sampler(caches[label]), 1)
            if os.listdir(caches[label].directory):
                raise BenchError(
                    f"{label}: clear() left {len(os.listdir(caches[label].directory))} files"
                )
            times[label].append(elapsed * 1e6)
    res.ratio(
        "clear_20000",
        "clear",
        "clear() of 20 000 entries",
        ("jinja_bccache", times["ours"]),
        ("jinja2.bccache", times["jinja2"]),
    )
    res.ratio(
        "clear_20000_floor",
        "clear",
        "clear() of 20 000 entries vs floor",
        ("jinja_bccache", times["ours"]),
        ("floor", times["floor"]),
        note="floor = os.scandir + os.unlink of every file",
    )


def _clear_sampler(cache: t.Any) -> Sampler:
    def sample(number: int) -> float:  # one clear() per repopulated directory: number is 1
        start = time.perf_counter()
        cache.clear()
        return time.perf_counter() - start

    return sample


def scenario_isolation(s: Setup, res: Results) -> None:
    """What environment isolation costs: a medium hit with isolation on (the default) vs
    off, and the once-per-Environment fingerprint: the first hit through a new Environment
    vs a hit through one already used."""
    with storage_only():
        _isolation(s, res)


def _isolation(s: Setup, res: Results) -> None:
    env, items = s.env, s.items["medium"]
    on, off = (
        ours_fs(s.new_dir("iso-on")),
        ours_fs(s.new_dir("iso-off"), isolate_environments=False),
    )
    store(on, env, items)
    store(off, env, items)
    samples = compare(
        {"on": hit_sampler(on, env, items), "off": hit_sampler(off, env, items)},
        s.profile.rounds,
        s.profile.sample_s,
        per_op=len(items),
    )
    check_storage_hits(on, off)
    res.ratio(
        "isolation_hit",
        "isolation",
        "isolation on vs off, FS hit, medium",
        ("isolation on", samples["on"]),
        ("isolation off", samples["off"]),
        note="the memoized fingerprint's cost per hit",
    )
    res.cost(
        "isolation_per_hit",
        "isolation, per hit (on - off, medium)",
        statistics.median(samples["on"]) - statistics.median(samples["off"]),
    )

    # The first hit through a new Environment computes its fingerprint (or finds it by the
    # Environment's signature); later ones reuse it.
    it = items[0]
    args = (it.name, it.filename, it.source)
    from dbt_pattern import node_environment
    from jinja2.sandbox import SandboxedEnvironment

    kinds: list[tuple[str, str, t.Callable[[], jinja2.Environment], str]] = [
        (
            "fingerprint_new_env",
            "fingerprint, once per new Environment (first hit - repeat hit)",
            bench_env,
            "bench Environment: i18n, select_autoescape, 2 filters, 1 test",
        ),
        (
            "fingerprint_new_sandboxed_env",
            "... once per new SandboxedEnvironment",
            lambda: bench_env(SandboxedEnvironment),
            "the same, sandboxed: operator tables per instance",
        ),
        (
            "fingerprint_new_node_env",
            "... once per new Environment with an Undefined of its own",
            lambda: node_environment(SandboxedEnvironment, 0),
            "dbt's: sandboxed, an Undefined class per node",
        ),
    ]
    for fid, what, make, note in kinds:
        first_env = make()
        store(on, first_env, [it])

        def first_hit(number: int, make: t.Callable[[], jinja2.Environment] = make) -> float:
            envs = [make() for _ in range(number)]  # built outside the timed part
            start = time.perf_counter()
            for e in envs:
                on.get_bucket(e, *args)
            return time.perf_counter() - start

        samples = compare(
            {"first": first_hit, "repeat": loop(lambda e=first_env: on.get_bucket(e, *args))},
            s.profile.rounds,
            s.profile.sample_s,
        )
        first_us = statistics.median(samples["first"])
        res.cost(fid, what, first_us - statistics.median(samples["repeat"]), note=note)


def scenario_dbt_pattern(s: Setup, res: Results) -> None:
    """dbt's use of Jinja without dbt (benches/dbt_pattern.py): a fresh process builds 400
    templates from strings, each through a new sandboxed Environment with an Undefined class
    made for its node, with no bytecode cache (as dbt does) and with jinja_bccache's (the
    Environment class given FromStringCacheMixin). A warm run must compile nothing, log
    nothing and leave the cache directory as it was."""
    count = 400
    cache_dir = s.new_dir("dbt-pattern")
    script = os.path.join(HERE, "dbt_pattern.py")

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


def scenario_integrity(s: Setup, res: Results) -> None:
    """What the integrity trailer costs per hit: jinja_bccache with isolate_environments=False
    (so the keys are Jinja's and isolation costs nothing) reading its own entries (xxh3
    trailer, verified before unmarshalling) vs reading stock Jinja's entries of the same
    templates (no trailer, accepted in that mode). The difference is the verification plus
    reading 16 more bytes; everything else on the path is the same."""
    with storage_only():
        _integrity(s, res)


def _integrity(s: Setup, res: Results) -> None:
    env = s.env
    for size in SIZES:
        items = s.items[size]
        trailer = ours_fs(s.new_dir("int-trailer"), isolate_environments=False)
        plain = ours_fs(s.new_dir("int-plain"), isolate_environments=False)
        store(trailer, env, items)
        store(jinja_fs(plain.directory), env, items)  # written by Jinja: no trailer
        check_hits(plain, env, items)
        for it in items:
            a, b = entry_path(trailer, env, it), entry_path(plain, env, it)
            if os.path.getsize(a) <= os.path.getsize(b):
                raise BenchError("integrity: the entry written by jinja_bccache has no trailer")
        samples = compare(
            {"trailer": hit_sampler(trailer, env, items), "plain": hit_sampler(plain, env, items)},
            s.profile.rounds,
            s.profile.sample_s,
            per_op=len(items),
        )
        check_storage_hits(trailer, plain)
        res.ratio(
            f"integrity_{size}",
            "integrity",
            f"integrity trailer vs none, FS hit, {size}",
            ("with xxh3 trailer", samples["trailer"]),
            ("Jinja entry, no trailer", samples["plain"]),
            note="isolate_environments=False for both",
        )
        trailer_us, plain_us = (
            statistics.median(samples["trailer"]),
            statistics.median(samples["plain"]),
        )
        # The difference is the check's cost only while both paths are otherwise the same;
        # say so when reading entries without a trailer has become a path of its own.
        note = (
            ""
            if plain_us < 1.2 * trailer_us
            else (
                "not the check's cost: entries without a trailer take "
                f"{plain_us / trailer_us:.1f}x as long to read in this version; see the isolated "
                "figure"
            )
        )
        res.cost(
            f"integrity_per_hit_{size}",
            f"integrity check, per hit ({size}; trailer - none)",
            trailer_us - plain_us,
            note=note,
        )
        _integrity_isolated(s, res, size, trailer, items)


def _integrity_isolated(
    s: Setup, res: Results, size: str, cache: t.Any, items: list[Item]
) -> None:
    """The verification alone, through the private native function that checks a trailer and
    returns the body before it (so it also copies the body: an upper bound). The difference of
    two hit timings above is lost in the noise of a file read and an unmarshal; this is not.
    Skipped if the private function is gone or changed."""
    unseal = getattr(getattr(jinja_bccache, "_native", None), "unseal", None)
    if unseal is None:
        return
    entries = []
    for it in items:
        bucket = cache.get_bucket(s.env, it.name, it.filename, it.source)
        with open(entry_path(cache, s.env, it), "rb") as f:
            entries.append((f.read(), bucket.key))
    try:
        if any(unseal(data, key, None, False, "bench") is None for data, key in entries):
            return
    except TypeError:  # another signature: not worth guessing
        return

    def op() -> None:
        for data, key in entries:
            unseal(data, key, None, False, "bench")

    samples = compare(
        {"unseal": loop(op)}, s.profile.rounds, s.profile.sample_s, per_op=len(entries)
    )
    res.cost(
        f"integrity_unseal_{size}",
        f"integrity check alone: xxh3 verify + body copy ({size})",
        statistics.median(samples["unseal"]),
        note="jinja_bccache._native.unseal",
        samples_us=samples["unseal"],
    )


class DictBytecodeCache(jinja2.bccache.BytecodeCache):
    """The ideal in-process layer, as a reference: Jinja's own get_bucket (key and checksum
    hashing) and a dict lookup of the unmarshalled code, nothing else."""

    def __init__(self) -> None:
        self.codes: dict[tuple[str, str], t.Any] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        bucket.code = self.codes.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.codes[(bucket.key, bucket.checksum)] = bucket.code


def working_set(s: Setup, page: str) -> list[str]:
    """``page`` and every template it pulls in (extends, includes, imports), recursively:
    what one request rendering it loads."""
    seen: list[str] = []
    todo = [page]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        with open(os.path.join(s.templates, *name.split("/")), encoding="utf-8") as f:
            source = f.read()
        todo.extend(n for n in jinja2.meta.find_referenced_templates(s.env.parse(source)) if n)
    return seen


def scenario_new_env(s: Setup, res: Results) -> None:
    """Repeated loads through new Environments (an Environment per request or job): Jinja's
    per-Environment template cache never helps, every get_template goes to the bytecode cache.
    One operation = a new Environment (built outside the timed part, sharing one cache object
    and one FileSystemLoader, as an application configures them once) loading a medium page
    and every template it pulls in. The caches are default-constructed: whatever in-process
    layer jinja_bccache has by default is in play, warmed by the calibration runs."""
    loader = FileSystemLoader(s.templates)
    page = s.items["medium"][0].name
    names = working_set(s, page)
    no_isolation = ours_fs(s.new_dir("newenv-ours-noiso"))
    no_isolation.isolate_environments = False
    caches: dict[str, t.Any] = {
        "ours": ours_fs(s.new_dir("newenv-ours")),
        "jinja2": jinja_fs(s.new_dir("newenv-jinja2")),
        "dict": DictBytecodeCache(),
        "ours_no_isolation": no_isolation,
    }
    for cache in caches.values():
        bench_env(loader=loader, bytecode_cache=cache).get_template(page)  # warm: compiles, writes
        for name in names:
            bench_env(loader=loader, bytecode_cache=cache).get_template(name)

    def sampler(cache: t.Any) -> Sampler:
        def sample(number: int) -> float:
            envs = [bench_env(loader=loader, bytecode_cache=cache) for _ in range(number)]
            start = time.perf_counter()
            for e in envs:
                for name in names:
                    e.get_template(name)
            return time.perf_counter() - start

        return sample

    misses = _count_compiles(
        lambda: [
            bench_env(loader=loader, bytecode_cache=c).get_template(n)
            for c in caches.values()
            for n in names
        ]
    )
    if misses:
        raise BenchError(
            f"new-Environment loads compiled {misses} templates: the caches are not warm"
        )
    samples = compare(
        {label: sampler(cache) for label, cache in caches.items()},
        s.profile.rounds,
        s.profile.sample_s,
        per_op=len(names),
    )
    note = f"{len(names)} templates per new Environment: {page} and what it pulls in"
    res.ratio(
        "new_env",
        "new_env",
        "repeat hit through a new Environment",
        ("jinja_bccache", samples["ours"]),
        ("jinja2.bccache", samples["jinja2"]),
        note=note,
    )
    res.ratio(
        "new_env_vs_dict",
        "new_env",
        "repeat hit through a new Environment vs dict cache",
        ("jinja_bccache", samples["ours"]),
        ("ideal dict cache", samples["dict"]),
        note="dict cache = Jinja's get_bucket + a dict of code objects, no isolation",
    )
    res.ratio(
        "new_env_bound",
        "new_env",
        "repeat hit through a new Environment, dict cache's ratio (bound)",
        ("ideal dict cache", samples["dict"]),
        ("jinja2.bccache", samples["jinja2"]),
        note="the dict cache vs jinja2.bccache: what is left is Jinja's loader (get_source) "
        "and Template.from_code, which no bytecode cache avoids",
    )
    res.ratio(
        "new_env_no_isolation",
        "new_env",
        "repeat hit through a new Environment, isolation off",
        ("jinja_bccache", samples["ours_no_isolation"]),
        ("jinja2.bccache", samples["jinja2"]),
        note="isolate_environments = False: what the environment fingerprint costs here",
    )
    res.details["new_env_templates"] = names
    _new_env_get_bucket(s, res, loader, names, caches["ours"], caches["jinja2"])


def _new_env_get_bucket(
    s: Setup, res: Results, loader: t.Any, names: list[str], ours: t.Any, jin: t.Any
) -> None:
    """The bytecode cache's own share of the loads above: get_bucket for each template
    through a new Environment (the fingerprint of an Environment it has not seen, then the
    hit), with the sources read beforehand, as Jinja's loader hands them over."""
    sources = [(name, *loader.get_source(s.env, name)[:2]) for name in names]

    def sampler(cache: t.Any) -> Sampler:
        def sample(number: int) -> float:
            envs = [bench_env(loader=loader, bytecode_cache=cache) for _ in range(number)]
            start = time.perf_counter()
            for e in envs:
                for name, source, filename in sources:
                    if cache.get_bucket(e, name, filename, source).code is None:
                        raise BenchError(f"get_bucket missed {name} through a new Environment")
            return time.perf_counter() - start

        return sample

    samples = compare(
        {"ours": sampler(ours), "jinja2": sampler(jin)},
        s.profile.rounds,
        s.profile.sample_s,
        per_op=len(names),
    )
    res.ratio(
        "new_env_get_bucket",
        "new_env",
        "get_bucket hit through a new Environment",
        ("jinja_bccache", samples["ours"]),
        ("jinja2.bccache", samples["jinja2"]),
        note="the hit alone, fingerprint of the new Environment included",
    )


def _count_compiles(fn: t.Callable[[], object]) -> int:
    count = 0
    original = jinja2.Environment.compile

    def counting(self: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        nonlocal count
        count += 1
        return original(self, *args, **kwargs)

    jinja2.Environment.compile = counting  # type: ignore[method-assign]
    try:
        fn()
    finally:
        jinja2.Environment.compile = original  # type: ignore[method-assign]
    return count


_IMPORT_SNIPPET = (
    "import time; _t = time.perf_counter(); {stmt}; print((time.perf_counter() - _t) * 1e6)"
)


def scenario_import(s: Setup, res: Results) -> None:
    """The import of jinja_bccache in a fresh interpreter vs jinja2.bccache's (ours imports
    Jinja's, which it subclasses), and what ours adds on top of an already imported
    jinja2.bccache, with ``-X importtime``'s view of the modules it brings in."""
    variants = {
        "ours": _IMPORT_SNIPPET.format(stmt="import jinja_bccache"),
        "jinja2": _IMPORT_SNIPPET.format(stmt="import jinja2.bccache"),
        "ours_on_top": "import jinja2, jinja2.bccache; "
        + _IMPORT_SNIPPET.format(stmt="import jinja_bccache"),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="")  # .pyc files exist after the first run
    for code in variants.values():  # warm the OS's file cache and the .pyc files
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env)
    for r in range(s.profile.import_rounds):
        for label in list(variants) if r % 2 == 0 else list(variants)[::-1]:
            out = subprocess.run(
                [sys.executable, "-c", variants[label]],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            times[label].append(float(out.stdout))
    res.ratio(
        "import",
        "import",
        "import, fresh interpreter",
        ("import jinja_bccache", times["ours"]),
        ("import jinja2.bccache", times["jinja2"]),
        note="ours includes importing jinja2.bccache, which it subclasses",
    )
    res.cost(
        "import_on_top",
        "import jinja_bccache after jinja2.bccache",
        statistics.median(times["ours_on_top"]),
        samples_us=times["ours_on_top"],
    )

    # -X importtime: which modules jinja_bccache's import brings in beyond Jinja's.
    out = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import jinja2, jinja2.bccache; import jinja_bccache",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        level = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((name.strip(), level, int(self_us), int(cumulative)))
    # The top-level entry "jinja_bccache" comes after everything it imported (importtime lists
    # a module when it finishes): its subtree is what follows the previous top-level entry.
    end = max(i for i, row in enumerate(rows) if row[0] == "jinja_bccache" and row[1] == 0)
    start = max((i for i in range(end) if rows[i][1] == 0), default=-1) + 1
    subtree = rows[start : end + 1]
    res.details["import_time_modules"] = [
        {"module": n, "self_us": su, "cumulative_us": cu}
        for n, _, su, cu in sorted(subtree, key=lambda row: -row[2])[:15]
    ]


SCENARIOS: dict[str, t.Callable[[Setup, Results], None]] = {
    "fs_hit": scenario_fs_hit,
    "fs_set": scenario_fs_set,
    "bucket_strings": scenario_bucket_strings,
    "memcached": scenario_memcached,
    "fresh_process": scenario_fresh_process,
    "clear": scenario_clear,
    "isolation": scenario_isolation,
    "dbt_pattern": scenario_dbt_pattern,
    "integrity": scenario_integrity,
    "new_env": scenario_new_env,
    "import": scenario_import,
}


# ---------------------------------------------------------------------------------------------
# Machine information and output
# ---------------------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _filesystem(path: str) -> str | None:
    """The type of the filesystem holding ``path`` (from /proc/mounts): the write and clear()
    figures depend on it."""
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            mounts = [line.split()[1:3] for line in f]
    except OSError:
        return None
    path = os.path.realpath(path)
    best = max(
        (m for m in mounts if path == m[0] or path.startswith(m[0].rstrip("/") + "/")),
        key=lambda m: len(m[0]),
        default=None,
    )
    return best[1] if best else None


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(tmp_root: str) -> dict[str, t.Any]:
    native = [
        f for f in os.listdir(os.path.dirname(jinja_bccache.__file__)) if f.startswith("_native")
    ]
    native_sha = None
    if native:
        with open(os.path.join(os.path.dirname(jinja_bccache.__file__), native[0]), "rb") as lib:
            native_sha = hashlib.sha256(lib.read()).hexdigest()[:16]
    memcached_version = None
    if shutil.which("memcached"):
        memcached_version = subprocess.run(
            ["memcached", "-V"], capture_output=True, text=True
        ).stdout.strip()
    mem = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    status = _git("status", "--porcelain")
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_build": " ".join(platform.python_build()),
        "jinja2": _version("jinja2") or jinja2.__version__,
        "jinja_bccache": _version("jinja-bccache"),
        "jinja_bccache_path": os.path.dirname(jinja_bccache.__file__),
        "jinja_bccache_native_sha256": native_sha,
        "pymemcache": _version("pymemcache"),
        "memcached": memcached_version,
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpus_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory": mem,
        "tmp_filesystem": _filesystem(tmp_root),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        # As typed from the repository's root, whatever the working directory was.
        "command": shlex.join(
            ["python", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT), *sys.argv[1:]]
        ),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def fmt_us(us: float) -> str:
    if abs(us) >= 10_000:
        return f"{us / 1000:,.1f} ms"
    if abs(us) >= 100:
        return f"{us:,.0f} µs"
    return f"{us:.2f} µs"


def print_table(res: Results) -> None:
    rows = [
        ("figure", "jinja_bccache", "baseline", "", "ratio", "rounds p25-p75", "target", "met?")
    ]
    for f in res.figures:
        target = "" if f.get("target") is None else f"≥ {f['target']:g}"
        if "skipped" in f:
            rows.append((f["figure"], "n/a", "", "", "n/a", "", target, "skipped"))
            continue
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        rr = f["round_ratios"]
        rows.append(
            (
                f["figure"],
                fmt_us(f["ours"]["us"]),
                fmt_us(f["baseline"]["us"]),
                f["baseline"]["label"],
                f"{f['ratio']:.2f}",
                f"{rr['p25']:.2f}-{rr['p75']:.2f}",
                target,
                met,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    align = "<>><>><<"
    for n, row in enumerate(rows):
        print("  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "times: medians over alternating rounds; ratio: median over rounds of "
        "baseline / jinja_bccache"
    )
    print(
        "(> 1: jinja_bccache is faster); rounds p25-p75: how much that ratio varied between "
        "rounds (noise)"
    )
    for f in res.figures:
        if "skipped" in f:
            print(f"skipped: {f['figure']}: {f['skipped']}")
    if res.costs:
        print()
        for c in res.costs:
            print(
                f"{c['what']:<66} {fmt_us(c['us']):>10}"
                + (f"   ({c['note']})" if c["note"] else "")
            )
    mods = res.details.get("import_time_modules")
    if mods:
        print(
            "slowest modules imported by jinja_bccache (self time, -X importtime): "
            + ", ".join(f"{m['module']} {m['self_us']} µs" for m in mods[:6])
        )


def write_json(path: str, data: dict[str, t.Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"  # then renamed: a killed run never leaves half a results file
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


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
    res = Results()
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
