"""Counting compilations in a benchmark's child process.

Only a cache miss compiles, so counting here proves that a warm run never missed, without
touching the hit path being timed. It is patched on Jinja's class the same way in every child,
so cold and warm children compute the same environment fingerprint (which names that class
only).
"""

from __future__ import annotations

import typing as t

import jinja2

_compile = jinja2.Environment.compile
_count = [0]


def _counting_compile(self: jinja2.Environment, *args: t.Any, **kwargs: t.Any) -> t.Any:
    _count[0] += 1
    return _compile(self, *args, **kwargs)


def install() -> None:
    """Count every compilation from now on."""
    jinja2.Environment.compile = _counting_compile  # type: ignore[assignment]


def compiles() -> int:
    """How many templates were compiled since :func:`install`."""
    return _count[0]
