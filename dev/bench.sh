#!/usr/bin/env bash
# The benchmark suite: installs what it needs (memcached, benches/requirements.txt), builds
# and installs jinja-bccache, runs every scenario next to jinja2.bccache, then draws the chart.
#   bash dev/bench.sh            full run (a few minutes): benches/results/latest.json + ratios.png
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
prev=""
for arg in "$@"; do
  case "$arg" in
    --quick) results=benches/results/quick.json; chart=benches/results/ratios-quick.png ;;
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
exit "$status"
