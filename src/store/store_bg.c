/* Background checkpoint thread of one store; see store_bg.h. The thread
 * sleeps on a condition variable and runs vdb_store__checkpoint_if_due
 * (store.c), which takes the writer mutex and re-checks the threshold, so
 * a request that became moot (a checkpoint already ran) costs nothing. */
#include "store_bg.h"

#include <pthread.h>

#include "../core/alloc.h"
#include "store_int.h"

struct vdb_store_bg {
    pthread_mutex_t mutex;
    pthread_cond_t wake; /* a request, or stop */
    pthread_cond_t idle; /* nothing queued or running */
    pthread_t thread;
    int running;  /* the thread was started */
    int pending;  /* a checkpoint was asked for */
    int busy;     /* one is running */
    int stopping;
    vdb_store *store;
};

vdb_store_bg *vdb_store_bg_new(void)
{
    vdb_store_bg *bg = vdb_calloc(1, sizeof(*bg));
    if (bg == NULL)
        return NULL;
    pthread_mutex_init(&bg->mutex, NULL);
    pthread_cond_init(&bg->wake, NULL);
    pthread_cond_init(&bg->idle, NULL);
    return bg;
}

static void *bg_main(void *arg)
{
    vdb_store_bg *bg = arg;
    pthread_mutex_lock(&bg->mutex);
    for (;;) {
        while (!bg->pending && !bg->stopping)
            pthread_cond_wait(&bg->wake, &bg->mutex);
        if (bg->stopping)
            break;
        bg->pending = 0;
        bg->busy = 1;
        pthread_mutex_unlock(&bg->mutex);
        vdb_store__checkpoint_if_due(bg->store);
        pthread_mutex_lock(&bg->mutex);
        bg->busy = 0;
        if (!bg->pending)
            pthread_cond_broadcast(&bg->idle);
    }
    bg->pending = 0;
    pthread_cond_broadcast(&bg->idle);
    pthread_mutex_unlock(&bg->mutex);
    return NULL;
}

int vdb_store_bg_request(vdb_store_bg *bg, vdb_store *store)
{
    int rc = 0;
    if (bg == NULL)
        return -1;
    pthread_mutex_lock(&bg->mutex);
    if (bg->stopping) {
        rc = -1;
    } else if (!bg->running) {
        bg->store = store;
        if (pthread_create(&bg->thread, NULL, bg_main, bg) == 0)
            bg->running = 1;
        else
            rc = -1;
    }
    if (rc == 0) {
        bg->pending = 1;
        pthread_cond_signal(&bg->wake);
    }
    pthread_mutex_unlock(&bg->mutex);
    return rc;
}

void vdb_store_bg_wait(vdb_store_bg *bg)
{
    if (bg == NULL)
        return;
    pthread_mutex_lock(&bg->mutex);
    while (bg->running && (bg->pending || bg->busy))
        pthread_cond_wait(&bg->idle, &bg->mutex);
    pthread_mutex_unlock(&bg->mutex);
}

void vdb_store_bg_free(vdb_store_bg *bg)
{
    if (bg == NULL)
        return;
    pthread_mutex_lock(&bg->mutex);
    bg->stopping = 1;
    pthread_cond_signal(&bg->wake);
    pthread_mutex_unlock(&bg->mutex);
    if (bg->running)
        pthread_join(bg->thread, NULL);
    pthread_cond_destroy(&bg->idle);
    pthread_cond_destroy(&bg->wake);
    pthread_mutex_destroy(&bg->mutex);
    vdb_free(bg);
}
