#!/usr/bin/env bash
# The main job: render a realistic template set through jinja_bccache, cold then warm,
# next to jinja2.bccache, on the filesystem cache. Extra arguments go to examples/demo.py.
set -euo pipefail
# shellcheck source=dev/setup.sh
source "$(dirname "$0")/setup.sh"
python3 examples/demo.py "$@"
