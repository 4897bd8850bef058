#!/usr/bin/env bash
# Runs test programs JOBS at a time (default 1), each with its output kept in
# a file and printed whole when it ends (so two never interleave), with its
# wall time. Exits nonzero if any failed, naming them. `make test-asan` uses
# it with JOBS=2: the sanitizer tier's programs are single-threaded for most
# of their time and take minutes each, so two at a time nearly halve its
# wall time on 2 cores. Programs start in the order given: longest first.
# JOBS=1 (or a bash older than 5.1, e.g. macOS's 3.2, which lacks `wait -n
# -p`) runs them one after the other with their output streamed.
#   usage: JOBS=2 bash scripts/run-tests.sh prog...
set -u
JOBS=${JOBS:-1}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
if [ "${BASH_VERSINFO[0]}" -lt 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -lt 1 ]; }; then
  JOBS=1
fi
failed=""

if [ "$JOBS" -eq 1 ]; then
  for t in "$@"; do
    echo "== $t"
    start=$(date +%s)
    "$t"
    rc=$?
    echo "== $t ($(($(date +%s) - start))s, exit $rc)"
    [ "$rc" -eq 0 ] || failed="$failed $t"
  done
else
  LOGS=$(mktemp -d "${TMPDIR:-/tmp}/vdb-run-tests.XXXXXX") || exit 1
  trap 'rm -rf "$LOGS"' EXIT
  declare -A START=() NAME=() LOG=()
  running=0
  reap_one() {
    local pid rc
    wait -n -p pid
    rc=$?
    echo "== ${NAME[$pid]} ($(($(date +%s) - START[$pid]))s, exit $rc)"
    cat "${LOG[$pid]}"
    [ "$rc" -eq 0 ] || failed="$failed ${NAME[$pid]}"
    running=$((running - 1))
  }
  i=0
  for t in "$@"; do
    while [ "$running" -ge "$JOBS" ]; do reap_one; done
    i=$((i + 1))
    "$t" > "$LOGS/$i.log" 2>&1 &
    START[$!]=$(date +%s)
    NAME[$!]=$t
    LOG[$!]=$LOGS/$i.log
    running=$((running + 1))
  done
  while [ "$running" -gt 0 ]; do reap_one; done
fi

if [ -n "$failed" ]; then
  echo "run-tests: FAILED:$failed"
  exit 1
fi
echo "run-tests: all $# passed"
