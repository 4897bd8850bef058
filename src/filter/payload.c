/* Payload maintenance: the per-row metadata cache and the field indexes
 * (payload.h), kept in step with the store's adds, deletes and compactions.
 *
 * Every index entry is derived from the cached metadata alone, so removing
 * a row walks the same values it was inserted with, a compaction simply
 * rebuilds, and vdb_payload_check can compare each index with a fresh
 * rebuild. The numeric range index is a sorted array with an unsorted tail
 * (merged once the tail passes 1/8 of the array): a write costs O(1)
 * amortized plus a merge, a range query one binary search plus a tail
 * scan, and no tree is needed. */
#include "payload.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/hash.h"
#include "payload_int.h"

/* ---- keys and the hash map ----------------------------------------------- */

int vdb_payload__key(const vdb_json *value, vdb_pkey *key)
{
    memset(key, 0, sizeof(*key));
    vdb_json_type type = value == NULL ? VDB_JSON_NULL : vdb_json_typeof(value);
    switch (type) {
    case VDB_JSON_NULL:
        key->kind = VDB_PKEY_NULL;
        return 1;
    case VDB_JSON_BOOL:
        key->kind = VDB_PKEY_INT;
        key->num = (uint64_t)vdb_json_bool_value(value);
        return 1;
    case VDB_JSON_INT:
        key->kind = VDB_PKEY_INT;
        key->num = (uint64_t)vdb_json_int_value(value);
        return 1;
    case VDB_JSON_REAL: {
        double x = vdb_json_number_value(value);
        if (x == trunc(x) && x >= -9223372036854775808.0 && x < 9223372036854775808.0) {
            key->kind = VDB_PKEY_INT;
            key->num = (uint64_t)(long long)x;
        } else {
            key->kind = VDB_PKEY_REAL;
            memcpy(&key->num, &x, sizeof(x));
        }
        return 1;
    }
    case VDB_JSON_STRING:
        key->kind = VDB_PKEY_STR;
        key->str = vdb_json_string_value(value);
        key->len = vdb_json_string_length(value);
        return 1;
    default:
        return 0;
    }
}

int vdb_payload__exact_double(long long value)
{
    return value >= -(1LL << 53) && value <= (1LL << 53);
}

static uint64_t key_hash(const vdb_pkey *key)
{
    /* Strings are client-chosen metadata values: keyed, so nobody can
     * flood one bucket. */
    return key->kind == VDB_PKEY_STR ? vdb_hash_keyed(key->str, key->len)
                                     : vdb_hash_mix64(key->num ^ ((uint64_t)key->kind << 56));
}

typedef struct lookup {
    const vdb_pmap *map;
    const vdb_pkey *key;
} lookup;

static int entry_is(const void *ctx, uint32_t ref)
{
    const lookup *l = ctx;
    const vdb_pentry *entry = &l->map->entries[ref];
    if (entry->kind != l->key->kind)
        return 0;
    if (entry->kind == VDB_PKEY_STR)
        return entry->len == l->key->len && memcmp(entry->str, l->key->str, entry->len) == 0;
    return entry->num == l->key->num;
}

const roaring_bitmap_t *vdb_payload__map_get(const vdb_pmap *map, const vdb_pkey *key)
{
    lookup l = {map, key};
    uint32_t ref = vdb_htab_get(&map->index, key_hash(key), entry_is, &l);
    return ref == VDB_HTAB_NONE ? NULL : map->entries[ref].rows;
}

static void map_clear(vdb_pmap *map)
{
    for (size_t i = 0; i < map->used; i++) {
        vdb_free(map->entries[i].str);
        roaring_bitmap_free(map->entries[i].rows);
    }
    vdb_free(map->entries);
    vdb_htab_destroy(&map->index);
    memset(map, 0, sizeof(*map));
}

/* Adds `row` under `key`, creating the entry on first use. Entries whose
 * bitmap empties stay (cheap, and values tend to come back). */
static int map_add(vdb_pmap *map, const vdb_pkey *key, uint32_t row)
{
    lookup l = {map, key};
    uint64_t hash = key_hash(key);
    uint32_t ref = vdb_htab_get(&map->index, hash, entry_is, &l);
    if (ref != VDB_HTAB_NONE) {
        roaring_bitmap_add(map->entries[ref].rows, row);
        return VDB_OK;
    }
    if (map->used >= VDB_HTAB_NONE)
        return VDB_ENOMEM;
    if (map->used == map->cap) {
        size_t cap = map->cap == 0 ? 16 : map->cap * 2;
        vdb_pentry *entries = vdb_realloc(map->entries, cap * sizeof(*entries));
        if (entries == NULL)
            return VDB_ENOMEM;
        map->entries = entries;
        map->cap = cap;
    }
    vdb_pentry fresh = {key->kind, key->num, NULL, key->len, roaring_bitmap_create()};
    if (fresh.rows == NULL)
        return VDB_ENOMEM;
    if (key->kind == VDB_PKEY_STR) {
        fresh.str = vdb_malloc(key->len + 1);
        if (fresh.str == NULL) {
            roaring_bitmap_free(fresh.rows);
            return VDB_ENOMEM;
        }
        memcpy(fresh.str, key->str, key->len);
        fresh.str[key->len] = '\0';
    }
    /* Counted (used++) only once the index points at it. */
    map->entries[map->used] = fresh;
    if (vdb_htab_put(&map->index, hash, (uint32_t)map->used, entry_is, &l, NULL) != VDB_OK) {
        vdb_free(fresh.str);
        roaring_bitmap_free(fresh.rows);
        return VDB_ENOMEM;
    }
    roaring_bitmap_add(fresh.rows, row);
    map->used++;
    return VDB_OK;
}

static void map_remove(vdb_pmap *map, const vdb_pkey *key, uint32_t row)
{
    roaring_bitmap_t *rows = (roaring_bitmap_t *)vdb_payload__map_get(map, key);
    if (rows != NULL)
        roaring_bitmap_remove(rows, row);
}

static size_t map_memory(const vdb_pmap *map)
{
    size_t bytes = vdb_htab_memory(&map->index) + map->cap * sizeof(vdb_pentry);
    for (size_t i = 0; i < map->used; i++)
        bytes += map->entries[i].len + roaring_bitmap_size_in_bytes(map->entries[i].rows);
    return bytes;
}

/* ---- numeric range index ------------------------------------------------- */

static int pnum_order(const void *a, const void *b)
{
    const vdb_pnum *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->row < y->row ? -1 : (x->row > y->row);
}

/* Merges the tail into the sorted arrays, dropping entries of stale rows. */
static int range_merge(vdb_pfield *field)
{
    size_t total = field->nsorted + field->npending;
    double *vals = vdb_malloc((total ? total : 1) * sizeof(*vals));
    uint32_t *rows = vdb_malloc((total ? total : 1) * sizeof(*rows));
    if (vals == NULL || rows == NULL) {
        vdb_free(vals);
        vdb_free(rows);
        return VDB_ENOMEM;
    }
    if (field->npending > 1)
        qsort(field->pending, field->npending, sizeof(*field->pending), pnum_order);
    size_t i = 0, j = 0, n = 0;
    int any_stale = !roaring_bitmap_is_empty(field->stale);
    while (i < field->nsorted || j < field->npending) {
        int take_sorted = j == field->npending ||
                          (i < field->nsorted && field->svals[i] <= field->pending[j].value);
        double value = take_sorted ? field->svals[i] : field->pending[j].value;
        uint32_t row = take_sorted ? field->srows[i++] : field->pending[j++].row;
        if (any_stale && roaring_bitmap_contains(field->stale, row))
            continue;
        vals[n] = value;
        rows[n++] = row;
    }
    vdb_free(field->svals);
    vdb_free(field->srows);
    field->svals = vals;
    field->srows = rows;
    field->nsorted = n;
    field->npending = 0;
    roaring_bitmap_clear(field->stale);
    return VDB_OK;
}

static int range_add(vdb_pfield *field, double value, uint32_t row)
{
    if (field->npending == field->pending_cap) {
        size_t cap = field->pending_cap ? field->pending_cap * 2 : 64;
        vdb_pnum *grown = vdb_realloc(field->pending, cap * sizeof(*grown));
        if (grown == NULL)
            return VDB_ENOMEM;
        field->pending = grown;
        field->pending_cap = cap;
    }
    field->pending[field->npending].value = value;
    field->pending[field->npending++].row = row;
    /* A failed merge only leaves a longer tail; the next add retries. */
    if (field->npending > 1024 && field->npending > field->nsorted / 8)
        (void)range_merge(field);
    return VDB_OK;
}

/* Drops the entries of stale rows in place: needs no memory, cannot fail. */
static void range_purge(vdb_pfield *field)
{
    size_t n = 0;
    for (size_t i = 0; i < field->nsorted; i++) {
        if (roaring_bitmap_contains(field->stale, field->srows[i]))
            continue;
        field->svals[n] = field->svals[i];
        field->srows[n++] = field->srows[i];
    }
    field->nsorted = n;
    n = 0;
    for (size_t i = 0; i < field->npending; i++)
        if (!roaring_bitmap_contains(field->stale, field->pending[i].row))
            field->pending[n++] = field->pending[i];
    field->npending = n;
    roaring_bitmap_clear(field->stale);
}

/* First index in the sorted values where value > x (strict) or >= x. */
static size_t range_bound(const vdb_pfield *field, double x, int strict)
{
    size_t lo = 0, hi = field->nsorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int before = strict ? field->svals[mid] <= x : field->svals[mid] < x;
        if (before)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void vdb_payload__range_slice(const vdb_pfield *field, vdb_fop op, double x, size_t *from,
                              size_t *to)
{
    *from = 0;
    *to = field->nsorted;
    if (op == VDB_FOP_GT || op == VDB_FOP_GTE)
        *from = range_bound(field, x, op == VDB_FOP_GT);
    else
        *to = range_bound(field, x, op == VDB_FOP_LTE);
}

size_t vdb_payload__range_count(const vdb_pfield *field, vdb_fop op, double x)
{
    size_t from, to;
    vdb_payload__range_slice(field, op, x, &from, &to);
    size_t count = to - from;
    for (size_t i = 0; i < field->npending; i++) {
        double v = field->pending[i].value;
        count += op == VDB_FOP_GT ? v > x : op == VDB_FOP_GTE ? v >= x : op == VDB_FOP_LT ? v < x
                                                                                   : v <= x;
    }
    return count;
}

roaring_bitmap_t *vdb_payload__range(const vdb_payload *payload, const vdb_pfield *field,
                                     vdb_fop op, double x)
{
    size_t from, to;
    vdb_payload__range_slice(field, op, x, &from, &to);
    roaring_bitmap_t *out = roaring_bitmap_create();
    if (out == NULL)
        return NULL;
    if (to > from)
        roaring_bitmap_add_many(out, to - from, field->srows + from);
    for (size_t i = 0; i < field->npending; i++) {
        double v = field->pending[i].value;
        int keep = op == VDB_FOP_GT ? v > x : op == VDB_FOP_GTE ? v >= x
                 : op == VDB_FOP_LT ? v < x : v <= x;
        if (keep)
            roaring_bitmap_add(out, field->pending[i].row);
    }
    roaring_bitmap_and_inplace(out, payload->live);
    return out;
}

/* ---- field indexes --------------------------------------------------------- */

static void field_free(vdb_pfield *field)
{
    if (field == NULL)
        return;
    vdb_filter__path_free(&field->path);
    if (field->present != NULL)
        roaring_bitmap_free(field->present);
    if (field->stale != NULL)
        roaring_bitmap_free(field->stale);
    map_clear(&field->values);
    map_clear(&field->elems);
    vdb_free(field->svals);
    vdb_free(field->srows);
    vdb_free(field->pending);
    vdb_free(field->col);
    vdb_free(field);
}

/* Adds (insert = 1) or removes row's entries for its metadata `meta`. */
static int field_apply(vdb_pfield *field, uint32_t row, const vdb_json *meta, int insert)
{
    const vdb_json *value = vdb_filter__resolve(meta, &field->path);
    vdb_pkey key;
    int rc = VDB_OK;
    if (value == NULL)
        return VDB_OK;
    if (!insert) {
        roaring_bitmap_remove(field->present, row);
        if (vdb_payload__key(value, &key))
            map_remove(&field->values, &key, row);
    } else {
        roaring_bitmap_add(field->present, row);
        if (vdb_payload__key(value, &key) && (rc = map_add(&field->values, &key, row)) != VDB_OK)
            return rc;
    }
    vdb_json_type type = vdb_json_typeof(value);
    if (type == VDB_JSON_INT || type == VDB_JSON_REAL) {
        if (!insert) {
            roaring_bitmap_add(field->stale, row);
            field->col[row] = NAN;
        } else {
            double x = vdb_json_number_value(value);
            field->col[row] = x;
            if (type == VDB_JSON_INT && !vdb_payload__exact_double(vdb_json_int_value(value)))
                field->range_inexact = 1;
            if ((rc = range_add(field, x, row)) != VDB_OK)
                return rc;
        }
    } else if (type == VDB_JSON_ARRAY) {
        size_t n = vdb_json_array_size(value);
        for (size_t i = 0; i < n; i++) {
            if (!vdb_payload__key(vdb_json_array_get(value, i), &key))
                continue;
            if (!insert)
                map_remove(&field->elems, &key, row);
            else if ((rc = map_add(&field->elems, &key, row)) != VDB_OK)
                return rc;
        }
    }
    return VDB_OK;
}

/* Fills a new field index from every live row. */
/* Builds the index of `path` over every live row into *out (NULL on
 * failure). Errors: the path parser's (VDB_EINVAL), VDB_ENOMEM. */
static int field_build(const vdb_payload *payload, const char *path, vdb_pfield **out,
                       vdb_error *err)
{
    *out = NULL;
    vdb_pfield *field = vdb_calloc(1, sizeof(*field));
    if (field == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory indexing '%s'", path);
    int rc = vdb_filter__path_init(&field->path, path, path, err);
    if (rc != VDB_OK) {
        field_free(field);
        return rc;
    }
    field->present = roaring_bitmap_create();
    field->stale = roaring_bitmap_create();
    field->col = vdb_malloc((payload->cap ? payload->cap : 1) * sizeof(*field->col));
    if (field->present == NULL || field->stale == NULL || field->col == NULL)
        goto nomem;
    for (uint32_t r = 0; r < payload->cap; r++)
        field->col[r] = NAN;
    roaring_uint32_iterator_t *it = roaring_create_iterator(payload->live);
    if (it == NULL)
        goto nomem;
    for (; it->has_value && rc == VDB_OK; roaring_advance_uint32_iterator(it))
        rc = field_apply(field, it->current_value, payload->meta[it->current_value], 1);
    roaring_free_uint32_iterator(it);
    if (rc != VDB_OK || range_merge(field) != VDB_OK)
        goto nomem;
    *out = field;
    return VDB_OK;
nomem:
    field_free(field);
    return vdb_error_set(err, VDB_ENOMEM, "out of memory indexing '%s'", path);
}

vdb_pfield *vdb_payload__field(const vdb_payload *payload, const char *path)
{
    for (size_t i = 0; i < payload->nfields; i++)
        if (strcmp(payload->fields[i]->path.text, path) == 0)
            return payload->fields[i];
    return NULL;
}

/* ---- the payload ----------------------------------------------------------- */

int vdb_payload_new(vdb_payload **out, vdb_error *err)
{
    vdb_payload *payload = vdb_calloc(1, sizeof(*payload));
    *out = NULL;
    if (payload == NULL || (payload->live = roaring_bitmap_create()) == NULL) {
        vdb_free(payload);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory creating payload");
    }
    *out = payload;
    return VDB_OK;
}

void vdb_payload_free(vdb_payload *payload)
{
    if (payload == NULL)
        return;
    for (size_t i = 0; i < payload->nfields; i++)
        field_free(payload->fields[i]);
    vdb_free(payload->fields);
    for (uint32_t r = 0; r < payload->cap; r++)
        vdb_json_decref(payload->meta[r]);
    vdb_free(payload->meta);
    vdb_free(payload->livebits);
    roaring_bitmap_free(payload->live);
    vdb_free(payload);
}

static int ensure_cap(vdb_payload *payload, uint32_t row)
{
    if (row < payload->cap)
        return VDB_OK;
    uint64_t cap = payload->cap ? payload->cap : 1024;
    while (cap <= row)
        cap *= 2;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    /* Columns first: a failure leaves them longer than needed, never short. */
    for (size_t i = 0; i < payload->nfields; i++) {
        vdb_pfield *field = payload->fields[i];
        double *col = vdb_realloc(field->col, (size_t)cap * sizeof(*col));
        if (col == NULL)
            return VDB_ENOMEM;
        for (uint64_t r = payload->cap; r < cap; r++)
            col[r] = NAN;
        field->col = col;
    }
    size_t old_words = ((size_t)payload->cap + 63) / 64, words = ((size_t)cap + 63) / 64;
    uint64_t *bits = vdb_realloc(payload->livebits, words * sizeof(*bits));
    if (bits == NULL)
        return VDB_ENOMEM;
    memset(bits + old_words, 0, (words - old_words) * sizeof(*bits));
    payload->livebits = bits;
    vdb_json **grown = vdb_realloc(payload->meta, (size_t)cap * sizeof(*grown));
    if (grown == NULL)
        return VDB_ENOMEM;
    memset(grown + payload->cap, 0, (size_t)(cap - payload->cap) * sizeof(*grown));
    payload->meta = grown;
    payload->cap = (uint32_t)cap;
    return VDB_OK;
}

void vdb_payload_remove(vdb_payload *payload, uint32_t row)
{
    if (!roaring_bitmap_contains(payload->live, row))
        return;
    for (size_t i = 0; i < payload->nfields; i++)
        field_apply(payload->fields[i], row, payload->meta[row], 0);
    roaring_bitmap_remove(payload->live, row);
    payload->livebits[row >> 6] &= ~(1ull << (row & 63));
    vdb_json_decref(payload->meta[row]);
    payload->meta[row] = NULL;
}

int vdb_payload_set_json(vdb_payload *payload, uint32_t row, vdb_json *meta, vdb_error *err)
{
    if (row == UINT32_MAX)
        return vdb_error_set(err, VDB_ERANGE, "row %u out of range", row);
    if (meta != NULL && vdb_json_typeof(meta) != VDB_JSON_OBJECT)
        return vdb_error_set(err, VDB_EINVAL, "metadata of row %u is %s, not an object", row,
                             vdb_json_type_name(vdb_json_typeof(meta)));
    if (ensure_cap(payload, row) != VDB_OK)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory growing payload to row %u", row);
    vdb_payload_remove(payload, row);
    /* A re-used row may still have range entries from its old value; purge
     * them before the new ones go in. */
    for (size_t i = 0; i < payload->nfields; i++)
        if (roaring_bitmap_contains(payload->fields[i]->stale, row))
            range_purge(payload->fields[i]);
    payload->meta[row] = meta != NULL ? vdb_json_incref(meta) : NULL;
    roaring_bitmap_add(payload->live, row);
    payload->livebits[row >> 6] |= 1ull << (row & 63);
    for (size_t i = 0; i < payload->nfields; i++) {
        if (field_apply(payload->fields[i], row, meta, 1) != VDB_OK) {
            /* Leave no half-indexed row behind: the row ends up not live
             * (its old metadata, if any, is gone too; see payload.h). */
            vdb_payload_remove(payload, row);
            return vdb_error_set(err, VDB_ENOMEM, "out of memory indexing row %u", row);
        }
    }
    return VDB_OK;
}

int vdb_payload_set(vdb_payload *payload, uint32_t row, const char *meta_json, vdb_error *err)
{
    if (meta_json == NULL)
        return vdb_payload_set_json(payload, row, NULL, err);
    vdb_error perr;
    vdb_json *meta = NULL;
    int rc = vdb_json_parse(meta_json, strlen(meta_json), 0, &meta, &perr);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc == VDB_ENOMEM ? VDB_ENOMEM : VDB_EINVAL,
                             "metadata of row %u: %s", row, perr.msg);
    rc = vdb_payload_set_json(payload, row, meta, err);
    vdb_json_decref(meta);
    return rc;
}

int vdb_payload_create_index(vdb_payload *payload, const char *path, vdb_error *err)
{
    if (vdb_payload__field(payload, path) != NULL)
        return VDB_OK;
    if (payload->nfields >= VDB_PAYLOAD_MAX_INDEXES)
        return vdb_error_set(err, VDB_ERANGE, "cannot index '%s': limit of %u indexed fields",
                             path, VDB_PAYLOAD_MAX_INDEXES);
    vdb_pfield **grown =
        vdb_realloc(payload->fields, (payload->nfields + 1) * sizeof(*payload->fields));
    if (grown == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory indexing '%s'", path);
    payload->fields = grown;
    vdb_pfield *field;
    int rc = field_build(payload, path, &field, err);
    if (rc != VDB_OK)
        return rc;
    payload->fields[payload->nfields++] = field;
    return VDB_OK;
}

static int index_fields(vdb_payload *payload, const vdb_fnode *node, vdb_error *err)
{
    if (node->kind == VDB_FNODE_CMP)
        return vdb_payload_create_index(payload, node->path.text, err);
    for (size_t i = 0; i < node->nchildren; i++) {
        int rc = index_fields(payload, node->children[i], err);
        if (rc != VDB_OK)
            return rc;
    }
    return VDB_OK;
}

int vdb_payload_index_filter_fields(vdb_payload *payload, const vdb_filter *filter,
                                    vdb_error *err)
{
    return filter == NULL ? VDB_OK : index_fields(payload, filter->root, err);
}

int vdb_payload_drop_index(vdb_payload *payload, const char *path, vdb_error *err)
{
    for (size_t i = 0; i < payload->nfields; i++) {
        if (strcmp(payload->fields[i]->path.text, path) != 0)
            continue;
        field_free(payload->fields[i]);
        memmove(payload->fields + i, payload->fields + i + 1,
                (payload->nfields - i - 1) * sizeof(*payload->fields));
        payload->nfields--;
        return VDB_OK;
    }
    return vdb_error_set(err, VDB_ENOTFOUND, "no index on '%s'", path);
}

int vdb_payload_remap(vdb_payload *payload, const uint32_t *old_to_new, uint32_t old_rows,
                      vdb_error *err)
{
    int rc = VDB_OK;
    uint32_t new_cap = 0;
    vdb_json **meta = NULL;
    uint64_t *bits = NULL;
    roaring_bitmap_t *live = NULL;
    vdb_pfield **fields = NULL;
    /* Validate first, so a bad map changes nothing. */
    for (uint32_t r = 0; r < payload->cap; r++) {
        if (!roaring_bitmap_contains(payload->live, r))
            continue;
        if (r >= old_rows || old_to_new[r] == UINT32_MAX)
            return vdb_error_set(err, VDB_EINVAL, "remap drops live row %u", r);
        if (old_to_new[r] >= new_cap)
            new_cap = old_to_new[r] + 1;
    }
    meta = vdb_calloc(new_cap ? new_cap : 1, sizeof(*meta));
    bits = vdb_calloc(((size_t)new_cap + 63) / 64 + 1, sizeof(*bits));
    live = roaring_bitmap_create();
    fields = vdb_calloc(payload->nfields ? payload->nfields : 1, sizeof(*fields));
    if (meta == NULL || bits == NULL || live == NULL || fields == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory remapping payload");
        goto cleanup;
    }
    for (uint32_t r = 0; r < payload->cap; r++) {
        if (!roaring_bitmap_contains(payload->live, r))
            continue;
        uint32_t to = old_to_new[r];
        if (roaring_bitmap_contains(live, to)) {
            rc = vdb_error_set(err, VDB_EINVAL, "remap sends rows to row %u twice", to);
            goto cleanup;
        }
        roaring_bitmap_add(live, to);
        bits[to >> 6] |= 1ull << (to & 63);
        meta[to] = payload->meta[r];
    }
    /* Build the new indexes against a temporary payload view. */
    vdb_payload staged = {meta, new_cap, live, NULL, 0, bits};
    for (size_t i = 0; i < payload->nfields; i++) {
        rc = field_build(&staged, payload->fields[i]->path.text, &fields[i], err);
        if (rc != VDB_OK) {
            goto cleanup;
        }
    }
    /* Commit: the references move from the old array to the new one. */
    for (size_t i = 0; i < payload->nfields; i++) {
        field_free(payload->fields[i]);
        payload->fields[i] = fields[i];
    }
    vdb_free(payload->meta);
    vdb_free(payload->livebits);
    roaring_bitmap_free(payload->live);
    payload->meta = meta;
    payload->cap = new_cap;
    payload->live = live;
    payload->livebits = bits;
    vdb_free(fields);
    return VDB_OK;
cleanup:
    if (fields != NULL)
        for (size_t i = 0; i < payload->nfields; i++)
            field_free(fields[i]);
    vdb_free(fields);
    if (live != NULL)
        roaring_bitmap_free(live);
    vdb_free(bits);
    vdb_free(meta); /* holds borrowed references only */
    return rc;
}

size_t vdb_payload_index_count(const vdb_payload *payload)
{
    return payload->nfields;
}

int vdb_payload_has_index(const vdb_payload *payload, const char *path)
{
    return vdb_payload__field(payload, path) != NULL;
}

size_t vdb_payload_live(const vdb_payload *payload)
{
    return (size_t)roaring_bitmap_get_cardinality(payload->live);
}

int vdb_payload_is_live(const vdb_payload *payload, uint32_t row)
{
    return vdb_payload__bit(payload, row);
}

const vdb_json *vdb_payload_meta(const vdb_payload *payload, uint32_t row)
{
    return row < payload->cap ? payload->meta[row] : NULL;
}

size_t vdb_payload_index_memory(const vdb_payload *payload)
{
    size_t bytes = roaring_bitmap_size_in_bytes(payload->live) +
                   ((size_t)payload->cap + 63) / 64 * sizeof(uint64_t);
    for (size_t i = 0; i < payload->nfields; i++) {
        const vdb_pfield *f = payload->fields[i];
        bytes += sizeof(*f) + roaring_bitmap_size_in_bytes(f->present) +
                 roaring_bitmap_size_in_bytes(f->stale) + map_memory(&f->values) +
                 map_memory(&f->elems) + f->nsorted * (sizeof(double) + sizeof(uint32_t)) +
                 f->pending_cap * sizeof(vdb_pnum) + (size_t)payload->cap * sizeof(double);
    }
    return bytes;
}

/* Every entry of `map` must equal the rebuilt one's, and the reverse. */
static int maps_equal(const vdb_pmap *a, const vdb_pmap *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const vdb_pmap *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < x->used; i++) {
            const vdb_pentry *e = &x->entries[i];
            if (roaring_bitmap_is_empty(e->rows))
                continue;
            vdb_pkey key = {e->kind, e->num, e->str, e->len};
            const roaring_bitmap_t *other = vdb_payload__map_get(y, &key);
            if (other == NULL || !roaring_bitmap_equals(e->rows, other))
                return 0;
        }
    }
    return 1;
}

int vdb_payload_check(const vdb_payload *payload, vdb_error *err)
{
    for (uint32_t r = 0; r < payload->cap; r++) {
        int live = roaring_bitmap_contains(payload->live, r);
        if (payload->meta[r] != NULL && !live)
            return vdb_error_set(err, VDB_ECORRUPT, "row %u has metadata but is not live", r);
        if (vdb_payload__bit(payload, r) != live)
            return vdb_error_set(err, VDB_ECORRUPT, "live bitset and bitmap differ at row %u", r);
    }
    if (roaring_bitmap_get_cardinality(payload->live) > 0 &&
        roaring_bitmap_maximum(payload->live) >= payload->cap)
        return vdb_error_set(err, VDB_ECORRUPT, "live row beyond the metadata array");
    for (size_t i = 0; i < payload->nfields; i++) {
        const vdb_pfield *f = payload->fields[i];
        vdb_pfield *fresh;
        int rc = field_build(payload, f->path.text, &fresh, err);
        if (rc != VDB_OK)
            return rc;
        int same = roaring_bitmap_equals(f->present, fresh->present) &&
                   maps_equal(&f->values, &fresh->values) && maps_equal(&f->elems, &fresh->elems);
        for (uint32_t r = 0; same && r < payload->cap; r++)
            if (roaring_bitmap_contains(payload->live, r))
                same = f->col[r] == fresh->col[r] || (isnan(f->col[r]) && isnan(fresh->col[r]));
        /* The range index may hold stale entries; compare its live part. */
        for (int op = 0; same && op < 2; op++) {
            double probe = op == 0 ? -INFINITY : 0.0;
            roaring_bitmap_t *x = vdb_payload__range(payload, f, VDB_FOP_GT, probe);
            roaring_bitmap_t *y = vdb_payload__range(payload, fresh, VDB_FOP_GT, probe);
            same = x != NULL && y != NULL && roaring_bitmap_equals(x, y);
            if (x != NULL)
                roaring_bitmap_free(x);
            if (y != NULL)
                roaring_bitmap_free(y);
        }
        field_free(fresh);
        if (!same)
            return vdb_error_set(err, VDB_ECORRUPT, "index on '%s' differs from a rebuild",
                                 f->path.text);
    }
    return VDB_OK;
}
