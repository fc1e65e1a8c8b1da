"""dbt with a bytecode cache for the templates it builds from strings: dbt's two Environment
classes are given jinja_bccache's FromStringCacheMixin and a FileSystemBytecodeCache, and
nothing else is changed.

    python cached_dbt.py parse --no-partial-parse [any dbt arguments]

The cache lives in ``$DBT_JINJA_BYTECODE_CACHE`` (default: ``.jinja_bccache`` in the current
directory). With ``DBT_JINJA_BYTECODE_CACHE_REPORT=1`` the cache's counters and the number of
records jinja_bccache logged are printed to stderr at exit.
"""

import atexit
import logging
import os
import sys

# (this file is not named dbt_*: dbt imports modules named so as plugins)
import dbt_common.clients.jinja as dbt_jinja

from jinja_bccache import FileSystemBytecodeCache, FromStringCacheMixin

CACHE_DIR = os.environ.get("DBT_JINJA_BYTECODE_CACHE", ".jinja_bccache")
os.makedirs(CACHE_DIR, exist_ok=True)
CACHE = FileSystemBytecodeCache(CACHE_DIR)


class MacroFuzzEnvironment(FromStringCacheMixin, dbt_jinja.MacroFuzzEnvironment):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("bytecode_cache", CACHE)
        super().__init__(*args, **kwargs)


class NativeSandboxEnvironment(FromStringCacheMixin, dbt_jinja.NativeSandboxEnvironment):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("bytecode_cache", CACHE)
        super().__init__(*args, **kwargs)


# dbt looks both classes up in this module each time it builds an Environment
dbt_jinja.MacroFuzzEnvironment = MacroFuzzEnvironment
dbt_jinja.NativeSandboxEnvironment = NativeSandboxEnvironment

if os.environ.get("DBT_JINJA_BYTECODE_CACHE_REPORT"):
    logged = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = logged.append
    logging.getLogger("jinja_bccache").addHandler(handler)

    @atexit.register
    def report() -> None:
        print(f"jinja_bccache: {CACHE.stats()}, {len(logged)} log records", file=sys.stderr)
        for record in logged[:3]:
            print(f"  {record.levelname}: {record.getMessage()[:300]}", file=sys.stderr)


if __name__ == "__main__":
    from dbt.cli.main import cli

    sys.exit(cli())
