"""Every cache object answers exactly as its own store would, with the in-process layer on
(the default): the scenarios of the store-scoping issue, each once wrong."""

import copy
import os
import pickle
import subprocess
import sys
import textwrap
import time
from unittest import mock

import jinja2
import jinja2.bccache
import pytest
from clients import DictClient
from forge import recorded_code
from jinja2 import DictLoader, Environment

import jinja_bccache
from jinja_bccache import FileSystemBytecodeCache, MemcachedBytecodeCache, MemcachedClient

pytestmark = pytest.mark.usefixtures("memory_layer")

TEMPLATES = {"page.html": "<h1>{{ title }}</h1>{% for i in range(3) %}{{ i }}{% endfor %}"}


def render(cache, templates=TEMPLATES, name="page.html", **options):
    env = Environment(loader=DictLoader(templates), bytecode_cache=cache, **options)
    return env.get_template(name).render(title="t")


def entries(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(".cache"))


def test_a_second_directory_is_written(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    render(FileSystemBytecodeCache(str(first)))
    cache = FileSystemBytecodeCache(str(second))
    render(cache)
    assert len(entries(second)) == 1
    assert cache.stats()["writes"] == 1 and cache.stats()["memory_hits"] == 0


def test_a_second_pattern_in_one_directory_is_written(tmp_path):
    render(FileSystemBytecodeCache(str(tmp_path), "one_%s.cache"))
    render(FileSystemBytecodeCache(str(tmp_path), "two_%s.cache"))
    assert [name[:4] for name in entries(tmp_path)] == ["one_", "two_"]


def test_same_store_and_settings_share_the_layer(tmp_path):
    render(FileSystemBytecodeCache(str(tmp_path)))
    # another spelling of the same directory is the same store
    cache = FileSystemBytecodeCache(str(tmp_path) + "/./")
    render(cache)
    assert cache.stats()["memory_hits"] == 1 and cache.stats()["bytes_read"] == 0


def test_memcached_after_filesystem_receives_the_entry(tmp_path, memcached_factory):
    render(FileSystemBytecodeCache(str(tmp_path)))
    server = memcached_factory()
    client = MemcachedClient([server.address])
    cache = MemcachedBytecodeCache(client)
    render(cache)
    assert cache.stats()["writes"] == 1
    assert cache.stats()["memory_hits"] == 0
    # and a second client over the same server now shares it
    again = MemcachedBytecodeCache(MemcachedClient([server.address]))
    render(again)
    assert again.stats()["memory_hits"] == 1


def test_a_missing_directory_raises_as_in_jinja(tmp_path):
    render(FileSystemBytecodeCache(str(tmp_path)))
    missing = str(tmp_path / "missing")
    for impl in (jinja2.bccache, jinja_bccache):
        with pytest.raises(FileNotFoundError):
            render(impl.FileSystemBytecodeCache(missing))


def test_a_directory_removed_after_loading_is_reported(tmp_path):
    directory = tmp_path / "cache"
    directory.mkdir()
    cache = FileSystemBytecodeCache(str(directory))
    render(cache)
    render(cache)
    assert cache.stats()["memory_hits"] == 1
    for name in entries(directory):
        os.unlink(directory / name)
    directory.rmdir()
    with pytest.raises(FileNotFoundError):
        render(cache)


def test_entries_removed_from_disk_are_written_again(tmp_path):
    cache = FileSystemBytecodeCache(str(tmp_path))
    render(cache)
    FileSystemBytecodeCache(str(tmp_path)).clear()  # another object, as a deploy script would
    render(cache)
    assert len(entries(tmp_path)) == 1 and cache.stats()["writes"] == 2


FORGED = "{{ 'forged' }}"


def forge(directory, name="page.html"):
    """Plant, under the entry name of TEMPLATES[name], code compiled from FORGED: what anyone
    who can write to an unsigned cache directory can do."""
    honest = FileSystemBytecodeCache(str(directory))
    env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=honest)
    env.get_template(name)
    [entry] = entries(directory)
    bucket = honest.get_bucket(env, name, None, TEMPLATES[name])
    bucket.code = recorded_code(env, FORGED, name)
    honest.set_bucket(bucket)
    return directory / entry


def forged_and_clean(tmp_path):
    """Two directories: the first holds a forged entry, which a cache over it has loaded."""
    forged, clean = tmp_path / "forged", tmp_path / "clean"
    forged.mkdir(), clean.mkdir()
    forge(forged)
    jinja_bccache.memory_cache_clear()
    assert render(FileSystemBytecodeCache(str(forged))) == "forged"
    return forged, clean


def test_a_signed_cache_never_runs_what_an_unsigned_one_accepted(tmp_path):
    shared, private = forged_and_clean(tmp_path)
    signed = FileSystemBytecodeCache(str(private), secret=b"k")
    assert render(signed) == "<h1>t</h1>012"
    # the same directory under a secret: the unsigned entry is refused, not served from memory
    signed_shared = FileSystemBytecodeCache(str(shared), secret=b"k")
    assert render(signed_shared) == "<h1>t</h1>012"
    assert signed_shared.stats()["rejected"] == 1


def test_tenants_with_their_own_directories_share_nothing(tmp_path):
    _, tenant_b = forged_and_clean(tmp_path)
    cache_b = FileSystemBytecodeCache(str(tenant_b))
    assert render(cache_b) == "<h1>t</h1>012"
    assert len(entries(tenant_b)) == 1


def test_a_file_replaced_on_disk_is_read_again(tmp_path):
    cache = FileSystemBytecodeCache(str(tmp_path))
    assert render(cache) == "<h1>t</h1>012"
    forge(tmp_path)  # rewritten by someone else after this process loaded it
    assert render(FileSystemBytecodeCache(str(tmp_path))) == "forged"


def test_caches_and_environments_pickle_and_deepcopy(tmp_path, memcached_factory):
    server = memcached_factory()
    caches = [
        FileSystemBytecodeCache(str(tmp_path), "x_%s.cache", secret=b"k"),
        MemcachedBytecodeCache(MemcachedClient([server.address], timeout=2.0), "p/", 60),
    ]
    for cache in caches:
        render(cache)
        for clone in (pickle.loads(pickle.dumps(cache)), copy.deepcopy(cache)):
            assert type(clone) is type(cache)
            assert clone.stats()["hits"] == 0  # stats restart
            assert render(clone) == "<h1>t</h1>012"
            assert clone.stats()["hits"] == 1 and clone.stats()["writes"] == 0
            assert clone.secret == cache.secret
        env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
        env2 = pickle.loads(pickle.dumps(env))
        assert env2.get_template("page.html").render(title="t") == "<h1>t</h1>012"
    client = pickle.loads(pickle.dumps(caches[1].client))
    assert repr(client) == repr(caches[1].client)


def test_memcached_client_pickles_by_configuration():
    client = MemcachedClient(
        ["127.0.0.1:1", "127.0.0.1:2"],
        connect_timeout=0.1,
        timeout=0.2,
        retry_interval=0,
        max_value_size=1000,
        compress_threshold=10,
        max_idle=3,
    )
    assert repr(pickle.loads(pickle.dumps(client, protocol=0))) == repr(client)
    assert repr(copy.deepcopy(client)) == repr(client)


def test_raising_errors_set_after_construction_reaches_the_server(memcached_factory):
    server = memcached_factory()
    cache = MemcachedBytecodeCache(MemcachedClient([server.address], retry_interval=0))
    render(cache)
    render(cache)
    assert cache.stats()["memory_hits"] == 1
    server.stop()
    render(cache)  # errors ignored: a dead server costs a recompile at most
    cache.ignore_memcache_errors = False
    with pytest.raises(jinja_bccache.MemcachedError):
        render(cache)
    # stock Jinja with a Python client raises too
    from pymemcache.client.base import Client

    host, port = server.address.split(":")
    stock = jinja2.bccache.MemcachedBytecodeCache(Client((host, int(port))))
    stock.ignore_memcache_errors = False
    with pytest.raises(ConnectionRefusedError):
        render(stock)
    stock.client.close()


def test_memcached_changes_are_seen_through_the_layer(memcached_factory):
    from pymemcache.client.base import Client

    server = memcached_factory()
    cache = MemcachedBytecodeCache(MemcachedClient([server.address]))
    render(cache)
    render(cache)
    assert cache.stats()["memory_hits"] == 1  # the server still holds the item
    host, port = server.address.split(":")
    other = Client((host, int(port)), default_noreply=False)  # each write done on return
    env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
    key = "jinja2/bytecode/" + cache.get_bucket(env, "page.html", None, "").key
    # (not flush_all: memcached also drops what is stored in the second of the flush)
    other.delete(key)
    render(cache)  # as after an eviction: recompiled and stored again
    assert cache.stats()["writes"] == 2, cache.stats()
    # another writer replaces the item: its entry is what this cache loads next
    bucket = cache.get_bucket(env, "page.html", None, TEMPLATES["page.html"])
    bucket.code = recorded_code(env, FORGED, "page.html")
    MemcachedBytecodeCache(other).set_bucket(bucket)
    assert render(cache) == "forged"
    value = other.get(key)
    other.set(key, value[:-1] + bytes([value[-1] ^ 1]))
    assert render(cache) == "<h1>t</h1>012"  # damaged: refused, recompiled
    assert cache.stats()["rejected"] == 1
    other.close()


def entry_of_size(env, size):
    """An entry under page.html's key whose code renders something else, padded to `size`
    bytes: what another writer may store there."""
    duck = DictClient()
    writer = MemcachedBytecodeCache(duck)
    for padding in range(4096):
        source = "{{ 'forged%s' }}" % ("x" * padding)
        bucket = writer.get_bucket(env, "page.html", None, TEMPLATES["page.html"])
        bucket.code = recorded_code(env, source, "page.html")
        writer.set_bucket(bucket)
        (entry,) = duck.data.values()
        if len(entry) == size:
            return entry, "forged" + "x" * padding
    raise AssertionError(f"no padding makes an entry of {size} bytes")


def test_a_restarted_memcached_that_hands_out_the_same_cas_again(memcached_factory):
    """memcached numbers CAS values from 1 again after a restart: another writer's entry of
    the same size under the same key can carry the CAS of the item this process loaded."""
    from pymemcache.client.base import Client

    server = memcached_factory()
    cache = MemcachedBytecodeCache(MemcachedClient([server.address]))
    render(cache)
    render(cache)
    assert cache.stats()["memory_hits"] == 1
    host, port = server.address.split(":")
    other = Client((host, int(port)), default_noreply=False)
    env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
    key = "jinja2/bytecode/" + cache.get_bucket(env, "page.html", None, "").key
    try:
        value, cas = other.gets(key)
        forged, output = entry_of_size(env, len(value))
        server.restart()
        other.close()
        # Where the new boot's counter starts is the server's business (1.6.18 hands out 1
        # first, later releases may use one up at start): read it, then bring it up to the
        # remembered CAS.
        other.set("probe", b"x")
        _, first = other.gets("probe")
        assert int(first) < int(cas), "the restarted server starts past the remembered CAS"
        for filler in range(int(cas) - int(first) - 1):
            other.set(f"filler{filler}", b"x")
        other.set(key, forged)
        assert other.gets(key) == (forged, cas)  # same key, size and CAS: another item
        assert render(cache) == output  # what the server holds, as stock Jinja would load it
        assert cache.stats()["memory_hits"] == 1
    finally:
        other.close()


def test_python_clients_stay_out_of_the_layer(pymemcache_client):
    cache = MemcachedBytecodeCache(pymemcache_client)
    render(cache)
    render(cache)
    assert cache.stats()["hits"] == 1 and cache.stats()["memory_hits"] == 0


def test_patches_on_the_class_are_honoured_at_any_time(tmp_path):
    cache = FileSystemBytecodeCache(str(tmp_path))
    render(cache)
    renamed = str(tmp_path / "renamed")

    def filename(self, bucket):
        return renamed

    with mock.patch.object(FileSystemBytecodeCache, "_get_cache_filename", filename):
        render(FileSystemBytecodeCache(str(tmp_path)))
        assert os.path.exists(renamed)
    loads = []
    original = FileSystemBytecodeCache.load_bytecode
    with mock.patch.object(
        FileSystemBytecodeCache,
        "load_bytecode",
        lambda self, bucket: (loads.append(bucket.key), original(self, bucket)),
    ):
        render(cache)
    assert len(loads) == 1

    class Sub(FileSystemBytecodeCache):
        pass

    keys = []
    Sub.get_cache_key = lambda self, name, filename=None: keys.append(name) or "k" * 40
    render(Sub(str(tmp_path), isolate_environments=False))  # the key is used as is
    assert keys == ["page.html"]
    assert os.path.exists(tmp_path / "__jinja2_kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk.cache")


def test_memory_hits_keep_entries_from_being_pruned(tmp_path):
    cache = FileSystemBytecodeCache(str(tmp_path))
    render(cache)
    [name] = entries(tmp_path)
    path = tmp_path / name
    two_hours_ago = time.time() - 7200
    os.utime(path, (two_hours_ago, two_hours_ago - 86400))
    for _ in range(1000):
        render(cache)
    assert cache.prune(max_age=3600) == (0, 0)
    assert os.path.exists(path)
    assert cache.stats()["memory_hits"] >= 999


def test_a_weakref_callback_on_an_evicted_code_object_may_use_the_layer(tmp_path):
    script = textwrap.dedent(
        f"""
        import weakref
        from jinja2 import DictLoader, Environment
        import jinja_bccache
        cache = jinja_bccache.FileSystemBytecodeCache({str(tmp_path)!r})
        env = Environment(loader=DictLoader({{"a": "{{{{ 1 }}}}", "b": "{{{{ 2 }}}}"}}),
                          bytecode_cache=cache)
        bucket = cache.get_bucket(env, "a", None, "{{{{ 1 }}}}")
        bucket.code = env.compile("{{{{ 1 }}}}", "a")
        cache.set_bucket(bucket)
        seen = []
        ref = weakref.ref(bucket.code, lambda _: seen.append(jinja_bccache.memory_cache_info()))
        del bucket
        jinja_bccache.set_memory_cache(1)  # evicts it
        jinja_bccache.set_memory_cache(1 << 20)
        print(len(seen), ref() is None)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True"]


@pytest.mark.parametrize("timeout", [3600.0, 3600, 0.5, None, 0])
def test_native_timeouts_that_jinja_accepts(memcached_factory, timeout):
    server = memcached_factory()
    cache = MemcachedBytecodeCache(MemcachedClient([server.address]), timeout=timeout)
    assert render(cache) == "<h1>t</h1>012"
    assert cache.stats()["writes"] == 1 and cache.stats()["errors"] == 0


@pytest.mark.parametrize(
    "timeout, error",
    [
        (-1, ValueError),
        (2**40, ValueError),
        (float("nan"), ValueError),
        ("60", TypeError),
        (True, TypeError),
    ],
)
def test_native_timeouts_that_can_never_work_fail_at_construction(timeout, error):
    client = MemcachedClient(["127.0.0.1:1"])
    with pytest.raises(error):
        MemcachedBytecodeCache(client, timeout=timeout)
    cache = MemcachedBytecodeCache(client, timeout=60)
    with pytest.raises(error):
        cache.timeout = timeout
    assert cache.timeout == 60


def test_the_ttl_reaches_memcached(memcached_factory):
    import socket

    server = memcached_factory()
    cache = MemcachedBytecodeCache(MemcachedClient([server.address]), "ttl/", 3600.0)
    env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
    env.get_template("page.html")
    key = cache.get_bucket(env, "page.html", None, TEMPLATES["page.html"]).key
    host, port = server.address.split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"mg ttl/{key} t\r\n".encode())
        reply = sock.recv(100).decode()
    remaining = int(reply.split()[1][1:])
    assert 3590 <= remaining <= 3600, reply


LONE = "caf\udce9 {{ x }}"  # text decoded with surrogateescape


def test_from_string_with_lone_surrogates_renders_as_jinja_does(tmp_path):
    class Cached(jinja_bccache.FromStringCacheMixin, Environment):
        pass

    want = Environment().from_string(LONE).render(x=1)
    cache = FileSystemBytecodeCache(str(tmp_path))
    assert Cached(bytecode_cache=cache).from_string(LONE).render(x=1) == want
    env = Environment(bytecode_cache=cache)
    assert jinja_bccache.cached_from_string(env, LONE).render(x=1) == want
    stock = Environment(bytecode_cache=jinja2.bccache.FileSystemBytecodeCache(str(tmp_path)))
    assert jinja_bccache.cached_from_string(stock, LONE).render(x=1) == want


def test_an_attribute_the_application_adds_is_not_a_compile_input(tmp_path):
    # a counter on the Environment changes at every compile: were it part of the fingerprint,
    # every template would get a new key, and the cache would only ever miss
    class Counting(Environment):
        def compile(self, *args, **kwargs):
            self.compiles = getattr(self, "compiles", 0) + 1
            return super().compile(*args, **kwargs)

    templates = {"a": "{{ 1 }}", "b": "{{ 2 }}"}
    cache = FileSystemBytecodeCache(str(tmp_path))
    for _ in range(2):
        env = Counting(loader=DictLoader(templates), bytecode_cache=cache)
        assert [env.get_template(n).render() for n in templates] == ["1", "2"]
    stats = cache.stats()
    assert (stats["writes"], stats["hits"]) == (2, 2), stats
