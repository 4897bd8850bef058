/* `vdb keys`: manages per-user API keys in a data directory's key file,
 * the same file POST/GET/DELETE /admin/keys use. A running server accepts
 * a new key at its first use and sees a revocation within a second
 * (auth.c re-reads the file when it changes).
 *
 *   vdb keys create USER_ID [--data-dir DIR]   prints the new key once
 *   vdb keys list [USER_ID] [--data-dir DIR]
 *   vdb keys revoke KEY_ID [--data-dir DIR]
 *   vdb keys revoke-user USER_ID [--data-dir DIR]
 *
 * The data directory defaults to the server's (VECTOR_DB_DATA_DIR, .env,
 * then ~/.team_mind_data/vector_stores). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../api/auth.h"
#include "../api/config.h"
#include "cli.h"
#include "cli_args.h"

static void print_key(void *ctx, const char *key_id, const char *user_id, long long created)
{
    char when[32] = "?";
    time_t t = (time_t)created;
    struct tm tm;
    (void)ctx;
    if (gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-16s  %-24s  %s\n", key_id, user_id, when);
}

static const char USAGE[] = "usage: vdb keys create USER_ID | list [USER_ID] | revoke KEY_ID | "
                            "revoke-user USER_ID  [--data-dir DIR]\n";

int vdb_cmd_keys(int argc, char **argv)
{
    const char *args[2] = {NULL, NULL};
    const char *data_dir = NULL;
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (vdb_cli_is_help(argv[i])) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--data-dir") == 0) {
            if ((data_dir = vdb_cli_value("keys", USAGE, argc, argv, &i)) == NULL)
                return 2;
        } else if (argv[i][0] == '-') {
            return vdb_cli_usage_error("keys", USAGE, "unknown option '%s'", argv[i]);
        } else if (nargs == 2) {
            return vdb_cli_usage_error("keys", USAGE, "unexpected argument '%s'", argv[i]);
        } else {
            args[nargs++] = argv[i];
        }
    }
    if (nargs == 0)
        return vdb_cli_usage_error("keys", USAGE, "which action? (create, list, revoke, revoke-user)");
    vdb_config config;
    vdb_error err;
    vdb_error_clear(&err);
    char *no_flags[] = {argv[0], NULL};
    if (vdb_config_load(&config, 1, no_flags, &err) != VDB_OK) {
        fprintf(stderr, "vdb keys: %s\n", err.msg);
        return 1;
    }
    if (data_dir == NULL)
        data_dir = config.data_dir;
    vdb_auth *auth;
    if (vdb_auth_open(data_dir, NULL, NULL, NULL, &auth, &err) != VDB_OK) {
        fprintf(stderr, "vdb keys: %s\n", err.msg);
        return 1;
    }
    int rc = VDB_OK;
    size_t revoked = 0;
    if (strcmp(args[0], "create") == 0 && nargs == 2) {
        char key[VDB_AUTH_KEY_MAX], key_id[17];
        rc = vdb_auth_create_key(auth, args[1], key, key_id, &err);
        if (rc == VDB_OK)
            printf("user_id: %s\nkey_id:  %s\napi_key: %s\n(shown once; only its hash is stored)\n",
                   args[1], key_id, key);
    } else if (strcmp(args[0], "list") == 0 && nargs <= 2) {
        vdb_auth_list(auth, args[1], print_key, NULL);
    } else if (strcmp(args[0], "revoke") == 0 && nargs == 2) {
        rc = vdb_auth_revoke(auth, args[1], NULL, &revoked, &err);
    } else if (strcmp(args[0], "revoke-user") == 0 && nargs == 2) {
        rc = vdb_auth_revoke(auth, NULL, args[1], &revoked, &err);
    } else {
        vdb_auth_free(auth);
        if (strcmp(args[0], "create") != 0 && strcmp(args[0], "list") != 0 &&
            strcmp(args[0], "revoke") != 0 && strcmp(args[0], "revoke-user") != 0)
            return vdb_cli_usage_error("keys", USAGE, "unknown action '%s'", args[0]);
        return vdb_cli_usage_error("keys", USAGE, "%s needs %s", args[0],
                                   strcmp(args[0], "revoke") == 0 ? "a KEY_ID" : "a USER_ID");
    }
    if (rc == VDB_OK && revoked > 0)
        printf("revoked %zu key(s)\n", revoked);
    if (rc != VDB_OK)
        fprintf(stderr, "vdb keys: %s\n", err.msg);
    vdb_auth_free(auth);
    return rc == VDB_OK ? 0 : 1;
}
