/*
 * serve.c -- `rampart serve`: run the daemon until SIGTERM/SIGINT;
 * SIGHUP reloads the configuration.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "daemon.h"

/* Beyond cli.h's: why serve could not start (docs/deployment.md). */
#define RP_EXIT_SERVE_BUSY 3  /* another daemon holds the store/table/socket */
#define RP_EXIT_SERVE_STORE 4 /* the store is damaged */

static void usage(FILE *out) {
    fputs("usage: rampart serve [OPTIONS]\n"
          "\n"
          "Run the real-time detection service: receive request events (from the nginx\n"
          "module's datagrams, nginx syslog, or a followed access log), detect abuse,\n"
          "publish decisions to the shared decision table read by nginx, keep incidents\n"
          "and decisions in SQLite, and answer the admin API.\n"
          "\n"
          "Options (each overrides the config's serve: section):\n"
          "  -c, --config FILE        configuration (YAML); built-in defaults without it\n"
          "      --socket PATH        unix datagram socket for events (\"\" = off)\n"
          "      --syslog HOST:PORT   syslog UDP input for nginx JSON lines (\"\" = off)\n"
          "      --tail FILE          follow an access log (rotation-safe)\n"
          "      --from-start         read the followed file from its start\n"
          "      --table PATH         the decision table file\n"
          "      --store PATH         the SQLite database\n"
          "      --admin HOST:PORT    admin API address (port 0 = any free port)\n"
          "      --token-file FILE    bearer token required for changes\n"
          "      --ready-file FILE    once running, write {\"pid\",\"admin\",\"syslog_port\"} here\n"
          "      --log-json           log lines as JSON\n"
          "  -h, --help               this text\n"
          "\n"
          "Signals: SIGHUP reloads the configuration (a bad one is rejected and the old\n"
          "one stays); SIGTERM and SIGINT drain the queue, flush and exit.\n"
          "\n"
          "Exit status: 0 after a clean stop; 1 when it cannot start (the reason is\n"
          "printed); 3 when another rampart serve runs on the same store, table or\n"
          "socket (its pid is printed; nothing was touched); 4 when the store is\n"
          "damaged (SQLite's quick_check failed; nothing was touched).\n",
          out);
}

int rp_cmd_serve(int argc, char **argv) {
    static const struct option longs[] = {
        {"config", required_argument, 0, 'c'}, {"socket", required_argument, 0, 'S'},
        {"syslog", required_argument, 0, 'Y'}, {"tail", required_argument, 0, 'T'},
        {"from-start", no_argument, 0, 'F'},   {"table", required_argument, 0, 'B'},
        {"store", required_argument, 0, 'D'},  {"admin", required_argument, 0, 'A'},
        {"token-file", required_argument, 0, 'K'}, {"ready-file", required_argument, 0, 'R'},
        {"log-json", no_argument, 0, 'J'},     {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    rp_daemon_options o = {.tail_from_start = -1, .log_json = -1};
    const char *ready = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
        switch (c) {
        case 'c': o.config_path = optarg; break;
        case 'S': o.socket_path = optarg; break;
        case 'Y': o.syslog_listen = optarg; break;
        case 'T': o.tail_path = optarg; break;
        case 'F': o.tail_from_start = 1; break;
        case 'B': o.table_path = optarg; break;
        case 'D': o.store_path = optarg; break;
        case 'A': o.admin_listen = optarg; break;
        case 'K': o.token_file = optarg; break;
        case 'R': ready = optarg; break;
        case 'J': o.log_json = 1; break;
        case 'h': usage(stdout); return RP_EXIT_OK;
        default: usage(stderr); return RP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rampart serve: unexpected argument '%s'\n", argv[optind]);
        return RP_EXIT_USAGE;
    }
    /* Block the signals before any thread starts so that only this thread
     * receives them, with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rp_error err = {0};
    rp_daemon *d;
    rp_status st = rp_daemon_start(&o, &d, &err);
    if (st != RP_OK) {
        char msg[700];
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart serve: cannot start: %s\n", msg);
        return st == RP_DAEMON_EBUSY ? RP_EXIT_SERVE_BUSY
               : st == RP_DAEMON_ESTORE ? RP_EXIT_SERVE_STORE
                                        : RP_EXIT_USAGE;
    }
    if (ready) {
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp", ready);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "{\"pid\":%d,\"admin\":\"%s\",\"syslog_port\":%d}\n", (int)getpid(),
                    rp_daemon_admin_url(d), rp_daemon_syslog_port(d));
            fclose(f);
            rename(tmp, ready);
        }
    }
    rp_log(d, "info", "rampart %s serving (pid %d)", RP_VERSION, (int)getpid());
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            rp_error rerr = {0};
            rp_daemon_reload(d, &rerr);
            continue;
        }
        rp_log(d, "info", "signal %d: draining and stopping", sig);
        break;
    }
    rp_daemon_stop(d);
    fprintf(stderr, "rampart serve: stopped cleanly\n");
    return RP_EXIT_OK;
}
