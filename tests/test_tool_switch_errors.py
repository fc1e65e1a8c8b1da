"""``python -m jinja_bccache dbt|ansible-playbook`` when something is wrong: a tool that is not
installed and a cache that cannot be made stop the run with a message; an integration that
does not fit the installed tool's version is logged, and the tool runs without the cache."""

import importlib.util
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from jinja_bccache import FileSystemBytecodeCache
from jinja_bccache._tools import Refused, prepared


def _switch(*args, code=None, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("JINJA_BCCACHE_")}
    command = [sys.executable, "-c", textwrap.dedent(code)] if code else [sys.executable, "-m"]
    command += [] if code else ["jinja_bccache", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**base, **env}
    )


@pytest.mark.parametrize(
    "command, module, distribution",
    [("dbt", "dbt", "dbt-core"), ("ansible-playbook", "ansible", "ansible-core")],
)
def test_a_tool_that_is_not_installed_is_named(command, module, distribution):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{distribution} is installed in this Python")
    out = _switch(command, "--version")
    assert out.returncode == 2
    assert f"error: {distribution} is not installed in this Python ({sys.executable})" in (
        out.stderr
    )
    assert "Traceback" not in out.stderr


def test_a_cache_that_cannot_be_made_refuses_the_run(tmp_path):
    def installs(cache):
        raise AssertionError("never reached")

    def bad_url():
        from jinja_bccache._url import from_url

        return from_url("memcached://127.0.0.1:99999/")

    with pytest.raises(Refused, match="the cache cannot be made: .*port"):
        prepared("tool", bad_url, installs)
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the cache directory should be made

    def under_a_file():
        os.makedirs(blocked / "cache")
        raise AssertionError("makedirs under a file succeeded")

    with pytest.raises(Refused, match="the cache cannot be made: .*file"):
        prepared("tool", under_a_file, installs)


def test_an_integration_that_does_not_fit_is_logged_and_the_tool_runs_uncached(tmp_path, caplog):
    cache = FileSystemBytecodeCache(str(tmp_path))

    def install(cache):
        raise AttributeError("module has no attribute 'AnsibleEnvironment'")

    with caplog.at_level(logging.WARNING, logger="jinja_bccache"):
        assert prepared("ansible", lambda: cache, install) is None
    assert caplog.messages == [
        "jinja_bccache: the ansible integration could not be installed (AttributeError: "
        "module has no attribute 'AnsibleEnvironment'); ansible runs without the cache"
    ]


def test_a_malformed_store_url_stops_ansible_before_it_starts(ansible):
    out = _switch("ansible-playbook", "--version", JINJA_BCCACHE_URL="memcached://h:port/")
    assert (
        out.returncode == 2
        and "error: the cache cannot be made: " in out.stderr
        and "port" in out.stderr
    )
    assert "Traceback" not in out.stderr and "ansible-playbook [core" not in out.stdout


def test_ansible_runs_when_the_integration_cannot_be_installed(ansible, tmp_path):
    code = """
        import sys
        import jinja_bccache._ansible as integration
        from jinja_bccache._cli import main
        def install(cache):
            raise ImportError("no _engine in this ansible-core")
        integration.install = install
        sys.exit(main(["ansible-playbook", "--version"]))
    """
    out = _switch(code=code, XDG_CACHE_HOME=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "ansible-playbook [core" in out.stdout
    assert (
        "the ansible integration could not be installed (ImportError: no _engine in this "
        "ansible-core); ansible runs without the cache" in out.stderr
    )
