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

#endif
