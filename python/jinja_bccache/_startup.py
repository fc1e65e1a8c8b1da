"""What runs once at import: the installed Jinja checked against the format this package
writes, and the in-process layer sized from the environment.

The entry format (magic, pickled checksum, marshal payload) is Jinja's bytecode format 5;
the native module reads the magic itself from the installed Jinja, so both write identical
bytes. The other modules take the native module and ``jinja2.bccache`` from here, so that
neither is used before these checks.
"""

import os
import re
import typing as t
import warnings

# jinja2.bccache, the module this package stands in for
from jinja2 import bccache as upstream

from . import _native as native

#: The bytecode format this package writes; a Jinja with another one would not read it.
SUPPORTED_BC_VERSION = 5

if upstream.bc_version != SUPPORTED_BC_VERSION:
    raise ImportError(
        f"jinja_bccache writes Jinja bytecode format {SUPPORTED_BC_VERSION}, but the "
        f"installed Jinja uses format {upstream.bc_version}; upgrade jinja-bccache"
    )

_UNITS = {None: 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def memory_budget(text: str) -> t.Optional[int]:
    """Bytes from ``12345``, ``512K``, ``32M``, ``1G`` or ``32MiB`` (1024-based, any case);
    None, to keep the default, when ``text`` is empty or, with a warning, unreadable: an
    import should not die on a bad environment variable."""
    # at most 20 digits: int() refuses very long strings, and 2**64 has 20
    match = re.fullmatch(r"([0-9]{1,20})\s*(?:([KMG])(?:I?B)?|B?)", text.strip().upper())
    size = int(match[1]) * _UNITS[match[2]] if match else -1
    if 0 <= size < 1 << 64:
        return size
    if text.strip():
        warnings.warn(
            f"JINJA_BCCACHE_MEMORY_BYTES={text!r} is not a size such as 0, 512K, 32M "
            "or 1G; the in-process layer keeps its default budget",
            RuntimeWarning,
            stacklevel=2,
        )
    return None


# Operators can size (or, with 0, switch off) the in-process layer without touching code.
_budget = memory_budget(os.environ.get("JINJA_BCCACHE_MEMORY_BYTES", ""))
if _budget is not None:
    native.set_memory_cache(_budget)

__all__ = ["native", "upstream"]
