/*
 * test_inputs.c -- the daemon's three inputs with real sockets and files
 * in a temporary directory: datagrams in and identical events out, bad
 * datagrams and syslog packets counted by reason, and tail -F across
 * appends, partial lines, rename rotation and copytruncate without a line
 * missed or repeated.
 *
 * Every wait polls with short sleeps up to a deadline, so the tests take
 * as long as the inputs need and fail (rather than hang) when they stall.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "inputs.h"

#define DEADLINE_MS 4000

static char dir[64];

static int setup_dir(void **state) {
    strcpy(dir, "/tmp/rp-inputs-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void in_dir(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", dir, name);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The datagram input as the daemon starts it, with the default senders
 * (root, this user, the socket's group) unless the test changes them. */
static rp_status start_datagram_as(const rp_serve_config *sv, const char *path, rp_queue *q,
                                   rp_input **in, rp_error *err) {
    rp_serve_config copy = *sv;
    snprintf(copy.socket_path, sizeof copy.socket_path, "%s", path);
    return rp_input_datagram_start(&copy, q, in, err);
}

static rp_status start_datagram(const char *path, rp_queue *q, rp_input **in, rp_error *err) {
    rp_config *c = rp_config_default();
    rp_status st = start_datagram_as(&c->serve, path, q, in, err);
    rp_config_free(c);
    return st;
}

/* The syslog input with the default sources (127.0.0.1, ::1). */
static rp_status start_syslog(const char *host, int port, rp_queue *q, const rp_cidr *trusted,
                              int n_trusted, rp_input **in, rp_error *err) {
    rp_config *c = rp_config_default();
    rp_status st = rp_input_syslog_start(host, port, q, trusted, n_trusted, c->serve.syslog_allow,
                                         c->serve.n_syslog_allow, in, err);
    rp_config_free(c);
    return st;
}

static rp_queue *new_queue(void) {
    rp_queue *q;
    assert_int_equal(rp_queue_new(4 << 20, &q), RP_OK);
    return q;
}

/* Every outcome the input counts for a datagram, packet or line. */
static uint64_t accounted(const rp_input_stats *s) {
    uint64_t n = s->events + s->dropped_queue_full + s->bad_syslog;
    for (int i = 0; i < RP_DECODE_REASON_COUNT; i++) n += s->bad_decode[i];
    for (int i = 0; i < RP_REFUSE_REASON_COUNT; i++) n += s->refused[i];
    for (int i = 0; i < RP_SKIP_REASON_COUNT; i++) n += s->bad_line[i];
    return n;
}

/* Wait until the input has received and dealt with n datagrams or lines
 * (received is counted on arrival, the outcome just after). */
static void wait_accounted(rp_input *in, uint64_t n) {
    int64_t end = now_ms() + DEADLINE_MS;
    rp_input_stats s;
    for (;;) {
        rp_input_get_stats(in, &s);
        if (accounted(&s) >= n || now_ms() > end) break;
        sleep_ms(2);
    }
    assert_int_equal(accounted(&s), n);
}

/* ------------------------------------------------------------- datagrams */

static int unix_sender(void) {
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    return fd;
}

static void send_to_path(int fd, const char *path, const void *data, size_t len) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    ssize_t n = sendto(fd, data, len, 0, (struct sockaddr *)&addr, sizeof addr);
    assert_int_equal(n, (ssize_t)len);
}

static rp_event numbered_event(int i, char *path, size_t size) {
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    snprintf(path, size, "/items/%d", i);
    ev.ts_us = 1700000000000000LL + i;
    assert_int_equal(rp_addr_parse("198.51.100.9", 12, &ev.client), RP_OK);
    ev.status = (uint16_t)(200 + i % 300);
    ev.method = (uint8_t)(i % RP_METHOD_COUNT);
    ev.upstream_us = i;
    ev.token_id = (uint64_t)i * 7919;
    ev.path = (rp_str){path, (uint32_t)strlen(path)};
    ev.user_agent = (rp_str){"probe/1.0", 9};
    return ev;
}

static void test_inputs_datagram_1000_events_arrive_identical(void **state) {
    char path[128];
    in_dir(path, sizeof path, "events.sock");
    rp_queue *q = new_queue();
    rp_input *in = NULL;
    rp_error err;
    assert_int_equal(start_datagram(path, q, &in, &err), RP_OK);
    assert_string_equal(rp_input_name(in), "datagram");
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0660);

    int fd = unix_sender();
    for (int i = 0; i < 1000; i++) {
        char p[32];
        rp_event ev = numbered_event(i, p, sizeof p);
        uint8_t buf[RP_PROTO_MAX_DATAGRAM];
        send_to_path(fd, path, buf, rp_event_encode(&ev, buf, sizeof buf));
    }
    close(fd);

    int got = 0;
    int64_t end = now_ms() + DEADLINE_MS;
    rp_event out[128];
    while (got < 1000 && now_ms() < end) {
        size_t n = rp_queue_pop(q, out, 128, 50);
        for (size_t k = 0; k < n; k++, got++) {
            char p[32];
            rp_event want = numbered_event(got, p, sizeof p);
            assert_int_equal(out[k].ts_us, want.ts_us);
            assert_memory_equal(out[k].client.bytes, want.client.bytes, 16);
            assert_int_equal(out[k].status, want.status);
            assert_int_equal(out[k].method, want.method);
            assert_int_equal(out[k].upstream_us, want.upstream_us);
            assert_int_equal(out[k].token_id, want.token_id);
            assert_int_equal(out[k].path.len, want.path.len);
            assert_memory_equal(out[k].path.ptr, want.path.ptr, want.path.len);
            assert_memory_equal(out[k].user_agent.ptr, "probe/1.0", 9);
        }
    }
    assert_int_equal(got, 1000);
    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.received, 1000);
    assert_int_equal(s.events, 1000);
    rp_input_stop(in);
    /* The socket file goes with the input. */
    assert_int_equal(stat(path, &sb), -1);
    rp_queue_free(q);
}

/* Send one event to path as uid/gid (a child process that drops root);
 * errno is EACCES when the socket file's mode refused it, else 0. */
static void send_as(uid_t uid, gid_t gid, const char *path, const void *data, size_t len) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
            setresuid(uid, uid, uid) != 0)
            _exit(2);
        int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        struct sockaddr_un addr;
        memset(&addr, 0, sizeof addr);
        addr.sun_family = AF_UNIX;
        strcpy(addr.sun_path, path);
        _exit(sendto(fd, data, len, 0, (struct sockaddr *)&addr, sizeof addr) == (ssize_t)len
                  ? 0
                  : errno == EACCES ? 3 : 4);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    errno = WEXITSTATUS(status) == 3 ? EACCES : 0;
    assert_true(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3);
}

/* A forged event from a local user who is not nginx would get any
 * address blocked: the file's mode keeps such users out, and if an
 * operator opens the mode anyway, each datagram's credentials still do. */
static void test_inputs_datagram_from_another_uid_is_refused_and_counted(void **state) {
    if (geteuid() != 0) skip(); /* needs to send as another user */
    char path[128];
    in_dir(path, sizeof path, "creds.sock");
    rp_queue *q = new_queue();
    char p[32];
    rp_event ev = numbered_event(3, p, sizeof p);
    uint8_t good[RP_PROTO_MAX_DATAGRAM];
    size_t n = rp_event_encode(&ev, good, sizeof good);
    const uid_t nobody = 65534;
    const gid_t nogroup = 65534;
    assert_int_equal(chmod(dir, 0711), 0); /* others may reach the socket file */

    /* Default: 0660, and the nginx worker's group when there is one. */
    rp_input *in = NULL;
    assert_int_equal(start_datagram(path, q, &in, NULL), RP_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0660);
    struct passwd *www = getpwnam("www-data");
    if (www) assert_int_equal(sb.st_gid, www->pw_gid);
    send_as(nobody, nogroup, path, good, n);
    assert_int_equal(errno, EACCES); /* the file's mode: not even delivered */
    rp_input_stop(in);

    /* Mode opened to everyone: the credentials refuse what the mode let in. */
    rp_config *c = rp_config_default();
    c->serve.socket_mode = 0666;
    snprintf(c->serve.socket_group, sizeof c->serve.socket_group, "0");
    assert_int_equal(start_datagram_as(&c->serve, path, q, &in, NULL), RP_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0666);
    assert_int_equal(sb.st_gid, 0);
    for (int i = 0; i < 3; i++) {
        send_as(nobody, nogroup, path, good, n);
        assert_int_equal(errno, 0); /* delivered, then refused */
    }
    int fd = unix_sender();
    send_to_path(fd, path, good, n); /* root: read */
    close(fd);
    wait_accounted(in, 4);
    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.received, 4);
    assert_int_equal(s.refused[RP_REFUSE_SENDER], 3);
    assert_int_equal(s.events, 1);
    rp_input_stop(in);

    /* Named as a sender, by user or by primary group: read. */
    snprintf(c->serve.socket_users[0], sizeof c->serve.socket_users[0], "nobody");
    c->serve.n_socket_users = 1;
    assert_int_equal(start_datagram_as(&c->serve, path, q, &in, NULL), RP_OK);
    send_as(nobody, nogroup, path, good, n);
    send_as(nobody + 1, 12345, path, good, n); /* neither: refused */
    wait_accounted(in, 2);
    rp_input_get_stats(in, &s);
    assert_int_equal(s.events, 1);
    assert_int_equal(s.refused[RP_REFUSE_SENDER], 1);
    rp_input_stop(in);
    c->serve.n_socket_users = 0;
    snprintf(c->serve.socket_groups[0], sizeof c->serve.socket_groups[0], "12345");
    c->serve.n_socket_groups = 1;
    assert_int_equal(start_datagram_as(&c->serve, path, q, &in, NULL), RP_OK);
    send_as(nobody + 1, 12345, path, good, n);
    wait_accounted(in, 1);
    rp_input_get_stats(in, &s);
    assert_int_equal(s.events, 1);
    rp_input_stop(in);

    /* Names that do not exist are start-up errors, not silent. */
    rp_error err;
    snprintf(c->serve.socket_groups[0], sizeof c->serve.socket_groups[0], "no-such-group-x");
    assert_int_equal(start_datagram_as(&c->serve, path, q, &in, &err), RP_EINVAL);
    assert_string_equal(err.message,
                        "datagram input: serve.socket_groups: no group 'no-such-group-x'");
    c->serve.n_socket_groups = 0;
    snprintf(c->serve.socket_group, sizeof c->serve.socket_group, "no-such-group-x");
    assert_int_equal(start_datagram_as(&c->serve, path, q, &in, &err), RP_EINVAL);
    assert_string_equal(err.message, "datagram input: serve.socket_group: no group 'no-such-group-x'");
    rp_config_free(c);
    rp_event out[8];
    while (rp_queue_pop(q, out, 8, 10) > 0) {}
    rp_queue_free(q);
}

static void test_inputs_datagram_garbage_is_counted_by_reason(void **state) {
    char path[128];
    in_dir(path, sizeof path, "garbage.sock");
    rp_queue *q = new_queue();
    rp_input *in = NULL;
    assert_int_equal(start_datagram(path, q, &in, NULL), RP_OK);

    char p[32];
    rp_event ev = numbered_event(1, p, sizeof p);
    uint8_t good[RP_PROTO_MAX_DATAGRAM], bad[RP_PROTO_MAX_DATAGRAM + 4000];
    size_t n = rp_event_encode(&ev, good, sizeof good);
    int fd = unix_sender();
    send_to_path(fd, path, "hello world", 11);       /* magic */
    send_to_path(fd, path, "RP", 2);                 /* short */
    memcpy(bad, good, n);
    bad[4] = 9;
    send_to_path(fd, path, bad, n);                  /* version */
    send_to_path(fd, path, good, n - 1);             /* length */
    memcpy(bad, good, n);
    bad[16] = 5;
    send_to_path(fd, path, bad, n);                  /* field: family */
    memset(bad, 'A', sizeof bad);
    send_to_path(fd, path, bad, sizeof bad);         /* over the buffer: length */
    send_to_path(fd, path, good, n);                 /* and one good one */
    close(fd);

    wait_accounted(in, 7);
    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.bad_decode[RP_DECODE_MAGIC], 1);
    assert_int_equal(s.bad_decode[RP_DECODE_SHORT], 1);
    assert_int_equal(s.bad_decode[RP_DECODE_VERSION], 1);
    assert_int_equal(s.bad_decode[RP_DECODE_LENGTH], 2);
    assert_int_equal(s.bad_decode[RP_DECODE_FIELD], 1);
    assert_int_equal(s.events, 1);
    rp_event out[4];
    assert_int_equal(rp_queue_pop(q, out, 4, 1000), 1);
    assert_int_equal(out[0].ts_us, ev.ts_us);
    rp_input_stop(in);
    rp_queue_free(q);
}

static void test_inputs_datagram_refuses_path_that_is_not_a_socket(void **state) {
    char path[128];
    in_dir(path, sizeof path, "precious.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("keep me\n", f);
    fclose(f);
    rp_queue *q = new_queue();
    rp_input *in = (rp_input *)1;
    rp_error err;
    assert_int_equal(start_datagram(path, q, &in, &err), RP_EINVAL);
    assert_null(in);
    assert_non_null(strstr(err.message, "not a socket"));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    rp_queue_free(q);
}

static void test_inputs_datagram_replaces_stale_socket_file(void **state) {
    char path[128];
    in_dir(path, sizeof path, "stale.sock");
    /* A socket file left by a process that died. */
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    close(fd);
    rp_queue *q = new_queue();
    rp_input *in = NULL;
    assert_int_equal(start_datagram(path, q, &in, NULL), RP_OK);
    rp_input_stop(in);
    rp_queue_free(q);
}

/* ---------------------------------------------------------------- syslog */

static void send_udp(int port, const char *text) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ssize_t n = sendto(fd, text, strlen(text), 0, (struct sockaddr *)&addr, sizeof addr);
    assert_int_equal(n, (ssize_t)strlen(text));
    close(fd);
}

/* A UDP packet to 127.0.0.1:port sent from the address from. */
static void send_udp_from(const char *from, int port, const char *text) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, from, &addr.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ssize_t n = sendto(fd, text, strlen(text), 0, (struct sockaddr *)&addr, sizeof addr);
    assert_int_equal(n, (ssize_t)strlen(text));
    close(fd);
}

/* Any address on lo is local, and any local user may send to a UDP port:
 * only the configured sources are read (127.0.0.1 and ::1 by default). */
static void test_inputs_syslog_refuses_sources_not_allowed(void **state) {
    rp_queue *q = new_queue();
    rp_input *in = NULL;
    assert_int_equal(start_syslog("127.0.0.1", 0, q, NULL, 0, &in, NULL), RP_OK);
    int port = rp_input_port(in);
    const char *line = "<190>Nov 25 10:00:00 web1 rampart: {\"time_iso8601\":"
                       "\"2024-11-25T10:00:00Z\",\"remote_addr\":\"192.0.2.1\",\"request\":"
                       "\"GET / HTTP/1.1\",\"status\":\"200\"}";
    send_udp_from("127.0.0.2", port, line);
    send_udp_from("127.0.0.2", port, line);
    send_udp_from("127.0.0.1", port, line);
    wait_accounted(in, 3);
    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.received, 3);
    assert_int_equal(s.refused[RP_REFUSE_SOURCE], 2);
    assert_int_equal(s.events, 1);
    rp_input_stop(in);

    /* A configured list replaces the default. */
    rp_cidr only;
    assert_int_equal(rp_cidr_parse("127.0.0.2/32", 12, &only), RP_OK);
    assert_int_equal(rp_input_syslog_start("127.0.0.1", 0, q, NULL, 0, &only, 1, &in, NULL), RP_OK);
    port = rp_input_port(in);
    send_udp_from("127.0.0.2", port, line);
    send_udp_from("127.0.0.1", port, line);
    wait_accounted(in, 2);
    rp_input_get_stats(in, &s);
    assert_int_equal(s.refused[RP_REFUSE_SOURCE], 1);
    assert_int_equal(s.events, 1);
    rp_input_stop(in);
    rp_event out[4];
    while (rp_queue_pop(q, out, 4, 10) > 0) {}
    rp_queue_free(q);
}

static void test_inputs_syslog_json_lines_and_garbage(void **state) {
    rp_queue *q = new_queue();
    rp_input *in = NULL;
    rp_cidr proxy;
    assert_int_equal(rp_cidr_parse("10.0.0.0/8", 10, &proxy), RP_OK);
    assert_int_equal(start_syslog("127.0.0.1", 0, q, &proxy, 1, &in, NULL), RP_OK);
    int port = rp_input_port(in);
    assert_true(port > 0);
    assert_string_equal(rp_input_name(in), "syslog");

    /* RFC 3164 as nginx sends it, with a trusted proxy in front. */
    send_udp(port, "<190>Nov 25 10:00:00 web1 rampart: {\"time_iso8601\":\"2024-11-25T10:00:00Z\","
                   "\"remote_addr\":\"10.1.1.1\",\"http_x_forwarded_for\":\"203.0.113.5\","
                   "\"request\":\"GET /a?x=1 HTTP/1.1\",\"status\":\"200\"}");
    /* RFC 5424, trailing newline. */
    send_udp(port, "<190>1 2024-11-25T10:00:01Z web1 rampart - - - {\"time_iso8601\":"
                   "\"2024-11-25T10:00:01Z\",\"remote_addr\":\"192.0.2.1\",\"request\":"
                   "\"POST /b HTTP/1.1\",\"status\":401}\n");
    send_udp(port, "<13>just some text");                          /* no message */
    send_udp(port, "<190>Nov 25 10:00:02 web1 rampart: ");         /* empty message */
    send_udp(port, "<190>Nov 25 10:00:02 web1 rampart: {\"time");  /* bad JSON */
    send_udp(port, "<190>Nov 25 10:00:02 web1 rampart: {\"request\":\"GET / HTTP/1.1\","
                   "\"remote_addr\":\"192.0.2.1\"}");              /* no time */
    wait_accounted(in, 6);

    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.received, 6);
    assert_int_equal(s.events, 2);
    assert_int_equal(s.bad_syslog, 2);
    assert_int_equal(s.bad_line[RP_SKIP_BAD_JSON], 1);
    assert_int_equal(s.bad_line[RP_SKIP_BAD_TIME], 1);

    rp_event out[4];
    size_t n = rp_queue_pop(q, out, 4, 1000);
    if (n < 2) n += rp_queue_pop(q, out + n, 4 - n, 1000);
    assert_int_equal(n, 2);
    char text[RP_ADDR_STRLEN];
    rp_addr_format(&out[0].client, text, sizeof text);
    assert_string_equal(text, "203.0.113.5"); /* resolved through the trusted proxy */
    assert_memory_equal(out[0].path.ptr, "/a", 2);
    assert_memory_equal(out[0].query.ptr, "x=1", 3);
    assert_int_equal(out[1].method, RP_METHOD_POST);
    assert_int_equal(out[1].status, 401);
    rp_input_stop(in);
    rp_queue_free(q);
}

static void test_inputs_syslog_bind_failure_is_reported(void **state) {
    rp_queue *q = new_queue();
    rp_input *in = NULL;
    rp_error err;
    assert_int_equal(start_syslog("127.0.0.1", 0, q, NULL, 0, &in, NULL), RP_OK);
    rp_input *second = NULL;
    assert_int_not_equal(
        start_syslog("127.0.0.1", rp_input_port(in), q, NULL, 0, &second, &err), RP_OK);
    assert_null(second);
    assert_non_null(strstr(err.message, "bind"));
    rp_input_stop(in);
    rp_queue_free(q);
}

/* ------------------------------------------------------------------ tail */

static void append(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void append_lines(const char *path, int from, int to) {
    static char block[256 * 128];
    size_t used = 0;
    for (int i = from; i <= to; i++) {
        used += (size_t)snprintf(block + used, sizeof block - used,
                                 "192.0.2.1 - - [25/Nov/2024:10:00:00 +0000] \"GET /seq/%d "
                                 "HTTP/1.1\" 200 5 \"-\" \"t\"\n",
                                 i);
        if (used > sizeof block - 128 || i == to) {
            block[used] = 0;
            append(path, block);
            used = 0;
        }
    }
}

/* Pop until `want` more events have come, checking that they carry the
 * sequence numbers *next, *next+1, ... in order. */
static void expect_sequence(rp_queue *q, int *next, int want) {
    int64_t end = now_ms() + DEADLINE_MS;
    int got = 0;
    rp_event out[64];
    while (got < want && now_ms() < end) {
        size_t n = rp_queue_pop(q, out, 64, 20);
        for (size_t k = 0; k < n; k++, got++) {
            char p[32];
            int len = snprintf(p, sizeof p, "/seq/%d", *next);
            if (out[k].path.len != (uint32_t)len || memcmp(out[k].path.ptr, p, (size_t)len) != 0)
                fail_msg("expected %s, got %.*s", p, (int)out[k].path.len, out[k].path.ptr);
            (*next)++;
        }
    }
    assert_int_equal(got, want);
}

static void expect_nothing_more(rp_queue *q, int ms) {
    rp_event out[4];
    assert_int_equal(rp_queue_pop(q, out, 4, ms), 0);
}

static rp_input *start_tail(const char *path, bool from_start, rp_queue *q) {
    rp_input *in = NULL;
    rp_error err;
    rp_status st = rp_input_tail_start(path, from_start, RP_FORMAT_COMBINED, q, NULL, 0, &in, &err);
    if (st != RP_OK) fail_msg("%s", err.message);
    assert_string_equal(rp_input_name(in), "tail");
    return in;
}

static void test_inputs_tail_starts_at_end_and_follows_appends(void **state) {
    char path[128];
    in_dir(path, sizeof path, "append.log");
    append_lines(path, 1, 10); /* already there: not read */
    rp_queue *q = new_queue();
    rp_input *in = start_tail(path, false, q);
    int next = 11;
    append_lines(path, 11, 60);
    expect_sequence(q, &next, 50);
    append_lines(path, 61, 62);
    expect_sequence(q, &next, 2);
    expect_nothing_more(q, 150);
    rp_input_stop(in);
    rp_queue_free(q);
}

static void test_inputs_tail_from_start_reads_existing_lines(void **state) {
    char path[128];
    in_dir(path, sizeof path, "existing.log");
    append_lines(path, 1, 30);
    rp_queue *q = new_queue();
    rp_input *in = start_tail(path, true, q);
    int next = 1;
    expect_sequence(q, &next, 30);
    rp_input_stop(in);
    rp_queue_free(q);
}

static void test_inputs_tail_partial_line_waits_for_its_newline(void **state) {
    char path[128];
    in_dir(path, sizeof path, "partial.log");
    append(path, "");
    rp_queue *q = new_queue();
    rp_input *in = start_tail(path, false, q);
    append(path, "192.0.2.1 - - [25/Nov/2024:10:00:00 +0000] \"GET /seq/1 HT");
    expect_nothing_more(q, 250); /* over two polling rounds */
    append(path, "TP/1.1\" 200 5 \"-\" \"t\"\n");
    int next = 1;
    expect_sequence(q, &next, 1);
    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.received, 1);
    assert_int_equal(s.bad_line[RP_SKIP_MALFORMED], 0);
    rp_input_stop(in);
    rp_queue_free(q);
}

/* Started while the last line is half written: its tail is skipped, not
 * parsed as a broken line. */
static void test_inputs_tail_start_mid_line_skips_the_partial(void **state) {
    char path[128];
    in_dir(path, sizeof path, "midline.log");
    append(path, "192.0.2.1 - - [25/Nov/2024:10:00:00 +0000] \"GET /seq/0 HT");
    rp_queue *q = new_queue();
    rp_input *in = start_tail(path, false, q);
    append(path, "TP/1.1\" 200 5 \"-\" \"t\"\n");
    append_lines(path, 1, 3);
    int next = 1;
    expect_sequence(q, &next, 3);
    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.bad_line[RP_SKIP_MALFORMED], 0);
    rp_input_stop(in);
    rp_queue_free(q);
}

/* logrotate's default: rename, the writer finishes on the old file, then
 * a new file appears. Every line once, in order. */
static void test_inputs_tail_rename_rotation_misses_no_line(void **state) {
    char path[128], old[128];
    in_dir(path, sizeof path, "rotate.log");
    in_dir(old, sizeof old, "rotate.log.1");
    append(path, "");
    rp_queue *q = new_queue();
    rp_input *in = start_tail(path, false, q);
    int next = 1;
    append_lines(path, 1, 100);
    expect_sequence(q, &next, 100);

    assert_int_equal(rename(path, old), 0);
    append_lines(old, 101, 120); /* nginx writes on until it reopens */
    sleep_ms(150);               /* the tail sees the path missing */
    append_lines(old, 121, 130);
    append_lines(path, 131, 200);
    expect_sequence(q, &next, 100);

    /* And again, this time without a pause: rename and create at once. */
    assert_int_equal(unlink(old), 0);
    assert_int_equal(rename(path, old), 0);
    append_lines(old, 201, 210);
    append_lines(path, 211, 260);
    expect_sequence(q, &next, 60);
    expect_nothing_more(q, 150);

    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.rotations, 2);
    assert_int_equal(s.events, 260);
    rp_input_stop(in);
    rp_queue_free(q);
}

/* logrotate copytruncate: the file is cut to 0 in place and written on. */
static void test_inputs_tail_copytruncate_misses_no_line(void **state) {
    char path[128];
    in_dir(path, sizeof path, "truncate.log");
    append(path, "");
    rp_queue *q = new_queue();
    rp_input *in = start_tail(path, false, q);
    int next = 1;
    append_lines(path, 1, 80);
    expect_sequence(q, &next, 80);

    assert_int_equal(truncate(path, 0), 0);
    append_lines(path, 81, 90); /* shorter than before: seen as a truncation */
    expect_sequence(q, &next, 10);
    append_lines(path, 91, 150);
    expect_sequence(q, &next, 60);
    expect_nothing_more(q, 150);

    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.rotations, 1);
    rp_input_stop(in);
    rp_queue_free(q);
}

static void test_inputs_tail_waits_for_a_missing_file(void **state) {
    char path[128];
    in_dir(path, sizeof path, "later.log");
    rp_queue *q = new_queue();
    rp_input *in = start_tail(path, false, q);
    sleep_ms(120);
    append_lines(path, 1, 5); /* a new file is read from its start */
    int next = 1;
    expect_sequence(q, &next, 5);
    rp_input_stop(in);
    rp_queue_free(q);
}

static void test_inputs_tail_refuses_a_directory(void **state) {
    rp_queue *q = new_queue();
    rp_input *in = (rp_input *)1;
    rp_error err;
    assert_int_equal(
        rp_input_tail_start(dir, false, RP_FORMAT_COMBINED, q, NULL, 0, &in, &err), RP_EIO);
    assert_null(in);
    assert_non_null(strstr(err.message, "not a regular file"));
    rp_queue_free(q);
}

static void test_inputs_tail_too_long_and_bad_lines_are_counted(void **state) {
    char path[128];
    in_dir(path, sizeof path, "long.log");
    append(path, "");
    rp_queue *q = new_queue();
    rp_input *in = start_tail(path, false, q);
    size_t big = RP_MAX_LINE + 10000;
    char *line = malloc(big + 2);
    assert_non_null(line);
    memset(line, 'x', big);
    line[big] = '\n';
    line[big + 1] = 0;
    append(path, line);
    free(line);
    append(path, "not a log line\n\n"); /* malformed, then blank (not counted) */
    append_lines(path, 1, 2);
    int next = 1;
    expect_sequence(q, &next, 2);
    /* the counter moves just after the push: wait for all four outcomes */
    wait_accounted(in, 4);
    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.bad_line[RP_SKIP_TOO_LONG], 1);
    assert_int_equal(s.bad_line[RP_SKIP_MALFORMED], 1);
    assert_int_equal(s.events, 2);
    rp_input_stop(in);
    rp_queue_free(q);
}

static void test_inputs_stop_is_safe_on_null(void **state) {
    rp_input_stop(NULL);
    assert_int_equal(rp_input_port(NULL), 0);
}


/* A datagram packing 50 records (how the nginx module batches) gives 50
 * events; garbage after good records ends that datagram and is counted. */
static void test_inputs_datagram_with_several_records(void **state) {
    char path[128];
    in_dir(path, sizeof path, "multi.sock");
    rp_queue *q = new_queue();
    rp_input *in = NULL;
    rp_error err;
    assert_int_equal(start_datagram(path, q, &in, &err), RP_OK);
    static uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t used = 0;
    for (int i = 0; i < 50; i++) {
        char p[32];
        rp_event ev = numbered_event(i, p, sizeof p);
        used += rp_event_encode(&ev, buf + used, sizeof buf - used);
    }
    int fd = unix_sender();
    send_to_path(fd, path, buf, used);
    memcpy(buf + used, "garbage!", 8);
    send_to_path(fd, path, buf, used + 8); /* 50 more, then a bad tail */
    close(fd);
    wait_accounted(in, 101);
    int next = 0, got = 0;
    int64_t end = now_ms() + DEADLINE_MS;
    rp_event out[128];
    while (got < 100 && now_ms() < end) {
        size_t n = rp_queue_pop(q, out, 128, 50);
        for (size_t k = 0; k < n; k++, got++, next = (next + 1) % 50) {
            char p[32];
            rp_event want = numbered_event(next, p, sizeof p);
            assert_int_equal(out[k].ts_us, want.ts_us);
        }
    }
    assert_int_equal(got, 100);
    rp_input_stats s;
    rp_input_get_stats(in, &s);
    assert_int_equal(s.received, 2);
    assert_int_equal(s.events, 100);
    assert_int_equal(s.bad_decode[RP_DECODE_SHORT] + s.bad_decode[RP_DECODE_MAGIC] +
                         s.bad_decode[RP_DECODE_LENGTH],
                     1);
    rp_input_stop(in);
    rp_queue_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inputs_datagram_1000_events_arrive_identical),
        cmocka_unit_test(test_inputs_datagram_with_several_records),
        cmocka_unit_test(test_inputs_datagram_garbage_is_counted_by_reason),
        cmocka_unit_test(test_inputs_datagram_from_another_uid_is_refused_and_counted),
        cmocka_unit_test(test_inputs_datagram_refuses_path_that_is_not_a_socket),
        cmocka_unit_test(test_inputs_datagram_replaces_stale_socket_file),
        cmocka_unit_test(test_inputs_syslog_json_lines_and_garbage),
        cmocka_unit_test(test_inputs_syslog_refuses_sources_not_allowed),
        cmocka_unit_test(test_inputs_syslog_bind_failure_is_reported),
        cmocka_unit_test(test_inputs_tail_starts_at_end_and_follows_appends),
        cmocka_unit_test(test_inputs_tail_from_start_reads_existing_lines),
        cmocka_unit_test(test_inputs_tail_partial_line_waits_for_its_newline),
        cmocka_unit_test(test_inputs_tail_start_mid_line_skips_the_partial),
        cmocka_unit_test(test_inputs_tail_rename_rotation_misses_no_line),
        cmocka_unit_test(test_inputs_tail_copytruncate_misses_no_line),
        cmocka_unit_test(test_inputs_tail_waits_for_a_missing_file),
        cmocka_unit_test(test_inputs_tail_refuses_a_directory),
        cmocka_unit_test(test_inputs_tail_too_long_and_bad_lines_are_counted),
        cmocka_unit_test(test_inputs_stop_is_safe_on_null),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
