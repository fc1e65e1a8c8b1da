"""compile_expression through FromStringCacheMixin, and the ambient compile key an
Environment whose compilation reads something besides its settings gives (Ansible's)."""

import contextvars

import jinja2.bccache
import pytest
from jinja2 import Environment, TemplateSyntaxError
from jinja2.nativetypes import NativeEnvironment
from jinja2.sandbox import SecurityError
from test_from_string import CachedEnv, CachedNative, CachedSandbox

from jinja_bccache import FileSystemBytecodeCache


@pytest.mark.parametrize("cls,base", [(CachedEnv, Environment), (CachedNative, NativeEnvironment)])
def test_expressions_load_in_a_new_environment_and_evaluate_as_uncached(
    tmp_path, compiles, cls, base
):
    source = "items | map('upper') | join(',') ~ (n + 1)"
    expected = base().compile_expression(source)(items=["a", "b"], n=1)
    compiles[0] = 0
    cache = FileSystemBytecodeCache(str(tmp_path))
    first = cls(bytecode_cache=cache).compile_expression(source)
    assert first(items=["a", "b"], n=1) == expected
    assert compiles[0] == 1 and cache.stats()["writes"] == 1
    again = cls(bytecode_cache=FileSystemBytecodeCache(str(tmp_path)))
    loaded = again.compile_expression(source)
    assert compiles[0] == 1, "loaded, not compiled"
    assert loaded(items=["a", "b"], n=1) == expected
    assert loaded(items=["x"], n=41) == base().compile_expression(source)(items=["x"], n=41)


def test_undefined_to_none_is_the_callers_on_a_hit_too(tmp_path, compiles):
    cache = FileSystemBytecodeCache(str(tmp_path))
    assert CachedEnv(bytecode_cache=cache).compile_expression("missing")() is None
    env = CachedEnv(bytecode_cache=cache)
    kept = env.compile_expression("missing", undefined_to_none=False)()
    assert compiles[0] == 1
    assert isinstance(kept, jinja2.Undefined) and not isinstance(kept, type(None))
    assert env.compile_expression("missing")() is None


def test_an_expression_and_a_template_of_the_same_text_are_different_entries(tmp_path):
    cache = FileSystemBytecodeCache(str(tmp_path))
    env = CachedEnv(bytecode_cache=cache)
    assert env.compile_expression("1 + 2")() == 3
    assert env.from_string("1 + 2").render() == "1 + 2"
    assert cache.stats()["writes"] == 2
    env = CachedEnv(bytecode_cache=FileSystemBytecodeCache(str(tmp_path)))
    assert env.from_string("1 + 2").render() == "1 + 2"
    assert env.compile_expression("1 + 2")() == 3


def test_syntax_errors_raise_every_time_and_store_nothing(tmp_path):
    cache = FileSystemBytecodeCache(str(tmp_path))
    for _ in range(2):
        for bad in ("1 +", "a b"):  # the second is Jinja's "chunk after expression"
            with pytest.raises(TemplateSyntaxError):
                CachedEnv(bytecode_cache=cache).compile_expression(bad)
    assert cache.stats()["writes"] == 0 and not list(tmp_path.iterdir())


#: What only an Environment without the sandbox evaluates.
UNSAFE = "f.__code__.co_name"


def _f():
    pass


def test_sandboxed_expressions_stay_sandboxed_when_loaded(tmp_path):
    cache = FileSystemBytecodeCache(str(tmp_path))
    assert CachedEnv(bytecode_cache=cache).compile_expression(UNSAFE)(f=_f) == "_f"
    sandbox = CachedSandbox(bytecode_cache=FileSystemBytecodeCache(str(tmp_path)))
    with pytest.raises(SecurityError):
        sandbox.compile_expression(UNSAFE)(f=_f)


def test_a_subclass_override_runs_on_a_miss(tmp_path):
    seen = []

    class Tracing(CachedEnv):
        def compile_expression(self, source, undefined_to_none=True):
            seen.append(source)
            return super().compile_expression(source, undefined_to_none)

    cache = FileSystemBytecodeCache(str(tmp_path))
    assert Tracing(bytecode_cache=cache).compile_expression("2 * 3")() == 6
    assert seen == ["2 * 3"] and cache.stats()["writes"] == 1


def test_through_jinjas_own_cache_expressions_are_kept_apart_by_configuration(tmp_path):
    cache = jinja2.bccache.FileSystemBytecodeCache(str(tmp_path))
    assert CachedEnv(bytecode_cache=cache).compile_expression(UNSAFE)(f=_f) == "_f"
    assert len(list(tmp_path.iterdir())) == 1
    assert CachedEnv(bytecode_cache=cache).compile_expression(UNSAFE)(f=_f) == "_f"
    with pytest.raises(SecurityError):
        CachedSandbox(bytecode_cache=cache).compile_expression(UNSAFE)(f=_f)
    assert len(list(tmp_path.iterdir())) == 2


#: What the lexer below reads besides its Environment's settings, as Ansible's reads
#: whether to escape backslashes.
SHOUTING = contextvars.ContextVar("shouting", default=False)


class ContextLexed(CachedEnv):
    """Upper-cases string constants while SHOUTING is set: compiles differently by context."""

    def _tokenize(self, source, name, filename=None, state=None):
        stream = super()._tokenize(source, name, filename, state)
        if not SHOUTING.get():
            return stream
        tokens = [
            jinja2.lexer.Token(tok.lineno, tok.type, tok.value.upper())
            if tok.type == "string"
            else tok
            for tok in stream
        ]
        return jinja2.lexer.TokenStream(iter(tokens), name, filename)

    def ambient_compile_key(self):
        return "shouting" if SHOUTING.get() else "plain"


def _shouting(value, compile):
    token = SHOUTING.set(value)
    try:
        return compile()
    finally:
        SHOUTING.reset(token)


def test_the_ambient_key_keeps_apart_what_a_context_compiles_differently(tmp_path):
    for directory in ("a", "b"):  # either order, each from a cold cache
        path = tmp_path / directory
        path.mkdir()
        cache = FileSystemBytecodeCache(str(path))
        order = (True, False) if directory == "a" else (False, True)
        for shouting in order + order:
            env = ContextLexed(bytecode_cache=cache)
            template = _shouting(shouting, lambda env=env: env.from_string("{{ 'hi' }}"))
            expression = _shouting(shouting, lambda env=env: env.compile_expression("'hi'"))
            assert template.render() == expression() == ("HI" if shouting else "hi")
        assert cache.stats()["writes"] == 4 and cache.stats()["hits"] == 4


def test_no_ambient_key_means_uncached_and_a_wrong_one_is_a_type_error(tmp_path, compiles):
    class Unkeyed(CachedEnv):
        key = None

        def ambient_compile_key(self):
            return self.key

    cache = FileSystemBytecodeCache(str(tmp_path))
    for _ in range(2):
        assert Unkeyed(bytecode_cache=cache).from_string("{{ 1 }}").render() == "1"
        assert Unkeyed(bytecode_cache=cache).compile_expression("1")() == 1
    assert compiles[0] == 4 and cache.stats()["writes"] == 0
    Unkeyed.key = 1
    with pytest.raises(TypeError, match="ambient_compile_key"):
        Unkeyed(bytecode_cache=cache).from_string("{{ 1 }}")
