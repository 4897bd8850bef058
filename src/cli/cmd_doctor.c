/* `vdb doctor`: checks what a server needs from this machine and says what
 * to do about each problem it finds. Exit 0 when nothing is wrong, 1 when
 * something is (so scripts and CI can gate on it), 2 on a usage error.
 *
 * Checks, in order: the data directory (exists, is writable, is not
 * world-writable, free space), the key file (readable only by its owner,
 * valid), the port (free, or answered by a vdb server), then every store:
 * its lock (held by a live process or by a pid that does not exist here),
 * its index file (the same validator the loader runs, checked before the
 * store is opened because opening would rebuild it), its vectors file's
 * CRC32s (read whole: the open skips that above 256 MiB) and its files (opened
 * through the registry, exactly as the server opens them, which checks
 * store.json against vectors.npz, metadata.jsonl and wal.log).
 *
 * Opening a store replays its WAL, as the server's first request would; a
 * store a running server holds is reported and left alone. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "../api/auth.h"
#include "../api/config.h"
#include "../core/fsx.h"
#include "../core/log.h"
#include "../index/hnsw.h"
#include "../store/store_index.h"
#include "../store/vecfile.h"
#include "cli.h"
#include "cli_args.h"
#include "cli_store.h"

/* Below this much free space a checkpoint of a large store can fail. */
#define MIN_FREE_BYTES (1024ull * 1024 * 1024)

static const char USAGE[] = "usage: vdb doctor [--data-dir DIR] [--port P]\n"
                            "Checks the data directory, the key file, the port and every\n"
                            "store; prints what to do about each problem; exits 1 if any.\n";

typedef struct doctor {
    int problems;
    char data_dir[4096];
} doctor;

static void say_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say_ok(const char *fmt, ...)
{
    va_list ap;
    fputs("ok       ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

/* One problem: what is wrong, then what to do about it. */
static void problem(doctor *d, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(doctor *d, const char *fix, const char *fmt, ...)
{
    va_list ap;
    d->problems++;
    fputs("PROBLEM  ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n  fix:   %s\n", fix);
}

static int check_data_dir(doctor *d)
{
    struct stat st;
    struct statvfs vfs;
    char why[512];
    if (stat(d->data_dir, &st) != 0) {
        problem(d,
                "start the server once (`make run` or `vdb serve` creates it), or point "
                "VECTOR_DB_DATA_DIR / --data-dir at your data",
                "data directory %s: %s", d->data_dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        problem(d, "point VECTOR_DB_DATA_DIR / --data-dir at a directory",
                "data directory %s is not a directory", d->data_dir);
        return -1;
    }
    if (vdb_cli_dir_writable(d->data_dir, 0, why, sizeof(why)) != 0)
        problem(d, "give the user that runs vdb write access (chown/chmod), or use another "
                   "directory",
                "data directory %s is not writable: %s", d->data_dir, why);
    else
        say_ok("data directory %s is writable", d->data_dir);
    if (st.st_mode & S_IWOTH)
        problem(d, "chmod o-w on it: any local user could replace store files",
                "data directory %s is writable by every user", d->data_dir);
    if (statvfs(d->data_dir, &vfs) == 0) {
        unsigned long long free_bytes = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
        if (free_bytes < MIN_FREE_BYTES)
            problem(d,
                    "free space on that file system: checkpoints write a full copy of a store "
                    "before they replace it, and a full disk makes stores read-only",
                    "only %.0f MiB free under %s", (double)free_bytes / 1048576.0, d->data_dir);
        else
            say_ok("%.1f GiB free", (double)free_bytes / 1073741824.0);
    }
    return 0;
}

static void check_keys(doctor *d, const vdb_config *config)
{
    char path[4200];
    struct stat st;
    vdb_error err;
    vdb_auth *auth;
    snprintf(path, sizeof(path), "%s/.vdb_auth.json", d->data_dir);
    if (stat(path, &st) != 0) {
        if (config->admin_key[0] || config->api_key[0])
            say_ok("no key file yet; keys come from the environment or .env");
        else
            say_ok("no key file and no key configured: `vdb serve` generates an admin key on "
                   "its first start and prints it once");
        return;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        problem(d, "chmod 600 the key file",
                "key file %s is accessible to other users (mode %03o)", path,
                (unsigned)(st.st_mode & 0777));
    vdb_error_clear(&err);
    if (vdb_auth_open(d->data_dir, NULL, NULL, NULL, &auth, &err) != VDB_OK)
        problem(d,
                "restore it from a backup, or move it aside and create keys again "
                "(`vdb keys create USER`); the server will not start with it",
                "key file unusable: %s", err.msg);
    else
        say_ok("key file %s is valid", path);
    vdb_auth_free(auth);
}

/* 1 when whatever listens on host:port answers GET /health as vdb. */
static int answers_as_vdb(const struct sockaddr *addr, socklen_t len)
{
    static const char request[] = "GET /health HTTP/1.0\r\n\r\n";
    char reply[4096];
    size_t got = 0;
    ssize_t n;
    struct timeval tv = {2, 0};
    int fd = socket(addr->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, addr, len) != 0 || write(fd, request, sizeof(request) - 1) < 0) {
        close(fd);
        return 0;
    }
    while (got < sizeof(reply) - 1 && (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    reply[got] = '\0';
    return strstr(reply, "\"service\":\"vdb\"") != NULL ||
           strstr(reply, "\"service\": \"vdb\"") != NULL;
}

static void check_port(doctor *d, const vdb_config *config)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[16];
    int fd, one = 1;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof(port), "%u", config->port);
    if (getaddrinfo(config->host, port, &hints, &res) != 0 || res == NULL) {
        problem(d, "set HOST to an address of this machine (127.0.0.1 or 0.0.0.0)",
                "HOST %s does not resolve", config->host);
        return;
    }
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0) {
        say_ok("port %s:%u is free", config->host, config->port);
    } else if (errno == EADDRINUSE) {
        /* Connect to loopback when the server binds every address. */
        if (answers_as_vdb(res->ai_addr, res->ai_addrlen))
            say_ok("port %s:%u: a vdb server is running there", config->host, config->port);
        else
            problem(d,
                    "stop the program that holds it (`ss -ltnp | grep :PORT` shows which), or "
                    "start vdb on another port (PORT=9000 make run)",
                    "port %s:%u is taken by something that is not vdb", config->host,
                    config->port);
    } else {
        problem(d, "use a port above 1023, or run as a user allowed to bind it",
                "cannot bind %s:%u: %s", config->host, config->port, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
}

/* 1 when another process holds the store's lock (then the store is not
 * opened); reports a holder that does not exist on this machine. */
static int lock_held(doctor *d, const char *dir, const char *user, const char *model)
{
    char path[4400], text[32];
    ssize_t got;
    long pid;
    int fd;
    snprintf(path, sizeof(path), "%s/.store.lock", dir);
    if ((fd = vdb_fsx_open(path, O_RDONLY, 0, NULL)) < 0)
        return 0;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        vdb_fsx_close(fd, path, NULL);
        return 0;
    }
    got = vdb_fsx_read(fd, text, sizeof(text) - 1, 0, path, NULL);
    vdb_fsx_close(fd, path, NULL);
    text[got > 0 ? got : 0] = '\0';
    pid = strtol(text, NULL, 10);
    if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        problem(d,
                "another machine or container uses this data directory; stop it, or give "
                "each server its own directory",
                "store %s/%s is locked by pid %ld, which is not running here", user, model,
                pid);
    else
        say_ok("store %s/%s is in use by pid %ld (a running server); not opened", user, model,
               pid);
    return 1;
}

/* 0 when vectors.npz (if any) matches the CRC32s in its ZIP directory.
 * The open checks them only for files up to 256 MiB (beyond that a whole
 * read would defeat the lazy, mapped open), so a larger store with damaged
 * rows opens and serves them; a diagnostic can afford the read. */
static int vectors_intact(doctor *d, const char *dir, const char *user, const char *model)
{
    char path[4400];
    vdb_error err;
    vdb_vecfile *file = NULL;
    int rc;
    snprintf(path, sizeof(path), "%s/vectors.npz", dir);
    vdb_error_clear(&err);
    if ((rc = vdb_vecfile_open(path, &file, &err)) != VDB_OK)
        rc = rc == VDB_ENOTFOUND ? VDB_OK : rc; /* no snapshot yet: only the WAL */
    else
        rc = vdb_vecfile_verify(file, &err);
    vdb_vecfile_close(file);
    if (rc == VDB_OK)
        return 0;
    problem(d,
            "restore the store from a backup (POST /admin/import_zip), or move its directory "
            "aside; stores over 256 MiB open without this check and serve the damaged rows",
            "store %s/%s: vectors file is damaged: %s", user, model, err.msg);
    return -1;
}

static int check_store(void *ctx, const char *user, const char *model)
{
    doctor *d = ((void **)ctx)[0];
    vdb_registry *registry = ((void **)ctx)[1];
    char dir[4300], index[4400];
    vdb_store_handle *handle = NULL;
    uint32_t index_rows = 0;
    size_t nodes = 0;
    int index_ok = 1;
    vdb_error err;
    vdb_error_clear(&err);
    if (vdb_registry_store_path(dir, sizeof(dir), d->data_dir, user, model, &err) != VDB_OK) {
        problem(d, "use a shorter data directory path", "store %s/%s: %s", user, model, err.msg);
        return 0;
    }
    if (lock_held(d, dir, user, model))
        return 0;
    if (vectors_intact(d, dir, user, model) != 0)
        return 0;
    snprintf(index, sizeof(index), "%s/%s", dir, VDB_STORE_INDEX_FILE);
    vdb_error_clear(&err);
    if (access(index, F_OK) == 0 &&
        vdb_hnsw_file_check(index, &index_rows, &nodes, &err) != VDB_OK) {
        index_ok = 0;
        problem(d,
                "delete that file (rm it); the index is rebuilt from the vectors on the "
                "next open",
                "store %s/%s: index file %s is unusable: %s", user, model, index, err.msg);
    }
    vdb_error_clear(&err);
    if (vdb_registry_acquire(registry, user, model, &handle, &err) != VDB_OK) {
        problem(d,
                "restore the store from a backup (POST /admin/import_zip), or move its "
                "directory aside; the server refuses to open it",
                "store %s/%s cannot be opened: %s", user, model, err.msg);
        return 0;
    }
    vdb_store *store = vdb_registry_store(handle);
    vdb_store_stats stats;
    vdb_store_get_stats(store, &stats);
    if (index_ok && index_rows > stats.rows)
        problem(d, "delete the index file; it is rebuilt on the next open",
                "store %s/%s: index covers %u rows but the store has %zu", user, model,
                index_rows, stats.rows);
    else
        say_ok("store %s/%s: %zu vectors, dim %u, %s%s", user, model, vdb_store_count(store),
               vdb_store_get_config(store)->dim,
               vdb_metric_name(vdb_store_get_config(store)->metric),
               nodes ? ", index file valid" : "");
    vdb_registry_release(handle);
    return 0;
}

int vdb_cmd_doctor(int argc, char **argv)
{
    vdb_cli_target target = {0};
    vdb_config config;
    vdb_registry *registry = NULL;
    doctor d = {0};
    vdb_error err;
    const char *port = NULL;
    unsigned long long port_value = 0;
    char *no_flags[] = {(char *)"vdb", NULL};
    for (int i = 1; i < argc; i++) {
        int step = vdb_cli_common(&target, USAGE, argc, argv, &i);
        if (step == VDB_CLI_TOOK)
            continue;
        if (step != VDB_CLI_OWN)
            return step == VDB_CLI_HELP ? 0 : 2;
        if (strcmp(argv[i], "--port") != 0)
            return vdb_cli_unknown("doctor", USAGE, argv[i]);
        if ((port = vdb_cli_value("doctor", USAGE, argc, argv, &i)) == NULL ||
            vdb_cli_parse_uint("doctor", USAGE, "--port", port, 1, 65535, &port_value))
            return 2;
    }
    vdb_error_clear(&err);
    if (vdb_config_load(&config, 1, no_flags, &err) != VDB_OK) {
        printf("PROBLEM  configuration: %s\n  fix:   correct .env or the VECTOR_DB_* / PORT / "
               "HOST variables\n",
               err.msg);
        return 1;
    }
    if (port_value)
        config.port = (unsigned)port_value;
    if (vdb_cli_data_dir(&target) != 0)
        return 1;
    snprintf(d.data_dir, sizeof(d.data_dir), "%s", target.resolved);
    /* The store loader logs what it repairs; the report says it instead. */
    vdb_log_set_level(VDB_LOG_ERROR);
    if (check_data_dir(&d) == 0) {
        check_keys(&d, &config);
        check_port(&d, &config);
        vdb_store_options options;
        vdb_store_options_default(&options);
        if (vdb_registry_new(d.data_dir, &options, &registry, &err) != VDB_OK) {
            problem(&d, "see the message; fix the directory's permissions",
                    "cannot open the data directory: %s", err.msg);
        } else {
            void *ctx[2] = {&d, registry};
            if (vdb_registry_list(registry, NULL, check_store, ctx, &err) != VDB_OK)
                problem(&d, "fix the directory's permissions", "cannot list stores: %s",
                        err.msg);
            vdb_registry_free(registry);
        }
    } else {
        check_port(&d, &config);
    }
    if (d.problems)
        printf("%d problem%s found\n", d.problems, d.problems == 1 ? "" : "s");
    else
        printf("no problems found\n");
    return d.problems ? 1 : 0;
}
