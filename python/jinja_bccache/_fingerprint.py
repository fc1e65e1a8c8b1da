"""The environment fingerprint: a digest of everything that changes the code an Environment
compiles, so that one cache shared by differently configured Environments (or Jinja
versions) never serves code compiled for another.

What goes in, and why, is listed in ``docs/isolation.md``. The digest must be identical in
every process with the same configuration, whatever ``PYTHONHASHSEED``: values are spelled
with ``repr`` of plain data only, sets and dicts are sorted, and functions and classes are
identified by module, qualified name and a digest of their code, never by ``id()``, ``hash()``
or a default ``repr``.
"""

import enum
import functools
import hashlib
import itertools
import os
import sys
import types
import typing as t
import warnings
import weakref

import jinja2
from jinja2.defaults import DEFAULT_POLICIES
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.tests import TESTS as DEFAULT_TESTS

from ._native import registry_changes

if t.TYPE_CHECKING:
    from jinja2 import Environment

#: Bumped when what the fingerprint covers changes, so old entries are not served.
SCHEME = "jinja-bccache-fingerprint-1"

#: The protocol by which a filter, test, extension, policy value or any other object tells the
#: fingerprint what it is: a ``str`` attribute, or a method returning one.
DECLARED = "__jinja_bccache_fingerprint__"

#: Settings read by the lexer and the code generator (shared/docs: "What changes the code").
_ENVIRONMENT_ATTRS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "is_async",
    "optimized",
    "sandboxed",
    "finalize",
    "undefined",
    "code_generator_class",
    "intercepted_binops",
    "intercepted_unops",
)

#: Registries that start as Jinja's defaults; only what differs from them is described.
_REGISTRIES = (
    ("filters", DEFAULT_FILTERS),
    ("tests", DEFAULT_TESTS),
    ("policies", DEFAULT_POLICIES),
)

#: Modules whose code is pinned by the Jinja and Python versions already in the fingerprint,
#: so their functions and classes are identified by name alone.
_PINNED_ROOTS = frozenset(sys.stdlib_module_names) | {"jinja2", "markupsafe", "builtins"}

#: Stands for values that cannot be described stably: entries then stay in this process.
_PROCESS_NONCE = os.urandom(16).hex()

_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_PLAIN_TYPES = frozenset(_PLAIN)

#: Names under which templates compiled from strings are cached (see _from_string.py). They
#: start with a NUL byte, which no loader's template name contains.
FROM_STRING_NAME = "\x00from_string:"


class Unstable(Exception):
    """A value that has no stable description across processes."""


def _qualname(obj: t.Any) -> str:
    return f"{getattr(obj, '__module__', None)}:{getattr(obj, '__qualname__', None)}"


def _pinned(obj: t.Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in _PINNED_ROOTS


class _Describer:
    """Turns a value into nested tuples of plain data, recursively."""

    def __init__(self) -> None:
        self._active: t.Set[int] = set()

    def __call__(self, obj: t.Any) -> t.Any:
        if isinstance(obj, _PLAIN):
            # str subclasses (Markup) keep their type: it changes how values are escaped
            return (type(obj).__name__, obj) if type(obj) not in _PLAIN else obj
        if id(obj) in self._active:
            return ("cycle", _qualname(obj))
        self._active.add(id(obj))
        try:
            return self._describe(obj)
        finally:
            self._active.discard(id(obj))

    def _describe(self, obj: t.Any) -> t.Any:
        if type(obj) in weakref.ProxyTypes or isinstance(obj, weakref.ref):
            # A back-reference (Flask's JSON provider holds a proxy to its app): what it
            # points to is the application, whose state does not shape compiled code.
            # type(), not isinstance(): a proxy forwards __class__ to its referent.
            return ("weakref", type(obj).__name__)
        declared = getattr(obj, DECLARED, None)
        # On a class, a declaring *method* is for its instances; the class is described below.
        if declared is not None and not (isinstance(obj, type) and callable(declared)):
            if callable(declared):
                declared = declared()
            if not isinstance(declared, str):
                raise Unstable(f"{DECLARED} of {obj!r} is not a str")
            return ("declared", _qualname(type(obj)), declared)
        if isinstance(obj, str):
            return (_qualname(type(obj)), str(obj))
        if isinstance(obj, enum.Enum):
            return ("enum", _qualname(type(obj)), obj.name)
        if isinstance(obj, (tuple, list)):
            return (type(obj).__name__, tuple(self(v) for v in obj))
        if isinstance(obj, (set, frozenset)):
            return (type(obj).__name__, tuple(sorted((self(v) for v in obj), key=repr)))
        if isinstance(obj, dict):
            items = ((self(k), self(v)) for k, v in obj.items())
            return ("dict", tuple(sorted(items, key=repr)))
        if isinstance(obj, types.CodeType):
            return self._code(obj)
        if isinstance(obj, types.FunctionType):
            return self._function(obj)
        if isinstance(obj, types.MethodType):
            return ("method", self(obj.__func__), self._instance(obj.__self__))
        if isinstance(obj, functools.partial):
            return ("partial", self(obj.func), self(obj.args), self(obj.keywords))
        if isinstance(obj, type):
            return self._class(obj)
        if isinstance(obj, types.ModuleType):
            return ("module", obj.__name__)
        if isinstance(obj, (types.BuiltinFunctionType, types.MethodDescriptorType,
                            types.WrapperDescriptorType, types.MethodWrapperType)):
            owner = getattr(obj, "__self__", None)
            bound = None if owner is None or isinstance(owner, types.ModuleType) else self(owner)
            return ("builtin", _qualname(obj), getattr(obj, "__name__", None), bound)
        if isinstance(obj, (staticmethod, classmethod, property)):
            parts = (obj.__func__,) if not isinstance(obj, property) else (obj.fget, obj.fset)
            return (type(obj).__name__, tuple(self(p) for p in parts))
        return self._instance(obj)

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
        if _pinned(fn):
            return ("function", _qualname(fn), pass_arg)
        closure = tuple(self(cell.cell_contents) for cell in fn.__closure__ or ())
        return (
            "function",
            _qualname(fn),
            self._code(fn.__code__),
            self(fn.__defaults__),
            self(fn.__kwdefaults__),
            closure,
            pass_arg,
        )

    def _class(self, cls: type) -> t.Any:
        if _pinned(cls):
            return ("class", _qualname(cls))
        # Behaviour lives in the methods. Plain class data is left out: the settings that
        # matter are read from the Environment itself, and counters or registries kept on a
        # class must not change the fingerprint.
        body = {
            name: value
            for name, value in vars(cls).items()
            if isinstance(value, (types.FunctionType, staticmethod, classmethod, property, type))
        }
        return ("class", _qualname(cls), tuple(self(b) for b in cls.__bases__), self(body))

    def _instance(self, obj: t.Any) -> t.Any:
        state = getattr(obj, "__dict__", None)
        if state is None:
            raise Unstable(f"cannot describe {type(obj).__qualname__} object {obj!r:.80}")
        return ("instance", self(type(obj)), self(state))


def _same(value: t.Any, default: t.Any) -> bool:
    if value is default:
        return True
    # policies hold plain data (a copied dict compares equal); filters and tests are functions
    return isinstance(default, (*_PLAIN, dict, tuple)) and type(value) is type(default) and value == default


_BASELINE_ATTRS: t.Optional[t.FrozenSet[str]] = None


def _baseline_attrs() -> t.FrozenSet[str]:
    """The attributes a plain Environment has; the rest were added by extensions' extend()."""
    global _BASELINE_ATTRS
    if _BASELINE_ATTRS is None:
        _BASELINE_ATTRS = frozenset(vars(jinja2.Environment()))
    return _BASELINE_ATTRS


def compute(environment: "Environment") -> str:
    """The fingerprint of an Environment, without the template-dependent autoescape part."""
    describe = _Describer()
    parts: t.List[t.Tuple[str, t.Any]] = [
        ("scheme", SCHEME),
        ("jinja", _jinja_version()),
        ("python", (sys.implementation.cache_tag, tuple(sys.version_info[:3]))),
    ]
    unstable: t.List[str] = []

    def add(label: str, value: t.Any) -> None:
        try:
            parts.append((label, describe(value)))
        except Unstable as exc:
            unstable.append(f"{label}: {exc}")
            parts.append((label, ("process", _PROCESS_NONCE)))
        except RecursionError:
            unstable.append(f"{label}: nested too deeply")
            parts.append((label, ("process", _PROCESS_NONCE)))

    add("class", type(environment))
    for name in _ENVIRONMENT_ATTRS:
        add(name, getattr(environment, name, None))
    for name, defaults in _REGISTRIES:
        # Most of a registry is Jinja's own entries, pinned by the Jinja version: describing
        # only the changes keeps the fingerprint fast enough for an Environment per request.
        registry = getattr(environment, name)
        changed = {k: v for k, v in registry.items() if k not in defaults or not _same(v, defaults[k])}
        add(name, (tuple(sorted(k for k in defaults if k not in registry)), changed))
    if not callable(environment.autoescape):
        add("autoescape", environment.autoescape)
    for ext in sorted(environment.extensions.values(), key=lambda e: (e.priority, _qualname(type(e)))):
        label = f"extension {_qualname(type(ext))}"
        if hasattr(ext, DECLARED):
            add(label, (ext, ext.priority))
        else:
            # its own settings; the Environment it points back to is described already
            state = {k: v for k, v in vars(ext).items() if k != "environment"}
            add(label, (type(ext), ext.priority, state))
    # Attributes that extensions add with Environment.extend() and read while parsing
    # (i18n's newstyle_gettext); callables among them are runtime hooks, not compile inputs.
    for name in sorted(set(vars(environment)) - _baseline_attrs()):
        value = getattr(environment, name)
        if not callable(value):
            add(f"extended {name}", value)

    if unstable:
        import logging  # on first use, not at import: see src/pylog.rs

        logging.getLogger("jinja_bccache.isolation").warning(
            "the bytecode of %r is cached for this process only: %s. Make the values "
            "describable (%s), or pass fingerprint= to the cache",
            environment,
            "; ".join(unstable),
            DECLARED,
        )
    return hashlib.sha1(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


_JINJA_VERSION: t.Optional[str] = None


def _jinja_version() -> str:
    # jinja2.__version__ first: importlib.metadata costs ~50 ms to import, which a freshly
    # started process loading its first template would pay.
    global _JINJA_VERSION
    if _JINJA_VERSION is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in later Jinjas
            version = getattr(jinja2, "__version__", None)
        if not isinstance(version, str):
            from importlib.metadata import PackageNotFoundError
            from importlib.metadata import version as distribution_version

            try:
                version = distribution_version("Jinja2")
            except PackageNotFoundError:
                version = "unknown"
        _JINJA_VERSION = version
    return _JINJA_VERSION


def _token(env: "Environment") -> t.Tuple[t.Any, ...]:
    """Cheap to build, and changes with the usual late edits of an Environment (a filter or
    test registered, autoescape or async switched, a policy added)."""
    return (
        env.autoescape,
        env.is_async,
        env.finalize,
        env.undefined,
        len(env.filters),
        len(env.tests),
        len(env.extensions),
        len(env.policies),
    )


class _Signature:
    """What an Environment is made of, by identity: equal for Environments built from the same
    objects (Jinja's default filters, one app's filter functions, the same extension
    classes), so an application that builds an Environment per request or per job computes
    the fingerprint once, not per Environment. Objects are held, so their ids stay theirs;
    within one process an object is assumed not to change once an Environment uses it."""

    def __init__(self) -> None:
        self.held: t.List[t.Any] = []

    def ident(self, value: t.Any) -> t.Any:
        kind = type(value)
        if kind in _PLAIN_TYPES:
            return value
        if kind is types.FunctionType:
            # A factory makes a new function object per Environment (lambdas, closures) from
            # the same code: identify it by what it is made of.
            closure = tuple(self.ident(cell.cell_contents) for cell in value.__closure__ or ())
            return ("function", self.ident(value.__code__), self.ident(value.__defaults__),
                    self.ident(value.__kwdefaults__), closure,
                    self.ident(getattr(value, "jinja_pass_arg", None)))
        if kind is types.MethodType:
            return ("method", self.ident(value.__func__), self.ident(value.__self__))
        self.held.append(value)
        return id(value)

    def of(self, env: "Environment") -> t.Tuple[t.Any, ...]:
        ident = self.ident
        parts: t.List[t.Any] = [ident(type(env))]
        # map() fetches the attributes in C; most are plain values that identify themselves
        values = map(getattr, itertools.repeat(env), _ENVIRONMENT_ATTRS, itertools.repeat(None))
        parts.extend([v if type(v) in _PLAIN_TYPES else ident(v) for v in values])
        if not callable(env.autoescape):
            parts.append(ident(env.autoescape))
        for name, defaults in _REGISTRIES:
            # Only what is not Jinja's own entry, in insertion order: building this must stay
            # much cheaper than compute(), and registries are mostly Jinja's defaults.
            registry = getattr(env, name)
            changed = registry_changes(registry, defaults)
            parts.append(tuple((k, ident(v)) for k, v in changed))
            if len(registry) - len(changed) != len(defaults):  # some default was removed
                parts.append(tuple(sorted(k for k in defaults if k not in registry)))
        for ext in env.extensions.values():
            state = tuple((k, ident(v)) for k, v in vars(ext).items() if k != "environment")
            parts.append((ident(type(ext)), ext.priority, state))
        for name in sorted(vars(env).keys() - _baseline_attrs()):
            value = getattr(env, name)
            if not callable(value):
                parts.append((name, ident(value)))
        return tuple(parts)


class Memo:
    """Fingerprints memoized per Environment object, re-validated by :func:`_token`, and
    shared by Environments with the same :class:`_Signature`.

    Keyed by ``id()`` with a weak reference to check identity, so it neither keeps
    Environments alive nor confuses one with a later object at the same address.
    """

    #: Distinct configurations remembered by signature; past this the table starts afresh.
    MAX_SIGNATURES = 256

    def __init__(self) -> None:
        self._entries: t.Dict[int, t.Tuple["weakref.ref[Environment]", t.Tuple[t.Any, ...], str]] = {}
        self._by_signature: t.Dict[t.Tuple[t.Any, ...], t.Tuple[str, t.List[t.Any]]] = {}

    def get(self, env: "Environment") -> str:
        entry = self._entries.get(id(env))
        token = _token(env)
        if entry is not None and entry[0]() is env and entry[1] == token:
            return entry[2]
        fingerprint = self._by_configuration(env)
        ident = id(env)

        def forget(_: object) -> None:
            self._entries.pop(ident, None)

        self._entries[ident] = (weakref.ref(env, forget), token, fingerprint)
        return fingerprint

    def _by_configuration(self, env: "Environment") -> str:
        signature = _Signature()
        try:
            key = signature.of(env)
            known = self._by_signature.get(key)
        except Exception:  # an unhashable or odd value: just compute
            return compute(env)
        if known is not None:
            return known[0]
        fingerprint = compute(env)
        if len(self._by_signature) >= self.MAX_SIGNATURES:
            self._by_signature.clear()
        self._by_signature[key] = (fingerprint, signature.held)
        return fingerprint


MEMO = Memo()


def key_suffix(environment: "Environment", name: t.Optional[str]) -> str:
    """What :meth:`BytecodeCache.get_bucket` mixes into Jinja's key for this template."""
    fingerprint = MEMO.get(environment)
    autoescape = environment.autoescape
    if callable(autoescape):
        # resolved per template name, as the compiler does (from_string passes None)
        if name is not None and name.startswith(FROM_STRING_NAME):
            name = None
        return f"{fingerprint}/{bool(autoescape(name))}"
    return fingerprint
