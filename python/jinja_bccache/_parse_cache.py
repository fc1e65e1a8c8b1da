"""A cache of ``Environment.parse``: the syntax trees an application asks for directly (dbt
parses every macro and model for what it calls, thousands of times per run), which no
bytecode cache touches, kept in the Environment's ``bytecode_cache`` beside its code.

A tree is keyed as strictly as compiled code: the source's digest, the name and file name
it is parsed under, and the Environment fingerprint (the lexer's settings, the extensions,
the Environment and parser classes, the Jinja and Python versions); the store's checks apply
to it as to code. It is stored as bytes (see _trees.py) and every load builds new nodes, so
a caller that changes the tree it was given changes nobody else's.

In the store a tree is carried by a code object that does nothing if run, whose constants
hold the tree's data and a folding record that reads nothing: the store's layer, variants
and trust then treat it as any entry, and its name (behind :data:`FROM_STRING_NAME` and
``parse:``) is never a template's.
"""

import typing as t

from jinja2 import Environment, nodes

from ._base import BytecodeCache
from ._folding import NOTHING_READ, attach, restore, set_aside
from ._from_string import ambient_key, bucket_for
from ._isolation import FROM_STRING_NAME
from ._trees import MAGIC, Unencodable, decode, encode

#: Starts the names trees are stored under.
PARSE_NAME = FROM_STRING_NAME + "parse:"

#: Runs as an empty module: the carrier's constants are all it is for.
_EMPTY = compile("", "<jinja_bccache: a parse tree>", "exec")


class ParseCacheMixin:
    """Makes an Environment cache the trees its ``parse()`` returns in its
    ``bytecode_cache`` (one of this package's, isolating Environments)::

        class CachedEnvironment(ParseCacheMixin, FromStringCacheMixin, jinja2.Environment): ...

    ``parse(source)`` then returns a tree built anew from the cache: equal to what parsing
    gives, and the caller's own. Trees that hold anything but Jinja's nodes and plain data
    (an extension's own node class) are parsed every time.
    """

    def parse(
        self,
        source: str,
        name: t.Optional[str] = None,
        filename: t.Optional[str] = None,
    ) -> nodes.Template:
        assert isinstance(self, Environment), "ParseCacheMixin goes before an Environment"
        return cached_parse(self, source, name, filename, super().parse)  # type: ignore[misc]


def cached_parse(
    env: Environment,
    source: str,
    name: t.Optional[str],
    filename: t.Optional[str],
    parse: t.Callable[[str, t.Optional[str], t.Optional[str]], nodes.Template],
) -> nodes.Template:
    """``parse(source, name, filename)``, through ``env.bytecode_cache``."""
    bcc = env.bytecode_cache
    if (
        type(source) is not str
        or not isinstance(bcc, BytecodeCache)
        or not bcc.isolate_environments  # the fingerprint is what keeps configurations apart
    ):
        return parse(source, name, filename)
    ambient = ambient_key(env)
    if ambient is None:
        return parse(source, name, filename)
    try:
        checksum = bcc.get_source_checksum(source)
    except UnicodeEncodeError:  # no digest for lone surrogates: parsed, uncached
        return parse(source, name, filename)
    # (after the digest, of fixed length: "[" starts an ambient key, NUL a name)
    entry_name = PARSE_NAME + checksum + (f"[{ambient}]" if ambient else "")
    if name is not None:
        entry_name = f"{entry_name}\x00{name}"
    # A tree is parsed, never compiled: a compilation armed for recording (this parse is
    # made while a template compiles) is not this lookup's to take.
    outer = set_aside()
    try:
        bucket = bucket_for(bcc, env, entry_name, filename, source, checksum)
        tree = _tree(bucket.code, env)
        if tree is not None:
            return tree
        tree = parse(source, name, filename)
        carrier = _carrier(tree)
        if carrier is not None:
            bucket.code = carrier
            bcc.set_bucket(bucket)
        return tree
    finally:
        restore(outer)


def _carrier(tree: nodes.Template) -> t.Optional[t.Any]:
    """The code object that carries ``tree`` in the store, or None for a tree that holds
    more than Jinja's nodes and plain data."""
    try:
        data = encode(tree)
    except (Unencodable, RecursionError):
        return None
    code = _EMPTY.replace(co_consts=(*_EMPTY.co_consts, (MAGIC, data)))
    return attach(code, NOTHING_READ)


def _tree(code: t.Any, env: Environment) -> t.Optional[nodes.Template]:
    """A new tree from a carrier the store holds; None for none, or for anything else."""
    if code is None:
        return None
    try:
        magic, data = code.co_consts[-2]
        if magic != MAGIC or type(data) is not bytes:
            return None
        tree = decode(data, env)
    except Exception:  # not a carrier of this layout: parsed again, and stored anew
        return None
    return tree if type(tree) is nodes.Template else None
