#!/usr/bin/env bash
# The other platforms, from Linux: clippy for macOS (arm64 and x86_64) and Windows over the
# whole workspace, then the core crate's tests built for Windows and run under Wine. Installs
# what is missing (rustup targets; Wine and MinGW with apt-get), so it can run again as is.
set -euo pipefail
cd "$(dirname "$0")/.."

MACOS_TARGETS=(aarch64-apple-darwin x86_64-apple-darwin)
WINDOWS_TARGET=x86_64-pc-windows-gnu

# pyo3's build script cannot ask another platform's Python for its configuration; it needs
# the version only, as clippy links nothing. The oldest version pyproject.toml supports: the
# one with the fewest APIs.
PYO3_CROSS_PYTHON_VERSION=$(sed -n 's/^requires-python = ">=\(3\.[0-9]*\)".*/\1/p' pyproject.toml)
if [ -z "$PYO3_CROSS_PYTHON_VERSION" ]; then
  echo "cross.sh: no requires-python = \">=3.x\" in pyproject.toml" >&2
  exit 1
fi
export PYO3_CROSS_PYTHON_VERSION
# Wine: no debug channels but module loading errors (a missing DLL would otherwise be a bare
# exit status); no Mono or Gecko installers when it creates its prefix on first use.
export WINEDEBUG=-all,err+module WINEDLLOVERRIDES="mscoree,mshtml="

missing_targets=()
for target in "${MACOS_TARGETS[@]}" "$WINDOWS_TARGET"; do
  rustup target list --installed | grep -qx "$target" || missing_targets+=("$target")
done
if [ "${#missing_targets[@]}" -gt 0 ]; then
  echo "== installing Rust targets: ${missing_targets[*]}"
  rustup target add "${missing_targets[@]}"
fi

if ! command -v wine >/dev/null 2>&1 || ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  echo "== installing Wine and MinGW"
  apt-get update -qq
  # Debian's wine is a launcher that runs wine64 when wine32 (i386) is not installed
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wine wine64 gcc-mingw-w64-x86-64 >/dev/null
fi

for target in "${MACOS_TARGETS[@]}" "$WINDOWS_TARGET"; do
  # clippy type-checks everything cargo check does (all targets here, tests included), so a
  # separate check would only compile it all a second time
  echo "== clippy for $target (Python $PYO3_CROSS_PYTHON_VERSION)"
  cargo clippy --workspace --all-targets --target "$target" --quiet -- -D warnings
done

# Rust's std imports ProcessPrng from bcryptprimitives.dll (Windows 10 and later), which Wine
# has only from 8.13; Debian 12 ships 8.0. A stand-in built from RtlGenRandom goes next to the
# test binaries, where Windows looks for a DLL first.
# (A version that does not parse counts as old: the stand-in is harmless where not needed.)
wine_version=$(wine --version | sed -n 's/^wine-\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
read -r wine_major wine_minor <<<"${wine_version:-0 0}"
if [ "$wine_major" -lt 8 ] || { [ "$wine_major" -eq 8 ] && [ "$wine_minor" -lt 13 ]; }; then
  shim_dir="${CARGO_TARGET_DIR:-target}/wine-shim"
  deps_dir="${CARGO_TARGET_DIR:-target}/$WINDOWS_TARGET/debug/deps"
  mkdir -p "$shim_dir" "$deps_dir"
  if [ ! -f "$shim_dir/bcryptprimitives.dll" ]; then
    echo "== building a bcryptprimitives.dll stand-in for Wine $wine_major.$wine_minor"
    cat >"$shim_dir/bcryptprimitives.c" <<'EOF'
#include <windows.h>

/* RtlGenRandom: the system's random generator, which Wine has always had. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
EOF
    x86_64-w64-mingw32-gcc -shared -O2 -s -o "$shim_dir/bcryptprimitives.dll" \
      "$shim_dir/bcryptprimitives.c" -ladvapi32
  fi
  cp -p "$shim_dir/bcryptprimitives.dll" "$deps_dir/"
fi

# Wine creates its prefix on first use; done here, its one-time chatter (some about the 32-bit
# half, which is not needed) stays out of the test output.
if [ ! -d "${WINEPREFIX:-$HOME/.wine}" ]; then
  echo "== creating the Wine prefix (once)"
  wine wineboot --init >/dev/null 2>&1
fi

echo "== core tests for $WINDOWS_TARGET under $(wine --version)"
cargo test -p jinja-bccache-core --target "$WINDOWS_TARGET" --quiet
