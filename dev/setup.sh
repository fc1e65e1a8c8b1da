# shellcheck shell=bash
# Sourced by dev/demo.sh, dev/test.sh and dev/bench.sh: makes sure a virtual environment is
# active (the one already active, or ./.venv, created on first use) so nothing is installed
# into the system interpreter, then builds and installs jinja-bccache and any extra pip
# requirements passed as arguments into it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python3 ]; then
    echo "== creating the virtual environment .venv"
    python3 -m venv .venv
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
if [ "$#" -gt 0 ]; then
  python3 -m pip install -q "$@"
fi
echo "== building and installing jinja-bccache into $VIRTUAL_ENV (release build, about a minute)"
# A local directory is always rebuilt and reinstalled by pip, so this never runs stale code.
python3 -m pip install -q .
