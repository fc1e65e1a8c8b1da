"""What a run reports: the console table, the results JSON, and the README's performance
table, generated from a results JSON as ``benches/chart.py`` draws the chart from it.

    python benches/report.py [--in benches/results/latest.json] [--readme README.md]
                             [--check | --print]

rewrites the table between ``<!-- perf-table:start ... -->`` and ``<!-- perf-table:end -->``
in the README; ``--check`` only says whether it is current (exit 1 if not), ``--print`` writes
the table to stdout. Only a full run's results go into the README: ``--quick`` numbers are a
smoke test, too short to mean anything. This reads the JSON alone (no jinja_bccache, no
Jinja needed), so it works on results from any machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing as t

if t.TYPE_CHECKING:
    from harness import Results

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

START = "<!-- perf-table:start"
END = "<!-- perf-table:end -->"


# ---------------------------------------------------------------------------------------------
# Console and JSON
# ---------------------------------------------------------------------------------------------


def fmt_us(us: float) -> str:
    if abs(us) >= 10_000:
        return f"{us / 1000:,.1f} ms"
    if abs(us) >= 100:
        return f"{us:,.0f} µs"
    return f"{us:.2f} µs"


def print_table(res: Results) -> None:
    rows = [
        ("figure", "jinja_bccache", "baseline", "", "ratio", "rounds p25-p75", "target", "met?")
    ]
    for f in res.figures:
        target = "" if f.get("target") is None else f"≥ {f['target']:g}"
        if "skipped" in f:
            rows.append((f["figure"], "n/a", "", "", "n/a", "", target, "skipped"))
            continue
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        rr = f["round_ratios"]
        rows.append(
            (
                f["figure"],
                fmt_us(f["ours"]["us"]),
                fmt_us(f["baseline"]["us"]),
                f["baseline"]["label"],
                f"{f['ratio']:.2f}",
                f"{rr['p25']:.2f}-{rr['p75']:.2f}",
                target,
                met,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    align = "<>><>><<"
    for n, row in enumerate(rows):
        print("  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "times: medians over alternating rounds; ratio: median over rounds of "
        "baseline / jinja_bccache"
    )
    print(
        "(> 1: jinja_bccache is faster); rounds p25-p75: how much that ratio varied between "
        "rounds (noise)"
    )
    for f in res.figures:
        if "skipped" in f:
            print(f"skipped: {f['figure']}: {f['skipped']}")
    if res.costs:
        print()
        for c in res.costs:
            print(
                f"{c['what']:<66} {fmt_us(c['us']):>10}"
                + (f"   ({c['note']})" if c["note"] else "")
            )
    mods = res.details.get("import_time_modules")
    if mods:
        print(
            "slowest modules imported by jinja_bccache (self time, -X importtime): "
            + ", ".join(f"{m['module']} {m['self_us']} µs" for m in mods[:6])
        )


def write_json(path: str, data: dict[str, t.Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"  # then renamed: a killed run never leaves half a results file
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# The README's table
# ---------------------------------------------------------------------------------------------

SIZES = ("small", "medium", "large")
BY_SIZE = "small / medium / large"


def _ratio(r: float) -> str:
    # As many digits as the noise of a shared machine leaves meaningful.
    if r < 1:
        return f"{r:.2f}"
    if r < 20:
        return f"{r:.1f}"
    return f"{r:.0f}"


def _us(us: float) -> str:
    if abs(us) >= 1000:
        return f"{us / 1000:.1f} ms"
    if abs(us) >= 10:
        return f"{us:.0f} µs"
    return f"{us:.1f} µs"


class _Table:
    """The rows of one results file, and which targeted figures they have shown."""

    def __init__(self, data: dict[str, t.Any]) -> None:
        self.data = data
        self.figures = {f["id"]: f for f in data["figures"] if "skipped" not in f}
        self.costs = {c["id"]: c for c in data["costs"]}
        self.targets: dict[str, float] = dict(data.get("targets") or {})
        self.rows: list[tuple[str, str, str]] = []
        self.shown: set[str] = set()

    def ratios(
        self,
        label: str,
        ids: t.Sequence[str],
        bound: t.Sequence[str] = (),
        target_text: t.Callable[[list[float]], str] | None = None,
    ) -> None:
        """One row of ratios (several figures joined by " / "). The target column says
        whether every target is met; where one is missed, it gives the bound: the floor's (or
        an ideal cache's) own ratio, what no implementation can exceed."""
        figs = [self.figures.get(i) for i in ids]
        if not any(figs):
            return  # not measured in this run (skipped, or --only)
        self.shown.update(ids)
        value = " / ".join(_ratio(f["ratio"]) if f else "n/a" for f in figs)
        # A figure carries the target it was measured against; the run's table covers the
        # figures it could not produce.
        declared = [f.get("target") if f else self.targets.get(i) for f, i in zip(figs, ids)]
        targets = [x for x in declared if x is not None]
        if not targets:
            self.rows.append((label, value, "—"))
            return
        if target_text is not None:
            target = target_text(targets)
        else:
            target = "≥ " + " / ".join(f"{x:g}" for x in targets)
        met = [f["met"] for f in figs if f and f.get("met") is not None]
        if False in met:
            target += " ✗"
            bounds = [self.figures.get(i) for i in bound]
            if any(bounds):
                target += " — bound: " + " / ".join(
                    _ratio(f["ratio"]) if f else "n/a" for f in bounds
                )
        elif len(met) == len(targets):
            target += " ✓"
        self.rows.append((label, value, target))

    def cost(self, label: str, value: str | None) -> None:
        if value is not None:
            self.rows.append((label, value, "—"))

    def costs_by_size(self, prefix: str) -> str | None:
        costs = [self.costs.get(prefix + size) for size in SIZES]
        if not any(costs):
            return None
        return " / ".join(_us(c["us"]).replace(" µs", "") if c else "n/a" for c in costs) + " µs"

    def isolation(self) -> str | None:
        per_hit, hit = self.costs.get("isolation_per_hit"), self.figures.get("isolation_hit")
        fingerprints = [c["us"] for cid, c in self.costs.items() if cid.startswith("fingerprint_")]
        parts = []
        if per_hit and hit:
            # The hit with isolation off: what the per-hit cost adds to.
            parts.append(f"{per_hit['us']:+.1f} µs on a {hit['baseline']['us']:.0f} µs hit")
        if fingerprints:
            lo, hi = min(fingerprints), max(fingerprints)
            span = f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}–{hi:.0f}"
            parts.append(f"{span} µs once per new Environment")
        return "; ".join(parts) or None

    def others(self) -> None:
        """Figures with a target that no row above shows: a new scenario's targets reach the
        README without anyone editing this file."""
        for f in self.data["figures"]:
            if f["id"] not in self.shown and f["id"] in self.figures and f.get("target"):
                self.ratios(f["figure"], [f["id"]])


def readme_rows(data: dict[str, t.Any]) -> list[tuple[str, str, str]]:
    """The rows of the README's table (figure, ratio, target), in the README's order: the
    storage first, then the process-level figures, then the costs of isolation, integrity
    and the import."""
    tab = _Table(data)
    fs = data["machine"].get("tmp_filesystem") or "the benchmark's filesystem"

    def within(targets: list[float]) -> str:
        # A floor target is "floor time / ours >= 0.8", said the way it was set: within 1.25x.
        return " / ".join(sorted({f"within {1 / x:g}×" for x in targets}))

    def sized(fmt: str) -> list[str]:
        return [fmt.format(size) for size in SIZES]

    tab.ratios(f"filesystem `get_bucket` hit, {BY_SIZE}", sized("fs_hit_{}"))
    tab.ratios(
        "… against the floor (floor time / ours)", sized("fs_hit_floor_{}"), target_text=within
    )
    tab.ratios(f"repeat hit from the in-process layer, {BY_SIZE}", sized("mem_hit_{}"))
    tab.ratios(f"`Bucket.bytecode_from_string`, {BY_SIZE}", sized("from_string_{}"))
    tab.ratios(
        "memcached hit, native `MemcachedClient` vs `jinja2.bccache` + pymemcache",
        ["memcached_native"],
    )
    tab.ratios("memcached hit, both given the same pymemcache client", ["memcached_same_client"])
    tab.ratios("fresh process loading 200 templates, warm cache", ["fresh_warm"])
    tab.ratios("`clear()` of 20 000 entries", ["clear_20000"])
    tab.ratios(
        "`get_bucket` hit through a new Environment per load (in-process layer warm)",
        ["new_env_get_bucket"],
    )
    tab.ratios(
        f"`set_bucket` on {fs}, {BY_SIZE}", sized("fs_set_{}"), bound=sized("fs_set_bound_{}")
    )
    tab.ratios(
        f"`set_bucket` on tmpfs, {BY_SIZE}",
        sized("fs_set_tmpfs_{}"),
        bound=sized("fs_set_tmpfs_bound_{}"),
    )
    tab.ratios(
        "`get_template` through a new Environment per load, end to end",
        ["new_env"],
        bound=["new_env_bound"],
    )
    tab.others()
    tab.cost("environment isolation, per hit", tab.isolation())
    tab.cost(
        f"integrity check alone (xxh3 over the entry), {BY_SIZE}",
        tab.costs_by_size("integrity_unseal_"),
    )
    on_top = tab.costs.get("import_on_top")
    tab.cost(
        "`import jinja_bccache` after `import jinja2.bccache`",
        None if on_top is None else "+" + _us(on_top["us"]),
    )
    return tab.rows


def readme_table(data: dict[str, t.Any], source: str) -> str:
    """The table as Markdown, with the run it comes from under it."""
    lines = ["| figure | ratio | target |", "|---|---|---|"]
    lines += [f"| {label} | {value} | {target} |" for label, value, target in readme_rows(data)]
    m = data["machine"]
    commit = (m.get("git_commit") or "")[:7]
    dirty = " with local changes" if m.get("git_dirty") else ""
    platform = (m.get("os") or "").split("-with-")[0]  # the libc's version says nothing here
    lines += [
        "",
        f"From `{source}`: a {data.get('mode')} run of {(m.get('date') or '')[:10]}"
        + (f" (commit {commit}{dirty})" if commit else "")
        + f"; {m.get('python')}, Jinja {m.get('jinja2')}, {platform}, {m.get('cpu')} "
        f"({m.get('cpus_usable')} CPUs), caches on {m.get('tmp_filesystem')}.",
    ]
    return "\n".join(lines) + "\n"


def replace_table(readme: str, table: str) -> str:
    start = readme.find(START)
    end = readme.find(END, start)
    if start < 0 or end < 0:
        raise ValueError(f"no {START} ... --> / {END} markers")
    # The start marker is kept whole (it says where the table comes from).
    body = readme.index("\n", start) + 1
    return readme[:body] + table + readme[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in", dest="src", default=os.path.join(HERE, "results", "latest.json"))
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true", help="exit 1 if the README's is stale")
    what.add_argument("--print", action="store_true", help="print the table, change nothing")
    args = parser.parse_args()

    with open(args.src, encoding="utf-8") as f:
        data = json.load(f)
    source = os.path.relpath(os.path.abspath(args.src), ROOT)
    if source.startswith(os.pardir):
        source = os.path.abspath(args.src)
    table = readme_table(data, source)
    if args.print:
        print(table, end="")
        return 0
    if data.get("mode") != "full":
        print(f"{source}: a {data.get('mode')} run; the README takes full runs", file=sys.stderr)
        return 1
    if data.get("errors"):
        failed = ", ".join(e["scenario"] for e in data["errors"])
        print(f"warning: {source}: failed scenarios ({failed}) have no rows", file=sys.stderr)
    with open(args.readme, encoding="utf-8") as f:
        readme = f.read()
    updated = replace_table(readme, table)
    name = os.path.relpath(args.readme)
    if args.check:
        if updated != readme:
            print(f"{name}: the performance table is not {source}'s; run benches/report.py")
            return 1
        return 0
    if updated != readme:
        with open(args.readme, "w", encoding="utf-8") as f:
            f.write(updated)
    print(f"table: {name} (from {source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
