"""`python -m jinja_bccache` as an operator meets it (help, usage errors), and the
JINJA_BCCACHE_MEMORY_BYTES environment variable read at import."""

import argparse
import os
import subprocess
import sys

import pytest

from jinja_bccache import _cli, _startup

PATTERN = "__jinja2_%s.cache"


def run_cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "jinja_bccache", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def call_main(capsys, *argv):
    """main() in this process: (exit status, stdout, stderr), whether it returns or exits."""
    try:
        status = _cli.main(list(argv))
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def parsers():
    top = _cli.build_parser()
    commands = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"": top, **commands.choices}


def test_python_dash_m_help():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "warm" in result.stdout and "stats" in result.stdout and "prune" in result.stdout


@pytest.mark.parametrize("command", ["warm", "stats", "prune"])
def test_each_help_renders(capsys, command):
    status, out, _ = call_main(capsys, command, "--help")
    assert status == 0
    assert "option_strings" not in out and "argparse" not in out  # no internals leak
    if command != "warm":
        assert PATTERN in out.replace("\n", " ").replace("  ", "")


def test_every_argument_has_help():
    for name, parser in parsers().items():
        for action in parser._actions:
            assert action.help and action.help.strip(), (name, action.dest)
        parser.format_help()  # every help string %-formats


@pytest.mark.parametrize("argv", [[], ["bogus"], ["stats"], ["prune"]])
def test_missing_or_unknown_command_is_a_usage_error(argv):
    result = run_cli(*argv)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_prune_without_a_limit_is_a_usage_error(tmp_path, capsys):
    status, _, err = call_main(capsys, "prune", str(tmp_path))
    assert status == 2
    assert "usage:" in err and "a limit is needed" in err


@pytest.mark.parametrize("option", ["--max-age", "--max-entries", "--max-bytes"])
@pytest.mark.parametrize("value", ["-1", "-5", "lots", "nan", ""])
def test_bad_limits_are_usage_errors(tmp_path, capsys, option, value):
    status, _, err = call_main(capsys, "prune", str(tmp_path), option, value)
    assert status == 2
    assert f"argument {option}:" in err and repr(value) in err


def test_bad_limits_through_python_dash_m(tmp_path):
    for option in ["--max-age", "--max-entries", "--max-bytes"]:
        result = run_cli("prune", str(tmp_path), option, "-1")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert option in result.stderr


@pytest.mark.parametrize("option", ["--max-age", "--max-entries", "--max-bytes"])
def test_zero_removes_everything(tmp_path, capsys, option):
    for name in "abc":
        (tmp_path / PATTERN.replace("%s", name)).write_bytes(b"x" * 10)
    (tmp_path / "unrelated").write_bytes(b"")
    status, out, err = call_main(capsys, "prune", str(tmp_path), option, "0")
    assert status == 0, err
    assert "removed 3 entries" in out
    assert os.listdir(tmp_path) == ["unrelated"]


def test_huge_limits_keep_everything(tmp_path, capsys):
    (tmp_path / PATTERN.replace("%s", "a")).write_bytes(b"x")
    huge = str(10**30)
    status, out, err = call_main(
        capsys,
        "prune",
        str(tmp_path),
        "--max-age",
        "1e400",
        "--max-entries",
        huge,
        "--max-bytes",
        huge,
    )
    assert status == 0, err
    assert "removed 0 entries" in out


def test_bad_jobs_and_environment_are_usage_errors(capsys):
    status, _, err = call_main(capsys, "warm", "myapp:env", "--jobs", "0")
    assert status == 2 and "argument --jobs" in err
    status, _, err = call_main(capsys, "warm", "not-a-spec")
    assert status == 2 and "MODULE:ATTR" in err


def memory_bytes_at_import(value):
    code = "import jinja_bccache; print(jinja_bccache.memory_cache_info()[2])"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, JINJA_BCCACHE_MEMORY_BYTES=value),
        timeout=120,
    )


DEFAULT_BUDGET = 32 << 20


@pytest.mark.parametrize(
    "value, expected",
    [
        ("32M", 32 << 20),
        ("512K", 512 << 10),
        ("1G", 1 << 30),
        ("0", 0),
        ("12345", 12345),
        ("32MiB", 32 << 20),
        ("512kb", 512 << 10),
        ("2g", 2 << 30),
        (" 8 M ", 8 << 20),
        ("100B", 100),
        ("", DEFAULT_BUDGET),
    ],
)
def test_memory_bytes_sizes(value, expected):
    result = memory_bytes_at_import(value)
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert int(result.stdout) == expected


@pytest.mark.parametrize(
    "value", ["lots", "-1", "1e3", "32X", "M", "3.5M", "1" * 5000, "99999999999999999999G"]
)
def test_bad_memory_bytes_warns_and_keeps_the_default(value):
    result = memory_bytes_at_import(value)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == DEFAULT_BUDGET
    assert "Traceback" not in result.stderr
    assert "RuntimeWarning" in result.stderr and "JINJA_BCCACHE_MEMORY_BYTES" in result.stderr
    assert repr(value)[:40] in result.stderr


def test_memory_budget_parser():
    assert _startup.memory_budget("32M") == 32 << 20
    assert _startup.memory_budget("") is None
    with pytest.warns(RuntimeWarning, match="JINJA_BCCACHE_MEMORY_BYTES='lots'"):
        assert _startup.memory_budget("lots") is None
