#!/usr/bin/env bash
# Installs vdb's build and test dependencies from the OS package manager.
# Debian/Ubuntu: apt-get (as root or through sudo). macOS: prints the Homebrew line.
# Idempotent: packages already present are skipped, so `make` can call it cheaply.
set -euo pipefail

DEB_PKGS=(
  build-essential pkg-config
  libmicrohttpd-dev libjansson-dev libzip-dev nettle-dev
  libopenblas-dev libopenblas0-pthread
  libroaring-dev libcmocka-dev
  python3 python3-numpy python3-pytest python3-requests
  python3-faiss python3-hnswlib libhnswlib-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  wrk zlib1g-dev
  chromium nodejs python3-matplotlib
)
# /docs assets and their browser test: npm fetches swagger-ui-dist, redoc
# and playwright-core (scripts/build-web-assets.sh); NodeSource's nodejs
# ships npm itself, Debian's needs the npm package.
command -v npm >/dev/null 2>&1 || DEB_PKGS+=(npm)

if [ "$(uname -s)" = "Darwin" ]; then
  echo "macOS: brew install libmicrohttpd jansson libzip croaring cmocka pkg-config numpy"
  echo "(BLAS comes from Accelerate; nothing to install)"
  exit 0
fi

if ! command -v dpkg >/dev/null 2>&1; then
  echo "install-deps: not a Debian-like system; install the libraries in README.md by hand" >&2
  exit 1
fi

missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
