"""Bytecode caching for templates built from strings (``Environment.from_string``,
``Environment.compile(source)``), which Jinja never caches: dbt, Ansible and Salt build most
of their templates this way."""

import threading
import typing as t

from jinja2 import Environment, nodes
from jinja2.environment import TemplateExpression

from ._base import BytecodeCache
from ._folding import disarm
from ._isolation import FROM_STRING_NAME, isolation, prepare, select, settled

if t.TYPE_CHECKING:
    from jinja2 import Template


#: Names the entries of compile_expression, beside from_string's (FROM_STRING_NAME + digest).
EXPRESSION = "expr:"


def ambient_key(env: Environment) -> t.Optional[str]:
    """What the Environment's ``ambient_compile_key()`` says changes its compilation now,
    beyond its settings ("" when it has no such method); None: compile without the cache."""
    hook = getattr(env, "ambient_compile_key", None)
    if hook is None:
        return ""
    key = hook()
    if key is not None and not isinstance(key, str):
        raise TypeError(
            f"ambient_compile_key() must return a str or None, not {type(key).__name__}"
        )
    return key


def entry_name(
    env: Environment, bcc: t.Any, source: t.Any, kind: str = ""
) -> t.Optional[t.Tuple[str, str]]:
    """The name a string's entry has, and the source's checksum; None when it is not cached
    (not a string, no digest, or the Environment's ambient key says so)."""
    if bcc is None or not isinstance(source, str):
        return None
    ambient = ambient_key(env)
    if ambient is None:
        return None
    try:
        # Content-addressed: the entry's name is the source's digest (behind a NUL byte, which
        # no loader name contains), so different strings never evict one another.
        checksum = bcc.get_source_checksum(source)
    except UnicodeEncodeError:
        # Lone surrogates (text decoded with surrogateescape) have no UTF-8 digest, in Jinja's
        # caches as in ours; from_string compiles them all the same, so do that, uncached.
        return None
    name = FROM_STRING_NAME + kind + checksum
    return (f"{name}\x00{ambient}" if ambient else name), checksum


def _cached_compile(
    env: Environment,
    source: t.Union[str, nodes.Template],
    compile: t.Callable[..., t.Any],
    kind: str = "",
) -> t.Any:
    bcc = env.bytecode_cache
    named = entry_name(env, bcc, source, kind)
    if named is None:
        return compile(source)
    name, checksum = named
    assert isinstance(source, str) and bcc is not None  # as entry_name found them
    if getattr(bcc, "isolate_environments", False):
        bucket = bucket_for(bcc, env, name, None, source, checksum)
        if bucket.code is None:
            code = compile(source)
            if code is None:  # nothing to keep (see compile_expression)
                disarm()
                return None
            bucket.code = code
            bcc.set_bucket(bucket)
        return bucket.code
    return _isolated_here(env, bcc, name, source, compile)


#: BytecodeCache.get_bucket: a cache whose get_bucket is this one takes a checksum computed
#: already (see BytecodeCache._get_bucket).
_OWN_GET_BUCKET = BytecodeCache.get_bucket


def bucket_for(
    bcc: t.Any,
    env: Environment,
    name: str,
    filename: t.Optional[str],
    source: str,
    checksum: str,
) -> t.Any:
    """``bcc.get_bucket(env, name, filename, source)``, given the source's ``checksum`` as
    ``bcc.get_source_checksum`` computed it for the name, so that it is not computed again;
    a cache whose ``get_bucket`` is replaced is called as Jinja calls it."""
    if type(bcc).get_bucket is _OWN_GET_BUCKET and "get_bucket" not in bcc.__dict__:
        return bcc._get_bucket(env, name, filename, source, checksum)
    return bcc.get_bucket(env, name, filename, source)


def _isolated_here(
    env: Environment, bcc: t.Any, name: str, source: str, compile: t.Callable[..., t.Any]
) -> t.Any:
    """Through a cache that does not isolate (stock Jinja's, or isolation off), isolation is
    done here, in the names: the fingerprint, then the variant the folding record leads to."""
    suffix, entry = isolation(env, None)

    def load(bucket_name: str) -> t.Any:
        bucket = bcc.get_bucket(env, bucket_name, None, source)
        bucket._jinja_bccache_name = bucket_name
        return bucket

    def next_variant(previous: t.Any, answers: str) -> t.Any:
        return load(previous._jinja_bccache_name + "/variant:" + answers)

    bucket = load(f"{name}/{suffix}")
    if not settled(entry, bucket.code):
        bucket = select(env, entry, bucket, next_variant, (name, None, source))
    if bucket.code is not None:
        return bucket.code
    code = compile(source)
    if code is None:  # nothing to keep (see compile_expression)
        disarm()
        return None
    bucket.code = code
    store, _ = prepare(bucket, entry)
    if store:
        bcc.set_bucket(bucket)
    return bucket.code


class FromStringCacheMixin:
    """Makes an Environment cache what it compiles from strings in its ``bytecode_cache``::

        class CachedEnvironment(FromStringCacheMixin, jinja2.Environment): ...
        class CachedSandbox(FromStringCacheMixin, SandboxedEnvironment): ...

    ``from_string(source)``, ``compile(source)`` and ``compile_expression(source)`` then
    load from the cache, keyed by the source's digest and the environment fingerprint.
    Templates from the loader already go through the cache and are left alone, so nothing is
    cached twice.

    An Environment whose compilation also depends on something outside its settings (a
    context variable its lexer reads, as Ansible's does) defines ``ambient_compile_key()``:
    a str that becomes part of each entry's name, or None to compile without the cache.
    """

    def compile(
        self,
        source: t.Union[str, nodes.Template],
        name: t.Optional[str] = None,
        filename: t.Optional[str] = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> t.Any:
        parent = super().compile  # type: ignore[misc]
        if name is not None or filename is not None or raw or defer_init:
            return parent(source, name, filename, raw, defer_init)
        assert isinstance(self, Environment), "FromStringCacheMixin goes before an Environment"
        if not isinstance(source, str):
            code = parent(source)
            slot = getattr(_capturing, "slot", None)
            if slot is not None and slot[0] is self and slot[1] is None:
                slot[1] = code
            return code
        return _cached_compile(self, source, parent)

    def compile_expression(self, source: str, undefined_to_none: bool = True) -> t.Any:
        assert isinstance(self, Environment), "FromStringCacheMixin goes before an Environment"
        parent = super().compile_expression  # type: ignore[misc]
        made: t.List[t.Any] = []

        def compile(source: str) -> t.Any:
            # Compiled as the Environment's own compile_expression compiles it (every
            # override on the way runs as without the cache); the code its tree compiles to
            # is taken on the way, in compile() above, to be stored.
            outer = getattr(_capturing, "slot", None)
            _capturing.slot = slot = [self, None]
            try:
                made.append(parent(source, undefined_to_none))
            finally:
                _capturing.slot = outer
            return slot[1]

        code = _cached_compile(self, source, compile, EXPRESSION)
        if made:  # compiled, cached or not
            return made[0]
        # loaded: what Jinja's compile_expression makes of the code, as from_string(tree) does
        template = self.template_class.from_code(self, code, self.make_globals(None), None)
        return TemplateExpression(template, undefined_to_none)


#: The compile_expression in progress in this thread: [its Environment, the code compiled].
_capturing = threading.local()


def cached_from_string(
    env: Environment,
    source: t.Union[str, nodes.Template],
    globals: t.Optional[t.MutableMapping[str, t.Any]] = None,
    template_class: t.Optional[t.Type["Template"]] = None,
) -> "Template":
    """``env.from_string(source, globals, template_class)``, through ``env.bytecode_cache``,
    for Environments you cannot subclass. Renders exactly what ``from_string`` renders."""
    gs = env.make_globals(globals)
    cls = template_class or env.template_class
    return cls.from_code(env, _cached_compile(env, source, env.compile), gs, None)
