"""warm() against loaders that load a template under another name than the one listed
(PrefixLoader, a ChoiceLoader holding one, custom loaders overriding load, Flask's
DispatchingJinjaLoader): the entries it writes must be the ones the application reads."""

import jinja2.bccache
import pytest
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    DictLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
)

import jinja_bccache

BROKEN = "{% for %}"


def write_tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def entries(cache_dir):
    return sorted(p.name for p in cache_dir.iterdir() if p.name.endswith(".cache"))


def assert_application_hits(make_env, cache_dir, names):
    """A new Environment built the same way, over a new cache object on the same directory,
    loads every name from the cache: no miss, no write, no second set of entries."""
    before = entries(cache_dir)
    cache = jinja_bccache.FileSystemBytecodeCache(str(cache_dir))
    env = make_env(cache)
    for name in names:
        env.get_template(name)
    stats = cache.stats()
    assert (stats["misses"], stats["writes"], stats["hits"]) == (0, 0, len(names)), stats
    assert entries(cache_dir) == before
    assert len(before) == len(names)


def warm_and_check(make_env, cache_dir, good, broken=(), jobs=1):
    summary = jinja_bccache.warm(
        make_env(jinja_bccache.FileSystemBytecodeCache(str(cache_dir))), jobs=jobs
    )
    assert sorted(summary.compiled) == sorted(good)
    assert [name for name, _ in summary.failed] == list(broken)
    assert all("TemplateSyntaxError" in reason for _, reason in summary.failed)
    assert summary.already_warm == []
    assert_application_hits(make_env, cache_dir, good)
    again = jinja_bccache.warm(
        make_env(jinja_bccache.FileSystemBytecodeCache(str(cache_dir))), jobs=jobs
    )
    assert sorted(again.already_warm) == sorted(good) and again.compiled == []
    assert [name for name, _ in again.failed] == list(broken)
    assert len(entries(cache_dir)) == len(good)


@pytest.mark.parametrize("jobs", [1, 3])
def test_prefix_loader(tmp_path, jobs):
    # the same local names under both prefixes: only the filename tells them apart
    shop = write_tree(
        tmp_path / "shop",
        {"index.html": "shop {{ x }}", "item.html": "item {{ x }}", "bad.html": BROKEN},
    )
    blog = write_tree(tmp_path / "blog", {"index.html": "blog {{ x }}", "post/one.html": "one"})
    loader = PrefixLoader(
        {
            "shop": FileSystemLoader(str(shop)),
            "blog": FileSystemLoader(str(blog)),
            "mem": DictLoader({"m.txt": "{{ 1 + 1 }}"}),
        }
    )
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()

    def make_env(cache):
        return Environment(loader=loader, autoescape=True, bytecode_cache=cache)

    good = [
        "blog/index.html",
        "blog/post/one.html",
        "mem/m.txt",
        "shop/index.html",
        "shop/item.html",
    ]
    warm_and_check(make_env, cache_dir, good, broken=["shop/bad.html"], jobs=jobs)


def test_choice_loader_holding_prefix_and_dict_loaders(tmp_path):
    themes = write_tree(
        tmp_path / "theme", {"base.html": "<b>{% block b %}{% endblock %}</b>", "nav.html": "nav"}
    )
    loader = ChoiceLoader(
        [
            PrefixLoader({"theme": FileSystemLoader(str(themes))}),
            DictLoader(
                {
                    "home.html": "{% extends 'theme/base.html' %}{% block b %}home{% endblock %}",
                    "about.html": "about {{ x }}",
                    "broken.html": BROKEN,
                }
            ),
            ChoiceLoader(
                [PrefixLoader({"nested": DictLoader({"deep.html": "deep"})}, delimiter=":")]
            ),
        ]
    )
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()

    def make_env(cache):
        return Environment(loader=loader, bytecode_cache=cache)

    good = ["about.html", "home.html", "nested:deep.html", "theme/base.html", "theme/nav.html"]
    warm_and_check(make_env, cache_dir, good, broken=["broken.html"])


class LocaleLoader(BaseLoader):
    """Lists neutral names and loads each from the locale's folder of the inner loader:
    ``load`` maps the name before the cache sees it, as Jinja's own PrefixLoader does."""

    def __init__(self, inner, locale):
        self.inner = inner
        self.locale = locale

    def _local(self, name):
        return f"{self.locale}/{name}"

    def get_source(self, environment, template):
        return self.inner.get_source(environment, self._local(template))

    def load(self, environment, name, globals=None):
        return self.inner.load(environment, self._local(name), globals)

    def list_templates(self):
        prefix = f"{self.locale}/"
        return [n[len(prefix) :] for n in self.inner.list_templates() if n.startswith(prefix)]


def test_custom_loader_overriding_load(tmp_path):
    inner = DictLoader(
        {
            "fr/a.html": "bonjour {{ x }}",
            "fr/b.html": "b",
            "fr/c.html": BROKEN,
            "en/a.html": "hello",
        }
    )
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()

    def make_env(cache):
        return Environment(loader=LocaleLoader(inner, "fr"), bytecode_cache=cache)

    warm_and_check(make_env, cache_dir, ["a.html", "b.html"], broken=["c.html"])


def make_flask_app(root, cache):
    flask = pytest.importorskip("flask")
    app = flask.Flask("warm_app", root_path=str(root))
    app.jinja_options = {**app.jinja_options, "bytecode_cache": cache}
    bp = flask.Blueprint(
        "shop", "warm_app.shop", root_path=str(root / "shop"), template_folder="shop_templates"
    )
    app.register_blueprint(bp)
    return app


@pytest.mark.parametrize("extended", [False, True], ids=["dispatching", "choice_with_prefix"])
def test_flask_dispatching_loader(tmp_path, extended):
    write_tree(
        tmp_path / "templates",
        {
            "index.html": "{% extends 'layout.html' %}",
            "layout.html": "<p>{{ g }}</p>",
            "broken.html": BROKEN,
        },
    )
    write_tree(
        tmp_path / "shop" / "shop_templates",
        {"shop/list.html": "{{ items|tojson }}", "shop/item.html": "{{ item }}"},
    )
    plugin = write_tree(tmp_path / "plugin", {"widget.html": "w"})
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()

    def make_env(cache):
        env = make_flask_app(tmp_path, cache).jinja_env
        assert type(env.loader).__name__ == "DispatchingJinjaLoader"
        if extended:  # the usual way to add a plugin's templates to a Flask app
            env.loader = ChoiceLoader(
                [env.loader, PrefixLoader({"plugin": FileSystemLoader(str(plugin))})]
            )
        return env

    good = ["index.html", "layout.html", "shop/item.html", "shop/list.html"]
    warm_and_check(
        make_env, cache_dir, good + ["plugin/widget.html"] * extended, broken=["broken.html"]
    )


def test_stock_jinja_cache_behind_prefix_loader(tmp_path, monkeypatch):
    loader = PrefixLoader({"a": DictLoader({"x.html": "{{ 6 * 7 }}"})})
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()

    def make_env():
        return Environment(
            loader=loader, bytecode_cache=jinja2.bccache.FileSystemBytecodeCache(str(cache_dir))
        )

    assert jinja_bccache.warm(make_env()).compiled == ["a/x.html"]
    assert jinja_bccache.warm(make_env()).already_warm == ["a/x.html"]
    assert len(entries(cache_dir)) == 1
    monkeypatch.setattr(Environment, "_compile", None)  # any compilation would fail
    assert make_env().get_template("a/x.html").render() == "42"


class BypassingLoader(DictLoader):
    """Builds templates itself, never asking the bytecode cache."""

    def load(self, environment, name, globals=None):
        source, filename, uptodate = self.get_source(environment, name)
        code = environment.compile(source, name, filename)
        return environment.template_class.from_code(
            environment, code, environment.make_globals(globals), uptodate
        )


def test_loader_that_does_not_use_the_cache_is_reported(tmp_path):
    env = Environment(
        loader=BypassingLoader({"a.html": "a"}),
        bytecode_cache=jinja_bccache.FileSystemBytecodeCache(str(tmp_path)),
    )
    summary = jinja_bccache.warm(env)
    assert summary.compiled == [] and summary.already_warm == []
    assert [name for name, _ in summary.failed] == ["a.html"]
    assert "bytecode cache" in summary.failed[0][1]
    assert entries(tmp_path) == []
