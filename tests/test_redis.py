"""MemcachedBytecodeCache over the Python clients of other stores — redis-py, valkey, cachelib's
RedisCache, Django's cache framework and pylibmc — each against a real server on loopback."""

import inspect
import time
import uuid

import pytest
from jinja2 import DictLoader, Environment
from memcached_procs import Memcached
from redis_procs import RedisServer

import jinja_bccache

#: Inheritance, macros imported from another template, loops and filters: every template is
#: loaded (and its bytecode asked for) exactly once per Environment by render_all().
TEMPLATES = {
    "base.html": "<title>{% block title %}{% endblock %}</title>{% block body %}{% endblock %}",
    "page.html": (
        "{% extends 'base.html' %}{% block title %}{{ title|upper }}{% endblock %}"
        "{% block body %}{% for i in items %}{{ loop.index }}:{{ i }} {% endfor %}{% endblock %}"
    ),
    "macros.html": "{% macro greet(n) %}Hello {{ n|e }}!{% endmacro %}",
    "use.html": "{% from 'macros.html' import greet %}{{ greet(name) }} {{ items|sum }}",
}
CONTEXT = {"title": "redis", "items": [1, 2, 3], "name": "<valkey>"}
N = len(TEMPLATES)

#: Long enough for any loaded machine; a client that waited on each call for its default
#: timeout or retried with backoff would take far longer than this for 2 * N calls.
BOUND_SECONDS = 10.0


def render_all(cache):
    env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
    return {name: env.get_template(name).render(CONTEXT) for name in TEMPLATES}


#: What Jinja renders without any bytecode cache: every cached render must equal it.
EXPECTED = render_all(None)


def counts(cache, *names):
    stats = cache.stats()
    return tuple(stats[name] for name in names)


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def memcached():
    server = Memcached().start()
    yield server
    server.stop()


@pytest.fixture
def prefix():
    # The servers are shared by the module's tests: each test writes under its own keys, so
    # none sees another's entries, whatever the order.
    return f"jinja-bccache-test/{uuid.uuid4().hex}/"


def redis_py(server, **options):
    import redis

    return redis.Redis(server.host, server.port, **options)


def valkey_py(server, **options):
    import valkey

    return valkey.Valkey(server.host, server.port, **options)


REDIS_CLIENTS = pytest.mark.parametrize(
    "make_client", [redis_py, valkey_py], ids=["redis-py", "valkey"]
)


def fill_then_hit(make_client, prefix, **options):
    """Renders through a cache over one client (all misses, all written), then through a new
    cache over a new client, as another process would: every template must be a store hit."""
    first_client = make_client()
    first = jinja_bccache.MemcachedBytecodeCache(first_client, prefix, **options)
    assert render_all(first) == EXPECTED
    assert counts(first, "hits", "misses", "writes", "errors") == (0, N, N, 0)
    second_client = make_client()
    second = jinja_bccache.MemcachedBytecodeCache(second_client, prefix, **options)
    assert render_all(second) == EXPECTED
    # Python clients stay out of the in-process layer: every hit came from the server.
    assert counts(second, "hits", "memory_hits", "misses", "writes", "errors") == (N, 0, 0, 0, 0)
    return first_client, second_client


@REDIS_CLIENTS
def test_second_environment_hits(redis_server, prefix, make_client):
    clients = fill_then_hit(lambda: make_client(redis_server), prefix)
    for client in clients:
        client.close()


@REDIS_CLIENTS
def test_timeout_reaches_redis_as_ttl(redis_server, prefix, make_client):
    client = make_client(redis_server)
    # The cache calls set(key, value, timeout): the third positional parameter must be the
    # expiry in seconds, which for redis-py and valkey is ``ex``.
    assert list(inspect.signature(client.set).parameters)[:3] == ["name", "value", "ex"]
    cache = jinja_bccache.MemcachedBytecodeCache(client, prefix, timeout=60)
    assert render_all(cache) == EXPECTED
    keys = client.keys(prefix + "*")
    assert len(keys) == N
    assert all(1 <= client.ttl(key) <= 60 for key in keys)
    client.close()


def test_no_timeout_is_no_expiry(redis_server, prefix):
    client = redis_py(redis_server)
    render_all(jinja_bccache.MemcachedBytecodeCache(client, prefix))
    keys = client.keys(prefix + "*")
    # -1: the key exists and has no TTL (set was called without ``ex``).
    assert len(keys) == N and {client.ttl(key) for key in keys} == {-1}
    client.close()


def test_timeout_zero_is_refused_by_redis(redis_server, prefix):
    # Unlike memcached (0 = never expires), Redis refuses an expiry of 0: every write fails,
    # is swallowed and counted, and nothing is stored. Documented in the README.
    client = redis_py(redis_server)
    cache = jinja_bccache.MemcachedBytecodeCache(client, prefix, timeout=0)
    assert render_all(cache) == EXPECTED
    assert counts(cache, "writes", "errors") == (0, N)
    assert client.keys(prefix + "*") == []
    client.close()


def test_python_clients_are_asked_on_every_load(redis_server, prefix):
    client = redis_py(redis_server)
    render_all(jinja_bccache.MemcachedBytecodeCache(client, prefix))
    client.delete(*client.keys(prefix + "*"))
    # Had anything in this process remembered the entries, these would be hits.
    cache = jinja_bccache.MemcachedBytecodeCache(redis_py(redis_server), prefix)
    assert render_all(cache) == EXPECTED
    assert counts(cache, "hits", "misses", "writes") == (0, N, N)
    client.close()


@pytest.mark.parametrize("failure", ["stopped", "paused"])
@REDIS_CLIENTS
def test_unavailable_server_is_a_miss_in_bounded_time(prefix, make_client, failure):
    import redis
    import valkey

    # A server of its own: stopping or pausing the module's one would break other tests.
    server = RedisServer().start()
    try:
        # No retries (redis-py's default retries 3 times with backoff, about 3 s per call to
        # a stopped server) and a short read timeout (a paused server accepts, never answers).
        def client():
            return make_client(server, socket_timeout=0.3, socket_connect_timeout=0.3, retry=None)

        render_all(jinja_bccache.MemcachedBytecodeCache(client(), prefix))
        server.stop() if failure == "stopped" else server.pause()

        cache = jinja_bccache.MemcachedBytecodeCache(client(), prefix)
        start = time.monotonic()
        assert render_all(cache) == EXPECTED
        assert time.monotonic() - start < BOUND_SECONDS
        # Every get and every set failed, was swallowed and counted.
        assert counts(cache, "hits", "misses", "writes", "errors") == (0, N, 0, 2 * N)

        strict = jinja_bccache.MemcachedBytecodeCache(
            client(), prefix, ignore_memcache_errors=False
        )
        expected = {
            "stopped": (redis.ConnectionError, valkey.ConnectionError),
            "paused": (redis.TimeoutError, valkey.TimeoutError),
        }[failure]
        start = time.monotonic()
        with pytest.raises(expected):
            Environment(loader=DictLoader(TEMPLATES), bytecode_cache=strict).get_template(
                "use.html"
            )
        assert time.monotonic() - start < BOUND_SECONDS
        assert counts(strict, "errors") == (1,)
    finally:
        server.close()


# cachelib calls setex, which redis-py deprecates; not ours to fix
@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
def test_cachelib_redis_cache(redis_server, prefix):
    from cachelib import RedisCache

    def client():
        return RedisCache(redis_server.host, redis_server.port, key_prefix="")

    # cachelib pickles what it stores: the bytes must come back as the same bytes.
    value = b"\x00\xffbytecode\r\n"
    cachelib = client()
    cachelib.set(prefix + "round-trip", value)
    assert cachelib.get(prefix + "round-trip") == value
    assert type(cachelib.get(prefix + "round-trip")) is bytes

    fill_then_hit(client, prefix, timeout=60)

    # What cachelib stored is its own serialization, not the entry: a cache over redis-py
    # (the same server and keys) must treat it as a miss, never crash or use it.
    raw = redis_py(redis_server)
    assert raw.get(prefix + "round-trip") != value
    cache = jinja_bccache.MemcachedBytecodeCache(raw, prefix)
    assert render_all(cache) == EXPECTED
    assert counts(cache, "hits", "misses", "rejected") == (0, N, N)
    raw.close()


def test_pylibmc_client(memcached, prefix):
    import pylibmc

    def client():
        return pylibmc.Client([memcached.address], binary=False)

    mc = client()
    value = b"\x00\xffbytecode\r\n"
    mc.set(prefix + "round-trip", value)
    assert mc.get(prefix + "round-trip") == value
    fill_then_hit(client, prefix)
    fill_then_hit(client, prefix + "ttl/", timeout=60)


# Django's cache framework: the settings are configured once per process (Django allows no
# more) with no cache, and each test installs its own CACHES with override_settings.


def django_redis(request):
    server = request.getfixturevalue("redis_server")
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://{server.host}:{server.port}",
    }


def django_pymemcache(request):
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": request.getfixturevalue("memcached").address,
    }


def django_pylibmc(request):
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyLibMCCache",
        "LOCATION": request.getfixturevalue("memcached").address,
    }


def django_locmem(request):
    # A LOCATION of its own: local-memory caches with the same one share their entries.
    return {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": f"jinja-bccache-{uuid.uuid4().hex}",
    }


@pytest.fixture(
    params=[django_redis, django_pymemcache, django_pylibmc, django_locmem],
    ids=["redis", "pymemcache", "pylibmc", "locmem"],
)
def django_caches(request):
    """Django's ``caches`` with "default" set to one backend over a real server."""
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.core.cache import caches
    from django.test import override_settings

    opened = []

    def new_connection():
        # A backend object of its own, as another process would have (caches["default"] is
        # one object per thread).
        backend = caches.create_connection("default")
        opened.append(backend)
        return backend

    with override_settings(CACHES={"default": request.param(request)}):
        caches.new_connection = new_connection
        try:
            yield caches
        finally:
            del caches.new_connection
            for backend in opened:
                backend.close()
    # override_settings' exit has closed caches["default"] and dropped the handler's backends.


def test_django_cache_second_environment_hits(django_caches, prefix):
    from django.core.cache.backends.base import BaseCache

    # The cache calls set(key, value, timeout): Django's third positional is the timeout.
    assert list(inspect.signature(BaseCache.set).parameters)[1:4] == ["key", "value", "timeout"]
    clients = iter([django_caches["default"], django_caches.new_connection()])
    fill_then_hit(lambda: next(clients), prefix, timeout=60)


def test_django_timeout_zero_stores_nothing(django_caches, prefix):
    # For Django, 0 means "expire now": the writes succeed and nothing can be read back.
    first = jinja_bccache.MemcachedBytecodeCache(django_caches["default"], prefix, timeout=0)
    assert render_all(first) == EXPECTED
    assert counts(first, "writes", "errors") == (N, 0)
    second = jinja_bccache.MemcachedBytecodeCache(
        django_caches.new_connection(), prefix, timeout=0
    )
    assert render_all(second) == EXPECTED
    assert counts(second, "hits", "misses") == (0, N)


@pytest.fixture
def django_redis_caches(redis_server):
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.core.cache import caches
    from django.test import override_settings

    config = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://{redis_server.host}:{redis_server.port}",
    }
    with override_settings(CACHES={"default": config}):
        yield caches


@pytest.mark.parametrize("timeout, most", [(60, 60), (None, 300)], ids=["60", "None"])
def test_django_timeout_reaches_redis(django_redis_caches, redis_server, prefix, timeout, most):
    # timeout=None calls set(key, value): Django then applies its own default (300 s unless
    # CACHES sets TIMEOUT), not "forever" as with redis-py. Keys get Django's ":1:" prefix.
    cache = jinja_bccache.MemcachedBytecodeCache(
        django_redis_caches["default"], prefix, timeout=timeout
    )
    assert render_all(cache) == EXPECTED
    raw = redis_py(redis_server)
    keys = raw.keys(":1:" + prefix + "*")
    assert len(keys) == N
    assert all(1 <= raw.ttl(key) <= most for key in keys)
    raw.close()
