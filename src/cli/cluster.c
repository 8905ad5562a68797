/*
 * cluster.c -- `rampart cluster`: the fleet's configuration in Redis
 * (docs/cluster.md#configuration-as-code).
 *
 *   push-config FILE   validate FILE exactly as `check-config --fleet`
 *                      does (same messages), then write it as the next
 *                      version; every node applies it within a second
 *   config-status      the current version and what each node applied
 *                      or refused
 *   show-config        the current version's YAML (to diff with git)
 *
 * Why a CLI and not the admin API: configuration as code is a file in
 * version control pushed by the pipeline that reviewed it; a node's API
 * token would otherwise change every node, and the dashboard's editor
 * would drift from the file in git. The admin API's POST /v1/config is
 * refused on a node that runs a fleet version, with this command named.
 */
#include <getopt.h>
#include <pwd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cluster.h"
#include "config.h"

static void usage(FILE *out) {
    fputs("usage: rampart cluster push-config FILE [--config NODE.yaml] [--by NAME]\n"
          "                                       [--if-version N] [--wait SECONDS]\n"
          "       rampart cluster config-status [--config NODE.yaml] [--json]\n"
          "       rampart cluster show-config [--config NODE.yaml]\n"
          "\n"
          "The fleet's configuration, kept in Redis (cluster.config_key, default\n"
          "rampart:config) and applied by every edge and detector within a second.\n"
          "\n"
          "  push-config FILE    validate FILE as `rampart check-config --fleet` does (an\n"
          "                      invalid file is refused with the same messages), then\n"
          "                      write it as the next version\n"
          "  config-status       the current version, and what each node applied or refused\n"
          "  show-config         print the current version's YAML\n"
          "\n"
          "  -c, --config FILE   a node's file naming Redis (cluster.redis or sentinels,\n"
          "                      user, password_file, config_key); default: FILE's own\n"
          "                      cluster: section (push-config), else /etc/rampart/rampart.yaml\n"
          "      --by NAME       who pushes (default: $SUDO_USER or $USER @ host name)\n"
          "      --if-version N  push only if the current version is N (a pipeline that\n"
          "                      must not overwrite a push it has not seen)\n"
          "      --wait SECONDS  after the push, wait until every live node (seen in the\n"
          "                      last 30 s) applied or refused the new version, and say\n"
          "                      which, and when\n"
          "      --json          config-status as JSON\n"
          "  -h, --help          this text\n"
          "\n"
          "Exit status: 0 done; 1 bad usage, an invalid file, --if-version not met, or\n"
          "(--wait) a node refused the version or did not apply it in time; 2 Redis\n"
          "could not be reached or refused.\n",
          out);
}

/* The Redis to talk to: the cluster: section of path. */
static int redis_settings(const char *path, rp_cluster_config *out) {
    rp_config *config;
    rp_error err = {0};
    if (rp_load_config(path, &config, &err) != RP_OK) {
        char msg[700];
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart cluster: %s\n", msg);
        return RP_EXIT_USAGE;
    }
    *out = config->cluster;
    rp_config_free(config);
    return RP_EXIT_OK;
}

static int redis_failed(const char *what, const rp_error *err) {
    char msg[700];
    rp_error_format(err, msg, sizeof msg);
    fprintf(stderr, "rampart cluster %s: %s\n", what, msg);
    return RP_EXIT_INPUT;
}

static void default_by(char *out, size_t size) {
    const char *user = getenv("SUDO_USER");
    if (!user || !*user) user = getenv("USER");
    if (!user || !*user) {
        const struct passwd *pw = getpwuid(geteuid());
        user = pw ? pw->pw_name : NULL;
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(out, size, "%.30s@%.30s", user && *user ? user : "unknown", host[0] ? host : "?");
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A node is live when its report is this recent (nodes report every 10 s). */
#define LIVE_MS 30000

/* --wait: poll the nodes' reports until each live one applied or refused
 * version. 0 all applied, 1 a refusal or the time ran out, 2 Redis. */
static int wait_for_nodes(const rp_cluster_config *node, uint64_t version, int seconds,
                          int64_t pushed_ms) {
    int64_t deadline = pushed_ms + (int64_t)seconds * 1000;
    json_t *last = NULL;
    for (;;) {
        json_t *o;
        rp_error err = {0};
        if (rp_fleet_status(node, false, &o, &err) != RP_OK) {
            json_decref(last);
            return redis_failed("push-config --wait", &err);
        }
        json_decref(last);
        last = o;
        int live = 0, done = 0;
        const char *name;
        json_t *n;
        int64_t now = now_ms();
        json_object_foreach(json_object_get(o, "nodes"), name, n) {
            if (now - json_integer_value(json_object_get(n, "seen")) > LIVE_MS) continue;
            live++;
            if ((uint64_t)json_integer_value(json_object_get(n, "version")) == version ||
                (uint64_t)json_integer_value(json_object_get(n, "refused")) == version)
                done++;
        }
        if ((live && done == live) || now >= deadline) break;
        struct timespec pause = {0, 100 * 1000000L};
        nanosleep(&pause, NULL);
    }
    int refused = 0, pending = 0;
    const char *name;
    json_t *n;
    int64_t now = now_ms();
    json_object_foreach(json_object_get(last, "nodes"), name, n) {
        if (now - json_integer_value(json_object_get(n, "seen")) > LIVE_MS) continue;
        const char *role = json_string_value(json_object_get(n, "role"));
        if ((uint64_t)json_integer_value(json_object_get(n, "version")) == version) {
            json_int_t at = json_integer_value(json_object_get(n, "applied_at"));
            printf("  %-32s %-9s applied v%" PRIu64 " %lld ms after the push\n", name,
                   role ? role : "?", version, (long long)(at - pushed_ms));
        } else if ((uint64_t)json_integer_value(json_object_get(n, "refused")) == version) {
            const char *why = json_string_value(json_object_get(n, "error"));
            printf("  %-32s %-9s REFUSED v%" PRIu64 ": %s\n", name, role ? role : "?", version,
                   why ? why : "");
            refused++;
        } else {
            printf("  %-32s %-9s still at v%lld\n", name, role ? role : "?",
                   (long long)json_integer_value(json_object_get(n, "version")));
            pending++;
        }
    }
    json_decref(last);
    if (refused || pending) {
        fprintf(stderr, "rampart cluster push-config: version %" PRIu64 ": %d node%s refused it, "
                        "%d did not apply it within %d s\n", version, refused,
                refused == 1 ? "" : "s", pending, seconds);
        return RP_EXIT_USAGE;
    }
    return RP_EXIT_OK;
}

static int push_config(const char *file, const char *node_path, const char *by,
                       uint64_t if_version, int wait_s) {
    char *text;
    size_t len;
    /* check-config --fleet, word for word; bounded as the nodes bound it */
    int warnings = rp_cli_validate(file, true, RP_FLEET_CONFIG_MAX, &text, &len);
    if (warnings < 0) {
        fprintf(stderr, "rampart cluster push-config: %s is not valid: nothing pushed\n", file);
        return RP_EXIT_USAGE;
    }
    rp_cluster_config node;
    int rc = redis_settings(node_path ? node_path : file, &node);
    if (rc != RP_EXIT_OK) {
        free(text);
        return rc;
    }
    char who[64];
    if (by)
        snprintf(who, sizeof who, "%s", by);
    else
        default_by(who, sizeof who);
    rp_error err = {0};
    rp_fleet_push_outcome outcome;
    uint64_t version = 0;
    int64_t pushed_ms = now_ms();
    rp_status st = rp_fleet_push(&node, text, len, who, if_version, &outcome, &version, &err);
    free(text);
    if (st != RP_OK) return redis_failed("push-config", &err);
    const char *where = node.n_sentinels ? node.master_name : node.redis;
    switch (outcome) {
    case RP_FLEET_PUSHED:
        printf("%s pushed to %s (%s) as version %" PRIu64 "%s\n", file, where, node.config_key,
               version, warnings ? " (node-local keys in it are ignored, see the warnings)" : "");
        fflush(stdout);
        return wait_s ? wait_for_nodes(&node, version, wait_s, pushed_ms) : RP_EXIT_OK;
    case RP_FLEET_UNCHANGED:
        printf("%s is already version %" PRIu64 " (the same sha256): nothing pushed\n", file,
               version);
        return RP_EXIT_OK;
    case RP_FLEET_RACED:
        fprintf(stderr, "rampart cluster push-config: the current version is %" PRIu64
                        ", not %" PRIu64 " (--if-version): nothing pushed\n",
                version, if_version);
        return RP_EXIT_USAGE;
    }
    return RP_EXIT_USAGE;
}

static void print_status(const json_t *o) {
    json_int_t version = json_integer_value(json_object_get(o, "version"));
    if (!version) {
        printf("%s: no fleet configuration pushed yet\n",
               json_string_value(json_object_get(o, "key")));
    } else {
        char at[40];
        rp_format_time(json_integer_value(json_object_get(o, "at")) * 1000, at, sizeof at);
        const char *sha = json_string_value(json_object_get(o, "sha256"));
        const char *by = json_string_value(json_object_get(o, "by"));
        printf("%s: version %lld, sha256 %s, %lld bytes, pushed by %s at %s\n",
               json_string_value(json_object_get(o, "key")), (long long)version, sha ? sha : "?",
               (long long)json_integer_value(json_object_get(o, "size")), by ? by : "?", at);
    }
    const char *name;
    json_t *n;
    int64_t now = now_ms();
    printf("%-32s %-9s %-9s %-9s %s\n", "node", "role", "applied", "seen", "refused");
    json_object_foreach((json_t *)json_object_get(o, "nodes"), name, n) {
        json_int_t applied = json_integer_value(json_object_get(n, "version"));
        json_int_t seen = json_integer_value(json_object_get(n, "seen"));
        json_int_t refused = json_integer_value(json_object_get(n, "refused"));
        const char *role = json_string_value(json_object_get(n, "role"));
        char app[24], ago[24];
        snprintf(app, sizeof app, applied ? "v%lld" : "own file", (long long)applied);
        snprintf(ago, sizeof ago, "%llds ago", (long long)((now - seen) / 1000));
        printf("%-32s %-9s %-9s %-9s", name, role ? role : "?", app, ago);
        if (refused) {
            const char *why = json_string_value(json_object_get(n, "error"));
            printf(" v%lld: %s", (long long)refused, why ? why : "");
        }
        printf("\n");
    }
}

int rp_cmd_cluster(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? RP_EXIT_USAGE : RP_EXIT_OK;
    }
    const char *sub = argv[1];
    static const struct option longs[] = {
        {"config", required_argument, 0, 'c'}, {"by", required_argument, 0, 'b'},
        {"if-version", required_argument, 0, 'v'}, {"json", no_argument, 0, 'j'},
        {"wait", required_argument, 0, 'w'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *node_path = NULL, *by = NULL;
    uint64_t if_version = 0;
    bool as_json = false;
    int wait_s = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
        switch (c) {
        case 'c': node_path = optarg; break;
        case 'b': by = optarg; break;
        case 'v': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || !v) {
                fprintf(stderr, "rampart cluster: --if-version takes a version (1, 2, ...)\n");
                return RP_EXIT_USAGE;
            }
            if_version = v;
            break;
        }
        case 'j': as_json = true; break;
        case 'w':
            wait_s = atoi(optarg);
            if (wait_s < 1 || wait_s > 3600) {
                fprintf(stderr, "rampart cluster: --wait takes 1 to 3600 seconds\n");
                return RP_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return RP_EXIT_OK;
        default: usage(stderr); return RP_EXIT_USAGE;
        }
    }
    if (strcmp(sub, "push-config") == 0) {
        if (optind != argc - 1) {
            fprintf(stderr, "rampart cluster push-config: one FILE\n");
            return RP_EXIT_USAGE;
        }
        return push_config(argv[optind], node_path, by, if_version, wait_s);
    }
    if (strcmp(sub, "config-status") == 0 || strcmp(sub, "show-config") == 0) {
        if (optind != argc) {
            fprintf(stderr, "rampart cluster %s: unexpected argument '%s'\n", sub, argv[optind]);
            return RP_EXIT_USAGE;
        }
        rp_cluster_config node;
        int rc = redis_settings(node_path ? node_path : "/etc/rampart/rampart.yaml", &node);
        if (rc != RP_EXIT_OK) return rc;
        bool yaml = strcmp(sub, "show-config") == 0;
        json_t *o;
        rp_error err = {0};
        if (rp_fleet_status(&node, yaml, &o, &err) != RP_OK) return redis_failed(sub, &err);
        if (yaml) {
            const char *text = json_string_value(json_object_get(o, "yaml"));
            if (!text) {
                fprintf(stderr, "rampart cluster show-config: %s holds no configuration\n",
                        node.config_key);
                json_decref(o);
                return RP_EXIT_USAGE;
            }
            fwrite(text, 1, json_string_length(json_object_get(o, "yaml")), stdout);
        } else if (as_json) {
            char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
            if (s) puts(s);
            free(s);
        } else {
            print_status(o);
        }
        json_decref(o);
        return RP_EXIT_OK;
    }
    fprintf(stderr, "rampart cluster: unknown command '%s'\n\n", sub);
    usage(stderr);
    return RP_EXIT_USAGE;
}
