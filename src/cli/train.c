/*
 * train.c -- `rampart train`: learn the anomaly detector's models of normal
 * traffic -- route transitions and the feature-vector forest (half-space
 * trees over per-client features) -- from access logs and write them to a
 * model file.
 *
 * The logs are fed through an ordinary engine, exactly as `analyze` would
 * feed them, so the model is the one the engine would have learned live;
 * its reactions are ignored -- except that, as live, a client the other
 * detectors flag (a decision in force, or a score at monitor or above)
 * teaches neither model. The anomaly detector learns the models, and
 * the engine only runs detectors with a weight, so a profile where it has
 * none (the default) is given a negligible one here: training must not
 * depend on whether scoring is turned on.
 *
 * The file is written whole to FILE.tmp and renamed over FILE, so a crash
 * or a full disk never leaves a half model where `analyze --model` or a
 * restart would read it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "ingest.h"

#define MODEL_MAX_BYTES (64u << 20)

static void usage(FILE *out) {
    fputs("usage: rampart train [OPTIONS] -o MODEL [FILE...]\n"
          "\n"
          "Learn the anomaly detector's models of normal traffic from access logs and\n"
          "write them to MODEL, for `rampart analyze --model` (or as STORE.model for\n"
          "`rampart serve`): which route follows which (route transitions), and what\n"
          "normal clients look like (half-space trees over per-client feature vectors:\n"
          "rate, gaps, distinct paths, errors, login failures, bytes, user agents, flow\n"
          "surprise, hour of day; with their calibration). Clients the other detectors\n"
          "flag are not learned. Same input, same model, byte for byte. The feature\n"
          "model needs 1,024 sampled client snapshots (one every 8 requests of a\n"
          "client) before it judges anyone.\n"
          "FILE may be plain or gzip-compressed; '-' or no FILE reads stdin.\n"
          "\n"
          "Options:\n"
          "  -o, --output MODEL     model file to write (replaced atomically); required\n"
          "  -c, --config FILE      configuration (YAML): routes and trusted proxies\n"
          "  -i, --format-in FMT    input format: auto (default), combined, json\n"
          "  -h, --help             this text\n"
          "\n"
          "Exit status: 0 the model was written; 1 bad usage, configuration or the\n"
          "model could not be written; 2 an input could not be read (the model was\n"
          "still written from the rest).\n",
          out);
}

rp_status rp_cli_load_model(rp_engine *engine, const char *path) {
    rp_error err = {0};
    char *buf = NULL;
    size_t len = 0;
    char msg[700];
    rp_status st = rp_read_file(path, MODEL_MAX_BYTES, &buf, &len, &err);
    if (st == RP_OK) st = rp_engine_model_load(engine, (const uint8_t *)buf, len, &err);
    free(buf);
    if (st != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        if (err.file[0]) fprintf(stderr, "rampart: %s\n", msg); /* names the file already */
        else fprintf(stderr, "rampart: %s: %s\n", path, msg);
    }
    return st;
}

/* Returns false when the file could not be read to its end. */
static bool feed_file(rp_engine *engine, const char *path, const rp_config *config,
                      rp_log_format format, uint64_t *events) {
    rp_error err = {0};
    char msg[600];
    rp_line_reader *r;
    if (rp_line_reader_open(path, &r, &err) != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
        return false;
    }
    rp_log_parser *p = rp_log_parser_new(format);
    if (!p) {
        fprintf(stderr, "rampart: out of memory\n");
        rp_line_reader_close(r);
        return false;
    }
    rp_log_parser_set_trusted_proxies(p, config->trusted_proxies, config->n_trusted_proxies);
    const char *line;
    size_t len;
    bool too_long;
    int rc;
    while ((rc = rp_line_reader_next(r, &line, &len, &too_long, &err)) == 1) {
        rp_event ev;
        rp_skip_reason why;
        if (!too_long && rp_log_parser_parse(p, line, len, &ev, &why) == RP_OK) {
            rp_engine_feed(engine, &ev);
            (*events)++;
        }
    }
    if (rc < 0) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
    }
    rp_log_parser_free(p);
    rp_line_reader_close(r);
    return rc >= 0;
}

static bool write_atomically(const char *path, const uint8_t *buf, size_t len) {
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp) return false;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(buf, 1, len, f) == len;
    if (f) ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        perror(path);
        if (f) unlink(tmp);
    }
    free(tmp);
    return ok;
}

/* The anomaly detector must run to learn (see the top of the file). */
static void enable_learning(rp_config *config) {
    int d = rp_detector_find("anomaly", 7);
    if (d < 0) return;
    for (int i = 0; i < config->n_profiles; i++) {
        rp_detector_settings *s = &config->profiles[i].detectors[d];
        s->enabled = true;
        if (!(s->weight > 0)) s->weight = 1e-9;
    }
}

int rp_cmd_train(int argc, char **argv) {
    static const struct option longs[] = {
        {"config", required_argument, 0, 'c'}, {"format-in", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *config_path = NULL, *model_path = NULL;
    rp_log_format format = RP_FORMAT_AUTO;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:i:o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'o': model_path = optarg; break;
        case 'i':
            if (rp_log_format_parse(optarg, &format) != RP_OK) {
                fprintf(stderr, "rampart train: unknown input format '%s' (auto, combined, json)\n",
                        optarg);
                return RP_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return RP_EXIT_OK;
        default: usage(stderr); return RP_EXIT_USAGE;
        }
    }
    if (!model_path) {
        fprintf(stderr, "rampart train: -o MODEL is required\n");
        usage(stderr);
        return RP_EXIT_USAGE;
    }
    static char *stdin_only[] = {"-"};
    char **files = optind < argc ? argv + optind : stdin_only;
    int n_files = optind < argc ? argc - optind : 1;

    rp_error err = {0};
    char msg[700];
    rp_config *config;
    if (rp_load_config(config_path, &config, &err) != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
        return RP_EXIT_USAGE;
    }
    enable_learning(config);
    rp_engine *engine;
    if (rp_engine_new(config, NULL, &engine, &err) != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
        rp_config_free(config);
        return RP_EXIT_USAGE;
    }
    uint64_t events = 0;
    int input_errors = 0;
    for (int i = 0; i < n_files; i++)
        if (!feed_file(engine, files[i], config, format, &events)) input_errors++;

    int rc = input_errors ? RP_EXIT_INPUT : RP_EXIT_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rp_engine_model_save(engine, &buf, &len, &err) != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
        rc = RP_EXIT_USAGE;
    } else if (!write_atomically(model_path, buf, len)) {
        rc = RP_EXIT_USAGE;
    } else {
        char e[32], t[32], v[32];
        rp_format_count(events, e, sizeof e);
        rp_format_count(rp_engine_model_transitions(engine), t, sizeof t);
        rp_format_count(rp_engine_model_vectors(engine), v, sizeof v);
        printf("trained on %s events: %s route transitions and %s feature vectors learned; "
               "model written to %s (%zu bytes)\n",
               e, t, v, model_path, len);
    }
    free(buf);
    rp_engine_free(engine);
    rp_config_free(config);
    return rc;
}
