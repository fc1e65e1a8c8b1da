#!/usr/bin/env bash
# Lint the Rust side (the Python side is type-checked by tests/test_typing.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
