"""The import of jinja_bccache in a fresh interpreter, alone and on top of jinja2.bccache.

(The module is ``imports``, the scenario ``import``: a module cannot be named after a
keyword.)"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from harness import Results, Setup

NAME = "import"

TARGETS: dict[str, float] = {}

_IMPORT_SNIPPET = (
    "import time; _t = time.perf_counter(); {stmt}; print((time.perf_counter() - _t) * 1e6)"
)


def run(s: Setup, res: Results) -> None:
    """The import of jinja_bccache in a fresh interpreter vs jinja2.bccache's (ours imports
    Jinja's, which it subclasses), and what ours adds on top of an already imported
    jinja2.bccache, with ``-X importtime``'s view of the modules it brings in."""
    variants = {
        "ours": _IMPORT_SNIPPET.format(stmt="import jinja_bccache"),
        "jinja2": _IMPORT_SNIPPET.format(stmt="import jinja2.bccache"),
        "ours_on_top": "import jinja2, jinja2.bccache; "
        + _IMPORT_SNIPPET.format(stmt="import jinja_bccache"),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="")  # .pyc files exist after the first run
    for code in variants.values():  # warm the OS's file cache and the .pyc files
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env)
    for r in range(s.profile.import_rounds):
        for label in list(variants) if r % 2 == 0 else list(variants)[::-1]:
            out = subprocess.run(
                [sys.executable, "-c", variants[label]],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            times[label].append(float(out.stdout))
    res.ratio(
        "import",
        "import",
        "import, fresh interpreter",
        ("import jinja_bccache", times["ours"]),
        ("import jinja2.bccache", times["jinja2"]),
        note="ours includes importing jinja2.bccache, which it subclasses",
    )
    res.cost(
        "import_on_top",
        "import jinja_bccache after jinja2.bccache",
        statistics.median(times["ours_on_top"]),
        samples_us=times["ours_on_top"],
    )

    # -X importtime: which modules jinja_bccache's import brings in beyond Jinja's.
    out = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import jinja2, jinja2.bccache; import jinja_bccache",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        level = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((name.strip(), level, int(self_us), int(cumulative)))
    # The top-level entry "jinja_bccache" comes after everything it imported (importtime lists
    # a module when it finishes): its subtree is what follows the previous top-level entry.
    end = max(i for i, row in enumerate(rows) if row[0] == "jinja_bccache" and row[1] == 0)
    start = max((i for i in range(end) if rows[i][1] == 0), default=-1) + 1
    subtree = rows[start : end + 1]
    res.details["import_time_modules"] = [
        {"module": n, "self_us": su, "cumulative_us": cu}
        for n, _, su, cu in sorted(subtree, key=lambda row: -row[2])[:15]
    ]
