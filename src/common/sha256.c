/*
 * sha256.c -- the fleet configuration's content hash through OpenSSL's
 * libcrypto (Debian libssl-dev), the well-kept implementation every
 * Debian system already has: a hash is not the product, so it is not
 * written here.
 */
#include <openssl/evp.h>
#include <stdio.h>

#include "sha256.h"

void rp_sha256_hex(const void *data, size_t len, char out[RP_SHA256_HEX]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32) {
        /* cannot happen with libcrypto's built-in SHA-256; an empty hash
         * matches no text, so a node would refuse rather than trust it */
        out[0] = 0;
        return;
    }
    for (unsigned i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}
