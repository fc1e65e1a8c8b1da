"""No memory leaks on the hot paths: hits, writes, memcached hits, damaged entries.

Each measurement runs in a fresh interpreter (pytest's own allocations would drown the
signal): warm up, read the resident set size from /proc/self/statm, run the phase many times,
read it again. A leak of even ~100 bytes per call grows the RSS by megabytes over a phase;
the bound is about leaks, nothing here measures speed.

The harness checks itself: the same script with a 100-byte leak injected into every
iteration must exceed the bound in every phase.
"""

import json
import os
import subprocess
import sys

import pytest

MiB = 1024 * 1024

#: Iterations per phase. Each phase's bound is BYTES_PER_CALL per iteration, capped at
#: MAX_GROWTH: 200k hits may grow by 6.1 MiB at most, 20k writes by 625 KiB. (A clean run
#: grows by 0 to a few pages; the injected 100-byte leak by 2 MB over 20k iterations.)
COUNTS = {
    "fs_hits": 200_000,
    "fs_writes": 20_000,
    "memcached_hits": 50_000,
    "damaged_fs": 30_000,
    "damaged_memcached": 20_000,
}
BYTES_PER_CALL = 32
MAX_GROWTH = 8 * MiB
LEAK_BYTES = 100

SCRIPT = r"""
import gc, json, logging, os, sys, tempfile
from jinja2 import DictLoader, Environment
import jinja_bccache

counts = json.loads(sys.argv[1])
leak_bytes = int(sys.argv[2])   # > 0: the self-check, a leak injected into every iteration
leaked = []
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Counting(logging.Handler):
    # the refusals of damaged entries are logged: exercise that path, keep nothing
    count = 0

    def emit(self, record):
        record.getMessage()
        Counting.count += 1


logger = logging.getLogger("jinja_bccache")
logger.addHandler(Counting())
logger.propagate = False

TEMPLATES = {
    f"t{i}.html": "<p>{{ a }}</p>{% for x in xs %}<i>{{ x|upper }}</i>{% endfor %}" * (i + 1)
    for i in range(16)
}
NAMES = sorted(TEMPLATES)
CONTEXT = {"a": 1, "xs": ["p", "q"]}
env = Environment(loader=DictLoader(TEMPLATES))
UNCACHED = {n: env.get_template(n).render(CONTEXT) for n in NAMES}
results = {}


def phase(label, step):
    # step(i) does one call and says whether it had the expected outcome (a hit, a miss...)
    count = counts[label]
    for i in range(max(count // 20, 1000)):  # warm-up: allocator arenas, caches, free lists
        step(i)
    gc.collect()
    Counting.count = 0
    ok = 0
    before = rss()
    for i in range(count):
        ok += step(i)
        if leak_bytes:
            leaked.append(bytes(leak_bytes - 41))  # object + list slot: ~leak_bytes
    gc.collect()
    results[label] = {"before": before, "after": rss(), "ok": ok, "logged": Counting.count}


def render_from(code, name):
    return env.template_class.from_code(env, code, env.make_globals(None)).render(CONTEXT)


with tempfile.TemporaryDirectory() as directory:
    fs = jinja_bccache.FileSystemBytecodeCache(directory)  # isolation on (the default)
    buckets = []
    for name in NAMES:  # prime one entry per template
        bucket = fs.get_bucket(env, name, None, TEMPLATES[name])
        assert bucket.code is None
        bucket.code = env.compile(TEMPLATES[name], name)
        fs.set_bucket(bucket)
        buckets.append(bucket)

    def fs_hit(i):
        name = NAMES[i % 16]
        return fs.get_bucket(env, name, None, TEMPLATES[name]).code is not None

    phase("fs_hits", fs_hit)

    def fs_write(i):
        return fs.set_bucket(buckets[i % 16]) is None

    phase("fs_writes", fs_write)
    results["fs_writes"]["files"] = len(os.listdir(directory))
    results["fs_renders"] = all(
        render_from(fs.get_bucket(env, n, None, TEMPLATES[n]).code, n) == UNCACHED[n]
        for n in NAMES
    )

    # damaged entries: flipped byte (integrity trailer fails), truncated, and garbage
    for i, name in enumerate(NAMES):
        path = fs._get_cache_filename(fs.get_bucket(env, name, None, TEMPLATES[name]))
        with open(path, "rb") as f:
            data = bytearray(f.read())
        if i % 3 == 0:
            data[len(data) // 2] ^= 0x40
        elif i % 3 == 1:
            del data[len(data) - 20:]
        else:
            data = bytearray(os.urandom(len(data)))
        with open(path, "wb") as f:
            f.write(data)

    def fs_damaged(i):
        name = NAMES[i % 16]
        return fs.get_bucket(env, name, None, TEMPLATES[name]).code is None

    phase("damaged_fs", fs_damaged)


class DictClient:
    # an in-process stand-in for a memcached client: the cache's memory is under test
    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, timeout=None):
        self.data[key] = value


client = DictClient()
mc = jinja_bccache.MemcachedBytecodeCache(client)
for name in NAMES:
    bucket = mc.get_bucket(env, name, None, TEMPLATES[name])
    bucket.code = env.compile(TEMPLATES[name], name)
    mc.set_bucket(bucket)


def mc_hit(i):
    name = NAMES[i % 16]
    return mc.get_bucket(env, name, None, TEMPLATES[name]).code is not None


phase("memcached_hits", mc_hit)
results["memcached_renders"] = all(
    render_from(mc.get_bucket(env, n, None, TEMPLATES[n]).code, n) == UNCACHED[n]
    for n in NAMES
)

for i, key in enumerate(sorted(client.data)):
    value = bytearray(client.data[key])
    value[-30 - i] ^= 0x01
    client.data[key] = bytes(value)


def mc_damaged(i):
    name = NAMES[i % 16]
    return mc.get_bucket(env, name, None, TEMPLATES[name]).code is None


phase("damaged_memcached", mc_damaged)
print(json.dumps(results))
"""


def start(leak_bytes):
    # The in-process layer off: every hit goes through the file and the parser, and a
    # damaged entry on disk is not answered from memory. (The layer is bounded by bytes and
    # tested in test_memory_layer.py.)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(COUNTS), str(leak_bytes)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, JINJA_BCCACHE_MEMORY_BYTES="0"),
    )


def finish(proc):
    with proc:
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def measure(leak_bytes=0):
    return finish(start(leak_bytes))


@pytest.fixture(scope="module")
def measurements():
    """Both runs, side by side (one core each): the clean one and the self-check."""
    procs = {leak: start(leak) for leak in (0, LEAK_BYTES)}
    try:
        return {leak: finish(proc) for leak, proc in procs.items()}
    finally:
        for proc in procs.values():  # if one failed, do not leave the other running
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def bound(count):
    return min(MAX_GROWTH, count * BYTES_PER_CALL)


def growth(results):
    return {label: results[label]["after"] - results[label]["before"] for label in COUNTS}


def test_no_growth_on_hot_paths(measurements):
    results = measurements[0]
    # every phase did what it says: all hits, all misses, entries that render correctly
    for label, count in COUNTS.items():
        assert results[label]["ok"] == count, label
    assert results["fs_writes"]["files"] == 16  # replaced in place, no temp files left
    assert results["fs_renders"] is True
    assert results["memcached_renders"] is True
    # each refusal of a damaged entry is logged; nothing is on hits and writes
    assert results["damaged_fs"]["logged"] == COUNTS["damaged_fs"]
    assert results["damaged_memcached"]["logged"] == COUNTS["damaged_memcached"]
    for label in ("fs_hits", "fs_writes", "memcached_hits"):
        assert results[label]["logged"] == 0, label

    grown = growth(results)
    too_much = {label: g for label, g in grown.items() if g > bound(COUNTS[label])}
    assert not too_much, f"RSS growth (bytes) per phase: {grown}"


def test_the_harness_sees_a_100_byte_leak(measurements):
    grown = growth(measurements[LEAK_BYTES])
    missed = {label: g for label, g in grown.items() if g <= bound(COUNTS[label])}
    assert not missed, f"injected leak not detected, RSS growth (bytes): {grown}"


if __name__ == "__main__":  # python tests/test_leaks.py: print the numbers
    for leak in (0, LEAK_BYTES):
        print(leak, json.dumps(growth(measure(leak))))
