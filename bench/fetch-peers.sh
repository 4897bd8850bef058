#!/usr/bin/env bash
# Installs the native HNSW peers' sources for bench/peers_hnsw.py into
# bench/.peers (git-ignored; the peers' code is never committed):
#   hnswlib-node  its src/hnswlib/ is hnswlib 0.8.0's header library
#   usearch       include/usearch/*.hpp plus numkong/include (its kernels)
# Only the headers are used: `--ignore-scripts` skips the Node add-on builds,
# and bench/peers_hnsw.py compiles the headers itself with -O3 -march=native.
# Versions are pinned so figures stay comparable between runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/.peers"
HNSWLIB_NODE_VERSION="${HNSWLIB_NODE_VERSION:-3.0.0}"
USEARCH_VERSION="${USEARCH_VERSION:-2.25.3}"
if [ -f "$dest/node_modules/hnswlib-node/src/hnswlib/hnswlib.h" ] &&
   [ -f "$dest/node_modules/usearch/include/usearch/index_dense.hpp" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-peers: npm is needed (apt-get install -y --no-install-recommends npm)" >&2
    exit 1
fi
mkdir -p "$dest"
npm install --prefix "$dest" --ignore-scripts --no-audit --no-fund --no-save \
    "hnswlib-node@$HNSWLIB_NODE_VERSION" "usearch@$USEARCH_VERSION" >&2
test -f "$dest/node_modules/hnswlib-node/src/hnswlib/hnswlib.h"
test -f "$dest/node_modules/usearch/include/usearch/index_dense.hpp"
echo "fetch-peers: hnswlib 0.8.0 (hnswlib-node $HNSWLIB_NODE_VERSION) and usearch $USEARCH_VERSION in $dest" >&2
