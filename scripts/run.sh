#!/usr/bin/env bash
# `make run`: starts `vdb serve` and prints the URL, the key and a request
# to try with that key.
#
# Data directory: the one default that the server and every `vdb` command
# share - VECTOR_DB_DATA_DIR from the environment or ./.env, else
# ~/.team_mind_data/vector_stores - so `vdb list`, `vdb count` and
# `vdb keys create` run from this directory see this server's stores.
#
# Keys: VECTOR_DB_ADMIN_KEY / VECTOR_DB_API_KEY from the environment or
# ./.env are used as they are. When neither is set, a development admin key
# is generated once into <data dir>/.dev-admin-key (mode 0600; plain text,
# for local use only) so that every `make run` prints a key that works.
# Override anything with the variables in .env.example, e.g.
#   PORT=9000 make run
set -euo pipefail
BIN=${1:-build/vdb}

# The value of NAME in ./.env (last assignment wins, quotes stripped).
env_file_value() {
  [ -f .env ] || return 0
  sed -nE "s/^[[:space:]]*(export[[:space:]]+)?$1=(.*)$/\2/p" .env | tail -n 1 |
    sed -E "s/^[\"'](.*)[\"'][[:space:]]*$/\1/"
}

DATA=${VECTOR_DB_DATA_DIR:-$(env_file_value VECTOR_DB_DATA_DIR)}
DATA=${DATA:-$HOME/.team_mind_data/vector_stores}
DATA=${DATA/#\~/$HOME}
mkdir -p "$DATA"
export VECTOR_DB_DATA_DIR="$DATA"

KEY=${VECTOR_DB_ADMIN_KEY:-$(env_file_value VECTOR_DB_ADMIN_KEY)}
KEY=${KEY:-${VECTOR_DB_API_KEY:-$(env_file_value VECTOR_DB_API_KEY)}}
if [ -z "$KEY" ]; then
  KEYFILE="$DATA/.dev-admin-key"
  if [ ! -s "$KEYFILE" ]; then
    (umask 077; printf 'vdb_dev_%s\n' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" > "$KEYFILE")
  fi
  KEY="$(cat "$KEYFILE")"
  export VECTOR_DB_ADMIN_KEY="$KEY"
  KEY_NOTE="$KEY   (admin; kept in $KEYFILE)"
else
  KEY_NOTE="$KEY   (from your environment or .env)"
fi
HOST_SHOWN=${HOST:-127.0.0.1}
[ "$HOST_SHOWN" = "0.0.0.0" ] && HOST_SHOWN=localhost
echo "vdb: URL  http://$HOST_SHOWN:${PORT:-8000}   (API reference: /docs)"
echo "vdb: data $DATA"
echo "vdb: key  $KEY_NOTE"
echo "vdb: try  curl -H \"X-API-Key: $KEY\" http://$HOST_SHOWN:${PORT:-8000}/admin/list_stores"
exec "$BIN" serve
