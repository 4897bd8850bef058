/* The query planner over the payload indexes, and the search-time hook.
 *
 * Per query it first counts the filter's matches c among L live rows
 * cheaply (vdb_payload__estimate: exact for one indexed clause, an
 * independence estimate for several, a 512-row sample when a clause is not
 * indexed), then chooses by cost, in units of one exact distance
 * computation:
 *   exact search over the candidates costs about c;
 *   vdb_hnsw_search with a filter hook lets non-matching rows route and
 *   keeps going until ef matching rows are found, so it crosses about 1/s
 *   rows (s = c / L) per accepted one: about HNSW_COST_PER_EF * ef / s.
 * Because such a search explores ef / s nodes, its recall at a given ef
 * rises as s falls (measured on 100,000 x 384, M=16, k=10, ef=64: 0.999
 * unfiltered, 1.000 at s=50%; ef 16 still gives 0.985 at s=10%), so the
 * planner narrows ef to ef * s^0.6 (not below 1.5k or 16, never above
 * max(ef, k)), which holds recall while keeping latency within about 2x of
 * the unfiltered query. Exact search wins below about 6% selectivity on
 * that data (the two costs meet there at about 3x the unfiltered query).
 * That model is the fallback: a calibrated store (store/calib.h) passes
 * its measured costs and per-selectivity ef instead (graph_cost), so the
 * choice follows the store's own data and recall target.
 * Only then are the matching rows materialized, so a broad
 * filter costs no bitmap work at all: the hook decides each row the search
 * touches (vdb_payload__eval_row). `vdb filter-bench` measures all this. */
#include "payload.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "payload_int.h"

#define SAMPLE_ROWS 512u
/* Exact distance computations one unit of ef/s of filtered HNSW costs as
 * much as (100,000 x 384, M=16, near the crossover: 1.17 us per unit vs
 * 52 ns per candidate for 7,000 candidates; vdb filter-bench --sweep). */
#define HNSW_COST_PER_EF 22.0
#define EF_SELECTIVITY_EXPONENT 0.6

struct vdb_selection {
    const vdb_payload *payload;
    const vdb_filter *filter;
    vdb_plan plan;
    roaring_bitmap_t *rows; /* NULL, or exactly the matching live rows */
    /* ids/nids: exactly the matching live rows, ascending, when materialized
     * (from `rows`, or straight from a range slice with rows NULL). */
    vdb_pfast *fast;        /* per-clause shortcuts for the hook */
    uint32_t *ids;
    size_t nids;
};

static int row_matches(const vdb_selection *sel, uint32_t row)
{
    return vdb_payload__eval_row(sel->payload, sel->fast, sel->filter->root, row);
}

/* Computes the exact matching rows: the index bitmaps where they answer,
 * then the reference evaluator on a superset (or every live row). */
static int materialize(vdb_selection *sel)
{
    const vdb_payload *p = sel->payload;
    vdb_peval r;
    if (vdb_payload__eval(p, sel->filter->root, &r) != VDB_OK)
        return VDB_ENOMEM;
    if (r.exact) {
        sel->rows = r.rows;
        return VDB_OK;
    }
    const roaring_bitmap_t *source = r.rows != NULL ? r.rows : p->live;
    roaring_bitmap_t *exact = roaring_bitmap_create();
    roaring_uint32_iterator_t *it = roaring_create_iterator(source);
    if (exact == NULL || it == NULL) {
        if (exact != NULL)
            roaring_bitmap_free(exact);
        if (r.rows != NULL)
            roaring_bitmap_free(r.rows);
        roaring_free_uint32_iterator(it);
        return VDB_ENOMEM;
    }
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        sel->plan.rows_scanned++;
        if (row_matches(sel, it->current_value))
            roaring_bitmap_add(exact, it->current_value);
    }
    roaring_free_uint32_iterator(it);
    if (r.rows != NULL)
        roaring_bitmap_free(r.rows);
    sel->rows = exact;
    return VDB_OK;
}

static int is_range(const vdb_selection *sel, const vdb_fnode *n)
{
    return n->kind == VDB_FNODE_CMP && sel->fast[n->index].mode == VDB_PFAST_COLUMN;
}

/* The indexed range clause that drives materialization: the root itself,
 * or the narrowest range directly under a root AND. NULL when none. */
static const vdb_fnode *driving_range(const vdb_selection *sel)
{
    const vdb_fnode *root = sel->filter->root, *best = NULL;
    size_t best_count = SIZE_MAX;
    if (is_range(sel, root))
        return root;
    if (root->kind != VDB_FNODE_AND)
        return NULL;
    for (size_t i = 0; i < root->nchildren; i++) {
        const vdb_fnode *child = root->children[i];
        if (!is_range(sel, child))
            continue;
        size_t count = vdb_payload__range_count(vdb_payload__field(sel->payload, child->path.text),
                                                child->op, sel->fast[child->index].x);
        if (count < best_count) {
            best = child;
            best_count = count;
        }
    }
    return best;
}

/* Materializes straight from a range slice into sorted ids: the slice's
 * rows are in value order, so they go through a bitset (O(c + rows/64))
 * rather than into a bitmap one random insert at a time. */
static int materialize_range(vdb_selection *sel, const vdb_fnode *drive)
{
    const vdb_payload *p = sel->payload;
    const vdb_pfield *f = vdb_payload__field(p, drive->path.text);
    double x = sel->fast[drive->index].x;
    size_t from, to, words = ((size_t)p->cap + 63) / 64;
    vdb_payload__range_slice(f, drive->op, x, &from, &to);
    uint64_t *bits = vdb_calloc(words ? words : 1, sizeof(*bits));
    uint32_t *ids = vdb_malloc((to - from + f->npending + 1) * sizeof(*ids));
    if (bits == NULL || ids == NULL) {
        vdb_free(bits);
        vdb_free(ids);
        return VDB_ENOMEM;
    }
    for (size_t i = from; i < to; i++)
        bits[f->srows[i] >> 6] |= 1ull << (f->srows[i] & 63);
    for (size_t i = 0; i < f->npending; i++) {
        double v = f->pending[i].value;
        int keep = drive->op == VDB_FOP_GT ? v > x : drive->op == VDB_FOP_GTE ? v >= x
                 : drive->op == VDB_FOP_LT ? v < x : v <= x;
        if (keep)
            bits[f->pending[i].row >> 6] |= 1ull << (f->pending[i].row & 63);
    }
    /* Entries of removed rows linger only while `stale` is non-empty. */
    int check_live = !roaring_bitmap_is_empty(f->stale);
    int check_rest = sel->filter->root != drive;
    size_t n = 0;
    for (size_t w = 0; w < words; w++) {
        for (uint64_t word = bits[w]; word != 0; word &= word - 1) {
            uint32_t row = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(word));
            if (check_live && !roaring_bitmap_contains(p->live, row))
                continue;
            if (check_rest) {
                sel->plan.rows_scanned++;
                if (!row_matches(sel, row))
                    continue;
            }
            ids[n++] = row;
        }
    }
    vdb_free(bits);
    sel->ids = ids;
    sel->nids = n;
    return VDB_OK;
}

/* Estimates the matches by evaluating evenly spaced live rows. The probes
 * stride over row numbers and skip dead ones (roaring_bitmap_select would
 * scan a dense container word by word on every call). */
static double sample_estimate(vdb_selection *sel)
{
    const vdb_payload *p = sel->payload;
    uint64_t total = roaring_bitmap_get_cardinality(p->live);
    if (total == 0)
        return 0.0;
    uint32_t last = roaring_bitmap_maximum(p->live);
    uint64_t span = (uint64_t)last + 1, probes = span < SAMPLE_ROWS ? span : SAMPLE_ROWS;
    uint64_t samples = 0, hits = 0;
    for (uint64_t i = 0; i < probes; i++) {
        uint32_t row = (uint32_t)((i * span + span / 2) / probes);
        if (!roaring_bitmap_contains(p->live, row))
            continue;
        samples++;
        hits += (uint64_t)row_matches(sel, row);
    }
    sel->plan.rows_scanned += samples;
    /* Mostly dead rows: fall back to ranks, which always land on live ones. */
    if (samples < probes / 4) {
        samples = hits = 0;
        probes = total < SAMPLE_ROWS ? total : SAMPLE_ROWS;
        for (uint64_t i = 0; i < probes; i++) {
            uint32_t row;
            if (roaring_bitmap_select(p->live, (uint32_t)((i * total + total / 2) / probes),
                                      &row)) {
                samples++;
                hits += (uint64_t)row_matches(sel, row);
            }
        }
        sel->plan.rows_scanned += samples;
    }
    return samples == 0 ? 0.0 : (double)hits * (double)total / (double)samples;
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

/* Appends each unindexed compared field once, newline-terminated. */
static void unindexed_paths(const vdb_payload *p, const vdb_fnode *n, char *buf, size_t cap)
{
    if (n->kind != VDB_FNODE_CMP) {
        for (size_t i = 0; i < n->nchildren; i++)
            unindexed_paths(p, n->children[i], buf, cap);
        return;
    }
    if (vdb_payload__field(p, n->path.text) != NULL)
        return;
    size_t used = strlen(buf), len = strlen(n->path.text);
    for (const char *at = buf; (at = strstr(at, n->path.text)) != NULL; at++)
        if ((at == buf || at[-1] == '\n') && at[len] == '\n')
            return;
    if (used + len + 2 < cap)
        snprintf(buf + used, cap - used, "%s\n", n->path.text);
}

char *vdb_payload_unindexed_paths(const vdb_payload *payload, const vdb_filter *filter)
{
    size_t cap = 4096;
    char *buf = filter != NULL ? vdb_calloc(1, cap) : NULL;
    if (buf == NULL)
        return NULL;
    unindexed_paths(payload, filter->root, buf, cap);
    if (buf[0] == '\0') {
        vdb_free(buf);
        return NULL;
    }
    return buf;
}

static double effective_ef(const vdb_plan_input *in)
{
    double ef = in->ef ? in->ef : 64;
    return ef < (double)in->k ? (double)in->k : ef;
}

/* The ef a filtered HNSW search gets at selectivity s (see the top). */
static double filtered_ef(const vdb_plan_input *in, double s)
{
    double base = effective_ef(in);
    double floor = 1.5 * (double)in->k > 16.0 ? 1.5 * (double)in->k : 16.0;
    double ef = base * pow(s, EF_SELECTIVITY_EXPONENT);
    if (floor > base)
        floor = base;
    return ceil(ef < floor ? floor : ef);
}

/* With measured costs, 1 when the cheaper exact search is a scan of every
 * live row with the filter hook rather than a search over the c
 * candidates: a broad filter's candidates are gathered row by row, while
 * the scan reads the rows in order (100,000 x 64 int8, a filter matching
 * all rows: 1.7 ms over the candidates, 0.7 ms scanning). */
static int scan_beats_ids(const vdb_plan_input *in, double c, double live)
{
    return !in->exact_max && in->hnsw && in->graph_cost != NULL && in->scan_ns_row > 0 &&
           live * in->scan_ns_row < c * in->ids_ns_row;
}

/* 1 when exact search (over the c candidates, or the scan when
 * scan_beats_ids) is cheaper than filtered HNSW. */
static int exact_is_cheaper(const vdb_plan_input *in, double c, double live)
{
    if (in->exact_max)
        return c <= (double)in->exact_max;
    if (in->hnsw && in->graph_cost != NULL) {
        uint32_t ef;
        double exact = scan_beats_ids(in, c, live) ? live * in->scan_ns_row : c * in->ids_ns_row;
        return exact <= in->graph_cost(in->cost_ctx, c, live, &ef);
    }
    if (!in->hnsw)
        return c <= live / 2;
    if (live <= 0 || c <= 0)
        return 1;
    double s = c < live ? c / live : 1.0;
    return c <= HNSW_COST_PER_EF * filtered_ef(in, s) / s;
}

static void plan_kind(vdb_plan *plan, const vdb_plan_input *in, double live)
{
    double c = (double)plan->estimate;
    if (exact_is_cheaper(in, c, live))
        plan->kind = scan_beats_ids(in, c, live) ? VDB_PLAN_FLAT : VDB_PLAN_EXACT_IDS;
    else
        plan->kind = in->hnsw ? VDB_PLAN_HNSW : VDB_PLAN_FLAT;
    if (plan->kind == VDB_PLAN_HNSW && in->graph_cost != NULL) {
        in->graph_cost(in->cost_ctx, c, live, &plan->ef);
    } else if (plan->kind == VDB_PLAN_HNSW) {
        double s = live > 0 ? (c > 1 ? c : 1) / live : 1.0;
        double ef = filtered_ef(in, s < 1.0 ? s : 1.0);
        plan->ef = ef > 100000.0 ? 100000u : (uint32_t)ef;
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
        plan->unindexed = unindexed[0] != '\0';
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

/* Plans a real filter: estimate, then materialize only when exact search
 * (or the caller) needs the rows. */
static int plan_filter(vdb_selection *sel, const vdb_plan_input *in, double live)
{
    const vdb_filter *filter = sel->filter;
    sel->fast = vdb_calloc(filter->clauses ? filter->clauses : 1, sizeof(*sel->fast));
    if (sel->fast == NULL)
        return VDB_ENOMEM;
    vdb_payload__fast_init(sel->payload, filter->root, sel->fast);
    vdb_pest est = vdb_payload__estimate(sel->payload, filter->root, live);
    if (!est.known) {
        est.count = sample_estimate(sel);
        est.exact = 0;
    }
    double count = est.count < 0 ? 0 : est.count;
    /* The rows are needed for a search over the candidates only. */
    if (in->materialize ||
        (exact_is_cheaper(in, count, live) && !scan_beats_ids(in, count, live))) {
        const vdb_fnode *drive = driving_range(sel);
        if (drive != NULL ? materialize_range(sel, drive) != VDB_OK : materialize(sel) != VDB_OK)
            return VDB_ENOMEM;
        sel->plan.estimate =
            sel->rows != NULL ? (size_t)roaring_bitmap_get_cardinality(sel->rows) : sel->nids;
        sel->plan.estimate_exact = 1;
    } else {
        sel->plan.estimate = (size_t)llround(count);
        sel->plan.estimate_exact = est.exact;
    }
    plan_kind(&sel->plan, in, live);
    return VDB_OK;
}

int vdb_payload_selection_new(const vdb_payload *payload, const vdb_filter *filter,
                              const vdb_plan_input *input, vdb_selection **out, vdb_error *err)
{
    if (input == NULL || input->k == 0)
        return vdb_error_set(err, VDB_EINVAL, "k must be at least 1");
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
    } else if (plan_filter(sel, input, (double)live) != VDB_OK) {
        goto nomem;
    }
    if (sel->rows != NULL && sel->ids == NULL &&
        (sel->plan.kind == VDB_PLAN_EXACT_IDS || input->materialize)) {
        sel->nids = (size_t)roaring_bitmap_get_cardinality(sel->rows);
        sel->ids = vdb_malloc((sel->nids ? sel->nids : 1) * sizeof(*sel->ids));
        if (sel->ids == NULL)
            goto nomem;
        roaring_bitmap_to_uint32_array(sel->rows, sel->ids);
    }
    plan_explain(sel);
    *out = sel;
    return VDB_OK;
nomem:
    vdb_selection_free(sel);
    return vdb_error_set(err, VDB_ENOMEM, "out of memory planning a filtered query");
}

void vdb_selection_free(vdb_selection *selection)
{
    if (selection == NULL)
        return;
    if (selection->rows != NULL)
        roaring_bitmap_free(selection->rows);
    vdb_free(selection->fast);
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
    if (sel->rows != NULL)
        return roaring_bitmap_contains(sel->rows, row);
    if (!vdb_payload__bit(sel->payload, row))
        return 0;
    return sel->filter == NULL || row_matches(sel, row);
}

int vdb_payload_match_rows(const vdb_payload *payload, const vdb_filter *filter, uint32_t **rows,
                           size_t *count, vdb_error *err)
{
    vdb_plan_input input = {.k = 1, .materialize = 1};
    vdb_selection *sel = NULL;
    int rc = vdb_payload_selection_new(payload, filter, &input, &sel, err);
    if (rc != VDB_OK)
        return rc;
    /* Hand the selection's array over instead of copying it. */
    *count = sel->nids;
    *rows = sel->nids ? sel->ids : NULL;
    if (sel->nids)
        sel->ids = NULL;
    vdb_selection_free(sel);
    return VDB_OK;
}

int vdb_payload_count(const vdb_payload *payload, const vdb_filter *filter, size_t *count,
                      vdb_error *err)
{
    double live = (double)vdb_payload_live(payload);
    if (filter != NULL) {
        vdb_pest est = vdb_payload__estimate(payload, filter->root, live);
        if (est.known && est.exact) {
            *count = (size_t)llround(est.count);
            return VDB_OK;
        }
    }
    uint32_t *rows = NULL;
    size_t n = 0;
    int rc = vdb_payload_match_rows(payload, filter, &rows, &n, err);
    vdb_free(rows);
    if (rc == VDB_OK)
        *count = n;
    return rc;
}
