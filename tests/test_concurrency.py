"""FileSystemBytecodeCache under concurrency, against real Jinja.

- several processes share one directory, render, replace entries with other versions of the
  same templates and clear() it, all at once;
- threads share one cache object (and some of them one Environment), with concurrent clear();
- a writer of ~300 KB entries is killed with SIGKILL at random moments.

What is asserted is behaviour, never timings: every render equals the output computed without
a cache; no entry is ever refused as damaged (a reader that saw a partial write would log a
"refusing cache entry" warning on the ``jinja_bccache`` logger, which is a failure here, since
the trailer would otherwise hide it as a silent miss); every file under a final entry name is a
complete entry that loads and renders correctly; no temp file survives a finished writer, and
clear() removes those that killed writers leave behind.

Longer than most test files: its scenarios share the worker scripts and the check of every
entry left on disk, which read best next to them.
"""

import fnmatch
import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback

import pytest
from jinja2 import DictLoader, Environment, FunctionLoader

import jinja_bccache

#: What FileSystemBytecodeCache's default pattern names its entries (fnmatch syntax).
ENTRY_GLOB = "__jinja2_*.cache"
#: Temp files: the entry's name, 6 random characters, ".tmp".
TEMP_GLOB = "*.tmp"

# Two versions of every template: entries are replaced by the other version's code while
# other processes or threads read them. Every version renders differently, so code served for
# the wrong source shows in the output.
TEMPLATES = {
    "base.html": (
        "<html><head><title>{% block title %}Base{% endblock %}</title></head>"
        "<body>{% block content %}{% endblock %}"
        "<footer>{% block footer %}(c) {{ year }}{% endblock %}</footer></body></html>",
        "<!doctype html><title>{% block title %}Base v2{% endblock %}</title>"
        "<main>{% block content %}{% endblock %}</main>"
        '<div class="f">{% block footer %}&copy; {{ year }} v2{% endblock %}</div>',
    ),
    "macros.html": (
        "macros 1{% macro field(label, value) %}<b>{{ label }}</b>={{ value }}{% endmacro %}"
        "{% macro listing(items, sep=', ') %}{% for it in items %}"
        "{{ loop.index }}:{{ it }}{{ sep if not loop.last }}{% endfor %}{% endmacro %}",
        "macros 2{% macro field(label, value) %}<i>{{ label|upper }}</i>: "
        "{{ value }}{% endmacro %}"
        "{% macro listing(items, sep='; ') %}{% for it in items|reverse %}"
        "[{{ it }}]{{ sep if not loop.last }}{% endfor %}{% endmacro %}",
    ),
    "partial.html": (
        "<aside>{{ user.name }} has {{ items|length }} items</aside>",
        '<aside class="v2">{{ user.name|title }}: {{ items|join("/") }}</aside>',
    ),
    "page.html": (
        '{% extends "base.html" %}{% import "macros.html" as m %}'
        "{% block title %}Page of {{ user.name }} - {{ super() }}{% endblock %}"
        '{% block content %}{{ m.field("user", user.name) }} {{ m.listing(items) }} '
        '{% include "partial.html" %}{% endblock %}',
        '{% extends "base.html" %}{% from "macros.html" import field, listing %}'
        "{% block content %}{% include 'partial.html' %}|{{ listing(items, sep=' & ') }}|"
        "{{ field('id', user.id) }}{% endblock %}"
        "{% block footer %}page v2 {{ super() }}{% endblock %}",
    ),
    "nested.html": (
        '{% extends "page.html" %}{% block footer %}nested / {{ super() }}{% endblock %}',
        '{% extends "page.html" %}{% block content %}{{ super() }} +nested{% endblock %}',
    ),
    "loop.html": (
        "{% for row in items|batch(2) %}<tr>{% for c in row %}"
        "<td class=\"{{ loop.cycle('a', 'b') }}\">{{ c }}</td>{% endfor %}</tr>{% endfor %}"
        "{% set total = items|length * 2 %} total={{ total }}",
        "{% for k, v in user|dictsort %}{{ k }}={{ v }};{% endfor %}"
        "{% if items %}{{ items|first }}..{{ items|last }}{% endif %}"
        '{% include "partial.html" %}',
    ),
}
NAMES = sorted(TEMPLATES)
#: What the workers render; base.html and macros.html are reached through them.
RENDERED = ["page.html", "nested.html", "loop.html", "partial.html"]
CONTEXT = {"user": {"name": "ada lovelace", "id": 7}, "items": ["x", "y", "z"], "year": 1843}


def mapping(versions):
    """Template sources for a tuple of versions (0 or 1), one per name of NAMES."""
    return {name: TEMPLATES[name][v] for name, v in zip(NAMES, versions)}


def render_uncached(versions, names):
    env = Environment(loader=DictLoader(mapping(versions)))
    return {name: env.get_template(name).render(CONTEXT) for name in names}


class WarningRecorder(logging.Handler):
    """Collects what the package logs at WARNING and above (damaged entries, failed renames)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def package_warnings():
    recorder = WarningRecorder()
    logger = logging.getLogger("jinja_bccache")
    logger.addHandler(recorder)
    try:
        yield recorder.messages
    finally:
        logger.removeHandler(recorder)


def entry_names(directory, names):
    """The entry file name each template name has in ``directory`` (the key does not depend
    on the source), for Environments configured like the workers' (default settings)."""
    cache = jinja_bccache.FileSystemBytecodeCache(str(directory))
    env = Environment()
    return {cache.pattern % (cache.get_bucket(env, name, None, "").key,): name for name in names}


def assert_every_entry_loads(directory, templates, expected, context):
    """Every file in ``directory`` is the entry of a known template, holding the code of exactly
    one of its versions, which renders as the uncached template does. No temp file remains.

    ``expected[v][name]`` is the uncached output of ``name`` with every template at version v.
    Returns how many entries there were.
    """
    files = sorted(os.listdir(directory))
    assert fnmatch.filter(files, TEMP_GLOB) == []
    known = entry_names(directory, templates)
    assert [f for f in files if f not in known] == [], f"unexpected files; known: {known}"
    cache = jinja_bccache.FileSystemBytecodeCache(str(directory))
    for file_name in files:
        name = known[file_name]
        loaded = []
        for version, source in enumerate(templates[name]):
            code = cache.get_bucket(Environment(), name, None, source).code
            if code is not None:
                loaded.append((version, code))
        assert len(loaded) == 1, (
            f"{file_name} ({name}) loads for versions {[v for v, _ in loaded]}"
        )
        version, code = loaded[0]
        env = Environment(loader=DictLoader({n: s[version] for n, s in templates.items()}))
        template = env.template_class.from_code(env, code, env.make_globals(None))
        assert template.render(context) == expected[version][name], (file_name, name, version)
    return len(files)


# --------------------------------------------------------------------------- processes

WORKER = textwrap.dedent(r"""
    import json, logging, os, random, sys, time, traceback
    from jinja2 import DictLoader, Environment
    import jinja_bccache

    cache_dir, spec_path, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(spec_path) as f:
        spec = json.load(f)
    templates, context, rendered = spec["templates"], spec["context"], spec["rendered"]
    names = sorted(templates)
    mode = spec["modes"][index]
    rng = random.Random(spec["seed"] * 1000 + index)

    class Recorder(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []
        def emit(self, record):
            self.messages.append(f"{record.name}: {record.getMessage()}")

    warnings = Recorder()
    logging.getLogger("jinja_bccache").addHandler(warnings)

    class CountingCache(jinja_bccache.FileSystemBytecodeCache):
        # get_bucket is not one of the methods whose override leaves the native path
        hits = misses = 0
        def get_bucket(self, *args):
            bucket = super().get_bucket(*args)
            if bucket.code is None:
                CountingCache.misses += 1
            else:
                CountingCache.hits += 1
            return bucket

    def fail(message):
        print(f"worker {index} ({mode}): {message}", file=sys.stderr, flush=True)
        sys.exit(1)

    expected = {}
    def sources(versions):
        return {name: templates[name][v] for name, v in zip(names, versions)}
    def expected_for(versions):
        if versions not in expected:
            env = Environment(loader=DictLoader(sources(versions)))
            expected[versions] = {n: env.get_template(n).render(context) for n in rendered}
        return expected[versions]
    def choose():
        if mode == "mixed":
            return tuple(rng.randrange(2) for _ in names)
        return (int(mode[1]) - 1,) * len(names)

    if mode != "mixed":
        expected_for(choose())
    # start together: announce readiness, wait for the go file
    open(os.path.join(spec["control"], f"ready-{index}"), "w").close()
    go = os.path.join(spec["control"], "go")
    for _ in range(12000):
        if os.path.exists(go):
            break
        time.sleep(0.005)
    else:
        fail("never got the go signal")

    clears = iteration = 0
    try:
        for iteration in range(spec["iterations"]):
            versions = choose()
            want = expected_for(versions)
            cache = CountingCache(cache_dir)
            env = Environment(loader=DictLoader(sources(versions)), bytecode_cache=cache)
            clear_before = rng.randrange(len(rendered)) if rng.random() < 1 / 20 else None
            for position, name in enumerate(rendered):
                if position == clear_before:
                    cache.clear()
                    clears += 1
                got = env.get_template(name).render(context)
                if got != want[name]:
                    fail(f"iteration {iteration}: {name} with versions {versions} rendered\n"
                         f"  {got!r}\nexpected\n  {want[name]!r}")
            if warnings.messages:
                fail(f"iteration {iteration}: logged {warnings.messages}")
    except SystemExit:
        raise
    except BaseException:
        fail(f"exception in iteration {iteration}:\n{traceback.format_exc()}")
    print(json.dumps({"hits": CountingCache.hits, "misses": CountingCache.misses,
                      "clears": clears}))
""")

WORKER_MODES = ["v1", "v2", "mixed", "mixed"]


def test_processes_share_one_directory(tmp_path, package_warnings):
    cache_dir = tmp_path / "cache"
    control = tmp_path / "control"
    cache_dir.mkdir()
    control.mkdir()
    spec = {
        "templates": TEMPLATES,
        "context": CONTEXT,
        "rendered": RENDERED,
        "modes": WORKER_MODES,
        "iterations": 120,
        "seed": 1234,
        "control": str(control),
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))

    procs = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-c", WORKER, str(cache_dir), str(spec_path), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(len(WORKER_MODES))
    ]
    results = []
    try:
        # Release the workers together once all are ready (or one has died).
        while not all((control / f"ready-{i}").exists() for i in range(len(procs))):
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.01)
        (control / "go").touch()
        for proc in procs:
            # A safety net against a hung worker, not an assertion on speed.
            out, err = proc.communicate(timeout=300)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    failures = [(i, rc, err) for i, (rc, _, err) in enumerate(results) if rc != 0]
    assert failures == [], "\n".join(f"worker {i} exited {rc}:\n{err}" for i, rc, err in failures)
    stats = [json.loads(out.splitlines()[-1]) for _, out, _ in results]
    # The cache was really shared and really churned: hits, recompiles and clears happened.
    assert sum(s["hits"] for s in stats) > 0, stats
    assert sum(s["misses"] for s in stats) > 0, stats
    assert sum(s["clears"] for s in stats) > 0, stats

    expected = [render_uncached((v,) * len(NAMES), NAMES) for v in (0, 1)]
    assert all(expected[0][n] != expected[1][n] for n in NAMES)
    assert assert_every_entry_loads(cache_dir, TEMPLATES, expected, CONTEXT) > 0
    assert package_warnings == []


# --------------------------------------------------------------------------- threads


class CountingCache(jinja_bccache.FileSystemBytecodeCache):
    """Counts hits and misses; get_bucket is not one of the methods whose override leaves
    the native path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def get_bucket(self, *args):
        bucket = super().get_bucket(*args)
        with self.lock:
            if bucket.code is None:
                self.misses += 1
            else:
                self.hits += 1
        return bucket


THREAD_MODES = ["v1", "v2", "mixed", "mixed", "v1", "v2", "mixed", "mixed"]
#: Threads 0-3 have an Environment each; threads 4-7 share one.
OWN_ENVIRONMENT = 4
THREAD_ITERATIONS = 30


def test_threads_share_one_cache(tmp_path, package_warnings):
    cache = CountingCache(str(tmp_path))
    local = threading.local()

    def environment():
        # cache_size=0: no in-memory template cache, so every get_template (and every
        # extends/include/import during a render) goes through the bytecode cache. The loader
        # serves the calling thread's versions, so threads sharing an Environment can differ.
        return Environment(
            loader=FunctionLoader(lambda name: local.sources.get(name)),
            bytecode_cache=cache,
            cache_size=0,
        )

    shared = environment()
    expected = {}
    expected_lock = threading.Lock()

    def expected_for(versions):
        with expected_lock:
            if versions not in expected:
                expected[versions] = render_uncached(versions, RENDERED)
            return expected[versions]

    errors = []
    barrier = threading.Barrier(len(THREAD_MODES))
    clears = []

    def work(index, mode):
        rng = random.Random(5678 + index)
        try:
            env = environment() if index < OWN_ENVIRONMENT else shared
            barrier.wait(timeout=60)
            for iteration in range(THREAD_ITERATIONS):
                if mode == "mixed":
                    versions = tuple(rng.randrange(2) for _ in NAMES)
                else:
                    versions = (int(mode[1]) - 1,) * len(NAMES)
                want = expected_for(versions)
                local.sources = mapping(versions)
                clear_before = rng.randrange(len(RENDERED)) if rng.random() < 1 / 20 else None
                for position, name in enumerate(RENDERED):
                    if position == clear_before:
                        cache.clear()
                        clears.append(index)
                    got = env.get_template(name).render(CONTEXT)
                    if got != want[name]:
                        errors.append(
                            f"thread {index} ({mode}) iteration {iteration}: {name} with "
                            f"versions {versions} rendered {got!r}, expected {want[name]!r}"
                        )
                        return
        except BaseException:
            errors.append(f"thread {index} ({mode}):\n{traceback.format_exc()}")
            barrier.abort()  # do not leave the others waiting for this one

    threads = [
        threading.Thread(target=work, args=(i, mode), name=f"render-{i}")
        for i, mode in enumerate(THREAD_MODES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert package_warnings == []
    assert cache.hits > 0 and cache.misses > 0 and clears, (cache.hits, cache.misses, clears)
    expected_all = [render_uncached((v,) * len(NAMES), NAMES) for v in (0, 1)]
    assert assert_every_entry_loads(tmp_path, TEMPLATES, expected_all, CONTEXT) > 0
    assert package_warnings == []


# --------------------------------------------------------------------------- SIGKILL


def big_template(tag, blocks=400):
    """A template whose compiled module marshals to ~300 KB on 3.11+ (~95 KB on 3.10, whose
    bytecode is smaller): many blocks with loops."""
    return "".join(
        f"{{% block b{i} %}}<p>{tag} {{{{ x }}}} {i} {{% for j in range(3) %}}"
        f"{{{{ j * {i} }}}}{{% if j %}}-{{% endif %}}{{% endfor %}}</p>{{% endblock %}}\n"
        for i in range(blocks)
    )


BIG = {
    "big_a.html": (big_template("A1"), big_template("A2")),
    "big_b.html": (big_template("B1"), big_template("B2")),
}
BIG_CONTEXT = {"x": "<x>"}

WRITER = textwrap.dedent(r"""
    import json, os, sys, threading, traceback
    from jinja2 import Environment
    import jinja_bccache

    cache_dir, seed_dir, spec_path = sys.argv[1:4]
    with open(spec_path) as f:
        templates = json.load(f)
    env = Environment()
    # The code comes from a seed cache filled by the test: compiling these templates takes
    # far longer than writing them, and the kills are meant to land in writes.
    # (one pattern per version: an entry's name does not depend on the source)
    seeds = [jinja_bccache.FileSystemBytecodeCache(seed_dir, f"v{v}_%s") for v in (0, 1)]
    cache = jinja_bccache.FileSystemBytecodeCache(cache_dir)
    buckets = []
    for name, sources in sorted(templates.items()):
        for version, source in enumerate(sources):
            code = seeds[version].get_bucket(env, name, None, source).code
            if code is None:
                sys.exit(f"no seed entry for {name}")
            bucket = cache.get_bucket(env, name, None, source)
            bucket.code = code
            buckets.append(bucket)
    # version 1 then version 2 of each name: each write replaces the entry with other code
    for bucket in buckets:
        cache.set_bucket(bucket)

    def write(offset):
        try:
            for i in range(offset, offset + 100_000):
                cache.set_bucket(buckets[i % len(buckets)])
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)

    # Three writer threads (the GIL is released while files are written): writes of the
    # same entry overlap, and a kill more often lands while a temp file exists.
    threads = [threading.Thread(target=write, args=(i,), daemon=True) for i in range(3)]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    for thread in threads:
        thread.join()
    sys.exit("was not killed")
""")

KILL_ROUNDS = 10
#: If no kill of the first rounds left a temp file behind, go on up to this many rounds, so
#: that clear()'s removal of temp files is exercised.
MAX_KILL_ROUNDS = 40


def test_sigkilled_writer_leaves_no_partial_entry(tmp_path, package_warnings):
    cache_dir, seed_dir = tmp_path / "cache", tmp_path / "seed"
    cache_dir.mkdir()
    seed_dir.mkdir()
    spec_path = tmp_path / "big.json"
    spec_path.write_text(json.dumps(BIG))

    env = Environment()
    seeds = [jinja_bccache.FileSystemBytecodeCache(str(seed_dir), f"v{v}_%s") for v in (0, 1)]
    expected = [{}, {}]
    for name, sources in BIG.items():
        for version, source in enumerate(sources):
            code = env.compile(source, name)
            template = env.template_class.from_code(env, code, env.make_globals(None))
            expected[version][name] = template.render(BIG_CONTEXT)
            bucket = seeds[version].get_bucket(env, name, None, source)
            bucket.code = code
            seeds[version].set_bucket(bucket)
    sizes = [os.path.getsize(seed_dir / f) for f in os.listdir(seed_dir)]
    # large enough that writing one takes many pages, so that kills land inside writes
    assert len(sizes) == 4 and min(sizes) > 64 * 1024, sizes

    known = entry_names(cache_dir, BIG)
    rng = random.Random(424242)
    rounds_with_temp_files = 0
    for round_ in range(MAX_KILL_ROUNDS):
        if round_ >= KILL_ROUNDS and rounds_with_temp_files:
            break
        proc = subprocess.Popen(
            [
                sys.executable,
                "-W",
                "error",
                "-c",
                WRITER,
                str(cache_dir),
                str(seed_dir),
                str(spec_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = ""
        try:
            ready = proc.stdout.readline()
            if ready == "ready\n":
                time.sleep(rng.uniform(0, 0.2))
                proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
        assert ready == "ready\n" and proc.returncode == -signal.SIGKILL, (
            f"round {round_}: writer exited {proc.returncode}: {err}"
        )

        files = sorted(os.listdir(cache_dir))
        entries = fnmatch.filter(files, ENTRY_GLOB)
        temps = fnmatch.filter(files, TEMP_GLOB)
        assert sorted(entries + temps) == files, f"round {round_}: unexpected files {files}"
        # the writer wrote every entry once before announcing it was ready
        assert sorted(entries) == sorted(known), f"round {round_}: {entries}"
        for temp in temps:
            assert temp[: -len(".tmp") - 6] in known, f"round {round_}: temp file {temp}"
        rounds_with_temp_files += bool(temps)

        # Each file under a final name is a complete entry: it loads for exactly one version of
        # its template (a partial one would be refused, and logged), and renders correctly.
        checker = jinja_bccache.FileSystemBytecodeCache(str(cache_dir))
        for file_name in entries:
            name = known[file_name]
            loaded = [
                (version, bucket.code)
                for version, source in enumerate(BIG[name])
                for bucket in [checker.get_bucket(env, name, None, source)]
                if bucket.code is not None
            ]
            assert len(loaded) == 1, (
                f"round {round_}: {file_name} loads for {[v for v, _ in loaded]}; "
                f"logged {package_warnings}"
            )
            version, code = loaded[0]
            template = env.template_class.from_code(env, code, env.make_globals(None))
            assert template.render(BIG_CONTEXT) == expected[version][name], (round_, name)
        assert package_warnings == [], f"round {round_}"

    assert rounds_with_temp_files > 0, (
        f"none of {round_ + 1} kills left a temp file behind: clear() was not exercised"
    )
    jinja_bccache.FileSystemBytecodeCache(str(cache_dir)).clear()
    assert os.listdir(cache_dir) == []
