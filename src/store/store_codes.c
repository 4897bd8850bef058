/* A store's quantized codes; see store_codes.h for the life cycle.
 *
 * Why in memory only: the codes are a pure function of the float rows and
 * the trained parameters, and encoding is one pass over the rows (about a
 * second at 1M x 384), the same order as reading a persisted copy back; a
 * second on-disk format would need its own crash and corruption story for
 * no gain. Why one struct that outlives the codes: the counters in the
 * stats survive rebuilds. */
#include "store_codes.h"

#include <stdatomic.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/json.h"
#include "../core/log.h"
#include "../index/quant.h"
#include "store_int.h"
#include "vecset.h"

typedef struct vdb_store_codes {
    vdb_quant *quant;      /* NULL: none configured, or missing (rebuilt by the next write) */
    vdb_quant *trial;      /* auto: int8 codes the calibration measures; no query uses them */
    uint32_t built_rows;   /* rows when the codes were last trained */
    int auto_kind;         /* auto: VDB_QUANT_NONE or _INT8 as decided, -1 undecided */
    uint64_t compactions;  /* after_compact calls (a trial built across one is void) */
    _Atomic uint64_t queries, reranked, fallbacks, graph;
} vdb_store_codes;

/* Rows encoded per read-guard hold while a trial is built: a writer's
 * commit waits for at most one chunk (~10-40 ms at 384-d), not the whole
 * encode. */
#define TRIAL_CHUNK 16384u

const char *vdb_store_quant_name(int quantization)
{
    return quantization == VDB_STORE_QUANT_AUTO ? "auto"
                                                : vdb_quant_kind_name((vdb_quant_kind)quantization);
}

int vdb_store_quant_parse(const char *name)
{
    if (name != NULL && strcmp(name, "auto") == 0)
        return VDB_STORE_QUANT_AUTO;
    return vdb_quant_kind_parse(name);
}

/* The kind of codes the store keeps: the configured one, or for auto what
 * the calibration decided (none until it has). */
static int effective_kind(const vdb_store *store, const vdb_store_codes *c)
{
    int q = store->config.quantization;
    if (q != VDB_STORE_QUANT_AUTO)
        return q;
    return c != NULL && c->auto_kind == VDB_QUANT_INT8 ? VDB_QUANT_INT8 : VDB_QUANT_NONE;
}

static vdb_store_codes *codes_of(vdb_store *store, vdb_error *err)
{
    if (store->codes == NULL) {
        if ((store->codes = vdb_calloc(1, sizeof(vdb_store_codes))) == NULL)
            vdb_error_set(err, VDB_ENOMEM, "store codes");
        else
            store->codes->auto_kind = -1;
    }
    return store->codes;
}

/* Builds codes of `kind` from the rows (rw shared: readers and writers go
 * on) and swaps them in (rw exclusive), encoding then the rows writers
 * appended meanwhile. The caller keeps compaction out (it renumbers rows). */
static int build_and_swap(vdb_store *store, int kind, int auto_kind, vdb_error *err)
{
    vdb_store_codes *c = codes_of(store, err);
    vdb_quant *fresh = NULL, *old, *trial;
    uint32_t rows;
    int build = kind == VDB_STORE_QUANT_AUTO ? auto_kind : kind;
    if (c == NULL)
        return VDB_ENOMEM;
    if (build == VDB_QUANT_INT8 || build == VDB_QUANT_BINARY) {
        pthread_rwlock_rdlock(&store->rw);
        vdb_vecview view = vdb_vecset_view(store->set);
        rows = view.n;
        int rc = vdb_quant_build((vdb_quant_kind)build, &view, &fresh, err);
        pthread_rwlock_unlock(&store->rw);
        if (rc != VDB_OK)
            return rc;
    } else {
        rows = vdb_vecset_rows(store->set);
    }
    pthread_rwlock_wrlock(&store->rw);
    if (fresh != NULL) {
        vdb_vecview now = vdb_vecset_view(store->set);
        vdb_error aerr;
        if (now.n != rows && vdb_quant_append(fresh, &now, &aerr) != VDB_OK) {
            /* Missing codes are rebuilt by the next write. */
            vdb_log_warn("%s: encoding rows added during the build failed: %s", store->dir,
                         aerr.msg);
            vdb_quant_free(fresh);
            fresh = NULL;
        }
        rows = now.n;
    }
    old = c->quant;
    trial = c->trial;
    c->quant = fresh;
    c->trial = NULL;
    c->built_rows = rows;
    c->auto_kind = kind == VDB_STORE_QUANT_AUTO ? auto_kind : -1;
    store->config.quantization = kind;
    atomic_fetch_add(&store->generation, 1);
    pthread_rwlock_unlock(&store->rw);
    vdb_quant_free(old);
    vdb_quant_free(trial);
    return VDB_OK;
}

int vdb_store__codes_open(vdb_store *store, int auto_kind, vdb_error *err)
{
    if (auto_kind != VDB_QUANT_NONE && auto_kind != VDB_QUANT_INT8)
        auto_kind = -1;
    return build_and_swap(store, store->config.quantization, auto_kind, err);
}

int vdb_store__codes_rebuild(vdb_store *store, int kind, vdb_error *err)
{
    if (kind != VDB_QUANT_NONE && kind != VDB_QUANT_INT8 && kind != VDB_QUANT_BINARY &&
        kind != VDB_STORE_QUANT_AUTO)
        return vdb_error_set(err, VDB_EINVAL, "quantization %d is not none, int8, binary or auto",
                             kind);
    /* auto starts undecided: the next calibration measures both ways. */
    return build_and_swap(store, kind, -1, err);
}

void vdb_store__codes_close(vdb_store *store)
{
    if (store->codes == NULL)
        return;
    vdb_quant_free(store->codes->quant);
    vdb_quant_free(store->codes->trial);
    vdb_free(store->codes);
    store->codes = NULL;
}

int vdb_store__codes_auto_kind(vdb_store *store)
{
    pthread_rwlock_rdlock(&store->rw);
    const vdb_store_codes *c = store->codes;
    int k = store->config.quantization != VDB_STORE_QUANT_AUTO ? -2
            : c != NULL                                       ? c->auto_kind
                                                              : -1;
    pthread_rwlock_unlock(&store->rw);
    return k;
}

int vdb_store__codes_trial_begin(vdb_store *store, vdb_error *err)
{
    vdb_store_codes *c = codes_of(store, err);
    vdb_quant *fresh = NULL;
    if (c == NULL)
        return VDB_ENOMEM;
    pthread_rwlock_rdlock(&store->rw);
    uint64_t compactions = c->compactions;
    vdb_vecview view = vdb_vecset_view(store->set);
    /* Trained on the whole store as an open would train them (a trial
     * trained on its first rows gave other codes than the next open, so
     * answers moved across a restart), with room for every row. */
    int trained = view.n == 0 ? VDB_OK
                              : vdb_quant_new_trained(VDB_QUANT_INT8, &view,
                                                      view.n + view.n / 64, &fresh, err);
    pthread_rwlock_unlock(&store->rw);
    if (view.n == 0)
        return vdb_error_set(err, VDB_EBUSY, "no rows to encode");
    if (trained != VDB_OK)
        return trained;
    /* The rest chunk by chunk: the codes are private until swapped in, so
     * each chunk needs only a stable view of its rows. */
    for (;;) {
        int rc = VDB_OK, last;
        pthread_rwlock_rdlock(&store->rw);
        vdb_vecview view2 = vdb_vecset_view(store->set);
        uint64_t have = vdb_quant_count(fresh);
        last = view2.n <= have + TRIAL_CHUNK;
        if (!last)
            view2.n = (uint32_t)(have + TRIAL_CHUNK);
        if (c->compactions != compactions)
            rc = vdb_error_set(err, VDB_EBUSY, "rows renumbered while the trial codes were built");
        else if (view2.n > have)
            rc = vdb_quant_append(fresh, &view2, err);
        pthread_rwlock_unlock(&store->rw);
        if (rc != VDB_OK) {
            vdb_quant_free(fresh);
            return rc;
        }
        if (last)
            break;
    }
    /* Swapped in with the rows appended meanwhile (writers extend it from
     * then on: after_write). */
    int rc = VDB_OK;
    pthread_rwlock_wrlock(&store->rw);
    vdb_vecview now = vdb_vecset_view(store->set);
    if (c->compactions != compactions)
        rc = vdb_error_set(err, VDB_EBUSY, "rows renumbered while the trial codes were built");
    else if (now.n > vdb_quant_count(fresh))
        rc = vdb_quant_append(fresh, &now, err);
    if (rc == VDB_OK) {
        vdb_quant_free(c->trial);
        c->trial = fresh;
        fresh = NULL;
    }
    pthread_rwlock_unlock(&store->rw);
    vdb_quant_free(fresh);
    return rc;
}

const vdb_quant *vdb_store__codes_trial(vdb_store *store, const vdb_vecview *view)
{
    const vdb_store_codes *c = store->codes;
    return c != NULL && c->trial != NULL && vdb_quant_count(c->trial) == view->n ? c->trial
                                                                               : NULL;
}

void vdb_store__codes_trial_end_locked(vdb_store *store, int adopt)
{
    vdb_store_codes *c = store->codes;
    if (c == NULL)
        return;
    if (adopt > 0 && c->trial != NULL && store->config.quantization == VDB_STORE_QUANT_AUTO) {
        vdb_quant_free(c->quant);
        c->quant = c->trial;
        c->built_rows = (uint32_t)vdb_quant_count(c->trial);
        c->auto_kind = VDB_QUANT_INT8;
        atomic_fetch_add(&store->generation, 1);
    } else {
        vdb_quant_free(c->trial);
        if (adopt == 0 && store->config.quantization == VDB_STORE_QUANT_AUTO && c->quant == NULL)
            c->auto_kind = VDB_QUANT_NONE;
    }
    c->trial = NULL;
}

/* Rebuilds with rw held exclusively (missing codes, retraining). */
static void rebuild_locked(vdb_store *store, vdb_store_codes *c, const vdb_vecview *view)
{
    vdb_error err;
    int kind = effective_kind(store, c);
    vdb_quant_free(c->quant);
    int rc = vdb_quant_build((vdb_quant_kind)kind, view, &c->quant, &err);
    c->built_rows = view->n;
    if (rc != VDB_OK)
        vdb_log_warn("%s: building %s codes failed (exact queries scan floats until the next "
                     "write rebuilds them): %s",
                     store->dir, vdb_quant_kind_name((vdb_quant_kind)kind), err.msg);
}

void vdb_store__codes_after_write(vdb_store *store)
{
    vdb_store_codes *c = store->codes;
    vdb_error err;
    if (c == NULL)
        return;
    vdb_vecview view = vdb_vecset_view(store->set);
    if (c->trial != NULL && vdb_quant_append(c->trial, &view, &err) != VDB_OK) {
        /* The calibration sees the trial gone and keeps the float path. */
        vdb_quant_free(c->trial);
        c->trial = NULL;
    }
    if (effective_kind(store, c) == VDB_QUANT_NONE)
        return;
    /* Retrain at each doubling while the training sample is not full:
     * amortized one encode per row, and the scales stop depending on the
     * first batch. */
    int retrain = c->built_rows < VDB_QUANT_TRAIN_ROWS && view.n >= 2 * (uint64_t)c->built_rows &&
                  view.n > 0;
    if (c->quant == NULL || retrain) {
        rebuild_locked(store, c, &view);
        return;
    }
    if (vdb_quant_append(c->quant, &view, &err) != VDB_OK) {
        vdb_log_warn("%s: encoding new rows failed (codes dropped, rebuilt by the next write): %s",
                     store->dir, err.msg);
        vdb_quant_free(c->quant);
        c->quant = NULL;
    }
}

void vdb_store__codes_after_compact(vdb_store *store, const uint32_t *old_to_new,
                                   uint32_t old_rows)
{
    vdb_store_codes *c = store->codes;
    vdb_error err;
    if (c == NULL)
        return;
    c->compactions++;
    vdb_quant_free(c->trial); /* its rows were renumbered: the calibration fails and retries */
    c->trial = NULL;
    if (c->quant == NULL)
        return;
    vdb_vecview view = vdb_vecset_view(store->set);
    if (old_to_new == NULL || vdb_quant_count(c->quant) != old_rows ||
        vdb_quant_compact(c->quant, old_to_new, old_rows, &err) != VDB_OK ||
        vdb_quant_count(c->quant) != view.n)
        rebuild_locked(store, c, &view);
}

const vdb_quant *vdb_store__codes_current(vdb_store *store, const vdb_vecview *view)
{
    const vdb_store_codes *c = store->codes;
    return c != NULL && c->quant != NULL && vdb_quant_count(c->quant) == view->n && view->n > 0
               ? c->quant
               : NULL;
}

void vdb_store__codes_count_scan(vdb_store *store, size_t reranked, int fallback)
{
    vdb_store_codes *c = store->codes;
    if (c == NULL)
        return;
    atomic_fetch_add(&c->queries, 1);
    atomic_fetch_add(&c->reranked, reranked);
    if (fallback)
        atomic_fetch_add(&c->fallbacks, 1);
}

const vdb_quant *vdb_store__codes_traversal(vdb_store *store, const vdb_vecview *view,
                                           size_t nq)
{
    const vdb_quant *q = vdb_store__codes_current(store, view);
    if (q == NULL || vdb_quant_kind_of(q) != VDB_QUANT_INT8)
        return NULL;
    if (nq > 0)
        atomic_fetch_add(&store->codes->graph, nq);
    return q;
}

size_t vdb_store__codes_memory(vdb_store *store)
{
    const vdb_store_codes *c = store->codes;
    return c != NULL && c->quant != NULL ? vdb_quant_memory(c->quant) : 0;
}

vdb_json *vdb_store_codes_json(vdb_store *store)
{
    vdb_json *obj = vdb_json_object();
    if (obj == NULL)
        return NULL;
    pthread_rwlock_rdlock(&store->rw);
    vdb_store_codes *c = store->codes;
    const vdb_quant *q = c != NULL ? c->quant : NULL;
    vdb_json_object_set_new(obj, "kind",
                            vdb_json_string(vdb_store_quant_name(store->config.quantization)));
    /* The codes kept now: for auto, what its calibration decided
     * ("undecided" until the first one). */
    vdb_json_object_set_new(
        obj, "effective",
        vdb_json_string(store->config.quantization == VDB_STORE_QUANT_AUTO &&
                                (c == NULL || c->auto_kind < 0)
                            ? "undecided"
                            : vdb_quant_kind_name((vdb_quant_kind)effective_kind(store, c))));
    vdb_json_object_set_new(obj, "rows", vdb_json_int(q ? (long long)vdb_quant_count(q) : 0));
    vdb_json_object_set_new(obj, "bytes", vdb_json_int(q ? (long long)vdb_quant_memory(q) : 0));
    vdb_json_object_set_new(obj, "bytes_per_row",
                            vdb_json_int(q ? (long long)vdb_quant_row_bytes(q) : 0));
    vdb_json_object_set_new(obj, "exact_queries",
                            vdb_json_int(c ? (long long)atomic_load(&c->queries) : 0));
    vdb_json_object_set_new(obj, "reranked_rows",
                            vdb_json_int(c ? (long long)atomic_load(&c->reranked) : 0));
    vdb_json_object_set_new(obj, "float_fallbacks",
                            vdb_json_int(c ? (long long)atomic_load(&c->fallbacks) : 0));
    vdb_json_object_set_new(obj, "graph_queries",
                            vdb_json_int(c ? (long long)atomic_load(&c->graph) : 0));
    pthread_rwlock_unlock(&store->rw);
    return obj;
}
