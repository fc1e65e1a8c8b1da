"""The environment fingerprint: a digest of the settings that change the code an Environment
compiles, so that one cache shared by differently configured Environments (or Jinja
versions) never serves code compiled for another.

The settings are what the lexer, the parser, the extensions and the code generator read:
delimiters, autoescape, the sandbox, the Undefined class, the policies, the extensions...
What the application's filters, tests and ``finalize`` do when Jinja folds them is not
described here: it is recorded per template while it compiles and replayed when it loads
(:mod:`._folding`), and so are the kinds of the filters and tests a template uses.

What goes in, and why, is listed in ``docs/isolation.md``. Values are described by
:mod:`._describe`, the helpers application methods call by :mod:`._callgraph`; the
fingerprint is memoized per Environment by :mod:`._memo`.
"""

import hashlib
import operator
import sys
import types
import typing as t
import warnings

import jinja2
from jinja2.defaults import DEFAULT_POLICIES
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.tests import TESTS as DEFAULT_TESTS
from jinja2.utils import _PassArg

from . import _native as native
from ._callgraph import code_names, describe_callees
from ._describe import DECLARED, PROCESS_NONCE, Describer, qualname
from ._folding import Unencodable, encode
from ._native import changes as native_changes

if t.TYPE_CHECKING:
    from jinja2 import Environment

#: Bumped when what the fingerprint covers changes, so old entries are not served.
SCHEME = "jinja-bccache-fingerprint-3"

#: Settings read by the lexer and the code generator (shared/docs: "What changes the code"):
#: those Environment.__init__ sets on the instance, then those the sandbox sets on its class.
_INSTANCE_ATTRS = (
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
    "finalize",
    "undefined",
)
_CLASS_ATTRS = ("sandboxed", "code_generator_class", "intercepted_binops", "intercepted_unops")
ENVIRONMENT_ATTRS = _INSTANCE_ATTRS + _CLASS_ATTRS

# Fetched at once from the instance dict, they cost a third of as many getattr() calls.
_instance_attrs = operator.itemgetter(*_INSTANCE_ATTRS)


def settings(environment: "Environment") -> t.Tuple[t.Any, ...]:
    """The values of :data:`ENVIRONMENT_ATTRS`, in its order."""
    try:
        values: t.Tuple[t.Any, ...] = _instance_attrs(environment.__dict__)
    except KeyError:  # a subclass that keeps some of them elsewhere
        values = tuple([getattr(environment, name, None) for name in _INSTANCE_ATTRS])
    return values + tuple([getattr(environment, name, None) for name in _CLASS_ATTRS])


#: Registries that start as Jinja's defaults: only what differs from them counts.
REGISTRIES = (("policies", DEFAULT_POLICIES),)

#: Jinja's default policies as they were at import. Every Environment shares the default
#: ``json.dumps_kwargs`` dict: changed in place, it changes them all, and is described.
_PRISTINE_POLICIES = {k: dict(v) if type(v) is dict else v for k, v in DEFAULT_POLICIES.items()}


def shared_defaults() -> t.Dict[str, t.Any]:
    """The default policy that is a container, which Environments share and an application
    can change in place (for the signatures, which name the rest of Jinja's defaults by
    identity, through :func:`changes`), to be named by what it holds."""
    return _SHARED_DEFAULT["json.dumps_kwargs"]  # type: ignore[no-any-return]


_SHARED_DEFAULT = DEFAULT_POLICIES


#: Where the memo keeps an Environment's fingerprint (see _memo.py): not a setting.
MEMO_ATTR = "_jinja_bccache_fingerprint"

#: Names under which templates compiled from strings are cached (see _from_string.py). They
#: start with a NUL byte, which no loader's template name contains.
FROM_STRING_NAME = "\x00from_string:"

#: Starts the fingerprint of a configuration valid in this process only (stats count its entries).
LOCAL = "local:"

#: What may run at compile time with the Environment in hand, and so read its globals.
_RECEIVES_ENVIRONMENT = (_PassArg.environment, _PassArg.eval_context)

#: Kinds of undescribable values already logged: one warning per process, not per Environment.
_REPORTED: t.Set[t.Tuple[str, str]] = set()


def _same(value: t.Any, default: t.Any) -> bool:
    if value is default:
        return True
    # Policies hold plain data (a copied dict is the default still), compared with their
    # types: {"sort_keys": 1} is not {"sort_keys": True}, nor 5.0 the leeway 5.
    try:
        return bool(encode(value) == encode(default))
    except Unencodable:
        return False


def receives_environment(value: t.Any) -> bool:
    """A filter, test or finalize that Jinja calls with the Environment (or the eval context,
    which holds it): folded at compile time, it can read ``env.globals``."""
    try:
        return getattr(value, "jinja_pass_arg", None) in _RECEIVES_ENVIRONMENT
    except Exception:  # an object whose attribute lookup fails: Jinja would fail on it too
        return False


Changes = t.List[t.List[t.Tuple[t.Any, t.Any]]]


def changes(environment: "Environment") -> t.Tuple[Changes, t.Optional[Changes]]:
    """For each of :data:`REGISTRIES`, the entries that are not the very object Jinja's
    default holds under that name (Jinja's defaults are never described); and the same for
    each of :data:`FILTER_REGISTRIES`, or None when one cannot be listed (ansible-core's
    loads its plugins on lookup). One native pass over them all when they are dicts."""
    registries = list(_registries(environment))
    if all(type(registry) is dict for registry in registries):
        found = native_changes(registries, _DEFAULTS)
        return found[:_SPLIT], found[_SPLIT:]
    policies = [_changed(r, d) for r, d in zip(registries[:_SPLIT], _DEFAULTS)]
    try:
        return policies, [_changed(r, d) for r, d in zip(registries[_SPLIT:], _DEFAULTS[_SPLIT:])]
    except Exception:
        return policies, None


def _changed(registry: t.Any, defaults: t.Dict[str, t.Any]) -> t.List[t.Tuple[t.Any, t.Any]]:
    if type(registry) is dict:
        return native_changes([registry], [defaults])[0]
    # a mapping of another class (ansible-core's registries)
    return [(k, v) for k, v in registry.items() if defaults.get(k, registry) is not v]


#: The registries a template's folding record asks about, with Jinja's own entries.
FILTER_REGISTRIES = (("filters", DEFAULT_FILTERS), ("tests", DEFAULT_TESTS))

_registries = operator.attrgetter(*[name for name, _ in (*REGISTRIES, *FILTER_REGISTRIES)])
_DEFAULTS = [defaults for _, defaults in (*REGISTRIES, *FILTER_REGISTRIES)]
_SPLIT = len(REGISTRIES)


def reads_globals(environment: "Environment", registries: t.Optional[Changes]) -> bool:
    """Whether folding can read the Environment itself (its globals, any attribute): an
    application filter, test or finalize receives it or the eval context. Then the memo
    watches the globals, so that one changed after the first template was loaded is seen
    (the folding records are replayed again), and verdicts are not shared (see _memo.py)."""
    finalize = environment.finalize
    if finalize is not None and receives_environment(finalize):
        return True
    if registries is None:
        return True
    return any(receives_environment(value) for pairs in registries for _, value in pairs)


_BASELINE_ATTRS: t.Optional[t.FrozenSet[str]] = None

#: extended_attrs() by the names an Environment's attributes have, in order, and its
#: extensions' classes: Environments built alike have the same, and this costs a fifth of
#: computing them.
_EXTENDED: t.Dict[t.Tuple[t.Any, ...], t.List[str]] = {}


def extended_attrs(environment: "Environment") -> t.List[str]:
    """Attributes that extensions add with ``Environment.extend()`` and read while parsing
    (i18n's ``newstyle_gettext``): those not every Environment has that an extension's code
    reads by name. Other attributes a subclass or an application adds (a counter, a link to
    the application) are not compile inputs: counting them would give a new fingerprint, and
    so a miss, whenever one changes."""
    global _BASELINE_ATTRS
    names = tuple(environment.__dict__)
    extension_types = tuple(type(ext) for ext in environment.extensions.values())
    key = (names, extension_types)
    found = _EXTENDED.get(key)
    if found is None:
        if _BASELINE_ATTRS is None:
            # An overlay's link to its parent is not a setting: its settings are its own.
            _BASELINE_ATTRS = frozenset(vars(jinja2.Environment())) | {
                MEMO_ATTR,
                "linked_to",
                "overlayed",
            }
        read = _names_read_by(extension_types)
        if len(_EXTENDED) >= 64:
            _EXTENDED.clear()
        found = _EXTENDED[key] = sorted((set(names) - _BASELINE_ATTRS) & read)
    return found


def removed_defaults(
    registry: t.Dict[str, t.Any], defaults: t.Dict[str, t.Any]
) -> t.Tuple[str, ...]:
    """The names of Jinja's default entries that ``registry`` no longer holds, sorted."""
    return tuple(sorted(k for k in defaults if k not in registry))


def _names_read_by(classes: t.Iterable[type]) -> t.FrozenSet[str]:
    """Every name the methods of ``classes`` (and their bases) refer to as attributes or
    globals, nested functions included."""
    found: t.Dict[str, None] = {}
    for cls in classes:
        for klass in cls.__mro__[:-1]:  # not object
            for value in vars(klass).values():
                code = getattr(getattr(value, "__func__", value), "__code__", None)
                if isinstance(code, types.CodeType):
                    code_names(code, found)
    return frozenset(found)


def compute(environment: "Environment") -> str:
    """The fingerprint of an Environment, without the template-dependent autoescape part."""
    describe = Describer()
    parts: t.List[t.Tuple[str, t.Any]] = [
        ("scheme", SCHEME),
        ("jinja", _jinja_version()),
        ("jinja_bccache", native.__version__),
        ("python", (sys.implementation.cache_tag, tuple(sys.version_info[:3]))),
    ]
    unstable: t.List[t.Tuple[str, str, str]] = []

    def add(label: str, value: t.Any, factory_data: bool = False) -> None:
        seen = len(describe.stand_ins)
        describe.factory_data = factory_data
        try:
            parts.append((label, describe(value)))
        except RecursionError:
            unstable.append((label, "RecursionError", "nested too deeply"))
            parts.append((label, ("process", PROCESS_NONCE)))
        finally:
            describe.factory_data = False
        unstable.extend((label, kind, message) for kind, message in describe.stand_ins[seen:])

    add("class", type(environment))
    for name in ENVIRONMENT_ATTRS:
        value = getattr(environment, name, None)
        if name == "finalize":
            # Whether there is one and how it is called shape the code; what it returns for
            # constant output is recorded per template (see _folding.py).
            add(name, (bool(value), _PassArg.from_obj(value) if value else None))
            continue
        # The Undefined class is where factories put per-call data (see docs/isolation.md).
        add(name, value, factory_data=name == "undefined")
    for name, defaults in REGISTRIES:
        # Most of a registry is Jinja's own entries, pinned by the Jinja version: describing
        # only the changes keeps the fingerprint fast enough for an Environment per request.
        registry = getattr(environment, name)
        pristine = _PRISTINE_POLICIES if name == "policies" else defaults
        add(f"{name} removed", removed_defaults(registry, defaults))
        for key, value in registry.items():
            if key not in defaults or not _same(value, pristine[key]):
                add(f"{name}[{key!r}]", value)
    if not callable(environment.autoescape):
        add("autoescape", environment.autoescape)
    extensions = environment.extensions.values()
    for ext in sorted(extensions, key=lambda e: (e.priority, qualname(type(e)))):
        label = f"extension {qualname(type(ext))}"
        if hasattr(ext, DECLARED):
            add(label, (ext, ext.priority))
        else:
            # its own settings; the Environment it points back to is described already
            state = {k: v for k, v in vars(ext).items() if k != "environment"}
            add(label, (type(ext), ext.priority, state))
    for name in extended_attrs(environment):
        value = getattr(environment, name)
        if not callable(value):  # callables among them are runtime hooks, not compile inputs
            add(f"extended {name}", value)
    # Last: the helpers of every application function described above, filters and tests,
    # methods of the Environment and Undefined classes, extensions' parse methods.
    seen = len(describe.stand_ins)
    try:
        parts.append(("helpers", describe_callees(describe)))
    except RecursionError:
        unstable.append(("helpers", "RecursionError", "nested too deeply"))
        parts.append(("helpers", ("process", PROCESS_NONCE)))
    unstable.extend(("helpers", kind, message) for kind, message in describe.stand_ins[seen:])

    digest = hashlib.sha1(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()
    if unstable:
        _report(environment, unstable)
        return LOCAL + digest
    return digest


def _report(environment: "Environment", unstable: t.List[t.Tuple[str, str, str]]) -> None:
    new: t.Dict[t.Tuple[str, str], str] = {}
    for label, kind, message in unstable:
        if (label, kind) not in _REPORTED:
            new.setdefault((label, kind), message)
    if not new:
        return
    _REPORTED.update(new)
    import logging  # on first use, not at import: see src/pylog.rs

    logging.getLogger("jinja_bccache.isolation").warning(
        "the bytecode of %s is cached for this process only: %s. Make the values "
        "describable (%s), or pass fingerprint= to the cache. Logged once per process "
        "for each kind of value",
        # a string, not the Environment: a handler that keeps records (MemoryHandler, an
        # error tracker) would otherwise keep the Environment and all it refers to alive
        repr(environment),
        "; ".join(f"{label}: {message}" for (label, _), message in new.items()),
        DECLARED,
    )


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


def report_failure(environment: "Environment", exc: Exception) -> None:
    """Computing the fingerprint itself failed: the Environment's entries stay in this
    process, and the failure is logged once per process and kind."""
    kind = ("failure", qualname(type(exc)))
    if kind in _REPORTED:
        return
    _REPORTED.add(kind)
    import logging

    logging.getLogger("jinja_bccache.isolation").warning(
        "the bytecode of %s is cached for this process only: describing its configuration "
        "raised %r. Pass fingerprint= to the cache to share it. Logged once per process",
        repr(environment),
        exc,
        exc_info=exc,
    )
