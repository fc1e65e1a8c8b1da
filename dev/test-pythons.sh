#!/usr/bin/env bash
# The suite on the other CPythons that requires-python declares (default 3.9 3.10 3.12 3.13,
# installed with pyenv on these machines), each built and installed into its own virtual
# environment (.venv-3.X). dev/test.sh runs everything on 3.11; here the slowest process
# tests (multi-process stress, RSS soak, Jinja's whole suite, dbt in a venv of its own) are left
# out to keep CI short.
#   bash dev/test-pythons.sh [3.12 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=(3.9 3.10 3.12 3.13)
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
status=0
for version in "${versions[@]}"; do
  # the newest installed patch release of that minor version
  python=$(find "$root/versions" -maxdepth 1 -name "$version.*" 2>/dev/null | sort -V | tail -n 1)/bin/python
  if [ ! -x "$python" ]; then
    echo "== CPython $version is not installed (pyenv install $version)"; exit 2
  fi
  venv=".venv-$version"
  echo "== CPython $version ($python): building and installing into $venv"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q -r dev/requirements-test.txt
  "$venv/bin/python" -m pip install -q .
  echo "== pytest on CPython $version"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    --deselect tests/test_concurrency.py --deselect tests/test_leaks.py \
    --deselect tests/test_jinja_suite.py --deselect tests/test_dbt.py || status=1
done
exit "$status"
