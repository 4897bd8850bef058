#!/usr/bin/env bash
# Runs test programs JOBS at a time (default 1), each with its output kept in
# a file and printed whole when it ends (so two never interleave), with its
# wall time. Exits nonzero if any failed, naming them. `make test-asan` uses
# it with JOBS=2: the sanitizer tier's programs are single-threaded for most
# of their time and take minutes each, so two at a time nearly halve its
# wall time on 2 cores. Programs start in the order given: longest first.
#   usage: JOBS=2 bash scripts/run-tests.sh prog...
set -u
JOBS=${JOBS:-1}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/vdb-run-tests.XXXXXX") || exit 1
trap 'rm -rf "$LOGS"' EXIT
declare -A START=() NAME=() LOG=()
running=0
failed=""

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

if [ -n "$failed" ]; then
  echo "run-tests: FAILED:$failed"
  exit 1
fi
echo "run-tests: all $# passed"
