/*
 * protocol.h -- the binary event format: one datagram per request, from
 * the nginx module (or any producer) to `rampart serve`.
 *
 * Versioned and documented in docs/protocol.md. Little-endian, fixed
 * header then the strings, so that the encoder is a handful of stores
 * (it runs in nginx's log phase) and the decoder can check every length
 * against the datagram before trusting it (datagrams are hostile input).
 *
 * This file and protocol.c depend on nothing but <stdint.h>/<string.h>
 * and the types of rampart.h: the nginx module compiles them as they are.
 */
#ifndef RP_PROTOCOL_H
#define RP_PROTOCOL_H

#include "rampart.h"

#define RP_PROTO_VERSION 1
/* The largest datagram a producer sends; longer events are cut (strings
 * truncated, RP_EVENT_TRUNCATED set). */
#define RP_PROTO_MAX_DATAGRAM 16384

typedef enum rp_decode_reason {
    RP_DECODE_OK = 0,
    RP_DECODE_SHORT,    /* shorter than the fixed header */
    RP_DECODE_MAGIC,    /* not a Rampart event */
    RP_DECODE_VERSION,  /* a version this build does not read */
    RP_DECODE_LENGTH,   /* string lengths do not add up to the datagram */
    RP_DECODE_FIELD,    /* a field out of range (address family, method...) */
    RP_DECODE_REASON_COUNT
} rp_decode_reason;

const char *rp_decode_reason_name(rp_decode_reason reason);

/* Encode ev into buf. Strings are cut, in the order referer, user agent,
 * query, path, host, so that the result fits min(size,
 * RP_PROTO_MAX_DATAGRAM); returns the bytes written, or 0 when size
 * cannot even hold the fixed header. */
size_t rp_event_encode(const rp_event *ev, uint8_t *buf, size_t size);

/* A datagram carries one event record, or several back to back (since
 * 1.1: a producer may pack its batch into fewer datagrams; every record is
 * a complete v1 event). The size of the record at the start of buf, from
 * its own header and string lengths: 0 when buf does not start with a
 * plausible record (decode it to learn why). */
size_t rp_event_record_size(const uint8_t *buf, size_t len);

/* Decode one event record of exactly len bytes. On RP_OK the strings of ev point into buf. On error,
 * *why says which check failed and ev is unspecified. */
rp_status rp_event_decode(const uint8_t *buf, size_t len, rp_event *ev, rp_decode_reason *why);

/* Byte 5 of a record ("protocol flags" on the wire, where producers write
 * 0) carries, inside the daemon, the host id of the fleet node that saw
 * the request (rp_event.origin, docs/cluster.md "Fleet view"): the
 * detector stamps it on each record it reads from the stream, the
 * datagram input clears it, the decoder reads it. The encoder writes 0. */
void rp_event_record_set_origin(uint8_t *record, size_t len, uint8_t origin);

#endif
