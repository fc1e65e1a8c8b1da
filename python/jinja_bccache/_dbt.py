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

import os
import typing as t

from ._base import BytecodeCache
from ._from_string import FromStringCacheMixin
from ._parse_cache import ParseCacheMixin
from ._tools import cached_subclass, installed, named_or_directory, prepared, require, run

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

    def directory() -> str:
        project = _option(args, "--project-dir", "DBT_PROJECT_DIR") or os.curdir
        target = _option(args, "--target-path", "DBT_TARGET_PATH") or "target"
        return os.path.join(project, target, CACHE_DIR_NAME)

    return named_or_directory(directory)


def install(cache: BytecodeCache) -> None:
    """Make dbt's Environments cache what they compile into ``cache`` (again: replaces the
    cache an earlier call installed)."""
    # dbt is not a dependency: imported only when the integration runs
    import dbt_common.clients.jinja as dbt_jinja

    for name in ("MacroFuzzEnvironment", "NativeSandboxEnvironment"):
        current = getattr(dbt_jinja, name)
        cached = cached_subclass(current, (ParseCacheMixin, FromStringCacheMixin), cache, {})
        setattr(dbt_jinja, name, cached)


def main(args: t.Sequence[str]) -> int:
    """``python -m jinja_bccache dbt ARGS``: dbt's command line, with the cache."""
    require("dbt", "dbt-core")
    cache = prepared("dbt", lambda: cache_for(args), install)
    if cache is not None:
        installed("dbt", cache)
    # after install: a module of dbt's that copied a class from dbt_common gets the cached one
    from dbt.cli.main import cli

    return run(lambda: cli.main(args=list(args), prog_name="dbt"))
