#!/usr/bin/env bash
# Every test: installs what is missing (memcached, test requirements), builds, then runs
# `cargo test` and pytest. pytest starts and stops its own memcached servers.
set -euo pipefail
if ! command -v memcached >/dev/null 2>&1; then
  echo "== installing memcached"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached >/dev/null
fi
source "$(dirname "$0")/setup.sh" -r dev/requirements-test.txt
echo "== cargo test"
cargo test --quiet
echo "== pytest"
python3 -m pytest "$@"
