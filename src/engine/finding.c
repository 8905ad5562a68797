/* finding.c -- helpers detectors use to fill evidence (cold path only). */
#include <stdarg.h>
#include <stdio.h>

#include "detector.h"

void rp_finding_feature(rp_finding *f, const char *name, double value, double threshold,
                        double normal, bool crossed) {
    if (f->n_features >= RP_MAX_FEATURES) return;
    rp_feature *feat = &f->features[f->n_features++];
    feat->name = name;
    feat->value = value;
    feat->threshold = threshold;
    feat->normal = normal;
    feat->crossed = crossed;
}

void rp_finding_summary(rp_finding *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->summary, sizeof f->summary, fmt, ap);
    va_end(ap);
}
