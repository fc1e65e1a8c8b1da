"""What the application functions in a fingerprint call, followed to a bounded depth.

Jinja's optimizer runs filters and tests on constant arguments while compiling, so the
compiled code holds whatever their whole call graph computes: an edit to a helper a filter
calls changes the code as surely as an edit to the filter. Names are resolved as the code
resolves them, through the function's module globals (``helper(x)``, ``module.helper(x)``);
what a function captures in its closure is described with the function already.
"""

import enum
import functools
import types
import typing as t

from ._describe import PINNED_ROOTS, PLAIN, Describer, pinned, qualname

#: How many calls deep helpers are followed from the functions the Environment holds.
DEPTH = 4

#: At most this many helpers are described per fingerprint, so that a filter calling into a
#: large library costs a bounded time, once per configuration.
LIMIT = 400

_MISSING = object()


def code_names(code: types.CodeType, into: t.Dict[str, None]) -> t.Dict[str, None]:
    """The global and attribute names a code object uses, its nested functions' included."""
    into.update(dict.fromkeys(code.co_names))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            code_names(const, into)
    return into


def _constant(value: t.Any) -> bool:
    """A module-level constant a function reads: it shapes the result like code does."""
    if isinstance(value, (tuple, frozenset)):
        return all(_constant(v) for v in value)
    return isinstance(value, (*PLAIN, enum.Enum))


#: functools.lru_cache's wrapper: not a function, but what it runs is its ``__wrapped__``
_CACHE_WRAPPER = type(functools.lru_cache()(lambda: None))


def _followed(value: t.Any) -> bool:
    if isinstance(value, (types.FunctionType, type)):
        return not pinned(value)
    if isinstance(value, functools.partial):
        return _followed(value.func)
    if type(value) is _CACHE_WRAPPER:
        return _followed(vars(value).get("__wrapped__"))
    return False


def references(fn: types.FunctionType) -> t.Iterator[t.Tuple[str, t.Any]]:
    """The helpers and constants ``fn`` refers to by name: ``(name, value)`` pairs."""
    names = code_names(fn.__code__, {})
    namespace = fn.__globals__
    modules = []
    for name in names:
        value = namespace.get(name, _MISSING)
        if value is _MISSING:
            continue
        if isinstance(value, types.ModuleType):
            if value.__name__.split(".")[0] not in PINNED_ROOTS:
                modules.append(value)
        elif _followed(value) or _constant(value):
            yield name, value
    # module.helper(...): the attribute names are among the code's names too
    for module in modules:
        members = vars(module)
        for name in names:
            value = members.get(name, _MISSING)
            if value is not _MISSING and _followed(value):
                yield f"{module.__name__}.{name}", value


def describe_callees(describe: Describer) -> t.Tuple[t.Any, ...]:
    """Describes, breadth first, what the functions ``describe`` has met so far refer to, and
    what those refer to in turn, up to :data:`DEPTH` calls and :data:`LIMIT` helpers."""
    entries: t.List[t.Any] = []
    seen = {id(fn) for fn in describe.functions}
    frontier = list(describe.functions)
    followed = 0
    for _ in range(DEPTH):
        start = len(describe.functions)
        for fn in frontier:
            caller = qualname(fn)
            for name, value in references(fn):
                if _constant(value):
                    entries.append((caller, name, describe(value)))
                elif id(value) in seen:
                    entries.append((caller, name, ("seen", qualname(value))))
                elif followed < LIMIT:
                    seen.add(id(value))
                    followed += 1
                    entries.append((caller, name, describe(value)))
        # the application functions met while describing these helpers are the next level
        frontier = describe.functions[start:]
        seen.update(id(fn) for fn in frontier)
        if not frontier:
            break
    return tuple(entries)
