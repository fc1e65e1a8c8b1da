"""The private native module. Use the public classes in :mod:`jinja_bccache`."""

import typing as t

__version__: str

__all__ = [
    "__version__",
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
    "factory_shape",
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
def factory_shape(
    cls: type, watched: t.List[t.Any], kinds: t.Tuple[t.Any, ...]
) -> t.Optional[t.Tuple[t.Any, ...]]: ...
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
    def __new__(cls, settings: _FsSettings, previous: t.Optional[FsStore] = None) -> FsStore: ...
    def get(
        self,
        cache: object,
        name: str,
        filename: t.Optional[object],
        source: str,
        isolation: t.Optional[str],
        verdicts: _Verdicts = None,
        checksum: t.Optional[str] = None,
    ) -> _Found: ...
    def load(self, bucket: t.Any) -> None: ...
    def dump(self, bucket: t.Any) -> None: ...
    def load_path(self, bucket: t.Any, path: str) -> None: ...
    def write_path(self, bucket: t.Any, path: str, entry: bytes) -> None: ...
    def stats(self) -> t.Dict[str, int]: ...
    def clear(self) -> int: ...
    def entries(self) -> t.List[t.Tuple[int, float]]: ...
    def prune(
        self,
        max_age: t.Optional[float] = None,
        max_entries: t.Optional[int] = None,
        max_bytes: t.Optional[int] = None,
    ) -> t.Tuple[int, int]: ...

@t.final
class McStore:
    def __new__(cls, settings: _McSettings, previous: t.Optional[McStore] = None) -> McStore: ...
    def get(
        self,
        cache: object,
        name: str,
        filename: t.Optional[object],
        source: str,
        isolation: t.Optional[str],
        verdicts: _Verdicts = None,
        checksum: t.Optional[str] = None,
    ) -> _Found: ...
    def load(self, client: t.Any, key: str, bucket: t.Any) -> None: ...
    def load_body(self, client: t.Any, key: str, bucket: t.Any) -> None: ...
    def dump(self, client: t.Any, key: str, bucket: t.Any, timeout: object) -> None: ...
    def dump_body(
        self, client: t.Any, key: str, bucket: t.Any, entry: bytes, timeout: object
    ) -> None: ...
    def stats(self) -> t.Dict[str, int]: ...

class MemcachedError(OSError): ...

# MemcachedClient is public: its documentation is the runtime's (help()), written in Rust.
@t.final
class MemcachedClient:
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
    def get(self, key: str) -> t.Optional[bytes]: ...
    def set(self, key: str, value: bytes, timeout: t.Optional[float] = None) -> bool: ...
    def stats(self) -> t.Dict[str, int]: ...
    @property
    def servers(self) -> t.List[str]: ...
    def server_for(self, key: str) -> str: ...
    def down_servers(self) -> t.List[str]: ...
    def __reduce__(self) -> t.Tuple[t.Any, t.Tuple[t.List[str]]]: ...
