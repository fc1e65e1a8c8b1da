#!/usr/bin/env bash
# Every test: installs what is missing (memcached, redis-server, test requirements), builds,
# then runs `cargo test` and pytest. pytest starts and stops its own memcached and redis servers.
set -euo pipefail
if ! command -v memcached >/dev/null 2>&1; then
  echo "== installing memcached"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached >/dev/null
fi
# redis-server for tests/test_redis.py; libmemcached-dev (no command to look for) so pip can
# build pylibmc where no wheel fits. Both before setup.sh, which pip-installs pylibmc.
command -v redis-server >/dev/null 2>&1 || {
  echo "== installing redis-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
}
dpkg -s libmemcached-dev >/dev/null 2>&1 || {
  echo "== installing libmemcached-dev"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmemcached-dev >/dev/null
}
# shellcheck source=dev/setup.sh
source "$(dirname "$0")/setup.sh" -r dev/requirements-test.txt
echo "== cargo test"
cargo test --workspace --quiet
echo "== pytest"
python3 -m pytest "$@"
