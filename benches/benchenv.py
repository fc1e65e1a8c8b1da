"""The Environment configuration every scenario of ``benches/run.py`` uses, in the parent and
in the fresh processes it starts.

It is shaped like a real application's (the i18n extension, ``select_autoescape``, a few
custom filters and a test), not a bare ``Environment()``: jinja_bccache's environment
fingerprint costs more the more an Environment differs from Jinja's defaults, and a
benchmark on a bare Environment would hide that cost.

The custom functions are module-level on purpose: the fingerprint identifies a function by
module, qualified name and code, so a parent process and the children it starts compute the
same fingerprint, and a cache warmed by one is warm for the others.
"""

from __future__ import annotations

import typing as t

from jinja2 import Environment, select_autoescape


def money(value: float, currency: str = "EUR") -> str:
    return f"{value:.2f} {currency}"


def initials(text: str) -> str:
    return "".join(word[0] for word in text.split())


def even_id(value: int) -> bool:
    return value % 2 == 0


def bench_env(cls: t.Type[Environment] = Environment, **options: t.Any) -> Environment:
    env = cls(extensions=["jinja2.ext.i18n"], autoescape=select_autoescape(), **options)
    env.filters["money"] = money
    env.filters["initials"] = initials
    env.tests["even_id"] = even_id
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env
