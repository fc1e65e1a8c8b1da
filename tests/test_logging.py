"""Records from the native code reach Python's logging under the package's logger tree."""

import logging
import os

from jinja2 import DictLoader, Environment

import jinja_bccache


def test_core_records_are_under_the_package_logger(tmp_path, caplog):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    env = Environment(loader=DictLoader({"a": "{{ 1 }}"}), bytecode_cache=cache)
    env.get_template("a")
    [entry] = os.listdir(tmp_path)
    os.unlink(tmp_path / entry)
    os.symlink(tmp_path / "elsewhere", tmp_path / entry)  # planted at the entry's name
    with caplog.at_level(logging.WARNING, logger="jinja_bccache"):
        Environment(loader=DictLoader({"a": "{{ 1 }}"}), bytecode_cache=cache).get_template("a")
    names = {r.name for r in caplog.records if "is a link" in r.getMessage()}
    assert names == {"jinja_bccache.filesystem"}


def test_loggers_are_named_by_subject_not_by_rust_file(tmp_path, caplog):
    """A refused entry is logged by the binding, a swallowed client failure by the store:
    each under the name the package documents."""
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    env = Environment(loader=DictLoader({"a": "{{ 1 }}"}), bytecode_cache=cache)
    env.get_template("a")
    [entry] = os.listdir(tmp_path)
    damaged = bytearray((tmp_path / entry).read_bytes())
    damaged[-1] ^= 1
    (tmp_path / entry).write_bytes(bytes(damaged))

    class Down:
        def get(self, key):
            raise ConnectionRefusedError(key)

        set = get

    with caplog.at_level(logging.WARNING, logger="jinja_bccache"):
        Environment(loader=DictLoader({"a": "{{ 1 }}"}), bytecode_cache=cache).get_template("a")
        memcached = jinja_bccache.MemcachedBytecodeCache(Down())
        Environment(loader=DictLoader({"a": "{{ 1 }}"}), bytecode_cache=memcached).get_template(
            "a"
        )
    by_message = {r.getMessage().split(" ")[0]: r.name for r in caplog.records}
    assert by_message == {
        "refusing": "jinja_bccache.entries",
        "memcached": "jinja_bccache.memcached",
    }
