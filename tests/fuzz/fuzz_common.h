/* Shared by the libFuzzer harnesses in tests/fuzz/ and their plain-C replay
 * driver (replay.c): a per-process scratch directory, file helpers, and a
 * template store built through the library itself so that seeds and
 * multi-file inputs (store.json, wal.log) start from real vdb bytes.
 *
 * Each harness defines LLVMFuzzerTestOneInput and may define
 * fuzz_init(), called once before the first input (by
 * LLVMFuzzerInitialize under libFuzzer, by main() in replay.c).
 * Not thread-safe: one harness per process, as libFuzzer runs them. */
#ifndef VDB_TESTS_FUZZ_COMMON_H
#define VDB_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "../../src/store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_init(void);
/* Inputs the harness's main parser accepted (replay.c reports it, so a
 * harness whose seeds are all rejected shows up as vacuous). */
extern size_t fuzz_accepted;

/* Dimension and row count of the template store (small: fast execs). */
#define FUZZ_DIM 8u
#define FUZZ_ROWS 24u

/* The process's scratch directory (created on first call, removed at exit). */
const char *fuzz_tmpdir(void);
/* dir + "/" + name (just name when dir is NULL) into out[cap]; aborts
 * when it does not fit. */
void fuzz_join(char *out, size_t cap, const char *dir, const char *name);
/* tmpdir + "/" + name into out (PATH_MAX); returns out. */
char *fuzz_path(char *out, const char *name);
/* Writes data to path (created or truncated); aborts on I/O failure
 * (a harness whose scratch disk fails must not report false passes). */
void fuzz_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a malloc'd buffer; NULL when missing. */
unsigned char *fuzz_read_file(const char *path, size_t *len);
/* Removes every regular file in dir (not recursive). */
void fuzz_clear_dir(const char *dir);
/* Copies every regular file of src into dst (created if missing). */
void fuzz_copy_dir(const char *src, const char *dst);

/* Builds a store in `dir` through the public store API: FUZZ_ROWS vectors
 * with ids and metadata, checkpointed (vectors.npz, metadata.jsonl,
 * store.json and, for HNSW, hnsw.idx), then `tail` rounds of upserts and a
 * delete that live in wal.log only. When `keep` is not NULL the directory
 * is copied there before the store is closed (closing checkpoints and so
 * empties the WAL). Aborts on failure. */
void fuzz_make_store(const char *dir, vdb_index_kind kind, int tail, const char *keep);

/* Exercises an opened store the way requests do (count, get, exact and
 * index queries, a filtered count) so that damage a load let through
 * shows up under the sanitizers. */
void fuzz_poke_store(vdb_store *store);

#endif

/* Each harness writes its own seed corpus into `dir` (which exists),
 * generated at fuzz time by the library's writers, so no binary corpus is
 * committed (replay.c --seeds DIR). */
void fuzz_seeds(const char *dir);
/* Writes one seed file dir/name. */
void fuzz_seed(const char *dir, const char *name, const void *data, size_t len);
/* Copies the file src_dir/src_name to dir/name as a seed (skipped when missing). */
void fuzz_seed_copy(const char *dir, const char *name, const char *src_dir, const char *src_name);

/* A store directory held in memory, to restore before each input. */
typedef struct fuzz_dir_image {
    size_t n;
    char names[8][64];
    unsigned char *data[8];
    size_t len[8];
} fuzz_dir_image;

/* Loads every regular file of dir (at most 8) into img. */
void fuzz_image_load(fuzz_dir_image *img, const char *dir);
/* Empties dir and writes the image's files into it, except `skip` (NULL: none). */
void fuzz_image_restore(const fuzz_dir_image *img, const char *dir, const char *skip);
