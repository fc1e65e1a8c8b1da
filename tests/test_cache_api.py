"""The BytecodeCache base class, subclassing from Python, and the public names."""

import inspect
from os import path

import jinja2.bccache
import pytest
from jinja2 import DictLoader, Environment

import jinja_bccache


def test_every_public_name_of_jinja2_bccache_exists():
    public = {
        n
        for n, v in vars(jinja2.bccache).items()
        if not n.startswith("_")
        and getattr(v, "__module__", "jinja2.bccache") == "jinja2.bccache"
        and not inspect.ismodule(v)
    }
    assert public == {
        "Bucket",
        "BytecodeCache",
        "FileSystemBytecodeCache",
        "MemcachedBytecodeCache",
        "bc_version",
        "bc_magic",
    }
    assert public <= set(jinja_bccache.__all__)


@pytest.mark.parametrize(
    "name", ["Bucket", "BytecodeCache", "FileSystemBytecodeCache", "MemcachedBytecodeCache"]
)
def test_classes_subclass_jinjas_and_keep_signatures(name):
    ours, theirs = getattr(jinja_bccache, name), getattr(jinja2.bccache, name)
    assert issubclass(ours, theirs)
    assert issubclass(
        ours, jinja2.bccache.Bucket if name == "Bucket" else jinja2.bccache.BytecodeCache
    )
    for method in [m for m in vars(theirs) if not m.startswith("__") or m == "__init__"]:
        if callable(getattr(theirs, method)):
            mine, jinjas = params(getattr(ours, method)), params(getattr(theirs, method))
            # Jinja's parameters, in order; anything added is keyword-only with a default
            assert mine[: len(jinjas)] == jinjas, method
            for _, kind, default in mine[len(jinjas) :]:
                assert (
                    kind is inspect.Parameter.KEYWORD_ONLY
                    and default is not inspect.Parameter.empty
                )


def params(function):
    # names, kinds and defaults: what a caller relies on (annotations name our own classes)
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_base_class_contract(impl):
    cache = impl.BytecodeCache()
    bucket = impl.Bucket(None, "k", "c")
    with pytest.raises(NotImplementedError):
        cache.load_bytecode(bucket)
    with pytest.raises(NotImplementedError):
        cache.dump_bytecode(bucket)
    assert cache.clear() is None


class MyCache(jinja_bccache.BytecodeCache):
    """The example from Jinja's BytecodeCache docstring, unchanged but for the import."""

    def __init__(self, directory):
        self.directory = directory

    def load_bytecode(self, bucket):
        filename = path.join(self.directory, bucket.key)
        if path.exists(filename):
            with open(filename, "rb") as f:
                bucket.load_bytecode(f)

    def dump_bytecode(self, bucket):
        filename = path.join(self.directory, bucket.key)
        with open(filename, "wb") as f:
            bucket.write_bytecode(f)


class CountingEnvironment(Environment):
    compiled = 0

    def compile(self, *args, **kwargs):
        type(self).compiled += 1
        return super().compile(*args, **kwargs)


def test_jinja_docstring_example_works(tmp_path):
    loader = DictLoader({"a.html": "Hello {{ name }}!"})
    CountingEnvironment.compiled = 0
    env = CountingEnvironment(loader=loader, bytecode_cache=MyCache(str(tmp_path)))
    assert env.get_template("a.html").render(name="x") == "Hello x!"
    (entry,) = tmp_path.iterdir()  # named by the isolated key: see test_isolation.py
    assert entry.read_bytes().startswith(jinja2.bccache.bc_magic)

    env = CountingEnvironment(loader=loader, bytecode_cache=MyCache(str(tmp_path)))
    assert env.get_template("a.html").render(name="y") == "Hello y!"
    assert CountingEnvironment.compiled == 1


class PrefixedKeys(jinja_bccache.FileSystemBytecodeCache):
    def get_cache_key(self, name, filename=None):
        return "custom-" + name.replace("/", "_")

    def get_source_checksum(self, source):
        return "len-%d" % len(source)


def test_key_and_checksum_overrides_are_used_by_get_bucket(tmp_path):
    cache = PrefixedKeys(str(tmp_path))
    bucket = cache.get_bucket(None, "dir/a.html", None, "source")
    assert (bucket.key, bucket.checksum, bucket.code) == ("custom-dir_a.html", "len-6", None)
    bucket.code = "compiled"
    cache.set_bucket(bucket)
    assert (tmp_path / "__jinja2_custom-dir_a.html.cache").exists()
    # a same-length source passes the overridden checksum: the override really decides
    assert cache.get_bucket(None, "dir/a.html", None, "SOURCE").code == "compiled"
    assert cache.get_bucket(None, "dir/a.html", None, "longer source").code is None


class RecordingFS(jinja_bccache.FileSystemBytecodeCache):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def load_bytecode(self, bucket):
        self.calls.append(("load", bucket.key))
        super().load_bytecode(bucket)

    def dump_bytecode(self, bucket):
        self.calls.append(("dump", bucket.key))
        super().dump_bytecode(bucket)

    def _get_cache_filename(self, bucket):
        return path.join(self.directory, "renamed-" + bucket.key)


def test_load_dump_and_filename_overrides_are_called(tmp_path):
    cache = RecordingFS(str(tmp_path), isolate_environments=False)
    env = Environment(loader=DictLoader({"a": "{{ 1 + 1 }}"}), bytecode_cache=cache)
    assert env.get_template("a").render() == "2"
    key = cache.get_cache_key("a")
    assert cache.calls == [("load", key), ("dump", key)]
    assert [p.name for p in tmp_path.iterdir()] == ["renamed-" + key]

    env = Environment(loader=DictLoader({"a": "{{ 1 + 1 }}"}), bytecode_cache=cache)
    assert env.get_template("a").render() == "2"
    assert cache.calls[-1] == ("load", key)
    assert len(cache.calls) == 3


def test_method_patched_on_an_instance_is_called(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    seen = []
    cache.load_bytecode = lambda bucket: seen.append(bucket.key)
    bucket = cache.get_bucket(None, "a", None, "src")
    assert seen == [bucket.key]


def test_every_public_name_is_documented_at_runtime():
    """help() shows what the stubs' readers see: the native classes carry their own
    documentation (a stub's docstrings never reach help())."""
    undocumented = [
        name
        for name in jinja_bccache.__all__
        if callable(getattr(jinja_bccache, name))
        and not (getattr(jinja_bccache, name).__doc__ or "").strip()
    ]
    assert undocumented == []
    client = jinja_bccache.MemcachedClient
    methods = [client.get, client.set, client.stats, client.server_for, client.down_servers]
    assert all((method.__doc__ or "").strip() for method in methods)
    assert "rendezvous" in client.__doc__ and "max_value_size" in client.set.__doc__
