/*
 * sha256.h -- SHA-256 (FIPS 180-4) of a buffer, as lowercase hex: the
 * content hash of the fleet's configuration (docs/cluster.md), the same
 * figure `sha256sum` prints, so an operator can compare a file in git
 * with what every node applied. Not on any hot path.
 */
#ifndef RP_SHA256_H
#define RP_SHA256_H

#include <stddef.h>

#define RP_SHA256_HEX 65 /* 64 hex digits and the NUL */

void rp_sha256_hex(const void *data, size_t len, char out[RP_SHA256_HEX]);

#endif
