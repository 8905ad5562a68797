/*
 * print-detectors.c -- print the commented `detectors:` block of
 * examples/rampart.yaml from the registry, so the example always shows
 * every detector with its parameters and presets:
 *
 *   make build/print-detectors && build/print-detectors
 *
 * tools/update-example.sh splices the output into the example.
 */
#include <stdio.h>
#include <string.h>

#include "detector.h"

/* The "Detector parameters" tables of docs/configuration.md. */
static void print_markdown(void) {
    for (unsigned i = 0; i < rp_detector_count; i++) {
        const rp_detector *d = rp_detectors[i];
        printf("### `%s` (weight %g)\n\n%s.\n\n", d->name, d->default_weight,
               d->description ? d->description : "");
        if (!d->n_params) {
            printf("No parameters.\n\n");
            continue;
        }
        printf("| parameter | unit | low | normal | high | range | meaning |\n");
        printf("|---|---|---|---|---|---|---|\n");
        for (unsigned k = 0; k < d->n_params; k++) {
            const rp_param *p = &d->params[k];
            printf("| `%s` | %s | %g | %g | %g | %g..%g | %s |\n", p->name, p->unit ? p->unit : "",
                   p->preset[RP_TOLERANCE_LOW], p->preset[RP_TOLERANCE_NORMAL],
                   p->preset[RP_TOLERANCE_HIGH], p->min, p->max, p->help ? p->help : "");
        }
        printf("\n");
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
        print_markdown();
        return 0;
    }
    for (unsigned i = 0; i < rp_detector_count; i++) {
        const rp_detector *d = rp_detectors[i];
        char head[64];
        snprintf(head, sizeof head, "%s:", d->name);
        printf("    #  %-30s # %s\n", head, d->description ? d->description : "");
        printf("    #    enabled: true\n");
        printf("    #    weight: %g%s\n", d->default_weight,
               d->default_weight == 0 ? "                    # off until you give it a weight" : "");
        for (unsigned k = 0; k < d->n_params; k++) {
            const rp_param *p = &d->params[k];
            char line[96];
            snprintf(line, sizeof line, "%s: %g", p->name, p->preset[RP_TOLERANCE_NORMAL]);
            printf("    #    %-26s # %g / %g / %g %s\n", line, p->preset[RP_TOLERANCE_LOW],
                   p->preset[RP_TOLERANCE_NORMAL], p->preset[RP_TOLERANCE_HIGH], p->unit ? p->unit : "");
        }
    }
    return 0;
}
