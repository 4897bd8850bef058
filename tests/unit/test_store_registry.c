/* The registry (issue 11 items 2, 10, 16): idle stores closed LRU under a
 * cap and reopened transparently, in-use stores never closed; a failed open
 * quarantined and retried after the backoff; a slow open that holds up only
 * its own store; create during a delete waits instead of answering
 * "exists"; replace racing readers and other replaces is one step. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "store_testutil.h"

#include "core/log.h"
#include "store/registry.h"

TU_ROOT_FIXTURE("registry", VDB_LOG_ERROR)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static vdb_registry *new_registry(const char *tag)
{
    char dir[700];
    vdb_store_options options;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    snprintf(dir, sizeof(dir), "%s/%s", root, tag);
    vdb_registry *registry;
    assert_int_equal(vdb_registry_new(dir, &options, &registry, NULL), VDB_OK);
    assert_non_null(registry);
    return registry;
}

static void make_store(vdb_registry *registry, const char *user, const char *model, size_t rows)
{
    vdb_store_config config;
    vdb_store_handle *h;
    vdb_error err;
    vdb_store_config_default(&config);
    config.dim = 4;
    assert_int_equal(vdb_registry_create(registry, user, model, &config, &h, &err), VDB_OK);
    for (size_t at = 0; at < rows; at += 5000) {
        size_t n = rows - at < 5000 ? rows - at : 5000;
        float *v = malloc(n * 4 * sizeof(float));
        tu_fill(v, (uint32_t)at, (uint32_t)n, 4);
        assert_int_equal(vdb_store_add(vdb_registry_store(h), n, v, NULL, NULL, NULL, &err),
                         VDB_OK);
        free(v);
    }
    vdb_registry_release(h);
}

static void test_lru_cap(void **state)
{
    vdb_registry *registry = new_registry("lru");
    vdb_store_handle *held[6];
    char model[32];
    vdb_error err;
    int base;
    (void)state;
    vdb_registry_set_limits(registry, 4, 30);
    base = open_fds();
    for (int i = 0; i < 40; i++) {
        snprintf(model, sizeof(model), "m%02d", i);
        make_store(registry, "u", model, 1);
        assert_true(vdb_registry_loaded_count(registry) <= 4);
    }
    /* 2 descriptors per open store. */
    assert_true(open_fds() - base <= 2 * 4);
    /* Closed stores reopen transparently, with their data. */
    for (int i = 0; i < 40; i++) {
        vdb_store_handle *h;
        snprintf(model, sizeof(model), "m%02d", i);
        assert_int_equal(vdb_registry_acquire(registry, "u", model, &h, &err), VDB_OK);
        assert_int_equal(vdb_store_count(vdb_registry_store(h)), 1);
        vdb_registry_release(h);
    }
    /* Stores in use are never closed: the cap yields until released. */
    for (int i = 0; i < 6; i++) {
        snprintf(model, sizeof(model), "m%02d", i);
        assert_int_equal(vdb_registry_acquire(registry, "u", model, &held[i], &err), VDB_OK);
    }
    assert_int_equal(vdb_registry_loaded_count(registry), 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(vdb_store_count(vdb_registry_store(held[i])), 1);
        vdb_registry_release(held[i]);
    }
    assert_int_equal(vdb_registry_loaded_count(registry), 4);
    vdb_registry_stat st;
    vdb_registry_stats(registry, &st);
    assert_true(st.evictions >= 36);
    vdb_registry_free(registry);
}

static void test_quarantine(void **state)
{
    vdb_registry *registry = new_registry("quar");
    vdb_store_handle *h;
    vdb_error err;
    char path[900];
    size_t len;
    (void)state;
    make_store(registry, "u", "bad", 3);
    vdb_registry_free(registry);
    snprintf(path, sizeof(path), "%s/quar/user_u/bad/store.json", root);
    unsigned char *good = tu_slurp(path, &len);
    assert_non_null(good);
    FILE *f = fopen(path, "wb");
    fputs("{not json", f);
    fclose(f);
    registry = new_registry("quar");
    vdb_registry_set_limits(registry, 0, 30);
    vdb_log_set_level(VDB_LOG_OFF);
    assert_int_equal(vdb_registry_acquire(registry, "u", "bad", &h, &err), VDB_ECORRUPT);
    /* Repaired on disk, but the failure is remembered: no retry yet. */
    f = fopen(path, "wb");
    fwrite(good, 1, len, f);
    fclose(f);
    free(good);
    assert_int_equal(vdb_registry_acquire(registry, "u", "bad", &h, &err), VDB_ECORRUPT);
    assert_non_null(strstr(err.msg, "quarantined"));
    assert_null(strstr(err.msg, root)); /* names no server path */
    vdb_registry_stat st;
    vdb_registry_stats(registry, &st);
    assert_int_equal(st.quarantined, 1);
    /* Once the backoff is over, the next acquire opens it again. */
    vdb_registry_set_limits(registry, 0, 0);
    assert_int_equal(vdb_registry_acquire(registry, "u", "bad", &h, &err), VDB_OK);
    assert_int_equal(vdb_store_count(vdb_registry_store(h)), 3);
    vdb_registry_release(h);
    vdb_log_set_level(VDB_LOG_ERROR);
    vdb_registry_free(registry);
}

typedef struct opener {
    vdb_registry *registry;
    const char *model;
    double seconds;
    int rc;
} opener;

static void *open_main(void *arg)
{
    opener *o = arg;
    vdb_store_handle *h;
    double t0 = now_s();
    o->rc = vdb_registry_acquire(o->registry, "u", o->model, &h, NULL);
    o->seconds = now_s() - t0;
    if (o->rc == VDB_OK)
        vdb_registry_release(h);
    return NULL;
}

/* A store whose open takes a while (a long WAL to replay) must not hold up
 * a request for another, already open store. */
static void test_slow_open_blocks_only_itself(void **state)
{
    vdb_registry *registry = new_registry("slow");
    vdb_store_options options;
    vdb_store_config config;
    vdb_error err;
    char dir[900];
    (void)state;
    make_store(registry, "u", "fast", 1);
    vdb_registry_free(registry);
    /* Build "big" with a long un-checkpointed WAL, directly. */
    snprintf(dir, sizeof(dir), "%s/slow/user_u/big", root);
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    options.wal_checkpoint_bytes = 1ull << 40;
    vdb_store_config_default(&config);
    config.dim = 4;
    config.index = VDB_INDEX_FLAT;
    /* In a child that exits without closing, as if killed: the WAL is
     * all there is and the open must replay it. */
    pid_t pid = fork();
    if (pid == 0) {
        vdb_store *big = tu_store_create(dir, &config, &options, &err);
        float v[4 * 10];
        for (uint32_t b = 0; big != NULL && b < 20000; b++) {
            tu_fill(v, b, 10, 4);
            if (vdb_store_add(big, 10, v, NULL, NULL, NULL, &err) != VDB_OK)
                _exit(1);
        }
        _exit(big == NULL ? 1 : 0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    registry = new_registry("slow");
    opener fast = {registry, "fast", 0, -1}, slow = {registry, "big", 0, -1};
    open_main(&fast); /* open now */
    pthread_t t;
    pthread_create(&t, NULL, open_main, &slow);
    usleep(20000);
    open_main(&fast);
    pthread_join(t, NULL);
    print_message("slow open %.3f s; the other store meanwhile %.4f s\n", slow.seconds,
                  fast.seconds);
    assert_int_equal(slow.rc, VDB_OK);
    assert_int_equal(fast.rc, VDB_OK);
    assert_true(slow.seconds > 0.1); /* the setup did make a slow open */
    assert_true(fast.seconds < slow.seconds / 4);
    vdb_registry_free(registry);
}

typedef struct creator {
    vdb_registry *registry;
    int rc;
} creator;

static void *create_main(void *arg)
{
    creator *c = arg;
    vdb_store_config config;
    vdb_store_handle *h;
    vdb_store_config_default(&config);
    config.dim = 4;
    c->rc = vdb_registry_create(c->registry, "u", "cycle", &config, &h, NULL);
    if (c->rc == VDB_OK)
        vdb_registry_release(h);
    return NULL;
}

static void *delete_main(void *arg)
{
    creator *c = arg;
    c->rc = vdb_registry_delete(c->registry, "u", "cycle", NULL);
    return NULL;
}

/* Item 10: once a delete has taken effect (the store answers not found), a
 * create must not answer "already exists". */
static void test_create_during_delete(void **state)
{
    vdb_registry *registry = new_registry("cycle");
    vdb_store_handle *held, *h;
    (void)state;
    make_store(registry, "u", "cycle", 2);
    assert_int_equal(vdb_registry_acquire(registry, "u", "cycle", &held, NULL), VDB_OK);
    creator del = {registry, -1}, cre = {registry, -1};
    pthread_t td, tc;
    pthread_create(&td, NULL, delete_main, &del);
    int rc = VDB_OK;
    for (int i = 0; i < 500 && rc == VDB_OK; i++) {
        rc = vdb_registry_acquire(registry, "u", "cycle", &h, NULL);
        if (rc == VDB_OK) {
            vdb_registry_release(h);
            usleep(1000);
        }
    }
    assert_int_equal(rc, VDB_ENOTFOUND); /* the delete took effect */
    pthread_create(&tc, NULL, create_main, &cre);
    usleep(50000);
    vdb_registry_release(held); /* lets the delete finish */
    pthread_join(td, NULL);
    pthread_join(tc, NULL);
    assert_int_equal(del.rc, VDB_OK);
    assert_int_equal(cre.rc, VDB_OK);
    assert_int_equal(vdb_registry_acquire(registry, "u", "cycle", &h, NULL), VDB_OK);
    assert_int_equal(vdb_store_count(vdb_registry_store(h)), 0); /* the new, empty one */
    vdb_registry_release(h);
    vdb_registry_free(registry);
}

typedef struct racer {
    vdb_registry *registry;
    int replacer;
    _Atomic int *stop;
    int bad;
} racer;

static void *race_main(void *arg)
{
    racer *r = arg;
    vdb_store_config config;
    vdb_store_config_default(&config);
    config.dim = 4;
    for (int i = 0; r->replacer ? i < 30 : !atomic_load(r->stop); i++) {
        vdb_store_handle *h;
        int rc = r->replacer
                     ? vdb_registry_replace(r->registry, "u", "hot", &config, &h, NULL)
                     : vdb_registry_acquire(r->registry, "u", "hot", &h, NULL);
        if (rc == VDB_OK)
            vdb_registry_release(h);
        else
            r->bad++;
    }
    return NULL;
}

/* Replaces racing each other and readers: every replace succeeds, and no
 * reader ever finds the store missing. */
static void test_replace_is_one_step(void **state)
{
    vdb_registry *registry = new_registry("replace");
    _Atomic int stop = 0;
    racer r[5];
    pthread_t t[5];
    (void)state;
    make_store(registry, "u", "hot", 1);
    for (int i = 0; i < 5; i++) {
        r[i] = (racer){registry, i < 3, &stop, 0};
        pthread_create(&t[i], NULL, race_main, &r[i]);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    for (int i = 3; i < 5; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r[i].bad, 0);
    vdb_registry_free(registry);
}

/* Counts listed stores whose names mention the scratch prefix. */
static int count_scratch(void *ctx, const char *user_id, const char *model_id)
{
    *(int *)ctx += strstr(user_id, "bench") != NULL || strstr(model_id, "bench") != NULL;
    return 0;
}

/* The directory layout is spelled in one place (registry_name.c): paths
 * that fit are exact, one that does not is refused, never cut short (a
 * truncated store path could name another store's directory). A scratch
 * store lives under a name no request can reach and is gone after drop. */
/* The names store.json, the API and the CLI share for an index kind and a
 * quantization: every kind round-trips, anything else is -1. */
static void test_kind_names(void **state)
{
    static const vdb_index_kind kinds[] = {VDB_INDEX_AUTO, VDB_INDEX_FLAT, VDB_INDEX_HNSW};
    (void)state;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        assert_int_equal(vdb_index_kind_parse(vdb_index_kind_name(kinds[i])), (int)kinds[i]);
    assert_string_equal(vdb_index_kind_name(VDB_INDEX_HNSW), "hnsw");
    assert_int_equal(vdb_index_kind_parse("HNSW"), -1);
    assert_int_equal(vdb_index_kind_parse(""), -1);
    assert_int_equal(vdb_index_kind_parse(NULL), -1);
    for (int q = 0; q <= VDB_STORE_QUANT_AUTO; q++)
        assert_int_equal(vdb_store_quant_parse(vdb_store_quant_name(q)), q);
    assert_int_equal(vdb_store_quant_parse("int4"), -1);
}

static void test_paths_and_scratch(void **state)
{
    (void)state;
    char out[64], tiny[24];
    vdb_error err;
    assert_int_equal(vdb_registry_store_path(out, sizeof(out), "/d", "u1", "m1", &err), VDB_OK);
    assert_string_equal(out, "/d/user_u1/m1");
    assert_int_equal(vdb_registry_user_path(out, sizeof(out), "/d", "u1", &err), VDB_OK);
    assert_string_equal(out, "/d/user_u1");
    assert_int_equal(vdb_registry_store_path(tiny, sizeof(tiny), "/data", "user", "model-long",
                                             &err),
                     VDB_EINVAL);
    assert_string_equal(tiny, "");
    assert_int_equal(vdb_registry_user_path(tiny, 8, "/data", "user", &err), VDB_EINVAL);
    assert_false(vdb_registry_name_ok("a/b"));

    char dir[1024];
    vdb_store *scratch = NULL;
    vdb_store_config config;
    vdb_store_config_default(&config);
    config.dim = 4;
    vdb_registry *registry;
    assert_int_equal(vdb_registry_new(root, NULL, &registry, &err), VDB_OK);
    assert_non_null(registry);
    assert_int_equal(vdb_registry_scratch_open(registry, &config, NULL, &scratch, dir,
                                               sizeof(dir), &err),
                     VDB_OK);
    assert_non_null(scratch);
    assert_int_equal(tu_file_size(dir) >= 0, 1);
    /* Beside the user_<id> directories, not in one: no (user, model) pair
     * names it. */
    assert_int_equal(strncmp(dir, root, strlen(root)), 0);
    assert_null(strchr(dir + strlen(root) + 1, '/'));
    assert_int_equal(strncmp(dir + strlen(root) + 1, "user_", 5) != 0, 1);
    int seen = 0;
    assert_int_equal(vdb_registry_list(registry, NULL, count_scratch, &seen, &err), VDB_OK);
    assert_int_equal(seen, 0);
    vdb_registry_scratch_drop(scratch, dir);
    assert_int_equal(tu_file_size(dir), -1);
    assert_int_equal(vdb_registry_scratch_open(registry, &config, NULL, &scratch, dir, 8, &err),
                     VDB_EINVAL);
    assert_null(scratch);
    vdb_registry_free(registry);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_cap),
        cmocka_unit_test(test_paths_and_scratch),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_quarantine),
        cmocka_unit_test(test_slow_open_blocks_only_itself),
        cmocka_unit_test(test_create_during_delete),
        cmocka_unit_test(test_replace_is_one_step),
    };
    return cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown);
}
