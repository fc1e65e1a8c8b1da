"""The command line (see ``__main__``). Exit status: 0 done, 1 a template failed to compile,
2 a usage or loading error."""

import argparse
import fnmatch
import importlib
import math
import os
import sys
import time
import typing as t

from jinja2 import Environment

from ._filesystem import DEFAULT_PATTERN, FileSystemBytecodeCache
from ._warm import warm

# Age buckets of the stats command, in seconds.
_AGES = [
    ("< 1 hour", 3600),
    ("< 1 day", 86400),
    ("< 1 week", 7 * 86400),
    ("< 30 days", 30 * 86400),
]

# No limit above this removes anything more, and the native side takes nothing past 2**64.
_HUGE = 2**63


def _at_least(least: int, convert: t.Callable[[str], float]) -> t.Callable[[str], t.Any]:
    """An argparse type, so that a bad limit is a usage error naming its option rather than
    an OverflowError from the native code."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            value = math.nan  # fails the range check below, which then explains
        if not value >= least:
            kind = "whole number" if convert is int else "number"
            raise argparse.ArgumentTypeError(f"expected a {kind} >= {least}, got {text!r}")
        return min(value, _HUGE)

    return parse


def _load_environment(spec: str) -> Environment:
    """``module:attr`` naming an Environment, or a zero-argument callable returning one."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected MODULE:ATTR, got {spec!r}")  # exit 2, as usage errors do
    sys.path.insert(0, os.getcwd())  # as `python -m` does for the application's own modules
    obj: t.Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, Environment) and callable(obj):
        obj = obj()
    if not isinstance(obj, Environment):
        raise TypeError(f"{spec} is not a jinja2.Environment nor a factory returning one")
    return obj


def _progress_bar(stream: t.TextIO) -> t.Callable[[int, int], None]:
    def draw(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return draw


def _directory(args: argparse.Namespace) -> str:
    """The cache directory: a path, or a ``file://`` URL (the only store these commands read)."""
    place: str = args.directory
    if "://" not in place and not place.startswith("file:"):
        return place
    from ._url import file_location

    directory, settings = file_location(place)  # a directory to read: nothing is created
    if args.pattern is None:
        args.pattern = settings.get("pattern")
    return directory


def _cmd_warm(args: argparse.Namespace) -> int:
    env = _load_environment(args.environment)
    if args.cache:
        from ._url import from_url

        env.bytecode_cache = from_url(args.cache)
    extensions = args.extensions.split(",") if args.extensions else None
    filter_func = (lambda n: fnmatch.fnmatchcase(n, args.filter)) if args.filter else None
    names = env.list_templates(extensions=extensions, filter_func=filter_func)
    progress = _progress_bar(sys.stderr) if sys.stderr.isatty() and not args.quiet else None
    started = time.perf_counter()
    summary = warm(env, names, jobs=args.jobs, progress=progress)
    elapsed = time.perf_counter() - started
    print(
        f"{len(summary.compiled)} compiled, {len(summary.already_warm)} already warm, "
        f"{len(summary.failed)} failed ({elapsed:.1f} s)"
    )
    for name, reason in summary.failed:
        print(f"FAILED {name}: {reason}")
    return 0 if summary.ok else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    args.directory = _directory(args)
    cache = FileSystemBytecodeCache(args.directory, args.pattern or DEFAULT_PATTERN)
    entries = cache.entries()
    now = time.time()
    total = sum(size for size, _ in entries)
    print(f"{args.directory}: {len(entries)} entries, {total / 1024:.1f} KiB")
    if entries:
        print(
            f"  largest {max(size for size, _ in entries) / 1024:.1f} KiB, "
            f"mean {total / len(entries) / 1024:.1f} KiB"
        )
    print("  last used (access time):")
    counts = [0] * (len(_AGES) + 1)
    for _, accessed in entries:
        age = now - accessed
        index = next((i for i, (_, limit) in enumerate(_AGES) if age < limit), len(_AGES))
        counts[index] += 1
    for (label, _), count in zip(_AGES + [("older", 0)], counts):
        print(f"    {label:<10} {count}")
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    if args.max_age is None and args.max_entries is None and args.max_bytes is None:
        args.usage_error("a limit is needed: give --max-age, --max-entries or --max-bytes")
    cache = FileSystemBytecodeCache(_directory(args), args.pattern or DEFAULT_PATTERN)
    removed, freed = cache.prune(args.max_age, args.max_entries, args.max_bytes)
    print(f"removed {removed} entries, freed {freed / 1024:.1f} KiB")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jinja_bccache", description=__doc__)
    commands = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="one of these; COMMAND --help describes its arguments",
    )

    commands.add_parser(
        "dbt",
        help="run dbt with the cache; dbt's own arguments follow (dbt parse ...)",
        add_help=False,
    )
    for name in ("ansible-playbook", "ansible"):
        commands.add_parser(
            name,
            help=f"run {name} with the cache; its own arguments follow",
            add_help=False,
        )
    p = commands.add_parser("warm", help="compile every template of an Environment into its cache")
    p.add_argument(
        "environment", help="MODULE:ATTR of an Environment or of a factory returning one"
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=_at_least(1, int),
        default=1,
        metavar="N",
        help="worker processes (default %(default)s)",
    )
    p.add_argument("--filter", help="only template names matching this glob")
    p.add_argument("--extensions", help="only these extensions, comma-separated (e.g. html,txt)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--cache",
        metavar="URL",
        help="warm this store instead of the Environment's own bytecode cache "
        "(file:///..., memcached://..., redis://...: see from_url)",
    )
    p.set_defaults(run=_cmd_warm)

    for name, run, text in [
        ("stats", _cmd_stats, "summarize a cache directory"),
        ("prune", _cmd_prune, "remove least recently used entries"),
    ]:
        p = commands.add_parser(name, help=text)
        p.add_argument("directory", help="the cache directory, or its file:// URL")
        # argparse %-formats help, and the pattern has %s
        shown = DEFAULT_PATTERN.replace("%", "%%")
        p.add_argument(
            "--pattern",
            default=None,
            help=f"file name pattern of the entries (default: the URL's, or {shown})",
        )
        if name == "prune":
            p.add_argument(
                "--max-age",
                type=_at_least(0, float),
                metavar="SECONDS",
                help="remove entries unused for longer than this (0 removes all)",
            )
            p.add_argument(
                "--max-entries",
                type=_at_least(0, int),
                metavar="N",
                help="keep the N most recently used entries (0 removes all)",
            )
            p.add_argument(
                "--max-bytes",
                type=_at_least(0, int),
                metavar="N",
                help="keep recently used entries up to N bytes (0 removes all)",
            )
        p.set_defaults(run=run, usage_error=p.error)
    return parser


def _tool(command: str, args: t.List[str]) -> int:
    """``dbt`` and Ansible's commands: everything after the name is the tool's, --help
    included."""
    from ._tools import Refused

    try:
        if command == "dbt":
            from ._dbt import main as dbt_main

            return dbt_main(args)
        from ._ansible import main as ansible_main

        return ansible_main(command, args)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: t.Optional[t.List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["dbt"], ["ansible-playbook"], ["ansible"]):
        return _tool(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (OSError, ValueError, TypeError, ImportError, AttributeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
