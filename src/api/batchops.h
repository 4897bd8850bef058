/* The /v1/batch operations registry: every batch add or upload gets an
 * operation record (id, owner, items done of total, batches, timings,
 * state, error) that progress, SSE and the operations list read while the
 * work goes on in a background thread or in the request itself.
 *
 * Lifetime: a record lives while it runs and for `ttl_s` seconds after it
 * finished ("kept until expired"); at most VDB_BATCHOPS_MAX records exist,
 * and when the table is full the oldest finished one is dropped first (a
 * full table of running ones refuses a new operation with VDB_EBUSY). At
 * most `max_running` background threads run at once (VDB_EBUSY beyond).
 *
 * Ownership: records are reference counted; vdb_batchops_get/begin return
 * a reference the caller drops with vdb_batchops_release. A background
 * run owns its `arg` and frees it with the given free function, also when
 * the spawn fails.
 *
 * Thread-safety: every function is thread-safe. vdb_batchops_free cancels
 * running operations (they stop between chunks) and joins their threads;
 * call it after the HTTP server stopped. */
#ifndef VDB_API_BATCHOPS_H
#define VDB_API_BATCHOPS_H

#include <stddef.h>

#include "../core/err.h"
#include "../core/json.h"

#define VDB_BATCHOPS_MAX 256
#define VDB_BATCHOP_ID_MAX 64

typedef struct vdb_batchops vdb_batchops;
typedef struct vdb_batch_op vdb_batch_op;

/* The work of a background operation: calls vdb_batchops_advance after
 * each committed chunk and checks vdb_batchops_cancelled between chunks.
 * Returns VDB_OK or a code with err filled (recorded as the failure). */
typedef int (*vdb_batch_run_fn)(vdb_batch_op *op, void *arg, vdb_error *err);
typedef void (*vdb_batch_free_fn)(void *arg);

/* NULL when out of memory. */
vdb_batchops *vdb_batchops_new(unsigned max_running, double ttl_s);
void vdb_batchops_free(vdb_batchops *ops); /* NULL is a no-op */

/* Registers a running operation of `type` ("add_vectors", "upload") for
 * user/model with `total_items` in `total_batches`. The id is
 * "<type>_<unix ms>_<random>". Errors: VDB_EBUSY (table full of running
 * operations), VDB_ENOMEM. Returns a reference. */
int vdb_batchops_begin(vdb_batchops *ops, const char *type, const char *user_id,
                       const char *model_id, size_t total_items, size_t total_batches,
                       vdb_batch_op **out, vdb_error *err);

/* Runs `run(op, arg)` in a new thread; the thread records the result with
 * vdb_batchops_finish and frees arg. Errors: VDB_EBUSY (max_running
 * reached), VDB_ENOMEM; the operation is then finished as failed. */
int vdb_batchops_spawn(vdb_batchops *ops, vdb_batch_op *op, vdb_batch_run_fn run, void *arg,
                       vdb_batch_free_fn free_arg, vdb_error *err);

/* Progress: `items` more items and one more batch committed. */
void vdb_batchops_advance(vdb_batch_op *op, size_t items);
/* Records the end: rc VDB_OK = completed, else failed with err's message. */
void vdb_batchops_finish(vdb_batch_op *op, int rc, const vdb_error *err);
/* 1 once the server is shutting down (stop between chunks), else 0; never
 * fails. */
int vdb_batchops_cancelled(const vdb_batch_op *op);
/* 1 when finished (completed or failed), else 0; never fails. */
int vdb_batchops_done(const vdb_batch_op *op);

/* The operation's id and its owner's user id, fixed at creation and
 * borrowed while the operation is held; never fail. */
const char *vdb_batchops_id(const vdb_batch_op *op);
const char *vdb_batchops_user(const vdb_batch_op *op);

/* The record by id with a reference, or NULL when unknown or expired. */
vdb_batch_op *vdb_batchops_get(vdb_batchops *ops, const char *id);
void vdb_batchops_release(vdb_batch_op *op); /* NULL is a no-op */

/* The progress object: operation_id, operation_type, status, user_id,
 * model_id, progress_percent, items_processed, total_items, current_batch,
 * total_batches, elapsed_time_ms, estimated_remaining_ms,
 * throughput_items_per_sec, errors (+ error when failed). Caller owns it;
 * NULL when out of memory. */
vdb_json *vdb_batchops_json(vdb_batch_op *op);

/* Calls fn for every live record, newest last. */
/* Waits until no operation of user_id is running, at most timeout_ms
 * (woken by vdb_batchops_finish). Returns how many are still running: 0
 * means every chunk those operations will ever commit is committed. A
 * tenant freeze calls it after its barrier, when no new operation of the
 * tenant can begin (freeze.h, h_admin.c). */
size_t vdb_batchops_wait_user(vdb_batchops *ops, const char *user_id, double timeout_ms);

typedef void (*vdb_batchops_visit_fn)(void *ctx, vdb_batch_op *op);
void vdb_batchops_each(vdb_batchops *ops, vdb_batchops_visit_fn fn, void *ctx);

#endif
