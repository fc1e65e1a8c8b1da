#!/usr/bin/env bash
# The main job: render a realistic template set through jinja_bccache, cold then warm,
# next to jinja2.bccache, on the filesystem cache. Extra arguments go to examples/demo.py.
set -euo pipefail
# A sourced script sees the caller's arguments when given none: they are the demo's, not
# requirements for setup.sh to install, so it is sourced with an empty argument list.
args=("$@")
set --
# shellcheck source=dev/setup.sh
source "$(dirname "$0")/setup.sh"
python3 examples/demo.py ${args[@]+"${args[@]}"}
