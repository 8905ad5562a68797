/*
 * test_engine_levels.c -- the engine's per-event levels mask
 * (rp_event.uncounted): in a partitioned fleet each key of an event is
 * counted by one engine (src/common/partition.c), so an engine must count
 * exactly the levels it is left, and a fleet split by the scheme must see
 * an aggregate attack as one engine does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "partition.h"
#include "rampart.h"

#define SEC 1000000LL
#define T0 (1764064800LL * SEC) /* 2025-11-25T10:00:00Z */
#define ALL_AGGREGATES                                                                          \
    ((1u << RP_LEVEL_FINGERPRINT) | (1u << RP_LEVEL_TOKEN) | (1u << RP_LEVEL_SESSION) |           \
     (1u << RP_LEVEL_USERNAME))
#define ADDRESS ((1u << RP_LEVEL_IP) | (1u << RP_LEVEL_SUBNET))

/* What one engine said: the attempt (event number) of the first incident
 * on the attacked account and of the first decision on a fingerprint. */
typedef struct seen {
    int now;
    int account_incident, fingerprint_decision;
    int decisions, address_decisions;
} seen;

static void on_incident(void *u, const rp_incident *inc) {
    seen *s = u;
    if (inc->key.level == RP_LEVEL_USERNAME && s->account_incident < 0)
        s->account_incident = s->now;
}

/* The fleet's table as every node mirrors it: the address decisions of
 * all the engines, for in_force. */
#define TABLE 64
static rp_decision table[TABLE];
static unsigned table_n;

static rp_action in_force(void *u, const rp_key *key, int64_t ts_us) {
    (void)u;
    rp_action a = RP_ACTION_NONE;
    for (unsigned i = 0; i < table_n; i++)
        if (rp_key_equal(&table[i].key, key) && table[i].expires_us > ts_us &&
            table[i].action > a)
            a = table[i].action;
    return a;
}

static void on_decision(void *u, const rp_decision *d) {
    seen *s = u;
    s->decisions++;
    if (d->key.level == RP_LEVEL_IP && table_n < TABLE) table[table_n++] = *d;
    if (d->key.level == RP_LEVEL_IP) s->address_decisions++;
    if (d->key.level == RP_LEVEL_FINGERPRINT && s->fingerprint_decision < 0)
        s->fingerprint_decision = s->now;
}

/* The fleet's witness hash, as the daemons keep it (cluster_witness.c):
 * the last charge published per key and detector, read at once here. */
#define BOARD 64
static struct {
    rp_key key;
    const char *detector;
    double charge;
} board[BOARD];
static unsigned board_n;

static void on_witness(void *u, const rp_key *key, const char *detector, double charge) {
    (void)u;
    unsigned i = 0;
    while (i < board_n && !(rp_key_equal(&board[i].key, key) && board[i].detector == detector)) i++;
    if (i == board_n && charge < RP_WITNESS_FLOOR) return; /* never published */
    assert_true(i < BOARD);
    if (i == board_n) board_n++;
    board[i].key = *key, board[i].detector = detector, board[i].charge = charge;
}

static unsigned witness(void *u, const rp_key *key, rp_witness *out, unsigned max) {
    (void)u;
    unsigned n = 0;
    for (unsigned i = 0; i < board_n && n < max; i++)
        if (rp_key_equal(&board[i].key, key))
            out[n++] = (rp_witness){.detector = board[i].detector, .charge = board[i].charge};
    return n;
}

static bool published; /* the engines get the fleet's callbacks */

static rp_engine *new_engine(seen *s) {
    *s = (seen){.account_incident = -1, .fingerprint_decision = -1};
    rp_engine_callbacks cb = {.user = s, .on_incident = on_incident, .on_decision = on_decision};
    if (published) cb.on_witness = on_witness, cb.witness = witness, cb.in_force = in_force;
    rp_engine *e = NULL;
    rp_error err;
    assert_int_equal(rp_engine_new(NULL, &cb, &e, &err), RP_OK);
    return e;
}

static const char spray_ua[] =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36";

/* A failed login on one account, from ip, by one browser build (a user
 * agent and a header set, as the nginx module reports them). */
static void attempt(rp_event *ev, const char *ip, int64_t ts) {
    memset(ev, 0, sizeof *ev);
    assert_int_equal(rp_addr_parse(ip, strlen(ip), &ev->client), RP_OK);
    ev->ts_us = ts;
    ev->method = RP_METHOD_POST;
    ev->path = (rp_str){"/api/login", 10};
    ev->status = 401;
    ev->upstream_us = -1;
    ev->user_agent = (rp_str){spray_ua, sizeof spray_ua - 1};
    ev->header_hash = 0x5eed;
    ev->flags = RP_EVENT_HEADERS_KNOWN;
    ev->credential_id = 0xacc0u; /* the one account */
}

static void tracked(rp_engine *e, uint64_t want[RP_LEVEL_COUNT]) {
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    for (int l = 0; l < RP_LEVEL_COUNT; l++) assert_int_equal(st.clients_tracked[l], want[l]);
}

static void test_engine_counts_only_the_levels_it_is_left(void **state) {
    (void)state;
    seen s;
    rp_engine *e = new_engine(&s);
    rp_event ev;
    attempt(&ev, "203.0.113.7", T0);
    ev.token_id = 7, ev.session_id = 9;
    ev.uncounted = ADDRESS; /* an aggregate stream's copy */
    rp_engine_feed(e, &ev);
    tracked(e, (uint64_t[RP_LEVEL_COUNT]){0, 0, 1, 1, 1, 1});
    ev.uncounted = ALL_AGGREGATES; /* the address's stream, aggregates elsewhere */
    rp_engine_feed(e, &ev);
    tracked(e, (uint64_t[RP_LEVEL_COUNT]){1, 1, 1, 1, 1, 1});
    attempt(&ev, "198.51.100.1", T0 + SEC);
    ev.uncounted = (1u << RP_LEVEL_USERNAME) | ADDRESS;
    rp_engine_feed(e, &ev);
    tracked(e, (uint64_t[RP_LEVEL_COUNT]){1, 1, 1, 1, 1, 1});
    ev.uncounted = 0; /* everything: one engine, as without partitions */
    rp_engine_feed(e, &ev);
    tracked(e, (uint64_t[RP_LEVEL_COUNT]){2, 2, 1, 1, 1, 1});
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    assert_int_equal(st.events, 4); /* every event is counted as received */
    rp_engine_free(e);
}

/* Credential stuffing against one account from 96 /24s, 2 attempts each
 * (under every address threshold): one engine, then four engines fed as
 * the fleet feeds them (each event to its address's partition, and a copy
 * to every other partition holding one of its aggregate keys, with the
 * levels each must not count). The account's engine and the
 * fingerprint's see every attempt: the account's incident and the
 * decision on the user agent on the login route come at the same attempt
 * as in one engine. Without the copies they would come later or never. */
static void stuff(rp_engine **engines, seen *seen_by, unsigned n, bool copies) {
    rp_event ev;
    char ip[32];
    for (int i = 0; i < 192; i++) {
        snprintf(ip, sizeof ip, "%d.%d.%d.9", 11 + (i % 96), 7 + (i % 96) / 50, 3 + i % 96);
        attempt(&ev, ip, T0 + i * SEC / 2);
        uint16_t parts[RP_LEVEL_COUNT], to[RP_PARTITION_COPIES_MAX];
        rp_event_partitions(&ev, n, parts);
        unsigned p = parts[RP_LEVEL_IP], k = rp_partition_copies(parts, to);
        for (unsigned q = 0; q < n; q++) seen_by[q].now = i;
        ev.uncounted = rp_partition_uncounted(parts, p, false);
        rp_engine_feed(engines[p], &ev);
        for (unsigned j = 0; j < k && copies; j++) {
            ev.uncounted = rp_partition_uncounted(parts, to[j], true);
            rp_engine_feed(engines[to[j]], &ev);
        }
    }
}

static void test_four_engines_see_a_stuffed_account_as_one_does(void **state) {
    (void)state;
    seen one;
    rp_engine *e = new_engine(&one);
    stuff(&e, &one, 1, true);
    rp_engine_free(e);
    assert_true(one.account_incident >= 0);
    assert_true(one.fingerprint_decision >= 0);

    for (int with_copies = 1; with_copies >= 0; with_copies--) {
        seen four[4];
        rp_engine *es[4];
        for (int q = 0; q < 4; q++) es[q] = new_engine(&four[q]);
        stuff(es, four, 4, with_copies);
        rp_event ev;
        attempt(&ev, "192.0.2.1", T0);
        uint16_t parts[RP_LEVEL_COUNT];
        rp_event_partitions(&ev, 4, parts);
        const seen *account = &four[parts[RP_LEVEL_USERNAME]];
        const seen *fingerprint = &four[parts[RP_LEVEL_FINGERPRINT]];
        if (with_copies) {
            assert_int_equal(account->account_incident, one.account_incident);
            assert_int_equal(fingerprint->fingerprint_decision, one.fingerprint_decision);
        } else { /* each engine saw about a quarter of the attempts */
            assert_true(account->account_incident < 0 ||
                        account->account_incident > one.account_incident);
            assert_true(fingerprint->fingerprint_decision < 0 ||
                        fingerprint->fingerprint_decision > one.fingerprint_decision);
        }
        for (int q = 0; q < 4; q++) {
            if (with_copies && q != parts[RP_LEVEL_USERNAME])
                assert_int_equal(four[q].account_incident, -1);
            rp_engine_free(es[q]);
        }
    }
}

/* The same stuffing with people beside it (in NAT /24s whose addresses
 * are in every partition, logging in to their own accounts with a typo
 * now and then): with the witness published across the partitions, the
 * attacking addresses are stopped one by one as one engine stops them
 * (each charged on its own failed attempt by the account's or the
 * browser build's score), and no person is. Without it, only those in
 * the aggregates' own partitions are. */
static int stop_members(rp_engine **engines, seen *seen_by, unsigned n, int *people) {
    rp_event ev;
    char ip[32];
    *people = 0;
    int stopped = 0;
    for (int i = 0; i < 192; i++) {
        for (int person = 0; person < 2; person++) { /* two people, then an attempt */
            snprintf(ip, sizeof ip, "100.%d.%d.%d", 64 + (i % 8), i % 8, 5 + person);
            attempt(&ev, ip, T0 + i * SEC / 2 + person);
            ev.header_hash = 0xf1ef0c5; /* another browser build */
            ev.credential_id = 0x9000u + (uint64_t)(i % 8) * 2 + (unsigned)person;
            ev.status = (i + person) % 7 ? 200 : 401;
            uint16_t parts[RP_LEVEL_COUNT];
            rp_event_partitions(&ev, n, parts);
            ev.uncounted = rp_partition_uncounted(parts, parts[RP_LEVEL_IP], false);
            if (rp_engine_feed(engines[parts[RP_LEVEL_IP]], &ev) >= RP_ACTION_THROTTLE)
                (*people)++;
        }
        snprintf(ip, sizeof ip, "%d.%d.%d.9", 11 + (i % 96), 7 + (i % 96) / 50, 3 + i % 96);
        attempt(&ev, ip, T0 + i * SEC / 2 + 3);
        uint16_t parts[RP_LEVEL_COUNT], to[RP_PARTITION_COPIES_MAX];
        rp_event_partitions(&ev, n, parts);
        unsigned k = rp_partition_copies(parts, to);
        for (unsigned q = 0; q < n; q++) seen_by[q].now = i;
        /* the aggregates' engines first: their witness is published by the
         * time the member's engine judges the attempt */
        for (unsigned j = 0; j < k; j++) {
            ev.uncounted = rp_partition_uncounted(parts, to[j], true);
            rp_engine_feed(engines[to[j]], &ev);
        }
        ev.uncounted = rp_partition_uncounted(parts, parts[RP_LEVEL_IP], false);
        rp_engine_feed(engines[parts[RP_LEVEL_IP]], &ev);
    }
    for (unsigned q = 0; q < n; q++) stopped += seen_by[q].address_decisions;
    return stopped;
}

static void test_a_published_witness_stops_members_in_every_partition(void **state) {
    (void)state;
    int people;
    seen one;
    published = false;
    rp_engine *e = new_engine(&one);
    int by_one = stop_members(&e, &one, 1, &people);
    rp_engine_free(e);
    assert_int_equal(people, 0);
    assert_true(by_one >= 96);

    int by_four[2];
    for (int with_witness = 0; with_witness < 2; with_witness++) {
        published = with_witness;
        board_n = 0;
        seen four[4];
        rp_engine *es[4];
        for (int q = 0; q < 4; q++) es[q] = new_engine(&four[q]);
        by_four[with_witness] = stop_members(es, four, 4, &people);
        assert_int_equal(people, 0);
        for (int q = 0; q < 4; q++) rp_engine_free(es[q]);
    }
    published = false;
    assert_true(by_four[0] < by_one * 2 / 3);       /* only the aggregates' partitions */
    assert_true(by_four[1] >= by_one * 9 / 10);     /* every partition */
    assert_true(board_n > 0 && board_n <= 4);       /* the account and the browser build */
}

/* One address stuffing with a browser build and taking over an account
 * (its 15th attempt works), replayed without enforcement (its attempts go
 * on after its address is stopped): one engine makes no decision on the
 * browser build on the route -- it would refuse everyone with that build
 * for what one address did (test_engine.c). Under four partitions the
 * build's engine does not count the address; it asks the fleet's table,
 * and makes none either. */
static void test_one_stuffer_is_no_route_decision_in_four_partitions(void **state) {
    (void)state;
    for (int fleet = 0; fleet < 2; fleet++) {
        published = fleet;
        table_n = 0;
        seen four[4];
        rp_engine *es[4];
        for (int q = 0; q < 4; q++) es[q] = new_engine(&four[q]);
        rp_event ev;
        for (int i = 0; i < 300; i++) {
            attempt(&ev, "198.51.100.10", T0 + i * SEC / 10);
            ev.credential_id = 0;
            if (i == 14) ev.status = 200;
            uint16_t parts[RP_LEVEL_COUNT], to[RP_PARTITION_COPIES_MAX];
            rp_event_partitions(&ev, 4, parts);
            unsigned k = rp_partition_copies(parts, to);
            for (unsigned j = 0; j < k; j++) {
                ev.uncounted = rp_partition_uncounted(parts, to[j], true);
                rp_engine_feed(es[to[j]], &ev);
            }
            ev.uncounted = rp_partition_uncounted(parts, parts[RP_LEVEL_IP], false);
            rp_engine_feed(es[parts[RP_LEVEL_IP]], &ev);
        }
        int route = 0, address = 0;
        for (int q = 0; q < 4; q++) {
            route += four[q].fingerprint_decision >= 0;
            address += four[q].address_decisions;
            rp_engine_free(es[q]);
        }
        assert_true(address > 0); /* the address itself is stopped */
        if (fleet) assert_int_equal(route, 0);
        else assert_true(route > 0); /* the guard needs the fleet's table */
    }
    published = false;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_counts_only_the_levels_it_is_left),
        cmocka_unit_test(test_four_engines_see_a_stuffed_account_as_one_does),
        cmocka_unit_test(test_a_published_witness_stops_members_in_every_partition),
        cmocka_unit_test(test_one_stuffer_is_no_route_decision_in_four_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
