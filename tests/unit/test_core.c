/* Core utilities: error table, allocation failure injection, thread pool,
 * random numbers and ids, JSON adapter limits, growable memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/bytes.h"
#include "core/crc.h"
#include "core/err.h"
#include "core/fsx.h"
#include "core/hash.h"
#include "core/htab.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/npy.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/vmem.h"

static void test_error_table(void **state)
{
    vdb_error err;
    (void)state;
    assert_string_equal(vdb_err_name(VDB_EINVAL), "VDB_EINVAL");
    assert_int_equal(vdb_err_http_status(VDB_ENOTFOUND), 404);
    assert_int_equal(vdb_err_http_status(VDB_ETOOBIG), 413);
    assert_int_equal(vdb_err_http_status(VDB_ENOSPC), 507);
    assert_int_equal(vdb_err_http_status(12345), 500);
    assert_int_equal(vdb_error_set(&err, VDB_EDIM, "dim %u != %u", 3u, 4u), VDB_EDIM);
    assert_string_equal(err.msg, "dim 3 != 4");
    assert_int_equal(vdb_error_set(NULL, VDB_EIO, "x"), VDB_EIO);
    /* A message is one line: a pid file's newline (or any control byte
     * from a name) must not split a log line or a JSON detail. */
    vdb_error_set(&err, VDB_ELOCKED, "held (pid %s)", "2917\n\r\t");
    assert_string_equal(err.msg, "held (pid 2917   )");
}

static void test_alloc_injection(void **state)
{
    void *a, *b, *c;
    (void)state;
    vdb_alloc_fail_at(2, 0);
    a = vdb_malloc(8);
    b = vdb_malloc(8);
    c = vdb_malloc(8);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    vdb_free(a);
    vdb_free(c);
    vdb_alloc_fail_at(1, 1);
    assert_null(vdb_malloc(8));
    assert_null(vdb_calloc(2, 8));
    assert_null(vdb_strdup("x"));
    vdb_alloc_fail_at(0, 0);
    a = vdb_strdup("hello");
    assert_string_equal(a, "hello");
    vdb_free(a);
}

typedef struct sum_job {
    _Atomic unsigned long sum;
    _Atomic int calls;
} sum_job;

static void add_task(void *arg, size_t task, int worker)
{
    sum_job *job = arg;
    (void)worker;
    atomic_fetch_add(&job->sum, (unsigned long)task);
    atomic_fetch_add(&job->calls, 1);
}

static void nested_task(void *arg, size_t task, int worker)
{
    sum_job inner = {0, 0};
    (void)task;
    (void)worker;
    /* A task may itself use the pool: it runs serially, never deadlocks. */
    vdb_pool_run(vdb_pool_global(), 10, add_task, &inner);
    atomic_fetch_add(&((sum_job *)arg)->sum, atomic_load(&inner.sum));
}

static void test_pool(void **state)
{
    vdb_pool *pool = NULL;
    assert_int_equal(vdb_pool_new(3, &pool, NULL), VDB_OK);
    sum_job job = {0, 0};
    (void)state;
    assert_int_equal(vdb_pool_threads(pool), 3);
    for (int round = 0; round < 50; round++) {
        atomic_store(&job.sum, 0);
        atomic_store(&job.calls, 0);
        vdb_pool_run(pool, 1000, add_task, &job);
        assert_int_equal(atomic_load(&job.sum), 999UL * 1000 / 2);
        assert_int_equal(atomic_load(&job.calls), 1000);
    }
    vdb_pool_free(pool);
    atomic_store(&job.sum, 0);
    vdb_pool_run(vdb_pool_global(), 8, nested_task, &job);
    assert_int_equal(atomic_load(&job.sum), 8 * 45);
    vdb_pool_free(NULL);
    /* Each of the two allocations failing is VDB_ENOMEM, without an error
     * record too, and *out is NULL. */
    for (uint64_t nth = 1; nth <= 2; nth++) {
        pool = (vdb_pool *)(void *)&job;
        vdb_alloc_fail_at(nth, 0);
        assert_int_equal(vdb_pool_new(2, &pool, NULL), VDB_ENOMEM);
        vdb_alloc_fail_at(0, 0);
        assert_null(pool);
    }
}

#ifdef __linux__
/* Per task: the nice value of the thread that ran it (workers only). */
typedef struct nice_job {
    _Atomic int on_workers, min_worker_nice;
} nice_job;

static void nice_task(void *arg, size_t task, int worker)
{
    nice_job *job = arg;
    (void)task;
    usleep(2000); /* long enough that the workers take some tasks */
    if (worker == 0)
        return;
    int nice = getpriority(PRIO_PROCESS, (id_t)gettid());
    atomic_fetch_add(&job->on_workers, 1);
    int seen = atomic_load(&job->min_worker_nice);
    while (nice < seen && !atomic_compare_exchange_weak(&job->min_worker_nice, &seen, nice)) {
    }
}

typedef struct background_check {
    vdb_pool *seen;
    nice_job job;
} background_check;

static void *background_thread(void *arg)
{
    background_check *check = arg;
    vdb_pool_use_background();
    check->seen = vdb_pool_global();
    vdb_pool_run(check->seen, 40, nice_task, &check->job);
    return NULL;
}

/* A thread routed to the background pool gets a pool of its own whose
 * workers run at VDB_POOL_BACKGROUND_NICE, while every other thread keeps
 * the process-wide pool with workers at the process's priority (the
 * indexer's inserts ran at full priority on those before, issue 12). */
static void test_pool_background(void **state)
{
    background_check check = {NULL, {0, 100}};
    nice_job normal = {0, 100};
    pthread_t thread;
    (void)state;
    int base = getpriority(PRIO_PROCESS, (id_t)gettid());
    assert_int_equal(pthread_create(&thread, NULL, background_thread, &check), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_non_null(check.seen);
    assert_ptr_not_equal(check.seen, vdb_pool_global());
    assert_int_equal(vdb_pool_threads(check.seen), vdb_pool_threads(vdb_pool_global()));
    vdb_pool_run(vdb_pool_global(), 40, nice_task, &normal);
    if (vdb_pool_threads(check.seen) > 1) {
        assert_true(atomic_load(&check.job.on_workers) > 0);
        /* Workers only ever get nicer: a process already nicer than the
         * background value keeps its own. */
        assert_int_equal(atomic_load(&check.job.min_worker_nice),
                         base > VDB_POOL_BACKGROUND_NICE ? base : VDB_POOL_BACKGROUND_NICE);
        assert_true(atomic_load(&normal.on_workers) > 0);
        assert_int_equal(atomic_load(&normal.min_worker_nice), base);
    }
}
#endif

static void test_rng(void **state)
{
    vdb_rng a, b;
    char uuid[VDB_UUID_LEN], other[VDB_UUID_LEN];
    double sum = 0, sq = 0;
    (void)state;
    vdb_rng_seed(&a, 42);
    vdb_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_true(vdb_rng_next(&a) == vdb_rng_next(&b));
    for (int i = 0; i < 20000; i++) {
        double g = vdb_rng_gauss(&a);
        sum += g;
        sq += g * g;
        assert_true(vdb_rng_below(&a, 7) < 7);
    }
    assert_true(sum / 20000 < 0.05 && sum / 20000 > -0.05);
    assert_true(sq / 20000 > 0.95 && sq / 20000 < 1.05);
    vdb_rng_uuid(uuid);
    vdb_rng_uuid(other);
    assert_int_equal(strlen(uuid), 36);
    assert_int_equal(uuid[14], '4');
    assert_true(uuid[8] == '-' && uuid[13] == '-' && uuid[18] == '-' && uuid[23] == '-');
    assert_string_not_equal(uuid, other);
}

static void test_json_limits(void **state)
{
    vdb_error err;
    char deep[200];
    vdb_json *j;
    char mark; /* a non-NULL pointer that a failed parse must overwrite */
    float out[4];
    size_t len;
    (void)state;
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    deep[80] = '\0';
    j = (vdb_json *)(void *)&mark;
    assert_int_equal(vdb_json_parse(deep, 80, 0, &j, &err), VDB_ETOOBIG);
    assert_null(j);
    assert_int_equal(err.code, VDB_ETOOBIG);
    /* The code comes back without an error record too. */
    assert_int_equal(vdb_json_parse(deep, 80, 0, &j, NULL), VDB_ETOOBIG);
    assert_int_equal(vdb_json_parse(deep + 10, 60, 0, &j, &err), VDB_OK); /* 30 levels: allowed */
    assert_non_null(j);
    vdb_json_decref(j);
    j = (vdb_json *)(void *)&mark;
    assert_int_equal(vdb_json_parse("{\"a\":1,\"a\":2}", 13, 0, &j, &err), VDB_EPARSE);
    assert_null(j);
    assert_int_equal(err.code, VDB_EPARSE);
    assert_int_equal(vdb_json_parse("{\"a\":1,\"a\":2}", 13, 0, &j, NULL), VDB_EPARSE);
    /* The parse-tree bound: 5M empty objects are 15 MB of text but about
     * 1.2 GB as a tree; refused from the scan, before jansson allocates. */
    {
        size_t n = 5000000, tl = 3 * n + 1;
        char *big = malloc(tl + 1);
        assert_non_null(big);
        big[0] = '[';
        for (size_t i = 0; i < n; i++)
            memcpy(big + 1 + 3 * i, "{},", 3);
        big[tl - 1] = ']';
        big[tl] = '\0';
        assert_true(vdb_json_parse_cost(big, tl) > VDB_MAX_JSON_PARSE_BYTES);
        assert_int_equal(vdb_json_parse(big, tl, 0, &j, &err), VDB_ETOOBIG);
        assert_null(j);
        assert_int_equal(err.code, VDB_ETOOBIG);
        assert_non_null(strstr(err.msg, "MiB limit"));
        /* A tenth of it (500,000 objects: the ',' after the last one
         * becomes the ']') parses: its estimate is under the bound. */
        size_t small = 3 * (n / 10) + 1;
        big[small - 1] = ']';
        assert_true(vdb_json_parse_cost(big, small) < VDB_MAX_JSON_PARSE_BYTES);
        assert_int_equal(vdb_json_parse(big, small, 0, &j, &err), VDB_OK);
        assert_non_null(j);
        vdb_json_decref(j);
        free(big);
        /* Strings count their bytes, not what they hold: brackets inside
         * a string are text. */
        assert_true(vdb_json_parse_cost("[\"{{{{\"]", 8) < vdb_json_parse_cost("[{},{},{},{}]", 13));
    }
    assert_int_equal(vdb_json_parse("{\"a\":", 5, 0, &j, &err), VDB_EPARSE);
    assert_null(j);
    assert_int_equal(vdb_json_parse("[1e999]", 7, 0, &j, &err), VDB_EPARSE);
    assert_null(j);
    /* Brackets inside strings do not count as nesting. */
    {
        const char *text = "{\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}";
        assert_int_equal(vdb_json_parse(text, strlen(text), 4, &j, &err), VDB_OK);
    }
    assert_non_null(j);
    assert_int_equal(vdb_json_typeof(vdb_json_object_get(j, "s")), VDB_JSON_STRING);
    vdb_json_decref(j);

    assert_int_equal(vdb_json_parse("[1, 2.5, -3]", 12, 0, &j, NULL), VDB_OK);
    assert_int_equal(vdb_json_to_floats(j, out, 4, &len, NULL), VDB_OK);
    assert_int_equal(len, 3);
    assert_float_equal(out[1], 2.5f, 0);
    assert_int_equal(vdb_json_to_floats(j, out, 2, &len, &err), VDB_EINVAL);
    vdb_json_decref(j);
    assert_int_equal(vdb_json_parse("[1, \"x\"]", 8, 0, &j, NULL), VDB_OK);
    assert_int_equal(vdb_json_to_floats(j, out, 4, &len, &err), VDB_EINVAL);
    assert_non_null(strstr(err.msg, "element 1"));
    vdb_json_decref(j);
    assert_int_equal(vdb_json_parse("[1e300]", 7, 0, &j, NULL), VDB_OK);
    assert_int_equal(vdb_json_to_floats(j, out, 4, &len, &err), VDB_EINVAL);
    vdb_json_decref(j);
}

static void test_json_build_dump(void **state)
{
    vdb_json *o = vdb_json_object();
    char *text;
    (void)state;
    vdb_json_object_set_new(o, "b", vdb_json_int(2));
    vdb_json_object_set_new(o, "a", vdb_json_string("x\xc3\xa9"));
    vdb_json_object_set_new(o, "nan", vdb_json_real(0.0 / 0.0));
    text = vdb_json_dump(o, VDB_JSON_DUMP_COMPACT | VDB_JSON_DUMP_SORT_KEYS | VDB_JSON_DUMP_ASCII);
    assert_string_equal(text, "{\"a\":\"x\\u00E9\",\"b\":2,\"nan\":null}");
    vdb_json_free_text(text);
    vdb_json_decref(o);
}

static void test_vmem(void **state)
{
    vdb_vmem mem;
    unsigned char *base;
    (void)state;
    vdb_vmem_init(&mem);
    assert_int_equal(vdb_vmem_grow(&mem, 100), VDB_OK);
    assert_true(((uintptr_t)mem.base & 63) == 0);
    base = mem.base;
    memset(mem.base, 7, 100);
    assert_int_equal(vdb_vmem_grow(&mem, (size_t)64 << 20), VDB_OK);
    if (!mem.heap)
        assert_ptr_equal(mem.base, base); /* grows in place */
    assert_int_equal(mem.base[99], 7);
    assert_int_equal(mem.base[((size_t)64 << 20) - 1], 0);
    vdb_vmem_release(&mem);
    assert_null(mem.base);
}

static void test_pool_after_fork(void **state)
{
    sum_job job = {0, 0};
    pid_t pid;
    int status;
    (void)state;
    vdb_pool_run(vdb_pool_global(), 100, add_task, &job); /* workers exist now */
    pid = fork();
    if (pid == 0) {
        sum_job child = {0, 0};
        vdb_pool_run(vdb_pool_global(), 100, add_task, &child);
        _exit(atomic_load(&child.sum) == 4950 ? 0 : 1);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_log_levels(void **state)
{
    (void)state;
    assert_int_equal(vdb_log_level_parse("WARNING"), VDB_LOG_WARN);
    assert_int_equal(vdb_log_level_parse("debug"), VDB_LOG_DEBUG);
    assert_int_equal(vdb_log_level_parse("loud"), -1);
}

/* Bitwise CRC32 (reflected 0xEDB88320, zlib's convention), the oracle
 * for vdb_crc32's table and carry-less multiplication paths. */
static uint32_t crc32_bitwise(uint32_t crc, const unsigned char *p, size_t len)
{
    crc = ~crc;
    while (len-- > 0) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

/* vdb_crc32 against the bitwise oracle at every length to 1,100 (across
 * the 256-byte switch to folding and every tail length), from every
 * alignment 0-15, continued from arbitrary previous results, split at
 * arbitrary points, and over 1-16 MiB. */
static void test_crc32_fold(void **state)
{
    (void)state;
    size_t big = (size_t)16 << 20;
    unsigned char *buf = vdb_malloc(big + 16);
    assert_non_null(buf);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < big + 16; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)(x >> 24);
    }
    for (size_t len = 0; len <= 1100; len++) {
        size_t at = len % 16;
        uint32_t prev = (uint32_t)(len * 0x9E3779B1u);
        assert_int_equal(vdb_crc32(0, buf + at, len), crc32_bitwise(0, buf + at, len));
        assert_int_equal(vdb_crc32(prev, buf + at, len), crc32_bitwise(prev, buf + at, len));
        size_t cut = len ? (len * 7919) % len : 0;
        assert_int_equal(vdb_crc32(vdb_crc32(prev, buf, cut), buf + cut, len - cut),
                         crc32_bitwise(prev, buf, len));
    }
    /* Everything zero, everything 0xFF: no lane may cancel another. */
    unsigned char flat[1024];
    for (int fill = 0; fill <= 0xFF; fill += 0xFF) {
        memset(flat, fill, sizeof(flat));
        assert_int_equal(vdb_crc32(0, flat, sizeof(flat)), crc32_bitwise(0, flat, sizeof(flat)));
    }
    for (size_t len = (size_t)1 << 20; len <= big; len *= 4)
        assert_int_equal(vdb_crc32(7, buf + 3, len + 5), crc32_bitwise(7, buf + 3, len + 5));
    vdb_free(buf);
}

/* Known answers: the SipHash paper's SipHash-2-4 vectors (key 00..0f,
 * messages 00..len-1), CRC-32 and CRC-32C of "123456789", and byte order. */
static void test_hash_crc_bytes(void **state)
{
    (void)state;
    unsigned char key[16], msg[15], buf[8];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (unsigned char)i;
    assert_true(vdb_siphash(key, 2, 4, msg, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(vdb_siphash(key, 2, 4, msg, 15) == 0xa129ca6149be45e5ull);
    assert_true(vdb_hash_keyed("abc", 3) == vdb_hash_keyed("abc", 3));
    assert_true(vdb_hash_keyed("abc", 3) != vdb_hash_keyed("abd", 3));
    assert_true(vdb_hash_mix64(1) != vdb_hash_mix64(2));
    assert_int_equal(vdb_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(vdb_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(vdb_crc32(vdb_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    vdb_put64le(buf, 0x0807060504030201ull);
    for (int i = 0; i < 8; i++)
        assert_int_equal(buf[i], i + 1);
    assert_true(vdb_get64le(buf) == 0x0807060504030201ull);
    assert_int_equal(vdb_get32le(buf + 4), 0x08070605u);
    assert_int_equal(vdb_get16le(buf), 0x0201u);
}

/* The .npy codec: round trip, and every hostile header refused. */
static int npy_try(const char *dict, vdb_npy_info *info)
{
    unsigned char buf[512];
    size_t n = strlen(dict);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    vdb_put16le(buf + 8, (uint32_t)n);
    memcpy(buf + 10, dict, n);
    return vdb_npy_parse(buf, 10 + n, info, NULL);
}

static void test_npy_codec(void **state)
{
    (void)state;
    char head[256];
    vdb_npy_info info;
    size_t len = vdb_npy_build(head, sizeof head, "<f4", 1000, 384, 2);
    assert_true(len > 0 && len % 64 == 0 && head[len - 1] == '\n');
    assert_int_equal(vdb_npy_parse((unsigned char *)head, len, &info, NULL), VDB_OK);
    assert_true(info.dtype == VDB_NPY_F4 && info.ndim == 2 && info.shape[0] == 1000 &&
                info.shape[1] == 384 && info.data_off == len && info.item_size == 4);
    len = vdb_npy_build(head, sizeof head, "<f4", 7, 0, 1);
    assert_int_equal(vdb_npy_parse((unsigned char *)head, len, &info, NULL), VDB_OK);
    assert_true(info.ndim == 1 && info.shape[0] == 7 && info.shape[1] == 1);
    assert_int_equal(vdb_npy_parse((unsigned char *)head, len - 1, &info, NULL), VDB_EINVAL);
    assert_int_equal(vdb_npy_build(head, 16, "<f4", 1, 1, 2), 0);
    assert_int_equal(npy_try("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", &info),
                     VDB_OK);
    assert_true(info.dtype == VDB_NPY_F8 && info.item_size == 8);
    assert_int_equal(npy_try("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", &info),
                     VDB_EINVAL);
    assert_int_equal(npy_try("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", &info),
                     VDB_EINVAL);
    assert_int_equal(npy_try("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }",
                             &info), VDB_EINVAL);
    assert_int_equal(npy_try("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &info),
                     VDB_EINVAL);
    assert_int_equal(npy_try("{'descr': '<f4', 'shape': (2, 3), }", &info), VDB_EINVAL);
    assert_int_equal(npy_try("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 3), }", &info),
                     VDB_EINVAL);
    assert_int_equal(vdb_npy_parse((const unsigned char *)"\x93NUMPX\x01\x00\x10\x00", 10, &info,
                                   NULL), VDB_EINVAL);
    assert_int_equal(vdb_npy_parse((const unsigned char *)"\x93NUMPY\x04\x00\x10\x00", 10, &info,
                                   NULL), VDB_EINVAL);
}

/* mkdir -p through the funnel: nested creation, existing parts, a file in
 * the way, and an injected fault. */
static void test_fsx_mkdirs(void **state)
{
    char base[] = "/tmp/vdb_mkdirs_XXXXXX", path[256], file[256];
    struct stat st;
    vdb_error err;
    (void)state;
    assert_non_null(mkdtemp(base));
    snprintf(path, sizeof(path), "%s/a/b/c", base);
    vdb_error_clear(&err);
    assert_int_equal(vdb_fsx_mkdirs(path, 0700, &err), VDB_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(vdb_fsx_mkdirs(path, 0700, &err), VDB_OK); /* again: fine */
    snprintf(file, sizeof(file), "%s/a/f", base);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/a/f/g", base);
    assert_int_equal(vdb_fsx_mkdirs(path, 0700, &err), VDB_EEXIST);
    snprintf(path, sizeof(path), "%s/x/y", base);
    vdb_fsx_fault_set(VDB_FSX_MKDIR, 2, VDB_FSX_FAULT_ENOSPC, 0);
    assert_int_equal(vdb_fsx_mkdirs(path, 0700, &err), VDB_ENOSPC);
    vdb_fsx_fault_set(0, 0, VDB_FSX_FAULT_EIO, 0);
    assert_int_equal(vdb_fsx_mkdirs("", 0700, &err), VDB_EINVAL);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

/* rm -rf, rmdir and small-file reads through the funnel: a nested tree
 * goes, a missing one is fine, an injected unlink fault is reported, and a
 * /proc file (whose size reads as 0) is read whole. */
static void test_fsx_remove_and_read_text(void **state)
{
    char base[] = "/tmp/vdb_rmtree_XXXXXX", path[256], text[256];
    struct stat st;
    size_t len = 0;
    vdb_error err;
    (void)state;
    assert_non_null(mkdtemp(base));
    snprintf(path, sizeof(path), "%s/a/b", base);
    assert_int_equal(vdb_fsx_mkdirs(path, 0700, &err), VDB_OK);
    snprintf(path, sizeof(path), "%s/a/b/f", base);
    assert_int_equal(vdb_fsx_replace_file(base, "g", "xy", 2, 0600, &err), VDB_OK);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    vdb_fsx_fault_set(VDB_FSX_UNLINK, 1, VDB_FSX_FAULT_EIO, 0);
    assert_int_equal(vdb_fsx_remove_tree(base, &err), VDB_EIO);
    assert_int_equal(stat(base, &st), 0); /* the first removal failed: all there */
    vdb_fsx_fault_set(0, 0, VDB_FSX_FAULT_EIO, 0);
    assert_int_equal(vdb_fsx_remove_tree(base, &err), VDB_OK);
    assert_int_not_equal(stat(base, &st), 0);
    assert_int_equal(vdb_fsx_remove_tree(base, &err), VDB_OK); /* missing: fine */
    assert_int_equal(vdb_fsx_rmdir(base, &err), VDB_OK);
    assert_int_equal(vdb_fsx_read_text("/proc/self/statm", text, sizeof(text), &len, &err), VDB_OK);
    assert_true(len > 0 && strlen(text) == len);
    assert_int_equal(vdb_fsx_read_text("/proc/self/status", text, 8, &len, &err), VDB_OK);
    assert_int_equal(len, 7); /* cut at the buffer, NUL-terminated */
    assert_int_equal(vdb_fsx_read_text(base, text, sizeof(text), &len, &err), VDB_ENOTFOUND);
}

/* jansson allocates through the funnel: building and dumping are failed by
 * injection (each failure a NULL, never broken text: jansson 2.14's dumper
 * drops an object key it failed to write, which vdb_json_dump catches), and
 * the parser, which jansson cannot run under a failed allocation, never is. */
static void test_json_alloc_funnel(void **state)
{
    /* The shape of store.json: nested objects, sorted keys. */
    static const char text[] = "{\"format\": \"vdb-store\", \"files\": {\"vectors.npz\": "
                               "{\"size\": 12}, \"metadata.jsonl\": {\"size\": 3, \"crc32\": 7}}, "
                               "\"index\": {\"kind\": \"hnsw\", \"m\": 16}, \"tags\": [\"a\", \"bb\"]}";
    vdb_error err;
    (void)state;
    for (uint64_t nth = 1; nth < 50; nth++) {
        vdb_alloc_fail_at(nth, 0);
        vdb_json *j = NULL;
        assert_int_equal(vdb_json_parse(text, sizeof(text) - 1, 0, &j, &err), VDB_OK);
        vdb_alloc_fail_at(0, 0);
        assert_non_null(j);
        vdb_json_decref(j);
    }
    vdb_json *doc = NULL;
    assert_int_equal(vdb_json_parse(text, sizeof(text) - 1, 0, &doc, &err), VDB_OK);
    assert_non_null(doc);
    uint64_t before = vdb_alloc_count();
    char *want = vdb_json_dump(doc, VDB_JSON_DUMP_COMPACT | VDB_JSON_DUMP_SORT_KEYS);
    assert_non_null(want);
    assert_true(vdb_alloc_count() > before); /* the dump went through vdb_malloc */
    int completed = 0, failed = 0;
    for (uint64_t nth = 1; nth < 200 && !completed; nth++) {
        vdb_alloc_fail_at(nth, 0);
        char *got = vdb_json_dump(doc, VDB_JSON_DUMP_COMPACT | VDB_JSON_DUMP_SORT_KEYS);
        vdb_alloc_fail_at(0, 0);
        if (got != NULL)
            assert_string_equal(got, want);
        failed += got == NULL;
        completed = got != NULL;
        vdb_json_free_text(got);
    }
    assert_true(completed && failed > 0);
    vdb_json_free_text(want);
    vdb_json_decref(doc);
}

/* core/htab against a plain array, with a hash so weak (8 values) that
 * every probe run is long, wraps around the table and is cut by backward-
 * shift deletes: a wrong shift would lose keys the reference still has. */
typedef struct htab_keys {
    const uint32_t *key_of; /* ref -> key */
    uint32_t want;
} htab_keys;

static int htab_key_is(const void *ctx, uint32_t ref)
{
    const htab_keys *k = ctx;
    return k->key_of[ref] == k->want;
}

static void test_htab(void **state)
{
    (void)state;
    enum { KEYS = 600 };
    uint32_t key_of[KEYS], ref_of[KEYS]; /* ref i holds key i*7+1; ref_of: key index -> ref or NONE */
    vdb_htab t = {0};
    vdb_rng rng;
    htab_keys k = {key_of, 0};
    for (uint32_t i = 0; i < KEYS; i++) {
        key_of[i] = i * 7 + 1;
        ref_of[i] = VDB_HTAB_NONE;
    }
    assert_int_equal(vdb_htab_get(&t, 1, htab_key_is, &k), VDB_HTAB_NONE); /* zeroed = empty */
    assert_int_equal(vdb_htab_remove(&t, 1, htab_key_is, &k), VDB_HTAB_NONE);
    assert_int_equal(vdb_htab_reserve(&t, 0), VDB_OK);
    assert_int_equal(vdb_htab_memory(&t), 0);
    vdb_rng_seed(&rng, 11);
    for (int op = 0; op < 20000; op++) {
        uint32_t i = (uint32_t)vdb_rng_below(&rng, KEYS), old;
        k.want = key_of[i];
        uint64_t hash = (uint64_t)(key_of[i] % 8) * 0x9E3779B97F4A7C15ull >> 3;
        if (vdb_rng_below(&rng, 3) == 0) {
            assert_int_equal(vdb_htab_remove(&t, hash, htab_key_is, &k), ref_of[i]);
            ref_of[i] = VDB_HTAB_NONE;
        } else if (vdb_rng_below(&rng, 2) == 0) {
            assert_int_equal(vdb_htab_put(&t, hash, i, htab_key_is, &k, &old), VDB_OK);
            assert_int_equal(old, ref_of[i]);
            ref_of[i] = i;
        } else {
            assert_int_equal(vdb_htab_get(&t, hash, htab_key_is, &k), ref_of[i]);
        }
        assert_true(t.size * 2 <= t.cap);
    }
    size_t live = 0;
    for (uint32_t i = 0; i < KEYS; i++) {
        k.want = key_of[i];
        uint64_t hash = (uint64_t)(key_of[i] % 8) * 0x9E3779B97F4A7C15ull >> 3;
        assert_int_equal(vdb_htab_get(&t, hash, htab_key_is, &k), ref_of[i]);
        live += ref_of[i] != VDB_HTAB_NONE;
    }
    assert_int_equal(t.size, live);
    /* Growth keeps every key; has_room matches reserve. */
    assert_int_equal(vdb_htab_reserve(&t, 5000), VDB_OK);
    assert_true(vdb_htab_has_room(&t, 5000));
    assert_false(vdb_htab_has_room(&t, t.cap));
    size_t cap = t.cap;
    assert_int_equal(vdb_htab_reserve(&t, 5000), VDB_OK);
    assert_int_equal(t.cap, cap);
    for (uint32_t i = 0; i < KEYS; i++) {
        k.want = key_of[i];
        uint64_t hash = (uint64_t)(key_of[i] % 8) * 0x9E3779B97F4A7C15ull >> 3;
        assert_int_equal(vdb_htab_get(&t, hash, htab_key_is, &k), ref_of[i]);
    }
    vdb_htab_clear(&t);
    assert_int_equal(t.size, 0);
    assert_int_equal(t.cap, cap);
    k.want = key_of[0];
    assert_int_equal(vdb_htab_get(&t, 0, htab_key_is, &k), VDB_HTAB_NONE);
    vdb_htab_destroy(&t);
    assert_null(t.slots);
    assert_int_equal(t.cap, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table),  cmocka_unit_test(test_alloc_injection),
        cmocka_unit_test(test_pool),         cmocka_unit_test(test_rng),
        cmocka_unit_test(test_json_limits),  cmocka_unit_test(test_json_build_dump),
        cmocka_unit_test(test_vmem),         cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_pool_after_fork),
#ifdef __linux__
        cmocka_unit_test(test_pool_background),
#endif
        cmocka_unit_test(test_hash_crc_bytes), cmocka_unit_test(test_crc32_fold),
        cmocka_unit_test(test_htab),
        cmocka_unit_test(test_npy_codec),    cmocka_unit_test(test_fsx_mkdirs),
        cmocka_unit_test(test_fsx_remove_and_read_text), cmocka_unit_test(test_json_alloc_funnel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
