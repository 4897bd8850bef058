/* The store's metadata-filter state: a vdb_payload (filter/payload.h: the
 * parsed metadata per row plus inverted indexes) created lazily, by the
 * first filtered operation, so stores that are never filtered pay nothing
 * and opening a large store parses no metadata. From then on every write
 * keeps it current (new rows are set, tombstoned rows removed via the
 * vecset's tombstone journal, compaction remaps rows).
 *
 * Locks are noted per function; store.c / store_read.c call these. */
#ifndef VDB_STORE_STORE_FILTER_H
#define VDB_STORE_STORE_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../filter/payload.h"
#include "store.h"

/* Builds the payload when missing. No locks held on entry (takes the
 * writer mutex, reads under the shared guard, publishes exclusively).
 * Errors: VDB_ENOMEM, VDB_ECORRUPT (stored metadata is not an object). */
int vdb_store__filter_ensure(vdb_store *store, vdb_error *err);

/* Test seam for the payload's lifetime (issue 11 item 13): when set, called
 * at the end of every vdb_store__filter_ensure with no lock held, the
 * window in which a writer can drop the payload before the caller takes
 * its lock again. NULL outside tests; set it while no store is in use. */
extern void (*vdb_store__filter_ensure_hook)(vdb_store *store);
/* Drops the payload as a writer whose filter sync ran out of memory does
 * (takes the writer mutex and the guard exclusively). For that seam. */
void vdb_store__filter_drop(vdb_store *store);

/* After a record was applied (rw held exclusively): rows appended since
 * `rows_before` are set, journaled tombstones removed. On failure the
 * payload is dropped (rebuilt lazily later); never fails the write. */
void vdb_store__filter_sync(vdb_store *store, uint32_t rows_before);

/* After compaction (rw held exclusively) with the vecset's old_to_new map
 * (NULL when it could not be made): remaps, or drops the payload. */
void vdb_store__filter_remap(vdb_store *store, const uint32_t *old_to_new, uint32_t old_rows);

/* Asks for every unindexed field `filter` compares to be indexed (no locks
 * held on entry): called after a filtered query had to evaluate rows one
 * by one, so each field a store is filtered on gets its inverted index on
 * first use. The query only records the field names; the store's
 * background indexer builds the indexes (vdb_store__filter_index_pending),
 * so no query waits for it. */
void vdb_store__filter_want_fields(vdb_store *store, const struct vdb_filter *filter);

/* Builds the indexes vdb_store__filter_want_fields asked for (background
 * indexer thread; no locks held on entry; takes the writer mutex and the
 * exclusive guard per field). A failure only leaves the field unindexed
 * (logged). */
void vdb_store__filter_index_pending(vdb_store *store);

/* Sets up the filter state of a new store (open, before any thread can
 * use it): no payload, nothing pending. */
void vdb_store__filter_init(vdb_store *store);
/* Frees the payload and the pending field list (store teardown, once,
 * after vdb_store__filter_init). */
void vdb_store__filter_close(vdb_store *store);

/* The payload, or NULL when none has been built (rw held shared). */
vdb_payload *vdb_store__filter_payload(vdb_store *store);

#endif
