"""One fresh process loading a list of templates through a bytecode cache; started by
``benches/run.py`` (it is not a benchmark on its own).

    python benches/fresh_process_child.py {jinja2|ours} TEMPLATES_DIR CACHE_DIR NAMES_FILE

Prints one JSON object: ``load_us`` -- the time from after the imports to the last
``get_template`` returning (building the cache object and the Environment included, as a
newly started worker pays them), ``compiles`` -- how many templates were compiled (0 when
the cache was warm), ``import_us`` -- the time the imports took, for information.
"""

from __future__ import annotations

import time

_t_start = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

import compile_counter  # noqa: E402  (this script's directory is on sys.path)
from benchenv import bench_env  # noqa: E402
from jinja2 import FileSystemLoader  # noqa: E402

IMPL = sys.argv[1]
if IMPL == "jinja2":
    from jinja2.bccache import FileSystemBytecodeCache
elif IMPL == "ours":
    from jinja_bccache import FileSystemBytecodeCache  # type: ignore[assignment]
else:
    sys.exit(f"unknown implementation {IMPL!r}")


compile_counter.install()


def main() -> None:
    templates, cache_dir, names_file = sys.argv[2:5]
    with open(names_file, encoding="utf-8") as f:
        names = f.read().split()
    t_imported = time.perf_counter()
    env = bench_env(
        loader=FileSystemLoader(templates), bytecode_cache=FileSystemBytecodeCache(cache_dir)
    )
    for name in names:
        env.get_template(name)
    t_done = time.perf_counter()
    print(
        json.dumps(
            {
                "load_us": (t_done - t_imported) * 1e6,
                "import_us": (t_imported - _t_start) * 1e6,
                "compiles": compile_counter.compiles(),
                "templates": len(names),
            }
        )
    )


if __name__ == "__main__":
    main()
