/*
 * openapi.c -- import the routes of an OpenAPI 3 document as declared
 * routes of the inventory.
 *
 * JSON is (nearly) a subset of YAML, so libyaml reads both forms and we
 * have one reader and one set of error locations. We take only what the
 * inventory needs: the path prefix of servers[0].url ("https://host/v1"
 * -> "/v1"), and every operation (get, put, post, delete, options, head,
 * patch, trace) under `paths`. Path parameters are written "{id}" whatever
 * their name, so declared templates compare equal to learned ones. The
 * class is guessed from the template unless the operation says
 * `x-rampart-class: auth` (or any class name).
 *
 * The caller reads the file (the engine does no I/O) and passes its text.
 */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "config.h"

typedef const yaml_node_t ynode;

static ynode *node_get(yaml_document_t *doc, yaml_node_item_t i) {
    return yaml_document_get_node(doc, i);
}

static bool scalar_is(ynode *n, const char *s) {
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static ynode *map_get(yaml_document_t *doc, ynode *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++)
        if (scalar_is(node_get(doc, p->key), key)) return node_get(doc, p->value);
    return NULL;
}

static rp_status fail(rp_error *err, const char *name, ynode *n, rp_status code, const char *msg,
                      const char *detail) {
    int line = n ? (int)n->start_mark.line + 1 : 1;
    int col = n ? (int)n->start_mark.column + 1 : 1;
    return rp_error_set(err, code, name, line, col, "%s%s", msg, detail ? detail : "");
}

/* The path part of servers[0].url, without a trailing '/': "" when none. */
static void server_prefix(yaml_document_t *doc, ynode *root, char *out, size_t size) {
    out[0] = 0;
    ynode *servers = map_get(doc, root, "servers");
    if (!servers || servers->type != YAML_SEQUENCE_NODE ||
        servers->data.sequence.items.start == servers->data.sequence.items.top)
        return;
    ynode *url = map_get(doc, node_get(doc, *servers->data.sequence.items.start), "url");
    if (!url || url->type != YAML_SCALAR_NODE) return;
    const char *s = (const char *)url->data.scalar.value;
    size_t len = url->data.scalar.length;
    const char *scheme = strstr(s, "://");
    if (scheme) { /* skip "scheme://host[:port]" */
        const char *path = memchr(scheme + 3, '/', len - (size_t)(scheme + 3 - s));
        if (!path) return;
        len -= (size_t)(path - s);
        s = path;
    }
    if (len == 0 || s[0] != '/') return;
    while (len > 0 && s[len - 1] == '/') len--;
    if (len >= size) return;
    memcpy(out, s, len);
    out[len] = 0;
}

static const char *const operations[] = {"get",     "put",  "post",  "delete",
                                         "options", "head", "patch", "trace"};

static rp_status add_operations(rp_config *config, yaml_document_t *doc, ynode *item,
                                const char *template_, size_t tlen, const char *name,
                                ynode *where, rp_error *err) {
    if (!item || item->type != YAML_MAPPING_NODE)
        return fail(err, name, item ? item : where, RP_EINVAL,
                    "a path item must be a mapping of operations", NULL);
    for (size_t i = 0; i < sizeof operations / sizeof operations[0]; i++) {
        ynode *op = map_get(doc, item, operations[i]);
        if (!op) continue;
        char upper[8];
        size_t ml = strlen(operations[i]);
        for (size_t k = 0; k < ml; k++) upper[k] = (char)(operations[i][k] - 'a' + 'A');
        rp_method method = rp_method_parse(upper, ml);
        int cls = -1;
        ynode *ext = map_get(doc, op, "x-rampart-class");
        if (ext) {
            rp_route_class c;
            if (ext->type != YAML_SCALAR_NODE ||
                rp_route_class_parse((const char *)ext->data.scalar.value, ext->data.scalar.length,
                                     &c) != RP_OK)
                return fail(err, name, ext, RP_EINVAL,
                            "x-rampart-class must be one of other, auth, object, listing, "
                            "search, static, health",
                            NULL);
            cls = (int)c;
        }
        /* Parameter names do not change the guess: "{petId}" is a parameter. */
        if (cls < 0) cls = (int)rp_route_guess_class(method, template_);
        rp_status st = rp_config_declare(config, (uint8_t)method, template_, tlen, cls);
        if (st == RP_ENOMEM)
            return fail(err, name, where, RP_ENOMEM, "too many declared routes", NULL);
        if (st != RP_OK)
            return fail(err, name, where, RP_EINVAL,
                        "path is not a template we can use (it must start with '/', have no "
                        "spaces or '*', and fit in 255 characters)",
                        NULL);
    }
    return RP_OK;
}

static rp_status import(rp_config *config, yaml_document_t *doc, const char *name, rp_error *err) {
    ynode *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return fail(err, name, root, RP_EPARSE, "not an OpenAPI 3 document: expected a mapping",
                    NULL);
    ynode *version = map_get(doc, root, "openapi");
    if (!version)
        return fail(err, name, root, RP_EPARSE,
                    "not an OpenAPI 3 document: no 'openapi: 3.x' key", NULL);
    if (version->type != YAML_SCALAR_NODE || version->data.scalar.length < 2 ||
        memcmp(version->data.scalar.value, "3.", 2) != 0)
        return fail(err, name, version, RP_EPARSE,
                    "unsupported OpenAPI version: need 3.x (convert Swagger 2.0 documents first)",
                    NULL);
    ynode *paths = map_get(doc, root, "paths");
    if (!paths || paths->type != YAML_MAPPING_NODE)
        return fail(err, name, paths ? paths : root, RP_EPARSE,
                    "not an OpenAPI 3 document: no 'paths' mapping", NULL);
    char prefix[RP_ROUTE_TEMPLATE_MAX];
    server_prefix(doc, root, prefix, sizeof prefix);
    size_t plen = strlen(prefix);
    for (yaml_node_pair_t *p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top;
         p++) {
        ynode *key = node_get(doc, p->key);
        if (!key || key->type != YAML_SCALAR_NODE || key->data.scalar.length == 0 ||
            key->data.scalar.value[0] != '/')
            return fail(err, name, key, RP_EINVAL, "a path must start with '/'", NULL);
        if (key->data.scalar.length + plen >= RP_ROUTE_TEMPLATE_MAX)
            return fail(err, name, key, RP_EINVAL, "path too long for a route template", NULL);
        char template_[RP_ROUTE_TEMPLATE_MAX];
        memcpy(template_, prefix, plen);
        memcpy(template_ + plen, key->data.scalar.value, key->data.scalar.length);
        size_t tlen = plen + key->data.scalar.length;
        template_[tlen] = 0;
        rp_status st = add_operations(config, doc, node_get(doc, p->value), template_, tlen, name,
                                      key, err);
        if (st != RP_OK) return st;
    }
    return RP_OK;
}

/* OpenAPI schemas nest deeper than a configuration, but not by hundreds. */
#define OPENAPI_MAX_DEPTH 256

rp_status rp_config_add_openapi(rp_config *config, const char *text, size_t len, const char *name,
                                rp_error *err) {
    int line = 0, col = 0;
    if (!rp_yaml_depth_ok(text ? text : "", text ? len : 0, OPENAPI_MAX_DEPTH, &line, &col))
        return rp_error_set(err, RP_EPARSE, name, line, col,
                            "nesting deeper than %d levels; refused before loading",
                            OPENAPI_MAX_DEPTH);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return rp_error_set(err, RP_ENOMEM, name, 0, 0, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        const yaml_mark_t *m = &parser.problem_mark;
        rp_status st = rp_error_set(err, RP_EPARSE, name, (int)m->line + 1, (int)m->column + 1,
                                    "syntax error: %s%s%s", parser.problem ? parser.problem : "error",
                                    parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    /* A failure half-way drops what this document added, so the config is
     * left as it was. */
    int before = config->n_declared;
    rp_status st = import(config, &doc, name, err);
    if (st != RP_OK) config->n_declared = before;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}
