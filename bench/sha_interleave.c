/* SHA-256 with SHA-NI: the compression of one chain of blocks (each block waits on the state the
 * one before it left, as the blocks of one event's link do) against two independent chains
 * interleaved in one instruction stream (as two events' links could be hashed). Prints the CPU
 * time per block of each and their ratio; the final line's hex value keeps the work from being
 * optimised away. It answers whether verify's SHA-256 half can be made faster on this CPU
 * without changing what is hashed.
 *
 *   gcc -O2 -o sha_interleave bench/sha_interleave.c && ./sha_interleave
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* One 64-byte block into each of `n` (1 or 2) states, the streams' instructions interleaved. */
__attribute__((target("sha,sse4.1,ssse3"), always_inline)) static inline void compress(int n, __m128i abef[],
                                                                __m128i cdgh[],
                                                                const uint8_t *blk[]) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i w[2][4], sa[2], sc[2];
    for (int s = 0; s < n; s++) {
        sa[s] = abef[s];
        sc[s] = cdgh[s];
        for (int i = 0; i < 4; i++)
            w[s][i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blk[s] + 16 * i)), mask);
    }
    for (int r = 0; r < 16; r++) {
        const __m128i k = _mm_loadu_si128((const __m128i *)(K + 4 * r));
        const int i = r & 3;
        for (int s = 0; s < n; s++) {
            if (r >= 4) {
                __m128i t = _mm_add_epi32(_mm_sha256msg1_epu32(w[s][i], w[s][(i + 1) & 3]),
                                          _mm_alignr_epi8(w[s][(i + 3) & 3], w[s][(i + 2) & 3], 4));
                w[s][i] = _mm_sha256msg2_epu32(t, w[s][(i + 3) & 3]);
            }
            const __m128i t1 = _mm_add_epi32(w[s][i], k);
            cdgh[s] = _mm_sha256rnds2_epu32(cdgh[s], abef[s], t1);
            abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], _mm_shuffle_epi32(t1, 0x0e));
        }
    }
    for (int s = 0; s < n; s++) {
        abef[s] = _mm_add_epi32(abef[s], sa[s]);
        cdgh[s] = _mm_add_epi32(cdgh[s], sc[s]);
    }
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The callers, each with its number of streams fixed, so that `compress` is specialised. */
__attribute__((target("sha,sse4.1,ssse3"))) static void one(__m128i *abef, __m128i *cdgh,
                                                           const uint8_t *blk) {
    const uint8_t *p[1] = {blk};
    compress(1, abef, cdgh, p);
}

__attribute__((target("sha,sse4.1,ssse3"))) static void two(__m128i abef[], __m128i cdgh[],
                                                           const uint8_t *a, const uint8_t *b) {
    const uint8_t *p[2] = {a, b};
    compress(2, abef, cdgh, p);
}

int main(void) {
    enum { BLOCKS = 1024, REPS = 2000 };
    static uint8_t buf[2][64 * BLOCKS];
    for (int i = 0; i < (int)sizeof buf; i++) ((uint8_t *)buf)[i] = (uint8_t)(i * 7);
    __m128i abef[2] = {_mm_set1_epi32(1), _mm_set1_epi32(2)};
    __m128i cdgh[2] = {_mm_set1_epi32(3), _mm_set1_epi32(4)};
    const double t0 = cpu_now();
    for (int r = 0; r < REPS; r++)
        for (int s = 0; s < 2; s++)
            for (int b = 0; b < BLOCKS; b++) one(&abef[s], &cdgh[s], buf[s] + 64 * b);
    const double t1 = cpu_now();
    for (int r = 0; r < REPS; r++)
        for (int b = 0; b < BLOCKS; b++) two(abef, cdgh, buf[0] + 64 * b, buf[1] + 64 * b);
    const double t2 = cpu_now();
    const double blocks = 2.0 * BLOCKS * REPS;
    printf("one chain: %.1f ns/block, two interleaved: %.1f ns/block, %.2fx (%x)\n",
           (t1 - t0) / blocks * 1e9, (t2 - t1) / blocks * 1e9, (t1 - t0) / (t2 - t1),
           (unsigned)(_mm_cvtsi128_si32(abef[0]) ^ _mm_cvtsi128_si32(abef[1])));
    return 0;
}
