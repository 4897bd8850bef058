/* The one .npy header codec (NumPy format versions 1.0-3.0), used by the
 * store's vectors.npz, ZIP import and the bench tools. Only the header: the
 * callers own the data bytes (mmap, a buffer from an archive, a file).
 * Accepted: little-endian '<f4', '<f8' and '<i4', C order, 1-D or 2-D.
 * Headers are hostile input; every field is checked. Pure functions,
 * thread-safe. Error messages name no file: callers prefix their own. */
#ifndef VDB_CORE_NPY_H
#define VDB_CORE_NPY_H

#include <stddef.h>

#include "err.h"

typedef enum vdb_npy_dtype { VDB_NPY_F4 = 1, VDB_NPY_F8, VDB_NPY_I4 } vdb_npy_dtype;

/* Bytes a parser must see before it knows the header length. */
#define VDB_NPY_PREAMBLE_MAX 12
/* Longest dictionary accepted (numpy writes well under 256 bytes). */
#define VDB_NPY_MAX_DICT 65536u

typedef struct vdb_npy_info {
    vdb_npy_dtype dtype;
    size_t item_size; /* 4 or 8 */
    int ndim;         /* 1 or 2 */
    size_t shape[2];  /* shape[1] is 1 for 1-D arrays */
    size_t data_off;  /* header bytes: the array data starts here */
} vdb_npy_info;

/* Reads the fixed preamble in buf[0..len) (len >= 10; 12 for versions 2-3)
 * and stores the full header length (where the data starts) in *data_off.
 * VDB_OK, or VDB_EINVAL (too short, not .npy, unknown version, dictionary
 * too long). Any real .npy file has at least 12 bytes: pass 12 when you can. */
int vdb_npy_header_len(const unsigned char *buf, size_t len, size_t *data_off, vdb_error *err);

/* Parses a whole header, buf[0..len) with len >= the header length. Fills
 * *info on success. VDB_OK or VDB_EINVAL naming the bad field. */
int vdb_npy_parse(const unsigned char *buf, size_t len, vdb_npy_info *info, vdb_error *err);

/* Writes a version 1.0 header for a C-order array of `descr` ("<f4", "<i4")
 * into out[0..cap), padded with spaces so the data starts on a 64-byte
 * boundary. ndim 2 gives shape (rows, cols), ndim 1 gives (rows,). Returns
 * the header length, or 0 if cap is too small. */
size_t vdb_npy_build(char *out, size_t cap, const char *descr, size_t rows, size_t cols, int ndim);

#endif
