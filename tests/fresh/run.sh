#!/usr/bin/env bash
# `make test-fresh`: the README's two commands on a bare Debian 12, first
# time, with -j2. Builds a minimal Debian root (mmdebstrap --variant=minbase:
# bash, coreutils, dpkg, apt - no make, compiler, pkg-config, curl or
# python3), clones this repository into it, then inside it (chroot):
#   1. the README's run command with -j2; waits for /health, then runs the
#      README's quickstart (create_store, add, query) with the key the run
#      command printed, and stops the server;
#   2. the README's test command with -j2 (the whole suite).
# Needs root (chroot, mounts) and Debian's mirror; without either it says
# why and exits 0 (skipped), so `make test-fresh` never fails for lack of
# them; with FRESH_REQUIRED=1 (CI) a skip is a failure, so CI cannot pass
# without having run it. Bounded by FRESH_TIMEOUT seconds (default 1800).
#
# FRESH_KEEP=1 leaves the root in place (unmounted) and prints its path, to
# look into a failure there. On a failed test command the pytest failure
# sections of the root's log are printed, and the log is copied to
# ${FRESH_LOG:-/tmp/vdb-fresh-test.log}.
#
# What is cloned is the repository's committed HEAD (a clone, as a newcomer
# would get), not uncommitted changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
MIRROR=${FRESH_MIRROR:-http://deb.debian.org/debian}
SUITE=${FRESH_SUITE:-bookworm}
PORT=${FRESH_PORT:-}
LIMIT=${FRESH_TIMEOUT:-1800}

skip() {
    if [ "${FRESH_REQUIRED:-0}" = 1 ]; then
        echo "test-fresh: FAILED: required (FRESH_REQUIRED=1) but cannot run: $*"
        exit 1
    fi
    echo "test-fresh: SKIPPED: $*"
    exit 0
}
[ "$(uname -s)" = Linux ] || skip "needs Linux (chroot)"
[ "$(id -u)" -eq 0 ] || skip "needs root (it builds a chroot); run: sudo make test-fresh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is missing (bash scripts/install-deps.sh fresh)"
command -v git >/dev/null || skip "git is missing"
if ! timeout 20 bash -c "exec 3<>/dev/tcp/${MIRROR#http://}" 2>/dev/null; then
  host=${MIRROR#http://}; host=${host%%/*}
  timeout 20 bash -c "exec 3<>/dev/tcp/$host/80" 2>/dev/null ||
    skip "cannot reach $host (Debian's mirror); set FRESH_MIRROR to a reachable one"
fi

# A port nothing listens on (a fixed one can be another server's).
port_taken() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
if [ -z "$PORT" ]; then
  for _ in $(seq 1 50); do
    PORT=$((20000 + RANDOM % 40000))
    port_taken "$PORT" || break
  done
fi

ROOT=$(mktemp -d /var/tmp/vdb-fresh.XXXXXX)
MOUNTS=()
cleanup() {
  set +e
  # Stop anything still running inside the root before unmounting.
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink /proc/$pid/root 2>/dev/null)" = "$ROOT" ] && kill -9 "$pid" 2>/dev/null
  done
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null; done
  # A bind mount of the same file system (the apt cache) is not stopped by
  # --one-file-system: remove nothing while anything is still mounted there.
  if [ "${FRESH_KEEP:-0}" = 1 ]; then
    echo "test-fresh: root kept in $ROOT (FRESH_KEEP=1)" >&2
    return
  fi
  if grep -q " $ROOT/" /proc/self/mounts; then
    echo "test-fresh: $ROOT still has mounts; left in place" >&2
    return
  fi
  rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT
deadline=$((SECONDS + LIMIT))
left() { echo $((deadline - SECONDS > 0 ? deadline - SECONDS : 1)); }

echo "test-fresh: building a bare Debian $SUITE root in $ROOT"
# dpkg in the root set up as in Debian's slim container images: no fsync
# per unpacked file (force-unsafe-io), no manual pages or docs, so CI's
# budget goes to the tests rather than to dpkg (the root installs ~800
# packages; mmdebstrap keeps these in the root's dpkg.cfg.d, so the
# README's installs inside it use them too). What gets installed, and by
# whom, is unchanged: the README's commands.
timeout "$(left)" mmdebstrap --variant=minbase --quiet --dpkgopt=force-unsafe-io \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  "$SUITE" "$ROOT" "$MIRROR"
for tool in make gcc cc pkg-config curl python3; do
  if chroot "$ROOT" /bin/sh -c "command -v $tool" >/dev/null 2>&1; then
    echo "test-fresh: the bare root already has $tool; not a bare machine" >&2
    exit 1
  fi
done
git clone --quiet --no-local "$REPO" "$ROOT/root/vdb"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The machine's network trust travels with its DNS: a network that
# intercepts TLS (this VM's egress proxy) signs with a CA of its own, which
# the root needs too or npm cannot reach its registry (npm pack failed with
# SELF_SIGNED_CERT_IN_CHAIN there, so the build embedded no Swagger UI and
# test_docs_ui failed). The root's ca-certificates package, installed by the
# README's run command, adds them to its bundle.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
fi
for m in proc sys dev dev/pts; do
  mkdir -p "$ROOT/$m"
  mount --bind "/$m" "$ROOT/$m"
  MOUNTS+=("$ROOT/$m")
done
mount -t tmpfs tmpfs "$ROOT/dev/shm" 2>/dev/null && MOUNTS+=("$ROOT/dev/shm") || true
# Packages already downloaded on this machine (CI's host has just installed
# the same test set for its own tiers) come from its apt cache instead of
# the network: the root still installs everything itself, first time,
# through the README's commands; only the download is saved. Same suite
# only (FRESH_APT_CACHE=0 turns it off).
HOST_CACHE=/var/cache/apt/archives
if [ "${FRESH_APT_CACHE:-1}" = 1 ] && [ -d "$HOST_CACHE/partial" ] &&
   grep -qs "VERSION_CODENAME=$SUITE" /etc/os-release; then
  mount --bind "$HOST_CACHE" "$ROOT/var/cache/apt/archives" && MOUNTS+=("$ROOT/var/cache/apt/archives") &&
    echo "test-fresh: package downloads cached from this host's $HOST_CACHE"
fi
in_root() { timeout "$(left)" chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  TERM=dumb PORT="$PORT" /bin/bash -c "cd /root/vdb && $1"; }

echo "test-fresh: root built (${SECONDS}s); README run command: bash scripts/bootstrap.sh run -j2"
in_root "exec bash scripts/bootstrap.sh run -j2" > "$ROOT/run.log" 2>&1 &
RUN_PID=$!
ok=0
for _ in $(seq 1 "$(left)"); do
  if grep -q "listening on" "$ROOT/run.log" 2>/dev/null; then ok=1; break; fi
  kill -0 "$RUN_PID" 2>/dev/null || break
  sleep 1
done
if [ $ok -ne 1 ]; then
  echo "test-fresh: FAILED: the run command did not start the server" >&2
  tail -n 40 "$ROOT/run.log" >&2
  exit 1
fi
KEY=$(sed -nE 's/^vdb: try .*X-API-Key: ([^"]+)".*/\1/p' "$ROOT/run.log" | head -n 1)
[ -n "$KEY" ] && [ "$KEY" != "<key>" ] || { echo "test-fresh: FAILED: no key in the try line" >&2; exit 1; }
# The README's quickstart, with the curl the run command installed. (Not
# `tee /dev/stderr`: when stderr is a file, opening /dev/stderr reopens it
# with O_TRUNC, which emptied CI's log file at this step.)
quick='set -e
u=http://localhost:'"$PORT"'; k="X-API-Key: '"$KEY"'"; j="Content-Type: application/json"
curl -fsS $u/health | grep -q healthy
curl -fsS -X POST $u/admin/create_store -H "$k" -H "$j" -d "{\"user_id\": \"u\", \"model_id\": \"m\", \"dimension\": 3}"
curl -fsS -X POST $u/vectors/add -H "$k" -H "$j" -d "{\"user_id\": \"u\", \"model_id\": \"m\", \"vectors\": [[0.1, 0.2, 0.3]], \"metadata\": [{\"id\": \"a\", \"source\": \"test\"}]}"
out=$(curl -fsS -X POST $u/vectors/query -H "$k" -H "$j" -d "{\"user_id\": \"u\", \"model_id\": \"m\", \"query\": [0.1, 0.2, 0.3], \"k\": 5, \"filter_metadata\": {\"source\": \"test\"}}")
echo "$out"
echo "$out" | grep -q "\"id\": *\"a\""'
if ! in_root "$quick"; then
  echo "test-fresh: FAILED: the README quickstart" >&2
  tail -n 20 "$ROOT/run.log" >&2
  exit 1
fi
echo
echo "test-fresh: quickstart OK (${SECONDS}s); stopping the server"
for pid in $(ls /proc | grep -E '^[0-9]+$'); do
  [ "$(readlink /proc/$pid/root 2>/dev/null)" = "$ROOT" ] &&
    [ "$(cat /proc/$pid/comm 2>/dev/null)" = vdb ] && kill -TERM "$pid"
done
wait "$RUN_PID" || true

# The README's test command as written, with -j2: the whole suite (unit,
# e2e, property, fuzz regression inputs) on the bare root's first build.
# FRESH_TESTS=unit runs the same bootstrap with the unit tier only, a
# quicker local check of the install and first build (not what CI runs).
if [ "${FRESH_TESTS:-all}" = unit ]; then GOAL=test-unit; else GOAL=test; fi
echo "test-fresh: README test command (${SECONDS}s): bash scripts/bootstrap.sh $GOAL -j2"
if ! in_root "bash scripts/bootstrap.sh $GOAL -j2" > "$ROOT/test.log" 2>&1; then
  echo "test-fresh: FAILED: the test command" >&2
  cp "$ROOT/test.log" "${FRESH_LOG:-/tmp/vdb-fresh-test.log}" 2>/dev/null || true
  # pytest's failure sections (between "= FAILURES =" and the summary).
  sed -n '/^=* FAILURES =*$/,/^=* short test summary/p' "$ROOT/test.log" | tail -n 150 >&2 || true
  grep -E "^(FAILED|ERROR) |^== .*exit [1-9]|run-tests: FAILED|Error [0-9]" "$ROOT/test.log" >&2 || true
  tail -n 80 "$ROOT/test.log" >&2
  exit 1
fi
tail -n 3 "$ROOT/test.log"
echo "test-fresh: PASSED in ${SECONDS}s"
