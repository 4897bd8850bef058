/* metadata.jsonl writer and reader; see meta.h.
 *
 * FILE FORMAT: UTF-8 text, one line per row, each terminated by '\n':
 *   {"id":"<id as a JSON string>","metadata":<object text or null>}
 * The id is escaped (", \ and control characters; other UTF-8 bytes as
 * they are); the metadata is the exact text the client's object was stored
 * as. No blank lines. The snapshot manifest (store.json) records the line
 * count, the byte size and the CRC32 of the file.
 *
 * Why a hand-written fast path: a 1,000,000-row store has a 50-100 MB file,
 * and running every line through a general JSON parser costs more than the
 * whole open budget; the fast path decodes only the id and slices the
 * metadata text in place, after the CRC proved the bytes are what vdb
 * wrote. */
#include "meta.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/json.h"
#include "../core/crc.h"

#define BUF_SIZE (1u << 20)

typedef struct lwriter {
    int fd;
    const char *path;
    char *buf;
    size_t used;
    uint64_t size;
    uint32_t crc;
    vdb_error *err;
    vdb_fsx_pacer pacer; /* a snapshot's metadata is written beside the WAL too */
} lwriter;

static int lflush(lwriter *w)
{
    int rc = VDB_OK;
    if (w->used > 0) {
        w->crc = vdb_crc32(w->crc, w->buf, w->used);
        rc = vdb_fsx_write(w->fd, w->buf, w->used, -1, w->path, w->err);
    }
    w->used = 0;
    if (rc == VDB_OK)
        vdb_fsx_pacer_advance(&w->pacer, w->size);
    return rc;
}

static int lput(lwriter *w, const char *s, size_t len)
{
    while (len > 0) {
        size_t take = BUF_SIZE - w->used < len ? BUF_SIZE - w->used : len;
        int rc;
        memcpy(w->buf + w->used, s, take);
        w->used += take;
        w->size += take;
        s += take;
        len -= take;
        if (w->used == BUF_SIZE && (rc = lflush(w)) != VDB_OK)
            return rc;
    }
    return VDB_OK;
}

static int put_escaped(lwriter *w, const char *s)
{
    int rc = VDB_OK;
    const char *run = s;
    for (; *s && rc == VDB_OK; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        if ((rc = lput(w, run, (size_t)(s - run))) != VDB_OK)
            return rc;
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        rc = lput(w, esc, strlen(esc));
        run = s + 1;
    }
    return rc == VDB_OK ? lput(w, run, (size_t)(s - run)) : rc;
}

int vdb_meta_write(const char *path, size_t rows, vdb_meta_row_fn row, void *ctx,
                   uint32_t *crc_out, uint64_t *size_out, vdb_error *err)
{
    lwriter w = {.fd = -1, .path = path, .err = err};
    int rc;
    if ((w.buf = vdb_malloc(BUF_SIZE)) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "%s: out of memory", path);
    if ((rc = vdb_fsx_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644, err)) < 0)
        goto cleanup;
    w.fd = rc;
    vdb_fsx_pacer_init(&w.pacer, w.fd, 0);
    rc = VDB_OK;
    for (size_t i = 0; i < rows && rc == VDB_OK; i++) {
        const char *id, *meta;
        row(ctx, i, &id, &meta);
        if ((rc = lput(&w, "{\"id\":\"", 7)) != VDB_OK || (rc = put_escaped(&w, id)) != VDB_OK ||
            (rc = lput(&w, "\",\"metadata\":", 13)) != VDB_OK)
            break;
        rc = meta ? lput(&w, meta, strlen(meta)) : lput(&w, "null", 4);
        if (rc == VDB_OK)
            rc = lput(&w, "}\n", 2);
    }
    if (rc != VDB_OK || (rc = lflush(&w)) != VDB_OK || (rc = vdb_fsx_fsync(w.fd, path, err)) != VDB_OK)
        goto cleanup;
    rc = vdb_fsx_close(w.fd, path, err);
    w.fd = -1;
    if (rc == VDB_OK) {
        *crc_out = w.crc;
        *size_out = w.size;
    }
cleanup:
    if (w.fd >= 0)
        vdb_fsx_close(w.fd, path, NULL);
    vdb_free(w.buf);
    return rc;
}

int vdb_meta_valid_utf8(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t extra;
        unsigned cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += extra + 1;
    }
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the JSON string starting after its opening quote at *p, in place
 * (the decoded form is never longer). Returns the decoded start with a NUL
 * written after it and *p just past the closing quote; NULL when malformed. */
static char *decode_string(char **p, char *end)
{
    char *in = *p, *out = *p, *start = *p;
    while (in < end && *in != '"') {
        unsigned cp;
        if (*in != '\\') {
            *out++ = *in++;
            continue;
        }
        if (++in >= end)
            return NULL;
        switch (*in) {
        case '"': case '\\': case '/':
            *out++ = *in++;
            continue;
        case 'b': *out++ = '\b'; in++; continue;
        case 'f': *out++ = '\f'; in++; continue;
        case 'n': *out++ = '\n'; in++; continue;
        case 'r': *out++ = '\r'; in++; continue;
        case 't': *out++ = '\t'; in++; continue;
        case 'u':
            break;
        default:
            return NULL;
        }
        cp = 0;
        if (end - in < 5)
            return NULL;
        for (int k = 1; k <= 4; k++) {
            int h = hexval(in[k]);
            if (h < 0)
                return NULL;
            cp = cp << 4 | (unsigned)h;
        }
        in += 5;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo = 0;
            if (end - in < 6 || in[0] != '\\' || in[1] != 'u')
                return NULL;
            for (int k = 2; k <= 5; k++) {
                int h = hexval(in[k]);
                if (h < 0)
                    return NULL;
                lo = lo << 4 | (unsigned)h;
            }
            if (lo < 0xDC00 || lo > 0xDFFF)
                return NULL;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            in += 6;
        } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
            return NULL;
        }
        out += put_utf8(out, cp);
    }
    if (in >= end)
        return NULL;
    *out = '\0';
    *p = in + 1;
    return start;
}

/* vdb's own line form; returns 0 and sets id/meta, or -1 when the line is
 * in some other form. `line` is writable and NUL-terminated at `end`. */
static int parse_fast(char *line, char *end, const char **id, const char **meta)
{
    char *p = line + 7;
    if (end - line < 7 || memcmp(line, "{\"id\":\"", 7) != 0)
        return -1;
    if ((*id = decode_string(&p, end)) == NULL)
        return -1;
    if (end - p < 14 || memcmp(p, ",\"metadata\":", 12) != 0 || end[-1] != '}')
        return -1;
    p += 12;
    end[-1] = '\0';
    *meta = (end - 1 - p == 4 && memcmp(p, "null", 4) == 0) ? NULL : p;
    return 0;
}

/* Strings the slow path made, kept until the read ends (the callback may
 * hold on to them that long, like the fast path's in-place slices). */
typedef struct keeper {
    char **items;
    size_t count, cap;
} keeper;

static char *keep(keeper *k, char *s)
{
    if (s == NULL)
        return NULL;
    if (k->count == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        char **items = vdb_realloc(k->items, cap * sizeof(char *));
        if (items == NULL) {
            vdb_free(s);
            return NULL;
        }
        k->items = items;
        k->cap = cap;
    }
    k->items[k->count++] = s;
    return s;
}

static void keeper_free(keeper *k)
{
    for (size_t i = 0; i < k->count; i++)
        vdb_free(k->items[i]);
    vdb_free(k->items);
}

/* Any other JSON spelling of {"id": ..., "metadata": ...}. */
static int parse_slow(const char *line, size_t len, size_t i, keeper *kept, vdb_meta_line_fn fn,
                      void *ctx, vdb_error *err)
{
    vdb_error jerr;
    vdb_json *obj = NULL, *id, *meta;
    char *meta_text = NULL, *id_text, *dumped;
    int rc = vdb_json_parse(line, len, 0, &obj, &jerr);
    if (rc == VDB_ENOMEM)
        return vdb_error_set(err, rc, "line %zu: %s", i + 1, jerr.msg);
    if (rc != VDB_OK)
        return vdb_error_set(err, VDB_ECORRUPT, "line %zu is not JSON (%s)", i + 1, jerr.msg);
    id = vdb_json_object_get(obj, "id");
    meta = vdb_json_object_get(obj, "metadata");
    if (vdb_json_typeof(obj) != VDB_JSON_OBJECT || id == NULL ||
        vdb_json_typeof(id) != VDB_JSON_STRING || vdb_json_object_size(obj) != (meta ? 2u : 1u) ||
        (meta != NULL && vdb_json_typeof(meta) != VDB_JSON_OBJECT &&
         vdb_json_typeof(meta) != VDB_JSON_NULL)) {
        vdb_json_decref(obj);
        return vdb_error_set(err, VDB_ECORRUPT, "line %zu is not {\"id\":...,\"metadata\":...}",
                             i + 1);
    }
    id_text = keep(kept, vdb_strdup(vdb_json_string_value(id)));
    if (id_text != NULL && meta != NULL && vdb_json_typeof(meta) == VDB_JSON_OBJECT) {
        dumped = vdb_json_dump(meta, VDB_JSON_DUMP_COMPACT);
        meta_text = keep(kept, dumped ? vdb_strdup(dumped) : NULL);
        vdb_json_free_text(dumped);
        if (meta_text == NULL)
            id_text = NULL;
    }
    vdb_json_decref(obj);
    if (id_text == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "metadata line %zu: out of memory", i + 1);
    rc = fn(ctx, i, id_text, meta_text, err);
    return rc;
}

static int parse_lines(char *buf, size_t size, size_t rows, const char *path, vdb_meta_line_fn fn,
                       void *ctx, vdb_error *err)
{
    char *p = buf, *limit = buf + size;
    keeper kept = {0};
    size_t i = 0;
    int rc = VDB_OK;
    while (p < limit) {
        char *nl = memchr(p, '\n', (size_t)(limit - p));
        const char *id, *meta;
        if (nl == NULL) {
            rc = vdb_error_set(err, VDB_ECORRUPT, "%s: line %zu (offset %zu) is not terminated",
                               path, i + 1, (size_t)(p - buf));
            break;
        }
        if (i >= rows) {
            rc = vdb_error_set(err, VDB_ECORRUPT, "%s: more than the %zu expected lines", path,
                               rows);
            break;
        }
        *nl = '\0';
        if (parse_fast(p, nl, &id, &meta) == 0)
            rc = fn(ctx, i, id, meta, err);
        else
            rc = parse_slow(p, (size_t)(nl - p), i, &kept, fn, ctx, err);
        if (rc != VDB_OK) {
            if (rc == VDB_ECORRUPT && err != NULL) {
                char msg[VDB_ERROR_MSG_MAX];
                snprintf(msg, sizeof(msg), "%s", err->msg);
                vdb_error_set(err, rc, "%s: offset %zu: %s", path, (size_t)(p - buf), msg);
            }
            break;
        }
        p = nl + 1;
        i++;
    }
    if (rc == VDB_OK && i != rows)
        rc = vdb_error_set(err, VDB_ECORRUPT, "%s: %zu lines, %zu rows expected", path, i, rows);
    keeper_free(&kept);
    return rc;
}

int vdb_meta_read(const char *path, size_t rows, int check, uint64_t size, uint32_t crc,
                  vdb_meta_line_fn line, void *ctx, vdb_error *err)
{
    char *buf = NULL;
    uint64_t actual = 0;
    ssize_t got;
    int fd, rc;
    if ((fd = vdb_fsx_open(path, O_RDONLY | O_NOFOLLOW, 0, err)) < 0)
        return fd;
    if ((rc = vdb_fsx_size(fd, &actual, path, err)) != VDB_OK)
        goto cleanup;
    if (check && actual != size) {
        rc = vdb_error_set(err, VDB_ECORRUPT, "%s: %llu bytes, the manifest says %llu", path,
                           (unsigned long long)actual, (unsigned long long)size);
        goto cleanup;
    }
    if (actual > SIZE_MAX - 1 || (buf = vdb_malloc((size_t)actual + 1)) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "%s: no memory for %llu bytes", path,
                           (unsigned long long)actual);
        goto cleanup;
    }
    if ((got = vdb_fsx_read(fd, buf, (size_t)actual, 0, path, err)) < 0) {
        rc = (int)got;
        goto cleanup;
    }
    if ((uint64_t)got != actual) {
        rc = vdb_error_set(err, VDB_ECORRUPT, "%s: shrank while being read", path);
        goto cleanup;
    }
    if (check && vdb_crc32(0, buf, (size_t)actual) != crc) {
        rc = vdb_error_set(err, VDB_ECORRUPT, "%s: CRC32 does not match the manifest", path);
        goto cleanup;
    }
    buf[actual] = '\0';
    rc = parse_lines(buf, (size_t)actual, rows, path, line, ctx, err);
cleanup:
    vdb_free(buf);
    vdb_fsx_close(fd, path, NULL);
    return rc;
}
