// x86-64 kernels: AVX2 (+FMA, F16C) and AVX-512 (F, BW, VL, VNNI). Each function carries its
// target in an attribute, so this file is compiled for the baseline ISA and nothing here runs
// unless kernelsFor() found the CPU features at run time. Everything is internal to this file
// (anonymous namespace), so no inline function compiled for AVX-512 can leak into baseline code.
//
// gemm tiles RB weight rows x TB activation rows: each weight vector loaded feeds TB tokens and
// each activation vector RB rows; the RB*TB accumulators stay in registers.
//   float kernels: AVX-512 4 x 4 (16 zmm accumulators), AVX2 4 x 2 (8 ymm accumulators)
//   Q8_0 x Q8:     AVX-512 4 x 4, AVX2 4 x 2, one 32-value block (one ymm) per step. AVX2 goes
//                  through the sign trick (|w| as unsigned times sign(w)*x as signed, maddubs +
//                  madd); AVX-512 VNNI through an offset (dpbusd on w + 128, see tileQ8Avx512).
//   other blocks:  AVX-512 4 x 4 (two groups of 32 per zmm), AVX2 4 x 2, straight from the packed
//                  blocks (see tileQuantAvx2).

// GCC 12's AVX-512 headers pass _mm512_undefined_*() as merge sources and then warn about them
// (GCC bug 105593, fixed in 13); the warnings point into the system headers.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "engine/kernels.h"
#include "engine/unpack.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#define SW_AVX2 __attribute__((target("avx2,fma,f16c")))
#define SW_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace swarm::engine {

namespace {

// Decode streams every weight once from memory, and the hardware prefetchers alone leave the
// core waiting (measured: a Q8_0 matrix-vector product ran at 7 GB/s from DRAM without, 12 GB/s
// with). Each tile asks for the bytes kPrefetchBytes ahead of what it reads, into L2; rows are
// contiguous, so that is data a later tile of the same thread reads.
constexpr int kPrefetchBytes = 8192;

inline void prefetchAhead(const void* p) {
    _mm_prefetch(static_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T1);
}

// =============================================================================================
// AVX2

// Sum of the 8 lanes.
SW_AVX2 inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// {sum(a), sum(b), sum(c), sum(d)}
SW_AVX2 inline __m128 hsum4x256(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b);
    __m256 cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// Weight loaders: 8 weights from column c as floats; one() converts a single weight (tails).
struct Avx2F32 {
    static constexpr int kBytesPer16 = 64;   // bytes of 16 weights
    SW_AVX2 static __m256 load(const uint8_t* row, int64_t c) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + c);
    }
    SW_AVX2 static float one(const uint8_t* row, int64_t c) {
        float v;
        std::memcpy(&v, row + 4 * c, 4);
        return v;
    }
};
struct Avx2BF16 {
    static constexpr int kBytesPer16 = 32;   // bytes of 16 weights
    SW_AVX2 static __m256 load(const uint8_t* row, int64_t c) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * c));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    SW_AVX2 static float one(const uint8_t* row, int64_t c) {
        uint16_t h;
        std::memcpy(&h, row + 2 * c, 2);
        uint32_t bits = uint32_t(h) << 16;
        float v;
        std::memcpy(&v, &bits, 4);
        return v;
    }
};
struct Avx2F16 {
    static constexpr int kBytesPer16 = 32;   // bytes of 16 weights
    SW_AVX2 static __m256 load(const uint8_t* row, int64_t c) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * c)));
    }
    SW_AVX2 static float one(const uint8_t* row, int64_t c) {
        uint16_t h;
        std::memcpy(&h, row + 2 * c, 2);
        return _cvtsh_ss(h);
    }
};
// Q8_0 dequantised to float (d * q): the exact path. Columns are a multiple of 32, so c is
// always a multiple of 8 and one() is never needed.
struct Avx2Q8 {
    static constexpr int kBytesPer16 = 17;   // bytes of 16 weights
    SW_AVX2 static __m256 load(const uint8_t* row, int64_t c) {
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row) + c / kQK;
        __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + (c % kQK)));
        __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
        return _mm256_mul_ps(v, _mm256_set1_ps(_cvtsh_ss(b->d)));
    }
    SW_AVX2 static float one(const uint8_t* row, int64_t c) {
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row) + c / kQK;
        return _cvtsh_ss(b->d) * float(b->qs[c % kQK]);
    }
};

template <class L, int RB, int TB>
SW_AVX2 void tileAvx2(const Mat& w, int64_t r0, const Act& x, int j0, float* y, int64_t ldy) {
    const uint8_t* wr[RB];
    const float* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = w.row(r0 + r);
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const float*>(x.row(j0 + t));
    __m256 acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = _mm256_setzero_ps();

    const int64_t K = w.cols;
    int64_t c = 0;
    for (; c + 8 <= K; c += 8) {
        __m256 xv[TB];
        for (int t = 0; t < TB; ++t) xv[t] = _mm256_loadu_ps(xr[t] + c);
        for (int r = 0; r < RB; ++r) {
            if ((c & 15) == 0) prefetchAhead(wr[r] + c * L::kBytesPer16 / 16);
            const __m256 wv = L::load(wr[r], c);
            for (int t = 0; t < TB; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    float tail[RB][TB] = {};
    for (; c < K; ++c)
        for (int r = 0; r < RB; ++r) {
            const float wv = L::one(wr[r], c);
            for (int t = 0; t < TB; ++t) tail[r][t] += wv * xr[t][c];
        }

    if constexpr (RB == 4) {
        for (int t = 0; t < TB; ++t) {
            __m128 s = hsum4x256(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
            s = _mm_add_ps(s, _mm_setr_ps(tail[0][t], tail[1][t], tail[2][t], tail[3][t]));
            _mm_storeu_ps(y + (j0 + t) * ldy + r0, s);
        }
    } else {
        for (int r = 0; r < RB; ++r)
            for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = hsum256(acc[r][t]) + tail[r][t];
    }
}

template <class L>
SW_AVX2 void gemmFloatAvx2(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileAvx2<L, 4, 2>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileAvx2<L, 4, 1>(w, r, x, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileAvx2<L, 1, 2>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileAvx2<L, 1, 1>(w, r, x, j, y, ldy);
    }
}

// Q8_0 x Q8: per 32-value block, an int32 dot in 8 lanes, converted to float and scaled by dw*dx.
template <int RB, int TB>
SW_AVX2 void tileQ8Avx2(const Mat& w, int64_t r0, const Act& x, int j0, float* y, int64_t ldy) {
    const BlockQ8_0* wr[RB];
    const BlockQ8A* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = reinterpret_cast<const BlockQ8_0*>(w.row(r0 + r));
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const BlockQ8A*>(x.row(j0 + t));
    __m256 acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);

    const int64_t nb = w.cols / kQK;
    for (int64_t b = 0; b < nb; ++b) {
        __m256i xq[TB];
        float dx[TB];
        for (int t = 0; t < TB; ++t) {
            xq[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][b].qs));
            dx[t] = xr[t][b].d;
        }
        for (int r = 0; r < RB; ++r) {
            prefetchAhead(wr[r] + b);
            const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r][b].qs));
            const __m256i aw = _mm256_sign_epi8(wq, wq);
            const float dw = _cvtsh_ss(wr[r][b].d);
            for (int t = 0; t < TB; ++t) {
                const __m256i sx = _mm256_sign_epi8(xq[t], wq);
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones);
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * dx[t]), acc[r][t]);
            }
        }
    }
    if constexpr (RB == 4) {
        for (int t = 0; t < TB; ++t)
            _mm_storeu_ps(y + (j0 + t) * ldy + r0,
                          hsum4x256(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
    } else {
        for (int r = 0; r < RB; ++r)
            for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = hsum256(acc[r][t]);
    }
}

SW_AVX2 void gemmQ8Q8Avx2(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileQ8Avx2<4, 2>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileQ8Avx2<4, 1>(w, r, x, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileQ8Avx2<1, 2>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileQ8Avx2<1, 1>(w, r, x, j, y, ldy);
    }
}

SW_AVX2 void quantizeQ8AAvx2(const float* x, BlockQ8A* y, int64_t n) {
    const __m256 signBit = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / kQK; ++b) {
        const float* xb = x + b * kQK;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signBit, v0), _mm256_andnot_ps(signBit, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(signBit, v2), _mm256_andnot_ps(signBit, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float d = _mm_cvtss_f32(m4) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = d;
        const __m256 vid = _mm256_set1_ps(id);
        // cvtps rounds half to even (default MXCSR), as the reference's nearbyint.
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vid));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), p);
        setHalfSums(y[b]);
    }
}

// The other block types x Q8 activations, computed on the packed blocks. A tile of RB rows and TB
// tokens walks the row a chunk of 8 groups of 32 at a time (one k-quant super-block, or 8 blocks
// of 32). Per chunk and row the scales are decoded once into a vector (8 group scales, or Q6_K's
// 16 half scales: the 6-bit Q4_K/Q5_K scales with shifts and masks on 32-bit words, the halves
// through F16C), multiplied by the tokens' 8 activation scales and kept in L1; per group the
// levels (unsigned, 0..63) are cut from the packed bytes in a register, dotted with the Q8
// activations (AVX2: maddubs + madd, VNNI: dpbusd; lanes 0-3 cover elements 0..15, 4-7 16..31),
// converted and multiplied by the group's scale broadcast from L1. Offsets (Q4_0's -8, Q5_0's
// -16, Q6_K's -32) and mins (Q5_1, Q4_K, Q5_K) meet the activation sums once per chunk. The
// unpack-to-L1 form of unpack.h that this replaced spent its time storing and reloading levels
// and on scalar scale decoding: Q4_K ran at 7-8 GB/s from L2 where Q8_0 ran at 22-26.

// Levels of one block of 32 of the 4- and 5-bit types: 16 bytes of nibbles (low nibbles are
// elements 0..15) and, for Q5, 32 high bits (qh, else nullptr), spread to bytes as llama.cpp's
// bytes_from_bits_32.
SW_AVX2 inline __attribute__((always_inline)) __m256i levels32Avx2(const uint8_t* qs, const uint8_t* qh) {
    // Both halves of the ymm get the 16 bytes; the upper one shifted by 4 (per 32-bit lane).
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    __m256i q = _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(15));
    if (qh) {
        uint32_t bits;
        std::memcpy(&bits, qh, 4);
        const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
        __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(int(bits)), shuf);
        bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
        bytes = _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));          // 0xff where the bit is set
        q = _mm256_or_si256(q, _mm256_and_si256(bytes, _mm256_set1_epi8(16)));
    }
    return q;
}

// Bits 4..5 of Q6_K levels from the 2-bit pairs at `shift` of each qh byte.
SW_AVX2 inline __attribute__((always_inline)) __m256i q6High(__m256i qh, int shift) {
    return _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift)), _mm256_set1_epi8(3)), 4);
}

template <WType T> struct BlockOf;
template <> struct BlockOf<WType::Q4_0> { using type = BlockQ4_0; };
template <> struct BlockOf<WType::Q5_0> { using type = BlockQ5_0; };
template <> struct BlockOf<WType::Q5_1> { using type = BlockQ5_1; };
template <> struct BlockOf<WType::Q4_K> { using type = BlockQ4_K; };
template <> struct BlockOf<WType::Q5_K> { using type = BlockQ5_K; };
template <> struct BlockOf<WType::Q6_K> { using type = BlockQ6_K; };

constexpr bool isKQuant(WType t) { return t == WType::Q4_K || t == WType::Q5_K || t == WType::Q6_K; }
// Scales per chunk: one per group, Q6_K one per half of 16.
template <WType T> constexpr int kChunkScales = T == WType::Q6_K ? 16 : 8;
// Types whose offset is a multiple of the scale (value = scale * (q - offset)); the others carry a min.
template <WType T> constexpr float kLevelOffset = T == WType::Q4_0 ? 8.0f : T == WType::Q5_0 ? 16.0f : T == WType::Q6_K ? 32.0f : 0.0f;

// The token side of a chunk, shared by the tile's rows: scales per group (per half for Q6_K, each
// group's twice) and the activation sums, times -offset for the offset types, else times dx.
template <WType T>
struct ChunkActs {
    alignas(32) float dx[kChunkScales<T>];
    alignas(32) float sums[kChunkScales<T>];
};

template <WType T>
SW_AVX2 inline __attribute__((always_inline)) void chunkActs(const BlockQ8A* xb, int ng, ChunkActs<T>& a) {
    for (int g = 0; g < kUnpackGroups; ++g) {
        const float d = g < ng ? xb[g].d : 0.0f;
        const int s0 = g < ng ? xb[g].sum[0] : 0, s1 = g < ng ? xb[g].sum[1] : 0;
        if constexpr (T == WType::Q6_K) {
            a.dx[2 * g] = a.dx[2 * g + 1] = d;
            a.sums[2 * g] = -kLevelOffset<T> * float(s0);
            a.sums[2 * g + 1] = -kLevelOffset<T> * float(s1);
        } else {
            a.dx[g] = d;
            a.sums[g] = kLevelOffset<T> != 0.0f ? -kLevelOffset<T> * float(s0 + s1) : d * float(s0 + s1);
        }
    }
}

// A row's scales for one chunk: scale[0] (Q6_K: scale[0..1], per half) and, for the min types, min.
struct ChunkScales {
    __m256 scale[2];
    __m256 min;
};

// The 8 six-bit scales and mins of a Q4_K / Q5_K super-block (gguf::kScaleMin, on 32-bit words).
SW_AVX2 inline __attribute__((always_inline)) void kScalesMins(const uint8_t* scales, __m256i& sc, __m256i& mn) {
    uint32_t u[3];
    std::memcpy(u, scales, sizeof u);
    const uint32_t sc03 = u[0] & 0x3f3f3f3fu, mn03 = u[1] & 0x3f3f3f3fu;
    const uint32_t sc47 = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u);
    const uint32_t mn47 = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u);
    sc = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(uint64_t(sc03) | (uint64_t(sc47) << 32))));
    mn = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(uint64_t(mn03) | (uint64_t(mn47) << 32))));
}

template <WType T>
SW_AVX2 inline __attribute__((always_inline)) ChunkScales chunkScales(const uint8_t* row, int64_t g0, int ng) {
    using Block = typename BlockOf<T>::type;
    ChunkScales s;
    if constexpr (T == WType::Q4_K || T == WType::Q5_K) {
        const Block& b = reinterpret_cast<const Block*>(row)[g0 / kUnpackGroups];
        __m256i sc, mn;
        kScalesMins(b.scales, sc, mn);
        s.scale[0] = _mm256_mul_ps(_mm256_cvtepi32_ps(sc), _mm256_set1_ps(_cvtsh_ss(b.d)));
        s.min = _mm256_mul_ps(_mm256_cvtepi32_ps(mn), _mm256_set1_ps(-_cvtsh_ss(b.dmin)));
    } else if constexpr (T == WType::Q6_K) {
        const Block& b = reinterpret_cast<const Block*>(row)[g0 / kUnpackGroups];
        const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b.d));
        s.scale[0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)), d);
        s.scale[1] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8))), d);
    } else {
        // One gather of each block's first 4 bytes: d, and m for Q5_1 (stores of the halves to a
        // buffer read back as a vector stalled on store forwarding). Lanes past ng read nothing.
        const int* first = reinterpret_cast<const int*>(row + size_t(g0) * sizeof(Block));
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(ng), lane);
        const __m256i v = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), first,
                                                      _mm256_mullo_epi32(lane, _mm256_set1_epi32(int(sizeof(Block)))), mask, 1);
        const __m256i low16 = _mm256_set1_epi32(0xffff);
        const __m256i d = _mm256_and_si256(v, low16);
        s.scale[0] = _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1)));
        if constexpr (T == WType::Q5_1) {
            const __m256i m = _mm256_srli_epi32(v, 16);
            s.min = _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1)));
        }
    }
    return s;
}

// The levels of group g of the chunk at g0 (k-quants: g0's super-block; qh: its Q5_K high bits).
template <WType T>
SW_AVX2 inline __attribute__((always_inline)) __m256i groupLevels(const uint8_t* row, int64_t g0, int g, __m256i qh) {
    using Block = typename BlockOf<T>::type;
    if constexpr (T == WType::Q4_0) {
        return levels32Avx2(reinterpret_cast<const Block*>(row)[g0 + g].qs, nullptr);
    } else if constexpr (T == WType::Q5_0 || T == WType::Q5_1) {
        const Block& b = reinterpret_cast<const Block*>(row)[g0 + g];
        return levels32Avx2(b.qs, b.qh);
    } else if constexpr (T == WType::Q4_K || T == WType::Q5_K) {
        // Bytes 32c..32c+31 hold group 2c in their low nibbles and group 2c + 1 in their high ones.
        const Block& b = reinterpret_cast<const Block*>(row)[g0 / kUnpackGroups];
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + (g / 2) * kQK));
        __m256i q = _mm256_and_si256(g % 2 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(15));
        if constexpr (T == WType::Q5_K)   // bit g of qh[l] is bit 4 of level l of group g
            q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(g)), _mm256_set1_epi8(1)), 4));
        return q;
    } else {
        // Group 4h + k: the k-th run of 32 of half h (see BlockQ6_K).
        const Block& b = reinterpret_cast<const Block*>(row)[g0 / kUnpackGroups];
        const int h = g / 4, k = g % 4;
        const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32 * (k % 2)));
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
        const __m256i lo = _mm256_and_si256(k < 2 ? l : _mm256_srli_epi16(l, 4), _mm256_set1_epi8(15));
        return _mm256_or_si256(lo, q6High(hb, 2 * k));
    }
}

template <WType T>
SW_AVX2 inline __attribute__((always_inline)) __m256i chunkHighBits(const uint8_t* row, int64_t g0) {
    if constexpr (T == WType::Q5_K)
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const BlockQ5_K*>(row)[g0 / kUnpackGroups].qh));
    else
        return _mm256_setzero_si256();
}

// The combined scales of (row, token) for a chunk, stored for broadcasting: cs = scale * dx; the
// offsets or mins times the activation sums go straight into the accumulator.
template <WType T>
SW_AVX2 inline __attribute__((always_inline)) __m256 combineScales(const ChunkScales& s, const ChunkActs<T>& a, float* cs, __m256 acc) {
    const __m256 c0 = _mm256_mul_ps(s.scale[0], _mm256_load_ps(a.dx));
    _mm256_store_ps(cs, c0);
    if constexpr (T == WType::Q6_K) {
        const __m256 c1 = _mm256_mul_ps(s.scale[1], _mm256_load_ps(a.dx + 8));
        _mm256_store_ps(cs + 8, c1);
        acc = _mm256_fmadd_ps(c0, _mm256_load_ps(a.sums), acc);
        return _mm256_fmadd_ps(c1, _mm256_load_ps(a.sums + 8), acc);
    } else if constexpr (kLevelOffset<T> != 0.0f) {
        return _mm256_fmadd_ps(c0, _mm256_load_ps(a.sums), acc);
    } else {
        return _mm256_fmadd_ps(s.min, _mm256_load_ps(a.sums), acc);
    }
}

// Group g's scale in the 8 lanes of its dot product (Q6_K: lanes 0-3 the first half's).
template <WType T>
SW_AVX2 inline __attribute__((always_inline)) __m256 groupScale(const float* cs, int g) {
    if constexpr (T == WType::Q6_K)
        return _mm256_set_m128(_mm_broadcast_ss(cs + 2 * g + 1), _mm_broadcast_ss(cs + 2 * g));
    else
        return _mm256_broadcast_ss(cs + g);
}

template <WType T, int RB, int TB>
SW_AVX2 void tileQuantAvx2(const Mat& w, int64_t r0, const Act& x, const ChunkActs<T>* acts, int64_t chunks, int j0,
                           float* y, int64_t ldy) {
    const uint8_t* wr[RB];
    const BlockQ8A* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = w.row(r0 + r);
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const BlockQ8A*>(x.row(j0 + t));
    __m256 acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t groups = w.cols / kQK;
    constexpr size_t chunkBytes = isKQuant(T) ? sizeof(typename BlockOf<T>::type) : kUnpackGroups * sizeof(typename BlockOf<T>::type);
    alignas(32) float cs[RB][TB][kChunkScales<T>];

    for (int64_t g0 = 0; g0 < groups; g0 += kUnpackGroups) {
        const int ng = isKQuant(T) ? kUnpackGroups : int(std::min<int64_t>(kUnpackGroups, groups - g0));
        const ChunkActs<T>* ca = acts + g0 / kUnpackGroups;
        __m256i qh[RB];
#pragma GCC unroll 4
        for (int r = 0; r < RB; ++r) {
            const uint8_t* chunk = wr[r] + size_t(g0 / kUnpackGroups) * chunkBytes;
            #pragma GCC unroll 4
            for (size_t o = 0; o < chunkBytes; o += 64) prefetchAhead(chunk + o);
            const ChunkScales s = chunkScales<T>(wr[r], g0, ng);
#pragma GCC unroll 4
            for (int t = 0; t < TB; ++t) acc[r][t] = combineScales<T>(s, ca[(j0 + t) * chunks], cs[r][t], acc[r][t]);
            qh[r] = chunkHighBits<T>(wr[r], g0);
        }
#pragma GCC unroll 8
        for (int g = 0; g < ng; ++g) {
            __m256i xq[TB];
#pragma GCC unroll 4
            for (int t = 0; t < TB; ++t) xq[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][g0 + g].qs));
#pragma GCC unroll 4
            for (int r = 0; r < RB; ++r) {
                const __m256i q = groupLevels<T>(wr[r], g0, g, qh[r]);
#pragma GCC unroll 4
                for (int t = 0; t < TB; ++t) {
                    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xq[t]), ones);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), groupScale<T>(cs[r][t], g), acc[r][t]);
                }
            }
        }
    }
    if constexpr (RB == 4) {
        for (int t = 0; t < TB; ++t)
            _mm_storeu_ps(y + (j0 + t) * ldy + r0, hsum4x256(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
    } else {
        for (int r = 0; r < RB; ++r)
            for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = hsum256(acc[r][t]);
    }
}
// The token side of every chunk of the n activation rows, computed once per product call (the
// tiles of all its rows share it), in a buffer of the calling thread that only grows.
template <WType T>
SW_AVX2 const ChunkActs<T>* rowActs(const Act& x, int n, int64_t cols, int64_t& chunks) {
    thread_local std::vector<ChunkActs<T>> buffer;
    const int64_t groups = cols / kQK;
    chunks = (groups + kUnpackGroups - 1) / kUnpackGroups;
    if (buffer.size() < size_t(chunks) * size_t(n)) buffer.resize(size_t(chunks) * size_t(n));
    for (int j = 0; j < n; ++j) {
        const BlockQ8A* xb = reinterpret_cast<const BlockQ8A*>(x.row(j));
        for (int64_t c = 0; c < chunks; ++c)
            chunkActs<T>(xb + c * kUnpackGroups, int(std::min<int64_t>(kUnpackGroups, groups - c * kUnpackGroups)),
                         buffer[size_t(j * chunks + c)]);
    }
    return buffer.data();
}

template <WType T>
SW_AVX2 void gemmQuantAvx2(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t chunks = 0;
    const ChunkActs<T>* acts = rowActs<T>(x, n, w.cols, chunks);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileQuantAvx2<T, 4, 2>(w, r, x, acts, chunks, j, y, ldy);
        for (; j < n; ++j) tileQuantAvx2<T, 4, 1>(w, r, x, acts, chunks, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileQuantAvx2<T, 1, 2>(w, r, x, acts, chunks, j, y, ldy);
        for (; j < n; ++j) tileQuantAvx2<T, 1, 1>(w, r, x, acts, chunks, j, y, ldy);
    }
}

SW_AVX2 float dotAvx2(const float* a, const float* b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

SW_AVX2 void axpyAvx2(float a, const float* x, float* y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += a * x[i];
}

// y += a * row for the KV cache's row types (L: a loader above; Q8_0 rows are whole blocks).
template <class L>
SW_AVX2 void rowAxpyAvx2(float a, const uint8_t* row, float* y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, L::load(row, i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += a * L::one(row, i);
}
SW_AVX2 void rowAxpyF32Avx2(float a, const uint8_t* row, float* y, int64_t n) {
    axpyAvx2(a, reinterpret_cast<const float*>(row), y, n);
}

// The other block types with float activations (the exact path): each 256-column chunk of a row
// is unpacked to float once and dotted with every activation row.
template <WType T>
SW_AVX2 void gemmFloatQuantAvx2(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    constexpr int64_t kChunk = int64_t(kUnpackGroups) * kQK;
    alignas(32) float chunk[kChunk];
    for (int64_t r = r0; r < r1; ++r) {
        for (int j = 0; j < n; ++j) y[j * ldy + r] = 0.0f;
        for (int64_t c0 = 0; c0 < w.cols; c0 += kChunk) {
            const int64_t len = std::min(kChunk, w.cols - c0);
            unpackToFloat<T>(w.row(r), c0, len, chunk);
            for (int j = 0; j < n; ++j)
                y[j * ldy + r] += dotAvx2(chunk, reinterpret_cast<const float*>(x.row(j)) + c0, len);
        }
    }
}

// =============================================================================================
// AVX-512

SW_AVX512 inline __m256 fold512(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

// Loaders: 16 weights from column c; loadMasked() for the last, partial vector of a row.
struct Avx512F32 {
    static constexpr int kBytesPer16 = 64;   // bytes of 16 weights
    SW_AVX512 static __m512 load(const uint8_t* row, int64_t c) {
        return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + c);
    }
    SW_AVX512 static __m512 loadMasked(const uint8_t* row, int64_t c, __mmask16 m) {
        return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + c);
    }
};
struct Avx512BF16 {
    static constexpr int kBytesPer16 = 32;   // bytes of 16 weights
    SW_AVX512 static __m512 widen(__m256i h) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    SW_AVX512 static __m512 load(const uint8_t* row, int64_t c) {
        return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * c)));
    }
    SW_AVX512 static __m512 loadMasked(const uint8_t* row, int64_t c, __mmask16 m) {
        return widen(_mm256_maskz_loadu_epi16(m, row + 2 * c));
    }
};
struct Avx512F16 {
    static constexpr int kBytesPer16 = 32;   // bytes of 16 weights
    SW_AVX512 static __m512 load(const uint8_t* row, int64_t c) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * c)));
    }
    SW_AVX512 static __m512 loadMasked(const uint8_t* row, int64_t c, __mmask16 m) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * c));
    }
};
// Q8_0 dequantised (d * q), the exact path; columns are a multiple of 32, so no partial vector.
struct Avx512Q8 {
    static constexpr int kBytesPer16 = 17;   // bytes of 16 weights
    SW_AVX512 static __m512 load(const uint8_t* row, int64_t c) {
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row) + c / kQK;
        __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + (c % kQK)));
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
        return _mm512_mul_ps(v, _mm512_set1_ps(_cvtsh_ss(b->d)));
    }
    SW_AVX512 static __m512 loadMasked(const uint8_t* row, int64_t c, __mmask16) { return load(row, c); }
};

template <class L, int RB, int TB>
SW_AVX512 void tileAvx512(const Mat& w, int64_t r0, const Act& x, int j0, float* y, int64_t ldy) {
    const uint8_t* wr[RB];
    const float* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = w.row(r0 + r);
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const float*>(x.row(j0 + t));
    __m512 acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = _mm512_setzero_ps();

    const int64_t K = w.cols;
    int64_t c = 0;
    for (; c + 16 <= K; c += 16) {
        __m512 xv[TB];
        for (int t = 0; t < TB; ++t) xv[t] = _mm512_loadu_ps(xr[t] + c);
        for (int r = 0; r < RB; ++r) {
            prefetchAhead(wr[r] + c * L::kBytesPer16 / 16);
            const __m512 wv = L::load(wr[r], c);
            for (int t = 0; t < TB; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    if (c < K) {
        const __mmask16 m = __mmask16((1u << (K - c)) - 1);
        __m512 xv[TB];
        for (int t = 0; t < TB; ++t) xv[t] = _mm512_maskz_loadu_ps(m, xr[t] + c);
        for (int r = 0; r < RB; ++r) {
            const __m512 wv = L::loadMasked(wr[r], c, m);
            for (int t = 0; t < TB; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }

    if constexpr (RB == 4) {
        for (int t = 0; t < TB; ++t)
            _mm_storeu_ps(y + (j0 + t) * ldy + r0,
                          hsum4x256(fold512(acc[0][t]), fold512(acc[1][t]), fold512(acc[2][t]),
                                    fold512(acc[3][t])));
    } else {
        for (int r = 0; r < RB; ++r)
            for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = _mm512_reduce_add_ps(acc[r][t]);
    }
}

template <class L>
SW_AVX512 void gemmFloatAvx512(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 4 <= n; j += 4) tileAvx512<L, 4, 4>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileAvx512<L, 4, 1>(w, r, x, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 4 <= n; j += 4) tileAvx512<L, 1, 4>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileAvx512<L, 1, 1>(w, r, x, j, y, ldy);
    }
}

// VNNI multiplies unsigned by signed bytes: the weights are offset to w + 128 (a sign-bit flip)
// and the accumulator starts at -128 * sum(x), computed once per activation block, so that each
// (row, token) block costs one dpbusd: sum((w + 128) x) - 128 sum(x) = sum(w x), exactly.
template <int RB, int TB>
SW_AVX512 void tileQ8Avx512(const Mat& w, int64_t r0, const Act& x, int j0, float* y, int64_t ldy) {
    const BlockQ8_0* wr[RB];
    const BlockQ8A* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = reinterpret_cast<const BlockQ8_0*>(w.row(r0 + r));
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const BlockQ8A*>(x.row(j0 + t));
    __m256 acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = _mm256_setzero_ps();
    const __m256i flip = _mm256_set1_epi8(char(0x80));

    const int64_t nb = w.cols / kQK;
    for (int64_t b = 0; b < nb; ++b) {
        __m256i xq[TB], bias[TB];
        __m256 dx[TB];
        for (int t = 0; t < TB; ++t) {
            xq[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][b].qs));
            bias[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), flip, xq[t]));
            dx[t] = _mm256_set1_ps(xr[t][b].d);
        }
        for (int r = 0; r < RB; ++r) {
            prefetchAhead(wr[r] + b);
            const __m256i wu = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r][b].qs)), flip);
            const __m256 dw = _mm256_set1_ps(_cvtsh_ss(wr[r][b].d));
            for (int t = 0; t < TB; ++t) {
                const __m256i p = _mm256_dpbusd_epi32(bias[t], wu, xq[t]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw, dx[t]), acc[r][t]);
            }
        }
    }
    if constexpr (RB == 4) {
        for (int t = 0; t < TB; ++t)
            _mm_storeu_ps(y + (j0 + t) * ldy + r0, hsum4x256(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
    } else {
        for (int r = 0; r < RB; ++r)
            for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = hsum256(acc[r][t]);
    }
}

SW_AVX512 void gemmQ8Q8Avx512(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 4 <= n; j += 4) tileQ8Avx512<4, 4>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileQ8Avx512<4, 1>(w, r, x, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 4 <= n; j += 4) tileQ8Avx512<1, 4>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileQ8Avx512<1, 1>(w, r, x, j, y, ldy);
    }
}

SW_AVX512 void quantizeQ8AAvx512(const float* x, BlockQ8A* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b) {
        const float* xb = x + b * kQK;
        const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = d;
        const __m512 vid = _mm512_set1_ps(id);
        // cvtps rounds half to even (default MXCSR), as the reference's nearbyint.
        const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)));
        const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid)));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), q0);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16), q1);
        setHalfSums(y[b]);
    }
}

// groupLevels with AVX-512BW: Q5_0 / Q5_1 high bits straight from a mask register (one masked add
// instead of the five-instruction byte spreading).
template <WType T>
SW_AVX512 inline __attribute__((always_inline)) __m256i groupLevelsAvx512(const uint8_t* row, int64_t g0, int g, __m256i qh) {
    if constexpr (T == WType::Q5_0 || T == WType::Q5_1) {
        const typename BlockOf<T>::type& b = reinterpret_cast<const typename BlockOf<T>::type*>(row)[g0 + g];
        uint32_t bits;
        std::memcpy(&bits, b.qh, 4);
        const __m256i q = levels32Avx2(b.qs, nullptr);
        return _mm256_mask_add_epi8(q, __mmask32(bits), q, _mm256_set1_epi8(16));
    } else {
        return groupLevels<T>(row, g0, g, qh);
    }
}

// AVX-512 takes the groups of a chunk two at a time in a zmm (lanes 0-7 group g, 8-15 group
// g + 1): one dpbusd, one conversion and one FMA per 64 weights and token. On this workbench's
// CPU (AMD EPYC, full-width 512-bit units) that ran the k-quants 1.3-1.5x faster than the same
// tile on ymm. A Q4_K/Q5_K pair is the low and high nibbles of the same 32 bytes; a Q6_K pair two
// runs of 32 that share their high-bit bytes; the blocks of 32 go in one per half.
template <WType T>
SW_AVX512 inline __attribute__((always_inline)) __m512i pairLevelsAvx512(const uint8_t* row, int64_t g0, int g, bool second, __m256i qh) {
    using Block = typename BlockOf<T>::type;
    const __m512i m4 = _mm512_set1_epi8(15);
    if constexpr (T == WType::Q4_K || T == WType::Q5_K) {
        const Block& b = reinterpret_cast<const Block*>(row)[g0 / kUnpackGroups];
        const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + (g / 2) * kQK)));
        __m512i q = _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4)), m4);
        if constexpr (T == WType::Q5_K) {   // bit g of qh[l] is bit 4 of level l of group g
            const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi16(short(g)), _mm256_set1_epi16(short(g + 1)), 1);
            const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(_mm512_broadcast_i64x4(qh), shift), _mm512_set1_epi8(1));
            q = _mm512_or_si512(q, _mm512_slli_epi16(hb, 4));
        }
        return q;
    } else if constexpr (T == WType::Q6_K) {
        // Groups 4h + k and 4h + k + 1 (k = 0 or 2): the 64 bytes of ql of half h, low or high
        // nibbles; high bits from the same 32 qh bytes at shifts 2k and 2k + 2.
        const Block& b = reinterpret_cast<const Block*>(row)[g0 / kUnpackGroups];
        const int h = g / 4, k = g % 4;
        const __m512i l = _mm512_loadu_si512(b.ql + 64 * h);
        const __m512i lo = _mm512_and_si512(k ? _mm512_srli_epi16(l, 4) : l, m4);
        const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi16(short(2 * k)), _mm256_set1_epi16(short(2 * k + 2)), 1);
        const __m512i hq = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h)));
        const __m512i hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(hq, shift), _mm512_set1_epi8(3)), 4);
        return _mm512_or_si512(lo, hi);
    } else {
        // 128-bit lanes: nibbles of block g (low, high), then of block g + 1; Q5 high bits of both
        // blocks as one 64-bit mask.
        const Block* b = reinterpret_cast<const Block*>(row) + g0 + g;
        const __m128i qa = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[0].qs));
        const __m128i qb = second ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[1].qs)) : _mm_setzero_si128();
        const __m512i two = _mm512_castsi256_si512(_mm256_set_m128i(qb, qa));
        const __m512i v = _mm512_shuffle_i64x2(two, two, 0x50);   // lanes a, a, b, b
        __m512i q = _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)), m4);
        if constexpr (T == WType::Q5_0 || T == WType::Q5_1) {
            uint32_t ha, hb = 0;
            std::memcpy(&ha, b[0].qh, 4);
            if (second) std::memcpy(&hb, b[1].qh, 4);
            q = _mm512_mask_add_epi8(q, __mmask64(uint64_t(ha) | (uint64_t(hb) << 32)), q, _mm512_set1_epi8(16));
        }
        return q;
    }
}

template <WType T, int RB, int TB>
SW_AVX512 void tileQuantAvx512(const Mat& w, int64_t r0, const Act& x, const ChunkActs<T>* acts, int64_t chunks, int j0,
                               float* y, int64_t ldy) {
    using Block = typename BlockOf<T>::type;
    const uint8_t* wr[RB];
    const BlockQ8A* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = w.row(r0 + r);
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const BlockQ8A*>(x.row(j0 + t));
    __m512 acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = _mm512_setzero_ps();
    const int64_t groups = w.cols / kQK;
    constexpr size_t chunkBytes = isKQuant(T) ? sizeof(Block) : kUnpackGroups * sizeof(Block);
    __m512 cs[RB][TB];

    for (int64_t g0 = 0; g0 < groups; g0 += kUnpackGroups) {
        const int ng = isKQuant(T) ? kUnpackGroups : int(std::min<int64_t>(kUnpackGroups, groups - g0));
        const ChunkActs<T>* ca = acts + g0 / kUnpackGroups;
        __m256i qh[RB];
#pragma GCC unroll 4
        for (int r = 0; r < RB; ++r) {
            const uint8_t* chunk = wr[r] + size_t(g0 / kUnpackGroups) * chunkBytes;
#pragma GCC unroll 4
            for (size_t o = 0; o < chunkBytes; o += 64) prefetchAhead(chunk + o);
            const ChunkScales s = chunkScales<T>(wr[r], g0, ng);
#pragma GCC unroll 4
            for (int t = 0; t < TB; ++t) {
                const ChunkActs<T>& a = ca[(j0 + t) * chunks];
                const __m256 c0 = _mm256_mul_ps(s.scale[0], _mm256_load_ps(a.dx));
                __m256 part;
                if constexpr (T == WType::Q6_K) {
                    const __m256 c1 = _mm256_mul_ps(s.scale[1], _mm256_load_ps(a.dx + 8));
                    cs[r][t] = _mm512_insertf32x8(_mm512_castps256_ps512(c0), c1, 1);
                    part = _mm256_fmadd_ps(c1, _mm256_load_ps(a.sums + 8), _mm256_mul_ps(c0, _mm256_load_ps(a.sums)));
                } else {
                    cs[r][t] = _mm512_castps256_ps512(c0);   // only lanes 0-7 are ever selected
                    part = _mm256_mul_ps(kLevelOffset<T> != 0.0f ? c0 : s.min, _mm256_load_ps(a.sums));
                }
                acc[r][t] = _mm512_add_ps(acc[r][t], _mm512_insertf32x8(_mm512_setzero_ps(), part, 0));
            }
            qh[r] = chunkHighBits<T>(wr[r], g0);
        }
#pragma GCC unroll 4
        for (int g = 0; g < ng; g += 2) {
            const bool second = g + 1 < ng;
            __m512i xq[TB];
#pragma GCC unroll 4
            for (int t = 0; t < TB; ++t) {
                const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][g0 + g].qs));
                const __m256i b = second ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][g0 + g + 1].qs)) : _mm256_setzero_si256();
                xq[t] = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
            }
            // The scales of groups g and g + 1 across the lanes of their dot products.
            const __m512i pick = T == WType::Q6_K
                ? _mm512_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 2, 2 * g + 2,
                                    2 * g + 2, 2 * g + 2, 2 * g + 3, 2 * g + 3, 2 * g + 3, 2 * g + 3)
                : _mm512_inserti64x4(_mm512_set1_epi32(g), _mm256_set1_epi32(g + 1), 1);
#pragma GCC unroll 4
            for (int r = 0; r < RB; ++r) {
                const __m512i q = pairLevelsAvx512<T>(wr[r], g0, g, second, qh[r]);
#pragma GCC unroll 4
                for (int t = 0; t < TB; ++t) {
                    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, xq[t]);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(pick, cs[r][t]), acc[r][t]);
                }
            }
        }
    }
    if constexpr (RB == 4) {
        for (int t = 0; t < TB; ++t)
            _mm_storeu_ps(y + (j0 + t) * ldy + r0,
                          hsum4x256(fold512(acc[0][t]), fold512(acc[1][t]), fold512(acc[2][t]), fold512(acc[3][t])));
    } else {
        for (int r = 0; r < RB; ++r)
            for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = hsum256(fold512(acc[r][t]));
    }
}

template <WType T>
SW_AVX512 void gemmQuantAvx512(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t chunks = 0;
    const ChunkActs<T>* acts = rowActs<T>(x, n, w.cols, chunks);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 4 <= n; j += 4) tileQuantAvx512<T, 4, 4>(w, r, x, acts, chunks, j, y, ldy);
        for (; j < n; ++j) tileQuantAvx512<T, 4, 1>(w, r, x, acts, chunks, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 4 <= n; j += 4) tileQuantAvx512<T, 1, 4>(w, r, x, acts, chunks, j, y, ldy);
        for (; j < n; ++j) tileQuantAvx512<T, 1, 1>(w, r, x, acts, chunks, j, y, ldy);
    }
}

SW_AVX512 float dotAvx512(const float* a, const float* b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        const __mmask16 m = __mmask16((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

SW_AVX512 float dotAvx512(const float* a, const float* b, int64_t n);

template <WType T>
SW_AVX512 void gemmFloatQuantAvx512(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    constexpr int64_t kChunk = int64_t(kUnpackGroups) * kQK;
    alignas(64) float chunk[kChunk];
    for (int64_t r = r0; r < r1; ++r) {
        for (int j = 0; j < n; ++j) y[j * ldy + r] = 0.0f;
        for (int64_t c0 = 0; c0 < w.cols; c0 += kChunk) {
            const int64_t len = std::min(kChunk, w.cols - c0);
            unpackToFloat<T>(w.row(r), c0, len, chunk);
            for (int j = 0; j < n; ++j)
                y[j * ldy + r] += dotAvx512(chunk, reinterpret_cast<const float*>(x.row(j)) + c0, len);
        }
    }
}

SW_AVX512 void axpyAvx512(float a, const float* x, float* y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const __mmask16 m = __mmask16((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

template <class L>
SW_AVX512 void rowAxpyAvx512(float a, const uint8_t* row, float* y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, L::load(row, i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const __mmask16 m = __mmask16((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, L::loadMasked(row, i, m), _mm512_maskz_loadu_ps(m, y + i)));
    }
}
SW_AVX512 void rowAxpyF32Avx512(float a, const uint8_t* row, float* y, int64_t n) {
    axpyAvx512(a, reinterpret_cast<const float*>(row), y, n);
}

Kernels makeAvx2() {
    Kernels k;
    k.isa = Isa::Avx2;
    k.gemm[int(WType::F32)] = gemmFloatAvx2<Avx2F32>;
    k.gemm[int(WType::BF16)] = gemmFloatAvx2<Avx2BF16>;
    k.gemm[int(WType::F16)] = gemmFloatAvx2<Avx2F16>;
    k.gemm[int(WType::Q8_0)] = gemmFloatAvx2<Avx2Q8>;
    k.gemmQ[int(WType::Q8_0)] = gemmQ8Q8Avx2;
#define SW_QUANT_TYPE(T)                                                   \
    k.gemm[int(WType::T)] = gemmFloatQuantAvx2<WType::T>;                  \
    k.gemmQ[int(WType::T)] = gemmQuantAvx2<WType::T>;
    SW_QUANT_TYPE(Q4_0) SW_QUANT_TYPE(Q5_0) SW_QUANT_TYPE(Q5_1) SW_QUANT_TYPE(Q4_K) SW_QUANT_TYPE(Q5_K) SW_QUANT_TYPE(Q6_K)
#undef SW_QUANT_TYPE
    k.quantizeQ8A = quantizeQ8AAvx2;
    k.dot = dotAvx2;
    k.axpy = axpyAvx2;
    k.rowAxpy[int(WType::F32)] = rowAxpyF32Avx2;
    k.rowAxpy[int(WType::F16)] = rowAxpyAvx2<Avx2F16>;
    k.rowAxpy[int(WType::Q8_0)] = rowAxpyAvx2<Avx2Q8>;
    return k;
}

Kernels makeAvx512() {
    Kernels k;
    k.isa = Isa::Avx512;
    k.gemm[int(WType::F32)] = gemmFloatAvx512<Avx512F32>;
    k.gemm[int(WType::BF16)] = gemmFloatAvx512<Avx512BF16>;
    k.gemm[int(WType::F16)] = gemmFloatAvx512<Avx512F16>;
    k.gemm[int(WType::Q8_0)] = gemmFloatAvx512<Avx512Q8>;
    k.gemmQ[int(WType::Q8_0)] = gemmQ8Q8Avx512;
#define SW_QUANT_TYPE(T)                                                   \
    k.gemm[int(WType::T)] = gemmFloatQuantAvx512<WType::T>;                \
    k.gemmQ[int(WType::T)] = gemmQuantAvx512<WType::T>;
    SW_QUANT_TYPE(Q4_0) SW_QUANT_TYPE(Q5_0) SW_QUANT_TYPE(Q5_1) SW_QUANT_TYPE(Q4_K) SW_QUANT_TYPE(Q5_K) SW_QUANT_TYPE(Q6_K)
#undef SW_QUANT_TYPE
    k.quantizeQ8A = quantizeQ8AAvx512;
    k.dot = dotAvx512;
    k.axpy = axpyAvx512;
    k.rowAxpy[int(WType::F32)] = rowAxpyF32Avx512;
    k.rowAxpy[int(WType::F16)] = rowAxpyAvx512<Avx512F16>;
    k.rowAxpy[int(WType::Q8_0)] = rowAxpyAvx512<Avx512Q8>;
    return k;
}

} // namespace

const Kernels* avx2Kernels() {
    static const Kernels k = makeAvx2();
    return &k;
}

const Kernels* avx512Kernels() {
    static const Kernels k = makeAvx512();
    return &k;
}

} // namespace swarm::engine

#else  // not x86-64

namespace swarm::engine {
const Kernels* avx2Kernels() { return nullptr; }
const Kernels* avx512Kernels() { return nullptr; }
} // namespace swarm::engine

#endif

