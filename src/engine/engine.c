/*
 * engine.c -- events in, incidents and decisions out.
 *
 * For each event the engine
 *   1. advances its clock (time comes only from events),
 *   2. skips allowlisted clients (CIDRs, tokens) after counting them,
 *   3. finds the route in the inventory and computes the observation that
 *      every detector shares (hashes, object id, gap since the key's last
 *      request),
 *   4. for each key level the event has (IP; username on logins; the other
 *      levels when enabled), finds or creates the key's record in that
 *      level's bounded table, lets each detector observe and score, and
 *      combines the scores of the route's profile into 0..100,
 *   5. reacts when the score crosses the profile's thresholds: an incident
 *      with the evidence of every detector that contributed, and a
 *      decision (throttle/block) whose duration grows with repeat offenses,
 *   6. updates the route's counters and learned norms -- after scoring, so
 *      an event is never compared with a norm that already contains it.
 *
 * Open incidents live in a fixed ring so that later requests of a flagged
 * key can be added as samples and counted; rp_engine_flush (or falling out
 * of the ring) emits their final state.
 *
 * Nothing here allocates after rp_engine_new.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "detector.h"
#include "hstree.h"
#include "keys.h"
#include "markov.h"
#include "route.h"
#include "table.h"

/* Open incidents kept for updates; older ones are emitted final. */
#define RP_INCIDENT_RING 1024

typedef struct rp_level_table {
    rp_table *table;
    uint8_t n_detectors;
    uint8_t detector[RP_MAX_DETECTORS]; /* registry indices watching this level */
    uint16_t offset[RP_MAX_DETECTORS];  /* state offset in the slot */
    uint64_t ahead; /* hash of the key rp_engine_prefetch saw last; 0 = none */
} rp_level_table;

struct rp_engine {
    rp_config *config; /* owned copy */
    rp_engine_callbacks cb;
    rp_inventory *inventory;
    rp_level_table levels[RP_LEVEL_COUNT];
    rp_engine_stats stats;
    uint64_t next_incident;
    rp_incident *ring; /* RP_INCIDENT_RING entries, by id % ring */
    bool has_declared;
    rp_markov *markov; /* route transitions, learned by the anomaly detector */
    rp_campaigns *campaigns; /* sequences of cold writes (campaign.h) */
    struct anomaly_model *anomaly; /* the feature-vector model and its plumbing */
    uint64_t route_decisions; /* fingerprint-on-a-route decisions ever made */
};

/* ------------------------------------------------ anomaly feature vectors */

/*
 * The anomaly detector's second model (hstree.h) judges a client by a
 * feature vector assembled from the other detectors' state: there is no
 * room in an IP client record for accumulators of its own, and the
 * detectors already measure rate, gaps, distinct paths, errors, logins,
 * bytes and user agents. Each IP detector with a features() callback
 * contributes its values (registry order), after two of the engine's own:
 * the hour of day on a circle (sin, cos mapped to 0..1; UTC).
 *
 * Cost: the vector is built only when the anomaly detector is on (weight
 * > 0), at the IP level, on every FEATURE_EVERY-th request of a client from
 * FEATURE_MIN on, right before the anomaly detector observes -- i.e. after
 * every other detector has observed the event. The other requests pay one
 * cheap score() call (for the learn flag) and a few stores.
 *
 * The learn flag (no poisoning): a client teaches both models only when it
 * has no decision in force and its combined score -- the other detectors'
 * points on this event plus the anomaly detector's own points from before
 * it -- is below the profile's monitor threshold.
 */
#define FEATURE_EVERY 8u /* requests of a client between two vectors */
#define FEATURE_MIN 16u  /* requests before the first vector */
#define ENGINE_FEATURES 2 /* hour_sin, hour_cos */

typedef struct feature_part {
    uint8_t slot;   /* index in the IP level's detector list */
    uint8_t first;  /* first dimension it writes */
} feature_part;

struct rp_feature_src {
    rp_engine *e;
    rp_client *c;
    const rp_profile_config *profile;
    const rp_observation *obs;
    rp_detect_ctx ctx;
    bool built;
};

typedef struct anomaly_model {
    int detector;                 /* registry index of the anomaly detector */
    rp_hstree *forest;            /* the model in use; replaced whole, never edited */
    /* The training sample: the last `window` learned vectors, a ring. */
    float *sample;
    uint32_t sample_next, sample_n;
    uint32_t fresh;               /* vectors learned since the last training */
    uint64_t learned;             /* vectors learned in all */
    bool deferred;                /* trained by the owner's thread (jobs), not inline */
    uint8_t n_parts, n_features;
    feature_part part[RP_MAX_DETECTORS];
    const char *names[RP_HST_MAX_DIMS];
    uint32_t names_hash;
    float vec[RP_HST_MAX_DIMS];
    struct rp_feature_src src;    /* the current event's, for evidence */
} anomaly_model;

static const char *const engine_feature_names[ENGINE_FEATURES] = {"hour_sin", "hour_cos"};

float rp_feature_log(double v, double cap) {
    if (!(v > 0)) return 0.0f;
    if (v >= cap) return 1.0f;
    return (float)(log2(1.0 + v) / log2(1.0 + cap));
}

static void anomaly_free(anomaly_model *m) {
    if (!m) return;
    rp_hstree_free(m->forest);
    free(m->sample);
    free(m);
}

static rp_status anomaly_new(rp_engine *e, rp_error *err) {
    const rp_level_table *lt = &e->levels[RP_LEVEL_IP];
    int d = rp_detector_find("anomaly", 7);
    if (d < 0 || !lt->table) return RP_OK; /* nothing to feed it */
    anomaly_model *m = calloc(1, sizeof *m);
    if (!m) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    m->detector = d;
    unsigned n = 0;
    for (; n < ENGINE_FEATURES; n++) m->names[n] = engine_feature_names[n];
    for (unsigned i = 0; i < lt->n_detectors; i++) {
        const rp_detector *det = rp_detectors[lt->detector[i]];
        if (!det->features || !det->n_features) continue;
        if (n + det->n_features > RP_HST_MAX_DIMS) {
            anomaly_free(m);
            return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                                "more than %d anomaly features", RP_HST_MAX_DIMS);
        }
        m->part[m->n_parts++] = (feature_part){.slot = (uint8_t)i, .first = (uint8_t)n};
        for (unsigned k = 0; k < det->n_features; k++) m->names[n++] = det->feature_names[k];
    }
    m->n_features = (uint8_t)n;
    uint32_t h = 2166136261u; /* FNV-1a of the names, '\n'-separated */
    for (unsigned q = 0; q < n; q++) {
        for (const char *s = m->names[q]; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
        h = (h ^ '\n') * 16777619u;
    }
    m->names_hash = h;
    rp_hstree_params p;
    rp_hstree_defaults(&p, n, h);
    m->sample = calloc((size_t)p.window * n, sizeof *m->sample);
    if (!m->sample || rp_hstree_new(&p, &m->forest) != RP_OK) {
        anomaly_free(m);
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory for the feature model");
    }
    e->anomaly = m;
    return RP_OK;
}

static const float *build_vector(anomaly_model *m, struct rp_feature_src *src) {
    float *x = m->vec;
    int64_t sec = src->ctx.now_us / 1000000;
    double day = (double)(((sec % 86400) + 86400) % 86400) / 86400.0 * 6.283185307179586;
    x[0] = (float)(0.5 + 0.5 * sin(day));
    x[1] = (float)(0.5 + 0.5 * cos(day));
    const rp_level_table *lt = &src->e->levels[RP_LEVEL_IP];
    rp_detect_ctx ctx = src->ctx;
    for (unsigned k = 0; k < m->n_parts; k++) {
        unsigned i = m->part[k].slot, d = lt->detector[i];
        ctx.params = src->profile->detectors[d].params;
        rp_detectors[d]->features((const unsigned char *)src->c + lt->offset[i], src->obs, &ctx,
                                  x + m->part[k].first);
    }
    src->built = true;
    return x;
}

const float *rp_feature_vector(struct rp_feature_src *src, uint8_t *n, const char *const **names) {
    if (!src || !src->e->anomaly) return NULL;
    anomaly_model *m = src->e->anomaly;
    *n = m->n_features;
    *names = m->names;
    return src->built ? m->vec : build_vector(m, src);
}

/* Inline training (analyze, train, tests): a new model from the sample
 * once a window of new vectors has come, swapped in before the next
 * event -- so no vector is ever judged by a model that contains it. */
static void train_inline(anomaly_model *m) {
    const rp_hstree_params *p = rp_hstree_params_of(m->forest);
    rp_hstree *h;
    if (rp_hstree_train(p, m->sample, m->sample_n, m->learned, &h) != RP_OK) return;
    rp_hstree_free(m->forest);
    m->forest = h;
    m->fresh = 0;
}

static void learn_vector(anomaly_model *m, const float *x) {
    uint32_t window = rp_hstree_params_of(m->forest)->window;
    memcpy(m->sample + (size_t)m->sample_next * m->n_features, x, m->n_features * sizeof *x);
    m->sample_next = (m->sample_next + 1) % window;
    if (m->sample_n < window) m->sample_n++;
    m->fresh++;
    m->learned++;
}

static bool training_due(const anomaly_model *m) {
    uint32_t window = rp_hstree_params_of(m->forest)->window;
    return m->sample_n == window && m->fresh >= window;
}

static void anomaly_prepare(rp_engine *e, rp_client *c, const void *state, rp_observation *obs,
                            const rp_detect_ctx *ctx, const rp_profile_config *profile,
                            double others) {
    anomaly_model *m = e->anomaly;
    if (!m->deferred && training_due(m)) train_inline(m);
    const rp_detector *det = rp_detectors[m->detector];
    bool decided = c->action != RP_ACTION_NONE &&
                   (int64_t)c->decided_until_s * 1000000 > ctx->now_us;
    double own = det->score(state, obs, ctx, NULL) * profile->detectors[m->detector].weight;
    obs->learn = !decided && others + own < profile->monitor_at;
    obs->forest = m->forest;
    m->src = (struct rp_feature_src){
        .e = e, .c = c, .profile = profile, .obs = obs, .ctx = *ctx, .built = false};
    obs->feature_src = &m->src;
    obs->n_features = m->n_features;
    obs->features = NULL;
    if (c->requests >= FEATURE_MIN && c->requests % FEATURE_EVERY == 0) {
        obs->features = build_vector(m, &m->src);
        /* into the sample only: the model in use does not change */
        if (obs->learn) learn_vector(m, obs->features);
    }
}

/* ----------------------------------------------------------- lifecycle */

static rp_status build_levels(rp_engine *e, rp_error *err) {
    for (int l = 0; l < RP_LEVEL_COUNT; l++) {
        rp_level_table *lt = &e->levels[l];
        if (!e->config->level_enabled[l]) continue;
        size_t size = sizeof(rp_client);
        for (unsigned d = 0; d < rp_detector_count; d++) {
            const rp_detector *det = rp_detectors[d];
            if (!(det->levels & RP_LEVEL_BIT(l))) continue;
            size = (size + 7u) & ~(size_t)7u;
            lt->detector[lt->n_detectors] = (uint8_t)d;
            lt->offset[lt->n_detectors] = (uint16_t)size;
            lt->n_detectors++;
            size += det->state_size;
        }
        if (size > RP_CLIENT_MAX_BYTES)
            return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                                "client state at level %s is %zu bytes, over the %d-byte budget",
                                rp_level_name((rp_key_level)l), size, RP_CLIENT_MAX_BYTES);
        uint32_t cap = e->config->capacity[l] ? e->config->capacity[l] : 1024;
        rp_status st = rp_table_new(cap, size, &lt->table);
        if (st != RP_OK)
            return rp_error_set(err, st, NULL, 0, 0, "cannot allocate %u clients for level %s", cap,
                                rp_level_name((rp_key_level)l));
        e->stats.clients_capacity[l] = cap;
    }
    return RP_OK;
}

rp_status rp_engine_new(const rp_config *config, const rp_engine_callbacks *callbacks,
                        rp_engine **out, rp_error *err) {
    *out = NULL;
    rp_engine *e = calloc(1, sizeof *e);
    if (!e) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    rp_config *own = NULL;
    if (config)
        own = rp_config_clone(config);
    else
        own = rp_config_default();
    e->config = own;
    e->ring = calloc(RP_INCIDENT_RING, sizeof *e->ring);
    if (!own || !e->ring) {
        rp_engine_free(e);
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    }
    if (callbacks) e->cb = *callbacks;
    rp_status st = build_levels(e, err);
    if (st == RP_OK) st = rp_inventory_new(e->config, &e->inventory, err);
    if (st == RP_OK && rp_markov_new(e->config->max_routes ? e->config->max_routes : 1,
                                     &e->markov) != RP_OK)
        st = rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory for the route model");
    if (st == RP_OK) st = anomaly_new(e, err);
    if (st == RP_OK && rp_campaigns_new(&e->campaigns) != RP_OK)
        st = rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory for the campaign sketches");
    if (st != RP_OK) {
        rp_engine_free(e);
        return st;
    }
    e->has_declared = e->config->n_declared > 0;
    e->next_incident = 1;
    *out = e;
    return RP_OK;
}

void rp_engine_free(rp_engine *e) {
    if (!e) return;
    for (int l = 0; l < RP_LEVEL_COUNT; l++) rp_table_free(e->levels[l].table);
    rp_inventory_free(e->inventory);
    rp_markov_free(e->markov);
    rp_campaigns_free(e->campaigns);
    anomaly_free(e->anomaly);
    rp_config_free(e->config);
    free(e->ring);
    free(e);
}

rp_status rp_engine_reconfigure(rp_engine *e, const rp_config *config, rp_error *err) {
    /* Table capacities and enabled levels need a restart: the state layout
     * is fixed for the life of the engine. */
    for (int l = 0; l < RP_LEVEL_COUNT; l++)
        if (config->level_enabled[l] != e->config->level_enabled[l] ||
            (config->level_enabled[l] && config->capacity[l] != e->config->capacity[l]))
            return rp_error_set(err, RP_EINVAL, config->source, 0, 0,
                                "changing engine.clients or engine.levels needs a restart");
    rp_config *own = rp_config_clone(config);
    if (!own) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    rp_config_free(e->config);
    e->config = own;
    e->has_declared = own->n_declared > 0;
    rp_inventory_configure(e->inventory, own);
    return RP_OK;
}

/* --------------------------------------------------------- observation */

static bool allowlisted(const rp_engine *e, const rp_event *ev) {
    const rp_config *c = e->config;
    for (int i = 0; i < c->n_allow_cidrs; i++)
        if (rp_cidr_contains(&c->allow_cidrs[i], &ev->client)) return true;
    if (ev->token_id)
        for (int i = 0; i < c->n_allow_tokens; i++)
            if (c->allow_tokens[i] == ev->token_id) return true;
    return false;
}

/* The object id is the last path segment when the route's template ends
 * in a parameter ("/users/{id}"). */
static void observe_id(rp_observation *obs, const rp_event *ev) {
    const char *t = obs->route->template_;
    size_t tl = strlen(t);
    if (tl < 3 || t[tl - 1] != '}') return;
    const char *p = ev->path.ptr;
    size_t n = ev->path.len;
    while (n > 1 && p[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && p[start - 1] != '/') start--;
    if (start >= n) return;
    obs->has_id = true;
    obs->id_hash = rp_hash64(p + start, n - start, 0x1d);
    if (n - start <= 18) {
        int64_t v = 0;
        size_t i = start;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) v = v * 10 + (p[i] - '0');
        if (i == n) {
            obs->id_numeric = true;
            obs->id_value = v;
        }
    }
}

static void observe_event(rp_engine *e, const rp_event *ev, rp_observation *obs) {
    memset(obs, 0, sizeof *obs);
    obs->route = rp_inventory_lookup(e->inventory, (rp_method)ev->method, ev->path.ptr,
                                     ev->path.len);
    obs->site = rp_inventory_site(e->inventory);
    obs->route_class = obs->route->cls;
    obs->declared = obs->route->declared;
    obs->inventory_declared = e->has_declared;
    obs->path_hash = rp_hash64(ev->path.ptr, ev->path.len, 0x9a);
    obs->query_hash = ev->query.len ? rp_hash64(ev->query.ptr, ev->query.len, 0x9b) : 0;
    obs->ua_hash = rp_user_agent_hash(ev->user_agent.ptr, ev->user_agent.len);
    obs->fingerprint = rp_fingerprint_hash(obs->ua_hash, ev->header_hash);
    obs->markov = e->markov;
    observe_id(obs, ev);
}

/* The key of the event at a level; false when the event has none. The
 * derivation is keys.c's (the daemon groups its recent events with it);
 * only the fingerprint is taken from the observation, whose hashes are
 * already computed. */
static bool scope_of(rp_route *r, uint64_t *scope);
static void route_key(rp_key *key, const rp_key *fingerprint, uint64_t scope);

/* Seed of the user-agent-only fingerprint (the UA on an auth route). */
#define AGENT_ON_ROUTE_SEED 0x75616f6eu

static bool event_key(const rp_event *ev, const rp_observation *obs, rp_key_level level,
                      rp_key *key) {
    if (level != RP_LEVEL_FINGERPRINT) return rp_event_key(ev, level, key);
    if (!obs->ua_hash) return false;
    if (ev->flags & RP_EVENT_HEADERS_KNOWN) { /* the nginx module, JSON logs with header_names */
        rp_key_from_id(key, level, obs->fingerprint);
        return true;
    }
    /* A user agent alone is shared by millions of people, so without the
     * header set it groups nothing -- except behaviour scoped to one auth
     * route: login attempts there from many addresses sharing a UA, keyed
     * fingerprint:UA@ROUTE (combined logs). People who share the UA log
     * in, and their successes take the run away; members are charged only
     * when their own history is a sprayer's (auth's involved()). */
    if (obs->route_class != RP_ROUTE_AUTH ||
        (ev->method != RP_METHOD_POST && ev->method != RP_METHOD_PUT))
        return false;
    uint64_t scope;
    if (!scope_of(obs->route, &scope)) return false;
    rp_key agent;
    rp_key_from_id(&agent, level, rp_hash64(&obs->ua_hash, sizeof obs->ua_hash, AGENT_ON_ROUTE_SEED));
    route_key(key, &agent, scope);
    return true;
}

/* ------------------------------------------------------------ incidents */

static void emit_incident(rp_engine *e, const rp_incident *inc) {
    if (e->cb.on_incident) e->cb.on_incident(e->cb.user, inc);
}

static rp_incident *ring_slot(rp_engine *e, uint64_t id) {
    rp_incident *inc = &e->ring[id % RP_INCIDENT_RING];
    return inc->id == id ? inc : NULL;
}

static void add_sample(rp_incident *inc, const rp_event *ev) {
    if (inc->n_samples >= RP_MAX_SAMPLES) return;
    rp_sample *s = &inc->samples[inc->n_samples++];
    s->ts_us = ev->ts_us;
    s->status = ev->status;
    s->method = ev->method;
    s->origin = ev->origin;
    size_t n = ev->path.len < sizeof s->path - 1 ? ev->path.len : sizeof s->path - 1;
    memcpy(s->path, ev->path.ptr, n);
    if (ev->query.len && n + 1 < sizeof s->path - 1) {
        s->path[n++] = '?';
        size_t q = ev->query.len < sizeof s->path - 1 - n ? ev->query.len : sizeof s->path - 1 - n;
        memcpy(s->path + n, ev->query.ptr, q);
        n += q;
    }
    s->path[n] = 0;
}

static void copy_str(char *dst, size_t size, const rp_str *src) {
    size_t n = src->len < size - 1 ? src->len : size - 1;
    if (n) memcpy(dst, src->ptr, n);
    dst[n] = 0;
}

static int finding_cmp(const void *a, const void *b) {
    const rp_finding *x = a, *y = b;
    double cx = x->score * x->weight, cy = y->score * y->weight;
    return cx < cy ? 1 : cx > cy ? -1 : 0;
}

/* ------------------------------------------------------------ scoring */

/* What the aggregate keys of the current event (fingerprint, subnet,
 * target account...) scored, per detector: the IP level may be charged
 * with it (see rp_detector.involved). */
typedef struct aggregate_hit {
    double score;             /* 0 = none */
    rp_client *client;        /* the aggregate key's record; NULL: published (below) */
    const struct rp_level_table *lt;
    unsigned slot;            /* index of the detector in lt */
    rp_key key;               /* a published witness's key (client NULL) */
} aggregate_hit;

typedef struct score_pass {
    const rp_profile_config *profile;
    const rp_level_table *lt;
    uint32_t skip;
    aggregate_hit *agg;       /* per detector; NULL at aggregate levels */
    const rp_event *ev;
} score_pass;

static inline bool detector_on(const score_pass *sp, unsigned d) {
    return sp->profile->detectors[d].enabled && sp->profile->detectors[d].weight > 0 &&
           !(sp->skip & (1u << d));
}

static bool level_has(const rp_level_table *lt, unsigned d) {
    for (unsigned i = 0; i < lt->n_detectors; i++)
        if (lt->detector[i] == d) return true;
    return false;
}

/* A witness detector that does not watch the IP level (sharing) charges
 * the member with its key's score when the request is involved. Returns
 * the score (0 = not charged). */
static double witness_charge(const score_pass *sp, unsigned d, const rp_observation *obs,
                             const rp_detect_ctx *ctx) {
    const aggregate_hit *ag = &sp->agg[d];
    const rp_detector *det = rp_detectors[d];
    if (!(ag->score > 0) || !ag->client || !det->witness_levels || level_has(sp->lt, d) ||
        !detector_on(sp, d))
        return 0;
    rp_detect_ctx own = *ctx;
    own.params = sp->profile->detectors[d].params;
    if (det->involved && !det->involved(NULL, sp->ev, obs, &own)) return 0;
    /* scored for the member: the key's state, the member's level */
    own.level = RP_LEVEL_IP;
    own.charging = true;
    own.first_seen_us = (int64_t)ag->client->first_seen_s * 1000000;
    own.requests = ag->client->requests;
    double s = det->score((const unsigned char *)ag->client + ag->lt->offset[ag->slot], obs, &own,
                          NULL);
    return s > 1 ? 1 : s;
}

static void charge_witnesses(const score_pass *sp, const rp_observation *obs,
                             rp_detect_ctx *ctx, rp_incident *inc) {
    for (unsigned d = 0; d < rp_detector_count; d++) {
        if (!(witness_charge(sp, d, obs, ctx) > 0)) continue;
        const aggregate_hit *ag = &sp->agg[d];
        const rp_detector *det = rp_detectors[d];
        rp_finding f;
        memset(&f, 0, sizeof f);
        rp_detect_ctx actx = *ctx;
        actx.params = sp->profile->detectors[d].params;
        actx.level = RP_LEVEL_IP; /* the member's charge */
        actx.charging = true;
        actx.first_seen_us = (int64_t)ag->client->first_seen_s * 1000000;
        actx.requests = ag->client->requests;
        double s = det->score((const unsigned char *)ag->client + ag->lt->offset[ag->slot], obs,
                              &actx, &f);
        if (!(s > 0)) continue;
        char key[96];
        rp_key agk;
        rp_client_key(ag->client, &agk);
        rp_key_format(&agk, key, sizeof key);
        size_t n = strnlen(f.summary, sizeof f.summary);
        int room = (int)(sizeof f.summary - 1) - (int)n;
        if (room > 8) snprintf(f.summary + n, sizeof f.summary - n, " (via %.*s)", room - 7, key);
        f.detector = det->name;
        f.score = s > 1 ? 1 : s;
        f.weight = sp->profile->detectors[d].weight;
        if (!f.threats) f.threats = det->threats;
        inc->threats |= f.threats;
        if (inc->n_findings < RP_MAX_FINDINGS) inc->findings[inc->n_findings++] = f;
    }
}

/* The member's own part of an aggregate's evidence: its strongest
 * feature against its own threshold ("failed_logins_10m 4"); "" when its
 * own requests show nothing measured. */
static void own_share(const rp_finding *own, char *buf, size_t size) {
    const rp_feature *best = NULL;
    double best_ratio = 0;
    for (unsigned i = 0; i < own->n_features && i < RP_MAX_FEATURES; i++) {
        const rp_feature *ft = &own->features[i];
        if (!(ft->value > 0) || !ft->name) continue;
        double ratio = ft->threshold > 0 ? ft->value / ft->threshold : 0;
        if (!best || ratio > best_ratio) {
            best = ft;
            best_ratio = ratio;
        }
    }
    buf[0] = 0;
    if (best) snprintf(buf, size, "%s %.0f", best->name, best->value);
}

static void fill_findings(rp_engine *e, const score_pass *sp, rp_client *c,
                          const rp_observation *obs, rp_detect_ctx *ctx, rp_incident *inc) {
    (void)e;
    inc->n_findings = 0;
    inc->threats = 0;
    for (unsigned i = 0; i < sp->lt->n_detectors; i++) {
        unsigned d = sp->lt->detector[i];
        if (!detector_on(sp, d)) continue;
        const rp_detector *det = rp_detectors[d];
        ctx->params = sp->profile->detectors[d].params;
        rp_finding f;
        memset(&f, 0, sizeof f);
        double s = det->score((const unsigned char *)c + sp->lt->offset[i], obs, ctx, &f);
        const aggregate_hit *ag = sp->agg ? &sp->agg[d] : NULL;
        if (ag && ag->score > (s > 0 ? s : 0) &&
            (!det->involved ||
             det->involved((const unsigned char *)c + sp->lt->offset[i], sp->ev, obs, ctx))) {
            /* The swarm's evidence, named after its key. */
            rp_finding af;
            memset(&af, 0, sizeof af);
            rp_key agk = ag->key;
            double as = ag->score;
            if (ag->client) {
                rp_detect_ctx actx = *ctx;
                actx.charging = true;
                actx.level = (rp_key_level)ag->client->level;
                actx.first_seen_us = (int64_t)ag->client->first_seen_s * 1000000;
                actx.requests = ag->client->requests;
                as = det->score((const unsigned char *)ag->client + ag->lt->offset[ag->slot], obs,
                                &actx, &af);
                rp_client_key(ag->client, &agk);
            } else { /* published by the engine that counts the key */
                rp_finding_summary(&af, "%s: %.2f, the score of the partition that counts it",
                                   det->name, as);
            }
            if (as > 0) {
                char key[96];
                rp_key_format(&agk, key, sizeof key);
                char share[64];
                own_share(&f, share, sizeof share);
                f = af;
                s = as;
                /* "... (via subnet:203.0.113.0/24; this address: failed_logins_10m 4)",
                 * cut to the summary's size: the witness, then the member's own part */
                size_t n = strnlen(af.summary, sizeof af.summary);
                int room = (int)(sizeof f.summary - 1) - (int)n;
                if (share[0] && room > (int)(strlen(key) + strlen(share) + 10))
                    snprintf(f.summary + n, sizeof f.summary - n, " (via %s; this address: %s)",
                             key, share);
                else if (room > 8)
                    snprintf(f.summary + n, sizeof f.summary - n, " (via %.*s)", room - 7, key);
            }
        }
        if (!(s > 0)) continue;
        f.detector = det->name;
        f.score = s > 1 ? 1 : s;
        f.weight = sp->profile->detectors[d].weight;
        if (!f.threats) f.threats = det->threats;
        if (!f.summary[0]) rp_finding_summary(&f, "%s: score %.2f", det->name, f.score);
        inc->threats |= f.threats;
        if (inc->n_findings < RP_MAX_FINDINGS) inc->findings[inc->n_findings++] = f;
    }
    if (sp->agg) charge_witnesses(sp, obs, ctx, inc);
    qsort(inc->findings, inc->n_findings, sizeof inc->findings[0], finding_cmp);
}

static int64_t decision_duration(const rp_profile_config *p, rp_action action, unsigned offense) {
    int64_t base = action == RP_ACTION_BLOCK ? p->block_us : p->throttle_us;
    double d = (double)base;
    for (unsigned i = 1; i < offense && d < (double)p->max_duration_us; i++) d *= p->escalation;
    if (d > (double)p->max_duration_us) d = (double)p->max_duration_us;
    return (int64_t)d;
}

static rp_action action_for(const rp_profile_config *p, double score) {
    if (score >= p->block_at) return RP_ACTION_BLOCK;
    if (score >= p->throttle_at) return RP_ACTION_THROTTLE;
    if (score >= p->monitor_at) return RP_ACTION_MONITOR;
    return RP_ACTION_NONE;
}

static void react(rp_engine *e, const score_pass *sp, rp_client *c, const rp_event *ev,
                  const rp_observation *obs, rp_detect_ctx *ctx, double score, bool aggregate) {
    const rp_profile_config *p = sp->profile;
    int64_t now = ev->ts_us;
    bool active = c->action != RP_ACTION_NONE && (int64_t)c->decided_until_s * 1000000 > now;
    rp_incident *open = c->incident_id ? ring_slot(e, c->incident_id) : NULL;
    if (open) { /* keep the open incident's picture current */
        if (ev->ts_us > open->last_seen_us) open->last_seen_us = ev->ts_us;
        open->requests = c->requests;
    }
    rp_action want = action_for(p, score);
    /* An aggregate key (a fingerprint, a /24, a target account) is shared
     * with bystanders: it gets an incident that names the swarm, and its
     * members are stopped one by one as they take part (feed_level). */
    if (aggregate && want > RP_ACTION_MONITOR) want = RP_ACTION_MONITOR;
    if (active && (want <= c->action || c->action == RP_ACTION_ALLOW)) {
        if (open && want != RP_ACTION_NONE) add_sample(open, ev);
        return;
    }
    if (want == RP_ACTION_NONE) return;

    /* A new decision, or an escalation of the one in force. */
    unsigned offense = c->offense;
    if (want >= RP_ACTION_THROTTLE && !(active && c->action >= RP_ACTION_THROTTLE)) offense++;
    if (want == RP_ACTION_THROTTLE && p->escalate_after && offense > p->escalate_after)
        want = RP_ACTION_BLOCK;
    int64_t duration = want == RP_ACTION_MONITOR ? p->throttle_us : decision_duration(p, want, offense);
    int64_t expires = now + duration;

    /* Fall-out of the ring emits the old incident's final state. */
    uint64_t id = e->next_incident++;
    rp_incident *inc = &e->ring[id % RP_INCIDENT_RING];
    if (inc->id) emit_incident(e, inc);
    memset(inc, 0, sizeof *inc);
    inc->id = id;
    rp_client_key(c, &inc->key);
    inc->action = want;
    inc->score = score;
    inc->offense = offense ? offense : 1;
    inc->first_seen_us = (int64_t)c->first_seen_s * 1000000;
    if (inc->first_seen_us > now) inc->first_seen_us = now;
    inc->last_seen_us = now;
    inc->decided_us = now;
    inc->expires_us = want == RP_ACTION_MONITOR ? 0 : expires;
    inc->requests = c->requests;
    snprintf(inc->profile, sizeof inc->profile, "%s", p->name);
    copy_str(inc->user_agent, sizeof inc->user_agent, &ev->user_agent);
    snprintf(inc->route, sizeof inc->route, "%s%s%s",
             obs->route->method ? rp_method_name((rp_method)obs->route->method) : "",
             obs->route->method ? " " : "", obs->route->template_);
    fill_findings(e, sp, c, obs, ctx, inc);
    /* An open incident on the same key is superseded: carry its samples. */
    if (open && open != inc) {
        for (unsigned i = 0; i < open->n_samples && inc->n_samples < RP_MAX_SAMPLES - 1; i++)
            inc->samples[inc->n_samples++] = open->samples[i];
    }
    add_sample(inc, ev);

    c->action = (uint8_t)want;
    c->offense = (uint8_t)(offense > 255 ? 255 : offense);
    c->decided_until_s = (uint32_t)(expires / 1000000);
    c->incident_id = (uint32_t)id;

    e->stats.incidents++;
    e->stats.incidents_by_action[want]++;
    emit_incident(e, inc);
    if (want >= RP_ACTION_THROTTLE) {
        rp_decision d = {.action = want,
                         .start_us = now,
                         .expires_us = expires,
                         .incident_id = id,
                         .score = score};
        rp_client_key(c, &d.key);
        e->stats.decisions++;
        if (e->cb.on_decision) e->cb.on_decision(e->cb.user, &d);
    }
}

/* ------------------------------------------- fingerprint on a route */

/*
 * A swarm that never reuses an address cannot be stopped address by
 * address: each one has made its only attempt before it is judged. What
 * it cannot change as cheaply is its fingerprint (browser build + header
 * set). So when a fingerprint's own score on a request crosses throttle,
 * and the detector that put it there is about the route (a failed login
 * for auth, a content read for uniqueness, a refused id for enumeration),
 * the engine decides on the fingerprint *on that route*: the key
 * fingerprint:FP@SCOPE, where SCOPE hashes the route's path -- the whole
 * template for a literal route (/api/login), the part before the last
 * segment for an object route (/api/products/). The nginx module can
 * compute both from the raw path without knowing the templates. People
 * with the same browser build are stopped on that route only, for the
 * decision's duration; the rest of the site stays open to them.
 *
 * The scoped key lives in the fingerprint table like any key, and holds a
 * copy of the swarm's detector state taken when it is decided, so its
 * incident carries the swarm's evidence.
 */
bool rp_route_scope(const char *template_, uint64_t *scope) {
    size_t n = strlen(template_);
    if (n < 2 || template_[0] != '/') return false; /* "/", "(other)", "(static)"... */
    const char *brace = memchr(template_, '{', n);
    /* Never the whole root: a scanner's misses make "/{id}" look like an
     * object route, and a decision there would refuse a browser build
     * the home page. */
    if (brace && brace - template_ < 2) return false;
    if (!brace) {
        *scope = rp_scope_hash(template_, n);
        return true;
    }
    /* one parameter, the whole last segment: "/api/products/{id}" */
    if (brace == template_ || brace[-1] != '/' || template_[n - 1] != '}' ||
        memchr(brace, '/', (size_t)(template_ + n - brace)) ||
        memchr(brace + 1, '{', (size_t)(template_ + n - brace - 1)))
        return false;
    *scope = rp_scope_hash(template_, (size_t)(brace - template_));
    return true;
}

/* The route's scope, computed once per route (not per event). */
static bool scope_of(rp_route *r, uint64_t *scope) {
    if (r->scope_for != r->hash) {
        if (!rp_route_scope(r->template_, &r->scope)) r->scope = 0;
        r->scope_for = r->hash;
    }
    *scope = r->scope;
    return r->scope != 0;
}

static void route_key(rp_key *key, const rp_key *fingerprint, uint64_t scope) {
    rp_key_on_route(key, fingerprint, scope); /* keys.c: the layout the module looks up */
}

/* Whether this event's address is already throttled or blocked. A route
 * decision on a fingerprint is for the attempts address decisions cannot
 * stop (a swarm's fresh addresses): made on an attempt from an address
 * already stopped -- a single stuffer, whose fingerprint's score is its
 * own -- it would refuse everyone sharing that browser build on the route
 * for what one address did (an aggregate is a witness, never the culprit).
 * One lookup, only when a fingerprint is over the threshold. In a
 * partitioned fleet the address of an aggregate's copy is judged by
 * another engine: what the fleet enforces on it is asked instead. */
static bool address_stopped(const rp_engine *e, const rp_event *ev) {
    const rp_level_table *ip = &e->levels[RP_LEVEL_IP];
    rp_key key;
    if (!ip->table || !rp_event_key(ev, RP_LEVEL_IP, &key)) return false;
    if ((ev->uncounted & RP_LEVEL_BIT(RP_LEVEL_IP)) && e->cb.in_force) {
        rp_action a = e->cb.in_force(e->cb.user, &key, ev->ts_us);
        return a == RP_ACTION_THROTTLE || a == RP_ACTION_BLOCK;
    }
    const rp_client *c = rp_table_find(ip->table, &key, 0);
    return c && (int64_t)c->decided_until_s * 1000000 > ev->ts_us &&
           (c->action == RP_ACTION_THROTTLE || c->action == RP_ACTION_BLOCK);
}

static void decide_on_route(rp_engine *e, rp_level_table *lt, rp_client *swarm,
                            const rp_event *ev, const rp_observation *obs,
                            const score_pass *sp, rp_detect_ctx *ctx, double total) {
    uint64_t scope;
    if (!scope_of(obs->route, &scope)) return;
    rp_key fk, key;
    rp_client_key(swarm, &fk);
    route_key(&key, &fk, scope);
    bool created;
    rp_client *c = rp_table_upsert(lt->table, &key, 0, &created);
    if (c == swarm) return; /* cannot happen: the scope is never zero... */
    if (created) {
        c->first_seen_s = swarm->first_seen_s;
        e->route_decisions++;
    }
    c->last_seen_us = ev->ts_us;
    c->requests = swarm->requests;
    size_t body = rp_table_slot_size(lt->table) - sizeof(rp_client);
    memcpy((unsigned char *)c + sizeof(rp_client), (const unsigned char *)swarm + sizeof(rp_client),
           body);
    score_pass own = *sp;
    own.agg = NULL;
    react(e, &own, c, ev, obs, ctx, total, false);
}

/* The decision in force on this event's fingerprint on its route. */
static rp_action route_verdict(rp_engine *e, const rp_event *ev, const rp_observation *obs) {
    rp_level_table *lt = &e->levels[RP_LEVEL_FINGERPRINT];
    rp_key fk, key;
    uint64_t scope;
    if (!lt->table || !event_key(ev, obs, RP_LEVEL_FINGERPRINT, &fk) ||
        !scope_of(obs->route, &scope))
        return RP_ACTION_NONE;
    route_key(&key, &fk, scope);
    const rp_client *c = rp_table_find(lt->table, &key, 0);
    if (!c || (int64_t)c->decided_until_s * 1000000 <= ev->ts_us) return RP_ACTION_NONE;
    return c->action == RP_ACTION_THROTTLE || c->action == RP_ACTION_BLOCK ? (rp_action)c->action
                                                                           : RP_ACTION_NONE;
}

/* Returns the decision in force on the key after the event. */
static rp_action feed_level(rp_engine *e, rp_key_level level, const rp_event *ev,
                            rp_observation *obs, const rp_profile_config *profile, uint32_t skip,
                            aggregate_hit *agg, rp_action *before) {
    rp_level_table *lt = &e->levels[level];
    rp_key key;
    if (!lt->table || !event_key(ev, obs, level, &key)) return RP_ACTION_NONE;
    bool created;
    rp_client *c = rp_table_upsert(lt->table, &key, 0, &created);
    int64_t ts = ev->ts_us;
    if (created) {
        c->first_seen_s = ts > 0 ? (uint32_t)(ts / 1000000) : 0;
        c->last_seen_us = ts;
        obs->gap_us = -1;
    } else {
        obs->gap_us = ts - c->last_seen_us;
        if (ts > c->last_seen_us) c->last_seen_us = ts;
    }
    obs->first_of_key = created;
    if (c->requests != UINT32_MAX) c->requests++;

    *before = (int64_t)c->decided_until_s * 1000000 > ts ? (rp_action)c->action : RP_ACTION_NONE;
    if (*before == RP_ACTION_ALLOW) return RP_ACTION_ALLOW;
    /* Rampart's own answer (a 403/429 from the module or /v1/check) is
     * counted as a request of the key and judged by nothing: a blocked
     * client that keeps reading valid pages would otherwise earn "denied"
     * objects and failed logins from the refusals themselves. */
    if (ev->flags & RP_EVENT_REFUSED) return *before;
    if (level == RP_LEVEL_IP) {
        obs->campaigns = e->campaigns;
        rp_campaigns_observe(e->campaigns, ev, obs->route->hash, obs->ua_hash, created,
                             &obs->campaign);
    }

    bool aggregate = level != RP_LEVEL_IP && level != RP_LEVEL_TOKEN && level != RP_LEVEL_SESSION;
    /* Only the client address is charged with its swarm's score: a key or
     * a session is judged on its own behaviour. */
    bool charged = level == RP_LEVEL_IP;
    score_pass sp = {.profile = profile, .lt = lt, .skip = skip, .agg = charged ? agg : NULL,
                     .ev = ev};
    rp_detect_ctx ctx = {.level = level,
                         .now_us = ts,
                         .first_seen_us = (int64_t)c->first_seen_s * 1000000,
                         .requests = c->requests,
                         .norm_period_us = e->config->norm_period_us};
    double total = 0, top = 0, witnessed = 0;
    unsigned top_d = 0;
    unsigned char *base = (unsigned char *)c;
    for (unsigned i = 0; i < lt->n_detectors; i++) {
        unsigned d = lt->detector[i];
        if (!detector_on(&sp, d)) continue;
        const rp_detector *det = rp_detectors[d];
        ctx.params = profile->detectors[d].params;
        if (charged && e->anomaly && (int)d == e->anomaly->detector)
            anomaly_prepare(e, c, base + lt->offset[i], obs, &ctx, profile, total);
        det->observe(base + lt->offset[i], ev, obs, &ctx);
        double s = det->score(base + lt->offset[i], obs, &ctx, NULL);
        if (s > 1) s = 1;
        bool witness = !aggregate && !charged && (det->witness_levels & RP_LEVEL_BIT(level));
        if (aggregate || witness) {
            double charge = s;
            /* A partitioned fleet: this key's members are judged in their
             * own partitions' engines, which read what it may charge them
             * with once the daemon has published it -- a fall as well as
             * a rise, so it is reported at every event, 0 included. */
            bool publish = e->cb.on_witness && aggregate && level != RP_LEVEL_SUBNET &&
                           det->involved;
            if ((s > agg[d].score || (publish && s >= RP_WITNESS_FLOOR)) && det->involved) {
                ctx.charging = true; /* what a member may be charged */
                charge = det->score(base + lt->offset[i], obs, &ctx, NULL);
                ctx.charging = false;
                if (charge > 1) charge = 1;
            }
            if (publish) e->cb.on_witness(e->cb.user, &key, det->name, charge > 0 ? charge : 0);
            if (s > agg[d].score && charge > agg[d].score) {
                agg[d].score = charge;
                agg[d].client = c;
                agg[d].lt = lt;
                agg[d].slot = i;
            }
        } else if (charged && agg[d].score > s &&
                   (!det->involved || det->involved(base + lt->offset[i], ev, obs, &ctx))) {
            s = agg[d].score;
        }
        double points = s > 0 ? profile->detectors[d].weight * s : 0;
        total += points;
        if (witness) witnessed += points;
        if (points > top) {
            top = points;
            top_d = d;
        }
    }
    if (charged)
        for (unsigned d = 0; d < rp_detector_count; d++) {
            double s = witness_charge(&sp, d, obs, &ctx);
            total += s > 0 ? profile->detectors[d].weight * s : 0;
        }
    if (total > 100) total = 100;
    /* A shared key is not stopped for what a witness detector saw: only
     * its own behaviour can push it past monitor. */
    bool witness_only = witnessed > 0 && total - witnessed < profile->throttle_at;
    react(e, &sp, c, ev, obs, &ctx, total, aggregate || witness_only);
    if (level == RP_LEVEL_FINGERPRINT && e->config->route_decisions &&
        total >= profile->throttle_at &&
        rp_detectors[top_d]->involved && rp_detectors[top_d]->involved(NULL, ev, obs, &ctx) &&
        !address_stopped(e, ev))
        decide_on_route(e, lt, c, ev, obs, &sp, &ctx, total);
    return (int64_t)c->decided_until_s * 1000000 > ts ? (rp_action)c->action : RP_ACTION_NONE;
}

/* Route counters and norms, after the detectors have seen the event. */
static void learn_route(rp_engine *e, rp_route *r, const rp_event *ev) {
    int64_t period = e->config->norm_period_us;
    r->requests++;
    if (ev->status >= 400) r->errors++;
    if (ev->status == 404) r->not_found++;
    if (ev->status >= 200 && ev->status < 400) r->successes++;
    if (ev->response_bytes > 0)
        rp_norm_add(&r->norm[RP_NORM_RESPONSE_BYTES], (double)ev->response_bytes, ev->ts_us, period);
    if (ev->request_bytes > 0)
        rp_norm_add(&r->norm[RP_NORM_REQUEST_BYTES], (double)ev->request_bytes, ev->ts_us, period);
    if (ev->upstream_us >= 0)
        rp_norm_add(&r->norm[RP_NORM_UPSTREAM_US], (double)ev->upstream_us, ev->ts_us, period);
    const int64_t width = 10 * 1000000;
    uint32_t idx = rp_window_index(ev->ts_us, width);
    if (r->rate_10s.newest && idx > r->rate_10s.newest) {
        /* A surge must not teach the norm that surges are normal: buckets
         * far above the learned p99 are left out (the rate detector
         * compares against this norm). */
        double closed = r->rate_10s.bucket[r->rate_10s.newest % RP_WINDOW_BUCKETS];
        double p99 = rp_norm_quantile(&r->norm[RP_NORM_ROUTE_RATE_10S], 0.99, 30);
        if (isnan(p99) || closed <= 5 * p99 + 10)
            rp_norm_add(&r->norm[RP_NORM_ROUTE_RATE_10S], closed, ev->ts_us, period);
    }
    rp_window_add(&r->rate_10s, ev->ts_us, width, 1);
    rp_hll_add(&r->clients, rp_hash64(ev->client.bytes, 16, 0xc1));
}

rp_action rp_engine_feed(rp_engine *e, const rp_event *ev) {
    return rp_engine_feed_verdicts(e, ev, NULL);
}

/* A level this engine leaves to another partition's (ev->uncounted): the
 * witness its key may be for the member is what that engine published,
 * when it is more than the local view; the member's own involvement is
 * still asked when its address is judged (feed_level). */
static void published_witness(rp_engine *e, rp_key_level level, const rp_event *ev,
                              const rp_observation *obs, aggregate_hit *agg) {
    rp_key key;
    if ((level != RP_LEVEL_USERNAME && level != RP_LEVEL_FINGERPRINT) ||
        !e->levels[level].table || !event_key(ev, obs, level, &key))
        return;
    rp_witness w[RP_MAX_DETECTORS];
    unsigned n = e->cb.witness(e->cb.user, &key, w, RP_MAX_DETECTORS);
    for (unsigned i = 0; i < n && i < RP_MAX_DETECTORS; i++) {
        int d = rp_detector_find(w[i].detector, strlen(w[i].detector));
        if (d < 0 || !(w[i].charge > agg[d].score)) continue;
        agg[d] = (aggregate_hit){.score = w[i].charge > 1 ? 1 : w[i].charge, .key = key};
    }
}

/*
 * A detector's engine tracks tens of thousands of clients: their 512-byte
 * records and the index entries naming them are out of the core's caches,
 * and waiting for them was the largest single cost of an event. Their
 * addresses depend on the event alone, so the loads can start while the
 * events before it are fed -- in two steps, because the slot's address is
 * in the index entry: each call loads the slots of the previous call's
 * keys (whose index entries have arrived meanwhile) and the index entries
 * of this event's. The levels whose key the event carries are loaded; the
 * fingerprint's derives from the observation (route, headers) and is
 * left to the feed.
 *
 * The strings the observation reads whole (the path and query hashed and
 * matched, the user agent hashed) were written by another thread -- a
 * detector's reader decodes the events its engine feeds -- and are as
 * cold: their first lines are loaded too.
 */
static void prefetch_str(const rp_str *s) {
    size_t n = s->len < 256 ? s->len : 256;
    if (!s->ptr || !n) return;
    for (size_t off = 0; off < n; off += 64) __builtin_prefetch(s->ptr + off);
    __builtin_prefetch(s->ptr + n - 1);
}

void rp_engine_prefetch(rp_engine *e, const rp_event *ev) {
    prefetch_str(&ev->path);
    prefetch_str(&ev->query);
    prefetch_str(&ev->user_agent);
    for (int level = 0; level < RP_LEVEL_COUNT; level++) {
        rp_level_table *lt = &e->levels[level];
        if (!lt->table || level == RP_LEVEL_FINGERPRINT) continue;
        if (lt->ahead) rp_table_prefetch_slot(lt->table, lt->ahead);
        rp_key key;
        /* A level left to another partition's engine is not looked up here. */
        bool fed = !(ev->uncounted & RP_LEVEL_BIT(level));
        lt->ahead = fed && rp_event_key(ev, (rp_key_level)level, &key) ? rp_key_hash(&key) : 0;
        if (lt->ahead) rp_table_prefetch_index(lt->table, lt->ahead);
    }
    if (e->levels[RP_LEVEL_IP].table) rp_campaigns_prefetch(e->campaigns, ev);
}

rp_action rp_engine_feed_verdicts(rp_engine *e, const rp_event *ev, rp_action *before_out) {
    if (before_out) *before_out = RP_ACTION_NONE;
    e->stats.events++;
    if (ev->ts_us < e->stats.clock_us)
        e->stats.events_out_of_order++;
    else
        e->stats.clock_us = ev->ts_us;
    if ((e->config->n_allow_cidrs || e->config->n_allow_tokens) && allowlisted(e, ev)) {
        e->stats.allowlisted++;
        if (before_out) *before_out = RP_ACTION_ALLOW;
        return RP_ACTION_ALLOW;
    }
    rp_observation obs;
    observe_event(e, ev, &obs);
    int pi = obs.route->profile;
    uint32_t skip = obs.route->skip_detectors;
    /* Exceptions scoped to some clients on this route (config rules with
     * cidrs). */
    const rp_route_rule *scoped = rp_inventory_client_rule(e->inventory, obs.route, &ev->client);
    if (scoped) {
        skip |= scoped->skip_detectors;
        if (scoped->profile >= 0) pi = scoped->profile;
    }
    if (pi < 0 || pi >= e->config->n_profiles) pi = e->config->default_profile;
    const rp_profile_config *profile = &e->config->profiles[pi];
    /* Allow on any key wins, then the strongest of the others. */
    rp_action verdict = RP_ACTION_NONE;
    bool allowed = false;
    /* Aggregate levels first, so that the client levels can be charged
     * with what their swarm did. */
    static const rp_key_level order[RP_LEVEL_COUNT] = {
        RP_LEVEL_USERNAME, RP_LEVEL_FINGERPRINT, RP_LEVEL_SUBNET,
        RP_LEVEL_TOKEN,    RP_LEVEL_SESSION,     RP_LEVEL_IP};
    aggregate_hit agg[RP_MAX_DETECTORS];
    memset(agg, 0, sizeof agg);
    /* What was in force before this event (what a proxy enforced on it),
     * and after it (what the client's next request meets). */
    rp_action before = RP_ACTION_NONE;
    bool allowed_before = false;
    if (before_out && e->route_decisions) before = route_verdict(e, ev, &obs);
    for (int k = 0; k < RP_LEVEL_COUNT; k++) {
        /* A partitioned fleet counts each key in one engine (partition.h). */
        if (ev->uncounted & RP_LEVEL_BIT(order[k])) {
            if (e->cb.witness) published_witness(e, order[k], ev, &obs, agg);
            continue;
        }
        rp_action b = RP_ACTION_NONE;
        rp_action a = feed_level(e, order[k], ev, &obs, profile, skip, agg, &b);
        /* A swarm being watched says nothing about this client. */
        if (order[k] != RP_LEVEL_IP) {
            if (a == RP_ACTION_MONITOR) a = RP_ACTION_NONE;
            if (b == RP_ACTION_MONITOR) b = RP_ACTION_NONE;
        }
        if (a == RP_ACTION_ALLOW) allowed = true;
        else if (a > verdict) verdict = a;
        if (b == RP_ACTION_ALLOW) allowed_before = true;
        else if (b > before) before = b;
    }
    if (e->route_decisions && verdict < RP_ACTION_BLOCK && !allowed) {
        rp_action a = route_verdict(e, ev, &obs);
        if (a > verdict) verdict = a;
    }
    if (allowed) verdict = RP_ACTION_ALLOW;
    if (before_out) *before_out = allowed_before ? RP_ACTION_ALLOW : before;
    /* An event's copy for its aggregates only: the route learns the
     * request once, in the engine that counts its address. */
    if (ev->uncounted & RP_LEVEL_BIT(RP_LEVEL_IP)) return verdict;
    if (verdict == RP_ACTION_THROTTLE || verdict == RP_ACTION_BLOCK) obs.route->flagged++;
    if (ev->flags & RP_EVENT_REFUSED) {
        /* the route's norms learn only what its upstream answered */
        e->stats.refused++;
        obs.route->requests++;
    } else {
        learn_route(e, obs.route, ev);
    }
    return verdict;
}

/* ----------------------------------------------------- manual decisions */

void rp_engine_decide(rp_engine *e, const rp_decision *d) {
    rp_key_level level = (rp_key_level)d->key.level;
    if ((unsigned)level >= RP_LEVEL_COUNT || !e->levels[level].table) {
        /* No table at that level: the decision still goes out (the daemon
         * enforces it); the engine just cannot remember it. */
        if (e->cb.on_decision) e->cb.on_decision(e->cb.user, d);
        return;
    }
    bool created;
    rp_client *c = rp_table_upsert(e->levels[level].table, &d->key, 0, &created);
    if (created) c->first_seen_s = (uint32_t)(d->start_us / 1000000);
    /* The same decision again (a fleet node hears its own operator's
     * decision back from Redis): already in force, not counted twice. */
    if (!created && d->action != RP_ACTION_NONE && c->action == (uint8_t)d->action &&
        c->decided_until_s == (uint32_t)(d->expires_us / 1000000))
        return;
    c->action = (uint8_t)d->action;
    c->decided_until_s = d->action == RP_ACTION_NONE ? 0 : (uint32_t)(d->expires_us / 1000000);
    if (d->action == RP_ACTION_NONE && !created) {
        /* A removal is an operator's pardon: the key starts afresh, as if
         * never seen (only its first sighting kept). Without this its
         * counters, still over the thresholds, re-decide it at its next
         * request, as a repeat offender for twice as long -- the removal
         * undone in a second. Behaviour that goes on is judged again from
         * what it does after the removal. */
        size_t body = rp_table_slot_size(e->levels[level].table) - sizeof(rp_client);
        memset((unsigned char *)c + sizeof(rp_client), 0, body);
        c->incident_id = 0;
        c->offense = 0;
        c->requests = 0;
    }
    e->stats.decisions++;
    if (e->cb.on_decision) e->cb.on_decision(e->cb.user, d);
}

void rp_engine_set_next_incident_id(rp_engine *e, uint64_t next_id) {
    if (next_id > e->next_incident) e->next_incident = next_id;
}

bool rp_engine_explain(rp_engine *e, const rp_key *key, rp_incident *out) {
    memset(out, 0, sizeof *out);
    if ((unsigned)key->level >= RP_LEVEL_COUNT || !e->levels[key->level].table) return false;
    rp_level_table *lt = &e->levels[key->level];
    rp_client *c = rp_table_find(lt->table, key, 0);
    if (!c) return false;
    /* Scored against the site-wide norms under the default profile: the
     * route of the key's last request is not kept per key. */
    rp_observation obs;
    memset(&obs, 0, sizeof obs);
    obs.route = obs.site = rp_inventory_site(e->inventory);
    obs.inventory_declared = e->has_declared;
    obs.gap_us = -1;
    const rp_profile_config *p = &e->config->profiles[e->config->default_profile];
    score_pass sp = {.profile = p, .lt = lt, .skip = 0, .agg = NULL, .ev = NULL};
    rp_detect_ctx ctx = {.level = (rp_key_level)key->level,
                         .now_us = c->last_seen_us,
                         .first_seen_us = (int64_t)c->first_seen_s * 1000000,
                         .requests = c->requests,
                         .norm_period_us = e->config->norm_period_us};
    out->key = *key;
    fill_findings(e, &sp, c, &obs, &ctx, out);
    double total = 0;
    for (unsigned i = 0; i < out->n_findings; i++)
        total += out->findings[i].score * out->findings[i].weight;
    out->score = total > 100 ? 100 : total;
    bool active = (int64_t)c->decided_until_s * 1000000 > c->last_seen_us;
    out->action = active ? (rp_action)c->action : RP_ACTION_NONE;
    out->expires_us = active ? (int64_t)c->decided_until_s * 1000000 : 0;
    out->offense = c->offense;
    out->first_seen_us = (int64_t)c->first_seen_s * 1000000;
    out->last_seen_us = c->last_seen_us;
    out->requests = c->requests;
    snprintf(out->profile, sizeof out->profile, "%s", p->name);
    rp_incident *open = c->incident_id ? ring_slot(e, c->incident_id) : NULL;
    if (open) {
        out->decided_us = open->decided_us;
        snprintf(out->user_agent, sizeof out->user_agent, "%s", open->user_agent);
        snprintf(out->route, sizeof out->route, "%s", open->route);
        out->n_samples = open->n_samples;
        memcpy(out->samples, open->samples, sizeof out->samples);
    }
    return true;
}

void rp_engine_flush(rp_engine *e) {
    /* Oldest first, so updates arrive in incident order. */
    uint64_t first = e->next_incident > RP_INCIDENT_RING ? e->next_incident - RP_INCIDENT_RING : 1;
    for (uint64_t id = first; id < e->next_incident; id++) {
        rp_incident *inc = ring_slot(e, id);
        if (!inc) continue;
        rp_level_table *lt = &e->levels[inc->key.level];
        if (lt->table) {
            rp_client *c = rp_table_find(lt->table, &inc->key, 0);
            if (c && c->incident_id == (uint32_t)id) {
                inc->requests = c->requests;
                if (c->last_seen_us > inc->last_seen_us) inc->last_seen_us = c->last_seen_us;
            }
        }
        emit_incident(e, inc);
        inc->id = 0;
    }
}

/* ---------------------------------------------------------------- model */

/*
 * The model file carries both learned models:
 *   "RPMD" u32 version (2) u64 markov_bytes u64 forest_bytes   (24 bytes)
 *   then the route-transition model (markov.h's "RPMK" buffer) and the
 *   feature-vector model (hstree.h's "RPHS" buffer), each validated by
 *   its own loader; forest_bytes is 0 when the engine has no IP level.
 * A version-1 file -- a bare "RPMK" buffer, what builds before the forest
 * wrote -- still loads: the flow model is restored and the feature model
 * starts blind. A forest whose features differ from this build's (another
 * set of detectors) is refused rather than misread. Both parts are
 * checked before either replaces the model in use.
 */
#define MODEL_VERSION 2u
#define MODEL_HEADER 24u

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

rp_status rp_engine_model_save(rp_engine *e, uint8_t **buf, size_t *len, rp_error *err) {
    *buf = NULL;
    *len = 0;
    uint8_t *mk = NULL, *hs = NULL;
    size_t mk_len = 0, hs_len = 0;
    rp_status st = rp_markov_serialize(e->markov, &mk, &mk_len, err);
    if (st == RP_OK && e->anomaly) st = rp_hstree_serialize(e->anomaly->forest, &hs, &hs_len, err);
    uint8_t *b = st == RP_OK ? malloc(MODEL_HEADER + mk_len + hs_len) : NULL;
    if (st == RP_OK && !b) st = rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory for the model");
    if (st == RP_OK) {
        memcpy(b, "RPMD", 4);
        put_le(b + 4, MODEL_VERSION, 4);
        put_le(b + 8, mk_len, 8);
        put_le(b + 16, hs_len, 8);
        memcpy(b + MODEL_HEADER, mk, mk_len);
        if (hs_len) memcpy(b + MODEL_HEADER + mk_len, hs, hs_len);
        *buf = b;
        *len = MODEL_HEADER + mk_len + hs_len;
    }
    free(mk);
    free(hs);
    return st;
}

static rp_status model_bad(rp_error *err, const char *what) {
    return rp_error_set(err, RP_EPARSE, NULL, 0, 0, "not a usable model: %s", what);
}

rp_status rp_engine_model_load(rp_engine *e, const uint8_t *buf, size_t len, rp_error *err) {
    rp_markov *m;
    if (buf && len >= 4 && memcmp(buf, "RPMK", 4) == 0) { /* version 1: the flow model only */
        rp_status st = rp_markov_load(buf, len, &m, err);
        if (st != RP_OK) return st; /* the model in use is kept */
        rp_markov_free(e->markov);
        e->markov = m;
        return RP_OK;
    }
    if (!buf || len < 4 || memcmp(buf, "RPMD", 4) != 0)
        return model_bad(err, "wrong magic (not a rampart model file)");
    if (len < MODEL_HEADER) return model_bad(err, "truncated header");
    uint32_t version = (uint32_t)get_le(buf + 4, 4);
    if (version != MODEL_VERSION)
        return rp_error_set(err, RP_EPARSE, NULL, 0, 0,
                            "not a usable model: version %u, this build reads versions 1 and %u",
                            version, MODEL_VERSION);
    uint64_t mk_len = get_le(buf + 8, 8), hs_len = get_le(buf + 16, 8);
    uint64_t body = len - MODEL_HEADER;
    if (mk_len > body || hs_len > body - mk_len) return model_bad(err, "truncated data");
    if (mk_len + hs_len != body) return model_bad(err, "trailing bytes after data");
    rp_status st = rp_markov_load(buf + MODEL_HEADER, (size_t)mk_len, &m, err);
    if (st != RP_OK) return st;
    rp_hstree *h = NULL;
    if (hs_len && e->anomaly) {
        st = rp_hstree_load(buf + MODEL_HEADER + mk_len, (size_t)hs_len, &h, err);
        if (st == RP_OK) {
            const rp_hstree_params *p = rp_hstree_params_of(h);
            if (p->dims != e->anomaly->n_features || p->names_hash != e->anomaly->names_hash)
                st = rp_error_set(err, RP_EPARSE, NULL, 0, 0,
                                  "not a usable model: its feature vector (%u features) is not "
                                  "this build's (%u features); retrain it",
                                  p->dims, e->anomaly->n_features);
        }
        if (st != RP_OK) {
            rp_hstree_free(h);
            rp_markov_free(m);
            return st;
        }
    }
    rp_markov_free(e->markov);
    e->markov = m;
    if (h) {
        rp_hstree_free(e->anomaly->forest);
        e->anomaly->forest = h;
        e->anomaly->learned = rp_hstree_learned(h);
    }
    return RP_OK;
}

uint64_t rp_engine_model_vectors(const rp_engine *e) {
    return e->anomaly ? e->anomaly->learned : 0;
}

/* Off-thread training: a job carries a copy of the sample out of the
 * engine, is run on any thread, and its model is swapped in. */
struct rp_model_job {
    rp_hstree_params params;
    uint32_t n;
    uint64_t learned;
    rp_hstree *model; /* the result */
    float sample[];   /* n x params.dims */
};

void rp_engine_model_defer_training(rp_engine *e, bool deferred) {
    if (e->anomaly) e->anomaly->deferred = deferred;
}

rp_model_job *rp_engine_model_job(rp_engine *e) {
    anomaly_model *m = e->anomaly;
    if (!m || !training_due(m)) return NULL;
    const rp_hstree_params *p = rp_hstree_params_of(m->forest);
    size_t floats = (size_t)m->sample_n * m->n_features;
    rp_model_job *job = malloc(sizeof *job + floats * sizeof(float));
    if (!job) return NULL; /* tried again at the next call */
    job->params = *p;
    job->n = m->sample_n;
    job->learned = m->learned;
    job->model = NULL;
    memcpy(job->sample, m->sample, floats * sizeof(float));
    m->fresh = 0;
    return job;
}

rp_status rp_model_job_run(rp_model_job *job) {
    return rp_hstree_train(&job->params, job->sample, job->n, job->learned, &job->model);
}

bool rp_engine_model_install(rp_engine *e, rp_model_job *job) {
    anomaly_model *m = e->anomaly;
    bool ok = m && job->model &&
              memcmp(rp_hstree_params_of(m->forest), &job->params, sizeof job->params) == 0;
    if (ok) {
        rp_hstree_free(m->forest);
        m->forest = job->model;
        job->model = NULL;
    }
    rp_model_job_free(job);
    return ok;
}

void rp_model_job_free(rp_model_job *job) {
    if (!job) return;
    rp_hstree_free(job->model);
    free(job);
}

uint64_t rp_engine_model_transitions(const rp_engine *e) { return rp_markov_transitions(e->markov); }

/* ---------------------------------------------------------------- stats */

void rp_engine_get_stats(const rp_engine *e, rp_engine_stats *s) {
    *s = e->stats;
    for (int l = 0; l < RP_LEVEL_COUNT; l++) {
        const rp_table *t = e->levels[l].table;
        s->clients_tracked[l] = t ? rp_table_used(t) : 0;
        s->clients_evicted[l] = t ? rp_table_evictions(t) : 0;
    }
    s->routes = rp_inventory_routes(e->inventory); /* admitted: probe paths do not count */
    s->routes_overflow = rp_inventory_overflow_hits(e->inventory);
}

size_t rp_engine_bytes_per_client(const rp_engine *e, rp_key_level level) {
    if ((unsigned)level >= RP_LEVEL_COUNT || !e->levels[level].table) return 0;
    return rp_table_bytes_per_client(e->levels[level].table);
}

/* The admitted routes, then the probe paths as one "(probes)" row. */
void rp_engine_routes(const rp_engine *e, bool (*fn)(void *user, const rp_route_info *route),
                      void *user) {
    rp_route probes;
    size_t n = rp_inventory_count(e->inventory);
    for (size_t i = 0; i <= n; i++) {
        const rp_route *r = i < n ? rp_inventory_at(e->inventory, i) : &probes;
        if (i < n && !rp_inventory_admitted(r)) continue;
        if (i == n) {
            rp_inventory_probes(e->inventory, &probes);
            if (!probes.requests) return;
        }
        rp_route_info info;
        memset(&info, 0, sizeof info);
        snprintf(info.method, sizeof info.method, "%s",
                 r->method ? rp_method_name((rp_method)r->method) : "");
        snprintf(info.template_, sizeof info.template_, "%s", r->template_);
        info.cls = (rp_route_class)r->cls;
        info.declared = r->declared;
        int pi = r->profile >= 0 && r->profile < e->config->n_profiles ? r->profile
                                                                        : e->config->default_profile;
        snprintf(info.profile, sizeof info.profile, "%s", e->config->profiles[pi].name);
        info.requests = r->requests;
        info.errors = r->errors;
        info.flagged = r->flagged;
        info.clients = (uint64_t)llround(rp_hll_estimate(&r->clients));
        if (!fn(user, &info)) return;
    }
}

size_t rp_engine_route_template(rp_engine *e, rp_method method, const char *path, size_t len,
                                char *buf, size_t size) {
    rp_route *r = rp_inventory_lookup(e->inventory, method, path, len);
    int n = snprintf(buf, size, "%s", r->template_);
    return n < 0 ? 0 : (size_t)n;
}

/* Route knowledge across restarts: route.c does the work (rampart.h). */
void rp_engine_routes_export(const rp_engine *e,
                             bool (*fn)(void *user, const rp_route_knowledge *route), void *user) {
    rp_inventory_export(e->inventory, fn, user);
}

rp_status rp_engine_route_restore(rp_engine *e, const rp_route_knowledge *route, rp_error *err) {
    return rp_inventory_restore(e->inventory, route, err);
}
