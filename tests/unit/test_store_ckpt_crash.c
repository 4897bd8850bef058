/* kill -9 inside a checkpoint while writes are in flight (issue 13). Since
 * checkpoints no longer hold writers off, a crash can land with a snapshot
 * half written, committed but not installed, the WAL being copied into
 * wal.log.new or just renamed, or the tombstones being compacted, and with
 * writes appended to the log at the same time. Each cycle a child opens
 * the store (preloaded so a checkpoint takes a while), runs a writer
 * thread (batches of adds, and deletes of preloaded rows) and checkpoints
 * in a loop on its main thread, reporting each step through a pipe; the
 * parent SIGKILLs it a random 0-15 ms after the start of a randomly chosen
 * checkpoint. A verifier process then opens the store and checks:
 *   - every acknowledged add present, with its metadata and exact bytes;
 *   - every acknowledged delete absent;
 *   - the add in flight all or nothing, nothing that was never sent;
 *   - the count adds up.
 * The verifier exits without closing, so the recovered state (and WAL)
 * carries into the next cycle. Vacuity guard: some kills must land inside
 * a checkpoint after writes were acknowledged during it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "store_testutil.h"

#include "core/alloc.h"
#include "core/log.h"
#include "core/rng.h"
#include "store/store.h"
#include "store/vecset.h"

#define DIM 16
#define ROWS 4
#define PRE 20000
#define CYCLES 20 /* PRE / MAX_BATCHES: every batch deletes a distinct preloaded row */
#define MAX_BATCHES 1000

enum { EV_BEGIN_ADD = 1, EV_ACK_ADD, EV_BEGIN_DEL, EV_ACK_DEL, EV_CK_BEGIN, EV_CK_END };

typedef struct event {
    uint32_t kind, cycle, batch;
} event;

/* Per (cycle, batch): 0 never begun, 1 begun, 2 acknowledged. Batch b of
 * cycle c also deletes preloaded row del_row(c, b). */
static unsigned char added[CYCLES][MAX_BATCHES];
static unsigned char removed[CYCLES][MAX_BATCHES];

static uint32_t del_row(uint32_t cycle, uint32_t batch) { return cycle * MAX_BATCHES + batch; }

static void add_id(char *out, size_t cap, uint32_t cycle, uint32_t batch, uint32_t row)
{
    snprintf(out, cap, "c%u-b%u-r%u", cycle, batch, row);
}

static void send_event(int fd, uint32_t kind, uint32_t cycle, uint32_t batch)
{
    event e = {kind, cycle, batch};
    /* 12 bytes: below PIPE_BUF, so the two threads' events never interleave. */
    if (write(fd, &e, sizeof(e)) != (ssize_t)sizeof(e))
        _exit(9);
}

typedef struct child_ctx {
    vdb_store *store;
    uint32_t cycle;
    int fd;
} child_ctx;

static void *child_writer(void *p)
{
    child_ctx *c = p;
    char ids[ROWS][40], metas[ROWS][64], victim[32];
    const char *idp[ROWS], *metap[ROWS], *vp[1] = {victim};
    float v[ROWS * DIM];
    for (uint32_t b = 0; b < MAX_BATCHES; b++) {
        for (uint32_t r = 0; r < ROWS; r++) {
            add_id(ids[r], sizeof(ids[r]), c->cycle, b, r);
            snprintf(metas[r], sizeof(metas[r]), "{\"c\":%u,\"b\":%u,\"r\":%u}", c->cycle, b, r);
            idp[r] = ids[r];
            metap[r] = metas[r];
        }
        tu_fill(v, c->cycle * MAX_BATCHES + b, ROWS, DIM);
        send_event(c->fd, EV_BEGIN_ADD, c->cycle, b);
        if (vdb_store_add(c->store, ROWS, v, idp, metap, NULL, NULL) != VDB_OK)
            _exit(3);
        send_event(c->fd, EV_ACK_ADD, c->cycle, b);
        snprintf(victim, sizeof(victim), "pre%u", del_row(c->cycle, b));
        send_event(c->fd, EV_BEGIN_DEL, c->cycle, b);
        if (vdb_store_delete(c->store, 1, vp, NULL, NULL) != VDB_OK)
            _exit(4);
        send_event(c->fd, EV_ACK_DEL, c->cycle, b);
    }
    _exit(0); /* ran out of batches before the kill: the parent flags it */
}

static void child_main(const char *dir, uint32_t cycle, int fd)
{
    child_ctx c = {NULL, cycle, fd};
    pthread_t thread;
    vdb_log_set_level(VDB_LOG_OFF);
    if ((c.store = tu_store_open(dir, NULL, NULL)) == NULL)
        _exit(2);
    if (pthread_create(&thread, NULL, child_writer, &c) != 0)
        _exit(6);
    for (uint32_t k = 0;; k++) {
        send_event(fd, EV_CK_BEGIN, cycle, k);
        if (vdb_store_checkpoint(c.store, NULL) != VDB_OK)
            _exit(5);
        send_event(fd, EV_CK_END, cycle, k);
    }
}

/* Preloads PRE rows in a child: the parent must not start the thread pool
 * (it forks afterwards). */
static void preload(const char *dir)
{
    pid_t pid = fork();
    int status;
    if (pid == 0) {
        vdb_store_config config;
        float *v = vdb_malloc((size_t)PRE * DIM * sizeof(float));
        char (*ids)[16] = vdb_malloc((size_t)PRE * 16);
        const char **idp = vdb_malloc(PRE * sizeof(char *));
        vdb_store *store;
        vdb_store_config_default(&config);
        config.dim = DIM;
        config.index = VDB_INDEX_FLAT;
        if (v == NULL || ids == NULL || idp == NULL ||
            (store = tu_store_create(dir, &config, NULL, NULL)) == NULL)
            _exit(1);
        tu_fill(v, 999999, PRE, DIM);
        for (uint32_t i = 0; i < PRE; i++) {
            snprintf(ids[i], 16, "pre%u", i);
            idp[i] = ids[i];
        }
        if (vdb_store_add(store, PRE, v, idp, NULL, NULL, NULL) != VDB_OK)
            _exit(1);
        vdb_store_close(store);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define VFAIL(...)                             \
    do {                                       \
        fprintf(stderr, "ckpt crash verify: "); \
        fprintf(stderr, __VA_ARGS__);          \
        fprintf(stderr, "\n");                 \
        return 1;                              \
    } while (0)

static int verify_batch(vdb_store *store, uint32_t cycle, uint32_t b, size_t *present)
{
    float v[ROWS * DIM], got[DIM];
    const char *idp[ROWS];
    char ids[ROWS][40], victim[32];
    vdb_vecset *ref = NULL;
    assert_int_equal(vdb_vecset_new(DIM, VDB_METRIC_COSINE, &ref, NULL), VDB_OK);
    size_t here = 0;
    int rc;
    tu_fill(v, cycle * MAX_BATCHES + b, ROWS, DIM);
    for (uint32_t r = 0; r < ROWS; r++) {
        add_id(ids[r], sizeof(ids[r]), cycle, b, r);
        idp[r] = ids[r];
    }
    if (ref == NULL || vdb_vecset_upsert(ref, ROWS, v, idp, NULL, NULL, NULL, NULL) != VDB_OK)
        VFAIL("reference vecset");
    for (uint32_t r = 0; r < ROWS; r++) {
        char want[64], *meta = NULL;
        if (vdb_store_get(store, ids[r], got, &meta, NULL) != VDB_OK)
            continue;
        here++;
        snprintf(want, sizeof(want), "{\"c\":%u,\"b\":%u,\"r\":%u}", cycle, b, r);
        if (memcmp(got, vdb_vecset_vector(ref, r), sizeof(got)) != 0)
            VFAIL("%s: vector not bit-identical", ids[r]);
        if (meta == NULL || strcmp(meta, want) != 0)
            VFAIL("%s: metadata '%s'", ids[r], meta ? meta : "(none)");
        vdb_free(meta);
    }
    vdb_vecset_free(ref);
    if (added[cycle][b] == 2 && here != ROWS)
        VFAIL("c%u-b%u: acknowledged add has %zu of %d rows", cycle, b, here, ROWS);
    if (added[cycle][b] == 1 && here != 0 && here != ROWS)
        VFAIL("c%u-b%u: in-flight add half present (%zu rows)", cycle, b, here);
    if (added[cycle][b] == 0 && here != 0)
        VFAIL("c%u-b%u: never sent, yet present", cycle, b);
    *present += here;
    snprintf(victim, sizeof(victim), "pre%u", del_row(cycle, b));
    rc = vdb_store_get(store, victim, NULL, NULL, NULL);
    if (removed[cycle][b] == 2 && rc != VDB_ENOTFOUND)
        VFAIL("%s: acknowledged delete undone", victim);
    if (removed[cycle][b] == 0 && rc != VDB_OK)
        VFAIL("%s: deleted although never asked", victim);
    *present += rc == VDB_OK ? 1 : 0;
    return 0;
}

/* Every batch of cycles [0, cycles), plus the preloaded rows no batch
 * deletes; the count must equal what is present. */
static int verify(const char *dir, uint32_t cycles)
{
    vdb_error err;
    vdb_store *store = tu_store_open(dir, NULL, &err);
    size_t present = 0;
    if (store == NULL)
        VFAIL("open after the crash failed: %s", err.msg);
    for (uint32_t c = 0; c < cycles; c++)
        for (uint32_t b = 0; b < MAX_BATCHES; b++)
            if (verify_batch(store, c, b, &present) != 0)
                return 1;
    for (uint32_t i = cycles * MAX_BATCHES; i < PRE; i++) {
        char id[32];
        snprintf(id, sizeof(id), "pre%u", i);
        if (vdb_store_get(store, id, NULL, NULL, NULL) != VDB_OK)
            VFAIL("%s: preloaded row lost", id);
        present++;
    }
    if (vdb_store_count(store) != present)
        VFAIL("count %zu but %zu rows present", vdb_store_count(store), present);
    return 0; /* exit without closing: the recovered WAL carries over */
}

typedef struct tally {
    size_t acks;            /* all acknowledgements */
    int in_checkpoint;      /* a checkpoint began and has not ended */
    size_t acks_in_ck;      /* acknowledgements since the current checkpoint began */
} tally;

static void apply_event(const event *e, tally *t)
{
    switch (e->kind) {
    case EV_BEGIN_ADD: added[e->cycle][e->batch] = 1; break;
    case EV_ACK_ADD: added[e->cycle][e->batch] = 2; t->acks++; t->acks_in_ck++; break;
    case EV_BEGIN_DEL: removed[e->cycle][e->batch] = 1; break;
    case EV_ACK_DEL: removed[e->cycle][e->batch] = 2; t->acks++; t->acks_in_ck++; break;
    case EV_CK_BEGIN: t->in_checkpoint = 1; t->acks_in_ck = 0; break;
    case EV_CK_END: t->in_checkpoint = 0; break;
    default: fail_msg("bad event %u", e->kind);
    }
}

static void test_kill9_mid_checkpoint(void **state)
{
    char root[512], dir[600];
    vdb_rng rng;
    tally t = {0, 0, 0};
    size_t hits = 0;
    const char *seed_env = getenv("VDB_CRASH_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL);
    (void)state;
    printf("test_kill9_mid_checkpoint: seed %llu (rerun: VDB_CRASH_SEED=%llu)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    vdb_rng_seed(&rng, seed);
    tu_tmpdir(root, sizeof(root), "ckcrash");
    snprintf(dir, sizeof(dir), "%s/store", root);
    preload(dir);
    for (uint32_t cycle = 0; cycle < CYCLES; cycle++) {
        int fds[2], status;
        uint32_t which = 1 + (uint32_t)vdb_rng_below(&rng, 3), begun = 0;
        long delay_us = (long)vdb_rng_below(&rng, 15000);
        event e;
        ssize_t got;
        pid_t pid, verifier;
        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, cycle, fds[1]);
        }
        close(fds[1]);
        /* Up to the start of the chosen checkpoint, then a random delay. */
        while (begun < which && read(fds[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
            apply_event(&e, &t);
            begun += e.kind == EV_CK_BEGIN;
        }
        usleep((useconds_t)delay_us);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        while ((got = read(fds[0], &e, sizeof(e))) == (ssize_t)sizeof(e))
            apply_event(&e, &t);
        assert_true(got == 0);
        close(fds[0]);
        assert_true(WIFSIGNALED(status)); /* it must not have run out or failed */
        if (t.in_checkpoint && t.acks_in_ck > 0)
            hits++;
        t.in_checkpoint = 0;
        verifier = fork();
        if (verifier == 0) {
            vdb_log_set_level(VDB_LOG_ERROR);
            _exit(verify(dir, cycle + 1));
        }
        assert_int_equal(waitpid(verifier, &status, 0), verifier);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("cycle %u: recovery check failed (see above)", cycle);
    }
    print_message("%d kill -9 cycles, %zu acknowledged operations checked, %zu kills inside a "
                  "checkpoint that writes had gone through\n", CYCLES, t.acks, hits);
    assert_true(t.acks > CYCLES);
    assert_true(hits > 0);
    tu_rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_mid_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
