"""dbt's use of Jinja without dbt, in one fresh process; started by ``benches/run.py`` (it is
not a benchmark on its own).

    python benches/dbt_child.py {none|ours} CACHE_DIR TEMPLATES

Like dbt's parser, every template gets a new sandboxed Environment whose Undefined class is
made for its node (the class holds the node: data that changes every run, and a lock no
fingerprint can describe), and is built with ``from_string``. ``none`` runs it as dbt does;
``ours`` gives the Environment class FromStringCacheMixin and a FileSystemBytecodeCache, and
changes nothing else. Prints one JSON object: ``load_us`` -- building the Environments and
templates, after the imports; ``compiles``; ``logged`` -- records jinja_bccache logged.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import typing as t

import compile_counter  # this script's directory is on sys.path
from jinja2 import Undefined
from jinja2.sandbox import SandboxedEnvironment


class Node:
    def __init__(self, name: str) -> None:
        self.unique_id = f"model.bench.{name}"
        self.created_at = time.time()
        self.lock = threading.Lock()


def create_undefined(node: Node) -> t.Type[Undefined]:
    class NodeUndefined(Undefined):
        def __init__(
            self, hint: t.Any = None, obj: t.Any = None, name: t.Any = None, exc: t.Any = None
        ) -> None:
            super().__init__(hint=hint, name=name)
            self.node = node

        def __getattr__(self, name: str) -> t.Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return self.__class__(hint=self._undefined_hint, name=name)

        def __reduce__(self) -> t.Any:
            raise RuntimeError(f"undefined in {node.unique_id}")

    return NodeUndefined


TEXT_FILTERS: dict[str, t.Callable[[t.Any], t.Any]] = {
    "as_text": lambda x: x,
    "as_bool": lambda x: x,
    "as_number": lambda x: x,
}

# A model as dbt's parser renders it: config and ref calls, a macro-like loop, a filter.
SOURCE = """{{ config(materialized='view', tags=['t%(i)d']) }}
{%% set cols = ['id', 'customer_id', 'amount', 'created_at'] %%}
select {%% for c in cols %%}{{ c }}{%% if not loop.last %%}, {%% endif %%}{%% endfor %%},
  '{{ 'x'|as_text }}' as marker, {{ n }} as model_id
from {{ ref('upstream_%(i)d') }} as u
{%% if var('full', true) %%}where u.amount > %(i)d{%% endif %%}
"""


def node_environment(
    env_class: t.Type[SandboxedEnvironment], i: int, **options: t.Any
) -> SandboxedEnvironment:
    """The Environment dbt's parser builds for one node."""
    env = env_class(
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        undefined=create_undefined(Node(f"m{i}")),
        **options,
    )
    env.filters.update(TEXT_FILTERS)
    return env


def main() -> None:
    mode, cache_dir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    logging.getLogger("jinja_bccache").addHandler(handler)
    compile_counter.install()
    env_class: t.Type[SandboxedEnvironment] = SandboxedEnvironment
    options: dict[str, t.Any] = {}
    if mode == "ours":
        from jinja_bccache import FileSystemBytecodeCache, FromStringCacheMixin

        class CachedSandbox(FromStringCacheMixin, SandboxedEnvironment):
            pass

        env_class = CachedSandbox
        options["bytecode_cache"] = FileSystemBytecodeCache(cache_dir)
    elif mode != "none":
        sys.exit(f"unknown mode {mode!r}")
    start = time.perf_counter()
    for i in range(count):
        node_environment(env_class, i, **options).from_string(SOURCE % {"i": i}, globals={"n": i})
    load_us = (time.perf_counter() - start) * 1e6
    print(
        json.dumps(
            {
                "load_us": load_us,
                "compiles": compile_counter.compiles(),
                "logged": [record.getMessage()[:200] for record in logged],
            }
        )
    )


if __name__ == "__main__":
    main()
