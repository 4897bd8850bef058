#!/usr/bin/env bash
# The operations of bench/http/run.sh without HTTP, for the overhead
# comparison: durable adds of 1,000 x 384 batches with fsync per batch
# (vdb store-bench; flat = WAL only, auto = with the background HNSW
# indexer), and single-query k=10 search on 100,000 x 384 cosine with HNSW
# at the store's default ef (64) and exact (vdb bench).
#   flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench/http/inprocess.sh [BIN]
set -euo pipefail
BIN=${1:-build/vdb}
N=${N:-100000}
echo "== durable add, flat store (WAL only)"
"$BIN" store-bench --n "$N" --dim 384 --batch 1000 --fsync always --index flat --json
echo "== durable add, auto store (HNSW indexer in the background)"
"$BIN" store-bench --n "$N" --dim 384 --batch 1000 --fsync always --index auto --json
echo "== HNSW single-query search, ef 64"
"$BIN" bench --n "$N" --dim 384 --k 10 --index hnsw --m 16 --ef-construction 200 --ef 64 --json
echo "== exact single-query search"
"$BIN" bench --n "$N" --dim 384 --k 10 --index flat --json
