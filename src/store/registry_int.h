/* The registry's private state, shared by its files and nobody else:
 * registry.c (open, create, close, delete, LRU, quarantine) owns it and is
 * the only writer; registry_name.c reads the two data-directory paths to
 * scrub messages. Every field below `lock` is guarded by it. */
#ifndef VDB_STORE_REGISTRY_INT_H
#define VDB_STORE_REGISTRY_INT_H

#include <pthread.h>
#include <stdint.h>

#include "../core/limits.h"
#include "registry.h"

typedef enum {
    ENTRY_OPENING,  /* open or create in progress: wait */
    ENTRY_OPEN,     /* store usable */
    ENTRY_CLOSING,  /* idle store being closed (LRU): wait, then reopen */
    ENTRY_DELETING, /* delete in progress: acquire says not found, others wait */
    ENTRY_REPLACING, /* replace in progress: wait */
    ENTRY_FAILED    /* quarantined after a failed open */
} entry_state;

struct vdb_store_handle {
    vdb_registry *registry;
    struct vdb_store_handle *next;
    char user[VDB_MAX_NAME_LEN + 1];
    char model[VDB_MAX_NAME_LEN + 1];
    char *dir;
    vdb_store *store;
    size_t refs;
    entry_state state;
    uint64_t last_used; /* registry tick of the last acquire (LRU) */
    long long failed_at_ms;
    vdb_error failure; /* why the open failed, for a quarantined entry */
};

struct vdb_registry {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* an entry settled, or a handle was released */
    char *data_dir;
    char *real_dir; /* realpath of data_dir, for scrubbing messages */
    vdb_store_options options;
    vdb_store_handle *entries;
    size_t open_count;
    size_t max_open;
    long long quarantine_ms;
    uint64_t tick;
    uint64_t evictions;
};

#endif
