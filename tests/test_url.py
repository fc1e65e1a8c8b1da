"""from_url: one URL names any store, against real memcached, Redis and (where installed)
Valkey servers, and every kind of malformed URL refused with a ValueError naming its part."""

import os
import shutil
import stat
import subprocess
import sys
import uuid

import pytest
from jinja2 import DictLoader, Environment
from redis_procs import RedisServer

import jinja_bccache
from jinja_bccache import FileSystemBytecodeCache, MemcachedBytecodeCache, MemcachedClient

TEMPLATES = {"a.html": "{{ x }}!", "b.html": "{% for i in items %}{{ i }}{% endfor %}"}


def hits_on_a_second_cache(url, **overrides):
    """Fill through one cache, then read through another made from the same URL, as another
    process would: every template a store hit."""
    first = jinja_bccache.from_url(url, **overrides)
    second = jinja_bccache.from_url(url, **overrides)
    for cache in (first, second):
        env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
        assert env.get_template("a.html").render(x=1) == "1!"
        assert env.get_template("b.html").render(items=[1, 2]) == "12"
    assert first.stats()["writes"] == 2 and second.stats()["hits"] == 2
    return second


def test_file_url_creates_its_private_directory(tmp_path):
    directory = tmp_path / "made" / "for me"
    url = "file://" + str(directory).replace(" ", "%20") + "?pattern=t_%25s.cache"
    cache = hits_on_a_second_cache(url)
    assert isinstance(cache, FileSystemBytecodeCache) and cache.directory == str(directory)
    assert cache.pattern == "t_%s.cache"
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert sorted(p.name.startswith("t_") for p in directory.iterdir()) == [True, True]
    assert jinja_bccache.from_url(f"file://localhost{directory}").directory == str(directory)


def test_the_secret_is_read_from_the_variable_the_url_names(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_JINJA_SECRET", "s3cret")
    cache = jinja_bccache.from_url(f"file://{tmp_path}?secret_env=APP_JINJA_SECRET")
    assert cache.secret == b"s3cret"
    other = jinja_bccache.from_url(
        f"file://{tmp_path}", secret=b"other", isolate_environments=False
    )
    assert other.secret == b"other" and other.isolate_environments is False
    off = jinja_bccache.from_url(f"file://{tmp_path}?isolate_environments=false")
    assert off.isolate_environments is False
    monkeypatch.delenv("APP_JINJA_SECRET")
    with pytest.raises(ValueError, match="secret_env='APP_JINJA_SECRET'"):
        jinja_bccache.from_url(f"file://{tmp_path}?secret_env=APP_JINJA_SECRET")


def test_the_url_may_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JINJA_BCCACHE_URL", f"file://{tmp_path}")
    assert jinja_bccache.from_url().directory == str(tmp_path)
    monkeypatch.delenv("JINJA_BCCACHE_URL")
    with pytest.raises(ValueError, match="JINJA_BCCACHE_URL is not set"):
        jinja_bccache.from_url()


def test_memcached_url_uses_the_native_client(memcached_factory):
    one, two = memcached_factory(), memcached_factory()
    prefix = f"app-{uuid.uuid4().hex}/"
    url = f"memcached://{one.address},{two.address}/?prefix={prefix}&timeout=600&io_timeout=2.5"
    cache = hits_on_a_second_cache(url)
    assert isinstance(cache, MemcachedBytecodeCache) and isinstance(cache.client, MemcachedClient)
    assert cache.client.servers == [one.address, two.address]
    assert (cache.prefix, cache.timeout) == (prefix, 600)
    host = one.address.split(":")[0]
    assert jinja_bccache.from_url(f"memcached://{host}").client.servers == [f"{host}:11211"]
    assert jinja_bccache.from_url(url, prefix="over/").prefix == "over/"  # keywords win


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


def test_redis_url_uses_redis_py(redis_server):
    import redis

    url = f"redis://{redis_server.host}:{redis_server.port}/3?prefix=t-{uuid.uuid4().hex}/"
    cache = hits_on_a_second_cache(url + "&socket_timeout=5&timeout=60")
    assert type(cache.client) is redis.Redis and cache.timeout == 60
    kwargs = cache.client.connection_pool.connection_kwargs
    assert (kwargs["db"], kwargs["socket_timeout"]) == (3, 5.0)  # redis-py read the rest
    secure = jinja_bccache.from_url(f"rediss://{redis_server.host}:1/0")  # no connection yet
    assert secure.client.connection_pool.connection_class is redis.SSLConnection


@pytest.mark.skipif(
    not shutil.which("valkey-server"), reason="no valkey-server (Debian forky has it)"
)
def test_valkey_url_against_a_real_valkey_server():
    import valkey

    server = RedisServer("valkey-server").start()
    try:
        cache = hits_on_a_second_cache(f"valkey://{server.host}:{server.port}/0")
        assert type(cache.client) is valkey.Valkey
        info = cache.client.info("server")
        assert "valkey_version" in info
    finally:
        server.close()


def test_valkey_url_speaks_to_redis_server_too(redis_server):
    import valkey

    url = f"valkey://{redis_server.host}:{redis_server.port}/1?prefix=v-{uuid.uuid4().hex}/"
    assert type(hits_on_a_second_cache(url).client) is valkey.Valkey


def test_a_missing_client_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)  # as if it were not installed
    with pytest.raises(ImportError, match="needs the 'redis' package: pip install redis"):
        jinja_bccache.from_url("redis://localhost:6379/0")


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("", "JINJA_BCCACHE_URL"),
        ("/var/cache/app", "expected SCHEME://"),
        ("ftp://host/x", "unknown scheme 'ftp'"),
        ("file://server/share", "not host 'server'"),
        ("file:relative/dir", "absolute path"),
        ("file:///tmp/x#frag", "fragment"),
        ("file:///tmp/x?pattern=a&pattern=b", "'pattern' is given twice"),
        ("file:///tmp/x?colour=red", "unknown parameter 'colour'"),
        ("file:///tmp/x?prefix=p", "unknown parameter 'prefix'"),
        ("file:///tmp/x?secret=hunter2", "does not belong in a URL"),
        ("file:///tmp/x?isolate_environments=maybe", "'maybe' is not true or false"),
        ("file:///tmp/x?=&&", "is not name=value"),
        ("memcached://", "names its servers"),
        ("memcached://h:99999", "port 99999"),
        ("memcached://h:port", "'h:port' is not HOST[:PORT]"),
        ("memcached://h1,,h2", "'' is not HOST[:PORT]"),
        ("memcached://user:pw@h", "no user or password"),
        ("memcached://h/path", "no path"),
        ("memcached://h?io_timeout=soon", "io_timeout='soon' is not a number"),
        ("memcached://h?timeout=x", "timeout='x' is not a number"),
        ("memcached://h?db=0", "unknown parameter 'db'"),
        ("redis://h:99999/0", "redis refuses it"),
        ("redis://h/0?no_such_option=1", "redis refuses it"),
    ],
)
def test_malformed_urls_name_what_is_wrong(url, names, monkeypatch):
    monkeypatch.delenv("JINJA_BCCACHE_URL", raising=False)
    with pytest.raises(ValueError, match=names.replace("?", r"\?").replace("[", r"\[")):
        jinja_bccache.from_url(url or None)


def test_messages_never_show_a_password():
    with pytest.raises(ValueError) as caught:
        jinja_bccache.from_url("redis://app:hunter2@h:99999/0")
    assert "hunter2" not in str(caught.value) and "app:***@h:99999" in str(caught.value)
    with pytest.raises(ValueError) as caught:
        jinja_bccache.from_url("memcached://u:hunter2@h")
    assert "hunter2" not in str(caught.value)


def test_a_url_is_a_str():
    with pytest.raises(TypeError, match="must be a str"):
        jinja_bccache.from_url(b"file:///tmp")


def test_the_cli_takes_urls(tmp_path):
    cache_dir = tmp_path / "cache"
    (tmp_path / "app.py").write_text(
        "from jinja2 import DictLoader, Environment\n"
        f"env = Environment(loader=DictLoader({TEMPLATES!r}))\n"
    )
    run = [sys.executable, "-m", "jinja_bccache"]
    warmed = subprocess.run(
        [*run, "warm", "app:env", "--cache", f"file://{cache_dir}", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert warmed.returncode == 0, warmed.stderr
    assert warmed.stdout.startswith("2 compiled")
    stats = subprocess.run(
        [*run, "stats", f"file://{cache_dir}"], capture_output=True, text=True, cwd=tmp_path
    )
    assert stats.returncode == 0 and f"{cache_dir}: 2 entries" in stats.stdout
    other = subprocess.run(
        [*run, "prune", "memcached://127.0.0.1:1", "--max-age", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert other.returncode == 2 and "names another store than a cache directory" in other.stderr
    missing = tmp_path / "never made"
    stats = subprocess.run(
        [*run, "stats", f"file://{missing}".replace(" ", "%20")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert stats.returncode == 2 and not missing.exists()  # a read command creates nothing
