#include "boringshim.h"

#include <CCryptoBoringSSL_aead.h>

/* The context holds the expanded key; EVP_AEAD_CTX_free releases it through OPENSSL_free, which clears it. */
static EVP_AEAD_CTX *context(const uint8_t key[32]) {
    return EVP_AEAD_CTX_new(EVP_aead_aes_256_gcm(), key, 32, 16);
}

int qantara_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad, size_t aad_length,
                           const uint8_t *in, size_t length, uint8_t *out, uint8_t tag[16]) {
    EVP_AEAD_CTX *ctx = context(key);
    if (ctx == NULL) return 0;
    size_t tag_length = 0;
    int ok = EVP_AEAD_CTX_seal_scatter(ctx, out, tag, &tag_length, 16, nonce, 12, in, length, NULL, 0, aad,
                                       aad_length);
    EVP_AEAD_CTX_free(ctx);
    return ok == 1 && tag_length == 16;
}

int qantara_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad, size_t aad_length,
                           const uint8_t *in, size_t length, const uint8_t tag[16], uint8_t *out) {
    EVP_AEAD_CTX *ctx = context(key);
    if (ctx == NULL) return 0;
    int ok = EVP_AEAD_CTX_open_gather(ctx, out, nonce, 12, in, length, tag, 16, aad, aad_length);
    EVP_AEAD_CTX_free(ctx);
    return ok == 1;
}
