/* The ZIP import validator: backup/zipio's archive checks (names, sizes,
 * ratios, duplicates, encryption) and api/h_zip's reading of an uploaded
 * archive (manifest SHA-256s, vectors.npz -> .npy, metadata.jsonl,
 * store.json). h_zip.c keeps those steps static, so the harness includes
 * the file itself and calls read_archive exactly as the import handler
 * does, without a server. Properties: no crash or leak; an accepted archive
 * has as many metadata lines as vectors and a dimension within limits. */
#include "../../src/api/h_zip.c"

#include "fuzz_common.h"

static vdb_api api;

void fuzz_init(void)
{
    api.config.max_dim = VDB_MAX_DIM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vdb_req req;
    import_data d;
    memset(&req, 0, sizeof(req));
    memset(&d, 0, sizeof(d));
    req.api = &api;
    if (read_archive(&req, (const char *)data, size, &d) == VDB_OK) {
        fuzz_accepted++;
        if (d.rows != d.nlines || d.dim == 0 || d.dim > api.config.max_dim)
            abort();
        for (size_t i = 0; i < d.rows * d.dim; i++)
            if (!isfinite(d.vectors[i]))
                abort();
    }
    import_data_free(&d);

    /* The validator on its own, with small caps: every member it accepts
     * reads back within them. */
    vdb_zip_limits small = {.max_entries = 8, .max_entry_bytes = 1 << 20,
                            .max_total_bytes = 2 << 20, .max_ratio = 50, .allow_subdirs = 1};
    vdb_error err;
    vdb_zipio *zip = NULL;
    if (vdb_zipio_open_buffer(data, size, &small, &zip, &err) == VDB_OK) {
        static const char *const names[] = {"vectors.npz", "metadata.jsonl", "manifest.json",
                                            "store.json", "vectors.npy", "norms.npy"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            char *out = NULL;
            size_t len = 0;
            if (!vdb_zipio_has(zip, names[i]))
                continue;
            if (vdb_zipio_read(zip, names[i], &out, &len, &err) == VDB_OK &&
                len > small.max_entry_bytes)
                abort();
            vdb_free(out);
        }
        vdb_zipio_close(zip);
    }
    return 0;
}

void fuzz_seeds(const char *dir)
{
    char store_dir[PATH_MAX], out[PATH_MAX];
    vdb_error err;
    fuzz_path(store_dir, "seed-export");
    fuzz_make_store(store_dir, VDB_INDEX_FLAT, 0, NULL);
    vdb_store_options options;
    vdb_store_options_default(&options);
    vdb_store *store = NULL;
    (void)vdb_store_open(store_dir, &options, &store, &err); /* NULL when refused */
    vdb_export *ex = NULL;
    if (store != NULL)
        (void)vdb_export_new("u", &ex, &err); /* NULL on failure, checked below */
    fuzz_path(out, "export.zip");
    unlink(out);
    if (ex == NULL || vdb_export_add_store(ex, store, store_dir, "m", "", &err) != VDB_OK ||
        vdb_export_write(ex, out, &err) != VDB_OK) {
        fprintf(stderr, "fuzz_zip seeds: %s\n", err.msg);
        abort();
    }
    vdb_export_free(ex);
    vdb_store_close(store);
    fuzz_seed_copy(dir, "export.zip", fuzz_tmpdir(), "export.zip");

    /* The original's layout: just the two files, no manifest. */
    char npz[PATH_MAX], meta[PATH_MAX];
    fuzz_join(npz, sizeof(npz), store_dir, "vectors.npz");
    fuzz_join(meta, sizeof(meta), store_dir, "metadata.jsonl");
    vdb_zip_member members[2] = {{.name = "vectors.npz", .path = npz},
                                 {.name = "metadata.jsonl", .path = meta, .deflate = 1}};
    fuzz_path(out, "plain.zip");
    unlink(out);
    if (vdb_zipio_write(out, members, 2, &err) != VDB_OK) {
        fprintf(stderr, "fuzz_zip seeds: %s\n", err.msg);
        abort();
    }
    fuzz_seed_copy(dir, "plain.zip", fuzz_tmpdir(), "plain.zip");
}
