/* Filter evaluation over the payload indexes, and the query planner.
 *
 * eval_node turns a compiled filter into a bitmap of live rows. Each node
 * reports either the exact set of matching rows, a superset (an AND in
 * which some clauses are not indexed: the indexed ones still narrow it), or
 * "unknown" (NULL: any live row may match). Only exact sets can be
 * complemented ($ne, $nin, $not), and an OR is only as good as its worst
 * child. Supersets and unknowns are resolved row by row with the reference
 * evaluator on the cached metadata, either up front (small sets, or when
 * the caller needs exact rows) or lazily in the accept hook during search.
 *
 * The planner works from the (exact or sampled) cardinality c among L live
 * rows: c <= exact_max means exact search over the candidates (cheap,
 * recall 1); otherwise filter-aware HNSW with ef widened by
 * 1 + log2(L/c)/2 (capped at 4x), because the fewer rows match, the more of
 * the graph a search must cross to collect ef of them. */
#include "payload.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "payload_int.h"

#define SAMPLE_ROWS 512u
#define MAX_EF_FACTOR 4.0

struct vdb_selection {
    const vdb_payload *payload;
    const vdb_filter *filter;
    vdb_plan plan;
    roaring_bitmap_t *rows; /* exact matches, a superset, or NULL (all live) */
    int exact;
    uint32_t *ids;
    size_t nids;
};

typedef struct eres {
    roaring_bitmap_t *rows; /* NULL: unknown */
    int exact;
} eres;

static void eres_free(eres *r)
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

static int eval_node(const vdb_payload *p, const vdb_fnode *n, eres *out)
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
        eres child;
        if (eval_node(p, n->children[0], &child) != VDB_OK)
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
            eres child;
            if (eval_node(p, n->children[i], &child) != VDB_OK) {
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

static int row_matches(const vdb_payload *p, const vdb_filter *f, uint32_t row)
{
    return vdb_filter_match(f, row < p->cap ? p->meta[row] : NULL);
}

/* Turns the selection's superset (or every live row) into the exact set by
 * evaluating the filter on each row. */
static int refine(vdb_selection *sel)
{
    const vdb_payload *p = sel->payload;
    const roaring_bitmap_t *source = sel->rows != NULL ? sel->rows : p->live;
    roaring_bitmap_t *exact = roaring_bitmap_create();
    roaring_uint32_iterator_t *it = roaring_create_iterator(source);
    if (exact == NULL || it == NULL) {
        if (exact != NULL)
            roaring_bitmap_free(exact);
        roaring_free_uint32_iterator(it);
        return VDB_ENOMEM;
    }
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        sel->plan.rows_scanned++;
        if (row_matches(p, sel->filter, it->current_value))
            roaring_bitmap_add(exact, it->current_value);
    }
    roaring_free_uint32_iterator(it);
    if (sel->rows != NULL)
        roaring_bitmap_free(sel->rows);
    sel->rows = exact;
    sel->exact = 1;
    return VDB_OK;
}

/* Estimates the matches by evaluating an evenly spaced sample. */
static size_t estimate(vdb_selection *sel)
{
    const vdb_payload *p = sel->payload;
    const roaring_bitmap_t *source = sel->rows != NULL ? sel->rows : p->live;
    uint64_t total = roaring_bitmap_get_cardinality(source);
    uint64_t samples = total < SAMPLE_ROWS ? total : SAMPLE_ROWS, hits = 0;
    for (uint64_t i = 0; i < samples; i++) {
        uint32_t row;
        if (roaring_bitmap_select(source, (uint32_t)((i * total + total / 2) / samples), &row)) {
            sel->plan.rows_scanned++;
            hits += (uint64_t)row_matches(p, sel->filter, row);
        }
    }
    return samples == 0 ? 0 : (size_t)((hits * total + samples / 2) / samples);
}

/* Appends "indexed: a, b; not indexed: c" to the explain text. */
static void explain_fields(const vdb_payload *p, const vdb_fnode *n, char *buf, size_t cap,
                           int indexed)
{
    if (n->kind != VDB_FNODE_CMP) {
        for (size_t i = 0; i < n->nchildren; i++)
            explain_fields(p, n->children[i], buf, cap, indexed);
        return;
    }
    if ((vdb_payload__field(p, n->path.text) != NULL) != indexed)
        return;
    size_t used = strlen(buf);
    if (strstr(buf, n->path.text) == NULL && used + strlen(n->path.text) + 3 < cap)
        snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", n->path.text);
}

static void plan_decide(vdb_selection *sel, const vdb_plan_input *in, size_t live)
{
    vdb_plan *plan = &sel->plan;
    size_t exact_max = in->exact_max ? in->exact_max : (live / 50 > 1000 ? live / 50 : 1000);
    size_t c = plan->estimate;
    if (plan->estimate_exact && (c <= exact_max || (!in->hnsw && c <= live / 2)))
        plan->kind = VDB_PLAN_EXACT_IDS;
    else
        plan->kind = in->hnsw ? VDB_PLAN_HNSW : VDB_PLAN_FLAT;
    if (plan->kind == VDB_PLAN_HNSW) {
        double ef = in->ef ? in->ef : 64;
        double selectivity = live ? (double)(c ? c : 1) / (double)live : 1.0;
        double factor = 1.0 + 0.5 * log2(1.0 / (selectivity < 1.0 ? selectivity : 1.0));
        ef *= factor < MAX_EF_FACTOR ? factor : MAX_EF_FACTOR;
        if (ef < (double)in->k)
            ef = (double)in->k;
        plan->ef = ef > 100000.0 ? 100000u : (uint32_t)ceil(ef);
    }
}

static void plan_explain(vdb_selection *sel)
{
    static const char *names[] = {"all rows", "exact search over candidates",
                                  "filter-aware HNSW", "exact scan with filter"};
    char indexed[96] = "", unindexed[96] = "";
    vdb_plan *plan = &sel->plan;
    if (sel->filter != NULL) {
        explain_fields(sel->payload, sel->filter->root, indexed, sizeof(indexed), 1);
        explain_fields(sel->payload, sel->filter->root, unindexed, sizeof(unindexed), 0);
    }
    int len = snprintf(plan->explain, sizeof(plan->explain), "%s; %s %zu matches",
                       names[plan->kind], plan->estimate_exact ? "exactly" : "estimated",
                       plan->estimate);
    if (plan->kind == VDB_PLAN_HNSW && len > 0 && (size_t)len < sizeof(plan->explain))
        len += snprintf(plan->explain + len, sizeof(plan->explain) - (size_t)len, "; ef %u",
                        plan->ef);
    if (len > 0 && (size_t)len < sizeof(plan->explain))
        snprintf(plan->explain + len, sizeof(plan->explain) - (size_t)len,
                 "; indexed: %s; not indexed: %s; %zu rows evaluated",
                 indexed[0] ? indexed : "-", unindexed[0] ? unindexed : "-", plan->rows_scanned);
}

vdb_selection *vdb_payload_select(const vdb_payload *payload, const vdb_filter *filter,
                                  const vdb_plan_input *input, vdb_error *err)
{
    if (input == NULL || input->k == 0) {
        vdb_error_set(err, VDB_EINVAL, "k must be at least 1");
        return NULL;
    }
    vdb_selection *sel = vdb_calloc(1, sizeof(*sel));
    if (sel == NULL)
        goto nomem;
    sel->payload = payload;
    sel->filter = filter;
    size_t live = vdb_payload_live(payload);
    if (filter == NULL) {
        sel->plan.kind = VDB_PLAN_ALL;
        sel->plan.estimate = live;
        sel->plan.estimate_exact = 1;
        if (input->materialize && (sel->rows = roaring_bitmap_copy(payload->live)) == NULL)
            goto nomem;
        sel->exact = 1;
    } else {
        eres r;
        if (eval_node(payload, filter->root, &r) != VDB_OK)
            goto nomem;
        sel->rows = r.rows;
        sel->exact = r.exact;
        size_t exact_max = input->exact_max ? input->exact_max
                                            : (live / 50 > 1000 ? live / 50 : 1000);
        /* A small superset is cheaper to resolve now than to estimate. */
        if (!sel->exact && sel->rows != NULL &&
            (input->materialize ||
             roaring_bitmap_get_cardinality(sel->rows) <= 4 * (uint64_t)exact_max) &&
            refine(sel) != VDB_OK)
            goto nomem;
        if (!sel->exact) {
            size_t guess = input->materialize ? 0 : estimate(sel);
            /* Few matches: HNSW would have to cross most of the graph to
             * find them, so scanning the metadata once is cheaper. */
            if (guess <= exact_max) {
                if (refine(sel) != VDB_OK)
                    goto nomem;
            } else {
                sel->plan.estimate = guess;
            }
        }
        if (sel->exact) {
            sel->plan.estimate = (size_t)roaring_bitmap_get_cardinality(sel->rows);
            sel->plan.estimate_exact = 1;
        }
        plan_decide(sel, input, live);
    }
    if (sel->exact && (sel->plan.kind == VDB_PLAN_EXACT_IDS || input->materialize) &&
        sel->rows != NULL) {
        sel->nids = (size_t)roaring_bitmap_get_cardinality(sel->rows);
        sel->ids = vdb_malloc((sel->nids ? sel->nids : 1) * sizeof(*sel->ids));
        if (sel->ids == NULL)
            goto nomem;
        roaring_bitmap_to_uint32_array(sel->rows, sel->ids);
    }
    plan_explain(sel);
    return sel;
nomem:
    vdb_selection_free(sel);
    vdb_error_set(err, VDB_ENOMEM, "out of memory planning a filtered query");
    return NULL;
}

void vdb_selection_free(vdb_selection *selection)
{
    if (selection == NULL)
        return;
    if (selection->rows != NULL)
        roaring_bitmap_free(selection->rows);
    vdb_free(selection->ids);
    vdb_free(selection);
}

const vdb_plan *vdb_selection_plan(const vdb_selection *selection)
{
    return &selection->plan;
}

const uint32_t *vdb_selection_ids(const vdb_selection *selection, size_t *count)
{
    *count = selection->ids != NULL ? selection->nids : 0;
    return selection->ids;
}

int vdb_selection_accept(void *ctx, uint32_t row)
{
    const vdb_selection *sel = ctx;
    const vdb_payload *p = sel->payload;
    if (sel->rows != NULL) {
        if (!roaring_bitmap_contains(sel->rows, row))
            return 0;
        if (sel->exact)
            return 1;
    } else if (!roaring_bitmap_contains(p->live, row)) {
        return 0;
    }
    return sel->filter == NULL || row_matches(p, sel->filter, row);
}

int vdb_payload_match_rows(const vdb_payload *payload, const vdb_filter *filter, uint32_t **rows,
                           size_t *count, vdb_error *err)
{
    vdb_plan_input input = {1, 0, 0, 0, 1};
    vdb_selection *sel = vdb_payload_select(payload, filter, &input, err);
    if (sel == NULL)
        return err != NULL ? err->code : VDB_ENOMEM;
    /* Hand the selection's array over instead of copying it. */
    *count = sel->nids;
    *rows = sel->nids ? sel->ids : NULL;
    if (sel->nids)
        sel->ids = NULL;
    vdb_selection_free(sel);
    return VDB_OK;
}
