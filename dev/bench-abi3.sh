#!/usr/bin/env bash
# The abi3 build against the per-version build on the hot paths (benches/abi3.py): builds the
# per-version wheel into .venv (as every dev script does) and the abi3 one (cargo feature
# `abi3`) into .venv-abi3 over the same CPython, then times both side by side.
#   bash dev/bench-abi3.sh [--rounds N]
set -euo pipefail
# shellcheck source=dev/setup.sh
source "$(dirname "$0")/setup.sh" -r benches/requirements.txt
python=$(python3 -c 'import sys; print(sys._base_executable)')
[ -x .venv-abi3/bin/python ] || "$python" -m venv .venv-abi3
.venv-abi3/bin/python -m pip install -q -r benches/requirements.txt jinja2
echo "== building the abi3 wheel into .venv-abi3 (release build, about a minute)"
# its own target directory, so the two builds do not evict each other's artifacts
MATURIN_PEP517_ARGS="--features abi3" CARGO_TARGET_DIR=target/abi3 \
  .venv-abi3/bin/python -m pip install -q --force-reinstall --no-deps .
echo "== per-version vs abi3"
python3 benches/abi3.py --per-version "$(command -v python3)" --abi3 .venv-abi3/bin/python "$@"
