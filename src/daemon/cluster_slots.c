/*
 * cluster_slots.c -- Redis Cluster's slot map as the fleet reads it
 * (docs/cluster.md#redis-cluster): the parsing of a CLUSTER SLOTS reply
 * into the master serving one slot and the nodes worth asking next time.
 * Apart from cluster.c (which asks, cluster_master) so that the unit
 * tests can feed it hostile replies without the daemon. The key slot
 * itself is rp_redis_keyslot (config.c: check-config needs it too).
 *
 * A reply comes from a node we connected to, not from an attacker on
 * the request path, but it is still not trusted: every element's type
 * and range is checked, a malformed range or node is skipped and
 * counted, and what is kept is bounded (RP_CLUSTER_MAX_NODES).
 */
#include <stdio.h>
#include <string.h>

#include "cluster_int.h"

/* One node of a CLUSTER SLOTS range: [host, port, id, ...]. A host of ""
 * is the node we asked (the specification: the endpoint is unknown to
 * it, use the one the client used); "?" is unknown: unusable. */
static bool slot_node(const redisReply *n, const char *asked, char *out, size_t size) {
    if (!n || n->type != REDIS_REPLY_ARRAY || n->elements < 2) return false;
    const redisReply *h = n->element[0], *p = n->element[1];
    if (!h || !p || h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_INTEGER) return false;
    if (p->integer < 1 || p->integer > 65535 || h->len > 253) return false;
    char host[256];
    if (h->len == 0) { /* the asked node's host: all but ":port" */
        const char *colon = strrchr(asked, ':');
        size_t hl = colon ? (size_t)(colon - asked) : 0;
        if (!hl || hl >= sizeof host) return false;
        memcpy(host, asked, hl);
        host[hl] = 0;
        int w = snprintf(out, size, "%s:%lld", host, p->integer);
        return w > 0 && (size_t)w < size;
    }
    for (size_t i = 0; i < h->len; i++)
        if ((unsigned char)h->str[i] <= ' ' || (unsigned char)h->str[i] >= 127 ||
            h->str[i] == '[' || h->str[i] == ']' || h->str[i] == '/')
            return false;
    if (h->len == 1 && h->str[0] == '?') return false;
    memcpy(host, h->str, h->len);
    host[h->len] = 0;
    int w = snprintf(out, size, strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, p->integer);
    return w > 0 && (size_t)w < size;
}

static void remember_node(rp_slot_map *m, const char *addr) {
    for (unsigned i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i], addr) == 0) return;
    if (m->n_nodes < RP_CLUSTER_MAX_NODES) snprintf(m->nodes[m->n_nodes++], RP_CLUSTER_ADDR, "%s", addr);
}

bool rp_cluster_parse_slots(const redisReply *r, unsigned slot, const char *asked,
                            rp_slot_map *out, char *why, size_t size) {
    memset(out, 0, sizeof *out);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(why, size, "CLUSTER SLOTS: %s",
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
        return false;
    }
    char addr[RP_CLUSTER_ADDR];
    /* masters first, so that the next map is asked of them first */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
                e->element[0]->type != REDIS_REPLY_INTEGER ||
                e->element[1]->type != REDIS_REPLY_INTEGER || e->element[0]->integer < 0 ||
                e->element[1]->integer >= RP_REDIS_SLOTS ||
                e->element[0]->integer > e->element[1]->integer) {
                if (pass == 0) out->skipped++;
                continue;
            }
            for (size_t k = pass == 0 ? 2 : 3; k < (pass == 0 ? 3 : e->elements); k++) {
                if (!slot_node(e->element[k], asked, addr, sizeof addr)) {
                    out->skipped++;
                    continue;
                }
                remember_node(out, addr);
                if (k == 2 && slot >= e->element[0]->integer && slot <= e->element[1]->integer &&
                    !out->owner[0])
                    snprintf(out->owner, sizeof out->owner, "%s", addr);
            }
        }
    if (!out->owner[0]) {
        snprintf(why, size, "no usable master serves slot %u in the slot map of %s (%zu ranges%s)",
                 slot, asked, r->elements, out->skipped ? ", some malformed" : "");
        return false;
    }
    return true;
}
