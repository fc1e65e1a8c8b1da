"""MemcachedClient, the native client, against real memcached processes and faulty servers.

Failure tests assert on the client's counters (attempts, timeouts, failovers), not on wall
clock: "a dead server costs one timeout" is `stats()["timeouts"] == 1` after a whole render.

Longer than most test files: the faulty servers (silent, slow, restarted, refusing) serve
every test here.
"""

import decimal
import logging
import os
import subprocess
import sys
import threading
import time

import jinja2.bccache
import pytest
from jinja2 import DictLoader, Environment
from memcached_procs import fake_server, free_port, silent_listener
from pymemcache.client.hash import HashClient
from pymemcache.client.rendezvous import RendezvousHash

import jinja_bccache
from jinja_bccache import MemcachedBytecodeCache, MemcachedClient, MemcachedError

#: Fast failure handling for tests (the defaults are documented in the README). A down server
#: is not probed again during a test, so counts are exact however slow the machine is...
QUICK = dict(connect_timeout=0.3, timeout=0.3, retry_interval=60)
#: ...except in tests of re-admission, which sleep RETRY after a failure.
RETRY = 1.0
RETRYING = dict(QUICK, retry_interval=RETRY)

TEMPLATES = {
    f"t{i}.html": f"{{{{ x }}}}-{i}{{% for j in range(2) %}}.{{{{ j }}}}{{% endfor %}}"
    for i in range(24)
}


def expected(i, x="a"):
    return f"{x}-{i}.0.1"


def render_all(cache, *, compile_allowed=True):
    """Render every template; unless ``compile_allowed``, each must be loaded from the cache."""
    env = Environment(loader=DictLoader(TEMPLATES), bytecode_cache=cache)
    loaded = []
    get_bucket = cache.get_bucket

    def recording_get_bucket(*args):
        bucket = get_bucket(*args)
        loaded.append(bucket.code is not None)
        return bucket

    # on the instance, not the Environment: its fingerprint (part of the key) must not change
    cache.get_bucket = recording_get_bucket
    for i in range(len(TEMPLATES)):
        assert env.get_template(f"t{i}.html").render(x="a") == expected(i)
    if not compile_allowed:
        assert loaded == [True] * len(TEMPLATES)


def delta(after, before):
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


# --- routing ---------------------------------------------------------------------------------


def test_routing_matches_pymemcache_on_10000_keys():
    servers = [f"10.0.0.{i}:11211" for i in range(1, 6)] + ["cache.example:11212"]
    client = MemcachedClient(servers)
    ring = RendezvousHash(list(servers))
    keys = [f"jinja2/bytecode/{i:040x}" for i in range(9_990)] + [
        "k",
        "x" * 250,
        "é/ü",
        "ключ",
        "a-b",
        "0",
        "jinja2/bytecode/",
        "Ω",
        "%s",
        "~~",
    ]
    assert len(keys) == 10_000
    mismatches = [k for k in keys if client.server_for(k) != ring.get_node(k)]
    assert mismatches == []
    # and the load is spread: each server holds roughly a sixth
    counts = {s: 0 for s in servers}
    for k in keys:
        counts[client.server_for(k)] += 1
    assert min(counts.values()) > 1_300


def test_native_and_pymemcache_hashclient_share_a_fleet(memcached_factory):
    servers = [memcached_factory().address for _ in range(3)]
    native = MemcachedClient(servers, **QUICK)
    # default_noreply=False: otherwise native.get may overtake an unacknowledged set
    theirs = HashClient(servers, connect_timeout=1, timeout=1, default_noreply=False)
    try:
        for i in range(60):
            native.set(f"k{i}", b"v%d" % i)
        # HashClient finds every key where the native client put it, and vice versa
        assert all(theirs.get(f"k{i}") == b"v%d" % i for i in range(60))
        theirs.set("from-python", b"hello")
        assert native.get("from-python") == b"hello"
    finally:
        theirs.close()


# --- round trips -------------------------------------------------------------------------------


def test_environment_round_trip_native(memcached_factory):
    server = memcached_factory()
    client = MemcachedClient([server.address])
    cache = MemcachedBytecodeCache(client)
    render_all(cache)
    before = client.stats()
    render_all(MemcachedBytecodeCache(client), compile_allowed=False)
    d = delta(client.stats(), before)
    assert d == {"gets": 24, "hits": 24, "attempts": 24}


def test_stock_jinja_cache_with_native_client(memcached_factory):
    server = memcached_factory()
    client = MemcachedClient([server.address])
    render_all(jinja2.bccache.MemcachedBytecodeCache(client))
    render_all(jinja2.bccache.MemcachedBytecodeCache(client), compile_allowed=False)
    assert client.stats()["hits"] == 24


def _pymemcache(address):
    from pymemcache.client.base import Client

    return Client(address, connect_timeout=2, timeout=2, no_delay=True, default_noreply=False)


def _python_memcached(address):
    import memcache

    return memcache.Client([address])


def _cachelib(address):
    from cachelib import MemcachedCache

    return MemcachedCache([address], key_prefix="")


@pytest.mark.parametrize(
    "make",
    [_pymemcache, _python_memcached, _cachelib],
    ids=["pymemcache", "python-memcached", "cachelib"],
)
def test_python_clients_and_native_share_entries(memcached_factory, make):
    server = memcached_factory()
    python_client = make(server.address)
    native = MemcachedClient([server.address])
    try:
        # written through the Python client, read natively, and the other way round
        render_all(MemcachedBytecodeCache(python_client, prefix="a/"))
        render_all(MemcachedBytecodeCache(python_client, prefix="a/"), compile_allowed=False)
        render_all(MemcachedBytecodeCache(native, prefix="a/"), compile_allowed=False)
        render_all(MemcachedBytecodeCache(native, prefix="b/"))
        render_all(MemcachedBytecodeCache(python_client, prefix="b/"), compile_allowed=False)
    finally:
        for name in ("close", "disconnect_all"):
            if hasattr(python_client, name):
                getattr(python_client, name)()
        # cachelib wraps python-memcached's client (or, when installed, a pylibmc pool)
        inner = getattr(python_client, "_client", None)
        if hasattr(inner, "disconnect_all"):
            inner.disconnect_all()


# --- arguments, keys, values --------------------------------------------------------------------


def test_arguments_are_checked():
    with pytest.raises(TypeError):
        MemcachedClient("127.0.0.1:11211")  # a str is not a list of servers
    for bad in ([], ["localhost"], ["a:1", "a:1"], ["a:port"]):
        with pytest.raises(ValueError):
            MemcachedClient(bad)
    for name in ("connect_timeout", "timeout"):
        for value in (0, -1, float("inf"), float("nan")):
            with pytest.raises(ValueError, match=name):
                MemcachedClient(["a:1"], **{name: value})
    with pytest.raises(ValueError, match="retry_interval"):
        MemcachedClient(["a:1"], retry_interval=-1)
    assert "connect_timeout=0.25, timeout=0.5, retry_interval=2" in repr(MemcachedClient(["a:1"]))


def test_invalid_keys_and_prefixes_are_value_errors(memcached_factory):
    client = MemcachedClient([memcached_factory().address])
    for key in ("a b", "a\nb", "a\x00", "k" * 251, ""):
        with pytest.raises(ValueError):
            client.get(key)
        with pytest.raises(ValueError):
            client.set(key, b"v")
    assert client.stats()["attempts"] == 0
    for prefix in ("bad prefix/", "x" * 211, "tab\t"):
        with pytest.raises(ValueError, match="prefix"):
            MemcachedBytecodeCache(client, prefix=prefix)
    cache = MemcachedBytecodeCache(client, prefix="x" * 210)
    with pytest.raises(ValueError, match="prefix"):
        cache.prefix = "new line\n"
    assert cache.prefix == "x" * 210
    # duck-typed clients keep Jinja's behaviour: no check
    MemcachedBytecodeCache(_pymemcache("127.0.0.1:1"), prefix="any prefix ")


@pytest.mark.parametrize("native", [True, False], ids=["native path", "as a Python client"])
def test_a_write_refused_as_too_large_is_not_counted(memcached_factory, native):
    """stats() counts what was stored: a write the client refuses (over max_value_size)
    is neither a write nor bytes written nor a process-local entry, as the client's own
    counters say."""
    server = memcached_factory()
    client = MemcachedClient([server.address], max_value_size=4000)

    class Delegating:  # not the native class: driven as any Python client is
        def get(self, key):
            return client.get(key)

        def set(self, key, value, timeout=None):
            return client.set(key, value, timeout)

    class Money:  # a folding result no description holds across processes: process-local
        def __init__(self, v):
            self.v = v

        def __str__(self):
            return f"${self.v}"

    cache = MemcachedBytecodeCache(client if native else Delegating())
    templates = {"big": "x" * 8000 + "{{ 5|money }}", "small": "{{ 6|money }}"}
    env = Environment(loader=DictLoader(templates), bytecode_cache=cache)
    env.filters["money"] = Money
    assert env.get_template("big").render().endswith("$5")
    stats = cache.stats()
    assert (stats["writes"], stats["bytes_written"], stats["process_local"]) == (0, 0, 0)
    assert client.stats()["too_large"] == 1 and client.stats()["stored"] == 0
    assert env.get_template("small").render() == "$6"
    stats = cache.stats()
    assert (stats["writes"], stats["process_local"]) == (1, 1)
    assert client.set("small", b"v") is True and client.set("large", b"v" * 5000) is False


def test_value_over_the_item_limit_is_skipped(memcached_factory, caplog):
    server = memcached_factory()
    client = MemcachedClient([server.address])
    big = os.urandom(1024 * 1024)
    with caplog.at_level(logging.WARNING, logger="jinja_bccache"):
        client.set("big", big)
        client.set("big", big)
    s = client.stats()
    assert (s["too_large"], s["attempts"], s["errors"]) == (2, 0, 0)
    assert client.get("big") is None
    assert (
        len([r for r in caplog.records if "max_value_size" in r.getMessage()]) == 1
    )  # rate-limited
    # the largest value that fits is stored (Jinja's 56-byte keys)
    fits = os.urandom(client_max := 1024 * 1024 - 1024)
    client.set("jinja2/bytecode/" + "0" * 40, fits)
    assert client.get("jinja2/bytecode/" + "0" * 40) == fits and client_max > 1_000_000

    # configured above the server's limit, the server refuses: counted, server stays in use
    lax = MemcachedClient([server.address], max_value_size=4 * 1024 * 1024)
    with pytest.raises(MemcachedError, match=server.address):
        lax.set("big", big)
    assert lax.get("small") is None and lax.down_servers() == []
    assert lax.stats()["server_errors"] == 1
    cache = MemcachedBytecodeCache(lax)  # ignoring errors: a skipped write
    render_all(cache)


def test_ttls(memcached_factory):
    client = MemcachedClient([memcached_factory().address])
    # over 30 days a relative time would be read as a date in 1970: converted, so it lives
    client.set("month", b"v", 31 * 24 * 3600)
    client.set("minute", b"v", 60)
    client.set("forever", b"v", 0)
    assert [client.get(k) for k in ("month", "minute", "forever")] == [b"v"] * 3
    with pytest.raises(ValueError, match="timeout"):
        client.set("k", b"v", -1)
    for too_long in (2**31, 10**400, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            MemcachedBytecodeCache(client, timeout=too_long)
    # seconds as int or float, as Jinja's clients take them; nothing merely convertible
    for not_seconds in (True, "60", decimal.Decimal(60)):
        with pytest.raises(TypeError, match="timeout"):
            MemcachedBytecodeCache(client, timeout=not_seconds)
        with pytest.raises(TypeError, match="timeout"):
            client.set("k", b"v", not_seconds)
    client.set("half", b"v", 0.5)  # rounded up: 0 would mean "never expires"
    cache = MemcachedBytecodeCache(client, timeout=40 * 24 * 3600)
    render_all(cache)
    render_all(MemcachedBytecodeCache(client), compile_allowed=False)


def test_compression_is_flagged_for_other_readers(memcached_factory):
    from pymemcache.client.base import Client
    from pymemcache.serde import CompressedSerde, pickle_serde

    server = memcached_factory()
    client = MemcachedClient([server.address], compress_threshold=100)
    value = b"abcdefgh" * 1000
    client.set("big", value)
    client.set("small", b"tiny")
    assert client.get("big") == value and client.get("small") == b"tiny"
    assert client.stats()["compressed"] == 1
    reader = Client(server.address, serde=CompressedSerde(serde=pickle_serde))
    try:
        assert reader.get("big") == value
        raw = Client(server.address)
        assert len(raw.get("big")) < len(value)  # really stored compressed
        raw.close()
    finally:
        reader.close()
    render_all(MemcachedBytecodeCache(client))
    render_all(MemcachedBytecodeCache(client), compile_allowed=False)


# --- failures ---------------------------------------------------------------------------------


def test_down_server_costs_one_attempt_per_render(caplog):
    address = f"127.0.0.1:{free_port()}"  # nothing listens
    client = MemcachedClient([address], **QUICK)
    with caplog.at_level(logging.WARNING, logger="jinja_bccache"):
        render_all(MemcachedBytecodeCache(client))
        render_all(MemcachedBytecodeCache(client))
    s = client.stats()
    assert (s["attempts"], s["errors"], s["marked_down"]) == (1, 1, 1)
    assert s["unavailable"] == 4 * 24 - 1
    assert client.down_servers() == [address]
    warnings = [r for r in caplog.records if r.name.startswith("jinja_bccache")]
    assert len(warnings) == 1 and address in warnings[0].getMessage()


def test_errors_raise_memcached_error_when_not_ignored():
    address = f"127.0.0.1:{free_port()}"
    client = MemcachedClient([address], **QUICK)
    env = Environment(
        loader=DictLoader(TEMPLATES),
        bytecode_cache=MemcachedBytecodeCache(client, ignore_memcache_errors=False),
    )
    with pytest.raises(MemcachedError, match=address) as info:
        env.get_template("t0.html")
    assert isinstance(info.value, OSError)
    with pytest.raises(MemcachedError, match="marked down"):
        env.get_template("t1.html")
    with pytest.raises(MemcachedError, match=address):
        client.set("k", b"v")


def test_hung_server_times_out_once():
    with silent_listener() as address:
        client = MemcachedClient([address], **QUICK)
        render_all(MemcachedBytecodeCache(client))
        s = client.stats()
    assert (s["timeouts"], s["attempts"], s["marked_down"]) == (1, 1, 1)


def test_stopped_server_times_out_once_then_is_readmitted(memcached_factory):
    server = memcached_factory()
    client = MemcachedClient([server.address], **RETRYING)
    render_all(MemcachedBytecodeCache(client))
    server.pause()
    try:
        before = client.stats()
        start = time.monotonic()
        render_all(MemcachedBytecodeCache(client))
        elapsed = time.monotonic() - start
        d = delta(client.stats(), before)
        # One attempt per retry interval: one in all, unless a loaded machine made the 24
        # renders outlast the interval, which lets the breaker try again, as it should.
        attempts = 1 + int(elapsed // RETRY)
        assert d.get("marked_down") == 1, d
        assert 1 <= d.get("attempts", 0) == d.get("timeouts", 0) <= attempts, (d, elapsed)
    finally:
        server.resume()
    time.sleep(RETRY)
    render_all(MemcachedBytecodeCache(client), compile_allowed=False)
    assert client.stats()["readmitted"] == 1 and client.down_servers() == []


def test_server_killed_mid_value_is_a_miss():
    # a VA header promising 100 bytes, 10 of them, then the connection closes
    with fake_server(b"VA 100 f0\r\n0123456789") as (address, served):
        client = MemcachedClient([address], **QUICK)
        with pytest.raises(MemcachedError, match=address):
            client.get("k")
        strict = MemcachedClient([address], **QUICK)
        env = Environment(
            loader=DictLoader(TEMPLATES), bytecode_cache=MemcachedBytecodeCache(strict)
        )
        assert env.get_template("t0.html").render(x="a") == expected(0)
    assert served[0].startswith(b"mg k ")
    assert client.stats()["errors"] == 1 and strict.stats()["errors"] == 1


def test_server_restarted_on_the_same_port(memcached_factory):
    server = memcached_factory()
    client = MemcachedClient([server.address], **QUICK)
    render_all(MemcachedBytecodeCache(client))  # pooled connections now exist
    server.restart()  # entries are gone, pooled connections are dead
    before = client.stats()
    render_all(MemcachedBytecodeCache(client))
    d = delta(client.stats(), before)
    # dead pooled connections are noticed before use and redialed: no error at all
    assert d.get("errors", 0) == 0 and d["misses"] == 24 and d["stored"] == 24
    render_all(MemcachedBytecodeCache(client), compile_allowed=False)


def test_three_servers_one_killed_then_back(memcached_factory):
    servers = [memcached_factory() for _ in range(3)]
    addresses = [s.address for s in servers]
    client = MemcachedClient(addresses, **RETRYING)
    render_all(MemcachedBytecodeCache(client))
    cache = MemcachedBytecodeCache(client)
    keys = [
        cache.prefix
        + cache.get_bucket(
            Environment(loader=DictLoader(TEMPLATES)), f"t{i}.html", None, TEMPLATES[f"t{i}.html"]
        ).key
        for i in range(24)
    ]
    victim = servers[1]
    on_victim = sum(client.server_for(k) == victim.address for k in keys)
    assert 0 < on_victim < 24

    victim.kill()
    before = client.stats()
    render_all(MemcachedBytecodeCache(client))  # correct, recompiling the victim's share
    render_all(MemcachedBytecodeCache(client), compile_allowed=False)  # failed-over entries hit
    d = delta(client.stats(), before)
    # one request paid for the dead server; the victim's keys then went to their next server
    assert (d["errors"], d["marked_down"], d.get("timeouts", 0)) == (1, 1, 0)
    # each of the victim's keys: get + set, then a get in the warm render; but the first get
    # was the one that failed, on the victim itself
    assert d["failovers"] == 3 * on_victim - 1
    assert client.down_servers() == [victim.address]

    victim.start()  # same port
    time.sleep(RETRY)
    before = client.stats()
    render_all(MemcachedBytecodeCache(client))  # the victim's keys come home (and miss there)
    d = delta(client.stats(), before)
    assert d["readmitted"] == 1 and d.get("failovers", 0) == 0
    assert d["misses"] == on_victim and client.down_servers() == []
    render_all(MemcachedBytecodeCache(client), compile_allowed=False)


def test_many_threads_share_one_client(memcached_factory):
    servers = [memcached_factory().address for _ in range(2)]
    client = MemcachedClient(servers)
    failures = []

    def work(n):
        try:
            for i in range(150):
                key = f"thread{n}/{i % 20}"
                value = f"{n}:{i}".encode() * (1 + i % 50)
                client.set(key, value)
                assert client.get(key) == value
            render_all(MemcachedBytecodeCache(client))
        except BaseException as exc:  # reported below, with the thread's number
            failures.append((n, exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    s = client.stats()
    assert s["errors"] == 0 and s["hits"] >= 16 * 150


FORK_SCRIPT = r"""
import os, sys
from jinja2 import DictLoader, Environment
from jinja_bccache import MemcachedBytecodeCache, MemcachedClient

client = MemcachedClient(sys.argv[1:], timeout=2, connect_timeout=2)
templates = {f"t{i}.html": "{{ who }}-%d" % i for i in range(20)}

def render(who, rounds):
    for _ in range(rounds):
        cache = MemcachedBytecodeCache(client)
        env = Environment(loader=DictLoader(templates), bytecode_cache=cache)
        for i in range(20):
            assert env.get_template(f"t{i}.html").render(who=who) == f"{who}-{i}"
        # a value only this process writes: replies read on a shared socket would mix them up
        value = (who * 5000).encode()
        client.set("owner/" + who, value)
        assert client.get("owner/" + who) == value

render("parent", 2)  # the parent's pools hold connections before the fork
pid = os.fork()
if pid == 0:
    try:
        render("child", 40)
        stats = client.stats()
        ok = stats["pool_resets"] == 1 and stats["errors"] == 0
    except BaseException:
        ok = False
    os._exit(0 if ok else 1)
render("parent", 40)
_, status = os.waitpid(pid, 0)
stats = client.stats()
assert stats["pool_resets"] == 0 and stats["errors"] == 0, stats
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_forked_child_renders_while_parent_does(memcached_factory):
    servers = [memcached_factory().address for _ in range(2)]
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, *servers],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_native_path_does_not_call_python_get_set(memcached_factory):
    client = MemcachedClient([memcached_factory().address])
    cache = MemcachedBytecodeCache(client)
    assert type(cache.client) is MemcachedClient
    render_all(cache)

    # a bucket subclass with its own loader goes through get/set and still works
    class MyBucket(jinja_bccache.Bucket):
        def load_bytecode(self, f):
            super().load_bytecode(f)

    bucket = MyBucket(None, cache.get_cache_key("t0.html"), cache.get_source_checksum("x"))
    cache.load_bytecode(bucket)
    assert bucket.code is None


def test_gil_is_released_while_waiting_on_the_network():
    with silent_listener() as address:
        client = MemcachedClient([address], connect_timeout=5, timeout=5, retry_interval=60)

        def blocked_get():
            with pytest.raises(MemcachedError):
                client.get("k")

        thread = threading.Thread(target=blocked_get)
        thread.start()
        while client.stats()["attempts"] == 0:  # this Python loop needs the GIL
            time.sleep(0.001)
        # Python keeps running while the request waits for its answer: had the GIL been held,
        # this loop could only run once the request had timed out.
        for _ in range(200):
            sum(range(1000))
        still_waiting = thread.is_alive() and client.stats()["timeouts"] == 0
        thread.join()
    assert still_waiting
    assert client.stats()["timeouts"] == 1
