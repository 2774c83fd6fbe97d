#include "boringshim.h"

#include <CCryptoBoringSSL_digest.h>
#include <CCryptoBoringSSL_hmac.h>

int qantara_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *message, size_t length,
                        uint8_t out[32]) {
    unsigned int out_length = 0;
    /* HMAC() keeps its context on the stack and clears it before returning. */
    return HMAC(EVP_sha256(), key, key_length, message, length, out, &out_length) != NULL && out_length == 32;
}
