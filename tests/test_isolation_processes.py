"""The fingerprint is the same in every process with the same configuration (so isolation
costs no hits), and differs when the configuration or Jinja's version does; an edited filter
is seen where Jinja folded it into the code."""

import json
import os
import subprocess
import sys
import textwrap
import venv

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[2])
    from jinja2 import DictLoader, Environment, select_autoescape
    import jinja_bccache
    import userfilters

    class Counting(Environment):
        compiles = 0
        def compile(self, *a, **k):
            Counting.compiles += 1
            return super().compile(*a, **k)

    isolate = sys.argv[3] == "isolate"
    cache = jinja_bccache.FileSystemBytecodeCache(sys.argv[1], isolate_environments=isolate)
    source = "{{ x|shout }}{{ 'k'|shout }}{{ x|whisper }}{% trans %}hi{% endtrans %}"
    env = Counting(loader=DictLoader({"a.html": source}),
                   bytecode_cache=cache, autoescape=select_autoescape(["html"]),
                   extensions=["jinja2.ext.i18n"])
    env.filters["shout"] = userfilters.shout
    env.filters["whisper"] = lambda s, _suffix="...": s.lower() + _suffix
    env.tests["tagged"] = userfilters.make_test({"b", "a", "c"})
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "indent": 2}
    env.install_null_translations()
    out = env.get_template("a.html").render(x="Hi")
    print(json.dumps({"key": cache.get_bucket(env, "a.html", None, "").key,
                      "compiles": Counting.compiles, "out": out}))
""")

FILTERS = textwrap.dedent("""
    def shout(s):
        return s.upper() + "{mark}"

    def make_test(tags):
        frozen = frozenset(tags)
        def tagged(value):
            return value in frozen
        return tagged
""")


def run(python, cache_dir, filters_dir, seed, isolate="isolate"):
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    out = subprocess.run(
        [python, "-c", SCRIPT, str(cache_dir), str(filters_dir), isolate],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def filters_dir(tmp_path):
    d = tmp_path / "filters"
    d.mkdir()
    (d / "userfilters.py").write_text(FILTERS.format(mark="!"))
    return d


def test_same_configuration_same_key_across_hash_seeds(tmp_path, filters_dir):
    first = run(sys.executable, tmp_path, filters_dir, seed=1)
    second = run(sys.executable, tmp_path, filters_dir, seed=2)
    assert first["out"] == second["out"] == "HI!K!hi...hi"
    assert first["key"] == second["key"]
    assert (first["compiles"], second["compiles"]) == (1, 0)  # the second process hit


def test_edited_filter_code_is_seen_where_it_was_folded(tmp_path, filters_dir):
    before = run(sys.executable, tmp_path, filters_dir, seed=1)
    (filters_dir / "userfilters.py").write_text(FILTERS.format(mark="?"))
    # rewritten in a second: a same-sized edit within the old .pyc's second would be run stale
    for pyc in filters_dir.glob("__pycache__/*.pyc"):
        pyc.unlink()
    after = run(sys.executable, tmp_path, filters_dir, seed=1)
    # The settings are the same, so is the key; but {{ 'k'|shout }} was folded with the old
    # code: the entry's record says so, and the template is compiled again.
    assert before["key"] == after["key"]
    assert after["compiles"] == 1
    assert after["out"] == "HI?K?hi...hi"
    again = run(sys.executable, tmp_path, filters_dir, seed=2)
    assert again["compiles"] == 0 and again["out"] == "HI?K?hi...hi"


@pytest.fixture(scope="module")
def old_jinja_python(tmp_path_factory):
    """A throw-away venv that sees this package but runs Jinja 3.1.4 (same bc_version 5)."""
    root = tmp_path_factory.mktemp("jinja314")
    venv.create(root, with_pip=True)
    python = str(root / "bin" / "python")
    # This interpreter's import path, after the venv's own site-packages (where Jinja 3.1.4
    # goes): a .pth works whether this interpreter is itself a venv or uses PYTHONPATH.
    site_packages = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with open(os.path.join(site_packages, "parent_paths.pth"), "w") as f:
        f.write("\n".join(p for p in sys.path if p and os.path.isdir(p)))
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "jinja2==3.1.4"],
        check=True,
        capture_output=True,
    )
    version = subprocess.run(
        [python, "-c", "import jinja2; print(jinja2.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "3.1.4"
    return python


def test_entries_of_an_older_jinja_are_not_served(tmp_path, filters_dir, old_jinja_python):
    old = run(old_jinja_python, tmp_path, filters_dir, seed=1)
    assert old["compiles"] == 1
    current = run(sys.executable, tmp_path, filters_dir, seed=1)
    assert current["key"] != old["key"]
    assert current["compiles"] == 1  # recompiled, not served 3.1.4's code


def test_control_without_isolation_older_entries_are_served(
    tmp_path, filters_dir, old_jinja_python
):
    # what jinja2.bccache does: both releases use bc_version 5, so 3.1.4's code is accepted
    run(old_jinja_python, tmp_path, filters_dir, seed=1, isolate="jinja-keys")
    current = run(sys.executable, tmp_path, filters_dir, seed=1, isolate="jinja-keys")
    assert current["compiles"] == 0
