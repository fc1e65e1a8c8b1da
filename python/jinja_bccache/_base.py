import typing as t

from ._bucket import BYTES_LIKE, Bucket
from ._isolation import Entry, entry_of, isolation, prepare, select, settled
from ._startup import native, upstream

if t.TYPE_CHECKING:
    from jinja2 import Environment


class BytecodeCache(upstream.BytecodeCache):
    """Base class of the bytecode caches, with the API of :class:`jinja2.bccache.BytecodeCache`.

    Subclass it and override :meth:`load_bytecode` and :meth:`dump_bytecode`, exactly as with
    Jinja's class; keys and checksums are Jinja's digests, computed natively.

    With ``isolate_environments`` (the default), :meth:`get_bucket` combines Jinja's key with a
    fingerprint of the Environment, so Environments configured differently (sandboxed or not,
    autoescaping or not, other filters, another Jinja version...) never load each other's code.
    ``fingerprint`` replaces the computed fingerprint: a ``str``, or a callable taking the
    Environment and returning one.

    ``secret`` (bytes) makes the project's caches sign every entry with HMAC-SHA256 and refuse
    entries without a valid signature: what makes a cache others can write to safe to use.

    Subclasses that define their own ``__init__`` get the defaults from the class attributes.
    """

    isolate_environments: bool = True
    fingerprint: t.Union[None, str, t.Callable[["Environment"], str]] = None
    secret: t.Optional[bytes] = None

    def __init__(
        self,
        *,
        isolate_environments: bool = True,
        fingerprint: t.Union[None, str, t.Callable[["Environment"], str]] = None,
        secret: t.Optional[bytes] = None,
    ) -> None:
        self.isolate_environments = isolate_environments
        self.fingerprint = fingerprint
        self.secret = check_secret(secret)

    def _isolation(
        self, environment: t.Optional["Environment"], name: t.Optional[str]
    ) -> t.Tuple[t.Optional[str], t.Optional[Entry]]:
        """What is mixed into the key for this Environment (None for Jinja's exact key), and
        the Environment's memo entry when its entries carry folding records (the fingerprint
        is computed, not given: a given one promises that its Environments compile alike)."""
        if not self.isolate_environments or environment is None:
            return None, None
        fingerprint = self.fingerprint
        if fingerprint is None:
            return isolation(environment, name)
        if callable(fingerprint):
            fingerprint = fingerprint(environment)
        if not isinstance(fingerprint, str):
            raise TypeError(f"fingerprint must be a str, not {type(fingerprint).__name__}")
        return fingerprint, None

    def _select(
        self, bucket: Bucket, entry: Entry, template: t.Tuple[str, t.Optional[str], str]
    ) -> Bucket:
        """The variant of the loaded entry that the bucket's Environment compiles alike, when
        the code loaded is not :func:`settled` (the caller checks that first, and otherwise
        keeps the ``template``, its name, filename and source, on the bucket itself, in case
        other code is stored into it: see ``_variants._recompile``)."""
        return select(bucket.environment, entry, bucket, self._next_variant, template)  # type: ignore[no-any-return]

    def _next_variant(self, previous: Bucket, answers: str) -> Bucket:
        key = native.cache_key(previous.key, "variant:" + answers)
        variant = Bucket(previous.environment, key, previous.checksum)
        self.load_bytecode(variant)
        return variant

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
        return self._get_bucket(environment, name, filename, source, None)

    def _get_bucket(
        self,
        environment: "Environment",
        name: str,
        filename: t.Optional[str],
        source: str,
        checksum: t.Optional[str],
    ) -> Bucket:
        """:meth:`get_bucket`, given the source's ``checksum`` when the caller computed it
        already with :meth:`get_source_checksum` (a template from a string is named by it),
        so that it is not computed twice."""
        key = self.get_cache_key(name, filename)
        suffix, entry = self._isolation(environment, name)
        if suffix is not None:
            key = native.cache_key(key, suffix)
        if checksum is None:
            checksum = self.get_source_checksum(source)
        bucket = Bucket(environment, key, checksum)
        self.load_bytecode(bucket)
        if entry is not None:
            if settled(entry, bucket.code):  # the source is kept as _select explains
                bucket._jinja_bccache_source = (name, filename, source)
            else:
                bucket = self._select(bucket, entry, (name, filename, source))
        return bucket

    def set_bucket(self, bucket: upstream.Bucket) -> None:
        """Put the bucket into the cache."""
        environment = getattr(bucket, "environment", None)
        if self.isolate_environments and self.fingerprint is None and environment is not None:
            store, local = prepare(bucket, entry_of(environment))
            if not store:
                return
            if local:  # for stats(): the store counts it once it holds the entry
                bucket._jinja_bccache_local = True  # type: ignore[attr-defined]
        self.dump_bytecode(bucket)


_Built = t.TypeVar("_Built")


class _BuiltAtFirstUse(t.Generic[_Built]):
    """A subclass's own ``__init__`` may set Jinja's attributes without calling ours (legal
    with Jinja, which reads them when used): its store is then built at its first use, from
    what the instance holds by then. Once built it is in the instance's
    ``__dict__``, which this descriptor (not a data descriptor) leaves to be read directly;
    it costs no more than that, unlike a ``__getattr__``, which slows every attribute."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @t.overload
    def __get__(
        self, instance: None, owner: t.Optional[type] = None
    ) -> "_BuiltAtFirstUse[_Built]": ...
    @t.overload
    def __get__(self, instance: object, owner: t.Optional[type] = None) -> _Built: ...
    def __get__(self, instance: t.Any, owner: t.Optional[type] = None) -> t.Any:
        if instance is None:
            return self
        instance._init_store()
        return instance.__dict__[self.name]


class StoreBackedCache(BytecodeCache):
    """The caches whose native store (``FsStore``, ``McStore``) is built from some of their
    attributes (``_STORE_SETTINGS``) and answers the whole hit path of :meth:`get_bucket` in
    one call while nothing it would bypass is replaced. The store counts what it does, for
    :meth:`stats`.

    Assigning a setting rebuilds the store, validating the new value first so that a bad
    assignment leaves the cache as it was; pickling and copying leave the native parts out
    and rebuild them from the settings (stats restart at zero)."""

    _STORE_SETTINGS: t.ClassVar[t.FrozenSet[str]] = frozenset()
    #: Methods a subclass or a patch may replace; while none is, the native store does the job.
    _NATIVE_PATH_METHODS: t.ClassVar[t.FrozenSet[str]] = frozenset(
        {"get_cache_key", "get_source_checksum", "load_bytecode", "dump_bytecode"}
    )
    #: Whether a method of _NATIVE_PATH_METHODS is replaced on the instance (a mock, a patch).
    _patched = False
    #: The native store, set by _init_store.
    _store: "_BuiltAtFirstUse[t.Any]" = _BuiltAtFirstUse()

    @staticmethod
    def _build_store(settings: t.Mapping[str, t.Any], previous: t.Any) -> t.Any:
        """The store for ``settings``, replacing ``previous`` (None at first), whose counters
        it carries on."""
        raise NotImplementedError

    #: The backend's own load_bytecode, which the store's ``get`` stands for.
    _native_load: t.ClassVar[t.Callable[..., None]]
    #: Whether something else the store's ``get`` stands for is replaced on the class, for
    #: a backend that has more (None: nothing more). Identity checks, as each hit makes them.
    _moved: t.ClassVar[t.Optional[t.Callable[[type], bool]]] = None

    def _get_bucket(
        self,
        environment: "Environment",
        name: str,
        filename: t.Optional[str],
        source: str,
        checksum: t.Optional[str],
    ) -> Bucket:
        # Looked up at every call, so a patch made at any time is honoured: identity checks.
        cls = type(self)
        if (
            self._patched
            or cls.load_bytecode is not cls._native_load
            or cls.get_cache_key is not GET_CACHE_KEY
            or cls.get_source_checksum is not GET_SOURCE_CHECKSUM
            or Bucket.load_bytecode is not BUCKET_LOAD_BYTECODE
        ):
            return super()._get_bucket(environment, name, filename, source, checksum)
        moved = cls._moved
        if moved is not None and moved(cls):
            return super()._get_bucket(environment, name, filename, source, checksum)
        suffix: t.Optional[str]
        entry: t.Optional[Entry]
        if self.fingerprint is None and self.isolate_environments and environment is not None:
            suffix, entry = isolation(environment, name)  # _isolation's common case, inline
        else:
            suffix, entry = self._isolation(environment, name)
        # The store reads from the cache what Jinja reads per call (a client, a prefix).
        if entry is None:
            found = self._store.get(self, name, filename, source, suffix, None, checksum)
            key, checksum, code, _ = found
        else:
            # (the store checks whether the code is settled: _variants.settled, natively)
            found = self._store.get(self, name, filename, source, suffix, entry[3], checksum)
            key, checksum, code, known = found
        bucket = Bucket(environment, key, checksum)
        bucket.code = code
        if entry is not None:
            if known:  # the common case, inline; the source is kept as _select explains
                bucket._jinja_bccache_source = (name, filename, source)
            else:
                bucket = self._select(bucket, entry, (name, filename, source))
        return bucket

    def _settings(self, **changed: t.Any) -> t.Dict[str, t.Any]:
        # getattr, not __dict__: a subclass may leave a setting at its class default. What
        # `changed` gives is not read at all (a property may not be able to answer now).
        unread = self._STORE_SETTINGS - changed.keys()
        return {**{name: getattr(self, name, None) for name in unread}, **changed}

    def _init_store(self) -> None:
        self.__dict__["_store"] = self._build_store(self._settings(), None)

    def __setattr__(self, name: str, value: t.Any) -> None:
        if name in self._STORE_SETTINGS and "_store" in self.__dict__:
            if name == "secret":
                value = check_secret(value)
            store = self._build_store(self._settings(**{name: value}), self.__dict__["_store"])
            super().__setattr__("_store", store)
        super().__setattr__(name, value)
        if name in self._NATIVE_PATH_METHODS:
            self._note_patches()

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        if name in self._NATIVE_PATH_METHODS:
            self._note_patches()

    def _note_patches(self) -> None:
        # A method replaced on the instance must be called: leave the fast path while one is.
        patched = not self._NATIVE_PATH_METHODS.isdisjoint(self.__dict__)
        object.__setattr__(self, "_patched", patched)

    def __getstate__(self) -> t.Dict[str, t.Any]:
        state = self.__dict__.copy()
        del state["_store"]
        return state

    def __setstate__(self, state: t.Dict[str, t.Any]) -> None:
        self.__dict__.update(state)
        self._init_store()


GET_CACHE_KEY = BytecodeCache.get_cache_key
GET_SOURCE_CHECKSUM = BytecodeCache.get_source_checksum
BUCKET_LOAD_BYTECODE = Bucket.load_bytecode


def accepts_plain(settings: t.Mapping[str, t.Any]) -> bool:
    """Whether a store reads entries without a trailer: those are stock Jinja's, accepted only
    while the cache shares Jinja's keys."""
    return not settings["isolate_environments"]


def check_secret(secret: t.Optional[bytes]) -> t.Optional[bytes]:
    """The signing secret as bytes, or a clear error."""
    if secret is None:
        return None
    if not isinstance(secret, BYTES_LIKE):
        raise TypeError(f"secret must be bytes, not {type(secret).__name__}")
    secret = bytes(secret)
    if not secret:
        raise ValueError("secret must not be empty")
    return secret
