/*
 * input_datagram.c -- the unix datagram socket that receives binary events
 * (protocol.h) from the nginx module, and the plumbing every input shares
 * (the handle, its thread, its stop pipe and its counters; input_int.h).
 *
 * Why a datagram socket: nginx workers send one event per request from
 * the log phase and must never wait on us. A full socket buffer makes
 * their non-blocking send fail (they count it); it never stalls a request.
 * On our side the buffer is raised to 8 MiB to absorb bursts, and the
 * thread drains it with recvmmsg, 64 datagrams per system call.
 *
 * A datagram that decodes cleanly is pushed as it arrived (the bytes are
 * the queue's record format), so the only per-event work here is the
 * validation. One that does not is counted by reason and dropped; a
 * datagram larger than the receive buffer arrives cut (MSG_TRUNC) and is
 * counted as a length error without being decoded.
 *
 * Who may send: events decide who is blocked, so a forged one is an
 * attack on a third party. The socket file belongs to the daemon's user
 * and the nginx workers' group with mode 0660 (serve.socket_group,
 * socket_mode), and every datagram carries its sender's uid and gid,
 * filled in by the kernel (SO_PASSCRED, SCM_CREDENTIALS; a sender cannot
 * claim ids it does not hold). Those of root, the daemon's user, the
 * socket's group and the configured users and groups are read; any other
 * is counted as refused and dropped unread. The credentials cost 32 bytes
 * of ancillary data per datagram in the same recvmmsg call; measured on
 * 1M 300-byte datagrams it is within the noise of the receive loop
 * (docs/deployment.md).
 *
 * Memory: 64 buffers of RP_PROTO_MAX_DATAGRAM (1 MiB), allocated at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "input_int.h"

/* ================================================= common to every input */

rp_input *rp_input_alloc(const char *name, rp_queue *q, rp_error *err) {
    rp_input *in = calloc(1, sizeof *in);
    if (!in) {
        rp_error_set(err, RP_ENOMEM, "", 0, 0, "%s input: out of memory", name);
        return NULL;
    }
    in->name = name;
    in->queue = q;
    in->fd = -1;
    if (pipe2(in->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        rp_error_set(err, RP_EIO, "", 0, 0, "%s input: pipe: %s", name, strerror(errno));
        free(in);
        return NULL;
    }
    return in;
}

static void input_free(rp_input *in) {
    if (in->cleanup) in->cleanup(in);
    if (in->fd >= 0) close(in->fd);
    close(in->stop_pipe[0]);
    close(in->stop_pipe[1]);
    free(in);
}

rp_status rp_input_launch(rp_input *in, rp_error *err) {
    int rc = pthread_create(&in->thread, NULL, in->run, in);
    if (rc != 0) {
        rp_error_set(err, RP_EIO, "", 0, 0, "%s input: cannot start thread: %s", in->name,
                     strerror(rc));
        input_free(in);
        return RP_EIO;
    }
    in->thread_started = true;
    return RP_OK;
}

bool rp_input_stopping(const rp_input *in) {
    struct pollfd p = {.fd = in->stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

int rp_input_wait(rp_input *in, int fd, int timeout_ms) {
    struct pollfd p[2] = {
        {.fd = in->stop_pipe[0], .events = POLLIN},
        {.fd = fd, .events = POLLIN},
    };
    int rc = poll(p, fd >= 0 ? 2 : 1, timeout_ms);
    if (rc < 0) return 0; /* EINTR: the caller loops */
    if (p[0].revents) return -1;
    return rc > 0 ? 1 : 0;
}

void rp_input_feed_line(rp_input *in, rp_log_parser *parser, const char *line, size_t len) {
    if (len && line[len - 1] == '\r') len--; /* CRLF files */
    rp_event ev;
    rp_skip_reason why = RP_SKIP_NONE;
    rp_status st = rp_log_parser_parse(parser, line, len, &ev, &why);
    if (st == RP_OK) {
        if (rp_queue_push(in->queue, &ev))
            rp_input_count(&in->counters.events);
        else
            rp_input_count(&in->counters.dropped_queue_full);
    } else if (st != RP_ENOENT) {
        if ((unsigned)why >= RP_SKIP_REASON_COUNT || why == RP_SKIP_NONE) why = RP_SKIP_MALFORMED;
        rp_input_count(&in->counters.bad_line[why]);
    }
}

int rp_input_port(const rp_input *in) {
    return in ? in->port : 0;
}

const char *rp_input_name(const rp_input *in) {
    return in ? in->name : "";
}

static uint64_t load(_Atomic uint64_t *c) {
    return atomic_load_explicit(c, memory_order_relaxed);
}

void rp_input_get_stats(rp_input *in, rp_input_stats *s) {
    memset(s, 0, sizeof *s);
    if (!in) return;
    rp_input_counters *c = &in->counters;
    s->received = load(&c->received);
    s->events = load(&c->events);
    s->dropped_queue_full = load(&c->dropped_queue_full);
    for (int i = 0; i < RP_DECODE_REASON_COUNT; i++) s->bad_decode[i] = load(&c->bad_decode[i]);
    for (int i = 0; i < RP_SKIP_REASON_COUNT; i++) s->bad_line[i] = load(&c->bad_line[i]);
    for (int i = 0; i < RP_REFUSE_REASON_COUNT; i++) s->refused[i] = load(&c->refused[i]);
    s->bad_syslog = load(&c->bad_syslog);
    s->rotations = load(&c->rotations);
}

const char *rp_refuse_reason_name(rp_refuse_reason reason) {
    static const char *const names[RP_REFUSE_REASON_COUNT] = {
        [RP_REFUSE_NONE] = "none",
        [RP_REFUSE_SENDER] = "sender",
        [RP_REFUSE_NO_CREDENTIALS] = "no_credentials",
        [RP_REFUSE_SOURCE] = "source",
    };
    return (unsigned)reason < RP_REFUSE_REASON_COUNT ? names[reason] : "unknown";
}

void rp_input_stop(rp_input *in) {
    if (!in) return;
    if (in->thread_started) {
        ssize_t w;
        do w = write(in->stop_pipe[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(in->thread, NULL);
    }
    input_free(in);
}

/* ============================================================ datagrams */

#define BATCH 64

typedef struct datagram_state {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev; /* the socket file we created, to unlink only that */
    ino_t ino;
    uint8_t *buffers; /* BATCH * RP_PROTO_MAX_DATAGRAM */
    /* Senders whose datagrams are read, besides root: the daemon's user,
     * the configured users; the socket's group, the configured groups. */
    int n_uids, n_gids;
    uid_t uids[RP_MAX_SENDERS + 1];
    gid_t gids[RP_MAX_SENDERS + 1];
} datagram_state;

static void datagram_cleanup(rp_input *in) {
    datagram_state *st = in->state;
    if (!st) return;
    struct stat sb;
    /* Remove the socket file only if it is still ours: a second daemon
     * may have replaced it. */
    if (st->ino && lstat(st->path, &sb) == 0 && sb.st_dev == st->dev && sb.st_ino == st->ino)
        unlink(st->path);
    free(st->buffers);
    free(st);
    in->state = NULL;
}

/* The sender's credentials from the datagram's ancillary data. */
static const struct ucred *sender_of(const struct msghdr *msg) {
    if (msg->msg_flags & MSG_CTRUNC) return NULL;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR((struct msghdr *)msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
            cm->cmsg_len >= CMSG_LEN(sizeof(struct ucred)))
            return (const struct ucred *)CMSG_DATA(cm);
    return NULL;
}

static rp_refuse_reason refusal(const datagram_state *st, const struct msghdr *msg) {
    const struct ucred *cred = sender_of(msg);
    if (!cred) return RP_REFUSE_NO_CREDENTIALS;
    struct ucred cr;
    memcpy(&cr, cred, sizeof cr); /* CMSG_DATA need not be aligned for ucred */
    if (cr.uid == 0) return RP_REFUSE_NONE;
    for (int i = 0; i < st->n_uids; i++)
        if (cr.uid == st->uids[i]) return RP_REFUSE_NONE;
    for (int i = 0; i < st->n_gids; i++)
        if (cr.gid == st->gids[i]) return RP_REFUSE_NONE;
    return RP_REFUSE_SENDER;
}

static void handle_datagram(rp_input *in, const uint8_t *data, size_t len,
                            const struct msghdr *msg) {
    rp_input_counters *c = &in->counters;
    rp_input_count(&c->received);
    rp_refuse_reason refused = refusal(in->state, msg);
    if (refused != RP_REFUSE_NONE) {
        rp_input_count(&c->refused[refused]);
        return;
    }
    if (msg->msg_flags & MSG_TRUNC) {
        rp_input_count(&c->bad_decode[RP_DECODE_LENGTH]);
        return;
    }
    /* One record, or several back to back (protocol 1.1); a bad record
     * ends the datagram: what follows it cannot be framed. */
    do {
        size_t n = rp_event_record_size(data, len);
        rp_event ev;
        rp_decode_reason why = RP_DECODE_OK;
        if (rp_event_decode(data, n ? n : len, &ev, &why) != RP_OK) {
            if ((unsigned)why >= RP_DECODE_REASON_COUNT || why == RP_DECODE_OK) why = RP_DECODE_FIELD;
            rp_input_count(&c->bad_decode[why]);
            return;
        }
        /* Byte 5 is the host id inside the daemon (protocol.h): what a
         * sender wrote there must not name a fleet host. The receive
         * buffer is ours. */
        rp_event_record_set_origin((uint8_t *)data, n, 0);
        if (rp_queue_push_encoded(in->queue, data, n))
            rp_input_count(&c->events);
        else
            rp_input_count(&c->dropped_queue_full);
        data += n;
        len -= n;
    } while (len > 0);
}

/* Room for the sender's credentials, the one control message we ask for. */
#define CONTROL_SIZE CMSG_SPACE(sizeof(struct ucred))

void rp_input_recv_loop(rp_input *in, uint8_t *buffers, size_t size, unsigned batch,
                        rp_input_handler *handle) {
    struct mmsghdr msgs[RP_INPUT_MAX_BATCH];
    struct iovec iov[RP_INPUT_MAX_BATCH];
    struct sockaddr_storage names[RP_INPUT_MAX_BATCH];
    union {
        struct cmsghdr align;
        char bytes[CONTROL_SIZE];
    } control[RP_INPUT_MAX_BATCH];
    if (batch > RP_INPUT_MAX_BATCH) batch = RP_INPUT_MAX_BATCH;
    for (;;) {
        int ready = rp_input_wait(in, in->fd, 100);
        if (ready < 0) break;
        if (ready == 0) continue;
        /* Drain what is there, a batch per call, then poll again; the
         * stop pipe is looked at between batches so that a flood cannot
         * hold the thread. */
        for (;;) {
            for (unsigned i = 0; i < batch; i++) {
                iov[i].iov_base = buffers + (size_t)i * size;
                iov[i].iov_len = size;
                memset(&msgs[i], 0, sizeof msgs[i]);
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_name = &names[i];
                msgs[i].msg_hdr.msg_namelen = sizeof names[i];
                msgs[i].msg_hdr.msg_control = control[i].bytes;
                msgs[i].msg_hdr.msg_controllen = sizeof control[i].bytes;
            }
            int n = recvmmsg(in->fd, msgs, batch, MSG_DONTWAIT, NULL);
            if (n <= 0) break;
            for (int i = 0; i < n; i++)
                handle(in, iov[i].iov_base, msgs[i].msg_len, &msgs[i].msg_hdr);
            if ((unsigned)n < batch || rp_input_stopping(in)) break;
        }
    }
}

static void *datagram_run(void *arg) {
    rp_input *in = arg;
    datagram_state *st = in->state;
    rp_input_recv_loop(in, st->buffers, RP_PROTO_MAX_DATAGRAM, BATCH, handle_datagram);
    return NULL;
}

/* Remove a stale socket file; refuse anything else at that path. */
static rp_status clear_path(const char *path, rp_error *err) {
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) return RP_OK;
        return rp_error_set(err, RP_EIO, "", 0, 0, "datagram input: %s: %s", path,
                            strerror(errno));
    }
    if (!S_ISSOCK(sb.st_mode))
        return rp_error_set(err, RP_EINVAL, "", 0, 0,
                            "datagram input: %s exists and is not a socket; not replacing it",
                            path);
    if (unlink(path) != 0)
        return rp_error_set(err, RP_EIO, "", 0, 0, "datagram input: cannot remove stale %s: %s",
                            path, strerror(errno));
    return RP_OK;
}

/* 8 MiB absorbs a burst of ~30k typical events while the thread is
 * descheduled. SO_RCVBUFFORCE (root) passes net.core.rmem_max; otherwise
 * the kernel caps SO_RCVBUF, which is fine: it is a tuning, not a need. */
static void raise_rcvbuf(int fd) {
    int want = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
}

static rp_status open_socket(rp_input *in, datagram_state *st, gid_t group,
                             const char *group_name, mode_t mode, rp_error *err) {
    rp_status rc = clear_path(st->path, err);
    if (rc != RP_OK) return rc;
    in->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (in->fd < 0)
        return rp_error_set(err, RP_EIO, "", 0, 0, "datagram input: socket: %s", strerror(errno));
    raise_rcvbuf(in->fd);
    int on = 1;
    if (setsockopt(in->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0)
        return rp_error_set(err, RP_EIO, "", 0, 0, "datagram input: SO_PASSCRED: %s",
                            strerror(errno));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, st->path, strlen(st->path));
    if (bind(in->fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return rp_error_set(err, RP_EIO, "", 0, 0, "datagram input: bind %s: %s", st->path,
                            strerror(errno));
    struct stat sb;
    if (lstat(st->path, &sb) == 0) {
        st->dev = sb.st_dev;
        st->ino = sb.st_ino;
    }
    /* nginx workers run as another user: they send through the group.
     * Until the chmod the file has the umask's bits; a sender that
     * connects in that instant keeps its connection, which is one reason
     * every datagram's credentials are checked, not only the file's. */
    if (group != (gid_t)-1 && chown(st->path, (uid_t)-1, group) != 0)
        return rp_error_set(err, RP_EIO, "", 0, 0,
                            "datagram input: cannot give %s to group %s: %s (add the daemon's "
                            "user to that group, or set serve.socket_group)",
                            st->path, group_name, strerror(errno));
    if (chmod(st->path, mode) != 0)
        return rp_error_set(err, RP_EIO, "", 0, 0, "datagram input: chmod %s: %s", st->path,
                            strerror(errno));
    return RP_OK;
}

/* A user name or uid; false when there is no such user. */
static bool resolve_user(const char *name, uid_t *out) {
    char *end;
    unsigned long v = strtoul(name, &end, 10);
    if (*name && !*end) {
        *out = (uid_t)v;
        return true;
    }
    struct passwd *pw = getpwnam(name);
    if (!pw) return false;
    *out = pw->pw_uid;
    return true;
}

static bool resolve_group(const char *name, gid_t *out) {
    char *end;
    unsigned long v = strtoul(name, &end, 10);
    if (*name && !*end) {
        *out = (gid_t)v;
        return true;
    }
    struct group *gr = getgrnam(name);
    if (!gr) return false;
    *out = gr->gr_gid;
    return true;
}

/* The socket's group: the configured one, else the primary group of the
 * nginx worker user as Debian (www-data) or nginx.org's packages (nginx)
 * name it, else none (the daemon's own, from the file's creation). */
static rp_status socket_group(const rp_serve_config *sv, gid_t *gid, const char **name,
                              rp_error *err) {
    *gid = (gid_t)-1;
    *name = sv->socket_group;
    if (sv->socket_group[0]) {
        if (!resolve_group(sv->socket_group, gid))
            return rp_error_set(err, RP_EINVAL, "", 0, 0,
                                "datagram input: serve.socket_group: no group '%s'",
                                sv->socket_group);
        return RP_OK;
    }
    static const char *const workers[] = {"www-data", "nginx"};
    for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++) {
        struct passwd *pw = getpwnam(workers[i]);
        if (pw) {
            *gid = pw->pw_gid;
            *name = workers[i];
            return RP_OK;
        }
    }
    return RP_OK;
}

/* Who may send, resolved once: ids compare in the hot loop, names do not. */
static rp_status resolve_senders(const rp_serve_config *sv, datagram_state *st, gid_t group,
                                 rp_error *err) {
    st->uids[st->n_uids++] = geteuid();
    for (int i = 0; i < sv->n_socket_users && i < RP_MAX_SENDERS; i++)
        if (!resolve_user(sv->socket_users[i], &st->uids[st->n_uids++]))
            return rp_error_set(err, RP_EINVAL, "", 0, 0,
                                "datagram input: serve.socket_users: no user '%s'",
                                sv->socket_users[i]);
    st->gids[st->n_gids++] = group != (gid_t)-1 ? group : getegid();
    for (int i = 0; i < sv->n_socket_groups && i < RP_MAX_SENDERS; i++)
        if (!resolve_group(sv->socket_groups[i], &st->gids[st->n_gids++]))
            return rp_error_set(err, RP_EINVAL, "", 0, 0,
                                "datagram input: serve.socket_groups: no group '%s'",
                                sv->socket_groups[i]);
    return RP_OK;
}

rp_status rp_input_datagram_start(const rp_serve_config *sv, rp_queue *q, rp_input **out,
                                  rp_error *err) {
    *out = NULL;
    const char *path = sv->socket_path;
    datagram_state probe;
    if (!path || !*path || strlen(path) >= sizeof probe.path)
        return rp_error_set(err, RP_EINVAL, "", 0, 0,
                            "datagram input: socket path must be 1 to %zu bytes",
                            sizeof probe.path - 1);
    rp_input *in = rp_input_alloc("datagram", q, err);
    if (!in) return RP_ENOMEM;
    datagram_state *st = calloc(1, sizeof *st);
    if (st) st->buffers = malloc((size_t)BATCH * RP_PROTO_MAX_DATAGRAM);
    in->state = st;
    in->cleanup = datagram_cleanup;
    in->run = datagram_run;
    if (!st || !st->buffers) {
        input_free(in);
        return rp_error_set(err, RP_ENOMEM, "", 0, 0, "datagram input: out of memory");
    }
    memcpy(st->path, path, strlen(path) + 1);
    gid_t group;
    const char *group_name;
    rp_status rc = socket_group(sv, &group, &group_name, err);
    if (rc == RP_OK) rc = resolve_senders(sv, st, group, err);
    if (rc == RP_OK)
        rc = open_socket(in, st, group, group_name,
                         (mode_t)(sv->socket_mode ? sv->socket_mode & 0777 : 0660), err);
    if (rc != RP_OK) {
        input_free(in);
        return rc;
    }
    rc = rp_input_launch(in, err);
    if (rc == RP_OK) *out = in;
    return rc;
}
