"""dbt itself (dbt-core 1.11 with dbt-duckdb), parsing a generated project through
``python -m jinja_bccache dbt``: the cache directory is made in the project's target path, a
warm parse hits every template dbt builds from strings, writes nothing, logs nothing, and
writes the same manifest as a parse without the cache.

dbt is not a test requirement (it pins much of its own world): it is installed once into a
virtual environment of its own under ``$JINJA_BCCACHE_TEST_CACHE`` (as Jinja's suite is
unpacked, see test_jinja_suite.py), which sees this package through the interpreter's import
path. Without the package index, or on a Python dbt 1.11 does not support, the test skips and
says why."""

import ast
import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from test_jinja_suite import _cache_root

EXAMPLE = Path(__file__).parent.parent / "examples" / "dbt"
sys.path.insert(0, str(EXAMPLE))
from measure import normalized  # noqa: E402  (the example's own manifest comparison)

DBT = ["dbt-core~=1.11.0", "dbt-duckdb~=1.10"]

pytestmark = pytest.mark.skipif(
    not (3, 10) <= sys.version_info[:2] <= (3, 13), reason="dbt-core 1.11 runs on 3.10-3.13"
)


@pytest.fixture(scope="module")
def dbt_python():
    root = _cache_root() / f"dbt-1.11-py{sys.version_info[0]}{sys.version_info[1]}"
    python = root / "bin" / "python"
    ready = root / "installed"
    if not ready.exists():
        venv.create(root, with_pip=True, clear=True)
        out = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *DBT],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            pytest.skip(f"dbt could not be installed: {out.stderr.strip()[-300:]}")
        ready.write_text("ok")
    # This interpreter's import path after the venv's own site-packages (dbt's world first),
    # as a site directory, so that its .pth files run too (this package's jinja_bccache.pth):
    # the venv sees the jinja_bccache under test as if installed in it.
    site_packages = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = os.path.dirname(os.path.dirname(__import__("jinja_bccache").__file__))
    with open(os.path.join(site_packages, "zz_parent_paths.pth"), "w") as f:
        f.write(f"import site; site.addsitedir({here!r})\n")
    return str(python)


#: dbt's own command line, as its ``dbt`` script runs it (dbt.cli.main has no __main__ guard).
DBT_CLI = ["-c", "from dbt.cli.main import cli; cli()"]


def _environment(**changes):
    env = {
        k: v for k, v in os.environ.items() if k not in ("JINJA_BCCACHE_URL", "JINJA_BCCACHE_TOOL")
    }
    env.update(JINJA_BCCACHE_REPORT="1", DBT_SEND_ANONYMOUS_USAGE_STATS="false", **changes)
    return env


def parse(python, project, cached):
    """dbt parse: plain (False), through ``python -m jinja_bccache dbt`` (True), or dbt's own
    command line with ``JINJA_BCCACHE_TOOL=dbt`` ("variable")."""
    script = ["-m", "jinja_bccache", "dbt"] if cached is True else DBT_CLI
    env = _environment(**({"JINJA_BCCACHE_TOOL": "dbt"} if cached == "variable" else {}))
    command = [python, *script, "parse", "--no-partial-parse", "--profiles-dir", "."]
    out = subprocess.run(command, cwd=project, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    report = re.search(r"jinja_bccache: (\{.*?\}), (\d+) log records", out.stderr)
    stats = (ast.literal_eval(report[1]), int(report[2])) if report else None
    return normalized(manifest), stats


def _project(python, tmp_path):
    project = tmp_path / "project"
    subprocess.run(
        [python, str(EXAMPLE / "generate_project.py"), str(project), "--models", "30"],
        check=True,
        capture_output=True,
    )
    return project


@pytest.mark.parametrize("switch", [True, "variable"], ids=["python-m", "variable"])
def test_dbt_parse_warm_hits_every_template(tmp_path, dbt_python, switch):
    project = _project(dbt_python, tmp_path)
    plain, stats = parse(dbt_python, project, cached=False)
    assert stats is None and not (project / "target" / "jinja_bccache").exists()
    cold, (cold_stats, cold_logged) = parse(dbt_python, project, cached=switch)
    cache_dir = project / "target" / "jinja_bccache"  # made by the integration, private
    assert cache_dir.is_dir() and (cache_dir.stat().st_mode & 0o777) == 0o700
    warm, (warm_stats, warm_logged) = parse(dbt_python, project, cached=switch)
    assert cold == warm == plain
    assert cold_logged == warm_logged == 0
    assert cold_stats["writes"] > 0 and cold_stats["process_local"] == 0
    assert warm_stats["misses"] == warm_stats["writes"] == 0
    assert warm_stats["hits"] >= cold_stats["writes"]


CHILD = """
import subprocess, sys
from jinja_bccache import FileSystemBytecodeCache
from jinja_bccache._dbt import install
from jinja_bccache._tools import installed
cache = FileSystemBytecodeCache(sys.argv[1])
install(cache)
installed("dbt", cache)  # as python -m jinja_bccache dbt does, before dbt runs
child = (
    "import dbt_common.clients.jinja as j; "
    "print(j.MacroFuzzEnvironment().bytecode_cache.directory)"
)
sys.exit(subprocess.run([sys.executable, "-c", child], cwd=sys.argv[2]).returncode)
"""


def test_a_child_process_of_the_run_uses_the_same_cache(tmp_path, dbt_python):
    # a Python process that dbt (or a hook of its) starts in another directory imports dbt's
    # Jinja module: it gets the integration, and the run's cache, by the variables inherited
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache_dir = tmp_path / "the cache"  # a space: the URL handed down quotes it
    cache_dir.mkdir()
    out = subprocess.run(
        [dbt_python, "-c", CHILD, str(cache_dir), str(elsewhere)],
        capture_output=True,
        text=True,
        env=_environment(),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(cache_dir)
