import typing as t

from ._base import StoreBackedCache, accepts_plain
from ._bucket import PLAIN_LOADERS, PLAIN_WRITERS
from ._native import MemcachedClient, MemcachedError
from ._startup import native, upstream

if t.TYPE_CHECKING:
    import typing_extensions as te
    from jinja2 import Environment

    class _MemcachedClient(te.Protocol):
        def get(self, key: str) -> t.Optional[bytes]: ...

        def set(self, key: str, value: bytes, timeout: t.Optional[int] = None) -> None: ...


__all__ = ["MemcachedBytecodeCache", "MemcachedClient", "MemcachedError"]


class MemcachedBytecodeCache(StoreBackedCache, upstream.MemcachedBytecodeCache):
    """A bytecode cache over any memcached client with ``get(key)`` and
    ``set(key, value[, timeout])``, storing the same keys and bytes as Jinja's.

    ``timeout`` is passed to ``set`` only when it is not ``None``. Client errors are
    swallowed (and logged, rate-limited) unless ``ignore_memcache_errors`` is false, in which
    case the client's own exception propagates. :meth:`clear` does nothing, as in Jinja.

    With a :class:`MemcachedClient`, the prefix is checked when it is set (a key made of it
    and a cache key must be a valid memcached key: ``ValueError`` otherwise), and so is the
    timeout (seconds as ``int`` or ``float``, or ``None``); entries are fetched, verified and
    unmarshalled in one native call, and errors it does not swallow are
    :class:`MemcachedError`.
    """

    #: What the native store is built from (see StoreBackedCache).
    _STORE_SETTINGS = frozenset(
        {"client", "prefix", "timeout", "ignore_memcache_errors", "secret", "isolate_environments"}
    )

    @staticmethod
    def _build_store(settings: t.Mapping[str, t.Any], previous: t.Any) -> t.Any:
        return _make_store(settings, previous)

    def __init__(
        self,
        client: t.Union["_MemcachedClient", MemcachedClient],
        prefix: str = "jinja2/bytecode/",
        timeout: t.Optional[int] = None,
        ignore_memcache_errors: bool = True,
        *,
        isolate_environments: bool = True,
        fingerprint: t.Union[None, str, t.Callable[["Environment"], str]] = None,
        secret: t.Optional[bytes] = None,
    ):
        super().__init__(
            isolate_environments=isolate_environments, fingerprint=fingerprint, secret=secret
        )
        # Jinja types ``client`` with a protocol whose ``get`` returns bytes; every real client
        # (this one included) returns None on a miss, which Jinja's own code expects.
        self.client = client  # type: ignore[assignment]
        self.prefix = prefix
        self.timeout = timeout
        self.ignore_memcache_errors = ignore_memcache_errors
        self._init_store()

    def load_bytecode(self, bucket: upstream.Bucket) -> None:
        key = self.prefix + bucket.key
        if type(bucket).load_bytecode in PLAIN_LOADERS:
            self._store.load(self.client, key, bucket)
        else:
            # A miss or a refused entry is handed on as None (read as empty), as Jinja hands
            # a miss on: a bucket whose load_bytecode is replaced sees both calls Jinja makes.
            self._store.load_body(self.client, key, bucket)

    def dump_bytecode(self, bucket: upstream.Bucket) -> None:
        key = self.prefix + bucket.key
        if type(bucket).write_bytecode in PLAIN_WRITERS:
            self._store.dump(self.client, key, bucket, self.timeout)
        else:
            entry = bucket.bytecode_to_string()
            self._store.dump_body(self.client, key, bucket, entry, self.timeout)

    def stats(self) -> t.Dict[str, int]:
        """What this cache object has done since it was created: ``hits`` (of which
        ``memory_hits`` came from the in-process layer), ``misses``, ``rejected`` (damaged,
        unsigned or forged entries, also counted as misses), ``writes``, ``errors`` (client
        failures, swallowed or not), ``bytes_read``, ``bytes_written``, and ``process_local``:
        entries written that only this process can use (see docs/isolation.md). An entry that
        has variants counts a read of each variant looked at. A :class:`MemcachedClient` has
        its own, per server: ``client.stats()``."""
        return self._store.stats()  # type: ignore[no-any-return]


MemcachedBytecodeCache._native_load = MemcachedBytecodeCache.load_bytecode


def _make_store(settings: t.Mapping[str, t.Any], previous: t.Any) -> t.Any:
    """The native store for these settings; TypeError / ValueError for a prefix or timeout
    the native client could never send."""
    return native.McStore(
        {
            "client": settings["client"],
            "prefix": settings["prefix"],
            "timeout": settings["timeout"],
            "raise_errors": not settings["ignore_memcache_errors"],
            "secret": settings["secret"],
            "accept_plain": accepts_plain(settings),
        },
        previous,
    )
