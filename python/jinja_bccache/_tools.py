"""What the tool integrations (``python -m jinja_bccache dbt ...``, ``... ansible-playbook
...``) share: the cache they use when no store is named, running the tool's own command line,
and the report ``$JINJA_BCCACHE_REPORT=1`` asks for."""

import atexit
import importlib.util
import logging
import os
import pathlib
import sys
import typing as t

from ._base import BytecodeCache
from ._filesystem import FileSystemBytecodeCache
from ._url import URL_ENV, from_url


def named_or_directory(directory: t.Callable[[], str]) -> BytecodeCache:
    """The store ``$JINJA_BCCACHE_URL`` names (see :func:`from_url`), else a filesystem
    cache in ``directory()``, created private (mode 0700) if missing, as a ``file://`` URL
    makes it."""
    url = os.environ.get(URL_ENV) or pathlib.Path(os.path.abspath(directory())).as_uri()
    return from_url(url)


def user_cache_dir(*parts: str) -> str:
    """A directory in the user's cache directory (``$XDG_CACHE_HOME``, else ``~/.cache``;
    ``%LOCALAPPDATA%`` on Windows)."""
    base = os.environ.get("XDG_CACHE_HOME") or (
        os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None
    )
    return os.path.join(base or os.path.join(os.path.expanduser("~"), ".cache"), *parts)


def cached_subclass(
    current: type, mixins: t.Tuple[type, ...], cache: BytecodeCache, namespace: t.Dict[str, t.Any]
) -> type:
    """A subclass of a tool's Environment class ``current`` (or of the class it replaced, if
    ``current`` is one of these: installing again replaces the cache) with ``mixins`` before
    it and ``namespace``, whose instances use ``cache`` unless given another."""
    base: t.Any = getattr(current, "_jinja_bccache_base", current)

    def __init__(self: t.Any, *args: t.Any, **kwargs: t.Any) -> None:
        kwargs.setdefault("bytecode_cache", cache)
        base.__init__(self, *args, **kwargs)

    own = {"__init__": __init__, "__module__": __name__, "_jinja_bccache_base": base}
    return type(current.__name__, (*mixins, base), {**own, **namespace})


logger = logging.getLogger("jinja_bccache")


class Refused(Exception):
    """Why a tool's run through the switch does not start: the tool is not installed, or the
    cache it names cannot be made (a malformed ``$JINJA_BCCACHE_URL``, a directory that
    cannot be created)."""


def require(tool: str, distribution: str) -> None:
    """Refused unless ``tool``'s top-level package can be imported (looks, imports nothing)."""
    if importlib.util.find_spec(tool) is None:
        raise Refused(f"{distribution} is not installed in this Python ({sys.executable})")


def prepared(
    tool: str, cache_for: t.Callable[[], BytecodeCache], install: t.Callable[[BytecodeCache], None]
) -> t.Optional[BytecodeCache]:
    """The cache, installed into ``tool``; None when the integration cannot be installed into
    this version of the tool: that is logged, and the tool runs as without the switch."""
    try:
        cache = cache_for()
    except (OSError, ValueError, ImportError) as exc:
        raise Refused(f"the cache cannot be made: {exc}") from exc
    try:
        install(cache)
    except Exception as exc:  # a version of the tool this integration does not know
        logger.warning(
            "jinja_bccache: the %s integration could not be installed (%s: %s); "
            "%s runs without the cache",
            tool,
            type(exc).__name__,
            exc,
            tool,
        )
        return None
    return cache


#: Set to a tool's name, turns its integration on in every Python process (see _auto.py).
VARIABLE = "JINJA_BCCACHE_TOOL"


def installed(tool: str, cache: BytecodeCache, children: bool = True) -> None:
    """After ``tool``'s integration is installed with ``cache``: the report at exit if asked
    for, and (``children``) the variables that make the run's child processes install it
    too, with the same cache wherever they run; without ``children`` the variable is taken
    away, so that child processes that never template do not import this package."""
    if os.environ.get("JINJA_BCCACHE_REPORT"):
        _report(cache)
    if not children:
        os.environ.pop(VARIABLE, None)
        return
    os.environ[VARIABLE] = tool
    if not os.environ.get(URL_ENV) and type(cache) is FileSystemBytecodeCache:
        os.environ[URL_ENV] = pathlib.Path(cache.directory).as_uri()


def run(main: t.Callable[[], t.Any]) -> int:
    """Runs a tool's command line (``main``), the integration installed already; its exit
    status, as the tool's own script would exit."""
    try:
        code = main()
    except SystemExit as exit:
        code = exit.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # as the interpreter reports sys.exit("message")
    return 1


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
