#!/usr/bin/env bash
# Installs vdb's dependencies from the OS package manager, in sets:
#   runtime  what `make run` needs: a C compiler, make, pkg-config, the
#            server's libraries, and curl for the README's quickstart
#   test     runtime + what `make test` needs (cmocka, python3 + pytest,
#            requests, numpy, the aarch64 cross compiler and qemu-user)
#   bench    test + the benchmark peers (FAISS, hnswlib, wrk, g++)
#   fresh    test + what `make test-fresh` needs (mmdebstrap, git)
# Debian/Ubuntu: apt-get, as root or through sudo; without either it prints
# the exact command to run as root and exits 1. macOS: prints the Homebrew
# line. Idempotent: packages already installed are skipped, so make can
# call it on every run.
set -euo pipefail

SET=${1:-test}

RUNTIME_PKGS=(
  make gcc libc6-dev pkg-config
  libjansson-dev libzip-dev nettle-dev zlib1g-dev
  libopenblas-dev libopenblas0-pthread libroaring-dev
  curl ca-certificates
)
TEST_PKGS=(
  libcmocka-dev
  python3 python3-numpy python3-pytest python3-requests python3-hypothesis
  clang libclang-rt-14-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  chromium python3-matplotlib nodejs
  haproxy
)
BENCH_PKGS=(g++ python3-faiss python3-hnswlib libhnswlib-dev wrk)
FRESH_PKGS=(mmdebstrap git)

# /docs assets (Swagger UI, ReDoc) come from npm at build time
# (scripts/build-web-assets.sh) when npm is there; the server alone does not
# need it (without it /docs serves the built-in page), so npm is in the test
# set. NodeSource's nodejs ships npm itself, Debian's needs the npm package.
command -v npm >/dev/null 2>&1 || TEST_PKGS+=(npm)

case "$SET" in
  runtime) PKGS=("${RUNTIME_PKGS[@]}") ;;
  test) PKGS=("${RUNTIME_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  bench) PKGS=("${RUNTIME_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
  fresh) PKGS=("${RUNTIME_PKGS[@]}" "${TEST_PKGS[@]}" "${FRESH_PKGS[@]}") ;;
  *) echo "usage: install-deps.sh runtime|test|bench|fresh" >&2; exit 2 ;;
esac

if [ "$(uname -s)" = "Darwin" ]; then
  if command -v pkg-config >/dev/null 2>&1 &&
     pkg-config --exists jansson libzip nettle 2>/dev/null; then
    exit 0
  fi
  echo "install-deps: on macOS install the libraries with Homebrew first:" >&2
  echo "  brew install pkg-config jansson libzip nettle croaring cmocka numpy" >&2
  echo "(BLAS comes from Accelerate; nothing to install)" >&2
  exit 1
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: not a Debian-like system (no dpkg/apt-get); install these" \
       "(Debian names) by hand: ${PKGS[*]}" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  # `dpkg -s` succeeds for removed-but-not-purged packages; the status word
  # says whether the package is really installed.
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

CMD="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
    SUDO=(sudo)
  else
    echo "install-deps: these packages are missing and installing them needs root:" >&2
    echo "  ${missing[*]}" >&2
    echo "run this as root (e.g. su -c '...'), then run the same command again:" >&2
    echo "  $CMD" >&2
    exit 1
  fi
fi

echo "install-deps ($SET): installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg (unattended-upgrades on a fresh VM) may hold the lock for
# a while; wait for it rather than failing the first run.
"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
