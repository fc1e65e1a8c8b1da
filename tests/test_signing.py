"""With a secret, entries carry an HMAC-SHA256 over key and body; anything else is never
executed. This is what makes a cache that others can write to (shared memcached or
directory) safe: tampering costs a recompile, never a sandbox escape."""

import pytest
from jinja2 import DictLoader, Environment
from jinja2.sandbox import SandboxedEnvironment, SecurityError

import jinja_bccache

SECRET = b"s3cret-shared-by-the-fleet"


class Account:
    def delete(self):
        return "DELETED"

    delete.unsafe_callable = True  # type: ignore[attr-defined]


SOURCE = "{{ account.delete() }}"
LOADER = DictLoader({"t": SOURCE})


def sandbox_render(cache):
    env = SandboxedEnvironment(loader=LOADER, bytecode_cache=cache)
    return env.get_template("t").render(account=Account())


def plain_render(cache):
    return (
        Environment(loader=LOADER, bytecode_cache=cache)
        .get_template("t")
        .render(account=Account())
    )


def test_signed_round_trip(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), secret=SECRET)
    assert plain_render(cache) == "DELETED"
    (entry,) = tmp_path.iterdir()
    assert entry.read_bytes().endswith(b"JBCHMAC\x01")
    env = Environment(loader=LOADER)
    assert cache.get_bucket(env, "t", None, SOURCE).code is not None


def test_copying_a_signed_entry_to_another_key_is_refused(tmp_path):
    """The attack: someone who can write to the cache copies the plain Environment's entry
    (validly signed) over the sandbox's entry. The signature covers the key: refused."""
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), secret=SECRET)
    with pytest.raises(SecurityError):
        sandbox_render(cache)  # compiles and writes the sandbox's entry
    assert plain_render(cache) == "DELETED"
    plain_key = cache.get_bucket(Environment(loader=LOADER), "t", None, SOURCE).key
    sandbox_key = cache.get_bucket(SandboxedEnvironment(loader=LOADER), "t", None, SOURCE).key
    plain_entry = (tmp_path / f"__jinja2_{plain_key}.cache").read_bytes()
    (tmp_path / f"__jinja2_{sandbox_key}.cache").write_bytes(plain_entry)
    with pytest.raises(SecurityError):
        sandbox_render(cache)


def test_control_without_secret_a_copied_entry_is_served(tmp_path):
    # what the secret protects against: integrity alone cannot tell a copied entry apart
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    plain_render(cache)
    plain_key = cache.get_bucket(Environment(loader=LOADER), "t", None, SOURCE).key
    sandbox_key = cache.get_bucket(SandboxedEnvironment(loader=LOADER), "t", None, SOURCE).key
    (tmp_path / f"__jinja2_{plain_key}.cache").rename(tmp_path / f"__jinja2_{sandbox_key}.cache")
    assert sandbox_render(cache) == "DELETED"


@pytest.mark.parametrize("where", ["payload", "mac", "tag"])
def test_tampered_entries_are_refused(tmp_path, where):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), secret=SECRET)
    plain_render(cache)
    (entry,) = tmp_path.iterdir()
    good = bytearray(entry.read_bytes())
    pos = {"payload": len(good) // 2, "mac": len(good) - 20, "tag": len(good) - 3}[where]
    good[pos] ^= 0x01
    entry.write_bytes(bytes(good))
    assert cache.get_bucket(Environment(loader=LOADER), "t", None, SOURCE).code is None


def test_other_secret_unsigned_and_stock_jinja_entries_are_refused(tmp_path):
    import jinja2.bccache

    env = Environment(loader=LOADER)
    signer = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), secret=b"other")
    plain_render(signer)
    for writer in (
        jinja_bccache.FileSystemBytecodeCache(str(tmp_path), isolate_environments=False),
        jinja2.bccache.FileSystemBytecodeCache(str(tmp_path)),
    ):
        Environment(loader=LOADER, bytecode_cache=writer).get_template("t")
    for options in ({}, {"isolate_environments": False}):
        cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), secret=SECRET, **options)
        assert cache.get_bucket(env, "t", None, SOURCE).code is None
    # a cache without a secret cannot verify a signature, so it refuses signed entries too
    assert (
        jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
        .get_bucket(env, "t", None, SOURCE)
        .code
        is None
    )


def test_forged_memcached_value_is_refused(pymemcache_client):
    cache = jinja_bccache.MemcachedBytecodeCache(pymemcache_client, secret=SECRET)
    with pytest.raises(SecurityError):
        sandbox_render(cache)
    # an attacker with write access to memcached stores plain code under the sandbox's key
    forger = jinja_bccache.MemcachedBytecodeCache(pymemcache_client, prefix="forge/")
    plain_render(forger)
    key = cache.get_bucket(SandboxedEnvironment(loader=LOADER), "t", None, SOURCE).key
    forged_key = forger.get_bucket(Environment(loader=LOADER), "t", None, SOURCE).key
    pymemcache_client.set("jinja2/bytecode/" + key, pymemcache_client.get("forge/" + forged_key))
    with pytest.raises(SecurityError):
        sandbox_render(cache)


def test_secret_argument_checks(tmp_path):
    with pytest.raises(TypeError, match="secret must be bytes"):
        jinja_bccache.FileSystemBytecodeCache(str(tmp_path), secret="text")
    with pytest.raises(ValueError, match="empty"):
        jinja_bccache.FileSystemBytecodeCache(str(tmp_path), secret=b"")
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    plain_render(cache)
    cache.secret = SECRET  # takes effect at once: the unsigned entry is now refused
    assert cache.get_bucket(Environment(loader=LOADER), "t", None, SOURCE).code is None
    with pytest.raises(TypeError):
        cache.secret = 5
    assert cache.secret == SECRET
