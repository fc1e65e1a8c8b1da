"""Environment(bytecode_cache=...) end to end: warm environments compile nothing and render
exactly what an uncached environment renders, with Jinja's and our cache alike."""

import asyncio
import pickle

import jinja2.bccache
import pytest
from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader

import jinja_bccache

TEMPLATES = {
    "base.html": (
        "<html><title>{% block title %}Site{% endblock %}</title>"
        "<body>{% block body %}{% endblock %}{% include 'footer.html' %}</body></html>"
    ),
    "footer.html": "<footer>{{ year|default(2026) }}</footer>",
    "macros.html": (
        "{% macro row(item, loop) %}<tr class='{{ loop.cycle('odd', 'even') }}'>"
        "<td>{{ item.name|e }}</td><td>{{ '%.2f'|format(item.price) }}</td></tr>{% endmacro %}"
    ),
    "page.html": (
        "{% extends 'base.html' %}{% from 'macros.html' import row %}"
        "{% block title %}{{ title|upper }} - {{ super() }}{% endblock %}"
        "{% block body %}<table>{% for item in items %}{{ row(item, loop) }}{% endfor %}</table>"
        "{% if items|length > 2 %}many{% else %}few{% endif %}{% endblock %}"
    ),
}
CONTEXT = {
    "title": "shop",
    "items": [
        {"name": "<b>tea</b>", "price": 2.5},
        {"name": "cake", "price": 4},
        {"name": "x", "price": 0},
    ],
}


class CountingEnvironment(Environment):
    compiled: int = 0

    def compile(self, *args, **kwargs):
        CountingEnvironment.compiled += 1
        return super().compile(*args, **kwargs)


def loaders(tmp_path):
    for name, source in TEMPLATES.items():
        (tmp_path / name).write_text(source)
    return {
        "dict": DictLoader(TEMPLATES),
        "filesystem": FileSystemLoader(str(tmp_path)),
        "choice": ChoiceLoader([DictLoader({}), FileSystemLoader(str(tmp_path))]),
    }


@pytest.mark.parametrize("loader_kind", ["dict", "filesystem", "choice"])
@pytest.mark.parametrize("enable_async", [False, True], ids=["sync", "async"])
def test_cold_then_warm(impl, tmp_path, loader_kind, enable_async):
    src, cache_dir = tmp_path / "src", tmp_path / "cache"
    src.mkdir()
    cache_dir.mkdir()
    loader = loaders(src)[loader_kind]
    expected = Environment(loader=loader, enable_async=enable_async)

    def render(env):
        tmpl = env.get_template("page.html")
        if enable_async:
            return asyncio.run(tmpl.render_async(CONTEXT))
        return tmpl.render(CONTEXT)

    want = render(expected)
    assert "&lt;b&gt;tea&lt;/b&gt;" in want

    CountingEnvironment.compiled = 0
    cache = impl.FileSystemBytecodeCache(str(cache_dir))
    assert (
        render(CountingEnvironment(loader=loader, bytecode_cache=cache, enable_async=enable_async))
        == want
    )
    assert CountingEnvironment.compiled == 4  # page, base, macros, footer
    assert len(list(cache_dir.iterdir())) == 4

    cache = impl.FileSystemBytecodeCache(str(cache_dir))
    assert (
        render(CountingEnvironment(loader=loader, bytecode_cache=cache, enable_async=enable_async))
        == want
    )
    assert CountingEnvironment.compiled == 4  # nothing recompiled


def test_package_loader(impl, tmp_path, package_loader):
    cache = impl.FileSystemBytecodeCache(str(tmp_path))
    CountingEnvironment.compiled = 0
    for _ in range(2):
        env = CountingEnvironment(loader=package_loader, bytecode_cache=cache)
        assert env.get_template("test.html").render().strip() == "BAR"
    assert CountingEnvironment.compiled == 1


def test_changed_source_is_recompiled(impl, tmp_path):
    cache = impl.FileSystemBytecodeCache(str(tmp_path))
    CountingEnvironment.compiled = 0
    for version in ["one", "two", "two"]:
        env = CountingEnvironment(loader=DictLoader({"t": version}), bytecode_cache=cache)
        assert env.get_template("t").render() == version
    assert CountingEnvironment.compiled == 2


@pytest.mark.parametrize(
    "impl",
    [
        pytest.param(
            jinja2.bccache,
            marks=pytest.mark.xfail(
                raises=pickle.UnpicklingError,
                strict=True,
                reason="Jinja lets a pickle error out of get_template",
            ),
        ),
        jinja_bccache,
    ],
    ids=["jinja2", "ours"],
)
def test_damaged_entry_is_recompiled_and_replaced(impl, tmp_path):
    cache = impl.FileSystemBytecodeCache(str(tmp_path))
    loader = DictLoader({"t": "{{ 6 * 7 }}"})
    Environment(loader=loader, bytecode_cache=cache).get_template("t")
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(entry.read_bytes()[:20])
    assert Environment(loader=loader, bytecode_cache=cache).get_template("t").render() == "42"
    assert len(entry.read_bytes()) > 20
