"""Jinja's attributes are read where Jinja reads them, however a subclass provides them: set in
its own ``__init__`` without calling ``super().__init__``, or answered per call by a property;
and methods patched onto ``Bucket`` are called where Jinja calls them. Each scenario runs
against ``jinja2.bccache`` too, and ours must behave the same."""

import contextvars
import os
from unittest import mock

import jinja2.bccache
import pytest
from jinja2 import DictLoader, Environment

import jinja_bccache

TEMPLATES = {"page.html": "<p>{{ who }}</p>"}

IMPLS = [jinja2.bccache, jinja_bccache]
IDS = ["jinja2", "jinja_bccache"]


def render(cache):
    """A fresh Environment each time, so every load goes to the bytecode cache."""
    env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
    return env.get_template("page.html").render(who="x")


def entries(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith("__jinja2_"))


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_subclass_setting_the_attributes_in_its_own_init(impl, tmp_path):
    class OwnInit(impl.FileSystemBytecodeCache):
        def __init__(self, directory):  # no super().__init__: legal with Jinja
            self.directory = directory
            self.pattern = "__jinja2_%s.cache"

    cache = OwnInit(str(tmp_path))
    jinja_bccache.memory_cache_clear()
    assert render(cache) == "<p>x</p>"
    assert len(entries(tmp_path)) == 1
    jinja_bccache.memory_cache_clear()
    with mock.patch.object(Environment, "compile", side_effect=AssertionError("recompiled")):
        assert render(cache) == "<p>x</p>"


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_memcached_subclass_setting_the_attributes_in_its_own_init(impl, pymemcache_client):
    class OwnInit(impl.MemcachedBytecodeCache):
        def __init__(self, client):
            self.client = client
            self.prefix = "own-init/"
            self.timeout = None
            self.ignore_memcache_errors = True

    cache = OwnInit(pymemcache_client)
    assert render(cache) == "<p>x</p>"
    jinja_bccache.memory_cache_clear()
    with mock.patch.object(Environment, "compile", side_effect=AssertionError("recompiled")):
        assert render(cache) == "<p>x</p>"


TENANT = contextvars.ContextVar("tenant")


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_directory_answered_per_call_by_a_property(impl, tmp_path):
    """One directory per tenant, chosen per call: each tenant's entries stay in its own."""

    class PerTenant(impl.FileSystemBytecodeCache):
        @property
        def directory(self):
            return str(tmp_path / TENANT.get())

        @directory.setter
        def directory(self, value):
            pass  # the constructor's default is not where entries go

    for tenant in ("a", "b"):
        (tmp_path / tenant).mkdir()
    cache = PerTenant(str(tmp_path))
    compiled = []
    original = Environment.compile

    def counting(self, *args, **kwargs):
        compiled.append(TENANT.get())
        return original(self, *args, **kwargs)

    with mock.patch.object(Environment, "compile", counting):
        for tenant in ("a", "b", "a", "b"):
            TENANT.set(tenant)
            jinja_bccache.memory_cache_clear()
            assert render(cache) == "<p>x</p>"
    assert compiled == ["a", "b"]  # 2 hits of 4: each tenant compiled once
    assert len(entries(tmp_path / "a")) == len(entries(tmp_path / "b")) == 1
    TENANT.set("a")
    cache.clear()  # the current tenant's entries
    assert entries(tmp_path / "a") == [] and len(entries(tmp_path / "b")) == 1


def bucket_calls(impl, cache):
    """(load_bytecode calls, write_bytecode calls) on impl's Bucket class after a render
    that misses and writes, then after one that hits."""
    bucket_class = impl.Bucket
    seen = []
    with (
        mock.patch.object(
            bucket_class, "load_bytecode", autospec=True, side_effect=bucket_class.load_bytecode
        ) as load,
        mock.patch.object(
            bucket_class, "write_bytecode", autospec=True, side_effect=bucket_class.write_bytecode
        ) as write,
    ):
        for _ in range(2):
            jinja_bccache.memory_cache_clear()
            assert render(cache) == "<p>x</p>"
            seen.append((load.call_count, write.call_count))
    return seen


def test_methods_patched_onto_bucket_are_called_on_the_filesystem(tmp_path):
    """Jinja calls Bucket.load_bytecode for an entry it reads and Bucket.write_bytecode for
    one it writes: a patch on the class sees both, here as there."""
    (tmp_path / "jinja2").mkdir(), (tmp_path / "ours").mkdir()
    theirs = bucket_calls(
        jinja2.bccache, jinja2.bccache.FileSystemBytecodeCache(str(tmp_path / "jinja2"))
    )
    assert theirs == [(0, 1), (1, 1)]
    ours = jinja_bccache.FileSystemBytecodeCache(str(tmp_path / "ours"))
    assert bucket_calls(jinja_bccache, ours) == theirs


def test_methods_patched_onto_bucket_are_called_with_memcached(pymemcache_client):
    """Through memcached Jinja also hands a miss (None) to the bucket to load."""
    theirs = bucket_calls(jinja2.bccache, jinja2.bccache.MemcachedBytecodeCache(pymemcache_client))
    assert theirs == [(1, 1), (2, 1)]
    ours = jinja_bccache.MemcachedBytecodeCache(pymemcache_client, prefix="ours/")
    assert bucket_calls(jinja_bccache, ours) == theirs
