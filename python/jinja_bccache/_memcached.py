import logging
import time
import typing as t

from ._base import BytecodeCache
from ._bucket import PLAIN_LOADERS, PLAIN_WRITERS, sealable_entry
from ._core import jinja_bccache, native

if t.TYPE_CHECKING:
    import typing_extensions as te
    from jinja2 import Environment

    class _MemcachedClient(te.Protocol):
        def get(self, key: str) -> bytes: ...

        def set(self, key: str, value: bytes, timeout: t.Optional[int] = None) -> None: ...


logger = logging.getLogger("jinja_bccache.memcached")

_BYTES_LIKE = (bytes, bytearray, memoryview)


class _RateLimitedLog:
    """Logs a swallowed client error at most once per ``interval`` seconds per operation,
    so a dead server does not write one line per render."""

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = interval
        self._last: t.Dict[str, float] = {}

    def __call__(self, operation: str, key: str, exc: BaseException) -> None:
        now = time.monotonic()
        last = self._last.get(operation)
        if last is not None and now - last < self.interval:
            return
        self._last[operation] = now
        logger.warning("memcached %s of %r failed, ignored: %r", operation, key, exc)


class MemcachedBytecodeCache(BytecodeCache, jinja_bccache.MemcachedBytecodeCache):
    """A bytecode cache over any memcached client with ``get(key)`` and
    ``set(key, value[, timeout])``, storing the same keys and bytes as Jinja's.

    ``timeout`` is passed to ``set`` only when it is not ``None``. Client errors are
    swallowed (and logged, rate-limited) unless ``ignore_memcache_errors`` is false, in which
    case the client's own exception propagates. :meth:`clear` does nothing, as in Jinja.
    """

    def __init__(
        self,
        client: "_MemcachedClient",
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
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self.ignore_memcache_errors = ignore_memcache_errors
        self._log_error = _RateLimitedLog()

    def load_bytecode(self, bucket: jinja_bccache.Bucket) -> None:
        key = self.prefix + bucket.key
        try:
            value = self.client.get(key)
        except Exception as exc:
            if not self.ignore_memcache_errors:
                raise
            self._log_error("get", key, exc)
            return
        if value is None:
            bucket.reset()
            return
        if not isinstance(value, _BYTES_LIKE):
            # A client that decodes values to str cannot hold bytecode: a miss, not a crash.
            self._log_error("get", key, TypeError(f"client returned {type(value).__name__}"))
            bucket.reset()
            return
        value = bytes(value)
        # Entries without a trailer are stock Jinja's: accepted only while sharing its keys.
        accept_plain = not self.isolate_environments
        if type(bucket).load_bytecode in PLAIN_LOADERS:
            bucket.code = native.load_sealed(
                value, bucket.key, bucket.checksum, self.secret, accept_plain, key
            )
            return
        body = native.unseal(value, bucket.key, self.secret, accept_plain, key)
        if body is None:
            bucket.reset()
        else:
            bucket.bytecode_from_string(body)

    def dump_bytecode(self, bucket: jinja_bccache.Bucket) -> None:
        key = self.prefix + bucket.key
        if type(bucket).write_bytecode in PLAIN_WRITERS and bucket.code is not None:
            value = native.dump_sealed(bucket.checksum, bucket.code, bucket.key, self.secret)
        else:
            value = native.seal(sealable_entry(bucket), bucket.key, self.secret)
        try:
            if self.timeout is not None:
                self.client.set(key, value, self.timeout)
            else:
                self.client.set(key, value)
        except Exception as exc:
            if not self.ignore_memcache_errors:
                raise
            self._log_error("set", key, exc)
