#include "qantara_md5.h"
#include "md5_steps.h"

// MD5_Update is deprecated in OpenSSL 3 for new protocols; here it is the ETag S3 defines.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>

#include <stdlib.h>

qantara_md5 *qantara_md5_new(void) {
    MD5_CTX *context = malloc(sizeof(MD5_CTX));
    if (context != NULL) MD5_Init(context);
    return context;
}

void qantara_md5_free(qantara_md5 *context) { free(context); }

void qantara_md5_update(qantara_md5 *context, const void *data, size_t length) { MD5_Update(context, data, length); }

size_t qantara_md5_pending(const qantara_md5 *context) { return context->num; }

void qantara_md5_final(qantara_md5 *context, uint8_t digest[16]) { MD5_Final(digest, context); }

#if defined(__x86_64__)
#include <immintrin.h>

/// Counts `bytes` hashed outside OpenSSL into the context's message length, as `MD5_Update` does.
static void absorbed(MD5_CTX *context, uint64_t bytes) {
    const uint64_t bits = (((uint64_t)context->Nh << 32) | context->Nl) + (bytes << 3);
    context->Nl = (MD5_LONG)bits;
    context->Nh = (MD5_LONG)(bits >> 32);
}

int qantara_md5_x16_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

// The round functions as three-input truth tables over (b, c, d): bit (b<<2 | c<<1 | d) of the immediate.
#define V1(b, c, d) _mm512_ternarylogic_epi32(b, c, d, 0xCA) /* b ? c : d */
#define V2(b, c, d) _mm512_ternarylogic_epi32(b, c, d, 0xE4) /* d ? b : c */
#define V3(b, c, d) _mm512_ternarylogic_epi32(b, c, d, 0x96) /* b ^ c ^ d */
#define V4(b, c, d) _mm512_ternarylogic_epi32(b, c, d, 0x39) /* c ^ (b | ~d) */
#define VSTEP(round, a, b, c, d, g, t, s) \
    a = _mm512_add_epi32(a, _mm512_add_epi32(w[g], _mm512_set1_epi32((int)(t)))); \
    a = _mm512_add_epi32(a, V##round(b, c, d)); \
    a = _mm512_add_epi32(_mm512_rol_epi32(a, s), b);

/// Turns 16 rows (one 64-byte block per lane) into 16 columns (word j of every lane): 32-bit and 64-bit
/// interleaves inside each 128-bit quarter, then two passes over the quarters.
__attribute__((target("avx512f")))
static inline void transpose16(__m512i r[16], __m512i w[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // u[4g + m] holds, in quarter k, word 4k + m of rows 4g .. 4g + 3.
    for (int g = 0; g < 4; g++) {
        __m512i *tg = t + 4 * g;
        u[4 * g + 0] = _mm512_unpacklo_epi64(tg[0], tg[2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(tg[0], tg[2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(tg[1], tg[3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(tg[1], tg[3]);
    }
    for (int m = 0; m < 4; m++) {
        const __m512i x0 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x44);
        const __m512i x1 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xEE);
        const __m512i x2 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x44);
        const __m512i x3 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xEE);
        w[m] = _mm512_shuffle_i32x4(x0, x2, 0x88);
        w[4 + m] = _mm512_shuffle_i32x4(x0, x2, 0xDD);
        w[8 + m] = _mm512_shuffle_i32x4(x1, x3, 0x88);
        w[12 + m] = _mm512_shuffle_i32x4(x1, x3, 0xDD);
    }
}

static const uint8_t idle_block[64];

__attribute__((target("avx512f")))
void qantara_md5_blocks_x16(qantara_md5 *const contexts[16], const uint8_t *const data[16], size_t blocks) {
    const uint8_t *p[16];
    size_t stride[16];
    uint32_t sa[16], sb[16], sc[16], sd[16];
    for (int i = 0; i < 16; i++) {
        const int active = data[i] != NULL;
        p[i] = active ? data[i] : idle_block;
        stride[i] = active ? 64 : 0;
        sa[i] = active ? contexts[i]->A : 0;
        sb[i] = active ? contexts[i]->B : 0;
        sc[i] = active ? contexts[i]->C : 0;
        sd[i] = active ? contexts[i]->D : 0;
    }
    __m512i a = _mm512_loadu_si512(sa), b = _mm512_loadu_si512(sb);
    __m512i c = _mm512_loadu_si512(sc), d = _mm512_loadu_si512(sd);
    for (size_t block = 0; block < blocks; block++) {
        __m512i r[16], w[16];
        for (int i = 0; i < 16; i++) {
            r[i] = _mm512_loadu_si512(p[i]);
            p[i] += stride[i];
        }
        transpose16(r, w);
        const __m512i a0 = a, b0 = b, c0 = c, d0 = d;
        QANTARA_MD5_STEPS(VSTEP)
        a = _mm512_add_epi32(a, a0);
        b = _mm512_add_epi32(b, b0);
        c = _mm512_add_epi32(c, c0);
        d = _mm512_add_epi32(d, d0);
    }
    _mm512_storeu_si512(sa, a);
    _mm512_storeu_si512(sb, b);
    _mm512_storeu_si512(sc, c);
    _mm512_storeu_si512(sd, d);
    for (int i = 0; i < 16; i++) {
        if (data[i] == NULL) continue;
        contexts[i]->A = sa[i];
        contexts[i]->B = sb[i];
        contexts[i]->C = sc[i];
        contexts[i]->D = sd[i];
        absorbed(contexts[i], (uint64_t)blocks * 64);
    }
}

#else

int qantara_md5_x16_available(void) { return 0; }

void qantara_md5_blocks_x16(qantara_md5 *const contexts[16], const uint8_t *const data[16], size_t blocks) {
    // Never called where qantara_md5_x16_available() is 0; one lane at a time keeps it correct anyway.
    for (int i = 0; i < 16; i++) {
        if (data[i] != NULL) MD5_Update(contexts[i], data[i], blocks * 64);
    }
}

#endif
