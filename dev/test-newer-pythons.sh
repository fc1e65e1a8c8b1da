#!/usr/bin/env bash
# The whole suite on CPython 3.14 and 3.15, which Debian bookworm (these machines) does not
# package: Debian's next release (forky) does, so they run in a forky chroot made with
# mmdebstrap, kept under $CHROOT and reused while its package list is the same. The host's
# Rust toolchain is bind-mounted in; the source is copied in (uncommitted changes included) and
# built there with its own target directory, since the chroot's glibc is newer than the host's.
#   bash dev/test-newer-pythons.sh [3.14 ...]        (as root: chroot and mounts)
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=(3.14 3.15)
CHROOT=${JINJA_BCCACHE_CHROOT:-/var/tmp/jinja-bccache-forky}
packages=gcc,libc6-dev,git,ca-certificates,procps,memcached,redis-server,valkey-server,libmemcached-dev,zlib1g-dev
for version in 3.14 3.15; do
  packages+=",python$version,python$version-dev,python$version-venv"
done

if [ "$(cat "$CHROOT/.jinja-bccache-packages" 2>/dev/null)" != "$packages" ]; then
  command -v mmdebstrap >/dev/null 2>&1 || {
    echo "== installing mmdebstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
  }
  echo "== making the Debian forky chroot $CHROOT (about a minute)"
  rm -rf "$CHROOT"
  # The mirror's forky Release file is a snapshot past its Valid-Until date.
  mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
    --include="$packages" forky "$CHROOT" http://deb.debian.org/debian
  echo "$packages" >"$CHROOT/.jinja-bccache-packages"
fi

mounts=()
# shellcheck disable=SC2329  # invoked by the EXIT trap
unmount() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" || true; done
}
trap unmount EXIT
bind() { # bind HOST_PATH [ro]: the same path inside the chroot
  mkdir -p "$CHROOT$1"
  mount --bind "$1" "$CHROOT$1"
  mounts+=("$CHROOT$1")
  if [ "${2:-}" = ro ]; then mount -o remount,bind,ro "$CHROOT$1"; fi
}
mount -t proc proc "$CHROOT/proc" && mounts+=("$CHROOT/proc")
bind /dev
bind /dev/pts
bind /root/.rustup ro
bind /root/.cargo
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
# The host's certificate bundle: it holds any CA the host's own egress needs (pip, cargo).
cp /etc/ssl/certs/ca-certificates.crt "$CHROOT/etc/ssl/certs/ca-certificates.crt"

echo "== copying the source into the chroot"
rm -rf "$CHROOT/root/src"
mkdir -p "$CHROOT/root/src"
tar -c --exclude=./target --exclude='./.venv*' --exclude=./.git --exclude=./.pytest_cache \
  --exclude='*.so' --exclude=__pycache__ . | tar -x -C "$CHROOT/root/src"

status=0
for version in "${versions[@]}"; do
  echo "== CPython $version (Debian forky's) in $CHROOT"
  # shellcheck disable=SC2016  # expanded by the chroot's shell, from VERSION
  chroot "$CHROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/root/.cargo/bin:/usr/local/bin:/usr/bin:/bin \
    CARGO_TARGET_DIR=/root/target PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PYTHONDONTWRITEBYTECODE=1 VERSION="$version" bash -euo pipefail -c '
      cd /root/src
      venv=/root/venv-$VERSION
      [ -x "$venv/bin/python" ] || "python$VERSION" -m venv "$venv"
      "$venv/bin/python" -m pip install -q -r dev/requirements-test.txt
      "$venv/bin/python" -m pip install -q .
      "$venv/bin/python" -c "import sys, jinja_bccache; print(sys.version, jinja_bccache.__file__)"
      "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider
    ' || status=1
done
exit "$status"
