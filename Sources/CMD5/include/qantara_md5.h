#ifndef QANTARA_MD5_H
#define QANTARA_MD5_H

#include <stddef.h>
#include <stdint.h>

/// MD5 (RFC 1321) for ETags: OpenSSL's MD5 for one message, and a 16-lane form that hashes whole blocks of 16
/// independent messages at once in the 32-bit lanes of AVX-512 registers (MD5 has no parallelism inside one message;
/// across messages it has 16). Both work on the same context, so one message may be hashed partly by either.
typedef struct MD5state_st qantara_md5;

/// A fresh context, or NULL when out of memory.
qantara_md5 *qantara_md5_new(void);
void qantara_md5_free(qantara_md5 *context);

void qantara_md5_update(qantara_md5 *context, const void *data, size_t length);

/// Bytes of a partial block the context holds (the 16-lane form takes only contexts holding none).
size_t qantara_md5_pending(const qantara_md5 *context);

/// Writes the digest; the context cannot be updated afterwards.
void qantara_md5_final(qantara_md5 *context, uint8_t digest[16]);

/// 1 when this CPU (and the kernel) run AVX-512F, so `qantara_md5_blocks_x16` may be called.
int qantara_md5_x16_available(void);

/// Hashes `blocks` 64-byte blocks of each of 16 messages: lane i reads `data[i]` into `contexts[i]`, which must hold
/// no partial block. A lane whose `data[i]` is NULL is idle (`contexts[i]` is not touched and may be NULL).
/// Requires AVX-512F.
void qantara_md5_blocks_x16(qantara_md5 *const contexts[16], const uint8_t *const data[16], size_t blocks);

#endif
