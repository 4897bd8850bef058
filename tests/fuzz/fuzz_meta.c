/* metadata.jsonl (store/meta): the input is a store's metadata file, read
 * without the manifest check, with a manifest that matches it (its real
 * size and CRC32, as if store.json had been rewritten to fit) and with one
 * that does not. Properties: no crash, leak or out-of-bounds read; lines
 * arrive in order, each once, with an id.
 * Not a property: that each metadata text is a JSON object. The fast path
 * slices vdb's own lines without parsing them because the manifest's CRC32
 * proved they are the bytes vdb wrote (meta.c); only vdb writes this file
 * (imports go through h_zip's jansson parse), so a matching CRC over
 * damaged text needs a deliberate forger with write access to the store. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/crc.h"
#include "../../src/store/meta.h"
#include "fuzz_common.h"

static char path[PATH_MAX];

void fuzz_init(void)
{
    fuzz_path(path, "metadata.jsonl");
}

static int on_line(void *ctx, size_t i, const char *id, const char *meta, vdb_error *err)
{
    size_t *lines = ctx;
    (void)err;
    if (i != *lines)
        abort(); /* lines arrive in order, each once */
    (*lines)++;
    if (id == NULL)
        abort();
    (void)strlen(id);
    if (meta != NULL)
        (void)strlen(meta);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vdb_error err;
    size_t lines = 0, rows = 0;
    for (size_t i = 0; i < size; i++)
        rows += data[i] == '\n';
    fuzz_write_file(path, data, size);
    if (vdb_meta_read(path, rows, 0, 0, 0, on_line, &lines, &err) == VDB_OK)
        fuzz_accepted++;
    uint32_t crc = vdb_crc32(0, data, size);
    lines = 0;
    (void)vdb_meta_read(path, rows, 1, size, crc, on_line, &lines, &err);
    lines = 0;
    (void)vdb_meta_read(path, rows, 1, size, crc ^ 1u, on_line, &lines, &err);
    return 0;
}

void fuzz_seeds(const char *dir)
{
    char store[PATH_MAX];
    fuzz_path(store, "seed-flat");
    fuzz_make_store(store, VDB_INDEX_FLAT, 0, NULL);
    fuzz_seed_copy(dir, "store.jsonl", store, "metadata.jsonl");
    static const char other[] = "{\"id\": \"a\", \"metadata\": {\"k\": [1, 2.5, \"\\u00e9\"]}}\n"
                                "{\"id\":\"b\",\"metadata\":null}\n"
                                "{\"id\":\"c\"}\n";
    fuzz_seed(dir, "spaced.jsonl", other, sizeof(other) - 1);
}
