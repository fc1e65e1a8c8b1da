"""Real applications' own Environments, each built by the application's own code path in
fresh processes that share one cache directory: the second process only hits, nothing is
logged, and the output is what the application renders without a cache.

The applications are test requirements (``dev/requirements-test.txt``); one that cannot be
imported here (ansible-core needs Python 3.11 or later) is skipped, and says why."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

#: Shared by every script: records what the package logs, prints what the script rendered.
PRELUDE = textwrap.dedent("""
    import json, logging, os, sys
    logged = []
    _handler = logging.Handler()
    _handler.emit = logged.append
    logging.getLogger("jinja_bccache").addHandler(_handler)
    from jinja_bccache import FileSystemBytecodeCache
    CACHE_DIR = sys.argv[1]
    WORK = sys.argv[2]
    def cache():
        return None if CACHE_DIR == "-" else FileSystemBytecodeCache(CACHE_DIR)
    def report(out, cache):
        print(json.dumps({"out": out, "stats": cache.stats() if cache else None,
                          "logged": [r.getMessage() for r in logged]}))
""")

FLASK = textwrap.dedent("""
    from flask import Flask, render_template
    from flask_babel import Babel
    from flask_login import LoginManager
    from jinja2 import DictLoader, pass_environment, pass_eval_context
    from markupsafe import Markup, escape

    app = Flask("shop", root_path=WORK)
    app.config["SECRET_KEY"] = "k"
    app.config["CDN"] = "https://cdn.example"
    app.jinja_options = {**app.jinja_options, "bytecode_cache": cache(),
                         "loader": DictLoader({"page.html": SOURCE, "nav.html": NAV})}
    Babel(app)
    LoginManager(app).user_loader(lambda user_id: None)

    @app.template_filter()
    @pass_eval_context
    def nl2br(eval_ctx, value):
        br = Markup("<br>\\n") if eval_ctx.autoescape else "<br>\\n"
        return br.join((escape(value) if eval_ctx.autoescape else value).splitlines())

    @app.template_filter()
    @pass_environment
    def cdn(env, path):
        return env.globals["config"]["CDN"] + "/" + path

    @app.route("/")
    def index():
        return render_template("page.html", text="a\\nb")

    with app.test_request_context("/?q=1"):
        out = index()
    report(out, app.jinja_env.bytecode_cache)
""")

FLASK_SOURCE = (
    "{% include 'nav.html' %}{{ _('Hello') }} {{ gettext('%(n)s items', n=2) }} "
    "{% trans %}Welcome{% endtrans %} {{ current_user.is_authenticated }} "
    "{{ text|nl2br }} {{ 'x\\ny'|nl2br }} {{ 'site.css'|cdn }} {{ url_for('index') }} "
    "{{ request.args.q }} {{ session.get('k', 'none') }} {{ get_flashed_messages() }}"
)

DJANGO = textwrap.dedent("""
    import django
    from django.conf import settings

    os.makedirs(os.path.join(WORK, "templates"), exist_ok=True)
    with open(os.path.join(WORK, "templates", "page.html"), "w") as f:
        f.write(SOURCE)
    settings.configure(
        DEBUG=False, SECRET_KEY="k", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
        STATIC_URL="/static/", USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                        "django.contrib.staticfiles"],
        TEMPLATES=[{"NAME": "jinja2", "BACKEND": BACKEND,
                    "DIRS": [os.path.join(WORK, "templates")], "OPTIONS": OPTIONS}],
    )
    urlpatterns = []
    django.setup()
    from django.template import engines
    from django.test import RequestFactory

    engine = engines["jinja2"]
    request = RequestFactory().get("/shop/?q=1")
    out = engine.get_template("page.html").render({"name": "Ada", "items": [1, 2]}, request)
    report(out, engine.env.bytecode_cache)
""")

DJANGO_BACKEND = textwrap.dedent("""
    BACKEND = "django.template.backends.jinja2.Jinja2"
    OPTIONS = {"bytecode_cache": cache(),
               "context_processors": ["django.template.context_processors.request",
                                      "django.template.context_processors.csrf"]}
""")

DJANGO_SOURCE = (
    "{{ name|upper }} {{ request.path }} {{ request.GET.q }} {{ csrf_token|length > 0 }} "
    "{% for i in items %}{{ i }}{% endfor %} {{ 'a b c'|title }}"
)

DJANGO_JINJA = textwrap.dedent("""
    BACKEND = "django_jinja.backend.Jinja2"
    OPTIONS = {"match_extension": ".html", "context_processors": [
                   "django.template.context_processors.request"]}
    if CACHE_DIR != "-":
        OPTIONS["bytecode_cache"] = {"enabled": True, "name": CACHE_DIR,
                                     "backend": "jinja_bccache.FileSystemBytecodeCache"}
""")

DJANGO_JINJA_SOURCE = (
    "{{ 'the quick brown fox'|truncatewords(2) }} {{ name|truncatechars(3) }} "
    "{{ 'hello world'|capfirst }} {{ static('app.css') }} {{ request.path }} "
    "{{ 'a-b'|slugify }} {{ 1234567|filesizeformat }} {{ items|join(',') }}"
)

ANSIBLE = textwrap.dedent("""
    import jinja2
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    with open(os.path.join(WORK, "motd.j2"), "w") as f:
        f.write(SOURCE)
    import warnings
    warnings.simplefilter("ignore")
    from ansible._internal._templating._utils import TemplateContext
    from ansible._internal._templating._engine import TemplateOptions

    templar = Templar(loader=DataLoader())
    env = templar.environment  # Ansible's own Environment subclass, filters and tests
    env.bytecode_cache = cache()
    env.loader = jinja2.FileSystemLoader(WORK)
    engine = templar._engine
    with TemplateContext(template_value=SOURCE, templar=engine, options=TemplateOptions.DEFAULT):
        template = env.get_template("motd.j2")
        out = template.render(name="web1", items=[1, 2], port=8080)
    report(out, env.bytecode_cache)
""")

ANSIBLE_SOURCE = (
    "{{ name | upper }} {{ 'a,b' | split(',') | join('-') }} {{ port | int + 1 }} "
    "{% if items is iterable %}{% for i in items %}{{ i }}{% endfor %}{% endif %} "
    "{{ 'x' | quote }} {{ {'b': 1, 'a': 2} | dict2items | map(attribute='key') | join }}"
)


def run(script, cache_dir, work, source):
    code = PRELUDE + f"SOURCE = {source!r}\nNAV = '<nav>{{{{ _(\"Home\") }}}}</nav>'\n" + script
    out = subprocess.run(
        [sys.executable, "-c", code, str(cache_dir), str(work)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def shares_across_processes(tmp_path, script, source):
    work = tmp_path / "work"
    work.mkdir()
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    plain = run(script, "-", work, source)
    first = run(script, cache_dir, work, source)
    second = run(script, cache_dir, work, source)
    assert first["out"] == second["out"] == plain["out"]
    assert first["logged"] == second["logged"] == [], first["logged"] + second["logged"]
    assert first["stats"]["writes"] >= 1 and first["stats"]["process_local"] == 0
    assert second["stats"]["misses"] == second["stats"]["writes"] == 0, second["stats"]
    assert second["stats"]["hits"] == first["stats"]["writes"]
    return plain["out"]


def test_flask_with_babel_login_and_filters_receiving_the_environment(tmp_path):
    for module in ("flask", "flask_babel", "flask_login"):
        pytest.importorskip(module)
    out = shares_across_processes(tmp_path, FLASK, FLASK_SOURCE)
    assert "<nav>Home</nav>Hello 2 items Welcome False a<br>\nb" in out
    assert "x<br>\ny https://cdn.example/site.css / 1 none []" in out


def test_django_jinja2_backend_with_context_processors(tmp_path):
    pytest.importorskip("django")
    out = shares_across_processes(tmp_path, DJANGO_BACKEND + DJANGO, DJANGO_SOURCE)
    assert out == "ADA /shop/ 1 True 12 A B C"


def test_django_jinja_with_its_default_extensions(tmp_path):
    pytest.importorskip("django_jinja")
    out = shares_across_processes(tmp_path, DJANGO_JINJA + DJANGO, DJANGO_JINJA_SOURCE)
    # filesizeformat's space is a non-breaking one in recent Django releases
    assert (
        out.replace("\xa0", " ")
        == "the quick … Ada Hello world /static/app.css /shop/ a-b 1.2 MB 1,2"
    )


def test_ansible_core_templating(tmp_path):
    ansible = pytest.importorskip("ansible", reason="ansible-core 2.19 needs Python 3.11 or later")
    # In a process of its own: importing Ansible's templating patches the standard library,
    # and where Ansible does not support this Python it fails by itself, without this package.
    probe = subprocess.run(
        [sys.executable, "-c", "import ansible.template"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        error = probe.stderr.strip().splitlines()[-1]
        version = getattr(ansible, "__version__", "?")
        pytest.skip(f"ansible-core {version} does not run on this Python: {error}")
    out = shares_across_processes(tmp_path, ANSIBLE, ANSIBLE_SOURCE)
    assert out.startswith("WEB1 a-b 8081 12 x ba")


WARMED_APP = textwrap.dedent("""
    import os
    from flask import Flask
    from jinja2 import DictLoader, pass_eval_context
    from markupsafe import Markup
    from jinja_bccache import FileSystemBytecodeCache

    app = Flask("warmed")
    app.jinja_options = {**app.jinja_options,
                         "bytecode_cache": FileSystemBytecodeCache(os.environ["WARMED_CACHE"]),
                         "loader": DictLoader({"p.html": "{{ t|nl2br }} {{ 'a\\\\nb'|nl2br }}"})}

    @app.template_filter()
    @pass_eval_context
    def nl2br(ctx, value):
        return Markup("<br>").join(value.splitlines())
""")


def test_flask_app_warmed_by_the_cli_is_hit_by_every_worker(tmp_path):
    """The CLI's warm compiles the template once; each worker process then only hits."""
    pytest.importorskip("flask")
    (tmp_path / "warmed_app.py").write_text(WARMED_APP)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(tmp_path), WARMED_CACHE=str(cache_dir))
    warm = subprocess.run(
        [sys.executable, "-m", "jinja_bccache", "warm", "warmed_app:app.jinja_env"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert warm.returncode == 0 and "1 compiled" in warm.stdout + warm.stderr, warm.stderr
    worker = (
        "import json, warmed_app; "
        "e = warmed_app.app.jinja_env; out = e.get_template('p.html').render(t='x\\ny'); "
        "print(json.dumps([out, e.bytecode_cache.stats()]))"
    )
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", worker],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        rendered, stats = json.loads(out.stdout)
        assert rendered == "x<br>y a<br>b"
        assert stats["hits"] == 1 and stats["misses"] == stats["writes"] == 0
    assert len(list(cache_dir.iterdir())) == 1
