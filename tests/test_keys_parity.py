"""Cache keys and source checksums are Jinja's exact digests."""

import pathlib

import jinja2.bccache
import pytest

import jinja_bccache

NAMES = ["index.html", "", "dir/sub/page.html", "ünïcödé/✓.html", "a|b", "x" * 5000, "\x00\n\t"]
FILENAMES = [None, "/srv/templates/index.html", "", "ü/✓", pathlib.Path("/srv/t/x.html"), 17]


@pytest.mark.parametrize("filename", FILENAMES, ids=repr)
@pytest.mark.parametrize("name", NAMES, ids=lambda n: repr(n[:20]))
def test_cache_key(name, filename):
    theirs = jinja2.bccache.BytecodeCache().get_cache_key(name, filename)
    assert jinja_bccache.BytecodeCache().get_cache_key(name, filename) == theirs


def test_cache_key_default_filename():
    assert (
        jinja_bccache.BytecodeCache().get_cache_key("x")
        == jinja2.bccache.BytecodeCache().get_cache_key("x")
        == jinja2.bccache.BytecodeCache().get_cache_key("x", None)
    )


@pytest.mark.parametrize("source", NAMES, ids=lambda n: repr(n[:20]))
def test_source_checksum(source):
    theirs = jinja2.bccache.BytecodeCache().get_source_checksum(source)
    assert jinja_bccache.BytecodeCache().get_source_checksum(source) == theirs


def test_lone_surrogates_raise_unicode_encode_error(impl):
    cache = impl.BytecodeCache()
    with pytest.raises(UnicodeEncodeError):
        cache.get_cache_key("\ud800")
    with pytest.raises(UnicodeEncodeError):
        cache.get_cache_key("x", "\udcff")
    with pytest.raises(UnicodeEncodeError):
        cache.get_source_checksum("\ud800")


@pytest.mark.parametrize("bad", [None, 1, b"bytes"])
def test_wrong_types_are_type_errors(bad):
    cache = jinja_bccache.BytecodeCache()
    with pytest.raises(TypeError, match="must be str"):
        cache.get_cache_key(bad)
    with pytest.raises(TypeError, match="must be str"):
        cache.get_source_checksum(bad)
