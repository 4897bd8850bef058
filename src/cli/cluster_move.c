/* `vdb cluster move USER --to NODE`: moves a tenant's stores to another
 * node while it keeps serving, through the nodes' routes only (export_zip,
 * import_zip, wal_tail, wal_apply, store stats, delete, /admin/freeze) and
 * HAProxy's runtime API. The state machine (docs/scale-out.md) is
 * journalled in RUN_DIR/moves/USER.json, rewritten atomically before each
 * step that depends on it, so a mover killed anywhere reruns from there:
 *
 *   (none) -> COPY: the source owns the tenant (the map or the hash routes
 *             to it) and keeps taking writes. Every store is exported from
 *             the source and imported on the target (overwrite). The
 *             export answers the LSN of its pinned snapshot; the journal
 *             keeps it per store.
 *   COPY -> FROZEN: the journal says FROZEN first, then the source freezes
 *             the tenant (persisted on the node; writes get 503 +
 *             Retry-After; the node answers only when no write is in
 *             flight). Catch-up: a store still at its journalled LSN is
 *             unchanged and skipped; for any other, the WAL records past
 *             that LSN are shipped (wal_tail -> wal_apply), or, when a
 *             checkpoint has dropped them, the store is copied again. Then
 *             every store's count must match on both nodes.
 *   FROZEN -> SWITCHED: the placement map names the target (file, then
 *             the live map). Retried writes now reach the target.
 *   SWITCHED -> done: the source's stores are deleted (the tenant stays
 *             frozen there: a stale request that reaches the old node can
 *             never fork the tenant), the journal is removed.
 *
 * Exactly one owner at every point: before SWITCHED the map routes to the
 * source, which has every acknowledged write (the target's copy is not
 * routed to and is replaced by a rerun); from SWITCHED on it routes to the
 * target, which got every acknowledged write before the flip (the source
 * refused writes from the freeze on). A rerun of the same move, or
 * --resume, continues from the journalled state; every step is idempotent.
 *
 * Test hook: VDB_MOVE_CRASH_AT=copy|frozen|switched makes the mover kill
 * itself with SIGKILL just after that state's work (copy: after the first
 * store), so the e2e tests interrupt a move at known points. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../store/registry.h"
#include "cluster_cmd.h"

#define JOURNAL_MAX (1u << 20)

typedef struct move {
    const vdb_cluster *c;
    char user[128];
    char dir[4200];   /* RUN_DIR/moves */
    char name[160];   /* USER.json */
    vdb_json *j;      /* the journal */
    const vdb_cluster_node *from, *to;
    double freeze_wait_s; /* how long a freeze is retried while batch jobs run */
} move;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void crash_point(const char *state)
{
    const char *at = getenv("VDB_MOVE_CRASH_AT");
    if (at != NULL && strcmp(at, state) == 0) {
        fprintf(stderr, "vdb cluster move: VDB_MOVE_CRASH_AT=%s: killing myself\n", state);
        fflush(stderr);
        raise(SIGKILL);
    }
}

static const char *jstr(const vdb_json *o, const char *key)
{
    vdb_json *v = vdb_json_object_get(o, key);
    return v && vdb_json_typeof(v) == VDB_JSON_STRING ? vdb_json_string_value(v) : NULL;
}

static int save(move *m, const char *state, vdb_error *err)
{
    vdb_json_object_set_new(m->j, "state", vdb_json_string(state));
    char *text = vdb_json_dump(m->j, VDB_JSON_DUMP_COMPACT);
    if (text == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    int rc = vdb_fsx_replace_file(m->dir, m->name, text, strlen(text), 0644, err);
    vdb_json_free_text(text);
    return rc;
}

static int load(move *m, vdb_error *err)
{
    char path[4400], *text = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", m->dir, m->name);
    int rc = vdb_fsx_read_file(path, JOURNAL_MAX, &text, &len, err);
    if (rc != VDB_OK)
        return rc;
    rc = vdb_json_parse(text, len, 0, &m->j, err);
    vdb_free(text);
    if (rc == VDB_ENOMEM)
        return rc;
    const char *state = m->j ? jstr(m->j, "state") : NULL;
    if (m->j == NULL || jstr(m->j, "from") == NULL || jstr(m->j, "to") == NULL || state == NULL ||
        (strcmp(state, "copy") != 0 && strcmp(state, "frozen") != 0 &&
         strcmp(state, "switched") != 0) ||
        vdb_json_typeof(vdb_json_object_get(m->j, "lsn")) != VDB_JSON_OBJECT) {
        vdb_json_decref(m->j);
        m->j = NULL;
        return vdb_error_set(err, VDB_ECORRUPT, "move journal %s is malformed", path);
    }
    return VDB_OK;
}

/* The model ids of the tenant on `node` (JSON array of strings). */
static int models_on(move *m, const vdb_cluster_node *node, vdb_json **out, vdb_error *err)
{
    char target[256];
    vdb_json *doc = NULL;
    snprintf(target, sizeof(target), "/admin/list_stores?user_id=%s", m->user);
    int rc = vdb_cluster_json(m->c, node, "GET", target, NULL, NULL, &doc, err);
    if (rc != VDB_OK)
        return rc;
    vdb_json *list = vdb_json_array(), *stores = vdb_json_object_get(doc, "stores");
    for (size_t i = 0; i < vdb_json_array_size(stores); i++) {
        const char *model = jstr(vdb_json_array_get(stores, i), "model_id");
        if (model != NULL)
            vdb_json_array_append_new(list, vdb_json_string(model));
    }
    vdb_json_decref(doc);
    *out = list;
    return VDB_OK;
}

/* One store's figures on `node`: *present 0 when it has no such store. */
static int store_figures(move *m, const vdb_cluster_node *node, const char *model, int *present,
                         long long *lsn, long long *count, vdb_error *err)
{
    char target[400];
    int status = 0;
    vdb_json *doc = NULL;
    vdb_error local = {0};
    snprintf(target, sizeof(target), "/admin/store/stats?user_id=%s&model_id=%s", m->user, model);
    int rc = vdb_cluster_json(m->c, node, "GET", target, NULL, &status, &doc, &local);
    *present = rc == VDB_OK;
    if (rc != VDB_OK && status == 404)
        return VDB_OK;
    if (rc != VDB_OK) {
        *err = local;
        return rc;
    }
    *lsn = vdb_json_int_value(vdb_json_object_get(doc, "wal_lsn"));
    *count = vdb_json_int_value(vdb_json_object_get(doc, "vector_count"));
    vdb_json_decref(doc);
    return VDB_OK;
}

/* Export from the source, import on the target (overwrite): *lsn gets the
 * LSN of the snapshot the archive holds; *bytes the archive size. */
static int copy_store(move *m, const char *model, long long *lsn, size_t *bytes, vdb_error *err)
{
    char target[400];
    vdb_httpc_response zip, imp;
    snprintf(target, sizeof(target), "/admin/export_zip?user_id=%s&model_id=%s", m->user, model);
    int rc = vdb_cluster_call(m->c, m->from, NULL, "GET", target, NULL, NULL, 0, 600.0, &zip, err);
    if (rc != VDB_OK)
        return rc;
    if (zip.status != 200 || zip.wal_lsn[0] == '\0') {
        rc = vdb_error_set(err, VDB_EIO, "%s: export of %s/%s -> %d: %.120s", m->from->name,
                           m->user, model, zip.status, zip.body);
        vdb_httpc_response_free(&zip);
        return rc;
    }
    *lsn = strtoll(zip.wal_lsn, NULL, 10);
    *bytes = zip.body_len;
    snprintf(target, sizeof(target), "/admin/import_zip?user_id=%s&model_id=%s&overwrite=true",
             m->user, model);
    memset(&imp, 0, sizeof(imp)); /* written only on success */
    rc = vdb_cluster_call(m->c, m->to, NULL, "POST", target, "application/zip", zip.body,
                          zip.body_len, 600.0, &imp, err);
    vdb_httpc_response_free(&zip);
    if (rc == VDB_OK && imp.status != 200)
        rc = vdb_error_set(err, VDB_EIO, "%s: import of %s/%s -> %d: %.120s", m->to->name, m->user,
                           model, imp.status, imp.body);
    vdb_httpc_response_free(&imp);
    return rc;
}

/* Catch-up by WAL tail: the source's records after `after` (GET
 * /admin/wal_tail), applied on the target (POST /admin/wal_apply). Returns
 * 1 when the tail cannot be had or applied (a checkpoint since, too large,
 * refused): the caller copies the store whole instead. */
static int copy_tail(move *m, const char *model, long long after, long long *lsn, size_t *bytes,
                     vdb_error *err)
{
    char target[400];
    vdb_httpc_response tail, app;
    snprintf(target, sizeof(target), "/admin/wal_tail?user_id=%s&model_id=%s&after=%lld", m->user,
             model, after);
    int rc = vdb_cluster_call(m->c, m->from, NULL, "GET", target, NULL, NULL, 0, 600.0, &tail, err);
    if (rc != VDB_OK)
        return rc;
    if (tail.status != 200 || tail.wal_lsn[0] == '\0') {
        int fallback = tail.status == 409 || tail.status == 413 || tail.status == 422;
        if (!fallback)
            rc = vdb_error_set(err, VDB_EIO, "%s: wal_tail of %s/%s -> %d: %.120s", m->from->name,
                               m->user, model, tail.status, tail.body);
        vdb_httpc_response_free(&tail);
        return fallback ? 1 : rc;
    }
    *lsn = strtoll(tail.wal_lsn, NULL, 10);
    *bytes = tail.body_len;
    snprintf(target, sizeof(target), "/admin/wal_apply?user_id=%s&model_id=%s", m->user, model);
    memset(&app, 0, sizeof(app));
    rc = vdb_cluster_call(m->c, m->to, NULL, "POST", target, "application/octet-stream",
                          tail.body, tail.body_len, 600.0, &app, err);
    vdb_httpc_response_free(&tail);
    if (rc == VDB_OK && app.status != 200)
        rc = 1; /* e.g. the target lost the store: copy it whole */
    vdb_httpc_response_free(&app);
    return rc;
}

/* DELETE a store on `node`; a missing store is fine. `override`: pass the
 * freeze (the tenant is frozen on the source by then). */
static int delete_store(move *m, const vdb_cluster_node *node, const char *model, int override,
                        vdb_error *err)
{
    char target[400];
    vdb_httpc_response resp;
    snprintf(target, sizeof(target), "/admin/store?user_id=%s&model_id=%s&force=true", m->user, model);
    vdb_httpc_request rq = {node->host, node->port, "DELETE", target, m->c->key, NULL,
                            override ? "X-Vdb-Freeze-Override: 1" : NULL, NULL, 0, 120.0, 0};
    int rc = vdb_httpc_send(&rq, &resp, err);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc, "%s: delete %s/%s: %s", node->name, m->user, model, err->msg);
    if (resp.status != 200 && resp.status != 404)
        rc = vdb_error_set(err, VDB_EIO, "%s: delete %s/%s -> %d: %.120s", node->name, m->user,
                           model, resp.status, resp.body);
    vdb_httpc_response_free(&resp);
    return rc;
}

static int freeze_once(move *m, const vdb_cluster_node *node, int on, int *status,
                       vdb_error *err)
{
    char body[256];
    vdb_json *doc = NULL;
    snprintf(body, sizeof(body), "{\"user_id\":\"%s\",\"frozen\":%s}", m->user, on ? "true" : "false");
    int rc = vdb_cluster_json(m->c, node, "POST", "/admin/freeze", body, status, &doc, err);
    vdb_json_decref(doc);
    return rc;
}

/* Freezes or thaws the tenant on `node`. A freeze the node answers 503
 * (the tenant is frozen, but batch operations of it that began before are
 * still committing) is repeated with backoff, 50 ms doubling to 1 s, for
 * at most m->freeze_wait_s; the node does not wait itself, so no HTTP
 * worker is held. Past that bound the tenant is thawed again (the source
 * still owns it: nothing has switched) and the move stops; rerun it when
 * the operations have finished. */
static int freeze(move *m, const vdb_cluster_node *node, int on, vdb_error *err)
{
    double deadline = now_s() + m->freeze_wait_s, pause = 0.05;
    unsigned tries = 0;
    for (;;) {
        int status = 0;
        int rc = freeze_once(m, node, on, &status, err);
        if (rc == VDB_OK || !on || status != 503)
            return rc;
        if (++tries == 1) {
            printf("  %s: waiting for the tenant's running batch operations (up to %.0f s)\n",
                   node->name, m->freeze_wait_s);
            fflush(stdout);
        }
        if (now_s() + pause > deadline) {
            vdb_error thaw = {0};
            if (freeze_once(m, node, 0, &status, &thaw) != VDB_OK)
                fprintf(stderr, "vdb cluster move: thawing %s on %s failed: %s\n", m->user,
                        node->name, thaw.msg);
            return vdb_error_set(err, VDB_EBUSY, "%s still has batch operations running on %s "
                                 "after %.0f s (%u tries); thawed it there, rerun the move when "
                                 "they finish", m->user, node->name, m->freeze_wait_s, tries);
        }
        struct timespec ts = {(time_t)pause, (long)((pause - (double)(time_t)pause) * 1e9)};
        nanosleep(&ts, NULL);
        pause = pause * 2 > 1.0 ? 1.0 : pause * 2;
    }
}

static int contains(const vdb_json *list, const char *s)
{
    for (size_t i = 0; i < vdb_json_array_size(list); i++)
        if (strcmp(vdb_json_string_value(vdb_json_array_get(list, i)), s) == 0)
            return 1;
    return 0;
}

/* Makes the target's stores of the tenant equal the source's: copies each
 * store whose journalled LSN is not the source's current one (or that the
 * target lacks or counts differently), deletes target stores the source
 * does not have. With `final` (the tenant frozen), checks counts after. */
static int sync_stores(move *m, int final, size_t *copied_bytes, vdb_error *err)
{
    vdb_json *src = NULL, *dst = NULL, *lsns = vdb_json_object_get(m->j, "lsn");
    int rc = models_on(m, m->from, &src, err);
    if (rc == VDB_OK)
        rc = models_on(m, m->to, &dst, err);
    for (size_t i = 0; rc == VDB_OK && i < vdb_json_array_size(src); i++) {
        const char *model = vdb_json_string_value(vdb_json_array_get(src, i));
        int have_src, have_dst;
        long long slsn = 0, scount = 0, dlsn = 0, dcount = -1, copied_lsn = 0;
        size_t bytes = 0;
        vdb_json *known = vdb_json_object_get(lsns, model);
        rc = store_figures(m, m->from, model, &have_src, &slsn, &scount, err);
        if (rc == VDB_OK)
            rc = store_figures(m, m->to, model, &have_dst, &dlsn, &dcount, err);
        if (rc != VDB_OK || !have_src)
            continue; /* deleted on the source meanwhile: dropped below */
        if (known != NULL && vdb_json_int_value(known) == slsn && have_dst && dcount == scount)
            continue; /* unchanged since its copy */
        /* Only the writes since the journalled copy, when the WAL still has
         * them; else (or for a store never copied) the whole store. */
        const char *how = "store";
        rc = known != NULL && have_dst
                 ? copy_tail(m, model, vdb_json_int_value(known), &copied_lsn, &bytes, err)
                 : 1;
        if (rc == VDB_OK)
            how = "WAL tail";
        else if (rc == 1)
            rc = copy_store(m, model, &copied_lsn, &bytes, err);
        if (rc != VDB_OK)
            break;
        *copied_bytes += bytes;
        vdb_json_object_set_new(lsns, model, vdb_json_int(copied_lsn));
        printf("  %s/%s: copied %s, %zu bytes (%s)\n", m->user, model, how, bytes,
               final ? "catch-up, frozen" : "bulk");
        fflush(stdout);
        if ((rc = save(m, final ? "frozen" : "copy", err)) == VDB_OK && !final)
            crash_point("copy");
    }
    for (size_t i = 0; rc == VDB_OK && i < vdb_json_array_size(dst); i++) {
        const char *model = vdb_json_string_value(vdb_json_array_get(dst, i));
        if (!contains(src, model))
            rc = delete_store(m, m->to, model, 0, err);
    }
    /* The check that makes the switch safe: same stores, same counts. */
    for (size_t i = 0; rc == VDB_OK && final && i < vdb_json_array_size(src); i++) {
        const char *model = vdb_json_string_value(vdb_json_array_get(src, i));
        int have_src, have_dst;
        long long l1, c1 = 0, l2, c2 = -1;
        rc = store_figures(m, m->from, model, &have_src, &l1, &c1, err);
        if (rc == VDB_OK)
            rc = store_figures(m, m->to, model, &have_dst, &l2, &c2, err);
        if (rc == VDB_OK && have_src && (!have_dst || c1 != c2))
            rc = vdb_error_set(err, VDB_EIO, "%s/%s: %lld vectors on %s but %lld on %s after the copy",
                               m->user, model, c1, m->from->name, have_dst ? c2 : 0LL, m->to->name);
    }
    vdb_json_decref(src);
    vdb_json_decref(dst);
    return rc;
}

/* Which node holds the tenant now: the map's pin, else the one node with
 * its stores. *owner NULL: the tenant has no stores anywhere. */
static int find_source(move *m, const vdb_cluster_node **owner, vdb_error *err)
{
    char placed[64];
    const vdb_cluster_node *holder = NULL;
    int rc = vdb_cluster_placed(m->c, m->user, placed, sizeof(placed), err);
    if (rc != VDB_OK)
        return rc;
    for (size_t i = 0; i < m->c->nnodes; i++) {
        vdb_json *models = NULL;
        if ((rc = models_on(m, &m->c->nodes[i], &models, err)) != VDB_OK)
            return rc;
        size_t n = vdb_json_array_size(models);
        vdb_json_decref(models);
        if (n == 0)
            continue;
        if (holder != NULL)
            return vdb_error_set(err, VDB_EEXIST, "tenant %s has stores on %s and on %s; resolve "
                                 "that by hand first", m->user, holder->name, m->c->nodes[i].name);
        holder = &m->c->nodes[i];
    }
    if (placed[0] != '\0') {
        const vdb_cluster_node *pin = vdb_cluster_find(m->c, placed);
        if (pin == NULL)
            return vdb_error_set(err, VDB_EINVAL, "the map pins %s to unknown node %s", m->user, placed);
        if (holder != NULL && holder != pin)
            return vdb_error_set(err, VDB_EEXIST, "the map pins %s to %s but its stores are on %s",
                                 m->user, placed, holder->name);
        holder = pin;
    }
    *owner = holder;
    return VDB_OK;
}

static int begin(move *m, const vdb_cluster_node *to, vdb_error *err)
{
    const vdb_cluster_node *from = NULL;
    int rc = find_source(m, &from, err);
    if (rc != VDB_OK)
        return rc;
    if (from == NULL || from == to) {
        /* Nothing to copy: pinning is the whole move. */
        if ((rc = vdb_cluster_place(m->c, m->user, to->name, err)) == VDB_OK)
            printf("%s: %s; pinned to %s\n", m->user,
                   from == NULL ? "no stores on any node" : "already there", to->name);
        return rc == VDB_OK ? 1 : rc;
    }
    m->j = vdb_json_object();
    vdb_json_object_set_new(m->j, "version", vdb_json_int(1));
    vdb_json_object_set_new(m->j, "user", vdb_json_string(m->user));
    vdb_json_object_set_new(m->j, "from", vdb_json_string(from->name));
    vdb_json_object_set_new(m->j, "to", vdb_json_string(to->name));
    vdb_json_object_set_new(m->j, "lsn", vdb_json_object());
    return save(m, "copy", err);
}

static int run(move *m, vdb_error *err)
{
    size_t bulk = 0, catchup = 0;
    double t0 = now_s(), t_freeze = 0, t_switch = 0;
    const char *state = jstr(m->j, "state");
    int rc = VDB_OK;
    if (strcmp(state, "copy") == 0) {
        printf("%s: copying %s -> %s\n", m->user, m->from->name, m->to->name);
        rc = freeze(m, m->to, 0, err); /* a tombstone from an earlier move away */
        if (rc == VDB_OK)
            rc = sync_stores(m, 0, &bulk, err);
        if (rc == VDB_OK)
            rc = save(m, "frozen", err);
        state = "frozen";
    }
    if (rc == VDB_OK && strcmp(state, "frozen") == 0) {
        t_freeze = now_s();
        rc = freeze(m, m->from, 1, err);
        if (rc == VDB_OK)
            rc = sync_stores(m, 1, &catchup, err);
        if (rc == VDB_OK)
            crash_point("frozen");
        if (rc == VDB_OK)
            rc = vdb_cluster_place(m->c, m->user, m->to->name, err);
        t_switch = now_s();
        if (rc == VDB_OK)
            rc = save(m, "switched", err);
        if (rc == VDB_OK)
            crash_point("switched");
        state = "switched";
    }
    if (rc == VDB_OK && strcmp(state, "switched") == 0) {
        vdb_json *models = NULL;
        rc = vdb_cluster_place(m->c, m->user, m->to->name, err);
        if (rc == VDB_OK)
            rc = models_on(m, m->from, &models, err);
        for (size_t i = 0; rc == VDB_OK && i < vdb_json_array_size(models); i++)
            rc = delete_store(m, m->from, vdb_json_string_value(vdb_json_array_get(models, i)), 1,
                              err);
        vdb_json_decref(models);
    }
    if (rc != VDB_OK)
        return rc;
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", m->dir, m->name);
    if ((rc = vdb_fsx_unlink(path, err)) == VDB_OK)
        rc = vdb_fsx_dirsync(m->dir, err);
    double total = now_s() - t0;
    printf("%s: moved %s -> %s in %.3f s: bulk copy %zu bytes, catch-up %zu bytes",
           m->user, m->from->name, m->to->name, total, bulk, catchup);
    if (t_freeze > 0)
        printf(", writes paused %.3f s (freeze to map flip)", t_switch - t_freeze);
    printf("\n");
    return rc;
}

int vdb_cluster_move_main(const vdb_cluster *c, const vdb_cluster_args *args)
{
    move m;
    vdb_error err = {0};
    memset(&m, 0, sizeof(m));
    m.c = c;
    m.freeze_wait_s = args->freeze_wait_s;
    const vdb_cluster_node *to = vdb_cluster_find(c, args->to);
    if (vdb_registry_check_name("user_id", args->user, &err) != VDB_OK || to == NULL) {
        fprintf(stderr, "vdb cluster move: %s\n", to == NULL ? "--to names no node of the cluster"
                                                              : err.msg);
        return 2;
    }
    snprintf(m.user, sizeof(m.user), "%s", args->user);
    snprintf(m.dir, sizeof(m.dir), "%s/moves", c->dir);
    snprintf(m.name, sizeof(m.name), "%s.json", m.user);
    int rc = vdb_fsx_mkdir(m.dir, 0755, &err);
    if (rc == VDB_EEXIST)
        rc = VDB_OK;
    if (rc == VDB_OK) {
        rc = load(&m, &err);
        if (rc == VDB_ENOTFOUND && args->resume)
            rc = vdb_error_set(&err, VDB_ENOTFOUND, "no move of %s in progress", m.user);
        else if (rc == VDB_ENOTFOUND)
            rc = begin(&m, to, &err);
        else if (rc == VDB_OK && strcmp(jstr(m.j, "to"), to->name) != 0)
            rc = vdb_error_set(&err, VDB_EEXIST,
                               "a move of %s from %s to %s is in progress (state %s): finish it "
                               "with --to %s --resume",
                               m.user, jstr(m.j, "from"), jstr(m.j, "to"), jstr(m.j, "state"),
                               jstr(m.j, "to"));
    }
    if (rc == 1) { /* nothing to copy: done */
        vdb_json_decref(m.j);
        return 0;
    }
    if (rc == VDB_OK) {
        m.from = vdb_cluster_find(c, jstr(m.j, "from"));
        m.to = to;
        if (m.from == NULL)
            rc = vdb_error_set(&err, VDB_ECORRUPT, "journal names unknown node %s", jstr(m.j, "from"));
    }
    if (rc == VDB_OK)
        rc = run(&m, &err);
    vdb_json_decref(m.j);
    if (rc != VDB_OK) {
        fprintf(stderr, "vdb cluster move: %s\n", err.msg);
        if (m.from != NULL)
            fprintf(stderr, "vdb cluster move: the move is journalled in %s/%s; rerun the same "
                            "command (or add --resume) to finish it\n", m.dir, m.name);
        return 1;
    }
    return 0;
}
