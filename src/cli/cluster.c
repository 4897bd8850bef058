/* Cluster description and the two control channels of `vdb cluster`: the
 * nodes' own HTTP API (vdb_cluster_call) and HAProxy's runtime API on its
 * UNIX socket (vdb_cluster_runtime). See cluster.h for the file format.
 *
 * The placement map is written file-first: the file is what HAProxy loads
 * when it restarts, the live map is what it routes by now. Writing the
 * file first means a crash between the two leaves the file ahead of the
 * live map, and a rerun (which redoes both) converges; the reverse order
 * could leave a restarted HAProxy routing by a stale file. */
#include "cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/fsx.h"

#define CONF_MAX (64u * 1024u)
#define MAP_MAX (64u << 20)

static int add_node(vdb_cluster *c, const char *name, const char *host, const char *port,
                    vdb_error *err)
{
    char *end;
    unsigned long p = strtoul(port, &end, 10);
    if (c->nnodes == VDB_CLUSTER_MAX_NODES)
        return vdb_error_set(err, VDB_ERANGE, "more than %d nodes", VDB_CLUSTER_MAX_NODES);
    if (*end != '\0' || p == 0 || p > 65535 || strlen(name) >= sizeof(c->nodes[0].name) ||
        strlen(host) >= sizeof(c->nodes[0].host) || name[0] == '\0')
        return vdb_error_set(err, VDB_EINVAL, "bad node '%s' at '%s:%s'", name, host, port);
    vdb_cluster_node *n = &c->nodes[c->nnodes++];
    snprintf(n->name, sizeof(n->name), "%s", name);
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = (unsigned)p;
    return VDB_OK;
}

static int load_conf(vdb_cluster *c, vdb_error *err)
{
    char path[4200], *text = NULL, *save = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/cluster.conf", c->dir);
    int rc = vdb_fsx_read_file(path, CONF_MAX, &text, &len, err);
    if (rc == VDB_ENOTFOUND)
        return vdb_error_set(err, rc, "%s not found (start the cluster with deploy/cluster/start.sh)",
                             path);
    if (rc != VDB_OK)
        return rc;
    for (char *line = strtok_r(text, "\n", &save); rc == VDB_OK && line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char a[4096], b[4096], d[64];
        int got = sscanf(line, "%4095s %4095s %63s", a, b, d);
        if (got <= 0 || a[0] == '#')
            continue;
        if (strcmp(a, "map") == 0 && got == 2)
            snprintf(c->map, sizeof(c->map), "%s", b);
        else if (strcmp(a, "socket") == 0 && got == 2)
            snprintf(c->socket, sizeof(c->socket), "%s", b);
        else if (strcmp(a, "node") == 0 && got == 3) {
            char host[4096];
            if (sscanf(line, "%*s %*s %4095s %63s", host, d) == 2)
                rc = add_node(c, b, host, d, err);
            else
                rc = vdb_error_set(err, VDB_EINVAL, "%s: bad line '%.80s'", path, line);
        } else if (strcmp(a, "aggregate") != 0)
            rc = vdb_error_set(err, VDB_EINVAL, "%s: bad line '%.80s'", path, line);
    }
    vdb_free(text);
    if (rc == VDB_OK && c->nnodes == 0)
        rc = vdb_error_set(err, VDB_EINVAL, "%s names no node", path);
    return rc;
}

/* --nodes node1=127.0.0.1:8001,node2=... */
static int load_list(vdb_cluster *c, const char *list, vdb_error *err)
{
    char buf[4096], *save = NULL;
    int rc = VDB_OK;
    if (strlen(list) >= sizeof(buf))
        return vdb_error_set(err, VDB_EINVAL, "--nodes list too long");
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *item = strtok_r(buf, ",", &save); rc == VDB_OK && item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '='), *colon = strrchr(item, ':');
        if (eq == NULL || colon == NULL || colon < eq)
            return vdb_error_set(err, VDB_EINVAL, "--nodes: '%s' is not NAME=HOST:PORT", item);
        *eq = *colon = '\0';
        rc = add_node(c, item, eq + 1, colon + 1, err);
    }
    if (rc == VDB_OK && c->nnodes == 0)
        rc = vdb_error_set(err, VDB_EINVAL, "--nodes names no node");
    return rc;
}

/* VECTOR_DB_ADMIN_KEY=... from RUN_DIR/cluster.env (start.sh's file). */
static void key_from_env_file(vdb_cluster *c)
{
    char path[4200], *text = NULL, *save = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/cluster.env", c->dir);
    if (vdb_fsx_read_file(path, CONF_MAX, &text, &len, NULL) != VDB_OK)
        return;
    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "VECTOR_DB_ADMIN_KEY=", 20) == 0)
            snprintf(c->key, sizeof(c->key), "%s", line + 20);
    vdb_free(text);
}

int vdb_cluster_load(vdb_cluster *c, const char *dir, const char *nodes, const char *key,
                     vdb_error *err)
{
    memset(c, 0, sizeof(*c));
    int rc;
    if (dir != NULL) {
        if (realpath(dir, c->dir) == NULL)
            return vdb_error_set(err, VDB_ENOTFOUND, "run directory %s: %s", dir, strerror(errno));
        rc = load_conf(c, err);
    } else if (nodes != NULL) {
        rc = load_list(c, nodes, err);
    } else {
        rc = vdb_error_set(err, VDB_EINVAL, "give the cluster's run directory or --nodes");
    }
    if (rc != VDB_OK)
        return rc;
    const char *env = getenv("VECTOR_DB_ADMIN_KEY");
    if (key != NULL)
        snprintf(c->key, sizeof(c->key), "%s", key);
    else if (env != NULL && env[0] != '\0')
        snprintf(c->key, sizeof(c->key), "%s", env);
    else if (c->dir[0] != '\0')
        key_from_env_file(c);
    if (c->key[0] == '\0')
        return vdb_error_set(err, VDB_EINVAL,
                             "no admin key: pass --key, set VECTOR_DB_ADMIN_KEY, or keep "
                             "RUN_DIR/cluster.env");
    return VDB_OK;
}

const vdb_cluster_node *vdb_cluster_find(const vdb_cluster *c, const char *name)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (strcmp(c->nodes[i].name, name) == 0)
            return &c->nodes[i];
    return NULL;
}

int vdb_cluster_call(const vdb_cluster *c, const vdb_cluster_node *node, const char *key,
                     const char *method, const char *target, const char *content_type,
                     const void *body, size_t body_len, double timeout_s,
                     vdb_httpc_response *out, vdb_error *err)
{
    vdb_httpc_request rq = {node->host,   node->port, method,    target,   key ? key : c->key,
                            content_type, NULL,       body,      body_len, timeout_s,
                            (size_t)8 << 30};
    int rc = vdb_httpc_send(&rq, out, err);
    if (rc != VDB_OK && err != NULL) {
        char msg[sizeof(err->msg)];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        vdb_error_set(err, rc, "%s: %s", node->name, msg);
    }
    return rc;
}

int vdb_cluster_json(const vdb_cluster *c, const vdb_cluster_node *node, const char *method,
                     const char *target, const char *json_body, int *status, vdb_json **out,
                     vdb_error *err)
{
    vdb_httpc_response resp;
    if (status != NULL)
        *status = 0;
    int rc = vdb_cluster_call(c, node, NULL, method, target, json_body ? "application/json" : NULL,
                              json_body, json_body ? strlen(json_body) : 0, 60.0, &resp, err);
    if (rc != VDB_OK)
        return rc;
    if (status != NULL)
        *status = resp.status;
    vdb_json *doc = NULL;
    vdb_error perr;
    int prc = vdb_json_parse(resp.body, resp.body_len, 0, &doc, &perr);
    if (resp.status != 200) {
        vdb_json *detail = doc ? vdb_json_object_get(doc, "detail") : NULL;
        rc = vdb_error_set(err, VDB_EIO, "%s: %s %s -> %d: %.120s", node->name, method, target,
                           resp.status,
                           detail && vdb_json_typeof(detail) == VDB_JSON_STRING
                               ? vdb_json_string_value(detail)
                               : resp.body);
        vdb_json_decref(doc);
    } else if (prc == VDB_ENOMEM) {
        rc = vdb_error_set(err, prc, "%s: %s %s: %s", node->name, method, target, perr.msg);
    } else if (doc == NULL) {
        rc = vdb_error_set(err, VDB_EPARSE, "%s: %s %s: answer is not JSON", node->name, method,
                           target);
    } else {
        *out = doc;
    }
    vdb_httpc_response_free(&resp);
    return rc;
}

/* Sends one command to HAProxy's runtime API; *answer (optional, caller
 * frees with vdb_free) gets the text. Errors: VDB_EINVAL (no socket
 * known), VDB_EIO (connect/send/receive), VDB_EBUSY (HAProxy answered an
 * error; the text is in err). */
static int vdb_cluster_runtime(const vdb_cluster *c, const char *command, char **answer,
                               vdb_error *err)
{
    struct sockaddr_un addr;
    char buf[65536];
    size_t n = 0;
    if (c->socket[0] == '\0' || strlen(c->socket) >= sizeof(addr.sun_path))
        return vdb_error_set(err, VDB_EINVAL, "no usable HAProxy runtime socket in cluster.conf");
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, c->socket, strlen(c->socket));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return vdb_error_set(err, VDB_EIO, "HAProxy runtime socket %s: %s", c->socket, strerror(e));
    }
    int rc = VDB_OK;
    size_t len = strlen(command);
    if (send(fd, command, len, MSG_NOSIGNAL) != (ssize_t)len || send(fd, "\n", 1, MSG_NOSIGNAL) != 1)
        rc = vdb_error_set(err, VDB_EIO, "HAProxy runtime socket: %s", strerror(errno));
    while (rc == VDB_OK && n < sizeof(buf) - 1) {
        ssize_t got = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    /* Map edits answer an empty line when they succeed, text when not. */
    if (rc == VDB_OK && (strstr(buf, "nknown") || strstr(buf, "rror") || strstr(buf, "not found") ||
                         strstr(buf, "ailed")))
        rc = vdb_error_set(err, VDB_EBUSY, "HAProxy refused '%.60s': %.120s", command, buf);
    if (rc == VDB_OK && answer != NULL) {
        if ((*answer = vdb_malloc(n + 1)) == NULL)
            return vdb_error_set(err, VDB_ENOMEM, "out of memory");
        memcpy(*answer, buf, n + 1);
    }
    return rc;
}

int vdb_cluster_placed(const vdb_cluster *c, const char *user_id, char *node, size_t size,
                       vdb_error *err)
{
    char *text = NULL, *save = NULL;
    size_t len;
    node[0] = '\0';
    if (c->map[0] == '\0')
        return vdb_error_set(err, VDB_EINVAL, "no placement map (give the run directory)");
    int rc = vdb_fsx_read_file(c->map, MAP_MAX, &text, &len, err);
    if (rc == VDB_ENOTFOUND)
        return VDB_OK;
    if (rc != VDB_OK)
        return rc;
    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char k[256], v[64];
        if (sscanf(line, "%255s %63s", k, v) == 2 && strcmp(k, user_id) == 0)
            snprintf(node, size, "%s", v);
    }
    vdb_free(text);
    return VDB_OK;
}

/* The map file with user_id's line replaced by "user_id node". */
static int rewrite_map(const vdb_cluster *c, const char *user_id, const char *node, vdb_error *err)
{
    char *text = NULL, *save = NULL, dir[4096];
    size_t len = 0;
    int rc = vdb_fsx_read_file(c->map, MAP_MAX, &text, &len, err);
    if (rc == VDB_ENOTFOUND) {
        text = NULL;
        len = 0;
    } else if (rc != VDB_OK) {
        return rc;
    }
    size_t cap = len + strlen(user_id) + strlen(node) + 4;
    char *out = vdb_malloc(cap);
    size_t n = 0;
    if (out == NULL) {
        vdb_free(text);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    }
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char k[256];
        if (sscanf(line, "%255s", k) == 1 && strcmp(k, user_id) == 0)
            continue;
        n += (size_t)snprintf(out + n, cap - n, "%s\n", line);
    }
    n += (size_t)snprintf(out + n, cap - n, "%s %s\n", user_id, node);
    snprintf(dir, sizeof(dir), "%s", c->map);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        rc = vdb_error_set(err, VDB_EINVAL, "placement map path %s is not absolute", c->map);
    } else {
        *slash = '\0';
        rc = vdb_fsx_replace_file(dir, slash + 1, out, n, 0644, err);
    }
    vdb_free(out);
    vdb_free(text);
    return rc;
}

int vdb_cluster_place(const vdb_cluster *c, const char *user_id, const char *node, vdb_error *err)
{
    char cmd[8400];
    int rc = rewrite_map(c, user_id, node, err);
    if (rc != VDB_OK)
        return rc;
    snprintf(cmd, sizeof(cmd), "set map %s %s %s", c->map, user_id, node);
    if (vdb_cluster_runtime(c, cmd, NULL, NULL) == VDB_OK)
        return VDB_OK;
    snprintf(cmd, sizeof(cmd), "add map %s %s %s", c->map, user_id, node);
    return vdb_cluster_runtime(c, cmd, NULL, err);
}
