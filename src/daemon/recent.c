/* recent.c -- the ring of recent events (see recent.h). */
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "recent.h"

/* Records are [u32 length][encoded event], never split across the end of
 * the ring: when one does not fit before the end, the tail is marked
 * with a zero length and writing wraps to the start. */
struct rp_recent {
    unsigned char *buf;
    size_t size;
    size_t head;  /* next write */
    size_t tail;  /* oldest record */
    uint64_t count;
    bool wrapped_empty; /* head == tail means empty when count == 0 */
};

rp_status rp_recent_new(size_t bytes, rp_recent **out) {
    *out = NULL;
    if (bytes < 2 * (RP_PROTO_MAX_DATAGRAM + 4)) return RP_EINVAL;
    rp_recent *r = calloc(1, sizeof *r);
    if (!r) return RP_ENOMEM;
    r->buf = malloc(bytes);
    if (!r->buf) {
        free(r);
        return RP_ENOMEM;
    }
    r->size = bytes;
    *out = r;
    return RP_OK;
}

void rp_recent_free(rp_recent *r) {
    if (!r) return;
    free(r->buf);
    free(r);
}

static uint32_t rec_len(const rp_recent *r, size_t at) {
    uint32_t n;
    memcpy(&n, r->buf + at, 4);
    return n;
}

/* Drop the oldest record. */
static void drop_oldest(rp_recent *r) {
    if (r->count == 0) return;
    if (r->tail + 4 > r->size || rec_len(r, r->tail) == 0) r->tail = 0; /* wrap marker */
    uint32_t n = rec_len(r, r->tail);
    r->tail += 4 + n;
    if (r->tail + 4 > r->size) r->tail = 0;
    r->count--;
    if (r->count == 0) r->head = r->tail = 0;
}

/* Is [from, from+need) free of live records? */
static bool room_at(const rp_recent *r, size_t from, size_t need) {
    if (r->count == 0) return true;
    if (r->tail >= r->head) /* live data wraps: free space is [head, tail) */
        return from >= r->head && from + need <= r->tail;
    /* live data is [tail, head): free space is [head, size) and [0, tail) */
    return (from >= r->head && from + need <= r->size) || from + need <= r->tail;
}

void rp_recent_push_record(rp_recent *r, const uint8_t *data, size_t n) {
    if (n == 0 || n > RP_PROTO_MAX_DATAGRAM) return;
    size_t need = 4 + n;
    for (;;) {
        size_t at = r->head;
        if (at + need + 4 > r->size) at = 0; /* keep room for a wrap marker */
        if (room_at(r, at, need)) {
            if (at == 0 && r->head != 0 && r->head + 4 <= r->size) {
                uint32_t zero = 0;
                memcpy(r->buf + r->head, &zero, 4);
            }
            uint32_t len = (uint32_t)n;
            memcpy(r->buf + at, &len, 4);
            memcpy(r->buf + at + 4, data, n);
            r->head = at + need;
            if (r->head + 4 > r->size) r->head = 0;
            r->count++;
            return;
        }
        drop_oldest(r);
    }
}

void rp_recent_push(rp_recent *r, const rp_event *ev) {
    unsigned char tmp[RP_PROTO_MAX_DATAGRAM];
    rp_recent_push_record(r, tmp, rp_event_encode(ev, tmp, sizeof tmp));
}

void rp_recent_each(const rp_recent *r, bool (*fn)(void *user, const rp_event *ev), void *user) {
    size_t at = r->tail;
    for (uint64_t i = 0; i < r->count; i++) {
        if (at + 4 > r->size || rec_len(r, at) == 0) at = 0;
        uint32_t n = rec_len(r, at);
        rp_event ev;
        rp_decode_reason why;
        if (rp_event_decode(r->buf + at + 4, n, &ev, &why) == RP_OK && !fn(user, &ev)) return;
        at += 4 + n;
        if (at + 4 > r->size) at = 0;
    }
}

rp_status rp_recent_copy(rp_recent *dst, const rp_recent *src) {
    if (dst->size != src->size) return RP_EINVAL;
    dst->head = src->head;
    dst->tail = src->tail;
    dst->count = src->count;
    dst->wrapped_empty = src->wrapped_empty;
    if (src->count == 0) return RP_OK;
    if (src->tail < src->head) { /* live data is [tail, head) */
        memcpy(dst->buf + src->tail, src->buf + src->tail, src->head - src->tail);
    } else { /* [tail, size) with its wrap marker, then [0, head) */
        memcpy(dst->buf + src->tail, src->buf + src->tail, src->size - src->tail);
        memcpy(dst->buf, src->buf, src->head);
    }
    return RP_OK;
}

void rp_recent_prefault(rp_recent *r) { memset(r->buf, 0, r->size); }

uint64_t rp_recent_count(const rp_recent *r) { return r->count; }

static bool first_ts(void *user, const rp_event *ev) {
    *(int64_t *)user = ev->ts_us;
    return false;
}

int64_t rp_recent_oldest_us(const rp_recent *r) {
    int64_t ts = 0;
    rp_recent_each(r, first_ts, &ts);
    return ts;
}
