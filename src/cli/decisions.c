/*
 * decisions.c -- `rampart decisions list|add|delete`: a firewall-like CLI
 * over the admin API of a running `rampart serve`.
 *
 * A small HTTP/1.1 client of our own (one request per connection, a
 * bounded answer): the admin API is on loopback and this is all it needs;
 * libcurl would be a dependency for three calls.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"

#define RP_MAX_ANSWER (16u << 20)

static void usage(FILE *out) {
    fputs("usage: rampart decisions [OPTIONS] list [--history] [--key KEY]\n"
          "       rampart decisions [OPTIONS] add KEY block|throttle|allow [DURATION] [REASON]\n"
          "       rampart decisions [OPTIONS] delete KEY\n"
          "\n"
          "List, add or remove decisions of a running `rampart serve` through its admin API.\n"
          "KEY is ip:ADDR (or a bare address), subnet:ADDR/24, fingerprint:HEX, token:HEX.\n"
          "DURATION is seconds or 30s, 15m, 2h, 1d (default 1h).\n"
          "\n"
          "Options:\n"
          "  -u, --url URL          admin API (default http://127.0.0.1:9090)\n"
          "  -t, --token-file FILE  bearer token for add and delete\n"
          "      --json             print the API's JSON answer as it is\n"
          "  -h, --help             this text\n"
          "\n"
          "Exit status: 0 done; 1 bad usage or the API refused (its message is printed);\n"
          "2 the API could not be reached.\n",
          out);
}

typedef struct http_answer {
    int status;
    char *body;
} http_answer;

static int http_request(const char *url, const char *method, const char *path, const char *token,
                        const char *body, http_answer *ans) {
    ans->status = 0;
    ans->body = NULL;
    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "rampart decisions: only http:// URLs are supported: %s\n", url);
        return RP_EXIT_USAGE;
    }
    char host[256], port[16] = "80";
    const char *h = url + 7;
    size_t hl = strcspn(h, "/");
    if (hl >= sizeof host) return RP_EXIT_USAGE;
    memcpy(host, h, hl);
    host[hl] = 0;
    char *colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']')) {
        snprintf(port, sizeof port, "%s", colon + 1);
        *colon = 0;
    }
    char *hn = host;
    if (hn[0] == '[') {
        hn++;
        hn[strcspn(hn, "]")] = 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int gai = getaddrinfo(hn, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "rampart decisions: %s: %s\n", url, gai_strerror(gai));
        return RP_EXIT_INPUT;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fprintf(stderr, "rampart decisions: cannot reach %s: %s (is rampart serve running?)\n", url,
                strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return RP_EXIT_INPUT;
    }
    freeaddrinfo(ai);
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nAccept: application/json\r\n"
                     "%s%s%s%s%zu\r\n\r\n",
                     method, path, host, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", body ? "Content-Type: application/json\r\nContent-Length: " : "Content-Length: ",
                     body ? strlen(body) : (size_t)0);
    if (n < 0 || (size_t)n >= sizeof head || write(fd, head, (size_t)n) != n ||
        (body && write(fd, body, strlen(body)) != (ssize_t)strlen(body))) {
        fprintf(stderr, "rampart decisions: request failed: %s\n", strerror(errno));
        close(fd);
        return RP_EXIT_INPUT;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) break;
        if (len == cap) {
            if (cap >= RP_MAX_ANSWER) break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    if (!buf) return RP_EXIT_INPUT;
    buf[len] = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &ans->status) != 1) {
        fprintf(stderr, "rampart decisions: not an HTTP answer from %s\n", url);
        free(buf);
        return RP_EXIT_INPUT;
    }
    char *sep = strstr(buf, "\r\n\r\n");
    const char *b = sep ? sep + 4 : "";
    /* chunked answers: join the chunks */
    if (strcasestr(buf, "\r\nTransfer-Encoding: chunked") && sep) {
        char *out = malloc(strlen(b) + 1);
        size_t o = 0;
        const char *p = b;
        while (out && *p) {
            char *end;
            unsigned long sz = strtoul(p, &end, 16);
            if (end == p || sz == 0) break;
            p = strstr(end, "\r\n");
            if (!p) break;
            p += 2;
            if (strlen(p) < sz) sz = strlen(p);
            memcpy(out + o, p, sz);
            o += sz;
            p += sz;
            if (strncmp(p, "\r\n", 2) == 0) p += 2;
        }
        if (out) out[o] = 0;
        ans->body = out;
    } else {
        ans->body = strdup(b);
    }
    free(buf);
    return RP_EXIT_OK;
}

static int report_error(const http_answer *a) {
    json_t *o = json_loads(a->body ? a->body : "", 0, NULL);
    const char *msg = o ? json_string_value(json_object_get(o, "error")) : NULL;
    fprintf(stderr, "rampart decisions: HTTP %d: %s\n", a->status, msg ? msg : (a->body ? a->body : ""));
    json_decref(o);
    return RP_EXIT_USAGE;
}

static void print_table(const char *body, bool history) {
    json_t *o = json_loads(body, 0, NULL);
    json_t *arr = json_object_get(o, "decisions");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        printf("No %s.\n", history ? "decisions in the history" : "active decisions");
        json_decref(o);
        return;
    }
    printf("%-40s %-9s %-25s %-25s %s\n", "KEY", "ACTION", "START", "EXPIRES",
           history ? "SOURCE / ENDED" : "INCIDENT");
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d) {
        const char *key = json_string_value(json_object_get(d, "key"));
        const char *action = json_string_value(json_object_get(d, "action"));
        const char *start = json_string_value(json_object_get(d, "start"));
        const char *exp = json_string_value(json_object_get(d, "expires"));
        char extra[160];
        if (history) {
            const char *src = json_string_value(json_object_get(d, "source"));
            const char *ended = json_string_value(json_object_get(d, "ended_at"));
            snprintf(extra, sizeof extra, "%s%s%s", src ? src : "-", ended ? " / " : "", ended ? ended : "");
        } else {
            snprintf(extra, sizeof extra, "%lld",
                     (long long)json_integer_value(json_object_get(d, "incident_id")));
        }
        printf("%-40s %-9s %-25s %-25s %s\n", key ? key : "?", action ? action : "?",
               start ? start : "-", exp ? exp : "-", extra);
    }
    json_decref(o);
}

int rp_cmd_decisions(int argc, char **argv) {
    static const struct option longs[] = {{"url", required_argument, 0, 'u'},
                                          {"token-file", required_argument, 0, 't'},
                                          {"json", no_argument, 0, 'j'},
                                          {"history", no_argument, 0, 'H'},
                                          {"key", required_argument, 0, 'k'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *url = "http://127.0.0.1:9090", *token_file = NULL, *key_filter = NULL;
    bool raw = false, history = false;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+u:t:h", longs, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 't': token_file = optarg; break;
        case 'j': raw = true; break;
        case 'H': history = true; break;
        case 'k': key_filter = optarg; break;
        case 'h': usage(stdout); return RP_EXIT_OK;
        default: usage(stderr); return RP_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return RP_EXIT_USAGE;
    }
    const char *verb = argv[optind++];
    /* options may also follow the verb */
    while (optind < argc && argv[optind][0] == '-') {
        if (strcmp(argv[optind], "--history") == 0) history = true;
        else if (strcmp(argv[optind], "--json") == 0) raw = true;
        else if (strcmp(argv[optind], "--key") == 0 && optind + 1 < argc) key_filter = argv[++optind];
        else break;
        optind++;
    }
    char token[512] = "";
    if (token_file) {
        rp_error err = {0};
        char *text;
        size_t len;
        if (rp_read_file(token_file, 4096, &text, &len, &err) != RP_OK) {
            fprintf(stderr, "rampart decisions: %s: %s\n", token_file, err.message);
            return RP_EXIT_USAGE;
        }
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) len--;
        snprintf(token, sizeof token, "%.*s", (int)len, text);
        free(text);
    }
    http_answer a;
    int rc;
    if (strcmp(verb, "list") == 0) {
        char path[600];
        if (history) {
            char k[300] = "";
            if (key_filter) {
                /* keys are [a-z0-9:./] -- safe in a query string but for ':' */
                snprintf(k, sizeof k, "&key=%s", key_filter);
            }
            snprintf(path, sizeof path, "/v1/decisions?history=1&limit=1000%s", k);
        } else {
            snprintf(path, sizeof path, "/v1/decisions");
        }
        rc = http_request(url, "GET", path, NULL, NULL, &a);
        if (rc != RP_EXIT_OK) return rc;
        if (a.status != 200) rc = report_error(&a);
        else if (raw) printf("%s\n", a.body);
        else print_table(a.body, history);
        free(a.body);
        return rc;
    }
    if (strcmp(verb, "add") == 0) {
        if (argc - optind < 2) {
            usage(stderr);
            return RP_EXIT_USAGE;
        }
        json_t *body = json_pack("{s:s,s:s}", "key", argv[optind], "action", argv[optind + 1]);
        if (argc - optind >= 3) json_object_set_new(body, "duration", json_string(argv[optind + 2]));
        if (argc - optind >= 4) json_object_set_new(body, "reason", json_string(argv[optind + 3]));
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        rc = http_request(url, "POST", "/v1/decisions", token[0] ? token : NULL, text, &a);
        free(text);
        if (rc != RP_EXIT_OK) return rc;
        if (a.status != 201) rc = report_error(&a);
        else if (raw) printf("%s\n", a.body);
        else {
            json_t *o = json_loads(a.body, 0, NULL);
            printf("%s %s until %s\n", json_string_value(json_object_get(o, "action")),
                   json_string_value(json_object_get(o, "key")),
                   json_string_value(json_object_get(o, "expires")));
            json_decref(o);
        }
        free(a.body);
        return rc;
    }
    if (strcmp(verb, "delete") == 0) {
        if (argc - optind < 1) {
            usage(stderr);
            return RP_EXIT_USAGE;
        }
        char path[400];
        snprintf(path, sizeof path, "/v1/decisions/%s", argv[optind]);
        rc = http_request(url, "DELETE", path, token[0] ? token : NULL, NULL, &a);
        if (rc != RP_EXIT_OK) return rc;
        if (a.status != 200) rc = report_error(&a);
        else printf("removed %s\n", argv[optind]);
        free(a.body);
        return rc;
    }
    fprintf(stderr, "rampart decisions: unknown verb '%s' (list, add, delete)\n", verb);
    return RP_EXIT_USAGE;
}
