/* HNSW persistence: one sequential write, one sequential read, and a loader
 * that treats the file as hostile.
 *
 * Format (version 2, little-endian, the in-memory arrays written as they
 * are so a load is a handful of large reads):
 *
 *   offset  size  field
 *   0       8     magic "VDBHNSW1" (the file kind; the version is below)
 *   8       4     byte-order tag 0x01020304 (rejects foreign-endian files)
 *   12      4     version (2; 1 is still read, see the trailer)
 *   16      4     dim
 *   20      4     metric (0 cosine, 1 l2, 2 dot)
 *   24      4     M (level 0 holds 2M links)
 *   28      4     ef_construction
 *   32      4     ef_search
 *   36      4     n: rows covered (array length below)
 *   40      4     entry point row (0xFFFFFFFF when empty)
 *   44      4     top level
 *   48      8     nodes present
 *   56      8     level-draw seed
 *   64      8     U: u32 words in all upper-level lists
 *   72      8     reserved, 0
 *   80      n     levels: one byte per row, 0xFF = row not in the graph
 *   ..      pad   zero bytes up to a multiple of 4
 *   ..      4n(1+2M)  level-0 slots: per row [count, 2M ids] (unused ids 0)
 *   ..      4U    upper lists, rows in order, for each row of level L > 0:
 *                 L lists of [count, M ids], level 1 first
 *   ..      4     CRC32C (core/crc) of every byte before it, header included
 *
 * Version 1 is the same layout with an 8-byte trailer: the 64-bit word hash
 * below (hash_feed). Version 2 replaced it with the CRC32C the WAL already
 * uses, so one checksum serves every durable file; saves write version 2,
 * loads accept both, so graphs saved before the change load without a
 * rebuild and are rewritten as version 2 at the next save.
 *
 * The loader checks the header against the file's real size before it
 * allocates anything (so a hostile header cannot ask for more memory than
 * the file holds), verifies the checksum, then runs the full invariant
 * validator (no self, duplicate, dangling or level-violating links, counts
 * within bounds, entry point at the top level). Any failure is
 * VDB_ECORRUPT; the store then rebuilds the index. One-way links are legal
 * here (the heuristic prunes reverse links), unlike in redis' bidirectional
 * graph. */
#include "hnsw.h"

#include <fcntl.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/bytes.h"
#include "../core/fsx.h"
#include "hnsw_int.h"

#include "../core/crc.h"

#define HEADER_BYTES 80
#define FORMAT_V1 1         /* trailer: 8-byte hash_feed word hash */
#define FORMAT_VERSION 2    /* written; trailer: 4-byte CRC32C */
#define ORDER_TAG 0x01020304u
static const char magic[8] = {'V', 'D', 'B', 'H', 'N', 'S', 'W', '1'};

/* Version 1's trailer, kept only to read version 1 files: a streaming
 * 64-bit checksum where each 8-byte word goes through xor, an odd multiply
 * and an xorshift (all bijections of the state), so any single changed word
 * changes the result. */
typedef struct hash_state {
    uint64_t h;
    uint64_t pending;
    unsigned npending;
    uint64_t length;
} hash_state;

/* The running checksum of a file being read or written: CRC32C for version
 * 2, the word hash for version 1. */
typedef struct file_sum {
    uint32_t version;
    uint32_t crc;
    hash_state v1;
} file_sum;

static inline uint64_t hash_word(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

static void hash_feed(hash_state *st, const void *data, size_t len)
{
    const unsigned char *p = data;
    st->length += len;
    while (len > 0 && st->npending != 0) {
        st->pending |= (uint64_t)*p++ << (8 * st->npending);
        len--;
        if (++st->npending == 8) {
            st->h = hash_word(st->h, st->pending);
            st->pending = 0;
            st->npending = 0;
        }
    }
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        st->h = hash_word(st->h, w);
    }
    for (; len > 0; len--)
        st->pending |= (uint64_t)*p++ << (8 * st->npending++);
}

static uint64_t hash_final(const hash_state *st)
{
    uint64_t h = hash_word(st->h, st->pending ^ ((uint64_t)st->npending << 56));
    return hash_word(h, st->length);
}

static void sum_feed(file_sum *s, const void *data, size_t len)
{
    if (s->version == FORMAT_V1)
        hash_feed(&s->v1, data, len);
    else
        s->crc = vdb_crc32c(s->crc, data, len);
}

/* Bytes of the trailer for a version. */
static size_t trailer_bytes(uint32_t version)
{
    return version == FORMAT_V1 ? 8 : 4;
}

/* ---- save ---------------------------------------------------------------- */

/* The file goes through the I/O funnel (core/fsx), so fault injection and
 * the crash tests reach it; writes are gathered into WRITE_BUF chunks. */
#define WRITE_BUF (1u << 20)

typedef struct writer {
    int fd;
    const char *path;
    file_sum sum;
    unsigned char *buf;
    size_t used;
    off_t offset;
    int failed;       /* a vdb error code once a write failed */
    vdb_error *err;
} writer;

static void flush_buf(writer *w)
{
    if (w->failed || w->used == 0)
        return;
    int rc = vdb_fsx_write(w->fd, w->buf, w->used, w->offset, w->path, w->err);
    if (rc != VDB_OK) {
        w->failed = rc;
        return;
    }
    w->offset += (off_t)w->used;
    w->used = 0;
}

static void emit(writer *w, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (w->failed || len == 0)
        return;
    sum_feed(&w->sum, data, len);
    while (len > 0 && !w->failed) {
        size_t take = WRITE_BUF - w->used < len ? WRITE_BUF - w->used : len;
        memcpy(w->buf + w->used, p, take);
        w->used += take;
        p += take;
        len -= take;
        if (w->used == WRITE_BUF)
            flush_buf(w);
    }
}

/* Writes one link list [count, ids...] of `words` u32, keeping only ids
 * below n (scratch holds `words` u32). */
static void emit_list_below(writer *w, const uint32_t *list, size_t words, uint32_t n,
                            uint32_t *scratch)
{
    uint32_t kept = 0;
    memset(scratch, 0, words * sizeof(uint32_t));
    for (uint32_t j = 0; j < list[0] && 1 + (size_t)j < words; j++)
        if (list[1 + j] < n)
            scratch[1 + kept++] = list[1 + j];
    scratch[0] = kept;
    emit(w, scratch, words * sizeof(uint32_t));
}

/* Writes the graph of rows [0, n) where n = covered, as one consistent
 * snapshot (the caller holds grow_lock exclusively, so no insert is in
 * flight).
 *
 * Nodes may exist at rows >= covered: vdb_hnsw_add publishes covered after
 * it drops the lock, and vdb_hnsw_build only once its whole range is in, so
 * a checkpoint during an import sees nodes beyond covered. Writing `count`
 * and `entry` from the live graph then gave a header whose count exceeded
 * n (and an entry point outside the file), and every later open rejected
 * the file. Rows >= n are not in the file (the store re-inserts them after
 * the load, from vdb_hnsw_rows), so their nodes are left out: count, the
 * upper-list total and the entry point are recomputed over [0, n), and
 * links into rows >= n are dropped from the lists written. */
static void write_graph(const vdb_hnsw *h, writer *w, uint32_t *scratch)
{
    /* The indexer may raise covered meanwhile (note_covered, release): the
     * rows below the value read here are whole. */
    uint32_t n = __atomic_load_n(&h->covered, __ATOMIC_ACQUIRE);
    uint64_t entry = hnsw_entry_load(h), present = 0, upper_u32 = 0;
    uint32_t top_row = VDB_HNSW_NONE, top = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t level = h->levels[i];
        if (level == VDB_HNSW_ABSENT)
            continue;
        present++;
        upper_u32 += (uint64_t)level * h->slot_up;
        if (top_row == VDB_HNSW_NONE || level > top) {
            top_row = i;
            top = level;
        }
    }
    /* Only when nodes lie beyond n does anything need trimming. */
    int trim = present != h->count;
    if (trim)
        entry = ((uint64_t)(top_row == VDB_HNSW_NONE ? 0 : top) << 32) | top_row;
    unsigned char head[HEADER_BYTES] = {0};
    memcpy(head, magic, 8);
    vdb_put32le(head + 8, ORDER_TAG);
    vdb_put32le(head + 12, FORMAT_VERSION);
    vdb_put32le(head + 16, h->dim);
    vdb_put32le(head + 20, (uint32_t)h->metric);
    vdb_put32le(head + 24, h->m);
    vdb_put32le(head + 28, h->ef_construction);
    vdb_put32le(head + 32, h->ef_search);
    vdb_put32le(head + 36, n);
    vdb_put32le(head + 40, (uint32_t)entry);
    vdb_put32le(head + 44, (uint32_t)(entry >> 32));
    vdb_put64le(head + 48, present);
    vdb_put64le(head + 56, h->seed);
    vdb_put64le(head + 64, upper_u32);
    emit(w, head, sizeof(head));
    emit(w, h->levels, n);
    static const unsigned char zeros[4] = {0};
    emit(w, zeros, (4 - n % 4) % 4);
    if (!trim)
        emit(w, h->links0, (size_t)n * h->slot0 * sizeof(uint32_t));
    else
        for (uint32_t i = 0; i < n; i++)
            emit_list_below(w, h->links0 + (size_t)i * h->slot0, h->slot0, n, scratch);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t level = h->levels[i];
        if (level == VDB_HNSW_ABSENT || level == 0)
            continue;
        if (!trim)
            emit(w, h->upper[i], (size_t)level * h->slot_up * sizeof(uint32_t));
        else
            for (uint8_t l = 0; l < level; l++)
                emit_list_below(w, h->upper[i] + (size_t)l * h->slot_up, h->slot_up, n, scratch);
    }
    unsigned char sum[4];
    vdb_put32le(sum, w->sum.crc);
    emit(w, sum, sizeof(sum));
}

int vdb_hnsw_save(const vdb_hnsw *h, const char *path, vdb_error *err)
{
    writer w = {.fd = -1, .path = path, .sum = {.version = FORMAT_VERSION}, .err = err};
    size_t words = h->slot0 > h->slot_up ? h->slot0 : h->slot_up;
    uint32_t *scratch = vdb_malloc(words * sizeof(uint32_t));
    w.buf = vdb_malloc(WRITE_BUF);
    if (scratch == NULL || w.buf == NULL) {
        vdb_free(scratch);
        vdb_free(w.buf);
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory saving the index");
    }
    w.fd = vdb_fsx_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, err);
    if (w.fd < 0) {
        vdb_free(scratch);
        vdb_free(w.buf);
        return w.fd;
    }
    /* Exclusive: a consistent snapshot of the lists (searches wait too, for
     * the few milliseconds of the write). */
    pthread_rwlock_wrlock((pthread_rwlock_t *)&h->grow_lock);
    write_graph(h, &w, scratch);
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->grow_lock);
    vdb_free(scratch);
    flush_buf(&w);
    vdb_free(w.buf);
    int rc = w.failed;
    if (rc == VDB_OK)
        rc = vdb_fsx_fsync(w.fd, path, err);
    int crc = vdb_fsx_close(w.fd, path, rc == VDB_OK ? err : NULL);
    return rc != VDB_OK ? rc : crc;
}

/* ---- load ---------------------------------------------------------------- */

/* Reads through fsx with a small buffer: the level and link arrays come in
 * one read each, but each upper-level node's list is a few dozen bytes,
 * which unbuffered would be a pread apiece. */
#define READ_BUF 16384

typedef struct reader {
    int fd;
    const char *path;
    uint64_t offset; /* file offset of buf[end] */
    size_t pos, end;
    file_sum sum;
    unsigned char buf[READ_BUF];
} reader;

/* Copies the next `len` bytes of the file; -1 at a short file or an error. */
static int raw_take(reader *r, void *data, size_t len)
{
    unsigned char *out = data;
    while (len > 0) {
        if (r->pos == r->end) {
            ssize_t got;
            if (len >= READ_BUF) { /* big arrays go straight to their place */
                got = vdb_fsx_read(r->fd, out, len, (off_t)r->offset, r->path, NULL);
                if (got < 0 || (size_t)got != len)
                    return -1;
                r->offset += len;
                return 0;
            }
            got = vdb_fsx_read(r->fd, r->buf, READ_BUF, (off_t)r->offset, r->path, NULL);
            if (got <= 0)
                return -1;
            r->offset += (uint64_t)got;
            r->pos = 0;
            r->end = (size_t)got;
        }
        size_t n = r->end - r->pos < len ? r->end - r->pos : len;
        memcpy(out, r->buf + r->pos, n);
        r->pos += n;
        out += n;
        len -= n;
    }
    return 0;
}

static int take(reader *r, void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (raw_take(r, data, len) != 0)
        return -1;
    sum_feed(&r->sum, data, len);
    return 0;
}

typedef struct header {
    uint32_t version;
    uint32_t dim, metric, m, ef_construction, ef_search, n, entry, top;
    uint64_t count, seed, upper_u32;
} header;

/* Checks the header alone and against the file size. */
static int parse_header(const unsigned char *p, uint64_t file_size, header *hd, vdb_error *err)
{
    if (memcmp(p, magic, 8) != 0 || vdb_get32le(p + 8) != ORDER_TAG)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: not a vdb HNSW file (bad magic)");
    hd->version = vdb_get32le(p + 12);
    if (hd->version != FORMAT_V1 && hd->version != FORMAT_VERSION)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: unsupported format version %u",
                             hd->version);
    hd->dim = vdb_get32le(p + 16);
    hd->metric = vdb_get32le(p + 20);
    hd->m = vdb_get32le(p + 24);
    hd->ef_construction = vdb_get32le(p + 28);
    hd->ef_search = vdb_get32le(p + 32);
    hd->n = vdb_get32le(p + 36);
    hd->entry = vdb_get32le(p + 40);
    hd->top = vdb_get32le(p + 44);
    hd->count = vdb_get64le(p + 48);
    hd->seed = vdb_get64le(p + 56);
    hd->upper_u32 = vdb_get64le(p + 64);
    if (hd->m < 2 || hd->m > VDB_HNSW_MAX_M || hd->top > VDB_HNSW_MAX_LEVEL ||
        hd->n == UINT32_MAX || hd->count > hd->n || vdb_get64le(p + 72) != 0)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: header fields out of range");
    /* Expected size, in 64-bit arithmetic that cannot overflow: n < 2^32,
     * slot <= 257 words, and U is bounded by the file size first. */
    if (hd->upper_u32 > file_size / 4)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: upper lists larger than the file");
    uint64_t slot0 = vdb_hnsw__slot0_words(hd->m);
    uint64_t want = HEADER_BYTES + (uint64_t)hd->n + (4 - hd->n % 4) % 4 +
                    (uint64_t)hd->n * slot0 * 4 + hd->upper_u32 * 4 +
                    trailer_bytes(hd->version);
    if (want != file_size)
        return vdb_error_set(err, VDB_ECORRUPT,
                             "hnsw: file is %llu bytes, header implies %llu",
                             (unsigned long long)file_size, (unsigned long long)want);
    return VDB_OK;
}

/* Reads the arrays into `h` (already sized for n rows). */
static int read_body(vdb_hnsw *h, reader *r, const header *hd, vdb_error *err)
{
    unsigned char pad[4];
    if (take(r, h->levels, hd->n) != 0 || take(r, pad, (4 - hd->n % 4) % 4) != 0 ||
        take(r, h->links0, (size_t)hd->n * h->slot0 * sizeof(uint32_t)) != 0)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: short read");
    uint64_t upper = 0;
    for (uint32_t i = 0; i < hd->n; i++) {
        uint8_t level = h->levels[i];
        if (level == VDB_HNSW_ABSENT || level == 0)
            continue;
        if (level > VDB_HNSW_MAX_LEVEL)
            return vdb_error_set(err, VDB_ECORRUPT, "hnsw: row %u has level %u", i, level);
        size_t words = (size_t)level * h->slot_up;
        upper += words;
        if (upper > hd->upper_u32)
            return vdb_error_set(err, VDB_ECORRUPT, "hnsw: upper lists exceed the header's");
        h->upper[i] = vdb_malloc(words * sizeof(uint32_t));
        if (h->upper[i] == NULL)
            return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory loading row %u", i);
        if (take(r, h->upper[i], words * sizeof(uint32_t)) != 0)
            return vdb_error_set(err, VDB_ECORRUPT, "hnsw: short read");
    }
    if (upper != hd->upper_u32)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: upper lists hold %llu words, header %llu",
                             (unsigned long long)upper, (unsigned long long)hd->upper_u32);
    unsigned char sum[8];
    if (raw_take(r, sum, trailer_bytes(hd->version)) != 0)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: short read");
    int match = hd->version == FORMAT_V1 ? vdb_get64le(sum) == hash_final(&r->sum.v1)
                                         : vdb_get32le(sum) == r->sum.crc;
    if (!match)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: checksum mismatch (format version %u)",
                             hd->version);
    return VDB_OK;
}

/* Sets the code of a failure that means "damaged file" (a parameter out
 * of range, a graph that fails validation) to VDB_ECORRUPT, keeping the
 * message that says what was wrong. */
static int corrupt(vdb_error *err)
{
    if (err != NULL)
        err->code = VDB_ECORRUPT;
    return VDB_ECORRUPT;
}

static int load_file(reader *r, const char *path, uint32_t dim, vdb_metric metric,
                     vdb_hnsw **out, vdb_error *err)
{
    uint64_t file_size;
    int rc = vdb_fsx_size(r->fd, &file_size, path, err);
    if (rc != VDB_OK)
        return rc;
    unsigned char head[HEADER_BYTES];
    header hd = {0};
    if (raw_take(r, head, sizeof(head)) != 0)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: %s is too short for a header", path);
    if ((rc = parse_header(head, file_size, &hd, err)) != VDB_OK)
        return rc;
    /* The header names the checksum, so it is summed once its version is known. */
    r->sum.version = hd.version;
    sum_feed(&r->sum, head, sizeof(head));
    vdb_hnsw_params p = {hd.m, hd.ef_construction, hd.ef_search, hd.seed};
    vdb_hnsw *h;
    if ((rc = vdb_hnsw_new(hd.dim, (vdb_metric)hd.metric, &p, &h, err)) != VDB_OK)
        /* Parameters out of range in a file are damage, not a bad call. */
        return rc == VDB_EINVAL ? corrupt(err) : rc;
    rc = vdb_hnsw__grow(h, hd.n);
    if (rc != VDB_OK) {
        vdb_error_set(err, rc, "hnsw: out of memory for %u rows", hd.n);
        goto fail;
    }
    if ((rc = read_body(h, r, &hd, err)) != VDB_OK)
        goto fail;
    h->entry = ((uint64_t)hd.top << 32) | hd.entry;
    h->count = (size_t)hd.count;
    h->covered = hd.n;
    h->upper_u32 = (size_t)hd.upper_u32;
    if (vdb_hnsw__validate(h, err) != VDB_OK) {
        rc = corrupt(err);
        goto fail;
    }
    if (hd.dim != dim || hd.metric != (uint32_t)metric) {
        rc = vdb_error_set(err, VDB_EINVAL,
                           "hnsw: %s is for dim %u metric %u, not dim %u metric %d", path, hd.dim,
                           hd.metric, dim, (int)metric);
        goto fail;
    }
    *out = h;
    return VDB_OK;
fail:
    vdb_hnsw_free(h);
    return rc;
}

int vdb_hnsw_load(const char *path, uint32_t dim, vdb_metric metric, vdb_hnsw **out,
                  vdb_error *err)
{
    *out = NULL;
    /* The reader holds a 16 KiB buffer: on the heap, since loads run on
     * pool threads too. */
    reader *r = vdb_calloc(1, sizeof(*r));
    if (r == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory loading %s", path);
    r->fd = vdb_fsx_open(path, O_RDONLY, 0, err);
    if (r->fd < 0) {
        int rc = r->fd;
        vdb_free(r);
        return rc;
    }
    r->path = path;
    int rc = load_file(r, path, dim, metric, out, err);
    vdb_fsx_close(r->fd, path, NULL);
    vdb_free(r);
    return rc;
}

int vdb_hnsw_file_check(const char *path, uint32_t *rows, size_t *nodes, vdb_error *err)
{
    unsigned char head[HEADER_BYTES];
    vdb_hnsw *h;
    ssize_t got;
    int fd = vdb_fsx_open(path, O_RDONLY, 0, err);
    if (fd < 0)
        return fd;
    got = vdb_fsx_read(fd, head, sizeof(head), 0, path, err);
    vdb_fsx_close(fd, path, NULL);
    if (got < 0)
        return (int)got;
    if ((size_t)got != sizeof(head) || memcmp(head, magic, 8) != 0)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: %s is not a vdb HNSW file", path);
    /* The loader rejects a metric it does not know, so any value is safe. */
    int rc = vdb_hnsw_load(path, vdb_get32le(head + 16), (vdb_metric)vdb_get32le(head + 20), &h,
                           err);
    if (rc != VDB_OK)
        return rc;
    if (rows != NULL)
        *rows = vdb_hnsw_rows(h);
    if (nodes != NULL)
        *nodes = vdb_hnsw_count(h);
    vdb_hnsw_free(h);
    return VDB_OK;
}
