"""The private native module. Use the public classes in :mod:`jinja_bccache`."""

import typing as t

__version__: str

__all__ = [
    "__version__",
    "Counters",
    "FsStore",
    "McStore",
    "MemcachedClient",
    "MemcachedError",
    "cache_key",
    "changes",
    "memory_cache_clear",
    "memory_cache_info",
    "set_memory_cache",
    "memo_entry",
    "shallow_names",
    "snapshot",
    "entry_dump",
    "entry_load",
    "source_checksum",
]

def cache_key(name: str, filename: t.Optional[object] = None) -> str: ...
def source_checksum(source: str) -> str: ...
def entry_load(data: t.Optional[bytes], checksum: object) -> t.Any: ...
def entry_dump(checksum: object, code: t.Any) -> bytes: ...
def set_memory_cache(max_bytes: int) -> int: ...
def memory_cache_info() -> t.Tuple[int, int, int]: ...
def memory_cache_clear() -> None: ...
def changes(
    registries: t.List[t.Dict[t.Any, t.Any]], defaults: t.List[t.Dict[t.Any, t.Any]]
) -> t.List[t.List[t.Tuple[t.Any, t.Any]]]: ...
def snapshot(
    state: t.Dict[str, t.Any], skip: str, containers: t.List[t.Any]
) -> t.Tuple[t.Any, ...]: ...
def shallow_names(values: t.List[t.Any], watched: t.List[t.Any]) -> t.Tuple[t.Any, ...]: ...
def memo_entry(
    owner: object, state: t.Dict[str, t.Any], key: str
) -> t.Optional[t.List[t.Any]]: ...

#: What a store's ``get`` answers: key, checksum, code or None, whether the code is settled.
_Found = t.Tuple[str, str, t.Any, bool]
_Verdicts = t.Optional[t.Dict[t.Any, str]]

class _FsSettings(t.TypedDict):
    directory: str
    pattern: str
    secret: t.Optional[bytes]
    accept_plain: bool

class _McSettings(t.TypedDict):
    client: t.Any
    prefix: str
    timeout: t.Optional[float]
    secret: t.Optional[bytes]
    accept_plain: bool
    raise_errors: bool

@t.final
class FsStore:
    def __new__(cls, settings: _FsSettings, counters: Counters) -> FsStore: ...
    def get(
        self,
        cache: object,
        name: str,
        filename: t.Optional[object],
        source: str,
        isolation: t.Optional[str],
        verdicts: _Verdicts = None,
    ) -> _Found: ...
    def load(self, key: str, checksum: object) -> t.Any: ...
    def dump(self, key: str, checksum: object, code: t.Any) -> None: ...
    def clear(self) -> int: ...
    def read_path(self, path: str, key: str) -> t.Optional[bytes]: ...
    def write_path(self, path: str, key: str, entry: bytes) -> None: ...
    def entries(self) -> t.List[t.Tuple[int, float]]: ...
    def prune(
        self,
        max_age: t.Optional[float] = None,
        max_entries: t.Optional[int] = None,
        max_bytes: t.Optional[int] = None,
    ) -> t.Tuple[int, int]: ...

@t.final
class McStore:
    def __new__(cls, settings: _McSettings, counters: Counters) -> McStore: ...
    def get(
        self,
        cache: object,
        name: str,
        filename: t.Optional[object],
        source: str,
        isolation: t.Optional[str],
        verdicts: _Verdicts = None,
    ) -> _Found: ...
    def load(
        self, client: t.Any, key: str, bucket_key: str, checksum: object
    ) -> t.Tuple[bool, t.Any]: ...
    def load_body(
        self, client: t.Any, key: str, bucket_key: str
    ) -> t.Tuple[bool, t.Optional[bytes]]: ...
    def dump(self, client: t.Any, key: str, bucket: t.Any, timeout: object) -> None: ...
    def dump_body(
        self, client: t.Any, key: str, bucket_key: str, entry: bytes, timeout: object
    ) -> None: ...

@t.final
class Counters:
    def __new__(cls) -> Counters: ...
    def add(self, name: str, n: int = 1) -> None: ...
    def snapshot(self) -> t.Dict[str, int]: ...

class MemcachedError(OSError):
    """A memcached server failed, timed out or is marked down. The message names the server."""

@t.final
class MemcachedClient:
    """A memcached client in Rust, for :class:`jinja_bccache.MemcachedBytecodeCache` (which
    talks to it natively) or any code using Jinja's client interface.

    ``servers`` are ``"host:port"`` strings; keys are spread over them by rendezvous hashing,
    the same way as pymemcache's ``HashClient``. A server that fails is skipped for
    ``retry_interval`` seconds (its keys go to the next server in their preference order),
    then probed by one request. Timeouts are in seconds. Values (after compression) over
    ``max_value_size`` bytes are not stored. ``compress_threshold`` (bytes, off by default)
    zlib-compresses values at least that large, flagged so pymemcache's ``CompressedSerde``
    and python-memcached read them. Safe to share between threads and across ``fork()``.
    """

    def __new__(
        cls,
        servers: t.Sequence[str],
        *,
        connect_timeout: float = ...,
        timeout: float = ...,
        retry_interval: float = ...,
        max_value_size: int = ...,
        compress_threshold: t.Optional[int] = None,
        max_idle: int = ...,
    ) -> MemcachedClient: ...
    def get(self, key: str) -> t.Optional[bytes]:
        """The value stored under ``key``, or ``None``; :class:`MemcachedError` on failure."""
    def set(self, key: str, value: bytes, timeout: t.Optional[float] = None) -> bool:
        """Store ``value`` for ``timeout`` seconds (``None`` or 0: no expiry; over 30 days is
        sent as an absolute time): whether it was stored (``False`` over ``max_value_size``);
        :class:`MemcachedError` on failure."""
    def stats(self) -> t.Dict[str, int]:
        """Counters: requests, hits, misses, errors, timeouts, failovers, skipped writes..."""
    @property
    def servers(self) -> t.List[str]: ...
    def server_for(self, key: str) -> str:
        """The server ``key`` lives on while all are up (the same as pymemcache's HashClient)."""
    def down_servers(self) -> t.List[str]:
        """The servers currently skipped after a failure."""
    def __reduce__(self) -> t.Tuple[t.Any, t.Tuple[t.List[str]]]: ...
