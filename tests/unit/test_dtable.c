/*
 * test_dtable.c -- the decision table: writer and lock-free reader.
 *
 * Each test builds its table in a fresh temporary directory. The
 * concurrency tests run a writer thread (or process) against readers for
 * about a second and check that every hit is self-consistent: the writer
 * only ever stores entries whose incident_id and action are functions of
 * expires_us, so a torn copy shows up as a mismatch.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dtable.h"
#include "dtable_int.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rp_dtable_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/decisions", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    (void)rc;
    free(f);
    return 0;
}

static rp_key ip_key(const char *text) {
    rp_addr a;
    assert_int_equal(rp_addr_parse(text, strlen(text), &a), RP_OK);
    rp_key k;
    rp_key_from_addr(&k, RP_LEVEL_IP, &a);
    return k;
}

static rp_key id_key(rp_key_level level, uint64_t id) {
    rp_key k;
    rp_key_from_id(&k, level, id);
    return k;
}

static rp_decision decision(rp_key key, rp_action action, int64_t expires, uint64_t incident) {
    rp_decision d;
    memset(&d, 0, sizeof d);
    d.key = key;
    d.action = action;
    d.start_us = 1000;
    d.expires_us = expires;
    d.incident_id = incident;
    return d;
}

static rp_dtable_writer *make_writer(fixture *f, uint32_t capacity) {
    rp_dtable_writer *w = NULL;
    rp_error err;
    assert_int_equal(rp_dtable_writer_create(f->path, capacity, &w, &err), RP_OK);
    return w;
}

static rp_dtable_reader *make_reader(fixture *f) {
    rp_dtable_reader *r = NULL;
    rp_error err;
    assert_int_equal(rp_dtable_reader_open(f->path, &r, &err), RP_OK);
    return r;
}

static void put_ok(rp_dtable_writer *w, rp_key key, rp_action action, int64_t expires,
                   uint64_t incident, int64_t now) {
    rp_decision d = decision(key, action, expires, incident);
    assert_int_equal(rp_dtable_put(w, &d, now), RP_OK);
}

/* ------------------------------------------------------------- basics */

static void test_dtable_put_then_lookup_returns_action_expiry_incident(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 1024);
    rp_dtable_reader *r = make_reader(f);
    rp_key k = ip_key("203.0.113.7");
    put_ok(w, k, RP_ACTION_BLOCK, 5000, 42, 100);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &k, 100, &hit), 1);
    assert_int_equal(hit.action, RP_ACTION_BLOCK);
    assert_int_equal(hit.expires_us, 5000);
    assert_int_equal(hit.incident_id, 42);
    rp_key other = ip_key("203.0.113.8");
    assert_int_equal(rp_dtable_lookup(r, &other, 100, &hit), 0);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

static void test_dtable_file_is_header_plus_entries_and_capacity_rounds_up(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 1000);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, 64 + 64 * 1024);
    assert_int_equal(st.st_mode & 0777, 0644);
    rp_dtable_stats s;
    rp_dtable_writer_stats(w, 0, &s);
    assert_int_equal(s.capacity, 1024);
    assert_int_equal(s.generation, 1);
    assert_int_equal(s.live, 0);
    rp_dtable_writer_close(w);
}

static void test_dtable_expired_entry_not_returned_and_file_unchanged(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_dtable_reader *r = make_reader(f);
    rp_key k = ip_key("198.51.100.1");
    put_ok(w, k, RP_ACTION_THROTTLE, 2000, 7, 1000);
    /* snapshot the file, look up after expiry, prove no byte changed */
    size_t size = 64 + 64 * 64;
    unsigned char *before = malloc(size), *after = malloc(size);
    FILE *fp = fopen(f->path, "rb");
    assert_int_equal(fread(before, 1, size, fp), size);
    fclose(fp);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &k, 1999, &hit), 1);
    assert_int_equal(rp_dtable_lookup(r, &k, 2000, &hit), 0);
    assert_int_equal(rp_dtable_lookup(r, &k, 2001, &hit), 0);
    fp = fopen(f->path, "rb");
    assert_int_equal(fread(after, 1, size, fp), size);
    fclose(fp);
    assert_memory_equal(before, after, size);
    rp_dtable_stats s;
    rp_dtable_writer_stats(w, 2001, &s);
    assert_int_equal(s.live, 0);
    free(before);
    free(after);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

static void test_dtable_overwrite_replaces_in_place(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_dtable_reader *r = make_reader(f);
    rp_key k = id_key(RP_LEVEL_TOKEN, 0xabcdef);
    put_ok(w, k, RP_ACTION_THROTTLE, 5000, 1, 0);
    put_ok(w, k, RP_ACTION_BLOCK, 9000, 2, 0);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &k, 100, &hit), 1);
    assert_int_equal(hit.action, RP_ACTION_BLOCK);
    assert_int_equal(hit.expires_us, 9000);
    assert_int_equal(hit.incident_id, 2);
    const rp_dtable_header *h;
    int fd = open(f->path, O_RDONLY);
    rp_dtable_header hdr;
    assert_int_equal(pread(fd, &hdr, sizeof hdr, 0), sizeof hdr);
    close(fd);
    h = &hdr;
    assert_int_equal(h->used, 1);
    rp_dtable_stats s;
    rp_dtable_writer_stats(w, 100, &s);
    assert_int_equal(s.live, 1);
    assert_int_equal(s.puts, 2);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

/* Keys whose home slot is the same, found by search: removal must leave
 * a tombstone that a later key's probe walks past. */
static void colliding_tokens(uint32_t capacity, rp_key *a, rp_key *b) {
    *a = id_key(RP_LEVEL_TOKEN, 1);
    uint64_t home = rp_dtable_key_hash(a) & (capacity - 1);
    for (uint64_t id = 2;; id++) {
        *b = id_key(RP_LEVEL_TOKEN, id);
        if ((rp_dtable_key_hash(b) & (capacity - 1)) == home) return;
    }
}

static void test_dtable_remove_tombstone_keeps_later_key_reachable(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_dtable_reader *r = make_reader(f);
    rp_key a, b;
    colliding_tokens(64, &a, &b);
    put_ok(w, a, RP_ACTION_BLOCK, 5000, 1, 0);
    put_ok(w, b, RP_ACTION_BLOCK, 5000, 2, 0);
    assert_int_equal(rp_dtable_remove(w, &a), RP_OK);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &a, 0, &hit), 0);
    assert_int_equal(rp_dtable_lookup(r, &b, 0, &hit), 1);
    assert_int_equal(hit.incident_id, 2);
    assert_int_equal(rp_dtable_remove(w, &a), RP_ENOENT);
    rp_dtable_stats s;
    rp_dtable_writer_stats(w, 0, &s);
    assert_int_equal(s.tombstones, 1);
    assert_int_equal(s.live, 1);
    assert_int_equal(s.removes, 1);
    /* re-adding a reuses the tombstone, and b is not duplicated by an
     * overwrite */
    put_ok(w, a, RP_ACTION_THROTTLE, 6000, 3, 0);
    put_ok(w, b, RP_ACTION_THROTTLE, 6000, 4, 0);
    rp_dtable_writer_stats(w, 0, &s);
    assert_int_equal(s.tombstones, 0);
    assert_int_equal(s.live, 2);
    assert_int_equal(rp_dtable_lookup(r, &b, 0, &hit), 1);
    assert_int_equal(hit.incident_id, 4);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

static void test_dtable_full_probe_range_enomem_until_expired_dropped(void **state) {
    fixture *f = *state;
    /* capacity 32 = max_probe: every slot is in every key's range */
    rp_dtable_writer *w = make_writer(f, 32);
    for (uint64_t i = 0; i < 32; i++)
        put_ok(w, id_key(RP_LEVEL_FINGERPRINT, 100 + i), RP_ACTION_BLOCK, i < 4 ? 500 : 9000, i,
               0);
    rp_key extra = id_key(RP_LEVEL_FINGERPRINT, 999);
    rp_decision d = decision(extra, RP_ACTION_BLOCK, 9000, 77);
    assert_int_equal(rp_dtable_put(w, &d, 100), RP_ENOMEM);
    rp_dtable_stats s;
    rp_dtable_writer_stats(w, 100, &s);
    assert_int_equal(s.full, 1);
    assert_int_equal(s.live, 32);
    /* at 600 four entries have expired: their slots are reused */
    assert_int_equal(rp_dtable_put(w, &d, 600), RP_OK);
    rp_dtable_reader *r = make_reader(f);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &extra, 600, &hit), 1);
    assert_int_equal(hit.incident_id, 77);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

static void test_dtable_compaction_keeps_live_and_old_reader_follows_after_refresh(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_dtable_reader *r = make_reader(f);
    rp_key live = ip_key("192.0.2.1"), expired = ip_key("192.0.2.2"), gone = ip_key("192.0.2.3");
    put_ok(w, live, RP_ACTION_BLOCK, 9000, 1, 0);
    put_ok(w, expired, RP_ACTION_BLOCK, 500, 2, 0);
    put_ok(w, gone, RP_ACTION_BLOCK, 9000, 3, 0);
    assert_int_equal(rp_dtable_remove(w, &gone), RP_OK);
    struct stat before;
    assert_int_equal(stat(f->path, &before), 0);
    rp_error err;
    assert_int_equal(rp_dtable_compact(w, 1000, &err), RP_OK);
    struct stat after;
    assert_int_equal(stat(f->path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    rp_dtable_stats s;
    rp_dtable_writer_stats(w, 1000, &s);
    assert_int_equal(s.generation, 2);
    assert_int_equal(s.live, 1);
    assert_int_equal(s.tombstones, 0);
    /* written after compaction: only in the new file */
    rp_key fresh = ip_key("192.0.2.9");
    put_ok(w, fresh, RP_ACTION_THROTTLE, 9000, 9, 1000);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &live, 1000, &hit), 1);
    assert_int_equal(rp_dtable_lookup(r, &fresh, 1000, &hit), 0);
    assert_int_equal(rp_dtable_reader_refresh(r, &err), RP_OK);
    assert_int_equal(rp_dtable_lookup(r, &fresh, 1000, &hit), 1);
    assert_int_equal(hit.incident_id, 9);
    assert_int_equal(rp_dtable_lookup(r, &live, 1000, &hit), 1);
    assert_int_equal(hit.incident_id, 1);
    assert_int_equal(rp_dtable_lookup(r, &expired, 100, &hit), 0); /* dropped */
    assert_int_equal(rp_dtable_lookup(r, &gone, 100, &hit), 0);
    /* nothing changed: refresh is a no-op */
    assert_int_equal(rp_dtable_reader_refresh(r, &err), RP_OK);
    assert_int_equal(rp_dtable_lookup(r, &fresh, 1000, &hit), 1);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

static void test_dtable_compaction_of_full_table_keeps_every_live_entry(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 256);
    int placed = 0;
    for (uint64_t i = 0; i < 256; i++) {
        rp_decision d = decision(id_key(RP_LEVEL_SESSION, i * 7919 + 1), RP_ACTION_BLOCK,
                                 i % 3 ? 9000 : 500, i + 1);
        if (rp_dtable_put(w, &d, 0) == RP_OK) placed++;
    }
    rp_dtable_stats s;
    rp_dtable_writer_stats(w, 1000, &s);
    uint32_t live_before = s.live;
    assert_true(live_before > 100);
    rp_error err;
    assert_int_equal(rp_dtable_compact(w, 1000, &err), RP_OK);
    rp_dtable_writer_stats(w, 1000, &s);
    assert_int_equal(s.live, live_before);
    rp_dtable_reader *r = make_reader(f);
    int found = 0;
    for (uint64_t i = 0; i < 256; i++) {
        rp_key k = id_key(RP_LEVEL_SESSION, i * 7919 + 1);
        rp_dtable_hit hit;
        if (rp_dtable_lookup(r, &k, 1000, &hit)) {
            assert_int_equal(hit.incident_id, i + 1);
            found++;
        }
    }
    assert_int_equal(found, (int)live_before);
    assert_true(placed >= found);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

static void test_dtable_key_levels_are_distinct(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 256);
    rp_dtable_reader *r = make_reader(f);
    rp_addr a;
    assert_int_equal(rp_addr_parse("10.1.2.3", 8, &a), RP_OK);
    rp_key ip, subnet;
    rp_key_from_addr(&ip, RP_LEVEL_IP, &a);
    rp_key_from_addr(&subnet, RP_LEVEL_SUBNET, &a);
    rp_key fp = id_key(RP_LEVEL_FINGERPRINT, 0x1234);
    rp_key token = id_key(RP_LEVEL_TOKEN, 0x1234); /* same bytes as fp */
    rp_key session = id_key(RP_LEVEL_SESSION, 0x1234);
    rp_key user = id_key(RP_LEVEL_USERNAME, 0x1234);
    put_ok(w, ip, RP_ACTION_BLOCK, 9000, 1, 0);
    put_ok(w, subnet, RP_ACTION_THROTTLE, 9000, 2, 0);
    put_ok(w, fp, RP_ACTION_MONITOR, 9000, 3, 0);
    put_ok(w, token, RP_ACTION_ALLOW, 9000, 0, 0);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &ip, 0, &hit), 1);
    assert_int_equal(hit.incident_id, 1);
    assert_int_equal(rp_dtable_lookup(r, &subnet, 0, &hit), 1);
    assert_int_equal(hit.action, RP_ACTION_THROTTLE);
    assert_int_equal(rp_dtable_lookup(r, &fp, 0, &hit), 1);
    assert_int_equal(hit.action, RP_ACTION_MONITOR);
    /* a manual allow is returned like any other decision */
    assert_int_equal(rp_dtable_lookup(r, &token, 0, &hit), 1);
    assert_int_equal(hit.action, RP_ACTION_ALLOW);
    assert_int_equal(hit.incident_id, 0);
    assert_int_equal(rp_dtable_lookup(r, &session, 0, &hit), 0);
    assert_int_equal(rp_dtable_lookup(r, &user, 0, &hit), 0);
    /* another address in the same /24 is not the IP key */
    rp_key neighbour = ip_key("10.1.2.4");
    assert_int_equal(rp_dtable_lookup(r, &neighbour, 0, &hit), 0);
    /* a level outside the enum is refused by both halves */
    rp_key bad = ip;
    bad.level = RP_LEVEL_COUNT;
    assert_int_equal(rp_dtable_lookup(r, &bad, 0, &hit), 0);
    rp_decision d = decision(bad, RP_ACTION_BLOCK, 9000, 1);
    assert_int_equal(rp_dtable_put(w, &d, 0), RP_EINVAL);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

static void test_dtable_ipv6_keys_and_family_round_trip(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_dtable_reader *r = make_reader(f);
    rp_key v6 = ip_key("2001:db8::1");
    rp_key v6b = ip_key("2001:db8::2");
    rp_key v4 = ip_key("192.0.2.1");
    put_ok(w, v6, RP_ACTION_BLOCK, 9000, 6, 0);
    put_ok(w, v4, RP_ACTION_BLOCK, 9000, 4, 0);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &v6, 0, &hit), 1);
    assert_int_equal(hit.incident_id, 6);
    assert_int_equal(rp_dtable_lookup(r, &v6b, 0, &hit), 0);
    assert_int_equal(rp_dtable_lookup(r, &v4, 0, &hit), 1);
    assert_int_equal(hit.incident_id, 4);
    /* two addresses of one /64 share the subnet key */
    rp_addr a1, a2;
    assert_int_equal(rp_addr_parse("2001:db8:0:1::10", 16, &a1), RP_OK);
    assert_int_equal(rp_addr_parse("2001:db8:0:1:ffff::9", 20, &a2), RP_OK);
    rp_key s1, s2;
    rp_key_from_addr(&s1, RP_LEVEL_SUBNET, &a1);
    rp_key_from_addr(&s2, RP_LEVEL_SUBNET, &a2);
    put_ok(w, s1, RP_ACTION_THROTTLE, 9000, 64, 0);
    assert_int_equal(rp_dtable_lookup(r, &s2, 0, &hit), 1);
    assert_int_equal(hit.incident_id, 64);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

/* writer_each: unexpired entries only, converted back with family */
typedef struct each_acc {
    int n;
    rp_decision d[8];
} each_acc;

static void each_collect(void *user, const rp_decision *d) {
    each_acc *acc = user;
    if (acc->n < 8) acc->d[acc->n] = *d;
    acc->n++;
}

static void test_dtable_each_visits_unexpired_as_decisions(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_key v6 = ip_key("2001:db8::1");
    rp_key v4 = ip_key("192.0.2.1");
    rp_key old = ip_key("192.0.2.2");
    put_ok(w, v6, RP_ACTION_BLOCK, 9000, 6, 0);
    put_ok(w, v4, RP_ACTION_ALLOW, 9000, 0, 0);
    put_ok(w, old, RP_ACTION_BLOCK, 100, 5, 0);
    each_acc acc = {0};
    rp_dtable_writer_each(w, 200, each_collect, &acc);
    assert_int_equal(acc.n, 2);
    int saw4 = 0, saw6 = 0;
    for (int i = 0; i < acc.n; i++) {
        const rp_decision *d = &acc.d[i];
        assert_int_equal(d->key.level, RP_LEVEL_IP);
        assert_int_equal(d->start_us, 1000);
        assert_int_equal(d->expires_us, 9000);
        if (d->key.reserved[0] == 4) {
            assert_true(rp_key_equal(&d->key, &v4));
            assert_int_equal(d->action, RP_ACTION_ALLOW);
            saw4++;
        } else {
            assert_int_equal(d->key.reserved[0], 6);
            assert_true(rp_key_equal(&d->key, &v6));
            assert_int_equal(d->incident_id, 6);
            saw6++;
        }
    }
    assert_int_equal(saw4, 1);
    assert_int_equal(saw6, 1);
    rp_dtable_writer_close(w);
}

/* ----------------------------------------------------- corrupt files */

static void write_file(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len) assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void good_image(unsigned char *buf, uint32_t capacity) {
    memset(buf, 0, rp_dtable_file_size(capacity));
    rp_dtable_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, RP_DTABLE_MAGIC, 8);
    h.version = RP_DTABLE_VERSION;
    h.entry_size = 64;
    h.capacity = capacity;
    h.max_probe = capacity < 32 ? capacity : 32;
    memcpy(buf, &h, sizeof h);
}

static void expect_refused(const char *path, rp_status want) {
    rp_dtable_reader *r = NULL;
    rp_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(rp_dtable_reader_open(path, &r, &err), want);
    assert_null(r);
    assert_true(err.message[0] != '\0');
}

static void test_dtable_reader_refuses_corrupt_files(void **state) {
    fixture *f = *state;
    unsigned char buf[64 + 64 * 16];
    rp_dtable_header *h = (rp_dtable_header *)(void *)buf;

    expect_refused(f->path, RP_ENOENT); /* missing */
    write_file(f->path, buf, 0);        /* zero length */
    expect_refused(f->path, RP_EPARSE);
    good_image(buf, 16);
    write_file(f->path, buf, 40); /* shorter than the header */
    expect_refused(f->path, RP_EPARSE);
    write_file(f->path, buf, sizeof buf - 64); /* truncated entries */
    expect_refused(f->path, RP_EPARSE);

    good_image(buf, 16);
    memcpy(h->magic, "RPDTABLX", 8);
    write_file(f->path, buf, sizeof buf);
    expect_refused(f->path, RP_EPARSE);

    good_image(buf, 16);
    h->version = 2;
    write_file(f->path, buf, sizeof buf);
    expect_refused(f->path, RP_EPARSE);

    good_image(buf, 16);
    h->entry_size = 32;
    write_file(f->path, buf, sizeof buf);
    expect_refused(f->path, RP_EPARSE);

    good_image(buf, 16);
    h->capacity = 1u << 20; /* capacity lie: file far too small */
    write_file(f->path, buf, sizeof buf);
    expect_refused(f->path, RP_EPARSE);

    good_image(buf, 16);
    h->capacity = 15; /* not a power of two */
    write_file(f->path, buf, sizeof buf);
    expect_refused(f->path, RP_EPARSE);

    good_image(buf, 16);
    h->max_probe = 1000; /* probe beyond the table */
    write_file(f->path, buf, sizeof buf);
    expect_refused(f->path, RP_EPARSE);

    good_image(buf, 16);
    write_file(f->path, buf, sizeof buf);
    rp_dtable_reader *r = make_reader(f);
    /* garbage entries (levels beyond the enum) give misses, not crashes */
    for (size_t i = 64; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 37);
    for (size_t i = 0; i < 16; i++) buf[64 + i * 64] = 0; /* even seq */
    write_file(f->path, buf, sizeof buf);
    assert_int_equal(rp_dtable_reader_refresh(r, NULL), RP_OK);
    rp_key k = ip_key("192.0.2.1");
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &k, 0, &hit), 0);
    rp_dtable_reader_close(r);
}

static void test_dtable_refresh_keeps_old_mapping_when_new_file_bad(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_dtable_reader *r = make_reader(f);
    rp_key k = ip_key("192.0.2.1");
    put_ok(w, k, RP_ACTION_BLOCK, 9000, 1, 0);
    rp_dtable_writer_close(w);
    /* replace by rename with a truncated file */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.bad", f->path);
    write_file(tmp, "RPDTABLE", 8);
    assert_int_equal(rename(tmp, f->path), 0);
    rp_error err;
    assert_int_equal(rp_dtable_reader_refresh(r, &err), RP_EPARSE);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &k, 0, &hit), 1);
    /* missing file: error, old mapping kept */
    unlink(f->path);
    assert_int_equal(rp_dtable_reader_refresh(r, &err), RP_ENOENT);
    assert_int_equal(rp_dtable_lookup(r, &k, 0, &hit), 1);
    /* a new daemon recreates the table: the reader moves over */
    w = make_writer(f, 64);
    assert_int_equal(rp_dtable_reader_refresh(r, &err), RP_OK);
    assert_int_equal(rp_dtable_lookup(r, &k, 0, &hit), 0);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

/* ------------------------------------------------------- concurrency */

#define TORN_KEYS 16

static uint64_t check_of(int64_t expires) {
    return (uint64_t)expires * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e995u;
}

static rp_action action_of(int64_t expires) {
    return expires & 1 ? RP_ACTION_BLOCK : RP_ACTION_THROTTLE;
}

typedef struct torn_ctx {
    const char *path;
    rp_dtable_writer *w;
    atomic_int stop;
    atomic_long hits, misses, bad;
} torn_ctx;

static rp_key torn_key(int i) { return id_key(RP_LEVEL_TOKEN, 0x1000 + (uint64_t)i); }

static void *torn_writer(void *arg) {
    torn_ctx *c = arg;
    int64_t v = 1000000;
    while (!atomic_load(&c->stop)) {
        for (int i = 0; i < TORN_KEYS; i++) {
            v++;
            rp_decision d = decision(torn_key(i), action_of(v), v, check_of(v));
            d.start_us = v;
            rp_dtable_put(c->w, &d, 0);
            /* every eighth round also removes and re-adds: tombstones */
            if ((v & 0x7f) == 0) {
                rp_key k = torn_key(i);
                rp_dtable_remove(c->w, &k);
                rp_dtable_put(c->w, &d, 0);
            }
        }
    }
    return NULL;
}

static void *torn_reader(void *arg) {
    torn_ctx *c = arg;
    rp_dtable_reader *r = NULL;
    if (rp_dtable_reader_open(c->path, &r, NULL) != RP_OK) {
        atomic_fetch_add(&c->bad, 1);
        return NULL;
    }
    long hits = 0, misses = 0, bad = 0;
    for (unsigned n = 0; !atomic_load_explicit(&c->stop, memory_order_relaxed); n++) {
        rp_key k = torn_key((int)(n % TORN_KEYS));
        rp_dtable_hit hit;
        if (!rp_dtable_lookup(r, &k, 0, &hit)) {
            misses++;
            continue;
        }
        hits++;
        if (hit.incident_id != check_of(hit.expires_us) || hit.action != action_of(hit.expires_us))
            bad++;
    }
    atomic_fetch_add(&c->hits, hits);
    atomic_fetch_add(&c->misses, misses);
    atomic_fetch_add(&c->bad, bad);
    rp_dtable_reader_close(r);
    return NULL;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_dtable_concurrent_readers_never_see_torn_entries(void **state) {
    fixture *f = *state;
    torn_ctx c;
    memset(&c, 0, sizeof c);
    c.path = f->path;
    c.w = make_writer(f, 64);
    pthread_t wt, rt[2];
    assert_int_equal(pthread_create(&wt, NULL, torn_writer, &c), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&rt[i], NULL, torn_reader, &c), 0);
    sleep_ms(1000);
    atomic_store(&c.stop, 1);
    pthread_join(wt, NULL);
    for (int i = 0; i < 2; i++) pthread_join(rt[i], NULL);
    rp_dtable_writer_close(c.w);
    assert_true(atomic_load(&c.hits) > 1000);
    assert_int_equal(atomic_load(&c.bad), 0);
}

/* Compaction while readers run: the writer rebuilds the file every few
 * hundred puts, readers refresh every 256 lookups; hits stay consistent
 * and each reader follows the writer to new generations. */
typedef struct compact_ctx {
    torn_ctx base;
    atomic_long compactions, refreshes;
} compact_ctx;

static void *compacting_writer(void *arg) {
    compact_ctx *c = arg;
    int64_t v = 1000000;
    while (!atomic_load(&c->base.stop)) {
        for (int i = 0; i < TORN_KEYS; i++) {
            v++;
            rp_decision d = decision(torn_key(i), action_of(v), v, check_of(v));
            rp_dtable_put(c->base.w, &d, 0);
        }
        if ((v & 0x3ff) < TORN_KEYS) {
            rp_key k = torn_key((int)(v % TORN_KEYS));
            rp_dtable_remove(c->base.w, &k);
            if (rp_dtable_compact(c->base.w, 0, NULL) == RP_OK) atomic_fetch_add(&c->compactions, 1);
        }
    }
    return NULL;
}

static void *refreshing_reader(void *arg) {
    compact_ctx *c = arg;
    rp_dtable_reader *r = NULL;
    if (rp_dtable_reader_open(c->base.path, &r, NULL) != RP_OK) {
        atomic_fetch_add(&c->base.bad, 1);
        return NULL;
    }
    long hits = 0, bad = 0, refreshes = 0;
    for (unsigned n = 0; !atomic_load_explicit(&c->base.stop, memory_order_relaxed); n++) {
        if ((n & 0xff) == 0) {
            if (rp_dtable_reader_refresh(r, NULL) != RP_OK) bad++;
            refreshes++;
        }
        rp_key k = torn_key((int)(n % TORN_KEYS));
        rp_dtable_hit hit;
        if (!rp_dtable_lookup(r, &k, 0, &hit)) continue;
        hits++;
        if (hit.incident_id != check_of(hit.expires_us) || hit.action != action_of(hit.expires_us))
            bad++;
    }
    atomic_fetch_add(&c->base.hits, hits);
    atomic_fetch_add(&c->base.bad, bad);
    atomic_fetch_add(&c->refreshes, refreshes);
    rp_dtable_reader_close(r);
    return NULL;
}

static void test_dtable_readers_follow_compactions_under_writes(void **state) {
    fixture *f = *state;
    compact_ctx c;
    memset(&c, 0, sizeof c);
    c.base.path = f->path;
    c.base.w = make_writer(f, 64);
    pthread_t wt, rt[2];
    assert_int_equal(pthread_create(&wt, NULL, compacting_writer, &c), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&rt[i], NULL, refreshing_reader, &c), 0);
    sleep_ms(500);
    atomic_store(&c.base.stop, 1);
    pthread_join(wt, NULL);
    for (int i = 0; i < 2; i++) pthread_join(rt[i], NULL);
    rp_dtable_stats s;
    rp_dtable_writer_stats(c.base.w, 0, &s);
    rp_dtable_writer_close(c.base.w);
    assert_true(atomic_load(&c.compactions) > 10);
    assert_int_equal(s.generation, 1 + (uint64_t)atomic_load(&c.compactions));
    assert_true(atomic_load(&c.base.hits) > 1000);
    assert_int_equal(atomic_load(&c.base.bad), 0);
}

/* A reader in another process (as nginx workers are) sees the writer's
 * updates through the shared mapping, consistent, without refresh. */
static void test_dtable_forked_reader_sees_updates_untorn(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_key k = torn_key(0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rp_dtable_reader *r = NULL;
        if (rp_dtable_reader_open(f->path, &r, NULL) != RP_OK) _exit(2);
        long hits = 0;
        int64_t last = 0;
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            rp_dtable_hit hit;
            if (rp_dtable_lookup(r, &k, 0, &hit)) {
                if (hit.incident_id != check_of(hit.expires_us)) _exit(3);
                if (hit.expires_us < last) _exit(4); /* values only move forward */
                last = hit.expires_us;
                hits++;
            }
            if (last >= 1000000 + 200000) break; /* saw the writer's late values */
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (t.tv_sec - t0.tv_sec > 10) _exit(5);
        }
        rp_dtable_reader_close(r);
        _exit(hits > 0 ? 0 : 6);
    }
    for (int64_t v = 1000001; v <= 1000000 + 200000; v++) {
        rp_decision d = decision(k, action_of(v), v, check_of(v));
        assert_int_equal(rp_dtable_put(w, &d, 0), RP_OK);
        if (v % 20000 == 0) sleep_ms(1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    rp_dtable_writer_close(w);
}

/* ------------------------------------------- prepare, publish, damage */

static ino_t inode_of(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

static void test_dtable_prepared_table_is_unseen_until_published(void **state) {
    fixture *f = *state;
    int64_t now = 1000000;
    rp_dtable_writer *live = make_writer(f, 64);
    put_ok(live, ip_key("198.51.100.1"), RP_ACTION_BLOCK, now + 60000000, 1, now);
    ino_t ino = inode_of(f->path);
    rp_dtable_writer *next = NULL;
    rp_error err;
    assert_int_equal(rp_dtable_writer_prepare(f->path, 64, &next, &err), RP_OK);
    put_ok(next, ip_key("198.51.100.2"), RP_ACTION_BLOCK, now + 60000000, 2, now);
    /* the live file is untouched: same inode, the old entry, not the new one */
    assert_int_equal(inode_of(f->path), ino);
    rp_dtable_reader *r = make_reader(f);
    rp_dtable_hit hit;
    rp_key k1 = ip_key("198.51.100.1"), k2 = ip_key("198.51.100.2");
    assert_int_equal(rp_dtable_lookup(r, &k1, now, &hit), 1);
    assert_int_equal(rp_dtable_lookup(r, &k2, now, &hit), 0);
    /* a failed start closes it unpublished: its file goes, the live one stays */
    rp_dtable_writer_close(next);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", f->path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(inode_of(f->path), ino);
    /* a successful one publishes: readers follow to the new entries */
    assert_int_equal(rp_dtable_writer_prepare(f->path, 64, &next, &err), RP_OK);
    put_ok(next, ip_key("198.51.100.2"), RP_ACTION_BLOCK, now + 60000000, 2, now);
    assert_int_equal(rp_dtable_writer_publish(next, &err), RP_OK);
    assert_int_not_equal(inode_of(f->path), ino);
    assert_int_equal(rp_dtable_reader_refresh(r, &err), RP_OK);
    assert_int_equal(rp_dtable_lookup(r, &k2, now, &hit), 1);
    assert_int_equal(hit.incident_id, 2);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(next);
    rp_dtable_writer_close(live);
}

static void count_each(void *user, const rp_decision *d) {
    (void)d;
    ++*(int *)user;
}

static void test_dtable_truncated_file_is_refused_without_sigbus_then_rebuilt(void **state) {
    fixture *f = *state;
    int64_t now = 1000000;
    rp_dtable_writer *w = make_writer(f, 1024);
    for (int i = 0; i < 20; i++)
        put_ok(w, id_key(RP_LEVEL_TOKEN, 100 + (uint64_t)i), RP_ACTION_BLOCK, now + 60000000,
               (uint64_t)i + 1, now);
    assert_int_equal(truncate(f->path, 0), 0);
    /* every operation reports the damage instead of faulting */
    rp_error err;
    assert_int_equal(rp_dtable_writer_check(w, false, &err), RP_EIO);
    assert_non_null(strstr(err.message, "0 bytes"));
    rp_decision d = decision(id_key(RP_LEVEL_TOKEN, 7), RP_ACTION_BLOCK, now + 60000000, 9);
    assert_int_equal(rp_dtable_put(w, &d, now), RP_EIO);
    rp_key k = id_key(RP_LEVEL_TOKEN, 100);
    assert_int_equal(rp_dtable_remove(w, &k), RP_EIO);
    assert_int_equal(rp_dtable_can_put(w, &k, now), RP_EIO);
    int visited = 0;
    assert_int_equal(rp_dtable_writer_each(w, now, count_each, &visited), RP_EIO);
    assert_int_equal(visited, 0);
    rp_dtable_stats st;
    rp_dtable_writer_stats(w, now, &st);
    assert_true(st.damaged);
    assert_int_equal(rp_dtable_compact(w, now, &err), RP_EIO);
    /* rebuilt: nothing was readable; a whole, empty, writable file again */
    uint64_t kept = 99;
    assert_int_equal(rp_dtable_writer_rebuild(w, now, &kept, &err), RP_OK);
    assert_int_equal(kept, 0);
    assert_int_equal(rp_dtable_writer_check(w, true, &err), RP_OK);
    assert_int_equal(rp_dtable_put(w, &d, now), RP_OK);
    rp_dtable_reader *r = make_reader(f);
    rp_dtable_hit hit;
    assert_int_equal(rp_dtable_lookup(r, &d.key, now, &hit), 1);
    assert_int_equal(hit.incident_id, 9);
    rp_dtable_reader_close(r);
    rp_dtable_writer_close(w);
}

static void test_dtable_rebuild_keeps_the_entries_still_in_the_file(void **state) {
    fixture *f = *state;
    int64_t now = 1000000;
    rp_dtable_writer *w = make_writer(f, 1024);
    for (int i = 0; i < 200; i++)
        put_ok(w, id_key(RP_LEVEL_TOKEN, 1000 + (uint64_t)i), RP_ACTION_THROTTLE, now + 60000000,
               (uint64_t)i + 1, now);
    /* cut the file in half: the entries of the first half are still there */
    uint64_t half = rp_dtable_file_size(1024) / 2;
    assert_int_equal(truncate(f->path, (off_t)half), 0);
    rp_error err;
    uint64_t kept = 0;
    assert_int_equal(rp_dtable_writer_rebuild(w, now, &kept, &err), RP_OK);
    assert_true(kept > 50 && kept < 200);
    int visited = 0;
    assert_int_equal(rp_dtable_writer_each(w, now, count_each, &visited), RP_OK);
    assert_int_equal((uint64_t)visited, kept);
    rp_dtable_stats st;
    rp_dtable_writer_stats(w, now, &st);
    assert_false(st.damaged);
    assert_int_equal(st.generation, 2);
    rp_dtable_writer_close(w);
}

static void test_dtable_deep_check_finds_a_replaced_file(void **state) {
    fixture *f = *state;
    rp_dtable_writer *w = make_writer(f, 64);
    rp_error err;
    assert_int_equal(rp_dtable_writer_check(w, true, &err), RP_OK);
    /* someone else puts another file at the path (same size) */
    char other[160];
    snprintf(other, sizeof other, "%s.other", f->path);
    rp_dtable_writer *x = NULL;
    assert_int_equal(rp_dtable_writer_create(other, 64, &x, &err), RP_OK);
    assert_int_equal(rename(other, f->path), 0);
    assert_int_equal(rp_dtable_writer_check(w, false, &err), RP_OK); /* fstat alone cannot tell */
    assert_int_equal(rp_dtable_writer_check(w, true, &err), RP_EIO);
    assert_non_null(strstr(err.message, "replaced"));
    assert_int_equal(rp_dtable_writer_rebuild(w, 1000000, NULL, &err), RP_OK);
    assert_int_equal(rp_dtable_writer_check(w, true, &err), RP_OK);
    rp_dtable_writer_close(x);
    rp_dtable_writer_close(w);
}

typedef struct touch_call {
    const volatile unsigned char *p;
    unsigned char seen;
} touch_call;

static void touch(void *arg) {
    touch_call *c = arg;
    c->seen = c->p[0];
}

static void test_dtable_guard_turns_sigbus_into_false(void **state) {
    fixture *f = *state;
    int fd = open(f->path, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 8192), 0);
    unsigned char *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    touch_call c = {.p = m + 4096};
    /* cmocka installs its own SIGBUS handler around each test: ours
     * goes back on top, as a daemon's would be */
    rp_dtable_guard_install();
    assert_true(rp_dtable_guarded(touch, &c));
    assert_int_equal(ftruncate(fd, 0), 0);
    /* the page is gone: a plain read would kill the process */
    assert_false(rp_dtable_guarded(touch, &c));
    /* and the guard works again afterwards */
    assert_false(rp_dtable_guarded(touch, &c));
    munmap(m, 8192);
    close(fd);
}

static void test_dtable_can_put_says_enomem_when_the_probe_range_is_full(void **state) {
    fixture *f = *state;
    int64_t now = 1000000;
    rp_dtable_writer *w = make_writer(f, 1); /* one slot, probe range 1 */
    rp_key a = id_key(RP_LEVEL_TOKEN, 1), b = id_key(RP_LEVEL_TOKEN, 2);
    assert_int_equal(rp_dtable_can_put(w, &a, now), RP_OK);
    put_ok(w, a, RP_ACTION_BLOCK, now + 60000000, 1, now);
    assert_int_equal(rp_dtable_can_put(w, &a, now), RP_OK); /* its own slot */
    assert_int_equal(rp_dtable_can_put(w, &b, now), RP_ENOMEM);
    assert_int_equal(rp_dtable_can_put(w, &b, now + 60000000), RP_OK); /* a expired */
    rp_dtable_writer_close(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dtable_put_then_lookup_returns_action_expiry_incident,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_dtable_file_is_header_plus_entries_and_capacity_rounds_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_expired_entry_not_returned_and_file_unchanged,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_overwrite_replaces_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_remove_tombstone_keeps_later_key_reachable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_full_probe_range_enomem_until_expired_dropped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_dtable_compaction_keeps_live_and_old_reader_follows_after_refresh, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_dtable_compaction_of_full_table_keeps_every_live_entry,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_key_levels_are_distinct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_ipv6_keys_and_family_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dtable_each_visits_unexpired_as_decisions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dtable_reader_refuses_corrupt_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_refresh_keeps_old_mapping_when_new_file_bad,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_concurrent_readers_never_see_torn_entries,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_readers_follow_compactions_under_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dtable_forked_reader_sees_updates_untorn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dtable_prepared_table_is_unseen_until_published,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_dtable_truncated_file_is_refused_without_sigbus_then_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_rebuild_keeps_the_entries_still_in_the_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtable_deep_check_finds_a_replaced_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dtable_guard_turns_sigbus_into_false, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_dtable_can_put_says_enomem_when_the_probe_range_is_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
