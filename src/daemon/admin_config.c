/*
 * admin_config.c -- redaction and careful writing of the configuration
 * file for the admin API (see admin_config.h).
 *
 * Redaction works on the text, not on a re-serialisation: the reader sees
 * the operator's file with its comments and layout, minus the secrets.
 * libyaml's document tree says which scalars are secrets and where they
 * are (byte ranges); each such range becomes a placeholder, and then any
 * other occurrence of a secret's value (a comment "acme's key is ...", a
 * YAML anchor's alias elsewhere) goes too. Placeholders are numbered by
 * first appearance, so the same file always redacts the same way and a
 * proposed text can be mapped back to the current file's secrets.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "admin_config.h"

/* A config has a few allowlisted tokens; past this many secrets the
 * rest are still redacted by range, only not numbered apart. */
#define MAX_SECRETS 256
/* Nesting walked; the loader refuses configs deeper than 64 levels. */
#define MAX_DEPTH 64
/* Shorter values are not chased through the rest of the text ("yes",
 * "on" would take words out of comments); their own range still goes. */
#define MIN_CHASED 4

typedef struct secret {
    size_t start, end; /* raw text range of its first node (quotes included) */
    char *value;       /* the scalar's value */
    size_t value_len;
} secret;

typedef struct range {
    size_t start, end;
    int index; /* 1-based secret number */
} range;

typedef struct scan {
    yaml_document_t *doc;
    secret secrets[MAX_SECRETS];
    int n_secrets;
    range *ranges;
    size_t n_ranges, cap_ranges;
    bool oom;
} scan;

static bool secret_name(const char *key, size_t len) {
    static const char *const words[] = {"password", "passwd", "secret", "api_key", "apikey",
                                        "credential", "private_key"};
    char low[64];
    if (len >= sizeof low) len = sizeof low - 1;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
    low[len] = 0;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(low, words[i])) return true;
    /* A webhook's URL is its credential (Slack's are), its headers carry
     * others (alerts.webhooks, docs/alerts.md). */
    if (strcmp(low, "url") == 0 || strcmp(low, "headers") == 0) return true;
    /* "partner_token", "auth_token"; but not "token" (a client-table size)
     * nor "token_file" (a path: the token itself is not in the config). */
    return len > 6 && strcmp(low + len - 6, "_token") == 0;
}

static void add_secret(scan *s, yaml_node_t *n) {
    const char *v = (const char *)n->data.scalar.value;
    size_t vlen = n->data.scalar.length;
    int index = 0;
    for (int i = 0; i < s->n_secrets; i++)
        if (s->secrets[i].value_len == vlen && memcmp(s->secrets[i].value, v, vlen) == 0)
            index = i + 1;
    if (!index && s->n_secrets < MAX_SECRETS) {
        secret *sec = &s->secrets[s->n_secrets];
        sec->value = malloc(vlen + 1);
        if (!sec->value) {
            s->oom = true;
            return;
        }
        memcpy(sec->value, v, vlen);
        sec->value[vlen] = 0;
        sec->value_len = vlen;
        sec->start = n->start_mark.index;
        sec->end = n->end_mark.index;
        index = ++s->n_secrets;
    }
    if (s->n_ranges == s->cap_ranges) {
        size_t cap = s->cap_ranges ? s->cap_ranges * 2 : 16;
        range *r = realloc(s->ranges, cap * sizeof *r);
        if (!r) {
            s->oom = true;
            return;
        }
        s->ranges = r;
        s->cap_ranges = cap;
    }
    /* index 0: past MAX_SECRETS; redacted, numbered as the last one */
    s->ranges[s->n_ranges++] = (range){n->start_mark.index, n->end_mark.index,
                                       index ? index : s->n_secrets};
}

/* Every scalar under n is a secret. */
static void collect(scan *s, yaml_node_t *n, int depth) {
    if (!n || depth > MAX_DEPTH) return;
    if (n->type == YAML_SCALAR_NODE) {
        add_secret(s, n);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            collect(s, yaml_document_get_node(s->doc, *it), depth + 1);
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
            collect(s, yaml_document_get_node(s->doc, p->value), depth + 1);
    }
}

static bool key_is(yaml_node_t *k, const char *name) {
    return k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(name) &&
           memcmp(k->data.scalar.value, name, k->data.scalar.length) == 0;
}

/* in_allow: n is the value of the top-level "allow". */
static void walk(scan *s, yaml_node_t *n, int depth, bool root, bool in_allow) {
    if (!n || depth > MAX_DEPTH) return;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            walk(s, yaml_document_get_node(s->doc, *it), depth + 1, false, false);
        return;
    }
    if (n->type != YAML_MAPPING_NODE) return;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(s->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(s->doc, p->value);
        if ((in_allow && key_is(k, "tokens")) ||
            (k && k->type == YAML_SCALAR_NODE &&
             secret_name((const char *)k->data.scalar.value, k->data.scalar.length)))
            collect(s, v, depth + 1);
        else
            walk(s, v, depth + 1, false, root && key_is(k, "allow"));
    }
}

static int by_start(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void scan_free(scan *s) {
    for (int i = 0; i < s->n_secrets; i++) free(s->secrets[i].value);
    free(s->ranges);
}

/* Fill s from the text; false when it does not parse. */
static bool scan_text(scan *s, const char *yaml, size_t len) {
    memset(s, 0, sizeof *s);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return false;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    bool ok = yaml_parser_load(&parser, &doc);
    yaml_parser_delete(&parser);
    if (!ok) return false;
    s->doc = &doc;
    walk(s, yaml_document_get_root_node(&doc), 0, true, false);
    yaml_document_delete(&doc);
    s->doc = NULL;
    if (s->oom) {
        scan_free(s);
        return false;
    }
    if (s->n_ranges) qsort(s->ranges, s->n_ranges, sizeof *s->ranges, by_start); /* NULL when none */
    return true;
}

/* A growing output buffer. */
typedef struct out {
    char *buf;
    size_t len, cap;
    bool oom;
} out;

static void put(out *o, const char *p, size_t n) {
    if (o->oom) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->oom = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = 0;
}

static void put_placeholder(out *o, int index) {
    char ph[48];
    int n = snprintf(ph, sizeof ph, RP_REDACTED_PREFIX "%d", index);
    put(o, ph, (size_t)n);
}

/* Copy text, replacing any chased secret value by its placeholder. */
static void put_chased(out *o, const scan *s, const char *p, size_t n) {
    size_t i = 0, from = 0;
    while (i < n) {
        int hit = 0;
        size_t hit_len = 0;
        for (int k = 0; k < s->n_secrets; k++) {
            size_t vl = s->secrets[k].value_len;
            if (vl >= MIN_CHASED && vl <= n - i && vl > hit_len &&
                memcmp(p + i, s->secrets[k].value, vl) == 0) {
                hit = k + 1;
                hit_len = vl;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        put(o, p + from, i - from);
        put_placeholder(o, hit);
        i += hit_len;
        from = i;
    }
    put(o, p + from, n - from);
}

rp_status rp_config_redact(const char *yaml, size_t len, char **result, size_t *result_len) {
    *result = NULL;
    *result_len = 0;
    scan s;
    out o = {0};
    if (!scan_text(&s, yaml, len)) {
        static const char note[] =
            "# the configuration file does not parse: it is shown only with the token\n";
        put(&o, note, sizeof note - 1);
    } else {
        size_t at = 0;
        for (size_t i = 0; i < s.n_ranges; i++) {
            const range *r = &s.ranges[i];
            if (r->start < at || r->end > len) continue; /* an alias's node, done */
            put_chased(&o, &s, yaml + at, r->start - at);
            put_placeholder(&o, r->index);
            at = r->end;
        }
        put_chased(&o, &s, yaml + at, len - at);
        if (!o.buf) put(&o, "", 0);
        scan_free(&s);
    }
    if (o.oom) {
        free(o.buf);
        return RP_ENOMEM;
    }
    *result = o.buf;
    *result_len = o.len;
    return RP_OK;
}

rp_status rp_config_unredact(const char *current, size_t current_len, const char *proposed,
                             size_t proposed_len, char **result, size_t *result_len,
                             rp_error *err) {
    *result = NULL;
    *result_len = 0;
    static const size_t plen = sizeof RP_REDACTED_PREFIX - 1;
    scan s;
    bool parsed = scan_text(&s, current ? current : "", current ? current_len : 0);
    out o = {0};
    size_t at = 0;
    rp_status st = RP_OK;
    for (size_t i = 0; i + plen <= proposed_len; i++) {
        if (memcmp(proposed + i, RP_REDACTED_PREFIX, plen) != 0) continue;
        size_t j = i + plen;
        long n = 0;
        while (j < proposed_len && proposed[j] >= '0' && proposed[j] <= '9' && n < 100000)
            n = n * 10 + (proposed[j++] - '0');
        if (j == i + plen) continue;
        if (!parsed || n < 1 || n > s.n_secrets) {
            st = rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                              "%.*s stands for no secret of the current configuration: write "
                              "the value itself",
                              (int)(j - i), proposed + i);
            break;
        }
        const secret *sec = &s.secrets[n - 1];
        put(&o, proposed + at, i - at);
        put(&o, current + sec->start, sec->end - sec->start); /* as written, quotes and all */
        at = i = j;
        i--;
    }
    if (parsed) scan_free(&s);
    if (st != RP_OK) {
        free(o.buf);
        return st;
    }
    put(&o, proposed + at, proposed_len - at);
    if (o.oom) {
        free(o.buf);
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    }
    *result = o.buf;
    *result_len = o.len;
    return RP_OK;
}

static rp_status write_fail(rp_error *err, const char *path, const char *tmp, int fd,
                            const char *what) {
    int e = errno;
    if (fd >= 0) close(fd);
    if (tmp) unlink(tmp);
    return rp_error_set(err, RP_EIO, path, 0, 0, "cannot %s: %s", what, strerror(e));
}

rp_status rp_config_file_write(const char *path, const char *data, size_t len, rp_error *err) {
    /* The file we replace is the link's target, wherever the links lead. */
    char target[PATH_MAX];
    struct stat st;
    bool exists = realpath(path, target) != NULL;
    if (!exists) {
        if (errno != ENOENT) return write_fail(err, path, NULL, -1, "resolve the path");
        /* a dangling link would be replaced by a regular file: refuse */
        if (lstat(path, &st) == 0) {
            errno = ENOENT;
            return write_fail(err, path, NULL, -1, "follow the symbolic link");
        }
        if (strlen(path) >= sizeof target) return rp_error_set(err, RP_EINVAL, path, 0, 0, "path too long");
        snprintf(target, sizeof target, "%s", path);
    } else if (stat(target, &st) != 0) {
        return write_fail(err, target, NULL, -1, "stat");
    } else if (!S_ISREG(st.st_mode)) {
        return rp_error_set(err, RP_EINVAL, target, 0, 0, "not a regular file");
    }
    char dir[PATH_MAX], base[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", target);
    snprintf(base, sizeof base, "%s", target);
    char tmp[PATH_MAX + 32];
    if (snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dirname(dir), basename(base)) >= (int)sizeof tmp)
        return rp_error_set(err, RP_EINVAL, target, 0, 0, "path too long");
    int fd = mkstemp(tmp); /* 0600 until the mode is copied */
    if (fd < 0) return write_fail(err, target, NULL, -1, "create a temporary file beside it");
    if (exists) {
        /* The owner first: fchown may clear set-id bits that fchmod then restores. */
        if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
            fchown(fd, st.st_uid, st.st_gid) != 0)
            return write_fail(err, target, tmp, fd, "keep the file's owner");
        if (fchmod(fd, st.st_mode & 07777) != 0)
            return write_fail(err, target, tmp, fd, "keep the file's mode");
    } else {
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(fd, 0666 & ~mask) != 0) return write_fail(err, target, tmp, fd, "set the mode");
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return write_fail(err, target, tmp, fd, "write");
        done += (size_t)n;
    }
    if (fsync(fd) != 0) return write_fail(err, target, tmp, fd, "sync");
    if (close(fd) != 0) return write_fail(err, target, tmp, -1, "close");
    if (rename(tmp, target) != 0) return write_fail(err, target, tmp, -1, "replace");
    /* The rename itself survives a crash once the directory is synced. */
    snprintf(dir, sizeof dir, "%s", target);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return RP_OK;
}
