#!/usr/bin/env bash
# Per-user keys for the cluster: one key file, distributed to every node.
#   deploy/cluster/keys.sh RUN_DIR create USER_ID   (prints the key once)
#   deploy/cluster/keys.sh RUN_DIR list [USER_ID]
#   deploy/cluster/keys.sh RUN_DIR revoke KEY_ID | revoke-user USER_ID
# node1's <data>/.vdb_auth.json is the master copy: the edit runs there
# (`vdb keys`), then the file is copied to node2 and node3 under each
# node's key-file lock and atomically renamed; running servers accept a
# new key at its first use and see a revocation within a second. A
# per-user key therefore authenticates on every node, and a key of
# tenant A asking for tenant B gets B's node's 404, not 401.
# Then keys.map (key hash -> tenant, keymap.py) is rewritten and swapped
# into the running HAProxy, which routes tenant-less requests of a
# per-user key to its tenant's node.
# Create keys only this way: POST /admin/keys through the proxy writes the
# key file of one node only, and the next keys.sh run overwrites it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VDB_BIN=${VDB_BIN:-$HERE/../../build/vdb}
[ $# -ge 2 ] || { echo "usage: keys.sh RUN_DIR create|list|revoke|revoke-user ARG" >&2; exit 2; }
RUN_DIR=$(cd "$1" && pwd); shift
"$VDB_BIN" keys "$@" --data-dir "$RUN_DIR/node1"
[ "$1" = list ] && exit 0
SRC="$RUN_DIR/node1/.vdb_auth.json"
for n in node2 node3; do
    dst="$RUN_DIR/$n"
    (
        flock 9
        cp -p "$SRC" "$dst/.vdb_auth.json.dist.$$"
        mv "$dst/.vdb_auth.json.dist.$$" "$dst/.vdb_auth.json"
    ) 9> "$dst/.vdb_auth.lock"
done
/usr/bin/python3 "$HERE/keymap.py" "$RUN_DIR"
