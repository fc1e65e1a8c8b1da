import importlib.util
import subprocess
import sys

import jinja2.bccache
import pytest
from jinja2 import PackageLoader

import jinja_bccache

# memcached_factory: memcached processes a test can start, stop, pause and restart
pytest_plugins = ["memcached_procs"]

#: The module this project replaces, and the replacement: parity tests run against both.
IMPLEMENTATIONS = [jinja2.bccache, jinja_bccache]


@pytest.fixture(params=IMPLEMENTATIONS, ids=["jinja2", "ours"])
def impl(request):
    return request.param


@pytest.fixture
def package_loader():
    # tests/ is on sys.path (rootdir conftest), so tests/res is an importable package.
    return PackageLoader("res", "templates")


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def memcached_server():
    """A real memcached on a loopback port for the whole session: "127.0.0.1:PORT"."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("memcached")
    if binary is None:
        pytest.fail("memcached is not installed; the README's test command installs it")
    port = _free_port()
    # -u is required when running as root; -U 0 turns UDP off.
    proc = subprocess.Popen(
        [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64", "-u", "nobody"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"memcached did not start: {proc.stderr.read().decode()}")
            time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
    proc.stderr.close()


@pytest.fixture
def pymemcache_client(memcached_server):
    from pymemcache.client.base import Client

    host, port = memcached_server.split(":")
    # no_delay: without it Nagle and delayed ACKs add 40 ms to some round trips
    # default_noreply=False: a write is done when set() returns; with pymemcache's default a
    # read on another connection (the native client's) can overtake it
    client = Client(
        (host, int(port)), connect_timeout=2, timeout=2, no_delay=True, default_noreply=False
    )
    client.flush_all()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _fresh_memory_layer():
    """Every test starts and ends with an empty in-process layer at its default budget, as a
    new process would: the layer is on, as users have it, and no test sees what another left."""
    previous = jinja_bccache.set_memory_cache(DEFAULT_MEMORY_BUDGET)
    jinja_bccache.memory_cache_clear()
    yield
    jinja_bccache.memory_cache_clear()
    jinja_bccache.set_memory_cache(previous)


@pytest.fixture(autouse=True)
def _nothing_reported_yet():
    """What cannot be shared is logged once per process and kind: each test starts as a new
    process would, so that one test's warnings do not hide another's."""
    from jinja_bccache import _fingerprint, _folding

    saved = [
        (registry, set(registry)) for registry in (_fingerprint._REPORTED, _folding._REPORTED)
    ]
    for registry, _ in saved:
        registry.clear()
    yield
    for registry, previous in saved:
        registry.clear()
        registry.update(previous)


#: The layer's default budget (32 MiB); a test that changes it gets it back.
DEFAULT_MEMORY_BUDGET = 32 * 1024 * 1024


@pytest.fixture
def memory_layer():
    """Marks a test about the layer itself (it is on in every test)."""


@pytest.fixture
def memory_layer_off():
    """The layer switched off, for tests that measure the store alone."""
    previous = jinja_bccache.set_memory_cache(0)
    yield
    jinja_bccache.set_memory_cache(previous)


@pytest.fixture(scope="session")
def ansible():
    """Skips unless ansible-core is installed and runs on this Python (test_ansible.py,
    test_tool_switch_errors.py)."""
    if importlib.util.find_spec("ansible") is None:
        pytest.skip("ansible-core is not installed (2.19 needs Python 3.11 or later)")
    # where Ansible does not support this Python it fails by itself, without this package
    probe = subprocess.run(
        [sys.executable, "-c", "import ansible.template, ansible.cli.playbook"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"ansible-core does not run here: {probe.stderr.strip().splitlines()[-1]}")


@pytest.fixture
def compiles(monkeypatch):
    """Counts real compilations (code generation), whatever path asked for them."""
    count = [0]
    original = jinja2.Environment._compile

    def counting(self, source, filename):
        count[0] += 1
        return original(self, source, filename)

    monkeypatch.setattr(jinja2.Environment, "_compile", counting)
    return count
