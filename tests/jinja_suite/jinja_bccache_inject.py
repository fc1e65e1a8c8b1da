"""pytest plugin: run a test suite with jinja_bccache injected into every Environment.

Loaded by ``tests/test_jinja_suite.py`` into a child pytest that runs Jinja's own test suite::

    PYTHONPATH=tests/jinja_suite python -m pytest <jinja>/tests -p jinja_bccache_inject

Configured by environment variables (without ``JINJA_BCCACHE_INJECT_MODE`` it patches nothing):

``JINJA_BCCACHE_INJECT_MODE``
    ``shared``: every Environment gets its own ``FileSystemBytecodeCache`` on one shared
    directory, ``<base>/shared``. ``fresh``: every Environment gets a cache on a new, empty
    directory under ``<base>``.
``JINJA_BCCACHE_INJECT_DIR``
    The base directory (must exist).
``JINJA_BCCACHE_INJECT_REPORT``
    Optional, and honoured even without a mode (the harness's baseline run): write a JSON
    report there, ``{"summary": ..., "outcomes": {nodeid: outcome}, "failures": {nodeid:
    text}}``, so the harness compares runs test by test instead of scraping terminal output.

``jinja2.Environment.__init__`` is wrapped, so every subclass (sandboxed, native, the suite's
own) is covered. Only Environments constructed with ``bytecode_cache=None`` (the default) get
a cache: an explicit cache is left alone, and so is ``overlay()``, which copies its parent
(and its cache) without calling ``__init__``. At the end the plugin prints a
``jinja-bccache-inject:`` summary line (JSON) that the harness checks, so a plugin that quietly
did nothing cannot pass.
"""

import functools
import inspect
import json
import os
import tempfile
import typing as t

import pytest

MODES = ("shared", "fresh")
SUMMARY_PREFIX = "jinja-bccache-inject: "

_state: t.Dict[str, t.Any] = {
    "mode": None,
    "base": None,
    "injected": 0,
    "kept": 0,
    "caches": [],
    "original_init": None,
}


def _new_cache() -> t.Any:
    import jinja_bccache

    base = _state["base"]
    if _state["mode"] == "shared":
        directory = os.path.join(base, "shared")
        os.makedirs(directory, exist_ok=True)
    else:
        directory = tempfile.mkdtemp(prefix="env-", dir=base)
    cache = jinja_bccache.FileSystemBytecodeCache(directory)
    _state["caches"].append(cache)
    return cache


def _install() -> None:
    import jinja2

    original = jinja2.Environment.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: t.Any, *args: t.Any, **kwargs: t.Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        if bound.arguments.get("bytecode_cache") is None:
            bound.arguments["bytecode_cache"] = _new_cache()
            _state["injected"] += 1
        else:
            _state["kept"] += 1
        original(*bound.args, **bound.kwargs)

    jinja2.Environment.__init__ = __init__  # type: ignore[method-assign]
    _state["original_init"] = original


def pytest_configure(config: pytest.Config) -> None:
    mode = os.environ.get("JINJA_BCCACHE_INJECT_MODE")
    if not mode:
        return
    if mode not in MODES:
        raise pytest.UsageError(f"JINJA_BCCACHE_INJECT_MODE must be one of {MODES}, not {mode!r}")
    base = os.environ.get("JINJA_BCCACHE_INJECT_DIR")
    if not base or not os.path.isdir(base):
        raise pytest.UsageError(f"JINJA_BCCACHE_INJECT_DIR must name a directory, not {base!r}")
    _state["mode"] = mode
    _state["base"] = os.path.abspath(base)
    _install()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _state["original_init"] is not None:
        import jinja2

        jinja2.Environment.__init__ = _state["original_init"]  # type: ignore[method-assign]
        _state["original_init"] = None


def _summary() -> t.Dict[str, t.Any]:
    totals: t.Dict[str, int] = {}
    for cache in _state["caches"]:
        for name, value in cache.stats().items():
            totals[name] = totals.get(name, 0) + value
    entries = 0
    for _root, _dirs, files in os.walk(_state["base"]):
        entries += sum(name.startswith("__jinja2_") for name in files)
    return {
        "mode": _state["mode"],
        "base": _state["base"],
        "injected": _state["injected"],
        "kept": _state["kept"],
        "entries_on_disk": entries,
        "stats": totals,
    }


_outcomes: t.Dict[str, str] = {}
_failures: t.Dict[str, str] = {}
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 2, "failed": 3, "error": 4}


def _record(nodeid: str, outcome: str, report: t.Any) -> None:
    if _RANK[outcome] >= _RANK[_outcomes.get(nodeid, "passed")]:
        _outcomes[nodeid] = outcome
    if outcome in ("failed", "error"):
        text = report.longreprtext
        _failures[nodeid] = (_failures.get(nodeid, "") + text)[-6000:]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    wasxfail = hasattr(report, "wasxfail")
    if report.failed:
        _record(report.nodeid, "failed" if report.when == "call" else "error", report)
    elif report.skipped:
        _record(report.nodeid, "xfailed" if wasxfail else "skipped", report)
    elif report.when == "call":
        _record(report.nodeid, "xpassed" if wasxfail else "passed", report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _record(report.nodeid or "<collection>", "error", report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("JINJA_BCCACHE_INJECT_REPORT")
    if not path:
        return
    report = {
        "summary": _summary() if _state["mode"] is not None else None,
        "exitstatus": int(exitstatus),
        "outcomes": _outcomes,
        "failures": _failures,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True)


def pytest_terminal_summary(terminalreporter: t.Any) -> None:
    if _state["mode"] is None:
        return
    terminalreporter.write_line(SUMMARY_PREFIX + json.dumps(_summary(), sort_keys=True))
