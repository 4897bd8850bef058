/* The write-ahead log on its own: round trip of records and LSNs, rollback,
 * reset, torn tails at every byte (truncated and physically cut back),
 * records from a log with another salt, header damage, read-only scans,
 * group commit under concurrent committers, the interval policy, and
 * injected write/fsync failures turning the log read-only, and a rollback
 * that must wait for an fsync in flight, and a record large enough to be
 * written in slices (replay, a header that never landed, a failed header). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>

#include "store_testutil.h"

#include "core/alloc.h"
#include "core/fsx.h"
#include "core/log.h"
#include "store/wal.h"

TU_ROOT_FIXTURE("wal", VDB_LOG_ERROR)

typedef struct seen {
    size_t count;
    uint64_t lsns[64];
    size_t lens[64];
    unsigned char first[64];
} seen;

static int collect(void *ctx, uint64_t lsn, int type, const void *payload, size_t len,
                   vdb_error *err)
{
    seen *s = ctx;
    (void)err;
    assert_int_equal(type, len % 2 ? VDB_WAL_REC_DELETE : VDB_WAL_REC_UPSERT);
    if (s->count < 64) {
        s->lsns[s->count] = lsn;
        s->lens[s->count] = len;
        s->first[s->count] = len ? ((const unsigned char *)payload)[0] : 0;
    }
    s->count++;
    return 0;
}

static vdb_wal *open_wal(const char *path, seen *s, uint64_t *dropped, vdb_error *err)
{
    vdb_wal_options o = {.policy = VDB_WAL_SYNC_ALWAYS, .interval_ms = 0, .read_only = 0};
    vdb_wal *wal = NULL;
    memset(s, 0, sizeof(*s));
    int rc = vdb_wal_open(path, &o, collect, s, dropped, &wal, err);
    assert_true((rc == VDB_OK) == (wal != NULL)); /* the code and the log agree */
    return wal;
}

/* Writes `n` records with payload lengths 10, 37, 64, ... */
static void write_records(const char *path, int n)
{
    seen s;
    vdb_wal *wal = open_wal(path, &s, NULL, NULL);
    unsigned char buf[4096];
    assert_non_null(wal);
    for (int i = 0; i < n; i++) {
        size_t len = 10 + (size_t)i * 27;
        uint64_t lsn;
        memset(buf, 'a' + i, len);
        assert_int_equal(vdb_wal_append(wal, len % 2 ? VDB_WAL_REC_DELETE : VDB_WAL_REC_UPSERT,
                                        buf, len, &lsn, NULL),
                         VDB_OK);
        assert_int_equal(lsn, (uint64_t)i + 1);
        assert_int_equal(vdb_wal_commit(wal, lsn, NULL), VDB_OK);
    }
    vdb_wal_close(wal);
}

static void test_round_trip_rollback_reset(void **state)
{
    char path[600];
    seen s;
    vdb_wal *wal;
    uint64_t lsn, size;
    (void)state;
    tu_path(path, sizeof(path), root, "rt.log");
    write_records(path, 5);
    wal = open_wal(path, &s, NULL, NULL);
    assert_non_null(wal);
    assert_int_equal(s.count, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(s.lsns[i], i + 1);
        assert_int_equal(s.lens[i], 10 + i * 27);
        assert_int_equal(s.first[i], 'a' + i);
    }
    /* Rollback removes exactly the last record. */
    size = vdb_wal_size(wal);
    assert_int_equal(vdb_wal_append(wal, VDB_WAL_REC_UPSERT, "xx", 2, &lsn, NULL), VDB_OK);
    assert_int_equal(lsn, 6);
    assert_int_equal(vdb_wal_rollback(wal, lsn, NULL), VDB_OK);
    assert_int_equal(vdb_wal_size(wal), size);
    assert_int_equal(vdb_wal_last_lsn(wal), 5);
    /* Reset empties the log; LSNs go on from the given one. */
    assert_int_equal(vdb_wal_reset(wal, 40, NULL), VDB_OK);
    assert_int_equal(vdb_wal_size(wal), 16);
    assert_int_equal(vdb_wal_append(wal, VDB_WAL_REC_UPSERT, "yy", 2, &lsn, NULL), VDB_OK);
    assert_int_equal(lsn, 41);
    assert_int_equal(vdb_wal_sync(wal, NULL), VDB_OK);
    vdb_wal_close(wal);
    wal = open_wal(path, &s, NULL, NULL);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.lsns[0], 41);
    vdb_wal_close(wal);
}

static void test_torn_tail_every_byte(void **state)
{
    char path[600], scratch[600];
    unsigned char *data;
    size_t len = 0;
    long last_start;
    (void)state;
    tu_path(path, sizeof(path), root, "torn.log");
    tu_path(scratch, sizeof(scratch), root, "torn-scratch.log");
    write_records(path, 4);
    data = tu_slurp(path, &len);
    assert_non_null(data);
    last_start = (long)len - 24 - (10 + 3 * 27);
    for (size_t cut = (size_t)last_start + 1; cut < len; cut++) {
        seen s;
        uint64_t dropped = 0;
        vdb_wal *wal;
        tu_spit(scratch, data, cut);
        wal = open_wal(scratch, &s, &dropped, NULL);
        assert_non_null(wal);
        assert_int_equal(s.count, 3);
        assert_int_equal(dropped, cut - (size_t)last_start);
        assert_int_equal(tu_file_size(scratch), last_start);
        vdb_wal_close(wal);
    }
    /* Read-only: reported, not cut. */
    {
        vdb_wal_options o = {.read_only = 1};
        seen s = {0};
        uint64_t dropped = 0;
        vdb_wal *wal;
        tu_spit(scratch, data, len - 3);
        assert_int_equal(vdb_wal_open(scratch, &o, collect, &s, &dropped, &wal, NULL), VDB_OK);
        assert_non_null(wal);
        assert_int_equal(s.count, 3);
        assert_int_equal(dropped, len - 3 - (size_t)last_start);
        assert_int_equal(tu_file_size(scratch), (long)(len - 3));
        assert_int_equal(vdb_wal_append(wal, 1, "x", 1, &(uint64_t){0}, NULL), VDB_EREADONLY);
        vdb_wal_close(wal);
    }
    free(data);
}

static void test_foreign_record_and_header(void **state)
{
    char a[600], b[600];
    unsigned char *da, *db;
    size_t la = 0, lb = 0;
    seen s;
    vdb_error err;
    vdb_wal *wal;
    (void)state;
    tu_path(a, sizeof(a), root, "a.log");
    tu_path(b, sizeof(b), root, "b.log");
    write_records(a, 2);
    write_records(b, 3);
    da = tu_slurp(a, &la);
    db = tu_slurp(b, &lb);
    /* b's third record (valid under b's salt) appended to a: not valid
     * here, so it is a torn tail, not "corruption followed by data". */
    unsigned char *mix = malloc(la + lb);
    memcpy(mix, da, la);
    size_t third = 16 + (24 + 10) + (24 + 37);
    memcpy(mix + la, db + third, lb - third);
    tu_spit(a, mix, la + lb - third);
    wal = open_wal(a, &s, NULL, NULL);
    assert_non_null(wal);
    assert_int_equal(s.count, 2);
    vdb_wal_close(wal);
    /* A damaged file header is corruption, never silently recreated. */
    da[2] ^= 1;
    tu_spit(a, da, la);
    assert_null(open_wal(a, &s, NULL, &err));
    assert_int_equal(err.code, VDB_ECORRUPT);
    /* A header torn at creation (shorter than 16 bytes) is rewritten. */
    tu_spit(a, db, 7);
    wal = open_wal(a, &s, NULL, NULL);
    assert_non_null(wal);
    assert_int_equal(tu_file_size(a), 16);
    vdb_wal_close(wal);
    /* A flipped payload byte with a valid record after it: ECORRUPT with
     * the offset, and the file is left alone. */
    db[16 + 24 + 3] ^= 0x40;
    tu_spit(b, db, lb);
    assert_null(open_wal(b, &s, NULL, &err));
    assert_int_equal(err.code, VDB_ECORRUPT);
    assert_non_null(strstr(err.msg, "offset 16"));
    assert_int_equal(tu_file_size(b), (long)lb);
    free(mix);
    free(da);
    free(db);
}

typedef struct committer {
    vdb_wal *wal;
    pthread_mutex_t *append_lock;
    int rc;
} committer;

static void *committer_main(void *arg)
{
    committer *c = arg;
    for (int i = 0; i < 25 && c->rc == VDB_OK; i++) {
        uint64_t lsn;
        pthread_mutex_lock(c->append_lock);
        c->rc = vdb_wal_append(c->wal, VDB_WAL_REC_UPSERT, "payload!", 8, &lsn, NULL);
        pthread_mutex_unlock(c->append_lock);
        if (c->rc == VDB_OK)
            c->rc = vdb_wal_commit(c->wal, lsn, NULL);
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    enum { THREADS = 8 };
    char path[600];
    seen s;
    pthread_t threads[THREADS];
    committer c[THREADS];
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    vdb_wal *wal;
    (void)state;
    tu_path(path, sizeof(path), root, "group.log");
    wal = open_wal(path, &s, NULL, NULL);
    for (int t = 0; t < THREADS; t++) {
        c[t] = (committer){wal, &lock, VDB_OK};
        pthread_create(&threads[t], NULL, committer_main, &c[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(c[t].rc, VDB_OK);
    }
    print_message("%d commits, %llu fdatasyncs\n", THREADS * 25,
                  (unsigned long long)vdb_wal_syncs(wal));
    assert_true(vdb_wal_syncs(wal) < THREADS * 25);
    vdb_wal_close(wal);
    wal = open_wal(path, &s, NULL, NULL);
    assert_int_equal(s.count, THREADS * 25);
    vdb_wal_close(wal);
}

static void test_interval_policy(void **state)
{
    char path[600];
    vdb_wal_options o = {.policy = VDB_WAL_SYNC_INTERVAL, .interval_ms = 10};
    seen s = {0};
    uint64_t lsn;
    vdb_wal *wal;
    (void)state;
    tu_path(path, sizeof(path), root, "interval.log");
    assert_int_equal(vdb_wal_open(path, &o, collect, &s, NULL, &wal, NULL), VDB_OK);
    assert_non_null(wal);
    assert_int_equal(vdb_wal_append(wal, VDB_WAL_REC_UPSERT, "ab", 2, &lsn, NULL), VDB_OK);
    assert_int_equal(vdb_wal_commit(wal, lsn, NULL), VDB_OK); /* no wait */
    for (int i = 0; i < 200 && vdb_wal_syncs(wal) == 0; i++)
        usleep(5000);
    assert_true(vdb_wal_syncs(wal) >= 1); /* the background thread synced */
    vdb_wal_close(wal);
}

static void test_failures_make_read_only(void **state)
{
    char path[600];
    seen s;
    uint64_t lsn, size;
    vdb_error err;
    vdb_wal *wal;
    (void)state;
    vdb_log_set_level(VDB_LOG_OFF);
    tu_path(path, sizeof(path), root, "fail.log");
    wal = open_wal(path, &s, NULL, NULL);
    assert_int_equal(vdb_wal_append(wal, VDB_WAL_REC_UPSERT, "ok", 2, &lsn, NULL), VDB_OK);
    size = vdb_wal_size(wal);
    /* A torn write: half the record lands, then the call fails; the file
     * is cut back and the log refuses further appends. */
    vdb_fsx_fault_set(VDB_FSX_WRITE, 2, VDB_FSX_FAULT_SHORT, 0);
    assert_int_equal(vdb_wal_append(wal, VDB_WAL_REC_UPSERT, "0123456789", 10, &lsn, &err),
                     VDB_EIO);
    vdb_fsx_fault_set(0, 0, 0, 0);
    assert_int_equal(tu_file_size(path), (long)size);
    assert_int_equal(vdb_wal_append(wal, VDB_WAL_REC_UPSERT, "x", 1, &lsn, &err), VDB_EREADONLY);
    vdb_wal_close(wal);
    /* A failed fsync: the committer gets the error, later ones too. */
    wal = open_wal(path, &s, NULL, NULL);
    assert_int_equal(s.count, 1);
    assert_int_equal(vdb_wal_append(wal, VDB_WAL_REC_UPSERT, "ab", 2, &lsn, NULL), VDB_OK);
    vdb_fsx_fault_set(VDB_FSX_FSYNC, 1, VDB_FSX_FAULT_EIO, 0);
    assert_int_equal(vdb_wal_commit(wal, lsn, &err), VDB_EIO);
    vdb_fsx_fault_set(0, 0, 0, 0);
    assert_int_equal(vdb_wal_commit(wal, lsn, &err), VDB_EREADONLY);
    assert_true(vdb_wal_failed(wal));
    vdb_wal_close(wal);
    vdb_log_set_level(VDB_LOG_WARN);
}

/* Item 12 of issue 11: a rollback racing an fsync that took the rolled-back
 * LSN as its target. The hook parks the syncing committer just after its
 * fdatasync; a rollback then must wait for it, or the re-appended record
 * with the reused LSN is reported durable by that older fdatasync, which
 * never covered it. */
typedef struct race {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int parked, go;
    int rolled; /* atomic enough: written once by one thread, polled */
    vdb_wal *wal;
    uint64_t lsn;
    int rc;
} race;

static void park_after_fsync(void *ctx)
{
    race *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->parked = 1;
    pthread_cond_broadcast(&r->cond);
    while (!r->go)
        pthread_cond_wait(&r->cond, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void *race_commit(void *arg)
{
    race *r = arg;
    r->rc = vdb_wal_commit(r->wal, r->lsn, NULL);
    return NULL;
}

static void *race_rollback(void *arg)
{
    race *r = arg;
    int rc = vdb_wal_rollback(r->wal, r->lsn, NULL);
    pthread_mutex_lock(&r->mu);
    r->rolled = rc == VDB_OK ? 1 : -1;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void test_rollback_waits_for_fsync(void **state)
{
    char path[600];
    seen s;
    race r;
    pthread_t committer_thread, rollback_thread;
    uint64_t lsn, again;
    int early;
    (void)state;
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cond, NULL);
    tu_path(path, sizeof(path), root, "rollrace.log");
    r.wal = open_wal(path, &s, NULL, NULL);
    assert_non_null(r.wal);
    assert_int_equal(vdb_wal_append(r.wal, VDB_WAL_REC_UPSERT, "ab", 2, &lsn, NULL), VDB_OK);
    r.lsn = lsn;
    vdb_wal_set_test_hook(r.wal, park_after_fsync, &r);
    pthread_create(&committer_thread, NULL, race_commit, &r);
    pthread_mutex_lock(&r.mu);
    while (!r.parked)
        pthread_cond_wait(&r.cond, &r.mu);
    pthread_mutex_unlock(&r.mu);
    vdb_wal_set_test_hook(r.wal, NULL, NULL); /* later fsyncs run freely */
    pthread_create(&rollback_thread, NULL, race_rollback, &r);
    usleep(200000);
    pthread_mutex_lock(&r.mu);
    early = r.rolled;
    pthread_mutex_unlock(&r.mu);
    /* Before the fix the rollback has returned by now: reuse the LSN while
     * the old fsync is still to publish its target. */
    if (early)
        assert_int_equal(vdb_wal_append(r.wal, VDB_WAL_REC_UPSERT, "cd", 2, &again, NULL),
                         VDB_OK);
    pthread_mutex_lock(&r.mu);
    r.go = 1;
    pthread_cond_broadcast(&r.cond);
    pthread_mutex_unlock(&r.mu);
    pthread_join(committer_thread, NULL);
    pthread_join(rollback_thread, NULL);
    assert_int_equal(r.rolled, 1);
    if (!early)
        assert_int_equal(vdb_wal_append(r.wal, VDB_WAL_REC_UPSERT, "cd", 2, &again, NULL),
                         VDB_OK);
    assert_int_equal(again, lsn); /* the LSN is reused */
    assert_int_equal(vdb_wal_commit(r.wal, again, NULL), VDB_OK);
    /* The acknowledged record needs an fdatasync that began after it was
     * written: the first one (parked) did not. */
    assert_int_equal(vdb_wal_syncs(r.wal), 2);
    assert_int_equal(early, 0);
    vdb_wal_close(r.wal);
    pthread_cond_destroy(&r.cond);
    pthread_mutex_destroy(&r.mu);
}

typedef struct whole {
    size_t count;
    unsigned char payload[256];
    size_t len;
} whole;

static int keep_payload(void *ctx, uint64_t lsn, int type, const void *payload, size_t len,
                        vdb_error *err)
{
    whole *w = ctx;
    (void)lsn, (void)type, (void)err;
    w->count++;
    w->len = len;
    if (len <= sizeof(w->payload))
        memcpy(w->payload, payload, len);
    return VDB_OK;
}

/* A record given in pieces is the record of their concatenation: same
 * bytes and checksum on replay (empty pieces included), and the size limit
 * applies to the sum. */
static void test_append_pieces(void **state)
{
    char path[600];
    vdb_wal_options o = {.policy = VDB_WAL_SYNC_ALWAYS, .interval_ms = 0, .read_only = 0};
    whole w = {0};
    uint64_t lsn;
    vdb_error err;
    (void)state;
    tu_path(path, sizeof(path), root, "pieces.log");
    vdb_wal *wal = NULL;
    assert_int_equal(vdb_wal_open(path, &o, keep_payload, &w, NULL, &wal, NULL), VDB_OK);
    assert_non_null(wal);
    static const char a[] = "head", b[] = "the-vectors", c[] = "tail";
    vdb_wal_piece pieces[4] = {{a, 4}, {b, 11}, {"", 0}, {c, 4}};
    assert_int_equal(vdb_wal_append_pieces(wal, VDB_WAL_REC_UPSERT, pieces, 4, &lsn, NULL), VDB_OK);
    assert_int_equal(lsn, 1);
    assert_int_equal(vdb_wal_commit(wal, lsn, NULL), VDB_OK);
    vdb_wal_piece huge[2] = {{a, VDB_WAL_MAX_RECORD}, {b, 1}};
    assert_int_equal(vdb_wal_append_pieces(wal, VDB_WAL_REC_UPSERT, huge, 2, &lsn, &err),
                     VDB_ETOOBIG);
    assert_false(vdb_wal_failed(wal)); /* refused before anything was written */
    vdb_wal_close(wal);
    assert_int_equal(vdb_wal_open(path, &o, keep_payload, &w, NULL, &wal, NULL), VDB_OK);
    assert_non_null(wal);
    assert_int_equal(w.count, 1);
    assert_int_equal(w.len, 19);
    assert_memory_equal(w.payload, "headthe-vectorstail", 19);
    vdb_wal_close(wal);
}

/* Replay that keeps a digest of every record: count, lengths, and whether
 * each payload equals the expected bytes. */
typedef struct big_seen {
    size_t count;
    size_t lens[8];
    int equal[8];
    const unsigned char *expect[8];
} big_seen;

static int check_big(void *ctx, uint64_t lsn, int type, const void *payload, size_t len,
                     vdb_error *err)
{
    big_seen *b = ctx;
    (void)lsn, (void)type, (void)err;
    if (b->count < 8) {
        b->lens[b->count] = len;
        b->equal[b->count] =
            b->expect[b->count] != NULL && memcmp(payload, b->expect[b->count], len) == 0;
    }
    b->count++;
    return VDB_OK;
}

/* A payload of 8 MiB or more is checksummed and written in 1 MiB slices,
 * with writeback started along the way, and its header goes last (wal.c
 * write_payload). The record must replay byte for byte (pieces not on
 * slice boundaries); a header that never reached the disk (what a crash
 * between the payload and the header leaves: a hole of zeros) must read
 * as a torn tail that is dropped, not as corruption in the middle of the
 * log; and a failed header write must cut the record off again. */
static void test_large_record_sliced(void **state)
{
    char path[600];
    vdb_wal_options o = {.policy = VDB_WAL_SYNC_ALWAYS, .interval_ms = 0, .read_only = 0};
    size_t big = (9u << 20) + 12345, cut1 = 1000003, cut2 = (5u << 20) + 7;
    unsigned char *data = vdb_malloc(big), *file;
    uint64_t lsn, dropped = 0, size_before;
    size_t flen;
    vdb_error err;
    big_seen b;
    (void)state;
    assert_non_null(data);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    tu_path(path, sizeof(path), root, "big.log");
    memset(&b, 0, sizeof(b));
    vdb_wal *wal = NULL;
    assert_int_equal(vdb_wal_open(path, &o, check_big, &b, NULL, &wal, NULL), VDB_OK);
    assert_non_null(wal);
    vdb_wal_piece small = {"small", 5};
    vdb_wal_piece pieces[3] = {{data, cut1}, {data + cut1, cut2 - cut1}, {data + cut2, big - cut2}};
    assert_int_equal(vdb_wal_append_pieces(wal, VDB_WAL_REC_DELETE, &small, 1, &lsn, NULL), VDB_OK);
    assert_int_equal(vdb_wal_append_pieces(wal, VDB_WAL_REC_UPSERT, pieces, 3, &lsn, NULL), VDB_OK);
    assert_int_equal(vdb_wal_commit(wal, lsn, NULL), VDB_OK);
    vdb_wal_close(wal);

    memset(&b, 0, sizeof(b));
    b.expect[0] = (const unsigned char *)"small";
    b.expect[1] = data;
    assert_int_equal(vdb_wal_open(path, &o, check_big, &b, &dropped, &wal, NULL), VDB_OK);
    assert_non_null(wal);
    assert_int_equal(b.count, 2);
    assert_int_equal(b.lens[1], big);
    assert_true(b.equal[0] && b.equal[1]);
    assert_int_equal(dropped, 0);
    vdb_wal_close(wal);

    /* The big record's header zeroed: its payload is on disk, its header
     * is not. */
    file = tu_slurp(path, &flen);
    assert_non_null(file);
    assert_int_equal(flen, 16 + 24 + 5 + 24 + big);
    size_t header_at = flen - big - 24; /* from flen: a constant offset trips -Warray-bounds */
    memset(file + header_at, 0, 24);
    assert_int_equal(tu_spit(path, file, flen), 0);
    free(file);
    memset(&b, 0, sizeof(b));
    b.expect[0] = (const unsigned char *)"small";
    assert_int_equal(vdb_wal_open(path, &o, check_big, &b, &dropped, &wal, &err), VDB_OK);
    assert_non_null(wal);
    assert_int_equal(b.count, 1);
    assert_true(dropped > 0);
    assert_int_equal(tu_file_size(path), 16 + 24 + 5);

    /* The header write fails (the write after every 1 MiB slice of every
     * piece): the record is cut off and the log turns read-only. */
    int writes = 1;
    for (int i = 0; i < 3; i++)
        writes += (int)((pieces[i].len + (1u << 20) - 1) >> 20);
    size_before = vdb_wal_size(wal);
    vdb_fsx_fault_set(VDB_FSX_WRITE, writes, VDB_FSX_FAULT_SHORT, 0);
    assert_int_equal(vdb_wal_append_pieces(wal, VDB_WAL_REC_UPSERT, pieces, 3, &lsn, &err),
                     VDB_EIO);
    vdb_fsx_fault_set(0, 0, 0, 0);
    assert_true(vdb_wal_failed(wal));
    assert_int_equal(tu_file_size(path), (long)size_before);
    vdb_wal_close(wal);
    vdb_free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_rollback_reset),
        cmocka_unit_test(test_torn_tail_every_byte),
        cmocka_unit_test(test_foreign_record_and_header),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_interval_policy),
        cmocka_unit_test(test_failures_make_read_only),
        cmocka_unit_test(test_rollback_waits_for_fsync),
        cmocka_unit_test(test_append_pieces),
        cmocka_unit_test(test_large_record_sliced),
    };
    return cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown);
}
