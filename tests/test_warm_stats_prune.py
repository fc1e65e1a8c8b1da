"""Deploy warming (API and CLI), cache.stats(), prune (API and CLI), as a user runs them."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from clients import DictClient
from jinja2 import DictLoader, Environment

import jinja_bccache

TEMPLATES = {f"pages/p{i}.html": f"<p>{{{{ {i} * x }}}}</p>" for i in range(12)}
TEMPLATES["base.txt"] = "{{ x }}"
TEMPLATES["broken.html"] = "{% for %}"


def app_module(tmp_path, cache_dir):
    """An application module as a deploy would import it: MODULE:ATTR and a factory."""
    (tmp_path / "myapp.py").write_text(
        textwrap.dedent(f"""
        from jinja2 import DictLoader, Environment
        from jinja_bccache import FileSystemBytecodeCache
        TEMPLATES = {TEMPLATES!r}

        def make_env():
            env = Environment(loader=DictLoader(TEMPLATES), autoescape=True,
                              bytecode_cache=FileSystemBytecodeCache({str(cache_dir)!r}))
            env.filters["twice"] = lambda v: v * 2
            return env

        env = make_env()
    """)
    )


def run_cli(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "jinja_bccache", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def app_env(cache_dir):
    env = Environment(
        loader=DictLoader(TEMPLATES),
        autoescape=True,
        bytecode_cache=jinja_bccache.FileSystemBytecodeCache(str(cache_dir)),
    )
    env.filters["twice"] = lambda v: v * 2
    return env


@pytest.mark.parametrize("jobs", [1, 3])
def test_warm_api(tmp_path, jobs, monkeypatch):
    summary = jinja_bccache.warm(app_env(tmp_path), jobs=jobs)
    assert sorted(summary.compiled) == sorted(n for n in TEMPLATES if n != "broken.html")
    assert [name for name, _ in summary.failed] == ["broken.html"]
    assert "TemplateSyntaxError" in summary.failed[0][1]
    assert not summary.ok
    again = jinja_bccache.warm(app_env(tmp_path), names=["pages/p1.html", "base.txt"])
    assert sorted(again.already_warm) == ["base.txt", "pages/p1.html"] and again.ok
    # the application's own Environment now hits for every warmed template
    monkeypatch.setattr(Environment, "_compile", None)  # any compilation would fail
    assert app_env(tmp_path).get_template("pages/p3.html").render(x=2) == "<p>6</p>"


def test_warm_cli(tmp_path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    app_module(tmp_path, cache_dir)
    result = run_cli(tmp_path, "warm", "myapp:env", "--jobs", "2")
    assert result.returncode == 1, result.stderr  # broken.html does not compile
    assert "13 compiled, 0 already warm, 1 failed" in result.stdout
    assert "FAILED broken.html: TemplateSyntaxError" in result.stdout

    result = run_cli(tmp_path, "warm", "myapp:make_env", "--filter", "pages/*")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 compiled, 12 already warm, 0 failed" in result.stdout
    assert run_cli(tmp_path, "warm", "myapp:nothing").returncode == 2
    assert run_cli(tmp_path, "warm", "not-a-spec").returncode != 0


def test_stats_counts(tmp_path, memory_layer_off):  # counts of the store's own reads
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    loader = DictLoader({"a": "{{ 1 }}", "b": "{{ 2 }}"})
    for _ in range(3):
        env = Environment(loader=loader, bytecode_cache=cache)
        env.get_template("a")
        env.get_template("b")
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["writes"], stats["rejected"]) == (4, 2, 2, 0)
    assert stats["bytes_written"] == sum(p.stat().st_size for p in tmp_path.iterdir())
    assert stats["bytes_read"] == 2 * stats["bytes_written"]
    (entry,) = [p for p in tmp_path.iterdir() if p.stat().st_size > 0][:1]
    entry.write_bytes(entry.read_bytes()[:-1] + b"\x00")
    Environment(loader=loader, bytecode_cache=cache).get_template("a")
    Environment(loader=loader, bytecode_cache=cache).get_template("b")
    stats = cache.stats()
    assert stats["rejected"] == 1 and stats["misses"] == 3 and stats["writes"] == 3
    cache.pattern = "other_%s"  # settings change: the counters carry on
    assert cache.stats()["hits"] == stats["hits"]


def test_stats_count_errors(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path / "missing"))
    bucket = cache.get_bucket(Environment(), "a", None, "x")
    bucket.code = "code"
    with pytest.raises(FileNotFoundError):
        cache.set_bucket(bucket)
    assert cache.stats()["errors"] == 1 and cache.stats()["misses"] == 1


def age(path, seconds):
    when = time.time() - seconds
    os.utime(path, (when, when - 86400))


def test_prune_api_least_recently_used(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    env = Environment(
        loader=DictLoader({f"t{i}": "x" * (i + 1) for i in range(5)}), bytecode_cache=cache
    )
    for i in range(5):
        env.get_template(f"t{i}")
    paths = {
        i: tmp_path / f"__jinja2_{cache.get_bucket(env, f't{i}', None, 'x' * (i + 1)).key}.cache"
        for i in range(5)
    }
    for i, path in paths.items():
        age(path, (10 - i) * 3600)  # t0 least recently used
    (tmp_path / "unrelated").write_text("keep")
    # a hit refreshes recency: t0 becomes the most recently used
    Environment(loader=env.loader, bytecode_cache=cache).get_template("t0")
    # what prune judges: the pattern's entries, by size and access time (not "unrelated")
    entries = sorted(cache.entries(), key=lambda entry: entry[1])
    assert len(entries) == 5 and entries[0][1] < entries[1][1] < entries[-1][1]
    assert sorted(size for size, _ in entries) == sorted(p.stat().st_size for p in paths.values())
    removed, freed = cache.prune(max_entries=3)
    assert removed == 2 and freed > 0
    assert {i for i, p in paths.items() if p.exists()} == {0, 3, 4}
    removed, _ = cache.prune(max_age=6.5 * 3600)
    assert removed == 1 and not paths[3].exists()
    assert cache.prune(max_bytes=0)[0] == 2
    assert (tmp_path / "unrelated").exists()
    with pytest.raises(ValueError):
        cache.prune(max_age=-1)


def test_stats_and_prune_cli(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    env = Environment(
        loader=DictLoader({f"t{i}": "{{ %d }}" % i for i in range(6)}), bytecode_cache=cache
    )
    for i in range(6):
        env.get_template(f"t{i}")
    for i, path in enumerate(sorted(tmp_path.iterdir())):
        age(path, [60, 60, 2 * 3600, 2 * 86400, 10 * 86400, 60 * 86400][i])
    result = run_cli(tmp_path, "stats", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "6 entries" in result.stdout
    lines = {line.split()[-1] for line in result.stdout.splitlines() if line.startswith("    ")}
    assert lines == {"2", "1"}
    result = run_cli(tmp_path, "prune", str(tmp_path), "--max-age", str(3 * 86400))
    assert result.returncode == 0 and "removed 2 entries" in result.stdout
    assert len(list(tmp_path.iterdir())) == 4
    assert run_cli(tmp_path, "prune", str(tmp_path)).returncode != 0  # no limit given
    assert run_cli(tmp_path, "stats", str(tmp_path / "missing")).returncode == 2


def test_stats_counts_only_what_prune_judges(tmp_path):
    """The CLI's stats and prune see the same files: the pattern's entries, not a writer's
    temp file (which a pattern ending in %s also matches), an unrelated file, a directory or
    a link planted at an entry's name."""
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), "tpl_%s")
    env = Environment(loader=DictLoader({"a": "{{ 1 }}", "b": "{{ 2 }}"}), bytecode_cache=cache)
    env.get_template("a")
    env.get_template("b")
    entries = sorted(tmp_path.iterdir())
    size = sum(p.stat().st_size for p in entries)
    (tmp_path / (entries[0].name + "x1y2z3.tmp")).write_bytes(b"a writer's temp file")
    (tmp_path / "unrelated").write_bytes(b"x" * 100_000)
    (tmp_path / "tpl_dir").mkdir()
    (tmp_path / "tpl_link").symlink_to(entries[0])
    result = run_cli(tmp_path, "stats", str(tmp_path), "--pattern", "tpl_%s")
    assert result.returncode == 0, result.stderr
    assert f"2 entries, {size / 1024:.1f} KiB" in result.stdout, result.stdout
    result = run_cli(tmp_path, "prune", str(tmp_path), "--pattern", "tpl_%s", "--max-entries", "0")
    assert "removed 2 entries" in result.stdout, result.stdout


def memcached_stats_run(cache, damage):
    loader = DictLoader({"a": "{{ 1 }}", "b": "{{ 2 }}"})
    for _ in range(2):
        env = Environment(loader=loader, bytecode_cache=cache)
        env.get_template("a")
        env.get_template("b")
    damage()
    Environment(loader=loader, bytecode_cache=cache).get_template("a")
    return cache.stats()


def test_memcached_cache_stats(memcached_server):
    client = DictClient()

    def damage_duck():
        key = next(iter(client.data))
        client.data[key] = client.data[key][:-1] + b"\x00"

    stats = memcached_stats_run(jinja_bccache.MemcachedBytecodeCache(client), damage_duck)
    assert (stats["hits"], stats["misses"], stats["rejected"], stats["writes"]) == (2, 3, 1, 3)
    assert stats["bytes_written"] > 0 and stats["bytes_read"] > 0

    from pymemcache.client.base import Client

    host, port = memcached_server.split(":")
    raw = Client((host, int(port)), no_delay=True, default_noreply=False)  # writes acknowledged
    cache = jinja_bccache.MemcachedBytecodeCache(
        jinja_bccache.MemcachedClient([memcached_server]), prefix="stats-test/"
    )

    def damage_native():
        # the key through another cache object, so that this lookup is not counted
        probe = jinja_bccache.MemcachedBytecodeCache(DictClient())
        key = "stats-test/" + probe.get_bucket(Environment(), "a", None, "{{ 1 }}").key
        raw.set(key, raw.get(key)[:-1] + b"\x00")

    try:
        stats = memcached_stats_run(cache, damage_native)
    finally:
        raw.close()
    assert (stats["hits"], stats["misses"], stats["rejected"], stats["writes"]) == (2, 3, 1, 3)

    failing = jinja_bccache.MemcachedBytecodeCache(jinja_bccache.MemcachedClient(["127.0.0.1:1"]))
    Environment(loader=DictLoader({"a": "x"}), bytecode_cache=failing).get_template("a")
    assert failing.stats()["errors"] >= 1
