"""Exact isolation: what a template's compiled code depends on is what its compilation read
(the kinds of its filters and tests, what folding its constants returned), recorded with the
entry and replayed on load. Configurations that fold differently never share an entry, and
those that fold alike always do, whatever else their Environments hold."""

import logging
import threading
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import DictLoader, Environment, pass_environment, pass_eval_context
from markupsafe import Markup, escape

import jinja_bccache
from jinja_bccache import FileSystemBytecodeCache, _folding


def scale_filter(x):
    def scale(v):
        return f"{v} x={x!r}"

    return scale


TEMPLATES = {"a.html": "{{ 5|scale }} {{ name|upper }}", "plain.html": "plain {{ name }}"}


def render(env, name="a.html"):
    return env.get_template(name).render(name="n")


def uncached(configure):
    env = Environment(loader=DictLoader(TEMPLATES))
    configure(env)
    return render(env)


def cached(directory, configure):
    env = Environment(
        loader=DictLoader(TEMPLATES), bytecode_cache=FileSystemBytecodeCache(directory)
    )
    configure(env)
    return render(env)


def by_closure(x):
    return lambda env: env.filters.__setitem__("scale", scale_filter(x))


@pass_environment
def from_global(env, v):
    return f"{v} x={env.globals['x']!r}"


def by_global(x):
    def configure(env):
        env.filters["scale"] = from_global
        env.globals["x"] = x

    return configure


@pytest.mark.parametrize("configure", [by_closure, by_global], ids=["closure", "global"])
@pytest.mark.parametrize("values", [(1, 1.0, True), (0.0, -0.0), ("1", b"1"), ((1,), [1])])
def test_values_that_fold_differently_never_share(tmp_path, configure, values):
    for layer in (True, False):
        jinja_bccache.memory_cache_clear()
        for value in values + values:  # twice: each reads its own entry back
            if not layer:
                jinja_bccache.memory_cache_clear()
            assert cached(str(tmp_path), configure(value)) == uncached(configure(value)), value


# One value of each kind that folds to its own repr, and containers of them.
FOLDED = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.floats(allow_nan=False, width=16),
        st.text(max_size=3),
        st.binary(max_size=3),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=2), inner, max_size=2),
    ),
    max_leaves=5,
)


def twin(value):
    """A value equal to ``value`` under ``==`` (and so under dict lookups) that Jinja folds
    to other code: another type, or the other zero."""
    kind = type(value)
    if kind is bool:
        return int(value)
    if kind is int:
        return float(value)
    if kind is float:
        return -value if value == 0 else int(value) if value.is_integer() else value
    if kind is tuple:
        return [twin(v) for v in value]
    if kind is list:
        return tuple(twin(v) for v in value)
    if kind is dict:
        return {k: twin(v) for k, v in value.items()}
    return value


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    first=FOLDED,
    other=FOLDED,
    twinned=st.booleans(),
    configure=st.sampled_from([by_closure, by_global]),
)
def test_property_each_renders_what_an_uncached_environment_renders(
    tmp_path_factory, first, other, twinned, configure
):
    second = twin(first) if twinned else other
    directory = str(tmp_path_factory.mktemp("shared"))
    jinja_bccache.memory_cache_clear()
    cached(directory, configure(first))  # primes the shared directory
    assert cached(directory, configure(second)) == uncached(configure(second))
    jinja_bccache.memory_cache_clear()
    assert cached(directory, configure(first)) == uncached(configure(first))
    assert cached(directory, configure(second)) == uncached(configure(second))


def test_configurations_that_fold_differently_each_keep_their_entry(tmp_path):
    """No ping-pong: once each has written, alternating loads only hit."""
    cache = FileSystemBytecodeCache(str(tmp_path))
    configs = [by_closure(v) for v in (1, 2, 3)]
    for configure in configs:
        env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
        configure(env)
        render(env)
    writes = cache.stats()["writes"]
    for _ in range(3):
        for configure in configs:
            jinja_bccache.memory_cache_clear()
            env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
            configure(env)
            render(env)
    assert cache.stats()["writes"] == writes == 3
    assert len(list(tmp_path.iterdir())) == 3


def test_a_kind_of_filter_changes_the_code(tmp_path):
    """The same filter name, called with the eval context in one Environment and plainly in
    another: the code calls it differently, so the entries differ."""

    @pass_eval_context
    def with_ctx(ctx, value):
        return f"ctx:{value}"

    def plain(value):
        return f"plain:{value}"

    for f in (with_ctx, plain, with_ctx):
        env = Environment(
            loader=DictLoader({"t": "{{ name|f }}"}),
            bytecode_cache=FileSystemBytecodeCache(str(tmp_path)),
        )
        env.filters["f"] = f
        expected = "ctx:n" if f is with_ctx else "plain:n"
        assert env.get_template("t").render(name="n") == expected


def nl2br_filter():
    # Jinja's documentation's example of an eval-context filter
    @pass_eval_context
    def nl2br(eval_ctx, value):
        br = "<br>\n"
        if eval_ctx.autoescape:
            value = escape(value)
            br = Markup(br)
        result = "\n\n".join(f"<p>{br.join(p.splitlines())}</p>" for p in value.split("\n\n"))
        return Markup(result) if eval_ctx.autoescape else result

    return nl2br


def test_live_globals_do_not_stop_sharing(tmp_path, caplog):
    """Globals that nothing can describe (a lock, a thread-local, a proxy) with a filter that
    receives the eval context: the entries are the settings' and the records'."""

    class Proxy:
        def __getattr__(self, name):
            raise RuntimeError("working outside of request context")

    def app_env():
        env = Environment(
            loader=DictLoader({"t": "{{ text|nl2br }}{{ 'a\nb'|nl2br }}"}),
            bytecode_cache=FileSystemBytecodeCache(str(tmp_path)),
            autoescape=True,
        )
        env.filters["nl2br"] = nl2br_filter()
        env.globals.update(lock=threading.Lock(), local=threading.local(), request=Proxy())
        return env

    with caplog.at_level(logging.WARNING, logger="jinja_bccache"):
        first = app_env()
        out = first.get_template("t").render(text="x\ny")
        jinja_bccache.memory_cache_clear()
        second = app_env()
        assert second.get_template("t").render(text="x\ny") == out
    assert second.bytecode_cache.stats()["hits"] == 1 and not caplog.records
    assert out == "<p>x<br>\ny</p><p>a<br>\nb</p>"


class Registry(Mapping):
    """A registry that is a mapping but not a dict (ansible-core 2.19 has its own)."""

    def __init__(self, items):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)


def test_registries_that_are_not_dicts(tmp_path, caplog):
    def make():
        env = Environment(
            loader=DictLoader({"t": "{{ 'a'|upper }}{{ x is odd }}"}),
            bytecode_cache=FileSystemBytecodeCache(str(tmp_path)),
        )
        env.filters = Registry(env.filters)
        env.tests = Registry(env.tests)
        return env

    with caplog.at_level(logging.WARNING, logger="jinja_bccache"):
        assert make().get_template("t").render(x=1) == "ATrue"
        jinja_bccache.memory_cache_clear()
        env = make()
        assert env.get_template("t").render(x=2) == "AFalse"
    assert env.bytecode_cache.stats()["hits"] == 1 and not caplog.records


class Hostile:
    """Attributes that raise, a property with a side effect, an equality that lies."""

    touched = 0

    def __getattr__(self, name):
        raise RuntimeError(f"no {name}")

    @property
    def effect(self):
        Hostile.touched += 1
        return 1

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


def test_hostile_objects_never_break_a_render(tmp_path, caplog):
    loader = DictLoader({"t": "{{ 'a'|odd }}{{ h }}", "u": "{{ 'b'|odd }}"})

    def make():
        env = Environment(loader=loader, bytecode_cache=FileSystemBytecodeCache(str(tmp_path)))
        env.filters["odd"] = lambda v: Hostile()  # folds to an object with no stable form
        env.globals["h"] = Hostile()
        env.policies["app.hostile"] = Hostile()
        return env

    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        out = make().get_template("t").render()
        assert make().get_template("u").render()
    assert out.startswith("<")
    assert Hostile.touched == 0
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "filters['odd']" in messages and "pass_context" in messages


def test_unencodable_folding_results_are_process_local_and_counted(tmp_path, caplog):
    class Money:
        def __init__(self, v):
            self.v = v

        def __str__(self):
            return f"${self.v}"

    loader = DictLoader({"t": "{{ 5|money }}"})
    cache = FileSystemBytecodeCache(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        for _ in range(3):
            env = Environment(loader=loader, bytecode_cache=cache)
            env.filters["money"] = Money
            assert env.get_template("t").render() == "$5"
    (record,) = caplog.records
    assert "filters['money']" in record.getMessage() and "Money" in record.getMessage()
    assert cache.stats()["process_local"] == 1 and cache.stats()["writes"] == 1


def test_a_filter_folding_to_a_new_value_per_call_is_not_stored(tmp_path):
    counter = iter(range(1000))
    env = Environment(
        loader=DictLoader({"t": "{{ 'x'|tick }}"}),
        bytecode_cache=FileSystemBytecodeCache(str(tmp_path)),
    )
    env.filters["tick"] = lambda v: f"{v}{next(counter)}"
    first = env.get_template("t").render()
    assert first.startswith("x")
    assert env.bytecode_cache.stats()["writes"] == 0


def test_code_compiled_before_get_bucket_is_recorded_when_stored(tmp_path):
    env = Environment()
    env.filters["f"] = lambda v: v * 2
    code = env.compile("{{ 'a'|f }}", "t")
    cache = FileSystemBytecodeCache(str(tmp_path))
    bucket = cache.get_bucket(env, "t", None, "{{ 'a'|f }}")
    bucket.code = code
    cache.set_bucket(bucket)
    jinja_bccache.memory_cache_clear()
    other = Environment()
    other.filters["f"] = lambda v: v * 3
    assert cache.get_bucket(other, "t", None, "{{ 'a'|f }}").code is None
    again = Environment()
    again.filters["f"] = lambda v: v * 2
    assert cache.get_bucket(again, "t", None, "{{ 'a'|f }}").code is not None


def test_code_compiled_beforehand_stored_into_a_bucket_that_hit_is_recorded(tmp_path):
    """A harness or a warm-up that stores precompiled code through a bucket that already hit
    (from a process-wide layer or an earlier store): the code is recorded, and loads hit."""
    env = Environment()
    env.filters["f"] = lambda v: v * 2
    source = "{{ 'a'|f }}"
    cache = FileSystemBytecodeCache(str(tmp_path))
    first = cache.get_bucket(env, "t", None, source)
    first.code = env.compile(source, "t")
    cache.set_bucket(first)
    again = cache.get_bucket(env, "t", None, source)
    assert again.code is not None
    again.code = env.compile(source, "t")  # compiled out of sight: carries no record
    cache.set_bucket(again)
    jinja_bccache.memory_cache_clear()
    fresh = Environment()
    fresh.filters["f"] = lambda v: v * 2
    assert cache.get_bucket(fresh, "t", None, source).code is not None
    other = Environment()
    other.filters["f"] = lambda v: v * 3
    assert cache.get_bucket(other, "t", None, source).code is None


def test_isolation_off_writes_jinjas_own_code(tmp_path):
    cache = FileSystemBytecodeCache(str(tmp_path), isolate_environments=False)
    env = Environment(loader=DictLoader({"t": "{{ 'a'|upper }}"}), bytecode_cache=cache)
    env.get_template("t")
    jinja_bccache.memory_cache_clear()
    bucket = cache.get_bucket(env, "t", None, "{{ 'a'|upper }}")
    assert _folding.record_of(bucket.code) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        1,
        -0.0,
        1.5,
        "s",
        b"b",
        Markup("<m>"),
        (1, [2]),
        {"k": {1, 2}},
        frozenset("ab"),
        range(3),
        1j,
    ],
)
def test_encoding_round_trips_with_types(value):
    data = _folding.encode(value)
    back = _folding.decode(data)
    assert type(back) is type(value) and back == value
    assert _folding.encode(back) == data


def test_from_string_through_a_cache_that_does_not_isolate(tmp_path):
    """FromStringCacheMixin over stock Jinja's cache isolates in the names it asks for."""
    import jinja2.bccache

    class Cached(jinja_bccache.FromStringCacheMixin, Environment):
        pass

    source = "{{ 5|scale }}"
    for x in (1, 1.0, True, 1):
        env = Cached(bytecode_cache=jinja2.bccache.FileSystemBytecodeCache(str(tmp_path)))
        by_closure(x)(env)
        assert env.from_string(source).render() == f"5 x={x!r}"
    assert len(list(tmp_path.iterdir())) == 3


def test_environments_built_alike_share_their_verdicts(tmp_path, monkeypatch):
    """A new Environment holding the same filters replays nothing; one whose filter
    receives the Environment (and could read anything of it) replays for itself."""
    from jinja_bccache import _memo

    replays = []
    original = _memo.replay
    monkeypatch.setattr(
        _memo, "replay", lambda env, record: replays.append(env) or original(env, record)
    )
    cache = FileSystemBytecodeCache(str(tmp_path))
    loader = DictLoader({"t": "{{ 'a'|shout }}{{ x|upper }}"})

    def shout(value):
        return value.upper() + "!"

    def make(f):
        env = Environment(loader=loader, bytecode_cache=cache)
        env.filters["shout"] = f
        return env

    assert make(shout).get_template("t").render(x="b") == "A!B"
    replays.clear()
    for _ in range(3):
        jinja_bccache.memory_cache_clear()
        assert make(shout).get_template("t").render(x="b") == "A!B"
    assert replays == []

    @pass_environment
    def reading(env, value):
        return value + env.globals.get("mark", "?")

    for mark in ("1", "2", "1"):
        env = make(reading)
        env.globals["mark"] = mark
        assert env.get_template("t").render(x="b") == f"a{mark}B"
    assert len(replays) >= 3


def test_a_record_planted_in_one_store_never_vouches_for_another(tmp_path):
    """Verdicts are memoized per Environment by what a record says, not by anything its
    writer names it: a record planted in an unsigned store, however it is made, leaves the
    verdict on a signed store's genuine record to that record."""
    import marshal

    source = "{{ 5|f }}"
    loader = DictLoader({"t": source})
    (tmp_path / "signed").mkdir(), (tmp_path / "open").mkdir()
    signed = FileSystemBytecodeCache(str(tmp_path / "signed"), secret=b"s")
    writer = Environment(loader=loader, bytecode_cache=signed)
    writer.filters["f"] = lambda v: "one"
    assert writer.get_template("t").render() == "one"

    env = Environment(loader=loader)
    env.filters["f"] = lambda v: "two"
    # Into an open store, under this Environment's key: code that renders "forged", with a
    # record asking nothing (which every Environment answers alike).
    planted = FileSystemBytecodeCache(str(tmp_path / "open"))
    bucket = planted.get_bucket(env, "t", None, source)
    nothing_asked = (_folding.MAGIC, marshal.dumps(()))
    bucket.code = _folding.attach(env.compile("forged", "t"), nothing_asked)
    planted.dump_bytecode(bucket)
    env.bytecode_cache = planted
    assert env.get_template("t").render() == "forged"  # an open store serves what it holds
    env.bytecode_cache = signed
    env.cache.clear()
    jinja_bccache.memory_cache_clear()
    assert env.get_template("t").render() == "two"
