"""MemcachedBytecodeCache over duck-typed clients: Jinja's keys, bytes and error contract."""

import marshal
import pickle

import jinja2.bccache
import pytest
from jinja2 import DictLoader, Environment

import jinja_bccache

CHECKSUM = "c" * 40


class RecordingClient:
    """Records the exact calls; fine here because the call shape is what is under test."""

    def __init__(self, value=None):
        self.calls = []
        self.value = value

    def get(self, key):
        self.calls.append(("get", key))
        return self.value

    def set(self, *args):
        self.calls.append(("set",) + args)


def filled(module, code="code"):
    b = module.Bucket(None, "key", CHECKSUM)
    b.code = code
    return b


def test_same_keys_bytes_and_set_arity(impl):
    client = RecordingClient()
    cache = impl.MemcachedBytecodeCache(client)
    cache.dump_bytecode(filled(impl))
    cache.timeout = 60
    cache.dump_bytecode(filled(impl))
    entry = filled(jinja2.bccache).bytecode_to_string()
    trailer = 16 if impl is jinja_bccache else 0  # the integrity trailer, ignored by Jinja
    assert [call[:2] + call[3:] for call in client.calls] == [
        ("set", "jinja2/bytecode/key"),
        ("set", "jinja2/bytecode/key", 60),
    ]
    for call in client.calls:
        assert call[2][: len(entry)] == entry and len(call[2]) == len(entry) + trailer


def test_constructor_positional_and_attributes(impl):
    client = RecordingClient()
    cache = impl.MemcachedBytecodeCache(client, "p/", 5, False)
    assert (cache.client, cache.prefix, cache.timeout, cache.ignore_memcache_errors) == (
        client,
        "p/",
        5,
        False,
    )
    cache = impl.MemcachedBytecodeCache(client)
    assert (cache.prefix, cache.timeout, cache.ignore_memcache_errors) == (
        "jinja2/bytecode/",
        None,
        True,
    )
    cache.prefix = "q/"
    cache.load_bytecode(filled(impl))
    assert client.calls == [("get", "q/key")]


def test_none_is_a_miss(impl):
    cache = impl.MemcachedBytecodeCache(RecordingClient(value=None))
    b = filled(impl)
    cache.load_bytecode(b)
    assert b.code is None


def test_str_from_client_is_a_miss_not_a_crash(caplog):
    cache = jinja_bccache.MemcachedBytecodeCache(RecordingClient(value="text"))
    b = filled(jinja_bccache)
    cache.load_bytecode(b)
    assert b.code is None
    assert "client returned str" in caplog.text


class Broken(Exception):
    pass


class FailingClient:
    def get(self, key):
        raise Broken("get")

    def set(self, *args):
        raise Broken("set")


def test_errors_swallowed_and_logged_once(caplog):
    cache = jinja_bccache.MemcachedBytecodeCache(FailingClient())
    b = filled(jinja_bccache)
    for _ in range(3):
        cache.dump_bytecode(b)
        cache.load_bytecode(b)
    assert b.code == "code"  # a failed get leaves the bucket alone, as in Jinja
    warnings = [r for r in caplog.records if r.name == "jinja_bccache.memcached"]
    assert [r.getMessage().split(" of ")[0] for r in warnings] == [
        "memcached set",
        "memcached get",
    ]


def test_errors_propagate_when_not_ignored(impl):
    cache = impl.MemcachedBytecodeCache(FailingClient(), ignore_memcache_errors=False)
    with pytest.raises(Broken, match="set"):
        cache.dump_bytecode(filled(impl))
    with pytest.raises(Broken, match="get"):
        cache.load_bytecode(filled(impl))


class Interrupted:
    """A client interrupted by the user (Ctrl-C) in the middle of a request."""

    def get(self, *args):
        raise KeyboardInterrupt

    set = get


def test_an_interrupt_is_never_swallowed(impl):
    # Jinja swallows Exception only; so does the store that drives the client from Rust
    cache = impl.MemcachedBytecodeCache(Interrupted())
    with pytest.raises(KeyboardInterrupt):
        cache.load_bytecode(filled(impl))
    with pytest.raises(KeyboardInterrupt):
        cache.dump_bytecode(filled(impl))


def test_empty_bucket_is_refused_even_when_ignoring_errors(impl):
    cache = impl.MemcachedBytecodeCache(RecordingClient())
    with pytest.raises(TypeError, match="empty bucket"):
        cache.dump_bytecode(impl.Bucket(None, "key", CHECKSUM))


TEMPLATES = {
    "base.html": "<h1>{% block t %}{% endblock %}</h1>",
    "page.html": "{% extends 'base.html' %}{% block t %}{{ x|upper }}{% endblock %}",
}


def test_real_memcached_round_trip_and_shared_with_jinja(pymemcache_client):
    loader = DictLoader(TEMPLATES)
    ours = jinja_bccache.MemcachedBytecodeCache(
        pymemcache_client, prefix="ours/", isolate_environments=False
    )
    theirs = jinja2.bccache.MemcachedBytecodeCache(pymemcache_client, prefix="jinja/")
    for cache in (ours, theirs):
        assert (
            Environment(loader=loader, bytecode_cache=cache)
            .get_template("page.html")
            .render(x="a")
            == "<h1>A</h1>"
        )
    key = ours.get_cache_key("page.html")
    theirs_value = pymemcache_client.get("jinja/" + key)
    assert theirs_value.startswith(jinja2.bccache.bc_magic)
    ours_value = pymemcache_client.get("ours/" + key)[:-16]
    # Jinja's bytes: the same header, and a payload holding the same code (not necessarily
    # the same marshal bytes: back-references depend on reference counts, visibly on 3.10)
    header = len(jinja2.bccache.bc_magic) + len(
        pickle.dumps(ours.get_source_checksum(TEMPLATES["page.html"]), 2)
    )
    assert ours_value[:header] == theirs_value[:header]
    assert marshal.loads(ours_value[header:]) == marshal.loads(theirs_value[header:])

    # each loads what the other stored: a warm environment compiles nothing
    for reader_module, prefix in [(jinja_bccache, "jinja/"), (jinja2.bccache, "ours/")]:
        kwargs = {"isolate_environments": False} if reader_module is jinja_bccache else {}
        reader = reader_module.MemcachedBytecodeCache(pymemcache_client, prefix=prefix, **kwargs)
        env = Environment(loader=loader, bytecode_cache=reader)
        env.compile = None  # any compile would raise TypeError
        assert env.get_template("page.html").render(x="b") == "<h1>B</h1>"
