"""Jinja's own test suite, for the installed Jinja version, with our cache in every Environment.

The suite comes from Jinja's sdist on the package index (``pip download``), unpacked once into
``$JINJA_BCCACHE_TEST_CACHE`` (default ``~/.cache/jinja-bccache-tests``; ``$XDG_CACHE_HOME`` is
honoured), outside the repository. ``$JINJA_SUITE_DIR`` may name an unpacked Jinja source tree
instead (one holding ``tests/`` and Jinja's pytest configuration), e.g. for offline runs.

Each case runs the suite in a child pytest, with Jinja's own pytest configuration (not ours)
and ``tests/jinja_suite/jinja_bccache_inject.py`` loaded, which gives every Environment built
without a ``bytecode_cache`` one of ours:

* ``shared``: a new ``FileSystemBytecodeCache`` per Environment, all on one directory;
* ``fresh``: a new cache on a new, empty directory per Environment;
* ``*-nomemory``: the same with the in-process layer off (``JINJA_BCCACHE_MEMORY_BYTES=0``),
  so that hits are read and unmarshalled from disk rather than served from memory.

The suite also runs once without our cache (``test_jinja_suite_baseline``; the plugin
only records outcomes there). A case fails on
any test that fails with our cache but passes without it; a test that fails without our cache
too is not ours to fix and fails the baseline case instead, not every mode.

Jinja's suite needs ``trio`` (Jinja's ``requirements/tests.in``); it is in
``dev/requirements-test.txt``.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import typing as t
from pathlib import Path

import jinja2
import pytest

JINJA_VERSION = jinja2.__version__
PLUGIN_DIR = Path(__file__).parent / "jinja_suite"
PLUGIN = "jinja_bccache_inject"
#: The files besides ``tests/`` worth unpacking: wherever Jinja keeps its pytest settings.
CONFIG_FILES = ("pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
CHILD_TIMEOUT = 900

MODES = {
    "shared": ("shared", None),
    "fresh": ("fresh", None),
    "shared-nomemory": ("shared", "0"),
    "fresh-nomemory": ("fresh", "0"),
}


def _cache_root() -> Path:
    configured = os.environ.get("JINJA_BCCACHE_TEST_CACHE")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "jinja-bccache-tests"


def _find_sdist(directory: Path) -> t.Optional[Path]:
    wanted = f"jinja2-{JINJA_VERSION}.tar.gz"
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name.lower() == wanted:
                return path
    return None


def _download_sdist(directory: Path) -> Path:
    found = _find_sdist(directory)
    if found is not None:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    base += ["--disable-pip-version-check", "-d", str(directory), f"jinja2=={JINJA_VERSION}"]
    # pip prepares the sdist's metadata, which needs Jinja's build backend (flit_core): in an
    # isolated build environment by default, or from this environment if it has it.
    errors = []
    for extra in ([], ["--no-build-isolation"]):
        proc = subprocess.run(
            base + extra, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
        )
        found = _find_sdist(directory)
        if proc.returncode == 0 and found is not None:
            return found
        errors.append(f"$ {' '.join(base + extra)}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    pytest.fail(
        f"cannot download Jinja {JINJA_VERSION}'s sdist (set JINJA_SUITE_DIR to an unpacked "
        "Jinja source tree to run offline):\n" + "\n".join(errors),
        pytrace=False,
    )


def _unpack(sdist: Path, dest: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        with tarfile.open(sdist) as tar:
            members = []
            for member in tar.getmembers():
                parts = member.name.split("/")
                if len(parts) >= 2 and (
                    parts[1] == "tests" or (len(parts) == 2 and parts[1] in CONFIG_FILES)
                ):
                    member.name = "/".join(parts[1:])
                    members.append(member)
            kwargs: t.Dict[str, t.Any] = {}
            if hasattr(tarfile, "data_filter"):
                kwargs["filter"] = "data"
            tar.extractall(tmp, members=members, **kwargs)
        tmp.chmod(0o755)  # mkdtemp's 0700 would stop other users sharing the cache
        if not (tmp / "tests").is_dir():
            pytest.fail(f"{sdist} has no tests/ directory", pytrace=False)
        try:
            tmp.rename(dest)
        except OSError:
            if not dest.is_dir():  # another run unpacked it meanwhile: use that one
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@pytest.fixture(scope="session")
def jinja_suite() -> Path:
    """An unpacked Jinja source tree: ``tests/`` and Jinja's pytest configuration."""
    configured = os.environ.get("JINJA_SUITE_DIR")
    if configured:
        root = Path(configured).resolve()
        if not (root / "tests").is_dir():
            pytest.fail(f"JINJA_SUITE_DIR={configured} has no tests/ directory", pytrace=False)
        return root
    cache = _cache_root()
    dest = cache / f"jinja2-{JINJA_VERSION}"
    if not (dest / "tests").is_dir():
        sdist = _download_sdist(cache / "sdist")
        _unpack(sdist, dest)
    return dest


def _pytest_config(root: Path) -> Path:
    """Jinja's own pytest configuration file, found the way pytest would look for it."""
    markers = {
        "pytest.ini": "",
        "pyproject.toml": "[tool.pytest.ini_options]",
        "tox.ini": "[pytest]",
        "setup.cfg": "[tool:pytest]",
    }
    for name, marker in markers.items():
        path = root / name
        if path.is_file() and marker in path.read_text(encoding="utf-8"):
            return path
    # No configuration: an empty one, so that nothing above root (ours!) is picked up.
    path = root / ".empty-pytest.ini"
    path.write_text("[pytest]\n", encoding="utf-8")
    return path


class SuiteRun(t.NamedTuple):
    label: str
    returncode: int
    output: str
    seconds: float
    report: t.Dict[str, t.Any]

    def __repr__(self) -> str:  # pytest shows fixtures in tracebacks: keep it to one line
        return f"<SuiteRun {self.label}: exit {self.returncode}, {self.counts()}>"

    @property
    def outcomes(self) -> t.Dict[str, str]:
        return self.report.get("outcomes", {})  # type: ignore[no-any-return]

    @property
    def failed(self) -> t.List[str]:
        return sorted(n for n, o in self.outcomes.items() if o in ("failed", "error"))

    def counts(self) -> str:
        tally: t.Dict[str, int] = {}
        for outcome in self.outcomes.values():
            tally[outcome] = tally.get(outcome, 0) + 1
        return ", ".join(f"{n} {o}" for o, n in sorted(tally.items())) or "nothing ran"

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_suite(
    root: Path,
    workdir: Path,
    mode: t.Optional[str] = None,
    memory_bytes: t.Optional[str] = None,
    label: str = "baseline",
) -> SuiteRun:
    report_path = workdir / "report.json"
    env = dict(os.environ)
    for name in (
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "JINJA_BCCACHE_MEMORY_BYTES",
        "JINJA_BCCACHE_INJECT_MODE",
        "JINJA_BCCACHE_INJECT_DIR",
    ):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PLUGIN_DIR), os.environ.get("PYTHONPATH")) if p
    )
    env["JINJA_BCCACHE_INJECT_REPORT"] = str(report_path)
    if mode is not None:
        base = workdir / "caches"
        base.mkdir()
        env["JINJA_BCCACHE_INJECT_MODE"] = mode
        env["JINJA_BCCACHE_INJECT_DIR"] = str(base)
    if memory_bytes is not None:
        env["JINJA_BCCACHE_MEMORY_BYTES"] = memory_bytes
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(root / "tests"),
        "-c",
        str(_pytest_config(root)),
        "--rootdir",
        str(root),
        "--basetemp",  # its own, so the child's tmp_path cleanup never meets ours
        str(workdir / "basetemp"),
        "-q",
        "-rfE",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-p",
        PLUGIN,  # without a mode it only writes the report
    ]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        pytest.fail(
            f"[{label}] Jinja's suite did not finish in {CHILD_TIMEOUT}s:\n{out[-5000:]}",
            pytrace=False,
        )
    seconds = time.perf_counter() - start
    report: t.Dict[str, t.Any] = {}
    if report_path.is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
    output = proc.stdout + (f"\n--- stderr ---\n{proc.stderr}" if proc.stderr.strip() else "")
    run = SuiteRun(label, proc.returncode, output, seconds, report)
    print(f"[{label}] Jinja {JINJA_VERSION} suite: {run.counts()} in {seconds:.1f}s")
    return run


def _describe(run: SuiteRun, names: t.Iterable[str]) -> str:
    parts = []
    for name in names:
        text = run.report.get("failures", {}).get(name, "")
        parts.append(f"--- {name} ({run.outcomes.get(name)})\n{text[-1500:]}")
    return "\n".join(parts)


@pytest.fixture(scope="session")
def baseline(jinja_suite: Path, tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """Jinja's suite without our cache: what fails here is not ours."""
    return run_suite(jinja_suite, tmp_path_factory.mktemp("jinja-suite-baseline"))


def test_jinja_suite_baseline(baseline: SuiteRun) -> None:
    """Jinja's suite passes in this environment without our cache (else the modes' results
    are compared against a broken reference: see what fails here first)."""
    assert baseline.returncode == 0 and baseline.report and baseline.outcomes, (
        f"Jinja {JINJA_VERSION}'s own suite fails WITHOUT jinja_bccache "
        f"(exit {baseline.returncode}; {baseline.counts()}); not caused by our cache:\n"
        f"{baseline.failed}\n{_describe(baseline, baseline.failed)}\n"
        f"--- output tail ---\n{baseline.tail()}"
    )


@pytest.mark.parametrize("case", list(MODES))
def test_jinja_suite_with_our_cache(
    case: str, jinja_suite: Path, baseline: SuiteRun, tmp_path: Path
) -> None:
    mode, memory_bytes = MODES[case]
    run = run_suite(jinja_suite, tmp_path, mode, memory_bytes, label=case)
    header = (
        f"[{case}] Jinja {JINJA_VERSION}'s suite with jinja_bccache: exit {run.returncode}, "
        f"{run.counts()} in {run.seconds:.1f}s (baseline: {baseline.counts()})"
    )
    # exit 1 means "some tests failed": judged test by test below. Anything else (usage error,
    # internal error, interrupted collection, no tests) is a failure of the run as a whole.
    assert run.returncode in (0, 1) and run.report and run.outcomes, (
        f"{header}\n--- output tail ---\n{run.tail(100)}"
    )
    known = set(baseline.failed)
    new = [name for name in run.failed if name not in known]
    missing = sorted(set(baseline.outcomes) - set(run.outcomes))
    assert not new and not missing, (
        f"{header}\n"
        f"{len(new)} test(s) fail only with our cache: {new}\n"
        + (
            f"{len(missing)} test(s) ran in the baseline but not here: {missing[:50]}\n"
            if missing
            else ""
        )
        + f"{_describe(run, new)}\n--- output tail ---\n{run.tail()}"
    )
    # The cache must really have been in use, or passing proves nothing.
    summary = run.report.get("summary") or {}
    stats = summary.get("stats", {})
    assert summary.get("injected", 0) > 0 and stats.get("writes", 0) > 0, (
        f"{header}\nthe plugin did not put our cache to work: {summary}"
    )
    assert summary.get("entries_on_disk", 0) > 0 and stats.get("hits", 0) > 0, (
        f"{header}\nno entries on disk or no hits: {summary}"
    )
    print(f"[{case}] cache summary: {json.dumps(summary, sort_keys=True)}")
