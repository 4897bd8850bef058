/* vectors.npz (store/vecfile) and bare .npy headers (core/npy): the input
 * is written as a store's vectors.npz and opened, read row by row, read as
 * norms, mapped and verified; the same bytes go through vdb_npy_parse.
 * Properties: no crash, leak or out-of-bounds read; an accepted file's
 * rows x dim fits in the file (the reads stay inside it) and its dim is
 * within VDB_MAX_DIM (a 0-row header once claimed 291,810,391); a parsed .npy
 * header's data offset lies within the input. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/core/alloc.h"
#include "../../src/core/limits.h"
#include "../../src/core/npy.h"
#include "../../src/store/vecfile.h"
#include "fuzz_common.h"

static char path[PATH_MAX];

void fuzz_init(void)
{
    fuzz_path(path, "vectors.npz");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vdb_error err;
    vdb_npy_info info;
    if (vdb_npy_parse(data, size, &info, &err) == VDB_OK) {
        if (info.data_off > size || (info.item_size != 4 && info.item_size != 8))
            abort();
    }
    fuzz_write_file(path, data, size);
    vdb_vecfile *f = NULL;
    if (vdb_vecfile_open(path, &f, &err) != VDB_OK)
        return 0;
    fuzz_accepted++;
    size_t rows = vdb_vecfile_rows(f);
    uint32_t dim = vdb_vecfile_dim(f);
    if (dim == 0 || dim > VDB_MAX_DIM || (rows > 0 && (uint64_t)rows * dim * 4 > (uint64_t)size))
        abort(); /* a dimension no store has, or more data than the file holds */
    float *buf = vdb_malloc((size_t)dim * 4 * 4);
    for (size_t r = 0; buf != NULL && r < rows && r < 64; r += 4) {
        size_t n = rows - r < 4 ? rows - r : 4;
        (void)vdb_vecfile_read_rows(f, r, n, buf, &err);
        (void)vdb_vecfile_read_norms(f, r, n, buf, &err);
    }
    vdb_free(buf);
    (void)vdb_vecfile_verify(f, &err);
    vdb_vecfile_close(f);
    return 0;
}

void fuzz_seeds(const char *dir)
{
    char store[PATH_MAX], npy[256];
    fuzz_path(store, "seed-flat");
    fuzz_make_store(store, VDB_INDEX_FLAT, 0, NULL);
    fuzz_seed_copy(dir, "store.npz", store, "vectors.npz");
    /* A bare .npy (as numpy's np.save writes it) of 3 x 2 float32. */
    size_t h = vdb_npy_build(npy, sizeof(npy) - 24, "<f4", 3, 2, 2);
    float v[6] = {1, 2, 3, 4, 5, 6};
    memcpy(npy + h, v, sizeof(v));
    fuzz_seed(dir, "bare.npy", npy, h + sizeof(v));
}
