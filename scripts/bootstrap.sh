#!/usr/bin/env bash
# The README's two commands, on a machine that has nothing but bash and the
# clone (no make, compiler, pkg-config, curl or python3):
#   bash scripts/bootstrap.sh run  [make options]   installs the runtime set, builds, starts the server
#   bash scripts/bootstrap.sh test [make options]   installs the test set, builds, runs every test
# It installs the packages first (scripts/install-deps.sh; make itself is in
# the set), then hands over to make, so the installer never runs in parallel
# with the compiler whatever -jN says. Extra arguments go to make, e.g.
#   bash scripts/bootstrap.sh test -j2
set -euo pipefail
cd "$(dirname "$0")/.."

GOAL=${1:-}
case "$GOAL" in
  run) SET=runtime ;;
  test | test-*) SET=test ;;
  bench*) SET=bench ;;
  *) echo "usage: bash scripts/bootstrap.sh run|test [make options]" >&2; exit 2 ;;
esac
shift
[ "$GOAL" = test-fresh ] && SET=fresh

bash scripts/install-deps.sh "$SET"
# VDB_DEPS_DONE tells the Makefile that the set is installed already.
exec make VDB_DEPS_DONE=$SET "$@" "$GOAL"
