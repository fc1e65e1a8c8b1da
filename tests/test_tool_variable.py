"""``JINJA_BCCACHE_TOOL``: the installed ``jinja_bccache.pth`` turns a tool's integration on
in every Python process started with it set, when the tool's module is imported; unset it
imports nothing. (dbt and Ansible themselves run with it in test_dbt.py and test_ansible.py.)"""

import os
import site
import subprocess
import sys
import sysconfig
import textwrap

import pytest

import jinja_bccache


def python(code, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("JINJA_BCCACHE_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **env},
    )


def installed_pth():
    here = os.path.dirname(os.path.dirname(jinja_bccache.__file__))
    return os.path.join(here, "jinja_bccache.pth")


@pytest.fixture
def pth():
    path = installed_pth()
    if not os.path.exists(path):
        # an editable install keeps the package in the source tree, without the .pth
        pytest.skip(f"jinja_bccache.pth is not installed beside the package ({path})")
    return path


def test_the_wheel_installs_the_pth_into_site_packages(pth):
    directories = {
        os.path.realpath(d) for d in [*site.getsitepackages(), sysconfig.get_path("purelib")]
    }
    assert os.path.realpath(os.path.dirname(pth)) in directories


def test_unset_it_imports_nothing(pth):
    out = python("import sys; print(any(m.startswith('jinja_bccache') for m in sys.modules))")
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


#: A stand-in for a tool: its module ``fake_tool`` is found by a finder after ours, as a real
#: one would be, and sets ``ran`` when it runs; the tool "fake" is triggered by it.
FAKE_TOOL = """
import importlib.abc, importlib.util, sys
class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name == "fake_tool":
            return importlib.util.spec_from_loader(name, self)
    def exec_module(self, module):
        module.ran = True
sys.meta_path.append(Finder())
from jinja_bccache import _auto
_auto.TRIGGERS["fake"] = "fake_tool"
"""

TRIGGERED = """
seen = []
_auto._INSTALLERS["fake"] = lambda module: seen.append(module.ran)
_auto.activate("fake")
assert not seen
import fake_tool
# and the module's own loader is back in its spec
print(seen, type(fake_tool.__spec__.loader).__name__, type(fake_tool.__loader__).__name__)
_auto.activate("fake")  # already imported: installed at once
print(seen)
"""


def test_the_integration_is_installed_right_after_the_tools_module_runs():
    out = python(FAKE_TOOL + TRIGGERED)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[True] Finder Finder", "[True, True]"]


def test_set_the_package_waits_for_the_tools_module(pth):
    code = """
        import sys
        from jinja_bccache._auto import _AfterImport
        waiting = [f.name for f in sys.meta_path if isinstance(f, _AfterImport)]
        print(waiting)
    """
    out = python(code, JINJA_BCCACHE_TOOL="dbt")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['dbt_common.clients.jinja']"


def test_a_name_that_is_no_tool_is_logged_and_changes_nothing(pth):
    out = python("print('ran')", JINJA_BCCACHE_TOOL="jinja")
    assert out.returncode == 0 and out.stdout.strip() == "ran"
    assert "JINJA_BCCACHE_TOOL='jinja' names no tool (dbt, ansible)" in out.stderr


def test_a_failing_install_is_logged_and_the_tool_runs_without_the_cache():
    code = """
        def broken(module):
            raise RuntimeError("no cache here")
        _auto._INSTALLERS["fake"] = broken
        _auto.activate("fake")
        import fake_tool
        print(fake_tool.ran)
    """
    out = python(FAKE_TOOL + textwrap.dedent(code))
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr
    assert "the integration was not installed when fake_tool was imported" in out.stderr
    assert "RuntimeError: no cache here" in out.stderr
