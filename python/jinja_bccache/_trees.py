"""Syntax trees (what ``Environment.parse`` returns) as bytes and back, for the parse cache
(see _parse_cache.py): every load builds new nodes, so that no two callers ever hold the same
node.

The bytes are a pickle restricted both ways: written only when the tree holds nothing but
the node classes of ``jinja2.nodes`` and plain data (str, numbers, None, lists, tuples,
dicts, sets), and read with only those classes to be found. Each node keeps every attribute
the parser left on it (its fields, ``lineno``, what a parser subclass adds: dbt's
``arg_types``); its ``environment`` becomes the Environment the tree is loaded for. Pickle's
loader builds the nodes in C, in half the time a walk in Python takes, and a tenth of what
parsing costs.
"""

import io
import pickle
import typing as t

from jinja2 import nodes

#: Marks a tree's bytes in the entry that carries them, and their layout: bumped when the
#: layout changes, so that an entry of another layout is never read as this one.
MAGIC = "jinja_bccache.tree/1"

_CLASSES: t.Dict[str, type] = {
    name: value
    for name, value in vars(nodes).items()
    if isinstance(value, type) and issubclass(value, nodes.Node)
}
_NODE_TYPES = frozenset(_CLASSES.values())
_MODULE = nodes.__name__
assert all(cls.__module__ == _MODULE for cls in _NODE_TYPES)  # found by pickle under it

#: The persistent id the Environment is written as.
_ENVIRONMENT = "environment"


class Unencodable(Exception):
    """A tree holding something that is not a Jinja node or plain data."""


class _Writer(pickle.Pickler):
    def __init__(self, file: t.BinaryIO, environment: t.Any) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        # (a tree without one: nothing is written as the Environment, None least of all)
        self._environment = object() if environment is None else environment

    def persistent_id(self, obj: t.Any) -> t.Optional[str]:
        return _ENVIRONMENT if obj is self._environment else None

    def reducer_override(self, obj: t.Any) -> t.Any:
        # Called for what pickle has no opcode of its own for: only Jinja's nodes may pass.
        kind = type(obj)
        if kind in _NODE_TYPES or obj in _NODE_TYPES:
            # pickled as Python pickles an instance (class and dict), and a class (by name)
            return NotImplemented
        raise Unencodable(f"{kind.__module__}.{kind.__qualname__}")


class _Reader(pickle.Unpickler):
    def __init__(self, file: t.BinaryIO, environment: t.Any) -> None:
        super().__init__(file)
        self._environment = environment

    def persistent_load(self, pid: t.Any) -> t.Any:
        if pid == _ENVIRONMENT:
            return self._environment
        raise pickle.UnpicklingError("not a tree")

    def find_class(self, module: str, name: str) -> t.Any:
        found = _CLASSES.get(name) if module == _MODULE else None
        if found is None:
            raise pickle.UnpicklingError(f"not a node class: {module}.{name}")
        return found


def encode(tree: nodes.Node) -> bytes:
    """``tree`` as bytes; raises :class:`Unencodable` (or RecursionError for a tree nested
    too deeply to walk)."""
    out = io.BytesIO()
    _Writer(out, getattr(tree, "environment", None)).dump(tree)
    return out.getvalue()


def decode(data: bytes, environment: t.Any) -> t.Any:
    """New nodes from what :func:`encode` gave, for ``environment``. Raises (an
    UnpicklingError among others) on bytes it did not write."""
    return _Reader(io.BytesIO(data), environment).load()
