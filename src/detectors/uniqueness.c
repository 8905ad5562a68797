/* uniqueness.c -- placeholder until the detector lands; scores nothing. */
#include "detector.h"

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    (void)state; (void)ev; (void)obs; (void)ctx;
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)state; (void)obs; (void)ctx; (void)finding;
    return 0.0;
}

const rp_detector rp_detector_uniqueness = {
    .name = "uniqueness",
    .description = "placeholder",
    .state_size = 8,
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .default_weight = 0,
    .observe = observe,
    .score = score,
};
