"""What a run ran on, recorded in its results (``machine``): the interpreter, the versions of
Jinja and of the build measured, the CPU, the filesystem of the caches and the commit."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform
import shlex
import shutil
import subprocess
import sys
import typing as t

import jinja2

import jinja_bccache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def filesystem_type(path: str) -> str | None:
    """The type of the filesystem holding ``path`` (from /proc/mounts): the write and clear()
    figures depend on it."""
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            mounts = [line.split()[1:3] for line in f]
    except OSError:
        return None
    path = os.path.realpath(path)
    best = max(
        (m for m in mounts if path == m[0] or path.startswith(m[0].rstrip("/") + "/")),
        key=lambda m: len(m[0]),
        default=None,
    )
    return best[1] if best else None


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(tmp_root: str) -> dict[str, t.Any]:
    native = [
        f for f in os.listdir(os.path.dirname(jinja_bccache.__file__)) if f.startswith("_native")
    ]
    native_sha = None
    if native:
        with open(os.path.join(os.path.dirname(jinja_bccache.__file__), native[0]), "rb") as lib:
            native_sha = hashlib.sha256(lib.read()).hexdigest()[:16]
    memcached_version = None
    if shutil.which("memcached"):
        memcached_version = subprocess.run(
            ["memcached", "-V"], capture_output=True, text=True
        ).stdout.strip()
    mem = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    status = _git("status", "--porcelain")
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_build": " ".join(platform.python_build()),
        "jinja2": _version("jinja2") or jinja2.__version__,
        "jinja_bccache": _version("jinja-bccache"),
        "jinja_bccache_path": os.path.dirname(jinja_bccache.__file__),
        "jinja_bccache_native_sha256": native_sha,
        "pymemcache": _version("pymemcache"),
        "memcached": memcached_version,
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpus_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory": mem,
        "tmp_filesystem": filesystem_type(tmp_root),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        # As typed from the repository's root, whatever the working directory was.
        "command": shlex.join(
            ["python", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT), *sys.argv[1:]]
        ),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
