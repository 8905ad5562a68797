/*
 * test_engine.c -- the engine as a whole: bounded memory, determinism,
 * allowlists, manual decisions, reactions and escalation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "rampart.h"

#define SEC 1000000LL
#define T0 (1764064800LL * SEC) /* 2025-11-25T10:00:00Z */

typedef struct collected {
    int incidents, decisions;
    rp_incident last;
    rp_decision last_decision;
    rp_decision last_fingerprint_decision;
    rp_action max_action;
    uint64_t checksum; /* of every incident, for determinism */
} collected;

static void on_incident(void *u, const rp_incident *inc) {
    collected *c = u;
    c->incidents++;
    c->last = *inc;
    if (inc->action > c->max_action) c->max_action = inc->action;
    c->checksum = rp_hash64(&inc->key, sizeof inc->key, c->checksum) ^ (uint64_t)inc->action ^
                  (uint64_t)(inc->score * 1000) ^ (uint64_t)inc->decided_us;
}

static void on_decision(void *u, const rp_decision *d) {
    collected *c = u;
    c->decisions++;
    c->last_decision = *d;
    if (d->key.level == RP_LEVEL_FINGERPRINT) c->last_fingerprint_decision = *d;
}

static rp_engine *new_engine(rp_config *config, collected *c) {
    rp_engine_callbacks cb = {.user = c, .on_incident = on_incident, .on_decision = on_decision};
    rp_engine *e = NULL;
    rp_error err;
    assert_int_equal(rp_engine_new(config, &cb, &e, &err), RP_OK);
    return e;
}

static void make_event(rp_event *ev, const char *ip, int64_t ts, const char *method,
                       const char *path, int status) {
    memset(ev, 0, sizeof *ev);
    assert_int_equal(rp_addr_parse(ip, strlen(ip), &ev->client), RP_OK);
    ev->ts_us = ts;
    ev->method = (uint8_t)rp_method_parse(method, strlen(method));
    ev->path.ptr = path;
    ev->path.len = (uint32_t)strlen(path);
    ev->status = (uint16_t)status;
    ev->response_bytes = 512;
    ev->upstream_us = -1;
    ev->user_agent.ptr = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0";
    ev->user_agent.len = (uint32_t)strlen(ev->user_agent.ptr);
}

static void test_engine_memory_stays_at_cap_under_random_ip_spray(void **s) {
    (void)s;
    rp_config *config = rp_config_default();
    config->capacity[RP_LEVEL_IP] = 4096;
    collected c = {0};
    rp_engine *e = new_engine(config, &c);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        char ip[32];
        snprintf(ip, sizeof ip, "%u.%u.%u.%u", (unsigned)(x >> 24) & 255, (unsigned)(x >> 16) & 255,
                 (unsigned)(x >> 8) & 255, ((unsigned)x & 255) | 1);
        rp_event ev;
        make_event(&ev, ip, T0 + i * 1000, "GET", "/api/products", 200);
        rp_engine_feed(e, &ev);
    }
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    assert_int_equal(st.events, 200000);
    assert_int_equal(st.clients_tracked[RP_LEVEL_IP], 4096);
    assert_true(st.clients_evicted[RP_LEVEL_IP] > 190000);
    rp_engine_free(e);
    rp_config_free(config);
}

static void test_engine_client_state_fits_512_bytes(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    size_t b = rp_engine_bytes_per_client(e, RP_LEVEL_IP);
    assert_true(b > 56);
    assert_true(b <= 512 + 16);
    rp_engine_free(e);
}

static void test_engine_counts_out_of_order_events(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    make_event(&ev, "192.0.2.1", T0 + 10 * SEC, "GET", "/", 200);
    rp_engine_feed(e, &ev);
    make_event(&ev, "192.0.2.1", T0 + 5 * SEC, "GET", "/", 200);
    rp_engine_feed(e, &ev);
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    assert_int_equal(st.events_out_of_order, 1);
    assert_int_equal(st.clock_us, T0 + 10 * SEC);
    rp_engine_free(e);
}

static void test_engine_skips_allowlisted_cidr(void **s) {
    (void)s;
    rp_config *config = rp_config_default();
    assert_int_equal(rp_cidr_parse("10.0.0.0/8", 10, &config->allow_cidrs[0]), RP_OK);
    config->n_allow_cidrs = 1;
    collected c = {0};
    rp_engine *e = new_engine(config, &c);
    rp_event ev;
    for (int i = 0; i < 5000; i++) { /* a flood, but from an allowed network */
        make_event(&ev, "10.1.2.3", T0 + i * 1000, "GET", "/api/products", 200);
        rp_engine_feed(e, &ev);
    }
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    assert_int_equal(st.allowlisted, 5000);
    assert_int_equal(c.incidents, 0);
    rp_engine_free(e);
    rp_config_free(config);
}

static void test_engine_manual_decision_goes_out_and_allow_bypasses(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_decision d = {0};
    rp_addr a;
    rp_addr_parse("203.0.113.9", 11, &a);
    rp_key_from_addr(&d.key, RP_LEVEL_IP, &a);
    d.action = RP_ACTION_ALLOW;
    d.start_us = T0;
    d.expires_us = T0 + 3600 * SEC;
    rp_engine_decide(e, &d);
    assert_int_equal(c.decisions, 1);
    assert_int_equal(c.last_decision.action, RP_ACTION_ALLOW);
    rp_event ev;
    for (int i = 0; i < 3000; i++) { /* 1000 req/s: would be a flood */
        make_event(&ev, "203.0.113.9", T0 + i * 1000, "GET", "/api/products", 200);
        rp_engine_feed(e, &ev);
    }
    assert_int_equal(c.incidents, 0);
    rp_engine_free(e);
}

/* An operator's removal is a pardon: the client's next requests are not
 * judged on what it did before (no instant re-block, no repeat-offender
 * escalation), but the same behaviour, continued, is decided again from
 * the requests after the removal. */
static void test_engine_removal_pardons_and_behaviour_after_is_judged(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    char path[64];
    int64_t t = T0;
    int i = 0;
    /* a scanner, 20 never-served paths a second, until it is stopped */
    for (; i < 2000 && c.last_decision.action < RP_ACTION_THROTTLE; i++, t += 50000) {
        snprintf(path, sizeof path, "/docs/page-%d.html", i);
        make_event(&ev, "198.51.100.40", t, "GET", path, 404);
        rp_engine_feed(e, &ev);
    }
    assert_true(c.last_decision.action >= RP_ACTION_THROTTLE);
    rp_action first_action = c.last_decision.action;
    int64_t first = c.last_decision.expires_us - c.last_decision.start_us;
    int needed = i; /* requests it took the first time */
    int decisions = c.decisions;

    rp_decision clear = {.key = c.last_decision.key, .action = RP_ACTION_NONE, .start_us = t,
                         .expires_us = t};
    rp_engine_decide(e, &clear);
    decisions++;
    /* the next requests, the same kind, right after the removal: served */
    for (int k = 0; k < 3; k++, i++) {
        snprintf(path, sizeof path, "/docs/page-%d.html", i);
        make_event(&ev, "198.51.100.40", t += 50000, "GET", path, 404);
        assert_int_equal(rp_engine_feed(e, &ev), RP_ACTION_NONE);
    }
    assert_int_equal(c.decisions, decisions);
    /* going on, it is stopped again, after about as many requests as the
     * first time, as a first offense again (same action and duration) */
    int after = 3;
    for (; after < 4 * needed && c.decisions == decisions; after++, i++) {
        snprintf(path, sizeof path, "/docs/page-%d.html", i);
        make_event(&ev, "198.51.100.40", t += 50000, "GET", path, 404);
        rp_engine_feed(e, &ev);
    }
    assert_int_equal(c.decisions, decisions + 1);
    assert_int_equal(c.last_decision.action, first_action);
    assert_true(after >= needed / 2);
    assert_int_equal(c.last_decision.expires_us - c.last_decision.start_us, first);
    rp_engine_free(e);
}

/* Feed a stream of one scenario mixed with background; return a checksum
 * of every incident. */
static uint64_t run_mixed(int *incidents) {
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    char path[64], ip[32];
    for (int i = 0; i < 20000; i++) {
        if (i % 3 == 0) { /* a fast walker */
            snprintf(path, sizeof path, "/api/users/%d", i);
            make_event(&ev, "198.51.100.77", T0 + i * 20000LL, "GET", path, 404);
        } else {
            snprintf(ip, sizeof ip, "192.0.2.%d", i % 200 + 1);
            make_event(&ev, ip, T0 + i * 20000LL, "GET", "/api/products", 200);
        }
        rp_engine_feed(e, &ev);
    }
    rp_engine_flush(e);
    rp_engine_free(e);
    *incidents = c.incidents;
    return c.checksum;
}

static void test_engine_is_deterministic(void **s) {
    (void)s;
    int n1, n2;
    uint64_t a = run_mixed(&n1), b = run_mixed(&n2);
    assert_int_equal(n1, n2);
    assert_true(n1 > 0); /* the walker is flagged: the checksum covers real incidents */
    assert_true(a == b);
}

/* One stream fed with or without prefetch hints; the hints name events
 * two ahead, as a detector gives them, and also ones never fed. The IP
 * table holds 64 clients, so hints go stale (evicted, reused slots). */
typedef struct prefetch_run {
    collected c;
    rp_engine_stats stats;
    uint64_t verdicts; /* a hash of every (before, after) pair */
} prefetch_run;

static void feed_hinted(bool hints, prefetch_run *r) {
    rp_config *config = rp_config_default();
    config->capacity[RP_LEVEL_IP] = 64;
    memset(r, 0, sizeof *r);
    rp_engine *e = new_engine(config, &r->c);
    enum { N = 6000 };
    static rp_event evs[N];
    static char paths[N][32], ips[N][32];
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0) { /* a fast walker */
            snprintf(paths[i], sizeof paths[i], "/api/users/%d", i);
            snprintf(ips[i], sizeof ips[i], "198.51.100.77");
        } else { /* more addresses than the table holds */
            snprintf(paths[i], sizeof paths[i], "/api/products");
            snprintf(ips[i], sizeof ips[i], "192.0.2.%d", i * 7 % 250 + 1);
        }
        make_event(&evs[i], ips[i], T0 + i * 20000LL, "GET", paths[i], i % 3 == 0 ? 404 : 200);
    }
    rp_event stranger;
    make_event(&stranger, "203.0.113.9", T0, "GET", "/", 200);
    for (int i = 0; i < N; i++) {
        if (hints && i + 2 < N) rp_engine_prefetch(e, &evs[i + 2]);
        if (hints && i % 100 == 0) rp_engine_prefetch(e, &stranger);
        rp_action before, after = rp_engine_feed_verdicts(e, &evs[i], &before);
        r->verdicts = r->verdicts * 31 + (uint64_t)before * 8 + (uint64_t)after;
    }
    rp_engine_flush(e);
    rp_engine_get_stats(e, &r->stats);
    rp_engine_free(e);
    rp_config_free(config);
}

static void test_engine_prefetch_hints_change_nothing(void **s) {
    (void)s;
    prefetch_run plain, hinted;
    feed_hinted(false, &plain);
    feed_hinted(true, &hinted);
    assert_true(plain.c.incidents > 0); /* the walker is flagged */
    assert_true(plain.stats.clients_evicted[RP_LEVEL_IP] > 1000);
    assert_int_equal(hinted.c.incidents, plain.c.incidents);
    assert_int_equal(hinted.c.decisions, plain.c.decisions);
    assert_true(hinted.c.checksum == plain.c.checksum);
    assert_true(hinted.verdicts == plain.verdicts);
    assert_int_equal(hinted.stats.events, plain.stats.events);
    assert_int_equal(hinted.stats.clients_tracked[RP_LEVEL_IP],
                     plain.stats.clients_tracked[RP_LEVEL_IP]);
    assert_int_equal(hinted.stats.clients_evicted[RP_LEVEL_IP],
                     plain.stats.clients_evicted[RP_LEVEL_IP]);
    assert_int_equal(hinted.stats.clients_tracked[RP_LEVEL_SUBNET],
                     plain.stats.clients_tracked[RP_LEVEL_SUBNET]);
}

static void test_engine_reconfigure_keeps_state_and_rejects_capacity_change(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    make_event(&ev, "192.0.2.1", T0, "GET", "/", 200);
    rp_engine_feed(e, &ev);
    rp_config *config = rp_config_default();
    rp_error err;
    assert_int_equal(rp_engine_reconfigure(e, config, &err), RP_OK);
    config->capacity[RP_LEVEL_IP] = 17;
    assert_int_equal(rp_engine_reconfigure(e, config, &err), RP_EINVAL);
    assert_non_null(strstr(err.message, "restart"));
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    assert_int_equal(st.clients_tracked[RP_LEVEL_IP], 1);
    rp_engine_free(e);
    rp_config_free(config);
}


/* A flood is blocked, the block expires, the flood comes back: the second
 * decision is a repeat offense and lasts twice as long. */
static void test_engine_escalates_repeat_offenders(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    int64_t t = T0;
    for (int i = 0; i < 600; i++, t += 5000) { /* 200 req/s for 3 s */
        make_event(&ev, "198.51.100.9", t, "GET", "/api/products", 200);
        rp_engine_feed(e, &ev);
    }
    /* the score climbs as the flood goes on: throttle, then block -- one
     * offense */
    assert_true(c.decisions >= 1 && c.decisions <= 2);
    int after_first = c.decisions;
    rp_decision first = c.last_decision;
    assert_int_equal(first.action, RP_ACTION_BLOCK);
    assert_int_equal(c.last.offense, 1);
    int64_t first_len = first.expires_us - first.start_us;
    assert_true(first_len == 15 * 60 * SEC); /* block_for at the normal tolerance */
    /* quiet until the block has expired, then the same flood */
    t = first.expires_us + 60 * SEC;
    for (int i = 0; i < 600; i++, t += 5000) {
        make_event(&ev, "198.51.100.9", t, "GET", "/api/products", 200);
        rp_engine_feed(e, &ev);
    }
    assert_true(c.decisions > after_first);
    assert_int_equal(c.last_decision.action, RP_ACTION_BLOCK);
    assert_int_equal(c.last.offense, 2);
    assert_true(c.last_decision.expires_us - c.last_decision.start_us == 2 * first_len);
    rp_engine_free(e);
}

/* The incident explains itself: the flood's evidence names the rate. */
static void test_engine_incident_carries_evidence_and_samples(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    for (int i = 0; i < 600; i++) {
        make_event(&ev, "198.51.100.10", T0 + i * 5000LL, "GET", "/api/products", 200);
        rp_engine_feed(e, &ev);
    }
    rp_engine_flush(e);
    assert_true(c.incidents >= 1);
    assert_true(c.last.n_findings >= 1);
    assert_string_equal(c.last.findings[0].detector, "rate");
    assert_non_null(strstr(c.last.findings[0].summary, "rate: "));
    assert_true(c.last.findings[0].n_features >= 1);
    assert_true(c.last.n_samples >= 1);
    assert_string_equal(c.last.samples[0].path, "/api/products");
    assert_true(c.last.requests >= 600);
    assert_true(c.last.threats & RP_THREAT_FLOOD);
    /* the live picture agrees */
    rp_incident live;
    assert_true(rp_engine_explain(e, &c.last.key, &live));
    assert_int_equal(live.action, RP_ACTION_BLOCK);
    assert_true(live.requests >= 600);
    rp_engine_free(e);
}


/* Many addresses in one /24, each failing one login a minute (far under
 * every per-address threshold): the /24 is flagged as a swarm, its members
 * are stopped on their next failed attempt, and a neighbour in the same
 * /24 who logs in successfully is left alone. */
static void test_engine_stops_a_slow_swarm_but_not_its_neighbour(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    char ip[32];
    int64_t t = T0;
    rp_action last_member = RP_ACTION_NONE, neighbour = RP_ACTION_NONE;
    for (int minute = 0; minute < 10; minute++) {
        for (int m = 1; m <= 30; m++, t += 2 * SEC) {
            snprintf(ip, sizeof ip, "203.0.113.%d", m);
            make_event(&ev, ip, t, "POST", "/api/login", 401);
            rp_action a = rp_engine_feed(e, &ev);
            if (minute == 9) last_member = a;
        }
        /* the neighbour logs in fine once a minute */
        make_event(&ev, "203.0.113.200", t, "POST", "/api/login", 200);
        rp_action a = rp_engine_feed(e, &ev);
        if (a > neighbour) neighbour = a;
    }
    /* the neighbour's success every minute takes half the /24's run away
     * each time (a mixed population): the run settles near 60, and the
     * members are throttled, not blocked */
    assert_int_equal(last_member, RP_ACTION_THROTTLE);
    assert_int_equal(neighbour, RP_ACTION_NONE);
    /* a member's incident explains it through the swarm */
    rp_addr a1;
    rp_addr_parse("203.0.113.30", 12, &a1);
    rp_key k;
    rp_key_from_addr(&k, RP_LEVEL_IP, &a1);
    rp_incident live;
    assert_true(rp_engine_explain(e, &k, &live));
    assert_int_equal(live.action, RP_ACTION_THROTTLE);
    /* the /24 itself is monitored, never blocked: bystanders share it */
    rp_key_from_addr(&k, RP_LEVEL_SUBNET, &a1);
    assert_true(rp_engine_explain(e, &k, &live));
    assert_true(live.action == RP_ACTION_MONITOR);
    bool via = false;
    for (unsigned i = 0; i < live.n_findings; i++)
        if (strstr(live.findings[i].summary, "addresses acting as one")) via = true;
    assert_true(via);
    rp_engine_free(e);
}

/* A carrier-NAT /24: people on 8 shared addresses browse, mistype and log
 * in, while 6 addresses of the same /24 spray the login. The /24 is a
 * witness: the sprayers are stopped for their own failures, and no
 * person is charged with the takeover the /24 saw when one of them got
 * in right after the sprayers' failures, nor with the run. */
static void test_engine_never_charges_a_nat_person_with_the_subnets_swarm(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    char ip[32];
    int64_t t = T0;
    rp_action person = RP_ACTION_NONE, sprayer = RP_ACTION_NONE;
    for (int round = 0; round < 20; round++) {
        for (int m = 0; m < 18; m++, t += SEC) { /* the swarm: failures only */
            snprintf(ip, sizeof ip, "198.18.64.%d", 200 + m % 6);
            make_event(&ev, ip, t, "POST", "/api/login", 401);
            rp_action a = rp_engine_feed(e, &ev);
            if (round == 19 && a > sprayer) sprayer = a;
        }
        for (int n = 0; n < 8; n++, t += SEC) { /* people behind the NAT */
            snprintf(ip, sizeof ip, "198.18.64.%d", 10 + n);
            static const char *const pages[] = {"/", "/api/products", "/api/products/12",
                                                "/api/cart"};
            for (int k = 0; k < 4; k++) {
                make_event(&ev, ip, t, "GET", pages[k], 200);
                rp_action a = rp_engine_feed(e, &ev);
                if (a > person) person = a;
            }
            if ((round + n) % 3 == 0) { /* a typo, then the right password */
                make_event(&ev, ip, t, "POST", "/api/login", 401);
                rp_action a = rp_engine_feed(e, &ev);
                if (a > person) person = a;
            }
            if ((round + n) % 3 != 2) {
                make_event(&ev, ip, t + SEC / 2, "POST", "/api/login", 200);
                rp_action a = rp_engine_feed(e, &ev);
                if (a > person) person = a;
            }
        }
    }
    assert_int_equal(person, RP_ACTION_NONE);
    assert_true(sprayer >= RP_ACTION_THROTTLE);
    rp_engine_free(e);
}

/* Combined logs carry no header names, but a user agent on one auth route
 * still groups a spray: 30 addresses in 30 /16s, 4 failed logins each
 * over two minutes with one library UA. 40 people sharing one browser UA
 * on the same route, who mistype and then log in, are never stopped. */
static void test_engine_groups_a_spray_by_its_user_agent_on_the_login_route(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    char ip[32];
    static const char lib[] = "python-requests/2.28.1";
    int stopped = 0;
    rp_action person = RP_ACTION_NONE;
    for (int k = 0; k < 4; k++) {
        for (int m = 0; m < 30; m++) {
            int64_t t = T0 + (k * 30 + m) * SEC;
            snprintf(ip, sizeof ip, "%d.%d.7.9", 11 + m * 7, 40 + m);
            make_event(&ev, ip, t, "POST", "/v2/auth/token", 400);
            ev.user_agent.ptr = lib;
            ev.user_agent.len = sizeof lib - 1;
            rp_action a = rp_engine_feed(e, &ev);
            if (k == 3 && a >= RP_ACTION_THROTTLE) stopped++;
            /* a person with the everyday browser UA: a typo, then in */
            snprintf(ip, sizeof ip, "100.%d.%d.5", 64 + m, k);
            make_event(&ev, ip, t, "GET", "/shop", 200);
            rp_action a2 = rp_engine_feed(e, &ev);
            if (a2 > person) person = a2;
            make_event(&ev, ip, t + 1, "POST", "/v2/auth/token", (m + k) % 4 ? 200 : 400);
            a2 = rp_engine_feed(e, &ev);
            if (a2 > person) person = a2;
            if ((m + k) % 4 == 0) {
                make_event(&ev, ip, t + 2, "POST", "/v2/auth/token", 200);
                a2 = rp_engine_feed(e, &ev);
                if (a2 > person) person = a2;
            }
        }
    }
    assert_true(stopped >= 25);
    assert_int_equal(person, RP_ACTION_NONE);
    rp_engine_free(e);
}

/* A partner's key leaks: 30 addresses in 30 networks start using it while
 * the partner keeps polling with it from its own address. The newcomers
 * are stopped one by one; the partner (the key's established address)
 * and the key itself are not -- the key is a witness. */
static void test_engine_stops_a_leaked_keys_newcomers_but_not_its_owner(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    char ip[32], path[64];
    uint64_t key = rp_hash64("pk_partner", 10, 0);
    rp_action owner = RP_ACTION_NONE;
    int stopped = 0;
    int64_t t = T0;
    for (int i = 0; i < 60; i++, t += 20 * SEC) { /* 20 min of the partner alone */
        make_event(&ev, "192.0.2.10", t, "GET", "/v2/orders", 200);
        ev.token_id = key;
        rp_action a = rp_engine_feed(e, &ev);
        if (a > owner) owner = a;
    }
    for (int k = 0; k < 6; k++) {
        for (int m = 0; m < 30; m++, t += 2 * SEC) {
            snprintf(ip, sizeof ip, "%d.%d.1.7", 20 + m * 6, 10);
            snprintf(path, sizeof path, "/v2/orders/%d", 1000 + (k * 30 + m) * 37);
            make_event(&ev, ip, t, "GET", path, 200);
            ev.token_id = key;
            rp_action a = rp_engine_feed(e, &ev);
            if (k == 5 && a >= RP_ACTION_THROTTLE) stopped++;
            if (m % 10 == 0) {
                make_event(&ev, "192.0.2.10", t + SEC, "GET", "/v2/orders", 200);
                ev.token_id = key;
                a = rp_engine_feed(e, &ev);
                if (a > owner) owner = a;
            }
        }
    }
    assert_true(stopped >= 25);
    assert_int_equal(owner, RP_ACTION_NONE);
    rp_key k;
    rp_key_from_id(&k, RP_LEVEL_TOKEN, key);
    rp_incident live;
    assert_true(rp_engine_explain(e, &k, &live));
    assert_true(live.action <= RP_ACTION_MONITOR);
    rp_engine_free(e);
}

/* Campaigns: addresses that each send the same few writes with one user
 * agent and nothing else. 60 addresses, each POSTing to /, /index.php,
 * /admin and /api over three hours, among people, an app whose users
 * begin with the same kind of write, and a GraphQL client that only
 * writes: the members after the first 20 or so are stopped, nobody else. */
static rp_action campaign_feed(rp_engine *e, const char *ip, int64_t t, const char *method,
                               const char *path, int status, const char *ua) {
    rp_event ev;
    make_event(&ev, ip, t, method, path, status);
    ev.user_agent.ptr = ua;
    ev.user_agent.len = (uint32_t)strlen(ua);
    return rp_engine_feed(e, &ev);
}

static void test_engine_stops_a_campaign_of_the_same_four_posts(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    static const char bot[] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0)";
    static const char app[] = "okhttp/4.12.0";
    static const char browser[] = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)";
    static const char *const posts[] = {"/", "/index.php", "/admin", "/api"};
    char ip[32];
    int stopped = 0, late = 0;
    rp_action others = RP_ACTION_NONE;
    int64_t t = T0;
    for (int m = 0; m < 60; m++) {
        snprintf(ip, sizeof ip, "%d.%d.33.%d", 30 + m * 3, 7 + m, 1 + m);
        rp_action worst = RP_ACTION_NONE;
        for (int k = 0; k < 4; k++) {
            rp_action a = campaign_feed(e, ip, t + k * SEC, "POST", posts[k], 200, bot);
            if (a > worst) worst = a;
        }
        if (worst >= RP_ACTION_THROTTLE) stopped++;
        if (m >= 40 && worst >= RP_ACTION_THROTTLE) late++;
        /* between members: 5 app users (a token, then reads), a person,
         * a GraphQL client that only writes */
        for (int u = 0; u < 5; u++) {
            snprintf(ip, sizeof ip, "100.70.%d.%d", m, u + 1);
            rp_action a = campaign_feed(e, ip, t, "POST", "/v2/auth/token", 200, app);
            if (a > others) others = a;
            a = campaign_feed(e, ip, t + SEC, "GET", "/v2/catalog/items", 200, app);
            if (a > others) others = a;
        }
        snprintf(ip, sizeof ip, "81.2.%d.9", m);
        rp_action a = campaign_feed(e, ip, t, "GET", "/", 200, browser);
        if (a > others) others = a;
        a = campaign_feed(e, ip, t + 2 * SEC, "POST", "/api", 200, browser);
        if (a > others) others = a;
        /* a webhook provider: every delivery from another address of its
         * range, one POST each, never anything else */
        snprintf(ip, sizeof ip, "140.82.%d.%d", 112 + m % 16, m);
        a = campaign_feed(e, ip, t + 3 * SEC, "POST", "/hooks/github", 200, "GitHub-Hookshot/8e0f2a1");
        if (a > others) others = a;
        snprintf(ip, sizeof ip, "90.1.%d.4", m % 8);
        for (int q = 0; q < 3; q++) {
            a = campaign_feed(e, ip, t + q * SEC, "POST", "/graphql", 200, app);
            if (a > others) others = a;
        }
        t += 180 * SEC;
    }
    assert_int_equal(others, RP_ACTION_NONE);
    /* judged once 20 members have had 5-10 min to go on: from about the
     * 25th member on */
    assert_true(stopped >= 30);
    assert_int_equal(late, 20); /* every member once the crowd is visible */
    assert_true(c.last.n_findings > 0);
    rp_engine_free(e);
}

/* An attacker that copies the app's first request (same UA, same token
 * route) and stops after two attempts: its members are charged on their
 * terminal sequence; the app's hundreds of users, who begin the same way
 * and go on, never. */
static void test_engine_campaign_copying_an_apps_first_request_spares_the_app(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    static const char app[] = "okhttp/4.12.0";
    char ip[32];
    int stopped = 0;
    rp_action users = RP_ACTION_NONE;
    int64_t t = T0;
    for (int m = 0; m < 60; m++, t += 30 * SEC) {
        for (int u = 0; u < 10; u++) {
            snprintf(ip, sizeof ip, "100.64.%d.%d", m, u + 1);
            rp_action a = campaign_feed(e, ip, t, "POST", "/v2/auth/token", 200, app);
            if (a > users) users = a;
            a = campaign_feed(e, ip, t + SEC, "GET", "/v2/orders", 200, app);
            if (a > users) users = a;
        }
        snprintf(ip, sizeof ip, "%d.%d.9.9", 40 + m * 2, 11 + m);
        campaign_feed(e, ip, t + 2 * SEC, "POST", "/v2/auth/token", 400, app);
        if (campaign_feed(e, ip, t + 5 * SEC, "POST", "/v2/auth/token", 400, app) >=
            RP_ACTION_THROTTLE)
            stopped++;
    }
    assert_int_equal(users, RP_ACTION_NONE);
    assert_true(stopped >= 30);
    rp_engine_free(e);
}

static void fingerprinted(rp_event *ev, const char *ua, uint64_t header_hash) {
    ev->user_agent.ptr = ua;
    ev->user_agent.len = (uint32_t)strlen(ua);
    ev->header_hash = header_hash;
    ev->flags |= RP_EVENT_HEADERS_KNOWN;
}

/* A catalogue split between 100 addresses in 50 networks, one object
 * each every 30 s (3 requests/s together, nothing per address): the
 * shared fingerprint covers the catalogue without revisits, so the
 * members are stopped. A person with the very same browser build and
 * header set, who lists and revisits, is not; nor are the 30 addresses
 * of a declared search crawler covering the site the same way. */
static void test_engine_stops_a_scraping_swarm_but_not_a_person_with_its_fingerprint(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    static const char chrome[] =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36";
    static const char googlebot[] =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    rp_event ev;
    char ip[32], path[64];
    int stopped = 0, via = 0;
    rp_action person = RP_ACTION_NONE, crawler = RP_ACTION_NONE;
    unsigned id = 1;
    int64_t t = T0;
    for (int round = 0; round < 40; round++) {      /* 20 minutes */
        for (int m = 0; m < 100; m++, t += 300000) { /* 100 members in 30 s */
            snprintf(ip, sizeof ip, "198.51.%d.%d", m / 2, 10 + m % 2);
            snprintf(path, sizeof path, "/api/products/%u", id++);
            make_event(&ev, ip, t, "GET", path, 200);
            fingerprinted(&ev, chrome, 0x5eed);
            int before = c.incidents;
            rp_action a = rp_engine_feed(e, &ev);
            if (round == 39 && a >= RP_ACTION_THROTTLE) stopped++;
            /* a member's incident names the swarm */
            for (unsigned i = 0; c.incidents > before && i < c.last.n_findings; i++)
                if (c.last.key.level == RP_LEVEL_IP &&
                    strstr(c.last.findings[i].summary, "acting as one scraper") &&
                    strstr(c.last.findings[i].summary, "(via fingerprint:"))
                    via++;
            if (m % 10 == 0) { /* the person: a list, then a popular product */
                make_event(&ev, "192.0.2.77", t + 1000, "GET", "/api/products", 200);
                fingerprinted(&ev, chrome, 0x5eed);
                a = rp_engine_feed(e, &ev);
                if (a > person) person = a;
                snprintf(path, sizeof path, "/api/products/%u", 1u + (unsigned)(m / 10) % 4);
                make_event(&ev, "192.0.2.77", t + 2000, "GET", path, 200);
                fingerprinted(&ev, chrome, 0x5eed);
                a = rp_engine_feed(e, &ev);
                if (a > person) person = a;
            }
            if (m % 3 == 0) { /* the crawler, one of 30 addresses */
                snprintf(ip, sizeof ip, "66.249.66.%d", 1 + m % 30);
                snprintf(path, sizeof path, "/products/%u", 100000u + id);
                make_event(&ev, ip, t + 3000, "GET", path, 200);
                fingerprinted(&ev, googlebot, 0xb07);
                a = rp_engine_feed(e, &ev);
                if (a > crawler) crawler = a;
            }
        }
    }
    assert_true(stopped >= 95);
    /* (the person clicks with machine regularity here: interval may note it) */
    assert_true(person < RP_ACTION_THROTTLE);
    assert_true(crawler < RP_ACTION_THROTTLE);
    rp_addr pa;
    rp_addr_parse("192.0.2.77", 10, &pa);
    rp_key pk;
    rp_key_from_addr(&pk, RP_LEVEL_IP, &pa);
    rp_incident pi;
    if (rp_engine_explain(e, &pk, &pi))
        for (unsigned i = 0; i < pi.n_findings; i++)
            assert_null(strstr(pi.findings[i].summary, "uniqueness"));
    assert_true(via >= 95);
    rp_engine_free(e);
}

/* A stuffing swarm that never reuses an address: 400 addresses in 400
 * networks, one failed login each, one browser build. No address can be
 * judged on its own; the fingerprint is decided on the login route
 * (fingerprint:FP@SCOPE), so later attempts are refused whatever their
 * address, while a person with the same browser build can still read
 * the catalogue. */
static const char chrome131[] =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36";

/* 400 failed logins, each from a new address in a new network, one
 * browser build, 2 a second. Returns how many were refused as they came
 * (a decision already in force: for a new address, only one on its
 * fingerprint can be); *first = the first refused, or -1. */
static int rotating_stuffing(rp_engine *e, int64_t *t, int *first) {
    rp_event ev;
    char ip[32];
    int refused = 0;
    *first = -1;
    for (int i = 0; i < 400; i++, *t += SEC / 2) {
        snprintf(ip, sizeof ip, "%d.%d.%d.9", 11 + i % 150, i / 150 + 1, i % 200 + 1);
        make_event(&ev, ip, *t, "POST", "/api/login", 401);
        fingerprinted(&ev, chrome131, 0x5eed);
        rp_action before;
        rp_engine_feed_verdicts(e, &ev, &before);
        if (before >= RP_ACTION_THROTTLE) {
            refused++;
            if (*first < 0) *first = i;
        }
    }
    return refused;
}

/* One address stuffing with a browser build, and taking over an account:
 * its address is stopped, and its fingerprint's score (its own) makes no
 * route decision -- that would
 * refuse every person with that browser build on the login route for what
 * one address did. */
static void test_engine_one_stuffer_is_no_route_decision(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    int64_t t = T0;
    int stopped_at = -1;
    for (int i = 0; i < 300; i++, t += SEC / 10) { /* 10 attempts a second */
        /* the 15th pair works (throttled, it still gets through): a takeover */
        make_event(&ev, "198.51.100.10", t, "POST", "/api/login", i == 14 ? 200 : 401);
        fingerprinted(&ev, chrome131, 0x5eed);
        rp_action before;
        rp_engine_feed_verdicts(e, &ev, &before);
        if (before >= RP_ACTION_THROTTLE && stopped_at < 0) stopped_at = i;
    }
    assert_true(stopped_at > 0 && stopped_at < 30);
    assert_int_equal(c.last_fingerprint_decision.key.level, 0); /* none on the fingerprint */
    /* a person with the same browser build logs in on that route: served */
    make_event(&ev, "100.64.1.1", t, "POST", "/api/login", 200);
    fingerprinted(&ev, chrome131, 0x5eed);
    rp_action before;
    rp_engine_feed_verdicts(e, &ev, &before);
    assert_int_equal(before, RP_ACTION_NONE);
    rp_engine_free(e);
}

static void test_engine_decides_a_fingerprint_on_the_login_route(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    const char *chrome = chrome131;
    rp_event ev;
    int64_t t = T0;
    int first_stop;
    int stopped = rotating_stuffing(e, &t, &first_stop);
    assert_true(first_stop >= 0 && first_stop < 100);
    assert_true(stopped >= 400 - first_stop - 5);
    /* the decision names the fingerprint on the route */
    assert_int_equal(c.last_fingerprint_decision.key.level, RP_LEVEL_FINGERPRINT);
    uint64_t scope;
    memcpy(&scope, c.last_fingerprint_decision.key.bytes + 8, 8);
    assert_int_equal(scope, rp_scope_hash("/api/login", 10));
    char text[96];
    rp_key_format(&c.last_fingerprint_decision.key, text, sizeof text);
    assert_non_null(strchr(text, '@'));
    rp_key back;
    assert_int_equal(rp_key_parse(text, strlen(text), &back), RP_OK);
    assert_true(rp_key_equal(&back, &c.last_fingerprint_decision.key));
    /* a fresh address with that browser build is refused on the login
     * route before its attempt is judged: what the nginx module enforces
     * (it cannot know the answer yet) */
    make_event(&ev, "100.64.1.1", t, "POST", "/api/login", 200);
    fingerprinted(&ev, chrome, 0x5eed);
    assert_true(rp_engine_feed(e, &ev) >= RP_ACTION_THROTTLE);
    /* the same browser build elsewhere on the site is not stopped */
    make_event(&ev, "192.0.2.55", t, "GET", "/api/products", 200);
    fingerprinted(&ev, chrome, 0x5eed);
    assert_int_equal(rp_engine_feed(e, &ev), RP_ACTION_NONE);
    /* another browser on the login route is not stopped */
    make_event(&ev, "192.0.2.56", t, "POST", "/api/login", 200);
    fingerprinted(&ev, chrome, 0x07e4);
    assert_int_equal(rp_engine_feed(e, &ev), RP_ACTION_NONE);
    rp_engine_free(e);

    /* engine.route_decisions: false -- swarms are stopped address by
     * address only, so a swarm that never comes back is never refused */
    rp_config *config = rp_config_default();
    config->route_decisions = false;
    collected c2 = {0};
    e = new_engine(config, &c2);
    t = T0;
    assert_int_equal(rotating_stuffing(e, &t, &first_stop), 0);
    assert_int_equal(c2.last_fingerprint_decision.key.level, 0);
    rp_engine_free(e);
    rp_config_free(config);
}

/* The verdict before an event is what a proxy enforced on it; the one
 * after is what the client's next request meets. They differ exactly on
 * the request that triggered the decision. */
/* A blocked client that keeps reading valid products gets the module's
 * 403s: those refusals are counted, never judged (no "denied objects", no
 * failed logins, no escalation). */
static void test_engine_never_judges_its_own_refusals(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_decision d = {.action = RP_ACTION_BLOCK, .start_us = T0, .expires_us = T0 + 3600 * SEC};
    rp_event ev;
    make_event(&ev, "198.51.100.7", T0, "GET", "/", 200);
    rp_key_from_addr(&d.key, RP_LEVEL_IP, &ev.client);
    rp_engine_decide(e, &d);
    int decisions = c.decisions;
    char path[64];
    for (int i = 0; i < 400; i++) { /* 400 distinct ids, every one refused by the module */
        snprintf(path, sizeof path, "/api/products/%d", 1000 + i * 7);
        make_event(&ev, "198.51.100.7", T0 + i * 200000, "GET", path, 403);
        ev.flags |= RP_EVENT_REFUSED;
        assert_int_equal(rp_engine_feed(e, &ev), RP_ACTION_BLOCK);
        make_event(&ev, "198.51.100.7", T0 + i * 200000 + 1000, "POST", "/api/login", 403);
        ev.flags |= RP_EVENT_REFUSED;
        rp_engine_feed(e, &ev);
    }
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    assert_int_equal(st.refused, 800);
    assert_int_equal(c.incidents, 0);
    assert_int_equal(c.decisions, decisions);
    /* the same requests answered 403 by the upstream are judged */
    for (int i = 0; i < 400; i++) {
        snprintf(path, sizeof path, "/api/products/%d", 1000 + i * 7);
        make_event(&ev, "198.51.100.8", T0 + i * 200000, "GET", path, 403);
        rp_engine_feed(e, &ev);
    }
    assert_true(c.incidents > 0);
    rp_engine_free(e);
}

static void test_engine_verdict_before_an_event_lags_the_decision_by_one_request(void **s) {
    (void)s;
    collected c = {0};
    rp_engine *e = new_engine(NULL, &c);
    rp_event ev;
    int trigger = -1;
    for (int i = 0; i < 2000 && trigger < 0; i++) {
        make_event(&ev, "203.0.113.9", T0 + i * (SEC / 100), "GET", "/api/products", 200);
        rp_action before, after = rp_engine_feed_verdicts(e, &ev, &before);
        if (after >= RP_ACTION_THROTTLE) {
            assert_true(before < RP_ACTION_THROTTLE); /* maybe monitored already */
            trigger = i;
        }
    }
    assert_true(trigger > 0);
    make_event(&ev, "203.0.113.9", T0 + (trigger + 1) * (SEC / 100), "GET", "/api/products", 200);
    rp_action before, after = rp_engine_feed_verdicts(e, &ev, &before);
    assert_true(before >= RP_ACTION_THROTTLE);
    assert_int_equal(before, after);
    rp_engine_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_memory_stays_at_cap_under_random_ip_spray),
        cmocka_unit_test(test_engine_client_state_fits_512_bytes),
        cmocka_unit_test(test_engine_counts_out_of_order_events),
        cmocka_unit_test(test_engine_skips_allowlisted_cidr),
        cmocka_unit_test(test_engine_manual_decision_goes_out_and_allow_bypasses),
        cmocka_unit_test(test_engine_removal_pardons_and_behaviour_after_is_judged),
        cmocka_unit_test(test_engine_is_deterministic),
        cmocka_unit_test(test_engine_prefetch_hints_change_nothing),
        cmocka_unit_test(test_engine_escalates_repeat_offenders),
        cmocka_unit_test(test_engine_stops_a_slow_swarm_but_not_its_neighbour),
        cmocka_unit_test(test_engine_stops_a_scraping_swarm_but_not_a_person_with_its_fingerprint),
        cmocka_unit_test(test_engine_one_stuffer_is_no_route_decision),
        cmocka_unit_test(test_engine_decides_a_fingerprint_on_the_login_route),
        cmocka_unit_test(test_engine_verdict_before_an_event_lags_the_decision_by_one_request),
        cmocka_unit_test(test_engine_never_judges_its_own_refusals),
        cmocka_unit_test(test_engine_never_charges_a_nat_person_with_the_subnets_swarm),
        cmocka_unit_test(test_engine_groups_a_spray_by_its_user_agent_on_the_login_route),
        cmocka_unit_test(test_engine_stops_a_leaked_keys_newcomers_but_not_its_owner),
        cmocka_unit_test(test_engine_stops_a_campaign_of_the_same_four_posts),
        cmocka_unit_test(test_engine_campaign_copying_an_apps_first_request_spares_the_app),
        cmocka_unit_test(test_engine_incident_carries_evidence_and_samples),
        cmocka_unit_test(test_engine_reconfigure_keeps_state_and_rejects_capacity_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
