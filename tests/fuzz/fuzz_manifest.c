/* store.json, the snapshot manifest (store/snapshot): the input replaces
 * the manifest of a real HNSW store (built by the library at start-up),
 * which is then recovered, read, loaded and opened as the server would.
 * Properties: no crash or leak; an accepted manifest loads only the rows
 * the files hold; an opened store answers count/get/query sanely. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/store/snapshot.h"
#include "../../src/store/vecset.h"
#include "fuzz_common.h"

static fuzz_dir_image image;
static char work[PATH_MAX], manifest[PATH_MAX];

void fuzz_init(void)
{
    char tmpl[PATH_MAX];
    fuzz_path(tmpl, "template");
    fuzz_make_store(tmpl, VDB_INDEX_HNSW, 0, NULL);
    fuzz_image_load(&image, tmpl);
    fuzz_path(work, "store");
    fuzz_join(manifest, sizeof(manifest), work, "store.json");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vdb_error err;
    vdb_snapshot_info info;
    fuzz_image_restore(&image, work, "store.json");
    fuzz_write_file(manifest, data, size);
    if (vdb_snapshot_recover(work, &err) != VDB_OK)
        return 0;
    if (vdb_snapshot_read_manifest(work, &info, &err) == VDB_OK) {
        vdb_vecset *set = NULL;
        if (vdb_snapshot_load(work, &info, &set, &err) == VDB_OK) {
            if (vdb_vecset_count(set) > FUZZ_ROWS)
                abort();
            vdb_vecset_free(set);
        }
    }
    vdb_store_options options;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    if (vdb_store_open(work, &options, &store, &err) == VDB_OK) {
        fuzz_accepted++;
        if (vdb_store_count(store) > FUZZ_ROWS)
            abort();
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
    fuzz_seed_copy(dir, "hnsw.json", store, "store.json");
    fuzz_path(store, "seed-flat");
    fuzz_make_store(store, VDB_INDEX_FLAT, 0, NULL);
    fuzz_seed_copy(dir, "flat.json", store, "store.json");
}
