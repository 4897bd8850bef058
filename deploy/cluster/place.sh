#!/usr/bin/env bash
# Pins a tenant to a node at run time, without reloading HAProxy:
#   deploy/cluster/place.sh RUN_DIR TENANT node1|node2|node3   pin
#   deploy/cluster/place.sh RUN_DIR TENANT -                    unpin (back to the hash)
# Changes the live map through the runtime API, then rewrites
# RUN_DIR/placement.map so a restart keeps the placement.
# This moves ROUTING only: the tenant's stores are not copied. Pin a tenant
# before it has data; to move a tenant that has data, use
# `vdb cluster move TENANT --to NODE --dir RUN_DIR` (docs/scale-out.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 3 ] || { echo "usage: place.sh RUN_DIR TENANT node1|node2|node3|-" >&2; exit 2; }
RUN_DIR=$(cd "$1" && pwd); TENANT=$2; NODE=$3
[[ "$TENANT" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || { echo "place.sh: bad tenant id: $TENANT" >&2; exit 2; }
MAP="$RUN_DIR/placement.map"; SOCK="$RUN_DIR/haproxy.sock"
RT=(/usr/bin/python3 "$HERE/runtime.py" "$SOCK")
case "$NODE" in
    node1|node2|node3)
        "${RT[@]}" "set map $MAP $TENANT $NODE" >/dev/null 2>&1 || "${RT[@]}" "add map $MAP $TENANT $NODE" >/dev/null ;;
    -)
        "${RT[@]}" "del map $MAP $TENANT" >/dev/null || true ;;
    *) echo "place.sh: node must be node1, node2, node3 or -" >&2; exit 2 ;;
esac
# Persist: the file is what HAProxy loads at the next start.
tmp="$MAP.tmp.$$"
{ grep -v -E "^${TENANT//./\\.}[[:space:]]" "$MAP" || true; [ "$NODE" = - ] || echo "$TENANT $NODE"; } > "$tmp"
mv "$tmp" "$MAP"
