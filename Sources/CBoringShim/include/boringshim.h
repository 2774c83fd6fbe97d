#ifndef QANTARA_BORINGSHIM_H
#define QANTARA_BORINGSHIM_H

#include <stddef.h>
#include <stdint.h>

/* The few BoringSSL primitives Qantara takes from swift-crypto's vendored copy (statically linked, prefixed symbols),
   where it beats Debian 12's OpenSSL 3.0 on this CPU class: AES-256-GCM (VAES/AVX-512) and HMAC-SHA256 (SHA-NI,
   and no per-call algorithm fetch). Only these functions are visible to Swift: BoringSSL's headers, which declare
   the same C structs as OpenSSL's, stay inside the .c files.

   AES-256-GCM with 12-byte nonces and 16-byte tags, through BoringSSL's EVP_AEAD (VAES/AVX-512 where the CPU has
   it). Only these functions are visible to Swift: BoringSSL's headers, which declare the same C structs as
   OpenSSL's, stay inside aesgcm.c. `out` may equal `in`. Each returns 1 on success, 0 on failure (for open: the tag
   did not verify; `out` is then unspecified). */

/* Encrypts `length` bytes of `in` into `out` and writes the tag to `tag` (16 bytes). */
int qantara_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad, size_t aad_length,
                           const uint8_t *in, size_t length, uint8_t *out, uint8_t tag[16]);

/* Verifies `tag` over `in` (ciphertext) and `aad`, and decrypts `length` bytes into `out`. */
int qantara_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad, size_t aad_length,
                           const uint8_t *in, size_t length, const uint8_t tag[16], uint8_t *out);

/* HMAC-SHA256 of `length` bytes of `message` under a key of `key_length` bytes, into `out` (32 bytes). Returns 1 on
   success, 0 on failure (out of memory). */
int qantara_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *message, size_t length,
                        uint8_t out[32]);

/* Message digests (one context per hash in progress, on the heap; nothing BoringSSL-typed crosses into Swift).
   BoringSSL has no per-call algorithm lookup, which Debian's OpenSSL 3.0 does on every digest initialisation. */
enum { QANTARA_DIGEST_MD5 = 1, QANTARA_DIGEST_SHA1 = 2, QANTARA_DIGEST_SHA256 = 3 };

/* A context for `which` (a QANTARA_DIGEST_ value), or NULL when out of memory or `which` is unknown. */
void *qantara_digest_new(int which);
void qantara_digest_update(void *ctx, const void *data, size_t length);
/* Writes the digest to `out` (16, 20 or 32 bytes) and returns its length; 0 on failure. Call once. */
size_t qantara_digest_final(void *ctx, uint8_t *out);
void qantara_digest_free(void *ctx);

/* `length` bytes from BoringSSL's per-thread CSPRNG (seeded and reseeded from the kernel; fork-safe). OpenSSL 3.0's
   RAND_bytes costs a provider lookup and an AES-CTR context per call. */
void qantara_random_bytes(uint8_t *out, size_t length);

#endif
