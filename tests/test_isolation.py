"""Environments configured differently share one cache and never load each other's code.

Each scenario is a pair of Environments that compile the same template differently.
Both render through one shared cache (A first, so B finds A's entry if the key lets it),
and each must give exactly its own uncached result. jinja2.bccache runs the same scenarios
as a control: it serves A's code to B, which is why it is marked as an expected failure;
that it fails there for every scenario shows each scenario can catch a shared entry.
"""

import asyncio
import dataclasses
import typing as t

import jinja2.bccache
import pytest
from jinja2 import (
    DebugUndefined,
    DictLoader,
    Environment,
    StrictUndefined,
    Undefined,
    pass_environment,
    pass_eval_context,
    select_autoescape,
)
from jinja2.nativetypes import NativeEnvironment
from jinja2.sandbox import SandboxedEnvironment

import jinja_bccache


class Account:
    def delete(self):
        return "DELETED"

    delete.unsafe_callable = True  # type: ignore[attr-defined]


def newstyle_i18n(**options):
    env = Environment(extensions=["jinja2.ext.i18n"], **options)
    env.install_null_translations(newstyle=True)
    return env


def oldstyle_i18n(**options):
    env = Environment(extensions=["jinja2.ext.i18n"], **options)
    env.install_null_translations(newstyle=False)
    return env


def with_filter(**options):
    env = Environment(**options)
    env.filters["upper"] = lambda s: "replaced"
    return env


def with_test(**options):
    env = Environment(**options)
    env.tests["odd"] = lambda n: True
    return env


def with_policy(name, value):
    def make(**options):
        env = Environment(**options)
        env.policies[name] = value
        return env

    return make


@pass_environment
def static_url(env, path):
    return env.globals["STATIC_URL"] + path


@pass_eval_context
def on_site(eval_ctx, value):
    return f"{value}@{eval_ctx.environment.globals['SITE']}"


def tenant(static, site):
    """An Environment per tenant: the same filters, other globals."""

    def make(**options):
        env = Environment(**options)
        env.filters["static"] = static_url
        env.filters["on_site"] = on_site
        env.globals.update(STATIC_URL=static, SITE=site)
        return env

    return make


def node_undefined(base):
    """dbt's pattern: an Undefined class made per node, holding the node."""

    def make(**options):
        node = object()

        class NodeUndefined(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.node = node

        return Environment(undefined=NodeUndefined, **options)

    return make


def overlay_async(**options):
    return Environment(**options).overlay(enable_async=True)


@dataclasses.dataclass
class Scenario:
    source: str
    a: t.Callable[..., Environment]
    b: t.Callable[..., Environment]
    name: str = "page.html"
    context: t.Dict[str, t.Any] = dataclasses.field(default_factory=dict)


SCENARIOS = {
    "sandbox": Scenario(
        "{{ account.delete() }}", Environment, SandboxedEnvironment, context={"account": Account()}
    ),
    "autoescape": Scenario(
        "{{ x }}",
        Environment,
        lambda **o: Environment(autoescape=True, **o),
        context={"x": "<script>"},
    ),
    "select_autoescape": Scenario(
        "{{ x }}",
        Environment,
        lambda **o: Environment(autoescape=select_autoescape(["html"]), **o),
        context={"x": "<script>"},
    ),
    "async": Scenario(
        "{% for i in items %}{{ i }}{% endfor %}",
        Environment,
        lambda **o: Environment(enable_async=True, **o),
        context={"items": [1, 2]},
    ),
    "overlay_async": Scenario(
        "{% for i in items %}{{ i }}{% endfor %}",
        Environment,
        overlay_async,
        context={"items": [1, 2]},
    ),
    "strict_undefined": Scenario(
        '{{ "a".nope }}', Environment, lambda **o: Environment(undefined=StrictUndefined, **o)
    ),
    "debug_undefined": Scenario(
        '{{ "a".nope }}', Environment, lambda **o: Environment(undefined=DebugUndefined, **o)
    ),
    "i18n_newstyle": Scenario(
        "{% trans %}{{ n }}%{% endtrans %}", oldstyle_i18n, newstyle_i18n, context={"n": 5}
    ),
    "filter": Scenario('{{ "abc"|upper }}', Environment, with_filter),
    "test": Scenario("{{ 2 is odd }}", Environment, with_test),
    "truncate_leeway": Scenario(
        '{{ "aaaaaaaaaaaaaaaaaaaaaaa"|truncate(20) }}',
        Environment,
        with_policy("truncate.leeway", 0),
    ),
    "json_dumps_kwargs": Scenario(
        '{{ {"b": 1, "a": 2}|tojson }}',
        Environment,
        with_policy("json.dumps_kwargs", {"sort_keys": False}),
    ),
    "delimiters": Scenario(
        "{{ 1 }}<% 2 %>",
        Environment,
        lambda **o: Environment(variable_start_string="<%", variable_end_string="%>", **o),
    ),
    "trim_blocks": Scenario(
        "{% if true %}\nyes\n{% endif %}\n",
        Environment,
        lambda **o: Environment(trim_blocks=True, **o),
    ),
    # the plain code str()s the object, which the native environment would return as is
    "native": Scenario("{{ x }}", Environment, NativeEnvironment, context={"x": Account()}),
    "finalize": Scenario(
        "{{ 'x' }}", Environment, lambda **o: Environment(finalize=lambda v: "F", **o)
    ),
    # a filter that receives the Environment and is applied to a literal runs at compile time
    "globals_pass_environment": Scenario(
        '{{ "site.css"|static }}', tenant("https://a/", "a"), tenant("https://b/", "a")
    ),
    "globals_pass_eval_context": Scenario(
        '{{ "home"|on_site }}', tenant("/", "a"), tenant("/", "b")
    ),
    # classes made per node by one factory are one configuration, but not across bases
    "factory_undefined_strict": Scenario(
        '{{ "a".nope }}', node_undefined(Undefined), node_undefined(StrictUndefined)
    ),
}


def outcome(env, scenario):
    try:
        result = env.get_template(scenario.name).render(scenario.context)
    except Exception as exc:
        return ("raises", type(exc).__name__)
    return ("renders", type(result).__name__, result)


def check_scenario(scenario, make_cache):
    loader = DictLoader({scenario.name: scenario.source})
    want_a = outcome(scenario.a(loader=loader), scenario)
    want_b = outcome(scenario.b(loader=loader), scenario)
    for _ in range(2):  # cold, then warm with both entries present
        assert outcome(scenario.a(loader=loader, bytecode_cache=make_cache()), scenario) == want_a
        assert outcome(scenario.b(loader=loader, bytecode_cache=make_cache()), scenario) == want_b


@pytest.fixture(params=["layer-on", "layer-off"])
def layer(request):
    """The in-process layer on (every test's default) and off: isolation holds either way."""
    if request.param == "layer-off":
        request.getfixturevalue("memory_layer_off")


@pytest.mark.usefixtures("layer")
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_filesystem_cache_isolates(scenario, tmp_path):
    check_scenario(scenario, lambda: jinja_bccache.FileSystemBytecodeCache(str(tmp_path)))


@pytest.mark.usefixtures("layer")
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_memcached_cache_isolates(scenario, pymemcache_client):
    check_scenario(scenario, lambda: jinja_bccache.MemcachedBytecodeCache(pymemcache_client))


@pytest.mark.xfail(strict=True, reason="jinja2.bccache serves one Environment's code to another")
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_control_jinja2_bccache_does_not_isolate(scenario, tmp_path):
    check_scenario(scenario, lambda: jinja2.bccache.FileSystemBytecodeCache(str(tmp_path)))


@pytest.mark.xfail(strict=True, reason="isolation switched off: Jinja's keys, Jinja's problem")
@pytest.mark.parametrize("scenario", [SCENARIOS["sandbox"]], ids=["sandbox"])
def test_control_isolation_off_does_not_isolate(scenario, tmp_path):
    check_scenario(
        scenario,
        lambda: jinja_bccache.FileSystemBytecodeCache(str(tmp_path), isolate_environments=False),
    )


def test_sandbox_raises_security_error_through_a_shared_cache(tmp_path):
    from jinja2.sandbox import SecurityError

    loader = DictLoader({"t": "{{ account.delete() }}"})
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    assert (
        Environment(loader=loader, bytecode_cache=cache)
        .get_template("t")
        .render(account=Account())
        == "DELETED"
    )
    with pytest.raises(SecurityError):
        SandboxedEnvironment(loader=loader, bytecode_cache=cache).get_template("t").render(
            account=Account()
        )


def test_async_render_through_overlay_shares_the_parents_cache_object(tmp_path):
    loader = DictLoader({"t": "{% for i in items %}{{ i }}{% endfor %}"})
    env = Environment(
        loader=loader, bytecode_cache=jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    )
    assert env.get_template("t").render(items=[1]) == "1"
    overlay = env.overlay(enable_async=True)
    assert overlay.bytecode_cache is env.bytecode_cache
    assert asyncio.run(overlay.get_template("t").render_async(items=[2])) == "2"
    assert len(list(tmp_path.iterdir())) == 2


def test_same_configuration_shares_entries(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    loader = DictLoader({"a.html": "{{ x|upper }}", "b.txt": "{{ x }}"})
    for _ in range(3):
        env = Environment(
            loader=loader, bytecode_cache=cache, autoescape=select_autoescape(["html"])
        )
        env.filters["shout"] = lambda s: s.upper() + "!"
        env.get_template("a.html")
        env.get_template("b.txt")
    assert len(list(tmp_path.iterdir())) == 2
