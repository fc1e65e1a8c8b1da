"""dbt with the bytecode cache, by one switch: ``python -m jinja_bccache dbt <dbt arguments>``
runs dbt's own command line with the cache installed.

dbt builds every model's templates from strings, through a new Environment of one of two
classes of ``dbt_common.clients.jinja`` each time, and looks both classes up in that module
when it does; it also parses every macro and model (``Environment.parse``) for what they
call. Both classes are replaced by subclasses with :class:`FromStringCacheMixin`,
:class:`ParseCacheMixin` and one cache. Nothing else of dbt is changed.

The cache is the store ``$JINJA_BCCACHE_URL`` names (see :func:`from_url`: a Redis or
memcached shared by CI jobs), else the directory ``jinja_bccache`` in the project's target
path (``--project-dir`` / ``$DBT_PROJECT_DIR``, then ``--target-path`` / ``$DBT_TARGET_PATH``,
as dbt reads them), created if missing. ``$JINJA_BCCACHE_REPORT=1`` prints the cache's
counters to stderr at exit.
"""

import atexit
import logging
import os
import sys
import typing as t

from ._base import BytecodeCache
from ._filesystem import FileSystemBytecodeCache
from ._from_string import FromStringCacheMixin
from ._parse_cache import ParseCacheMixin

#: The directory, in the project's target path, that holds the cache by default.
CACHE_DIR_NAME = "jinja_bccache"


def _option(args: t.Sequence[str], name: str, variable: str) -> t.Optional[str]:
    """An option's value as dbt reads it: the last ``--name VALUE`` / ``--name=VALUE``, else
    the environment variable."""
    found = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(name + "="):
            found = arg[len(name) + 1 :]
    return found if found is not None else os.environ.get(variable)


def cache_for(args: t.Sequence[str]) -> BytecodeCache:
    """The cache for a dbt command line (see the module's documentation)."""
    if os.environ.get("JINJA_BCCACHE_URL"):
        from ._url import from_url

        return from_url()
    project = _option(args, "--project-dir", "DBT_PROJECT_DIR") or os.curdir
    target = _option(args, "--target-path", "DBT_TARGET_PATH") or "target"
    directory = os.path.join(project, target, CACHE_DIR_NAME)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return FileSystemBytecodeCache(os.path.abspath(directory))


def install(cache: BytecodeCache) -> None:
    """Make dbt's Environments cache what they compile into ``cache`` (again: replaces the
    cache an earlier call installed)."""
    # dbt is not a dependency: imported only when the integration runs
    import dbt_common.clients.jinja as dbt_jinja  # type: ignore[import-not-found]

    for name in ("MacroFuzzEnvironment", "NativeSandboxEnvironment"):
        current = getattr(dbt_jinja, name)
        base = getattr(current, "_jinja_bccache_base", current)

        def __init__(self: t.Any, *args: t.Any, _base: type = base, **kwargs: t.Any) -> None:
            kwargs.setdefault("bytecode_cache", cache)
            _base.__init__(self, *args, **kwargs)  # type: ignore[misc]

        cached = type(
            name,
            (ParseCacheMixin, FromStringCacheMixin, base),
            {"__init__": __init__, "__module__": __name__, "_jinja_bccache_base": base},
        )
        setattr(dbt_jinja, name, cached)


class _Kept(logging.Handler):
    """Keeps the records it is handed, for the report."""

    def __init__(self) -> None:
        super().__init__()
        self.records: t.List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _report(cache: BytecodeCache) -> None:
    """At exit: the cache's counters and how many records this package logged (warnings and
    worse, as logging passes them by default)."""
    kept = _Kept()
    logging.getLogger("jinja_bccache").addHandler(kept)
    stats = getattr(cache, "stats", dict)

    def report() -> None:
        logged = kept.records
        print(f"jinja_bccache: {stats()}, {len(logged)} log records", file=sys.stderr)
        for record in logged[:3]:
            print(f"  {record.levelname}: {record.getMessage()[:300]}", file=sys.stderr)

    atexit.register(report)


def main(args: t.Sequence[str]) -> int:
    """``python -m jinja_bccache dbt ARGS``: dbt's command line, with the cache."""
    cache = cache_for(args)
    install(cache)
    if os.environ.get("JINJA_BCCACHE_REPORT"):
        _report(cache)
    from dbt.cli.main import cli  # type: ignore[import-not-found]

    try:
        cli.main(args=list(args), prog_name="dbt")
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    return 0
