/* `vdb serve`: loads the configuration, starts the REST server and waits
 * for SIGINT/SIGTERM, then shuts down gracefully: new requests are refused,
 * in-flight ones finish (up to 10 s), every store is checkpointed and
 * unlocked, and the process exits 0.
 *
 * The signals are blocked before any thread starts (so every server thread
 * inherits the mask) and taken synchronously with sigwait here, which keeps
 * all shutdown work out of signal-handler context. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../api/api.h"
#include "../api/config.h"
#include "../core/log.h"
#include "../core/pool.h"
#include "cli.h"
#include "cli_store.h"

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
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    vdb_api *api = vdb_api_start(&config, &err);
    if (api == NULL) {
        fprintf(stderr, "vdb serve: %s\n", err.msg);
        return 1;
    }
    printf("vdb %s listening on http://%s:%u (data: %s%s%s)\n", VDB_VERSION, config.host,
           vdb_api_port(api), config.data_dir, config.env_file[0] ? ", config: " : "",
           config.env_file);
    fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    vdb_log_info("received %s: stopping (finishing in-flight requests)",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
    vdb_api_stop(api, 10000);
    vdb_log_info("stopped cleanly");
    return 0;
}
