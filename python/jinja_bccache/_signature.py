"""The identity signature of an Environment: what it is made of, named by object identity
within this process, so that Environments built alike (an Environment per request or per job,
from one factory) find their fingerprint already computed instead of computing it again.

Two Environments with equal signatures have equal fingerprints: whatever the fingerprint
describes by value is named here by the object that holds it, or by that object's parts when
a factory makes new objects from the same parts per Environment (a closure per Environment,
the sandbox's operator tables, dbt's Undefined class per node). Within one process an object
is assumed not to change once an Environment uses it, except where the memo's revalidation
looks (see _memo.py).

Objects are named by ``id()`` and watched by weak references, never held: the table forgets
a signature as soon as an object it names is freed, before its id can be reused. An object
that can be neither named by value nor watched makes the signature unavailable, and the
fingerprint is then computed for that Environment.
"""

import functools
import types
import typing as t
import weakref

from ._describe import (
    BEHAVIOUR,
    DECLARED,
    LARGE,
    NOT_FACTORY_DATA,
    PLAIN_TYPES,
    is_factory_datum,
    pinned,
)
from ._fingerprint import (
    ENVIRONMENT_ATTRS,
    FILTER_REGISTRIES,
    REGISTRIES,
    Changes,
    removed_defaults,
    settings,
    shared_defaults,
)
from ._native import factory_shape, shallow_names

if t.TYPE_CHECKING:
    from jinja2 import Environment

#: Unbound methods of built-in types (``str.upper`` as a filter) cannot be watched; like the
#: fingerprint, the signature names them.
_NAMED: t.Tuple[type, ...] = (
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.ClassMethodDescriptorType,
)

_UNDEFINED = ENVIRONMENT_ATTRS.index("undefined")

#: What factory_shape tells functions, behaviour and factory data by.
_FACTORY_KINDS: t.Tuple[t.Any, ...] = (types.FunctionType, BEHAVIOUR, NOT_FACTORY_DATA, DECLARED)


class NoShortcut(Exception):
    """An object the signature can neither name by value nor watch."""


class Signature:
    """Builds the signature of an Environment with :meth:`of`; :attr:`watched` are then the
    objects it names by identity."""

    def __init__(self) -> None:
        self.watched: t.List[t.Any] = []
        self._active: t.Set[int] = set()
        self._factory = False

    def ident(self, value: t.Any) -> t.Any:
        kind = type(value)
        if kind in PLAIN_TYPES:
            if kind in (str, bytes) and len(value) > LARGE:
                raise NoShortcut("a large value")  # not copied into the table
            return exact(value)
        composite = self._composites.get(kind)
        if composite is None:
            for base in (str, bytes, int, float, complex):
                if isinstance(value, base):  # Markup, IntEnum...: immutable data of a type
                    return (self.watch(kind), self.ident(t.cast(t.Any, base)(value)))
            if self._factory and isinstance(value, type) and not pinned(value):
                composite = Signature._shape
            else:
                return self.watch(value)
        # Only what is made of other values can refer back to itself (a recursive closure,
        # the __class__ cell of a method using super()).
        if id(value) in self._active:
            return ("cycle",)
        self._active.add(id(value))
        try:
            return composite(self, value)
        finally:
            self._active.discard(id(value))

    def _method(self, value: types.MethodType) -> t.Any:
        return ("method", self.ident(value.__func__), self.ident(value.__self__))

    def _dict(self, value: t.Mapping[t.Any, t.Any]) -> t.Any:
        return ("dict", tuple([(self.ident(k), self.ident(v)) for k, v in value.items()]))

    def _sequence(self, value: t.Sequence[t.Any]) -> t.Any:
        return (type(value).__name__, tuple([self.ident(v) for v in value]))

    def _set(self, value: t.AbstractSet[t.Any]) -> t.Any:
        return (type(value).__name__, frozenset([self.ident(v) for v in value]))

    def _partial(self, value: "functools.partial[t.Any]") -> t.Any:
        return (
            "partial",
            self.ident(value.func),
            self.ident(value.args),
            self.ident(value.keywords),
        )

    def _wrapper(self, value: t.Any) -> t.Any:
        return (type(value).__name__, self.ident(value.__func__))

    def _property(self, value: property) -> t.Any:
        return ("property", self.ident(value.fget), self.ident(value.fset))

    def watch(self, value: t.Any) -> t.Any:
        if type(value).__weakrefoffset__:
            self.watched.append(value)
            return id(value)
        if isinstance(value, _NAMED):
            names = (getattr(value, "__qualname__", None), getattr(value, "__name__", None))
            return ("named", *names)
        raise NoShortcut(type(value).__qualname__)

    def _function(self, fn: types.FunctionType) -> t.Any:
        # A factory makes a new function object per Environment (lambdas, closures) from
        # the same code: identify it by what it is made of.
        return (
            "function",
            fn.__module__,
            fn.__qualname__,
            self.watch(fn.__code__),
            self.ident(fn.__defaults__),
            self.ident(fn.__kwdefaults__),
            tuple(self._cell(cell) for cell in fn.__closure__ or ()),
            self.ident(fn.__dict__) if fn.__dict__ else None,
        )

    def _cell(self, cell: "types.CellType") -> t.Any:
        try:
            value = cell.cell_contents
        except ValueError:
            return ("empty",)
        if self._factory and is_factory_datum(value):
            return ("datum", self.watch(type(value)))  # as the fingerprint: by type only
        return self.ident(value)

    def _shape(self, cls: type) -> t.Any:
        """A class made by a factory, by what it is made of (see _describe.Describer._cell)."""
        members = vars(cls)
        body = tuple(
            (name, self.ident(member))
            for name, member in members.items()
            if isinstance(member, BEHAVIOUR)
        )
        return (
            "shape",
            cls.__module__,
            cls.__qualname__,
            tuple(self.ident(base) for base in cls.__bases__),
            body,
            self.ident(members.get(DECLARED)),
        )

    def of(
        self, env: "Environment", changed: Changes, extended: t.List[str]
    ) -> t.Tuple[t.Any, ...]:
        """The signature, every value named by what it is made of (:meth:`ident`); ``changed``
        and ``extended`` as :func:`_fingerprint.changes` and :func:`_fingerprint.extended_attrs`
        give them (the memo needs them too)."""
        parts, values = self._gathered(env, "deep", changed, None, extended)
        ident = self.ident
        parts.extend([ident(value) for value in values])
        return tuple(parts)

    def shallow(
        self,
        env: "Environment",
        changed: Changes,
        registries: t.Optional[Changes],
        extended: t.List[str],
    ) -> t.Tuple[t.Any, ...]:
        """The signature by identity, of the very objects the Environment holds (but small dicts
        such as the sandbox's operator tables by what they hold): a fraction of what :meth:`of`
        costs, and enough for Environments built from the same objects, named natively in one
        call (:func:`shallow_names`). Tried first; an Environment holding other objects made
        for it (a closure per Environment) needs :meth:`of`.

        Unlike :meth:`of`, it also names the filters and tests besides Jinja's own
        (``registries``, from :func:`_fingerprint.changes`; None when they cannot be listed),
        which the fingerprint leaves out: Environments with equal shallow signatures hold the
        very same ones, and so answer every folding record alike (see _memo.py)."""
        parts, values = self._gathered(env, "shallow", changed, registries, extended)
        if registries is None:
            parts.append("unlisted registries")
        parts.append(shallow_names(values, self.watched))
        return tuple(parts)

    def _gathered(
        self,
        env: "Environment",
        kind: str,
        changed: Changes,
        registries: t.Optional[Changes],
        extended: t.List[str],
    ) -> t.Tuple[t.List[t.Any], t.List[t.Any]]:
        """The one walk of the Environment both signatures make: the signature's parts named
        here already (its ``kind``; a factory-made Undefined class, by what it is made of;
        Jinja's entries a registry lost), and the values left for the caller to name, each
        group after its length so that no two layouts give the same list."""
        state = env.__dict__
        parts: t.List[t.Any] = [kind]
        values = [type(env), shared_defaults(), *settings(env)]
        undefined = values[_UNDEFINED + 2]
        if isinstance(undefined, type) and not pinned(undefined):
            # made per Environment by a factory (dbt's, per node): by what it is made of,
            # natively for a shallow signature where the class is plain functions
            values[_UNDEFINED + 2] = None
            shape = None
            if kind == "shallow":
                shape = factory_shape(undefined, self.watched, _FACTORY_KINDS)
            if shape is None:
                self._factory = True
                try:
                    shape = self.ident(undefined)
                finally:
                    self._factory = False
            parts.append(shape)
        kept = [(attr, state[attr]) for attr in extended if not callable(state[attr])]
        values.append(len(kept))
        for pair in kept:
            values.extend(pair)
        autoescape = env.autoescape
        if callable(autoescape):
            values.append(True)
        else:
            values.extend((False, autoescape))
        groups = list(zip(REGISTRIES, changed))
        if registries is not None:
            groups.extend(zip(FILTER_REGISTRIES, registries))
        for (attr, defaults), pairs in groups:
            # Only what is not Jinja's own entry, in insertion order: building this must stay
            # much cheaper than compute(), and registries are mostly Jinja's defaults.
            values.append(len(pairs))
            for pair in pairs:
                values.extend(pair)
            registry = getattr(env, attr)
            if _lost_defaults(registry, defaults, pairs):
                parts.append((attr, removed_defaults(registry, defaults)))
        extensions = env.extensions
        values.append(len(extensions))
        for ext in extensions.values():
            ext_state = [(k, v) for k, v in vars(ext).items() if k != "environment"]
            values.extend((type(ext), ext.priority, len(ext_state)))
            for pair in ext_state:
                values.extend(pair)
        return parts, values

    _composites: t.Dict[type, t.Callable[["Signature", t.Any], t.Any]] = {
        types.FunctionType: _function,
        types.MethodType: _method,
        dict: _dict,
        types.MappingProxyType: _dict,
        tuple: _sequence,
        list: _sequence,
        set: _set,
        frozenset: _set,
        functools.partial: _partial,
        staticmethod: _wrapper,
        classmethod: _wrapper,
        property: _property,
    }


def exact(value: t.Any) -> t.Any:
    """A plain value as a table key that matches only a value of the same type and content:
    ``1``, ``1.0`` and ``True`` are equal keys of a dict, and so are ``0.0`` and ``-0.0``,
    yet Jinja folds each to other code."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is float:
        return ("float", value.hex())
    if kind is complex:
        return ("complex", value.real.hex(), value.imag.hex())
    return (kind.__name__, value)


def _lost_defaults(
    registry: t.Dict[str, t.Any], defaults: t.Dict[str, t.Any], pairs: t.Any
) -> bool:
    """Whether some of Jinja's entries are gone from ``registry``, whose ``pairs`` (what is not
    Jinja's own entry) :func:`_fingerprint.changes` listed: only then are they named."""
    return len(registry) - len(pairs) != len(defaults)


class SignatureTable:
    """Fingerprints by signature (and, in _memo.py, tables of verdicts by what decides
    them). An entry is dropped as soon as an object its key names by identity is freed, so
    the table keeps nothing alive and never confuses a freed object with a later one at the
    same address."""

    #: Distinct configurations remembered at once; past this the table starts afresh.
    MAX_SIGNATURES = 256

    def __init__(self) -> None:
        self._entries: t.Dict[t.Any, t.Tuple[t.Any, t.List["weakref.ref[t.Any]"]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: t.Any) -> t.Any:
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def put(self, key: t.Any, fingerprint: t.Any, watched: t.List[t.Any]) -> None:
        entries = self._entries
        if len(entries) >= self.MAX_SIGNATURES:
            entries.clear()

        def forget(_: object) -> None:
            entries.pop(key, None)

        entries[key] = (fingerprint, [weakref.ref(obj, forget) for obj in watched])
