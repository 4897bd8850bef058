/* vectors.npz: the store's vectors as an uncompressed NumPy .npz (a ZIP of
 * stored .npy members) that `numpy.load` reads, laid out so vdb can mmap
 * the vector data in place.
 *
 * Members: "vectors.npy" (float32, rows x dim, C order: the rows exactly as
 * the vecset stores them, i.e. unit-normalized for cosine stores) and
 * "norms.npy" (float32, rows: each row's norm before normalization, so
 * vectors * norms[:, None] gives back the caller's vectors for cosine).
 * The vector data starts at file offset 16384 (VDB_VECFILE_DATA_ALIGN), a
 * multiple of every common page size, by padding the local header's extra
 * field, which ZIP readers skip. ZIP64 records are written when a size or
 * offset passes 4 GiB. Byte layout: top of vecfile.c and docs/formats.md.
 *
 * The reader accepts a bare .npy (same dtype rules) or any .npz whose "vectors.npy" member is stored (not
 * deflated), little-endian float32, C order, 2-D; bounds are checked
 * against the file size (disk bytes are hostile: VDB_ECORRUPT). */
#ifndef VDB_STORE_VECFILE_H
#define VDB_STORE_VECFILE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

#define VDB_VECFILE_DATA_ALIGN 16384u

/* Row source for the writer: the i-th row to write (dim floats) and its
 * norm. Lets the snapshot skip tombstones without copying the matrix. */
typedef const float *(*vdb_vecfile_row_fn)(void *ctx, size_t i, float *norm);

enum {
    VDB_VECFILE_FORCE_ZIP64 = 1 /* ZIP64 records even when small (tests) */
};

/* Writes a new file at `path` (created or truncated), fsyncs and closes it.
 * The caller renames it into place. Errors: VDB_EIO, VDB_ENOSPC,
 * VDB_ENOMEM; on error the file may hold a prefix (the caller removes it). */
int vdb_vecfile_write(const char *path, uint32_t dim, size_t rows, vdb_vecfile_row_fn row,
                      void *ctx, int flags, vdb_error *err);

typedef struct vdb_vecfile vdb_vecfile;

/* Opens and validates the ZIP directory and .npy headers into *out (written
 * only on success; close it with vdb_vecfile_close). A dimension above
 * VDB_MAX_DIM is VDB_ECORRUPT, as for any store. The code comes back
 * as the result, so a caller that passes no `err` still learns it. Errors:
 * VDB_ENOTFOUND, VDB_ECORRUPT (names the file and what is wrong), VDB_EIO,
 * VDB_EBUSY (out of descriptors), VDB_ENOMEM. */
int vdb_vecfile_open(const char *path, vdb_vecfile **out, vdb_error *err);
void vdb_vecfile_close(vdb_vecfile *file); /* NULL is a no-op */

/* As vdb_vecfile_open, over `len` bytes in memory (an upload): an .npz as
 * above or a bare .npy ('<f4', C order, 2-D, nothing after the data), into
 * *out (NULL on failure). `data` is borrowed until close; `name` names it
 * in messages. Only read_rows/read_norms/buffer_rows apply (no fd or
 * verify). Errors: VDB_ENOTFOUND (an .npz without vectors.npy),
 * VDB_ECORRUPT (names what is wrong), VDB_ENOMEM. */
int vdb_vecfile_open_buffer(const void *data, size_t len, const char *name, vdb_vecfile **out,
                            vdb_error *err);

/* The vector array's shape (rows x dim), from the header read at open;
 * never fail. */
size_t vdb_vecfile_rows(const vdb_vecfile *file);
uint32_t vdb_vecfile_dim(const vdb_vecfile *file);
/* 1 when the file holds a norms member, else 0; never fails. */
int vdb_vecfile_has_norms(const vdb_vecfile *file);

/* Copies rows [first, first + count) into out (count * dim floats), or the
 * matching norms (count floats; VDB_ENOTFOUND when there is no norms
 * member). */
int vdb_vecfile_read_rows(vdb_vecfile *file, size_t first, size_t count, float *out,
                          vdb_error *err);
int vdb_vecfile_read_norms(vdb_vecfile *file, size_t first, size_t count, float *out,
                           vdb_error *err);

/* Buffer mode only (vdb_vecfile_open_buffer): the rows * dim floats in
 * place inside the caller's buffer, borrowed for as long as that buffer
 * lives, so an upload is not copied before it is logged. NULL (no error)
 * for a file, or when the data is not 4-byte aligned in the buffer; the
 * caller then copies with vdb_vecfile_read_rows. */
const float *vdb_vecfile_buffer_rows(const vdb_vecfile *file);

/* The open descriptor (borrowed until close) and the file offset of the
 * vector data, for vdb_vecset_open_mapped. Never fail. */
int vdb_vecfile_fd(const vdb_vecfile *file);
uint64_t vdb_vecfile_data_offset(const vdb_vecfile *file);

/* Checks the ZIP CRC32 of every member (reads the whole file). Errors:
 * VDB_ECORRUPT (a mismatch, or a member past the end), VDB_EIO (read),
 * VDB_ENOMEM. */
int vdb_vecfile_verify(vdb_vecfile *file, vdb_error *err);

#endif
