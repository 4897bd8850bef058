/* hnsw.idx (index/hnsw_io): the input is loaded as the index of a real
 * 24 x 8 cosine store's vectors (built at start-up); a graph that loads
 * must pass vdb_hnsw_check (every link to a present node, levels,
 * entry point) and answer searches over a view of its rows. Then the same
 * bytes are an HNSW store's hnsw.idx and the store is opened (a bad index
 * must be rebuilt, never trusted). Properties: no crash, leak or
 * out-of-bounds read. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/alloc.h"
#include "../../src/index/hnsw.h"
#include "fuzz_common.h"

#define VIEW_ROWS 64u

static fuzz_dir_image image;
static char work[PATH_MAX], idx_path[PATH_MAX], lone[PATH_MAX];
static float rows[VIEW_ROWS * FUZZ_DIM];

void fuzz_init(void)
{
    char tmpl[PATH_MAX];
    fuzz_path(tmpl, "template");
    fuzz_make_store(tmpl, VDB_INDEX_HNSW, 0, NULL);
    fuzz_image_load(&image, tmpl);
    fuzz_path(work, "store");
    fuzz_join(idx_path, sizeof(idx_path), work, "hnsw.idx");
    fuzz_path(lone, "lone.idx");
    for (size_t i = 0; i < VIEW_ROWS * FUZZ_DIM; i++)
        rows[i] = (float)((i * 37) % 11) - 5.0f + 0.01f * (float)i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vdb_error err;
    fuzz_write_file(lone, data, size);
    vdb_hnsw *index = NULL;
    int rc = vdb_hnsw_load(lone, FUZZ_DIM, VDB_METRIC_COSINE, &index, &err);
    if ((rc == VDB_OK) != (index != NULL)) {
        fprintf(stderr, "vdb_hnsw_load returned %d with index %p\n", rc, (void *)index);
        abort();
    }
    if (index != NULL) {
        fuzz_accepted++;
        if (vdb_hnsw_check(index, &err) != VDB_OK) {
            fprintf(stderr, "a loaded index fails its check: %s\n", err.msg);
            abort();
        }
        if (vdb_hnsw_rows(index) <= VIEW_ROWS) {
            vdb_vecview view = {.data = rows, .deleted = NULL, .n = VIEW_ROWS,
                                .dim = FUZZ_DIM, .metric = VDB_METRIC_COSINE};
            vdb_hit hits[8];
            size_t n = 0;
            if (vdb_hnsw_search(index, &view, rows + 3 * FUZZ_DIM, 8, 16, NULL, NULL, hits, &n,
                                &err) == VDB_OK) {
                for (size_t i = 0; i < n; i++)
                    if (hits[i].id >= VIEW_ROWS)
                        abort();
            }
        }
        vdb_hnsw_free(index);
    }
    fuzz_image_restore(&image, work, "hnsw.idx");
    fuzz_write_file(idx_path, data, size);
    vdb_store_options options;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    options.read_only = 1;
    vdb_store *store = NULL;
    if (vdb_store_open(work, &options, &store, &err) == VDB_OK) {
        fuzz_poke_store(store);
        vdb_store_close(store);
    }
    return 0;
}

void fuzz_seeds(const char *dir)
{
    char store[PATH_MAX];
    fuzz_path(store, "seed-hnsw");
    fuzz_make_store(store, VDB_INDEX_HNSW, 0, NULL);
    fuzz_seed_copy(dir, "store.idx", store, "hnsw.idx");
}
