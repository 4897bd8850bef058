/* Filter evaluation over the payload indexes, three ways:
 *
 * vdb_payload__eval turns a compiled filter into a bitmap of live rows.
 * Each node reports either the exact set of matching rows, a superset (an
 * AND in which some clauses are not indexed: the indexed ones still narrow
 * it), or "unknown" (NULL: any live row may match). Only exact sets can be
 * complemented ($ne, $nin, $not), and an OR is only as good as its worst
 * child. Cost: proportional to the rows in the bitmaps touched.
 *
 * vdb_payload__estimate counts matches without building any bitmap
 * (bitmap cardinalities, binary searches in the range index), combining
 * clauses as if independent. Cost: O(clauses * log n), so the planner can
 * afford it on every query.
 *
 * vdb_payload__eval_row decides one row for the search-time hook: indexed
 * ranges read the numeric column, indexed equalities test one bitmap, and
 * anything else runs the reference evaluator on the cached metadata. */
#include "payload.h"

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "payload_int.h"

static void eres_free(vdb_peval *r)
{
    if (r->rows != NULL)
        roaring_bitmap_free(r->rows);
    r->rows = NULL;
}

/* Exact rows where the field equals `operand`, or NULL when the index
 * cannot answer (arrays/objects). *nomem set on allocation failure. */
static roaring_bitmap_t *eq_rows(const vdb_payload *p, const vdb_pfield *f,
                                 const vdb_json *operand, int *nomem)
{
    vdb_pkey key;
    if (!vdb_payload__key(operand, &key))
        return NULL;
    const roaring_bitmap_t *hit = vdb_payload__map_get(&f->values, &key);
    roaring_bitmap_t *out = hit != NULL ? roaring_bitmap_copy(hit) : roaring_bitmap_create();
    if (out == NULL) {
        *nomem = 1;
        return NULL;
    }
    if (key.kind == VDB_PKEY_NULL) {
        /* Missing equals null: add every live row where the field is absent. */
        roaring_bitmap_t *absent = roaring_bitmap_andnot(p->live, f->present);
        if (absent == NULL) {
            roaring_bitmap_free(out);
            *nomem = 1;
            return NULL;
        }
        roaring_bitmap_or_inplace(out, absent);
        roaring_bitmap_free(absent);
    }
    return out;
}

static roaring_bitmap_t *in_rows(const vdb_payload *p, const vdb_pfield *f, const vdb_json *list,
                                 int *nomem)
{
    roaring_bitmap_t *out = roaring_bitmap_create();
    if (out == NULL) {
        *nomem = 1;
        return NULL;
    }
    size_t n = vdb_json_array_size(list);
    for (size_t i = 0; i < n; i++) {
        roaring_bitmap_t *one = eq_rows(p, f, vdb_json_array_get(list, i), nomem);
        if (one == NULL) {
            roaring_bitmap_free(out);
            return NULL;
        }
        roaring_bitmap_or_inplace(out, one);
        roaring_bitmap_free(one);
    }
    return out;
}

static roaring_bitmap_t *complement(const vdb_payload *p, roaring_bitmap_t *rows, int *nomem)
{
    if (rows == NULL)
        return NULL;
    roaring_bitmap_t *out = roaring_bitmap_andnot(p->live, rows);
    roaring_bitmap_free(rows);
    if (out == NULL)
        *nomem = 1;
    return out;
}

/* An indexed comparison; NULL (with *nomem clear) when the index cannot
 * answer it exactly. */
static roaring_bitmap_t *cmp_rows(const vdb_payload *p, const vdb_fnode *n, int *nomem)
{
    const vdb_pfield *f = vdb_payload__field(p, n->path.text);
    if (f == NULL)
        return NULL;
    vdb_pkey key;
    roaring_bitmap_t *out;
    switch (n->op) {
    case VDB_FOP_EQ:
        return eq_rows(p, f, n->operand, nomem);
    case VDB_FOP_NE:
        return complement(p, eq_rows(p, f, n->operand, nomem), nomem);
    case VDB_FOP_IN:
        return in_rows(p, f, n->operand, nomem);
    case VDB_FOP_NIN:
        return complement(p, in_rows(p, f, n->operand, nomem), nomem);
    case VDB_FOP_GT:
    case VDB_FOP_GTE:
    case VDB_FOP_LT:
    case VDB_FOP_LTE: {
        vdb_json_type t = vdb_json_typeof(n->operand);
        double x = vdb_json_number_value(n->operand);
        /* Strings have no ordered index; doubles are exact only up to 2^53. */
        if (t == VDB_JSON_STRING || f->range_inexact ||
            (t == VDB_JSON_INT && !vdb_payload__exact_double(vdb_json_int_value(n->operand))))
            return NULL;
        out = vdb_payload__range(p, f, n->op, x);
        break;
    }
    case VDB_FOP_EXISTS:
        out = n->exists ? roaring_bitmap_and(f->present, p->live)
                        : roaring_bitmap_andnot(p->live, f->present);
        break;
    case VDB_FOP_CONTAINS: {
        if (!vdb_payload__key(n->operand, &key))
            return NULL;
        const roaring_bitmap_t *hit = vdb_payload__map_get(&f->elems, &key);
        out = hit != NULL ? roaring_bitmap_copy(hit) : roaring_bitmap_create();
        break;
    }
    default:
        return NULL;
    }
    if (out == NULL)
        *nomem = 1;
    return out;
}

int vdb_payload__eval(const vdb_payload *p, const vdb_fnode *n, vdb_peval *out)
{
    int nomem = 0;
    out->rows = NULL;
    out->exact = 0;
    switch (n->kind) {
    case VDB_FNODE_TRUE:
        out->rows = roaring_bitmap_copy(p->live);
        out->exact = 1;
        nomem = out->rows == NULL;
        break;
    case VDB_FNODE_CMP:
        out->rows = cmp_rows(p, n, &nomem);
        out->exact = out->rows != NULL;
        break;
    case VDB_FNODE_NOT: {
        vdb_peval child;
        if (vdb_payload__eval(p, n->children[0], &child) != VDB_OK)
            return VDB_ENOMEM;
        if (child.exact) {
            out->rows = complement(p, child.rows, &nomem);
            out->exact = out->rows != NULL;
        } else {
            eres_free(&child);
        }
        break;
    }
    case VDB_FNODE_AND:
    case VDB_FNODE_OR: {
        int is_and = n->kind == VDB_FNODE_AND, all_exact = 1;
        for (size_t i = 0; i < n->nchildren; i++) {
            vdb_peval child;
            if (vdb_payload__eval(p, n->children[i], &child) != VDB_OK) {
                eres_free(out);
                return VDB_ENOMEM;
            }
            all_exact &= child.exact;
            if (child.rows == NULL) {
                if (!is_and) { /* OR with an unknown branch: unknown */
                    eres_free(out);
                    out->exact = 0;
                    return VDB_OK;
                }
                continue;
            }
            if (out->rows == NULL) {
                out->rows = child.rows;
            } else {
                if (is_and)
                    roaring_bitmap_and_inplace(out->rows, child.rows);
                else
                    roaring_bitmap_or_inplace(out->rows, child.rows);
                roaring_bitmap_free(child.rows);
            }
        }
        out->exact = out->rows != NULL && all_exact;
        break;
    }
    }
    return nomem ? VDB_ENOMEM : VDB_OK;
}


/* ---- estimation ------------------------------------------------------------- */

static vdb_pest est_of(double count, int exact)
{
    vdb_pest e = {count, 1, exact};
    return e;
}

static vdb_pest eq_estimate(const vdb_payload *p, const vdb_pfield *f, const vdb_json *operand,
                            double live)
{
    vdb_pkey key;
    vdb_pest unknown = {0, 0, 0};
    if (!vdb_payload__key(operand, &key))
        return unknown;
    const roaring_bitmap_t *hit = vdb_payload__map_get(&f->values, &key);
    double count = hit != NULL ? (double)roaring_bitmap_get_cardinality(hit) : 0.0;
    if (key.kind == VDB_PKEY_NULL)
        count += live - (double)roaring_bitmap_get_cardinality(f->present);
    (void)p;
    return est_of(count, 1);
}

static vdb_pest cmp_estimate(const vdb_payload *p, const vdb_fnode *n, double live)
{
    vdb_pest unknown = {0, 0, 0}, e;
    const vdb_pfield *f = vdb_payload__field(p, n->path.text);
    vdb_pkey key;
    if (f == NULL)
        return unknown;
    switch (n->op) {
    case VDB_FOP_EQ:
        return eq_estimate(p, f, n->operand, live);
    case VDB_FOP_NE:
        e = eq_estimate(p, f, n->operand, live);
        e.count = live - e.count;
        return e;
    case VDB_FOP_IN:
    case VDB_FOP_NIN: {
        size_t count = vdb_json_array_size(n->operand);
        double sum = 0;
        for (size_t i = 0; i < count; i++) {
            e = eq_estimate(p, f, vdb_json_array_get(n->operand, i), live);
            if (!e.known)
                return unknown;
            sum += e.count;
        }
        /* Equal elements ([1, 1.0]) would count twice: exact for one only. */
        sum = sum < live ? sum : live;
        return est_of(n->op == VDB_FOP_IN ? sum : live - sum, count <= 1);
    }
    case VDB_FOP_GT:
    case VDB_FOP_GTE:
    case VDB_FOP_LT:
    case VDB_FOP_LTE: {
        vdb_json_type t = vdb_json_typeof(n->operand);
        if (t == VDB_JSON_STRING || f->range_inexact ||
            (t == VDB_JSON_INT && !vdb_payload__exact_double(vdb_json_int_value(n->operand))))
            return unknown;
        double count = (double)vdb_payload__range_count(f, n->op, vdb_json_number_value(n->operand));
        return est_of(count < live ? count : live, roaring_bitmap_is_empty(f->stale));
    }
    case VDB_FOP_EXISTS: {
        double present = (double)roaring_bitmap_get_cardinality(f->present);
        return est_of(n->exists ? present : live - present, 1);
    }
    case VDB_FOP_CONTAINS: {
        if (!vdb_payload__key(n->operand, &key))
            return unknown;
        const roaring_bitmap_t *hit = vdb_payload__map_get(&f->elems, &key);
        return est_of(hit != NULL ? (double)roaring_bitmap_get_cardinality(hit) : 0.0, 1);
    }
    }
    return unknown;
}

vdb_pest vdb_payload__estimate(const vdb_payload *p, const vdb_fnode *n, double live)
{
    vdb_pest unknown = {0, 0, 0};
    switch (n->kind) {
    case VDB_FNODE_TRUE:
        return est_of(live, 1);
    case VDB_FNODE_CMP:
        return cmp_estimate(p, n, live);
    case VDB_FNODE_NOT: {
        vdb_pest child = vdb_payload__estimate(p, n->children[0], live);
        child.count = live - child.count;
        return child;
    }
    case VDB_FNODE_AND:
    case VDB_FNODE_OR: {
        /* Selectivities combined as if independent: a guess, never exact. */
        double keep = 1.0;
        for (size_t i = 0; i < n->nchildren; i++) {
            vdb_pest child = vdb_payload__estimate(p, n->children[i], live);
            if (!child.known)
                return unknown;
            double s = live > 0 ? child.count / live : 0.0;
            keep *= n->kind == VDB_FNODE_AND ? s : 1.0 - s;
        }
        return est_of(live * (n->kind == VDB_FNODE_AND ? keep : 1.0 - keep), 0);
    }
    }
    return unknown;
}

/* ---- per-row evaluation for the search hook ------------------------------- */

int vdb_payload__fast_init(const vdb_payload *p, const vdb_fnode *n, vdb_pfast *fast)
{
    if (n->kind != VDB_FNODE_CMP) {
        for (size_t i = 0; i < n->nchildren; i++)
            vdb_payload__fast_init(p, n->children[i], fast);
        return VDB_OK;
    }
    vdb_pfast *slot = &fast[n->index];
    memset(slot, 0, sizeof(*slot));
    const vdb_pfield *f = vdb_payload__field(p, n->path.text);
    if (f == NULL)
        return VDB_OK;
    vdb_json_type t = n->operand != NULL ? vdb_json_typeof(n->operand) : VDB_JSON_NULL;
    vdb_pkey key;
    switch (n->op) {
    case VDB_FOP_GT:
    case VDB_FOP_GTE:
    case VDB_FOP_LT:
    case VDB_FOP_LTE:
        if (t == VDB_JSON_STRING || f->range_inexact ||
            (t == VDB_JSON_INT && !vdb_payload__exact_double(vdb_json_int_value(n->operand))))
            return VDB_OK;
        slot->mode = VDB_PFAST_COLUMN;
        slot->col = f->col;
        slot->x = vdb_json_number_value(n->operand);
        return VDB_OK;
    case VDB_FOP_EQ:
    case VDB_FOP_NE:
        if (!vdb_payload__key(n->operand, &key) || key.kind == VDB_PKEY_NULL)
            return VDB_OK;
        slot->mode = VDB_PFAST_BITMAP;
        slot->rows = vdb_payload__map_get(&f->values, &key);
        slot->negate = n->op == VDB_FOP_NE;
        return VDB_OK;
    case VDB_FOP_CONTAINS:
        if (!vdb_payload__key(n->operand, &key))
            return VDB_OK;
        slot->mode = VDB_PFAST_BITMAP;
        slot->rows = vdb_payload__map_get(&f->elems, &key);
        return VDB_OK;
    default:
        return VDB_OK;
    }
}

int vdb_payload__eval_row(const vdb_payload *p, const vdb_pfast *fast, const vdb_fnode *n,
                          uint32_t row)
{
    switch (n->kind) {
    case VDB_FNODE_TRUE:
        return 1;
    case VDB_FNODE_AND:
        for (size_t i = 0; i < n->nchildren; i++)
            if (!vdb_payload__eval_row(p, fast, n->children[i], row))
                return 0;
        return 1;
    case VDB_FNODE_OR:
        for (size_t i = 0; i < n->nchildren; i++)
            if (vdb_payload__eval_row(p, fast, n->children[i], row))
                return 1;
        return 0;
    case VDB_FNODE_NOT:
        return !vdb_payload__eval_row(p, fast, n->children[0], row);
    case VDB_FNODE_CMP:
        break;
    }
    const vdb_pfast *slot = &fast[n->index];
    if (slot->mode == VDB_PFAST_COLUMN) {
        /* NaN (missing, not a number) fails every comparison, as it must. */
        double v = slot->col[row];
        switch (n->op) {
        case VDB_FOP_GT:
            return v > slot->x;
        case VDB_FOP_GTE:
            return v >= slot->x;
        case VDB_FOP_LT:
            return v < slot->x;
        default:
            return v <= slot->x;
        }
    }
    if (slot->mode == VDB_PFAST_BITMAP) {
        int hit = slot->rows != NULL && roaring_bitmap_contains(slot->rows, row);
        return hit != slot->negate;
    }
    return vdb_filter__eval(n, row < p->cap ? p->meta[row] : NULL);
}
