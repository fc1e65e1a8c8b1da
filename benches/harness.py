"""What every scenario of ``benches/run.py`` shares: the profiles, the paired timing, the
results a scenario reports into (``Results``; ``BenchError`` when what it timed is not what it
claims), the corpus items, and the helpers that build, fill and check the caches compared, a
private memcached among them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import time
import typing as t

import corpus
import jinja2
import jinja2.bccache
from benchenv import bench_env

import jinja_bccache

HERE = os.path.dirname(os.path.abspath(__file__))

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
    # The targets are the scenarios' own (see scenarios/__init__.py), handed in by the runner:
    # a figure records its target and whether this run met it.
    def __init__(self, targets: t.Mapping[str, float]) -> None:
        self.targets = dict(targets)
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
        target = self.targets.get(fid)
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
                "target": self.targets.get(fid),
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
