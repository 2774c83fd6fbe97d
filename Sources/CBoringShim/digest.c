#include "boringshim.h"

#include <CCryptoBoringSSL_digest.h>
#include <CCryptoBoringSSL_rand.h>

static const EVP_MD *algorithm(int which) {
    switch (which) {
    case QANTARA_DIGEST_MD5: return EVP_md5();
    case QANTARA_DIGEST_SHA1: return EVP_sha1();
    case QANTARA_DIGEST_SHA256: return EVP_sha256();
    default: return NULL;
    }
}

void *qantara_digest_new(int which) {
    const EVP_MD *md = algorithm(which);
    if (md == NULL) return NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return NULL;
    if (!EVP_DigestInit_ex(ctx, md, NULL)) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void qantara_digest_update(void *ctx, const void *data, size_t length) {
    EVP_DigestUpdate((EVP_MD_CTX *)ctx, data, length);
}

size_t qantara_digest_final(void *ctx, uint8_t *out) {
    unsigned int length = 0;
    return EVP_DigestFinal_ex((EVP_MD_CTX *)ctx, out, &length) ? length : 0;
}

void qantara_digest_free(void *ctx) {
    EVP_MD_CTX_free((EVP_MD_CTX *)ctx);
}

void qantara_random_bytes(uint8_t *out, size_t length) {
    /* BoringSSL's RAND_bytes cannot fail: it aborts the process if the kernel's entropy source does. */
    RAND_bytes(out, length);
}
