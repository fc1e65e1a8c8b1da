import errno
import os
import stat
import tempfile
import typing as t

from ._base import StoreBackedCache, accepts_plain
from ._bucket import PLAIN_LOADERS, PLAIN_WRITERS
from ._startup import native, upstream

if t.TYPE_CHECKING:
    from jinja2 import Environment


class _PerInstance(str):
    """The class-level value of Jinja's ``directory`` and ``pattern``, which instances set: a
    subclass that answers them per call instead (a property) replaces it, which one identity
    check per call sees. A ``str``, as the attributes are typed; only its identity counts."""


_PER_INSTANCE = _PerInstance("<set per instance>")

#: Jinja's default entry file name pattern.
DEFAULT_PATTERN = "__jinja2_%s.cache"


class FileSystemBytecodeCache(StoreBackedCache, upstream.FileSystemBytecodeCache):
    """A bytecode cache that stores bytecode on the filesystem, file for file like Jinja's.

    ``directory`` defaults to ``<tmp>/_jinja2-cache-<uid>`` (created with mode 0700 and refused
    if it is a symlink, someone else's, or not private). ``pattern`` names the entry files; its
    one ``%s`` is replaced by the cache key, and it lets several caches share a directory.

    >>> bcc = FileSystemBytecodeCache('/tmp/jinja_cache', '%s.cache')

    Entries are written to a private temp file and renamed into place, so a reader never sees
    a partial entry. :meth:`clear` removes this pattern's entries only.
    """

    #: What the native store is built from (see StoreBackedCache).
    _STORE_SETTINGS = frozenset({"directory", "pattern", "secret", "isolate_environments"})
    _NATIVE_PATH_METHODS = StoreBackedCache._NATIVE_PATH_METHODS | {"_get_cache_filename"}
    directory: str = _PER_INSTANCE
    pattern: str = _PER_INSTANCE

    @staticmethod
    def _build_store(settings: t.Mapping[str, t.Any], previous: t.Any) -> t.Any:
        return _make_store(settings, previous)

    def __init__(
        self,
        directory: t.Optional[str] = None,
        pattern: str = DEFAULT_PATTERN,
        *,
        isolate_environments: bool = True,
        fingerprint: t.Union[None, str, t.Callable[["Environment"], str]] = None,
        secret: t.Optional[bytes] = None,
    ) -> None:
        super().__init__(
            isolate_environments=isolate_environments, fingerprint=fingerprint, secret=secret
        )
        if directory is None:
            directory = self._get_default_cache_dir()
        self.directory = directory
        self.pattern = pattern
        self._init_store()

    def _native_filenames(self) -> bool:
        """Whether entry files are named natively: ``_get_cache_filename`` is this class's and
        ``directory`` and ``pattern`` are the instance's. Looked up at every call, so a patch
        on the class made at any time is honoured."""
        return not self._patched and not _names_moved(type(self))

    def _settings(self, **changed: t.Any) -> t.Dict[str, t.Any]:
        if _answered_per_call(type(self)):
            # Named per call through _get_cache_filename, as Jinja does; this store only
            # checks and seals entries, and clear and prune build one for the current values.
            changed = {"directory": os.curdir, "pattern": "%s", **changed}
        return super()._settings(**changed)

    def _store_now(self) -> t.Any:
        """The store over the directory and pattern as they are answered now."""
        if not _answered_per_call(type(self)):
            return self._store
        current = {"directory": self.directory, "pattern": self.pattern}
        return self._build_store(StoreBackedCache._settings(self, **current), self._store)

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

    def _get_cache_filename(self, bucket: upstream.Bucket) -> str:
        return os.path.join(self.directory, self.pattern % (bucket.key,))

    def load_bytecode(self, bucket: upstream.Bucket) -> None:
        if type(bucket).load_bytecode in PLAIN_LOADERS and self._native_filenames():
            self._store.load(bucket)
        else:
            self._store.load_path(bucket, self._get_cache_filename(bucket))

    def dump_bytecode(self, bucket: upstream.Bucket) -> None:
        if type(bucket).write_bytecode in PLAIN_WRITERS and self._native_filenames():
            self._store.dump(bucket)
        else:
            path = self._get_cache_filename(bucket)
            self._store.write_path(bucket, path, bucket.bytecode_to_string())

    def clear(self) -> None:
        self._store_now().clear()

    def entries(self) -> t.List[t.Tuple[int, float]]:
        """This pattern's entries as ``(size in bytes, last access as a Unix time)``: what
        :meth:`prune` judges them by."""
        return self._store_now().entries()  # type: ignore[no-any-return]

    def prune(
        self,
        max_age: t.Optional[float] = None,
        max_entries: t.Optional[int] = None,
        max_bytes: t.Optional[int] = None,
    ) -> t.Tuple[int, int]:
        """Remove this pattern's least recently used entries until none is older than
        ``max_age`` seconds and at most ``max_entries`` entries and ``max_bytes`` bytes remain.
        Returns ``(entries removed, bytes freed)``.

        Recency is the entry's access time, which hits refresh (at most one ``futimens`` per
        entry per hour, so ``noatime``/``relatime`` mounts do not matter). Entries left behind
        by old configurations or Jinja versions are never hit again and age out.
        """
        return self._store_now().prune(max_age, max_entries, max_bytes)  # type: ignore[no-any-return]

    def stats(self) -> t.Dict[str, int]:
        """What this cache object has done since it was created: ``hits`` (of which
        ``memory_hits`` came from the in-process layer), ``misses``, ``rejected`` (damaged,
        unsigned or forged entries, also counted as misses), ``writes``, ``errors``,
        ``bytes_read``, ``bytes_written``, and ``process_local``: entries written that only this
        process can use (see docs/isolation.md). An entry that has variants counts a read of
        each variant looked at."""
        return self._store.stats()  # type: ignore[no-any-return]


_GET_CACHE_FILENAME = FileSystemBytecodeCache._get_cache_filename
FileSystemBytecodeCache._native_load = FileSystemBytecodeCache.load_bytecode


def _names_moved(cls: t.Any) -> bool:
    """Whether entry files are named otherwise than natively, from the directory and pattern
    the instance holds (_answered_per_call, inline: this is every filesystem hit)."""
    return (
        cls._get_cache_filename is not _GET_CACHE_FILENAME
        or cls.directory is not _PER_INSTANCE
        or cls.pattern is not _PER_INSTANCE
    )


FileSystemBytecodeCache._moved = staticmethod(_names_moved)


def _answered_per_call(cls: type) -> bool:
    """Whether a subclass answers ``directory`` or ``pattern`` itself (a property)."""
    return cls.directory is not _PER_INSTANCE or cls.pattern is not _PER_INSTANCE  # type: ignore[attr-defined]


def _make_store(settings: t.Mapping[str, t.Any], previous: t.Any) -> t.Any:
    directory, pattern = settings["directory"], settings["pattern"]
    for name, value in settings.items():
        if value is _PER_INSTANCE:  # a subclass's __init__ that never set it, as Jinja says
            raise AttributeError(f"the cache has no attribute {name!r}")
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be str, not {type(pattern).__name__}")
    path = os.fspath(directory)
    if not isinstance(path, str):
        raise TypeError(
            f"directory must be str or os.PathLike[str], not {type(directory).__name__}"
        )
    return native.FsStore(
        {
            "directory": path,
            "pattern": pattern,
            "secret": settings["secret"],
            "accept_plain": accepts_plain(settings),
        },
        previous,
    )


def _unsafe_dir() -> "t.NoReturn":
    raise RuntimeError(
        "Cannot determine safe temp directory.  You need to explicitly provide one."
    )
