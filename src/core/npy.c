/* .npy header codec; see npy.h. The dictionary is a Python literal; we do
 * not evaluate it, we look for the three keys numpy always writes and parse
 * each value strictly, so a header numpy would read differently (a
 * big-endian dtype, Fortran order, a third dimension) is refused rather than
 * misread. */
#include "npy.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"

int vdb_npy_header_len(const unsigned char *buf, size_t len, size_t *data_off, vdb_error *err)
{
    size_t dict_len, pre;
    if (len < 10)
        return vdb_error_set(err, VDB_EINVAL, ".npy header is truncated");
    if (memcmp(buf, "\x93NUMPY", 6) != 0)
        return vdb_error_set(err, VDB_EINVAL, "not an .npy array (bad magic)");
    if (buf[6] == 1) {
        dict_len = vdb_get16le(buf + 8);
        pre = 10;
    } else if (buf[6] == 2 || buf[6] == 3) {
        if (len < 12)
            return vdb_error_set(err, VDB_EINVAL, ".npy header is truncated");
        dict_len = vdb_get32le(buf + 8);
        pre = 12;
    } else {
        return vdb_error_set(err, VDB_EINVAL, "unsupported .npy version %u", buf[6]);
    }
    if (dict_len == 0 || dict_len > VDB_NPY_MAX_DICT)
        return vdb_error_set(err, VDB_EINVAL, ".npy header length %zu out of range", dict_len);
    *data_off = pre + dict_len;
    return VDB_OK;
}

static const char *skip_spaces(const char *s, const char *end)
{
    while (s < end && *s == ' ')
        s++;
    return s;
}

/* Finds `key` (with its quotes and colon) in the dictionary; returns the
 * first byte of its value, or NULL. */
static const char *find_key(const char *dict, const char *end, const char *key)
{
    size_t klen = strlen(key);
    for (const char *s = dict; s + klen <= end; s++)
        if (memcmp(s, key, klen) == 0)
            return skip_spaces(s + klen, end);
    return NULL;
}

/* "(N, D)", "(N, D,)", "(N,)". */
static int parse_shape(const char *s, const char *end, vdb_npy_info *info)
{
    info->ndim = 0;
    if (s >= end || *s++ != '(')
        return -1;
    for (;;) {
        unsigned long long v = 0;
        int digits = 0;
        s = skip_spaces(s, end);
        if (s < end && *s == ')')
            break;
        while (s < end && *s >= '0' && *s <= '9' && digits < 19) {
            v = v * 10 + (unsigned long long)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || info->ndim == 2 || v > SIZE_MAX)
            return -1;
        info->shape[info->ndim++] = (size_t)v;
        s = skip_spaces(s, end);
        if (s < end && *s == ',')
            s++;
        else if (s >= end || *s != ')')
            return -1;
    }
    if (info->ndim == 0)
        return -1;
    if (info->ndim == 1)
        info->shape[1] = 1;
    return 0;
}

int vdb_npy_parse(const unsigned char *buf, size_t len, vdb_npy_info *info, vdb_error *err)
{
    size_t data_off;
    vdb_npy_info out;
    const char *dict, *end, *v;
    int rc = vdb_npy_header_len(buf, len, &data_off, err);
    if (rc != VDB_OK)
        return rc;
    if (data_off > len)
        return vdb_error_set(err, VDB_EINVAL, ".npy header is truncated");
    dict = (const char *)buf + (buf[6] == 1 ? 10 : 12);
    end = (const char *)buf + data_off;
    if (memchr(dict, '\0', (size_t)(end - dict)) != NULL)
        return vdb_error_set(err, VDB_EINVAL, ".npy header holds a NUL byte");
    memset(&out, 0, sizeof out);
    if ((v = find_key(dict, end, "'descr':")) == NULL)
        return vdb_error_set(err, VDB_EINVAL, ".npy header lacks 'descr'");
    if (end - v >= 5 && memcmp(v, "'<f4'", 5) == 0)
        out.dtype = VDB_NPY_F4, out.item_size = 4;
    else if (end - v >= 5 && memcmp(v, "'<f8'", 5) == 0)
        out.dtype = VDB_NPY_F8, out.item_size = 8;
    else if (end - v >= 5 && memcmp(v, "'<i4'", 5) == 0)
        out.dtype = VDB_NPY_I4, out.item_size = 4;
    else
        return vdb_error_set(err, VDB_EINVAL,
                             "dtype must be little-endian float32 ('<f4'), float64 or int32");
    if ((v = find_key(dict, end, "'fortran_order':")) == NULL)
        return vdb_error_set(err, VDB_EINVAL, ".npy header lacks 'fortran_order'");
    if (end - v < 5 || memcmp(v, "False", 5) != 0)
        return vdb_error_set(err, VDB_EINVAL, "array must be in C order (fortran_order False)");
    if ((v = find_key(dict, end, "'shape':")) == NULL)
        return vdb_error_set(err, VDB_EINVAL, ".npy header lacks 'shape'");
    if (parse_shape(v, end, &out) != 0)
        return vdb_error_set(err, VDB_EINVAL, "shape must be (N,) or (N, D)");
    out.data_off = data_off;
    *info = out;
    return VDB_OK;
}

size_t vdb_npy_build(char *out, size_t cap, const char *descr, size_t rows, size_t cols, int ndim)
{
    char dict[160];
    int n = ndim == 2 ? snprintf(dict, sizeof dict,
                                 "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }",
                                 descr, rows, cols)
                      : snprintf(dict, sizeof dict,
                                 "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }",
                                 descr, rows);
    size_t total, dict_len;
    if (n < 0 || (size_t)n >= sizeof dict)
        return 0;
    total = (10 + (size_t)n + 1 + 63) & ~(size_t)63; /* + '\n', padded to 64 */
    if (total > cap)
        return 0;
    dict_len = total - 10;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    vdb_put16le((unsigned char *)out + 8, (uint32_t)dict_len);
    memcpy(out + 10, dict, (size_t)n);
    memset(out + 10 + n, ' ', dict_len - (size_t)n - 1);
    out[total - 1] = '\n';
    return total;
}
