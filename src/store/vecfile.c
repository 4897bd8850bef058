/* vectors.npz writer and reader; the contract is in vecfile.h.
 *
 * FILE FORMAT (a ZIP archive, all integers little-endian; APPNOTE 6.3)
 *
 *   offset 0   local file header of "vectors.npy", 30 bytes:
 *                sig 50 4B 03 04, version needed (20, or 45 with ZIP64),
 *                flags 0, method 0 (stored), time 0, date 0x0021
 *                (1980-01-01: output is deterministic), CRC32 of the member,
 *                compressed size = uncompressed size (0xFFFFFFFF with ZIP64),
 *                name length 11, extra length E
 *              "vectors.npy"
 *              extra field, E bytes: [ZIP64: id 0x0001, len 16, u64
 *                uncompressed size, u64 compressed size] then a padding
 *                record (id 0x6476 "vd", len = what is left, zero bytes) so
 *                that the array data below starts at offset 16384
 *              .npy v1.0 header: \x93NUMPY 01 00, u16 header length, then
 *                "{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }"
 *                space-padded and '\n'-terminated to a multiple of 64 bytes
 *   offset 16384  N*D float32, row-major (the rows as the vecset stores them)
 *   then the local header of "norms.npy" (same shape of header, no
 *     padding), its .npy header ('shape': (N,)) and N float32 norms
 *   central directory: one 46-byte entry per member (version made by
 *     3.45/3.20, external attributes 0644, local header offset; with ZIP64
 *     all three size/offset fields are 0xFFFFFFFF and an extra record id
 *     0x0001 len 24 holds u64 uncompressed, compressed, offset)
 *   [ZIP64 end of central directory record (56 bytes) and locator (20)]
 *   end of central directory record (22 bytes), no comment.
 *
 * The writer streams the rows through a 1 MiB buffer, computing each
 * member's CRC32 as it goes, and patches the CRCs into the local headers at
 * the end (the central directory is written after the data, with them). */
#include "vecfile.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/bytes.h"
#include "../core/fsx.h"
#include "../core/limits.h"
#include "../core/log.h"
#include "../core/npy.h"
#include "../core/crc.h"

#define BUF_SIZE (1u << 20)
#define LFH_SIZE 30
#define CDH_SIZE 46
#define EOCD_SIZE 22
#define EOCD64_SIZE 56
#define LOC64_SIZE 20
#define PAD_ID 0x6476u
#define NPY_MAX_HEADER 4096u
#define U32_MAX_FIELD 0xFFFFFFFFu

typedef struct zwriter {
    int fd;
    const char *path;
    unsigned char *buf;
    size_t used;
    uint64_t off; /* bytes written so far (file offset of buf[used]) */
    uint64_t written;     /* bytes handed to the file */
    vdb_fsx_pacer pacer;  /* writes them back as it goes (fsx.h) */
    uint32_t crc;
    vdb_error *err;
} zwriter;

/* A snapshot is written beside live writers (issue 13): pushing it to the
 * disk a few ms of writeback at a time keeps its dirty pages few, so the
 * writers' WAL fsyncs do not queue behind it (fsx.h: vdb_fsx_pacer). */

static int zflush(zwriter *w)
{
    int rc = VDB_OK;
    if (w->used > 0)
        rc = vdb_fsx_write(w->fd, w->buf, w->used, -1, w->path, w->err);
    w->written += w->used;
    w->used = 0;
    if (rc == VDB_OK)
        vdb_fsx_pacer_advance(&w->pacer, w->written);
    return rc;
}

static int zput(zwriter *w, const void *data, size_t len, int crc)
{
    const unsigned char *p = data;
    if (crc)
        w->crc = vdb_crc32(w->crc, data, len);
    w->off += len;
    while (len > 0) {
        size_t take = BUF_SIZE - w->used < len ? BUF_SIZE - w->used : len;
        int rc;
        memcpy(w->buf + w->used, p, take);
        w->used += take;
        p += take;
        len -= take;
        if (w->used == BUF_SIZE && (rc = zflush(w)) != VDB_OK)
            return rc;
    }
    return VDB_OK;
}

static int zzero(zwriter *w, size_t len)
{
    static const unsigned char zeros[256];
    while (len > 0) {
        size_t take = len < sizeof(zeros) ? len : sizeof(zeros);
        int rc = zput(w, zeros, take, 0);
        if (rc != VDB_OK)
            return rc;
        len -= take;
    }
    return VDB_OK;
}

typedef struct member {
    const char *name;
    uint64_t header_off; /* local header */
    uint64_t size;       /* member bytes: npy header + data */
    uint32_t crc;
} member;

/* Local header (CRC patched later) with `extra` bytes of extra field. */
static int put_local(zwriter *w, const member *m, int zip64, size_t extra)
{
    unsigned char h[LFH_SIZE + 20];
    size_t name_len = strlen(m->name);
    int rc;
    memset(h, 0, sizeof(h));
    vdb_put32le(h, 0x04034b50u);
    vdb_put16le(h + 4, zip64 ? 45 : 20);
    vdb_put16le(h + 12, 0x0021);
    vdb_put32le(h + 18, zip64 ? U32_MAX_FIELD : (uint32_t)m->size);
    vdb_put32le(h + 22, zip64 ? U32_MAX_FIELD : (uint32_t)m->size);
    vdb_put16le(h + 26, (uint32_t)name_len);
    vdb_put16le(h + 28, (uint32_t)extra);
    if ((rc = zput(w, h, LFH_SIZE, 0)) != VDB_OK || (rc = zput(w, m->name, name_len, 0)) != VDB_OK)
        return rc;
    if (zip64) {
        vdb_put16le(h, 1);
        vdb_put16le(h + 2, 16);
        vdb_put64le(h + 4, m->size);
        vdb_put64le(h + 12, m->size);
        if ((rc = zput(w, h, 20, 0)) != VDB_OK)
            return rc;
        extra -= 20;
    }
    if (extra > 0) {
        if (extra < 4)
            return vdb_error_set(w->err, VDB_EINTERNAL, "npz padding of %zu bytes", extra);
        vdb_put16le(h, PAD_ID);
        vdb_put16le(h + 2, (uint32_t)(extra - 4));
        if ((rc = zput(w, h, 4, 0)) != VDB_OK || (rc = zzero(w, extra - 4)) != VDB_OK)
            return rc;
    }
    return VDB_OK;
}

static int put_central(zwriter *w, const member *members, int count, int zip64)
{
    uint64_t cd_off = w->off;
    unsigned char h[CDH_SIZE + 28];
    int rc;
    for (int i = 0; i < count; i++) {
        const member *m = &members[i];
        size_t name_len = strlen(m->name);
        memset(h, 0, sizeof(h));
        vdb_put32le(h, 0x02014b50u);
        vdb_put16le(h + 4, (3u << 8) | (zip64 ? 45u : 20u));
        vdb_put16le(h + 6, zip64 ? 45 : 20);
        vdb_put16le(h + 14, 0x0021);
        vdb_put32le(h + 16, m->crc);
        vdb_put32le(h + 20, zip64 ? U32_MAX_FIELD : (uint32_t)m->size);
        vdb_put32le(h + 24, zip64 ? U32_MAX_FIELD : (uint32_t)m->size);
        vdb_put16le(h + 28, (uint32_t)name_len);
        vdb_put16le(h + 30, zip64 ? 28 : 0);
        vdb_put32le(h + 38, 0100644u << 16);
        vdb_put32le(h + 42, zip64 ? U32_MAX_FIELD : (uint32_t)m->header_off);
        if ((rc = zput(w, h, CDH_SIZE, 0)) != VDB_OK ||
            (rc = zput(w, m->name, name_len, 0)) != VDB_OK)
            return rc;
        if (zip64) {
            vdb_put16le(h, 1);
            vdb_put16le(h + 2, 24);
            vdb_put64le(h + 4, m->size);
            vdb_put64le(h + 12, m->size);
            vdb_put64le(h + 20, m->header_off);
            if ((rc = zput(w, h, 28, 0)) != VDB_OK)
                return rc;
        }
    }
    uint64_t cd_size = w->off - cd_off;
    if (zip64) {
        uint64_t eocd64_off = w->off;
        unsigned char e[EOCD64_SIZE + LOC64_SIZE];
        memset(e, 0, sizeof(e));
        vdb_put32le(e, 0x06064b50u);
        vdb_put64le(e + 4, EOCD64_SIZE - 12);
        vdb_put16le(e + 12, (3u << 8) | 45u);
        vdb_put16le(e + 14, 45);
        vdb_put64le(e + 24, (uint64_t)count);
        vdb_put64le(e + 32, (uint64_t)count);
        vdb_put64le(e + 40, cd_size);
        vdb_put64le(e + 48, cd_off);
        vdb_put32le(e + 56, 0x07064b50u);
        vdb_put64le(e + 64, eocd64_off);
        vdb_put32le(e + 72, 1);
        if ((rc = zput(w, e, sizeof(e), 0)) != VDB_OK)
            return rc;
    }
    memset(h, 0, EOCD_SIZE);
    vdb_put32le(h, 0x06054b50u);
    vdb_put16le(h + 8, (uint32_t)count);
    vdb_put16le(h + 10, (uint32_t)count);
    vdb_put32le(h + 12, zip64 ? U32_MAX_FIELD : (uint32_t)cd_size);
    vdb_put32le(h + 16, zip64 ? U32_MAX_FIELD : (uint32_t)cd_off);
    return zput(w, h, EOCD_SIZE, 0);
}

static int patch_crc(zwriter *w, const member *m)
{
    unsigned char c[4];
    vdb_put32le(c, m->crc);
    return vdb_fsx_write(w->fd, c, 4, (off_t)(m->header_off + 14), w->path, w->err);
}

int vdb_vecfile_write(const char *path, uint32_t dim, size_t rows, vdb_vecfile_row_fn row,
                      void *ctx, int flags, vdb_error *err)
{
    zwriter w = {.fd = -1, .path = path, .err = err};
    member members[2] = {{.name = "vectors.npy"}, {.name = "norms.npy"}};
    char h1[256], h2[256];
    size_t h1_len = vdb_npy_build(h1, sizeof h1, "<f4", rows, dim, 2),
           h2_len = vdb_npy_build(h2, sizeof h2, "<f4", rows, 1, 1);
    size_t data_bytes, norm_bytes, extra1;
    float *norms = NULL;
    int zip64, rc;
    if (vdb_mul_size(rows, (size_t)dim * sizeof(float), &data_bytes) != 0 ||
        vdb_mul_size(rows, sizeof(float), &norm_bytes) != 0)
        return vdb_error_set(err, VDB_ERANGE, "%zu x %u vectors overflow", rows, dim);
    members[0].size = h1_len + data_bytes;
    members[1].header_off = VDB_VECFILE_DATA_ALIGN + (uint64_t)data_bytes;
    members[1].size = h2_len + norm_bytes;
    zip64 = (flags & VDB_VECFILE_FORCE_ZIP64) || members[0].size >= U32_MAX_FIELD ||
            members[1].header_off + LFH_SIZE + 40 + members[1].size >= U32_MAX_FIELD;
    extra1 = VDB_VECFILE_DATA_ALIGN - LFH_SIZE - strlen(members[0].name) - h1_len;
    w.buf = vdb_malloc(BUF_SIZE);
    norms = vdb_malloc(norm_bytes ? norm_bytes : 1);
    if (w.buf == NULL || norms == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if ((rc = vdb_fsx_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644, err)) < 0)
        goto cleanup;
    w.fd = rc;
    vdb_fsx_pacer_init(&w.pacer, w.fd, 0);
    if ((rc = put_local(&w, &members[0], zip64, extra1)) != VDB_OK ||
        (rc = zput(&w, h1, h1_len, 1)) != VDB_OK)
        goto cleanup;
    for (size_t i = 0; i < rows; i++) {
        const float *v = row(ctx, i, &norms[i]);
        if ((rc = zput(&w, v, (size_t)dim * sizeof(float), 1)) != VDB_OK)
            goto cleanup;
    }
    members[0].crc = w.crc;
    w.crc = 0;
    if ((rc = put_local(&w, &members[1], zip64, zip64 ? 20 : 0)) != VDB_OK ||
        (rc = zput(&w, h2, h2_len, 1)) != VDB_OK || (rc = zput(&w, norms, norm_bytes, 1)) != VDB_OK)
        goto cleanup;
    members[1].crc = w.crc;
    if ((rc = put_central(&w, members, 2, zip64)) != VDB_OK || (rc = zflush(&w)) != VDB_OK ||
        (rc = patch_crc(&w, &members[0])) != VDB_OK || (rc = patch_crc(&w, &members[1])) != VDB_OK ||
        (rc = vdb_fsx_fsync(w.fd, path, err)) != VDB_OK)
        goto cleanup;
    rc = vdb_fsx_close(w.fd, path, err);
    w.fd = -1;
    /* What the pacing chose on this disk (BENCHMARKS.md, issue 13). */
    vdb_log_debug("%s: %llu MiB written back in %llu windows (last %llu KiB, %.0f MB/s), "
                  "%.0f ms waited", path, (unsigned long long)(w.written >> 20),
                  (unsigned long long)w.pacer.windows,
                  (unsigned long long)(w.pacer.window >> 10), w.pacer.rate / 1e3,
                  w.pacer.wait_ms);
cleanup:
    if (w.fd >= 0)
        vdb_fsx_close(w.fd, path, NULL);
    vdb_free(norms);
    vdb_free(w.buf);
    return rc;
}

/* ---- reader ---- */

typedef struct array_loc {
    uint64_t member_off;  /* member data start */
    uint64_t member_size;
    uint64_t data_off;    /* array data start */
    uint32_t crc;
    size_t shape[2];
    int ndim;
} array_loc;

struct vdb_vecfile {
    const unsigned char *mem; /* buffer mode (vdb_vecfile_open_buffer): no fd */
    int fd;
    char *path;
    uint64_t size;
    array_loc vectors;
    array_loc norms;
    int has_norms;
};

static int corrupt(vdb_vecfile *f, vdb_error *err, const char *what, uint64_t off)
{
    return vdb_error_set(err, VDB_ECORRUPT, "%s: %s (offset %llu)", f->path, what,
                         (unsigned long long)off);
}

static int read_at(vdb_vecfile *f, void *buf, size_t len, uint64_t off, vdb_error *err)
{
    ssize_t got;
    if (off > f->size || len > f->size - off)
        return corrupt(f, err, "structure runs past the end of the file", off);
    if (f->mem != NULL) {
        memcpy(buf, f->mem + off, len);
        return VDB_OK;
    }
    got = vdb_fsx_read(f->fd, buf, len, (off_t)off, f->path, err);
    if (got < 0)
        return (int)got;
    if ((size_t)got != len)
        return corrupt(f, err, "file shorter than expected", off);
    return VDB_OK;
}

/* Parses the .npy header at the member start (core/npy); fills data_off and
 * shape. Only '<f4' is a store's dtype. */
static int parse_npy(vdb_vecfile *f, array_loc *a, vdb_error *err)
{
    unsigned char pre[VDB_NPY_PREAMBLE_MAX], *head;
    size_t data_off;
    vdb_npy_info info;
    vdb_error perr;
    int rc;
    if (a->member_size < VDB_NPY_PREAMBLE_MAX)
        return corrupt(f, err, "member too small for .npy", a->member_off);
    if ((rc = read_at(f, pre, sizeof pre, a->member_off, err)) != VDB_OK)
        return rc;
    if (vdb_npy_header_len(pre, sizeof pre, &data_off, &perr) != VDB_OK)
        return corrupt(f, err, perr.msg, a->member_off);
    if (data_off > NPY_MAX_HEADER || data_off > a->member_size)
        return corrupt(f, err, ".npy header length out of range", a->member_off);
    head = vdb_malloc(data_off);
    if (head == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory reading an .npy header");
    rc = read_at(f, head, data_off, a->member_off, err);
    if (rc == VDB_OK && vdb_npy_parse(head, data_off, &info, &perr) != VDB_OK)
        rc = corrupt(f, err, perr.msg, a->member_off);
    vdb_free(head);
    if (rc != VDB_OK)
        return rc;
    if (info.dtype != VDB_NPY_F4)
        return corrupt(f, err, "dtype is not little-endian float32 ('<f4')", a->member_off);
    a->ndim = info.ndim;
    a->shape[0] = info.shape[0];
    a->shape[1] = info.shape[1];
    a->data_off = a->member_off + data_off;
    return VDB_OK;
}

/* Finds the end of central directory; fills the directory's offset, size
 * and entry count (following the ZIP64 locator when present). */
static int find_directory(vdb_vecfile *f, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count,
                          vdb_error *err)
{
    unsigned char *tail, loc[LOC64_SIZE], e64[EOCD64_SIZE];
    size_t len = f->size < EOCD_SIZE + 0xFFFF ? (size_t)f->size : EOCD_SIZE + 0xFFFF;
    uint64_t base = f->size - len, eocd = UINT64_MAX;
    int rc;
    if (f->size < EOCD_SIZE)
        return corrupt(f, err, "too small to be a ZIP archive", 0);
    /* The record sits within the last 64 KiB + 22 bytes (max comment). */
    if ((tail = vdb_malloc(len)) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "vecfile: out of memory");
    if ((rc = read_at(f, tail, len, base, err)) != VDB_OK) {
        vdb_free(tail);
        return rc;
    }
    for (size_t i = len - EOCD_SIZE + 1; i-- > 0;) {
        if (vdb_get32le(tail + i) == 0x06054b50u) {
            eocd = base + i;
            break;
        }
    }
    if (eocd != UINT64_MAX) {
        *count = vdb_get16le(tail + (eocd - base) + 10);
        *cd_size = vdb_get32le(tail + (eocd - base) + 12);
        *cd_off = vdb_get32le(tail + (eocd - base) + 16);
    }
    vdb_free(tail);
    if (eocd == UINT64_MAX)
        return corrupt(f, err, "no ZIP end-of-central-directory record", f->size);
    if (*cd_off != U32_MAX_FIELD && *cd_size != U32_MAX_FIELD && *count != 0xFFFF)
        return VDB_OK;
    if (eocd < LOC64_SIZE + EOCD64_SIZE ||
        (rc = read_at(f, loc, LOC64_SIZE, eocd - LOC64_SIZE, err)) != VDB_OK ||
        vdb_get32le(loc) != 0x07064b50u)
        return corrupt(f, err, "ZIP64 locator missing", eocd);
    if ((rc = read_at(f, e64, EOCD64_SIZE, vdb_get64le(loc + 8), err)) != VDB_OK)
        return rc;
    if (vdb_get32le(e64) != 0x06064b50u)
        return corrupt(f, err, "bad ZIP64 end-of-central-directory record", vdb_get64le(loc + 8));
    *count = vdb_get64le(e64 + 32);
    *cd_size = vdb_get64le(e64 + 40);
    *cd_off = vdb_get64le(e64 + 48);
    return VDB_OK;
}

/* Reads the ZIP64 extra field of a central directory entry. */
static void zip64_extra(const unsigned char *x, size_t len, uint64_t *usize, uint64_t *csize,
                        uint64_t *off)
{
    while (len >= 4) {
        uint32_t id = vdb_get16le(x), sz = vdb_get16le(x + 2);
        if (sz > len - 4)
            return;
        if (id == 1) {
            const unsigned char *v = x + 4;
            size_t left = sz;
            uint64_t *fields[3] = {usize, csize, off};
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != U32_MAX_FIELD)
                    continue;
                if (left < 8)
                    return;
                *fields[i] = vdb_get64le(v);
                v += 8;
                left -= 8;
            }
            return;
        }
        x += 4 + sz;
        len -= 4 + sz;
    }
}

static int locate_member(vdb_vecfile *f, const unsigned char *cd, size_t cd_len, uint64_t count,
                         const char *name, array_loc *a, vdb_error *err)
{
    size_t pos = 0, name_len = strlen(name);
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *h = cd + pos;
        uint64_t usize, csize, off;
        size_t n, x, c;
        unsigned char lfh[LFH_SIZE];
        int rc;
        if (cd_len - pos < CDH_SIZE || vdb_get32le(h) != 0x02014b50u)
            return corrupt(f, err, "bad central directory entry", pos);
        n = vdb_get16le(h + 28);
        x = vdb_get16le(h + 30);
        c = vdb_get16le(h + 32);
        if (CDH_SIZE + n + x + c > cd_len - pos)
            return corrupt(f, err, "central directory entry overruns", pos);
        pos += CDH_SIZE + n + x + c;
        if (n != name_len || memcmp(h + CDH_SIZE, name, n) != 0)
            continue;
        if (vdb_get16le(h + 10) != 0)
            return corrupt(f, err, "member is compressed; only stored npz members are read", 0);
        csize = vdb_get32le(h + 20);
        usize = vdb_get32le(h + 24);
        off = vdb_get32le(h + 42);
        zip64_extra(h + CDH_SIZE + n, x, &usize, &csize, &off);
        if (csize != usize)
            return corrupt(f, err, "stored member sizes differ", off);
        /* Offsets and sizes come from the file: every sum is checked
         * against the file size before it is formed, so none can wrap. */
        if (off > f->size || f->size - off < LFH_SIZE)
            return corrupt(f, err, "local file header out of range", off);
        if ((rc = read_at(f, lfh, LFH_SIZE, off, err)) != VDB_OK)
            return rc;
        if (vdb_get32le(lfh) != 0x04034b50u)
            return corrupt(f, err, "bad local file header", off);
        a->member_off = off + LFH_SIZE + vdb_get16le(lfh + 26) + vdb_get16le(lfh + 28); /* <= size + 128 KiB */
        a->member_size = usize;
        a->crc = vdb_get32le(h + 16);
        if (a->member_off > f->size || a->member_size > f->size - a->member_off)
            return corrupt(f, err, "member data runs past the end of the file", off);
        return parse_npy(f, a, err);
    }
    return VDB_ENOTFOUND;
}

static int check_array(vdb_vecfile *f, array_loc *a, int ndim, vdb_error *err)
{
    size_t bytes;
    if (a->ndim != ndim)
        return corrupt(f, err, ndim == 2 ? "vectors are not 2-D" : "norms are not 1-D",
                       a->member_off);
    /* Rows and the dimension are used as uint32 by the vecset: larger
     * values would be truncated by the casts, not rejected. */
    if (a->shape[0] > UINT32_MAX || (ndim == 2 && (a->shape[1] == 0 || a->shape[1] > UINT32_MAX)))
        return corrupt(f, err, "array shape out of range", a->member_off);
    /* No store has more dimensions; a reader that sizes per-dimension
     * buffers from an accepted file (an upload, an import) must not be
     * asked for gigabytes by a header with zero rows. */
    if (ndim == 2 && a->shape[1] > VDB_MAX_DIM)
        return vdb_error_set(err, VDB_ECORRUPT, "%s: dimension %llu above the limit of %u",
                             f->path, (unsigned long long)a->shape[1], VDB_MAX_DIM);
    /* data_off - member_off <= member_size holds (parse_npy checked the
     * header against the member); compare by subtraction so that a huge
     * byte count cannot wrap the sum. */
    if (vdb_mul_size(a->shape[0], ndim == 2 ? a->shape[1] : 1, &bytes) != 0 ||
        vdb_mul_size(bytes, sizeof(float), &bytes) != 0 ||
        bytes > a->member_size - (a->data_off - a->member_off))
        return corrupt(f, err, "array data larger than its member", a->member_off);
    return VDB_OK;
}

static int open_members(vdb_vecfile *f, vdb_error *err);

/* A bare .npy (the whole file is the one 2-D array, nothing after it) or
 * an .npz. */
static int open_any(vdb_vecfile *f, vdb_error *err)
{
    unsigned char magic[6];
    int rc;
    if (f->size < 6 || read_at(f, magic, 6, 0, NULL) != VDB_OK || memcmp(magic, "\x93NUMPY", 6) != 0)
        return open_members(f, err);
    f->vectors.member_off = 0;
    f->vectors.member_size = f->size;
    if ((rc = parse_npy(f, &f->vectors, err)) != VDB_OK ||
        (rc = check_array(f, &f->vectors, 2, err)) != VDB_OK)
        return rc;
    if (f->vectors.data_off + f->vectors.shape[0] * f->vectors.shape[1] * sizeof(float) != f->size)
        return corrupt(f, err, "file size does not match the array shape", f->vectors.data_off);
    return VDB_OK;
}

int vdb_vecfile_open(const char *path, vdb_vecfile **out, vdb_error *err)
{
    vdb_vecfile *f = vdb_calloc(1, sizeof(*f));
    int rc;
    if (f == NULL || (f->path = vdb_strdup(path)) == NULL) {
        vdb_free(f);
        return vdb_error_set(err, VDB_ENOMEM, "vecfile: out of memory");
    }
    f->fd = -1;
    if ((rc = vdb_fsx_open(path, O_RDONLY | O_NOFOLLOW, 0, err)) < 0)
        goto fail;
    f->fd = rc;
    if ((rc = vdb_fsx_size(f->fd, &f->size, path, err)) != VDB_OK ||
        (rc = open_any(f, err)) != VDB_OK)
        goto fail;
    *out = f;
    return VDB_OK;
fail:
    vdb_vecfile_close(f);
    return rc;
}

int vdb_vecfile_open_buffer(const void *data, size_t len, const char *name, vdb_vecfile **out,
                            vdb_error *err)
{
    *out = NULL;
    vdb_vecfile *f = vdb_calloc(1, sizeof(*f));
    if (f == NULL || (f->path = vdb_strdup(name)) == NULL) {
        vdb_free(f);
        return vdb_error_set(err, VDB_ENOMEM, "vecfile: out of memory");
    }
    f->fd = -1;
    f->mem = data;
    f->size = len;
    int rc = open_any(f, err);
    if (rc != VDB_OK) {
        vdb_vecfile_close(f);
        return rc;
    }
    *out = f;
    return VDB_OK;
}

/* Reads the ZIP directory and the vectors.npy (and optional norms.npy)
 * headers, from the file or the buffer. */
static int open_members(vdb_vecfile *f, vdb_error *err)
{
    unsigned char *cd = NULL;
    uint64_t cd_off = 0, cd_size = 0, count = 0;
    int rc;
    if ((rc = find_directory(f, &cd_off, &cd_size, &count, err)) != VDB_OK)
        goto fail;
    if (cd_size > (64u << 20) || cd_off > f->size || cd_size > f->size - cd_off) {
        rc = corrupt(f, err, "central directory out of range", cd_off);
        goto fail;
    }
    if ((cd = vdb_malloc(cd_size ? (size_t)cd_size : 1)) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "vecfile: out of memory");
        goto fail;
    }
    if ((rc = read_at(f, cd, (size_t)cd_size, cd_off, err)) != VDB_OK)
        goto fail;
    rc = locate_member(f, cd, (size_t)cd_size, count, "vectors.npy", &f->vectors, err);
    if (rc == VDB_ENOTFOUND)
        rc = corrupt(f, err, "no vectors.npy member", cd_off);
    if (rc != VDB_OK || (rc = check_array(f, &f->vectors, 2, err)) != VDB_OK)
        goto fail;
    rc = locate_member(f, cd, (size_t)cd_size, count, "norms.npy", &f->norms, err);
    if (rc == VDB_OK) {
        if ((rc = check_array(f, &f->norms, 1, err)) != VDB_OK)
            goto fail;
        if (f->norms.shape[0] != f->vectors.shape[0]) {
            rc = corrupt(f, err, "norms and vectors disagree on the row count", f->norms.member_off);
            goto fail;
        }
        f->has_norms = 1;
    } else if (rc != VDB_ENOTFOUND) {
        goto fail;
    }
    vdb_free(cd);
    return VDB_OK;
fail:
    vdb_free(cd);
    return rc;
}

void vdb_vecfile_close(vdb_vecfile *f)
{
    if (f == NULL)
        return;
    vdb_fsx_close(f->fd, f->path, NULL);
    vdb_free(f->path);
    vdb_free(f);
}

size_t vdb_vecfile_rows(const vdb_vecfile *f) { return f->vectors.shape[0]; }
uint32_t vdb_vecfile_dim(const vdb_vecfile *f) { return (uint32_t)f->vectors.shape[1]; }
int vdb_vecfile_has_norms(const vdb_vecfile *f) { return f->has_norms; }
int vdb_vecfile_fd(const vdb_vecfile *f) { return f->fd; }
uint64_t vdb_vecfile_data_offset(const vdb_vecfile *f) { return f->vectors.data_off; }

const float *vdb_vecfile_buffer_rows(const vdb_vecfile *f)
{
    /* open_any checked that the data lies inside the buffer. */
    const unsigned char *at = f->mem != NULL ? f->mem + f->vectors.data_off : NULL;
    if (at == NULL || (uintptr_t)at % _Alignof(float) != 0)
        return NULL;
    return (const float *)(const void *)at;
}

static int read_array(vdb_vecfile *f, const array_loc *a, size_t width, size_t first,
                      size_t count, float *out, vdb_error *err)
{
    if (first > a->shape[0] || count > a->shape[0] - first)
        return vdb_error_set(err, VDB_ERANGE, "%s: rows %zu..%zu out of %zu", f->path, first,
                             first + count, a->shape[0]);
    return read_at(f, out, count * width * sizeof(float),
                   a->data_off + (uint64_t)first * width * sizeof(float), err);
}

int vdb_vecfile_read_rows(vdb_vecfile *f, size_t first, size_t count, float *out, vdb_error *err)
{
    return read_array(f, &f->vectors, f->vectors.shape[1], first, count, out, err);
}

int vdb_vecfile_read_norms(vdb_vecfile *f, size_t first, size_t count, float *out,
                           vdb_error *err)
{
    if (!f->has_norms)
        return vdb_error_set(err, VDB_ENOTFOUND, "%s: no norms.npy member", f->path);
    return read_array(f, &f->norms, 1, first, count, out, err);
}

static int verify_member(vdb_vecfile *f, const array_loc *a, unsigned char *buf, vdb_error *err)
{
    uint32_t crc = 0;
    for (uint64_t done = 0; done < a->member_size;) {
        size_t take = a->member_size - done < BUF_SIZE ? (size_t)(a->member_size - done) : BUF_SIZE;
        int rc = read_at(f, buf, take, a->member_off + done, err);
        if (rc != VDB_OK)
            return rc;
        crc = vdb_crc32(crc, buf, take);
        done += take;
    }
    if (crc != a->crc)
        return corrupt(f, err, "member CRC32 mismatch", a->member_off);
    return VDB_OK;
}

int vdb_vecfile_verify(vdb_vecfile *f, vdb_error *err)
{
    unsigned char *buf = vdb_malloc(BUF_SIZE);
    int rc;
    if (buf == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "vecfile: out of memory");
    rc = verify_member(f, &f->vectors, buf, err);
    if (rc == VDB_OK && f->has_norms)
        rc = verify_member(f, &f->norms, buf, err);
    vdb_free(buf);
    return rc;
}
