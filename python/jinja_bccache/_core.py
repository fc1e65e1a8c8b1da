"""Wiring between the native module and the installed Jinja.

The entry format (magic, pickled checksum, marshal payload) is Jinja's bytecode format 5.
The magic itself is taken from the installed Jinja so that both write identical bytes.
"""

import os

from jinja2 import bccache as jinja_bccache

from . import _native as native

#: The bytecode format this package writes; a Jinja with another one would not read it.
SUPPORTED_BC_VERSION = 5

if jinja_bccache.bc_version != SUPPORTED_BC_VERSION:
    raise ImportError(
        f"jinja_bccache writes Jinja bytecode format {SUPPORTED_BC_VERSION}, but the "
        f"installed Jinja uses format {jinja_bccache.bc_version}; upgrade jinja-bccache"
    )

native.configure(jinja_bccache.bc_magic)

# Operators can size (or, with 0, switch off) the in-process layer without touching code.
if os.environ.get("JINJA_BCCACHE_MEMORY_BYTES"):
    native.set_memory_cache(int(os.environ["JINJA_BCCACHE_MEMORY_BYTES"]))

__all__ = ["jinja_bccache", "native"]
