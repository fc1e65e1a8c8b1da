"""What the module declares about the GIL, as the README states it, and what a free-threaded
CPython makes of it. Free-threaded interpreters are not available on these machines: the
release workflow runs this file with its cp314t wheels (.github/workflows/release.yml)."""

import os
import re
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest
from jinja2 import DictLoader, Environment

from jinja_bccache import FileSystemBytecodeCache

ROOT = Path(__file__).resolve().parent.parent
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def test_the_declaration_in_the_module_is_the_one_the_readme_states():
    lib = (ROOT / "src" / "lib.rs").read_text(encoding="utf-8")
    declared = re.findall(r"#\[pymodule\(gil_used = (true|false)\)\]", lib)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    states_gil_on = "`import jinja_bccache` turns the GIL back on" in readme
    assert declared == ["true"] and states_gil_on


@pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded CPython (3.14t)")
def test_on_a_free_threaded_build_the_import_turns_the_gil_on():
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    probe = (
        "import sys; assert not sys._is_gil_enabled(); "
        "import jinja_bccache; print(sys._is_gil_enabled())"
    )
    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", probe], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    assert "jinja_bccache._native" in out.stderr  # CPython's RuntimeWarning names the module


def test_threads_hammering_one_cache_all_render_right(tmp_path):
    """Threads sharing one cache object, each with Environments of its own (a web server's
    workers): every render is right and the counters add up. On a free-threaded build this
    runs with the GIL the import turned on."""
    templates = {f"t{i}.html": f"{{{{ x }}}}-{i}-{{{{ x * {i} }}}}" for i in range(12)}
    cache = FileSystemBytecodeCache(str(tmp_path))
    errors = []
    rounds = 40

    def work(seed):
        try:
            for r in range(rounds):
                env = Environment(loader=DictLoader(templates), bytecode_cache=cache)
                i = (seed + r) % len(templates)
                out = env.get_template(f"t{i}.html").render(x=seed)
                assert out == f"{seed}-{i}-{seed * i}", out
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == 8 * rounds
    assert stats["errors"] == 0 and stats["rejected"] == 0
    assert 1 <= stats["writes"] <= stats["misses"]
