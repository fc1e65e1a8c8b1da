# Sourced by dev/demo.sh and dev/test.sh: builds and installs jinja-bccache (and any extra
# pip requirements passed as arguments) into the current python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
if [ "$#" -gt 0 ]; then
  python3 -m pip install -q "$@"
fi
echo "== building and installing jinja-bccache (release build, about a minute)"
# A local directory is always rebuilt and reinstalled by pip, so this never runs stale code.
python3 -m pip install -q .
