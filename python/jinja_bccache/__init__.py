"""A Rust drop-in replacement for :mod:`jinja2.bccache`.

Change one import and keep everything else::

    from jinja_bccache import FileSystemBytecodeCache
    env = Environment(loader=..., bytecode_cache=FileSystemBytecodeCache("/var/cache/jinja"))

Every class here subclasses its :mod:`jinja2.bccache` counterpart, reads and writes the same
bytes, and computes the same keys; the hit path (key, checksum, read, validation, unmarshal)
runs in Rust.
"""

import typing as _t

from ._base import BytecodeCache
from ._bucket import Bucket
from ._filesystem import FileSystemBytecodeCache
from ._from_string import FromStringCacheMixin, cached_from_string
from ._memcached import MemcachedBytecodeCache, MemcachedClient, MemcachedError
from ._parse_cache import ParseCacheMixin
from ._startup import native as _native
from ._startup import upstream as _upstream

if _t.TYPE_CHECKING:
    from ._url import from_url
    from ._warm import WarmSummary, warm

#: The distribution's version (written once, in Cargo.toml).
__version__: str = _native.__version__

#: ``set_memory_cache(max_bytes) -> previous``: the budget of the in-process layer of
#: unmarshalled code (bytes of serialized entries; 0 turns it off). Default 32 MiB, or
#: ``$JINJA_BCCACHE_MEMORY_BYTES``.
set_memory_cache = _native.set_memory_cache
#: ``memory_cache_info() -> (entries, bytes, max_bytes)``.
memory_cache_info = _native.memory_cache_info
#: ``memory_cache_clear()``: empty the in-process layer (``clear()`` on a cache does it too).
memory_cache_clear = _native.memory_cache_clear


def __getattr__(name: str) -> _t.Any:
    # warm() is for deploy scripts and the CLI; its module (and dataclasses) would add a few
    # milliseconds to every import of the package, so it loads on first use, as from_url().
    if name in ("warm", "WarmSummary"):
        from . import _warm

        return getattr(_warm, name)
    if name == "from_url":  # for settings files and the CLI, not for every import
        from ._url import from_url

        return from_url
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


bc_version: int = _upstream.bc_version
bc_magic: bytes = _upstream.bc_magic

__all__ = [
    "Bucket",
    "BytecodeCache",
    "FileSystemBytecodeCache",
    "FromStringCacheMixin",
    "MemcachedBytecodeCache",
    "WarmSummary",
    "MemcachedClient",
    "MemcachedError",
    "ParseCacheMixin",
    "bc_magic",
    "bc_version",
    "cached_from_string",
    "from_url",
    "memory_cache_clear",
    "memory_cache_info",
    "set_memory_cache",
    "warm",
]
