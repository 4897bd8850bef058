/* Prometheus exposition merge (see cluster_prom.h). A node's text is read
 * line by line: `# HELP name ...` / `# TYPE name ...` open the family
 * `name`; a sample belongs to the open family when its metric name starts
 * with the family's (histograms: name_bucket, name_sum, name_count), else
 * to a family of its own name. Families are kept in first-seen order in a
 * small array searched linearly: a node exports a few dozen families, and
 * this runs once per scrape. */
#include "cluster_prom.h"

#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"

typedef struct text {
    char *data;
    size_t len, cap;
} text;

typedef struct family {
    char name[128];
    const char *meta_node; /* the node whose HELP/TYPE lines are kept */
    text meta, samples;
} family;

/* A vdb node exports a few dozen families; a fixed table keeps this
 * simple (about 100 KiB per scrape). More is refused as out of memory. */
#define MAX_FAMILIES 512

struct vdb_cluster_prom {
    family *fam; /* MAX_FAMILIES */
    size_t n;
    int oom;
};

static int put(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = vdb_realloc(t->data, cap);
        if (grown == NULL)
            return VDB_ENOMEM;
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
    return VDB_OK;
}

vdb_cluster_prom *vdb_cluster_prom_new(void)
{
    vdb_cluster_prom *m = vdb_calloc(1, sizeof(*m));
    if (m != NULL && (m->fam = vdb_calloc(MAX_FAMILIES, sizeof(family))) == NULL) {
        vdb_free(m);
        m = NULL;
    }
    return m;
}

void vdb_cluster_prom_free(vdb_cluster_prom *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        vdb_free(m->fam[i].meta.data);
        vdb_free(m->fam[i].samples.data);
    }
    vdb_free(m->fam);
    vdb_free(m);
}

/* The family named exactly name[0..n), created when absent; NULL when the
 * table is full. */
static family *family_of(vdb_cluster_prom *m, const char *name, size_t n)
{
    if (n >= sizeof(m->fam[0].name))
        n = sizeof(m->fam[0].name) - 1;
    for (size_t i = 0; i < m->n; i++)
        if (strlen(m->fam[i].name) == n && memcmp(m->fam[i].name, name, n) == 0)
            return &m->fam[i];
    if (m->n == MAX_FAMILIES)
        return NULL;
    family *f = &m->fam[m->n++];
    memcpy(f->name, name, n);
    return f;
}

/* One sample line with node="..." put first among its labels. */
static int put_sample(text *t, const char *line, size_t n, size_t name_len, const char *node)
{
    char label[160];
    int has_labels = name_len < n && line[name_len] == '{';
    int empty = has_labels && name_len + 1 < n && line[name_len + 1] == '}';
    snprintf(label, sizeof(label), "{node=\"%s\"%s", node, has_labels && !empty ? "," : "}");
    size_t rest = name_len + (has_labels ? 1 : 0) + (empty ? 1 : 0);
    int rc = put(t, line, name_len);
    if (rc == VDB_OK)
        rc = put(t, label, strlen(label));
    if (rc == VDB_OK)
        rc = put(t, line + rest, n - rest);
    return rc == VDB_OK ? put(t, "\n", 1) : rc;
}

/* Length of the metric name at s (at most n bytes; s need not end in NUL). */
static size_t name_span(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ' ' && s[i] != '{' && s[i] != '\t')
        i++;
    return i;
}

static int add_line(vdb_cluster_prom *m, const char *line, size_t n, const char *node,
                    family **open)
{
    if (n == 0)
        return VDB_OK;
    if (line[0] == '#') {
        if (n < 7 || (memcmp(line, "# HELP ", 7) != 0 && memcmp(line, "# TYPE ", 7) != 0))
            return VDB_OK; /* other comments are dropped */
        size_t name_len = name_span(line + 7, n - 7);
        family *f = family_of(m, line + 7, name_len);
        if (f == NULL)
            return VDB_ENOMEM;
        if (f->meta_node == NULL)
            f->meta_node = node;
        *open = f;
        if (f->meta_node != node)
            return VDB_OK; /* the first node's HELP/TYPE lines stand */
        int rc = put(&f->meta, line, n);
        return rc == VDB_OK ? put(&f->meta, "\n", 1) : rc;
    }
    size_t name_len = name_span(line, n);
    family *f = *open;
    if (f == NULL || name_len < strlen(f->name) || memcmp(line, f->name, strlen(f->name)) != 0)
        f = family_of(m, line, name_len);
    if (f == NULL)
        return VDB_ENOMEM;
    return put_sample(&f->samples, line, n, name_len, node);
}

int vdb_cluster_prom_add(vdb_cluster_prom *m, const char *data, size_t len, const char *node)
{
    family *open = NULL;
    size_t at = 0;
    while (!m->oom && at < len) {
        const char *end = memchr(data + at, '\n', len - at);
        size_t n = end ? (size_t)(end - (data + at)) : len - at;
        if (add_line(m, data + at, n, node, &open) != VDB_OK)
            m->oom = 1;
        at += n + 1;
    }
    return m->oom ? VDB_ENOMEM : VDB_OK;
}

char *vdb_cluster_prom_text(const vdb_cluster_prom *m, size_t answered, const char *missing,
                            size_t *len)
{
    text out = {0};
    char head[400];
    snprintf(head, sizeof(head), "# vdb cluster: %zu node(s) answered%s%s\n", answered,
             missing[0] ? "; unavailable: " : "", missing);
    int rc = m->oom ? VDB_ENOMEM : put(&out, head, strlen(head));
    for (size_t i = 0; rc == VDB_OK && i < m->n; i++) {
        if (m->fam[i].meta.len > 0)
            rc = put(&out, m->fam[i].meta.data, m->fam[i].meta.len);
        if (rc == VDB_OK && m->fam[i].samples.len > 0)
            rc = put(&out, m->fam[i].samples.data, m->fam[i].samples.len);
    }
    if (rc != VDB_OK) {
        vdb_free(out.data);
        return NULL;
    }
    *len = out.len;
    return out.data;
}
