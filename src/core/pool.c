/* Parallel-for thread pool; see pool.h.
 *
 * Workers sleep on a condition variable until a new job generation is
 * published, then claim task indexes with an atomic counter (dynamic
 * scheduling: a slow core takes fewer tasks). The caller works too; when
 * no task is left to claim it closes the job and waits only for the
 * workers that joined it. A worker that had not woken up by then skips the
 * job: on a busy machine its wake-up can take a scheduler slice (1-4 ms
 * measured during ingest, issue 12), which the caller used to wait out even
 * when it had run every task itself. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#ifdef __linux__
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "alloc.h"
#include "cpu.h"

#ifdef __linux__
/* Lowers the calling thread to VDB_POOL_BACKGROUND_NICE. Best effort: a
 * thread left at normal priority is only slower to yield, never wrong.
 * Linux applies it to this thread only. Only ever lowers the priority (a
 * process started nicer keeps its own, even where it could raise it). */
static void background_priority(void)
{
    errno = 0;
    int current = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (errno == 0 && current < VDB_POOL_BACKGROUND_NICE)
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), VDB_POOL_BACKGROUND_NICE);
}
#endif

struct vdb_pool {
    int nthreads;
    int background;           /* workers run at VDB_POOL_BACKGROUND_NICE */
    pthread_t *threads;
    pthread_mutex_t job_lock; /* held by the one caller whose job runs */
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
    unsigned long generation;
    int stopping;
    int open;                 /* the current job still takes workers */
    int active;               /* workers inside the current job */
    vdb_pool_fn fn;
    void *arg;
    size_t ntasks;
    _Atomic size_t next;
};

struct worker_start {
    vdb_pool *pool;
    int index;
};

static void run_tasks(vdb_pool *pool, int worker)
{
    for (;;) {
        size_t t = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
        if (t >= pool->ntasks)
            return;
        pool->fn(pool->arg, t, worker);
    }
}

/* The calling thread's pool override (vdb_pool_use_background). */
static _Thread_local vdb_pool *thread_pool;

static void *worker_main(void *opaque)
{
    struct worker_start *start = opaque;
    vdb_pool *pool = start->pool;
    int index = start->index;
    unsigned long seen = 0;

    vdb_free(start);
    if (pool->background) {
        /* Nested parallel work of a background task stays in the
         * background pool (whose job lock its caller holds: it runs
         * serially), never on the request-priority workers. */
        thread_pool = pool;
#ifdef __linux__
        background_priority();
#endif
    }
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        while (!pool->stopping && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->mutex);
        if (pool->stopping)
            break;
        seen = pool->generation;
        if (!pool->open)
            continue; /* the caller finished it without us */
        pool->active++;
        pthread_mutex_unlock(&pool->mutex);
        run_tasks(pool, index);
        pthread_mutex_lock(&pool->mutex);
        if (--pool->active == 0 && !pool->open)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mutex);
    return NULL;
}

static int spawn_workers(vdb_pool *pool)
{
    for (int i = 1; i < pool->nthreads; i++) {
        struct worker_start *start = vdb_malloc(sizeof(*start));
        if (start == NULL)
            return i;
        start->pool = pool;
        start->index = i;
        if (pthread_create(&pool->threads[i - 1], NULL, worker_main, start) != 0) {
            vdb_free(start);
            return i;
        }
    }
    return pool->nthreads;
}

static int pool_create(int nthreads, int background, vdb_pool **out, vdb_error *err);

int vdb_pool_new(int nthreads, vdb_pool **out, vdb_error *err)
{
    return pool_create(nthreads, 0, out, err);
}

static int pool_create(int nthreads, int background, vdb_pool **out, vdb_error *err)
{
    vdb_pool *pool;
    *out = NULL;
    if (nthreads <= 0)
        nthreads = vdb_cpu_count();
    pool = vdb_calloc(1, sizeof(*pool));
    if (pool == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "pool: out of memory");
    pool->threads = vdb_calloc((size_t)nthreads, sizeof(pthread_t));
    if (pool->threads == NULL) {
        vdb_free(pool);
        return vdb_error_set(err, VDB_ENOMEM, "pool: out of memory");
    }
    pthread_mutex_init(&pool->job_lock, NULL);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->nthreads = nthreads;
    pool->background = background;
    /* If some threads could not start, run with the ones that did. */
    pool->nthreads = spawn_workers(pool);
    *out = pool;
    return VDB_OK;
}

void vdb_pool_free(vdb_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mutex);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->nthreads; i++)
        pthread_join(pool->threads[i - 1], NULL);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    pthread_mutex_destroy(&pool->job_lock);
    vdb_free(pool->threads);
    vdb_free(pool);
}

int vdb_pool_threads(const vdb_pool *pool)
{
    return pool->nthreads;
}

void vdb_pool_run(vdb_pool *pool, size_t ntasks, vdb_pool_fn fn, void *arg)
{
    if (ntasks == 0)
        return;
    if (pool->nthreads == 1 || ntasks == 1 || pthread_mutex_trylock(&pool->job_lock) != 0) {
        for (size_t t = 0; t < ntasks; t++)
            fn(arg, t, 0);
        return;
    }
    pthread_mutex_lock(&pool->mutex);
    pool->fn = fn;
    pool->arg = arg;
    pool->ntasks = ntasks;
    atomic_store(&pool->next, 0);
    pool->open = 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);

    run_tasks(pool, 0);

    /* Every task is claimed: close the job, then wait for the workers in
     * it to finish theirs (they read fn, arg and ntasks, which live until
     * this call returns). */
    pthread_mutex_lock(&pool->mutex);
    pool->open = 0;
    while (pool->active > 0)
        pthread_cond_wait(&pool->done, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
    pthread_mutex_unlock(&pool->job_lock);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static vdb_pool *global_pool;
static int global_threads;

void vdb_pool_global_configure(int nthreads)
{
    global_threads = nthreads;
}

/* Used when even a one-thread pool cannot be allocated: with nthreads 1,
 * vdb_pool_run never touches the other fields. */
static vdb_pool serial_pool = {.nthreads = 1};

/* A forked child has none of the parent's worker threads: it must run its
 * parallel work serially rather than wait for workers that do not exist. */
static pthread_once_t background_once = PTHREAD_ONCE_INIT;
static vdb_pool *background_pool;

static void after_fork_in_child(void)
{
    global_pool = &serial_pool;
    if (background_pool != NULL)
        background_pool = &serial_pool;
    if (thread_pool != NULL)
        thread_pool = &serial_pool;
}

static void global_init(void)
{
    int n = global_threads;
    const char *env = getenv("VDB_THREADS");
    if (n <= 0 && env != NULL)
        n = atoi(env);
    if (vdb_pool_new(n, &global_pool, NULL) != VDB_OK)
        global_pool = &serial_pool;
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

vdb_pool *vdb_pool_global(void)
{
    if (thread_pool != NULL)
        return thread_pool;
    pthread_once(&global_once, global_init);
    return global_pool;
}

static void background_init(void)
{
    /* Sized like the process-wide pool (created first, so VDB_THREADS and
     * vdb_pool_global_configure apply to both). */
    pthread_once(&global_once, global_init);
    (void)pool_create(global_pool->nthreads, 1, &background_pool, NULL);
    if (background_pool == NULL)
        background_pool = &serial_pool;
}

void vdb_pool_use_background(void)
{
#ifdef __linux__
    background_priority();
#endif
    pthread_once(&background_once, background_init);
    thread_pool = background_pool;
}
