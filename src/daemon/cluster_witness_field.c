/*
 * cluster_witness_field.c -- one field of the fleet's witness hash
 * (<stream>:witness, cluster_witness.c), both ways: the writer's format
 * and the reader's parse, side by side so that they cannot drift, and
 * apart from the thread that does the Redis I/O so that the unit tests
 * can feed the parse hostile values without a daemon (as cluster_slots.c
 * for CLUSTER SLOTS).
 *
 *   field  "<key> <detector>"      rp_key_format's text, a space, [a-z_]+
 *   value  "<charge> <expires_ms>" 0..1 to four places, the wall clock
 *
 * The hash is written by other nodes and readable by anything with the
 * fleet's Redis password, so a value is taken only whole and in range:
 * a charge outside 0..1 (NaN and infinities included), an expiry that is
 * not all digits, a name outside [a-z_] or a key that does not parse are
 * refused, never half-read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"

void rp_witness_format(const rp_witness_field *w, char *field, size_t field_size, char *value,
                       size_t value_size) {
    char key[96];
    rp_key_format(&w->key, key, sizeof key);
    snprintf(field, field_size, "%s %s", key, w->detector);
    snprintf(value, value_size, "%.4f %lld", w->charge, (long long)w->expires_ms);
}

bool rp_witness_parse(const char *field, size_t field_len, const char *value, size_t value_len,
                      rp_witness_field *out) {
    const char *sp = memchr(field, ' ', field_len);
    if (!sp) return false;
    size_t klen = (size_t)(sp - field), dlen = field_len - klen - 1;
    if (!dlen || dlen >= sizeof out->detector) return false;
    for (size_t i = 0; i < dlen; i++)
        if (!((sp[1 + i] >= 'a' && sp[1 + i] <= 'z') || sp[1 + i] == '_')) return false;
    if (rp_key_parse(field, klen, &out->key) != RP_OK) return false;
    memcpy(out->detector, sp + 1, dlen);
    out->detector[dlen] = 0;
    char text[64];
    if (value_len >= sizeof text) return false;
    memcpy(text, value, value_len);
    text[value_len] = 0;
    char *end;
    out->charge = strtod(text, &end);
    if (end == text || *end != ' ' || !(out->charge >= 0 && out->charge <= 1)) return false;
    const char *digits = end + 1;
    if (*digits < '0' || *digits > '9') return false;
    long long expires = strtoll(digits, &end, 10);
    if (*end) return false;
    out->expires_ms = expires;
    return true;
}
