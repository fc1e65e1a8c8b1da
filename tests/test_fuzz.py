"""The entry parser (framing, checksum, integrity and signature trailers, unmarshal) on
arbitrary and mutated input: it never raises, never crashes the interpreter, and never
returns code other than what was stored."""

from clients import DictClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment

import jinja_bccache

ENV = Environment()
SOURCE = "{% for i in range(3) %}{{ i|string * 2 }}{% endfor %}"
CODE = ENV.compile(SOURCE, "t", None)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stored(options):
    """A memcached cache holding a valid entry for SOURCE, that entry's client key, and the
    code stored (with its folding record where isolation is on)."""
    cache = jinja_bccache.MemcachedBytecodeCache(DictClient(), **options)
    bucket = cache.get_bucket(ENV, "t", None, SOURCE)
    bucket.code = CODE
    cache.set_bucket(bucket)
    (key,) = cache.client.data
    return cache, key, bucket.code


OPTIONS = st.sampled_from([{}, {"isolate_environments": False}, {"secret": b"fuzz-secret"}])


def load(cache, key, value, expected):
    cache.client.data[key] = value
    code = cache.get_bucket(ENV, "t", None, SOURCE).code
    assert code is None or code == expected  # by value: marshal bytes vary between dumps
    return code


@FUZZ
@given(options=OPTIONS, data=st.binary(max_size=2048))
def test_arbitrary_bytes(options, data):
    cache, key, expected = stored(options)
    load(cache, key, data, expected)
    bucket = jinja_bccache.Bucket(ENV, "k", cache.get_source_checksum(SOURCE))
    bucket.bytecode_from_string(data)
    assert bucket.code is None or bucket.code == expected


@FUZZ
@given(
    options=OPTIONS,
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "delete"]),
            st.integers(0, 10**6),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_entries(options, edits):
    cache, key, expected = stored(options)
    value = bytearray(cache.client.data[key])
    for kind, where, payload in edits:
        pos = where % (len(value) + 1)
        if kind == "flip" and pos < len(value):
            value[pos] ^= payload[0] or 1
        elif kind == "cut":
            del value[pos:]
        elif kind == "insert":
            value[pos:pos] = payload
        elif kind == "delete":
            del value[pos : pos + len(payload)]
    load(cache, key, bytes(value), expected)


@FUZZ
@given(data=st.binary(max_size=512))
def test_filesystem_entries(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("fuzz")
    cache = jinja_bccache.FileSystemBytecodeCache(str(directory))
    key = cache.get_bucket(ENV, "t", None, SOURCE).key
    (directory / f"__jinja2_{key}.cache").write_bytes(data)
    assert cache.get_bucket(ENV, "t", None, SOURCE).code is None
