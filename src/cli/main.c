/*
 * main.c -- the `rampart` binary: one command, several subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out) {
    fputs("usage: rampart COMMAND [ARGS]\n"
          "\n"
          "Rampart finds and stops abusive automation against HTTP APIs.\n"
          "\n"
          "Commands:\n"
          "  analyze        read access logs, report abusive clients with evidence\n"
          "  serve          run the real-time detection service (daemon)\n"
          "  decisions      list, add or delete decisions through the admin API\n"
          "  send           replay access logs into a running serve as event datagrams\n"
          "  check-config   validate a configuration file\n"
          "  cluster        a fleet's configuration in Redis: push-config, config-status\n"
          "  train          learn the site's normal API flows from logs into a model file\n"
          "  version        print the version\n"
          "  help           this text\n"
          "\n"
          "Run 'rampart COMMAND --help' for the options of a command.\n"
          "Documentation: man rampart, man rampart.yaml; docs/ in the source tree or\n"
          "/usr/share/doc/rampart/ (install.md, analyze.md, configuration.md, detectors.md).\n",
          out);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return RP_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "analyze") == 0) return rp_cmd_analyze(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0) return rp_cmd_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return rp_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "decisions") == 0) return rp_cmd_decisions(argc - 1, argv + 1);
    if (strcmp(cmd, "send") == 0) return rp_cmd_send(argc - 1, argv + 1);
    if (strcmp(cmd, "train") == 0) return rp_cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "cluster") == 0) return rp_cmd_cluster(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("rampart %s\n", RP_VERSION);
        return RP_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return RP_EXIT_OK;
    }
    fprintf(stderr, "rampart: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return RP_EXIT_USAGE;
}
