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
    # This interpreter's import path after the venv's own site-packages (dbt's world first):
    # the venv sees the jinja_bccache under test.
    site_packages = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = os.path.dirname(os.path.dirname(__import__("jinja_bccache").__file__))
    with open(os.path.join(site_packages, "zz_parent_paths.pth"), "w") as f:
        f.write(here + "\n")
    return str(python)


def parse(python, project, cached):
    script = ["-m", "jinja_bccache", "dbt"] if cached else ["-m", "dbt.cli.main"]
    env = {k: v for k, v in os.environ.items() if k != "JINJA_BCCACHE_URL"}
    env.update(JINJA_BCCACHE_REPORT="1", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    command = [python, *script, "parse", "--no-partial-parse", "--profiles-dir", "."]
    if not cached:  # dbt.cli.main has no __main__ guard of its own: run its cli
        command = [
            python,
            "-c",
            "from dbt.cli.main import cli; cli()",
            *command[1 + len(script) :],
        ]
    out = subprocess.run(command, cwd=project, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    report = re.search(r"jinja_bccache: (\{.*?\}), (\d+) log records", out.stderr)
    stats = (ast.literal_eval(report[1]), int(report[2])) if report else None
    return normalized(manifest), stats


def test_dbt_parse_warm_hits_every_template(tmp_path, dbt_python):
    project = tmp_path / "project"
    subprocess.run(
        [dbt_python, str(EXAMPLE / "generate_project.py"), str(project), "--models", "30"],
        check=True,
        capture_output=True,
    )
    plain, _ = parse(dbt_python, project, cached=False)
    assert not (project / "target" / "jinja_bccache").exists()
    cold, (cold_stats, cold_logged) = parse(dbt_python, project, cached=True)
    cache_dir = project / "target" / "jinja_bccache"  # made by the integration, private
    assert cache_dir.is_dir() and (cache_dir.stat().st_mode & 0o777) == 0o700
    warm, (warm_stats, warm_logged) = parse(dbt_python, project, cached=True)
    assert cold == warm == plain
    assert cold_logged == warm_logged == 0
    assert cold_stats["writes"] > 0 and cold_stats["process_local"] == 0
    assert warm_stats["misses"] == warm_stats["writes"] == 0
    assert warm_stats["hits"] >= cold_stats["writes"]
