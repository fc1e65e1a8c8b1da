import typing as t

from ._bucket import Bucket
from ._core import jinja_bccache, native

if t.TYPE_CHECKING:
    from jinja2 import Environment


class BytecodeCache(jinja_bccache.BytecodeCache):
    """Base class of the bytecode caches, with the API of :class:`jinja2.bccache.BytecodeCache`.

    Subclass it and override :meth:`load_bytecode` and :meth:`dump_bytecode`, exactly as with
    Jinja's class; keys and checksums are Jinja's digests, computed natively.
    """

    def get_cache_key(self, name: str, filename: t.Optional[str] = None) -> str:
        """Returns the unique hash key for this template name."""
        return native.cache_key(name, filename)

    def get_source_checksum(self, source: str) -> str:
        """Returns a checksum for the source."""
        return native.source_checksum(source)

    def get_bucket(
        self,
        environment: "Environment",
        name: str,
        filename: t.Optional[str],
        source: str,
    ) -> Bucket:
        """Return a cache bucket for the given template.  All arguments are
        mandatory but filename may be `None`.
        """
        key = self.get_cache_key(name, filename)
        checksum = self.get_source_checksum(source)
        bucket = Bucket(environment, key, checksum)
        self.load_bytecode(bucket)
        return bucket
