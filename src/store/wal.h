/* The write-ahead log of one store: an append-only file of checksummed
 * records, each one add/upsert/delete batch, with group commit.
 *
 * A record is durable when vdb_wal_commit returns VDB_OK: under
 * VDB_FSYNC_ALWAYS after an fdatasync that covers it (concurrent committers
 * share one fdatasync); under INTERVAL and OFF at once (a background thread
 * syncs every interval under INTERVAL; OFF leaves it to the OS). The byte
 * format is documented at the top of wal.c and in docs/formats.md.
 *
 * A failed write or fsync puts the log in a failed state: every later
 * append and commit returns VDB_EREADONLY until the store is reopened (a
 * failed fsync is never retried; the page cache may have dropped the data).
 *
 * Thread-safety: append, rollback and reset must be serialized by the caller
 * (the store's writer mutex); commit, sync, size and the getters may run
 * from any thread at any time. */
#ifndef VDB_STORE_WAL_H
#define VDB_STORE_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

typedef struct vdb_wal vdb_wal;

enum {
    VDB_WAL_REC_UPSERT = 1, /* payload: see wal.c */
    VDB_WAL_REC_DELETE = 2
};

#define VDB_WAL_MAX_RECORD (1u << 30) /* payload bytes; larger is corrupt */

/* Called for each valid record found by vdb_wal_open, in LSN order. The
 * payload is borrowed for the call. A nonzero return stops the open with
 * that code. */
typedef int (*vdb_wal_replay_fn)(void *ctx, uint64_t lsn, int type, const void *payload,
                                 size_t len, vdb_error *err);

/* When appended records become durable (the store maps its
 * vdb_fsync_policy onto these by name, not by value). */
typedef enum {
    VDB_WAL_SYNC_ALWAYS = 0,   /* every commit waits for an fsync (group commit) */
    VDB_WAL_SYNC_INTERVAL = 1, /* a background fsync every interval_ms */
    VDB_WAL_SYNC_OFF = 2       /* never fsynced except by vdb_wal_sync */
} vdb_wal_sync_policy;

typedef struct vdb_wal_options {
    vdb_wal_sync_policy policy;
    uint32_t interval_ms; /* for interval */
    int read_only;        /* scan only: never truncate or write */
    int repair;           /* explicit repair: cut the log at the first bad record even when
                             valid records follow (they are lost; logged as an error) */
} vdb_wal_options;

/* Opens `path` (creating it with a header when missing), scans every record
 * and hands each to `replay`. A torn tail (a bad or incomplete record with
 * no valid record after it) is dropped with a warning and the file is
 * truncated there; a bad record followed by a valid one is VDB_ECORRUPT
 * naming the file and offset, and nothing is truncated. *dropped_out
 * (optional) receives the bytes dropped. *out receives the open log on
 * success (the caller closes it with vdb_wal_close) and NULL on failure.
 * Errors: VDB_ECORRUPT, VDB_EIO, VDB_ENOSPC, VDB_ERANGE (path too long),
 * VDB_ENOMEM, or what replay returned. */
int vdb_wal_open(const char *path, const vdb_wal_options *options, vdb_wal_replay_fn replay,
                 void *ctx, uint64_t *dropped_out, vdb_wal **out, vdb_error *err);

/* Stops the interval thread, closes the file. Does not sync. NULL is a no-op. */
void vdb_wal_close(vdb_wal *wal);

/* Appends one record (written, not yet synced) with LSN = last LSN + 1.
 * On a write error the file is truncated back (best effort), the log turns
 * failed, and VDB_EIO/VDB_ENOSPC is returned. VDB_EREADONLY once failed. */
int vdb_wal_append(vdb_wal *wal, int type, const void *payload, size_t len, uint64_t *lsn_out,
                   vdb_error *err);

/* One contiguous part of a record's payload. */
typedef struct vdb_wal_piece {
    const void *data;
    size_t len;
} vdb_wal_piece;

/* vdb_wal_append for a payload given as `count` pieces written back to
 * back (the record is the same bytes as their concatenation), so a batch's
 * vectors go to the file straight from the caller's buffer instead of
 * being copied into an encoded payload first. Errors: as vdb_wal_append
 * (VDB_EIO, VDB_ENOSPC, VDB_EREADONLY). */
int vdb_wal_append_pieces(vdb_wal *wal, int type, const vdb_wal_piece *pieces, size_t count,
                          uint64_t *lsn_out, vdb_error *err);

/* Removes the last appended record (lsn must be the last LSN) before it was
 * committed: used when applying it in memory failed, so a rejected request
 * leaves no record. Waits for an fsync in flight first (it may have taken
 * this LSN as its target; the LSN is reused by the next append). A truncate
 * failure turns the log failed. Errors: VDB_EINTERNAL (lsn is not the last
 * one), VDB_EIO or VDB_ENOSPC (the truncate; the log is failed then). */
int vdb_wal_rollback(vdb_wal *wal, uint64_t lsn, vdb_error *err);

/* Waits until record `lsn` is durable under the policy (group commit).
 * Errors: VDB_EIO (this fsync failed), VDB_EREADONLY (an earlier failure). */
int vdb_wal_commit(vdb_wal *wal, uint64_t lsn, vdb_error *err);

/* Forces an fdatasync of everything appended (checkpoint, close); a no-op
 * on a read-only log. Errors: as vdb_wal_commit (VDB_EIO, VDB_EREADONLY). */
int vdb_wal_sync(vdb_wal *wal, vdb_error *err);

/* Empties the log after a checkpoint that covers every record: truncates to
 * the header and syncs. Later records continue from `last_lsn` + 1.
 * Errors: VDB_EIO, VDB_ENOSPC (the log is failed then). */
int vdb_wal_reset(vdb_wal *wal, uint64_t last_lsn, vdb_error *err);

/* The last appended LSN and the end of the file, read together. Called
 * with appends serialized (writer mutex), every byte before `end` is
 * final: no append is half done and no rollback can cut it. A checkpoint
 * reads it once when it captures its LSN (the records after `end` are the
 * ones it must keep) and again before each copy step below. */
void vdb_wal_mark(vdb_wal *wal, uint64_t *lsn, uint64_t *end);

/* Shrinking the log while appends go on (a checkpoint's last step, which
 * used to be vdb_wal_reset with every writer held off):
 *   begin   creates "<path>.new" with this log's header and copies the
 *           records in [from, to) into it, then syncs it; no serialization
 *           needed, appends go on (both offsets come from vdb_wal_mark);
 *   copy    (optional, same rules) copies further up to `to`, so the part
 *           left for commit stays small;
 *   commit  with appends serialized: copies the rest, syncs, renames the
 *           new file over the log, syncs the directory and appends to it
 *           from then on; every record appended so far is durable when it
 *           returns, and committers waiting for one are released.
 * A crash at any point leaves either the old log (the whole of it) or the
 * new one (every record from `from`), both complete for a snapshot that
 * holds the records before `from`; a stray "<path>.new" is removed by the
 * next vdb_wal_open. Failures before the rename remove the new file and
 * leave the log as it was (the caller just keeps the longer log); a failed
 * directory sync after it fails the log (VDB_EREADONLY from then on).
 * begin's *out receives the rewrite on success and NULL on failure.
 * Errors: VDB_EIO, VDB_ENOSPC, VDB_ENOMEM, VDB_EREADONLY (failed log),
 * VDB_EINVAL (begin: a range outside the log). */
typedef struct vdb_wal_rewrite vdb_wal_rewrite;
int vdb_wal_rewrite_begin(vdb_wal *wal, uint64_t from, uint64_t to, vdb_wal_rewrite **out,
                          vdb_error *err);
int vdb_wal_rewrite_copy(vdb_wal_rewrite *rw, uint64_t to, vdb_error *err);
/* On success and after the rename `rw` stays allocated: free it with
 * vdb_wal_rewrite_free once the writer mutex is released (it closes the
 * old log, whose blocks the file system frees then, which is slow for a
 * large log). On an error before the rename it is freed here and the
 * caller must not touch it. Tell them apart with the return: VDB_OK or
 * (rename done, directory sync failed) VDB_EIO with *renamed = 1. */
int vdb_wal_rewrite_commit(vdb_wal *wal, vdb_wal_rewrite *rw, int *renamed, vdb_error *err);
void vdb_wal_rewrite_free(vdb_wal_rewrite *rw);
/* Abandons a rewrite: removes the new file and frees `rw`. NULL is a no-op. */
void vdb_wal_rewrite_abort(vdb_wal_rewrite *rw);

/* Makes the next LSN at least `last_lsn` + 1 (after loading a snapshot). */
void vdb_wal_set_last_lsn(vdb_wal *wal, uint64_t last_lsn);

/* The LSN of the last appended record, and the log's size in bytes (its
 * valid end); read under the log's mutex, never fail. */
uint64_t vdb_wal_last_lsn(vdb_wal *wal);
uint64_t vdb_wal_size(vdb_wal *wal);
/* 1 once a write, truncate or fsync failed (the log then refuses appends
 * with VDB_EREADONLY), else 0. */
int vdb_wal_failed(vdb_wal *wal);

/* Number of fdatasync calls made (group-commit statistics, tests). */
uint64_t vdb_wal_syncs(vdb_wal *wal);

/* Tests only: `fn(ctx)` runs in the syncing thread after each fdatasync
 * returns and before the log's mutex is retaken (the window in which a
 * racing rollback used to slip in). NULL removes it. */
typedef void (*vdb_wal_test_hook_fn)(void *ctx);
void vdb_wal_set_test_hook(vdb_wal *wal, vdb_wal_test_hook_fn fn, void *ctx);

#endif
