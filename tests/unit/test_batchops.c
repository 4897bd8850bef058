/* The /v1/batch operations registry (api/batchops): a synchronous
 * operation's life (begin, advance, finish, progress JSON), a background
 * one run in its thread with its argument freed, a failure recorded with
 * its message, the running-thread cap, expiry after the TTL, eviction of
 * the oldest finished record when the table is full, a full table of
 * running operations refused, cancellation at free, and waiting for a
 * user's running operations (a tenant freeze). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/batchops.h"
#include "core/json.h"

static double number(vdb_json *obj, const char *key)
{
    vdb_json *v = vdb_json_object_get(obj, key);
    assert_non_null(v);
    assert_true(vdb_json_is_number(v));
    return vdb_json_number_value(v);
}

static const char *text(vdb_json *obj, const char *key)
{
    vdb_json *v = vdb_json_object_get(obj, key);
    assert_non_null(v);
    assert_int_equal(vdb_json_typeof(v), VDB_JSON_STRING);
    return vdb_json_string_value(v);
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_sync_life(void **state)
{
    vdb_batchops *ops = vdb_batchops_new(2, 60);
    vdb_batch_op *op = NULL;
    vdb_error err;
    (void)state;
    assert_non_null(ops);
    assert_int_equal(vdb_batchops_begin(ops, "upload", "alice", "m1", 3000, 3, &op, &err), VDB_OK);
    assert_true(strncmp(vdb_batchops_id(op), "upload_", 7) == 0);
    assert_string_equal(vdb_batchops_user(op), "alice");
    assert_false(vdb_batchops_done(op));
    vdb_json *j = vdb_batchops_json(op);
    assert_string_equal(text(j, "status"), "running");
    assert_true(number(j, "items_processed") == 0);
    assert_true(number(j, "estimated_remaining_ms") == -1); /* unknown before a chunk */
    vdb_json_decref(j);
    vdb_batchops_advance(op, 1000);
    vdb_batchops_advance(op, 1000);
    j = vdb_batchops_json(op);
    assert_true(number(j, "items_processed") == 2000);
    assert_true(number(j, "current_batch") == 2);
    assert_true(number(j, "total_batches") == 3);
    assert_true(number(j, "progress_percent") > 66.0 && number(j, "progress_percent") < 67.0);
    assert_true(number(j, "estimated_remaining_ms") >= 0);
    vdb_json_decref(j);
    vdb_batchops_advance(op, 1000);
    vdb_batchops_finish(op, VDB_OK, NULL);
    assert_true(vdb_batchops_done(op));
    /* Found by id while kept, with its own reference. */
    vdb_batch_op *again = vdb_batchops_get(ops, vdb_batchops_id(op));
    assert_ptr_equal(again, op);
    j = vdb_batchops_json(again);
    assert_string_equal(text(j, "status"), "completed");
    assert_true(number(j, "progress_percent") == 100);
    assert_int_equal(vdb_json_array_size(vdb_json_object_get(j, "errors")), 0);
    vdb_json_decref(j);
    vdb_batchops_release(again);
    assert_null(vdb_batchops_get(ops, "upload_0_nothere"));
    vdb_batchops_release(op);
    vdb_batchops_free(ops);
}

typedef struct job {
    atomic_int freed;
    atomic_int release; /* the run waits for this before finishing */
    int fail;
    size_t chunks;
} job;

static int run_job(vdb_batch_op *op, void *arg, vdb_error *err)
{
    job *j = arg;
    for (size_t i = 0; i < j->chunks; i++) {
        while (!atomic_load(&j->release) && !vdb_batchops_cancelled(op))
            pause_ms(1);
        if (vdb_batchops_cancelled(op))
            return vdb_error_set(err, VDB_EBUSY, "cancelled after %zu chunks", i);
        if (j->fail && i == 1)
            return vdb_error_set(err, VDB_EIO, "chunk at item %zu failed", i * 10);
        vdb_batchops_advance(op, 10);
    }
    return VDB_OK;
}

static void free_job(void *arg)
{
    atomic_store(&((job *)arg)->freed, 1);
}

static void wait_done(vdb_batch_op *op)
{
    for (int i = 0; i < 5000 && !vdb_batchops_done(op); i++)
        pause_ms(1);
    assert_true(vdb_batchops_done(op));
}

static void test_background_and_cap(void **state)
{
    vdb_batchops *ops = vdb_batchops_new(1, 60);
    vdb_batch_op *a, *b;
    vdb_error err;
    job ja = {0}, jb = {0};
    (void)state;
    ja.chunks = jb.chunks = 3;
    assert_int_equal(vdb_batchops_begin(ops, "add_vectors", "u", "m", 30, 3, &a, &err), VDB_OK);
    assert_int_equal(vdb_batchops_spawn(ops, a, run_job, &ja, free_job, &err), VDB_OK);
    /* One thread at most: the second is refused, finished as failed, and
     * its argument freed. */
    assert_int_equal(vdb_batchops_begin(ops, "add_vectors", "u", "m", 30, 3, &b, &err), VDB_OK);
    assert_int_equal(vdb_batchops_spawn(ops, b, run_job, &jb, free_job, &err), VDB_EBUSY);
    assert_true(vdb_batchops_done(b));
    assert_int_equal(atomic_load(&jb.freed), 1);
    vdb_json *j = vdb_batchops_json(b);
    assert_string_equal(text(j, "status"), "failed");
    assert_non_null(strstr(text(j, "error"), "running"));
    vdb_json_decref(j);
    atomic_store(&ja.release, 1);
    wait_done(a);
    j = vdb_batchops_json(a);
    assert_string_equal(text(j, "status"), "completed");
    assert_true(number(j, "items_processed") == 30);
    vdb_json_decref(j);
    vdb_batchops_release(a);
    vdb_batchops_release(b);
    vdb_batchops_free(ops); /* joins the finished thread */
    assert_int_equal(atomic_load(&ja.freed), 1);
}

/* A tenant freeze waits for the tenant's running operations: the wait
 * times out with the count while one runs, ignores other users' and
 * returns 0 as soon as the last one finishes (woken, not polled late). */
static void *release_thread(void *arg)
{
    pause_ms(100);
    atomic_store(&((job *)arg)->release, 1);
    return NULL;
}
static void release_later(void *arg)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_thread, arg), 0);
    pthread_detach(t);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_wait_user(void **state)
{
    vdb_batchops *ops = vdb_batchops_new(2, 60);
    vdb_batch_op *a, *b;
    vdb_error err;
    job ja = {0}, jb = {0};
    (void)state;
    ja.chunks = jb.chunks = 2;
    assert_int_equal(vdb_batchops_begin(ops, "upload", "u", "m", 20, 2, &a, &err), VDB_OK);
    assert_int_equal(vdb_batchops_spawn(ops, a, run_job, &ja, free_job, &err), VDB_OK);
    assert_int_equal(vdb_batchops_begin(ops, "upload", "other", "m", 20, 2, &b, &err), VDB_OK);
    assert_int_equal(vdb_batchops_spawn(ops, b, run_job, &jb, free_job, &err), VDB_OK);
    double t0 = mono_ms();
    assert_int_equal(vdb_batchops_wait_user(ops, "u", 50), 1);
    assert_true(mono_ms() - t0 >= 45);
    assert_int_equal(vdb_batchops_wait_user(ops, "nobody", 10000), 0);
    release_later(&ja);
    t0 = mono_ms();
    assert_int_equal(vdb_batchops_wait_user(ops, "u", 10000), 0);
    assert_true(mono_ms() - t0 < 5000);
    assert_true(vdb_batchops_done(a));
    assert_false(vdb_batchops_done(b)); /* another user's operation is not waited for */
    atomic_store(&jb.release, 1);
    wait_done(b);
    vdb_batchops_release(a);
    vdb_batchops_release(b);
    vdb_batchops_free(ops);
}

static void test_failure_recorded(void **state)
{
    vdb_batchops *ops = vdb_batchops_new(2, 60);
    vdb_batch_op *op;
    vdb_error err;
    job jf = {0};
    (void)state;
    jf.chunks = 5;
    jf.fail = 1;
    atomic_store(&jf.release, 1);
    assert_int_equal(vdb_batchops_begin(ops, "upload", "u", "m", 50, 5, &op, &err), VDB_OK);
    assert_int_equal(vdb_batchops_spawn(ops, op, run_job, &jf, free_job, &err), VDB_OK);
    wait_done(op);
    vdb_json *j = vdb_batchops_json(op);
    assert_string_equal(text(j, "status"), "failed");
    assert_string_equal(text(j, "error"), "chunk at item 10 failed");
    assert_true(number(j, "items_processed") == 10); /* the committed prefix */
    assert_int_equal(vdb_json_array_size(vdb_json_object_get(j, "errors")), 1);
    vdb_json_decref(j);
    vdb_batchops_release(op);
    vdb_batchops_free(ops);
}

static void test_cancel_at_free(void **state)
{
    vdb_batchops *ops = vdb_batchops_new(2, 60);
    vdb_batch_op *op;
    vdb_error err;
    job jc = {0};
    (void)state;
    jc.chunks = 3; /* never released: only the cancellation ends it */
    assert_int_equal(vdb_batchops_begin(ops, "upload", "u", "m", 30, 3, &op, &err), VDB_OK);
    assert_int_equal(vdb_batchops_spawn(ops, op, run_job, &jc, free_job, &err), VDB_OK);
    vdb_batchops_release(op);
    vdb_batchops_free(ops); /* must return: the run sees the cancellation */
    assert_int_equal(atomic_load(&jc.freed), 1);
}

static void test_expiry_and_eviction(void **state)
{
    vdb_batchops *ops = vdb_batchops_new(1, 1.0); /* kept 1 s */
    vdb_batch_op *op, *first = NULL;
    vdb_error err;
    char first_id[VDB_BATCHOP_ID_MAX];
    (void)state;
    assert_int_equal(vdb_batchops_begin(ops, "upload", "u", "m", 1, 1, &op, &err), VDB_OK);
    snprintf(first_id, sizeof(first_id), "%s", vdb_batchops_id(op));
    vdb_batchops_finish(op, VDB_OK, NULL);
    vdb_batchops_release(op);
    assert_non_null(first = vdb_batchops_get(ops, first_id));
    vdb_batchops_release(first);
    pause_ms(1300);
    assert_null(vdb_batchops_get(ops, first_id)); /* expired */
    vdb_batchops_free(ops);

    /* A full table: the oldest finished record makes room; a table full of
     * running operations refuses. */
    ops = vdb_batchops_new(1, 3600);
    vdb_batch_op *held[VDB_BATCHOPS_MAX];
    for (int i = 0; i < VDB_BATCHOPS_MAX; i++) {
        assert_int_equal(vdb_batchops_begin(ops, "upload", "u", "m", 1, 1, &held[i], &err),
                         VDB_OK);
        if (i == 0)
            snprintf(first_id, sizeof(first_id), "%s", vdb_batchops_id(held[i]));
    }
    assert_int_equal(vdb_batchops_begin(ops, "upload", "u", "m", 1, 1, &op, &err), VDB_EBUSY);
    vdb_batchops_finish(held[0], VDB_OK, NULL);
    assert_int_equal(vdb_batchops_begin(ops, "upload", "u", "m", 1, 1, &op, &err), VDB_OK);
    assert_null(vdb_batchops_get(ops, first_id)); /* evicted */
    vdb_batchops_finish(op, VDB_OK, NULL);
    vdb_batchops_release(op);
    for (int i = 0; i < VDB_BATCHOPS_MAX; i++) {
        vdb_batchops_finish(held[i], VDB_OK, NULL);
        vdb_batchops_release(held[i]);
    }
    vdb_batchops_free(ops);
}

typedef struct each_ctx {
    size_t count;
    char ids[4][VDB_BATCHOP_ID_MAX];
} each_ctx;

static void visit(void *ctx, vdb_batch_op *op)
{
    each_ctx *c = ctx;
    if (c->count < 4)
        snprintf(c->ids[c->count], VDB_BATCHOP_ID_MAX, "%s", vdb_batchops_id(op));
    c->count++;
}

static void test_each_in_start_order(void **state)
{
    vdb_batchops *ops = vdb_batchops_new(1, 60);
    vdb_batch_op *op[3];
    vdb_error err;
    each_ctx c = {0};
    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vdb_batchops_begin(ops, "add_vectors", "u", "m", 1, 1, &op[i], &err),
                         VDB_OK);
        pause_ms(2);
    }
    vdb_batchops_each(ops, visit, &c);
    assert_int_equal(c.count, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(c.ids[i], vdb_batchops_id(op[i]));
        vdb_batchops_finish(op[i], VDB_OK, NULL);
        vdb_batchops_release(op[i]);
    }
    vdb_batchops_free(ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_life),
        cmocka_unit_test(test_background_and_cap),
        cmocka_unit_test(test_wait_user),
        cmocka_unit_test(test_failure_recorded),
        cmocka_unit_test(test_cancel_at_free),
        cmocka_unit_test(test_expiry_and_eviction),
        cmocka_unit_test(test_each_in_start_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
