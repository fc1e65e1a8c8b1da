"""A Rust drop-in replacement for :mod:`jinja2.bccache`.

Change one import and keep everything else::

    from jinja_bccache import FileSystemBytecodeCache
    env = Environment(loader=..., bytecode_cache=FileSystemBytecodeCache("/var/cache/jinja"))

Every class here subclasses its :mod:`jinja2.bccache` counterpart, reads and writes the same
bytes, and computes the same keys; the hit path (key, checksum, read, validation, unmarshal)
runs in Rust.
"""

from ._base import BytecodeCache
from ._bucket import Bucket
from ._core import jinja_bccache as _jinja_bccache
from ._filesystem import FileSystemBytecodeCache
from ._from_string import FromStringCacheMixin, cached_from_string
from ._memcached import MemcachedBytecodeCache

bc_version: int = _jinja_bccache.bc_version
bc_magic: bytes = _jinja_bccache.bc_magic

__all__ = [
    "Bucket",
    "BytecodeCache",
    "FileSystemBytecodeCache",
    "FromStringCacheMixin",
    "MemcachedBytecodeCache",
    "bc_magic",
    "bc_version",
    "cached_from_string",
]
