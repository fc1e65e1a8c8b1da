import errno
import os
import stat
import tempfile
import typing as t
from io import BytesIO

from ._base import BytecodeCache
from ._bucket import PLAIN_BUCKETS, Bucket
from ._core import jinja_bccache, native

if t.TYPE_CHECKING:
    from jinja2 import Environment

#: Methods a subclass may override; while none is, the native store does the whole job.
_NATIVE_PATH_METHODS = frozenset(
    {
        "get_cache_key",
        "get_source_checksum",
        "load_bytecode",
        "dump_bytecode",
        "_get_cache_filename",
    }
)


class FileSystemBytecodeCache(BytecodeCache, jinja_bccache.FileSystemBytecodeCache):
    """A bytecode cache that stores bytecode on the filesystem, file for file like Jinja's.

    ``directory`` defaults to ``<tmp>/_jinja2-cache-<uid>`` (created with mode 0700 and refused
    if it is a symlink, someone else's, or not private). ``pattern`` names the entry files; its
    one ``%s`` is replaced by the cache key, and it lets several caches share a directory.

    >>> bcc = FileSystemBytecodeCache('/tmp/jinja_cache', '%s.cache')

    Entries are written to a private temp file and renamed into place, so a reader never sees
    a partial entry. :meth:`clear` removes this pattern's entries only.
    """

    _native_path = True

    def __init__(
        self,
        directory: t.Optional[str] = None,
        pattern: str = "__jinja2_%s.cache",
        *,
        isolate_environments: bool = True,
        fingerprint: t.Union[None, str, t.Callable[["Environment"], str]] = None,
    ) -> None:
        super().__init__(isolate_environments=isolate_environments, fingerprint=fingerprint)
        if directory is None:
            directory = self._get_default_cache_dir()
        self._directory = directory
        self._pattern = pattern
        self._store = self._make_store(directory, pattern)

    @staticmethod
    def _make_store(directory: t.Any, pattern: t.Any) -> t.Any:
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be str, not {type(pattern).__name__}")
        path = os.fspath(directory)
        if not isinstance(path, str):
            raise TypeError(f"directory must be str or os.PathLike[str], not {type(directory).__name__}")
        return native.FsStore(path, pattern)

    @property
    def directory(self) -> str:
        return self._directory

    @directory.setter
    def directory(self, value: str) -> None:
        self._store = self._make_store(value, self._pattern)
        self._directory = value

    @property
    def pattern(self) -> str:
        return self._pattern

    @pattern.setter
    def pattern(self, value: str) -> None:
        self._store = self._make_store(self._directory, value)
        self._pattern = value

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._native_path = all(
            getattr(cls, name) is getattr(FileSystemBytecodeCache, name)
            for name in _NATIVE_PATH_METHODS
        )

    def __setattr__(self, name: str, value: t.Any) -> None:
        # A method replaced on the instance (a mock, a patch) must be called: leave the fast path.
        if name in _NATIVE_PATH_METHODS:
            super().__setattr__("_native_path", False)
        super().__setattr__(name, value)

    def _get_default_cache_dir(self) -> str:
        tmpdir = tempfile.gettempdir()
        if os.name == "nt":
            return tmpdir
        if not hasattr(os, "getuid"):
            _unsafe_dir()
        actual_dir = os.path.join(tmpdir, f"_jinja2-cache-{os.getuid()}")
        try:
            os.mkdir(actual_dir, stat.S_IRWXU)
        except FileExistsError:
            pass
        try:
            # chmod follows symlinks, so the lstat check below is what refuses one.
            os.chmod(actual_dir, stat.S_IRWXU)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
        st = os.lstat(actual_dir)
        if (
            st.st_uid != os.getuid()
            or not stat.S_ISDIR(st.st_mode)
            or stat.S_IMODE(st.st_mode) != stat.S_IRWXU
        ):
            _unsafe_dir()
        return actual_dir

    def _get_cache_filename(self, bucket: jinja_bccache.Bucket) -> str:
        return os.path.join(self.directory, self.pattern % (bucket.key,))

    def get_bucket(
        self,
        environment: "Environment",
        name: str,
        filename: t.Optional[str],
        source: str,
    ) -> Bucket:
        if not self._native_path:
            return super().get_bucket(environment, name, filename, source)
        suffix = self._environment_suffix(environment, name)
        key, checksum, code = self._store.get(name, filename, source, suffix)
        bucket = Bucket(environment, key, checksum)
        bucket.code = code
        return bucket

    def load_bytecode(self, bucket: jinja_bccache.Bucket) -> None:
        if self._native_path and type(bucket).load_bytecode in _PLAIN_LOADERS:
            bucket.code = self._store.load(bucket.key, bucket.checksum)
            return
        data = native.read_entry(self._get_cache_filename(bucket))
        if data is not None:
            bucket.load_bytecode(BytesIO(data))

    def dump_bytecode(self, bucket: jinja_bccache.Bucket) -> None:
        if type(bucket).write_bytecode in _PLAIN_WRITERS:
            if bucket.code is None:
                raise TypeError("can't write empty bucket")
            if self._native_path:
                self._store.dump(bucket.key, bucket.checksum, bucket.code)
                return
            data = native.entry_dump(bucket.checksum, bucket.code)
        else:
            data = bucket.bytecode_to_string()
        native.write_entry(self._get_cache_filename(bucket), data)

    def clear(self) -> None:
        self._store.clear()


_PLAIN_LOADERS = tuple(cls.load_bytecode for cls in PLAIN_BUCKETS)
_PLAIN_WRITERS = tuple(cls.write_bytecode for cls in PLAIN_BUCKETS)


def _unsafe_dir() -> "t.NoReturn":
    raise RuntimeError(
        "Cannot determine safe temp directory.  You need to explicitly provide one."
    )
