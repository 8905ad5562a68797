/*
 * input_syslog.c -- nginx JSON access-log lines over syslog/UDP:
 *
 *   access_log syslog:server=127.0.0.1:5514,tag=rampart rampart_json;
 *
 * nginx sends one RFC 3164 packet per request:
 *
 *   <190>Nov 25 10:00:00 web1 rampart: {"time_iso8601":"...",...}
 *
 * We need only the message: it starts at the first '{' (a JSON object; the
 * priority, timestamp, hostname and tag before it hold none), or, for
 * other senders, after the first ": " that ends the tag. RFC 5424 packets
 * ("<190>1 2024-11-25T10:00:00Z host app - - - {...}") are found by the
 * same '{' rule. The message goes through the JSON log parser with the
 * configured trusted proxies, exactly like a line of a JSON log file.
 *
 * UDP is bound only to the address asked for (127.0.0.1 by default): a
 * syslog port open to the network would let anyone inject events. And
 * since a port on loopback is open to every local user (and to any
 * address on lo: 127.0.0.2 is as local as 127.0.0.1), each packet's source
 * address is checked against serve.syslog_allow (127.0.0.1 and ::1 by
 * default; nginx sends from the address it reaches us on); others are
 * counted as refused and dropped unread. UDP sources can be forged by
 * whoever may send raw packets (root), not by other local users.
 *
 * Memory: BATCH receive buffers of 64 KiB (a UDP payload is at most
 * 65507 bytes; larger lines cannot arrive this way) and one parser.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "input_int.h"

#define BATCH 16
#define PACKET_MAX 65536

typedef struct syslog_state {
    rp_log_parser *parser;
    uint8_t *buffers; /* BATCH * PACKET_MAX */
    int n_allow;
    rp_cidr allow[RP_MAX_SENDERS]; /* source addresses we read */
} syslog_state;

static void syslog_cleanup(rp_input *in) {
    syslog_state *st = in->state;
    if (!st) return;
    rp_log_parser_free(st->parser);
    free(st->buffers);
    free(st);
    in->state = NULL;
}

/* The message part of a syslog packet, or false when there is none. */
static bool syslog_message(const char *p, size_t len, const char **msg, size_t *msg_len) {
    /* Trailing newline, CR or NUL: some senders terminate packets. */
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == '\0')) len--;
    const char *start = memchr(p, '{', len);
    if (!start) {
        for (size_t i = 0; i + 1 < len; i++) {
            if (p[i] == ':' && p[i + 1] == ' ') {
                start = p + i + 2;
                break;
            }
        }
    }
    if (!start) return false;
    size_t n = len - (size_t)(start - p);
    if (n == 0) return false;
    *msg = start;
    *msg_len = n;
    return true;
}

static bool blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t') return false;
    return true;
}

/* The packet's source as an rp_addr (IPv4 in its mapped form). */
static bool source_addr(const struct msghdr *msg, rp_addr *out) {
    memset(out, 0, sizeof *out);
    const struct sockaddr *sa = msg->msg_name;
    if (sa && sa->sa_family == AF_INET && msg->msg_namelen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = msg->msg_name;
        out->bytes[10] = out->bytes[11] = 0xff;
        memcpy(out->bytes + 12, &v4->sin_addr, 4);
        out->family = 4;
        return true;
    }
    if (sa && sa->sa_family == AF_INET6 && msg->msg_namelen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *v6 = msg->msg_name;
        memcpy(out->bytes, &v6->sin6_addr, 16);
        out->family = IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) ? 4 : 6;
        return true;
    }
    return false;
}

static bool source_allowed(const syslog_state *st, const struct msghdr *msg) {
    rp_addr from;
    if (!source_addr(msg, &from)) return false;
    for (int i = 0; i < st->n_allow; i++)
        if (rp_cidr_contains(&st->allow[i], &from)) return true;
    return false;
}

static void handle_packet(rp_input *in, const char *data, size_t len, const struct msghdr *hdr) {
    syslog_state *st = in->state;
    int msg_flags = hdr->msg_flags;
    rp_input_count(&in->counters.received);
    if (!source_allowed(st, hdr)) {
        rp_input_count(&in->counters.refused[RP_REFUSE_SOURCE]);
        return;
    }
    if (msg_flags & MSG_TRUNC) {
        rp_input_count(&in->counters.bad_line[RP_SKIP_TOO_LONG]);
        return;
    }
    const char *msg;
    size_t msg_len;
    if (!syslog_message(data, len, &msg, &msg_len) || blank(msg, msg_len)) {
        rp_input_count(&in->counters.bad_syslog);
        return;
    }
    rp_input_feed_line(in, st->parser, msg, msg_len);
}

static void on_packet(rp_input *in, const uint8_t *data, size_t len, const struct msghdr *msg) {
    handle_packet(in, (const char *)data, len, msg);
}

static void *syslog_run(void *arg) {
    rp_input *in = arg;
    syslog_state *st = in->state;
    rp_input_recv_loop(in, st->buffers, PACKET_MAX, BATCH, on_packet);
    return NULL;
}

static rp_status bind_udp(rp_input *in, const char *host, int port, rp_error *err) {
    if (port < 0 || port > 65535)
        return rp_error_set(err, RP_EINVAL, "", 0, 0, "syslog input: port %d out of range", port);
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0 || !res)
        return rp_error_set(err, RP_EINVAL, "", 0, 0, "syslog input: cannot resolve %s: %s",
                            host, gai_strerror(gai));
    rp_status rc = RP_OK;
    in->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (in->fd < 0) {
        rc = rp_error_set(err, RP_EIO, "", 0, 0, "syslog input: socket: %s", strerror(errno));
    } else {
        int want = 4 << 20; /* bursts of log lines; capped by the kernel, fine */
        (void)setsockopt(in->fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
        if (bind(in->fd, res->ai_addr, res->ai_addrlen) != 0)
            rc = rp_error_set(err, RP_EIO, "", 0, 0, "syslog input: bind %s:%d: %s", host, port,
                              strerror(errno));
    }
    freeaddrinfo(res);
    if (rc != RP_OK) return rc;

    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(in->fd, (struct sockaddr *)&bound, &blen) != 0)
        return rp_error_set(err, RP_EIO, "", 0, 0, "syslog input: getsockname: %s",
                            strerror(errno));
    if (bound.ss_family == AF_INET)
        in->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    else
        in->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    return RP_OK;
}

rp_status rp_input_syslog_start(const char *host, int port, rp_queue *q,
                                const struct rp_cidr *trusted, int n_trusted,
                                const struct rp_cidr *allow, int n_allow, rp_input **out,
                                rp_error *err) {
    *out = NULL;
    if (!host || !*host) host = "127.0.0.1";
    if (n_allow < 0 || n_allow > RP_MAX_SENDERS || (n_allow > 0 && !allow))
        return rp_error_set(err, RP_EINVAL, "", 0, 0,
                            "syslog input: 0 to %d allowed sources", RP_MAX_SENDERS);
    rp_input *in = rp_input_alloc("syslog", q, err);
    if (!in) return RP_ENOMEM;
    syslog_state *st = calloc(1, sizeof *st);
    if (st) {
        st->buffers = malloc((size_t)BATCH * PACKET_MAX);
        st->parser = rp_log_parser_new(RP_FORMAT_JSON);
    }
    in->state = st;
    in->cleanup = syslog_cleanup;
    in->run = syslog_run;
    if (!st || !st->buffers || !st->parser) {
        rp_input_stop(in);
        return rp_error_set(err, RP_ENOMEM, "", 0, 0, "syslog input: out of memory");
    }
    if (trusted && n_trusted > 0) rp_log_parser_set_trusted_proxies(st->parser, trusted, n_trusted);
    if (n_allow > 0) memcpy(st->allow, allow, (size_t)n_allow * sizeof *allow);
    st->n_allow = n_allow;
    rp_status rc = bind_udp(in, host, port, err);
    if (rc != RP_OK) {
        rp_input_stop(in);
        return rc;
    }
    rc = rp_input_launch(in, err);
    if (rc == RP_OK) *out = in;
    return rc;
}
