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
    assert names == {"jinja_bccache.fs"}
