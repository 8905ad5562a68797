/*
 * send.c -- `rampart send`: replay access logs into a running
 * `rampart serve` as binary event datagrams, the way the nginx module
 * sends them. For tests, demos and benchmarks, and to feed a daemon from
 * a log collected elsewhere.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ingest.h"
#include "protocol.h"

static void usage(FILE *out) {
    fputs("usage: rampart send --socket PATH [OPTIONS] [FILE...]\n"
          "\n"
          "Read access logs (combined or JSON, plain or gzip, '-' for stdin) and send each\n"
          "request as one binary event datagram (docs/protocol.md) to the unix datagram\n"
          "socket of a running `rampart serve`.\n"
          "\n"
          "Options:\n"
          "  -s, --socket PATH     the daemon's event socket (required)\n"
          "  -i, --format-in FMT   auto (default), combined, json\n"
          "  -r, --rate N          send at most N events per second (default: as fast as\n"
          "                        the socket takes them)\n"
          "      --now             shift the log's times so that its first event happens\n"
          "                        now (gaps between events are kept)\n"
          "  -q, --quiet           no summary on stderr\n"
          "  -h, --help            this text\n"
          "\n"
          "Exit status: 0 all events sent; 1 bad usage; 2 an input could not be read or\n"
          "the socket refused events (counted in the summary).\n",
          out);
}

static int64_t now_us(int clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int rp_cmd_send(int argc, char **argv) {
    static const struct option longs[] = {
        {"socket", required_argument, 0, 's'}, {"format-in", required_argument, 0, 'i'},
        {"rate", required_argument, 0, 'r'},   {"now", no_argument, 0, 'N'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *sock_path = NULL;
    rp_log_format fmt = RP_FORMAT_AUTO;
    double rate = 0;
    bool stamp_now = false, quiet = false;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "s:i:r:qh", longs, NULL)) != -1) {
        switch (c) {
        case 's': sock_path = optarg; break;
        case 'i':
            if (rp_log_format_parse(optarg, &fmt) != RP_OK) {
                fprintf(stderr, "rampart send: unknown input format '%s'\n", optarg);
                return RP_EXIT_USAGE;
            }
            break;
        case 'r': rate = atof(optarg); break;
        case 'N': stamp_now = true; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return RP_EXIT_OK;
        default: usage(stderr); return RP_EXIT_USAGE;
        }
    }
    if (!sock_path) {
        fprintf(stderr, "rampart send: --socket is required\n");
        usage(stderr);
        return RP_EXIT_USAGE;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock_path) >= sizeof sa.sun_path) {
        fprintf(stderr, "rampart send: socket path too long\n");
        return RP_EXIT_USAGE;
    }
    strcpy(sa.sun_path, sock_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "rampart send: %s: %s\n", sock_path, strerror(errno));
        if (fd >= 0) close(fd);
        return RP_EXIT_INPUT;
    }
    static char *stdin_only[] = {"-"};
    char **files = optind < argc ? argv + optind : stdin_only;
    int n_files = optind < argc ? argc - optind : 1;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    uint64_t sent = 0, failed = 0, skipped = 0;
    int64_t shift = 0;
    bool have_shift = false;
    int status = RP_EXIT_OK;
    int64_t start = now_us(CLOCK_MONOTONIC);
    for (int i = 0; i < n_files; i++) {
        rp_error err = {0};
        rp_line_reader *r;
        if (rp_line_reader_open(files[i], &r, &err) != RP_OK) {
            fprintf(stderr, "rampart send: %s\n", err.message);
            status = RP_EXIT_INPUT;
            continue;
        }
        rp_log_parser *p = rp_log_parser_new(fmt);
        const char *line;
        size_t len;
        bool too_long;
        int rc;
        while (p && (rc = rp_line_reader_next(r, &line, &len, &too_long, &err)) == 1) {
            rp_event ev;
            rp_skip_reason why;
            if (too_long || rp_log_parser_parse(p, line, len, &ev, &why) != RP_OK) {
                skipped++;
                continue;
            }
            if (rate > 0) { /* pace: event k leaves at start + k / rate */
                int64_t due = start + (int64_t)((double)(sent + failed) * 1e6 / rate);
                int64_t wait = due - now_us(CLOCK_MONOTONIC);
                if (wait > 0) {
                    struct timespec ts = {.tv_sec = wait / 1000000, .tv_nsec = (wait % 1000000) * 1000};
                    nanosleep(&ts, NULL);
                }
            }
            if (stamp_now) {
                if (!have_shift) {
                    shift = now_us(CLOCK_REALTIME) - ev.ts_us;
                    have_shift = true;
                }
                ev.ts_us += shift;
            }
            size_t n = rp_event_encode(&ev, buf, sizeof buf);
            ssize_t w = n ? send(fd, buf, n, 0) : -1;
            if (w == (ssize_t)n) {
                sent++;
            } else if (errno == EAGAIN || errno == ENOBUFS) { /* full: wait a moment, once */
                struct timespec ts = {.tv_nsec = 1000000};
                nanosleep(&ts, NULL);
                if (send(fd, buf, n, 0) == (ssize_t)n) sent++;
                else failed++;
            } else {
                failed++;
            }
        }
        if (p && rc < 0) {
            fprintf(stderr, "rampart send: %s\n", err.message);
            status = RP_EXIT_INPUT;
        }
        rp_log_parser_free(p);
        rp_line_reader_close(r);
    }
    close(fd);
    double el = (double)(now_us(CLOCK_MONOTONIC) - start) / 1e6;
    if (!quiet)
        fprintf(stderr, "rampart send: %llu events sent, %llu refused, %llu lines skipped in %.2f s\n",
                (unsigned long long)sent, (unsigned long long)failed, (unsigned long long)skipped, el);
    if (failed) status = RP_EXIT_INPUT;
    return status;
}
