/*
 * registry.c -- the list of detectors. Adding a detector means adding its
 * file under src/detectors/ and one line here (order = index in profiles).
 */
#include <string.h>

#include "detector.h"

extern const rp_detector rp_detector_rate;
extern const rp_detector rp_detector_interval;
extern const rp_detector rp_detector_uniqueness;
extern const rp_detector rp_detector_enumeration;
extern const rp_detector rp_detector_auth;
extern const rp_detector rp_detector_scan;
extern const rp_detector rp_detector_signature;
extern const rp_detector rp_detector_consumption;
extern const rp_detector rp_detector_sharing;
extern const rp_detector rp_detector_campaign;
extern const rp_detector rp_detector_anomaly;

const rp_detector *const rp_detectors[] = {
    &rp_detector_rate,       &rp_detector_interval, &rp_detector_uniqueness,
    &rp_detector_enumeration, &rp_detector_auth,    &rp_detector_scan,
    &rp_detector_signature,  &rp_detector_consumption, &rp_detector_sharing,
    &rp_detector_campaign,   &rp_detector_anomaly,
};

const unsigned rp_detector_count = sizeof rp_detectors / sizeof rp_detectors[0];

_Static_assert(sizeof rp_detectors / sizeof rp_detectors[0] <= RP_MAX_DETECTORS,
               "raise RP_MAX_DETECTORS");

int rp_detector_find(const char *name, size_t len) {
    for (unsigned i = 0; i < rp_detector_count; i++) {
        const char *n = rp_detectors[i]->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return (int)i;
    }
    return -1;
}
