#!/usr/bin/env bash
# The benchmark suite: installs what it needs (memcached, benches/requirements.txt), builds
# and installs jinja-bccache, runs every scenario next to jinja2.bccache, then draws the chart
# and, after a full run, regenerates the README's performance table (benches/report.py).
#   bash dev/bench.sh            full run (a few minutes): benches/results/latest.json + ratios.png
#                                + README.md's table
#   bash dev/bench.sh --quick    smoke run for CI (< 60 s): quick.json + ratios-quick.png
# Arguments go to benches/run.py (--out FILE, --only SCENARIOS, --tmpdir DIR).
set -euo pipefail
if ! command -v memcached >/dev/null 2>&1; then
  echo "== installing memcached"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached >/dev/null
fi
# shellcheck source=dev/setup.sh
source "$(dirname "$0")/setup.sh" -r benches/requirements.txt

# The chart is drawn from the file this run writes: the same default as run.py, or --out.
results=benches/results/latest.json
chart=benches/results/ratios.png
quick=0
only=0
prev=""
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1; results=benches/results/quick.json; chart=benches/results/ratios-quick.png ;;
    --only | --only=*) only=1 ;;
  esac
done
for arg in "$@"; do
  case "$arg" in
    --out=*) results="${arg#--out=}"; chart="${results%.json}.png" ;;
  esac
  if [ "$prev" = "--out" ]; then results="$arg"; chart="${results%.json}.png"; fi
  prev="$arg"
done

echo "== benchmarks"
status=0
python3 benches/run.py "$@" || status=$?
# A failed scenario still leaves the others' results: chart them, then report the failure.
if [ -f "$results" ]; then
  python3 benches/chart.py --in "$results" --out "$chart"
fi
# The README's table shows the committed results, as its chart does: only from a full run into
# latest.json, and only a complete one (a failed or left-out scenario would drop its rows).
if [ "$quick" = 0 ] && [ "$results" = benches/results/latest.json ]; then
  if [ "$status" = 0 ] && [ "$only" = 0 ]; then
    python3 benches/report.py --in "$results"
  else
    echo "README.md's performance table left as it was: not every scenario ran" >&2
  fi
fi
exit "$status"
