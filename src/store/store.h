/* A durable store: one (user_id, model_id) directory on disk holding the
 * seed's files (vectors.npz, metadata.jsonl, store.json, the index file,
 * wal.log, .store.lock), with an in-memory vecset, an index and a
 * write-ahead log in front of them. See docs/formats.md for the bytes.
 *
 * Durability: a write returns VDB_OK only after its WAL record is durable
 * under the fsync policy in force (group commit across concurrent writers).
 * A failed WAL write or fsync makes the store read-only (VDB_EREADONLY)
 * until it is reopened.
 *
 * Concurrency: every function is thread-safe. Readers (query, get, count)
 * run in parallel; writers are serialized; the fsync wait happens outside
 * every lock, so readers never wait for the disk. Result callbacks run with
 * the read guard held, so the borrowed strings they receive are valid only
 * during the call, and a callback must not call into the same store (the
 * guard prefers writers: a nested read behind a waiting writer deadlocks).
 *
 * Errors (beyond VDB_EINVAL and friends for bad arguments): VDB_ENOTFOUND
 * (no store), VDB_ELOCKED (another process holds .store.lock),
 * VDB_ECORRUPT (a damaged file; the message names the file and offset),
 * VDB_EREADONLY (a WAL write/fsync failed earlier: reopen the store),
 * VDB_EIO / VDB_ENOSPC (this write failed; it is not acknowledged and,
 * except after a failed fsync, not applied). */
#ifndef VDB_STORE_STORE_H
#define VDB_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../index/index.h"

typedef struct vdb_store vdb_store;
struct vdb_filter; /* filter/filter.h: a compiled metadata filter */

typedef enum {
    VDB_FSYNC_ALWAYS = 0,   /* fsync before every acknowledgement (default) */
    VDB_FSYNC_INTERVAL = 1, /* fsync at most every interval_ms; a power cut loses <= that */
    VDB_FSYNC_OFF = 2       /* leave it to the OS; a power cut may lose anything unsynced */
} vdb_fsync_policy;

typedef enum {
    VDB_INDEX_AUTO = 0, /* flat below hnsw_threshold live vectors, HNSW above */
    VDB_INDEX_FLAT = 1,
    VDB_INDEX_HNSW = 2
} vdb_index_kind;

/* "auto", "flat" or "hnsw": the name store.json, the API and the CLI use
 * for an index kind (a static string; never fails). */
const char *vdb_index_kind_name(vdb_index_kind kind);
/* The kind of a name above; -1 when unknown or NULL (no error code). */
int vdb_index_kind_parse(const char *name);

typedef struct vdb_store_config {
    uint32_t dim;
    vdb_metric metric;
    vdb_index_kind index;
    uint32_t hnsw_m;               /* default 16 */
    uint32_t hnsw_ef_construction; /* default 200 */
    uint32_t hnsw_ef_search;       /* default 64 */
    uint32_t hnsw_threshold;       /* AUTO switches to HNSW above this; default 10000 */
    double target_recall;          /* declared recall@k the planner must meet, in (0, 1];
                                      1 = always exact; default 0.99 (see query.h) */
    /* 1: `dim` is provisional (a store created without a dimension) and
     * the first add fixes it (vdb_store_adopt_dim); persisted in store.json
     * as "dimension_from_first_add" until then. */
    uint32_t dim_from_first_add;
    /* vdb_quant_kind (index/quant.h): none, int8 or binary, or
     * VDB_STORE_QUANT_AUTO (the store measures whether int8 codes make its
     * queries cheaper and keeps them only then: store_codes.h). Quantized
     * stores keep derived codes in memory beside the float rows (which stay
     * the source of truth) and answer single exact queries from them with
     * float re-ranking (store_codes.h); persisted in store.json. */
    int quantization;
} vdb_store_config;

#define VDB_DEFAULT_TARGET_RECALL 0.99
/* The quantization policy beside vdb_quant_kind's fixed kinds: decided by
 * the store's own calibration (store_codes.h "auto"). */
#define VDB_STORE_QUANT_AUTO 3
/* Measured, see BENCHMARKS.md "Quantization auto": each store decides. */
#define VDB_DEFAULT_QUANTIZATION VDB_STORE_QUANT_AUTO

/* "none", "int8", "binary" or "auto" for a config's quantization. */
const char *vdb_store_quant_name(int quantization);
/* The config value of a name above; -1 when unknown (no error code). */
int vdb_store_quant_parse(const char *name);

typedef struct vdb_store_options {
    vdb_fsync_policy fsync;
    uint32_t fsync_interval_ms;   /* for VDB_FSYNC_INTERVAL; default 1000 */
    uint64_t wal_checkpoint_bytes; /* checkpoint when the WAL passes this or half the last
                                      snapshot's bytes, whichever is larger; default 64 MiB */
    int read_only;
    /* Explicit repair of a store that refuses to open with a mid-WAL
     * VDB_ECORRUPT: the WAL is cut at the first bad record and every record
     * after it is dropped (logged as an error, counted in
     * wal_dropped_bytes). Never set by default: it loses acknowledged
     * writes, so only an operator's explicit command should ask for it. */
    int repair_wal;
    /* Never calibrate (calib.h): queries plan as uncalibrated (exact unless
     * an ef is given) and an auto store stays undecided. For tests and
     * tools whose subject is not the planner (a calibration under a
     * sanitizer costs seconds per reopen); default 0. */
    int skip_calibration;
} vdb_store_options;

/* Fills defaults (dim 0 = unset, cosine, auto index, M 16, efC 200, ef 64). */
void vdb_store_config_default(vdb_store_config *config);
void vdb_store_options_default(vdb_store_options *options);

/* Creates the directory and an empty store into *out (NULL on failure;
 * closed with vdb_store_close). Errors: VDB_EEXIST (a store is there),
 * VDB_EINVAL (config), VDB_EREADONLY (read-only options), VDB_ELOCKED,
 * VDB_EIO, VDB_ENOSPC, VDB_ENOMEM, VDB_ERANGE (path too long). */
int vdb_store_create(const char *dir, const vdb_store_config *config,
                     const vdb_store_options *options, vdb_store **out, vdb_error *err);

/* Opens an existing store into *out (NULL on failure; closed with
 * vdb_store_close): snapshot + WAL replay, lock taken. Errors:
 * VDB_ENOTFOUND, VDB_ELOCKED (another process), VDB_ECORRUPT (names file
 * and offset), VDB_EIO, VDB_ENOMEM. */
int vdb_store_open(const char *dir, const vdb_store_options *options, vdb_store **out,
                   vdb_error *err);

/* Checkpoints (when writable), releases the lock and frees. NULL is a no-op. */
void vdb_store_close(vdb_store *store);

/* The store's configuration, borrowed until close; never fails. It changes
 * only under the writer mutex (target recall, quantization, an adopted
 * dim), so a reader without it may see a field from just before such a
 * change. */
const vdb_store_config *vdb_store_get_config(const vdb_store *store);

/* Adds/upserts n vectors. ids[i] may be NULL: an id is generated. When
 * `ids_out` is not NULL it receives n heap strings (caller frees each with
 * vdb_free) with the final ids. Validation as vdb_vecset_validate; all or
 * nothing. Errors: VDB_EINVAL (empty batch; an id or metadata that is not
 * valid UTF-8, one line, a JSON object; a non-finite component), VDB_ERANGE
 * (batch or store too large), VDB_ETOOBIG (metadata over its limit, or the
 * WAL record over VDB_WAL_MAX_RECORD), VDB_EREADONLY (read-only store or
 * failed log), VDB_EIO / VDB_ENOSPC (the WAL write or fsync), VDB_ENOMEM. */
int vdb_store_add(vdb_store *store, size_t n, const float *vectors, const char *const *ids,
                  const char *const *metas, char **ids_out, vdb_error *err);

/* For a store whose dimension is provisional (dim_from_first_add) and
 * that has never held a row: makes `dim` its dimension, durably (a new
 * empty snapshot), and clears the flag. Otherwise does nothing (the add
 * that follows then checks the dimension as usual). Errors: VDB_EINVAL
 * (dim out of range), the snapshot's I/O errors, VDB_EREADONLY. */
int vdb_store_adopt_dim(vdb_store *store, uint32_t dim, vdb_error *err);

/* Deletes by id; *deleted = how many were live (unknown ids are not an
 * error). Errors: VDB_EINVAL (ids NULL with n > 0), VDB_EREADONLY,
 * VDB_ETOOBIG (the WAL record), VDB_EIO / VDB_ENOSPC (WAL), VDB_ENOMEM. */
int vdb_store_delete(vdb_store *store, size_t n, const char *const *ids, size_t *deleted,
                     vdb_error *err);

/* Deletes every live vector the filter matches (NULL filter: none).
 * Errors: vdb_store_delete's (VDB_EREADONLY, VDB_ETOOBIG, VDB_EIO,
 * VDB_ENOSPC, VDB_ENOMEM) and VDB_ECORRUPT (stored metadata that is not an
 * object, met building the filter indexes). */
int vdb_store_delete_where(vdb_store *store, const struct vdb_filter *filter, size_t *deleted,
                           vdb_error *err);

/* One search result, borrowed: valid during the callback only. */
typedef struct vdb_store_hit {
    const char *id;
    const char *meta;   /* JSON object text or NULL */
    uint32_t row;
    double distance;    /* as the API reports it (index.h) */
    double similarity;
} vdb_store_hit;

/* Called once per query with its hits, best first. Return nonzero to stop. */
typedef int (*vdb_store_hits_fn)(void *ctx, size_t query, const vdb_store_hit *hits,
                                 size_t count);

#define VDB_EXPLAIN_MAX 512

typedef struct vdb_query_params {
    size_t k;
    uint32_t ef;                       /* 0 = store default */
    const struct vdb_filter *filter;   /* NULL = none */
    int exact;                         /* force exact search */
    char *explain;                     /* optional out (VDB_EXPLAIN_MAX bytes): the plan */
    double target_recall;              /* 0 = the store's; else in (0, 1] */
} vdb_query_params;

/* Runs nq queries (row-major nq x dim; raw, not yet normalized) and calls
 * `emit` once per query. Errors: VDB_EDIM is the caller's job (dim is
 * implied); VDB_EINVAL for non-finite components or k == 0. */
int vdb_store_query(vdb_store *store, const float *queries, size_t nq,
                    const vdb_query_params *params, vdb_store_hits_fn emit, void *ctx,
                    vdb_error *err);

/* Looks up one live id: copies its stored vector (dim floats; for cosine
 * the normalized one) into vector_out when not NULL, and a heap copy of its
 * metadata (NULL when none; caller frees with vdb_free) into meta_out when
 * not NULL. VDB_ENOTFOUND when absent. */
int vdb_store_get(vdb_store *store, const char *id, float *vector_out, char **meta_out,
                  vdb_error *err);

/* Live (not deleted) vectors, under the read guard; never fails. */
size_t vdb_store_count(vdb_store *store);

/* Counts live vectors the filter matches. Errors: VDB_ENOMEM, VDB_ECORRUPT
 * (stored metadata that is not an object), VDB_EBUSY (the filter indexes
 * kept being rebuilt under it; retry). */
int vdb_store_count_where(vdb_store *store, const struct vdb_filter *filter, size_t *count,
                          vdb_error *err);

typedef struct vdb_store_stats {
    size_t vectors;         /* live */
    size_t rows;            /* including tombstones */
    size_t memory_bytes;
    uint64_t wal_bytes;
    uint64_t checkpoints;
    const char *index_name; /* "flat" or "hnsw" (static string) */
    uint32_t index_rows;    /* rows the HNSW graph covers (the rest is scanned exactly) */
    int read_only;          /* opened read-only, or a WAL write/fsync failed */
    uint64_t wal_dropped_bytes; /* torn WAL tail dropped when this store was opened */
    uint64_t wal_lsn;       /* LSN of the last logged write */
    uint64_t wal_syncs;     /* fdatasyncs of the WAL since open (group commit) */
} vdb_store_stats;

/* Fills *stats (figures taken under the read guard, so one consistent
 * moment for the row counts); thread-safe, never fails. */
void vdb_store_get_stats(vdb_store *store, vdb_store_stats *stats);

/* Changes the store's recall target (0 < target <= 1) and persists it in
 * store.json (through a checkpoint). Errors: VDB_EINVAL, the checkpoint's. */
int vdb_store_set_target_recall(vdb_store *store, double target, vdb_error *err);

/* A WAL record as the tail hands it over: payload borrowed for the call;
 * decode it with vdb_walrec_decode (walrec.h). Nonzero stops the scan. */
typedef int (*vdb_store_record_fn)(void *ctx, uint64_t lsn, int type, const void *payload,
                                   size_t len, vdb_error *err);

/* Hands every WAL record with LSN > after to fn, in LSN order, holding the
 * writer mutex (no write or checkpoint meanwhile; a write waits), and sets
 * *last_lsn to the store's last LSN. For tenant moves (store_tail.c).
 * Errors: VDB_ERANGE when a checkpoint since `after` has already dropped
 * records past it from the WAL (copy the snapshot instead), VDB_ECORRUPT or
 * VDB_EIO from the scan, or fn's code. Thread-safe. */
int vdb_store_wal_tail(vdb_store *store, uint64_t after, vdb_store_record_fn fn, void *ctx,
                       uint64_t *last_lsn, vdb_error *err);

/* The LSN the snapshot files hold: every write up to it and none after.
 * Constant while the snapshot is pinned. Thread-safe. */
uint64_t vdb_store_snapshot_lsn(vdb_store *store);


/* Changes the store's quantization (vdb_quant_kind: 0 none, 1 int8, 2
 * binary, or VDB_STORE_QUANT_AUTO, which drops the codes and lets the next
 * calibration decide): builds the new codes from the float rows (readers and writers go
 * on), swaps them in, and persists the setting in store.json through a
 * checkpoint. Errors: VDB_EINVAL (unknown kind), VDB_EREADONLY, VDB_ENOMEM
 * (nothing changed), the checkpoint's. Implemented in store.c. */
int vdb_store_set_quantization(vdb_store *store, int kind, vdb_error *err);

/* Writes a new snapshot and shrinks the WAL to what it lacks (also
 * compacts tombstones). Writers go on meanwhile: they are held off only to
 * capture the LSN, to switch to the shrunk WAL (copying the last few
 * records) and, when there were tombstones, for the in-memory compaction
 * (see checkpoint.c). Checkpoints are serialized with one another; a call
 * while another runs waits for it. Errors: VDB_EREADONLY, VDB_EIO,
 * VDB_ENOSPC, VDB_ENOMEM, and vdb_snapshot_write's others (VDB_ERANGE,
 * VDB_ENOTFOUND, VDB_EBUSY, VDB_ECORRUPT); after an error the snapshot may
 * be committed even then, and the longer WAL stays valid. */
int vdb_store_checkpoint(vdb_store *store, vdb_error *err);

/* A tag that changes whenever a query's answer may change: an instance id
 * (new at every open) and a generation bumped by every applied write and
 * compaction. Result caches key on it. Thread-safe. */
void vdb_store_cache_tag(vdb_store *store, uint64_t tag[2]);

/* Checkpoints, then keeps the snapshot files (vectors.npz, metadata.jsonl,
 * store.json, hnsw.idx) unchanged until vdb_store_snapshot_unpin: writes
 * go on (into the WAL) but no checkpoint replaces a file meanwhile. Export
 * uses it to copy a consistent snapshot. Pins nest; every pin needs one
 * unpin before the store is closed. Errors: vdb_store_checkpoint's
 * (VDB_EREADONLY, VDB_EIO, VDB_ENOSPC, VDB_ENOMEM, ...); no pin is taken. */
int vdb_store_snapshot_pin(vdb_store *store, vdb_error *err);
void vdb_store_snapshot_unpin(vdb_store *store);

/* What optimize does to the HNSW graph when it compacts deleted rows
 * (issue 13). AUTO repairs the graph locally (store_index.h) while the
 * deleted fraction is below VDB_STORE_REPAIR_MAX_FRACTION and rebuilds it
 * past that; REBUILD always builds a fresh graph from the live rows (also
 * with nothing deleted); REPAIR repairs whatever the fraction. */
typedef enum {
    VDB_STORE_GRAPH_AUTO = 0,
    VDB_STORE_GRAPH_REBUILD = 1,
    VDB_STORE_GRAPH_REPAIR = 2
} vdb_store_graph_mode;

/* What an optimize did. `graph` is "none" (no graph, or nothing to do),
 * "repaired" or "rebuilt" (static strings). */
typedef struct vdb_store_optimize_info {
    size_t vectors;            /* live vectors afterwards */
    size_t rows_dropped;       /* deleted rows compacted away */
    double deleted_fraction;   /* rows_dropped / rows before */
    const char *graph;
    double graph_seconds;      /* the repair, or the rebuild until the graph covers every
                                  row (calibration afterwards not included) */
    int calibrating;           /* 1: a calibration was still due or running on return
                                  (the full run after a repair of a store that scans at
                                  its target); vdb_store_wait_idle waits for it */
} vdb_store_optimize_info;

/* Compacts deleted rows and repairs or rebuilds the graph per `mode`, then
 * waits until the graph covers every row and the store's declared recall
 * is measured again: the full calibration after a rebuild, the re-check
 * after a repair (calib.h). A repaired store that scans at its target
 * answers exactly there on any graph, so it returns as soon as that is
 * established; the full calibration that restores its curves for other
 * targets then runs in the background (info->calibrating). `info` is
 * optional. Errors: the checkpoint's (VDB_EIO, VDB_ENOMEM,
 * VDB_EREADONLY). */
int vdb_store_optimize_mode(vdb_store *store, vdb_store_graph_mode mode,
                            vdb_store_optimize_info *info, vdb_error *err);

/* vdb_store_optimize_mode with AUTO; *vectors_out = live vectors. Errors:
 * as vdb_store_optimize_mode (VDB_EIO, VDB_ENOMEM, VDB_EREADONLY, ...). */
int vdb_store_optimize(vdb_store *store, size_t *vectors_out, vdb_error *err);

/* Blocks until the background indexer is idle: the graph covers every row
 * and no calibration is due or running (one that cannot start, e.g. a
 * store too small to calibrate, does not hold it). Never fails. */
void vdb_store_wait_idle(vdb_store *store);

/* Blocks until the HNSW graph covers every row present at the call (at
 * once when the store has no graph, or its indexer is stopping), but not
 * for the calibration that follows. `vdb import` waits here so the closing
 * checkpoint saves the whole graph: the next open loads it instead of
 * building it again. Thread-safe; never fails. */
void vdb_store_wait_indexed(vdb_store *store);

#endif
