#pragma once
// The quantised weight types other than Q8_0, unpacked a chunk of up to 8 blocks of 32 at a time
// into one common form that every instruction set's dot product reads:
//
//   value of element i of group g = scale[g][i / 16] * q[g][i] + min[g][i / 16],  q in 0..63
//
// Q4_0: q = nibble, min = -8 d. Q5_0: q = 5 bits, min = -16 d. Q5_1: min = m. Q4_K / Q5_K: per
// sub-block scale d * sc and min -dmin * m. Q6_K: q = 6 bits, per 16 scale d * sc, min = -32 scale.
// With Q8 activations (scale dx, levels xq) a group's product is then
//   dx * (scale[g][0] * sum_{i<16} q xq + scale[g][1] * sum_{i>=16} q xq + min[g][0] * sum_{i<16} xq + ...)
// where the activation sums come with the BlockQ8A. Unsigned q times signed xq is what x86's
// maddubs / dpbusd multiply directly, and q <= 63 also fits NEON's signed dot product.
//
// Plain C++ (the compiler vectorises the nibble loops); the functions are always inlined so that
// each kernel file compiles them for its own instruction set. Internal to each file that includes
// this header (anonymous namespace), so no copy built for one ISA is shared with another.
#include "engine/quant.h"

#include "core/half.h"

#include <cstring>
#include <type_traits>

namespace swarm::engine {
namespace {

constexpr int kUnpackGroups = 8;   // groups of 32 per chunk: one k-quant super-block

struct Unpacked {
    alignas(64) uint8_t q[kUnpackGroups][kQK];
    alignas(32) float scale[kUnpackGroups][2];
    alignas(32) float min[kUnpackGroups][2];
};

#define SW_UNPACK_INLINE inline __attribute__((always_inline))

// Byte i of entry x: bit i of x moved to bit 4 (0 or 16): one load per 8 high bits of a Q5 block.
struct HighBitTable {
    uint64_t v[256];
    constexpr HighBitTable() : v() {
        for (int x = 0; x < 256; ++x)
            for (int i = 0; i < 8; ++i) v[x] |= uint64_t((x >> i) & 1) << (8 * i + 4);
    }
};
constexpr HighBitTable kHighBits{};

// One block of 32 of the 4- and 5-bit types: 16 nibble bytes (low nibbles are levels 0..15) and,
// for Q5, 32 high bits (qh, else nullptr), into levels. Worked on local copies: the block and the
// levels are both uint8_t, which may alias, and in place (or with a shift per level) the compiler
// left the loop scalar (measured: a Q4_0 matrix-vector product at 0.66 GB/s, ~5 GB/s this way).
SW_UNPACK_INLINE void unpackBlock32(const uint8_t* qs, const uint8_t* qh, uint8_t* out) {
    uint8_t in[kQK / 2], lo[kQK / 2], hi[kQK / 2];
    std::memcpy(in, qs, sizeof in);
    for (int i = 0; i < kQK / 2; ++i) {
        lo[i] = uint8_t(in[i] & 15);
        hi[i] = uint8_t(in[i] >> 4);
    }
    uint64_t w[4];
    std::memcpy(w, lo, sizeof lo);
    std::memcpy(w + 2, hi, sizeof hi);
    if (qh)
        for (int k = 0; k < 4; ++k) w[k] |= kHighBits.v[qh[k]];
    std::memcpy(out, w, sizeof w);
}

// Groups [g0, g0 + ng) of a row (g0 a multiple of 8, ng <= 8); groups ng..7 are zeroed so that a
// partial chunk adds nothing.
template <WType T>
SW_UNPACK_INLINE void unpackRow(const uint8_t* row, int64_t g0, int ng, Unpacked& u) {
    if (ng < kUnpackGroups) {
        std::memset(u.q[ng], 0, size_t(kUnpackGroups - ng) * kQK);
        for (int g = ng; g < kUnpackGroups; ++g) u.scale[g][0] = u.scale[g][1] = u.min[g][0] = u.min[g][1] = 0.0f;
    }
    if constexpr (T == WType::Q4_0) {
        const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(row) + g0;
        for (int g = 0; g < ng; ++g) {
            const float d = f16ToFloat(b[g].d);
            u.scale[g][0] = u.scale[g][1] = d;
            u.min[g][0] = u.min[g][1] = -8.0f * d;
            unpackBlock32(b[g].qs, nullptr, u.q[g]);
        }
    } else if constexpr (T == WType::Q5_0 || T == WType::Q5_1) {
        using Block = std::conditional_t<T == WType::Q5_0, BlockQ5_0, BlockQ5_1>;
        const Block* b = reinterpret_cast<const Block*>(row) + g0;
        for (int g = 0; g < ng; ++g) {
            const float d = f16ToFloat(b[g].d);
            u.scale[g][0] = u.scale[g][1] = d;
            if constexpr (T == WType::Q5_0) u.min[g][0] = u.min[g][1] = -16.0f * d;
            else u.min[g][0] = u.min[g][1] = f16ToFloat(b[g].m);
            unpackBlock32(b[g].qs, b[g].qh, u.q[g]);
        }
    } else if constexpr (T == WType::Q4_K || T == WType::Q5_K) {
        using Block = std::conditional_t<T == WType::Q4_K, BlockQ4_K, BlockQ5_K>;
        const Block& b = reinterpret_cast<const Block*>(row)[g0 / kUnpackGroups];
        const float d = f16ToFloat(b.d), dmin = f16ToFloat(b.dmin);
        for (int j = 0; j < kUnpackGroups; ++j) {
            uint8_t sc, mn;
            gguf::kScaleMin(b.scales, j, sc, mn);
            u.scale[j][0] = u.scale[j][1] = d * float(sc);
            u.min[j][0] = u.min[j][1] = -(dmin * float(mn));
        }
        for (int c = 0; c < kUnpackGroups / 2; ++c)
            for (int l = 0; l < kQK; ++l) {
                const uint8_t v = b.qs[c * kQK + l];
                u.q[2 * c][l] = uint8_t(v & 15);
                u.q[2 * c + 1][l] = uint8_t(v >> 4);
            }
        if constexpr (T == WType::Q5_K)
            for (int j = 0; j < kUnpackGroups; ++j)
                for (int l = 0; l < kQK; ++l) u.q[j][l] = uint8_t(u.q[j][l] | (((b.qh[l] >> j) & 1) << 4));
    } else if constexpr (T == WType::Q6_K) {
        const BlockQ6_K& b = reinterpret_cast<const BlockQ6_K*>(row)[g0 / kUnpackGroups];
        const float d = f16ToFloat(b.d);
        // Group 4h + k of the block is the k-th run of 32 of half h (see BlockQ6_K).
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = b.ql + 64 * h;
            const uint8_t* qh = b.qh + 32 * h;
            for (int l = 0; l < kQK; ++l) {
                u.q[4 * h + 0][l] = uint8_t((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4));
                u.q[4 * h + 1][l] = uint8_t((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
                u.q[4 * h + 2][l] = uint8_t((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                u.q[4 * h + 3][l] = uint8_t((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
            for (int k = 0; k < 4; ++k)
                for (int s = 0; s < 2; ++s) {
                    const float scale = d * float(b.scales[8 * h + 2 * k + s]);
                    u.scale[4 * h + k][s] = scale;
                    u.min[4 * h + k][s] = -32.0f * scale;
                }
        }
    }
}

// Elements [c0, c0 + len) of a row as floats (c0 a multiple of 256, len <= 256 and a multiple of 32).
template <WType T>
SW_UNPACK_INLINE void unpackToFloat(const uint8_t* row, int64_t c0, int64_t len, float* out) {
    Unpacked u;
    const int ng = int(len / kQK);
    unpackRow<T>(row, c0 / kQK, ng, u);
    for (int g = 0; g < ng; ++g)
        for (int i = 0; i < kQK; ++i) out[g * kQK + i] = u.scale[g][i / 16] * float(u.q[g][i]) + u.min[g][i / 16];
}

// The activation sums of a chunk's groups, scaled: xs[2g + h] = dx_g * sum_h (0 past ng).
SW_UNPACK_INLINE void scaledSums(const BlockQ8A* xb, int ng, float* xs) {
    for (int g = 0; g < kUnpackGroups; ++g) {
        xs[2 * g] = g < ng ? xb[g].d * float(xb[g].sum[0]) : 0.0f;
        xs[2 * g + 1] = g < ng ? xb[g].d * float(xb[g].sum[1]) : 0.0f;
    }
}

// Fills a BlockQ8A's half sums from its levels (the SIMD quantisers' last step).
SW_UNPACK_INLINE void setHalfSums(BlockQ8A& b) {
    int s0 = 0, s1 = 0;
    for (int i = 0; i < kQK / 2; ++i) {
        s0 += b.qs[i];
        s1 += b.qs[i + kQK / 2];
    }
    b.sum[0] = int16_t(s0);
    b.sum[1] = int16_t(s1);
}

} // namespace
} // namespace swarm::engine
