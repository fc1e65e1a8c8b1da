"""The value describer of the environment fingerprint: turns a filter, a test, a policy value, a
class... into nested tuples of plain data that are the same in every process with the same
code and configuration, whatever ``PYTHONHASHSEED``.

Sets and dicts are sorted; functions and classes are identified by module, qualified name and
what their code is made of, never by ``id()``, ``hash()`` or a default ``repr``. What cannot be
described stably is replaced by a stand-in valid in this process only (see :class:`Unstable`),
as narrowly as possible: the rest of the value is still described.
"""

import enum
import functools
import hashlib
import os
import sys
import types
import typing as t
import weakref

#: The protocol by which a filter, test, extension, policy value or any other object tells the
#: fingerprint what it is: a ``str`` attribute, or a method returning one.
DECLARED = "__jinja_bccache_fingerprint__"


def stdlib_modules() -> t.FrozenSet[str]:
    """The standard library's top-level module names (``sys.stdlib_module_names`` from 3.10;
    on 3.9, what is installed where the standard library lives)."""
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return frozenset(names)
    import pkgutil
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    places = [stdlib, os.path.join(stdlib, "lib-dynload")]
    found = {module.name for module in pkgutil.iter_modules(places)}
    return frozenset(found | set(sys.builtin_module_names))


#: Modules whose code is pinned by the Jinja and Python versions already in the fingerprint,
#: so their functions and classes are identified by name alone.
#: This package's own code (FromStringCacheMixin's methods) is pinned by its version, which
#: the fingerprint holds too.
PINNED_ROOTS = stdlib_modules() | {"jinja2", "markupsafe", "builtins", "jinja_bccache"}

#: Stands for values that cannot be described stably: entries then stay in this process.
PROCESS_NONCE = os.urandom(16).hex()

PLAIN: t.Tuple[type, ...] = (type(None), bool, int, float, complex, str, bytes)
PLAIN_TYPES = frozenset(PLAIN)

#: Longer str and bytes values are described by a digest: the fingerprint is hashed in the
#: end anyway, and the repr of a large value costs more than hashing it.
LARGE = 4096

#: Class members that make up a class's behaviour. Plain class data is left out: the settings
#: that matter are read from the Environment itself, and counters or registries kept on a
#: class must not change the fingerprint.
BEHAVIOUR: t.Tuple[type, ...] = (
    types.FunctionType,
    staticmethod,
    classmethod,
    property,
    type,
    functools.singledispatchmethod,
    functools.partialmethod,
)

#: Instances of these standard types have no ``__dict__`` but a stable ``repr``.
_REPR_VALUES = frozenset(
    {
        "builtins:range",
        "datetime:date",
        "datetime:datetime",
        "datetime:time",
        "datetime:timedelta",
        "datetime:timezone",
        "decimal:Decimal",
        "fractions:Fraction",
        "uuid:UUID",
        "pathlib:PurePosixPath",
        "pathlib:PureWindowsPath",
        "pathlib:PosixPath",
        "pathlib:WindowsPath",
    }
)

#: What a closure cell of a factory-made class may hold and still be described by value.
NOT_FACTORY_DATA: t.Tuple[type, ...] = (
    *PLAIN,
    tuple,
    frozenset,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.ModuleType,
    enum.Enum,
)


def _runtime_members(cls: type) -> t.FrozenSet[str]:
    """Methods of an Environment or extension class that run when templates are loaded or
    rendered, never while one compiles: what ``__init__`` sets up is read from the instance
    itself, and describing the rest would tie the key to code that cannot change it."""
    # here, not at the top: importing jinja2.ext costs ~2 ms, which an application that uses
    # no extension would pay at import
    from jinja2 import Environment
    from jinja2.ext import Extension

    if issubclass(cls, Environment):
        return _ENVIRONMENT_RUNTIME
    if issubclass(cls, Extension):
        return frozenset({"__init__", "bind"})
    return frozenset()


_ENVIRONMENT_RUNTIME = frozenset(
    {
        "__init__",
        "overlay",
        "get_template",
        "select_template",
        "get_or_select_template",
        "from_string",
        "_load_template",
        "make_globals",
        "join_path",
        "list_templates",
        "handle_exception",
        "call_filter",
        "call_test",
        "call",
        "call_binop",
        "call_unop",
        "compile_templates",
        "compile_expression",
        "extend",
        "add_extension",
    }
)


def _slot_values(obj: t.Any) -> t.Optional[t.Dict[str, t.Any]]:
    """The state of an instance kept in ``__slots__`` (a frozen dataclass with slots)."""
    names = [
        name
        for klass in type(obj).__mro__
        for name in getattr(klass, "__slots__", ())
        if isinstance(name, str) and name not in ("__dict__", "__weakref__")
    ]
    if not names:
        return None
    state = {}
    for name in names:
        try:
            state[name] = object.__getattribute__(obj, name)
        except AttributeError:  # an unset slot
            continue
    return state


class Unstable(Exception):
    """A value that has no stable description across processes; ``kind`` names its type, so
    that the same kind of value is reported once per process."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def qualname(obj: t.Any) -> str:
    return f"{getattr(obj, '__module__', None)}:{getattr(obj, '__qualname__', None)}"


def pinned(obj: t.Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in PINNED_ROOTS


def is_factory_datum(value: t.Any) -> bool:
    """Whether a value captured by a factory-made class is data that class was given (an
    object such as a dbt node), as opposed to configuration (plain values, functions, classes)."""
    return not isinstance(value, NOT_FACTORY_DATA)


def is_singledispatch(fn: t.Any) -> bool:
    """A ``functools.singledispatch`` function: the code is functools', the behaviour is in
    the implementations registered on it."""
    return isinstance(getattr(fn, "registry", None), types.MappingProxyType) and callable(
        getattr(fn, "dispatch", None)
    )


class Describer:
    """Turns a value into nested tuples of plain data, recursively.

    Besides the description it collects, for the fingerprint's use: the application functions
    it described (whose helpers are followed next, see :mod:`._callgraph`) and the values it
    replaced by a stand-in for this process.
    """

    def __init__(self) -> None:
        self._active: t.Set[int] = set()
        #: (kind, message) of each value described as "this process only"
        self.stand_ins: t.List[t.Tuple[str, str]] = []
        #: application functions described, in the order met
        self.functions: t.List[types.FunctionType] = []
        self._recorded: t.Set[int] = set()
        #: set while describing the Environment's Undefined class: see _cell()
        self.factory_data = False

    def __call__(self, obj: t.Any) -> t.Any:
        kind = type(obj)
        if kind in PLAIN_TYPES and not (kind in (str, bytes) and len(obj) > LARGE):
            return obj
        if id(obj) in self._active:
            return ("cycle", qualname(obj))
        self._active.add(id(obj))
        try:
            return self._describe(obj)
        except Unstable as exc:
            self.stand_ins.append((exc.kind, str(exc)))
            return ("process", PROCESS_NONCE, exc.kind)
        finally:
            self._active.discard(id(obj))

    def _describe(self, obj: t.Any) -> t.Any:
        if type(obj) in weakref.ProxyTypes or isinstance(obj, weakref.ref):
            # A back-reference (Flask's JSON provider holds a proxy to its app): what it
            # points to is the application, whose state does not shape compiled code.
            # type(), not isinstance(): a proxy forwards __class__ to its referent.
            return ("weakref", type(obj).__name__)
        try:
            declared = getattr(obj, DECLARED, None)
        except Exception as exc:  # a proxy outside its context, an odd __getattr__
            raise Unstable(
                f"looking up {DECLARED} on {type(obj).__qualname__} raised {exc!r:.80}",
                qualname(type(obj)),
            ) from None
        # On a class, a declaring *method* is for its instances; the class is described below.
        if declared is not None and not (isinstance(obj, type) and callable(declared)):
            if callable(declared):
                try:
                    declared = declared()
                except Exception as exc:
                    raise Unstable(
                        f"{DECLARED} of a {type(obj).__qualname__} object raised {exc!r:.80}",
                        qualname(type(obj)),
                    ) from None
            if not isinstance(declared, str):
                raise Unstable(
                    f"{DECLARED} of a {type(obj).__qualname__} object is not a str",
                    qualname(type(obj)),
                )
            return ("declared", qualname(type(obj)), declared)
        if isinstance(obj, (str, bytes)):
            return self._data(obj)
        if isinstance(obj, enum.Enum):
            return ("enum", qualname(type(obj)), obj.name)
        if isinstance(obj, (tuple, list)):
            return (type(obj).__name__, tuple(self(v) for v in obj))
        if type(obj) is slice:  # a constant of code since CPython 3.14 (x[1:2] is folded)
            return ("slice", self(obj.start), self(obj.stop), self(obj.step))
        if isinstance(obj, (set, frozenset)):
            return (type(obj).__name__, tuple(sorted((self(v) for v in obj), key=repr)))
        if isinstance(obj, (dict, types.MappingProxyType)):
            items = ((self(k), self(v)) for k, v in obj.items())
            return ("dict", tuple(sorted(items, key=repr)))
        if isinstance(obj, types.CodeType):
            return self._code(obj)
        if isinstance(obj, types.FunctionType):
            return self._function(obj)
        if isinstance(obj, types.MethodType):
            return ("method", self(obj.__func__), self(obj.__self__))
        if isinstance(obj, functools.partial):
            return ("partial", self(obj.func), self(obj.args), self(obj.keywords))
        if isinstance(obj, type):
            return self._class(obj)
        if isinstance(obj, types.ModuleType):
            return ("module", obj.__name__)
        if isinstance(
            obj,
            (
                types.BuiltinFunctionType,
                types.MethodDescriptorType,
                types.WrapperDescriptorType,
                types.MethodWrapperType,
            ),
        ):
            owner = getattr(obj, "__self__", None)
            bound = None if owner is None or isinstance(owner, types.ModuleType) else self(owner)
            return ("builtin", qualname(obj), getattr(obj, "__name__", None), bound)
        if isinstance(obj, (staticmethod, classmethod, property)):
            parts = (obj.__func__,) if not isinstance(obj, property) else (obj.fget, obj.fset)
            return (type(obj).__name__, tuple(self(p) for p in parts))
        return self._instance(obj)

    def _data(self, value: t.Union[str, bytes]) -> t.Any:
        # str subclasses (Markup) keep their type: it changes how values are escaped
        name = qualname(type(value))
        if len(value) <= LARGE:
            return (name, value)
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        return (name, "sha1", len(value), hashlib.sha1(raw).hexdigest())

    def _code(self, code: types.CodeType) -> t.Any:
        # File names and line numbers are left out: moving a function does not change it.
        return (
            "code",
            code.co_code,
            tuple(self(c) for c in code.co_consts),
            code.co_names,
            code.co_varnames,
            code.co_freevars,
            code.co_cellvars,
            code.co_flags,
            code.co_argcount,
            code.co_posonlyargcount,
            code.co_kwonlyargcount,
        )

    def _function(self, fn: types.FunctionType) -> t.Any:
        pass_arg = self(getattr(fn, "jinja_pass_arg", None))
        if is_singledispatch(fn):
            # functools' dispatching code, by name; what runs is the registered implementations
            implementations = fn.registry.items()  # type: ignore[attr-defined]
            registry = sorted(((self(cls), self(impl)) for cls, impl in implementations), key=repr)
            return ("singledispatch", qualname(fn), tuple(registry), pass_arg)
        if pinned(fn):
            return ("function", qualname(fn), pass_arg)
        if id(fn) not in self._recorded:
            self._recorded.add(id(fn))
            self.functions.append(fn)
        return (
            "function",
            qualname(fn),
            self._code(fn.__code__),
            self(fn.__defaults__),
            self(fn.__kwdefaults__),
            tuple(self._cell(cell) for cell in fn.__closure__ or ()),
            pass_arg,
        )

    def _cell(self, cell: "types.CellType") -> t.Any:
        try:
            value = cell.cell_contents
        except ValueError:  # not filled yet (a closure over a name assigned later)
            return ("empty",)
        if self.factory_data and is_factory_datum(value):
            # A class made per call by a factory (dbt's Undefined per node) captures the data
            # it was made for; that data is not configuration: its type is all that counts.
            return ("datum", qualname(type(value)))
        return self(value)

    def _class(self, cls: type) -> t.Any:
        if pinned(cls):
            return ("class", qualname(cls))
        skipped = _runtime_members(cls)
        body = {
            name: value
            for name, value in vars(cls).items()
            if isinstance(value, BEHAVIOUR) and name not in skipped
        }
        return ("class", qualname(cls), tuple(self(b) for b in cls.__bases__), self(body))

    def _instance(self, obj: t.Any) -> t.Any:
        kind = qualname(type(obj))
        if kind in _REPR_VALUES:
            return ("value", kind, repr(obj))
        if kind == "re:Pattern":
            return ("value", kind, self(obj.pattern), obj.flags)
        if obj is Ellipsis or obj is NotImplemented:
            return ("singleton", repr(obj))
        state = getattr(obj, "__dict__", None)
        if state is None:
            state = _slot_values(obj)
        if state is None:
            # no repr(): it can be huge (a request's buffer) or run arbitrary code
            raise Unstable(f"cannot describe a {type(obj).__qualname__} object", kind)
        return ("instance", self(type(obj)), self(state))
