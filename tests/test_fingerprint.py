"""The fingerprint's escape hatches and failure modes: undescribable values, declared
fingerprints, the fingerprint= argument, memoization and late edits of an Environment."""

import gc
import logging
import threading
import weakref

import pytest
from jinja2 import DictLoader, Environment
from jinja2.ext import Extension

import jinja_bccache
from jinja_bccache import _fingerprint


class NullCache(jinja_bccache.BytecodeCache):
    def load_bytecode(self, bucket):
        pass


def key_of(env, cache=None, name="t.html"):
    cache = cache or NullCache()
    return cache.get_bucket(env, name, None, "src").key


class LockedExtension(Extension):
    """An extension holding state nothing describes across processes."""

    def __init__(self, environment):
        super().__init__(environment)
        self.lock = threading.Lock()


def test_undescribable_extension_state_is_process_local_and_logged_once(caplog):
    env = Environment(extensions=[LockedExtension])
    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        first = key_of(env)
        assert key_of(env) == first
    messages = [r.getMessage() for r in caplog.records if r.name == "jinja_bccache.isolation"]
    assert len(messages) == 1
    assert "cached for this process only" in messages[0] and "LockedExtension" in messages[0]
    assert "__jinja_bccache_fingerprint__" in messages[0]  # what would make it shareable
    # in this process the same configuration still shares entries
    assert key_of(Environment(extensions=[LockedExtension])) == first


def test_slices_are_described_by_value(caplog):
    """CPython 3.14 folds ``x[1:3]`` into a slice constant of the code, so the code of
    extensions and of what they call holds slices: described by what they hold, not left to
    this process alone (django-jinja's and Ansible's Environments on 3.14)."""

    def window(size):
        env = Environment()
        env.policies["app.window"] = slice(1, size)
        return env

    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        first = key_of(window(3))
        assert key_of(window(3)) == first and key_of(window(4)) != first
    assert not caplog.records


def test_filters_and_globals_are_not_part_of_the_key(caplog):
    """What the application's filters do is recorded per template (see test_folding.py):
    a filter or global nothing can describe costs nothing."""
    lock = threading.Lock()
    env = Environment()
    env.filters["locked"] = lock.acquire
    env.globals["lock"] = lock
    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        assert key_of(env) == key_of(Environment())
    assert not caplog.records


def test_the_warning_keeps_no_environment_alive(caplog):
    """Handlers may keep records (MemoryHandler, error trackers): the record names the
    Environment but must not hold it, or everything its filters refer to."""
    env = Environment()
    env.policies["app.lock"] = threading.Lock()  # undescribable
    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        key_of(env)
    (record,) = [r for r in caplog.records if r.name == "jinja_bccache.isolation"]
    assert repr(env) in record.getMessage()
    gone = weakref.ref(env)
    del env
    gc.collect()
    assert gone() is None, "the log record keeps the Environment alive"


class Opaque:
    __slots__ = ()

    def __call__(self, value):
        return value


class Declared(Opaque):
    __slots__ = ()
    __jinja_bccache_fingerprint__ = "declared-filter-v1"


def test_declared_fingerprint_makes_a_value_describable(caplog):
    a, b = Environment(), Environment()
    a.policies["app.formatter"] = Declared()
    b.policies["app.formatter"] = Declared()
    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        assert key_of(a) == key_of(b)
    assert not caplog.records
    c = Environment()
    c.policies["app.formatter"] = Opaque()
    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        assert key_of(c) != key_of(a)
    assert caplog.records


class DescribedExtension(Extension):
    def __jinja_bccache_fingerprint__(self):
        return f"described:{self.environment.block_start_string}"


def test_extension_can_describe_itself():
    plain = Environment(extensions=[DescribedExtension])
    assert key_of(plain) == key_of(Environment(extensions=[DescribedExtension]))
    assert key_of(plain) != key_of(Environment())


def test_fingerprint_argument_replaces_the_computed_one(tmp_path):
    fixed = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), fingerprint="release-42")
    assert key_of(Environment(), fixed) == key_of(Environment(autoescape=True), fixed)
    by_callable = jinja_bccache.FileSystemBytecodeCache(
        str(tmp_path), fingerprint=lambda env: "async" if env.is_async else "sync"
    )
    assert key_of(Environment(), by_callable) == key_of(Environment(optimized=False), by_callable)
    assert key_of(Environment(), by_callable) != key_of(
        Environment(enable_async=True), by_callable
    )
    bad = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), fingerprint=lambda env: 42)
    with pytest.raises(TypeError, match="fingerprint must be a str"):
        key_of(Environment(), bad)


def test_isolation_off_gives_jinjas_key(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), isolate_environments=False)
    assert key_of(Environment(), cache) == cache.get_cache_key("t.html")
    assert key_of(Environment(), jinja_bccache.FileSystemBytecodeCache(str(tmp_path))) != (
        cache.get_cache_key("t.html")
    )


def test_filter_replaced_after_first_use_is_seen(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    env = Environment(loader=DictLoader({"t": "{{ 'a'|f }}"}), bytecode_cache=cache)
    env.filters["f"] = str.upper
    assert env.get_template("t").render() == "A"
    env.filters["f"] = lambda s: s * 2  # in place, after the first template was loaded
    env.cache.clear()
    assert env.get_template("t").render() == "aa"
    jinja_bccache.memory_cache_clear()
    env.cache.clear()
    assert env.get_template("t").render() == "aa"


def test_autoescape_callable_is_resolved_per_template():
    env = Environment(autoescape=lambda name: name is not None and name.endswith(".html"))
    assert key_of(env, name="a.html") != key_of(env, name="a.txt")
    assert key_of(Environment(autoescape=True), name="a.html") != key_of(
        Environment(autoescape=False), name="a.html"
    )


def test_subclass_of_our_base_is_isolated_by_default(tmp_path):
    """Jinja's MyCache pattern (its own __init__, no super call) still isolates."""

    class MyCache(jinja_bccache.BytecodeCache):
        def __init__(self):
            self.store = {}

        def load_bytecode(self, bucket):
            if bucket.key in self.store:
                bucket.bytecode_from_string(self.store[bucket.key])

        def dump_bytecode(self, bucket):
            self.store[bucket.key] = bucket.bytecode_to_string()

    cache = MyCache()
    loader = DictLoader({"t": "{{ x }}"})
    Environment(loader=loader, bytecode_cache=cache).get_template("t")
    out = Environment(loader=loader, bytecode_cache=cache, autoescape=True).get_template("t")
    assert out.render(x="<b>") == "&lt;b&gt;"
    assert len(cache.store) == 2


def test_policy_changes_against_jinjas_defaults():
    plain = key_of(Environment())
    removed = Environment()
    del removed.policies["truncate.leeway"]
    assert key_of(removed) != plain
    copied = Environment()
    copied.policies["json.dumps_kwargs"] = dict(copied.policies["json.dumps_kwargs"])
    assert key_of(copied) == plain
    changed = Environment()
    changed.policies["json.dumps_kwargs"] = {"sort_keys": False}
    assert key_of(changed) != plain
    # compared with their types: tojson folds {"sort_keys": 1} as it does True, but a policy
    # read by an extension could tell them apart, and nothing says which is which
    truthy = Environment()
    truthy.policies["json.dumps_kwargs"] = {"sort_keys": 1}
    assert key_of(truthy) != plain
    leeway = Environment()
    leeway.policies["truncate.leeway"] = 5.0
    assert key_of(leeway) != plain


def test_flask_environment_is_describable(tmp_path, caplog):
    flask = pytest.importorskip(
        "flask"
    )  # a listed test requirement; absent only outside dev/test.sh

    def app_env():
        app = flask.Flask("demo_app")
        app.jinja_options = {
            **app.jinja_options,
            "bytecode_cache": jinja_bccache.FileSystemBytecodeCache(str(tmp_path)),
        }
        return app.jinja_env

    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        first, second = app_env(), app_env()
        assert key_of(first, first.bytecode_cache) == key_of(second, second.bytecode_cache)
    assert not caplog.records  # Flask's json.dumps_function policy is a bound method: described


def test_environments_built_alike_share_one_computation(monkeypatch):
    calls = counting_compute(monkeypatch)

    def factory(offset):
        env = Environment(extensions=["jinja2.ext.i18n"])
        env.filters["shift"] = lambda v: v + offset  # a new function object per Environment
        env.policies["app.offset"] = offset
        return env

    keys = {key_of(factory(1)) for _ in range(5)}
    assert len(keys) == 1 and len(calls) == 1
    assert key_of(factory(2)) not in keys  # another policy value
    assert len(calls) == 2
    # plain values are told apart by type and sign, as Jinja folds them
    assert len({key_of(factory(v)) for v in (1, 1.0, True, 0.0, -0.0)} - keys) == 4


class EqualsEverything:
    """A filter object whose ``==`` says yes to anything, Jinja's own filters included."""

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__

    def __call__(self, value):
        return "forged"


def test_a_default_filter_replaced_by_an_equal_looking_object_is_not_served(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    loader = DictLoader({"t": "{{ 'x'|upper }}"})
    assert Environment(loader=loader, bytecode_cache=cache).get_template("t").render() == "X"
    replaced = Environment(loader=loader, bytecode_cache=cache)
    replaced.filters["upper"] = EqualsEverything()
    assert replaced.get_template("t").render() == "forged"
    odd_name = Environment(loader=loader, bytecode_cache=cache)
    odd_name.filters[1] = len  # a name that is not a str: looked at, not looked up
    assert odd_name.get_template("t").render() == "X"


def test_an_undescribable_kind_is_logged_once_per_process(caplog):
    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        for _ in range(5):
            key_of(Environment(extensions=[LockedExtension]))
    assert len(caplog.records) == 1


def test_an_undescribable_value_stands_in_for_itself_only():
    """What can be described around an undescribable value still tells configurations apart:
    two policies holding a lock, one shouting and one whispering, are not one configuration."""
    lock = threading.Lock()
    shout, whisper = Environment(), Environment()
    shout.policies["app.style"] = (lock, "upper")
    whisper.policies["app.style"] = (lock, "lower")
    assert key_of(shout) != key_of(whisper)


def counting_compute(monkeypatch):
    """Counts the fingerprint computations, with no configuration known yet in this process."""
    from jinja_bccache import _memo, _signature

    monkeypatch.setattr(_memo, "SIGNATURES", _signature.SignatureTable())
    monkeypatch.setattr(_memo, "SHALLOW", _signature.SignatureTable())
    calls = []
    original = _fingerprint.compute
    monkeypatch.setattr(_fingerprint, "compute", lambda env: calls.append(env) or original(env))
    return calls


def test_shallow_names_tell_apart_values_that_fold_apart():
    """The shallow signature's native naming: plain values by type and content (1, 1.0 and
    True, 0.0 and -0.0, str and bytes are different names), objects by identity and watched,
    small dicts by what they hold; what it cannot name is refused, never guessed."""
    from markupsafe import Markup

    from jinja_bccache._native import shallow_names

    values = [1, 1.0, True, 0.0, -0.0, "x", b"x", None, 1 + 0j, float("nan"), 0, False]
    assert len(set(shallow_names(values, []))) == len(values)
    assert shallow_names(values, []) == shallow_names(list(values), [])
    watched = []

    def f():
        return 0

    assert shallow_names([f, f], watched) == (id(f), id(f)) and watched == [f, f]
    assert shallow_names([{"k": 1}], []) == shallow_names([{"k": 1}], [])
    assert shallow_names([{"k": 1}], []) != shallow_names([{"k": True}], [])
    assert shallow_names([str.upper], []) != shallow_names([str.lower], [])
    looping = {}
    looping["self"] = looping
    for refused in ("x" * 5000, b"x" * 5000, Markup("m"), [1], object(), looping):
        with pytest.raises(ValueError):
            shallow_names([refused], [])


def test_sandboxed_environments_built_alike_share_one_computation(monkeypatch):
    from jinja2.sandbox import SandboxedEnvironment

    calls = counting_compute(monkeypatch)
    # each SandboxedEnvironment has operator tables of its own: described by content
    keys = {key_of(SandboxedEnvironment()) for _ in range(5)}
    assert len(keys) == 1 and len(calls) == 1


def test_undefined_classes_made_per_node_are_one_configuration(monkeypatch, caplog):
    from jinja2 import ChainableUndefined, StrictUndefined, Undefined

    def create_undefined(node, base=Undefined):
        class NodeUndefined(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.node = node

        return NodeUndefined

    calls = counting_compute(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="jinja_bccache.isolation"):
        keys = {
            key_of(Environment(undefined=create_undefined(threading.Lock()))) for _ in range(5)
        }
    assert len(keys) == 1 and len(calls) == 1 and not caplog.records
    # what changes what folds still separates: the classes it derives from, its methods
    others = {
        key_of(Environment(undefined=create_undefined(None, base)))
        for base in (StrictUndefined, ChainableUndefined)
    }
    assert len(others) == 2 and not others & keys


def test_undefined_classes_made_per_node_are_told_apart_by_their_configuration(monkeypatch):
    # What a factory's class captures besides the node (a flag, a function, defaults) is
    # configuration: the class shapes that the shallow signature names natively keep it.
    from jinja2 import Undefined

    def create_undefined(node, strict, hint=None, render=str):
        class NodeUndefined(Undefined):
            def __init__(self, *args, hint=hint, **kwargs):
                super().__init__(*args, **kwargs)
                self.node = node

            def __str__(self):
                if strict:
                    self._fail_with_undefined_error()
                return render("")

        return NodeUndefined

    calls = counting_compute(monkeypatch)
    alike = {key_of(Environment(undefined=create_undefined(object(), True))) for _ in range(4)}
    assert len(alike) == 1 and len(calls) == 1
    others = [
        key_of(Environment(undefined=create_undefined(object(), False))),
        key_of(Environment(undefined=create_undefined(object(), True, hint="x"))),
        key_of(Environment(undefined=create_undefined(object(), True, render=repr))),
    ]
    assert len(set(others)) == 3 and not set(others) & alike

    def with_property(node):
        class NodeUndefined(Undefined):  # a kind of member named in Python, not natively
            where = property(lambda self: node)

        return NodeUndefined

    shared = {key_of(Environment(undefined=with_property(object()))) for _ in range(3)}
    assert len(shared) == 1 and not shared & alike


def test_an_overlay_gets_its_own_fingerprint():
    env = Environment()
    key_of(env)
    overlay = env.overlay(trim_blocks=True)
    assert key_of(overlay) != key_of(env)
    assert key_of(env.overlay()) == key_of(env)


def test_the_memo_holds_no_reference_to_what_filters_are_bound_to():
    import gc
    import weakref

    class Request:
        pass

    def handle():
        request = Request()
        env = Environment()
        env.filters["here"] = lambda s: (request, s)[1]
        key_of(env)
        return weakref.ref(request)

    alive = handle()
    gc.collect()
    assert alive() is None
