"""The in-process layer of unmarshalled code in front of the filesystem cache."""

import os
import subprocess
import sys

from clients import DictClient
from jinja2 import DictLoader, Environment

import jinja_bccache

TEMPLATES = {
    f"t{i}": "{% for x in range(3) %}" + str(i) * 200 + "{{ x }}{% endfor %}" for i in range(20)
}


def load_all(cache, templates=TEMPLATES, **options):
    env = Environment(loader=DictLoader(templates), bytecode_cache=cache, **options)
    return [env.get_template(name).render() for name in templates]


def test_repeat_loads_through_new_environments_come_from_memory(tmp_path, memory_layer):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    want = load_all(cache)  # compiles and writes: the writer's process keeps the code too
    for _ in range(3):
        assert load_all(cache) == want
    stats = cache.stats()
    assert stats["hits"] == stats["memory_hits"] == 60 and stats["bytes_read"] == 0
    entries, size, max_bytes = jinja_bccache.memory_cache_info()
    assert entries == 20 and 0 < size <= max_bytes


def test_never_serves_another_source_or_configuration(tmp_path, memory_layer):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    load_all(cache)
    changed = {name: source + "!" for name, source in TEMPLATES.items()}
    assert load_all(cache, changed) == [
        Environment().from_string(s).render() for s in changed.values()
    ]
    escaped = {"t": "{{ '<b>' }}"}
    load_all(cache, escaped)
    assert load_all(cache, escaped, autoescape=True) == ["&lt;b&gt;"]
    assert cache.stats()["memory_hits"] == 0


def test_bounded_by_bytes_and_emptied_by_clear(tmp_path, memory_layer):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    load_all(cache)
    one_entry = max(p.stat().st_size for p in tmp_path.iterdir())
    previous = jinja_bccache.set_memory_cache(3 * one_entry)
    try:
        entries, size, max_bytes = jinja_bccache.memory_cache_info()
        assert entries <= 3 and size <= max_bytes == 3 * one_entry
        load_all(cache)  # least recently used out: the last three stay
        assert jinja_bccache.memory_cache_info()[0] == 3
        cache.clear()
        assert jinja_bccache.memory_cache_info()[:2] == (0, 0)
    finally:
        jinja_bccache.set_memory_cache(previous)


def test_switched_off(tmp_path, memory_layer_off):
    assert jinja_bccache.memory_cache_info()[2] == 0
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    load_all(cache)
    load_all(cache)
    assert cache.stats()["memory_hits"] == 0 and cache.stats()["hits"] == 20


def test_environment_variable_sets_the_budget():
    script = "import jinja_bccache; print(jinja_bccache.memory_cache_info()[2])"
    for value, want in [("0", "0"), ("1048576", "1048576"), (None, str(32 * 1024 * 1024))]:
        env = dict(os.environ)
        env.pop("JINJA_BCCACHE_MEMORY_BYTES", None)
        if value is not None:
            env["JINJA_BCCACHE_MEMORY_BYTES"] = value
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True
        )
        assert out.stdout.strip() == want, out.stderr


def test_memcached_repeat_loads_skip_the_value_not_the_server(memory_layer, memcached_server):
    duck = DictClient()
    cache = jinja_bccache.MemcachedBytecodeCache(duck)
    want = load_all(cache)
    for _ in range(3):
        assert load_all(cache) == want
    # get/set cannot tell whether an item changed: Python clients are asked every time
    assert duck.gets == 80 and cache.stats()["memory_hits"] == 0

    native = jinja_bccache.MemcachedClient([memcached_server])
    cache = jinja_bccache.MemcachedBytecodeCache(native, prefix="memory-layer/")
    load_all(cache)
    before = native.stats()
    assert load_all(cache) == want
    after = native.stats()
    # one request per template, for the item's version: the value is neither sent nor read
    assert after["gets"] - before["gets"] == after["hits"] - before["hits"] == 20
    assert after["sets"] == before["sets"]
    stats = cache.stats()
    assert stats["memory_hits"] == 20 and stats["bytes_read"] == 0


class TupleChecksums(jinja_bccache.MemcachedBytecodeCache):
    """A subclass whose checksums are not str: Jinja pickles whatever they are."""

    def get_source_checksum(self, source):
        return ("v1", super().get_source_checksum(source))


def test_checksums_that_are_not_str_stay_out_of_the_layer(memory_layer):
    duck = DictClient()
    cache = TupleChecksums(duck)
    want = load_all(cache)
    assert jinja_bccache.memory_cache_info()[0] == 0
    assert load_all(cache) == want
    assert duck.gets == 40 and cache.stats()["hits"] == 20  # every load asked the client


def test_isolation_scenarios_hold_with_the_layer_on(tmp_path, memory_layer):
    """Every configuration pair of test_isolation, with the layer answering repeat loads."""
    from test_isolation import SCENARIOS, check_scenario

    for name, scenario in SCENARIOS.items():
        directory = tmp_path / name
        directory.mkdir()
        check_scenario(scenario, lambda d=directory: jinja_bccache.FileSystemBytecodeCache(str(d)))
    assert jinja_bccache.memory_cache_info()[0] > 0  # the layer was in use
