/* Shared pieces of `vdb bench`: the synthetic data generator, .npy I/O for
 * exchanging datasets with the peers (bench/peers.py), timing helpers, and
 * the HNSW benchmark entry point (bench_hnsw.c). */
#ifndef VDB_CLI_BENCH_H
#define VDB_CLI_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/err.h"
#include "../core/json.h"
#include "../index/index.h"

/* Clustered Gaussian mixture resembling text embeddings: `clusters` unit
 * centres drawn from N(0, I), each point = centre + N(0, spread^2 I) with a
 * per-cluster spread, cluster sizes Zipf-skewed. Points and queries come
 * from independent streams of the same mixture, so queries are held out.
 * Deterministic for a seed. Caller frees both arrays with vdb_free.
 * Errors: VDB_ENOMEM. */
int vdb_bench_generate(size_t n, size_t nq, uint32_t dim, size_t clusters, uint64_t seed,
                       float **data_out, float **queries_out, vdb_error *err);

/* Reads a 2-D little-endian float32 (or float64, converted) C-order .npy.
 * Caller frees *data_out with vdb_free. Errors: open's (VDB_ENOTFOUND,
 * VDB_EBUSY, VDB_EIO), VDB_EIO (size or read), VDB_EPARSE (not a 2-D f4/f8
 * .npy, or truncated), VDB_ENOMEM. */
int vdb_bench_npy_read(const char *path, float **data_out, size_t *rows, size_t *cols,
                       vdb_error *err);

/* Writes a 2-D .npy of float32 ('<f4') or int32 ('<i4') values, replacing
 * the file. Errors: VDB_ERANGE (array too large), open's (VDB_ENOTFOUND,
 * VDB_EBUSY), VDB_EIO, VDB_ENOSPC. */
int vdb_bench_npy_write_f32(const char *path, const float *data, size_t rows, size_t cols,
                            vdb_error *err);
int vdb_bench_npy_write_i32(const char *path, const int32_t *data, size_t rows, size_t cols,
                            vdb_error *err);

/* Sorts `n` (>= 1) latencies in seconds and writes the median and 99th
 * percentile in milliseconds. */
void vdb_bench_percentiles(double *latencies, size_t n, double *p50_ms, double *p99_ms);

/* `vdb store-bench --checkpoint-latency` (store_bench_ckpt.c): creates a
 * store at `dir`, loads n x dim vectors, deletes `deletes` of them, and
 * prints a writer's acknowledged write latency during a checkpoint.
 * Returns the process exit status (0 or 1), not an error code. */
int vdb_bench_store_checkpoint(const char *dir, size_t n, uint32_t dim, uint64_t seed,
                               size_t deletes, int json);

/* `vdb store-bench --optimize-deletes` (store_bench_optimize.c): builds an
 * HNSW store of n x dim at dir/repair, copies it to dir/rebuild, deletes
 * `frac` of the rows in both and optimizes one with the graph repaired and
 * the other rebuilt; prints time and recall@10 (nq queries) of each.
 * Returns the process exit status (0 or 1), not an error code. */
int vdb_bench_store_optimize(const char *dir, size_t n, uint32_t dim, double frac, size_t nq,
                             uint64_t seed, int json);

/* Monotonic clock in seconds. */
double vdb_bench_now(void);

/* Recall of `got` (count hits per query) against exact `truth` distances:
 * a hit counts when its distance is within a relative 1e-5 of the truth's
 * k-th distance, so float rounding at ties is not counted as a miss. */
double vdb_bench_recall(const vdb_hit *got, const size_t *got_counts, const vdb_hit *truth,
                        const size_t *truth_counts, size_t nq, size_t k);

typedef struct vdb_bench_hnsw_opts {
    uint32_t m;
    uint32_t ef_construction;
    uint32_t ef;            /* 0 = sweep */
    double target_recall;   /* 0 = none */
    int threads;
} vdb_bench_hnsw_opts;

/* HNSW benchmark (bench_hnsw.c): builds over `data`, sweeps ef, reports
 * recall@k/QPS against `truth` (nq x k hits), fills `result`. Errors:
 * VDB_EINVAL (no queries, k == 0, M or ef out of range), VDB_ENOMEM, and
 * those of saving and reloading the graph through a temp file (VDB_EIO,
 * VDB_ENOSPC, VDB_ENOTFOUND, VDB_ECORRUPT). */
int vdb_bench_hnsw(const vdb_vecview *data, const float *queries, size_t nq,
                   const vdb_hit *truth, const size_t *truth_counts, size_t k,
                   const vdb_bench_hnsw_opts *opts, vdb_json *result, FILE *text_out,
                   vdb_error *err);

#endif
