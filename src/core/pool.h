/* A fixed pool of worker threads running parallel-for jobs.
 *
 * vdb_pool_run splits `ntasks` task indexes over the workers and the calling
 * thread, and returns when all are done. One job runs at a time per pool: a
 * caller that finds the pool busy runs its tasks itself, serially, which keeps
 * the machine from being oversubscribed when many requests search at once and
 * can never deadlock (a task may itself call vdb_pool_run). */
#ifndef VDB_CORE_POOL_H
#define VDB_CORE_POOL_H

#include <stddef.h>

#include "err.h"

typedef struct vdb_pool vdb_pool;

/* Task body: `task` in [0, ntasks), `worker` in [0, nthreads) identifies the
 * thread running it (for per-thread scratch space). */
typedef void (*vdb_pool_fn)(void *arg, size_t task, int worker);

/* Creates a pool of `nthreads` threads in all, the caller included (so
 * nthreads-1 are spawned; when some cannot start, it runs with those that
 * did), into *out (NULL on failure; freed with vdb_pool_free);
 * nthreads <= 0 means one per CPU. Errors: VDB_ENOMEM. */
int vdb_pool_new(int nthreads, vdb_pool **out, vdb_error *err);

/* Stops and joins the workers. NULL is a no-op. Not while a job runs. */
void vdb_pool_free(vdb_pool *pool);

/* Number of threads that run tasks (the caller included); never fails. */
int vdb_pool_threads(const vdb_pool *pool);

/* Runs fn(arg, t, w) for every t in [0, ntasks). Thread-safe. */
void vdb_pool_run(vdb_pool *pool, size_t ntasks, vdb_pool_fn fn, void *arg);

/* The pool for parallel work started by the calling thread: the
 * process-wide pool, created on first use with one thread per CPU, or
 * VDB_THREADS threads when that variable is set; in a thread that called
 * vdb_pool_use_background (and in the background pool's own workers), the
 * background pool. Never NULL: if threads cannot be created it degrades to
 * a single-thread pool, and in a child forked after its creation it is a
 * single-thread pool (fork copies no worker threads). */
vdb_pool *vdb_pool_global(void);

/* Lowers the calling thread itself to VDB_POOL_BACKGROUND_NICE (Linux;
 * only ever lowers) and routes its vdb_pool_global() to the background pool: as
 * many threads as the process-wide pool, its workers at nice
 * VDB_POOL_BACKGROUND_NICE (Linux; a process started nicer keeps its
 * own; elsewhere at normal priority), created
 * on first use. For threads whose work should yield the CPU to requests
 * (the HNSW indexer, issue 12): a thread's nice value does not pass to the
 * pool workers that run its tasks, so without this its index inserts ran
 * on workers at full priority, beside the request threads. A background
 * job never waits for the process-wide pool, nor the other way round. */
void vdb_pool_use_background(void);

#define VDB_POOL_BACKGROUND_NICE 10

/* Sets the size of the global pool before its first use (0 = per CPU). */
void vdb_pool_global_configure(int nthreads);

#endif
