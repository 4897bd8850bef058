/* wal.log scan and store recovery (store/wal + store/walrec): the input
 * replaces the WAL of a real store (snapshot + a WAL tail of upserts and
 * deletes, built by the library at start-up). First the bare scan with
 * every record decoded, then a full store open (snapshot + replay), some
 * reads, one acknowledged write, a close and a reopen.
 * Properties: no crash or leak; replayed LSNs strictly increase; every
 * decoded batch is self-consistent; a store that opened once reopens
 * after a write (a dropped torn tail must not leave garbage the next
 * append sits behind, P2) with exactly one more vector. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/store/wal.h"
#include "../../src/store/walrec.h"
#include "fuzz_common.h"

static fuzz_dir_image image;
static char work[PATH_MAX], wal_path[PATH_MAX];

void fuzz_init(void)
{
    char tmpl[PATH_MAX], kept[PATH_MAX];
    fuzz_path(tmpl, "template");
    fuzz_path(kept, "template-wal");
    fuzz_make_store(tmpl, VDB_INDEX_FLAT, 3, kept);
    fuzz_image_load(&image, kept);
    fuzz_path(work, "store");
    fuzz_join(wal_path, sizeof(wal_path), work, "wal.log");
}

static int on_record(void *ctx, uint64_t lsn, int type, const void *payload, size_t len,
                     vdb_error *err)
{
    uint64_t *last = ctx;
    if (lsn <= *last)
        abort();
    *last = lsn;
    vdb_walrec_batch batch;
    if (vdb_walrec_decode(type, payload, len, FUZZ_DIM, &batch, err) == VDB_OK) {
        for (size_t i = 0; i < batch.n; i++) {
            if (batch.ids[i] == NULL)
                abort();
            (void)strlen(batch.ids[i]);
            if (type == VDB_WAL_REC_UPSERT && batch.metas[i] != NULL)
                (void)strlen(batch.metas[i]);
        }
        vdb_walrec_batch_free(&batch);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vdb_error err;
    fuzz_image_restore(&image, work, "wal.log");
    fuzz_write_file(wal_path, data, size);

    vdb_wal_options wopt = {.policy = VDB_WAL_SYNC_OFF, .read_only = 1};
    uint64_t last = 0, dropped = 0;
    vdb_wal *wal = NULL;
    (void)vdb_wal_open(wal_path, &wopt, on_record, &last, &dropped, &wal, &err);
    vdb_wal_close(wal);

    vdb_store_options options;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    if (vdb_store_open(work, &options, &store, &err) != VDB_OK)
        return 0;
    fuzz_accepted++;
    fuzz_poke_store(store);
    size_t before = vdb_store_count(store);
    float v[FUZZ_DIM];
    for (uint32_t j = 0; j < FUZZ_DIM; j++)
        v[j] = 0.5f - (float)j;
    const char *id[1] = {"fuzz-new-row"};
    int added = vdb_store_add(store, 1, v, id, NULL, NULL, &err) == VDB_OK;
    vdb_store_close(store);
    if (vdb_store_open(work, &options, &store, &err) != VDB_OK) {
        fprintf(stderr, "a store that opened does not reopen after a write: %s\n", err.msg);
        abort();
    }
    if (added && vdb_store_count(store) != before + 1) {
        fprintf(stderr, "count %zu after reopen, expected %zu\n", vdb_store_count(store), before + 1);
        abort();
    }
    vdb_store_close(store);
    return 0;
}

void fuzz_seeds(const char *dir)
{
    char store[PATH_MAX], kept[PATH_MAX];
    fuzz_path(store, "seed-store");
    fuzz_path(kept, "seed-kept");
    fuzz_make_store(store, VDB_INDEX_FLAT, 3, kept);
    fuzz_seed_copy(dir, "tail3.wal", kept, "wal.log");
    fuzz_path(store, "seed-store1");
    fuzz_path(kept, "seed-kept1");
    fuzz_make_store(store, VDB_INDEX_FLAT, 1, kept);
    fuzz_seed_copy(dir, "tail1.wal", kept, "wal.log");
}
