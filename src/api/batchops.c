/* The batch operations registry (see batchops.h).
 *
 * A fixed table of VDB_BATCHOPS_MAX slots under one mutex: operations are
 * few and long (each moves thousands of vectors), so a linear scan per
 * lookup costs nothing next to the work, and a fixed table bounds the
 * memory a client can pin by starting operations. Progress counters are
 * atomics so the worker never takes the table lock per chunk. Finished
 * threads are joined lazily (on the next begin) and at free. */
#include "batchops.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/clock.h"
#include "../core/limits.h"
#include "../core/rng.h"

enum { OP_RUNNING = 0, OP_COMPLETED = 1, OP_FAILED = 2 };

struct vdb_batch_op {
    vdb_batchops *ops;
    atomic_int refs;
    char id[VDB_BATCHOP_ID_MAX];
    char type[24];
    char user_id[VDB_MAX_NAME_LEN + 1];
    char model_id[VDB_MAX_NAME_LEN + 1];
    size_t total_items, total_batches;
    atomic_size_t items, batches;
    double start_ms;
    _Atomic double end_ms;
    atomic_int state;
    char error[VDB_ERROR_MSG_MAX];
    /* Background thread, joined by reap() or vdb_batchops_free. */
    pthread_t thread;
    int has_thread;
    atomic_int thread_done;
    vdb_batch_run_fn run;
    void *arg;
    vdb_batch_free_fn free_arg;
};

struct vdb_batchops {
    pthread_mutex_t mu;
    pthread_cond_t finished; /* broadcast (under mu) whenever an operation ends */
    vdb_batch_op *slots[VDB_BATCHOPS_MAX];
    unsigned max_running;
    unsigned running_threads;
    double ttl_ms;
    atomic_int cancelled;
};

vdb_batchops *vdb_batchops_new(unsigned max_running, double ttl_s)
{
    vdb_batchops *ops = vdb_calloc(1, sizeof(*ops));
    if (ops == NULL)
        return NULL;
    pthread_mutex_init(&ops->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* vdb_now_ms's clock */
    pthread_cond_init(&ops->finished, &attr);
    pthread_condattr_destroy(&attr);
    ops->max_running = max_running ? max_running : 1;
    ops->ttl_ms = ttl_s * 1e3;
    return ops;
}

static void op_unref(vdb_batch_op *op)
{
    if (op != NULL && atomic_fetch_sub(&op->refs, 1) == 1)
        vdb_free(op);
}

void vdb_batchops_release(vdb_batch_op *op)
{
    op_unref(op);
}

/* Joins finished threads and drops expired records (table lock held). */
static void reap(vdb_batchops *ops, int drop_oldest)
{
    double now = vdb_now_ms();
    size_t oldest = VDB_BATCHOPS_MAX;
    for (size_t i = 0; i < VDB_BATCHOPS_MAX; i++) {
        vdb_batch_op *op = ops->slots[i];
        if (op == NULL)
            continue;
        if (op->has_thread && atomic_load(&op->thread_done)) {
            pthread_join(op->thread, NULL);
            op->has_thread = 0;
            ops->running_threads--;
        }
        if (atomic_load(&op->state) == OP_RUNNING || op->has_thread)
            continue;
        if (now - atomic_load(&op->end_ms) > ops->ttl_ms) {
            ops->slots[i] = NULL;
            op_unref(op);
        } else if (oldest == VDB_BATCHOPS_MAX ||
                   atomic_load(&op->end_ms) < atomic_load(&ops->slots[oldest]->end_ms)) {
            oldest = i;
        }
    }
    if (drop_oldest && oldest != VDB_BATCHOPS_MAX) {
        op_unref(ops->slots[oldest]);
        ops->slots[oldest] = NULL;
    }
}

static int free_slot(vdb_batchops *ops)
{
    for (int pass = 0; pass < 2; pass++) {
        reap(ops, pass);
        for (int i = 0; i < VDB_BATCHOPS_MAX; i++)
            if (ops->slots[i] == NULL)
                return i;
    }
    return -1;
}

int vdb_batchops_begin(vdb_batchops *ops, const char *type, const char *user_id,
                       const char *model_id, size_t total_items, size_t total_batches,
                       vdb_batch_op **out, vdb_error *err)
{
    vdb_batch_op *op = vdb_calloc(1, sizeof(*op));
    char uuid[VDB_UUID_LEN];
    if (op == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    op->ops = ops;
    atomic_init(&op->refs, 2); /* the table's and the caller's */
    vdb_rng_uuid(uuid);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    snprintf(op->id, sizeof(op->id), "%s_%lld_%.8s", type,
             (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000, uuid);
    snprintf(op->type, sizeof(op->type), "%s", type);
    snprintf(op->user_id, sizeof(op->user_id), "%s", user_id);
    snprintf(op->model_id, sizeof(op->model_id), "%s", model_id);
    op->total_items = total_items;
    op->total_batches = total_batches;
    op->start_ms = vdb_now_ms();
    pthread_mutex_lock(&ops->mu);
    int slot = free_slot(ops);
    if (slot >= 0)
        ops->slots[slot] = op;
    pthread_mutex_unlock(&ops->mu);
    if (slot < 0) {
        vdb_free(op);
        return vdb_error_set(err, VDB_EBUSY, "%d batch operations are running; retry later",
                             VDB_BATCHOPS_MAX);
    }
    *out = op;
    return VDB_OK;
}

static void *op_thread(void *ctx)
{
    vdb_batch_op *op = ctx;
    vdb_error err;
    vdb_error_clear(&err);
    int rc = op->run(op, op->arg, &err);
    vdb_batchops_finish(op, rc, &err);
    op->free_arg(op->arg);
    op->arg = NULL;
    atomic_store(&op->thread_done, 1);
    return NULL;
}

int vdb_batchops_spawn(vdb_batchops *ops, vdb_batch_op *op, vdb_batch_run_fn run, void *arg,
                       vdb_batch_free_fn free_arg, vdb_error *err)
{
    int rc = VDB_OK;
    op->run = run;
    op->arg = arg;
    op->free_arg = free_arg;
    pthread_mutex_lock(&ops->mu);
    reap(ops, 0);
    if (ops->running_threads >= ops->max_running) {
        rc = vdb_error_set(err, VDB_EBUSY, "%u background batch operations are running; retry later",
                           ops->max_running);
    } else if (pthread_create(&op->thread, NULL, op_thread, op) != 0) {
        rc = vdb_error_set(err, VDB_ENOMEM, "cannot start a batch thread");
    } else {
        op->has_thread = 1;
        ops->running_threads++;
    }
    pthread_mutex_unlock(&ops->mu);
    if (rc != VDB_OK) {
        vdb_batchops_finish(op, rc, err);
        free_arg(arg);
    }
    return rc;
}

void vdb_batchops_advance(vdb_batch_op *op, size_t items)
{
    atomic_fetch_add(&op->items, items);
    atomic_fetch_add(&op->batches, 1);
}

void vdb_batchops_finish(vdb_batch_op *op, int rc, const vdb_error *err)
{
    pthread_mutex_lock(&op->ops->mu);
    if (rc != VDB_OK)
        snprintf(op->error, sizeof(op->error), "%s",
                 err && err->msg[0] ? err->msg : vdb_err_text(rc));
    atomic_store(&op->end_ms, vdb_now_ms());
    atomic_store(&op->state, rc == VDB_OK ? OP_COMPLETED : OP_FAILED);
    pthread_cond_broadcast(&op->ops->finished);
    pthread_mutex_unlock(&op->ops->mu);
}

size_t vdb_batchops_wait_user(vdb_batchops *ops, const char *user_id, double timeout_ms)
{
    double deadline = vdb_now_ms() + timeout_ms;
    size_t running;
    pthread_mutex_lock(&ops->mu);
    for (;;) {
        running = 0;
        for (size_t i = 0; i < VDB_BATCHOPS_MAX; i++) {
            const vdb_batch_op *op = ops->slots[i];
            running += op != NULL && atomic_load(&op->state) == OP_RUNNING &&
                       strcmp(op->user_id, user_id) == 0;
        }
        double now = vdb_now_ms();
        if (running == 0 || now >= deadline)
            break;
        /* vdb_now_ms is CLOCK_MONOTONIC in ms, the condition's clock. */
        long long ns = (long long)(deadline * 1e6);
        struct timespec until = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
        pthread_cond_timedwait(&ops->finished, &ops->mu, &until);
    }
    pthread_mutex_unlock(&ops->mu);
    return running;
}

int vdb_batchops_cancelled(const vdb_batch_op *op)
{
    return atomic_load(&op->ops->cancelled);
}

int vdb_batchops_done(const vdb_batch_op *op)
{
    return atomic_load(&((vdb_batch_op *)op)->state) != OP_RUNNING;
}

const char *vdb_batchops_id(const vdb_batch_op *op) { return op->id; }
const char *vdb_batchops_user(const vdb_batch_op *op) { return op->user_id; }

vdb_batch_op *vdb_batchops_get(vdb_batchops *ops, const char *id)
{
    vdb_batch_op *found = NULL;
    pthread_mutex_lock(&ops->mu);
    for (size_t i = 0; i < VDB_BATCHOPS_MAX && found == NULL; i++) {
        vdb_batch_op *op = ops->slots[i];
        if (op != NULL && strcmp(op->id, id) == 0) {
            int expired = atomic_load(&op->state) != OP_RUNNING &&
                          vdb_now_ms() - atomic_load(&op->end_ms) > ops->ttl_ms;
            if (!expired) {
                atomic_fetch_add(&op->refs, 1);
                found = op;
            }
        }
    }
    pthread_mutex_unlock(&ops->mu);
    return found;
}

static const char *state_name(int state)
{
    return state == OP_RUNNING ? "running" : state == OP_COMPLETED ? "completed" : "failed";
}

vdb_json *vdb_batchops_json(vdb_batch_op *op)
{
    vdb_json *out = vdb_json_object(), *errors = vdb_json_array();
    if (out == NULL || errors == NULL) {
        vdb_json_decref(out);
        vdb_json_decref(errors);
        return NULL;
    }
    int state = atomic_load(&op->state);
    size_t items = atomic_load(&op->items), batches = atomic_load(&op->batches);
    double end = state == OP_RUNNING ? vdb_now_ms() : atomic_load(&op->end_ms);
    double elapsed = end - op->start_ms;
    double rate = elapsed > 0 ? (double)items / (elapsed / 1e3) : 0.0;
    double percent = op->total_items ? 100.0 * (double)items / (double)op->total_items : 100.0;
    double remaining = 0.0;
    if (state == OP_RUNNING && rate > 0)
        remaining = (double)(op->total_items - items) / rate * 1e3;
    else if (state == OP_RUNNING)
        remaining = -1.0; /* unknown until the first chunk lands */
    if (state == OP_COMPLETED)
        percent = 100.0;
    pthread_mutex_lock(&op->ops->mu);
    if (state == OP_FAILED)
        vdb_json_array_append_new(errors, vdb_json_string(op->error));
    pthread_mutex_unlock(&op->ops->mu);
    vdb_json_object_set_new(out, "operation_id", vdb_json_string(op->id));
    vdb_json_object_set_new(out, "operation_type", vdb_json_string(op->type));
    vdb_json_object_set_new(out, "status", vdb_json_string(state_name(state)));
    vdb_json_object_set_new(out, "user_id", vdb_json_string(op->user_id));
    vdb_json_object_set_new(out, "model_id", vdb_json_string(op->model_id));
    vdb_json_object_set_new(out, "progress_percent", vdb_json_real(percent));
    vdb_json_object_set_new(out, "items_processed", vdb_json_int((long long)items));
    vdb_json_object_set_new(out, "total_items", vdb_json_int((long long)op->total_items));
    vdb_json_object_set_new(out, "current_batch", vdb_json_int((long long)batches));
    vdb_json_object_set_new(out, "total_batches", vdb_json_int((long long)op->total_batches));
    vdb_json_object_set_new(out, "elapsed_time_ms", vdb_json_real(elapsed));
    vdb_json_object_set_new(out, "estimated_remaining_ms", vdb_json_real(remaining));
    vdb_json_object_set_new(out, "throughput_items_per_sec", vdb_json_real(rate));
    if (state == OP_FAILED)
        vdb_json_object_set_new(out, "error", vdb_json_string(op->error));
    vdb_json_object_set_new(out, "errors", errors);
    return out;
}

void vdb_batchops_each(vdb_batchops *ops, vdb_batchops_visit_fn fn, void *ctx)
{
    vdb_batch_op *list[VDB_BATCHOPS_MAX];
    size_t n = 0;
    pthread_mutex_lock(&ops->mu);
    reap(ops, 0);
    for (size_t i = 0; i < VDB_BATCHOPS_MAX; i++)
        if (ops->slots[i] != NULL) {
            atomic_fetch_add(&ops->slots[i]->refs, 1);
            list[n++] = ops->slots[i];
        }
    pthread_mutex_unlock(&ops->mu);
    for (size_t i = 1; i < n; i++) /* by start time: few records, insertion sort */
        for (size_t j = i; j > 0 && list[j - 1]->start_ms > list[j]->start_ms; j--) {
            vdb_batch_op *t = list[j];
            list[j] = list[j - 1];
            list[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        fn(ctx, list[i]);
        op_unref(list[i]);
    }
}

void vdb_batchops_free(vdb_batchops *ops)
{
    if (ops == NULL)
        return;
    atomic_store(&ops->cancelled, 1);
    for (size_t i = 0; i < VDB_BATCHOPS_MAX; i++) {
        vdb_batch_op *op = ops->slots[i];
        if (op == NULL)
            continue;
        if (op->has_thread)
            pthread_join(op->thread, NULL);
        op_unref(op);
    }
    pthread_cond_destroy(&ops->finished);
    pthread_mutex_destroy(&ops->mu);
    vdb_free(ops);
}
