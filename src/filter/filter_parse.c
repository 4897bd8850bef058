/* Filter compiler: validates a JSON filter once and turns it into an
 * immutable tree of AND/OR/NOT/comparison nodes (filter_int.h), so that the
 * per-row evaluation never re-checks syntax and bad filters are refused
 * before any work is done.
 *
 * Errors carry a location built while descending, in the filter's own
 * terms ("$and[1].price"), so a client can find the offending operator. */
#include "filter.h"

#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "filter_int.h"

#define LOC_MAX 160

typedef struct compile_ctx {
    size_t clauses;
    vdb_error *err;
} compile_ctx;

static void node_free(vdb_fnode *node)
{
    if (node == NULL)
        return;
    for (size_t i = 0; i < node->nchildren; i++)
        node_free(node->children[i]);
    vdb_free(node->children);
    vdb_filter__path_free(&node->path);
    vdb_json_decref(node->operand);
    vdb_free(node);
}

void vdb_filter__path_free(vdb_fpath *path)
{
    vdb_free(path->text);
    vdb_free(path->segbuf);
    vdb_free((void *)path->segs);
    memset(path, 0, sizeof(*path));
}

void vdb_filter_free(vdb_filter *filter)
{
    if (filter == NULL)
        return;
    node_free(filter->root);
    vdb_free(filter);
}

static vdb_fnode *node_new(vdb_fnode_kind kind, compile_ctx *ctx)
{
    vdb_fnode *node = vdb_calloc(1, sizeof(*node));
    if (node == NULL)
        vdb_error_set(ctx->err, VDB_ENOMEM, "out of memory compiling filter");
    else
        node->kind = kind;
    return node;
}

/* Appends `child` to a logical node; on failure frees the child. */
static int node_add(vdb_fnode *parent, vdb_fnode *child, compile_ctx *ctx)
{
    vdb_fnode **grown = vdb_realloc(parent->children,
                                    (parent->nchildren + 1) * sizeof(*parent->children));
    if (grown == NULL) {
        node_free(child);
        return vdb_error_set(ctx->err, VDB_ENOMEM, "out of memory compiling filter");
    }
    parent->children = grown;
    parent->children[parent->nchildren++] = child;
    return VDB_OK;
}

/* Collapses a one-child AND into the child, so the common single-clause
 * filter evaluates without an extra level. */
static vdb_fnode *node_simplify(vdb_fnode *node)
{
    if (node->kind == VDB_FNODE_AND && node->nchildren == 1) {
        vdb_fnode *child = node->children[0];
        node->nchildren = 0;
        node_free(node);
        return child;
    }
    if (node->kind == VDB_FNODE_AND && node->nchildren == 0)
        node->kind = VDB_FNODE_TRUE;
    return node;
}

static void loc_join(char *out, const char *base, const char *part)
{
    if (base[0] == '\0')
        snprintf(out, LOC_MAX, "%s", part);
    else
        snprintf(out, LOC_MAX, "%s.%s", base, part);
}

static const char *loc_show(const char *loc)
{
    return loc[0] == '\0' ? "(top level)" : loc;
}

int vdb_filter__path_init(vdb_fpath *path, const char *key, const char *loc, vdb_error *err)
{
    compile_ctx holder = {0, err};
    compile_ctx *ctx = &holder;
    size_t len = strlen(key);
    if (len == 0)
        return vdb_error_set(ctx->err, VDB_EINVAL, "filter at '%s': empty field name",
                             loc_show(loc));
    if (len >= VDB_FILTER_MAX_PATH)
        return vdb_error_set(ctx->err, VDB_EINVAL,
                             "filter at '%.40s...': field path of %zu bytes exceeds the limit of %u",
                             key, len, VDB_FILTER_MAX_PATH - 1);
    size_t nsegs = 1;
    for (size_t i = 0; i < len; i++)
        nsegs += key[i] == '.';
    if (nsegs > VDB_FILTER_MAX_SEGMENTS)
        return vdb_error_set(ctx->err, VDB_EINVAL,
                             "filter at '%s': path has %zu segments, limit %u", loc_show(loc),
                             nsegs, VDB_FILTER_MAX_SEGMENTS);
    path->text = vdb_strdup(key);
    path->segbuf = vdb_strdup(key);
    path->segs = vdb_calloc(nsegs, sizeof(*path->segs));
    if (path->text == NULL || path->segbuf == NULL || path->segs == NULL)
        return vdb_error_set(ctx->err, VDB_ENOMEM, "out of memory compiling filter");
    /* Split in place; an empty segment ("a..b", ".a") would address nothing
     * and is almost certainly a typo, so it is refused. */
    char *start = path->segbuf;
    for (size_t s = 0; s < nsegs; s++) {
        char *dot = strchr(start, '.');
        if (dot != NULL)
            *dot = '\0';
        if (*start == '\0')
            return vdb_error_set(ctx->err, VDB_EINVAL,
                                 "filter at '%s': path '%s' has an empty segment", loc_show(loc),
                                 key);
        path->segs[s] = start;
        start = dot != NULL ? dot + 1 : start + strlen(start);
    }
    path->nsegs = nsegs;
    return VDB_OK;
}

static int parse_op(const char *name, vdb_fop *op)
{
    static const struct {
        const char *name;
        vdb_fop op;
    } table[] = {
        {"$eq", VDB_FOP_EQ},   {"$ne", VDB_FOP_NE},         {"$in", VDB_FOP_IN},
        {"$nin", VDB_FOP_NIN}, {"$gt", VDB_FOP_GT},         {"$gte", VDB_FOP_GTE},
        {"$lt", VDB_FOP_LT},   {"$lte", VDB_FOP_LTE},       {"$exists", VDB_FOP_EXISTS},
        {"$contains", VDB_FOP_CONTAINS},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(name, table[i].name) == 0) {
            *op = table[i].op;
            return 1;
        }
    return 0;
}

/* 1 for a non-empty object whose keys all start with '$', 0 for a plain
 * value, -1 (error set) for an object mixing both kinds of keys. */
static int is_operator_object(vdb_json *value, const char *loc, compile_ctx *ctx)
{
    if (vdb_json_typeof(value) != VDB_JSON_OBJECT || vdb_json_object_size(value) == 0)
        return 0;
    size_t dollar = 0, plain = 0;
    const char *first_dollar = NULL, *first_plain = NULL;
    for (void *it = vdb_json_object_iter(value); it; it = vdb_json_object_next(value, it)) {
        const char *key = vdb_json_iter_key(it);
        if (key[0] == '$') {
            dollar++;
            if (first_dollar == NULL)
                first_dollar = key;
        } else {
            plain++;
            if (first_plain == NULL)
                first_plain = key;
        }
    }
    if (dollar > 0 && plain > 0) {
        vdb_error_set(ctx->err, VDB_EINVAL,
                      "filter at '%s': object mixes operator '%s' with plain key '%s' "
                      "(use {\"$eq\": {...}} to compare with a literal object)",
                      loc_show(loc), first_dollar, first_plain);
        return -1;
    }
    return dollar > 0;
}

static int count_clause(const char *loc, compile_ctx *ctx)
{
    if (++ctx->clauses > VDB_FILTER_MAX_CLAUSES)
        return vdb_error_set(ctx->err, VDB_EINVAL,
                             "filter at '%s': more than %u field comparisons", loc_show(loc),
                             VDB_FILTER_MAX_CLAUSES);
    return VDB_OK;
}

static int check_depth(unsigned depth, const char *loc, compile_ctx *ctx)
{
    if (depth > VDB_FILTER_MAX_DEPTH)
        return vdb_error_set(ctx->err, VDB_EINVAL,
                             "filter at '%s': nesting deeper than %u levels", loc_show(loc),
                             VDB_FILTER_MAX_DEPTH);
    return VDB_OK;
}

/* Checks an operator's operand type; returns VDB_OK or VDB_EINVAL. */
static int check_operand(vdb_fop op, const char *name, vdb_json *value, const char *loc,
                         compile_ctx *ctx)
{
    vdb_json_type type = vdb_json_typeof(value);
    switch (op) {
    case VDB_FOP_IN:
    case VDB_FOP_NIN:
        if (type != VDB_JSON_ARRAY)
            break;
        if (vdb_json_array_size(value) > VDB_FILTER_MAX_IN)
            return vdb_error_set(ctx->err, VDB_EINVAL,
                                 "filter at '%s': operator '%s' has %zu values, limit %u",
                                 loc_show(loc), name, vdb_json_array_size(value),
                                 VDB_FILTER_MAX_IN);
        return VDB_OK;
    case VDB_FOP_GT:
    case VDB_FOP_GTE:
    case VDB_FOP_LT:
    case VDB_FOP_LTE:
        if (type == VDB_JSON_INT || type == VDB_JSON_REAL || type == VDB_JSON_STRING)
            return VDB_OK;
        return vdb_error_set(ctx->err, VDB_EINVAL,
                             "filter at '%s': operator '%s' needs a number or a string, got %s",
                             loc_show(loc), name, vdb_json_type_name(type));
    case VDB_FOP_EXISTS:
        if (type == VDB_JSON_BOOL)
            return VDB_OK;
        return vdb_error_set(ctx->err, VDB_EINVAL,
                             "filter at '%s': operator '$exists' needs true or false, got %s",
                             loc_show(loc), vdb_json_type_name(type));
    default:
        return VDB_OK;
    }
    return vdb_error_set(ctx->err, VDB_EINVAL,
                         "filter at '%s': operator '%s' needs an array, got %s", loc_show(loc),
                         name, vdb_json_type_name(type));
}

static vdb_fnode *compile_cmp(const char *field, vdb_fop op, vdb_json *operand, const char *loc,
                              compile_ctx *ctx)
{
    if (count_clause(loc, ctx) != VDB_OK)
        return NULL;
    vdb_fnode *node = node_new(VDB_FNODE_CMP, ctx);
    if (node == NULL)
        return NULL;
    node->op = op;
    node->index = ctx->clauses - 1;
    if (vdb_filter__path_init(&node->path, field, loc, ctx->err) != VDB_OK)
        goto fail;
    if (op == VDB_FOP_EXISTS) {
        node->exists = vdb_json_bool_value(operand);
    } else {
        node->operand = vdb_json_deep_copy(operand);
        if (node->operand == NULL) {
            vdb_error_set(ctx->err, VDB_ENOMEM, "out of memory compiling filter");
            goto fail;
        }
    }
    return node;
fail:
    node_free(node);
    return NULL;
}

/* An operator object on one field: {"$gt": 1, "$lt": 5, "$not": {...}}. */
static vdb_fnode *compile_ops(const char *field, vdb_json *ops, unsigned depth, const char *loc,
                              compile_ctx *ctx)
{
    char here[LOC_MAX];
    if (check_depth(depth, loc, ctx) != VDB_OK)
        return NULL;
    vdb_fnode *all = node_new(VDB_FNODE_AND, ctx);
    if (all == NULL)
        return NULL;
    for (void *it = vdb_json_object_iter(ops); it; it = vdb_json_object_next(ops, it)) {
        const char *name = vdb_json_iter_key(it);
        vdb_json *value = vdb_json_iter_value(it);
        vdb_fnode *child = NULL;
        vdb_fop op;
        loc_join(here, loc, name);
        if (strcmp(name, "$not") == 0) {
            if (is_operator_object(value, here, ctx) != 1) {
                if (ctx->err == NULL || ctx->err->code == VDB_OK)
                    vdb_error_set(ctx->err, VDB_EINVAL,
                                  "filter at '%s': operator '$not' on a field needs an operator "
                                  "object such as {\"$gt\": 5}",
                                  loc_show(loc));
                goto fail;
            }
            vdb_fnode *inner = compile_ops(field, value, depth + 1, here, ctx);
            if (inner == NULL)
                goto fail;
            child = node_new(VDB_FNODE_NOT, ctx);
            if (child == NULL || node_add(child, inner, ctx) != VDB_OK) {
                if (child == NULL)
                    node_free(inner);
                node_free(child);
                goto fail;
            }
        } else if (parse_op(name, &op)) {
            if (check_operand(op, name, value, loc, ctx) != VDB_OK)
                goto fail;
            child = compile_cmp(field, op, value, loc, ctx);
            if (child == NULL)
                goto fail;
        } else {
            vdb_error_set(ctx->err, VDB_EINVAL, "filter at '%s': unknown operator '%s'",
                          loc_show(loc), name);
            goto fail;
        }
        if (node_add(all, child, ctx) != VDB_OK)
            goto fail;
    }
    return node_simplify(all);
fail:
    node_free(all);
    return NULL;
}

static vdb_fnode *compile_object(vdb_json *spec, unsigned depth, const char *loc,
                                 compile_ctx *ctx);

/* $and / $or: a non-empty array of filter objects. */
static vdb_fnode *compile_list(const char *name, vdb_json *value, unsigned depth,
                               const char *loc, compile_ctx *ctx)
{
    char here[LOC_MAX];
    size_t n = vdb_json_array_size(value);
    if (vdb_json_typeof(value) != VDB_JSON_ARRAY || n == 0) {
        vdb_error_set(ctx->err, VDB_EINVAL,
                      "filter at '%s': operator '%s' needs a non-empty array of filters, got %s",
                      loc_show(loc), name, vdb_json_type_name(vdb_json_typeof(value)));
        return NULL;
    }
    vdb_fnode *node = node_new(strcmp(name, "$and") == 0 ? VDB_FNODE_AND : VDB_FNODE_OR, ctx);
    if (node == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char part[48];
        snprintf(part, sizeof(part), "%s[%zu]", name, i);
        loc_join(here, loc, part);
        vdb_fnode *child = compile_object(vdb_json_array_get(value, i), depth + 1, here, ctx);
        if (child == NULL || node_add(node, child, ctx) != VDB_OK) {
            node_free(node);
            return NULL;
        }
    }
    return node;
}

/* A filter object: field keys and filter-level $and/$or/$not, ANDed. */
static vdb_fnode *compile_object(vdb_json *spec, unsigned depth, const char *loc,
                                 compile_ctx *ctx)
{
    char here[LOC_MAX];
    if (vdb_json_typeof(spec) != VDB_JSON_OBJECT) {
        vdb_error_set(ctx->err, VDB_EINVAL, "filter at '%s': expected an object, got %s",
                      loc_show(loc), vdb_json_type_name(vdb_json_typeof(spec)));
        return NULL;
    }
    if (check_depth(depth, loc, ctx) != VDB_OK)
        return NULL;
    vdb_fnode *all = node_new(VDB_FNODE_AND, ctx);
    if (all == NULL)
        return NULL;
    for (void *it = vdb_json_object_iter(spec); it; it = vdb_json_object_next(spec, it)) {
        const char *key = vdb_json_iter_key(it);
        vdb_json *value = vdb_json_iter_value(it);
        vdb_fnode *child = NULL;
        if (key[0] == '$') {
            if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0) {
                child = compile_list(key, value, depth, loc, ctx);
            } else if (strcmp(key, "$not") == 0) {
                loc_join(here, loc, key);
                vdb_fnode *inner = compile_object(value, depth + 1, here, ctx);
                if (inner != NULL) {
                    child = node_new(VDB_FNODE_NOT, ctx);
                    if (child == NULL)
                        node_free(inner);
                    else if (node_add(child, inner, ctx) != VDB_OK) {
                        node_free(child);
                        child = NULL;
                    }
                }
            } else {
                vdb_fop op;
                vdb_error_set(ctx->err, VDB_EINVAL,
                              parse_op(key, &op)
                                  ? "filter at '%s': operator '%s' needs a field, e.g. "
                                    "{\"field\": {\"%s\": ...}}"
                                  : "filter at '%s': unknown operator '%s'%.0s",
                              loc_show(loc), key, key);
            }
        } else {
            loc_join(here, loc, key);
            int kind = is_operator_object(value, here, ctx);
            if (kind == 1)
                child = compile_ops(key, value, depth + 1, here, ctx);
            else if (kind == 0)
                child = compile_cmp(key, VDB_FOP_EQ, value, here, ctx);
        }
        if (child == NULL || node_add(all, child, ctx) != VDB_OK)
            goto fail;
    }
    return node_simplify(all);
fail:
    node_free(all);
    return NULL;
}

int vdb_filter_compile(const vdb_json *spec, vdb_filter **out, vdb_error *err)
{
    /* The compiler reports through ctx.err, a local record, so the code
     * survives a caller that passes no error record. */
    vdb_error local;
    compile_ctx ctx = {0, &local};
    vdb_error_clear(&local);
    vdb_error_clear(err);
    *out = NULL;
    if (spec == NULL || vdb_json_typeof(spec) == VDB_JSON_NULL)
        return VDB_OK;
    if (vdb_json_typeof(spec) != VDB_JSON_OBJECT)
        return vdb_error_set(err, VDB_EINVAL, "filter must be a JSON object, got %s",
                             vdb_json_type_name(vdb_json_typeof(spec)));
    if (vdb_json_object_size(spec) == 0)
        return VDB_OK;
    vdb_filter *filter = vdb_calloc(1, sizeof(*filter));
    if (filter == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory compiling filter");
    /* The iteration API takes a non-const node but does not modify it. */
    filter->root = compile_object((vdb_json *)spec, 1, "", &ctx);
    if (filter->root == NULL) {
        vdb_free(filter);
        if (local.code == VDB_OK)
            vdb_error_set(&local, VDB_EINTERNAL, "filter compilation failed without a reason");
        if (err != NULL)
            *err = local;
        return local.code;
    }
    filter->clauses = ctx.clauses;
    *out = filter;
    return VDB_OK;
}

int vdb_filter_compile_text(const char *text, size_t len, vdb_filter **out, vdb_error *err)
{
    vdb_error perr;
    vdb_json *spec = NULL;
    *out = NULL;
    int rc = vdb_json_parse(text, len, 0, &spec, &perr);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc == VDB_ENOMEM ? VDB_ENOMEM : VDB_EINVAL,
                             "filter is not valid JSON: %s", perr.msg);
    rc = vdb_filter_compile(spec, out, err);
    vdb_json_decref(spec);
    return rc;
}

size_t vdb_filter_clause_count(const vdb_filter *filter)
{
    return filter == NULL ? 0 : filter->clauses;
}
