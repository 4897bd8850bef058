/* Background checkpoints of one store.
 *
 * A write that pushes the WAL past its checkpoint threshold used to write
 * the whole snapshot before it returned: a 100,000 x 384 upload waited for
 * a 150 MB snapshot on top of its own 150 MB WAL record, halving the
 * durable ingest rate, and every JSON batch that crossed the threshold
 * carried a multi-hundred-millisecond tail. The write is already durable
 * when the threshold is checked (its WAL record is fsynced), so the
 * checkpoint can run after the answer: the writer asks for one here and
 * returns, and a per-store thread (started on the first request) runs it
 * under the writer mutex, exactly as the inline one did. Writers arriving
 * meanwhile wait for that mutex, so the WAL cannot outrun checkpoints.
 *
 * Ownership: the store allocates the state at open (vdb_store_bg_new) and
 * frees it at close (vdb_store_bg_free, which first stops and joins the
 * thread). Thread-safety: request and wait may be called from any thread.
 * Errors: none are returned; a failed checkpoint is logged (the WAL keeps
 * the data) and retried at the next request. */
#ifndef VDB_STORE_STORE_BG_H
#define VDB_STORE_STORE_BG_H

typedef struct vdb_store vdb_store;
typedef struct vdb_store_bg vdb_store_bg;

/* NULL when out of memory (the store then checkpoints inline). */
vdb_store_bg *vdb_store_bg_new(void);

/* Stops and joins the thread (a checkpoint running finishes first), then
 * frees. NULL is a no-op. Call before the store's WAL and vecset go. */
void vdb_store_bg_free(vdb_store_bg *bg);

/* Asks for a checkpoint of `store` if it is still due when the thread gets
 * to it. Returns 0 when queued, -1 when no thread could run it (no state,
 * thread creation failed, or stopping): the caller checkpoints inline. */
int vdb_store_bg_request(vdb_store_bg *bg, vdb_store *store);

/* Waits until no checkpoint is queued or running. NULL is a no-op. */
void vdb_store_bg_wait(vdb_store_bg *bg);

#endif
