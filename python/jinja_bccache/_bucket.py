import typing as t
from io import BytesIO

from ._startup import native, upstream

if t.TYPE_CHECKING:
    from jinja2 import Environment

BYTES_LIKE = (bytes, bytearray, memoryview)


def code_to_write(bucket: upstream.Bucket) -> t.Any:
    """The bucket's code, or Jinja's TypeError for an empty bucket."""
    if bucket.code is None:
        raise TypeError("can't write empty bucket")
    return bucket.code


class Bucket(upstream.Bucket):
    """The compiled code of one template, with the key and source checksum it is stored under.

    Same attributes and methods as :class:`jinja2.bccache.Bucket`, and the same bytes:
    :meth:`bytecode_to_string` is byte-identical to Jinja's, and each reads what the other
    wrote. Loading never raises on foreign, outdated or damaged material; :attr:`code` is
    left ``None`` and the template is recompiled.
    """

    #: The (name, filename, source) the bucket was handed out for, set by the caches'
    #: get_bucket in case the code stored into it has to be compiled again to be recorded.
    _jinja_bccache_source: t.Tuple[str, t.Optional[str], str]
    #: Set by set_bucket when only this process can use the code: the store counts it.
    _jinja_bccache_local = False

    def __init__(self, environment: "Environment", key: str, checksum: str) -> None:
        self.environment = environment
        self.key = key
        self.checksum = checksum
        self.reset()

    def reset(self) -> None:
        """Resets the bucket (unloads the bytecode)."""
        self.code = None

    def load_bytecode(self, f: t.BinaryIO) -> None:
        """Loads bytecode from a file or file like object."""
        data = f.read()
        # A text-mode file gives str: not an entry, as Jinja's magic check finds.
        if isinstance(data, BYTES_LIKE):
            self.code = native.entry_load(data, self.checksum)
        else:
            self.reset()

    def write_bytecode(self, f: t.IO[bytes]) -> None:
        """Dump the bytecode into the file or file like object passed."""
        f.write(native.entry_dump(self.checksum, code_to_write(self)))

    def bytecode_from_string(self, string: bytes) -> None:
        """Load bytecode from bytes."""
        # Jinja routes this through load_bytecode; a subclass that overrides it, or a patch
        # on the class, is honoured.
        if type(self).load_bytecode not in PLAIN_LOADERS:
            self.load_bytecode(BytesIO(string))
        else:
            self.code = native.entry_load(string, self.checksum)

    def bytecode_to_string(self) -> bytes:
        """Return the bytecode as bytes."""
        if type(self).write_bytecode not in PLAIN_WRITERS:
            out = BytesIO()
            self.write_bytecode(out)
            return out.getvalue()
        return native.entry_dump(self.checksum, code_to_write(self))


#: Load/write methods known to read and write Jinja's plain format, so a cache may hand
#: entries to the native code directly instead of calling them.
PLAIN_LOADERS = (Bucket.load_bytecode, upstream.Bucket.load_bytecode)
PLAIN_WRITERS = (Bucket.write_bytecode, upstream.Bucket.write_bytecode)
