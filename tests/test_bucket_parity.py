"""Bucket serialization: byte-identical to jinja2.bccache, and never raising on bad input."""

import io
import marshal
import pickle

import jinja2.bccache
import pytest

import jinja_bccache

#: What Jinja's Bucket.load_bytecode lets escape when the pickled checksum is cut or damaged.
JINJA_PICKLE_ERRORS = (EOFError, pickle.UnpicklingError)

CHECKSUM = "5f2bd2e2a6bbdeb43d3a1ce4cd3cf6c4d6e1c3b8"


def sample_code():
    return compile("def f(x):\n    return [x, 'é', 1.5, None]\n", "<tmpl>", "exec")


# Bucket.code may be any marshalable object, and checksums anything picklable.
CODES = [sample_code(), "code", b"bytes", {"a": (1, 2.5, None)}, [frozenset({1})], 0]
CHECKSUMS = [CHECKSUM, "", "ünïcödé ✓", "x" * 300, b"bytes-checksum", 42, ("t", 1)]


def jinja_entry(checksum, code):
    bucket = jinja2.bccache.Bucket(None, "key", checksum)
    bucket.code = code
    return bucket.bytecode_to_string()


def load_with(module, entry, checksum=CHECKSUM):
    """The code a module's Bucket loads from `entry`, or the exception it raises."""
    bucket = module.Bucket(None, "key", checksum)
    try:
        bucket.bytecode_from_string(entry)
    except Exception as exc:  # Jinja raises EOFError on some truncations
        return exc
    return bucket.code


def test_magic_and_version_are_jinjas():
    assert jinja_bccache.bc_magic == jinja2.bccache.bc_magic
    assert jinja_bccache.bc_version == jinja2.bccache.bc_version


@pytest.mark.parametrize("checksum", CHECKSUMS, ids=repr)
@pytest.mark.parametrize("code", CODES, ids=lambda c: type(c).__name__)
def test_bytes_identical_and_cross_loadable(code, checksum):
    ours = jinja_bccache.Bucket(None, "key", checksum)
    ours.code = code
    theirs = jinja_entry(checksum, code)
    assert ours.bytecode_to_string() == theirs

    # each reads what the other wrote
    back = jinja2.bccache.Bucket(None, "key", checksum)
    back.bytecode_from_string(ours.bytecode_to_string())
    assert back.code == code
    assert load_with(jinja_bccache, theirs, checksum) == code


def test_write_bytecode_to_any_binary_file(tmp_path):
    bucket = jinja_bccache.Bucket(None, "key", CHECKSUM)
    bucket.code = sample_code()
    path = tmp_path / "entry"
    with open(path, "wb") as f:
        bucket.write_bytecode(f)
    buf = io.BytesIO()
    bucket.write_bytecode(buf)
    assert path.read_bytes() == buf.getvalue() == jinja_entry(CHECKSUM, sample_code())

    loaded = jinja_bccache.Bucket(None, "key", CHECKSUM)
    with open(path, "rb") as f:
        loaded.load_bytecode(f)
    assert loaded.code == sample_code()


def test_attributes_and_reset():
    env = object()
    bucket = jinja_bccache.Bucket(env, "k", "c")
    assert (bucket.environment, bucket.key, bucket.checksum, bucket.code) == (env, "k", "c", None)
    bucket.code = "x"
    bucket.reset()
    assert bucket.code is None
    assert isinstance(bucket, jinja2.bccache.Bucket)


def test_empty_bucket_cannot_be_written(impl):
    bucket = impl.Bucket(None, "key", CHECKSUM)
    with pytest.raises(TypeError, match="^can't write empty bucket$"):
        bucket.bytecode_to_string()
    with pytest.raises(TypeError, match="^can't write empty bucket$"):
        bucket.write_bytecode(io.BytesIO())


def test_unmarshallable_code_is_a_value_error(impl):
    bucket = impl.Bucket(None, "key", CHECKSUM)
    bucket.code = object()
    with pytest.raises(ValueError):
        bucket.bytecode_to_string()


def test_every_truncation_is_a_miss():
    entry = jinja_entry(CHECKSUM, sample_code())
    for cut in range(len(entry)):
        assert load_with(jinja_bccache, entry[:cut]) is None, cut
        # Jinja agrees, or raises out of pickle.load when the cut is inside the checksum
        theirs = load_with(jinja2.bccache, entry[:cut])
        assert theirs is None or isinstance(theirs, JINJA_PICKLE_ERRORS), cut


def test_byte_flips_never_raise_and_match_jinja_where_it_survives():
    entry = jinja_entry(CHECKSUM, sample_code())
    header = len(jinja2.bccache.bc_magic) + len(pickle.dumps(CHECKSUM, 2))
    for pos in range(len(entry)):
        damaged = bytearray(entry)
        damaged[pos] ^= 0xFF
        ours = load_with(jinja_bccache, bytes(damaged))
        assert not isinstance(ours, Exception), pos
        if pos < header:
            # Jinja unpickles the checksum and may accept another spelling of it; the
            # header is compared byte for byte here, which only ever costs a recompile.
            assert ours is None, pos
            continue
        theirs = load_with(jinja2.bccache, bytes(damaged))
        if not isinstance(theirs, Exception):
            assert ours == theirs, pos


@pytest.mark.parametrize(
    "material",
    [
        b"",
        b"garbage" * 10,
        jinja2.bccache.bc_magic,
        jinja2.bccache.bc_magic + pickle.dumps(CHECKSUM, 2),
        jinja2.bccache.bc_magic + pickle.dumps(CHECKSUM, 2) + b"\xff\x00",
        b"j2" + pickle.dumps(4, 2) + jinja2.bccache.bc_magic[7:] + pickle.dumps(CHECKSUM, 2),
    ],
    ids=["empty", "garbage", "magic-only", "no-payload", "bad-payload", "old-format"],
)
def test_foreign_material_is_a_miss(material):
    assert load_with(jinja_bccache, material) is None
    theirs = load_with(jinja2.bccache, material)
    assert theirs is None or isinstance(theirs, JINJA_PICKLE_ERRORS)


def test_outdated_checksum_is_a_miss(impl):
    entry = jinja_entry(CHECKSUM, sample_code())
    assert load_with(impl, entry, checksum="0" * 40) is None


def test_trailing_bytes_are_ignored_like_jinja():
    entry = jinja_entry(CHECKSUM, sample_code()) + b"trailing"
    assert load_with(jinja_bccache, entry) == load_with(jinja2.bccache, entry) == sample_code()


def test_bytes_like_and_none_inputs(impl):
    entry = jinja_entry(CHECKSUM, "code")
    assert load_with(impl, bytearray(entry)) == "code"
    assert load_with(impl, memoryview(entry)) == "code"
    assert load_with(impl, None) is None  # Jinja reads None as empty
    bucket = impl.Bucket(None, "key", CHECKSUM)
    with pytest.raises(TypeError):
        bucket.bytecode_from_string(entry.decode("latin-1"))


def test_text_mode_file_is_a_miss(impl, tmp_path):
    path = tmp_path / "entry"
    path.write_bytes(jinja_entry(CHECKSUM, "code"))
    bucket = impl.Bucket(None, "key", CHECKSUM)
    bucket.code = "stale"
    with open(path, encoding="latin-1") as f:
        bucket.load_bytecode(f)
    assert bucket.code is None


def test_loaded_payload_is_marshal_of_code():
    # marshal of the very code object: two compilations of one source may marshal apart
    # (CPython 3.14 flags an object for back-references only when its refcount says so)
    code = sample_code()
    bucket = jinja_bccache.Bucket(None, "key", CHECKSUM)
    bucket.code = code
    entry = bucket.bytecode_to_string()
    assert entry.endswith(marshal.dumps(code))
    assert marshal.loads(entry[-len(marshal.dumps(code)) :]) == code


class LoggingBucket(jinja_bccache.Bucket):
    calls: list

    def load_bytecode(self, f):
        type(self).calls.append(("load", f.read()))
        self.code = "from-subclass"

    def write_bytecode(self, f):
        type(self).calls.append(("write", self.code))
        f.write(b"custom")


def test_bucket_subclass_overrides_are_used():
    LoggingBucket.calls = []
    bucket = LoggingBucket(None, "key", CHECKSUM)
    bucket.bytecode_from_string(b"raw")
    assert bucket.code == "from-subclass"
    assert bucket.bytecode_to_string() == b"custom"
    assert LoggingBucket.calls == [("load", b"raw"), ("write", "from-subclass")]
