#!/usr/bin/env bash
# `make run`: starts `vdb serve` on an embedded data directory (./.vdb-data,
# git-ignored) and prints the URL and the key to use.
#
# Keys: VECTOR_DB_ADMIN_KEY / VECTOR_DB_API_KEY from the environment or
# ./.env are used as they are. When neither is set, a development admin key
# is generated once into .vdb-data/.dev-admin-key (mode 0600; plain text,
# for local use only) so that every `make run` prints a key that works.
# Override anything with the variables in .env.example, e.g.
#   PORT=9000 make run
set -euo pipefail
BIN=${1:-build/vdb}
DATA=${VECTOR_DB_DATA_DIR:-$PWD/.vdb-data}
mkdir -p "$DATA"
export VECTOR_DB_DATA_DIR="$DATA"

env_has() { [ -f .env ] && grep -Eq "^[[:space:]]*(export[[:space:]]+)?$1=.+" .env; }

KEY_NOTE=""
if [ -z "${VECTOR_DB_ADMIN_KEY:-}" ] && [ -z "${VECTOR_DB_API_KEY:-}" ] && \
   ! env_has VECTOR_DB_ADMIN_KEY && ! env_has VECTOR_DB_API_KEY; then
  KEYFILE="$DATA/.dev-admin-key"
  if [ ! -s "$KEYFILE" ]; then
    (umask 077; printf 'vdb_dev_%s\n' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" > "$KEYFILE")
  fi
  export VECTOR_DB_ADMIN_KEY="$(cat "$KEYFILE")"
  KEY_NOTE="$VECTOR_DB_ADMIN_KEY   (admin; kept in $KEYFILE)"
else
  KEY_NOTE="the key from your environment or .env (VECTOR_DB_ADMIN_KEY / VECTOR_DB_API_KEY)"
fi
HOST_SHOWN=${HOST:-127.0.0.1}
[ "$HOST_SHOWN" = "0.0.0.0" ] && HOST_SHOWN=localhost
echo "vdb: URL  http://$HOST_SHOWN:${PORT:-8000}   (API reference: /docs)"
echo "vdb: key  $KEY_NOTE"
echo "vdb: try  curl -H \"X-API-Key: <key>\" http://$HOST_SHOWN:${PORT:-8000}/admin/list_stores"
exec "$BIN" serve
