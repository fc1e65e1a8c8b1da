"""pytest plugin for .github/workflows/release.yml: marks ``needs_server`` every test that
needs a real memcached or redis server, so the wheel tests on runners without those servers
run ``-m "not needs_server"``. Selection is by what a test uses, not by its name, so a new
server test is deselected by itself. The full suite, servers included, runs in .ci/run.

    PYTHONPATH=.github python -m pytest -p pytest_no_servers -m "not needs_server"
"""

#: Fixtures that start a server (tests/conftest.py, tests/memcached_procs.py, test_redis.py).
#: pytest's ``fixturenames`` lists them for each test using one, directly or via a fixture.
SERVER_FIXTURES = frozenset({"memcached_server", "memcached_factory", "memcached", "redis_server"})

#: Server classes: a test module that imports one starts servers in its tests' bodies or
#: through ``request.getfixturevalue`` (test_redis.py), which ``fixturenames`` cannot see.
SERVER_CLASSES = {"Memcached": "memcached_procs", "RedisServer": "redis_procs"}


def _starts_servers(module):
    return any(
        getattr(getattr(module, name, None), "__module__", None) == home
        for name, home in SERVER_CLASSES.items()
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_server: uses a real memcached or redis server")


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = getattr(item, "module", None)
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())) or (
            module is not None and _starts_servers(module)
        ):
            item.add_marker("needs_server")
