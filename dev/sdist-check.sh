#!/usr/bin/env bash
# Proves the source distribution is complete: builds the sdist with `maturin sdist`, installs
# it with pip into a fresh virtual environment (pip compiles the Rust from the sdist alone,
# crates/jinja-bccache-core included), then renders a template through
# FileSystemBytecodeCache twice from outside the work tree: a write, then a hit from disk.
#   bash dev/sdist-check.sh              (a few minutes: a clean release build; needs PyPI
#                                          and crates.io)
#   bash dev/sdist-check.sh SDIST.tar.gz (checks that sdist instead of building one: CI's)
# Everything goes to a temp dir, removed at exit; set KEEP_TMP=1 to keep it.
set -euo pipefail
# An sdist given as an argument is found from the caller's directory, before the cd.
given=""
if [ "$#" -gt 0 ]; then
  [ -f "$1" ] || { echo "FAIL: no sdist at $1" >&2; exit 1; }
  given="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
fi
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
start=$SECONDS

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sdist-check.XXXXXX")"
cleanup() {
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "== kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

if [ -n "$given" ]; then
  sdist="$given"
  echo "== checking $sdist"
else
  # maturin: the one on PATH, else the project's .venv, else a throwaway one from PyPI.
  if command -v maturin >/dev/null 2>&1; then
    maturin=(maturin)
  elif [ -x .venv/bin/maturin ]; then
    maturin=(.venv/bin/maturin)
  else
    echo "== installing maturin into $tmp/tools"
    python3 -m venv "$tmp/tools"
    "$tmp/tools/bin/python" -m pip install -q "maturin>=1.12.1,<2"
    maturin=("$tmp/tools/bin/maturin")
  fi
  echo "== maturin sdist -> $tmp/dist"
  "${maturin[@]}" sdist --out "$tmp/dist"
  sdists=("$tmp"/dist/*.tar.gz)
  if [ "${#sdists[@]}" -ne 1 ] || [ ! -f "${sdists[0]}" ]; then
    echo "FAIL: expected one sdist in $tmp/dist" >&2
    exit 1
  fi
  sdist="${sdists[0]}"
fi
top="$(basename "$sdist" .tar.gz)"

# The extension depends on the workspace's path crate: the sdist must carry it.
listing="$(tar -tzf "$sdist")"
for needed in Cargo.toml Cargo.lock pyproject.toml src/lib.rs python/jinja_bccache/__init__.py \
    python/jinja_bccache.pth crates/jinja-bccache-core/Cargo.toml crates/jinja-bccache-core/src/lib.rs; do
  grep -qxF "$top/$needed" <<<"$listing" || {
    echo "FAIL: $needed is missing from $(basename "$sdist")" >&2; exit 1; }
done
echo "== $(basename "$sdist"): $(wc -l <<<"$listing") files, crates/jinja-bccache-core included"

echo "== fresh virtual environment $tmp/venv; pip install the sdist (clean release build)"
python3 -m venv "$tmp/venv"
build_start=$SECONDS
# --no-binary: never a wheel from an index or a find-links folder, always this sdist, built.
"$tmp/venv/bin/python" -m pip install -q --no-binary jinja-bccache "$sdist"
build_secs=$((SECONDS - build_start))

echo "== render twice through FileSystemBytecodeCache"
# From inside $tmp, so neither the work tree nor python/ can be imported by accident.
mkdir "$tmp/run"
(cd "$tmp/run" && "$tmp/venv/bin/python" - "$tmp" <<'EOF'
import os
import sys

from jinja2 import DictLoader, Environment

import jinja_bccache

tmp = sys.argv[1]
where = os.path.realpath(jinja_bccache.__file__)
assert where.startswith(os.path.realpath(os.path.join(tmp, "venv"))), where
# The in-process layer off: the second render's hit is read back from the cache file.
jinja_bccache.set_memory_cache(0)

cache_dir = os.path.join(tmp, "cache")
os.mkdir(cache_dir)
cache = jinja_bccache.FileSystemBytecodeCache(cache_dir)
loader = DictLoader({"hello.txt": "Hello {{ name }}{% for i in range(3) %} {{ i }}{% endfor %}!"})
outputs = []
for _ in range(2):
    # A new Environment each time: the same one would answer from its own template cache.
    env = Environment(loader=loader, bytecode_cache=cache)
    outputs.append(env.get_template("hello.txt").render(name="sdist"))

stats = cache.stats()
assert outputs == ["Hello sdist 0 1 2!"] * 2, outputs
assert stats["writes"] == 1, stats
assert stats["hits"] == 1, stats
assert stats["memory_hits"] == 0, stats
assert len(os.listdir(cache_dir)) == 1, os.listdir(cache_dir)
# JINJA_BCCACHE_TOOL's hook lands beside the package, where site runs it
pth = os.path.join(os.path.dirname(os.path.dirname(where)), "jinja_bccache.pth")
assert os.path.isfile(pth), pth
print(f"   imported from {where}")
print(f"   stats: {stats}")
EOF
)

echo "OK: sdist check passed: $(basename "$sdist") built from source in ${build_secs}s," \
  "rendered a write then a hit (hits == 1); $((SECONDS - start))s in all"
