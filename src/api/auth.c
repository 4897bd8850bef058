/* API key checks and the hashed key file (see auth.h).
 *
 * Key file <data_dir>/.vdb_auth.json (mode 0600), rewritten atomically
 * (temp file, fsync, rename, fsync of the directory) on every change:
 *   {"version": 1, "admin_sha256": "<hex or absent>",
 *    "keys": [{"key_id": "...", "user_id": "...", "sha256": "<hex>",
 *              "created": <unix seconds>}]}
 * Keys are "vdb_" + 48 hex characters (24 bytes from the OS CSPRNG), so a
 * plain SHA-256 is enough: there is nothing to brute-force. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/json.h"
#include "../core/log.h"
#include "../core/rng.h"
#include "../store/registry.h"
#include "../core/sha256.h"

typedef struct user_key {
    char key_id[17];
    char user_id[VDB_MAX_NAME_LEN + 1];
    uint8_t hash[32];
    long long created;
} user_key;

struct vdb_auth {
    pthread_rwlock_t lock;
    char *path;
    char *dir; /* the data directory, for the directory fsync */
    int has_admin, has_api, admin_from_file;
    uint8_t admin_hash[32];      /* the configured admin key (environment) */
    uint8_t file_admin_hash[32]; /* the generated one, kept in the key file */
    char *lock_path;
    atomic_llong last_check_ms;  /* when the file was last looked at */
    struct stat seen;            /* the file as last loaded */
    struct stat tried;           /* the file as last looked at: a file that
                                    failed to load is not re-read until it
                                    changes (unknown keys force looks) */
    uint8_t api_hash[32];
    user_key *keys;
    size_t nkeys, cap;
};

/* Constant-time equality of two byte strings of equal length. */
static int vdb_auth_ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

static void hash_key(const char *key, uint8_t out[32])
{
    vdb_sha256 ctx;
    vdb_sha256_init(&ctx);
    vdb_sha256_update(&ctx, key, strlen(key));
    vdb_sha256_final(&ctx, out);
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
    if (hex == NULL || strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int new_key(char *key_out)
{
    uint8_t raw[24];
    char hex[65];
    if (vdb_rng_os_bytes(raw, sizeof(raw)) != VDB_OK)
        return VDB_EIO;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(raw); i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[48] = '\0';
    snprintf(key_out, VDB_AUTH_KEY_MAX, "vdb_%s", hex);
    return VDB_OK;
}

/* Names used in errors: the file's name only, never the server's path. */
#define KEY_FILE ".vdb_auth.json"

/* Replaces the key file atomically through core/fsx's one temp file,
 * fsync, close, rename, directory fsync sequence (vdb_fsx_replace_file), so
 * a crash leaves the old file or the new one, never a mix. fsx's message
 * names the server's path; this one may reach a client (POST /admin/keys),
 * so it names the file only. */
static int write_atomic(vdb_auth *auth, const char *text, vdb_error *err)
{
    vdb_error local;
    vdb_error_clear(&local);
    int rc = vdb_fsx_replace_file(auth->dir, KEY_FILE, text, strlen(text), 0600, &local);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc, "cannot replace " KEY_FILE ": %s", vdb_err_text(rc));
    return VDB_OK;
}

static int save_locked(vdb_auth *auth, vdb_error *err)
{
    char hex[65];
    vdb_json *root = vdb_json_object(), *keys = vdb_json_array();
    int rc = VDB_ENOMEM;
    char *text = NULL;
    if (root == NULL || keys == NULL)
        goto cleanup;
    vdb_json_object_set_new(root, "version", vdb_json_int(1));
    if (auth->admin_from_file) {
        vdb_sha256_to_hex(auth->file_admin_hash, hex);
        vdb_json_object_set_new(root, "admin_sha256", vdb_json_string(hex));
    }
    for (size_t i = 0; i < auth->nkeys; i++) {
        vdb_json *k = vdb_json_object();
        vdb_sha256_to_hex(auth->keys[i].hash, hex);
        vdb_json_object_set_new(k, "key_id", vdb_json_string(auth->keys[i].key_id));
        vdb_json_object_set_new(k, "user_id", vdb_json_string(auth->keys[i].user_id));
        vdb_json_object_set_new(k, "sha256", vdb_json_string(hex));
        vdb_json_object_set_new(k, "created", vdb_json_int(auth->keys[i].created));
        vdb_json_array_append_new(keys, k);
    }
    vdb_json_object_set(root, "keys", keys);
    if ((text = vdb_json_dump(root, 0)) == NULL)
        goto cleanup;
    rc = write_atomic(auth, text, err);
    goto cleanup;
cleanup:
    if (rc == VDB_ENOMEM)
        vdb_error_set(err, rc, "out of memory");
    vdb_json_free_text(text);
    vdb_json_decref(keys);
    vdb_json_decref(root);
    return rc;
}

static int add_key_locked(vdb_auth *auth, const user_key *key)
{
    if (auth->nkeys == auth->cap) {
        size_t cap = auth->cap ? auth->cap * 2 : 8;
        user_key *grown = vdb_realloc(auth->keys, cap * sizeof(*grown));
        if (grown == NULL)
            return VDB_ENOMEM;
        auth->keys = grown;
        auth->cap = cap;
    }
    auth->keys[auth->nkeys++] = *key;
    return VDB_OK;
}

/* Reads the whole key file into a NUL-terminated buffer; *text is NULL
 * when the file does not exist. A file over VDB_AUTH_FILE_MAX is refused
 * (never read in part: a truncated table would silently drop keys). */
static int read_key_file(vdb_auth *auth, char **text, size_t *len, struct stat *st,
                         vdb_error *err)
{
    int fd = vdb_fsx_open(auth->path, O_RDONLY | O_NOFOLLOW, 0, err), rc = VDB_OK;
    uint64_t size = 0;
    ssize_t got;
    *text = NULL;
    if (fd == VDB_ENOTFOUND)
        return VDB_OK;
    if (fd < 0)
        return vdb_error_set(err, fd, "cannot open " KEY_FILE);
    if (fstat(fd, st) != 0 || (rc = vdb_fsx_size(fd, &size, KEY_FILE, err)) != VDB_OK) {
        rc = vdb_error_set(err, VDB_EIO, "cannot stat " KEY_FILE);
        goto cleanup;
    }
    if (size > VDB_AUTH_FILE_MAX) {
        rc = vdb_error_set(err, VDB_ETOOBIG, KEY_FILE " is %llu bytes, over the %u-byte limit",
                           (unsigned long long)size, (unsigned)VDB_AUTH_FILE_MAX);
        goto cleanup;
    }
    if ((*text = vdb_malloc((size_t)size + 1)) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory");
        goto cleanup;
    }
    got = vdb_fsx_read(fd, *text, (size_t)size, 0, KEY_FILE, err);
    if (got < 0 || (uint64_t)got != size) {
        rc = vdb_error_set(err, VDB_EIO, KEY_FILE " changed size while being read");
        vdb_free(*text);
        *text = NULL;
        goto cleanup;
    }
    (*text)[size] = '\0';
    *len = (size_t)size;
cleanup:
    vdb_fsx_close(fd, KEY_FILE, NULL);
    return rc;
}

/* Parses the key file into `table` (caller frees table->keys). */
static int parse_key_file(const char *text, size_t len, vdb_auth *table, vdb_error *err)
{
    vdb_json *root = NULL;
    int rc = vdb_json_parse(text, len, 0, &root, err);
    if (rc == VDB_ENOMEM)
        return rc;
    if (root == NULL || vdb_json_typeof(root) != VDB_JSON_OBJECT) {
        vdb_json_decref(root);
        return vdb_error_set(err, VDB_ECORRUPT, KEY_FILE " is not a JSON object");
    }
    rc = VDB_OK;
    const char *admin = vdb_json_string_value(vdb_json_object_get(root, "admin_sha256"));
    if (admin != NULL && hex_to_bytes(admin, table->file_admin_hash, 32) == 0)
        table->admin_from_file = 1;
    vdb_json *keys = vdb_json_object_get(root, "keys");
    for (size_t i = 0; rc == VDB_OK && i < vdb_json_array_size(keys); i++) {
        vdb_json *k = vdb_json_array_get(keys, i);
        user_key key;
        memset(&key, 0, sizeof(key));
        const char *id = vdb_json_string_value(vdb_json_object_get(k, "key_id"));
        const char *user = vdb_json_string_value(vdb_json_object_get(k, "user_id"));
        const char *hash = vdb_json_string_value(vdb_json_object_get(k, "sha256"));
        if (id == NULL || strlen(id) >= sizeof(key.key_id) || !vdb_registry_name_ok(user) ||
            hex_to_bytes(hash, key.hash, 32) != 0) {
            rc = vdb_error_set(err, VDB_ECORRUPT, KEY_FILE ": key entry %zu is malformed", i);
            break;
        }
        snprintf(key.key_id, sizeof(key.key_id), "%s", id);
        snprintf(key.user_id, sizeof(key.user_id), "%s", user);
        key.created = vdb_json_int_value(vdb_json_object_get(k, "created"));
        if (add_key_locked(table, &key) != VDB_OK)
            rc = vdb_error_set(err, VDB_ENOMEM, "out of memory");
    }
    vdb_json_decref(root);
    return rc;
}

/* Loads the key file into a fresh table and swaps it in only when all of
 * it parsed: a failed (re)load leaves the previous table whole. */
static int load_file(vdb_auth *auth, vdb_error *err)
{
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    vdb_auth table;
    memset(&table, 0, sizeof(table));
    memset(&st, 0, sizeof(st));
    int rc = read_key_file(auth, &text, &len, &st, err);
    if (rc != VDB_OK || text == NULL)
        return rc;
    rc = parse_key_file(text, len, &table, err);
    vdb_free(text);
    if (rc != VDB_OK) {
        vdb_free(table.keys);
        return rc;
    }
    vdb_free(auth->keys);
    auth->keys = table.keys;
    auth->nkeys = table.nkeys;
    auth->cap = table.cap;
    auth->seen = st;
    if (table.admin_from_file) {
        auth->admin_from_file = 1;
        memcpy(auth->file_admin_hash, table.file_admin_hash, 32);
    }
    return VDB_OK;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Serializes read-modify-write of the key file across processes (the
 * server and `vdb keys`). Returns the locked descriptor or -1. */
static int lock_file(vdb_auth *auth)
{
    int fd = vdb_fsx_open(auth->lock_path, O_RDWR | O_CREAT, 0600, NULL);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        vdb_fsx_close(fd, auth->lock_path, NULL);
        fd = -1;
    }
    return fd < 0 ? -1 : fd;
}

static void unlock_file(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        vdb_fsx_close(fd, "key lock file", NULL);
    }
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Picks up changes another process (vdb keys, the cluster's keys.sh) made
 * to the key file; looks at most once a second unless forced. A key that
 * matches nothing forces a look (vdb_auth_check), so a key is accepted as
 * soon as its file is in place: a client told "here is your key" must not
 * get a 401 for the rest of the second. That costs an unknown key one
 * stat(2), and a re-read only when the file really changed. */
static void maybe_reload(vdb_auth *auth, int force)
{
    long long now = now_ms(), last = atomic_load(&auth->last_check_ms);
    struct stat st;
    if (!force &&
        (now - last < 1000 || !atomic_compare_exchange_strong(&auth->last_check_ms, &last, now)))
        return;
    if (stat(auth->path, &st) != 0)
        return;
    pthread_rwlock_rdlock(&auth->lock);
    int changed = !same_file(&st, &auth->seen) && !same_file(&st, &auth->tried);
    pthread_rwlock_unlock(&auth->lock);
    if (!changed)
        return;
    vdb_error err;
    pthread_rwlock_wrlock(&auth->lock);
    if (same_file(&st, &auth->tried)) { /* another thread looked meanwhile */
        pthread_rwlock_unlock(&auth->lock);
        return;
    }
    auth->tried = st;
    if (load_file(auth, &err) != VDB_OK)
        vdb_log_error("key file reload failed: %s", err.msg);
    pthread_rwlock_unlock(&auth->lock);
}

int vdb_auth_open(const char *data_dir, const char *admin_key, const char *api_key,
                  char *generated_out, vdb_auth **out, vdb_error *err)
{
    int rc;
    *out = NULL;
    vdb_auth *auth = vdb_calloc(1, sizeof(*auth));
    size_t size = strlen(data_dir) + 32;
    if (generated_out != NULL)
        generated_out[0] = '\0';
    if (auth == NULL || (auth->path = vdb_malloc(size)) == NULL) {
        vdb_free(auth);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    }
    pthread_rwlock_init(&auth->lock, NULL);
    snprintf(auth->path, size, "%s/.vdb_auth.json", data_dir);
    if ((auth->dir = vdb_strdup(data_dir)) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory");
        goto fail;
    }
    if ((auth->lock_path = vdb_malloc(size)) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(auth->lock_path, size, "%s/.vdb_auth.lock", data_dir);
    atomic_store(&auth->last_check_ms, now_ms());
    int lock_fd = lock_file(auth);
    rc = load_file(auth, err);
    if (rc != VDB_OK) {
        unlock_file(lock_fd);
        goto fail;
    }
    if (api_key != NULL && api_key[0] != '\0') {
        auth->has_api = 1;
        hash_key(api_key, auth->api_hash);
    }
    if (admin_key != NULL && admin_key[0] != '\0') {
        auth->has_admin = 1;
        hash_key(admin_key, auth->admin_hash);
    } else if (auth->admin_from_file) {
        auth->has_admin = 1;
        memcpy(auth->admin_hash, auth->file_admin_hash, 32);
    } else if (generated_out != NULL) {
        if (new_key(generated_out) != VDB_OK) {
            rc = vdb_error_set(err, VDB_EIO, "cannot read random bytes for the admin key");
            unlock_file(lock_fd);
            goto fail;
        }
        hash_key(generated_out, auth->admin_hash);
        memcpy(auth->file_admin_hash, auth->admin_hash, 32);
        auth->has_admin = auth->admin_from_file = 1;
        if ((rc = save_locked(auth, err)) != VDB_OK) {
            unlock_file(lock_fd);
            goto fail;
        }
    }
    unlock_file(lock_fd);
    *out = auth;
    return VDB_OK;
fail:
    vdb_auth_free(auth);
    return rc;
}

void vdb_auth_free(vdb_auth *auth)
{
    if (auth == NULL)
        return;
    pthread_rwlock_destroy(&auth->lock);
    vdb_free(auth->keys);
    vdb_free(auth->lock_path);
    vdb_free(auth->path);
    vdb_free(auth->dir);
    vdb_free(auth);
}

static int key_known(vdb_auth *auth, const uint8_t hash[32])
{
    int found = 0;
    pthread_rwlock_rdlock(&auth->lock);
    for (size_t i = 0; i < auth->nkeys; i++)
        found |= vdb_auth_ct_equal(hash, auth->keys[i].hash, 32);
    pthread_rwlock_unlock(&auth->lock);
    return found;
}

int vdb_auth_check(vdb_auth *auth, const char *key, vdb_principal *out)
{
    uint8_t hash[32];
    int admin = 0, api = 0;
    const user_key *match = NULL;
    if (key == NULL || key[0] == '\0' || strlen(key) > 1024)
        return VDB_EAUTH;
    maybe_reload(auth, 0);
    hash_key(key, hash);
    admin = auth->has_admin & vdb_auth_ct_equal(hash, auth->admin_hash, 32);
    api = auth->has_api & vdb_auth_ct_equal(hash, auth->api_hash, 32);
    if (!admin && !api && !key_known(auth, hash))
        maybe_reload(auth, 1);
    pthread_rwlock_rdlock(&auth->lock);
    for (size_t i = 0; i < auth->nkeys; i++)
        if (vdb_auth_ct_equal(hash, auth->keys[i].hash, 32))
            match = &auth->keys[i];
    memset(out, 0, sizeof(*out));
    if (admin)
        out->role = VDB_ROLE_ADMIN;
    else if (api)
        out->role = VDB_ROLE_STORES;
    else if (match != NULL) {
        out->role = VDB_ROLE_USER;
        snprintf(out->user_id, sizeof(out->user_id), "%s", match->user_id);
        snprintf(out->key_id, sizeof(out->key_id), "%s", match->key_id);
    }
    pthread_rwlock_unlock(&auth->lock);
    return out->role == VDB_ROLE_NONE ? VDB_EAUTH : VDB_OK;
}

int vdb_auth_create_key(vdb_auth *auth, const char *user_id, char *key_out, char *key_id_out,
                        vdb_error *err)
{
    int rc = vdb_registry_check_name("user_id", user_id, err);
    if (rc != VDB_OK)
        return rc;
    user_key key;
    char hex[65];
    memset(&key, 0, sizeof(key));
    if (new_key(key_out) != VDB_OK)
        return vdb_error_set(err, VDB_EIO, "cannot read random bytes");
    hash_key(key_out, key.hash);
    vdb_sha256_to_hex(key.hash, hex);
    memcpy(key.key_id, hex, 16);
    snprintf(key.user_id, sizeof(key.user_id), "%s", user_id);
    key.created = (long long)time(NULL);
    int lock_fd = lock_file(auth);
    pthread_rwlock_wrlock(&auth->lock);
    rc = load_file(auth, err); /* start from what is on disk now */
    if (rc == VDB_OK)
        rc = add_key_locked(auth, &key);
    if (rc == VDB_OK && (rc = save_locked(auth, err)) != VDB_OK)
        auth->nkeys--;
    if (rc == VDB_OK)
        stat(auth->path, &auth->seen);
    pthread_rwlock_unlock(&auth->lock);
    unlock_file(lock_fd);
    if (rc == VDB_ENOMEM)
        vdb_error_set(err, rc, "out of memory");
    if (rc == VDB_OK)
        memcpy(key_id_out, key.key_id, sizeof(key.key_id));
    else
        key_out[0] = '\0';
    return rc;
}

int vdb_auth_revoke(vdb_auth *auth, const char *key_id, const char *user_id, size_t *revoked,
                    vdb_error *err)
{
    size_t kept = 0, removed = 0;
    int lock_fd = lock_file(auth);
    pthread_rwlock_wrlock(&auth->lock);
    int rc = load_file(auth, err);
    if (rc != VDB_OK) {
        pthread_rwlock_unlock(&auth->lock);
        unlock_file(lock_fd);
        return rc;
    }
    user_key *saved = vdb_malloc((auth->nkeys ? auth->nkeys : 1) * sizeof(*saved));
    if (saved == NULL) {
        pthread_rwlock_unlock(&auth->lock);
        unlock_file(lock_fd);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    }
    memcpy(saved, auth->keys, auth->nkeys * sizeof(*saved));
    size_t before = auth->nkeys;
    for (size_t i = 0; i < auth->nkeys; i++) {
        int hit = key_id ? strcmp(auth->keys[i].key_id, key_id) == 0
                         : (user_id && strcmp(auth->keys[i].user_id, user_id) == 0);
        if (hit)
            removed++;
        else
            auth->keys[kept++] = auth->keys[i];
    }
    auth->nkeys = kept;
    if (removed == 0)
        rc = vdb_error_set(err, VDB_ENOTFOUND, "no such key");
    else if ((rc = save_locked(auth, err)) != VDB_OK) {
        memcpy(auth->keys, saved, before * sizeof(*saved));
        auth->nkeys = before;
    }
    if (rc == VDB_OK)
        stat(auth->path, &auth->seen);
    pthread_rwlock_unlock(&auth->lock);
    unlock_file(lock_fd);
    vdb_free(saved);
    *revoked = rc == VDB_OK ? removed : 0;
    return rc;
}

void vdb_auth_list(vdb_auth *auth, const char *user_id, vdb_auth_visit_fn fn, void *ctx)
{
    maybe_reload(auth, 0);
    pthread_rwlock_rdlock(&auth->lock);
    for (size_t i = 0; i < auth->nkeys; i++)
        if (user_id == NULL || strcmp(user_id, auth->keys[i].user_id) == 0)
            fn(ctx, auth->keys[i].key_id, auth->keys[i].user_id, auth->keys[i].created);
    pthread_rwlock_unlock(&auth->lock);
}
