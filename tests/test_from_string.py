"""from_string / compile(source) caching: FromStringCacheMixin and cached_from_string."""

import asyncio

import jinja2
import jinja2.bccache
import pytest
from jinja2 import DictLoader, Environment
from jinja2.nativetypes import NativeEnvironment
from jinja2.sandbox import SandboxedEnvironment, SecurityError

import jinja_bccache
from jinja_bccache import FromStringCacheMixin, cached_from_string

SOURCE = "{% for x in items %}<{{ x }}>{% endfor %}{{ items|length }}"
CONTEXT = {"items": ["a", "<b>"]}


class CachedEnv(FromStringCacheMixin, Environment):
    pass


class CachedSandbox(FromStringCacheMixin, SandboxedEnvironment):
    pass


class CachedNative(FromStringCacheMixin, NativeEnvironment):
    pass


def render(template, enable_async=False):
    if enable_async:
        return asyncio.run(template.render_async(CONTEXT))
    return template.render(CONTEXT)


@pytest.mark.parametrize(
    "cls,base",
    [
        (CachedEnv, Environment),
        (CachedSandbox, SandboxedEnvironment),
        (CachedNative, NativeEnvironment),
    ],
)
@pytest.mark.parametrize("enable_async", [False, True], ids=["sync", "async"])
def test_mixin_caches_and_renders_like_uncached(tmp_path, compiles, cls, base, enable_async):
    want = render(base(enable_async=enable_async).from_string(SOURCE), enable_async)
    compiles[0] = 0
    for _ in range(3):
        cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
        env = cls(bytecode_cache=cache, enable_async=enable_async)
        assert render(env.from_string(SOURCE), enable_async) == want
    assert compiles[0] == 1
    assert len(list(tmp_path.iterdir())) == 1


def test_compile_source_is_cached_and_loader_path_is_not_cached_twice(tmp_path, compiles):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    env = CachedEnv(bytecode_cache=cache, loader=DictLoader({"t.html": SOURCE}))
    code = env.compile(SOURCE)
    assert CachedEnv(bytecode_cache=cache).compile(SOURCE).co_code == code.co_code
    assert compiles[0] == 1
    env.get_template("t.html")
    # one entry for the string, one for the loader's template: not two for the template
    assert len(list(tmp_path.iterdir())) == 2
    assert env.compile(SOURCE, raw=True).startswith("from ")  # other uses pass through


def test_configurations_never_collide(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    plain = CachedEnv(bytecode_cache=cache).from_string(SOURCE).render(CONTEXT)
    escaped = CachedEnv(bytecode_cache=cache, autoescape=True).from_string(SOURCE).render(CONTEXT)
    assert "<<b>>" in plain and "&lt;b&gt;" in escaped
    with pytest.raises(SecurityError):
        CachedSandbox(bytecode_cache=cache).from_string("{{ ''.__class__.__mro__ }}").render()
        # the same source rendered first by a plain Environment would otherwise be served
    CachedEnv(bytecode_cache=cache).from_string("{{ ''.__class__.__mro__ }}").render()
    with pytest.raises(SecurityError):
        CachedSandbox(bytecode_cache=cache).from_string("{{ ''.__class__.__mro__ }}").render()


def test_select_autoescape_resolves_from_string_as_jinja_does(tmp_path):
    """select_autoescape(default_for_string=True) escapes from_string templates."""
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    for default in (True, False, True):
        env = CachedEnv(
            bytecode_cache=cache, autoescape=jinja2.select_autoescape(default_for_string=default)
        )
        want = Environment(autoescape=jinja2.select_autoescape(default_for_string=default))
        assert env.from_string(SOURCE).render(CONTEXT) == want.from_string(SOURCE).render(CONTEXT)


def test_overlay_keeps_caching(tmp_path, compiles):
    env = CachedEnv(bytecode_cache=jinja_bccache.FileSystemBytecodeCache(str(tmp_path)))
    overlay = env.overlay(autoescape=True)
    assert isinstance(overlay, CachedEnv)
    assert "&lt;b&gt;" in overlay.from_string(SOURCE).render(CONTEXT)
    assert "<<b>>" in env.from_string(SOURCE).render(CONTEXT)
    assert "&lt;b&gt;" in env.overlay(autoescape=True).from_string(SOURCE).render(CONTEXT)
    assert compiles[0] == 2


@pytest.mark.parametrize("cache_module", [jinja_bccache, jinja2.bccache], ids=["ours", "jinja2"])
def test_cached_from_string_function(tmp_path, compiles, cache_module):
    cache = cache_module.FileSystemBytecodeCache(str(tmp_path))
    want = {}
    for autoescape in (False, True):
        uncached = Environment(autoescape=autoescape).from_string(SOURCE, globals={"items": ["g"]})
        want[autoescape] = (uncached.render(), uncached.render(CONTEXT))
    compiles[0] = 0
    for autoescape in (False, True, False, True):
        env = Environment(bytecode_cache=cache, autoescape=autoescape)
        tmpl = cached_from_string(env, SOURCE, globals={"items": ["g"]})
        assert (tmpl.render(), tmpl.render(CONTEXT)) == want[autoescape]
    # isolated even through stock Jinja's cache: one entry per configuration
    assert compiles[0] == 2
    assert len(list(tmp_path.iterdir())) == 2


def test_template_class_and_no_cache():
    class MyTemplate(jinja2.Template):
        pass

    env = Environment()  # no bytecode cache: plain from_string
    tmpl = cached_from_string(env, SOURCE, template_class=MyTemplate)
    assert isinstance(tmpl, MyTemplate)
    assert tmpl.render(CONTEXT) == env.from_string(SOURCE).render(CONTEXT)


def test_syntax_errors_are_not_cached(tmp_path):
    env = CachedEnv(bytecode_cache=jinja_bccache.FileSystemBytecodeCache(str(tmp_path)))
    with pytest.raises(jinja2.TemplateSyntaxError):
        env.from_string("{% if %}")
    assert list(tmp_path.iterdir()) == []


def test_a_cache_whose_get_bucket_is_replaced_is_called_as_jinja_calls_it(tmp_path):
    # from_string hands the checksum it named the entry by to the cache's own get_bucket;
    # one a subclass replaced is called with Jinja's arguments instead, and used.
    calls = []

    class Counting(jinja_bccache.FileSystemBytecodeCache):
        def get_bucket(self, environment, name, filename, source):
            calls.append((name, filename, source))
            return super().get_bucket(environment, name, filename, source)

    cache = Counting(str(tmp_path))
    for _ in range(2):
        assert render(CachedEnv(bytecode_cache=cache).from_string(SOURCE)) == "<a><<b>>2"
    assert [(filename, source) for _, filename, source in calls] == [(None, SOURCE)] * 2
    assert cache.stats()["hits"] == 1
