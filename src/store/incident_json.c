/*
 * incident_json.c -- an incident as JSON (the schema of docs/analyze.md)
 * and the timestamp format used everywhere a person or a program reads
 * times: ISO 8601 UTC with milliseconds.
 *
 * It lives beside the store because the store keeps each incident's JSON
 * text verbatim, and `rampart analyze`, the daemon's admin API and the
 * database must all speak the same schema; one producer keeps them equal.
 * jansson builds the document so escaping is never hand-rolled; strings
 * that come from logs are hostile and may not be UTF-8, so they pass
 * through json_text() first.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

void rp_format_time(int64_t ts_us, char *buf, size_t size) {
    time_t secs = (time_t)(ts_us / 1000000);
    int ms = (int)((ts_us % 1000000) / 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(buf, size, "-");
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static json_t *json_number_or_null(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *threats_json(uint32_t threats) {
    json_t *a = json_array();
    for (unsigned b = 0; b < RP_THREAT_COUNT; b++)
        if (threats & (1u << b)) json_array_append_new(a, json_string(rp_threat_name(b)));
    return a;
}

/* jansson rejects invalid UTF-8; log data is hostile, so replace bad
 * bytes with '?' before handing strings over. */
static json_t *json_text(const char *s) {
    json_t *j = json_string(s);
    if (j) return j;
    char buf[512];
    size_t n = 0;
    for (; s[n] && n < sizeof buf - 1; n++) buf[n] = (unsigned char)s[n] < 0x80 ? s[n] : '?';
    buf[n] = 0;
    return json_string(buf);
}

char *rp_incident_to_json(const rp_incident *inc) { return rp_incident_to_json_fleet(inc, NULL); }

/* A name or null: names come from the daemon's host table, already
 * checked, but json_text() keeps a bad one from dropping the field. */
static json_t *json_name(const char *name) { return name ? json_text(name) : json_null(); }

char *rp_incident_to_json_fleet(const rp_incident *inc, const rp_incident_fleet *fleet) {
    char key[128], t[40];
    rp_key_format(&inc->key, key, sizeof key);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)inc->id));
    json_object_set_new(o, "key", json_string(key));
    json_object_set_new(o, "level", json_string(rp_level_name((rp_key_level)inc->key.level)));
    json_object_set_new(o, "action", json_string(rp_action_name(inc->action)));
    json_object_set_new(o, "score", json_real(round(inc->score * 10) / 10));
    json_object_set_new(o, "threats", threats_json(inc->threats));
    json_object_set_new(o, "offense", json_integer(inc->offense));
    rp_format_time(inc->first_seen_us, t, sizeof t);
    json_object_set_new(o, "first_seen", json_string(t));
    rp_format_time(inc->last_seen_us, t, sizeof t);
    json_object_set_new(o, "last_seen", json_string(t));
    rp_format_time(inc->decided_us, t, sizeof t);
    json_object_set_new(o, "decided_at", json_string(t));
    if (inc->expires_us) {
        rp_format_time(inc->expires_us, t, sizeof t);
        json_object_set_new(o, "expires", json_string(t));
    } else {
        json_object_set_new(o, "expires", json_null());
    }
    json_object_set_new(o, "requests", json_integer((json_int_t)inc->requests));
    json_object_set_new(o, "profile", json_text(inc->profile));
    json_object_set_new(o, "route", json_text(inc->route));
    json_object_set_new(o, "user_agent", json_text(inc->user_agent));
    json_t *findings = json_array();
    for (unsigned i = 0; i < inc->n_findings; i++) {
        const rp_finding *f = &inc->findings[i];
        json_t *fj = json_object();
        json_object_set_new(fj, "detector", json_string(f->detector));
        json_object_set_new(fj, "score", json_real(round(f->score * 1000) / 1000));
        json_object_set_new(fj, "weight", json_real(f->weight));
        json_object_set_new(fj, "points", json_real(round(f->score * f->weight * 10) / 10));
        json_object_set_new(fj, "threats", threats_json(f->threats));
        json_object_set_new(fj, "summary", json_text(f->summary));
        json_t *feats = json_array();
        for (unsigned k = 0; k < f->n_features; k++) {
            const rp_feature *ft = &f->features[k];
            json_t *x = json_object();
            json_object_set_new(x, "name", json_string(ft->name ? ft->name : "?"));
            json_object_set_new(x, "value", json_number_or_null(ft->value));
            json_object_set_new(x, "threshold", json_number_or_null(ft->threshold));
            json_object_set_new(x, "normal", json_number_or_null(ft->normal));
            json_object_set_new(x, "crossed", json_boolean(ft->crossed));
            json_array_append_new(feats, x);
        }
        json_object_set_new(fj, "features", feats);
        json_array_append_new(findings, fj);
    }
    json_object_set_new(o, "findings", findings);
    json_t *samples = json_array();
    for (unsigned i = 0; i < inc->n_samples; i++) {
        const rp_sample *s = &inc->samples[i];
        json_t *x = json_object();
        rp_format_time(s->ts_us, t, sizeof t);
        json_object_set_new(x, "time", json_string(t));
        json_object_set_new(x, "method", json_string(rp_method_name((rp_method)s->method)));
        json_object_set_new(x, "path", json_text(s->path));
        json_object_set_new(x, "status", json_integer(s->status));
        if (fleet) json_object_set_new(x, "host", json_name(fleet->sample_host[i]));
        json_array_append_new(samples, x);
    }
    json_object_set_new(o, "samples", samples);
    if (fleet) {
        json_object_set_new(o, "node", json_name(fleet->node));
        json_object_set_new(o, "node_incident_id", json_integer((json_int_t)inc->id));
        json_t *hosts = json_array();
        for (unsigned i = 0; i < fleet->n_hosts && i < RP_FLEET_MAX_HOSTS; i++)
            if (fleet->hosts[i]) json_array_append_new(hosts, json_text(fleet->hosts[i]));
        json_object_set_new(o, "hosts", hosts);
        json_object_set_new(o, "hosts_more", json_boolean(fleet->more_hosts));
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}
