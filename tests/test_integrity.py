"""Damaged entries are never executed: every truncation, bit flips, garbage and trailing bytes
cost a recompile, are logged, and are replaced by the recompiled entry."""

import logging
import random

import pytest
from jinja2 import DictLoader, Environment

import jinja_bccache

SOURCE = (
    "{% macro item(i) %}<li>{{ i * 2 }}</li>{% endmacro %}"
    "<ul>{% for i in items %}{{ item(i) }}{% endfor %}</ul>{{ title|upper }}"
)
CONTEXT = {"items": [1, 2, 3], "title": "list"}
EXPECTED = Environment().from_string(SOURCE).render(CONTEXT)
LOADER = DictLoader({"t.html": SOURCE})


@pytest.fixture(
    params=[{}, {"isolate_environments": False}, {"secret": b"k" * 32}],
    ids=["isolated", "jinja-keys", "signed"],
)
def options(request):
    return request.param


def render(cache):
    return Environment(loader=LOADER, bytecode_cache=cache).get_template("t.html").render(CONTEXT)


def written_entry(tmp_path, options):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), **options)
    assert render(cache) == EXPECTED
    (entry,) = tmp_path.iterdir()
    return cache, entry, entry.read_bytes()


ENV = Environment(loader=LOADER)


def loads(cache):
    return cache.get_bucket(ENV, "t.html", None, SOURCE).code is not None


def replaced(cache, entry, damaged):
    """The damaged entry was replaced by the recompiled one, which loads. (Not compared with
    the first entry's bytes: marshal's back-references depend on reference counts, so two
    compiles may marshal differently, as they visibly do on 3.9 and 3.10.)"""
    return entry.read_bytes() != bytes(damaged) and loads(cache)


def in_plain_tail(options, good, pos):
    """With Jinja's keys, entries without a trailer are accepted (stock Jinja writes them).
    Damage confined to the trailer leaves such an entry with an intact payload."""
    return options == {"isolate_environments": False} and pos >= len(good) - 16


def test_every_truncation_is_a_miss(tmp_path, options):
    cache, entry, good = written_entry(tmp_path, options)
    for cut in range(len(good)):
        entry.write_bytes(good[:cut])
        if in_plain_tail(options, good, cut):
            assert render(cache) == EXPECTED
            continue
        assert not loads(cache), cut
    entry.write_bytes(good[:100])
    assert render(cache) == EXPECTED
    # replaced by the recompiled entry (its marshal bytes may differ from the first compile's:
    # marshal's back-references depend on reference counts, visibly so on 3.10)
    assert loads(cache) and len(entry.read_bytes()) > 100


def test_bit_flips_are_misses(tmp_path, options):
    cache, entry, good = written_entry(tmp_path, options)
    rng = random.Random(4)
    positions = sorted(rng.sample(range(len(good)), 300)) + list(range(len(good) - 40, len(good)))
    for pos in positions:
        damaged = bytearray(good)
        damaged[pos] ^= 1 << rng.randrange(8)
        entry.write_bytes(bytes(damaged))
        if in_plain_tail(options, good, pos) and damaged[-8:] != good[-8:]:
            assert render(cache) == EXPECTED
            continue
        assert not loads(cache), pos
        assert render(cache) == EXPECTED
        assert replaced(cache, entry, damaged)


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 64, b"garbage" * 100, bytes(range(256)) * 4])
def test_garbage_is_a_miss(tmp_path, options, garbage):
    cache, entry, good = written_entry(tmp_path, options)
    entry.write_bytes(garbage)
    assert not loads(cache)
    assert render(cache) == EXPECTED


def test_trailing_bytes_after_the_trailer(tmp_path):
    cache, entry, good = written_entry(tmp_path, {})
    entry.write_bytes(good + b"appended")
    assert not loads(cache)
    assert render(cache) == EXPECTED
    assert replaced(cache, entry, good + b"appended")


def test_entries_without_a_trailer_must_be_exactly_one_marshalled_object(tmp_path):
    cache, entry, good = written_entry(tmp_path, {"isolate_environments": False})
    body = good[:-16]
    entry.write_bytes(body)  # what stock Jinja writes
    assert loads(cache)
    damaged_tag = good[-16:-8] + b"JBCXXH3\x02"  # the digest is intact, the tag is not
    for tail in (damaged_tag, b"x", b"\x00" * 40):
        entry.write_bytes(body + tail)
        assert not loads(cache), tail


def test_damaged_entry_is_logged_once_then_replaced(tmp_path, caplog):
    cache, entry, good = written_entry(tmp_path, {})
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF
    entry.write_bytes(bytes(damaged))
    with caplog.at_level(logging.WARNING, logger="jinja_bccache"):
        for _ in range(3):
            assert render(cache) == EXPECTED
    refused = [r for r in caplog.records if "refusing cache entry" in r.getMessage()]
    assert len(refused) == 1
    assert str(entry) in refused[0].getMessage()
    assert refused[0].name.startswith("jinja_bccache")


def test_stock_jinja_entries_accepted_only_with_jinja_keys(tmp_path):
    import jinja2.bccache

    Environment(
        loader=LOADER, bytecode_cache=jinja2.bccache.FileSystemBytecodeCache(str(tmp_path))
    ).get_template("t.html")
    compat = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), isolate_environments=False)
    assert loads(compat)
    # the same plain entry under an isolated cache's key: refused, no trailer
    isolated = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    (entry,) = tmp_path.iterdir()
    key = isolated.get_bucket(Environment(loader=LOADER), "t.html", None, SOURCE).key
    entry.rename(tmp_path / f"__jinja2_{key}.cache")
    assert not loads(isolated)


def test_memcached_damaged_values_are_misses(pymemcache_client):
    cache = jinja_bccache.MemcachedBytecodeCache(pymemcache_client)
    assert render(cache) == EXPECTED
    key = (
        "jinja2/bytecode/"
        + cache.get_bucket(Environment(loader=LOADER), "t.html", None, SOURCE).key
    )
    good = pymemcache_client.get(key)

    def replaced(damaged):
        # recompiled and stored again (see replaced() above for why not compared with good)
        value = pymemcache_client.get(key)
        bucket = cache.get_bucket(Environment(loader=LOADER), "t.html", None, SOURCE)
        return value != damaged and bucket.code is not None

    for cut in range(0, len(good), 7):
        pymemcache_client.set(key, good[:cut])
        assert render(cache) == EXPECTED
        assert replaced(good[:cut])
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0x10
    pymemcache_client.set(key, bytes(flipped))
    assert render(cache) == EXPECTED
    assert replaced(bytes(flipped))
