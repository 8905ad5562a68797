/*
 * util.c -- errors and the names of enums (status, method, level, action,
 * threat, route class): the vocabulary every part prints and parses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rampart.h"

rp_status rp_error_set(rp_error *err, rp_status code, const char *file, int line, int col,
                       const char *fmt, ...) {
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    err->col = col;
    return code;
}

void rp_error_format(const rp_error *err, char *buf, size_t size) {
    if (!size) return;
    if (err->file[0] && err->line > 0)
        snprintf(buf, size, "%s:%d:%d: %s", err->file, err->line, err->col > 0 ? err->col : 1,
                 err->message);
    else if (err->file[0])
        snprintf(buf, size, "%s: %s", err->file, err->message);
    else
        snprintf(buf, size, "%s", err->message);
}

const char *rp_status_name(rp_status status) {
    switch (status) {
    case RP_OK: return "ok";
    case RP_ENOENT: return "not found";
    case RP_EIO: return "i/o error";
    case RP_ENOMEM: return "out of memory";
    case RP_EINVAL: return "invalid argument";
    case RP_ERANGE: return "out of range";
    case RP_EPARSE: return "malformed input";
    default: return "error";
    }
}

static const char *const method_names[RP_METHOD_COUNT] = {
    "OTHER", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
};

rp_method rp_method_parse(const char *text, size_t len) {
    for (int m = 1; m < RP_METHOD_COUNT; m++)
        if (strlen(method_names[m]) == len && memcmp(method_names[m], text, len) == 0)
            return (rp_method)m;
    return RP_METHOD_OTHER;
}

const char *rp_method_name(rp_method method) {
    return (unsigned)method < RP_METHOD_COUNT ? method_names[method] : "OTHER";
}

static const char *const level_names[RP_LEVEL_COUNT] = {
    "ip", "subnet", "fingerprint", "token", "session", "username",
};

const char *rp_level_name(rp_key_level level) {
    return (unsigned)level < RP_LEVEL_COUNT ? level_names[level] : "unknown";
}

static const char *const action_names[] = {"none", "monitor", "throttle", "block", "allow"};

const char *rp_action_name(rp_action action) {
    return (unsigned)action <= RP_ACTION_ALLOW ? action_names[action] : "unknown";
}

rp_status rp_action_parse(const char *text, size_t len, rp_action *out) {
    for (unsigned a = 0; a <= RP_ACTION_ALLOW; a++)
        if (strlen(action_names[a]) == len && memcmp(action_names[a], text, len) == 0) {
            *out = (rp_action)a;
            return RP_OK;
        }
    return RP_EINVAL;
}

static const char *const threat_names[RP_THREAT_COUNT] = {
    "credential_stuffing", "account_takeover", "flood",       "scanner",    "scraper",
    "enumeration",         "undeclared_probe", "consumption", "automation",
    "leaked_credential",
};

const char *rp_threat_name(unsigned bit_index) {
    return bit_index < RP_THREAT_COUNT ? threat_names[bit_index] : "unknown";
}

static const char *const class_names[RP_ROUTE_CLASS_COUNT] = {
    "other", "auth", "object", "listing", "search", "static", "health",
};

const char *rp_route_class_name(rp_route_class cls) {
    return (unsigned)cls < RP_ROUTE_CLASS_COUNT ? class_names[cls] : "other";
}

