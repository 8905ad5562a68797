/*
 * inputs.h -- the daemon's three ways in, each on its own thread:
 *
 *   - a unix datagram socket receiving binary events (protocol.h) from
 *     the nginx module, read in batches with recvmmsg;
 *   - syslog over UDP on 127.0.0.1 carrying nginx JSON access-log lines
 *     (`access_log syslog:server=127.0.0.1:PORT,tag=rampart json_fmt;`);
 *   - `tail -F` of an access log file that survives rotation by rename
 *     and by truncation, starting at the end by default.
 *
 * Each input pushes events into the shared rp_queue and counts what it
 * could not use by reason. Inputs never block on the engine.
 */
#ifndef RP_INPUTS_H
#define RP_INPUTS_H

#include "config.h"
#include "ingest.h"
#include "protocol.h"
#include "queue.h"

typedef struct rp_input rp_input;

/* Why a datagram or packet was refused before it was read: who sent it. */
typedef enum rp_refuse_reason {
    RP_REFUSE_NONE = 0,
    RP_REFUSE_SENDER,         /* datagram: a uid and primary gid not allowed to send */
    RP_REFUSE_NO_CREDENTIALS, /* datagram: arrived without the sender's credentials */
    RP_REFUSE_SOURCE,         /* syslog: a source address not in serve.syslog_allow */
    RP_REFUSE_REASON_COUNT
} rp_refuse_reason;

/* "sender", "no_credentials", "source" (metrics: reason="refused_NAME"). */
const char *rp_refuse_reason_name(rp_refuse_reason reason);

typedef struct rp_input_stats {
    uint64_t received;  /* datagrams or lines */
    uint64_t events;    /* pushed into the queue */
    uint64_t dropped_queue_full;
    uint64_t bad_decode[RP_DECODE_REASON_COUNT]; /* datagram input */
    uint64_t bad_line[RP_SKIP_REASON_COUNT];     /* syslog and tail inputs */
    uint64_t bad_syslog; /* a syslog packet without a usable message */
    uint64_t rotations;  /* tail: file replaced or truncated */
    uint64_t refused[RP_REFUSE_REASON_COUNT]; /* by who sent them */
} rp_input_stats;

/* Datagram socket at sv->socket_path (an existing socket file is
 * replaced), given to sv->socket_group with sv->socket_mode; datagrams
 * are accepted from root, the daemon's own user, the socket's group and
 * sv->socket_users / socket_groups, by the credentials the kernel attaches
 * to each (SCM_CREDENTIALS). Names are resolved here: an unknown one, or a
 * group the daemon cannot give the socket to, is an error. */
rp_status rp_input_datagram_start(const rp_serve_config *sv, rp_queue *q, rp_input **out,
                                  rp_error *err);
/* Syslog UDP on host:port (port 0 = pick a free one; see rp_input_port),
 * accepting packets only from the n_allow source CIDRs. */
rp_status rp_input_syslog_start(const char *host, int port, rp_queue *q,
                                const struct rp_cidr *trusted, int n_trusted,
                                const struct rp_cidr *allow, int n_allow, rp_input **out,
                                rp_error *err);
/* Tail a file. from_start: read what is already there first. format:
 * RP_FORMAT_AUTO, combined or json. */
rp_status rp_input_tail_start(const char *path, bool from_start, rp_log_format format,
                              rp_queue *q, const struct rp_cidr *trusted, int n_trusted,
                              rp_input **out, rp_error *err);

int rp_input_port(const rp_input *in); /* syslog: the bound UDP port */
const char *rp_input_name(const rp_input *in); /* "datagram", "syslog", "tail" */
void rp_input_get_stats(rp_input *in, rp_input_stats *s);
/* Stop the thread and free. Safe on NULL. */
void rp_input_stop(rp_input *in);

#endif
