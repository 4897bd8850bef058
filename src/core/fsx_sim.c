/* Power-loss simulator; see fsx_sim.h.
 *
 * Model: inodes (by st_ino) carry their last-fsynced content; two name
 * tables map file names in the directory to inodes, the "current" one
 * (every create/rename/unlink) and the "durable" one (copied from current
 * at each directory fsync). An image is the durable names with their
 * inodes' durable content; a name whose inode never had an fsync comes out
 * empty (its data never reached the disk). This is the pessimistic disk:
 * nothing unsynced survives. The kill -9 tests cover the optimistic one
 * (everything written survives). */
#include "fsx_sim.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

#define MAX_NAME 256

typedef struct sim_inode {
    uint64_t ino;
    unsigned char *data;
    size_t len;
    int has;
} sim_inode;

typedef struct sim_name {
    char name[MAX_NAME];
    uint64_t ino;
} sim_name;

typedef struct name_table {
    sim_name *items;
    size_t count, cap;
} name_table;

static pthread_mutex_t sim_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int sim_on;
static _Atomic unsigned sim_skip;
static int sim_frozen;
static char sim_dir[PATH_MAX];
static sim_inode *inodes;
static size_t ninodes, cap_inodes;
static name_table current, durable;

void vdb_fsx_sim_skip(unsigned mask) { atomic_store(&sim_skip, mask); }
unsigned vdb_fsx_sim_skipped(void) { return atomic_load_explicit(&sim_skip, memory_order_relaxed); }

/* The base name when `path` is directly inside the simulated directory. */
static const char *in_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len;
    if (slash == NULL)
        return NULL;
    len = (size_t)(slash - path);
    if (len != strlen(sim_dir) || strncmp(path, sim_dir, len) != 0 ||
        strlen(slash + 1) >= MAX_NAME)
        return NULL;
    return slash + 1;
}

static sim_name *find_name(name_table *t, const char *name)
{
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->items[i].name, name) == 0)
            return &t->items[i];
    return NULL;
}

static void set_name(name_table *t, const char *name, uint64_t ino)
{
    sim_name *n = find_name(t, name);
    if (n == NULL) {
        if (t->count == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 16;
            sim_name *items = vdb_realloc(t->items, cap * sizeof(*items));
            if (items == NULL)
                return; /* test-only: a lost entry fails the test loudly enough */
            t->items = items;
            t->cap = cap;
        }
        n = &t->items[t->count++];
        snprintf(n->name, sizeof(n->name), "%s", name);
    }
    n->ino = ino;
}

static void drop_name(name_table *t, const char *name)
{
    sim_name *n = find_name(t, name);
    if (n != NULL)
        *n = t->items[--t->count];
}

static sim_inode *inode(uint64_t ino)
{
    for (size_t i = 0; i < ninodes; i++)
        if (inodes[i].ino == ino)
            return &inodes[i];
    if (ninodes == cap_inodes) {
        size_t cap = cap_inodes ? cap_inodes * 2 : 16;
        sim_inode *items = vdb_realloc(inodes, cap * sizeof(*items));
        if (items == NULL)
            return NULL;
        inodes = items;
        cap_inodes = cap;
    }
    memset(&inodes[ninodes], 0, sizeof(inodes[0]));
    inodes[ninodes].ino = ino;
    return &inodes[ninodes++];
}

/* Captures the file's whole current content as its durable content. */
static void capture(int fd)
{
    struct stat st;
    sim_inode *node;
    unsigned char *data;
    char self[64];
    int rfd;
    if (fstat(fd, &st) != 0 || (node = inode((uint64_t)st.st_ino)) == NULL)
        return;
    /* The writer's descriptor may be write-only: read through a second,
     * read-only open of the same file. */
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    if ((rfd = open(self, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    data = vdb_malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (data == NULL || pread(rfd, data, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
        vdb_free(data);
        close(rfd);
        return;
    }
    close(rfd);
    vdb_free(node->data);
    node->data = data;
    node->len = (size_t)st.st_size;
    node->has = 1;
}

static void copy_table(name_table *to, const name_table *from)
{
    to->count = 0;
    for (size_t i = 0; i < from->count; i++)
        set_name(to, from->items[i].name, from->items[i].ino);
}

int vdb_fsx_sim_begin(const char *dir, vdb_error *err)
{
    DIR *d;
    struct dirent *e;
    vdb_fsx_sim_end();
    pthread_mutex_lock(&sim_mu);
    snprintf(sim_dir, sizeof(sim_dir), "%s", dir);
    sim_frozen = 0;
    if ((d = opendir(dir)) == NULL) {
        pthread_mutex_unlock(&sim_mu);
        return vdb_error_set(err, VDB_EIO, "sim: cannot open %s", dir);
    }
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        int fd;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || strlen(e->d_name) >= MAX_NAME)
            continue;
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        capture(fd);
        close(fd);
        set_name(&current, e->d_name, (uint64_t)st.st_ino);
    }
    closedir(d);
    copy_table(&durable, &current);
    atomic_store(&sim_on, 1);
    pthread_mutex_unlock(&sim_mu);
    return VDB_OK;
}

int vdb_fsx_sim_image(const char *out_dir, vdb_error *err)
{
    int rc = VDB_OK;
    pthread_mutex_lock(&sim_mu);
    if (mkdir(out_dir, 0755) != 0)
        rc = vdb_error_set(err, VDB_EIO, "sim: cannot create %s", out_dir);
    for (size_t i = 0; rc == VDB_OK && i < durable.count; i++) {
        char path[PATH_MAX];
        sim_inode *node = inode(durable.items[i].ino);
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", out_dir, durable.items[i].name);
        if ((f = fopen(path, "wb")) == NULL) {
            rc = vdb_error_set(err, VDB_EIO, "sim: cannot write %s", path);
            break;
        }
        if (node != NULL && node->has && node->len > 0 && fwrite(node->data, 1, node->len, f) != node->len)
            rc = vdb_error_set(err, VDB_EIO, "sim: short write to %s", path);
        fclose(f);
    }
    pthread_mutex_unlock(&sim_mu);
    return rc;
}

void vdb_fsx_sim_end(void)
{
    pthread_mutex_lock(&sim_mu);
    atomic_store(&sim_on, 0);
    for (size_t i = 0; i < ninodes; i++)
        vdb_free(inodes[i].data);
    vdb_free(inodes);
    vdb_free(current.items);
    vdb_free(durable.items);
    inodes = NULL;
    ninodes = cap_inodes = 0;
    memset(&current, 0, sizeof(current));
    memset(&durable, 0, sizeof(durable));
    pthread_mutex_unlock(&sim_mu);
}

/* Runs `body` under the lock when a live (not frozen) simulation runs. */
#define SIM_HOOK(...)                                              \
    do {                                                           \
        if (!atomic_load_explicit(&sim_on, memory_order_relaxed)) \
            return;                                                \
        pthread_mutex_lock(&sim_mu);                               \
        if (atomic_load(&sim_on) && !sim_frozen) {                 \
            __VA_ARGS__;                                           \
        }                                                          \
        pthread_mutex_unlock(&sim_mu);                             \
    } while (0)

void vdb_fsx__sim_opened(const char *path, int fd)
{
    SIM_HOOK({
        struct stat st;
        const char *name = in_dir(path);
        if (name != NULL && fstat(fd, &st) == 0)
            set_name(&current, name, (uint64_t)st.st_ino);
    });
}

void vdb_fsx__sim_synced(int fd) { SIM_HOOK(capture(fd)); }

void vdb_fsx__sim_renamed(const char *from, const char *to)
{
    SIM_HOOK({
        const char *a = in_dir(from), *b = in_dir(to);
        sim_name *n = a ? find_name(&current, a) : NULL;
        if (n != NULL && b != NULL) {
            uint64_t ino = n->ino;
            drop_name(&current, a);
            set_name(&current, b, ino);
        }
    });
}

void vdb_fsx__sim_unlinked(const char *path)
{
    SIM_HOOK({
        const char *name = in_dir(path);
        if (name != NULL)
            drop_name(&current, name);
    });
}

void vdb_fsx__sim_dirsynced(const char *dir)
{
    SIM_HOOK({
        if (strcmp(dir, sim_dir) == 0)
            copy_table(&durable, &current);
    });
}

void vdb_fsx__sim_freeze(void) { SIM_HOOK(sim_frozen = 1); }
