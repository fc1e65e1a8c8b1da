import math
import typing as t

from ._base import BytecodeCache, NativeStore
from ._bucket import BYTES_LIKE, PLAIN_LOADERS, PLAIN_WRITERS, sealable_entry
from ._core import native, upstream
from ._native import MemcachedClient, MemcachedError

if t.TYPE_CHECKING:
    import typing_extensions as te
    from jinja2 import Environment

    class _MemcachedClient(te.Protocol):
        def get(self, key: str) -> t.Optional[bytes]: ...

        def set(self, key: str, value: bytes, timeout: t.Optional[int] = None) -> None: ...


__all__ = ["MemcachedBytecodeCache", "MemcachedClient", "MemcachedError"]

#: Length of the keys ``get_bucket`` computes (hex SHA-1), which follow the prefix.
_KEY_LENGTH = 40


class MemcachedBytecodeCache(NativeStore, BytecodeCache, upstream.MemcachedBytecodeCache):
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

    #: What the native store is built from (see NativeStore).
    _STORE_SETTINGS = frozenset(
        {"client", "prefix", "timeout", "ignore_memcache_errors", "secret", "isolate_environments"}
    )

    @staticmethod
    def _build_store(settings: t.Mapping[str, t.Any], counters: t.Any) -> t.Any:
        return _make_store(settings, counters)

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
        client: t.Any = self.client  # see __init__: Jinja's protocol does not admit ours
        store = self._store
        plain = type(bucket).load_bytecode in PLAIN_LOADERS
        if type(client) is MemcachedClient and plain:
            answered, code = store.load_native(client, key, bucket.key, bucket.checksum)
            # After a swallowed failure the bucket is left alone, as with any client.
            if answered:
                bucket.code = code
            return
        try:
            value = client.get(key)
        except Exception as exc:
            self._counters.add("errors")
            self._counters.add("misses")
            if not self.ignore_memcache_errors:
                raise
            store.swallowed("get", key, repr(exc))
            return
        if value is not None and not isinstance(value, BYTES_LIKE):
            # A client that decodes values to str cannot hold bytecode: a miss, not a crash.
            store.swallowed("get", key, f"the client returned {type(value).__name__}")
            value = None
        value = None if value is None else bytes(value)
        if plain:
            bucket.code = store.decode(value, bucket.key, bucket.checksum, key)
            return
        body = None if value is None else store.unseal(value, bucket.key, key)
        # A miss or a refused entry is handed on as None (read as empty), as Jinja hands a
        # miss on: a bucket whose load_bytecode is replaced sees both calls Jinja makes.
        bucket.bytecode_from_string(body)  # type: ignore[arg-type]
        self._counters.add("hits" if bucket.code is not None else "misses")

    def dump_bytecode(self, bucket: upstream.Bucket) -> None:
        key = self.prefix + bucket.key
        client: t.Any = self.client  # see __init__: Jinja's protocol does not admit ours
        store = self._store
        plain = type(bucket).write_bytecode in PLAIN_WRITERS and bucket.code is not None
        if type(client) is MemcachedClient and plain:
            store.dump_native(client, key, bucket)
            return
        if plain:
            value = store.encode(bucket.key, bucket.checksum, bucket.code)
        else:
            value = store.seal(sealable_entry(bucket), bucket.key)
        try:
            if self.timeout is not None:
                answer = client.set(key, value, self.timeout)
            else:
                answer = client.set(key, value)
        except Exception as exc:
            self._counters.add("errors")
            if not self.ignore_memcache_errors:
                raise
            store.swallowed("set", key, repr(exc))
        else:
            # Clients that say (pymemcache, redis-py, this package's) answer False for a value
            # they did not store; Django's caches answer None. Count only what was stored.
            if answer is not False:
                store.stored(len(value))

    def stats(self) -> t.Dict[str, int]:
        """What this cache object has done since it was created: ``hits`` (of which
        ``memory_hits`` came from the in-process layer), ``misses``, ``rejected`` (damaged,
        unsigned or forged entries, also counted as misses), ``writes``, ``errors`` (client
        failures, swallowed or not), ``bytes_read``, ``bytes_written``, and ``process_local``:
        entries written that only this process can use (see docs/isolation.md). An entry that
        has variants counts a read of each variant looked at. A :class:`MemcachedClient` has
        its own, per server: ``client.stats()``."""
        return self._counters.snapshot()


#: Longest TTL the native client sends (memcached's are 32-bit; longer ones are absolute times).
_MAX_TTL = 2**31 - 1


def _make_store(settings: t.Mapping[str, t.Any], counters: t.Any) -> t.Any:
    """The native store for these settings, or TypeError / ValueError for a value that could
    never work, so that it is reported here and never out of ``get_template``."""
    client = settings["client"]
    prefix = settings["prefix"]
    scope = None
    ttl = 0
    if type(client) is MemcachedClient:
        _check_prefix(prefix)
        ttl = native_ttl(settings["timeout"])
        # Clients over the same servers are one store; Python clients (which cannot tell the
        # layer whether an item changed) stay out of the in-process layer.
        scope = "\0".join(sorted(client.servers)) + "\0\0" + prefix
    return native.McStore(
        {
            "scope": scope,
            "secret": settings["secret"],
            # Entries without a trailer are stock Jinja's: accepted only while sharing its keys.
            "accept_plain": not settings["isolate_environments"],
            "raise_errors": not settings["ignore_memcache_errors"],
            "ttl": ttl,
        },
        counters,
    )


def native_ttl(timeout: t.Any) -> int:
    """What :class:`MemcachedClient` sends for a cache's ``timeout``: whole seconds, rounded up
    (0.5 must not become 0, which means "never expires"); ``None`` is no expiry."""
    if timeout is None:
        return 0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not 0 <= timeout <= _MAX_TTL:  # also refuses nan
        raise ValueError(f"timeout must be between 0 and {_MAX_TTL} seconds, not {timeout!r}")
    return math.ceil(timeout)


def _check_prefix(prefix: t.Any) -> None:
    """A prefix that cannot start a memcached key would make every get and set fail: refuse
    it when the cache is configured, not at the first render."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be str, not {type(prefix).__name__}")
    try:
        native.check_memcached_key(prefix + "0" * _KEY_LENGTH)
    except ValueError as exc:
        raise ValueError(f"prefix {prefix!r} cannot start a memcached key: {exc}") from None
