"""Draw the ratios of a benchmark run as a horizontal bar chart, with the issue's targets.

    python benches/chart.py [--in benches/results/latest.json] [--out benches/results/ratios.png]

Each bar goes from parity (1x) to the measured ratio on a log scale, so "2x faster" and
"2x slower" are the same length either way; green where a target is met, red where missed,
grey where there is no target. The whisker is the spread between rounds (25th-75th
percentile of the per-round ratios), the black tick the target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in", dest="src", default=os.path.join(HERE, "results", "latest.json"))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "ratios.png"))
    parser.add_argument(
        "--targets-only", action="store_true", help="only the figures the issue sets a target for"
    )
    args = parser.parse_args()

    import matplotlib  # imported here so --help works without it

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    with open(args.src, encoding="utf-8") as f:
        data = json.load(f)
    figures = [
        f
        for f in data["figures"]
        if "skipped" not in f and (f.get("target") is not None or not args.targets_only)
    ]
    if not figures:
        print(f"no figures in {args.src}", file=sys.stderr)
        return 1

    colors = {True: "#2e8b57", False: "#c0392b", None: "#9aa5b1"}
    n = len(figures)
    fig, ax = plt.subplots(figsize=(10, 0.34 * n + 1.8))
    ys = list(range(n))[::-1]  # first figure at the top, in the run's order
    lo = min(
        min(f["ratio"], f["round_ratios"]["p25"], f.get("target") or f["ratio"]) for f in figures
    )
    hi = max(
        max(f["ratio"], f["round_ratios"]["p75"], f.get("target") or f["ratio"]) for f in figures
    )
    for y, f in zip(ys, figures):
        r = f["ratio"]
        ax.barh(y, r - 1, left=1, height=0.62, color=colors[f["met"]], zorder=2)
        rr = f["round_ratios"]
        ax.plot([rr["p25"], rr["p75"]], [y, y], color="#333333", linewidth=1, zorder=3)
        if f.get("target") is not None:
            ax.plot(
                [f["target"]],
                [y],
                marker="|",
                markersize=14,
                markeredgewidth=2.2,
                color="black",
                zorder=4,
            )
        # Right of the bar and its whisker; past the target tick if that is close by.
        x = max(r, rr["p75"], 1) * 1.05
        target = f.get("target")
        if target is not None and target * 0.9 < x * 1.6 and x < target * 1.08:
            x = target * 1.08
        ax.text(x, y, f"{r:.2f}×", va="center", fontsize=8, zorder=5)
    ax.set_xscale("log")
    ax.set_xlim(10 ** (math.floor(math.log10(lo) * 4) / 4 - 0.1), hi * 1.9)
    ax.axvline(1, color="black", linewidth=0.8, zorder=1)
    ax.set_yticks(ys)
    ax.set_yticklabels(
        [f"{f['figure']}  (vs {f['baseline']['label']})" for f in figures], fontsize=8
    )
    ax.set_ylim(-0.7, n - 0.3)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.grid(axis="x", which="major", color="#dddddd", zorder=0)
    ax.set_xlabel("baseline time / jinja_bccache time  (> 1: jinja_bccache is faster; log scale)")
    m = data["machine"]
    ax.set_title(
        f"jinja_bccache {m.get('jinja_bccache')} vs jinja2.bccache — {data.get('mode')} run, "
        f"{m.get('date', '')[:10]}\n"
        f"{m.get('python')}, Jinja {m.get('jinja2')}, {m.get('cpu')} "
        f"({m.get('cpus_usable')} CPUs), {m.get('tmp_filesystem')}",
        fontsize=9,
    )
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig.legend(
        handles=[
            Patch(color=colors[True], label="target met"),
            Patch(color=colors[False], label="target missed"),
            Patch(color=colors[None], label="no target"),
            Line2D(
                [],
                [],
                marker="|",
                linestyle="",
                markersize=12,
                markeredgewidth=2,
                color="black",
                label="target",
            ),
            Line2D([], [], color="#333333", label="rounds p25–p75"),
        ],
        loc="lower center",
        ncol=5,
        fontsize=7,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.025, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=130)
    print(f"chart: {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
