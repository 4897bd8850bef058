/* `vdb serve`: loads the configuration, starts the REST server and waits
 * for SIGINT/SIGTERM, then shuts down gracefully: new requests are refused,
 * in-flight ones finish (up to 10 s), every store is checkpointed and
 * unlocked, and the process exits 0.
 *
 * The signals are blocked before the server's threads start (so they
 * inherit the mask), but not every thread is ours: OpenBLAS starts its pool
 * when the library loads, before main, with the signals open. A plain
 * sigwait lost the race whenever the kernel handed SIGTERM to one of those
 * threads (default action: the process dies, exit -15, no checkpoint). So a
 * handler takes the signal on whichever thread gets it and only writes its
 * number to a pipe; this thread, the one left unblocked besides OpenBLAS's,
 * reads the pipe and does the shutdown outside signal context. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../api/api.h"
#include "../api/config.h"
#include "../core/log.h"
#include "../core/pool.h"
#include "cli.h"
#include "cli_store.h"

static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(stop_pipe[1], &b, 1) < 0) { /* full pipe: a stop is already queued */
    }
    errno = saved;
}

int vdb_cmd_serve(int argc, char **argv)
{
    vdb_config config;
    vdb_error err;
    vdb_error_clear(&err);
    int rc = vdb_config_load(&config, argc, argv, &err);
    if (rc == 1) {
        vdb_config_usage(stdout);
        return 0;
    }
    if (rc != VDB_OK) {
        fprintf(stderr, "vdb serve: %s\n", err.msg);
        return 2;
    }
    /* Checked before anything starts: otherwise the server comes up (when
     * the key is in the environment nothing else touches the directory)
     * and only the first create_store fails, with a 500. */
    char why[512];
    if (vdb_cli_dir_writable(config.data_dir, 1, why, sizeof(why)) != 0) {
        fprintf(stderr,
                "vdb serve: data directory %s is not usable: %s\n"
                "  point VECTOR_DB_DATA_DIR (or --data-dir) at a directory this user can "
                "write, or fix its permissions\n",
                config.data_dir, why);
        return 1;
    }
    int level = vdb_log_level_parse(config.log_level);
    if (level >= 0)
        vdb_log_set_level((vdb_log_level)level);
    if (config.compute_threads > 0)
        vdb_pool_global_configure((int)config.compute_threads);

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (pipe(stop_pipe) != 0) {
        fprintf(stderr, "vdb serve: cannot create the stop pipe: %s\n", strerror(errno));
        return 1;
    }
    fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    vdb_api *api;
    if (vdb_api_start(&config, &api, &err) != VDB_OK) {
        fprintf(stderr, "vdb serve: %s\n", err.msg);
        return 1;
    }
    printf("vdb %s listening on http://%s:%u (data: %s%s%s)\n", VDB_VERSION, config.host,
           vdb_api_port(api), config.data_dir, config.env_file[0] ? ", config: " : "",
           config.env_file);
    fflush(stdout);
    pthread_sigmask(SIG_UNBLOCK, &signals, NULL);
    unsigned char b = 0;
    ssize_t got;
    do
        got = read(stop_pipe[0], &b, 1);
    while (got < 0 && errno == EINTR);
    int sig = b;
    vdb_log_info("received %s: stopping (finishing in-flight requests)",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
    vdb_api_stop(api, 10000);
    vdb_log_info("stopped cleanly");
    return 0;
}
