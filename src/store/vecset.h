/* The in-memory core of a store: vectors, external ids, metadata and
 * tombstones.
 *
 * Rows live in one contiguous, 64-byte-aligned float32 array (row i at
 * data + i*dim), so exact search streams them and HNSW addresses them by
 * row id. External string ids map to dense u32 row ids through a hash map
 * (idmap.h). Cosine rows are normalized once, at insert; the original norm
 * is kept per row. An upsert of an existing id tombstones the old row and
 * appends a new one (rows are append-only between compactions, which keeps
 * row ids stable for indexes); a delete only sets the tombstone bit.
 * vdb_vecset_compact drops tombstoned rows (checkpoints call it).
 *
 * Writes are all-or-nothing: a batch is validated completely and memory is
 * reserved before the first row changes, so an error leaves the set as it
 * was. Within one batch a repeated id keeps its last occurrence.
 *
 * Not thread-safe: the store serializes writers and holds readers off
 * during writes (store.h). */
#ifndef VDB_STORE_VECSET_H
#define VDB_STORE_VECSET_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../index/index.h"

typedef struct vdb_vecset vdb_vecset;

/* An empty set into *out (NULL on failure; freed with vdb_vecset_free).
 * dim in 1..VDB_MAX_DIM. Errors: VDB_EINVAL (dim, metric), VDB_ENOMEM. */
int vdb_vecset_new(uint32_t dim, vdb_metric metric, vdb_vecset **out, vdb_error *err);
void vdb_vecset_free(vdb_vecset *set);

/* Floats per row, fixed at creation; never fails. */
uint32_t vdb_vecset_dim(const vdb_vecset *set);

/* Live (not deleted) vectors. */
size_t vdb_vecset_count(const vdb_vecset *set);

/* Rows in use, tombstones included (the id space of indexes). */
uint32_t vdb_vecset_rows(const vdb_vecset *set);

/* Checks a batch without changing anything: every component finite, every
 * id 1..VDB_MAX_ID_LEN bytes, metadata within VDB_MAX_META_BYTES, room for
 * the rows. The error names the first offending vector and component.
 * Errors: VDB_EINVAL (empty batch, no ids, bad id, non-finite component),
 * VDB_ERANGE (past VDB_MAX_VECTORS rows), VDB_ETOOBIG (metadata). */
int vdb_vecset_validate(const vdb_vecset *set, size_t n, const float *vectors,
                        const char *const *ids, const char *const *metas, vdb_error *err);

/* Adds or replaces n vectors (row-major n x dim) with their ids (required,
 * borrowed) and metadata JSON texts (metas may be NULL, or hold NULL
 * entries = no metadata; borrowed, copied). When `rows_out` is not NULL,
 * rows_out[i] receives the row of vectors i (UINT32_MAX for an entry
 * superseded by a later duplicate in the batch). When `replaced` is not
 * NULL it counts ids that already existed. Errors: VDB_EINVAL, VDB_ERANGE,
 * VDB_ETOOBIG (as vdb_vecset_validate), VDB_ENOMEM; nothing changes on
 * error. */
int vdb_vecset_upsert(vdb_vecset *set, size_t n, const float *vectors, const char *const *ids,
                      const char *const *metas, uint32_t *rows_out, size_t *replaced,
                      vdb_error *err);

/* vdb_vecset_upsert in two steps, so the store can copy and normalize a
 * batch without holding readers off (store.c):
 *
 *   vdb_vecset_upsert_room(set, n) is 1 when the arrays (and the id map)
 *     already have room for n more rows; when it is 0 the caller must call
 *     vdb_vecset_upsert_prepare with readers held off (it grows arrays
 *     they read).
 *   vdb_vecset_upsert_prepare validates the batch, copies its strings and
 *     stages its vectors into the rows past the last one (invisible to
 *     readers, who never look past vdb_vecset_rows), and fills *pending
 *     (caller-provided; release with vdb_vecset_pending_free when not
 *     committed). With room, it may run while readers read.
 *   vdb_vecset_upsert_commit publishes the rows (ids, tombstones of
 *     replaced rows, the row count); it cannot fail and must run with
 *     readers held off. No other write may come between the two steps.
 *
 * Same arguments and errors as vdb_vecset_upsert; nothing visible changes
 * until the commit. */
typedef struct vdb_vecset_pending {
    size_t n;
    size_t staged;
    const char *const *ids; /* borrowed from the caller until the commit */
    unsigned char *keep;
    char **id_copies;
    char **meta_copies;
} vdb_vecset_pending;

/* 1 when there is room for n more rows, else 0; never fails. */
int vdb_vecset_upsert_room(const vdb_vecset *set, size_t n);
/* Errors: as vdb_vecset_upsert (VDB_EINVAL, VDB_ERANGE, VDB_ETOOBIG,
 * VDB_ENOMEM); *pending is left empty on error. */
int vdb_vecset_upsert_prepare(vdb_vecset *set, size_t n, const float *vectors,
                              const char *const *ids, const char *const *metas,
                              vdb_vecset_pending *pending, vdb_error *err);

/* vdb_vecset_upsert_prepare with `side(side_ctx)` run beside the staging,
 * as one more task of the same pool run (the store writes the batch's WAL
 * record there while the rows are copied: the two read the same input and
 * write different places). `side` runs at most once, and only when the
 * batch got as far as staging; *side_ran says whether it did. Errors: as
 * vdb_vecset_upsert_prepare (VDB_EINVAL, VDB_ERANGE, VDB_ETOOBIG, VDB_ENOMEM). */
int vdb_vecset_upsert_prepare_beside(vdb_vecset *set, size_t n, const float *vectors,
                                     const char *const *ids, const char *const *metas,
                                     void (*side)(void *ctx), void *side_ctx, int *side_ran,
                                     vdb_vecset_pending *pending, vdb_error *err);
void vdb_vecset_upsert_commit(vdb_vecset *set, vdb_vecset_pending *pending, uint32_t *rows_out,
                              size_t *replaced);
void vdb_vecset_pending_free(vdb_vecset_pending *pending);

/* Tombstones the listed ids; unknown ids are ignored. *deleted (optional)
 * receives how many were live. Errors: VDB_EINVAL (ids missing); nothing
 * else can fail. */
int vdb_vecset_delete(vdb_vecset *set, size_t n, const char *const *ids, size_t *deleted,
                      vdb_error *err);

/* Tombstones one row (no-op when already deleted); returns 1 if it was
 * live, else 0; never fails. */
int vdb_vecset_delete_row(vdb_vecset *set, uint32_t row);

/* Row of a live id, or -1 (VDB_ENOTFOUND) when absent or deleted. */
int64_t vdb_vecset_find(const vdb_vecset *set, const char *id);

/* Borrowed pointers into row `row`, valid until the next write: the stored
 * (for cosine: normalized) vector, the id, the metadata JSON (NULL when
 * none). */
const float *vdb_vecset_vector(const vdb_vecset *set, uint32_t row);
const char *vdb_vecset_id(const vdb_vecset *set, uint32_t row);
const char *vdb_vecset_meta(const vdb_vecset *set, uint32_t row);

/* The L2 norm the vector had before normalization (cosine) or its norm. */
float vdb_vecset_norm(const vdb_vecset *set, uint32_t row);

/* 1 when row is tombstoned, else 0; never fails. */
int vdb_vecset_is_deleted(const vdb_vecset *set, uint32_t row);

/* A view for the indexes; valid until the next write. */
vdb_vecview vdb_vecset_view(const vdb_vecset *set);

/* Drops tombstoned rows, renumbering the live ones in order. When `old_to_new`
 * is not NULL it must have vdb_vecset_rows() entries and receives each old
 * row's new row (UINT32_MAX for dropped ones). Cannot fail: rows move in
 * place and the id map only shrinks in use. */
void vdb_vecset_compact(vdb_vecset *set, uint32_t *old_to_new);

/* Copies the tombstone bits of rows [0, rows) (rows <= vdb_vecset_rows)
 * into `bits`, (rows + 63) / 64 words; bits past `rows` are cleared. */
void vdb_vecset_tombstones(const vdb_vecset *set, uint32_t rows, uint64_t *bits);

/* As vdb_vecset_compact, but drops only the tombstoned rows below `upto`
 * whose bit is set in `drop` (NULL: every tombstone below `upto`); every
 * other row stays, tombstones included, renumbered in order. A checkpoint
 * that ran while writers went on drops exactly the rows its snapshot left
 * out, so the numbering in memory is the one a reopen rebuilds (snapshot
 * rows, then every row the WAL replays appended). Cannot fail. */
void vdb_vecset_compact_some(vdb_vecset *set, uint32_t upto, const uint64_t *drop,
                             uint32_t *old_to_new);

/* ---- Compaction beside readers and writers (issue 13) ----
 *
 * vdb_vecset_compact_some moves every row after the first dropped one with
 * the set to itself: 2.4 s at 1M x 384, a stall for every writer. A
 * checkpoint has just written the rows it keeps, compacted and in order,
 * to its snapshot; so the compacted row array can be that file, mapped
 * copy-on-write (as an open maps it), followed by a copy of the rows
 * appended since the capture. Only the copy of the last few appended rows
 * and the swap need the set to itself:
 *
 *   vdb_vecset_relocate_begin maps `kept` rows of the set's dimension
 *     from `fd` at `offset` (page-aligned): the survivors of rows
 *     [0, upto) after `drop` (the tombstones the snapshot left out; they
 *     must still be tombstones, and nothing may compact the set until the
 *     relocation is committed or freed). Touches nothing of the set but
 *     its dimension and sizes: call it with the writer mutex or the
 *     readers' guard, whichever the caller has.
 *   vdb_vecset_relocate_copy, with readers allowed and writers held off
 *     from growing the arrays (the store's rw lock shared: growth takes it
 *     exclusive), copies the per-row entries (norms, ids, metadata) of up
 *     to `max_rows` more rows, and the vectors of rows past `upto`, into
 *     the new arrays. *left gets the rows of the set still to copy (0:
 *     caught up for now). Called in rounds so each holds the guard briefly.
 *   vdb_vecset_relocate_commit, with readers and writers held off, copies
 *     the rest, carries the tombstones (a row deleted since the capture
 *     stays a tombstone, renumbered), renumbers the id map in place and
 *     swaps the arrays in. *old_to_new / *old_rows then give the
 *     renumbering (as vdb_vecset_compact_some fills it; valid until
 *     vdb_vecset_relocate_free), for derived state.
 *   vdb_vecset_relocate_free gives back the replaced arrays (the old row
 *     memory's unmapping is slow: call it with no lock held), or, before a
 *     commit, abandons the relocation.
 *
 * On an error nothing of the set has changed and the caller compacts in
 * place instead. */
typedef struct vdb_vecset_reloc vdb_vecset_reloc;

/* Errors: VDB_EINVAL (`upto`/`kept` do not fit the set, no `drop`),
 * VDB_ENOMEM, VDB_EIO (the mapping failed; also on the heap fallback of
 * core/vmem, which cannot map). */
int vdb_vecset_relocate_begin(const vdb_vecset *set, int fd, unsigned long long offset,
                              uint32_t kept, uint32_t upto, const uint64_t *drop,
                              vdb_vecset_reloc **out, vdb_error *err);
/* Errors: VDB_ENOMEM (the new arrays cannot grow, or the rows outgrew the
 * room reserved at begin), VDB_ECORRUPT (a dropped row is live, or the
 * kept rows are more than `kept`). */
int vdb_vecset_relocate_copy(const vdb_vecset *set, vdb_vecset_reloc *reloc, uint32_t max_rows,
                             uint32_t *left, vdb_error *err);
/* Errors: those of vdb_vecset_relocate_copy, and VDB_ECORRUPT when rows
 * [0, upto) minus `drop` are fewer than `kept`. */
int vdb_vecset_relocate_commit(vdb_vecset *set, vdb_vecset_reloc *reloc,
                               const uint32_t **old_to_new, uint32_t *old_rows, vdb_error *err);
void vdb_vecset_relocate_free(vdb_vecset_reloc *reloc);

/* Builds a set over a snapshot without copying its vectors: `n` rows of
 * `dim` float32 (already normalized for cosine) are mapped copy-on-write
 * from file `fd` at `offset` (page-aligned; see vdb_vmem_map_file), so the
 * open reads nothing eagerly. Takes ownership of ids_take[0..n) and
 * metas_take[0..n) (entries may be NULL for metas; the arrays themselves
 * stay the caller's) on success AND on failure. `norms` (n floats, the
 * pre-normalization norms) is copied; NULL means "recompute" (touches every
 * row). *out receives the set (NULL on failure). Errors: VDB_ECORRUPT
 * (duplicate ids: the snapshot is hostile input), VDB_EINVAL (dim, metric,
 * an offset the mapping refuses), VDB_ENOMEM, VDB_EIO (the mapping). */
int vdb_vecset_open_mapped(uint32_t dim, vdb_metric metric, int fd, unsigned long long offset,
                           uint32_t n, char **ids_take, char **metas_take, const float *norms,
                           vdb_vecset **out, vdb_error *err);

/* Tombstone journal for derived state: when enabled, every row that becomes
 * a tombstone (delete, or upsert replacing an id) is recorded until
 * drained. vdb_vecset_journal_drain hands out the rows (borrowed, valid
 * until the next write) and empties the journal; VDB_ENOMEM means entries
 * were lost (memory ran out) and the consumer must resynchronize from
 * scratch. Enabling (or disabling) empties it. */
void vdb_vecset_journal_enable(vdb_vecset *set, int on);
int vdb_vecset_journal_drain(vdb_vecset *set, const uint32_t **rows, size_t *count);

/* Reserves room for `rows` rows in total (avoids regrowth during bulk load).
 * Errors: VDB_ERANGE (more rows than a store can hold), VDB_ENOMEM. */
int vdb_vecset_reserve(vdb_vecset *set, size_t rows, vdb_error *err);

/* Approximate bytes held (vectors, ids, metadata, maps). */
size_t vdb_vecset_memory(const vdb_vecset *set);

/* Internal consistency check (id map <-> rows, counts); 0 or VDB_ECORRUPT. */
int vdb_vecset_check(const vdb_vecset *set, vdb_error *err);

#endif
