#ifndef QANTARA_MD5_H
#define QANTARA_MD5_H

#include <stddef.h>
#include <stdint.h>

/// MD5 (RFC 1321) over whole 64-byte blocks, in two forms that share one state layout (A, B, C, D), so one
/// message may be hashed partly by either: one lane at a time, and 16 independent messages at once in the
/// 32-bit lanes of AVX-512 registers (MD5 has no parallelism inside one message; across messages it has 16).
/// Padding and the length block are the caller's.

/// Hashes `blocks` 64-byte blocks at `data` into `state` (OpenSSL's MD5 underneath).
void qantara_md5_blocks(uint32_t state[4], const uint8_t *data, size_t blocks);

/// 1 when this CPU (and the kernel) run AVX-512F, so `qantara_md5_blocks_x16` may be called.
int qantara_md5_x16_available(void);

/// Hashes `blocks` 64-byte blocks of each of 16 messages: lane i reads `data[i]` into `states[i]`. A lane whose
/// `data[i]` is NULL is idle (its `states[i]` is neither read nor written and may be NULL). Requires AVX-512F.
void qantara_md5_blocks_x16(uint32_t *const states[16], const uint8_t *const data[16], size_t blocks);

#endif
