"""Settings changed in place after an Environment loaded its first template. Jinja compiles
later templates with the new settings; the cache must store them under the new settings' key,
or an Environment still configured the old way would be served code compiled the new way."""

import pytest
from jinja2 import DictLoader, Environment, StrictUndefined, pass_environment

import jinja_bccache


def i18n(**options):
    env = Environment(extensions=["jinja2.ext.i18n"], **options)
    env.install_null_translations()
    return env


def with_dumps_kwargs(**options):
    env = Environment(**options)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True}  # its own dict, changed below
    return env


@pass_environment
def static_url(env, path):
    return env.globals["STATIC_URL"] + path


def with_static(**options):
    env = Environment(**options)
    env.filters["static"] = static_url
    env.globals["STATIC_URL"] = "/a/"
    return env


def assign(target, key, value):
    return lambda env: getattr(env, target).__setitem__(key, value)


#: (how the Environment is made, the edit made after its first template, a template that
#: compiles differently after the edit)
EDITS = {
    "policy_i18n_trimmed": (
        i18n,
        assign("policies", "ext.i18n.trimmed", True),
        "{% trans %}  a\n  b  {% endtrans %}",
    ),
    "policy_truncate_leeway": (
        Environment,
        assign("policies", "truncate.leeway", 0),
        '{{ "aaaaaaaaaaaaaaaaaaaaaaa"|truncate(20) }}',
    ),
    "policy_value_changed_in_place": (
        with_dumps_kwargs,
        lambda env: env.policies["json.dumps_kwargs"].update(sort_keys=False),
        '{{ {"b": 1, "a": 2}|tojson }}',
    ),
    "filter_replaced": (
        Environment,
        assign("filters", "upper", lambda s: "replaced"),
        '{{ "abc"|upper }}',
    ),
    "test_replaced": (Environment, assign("tests", "odd", lambda n: True), "{{ 2 is odd }}"),
    "global_read_by_a_filter": (
        with_static,
        assign("globals", "STATIC_URL", "/b/"),
        '{{ "site.css"|static }}',
    ),
    "lexer_setting": (
        Environment,
        lambda env: setattr(env, "trim_blocks", True),
        "{% if true %}\nyes\n{% endif %}\n",
    ),
    "undefined": (
        Environment,
        lambda env: setattr(env, "undefined", StrictUndefined),
        '{{ "a".nope }}',
    ),
}


def outcome(env):
    try:
        return ("renders", env.get_template("page").render())
    except Exception as exc:
        return ("raises", type(exc).__name__)


@pytest.fixture(params=["layer-on", "layer-off"])
def layer(request):
    if request.param == "layer-off":
        request.getfixturevalue("memory_layer_off")


@pytest.mark.usefixtures("layer")
@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_setting_changed_after_the_first_load(tmp_path, edit):
    make, change, source = edit
    loader = DictLoader({"first": "{{ 1 }}", "page": source})
    want_before = outcome(make(loader=loader))
    edited = make(loader=loader)
    change(edited)
    want_after = outcome(edited)
    assert want_before != want_after

    def cache():
        return jinja_bccache.FileSystemBytecodeCache(str(tmp_path))

    env = make(loader=loader, bytecode_cache=cache())
    env.get_template("first")  # the fingerprint is computed and memoized here
    change(env)
    assert outcome(env) == want_after
    # an Environment still configured the old way is not served what was compiled the new way
    assert outcome(make(loader=loader, bytecode_cache=cache())) == want_before
    again = make(loader=loader, bytecode_cache=cache())
    change(again)
    assert outcome(again) == want_after
