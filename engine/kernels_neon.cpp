// ARM64 kernels (NEON is part of the base ARMv8-A ISA, so they are chosen at compile time).
// Float kernels tile 4 weight rows x 4 tokens with 8 columns per step (two float32x4 halves);
// Q8_0 x Q8 uses SDOT when the compiler targets it (__ARM_FEATURE_DOTPROD, e.g. -mcpu=native on
// a Raspberry Pi 5), else widening multiplies (vmull_s8 + vpadalq_s16).
#include "engine/kernels.h"
#include "engine/unpack.h"

#if defined(__aarch64__)

#include "core/half.h"

#include <arm_neon.h>

#include <algorithm>
#include <cstring>

namespace swarm::engine {

namespace {

struct W8 {
    float32x4_t lo, hi;
};

struct NeonF32 {
    static W8 load(const uint8_t* row, int64_t c) {
        const float* p = reinterpret_cast<const float*>(row) + c;
        return {vld1q_f32(p), vld1q_f32(p + 4)};
    }
    static float one(const uint8_t* row, int64_t c) {
        float v;
        std::memcpy(&v, row + 4 * c, 4);
        return v;
    }
};
struct NeonBF16 {
    static W8 load(const uint8_t* row, int64_t c) {
        const uint16x8_t h = vld1q_u16(reinterpret_cast<const uint16_t*>(row + 2 * c));
        return {vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)),
                vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16))};
    }
    static float one(const uint8_t* row, int64_t c) {
        uint16_t h;
        std::memcpy(&h, row + 2 * c, 2);
        return bf16ToFloat(h);
    }
};
struct NeonF16 {
    static W8 load(const uint8_t* row, int64_t c) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(reinterpret_cast<const uint16_t*>(row + 2 * c)));
        return {vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)};
    }
    static float one(const uint8_t* row, int64_t c) {
        uint16_t h;
        std::memcpy(&h, row + 2 * c, 2);
        return f16ToFloat(h);
    }
};
// Q8_0 dequantised (d * q); columns are a multiple of 32, so c is a multiple of 8.
struct NeonQ8 {
    static W8 load(const uint8_t* row, int64_t c) {
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row) + c / kQK;
        const int16x8_t q = vmovl_s8(vld1_s8(b->qs + (c % kQK)));
        const float32x4_t d = vdupq_n_f32(f16ToFloat(b->d));
        return {vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), d),
                vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(q))), d)};
    }
    static float one(const uint8_t* row, int64_t c) {
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row) + c / kQK;
        return f16ToFloat(b->d) * float(b->qs[c % kQK]);
    }
};

template <class L, int RB, int TB>
void tileNeon(const Mat& w, int64_t r0, const Act& x, int j0, float* y, int64_t ldy) {
    const uint8_t* wr[RB];
    const float* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = w.row(r0 + r);
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const float*>(x.row(j0 + t));
    float32x4_t acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = vdupq_n_f32(0.0f);

    const int64_t K = w.cols;
    int64_t c = 0;
    for (; c + 8 <= K; c += 8) {
        float32x4_t xlo[TB], xhi[TB];
        for (int t = 0; t < TB; ++t) {
            xlo[t] = vld1q_f32(xr[t] + c);
            xhi[t] = vld1q_f32(xr[t] + c + 4);
        }
        for (int r = 0; r < RB; ++r) {
            const W8 wv = L::load(wr[r], c);
            for (int t = 0; t < TB; ++t) {
                acc[r][t] = vfmaq_f32(acc[r][t], wv.lo, xlo[t]);
                acc[r][t] = vfmaq_f32(acc[r][t], wv.hi, xhi[t]);
            }
        }
    }
    float tail[RB][TB] = {};
    for (; c < K; ++c)
        for (int r = 0; r < RB; ++r) {
            const float wv = L::one(wr[r], c);
            for (int t = 0; t < TB; ++t) tail[r][t] += wv * xr[t][c];
        }
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = vaddvq_f32(acc[r][t]) + tail[r][t];
}

template <class L>
void gemmFloatNeon(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 4 <= n; j += 4) tileNeon<L, 4, 4>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileNeon<L, 4, 1>(w, r, x, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 4 <= n; j += 4) tileNeon<L, 1, 4>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileNeon<L, 1, 1>(w, r, x, j, y, ldy);
    }
}

// int32x4 partial sums of one 32-value block product.
inline int32x4_t blockDot(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
#else
    int16x8_t p0 = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
    int16x8_t p1 = vmull_high_s8(w0, x0);
    int16x8_t p2 = vmull_s8(vget_low_s8(w1), vget_low_s8(x1));
    int16x8_t p3 = vmull_high_s8(w1, x1);
    int32x4_t s = vpaddlq_s16(p0);
    s = vpadalq_s16(s, p1);
    s = vpadalq_s16(s, p2);
    return vpadalq_s16(s, p3);
#endif
}

// acc + the int32x4 partial sums of a 16-byte product (lane k: bytes 4k..4k+3).
inline int32x4_t halfDot(int32x4_t acc, int8x16_t w, int8x16_t x) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, w, x);
#else
    int32x4_t s = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(x)));
    return vpadalq_s16(s, vmull_high_s8(w, x));
#endif
}

template <int RB, int TB>
void tileQ8Neon(const Mat& w, int64_t r0, const Act& x, int j0, float* y, int64_t ldy) {
    const BlockQ8_0* wr[RB];
    const BlockQ8A* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = reinterpret_cast<const BlockQ8_0*>(w.row(r0 + r));
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const BlockQ8A*>(x.row(j0 + t));
    float32x4_t acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = vdupq_n_f32(0.0f);

    const int64_t nb = w.cols / kQK;
    for (int64_t b = 0; b < nb; ++b) {
        int8x16_t x0[TB], x1[TB];
        float dx[TB];
        for (int t = 0; t < TB; ++t) {
            x0[t] = vld1q_s8(xr[t][b].qs);
            x1[t] = vld1q_s8(xr[t][b].qs + 16);
            dx[t] = xr[t][b].d;
        }
        for (int r = 0; r < RB; ++r) {
            const int8x16_t w0 = vld1q_s8(wr[r][b].qs);
            const int8x16_t w1 = vld1q_s8(wr[r][b].qs + 16);
            const float dw = f16ToFloat(wr[r][b].d);
            for (int t = 0; t < TB; ++t) {
                const int32x4_t p = blockDot(w0, w1, x0[t], x1[t]);
                acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(p), dw * dx[t]);
            }
        }
    }
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = vaddvq_f32(acc[r][t]);
}

void gemmQ8Q8Neon(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileQ8Neon<4, 2>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileQ8Neon<4, 1>(w, r, x, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileQ8Neon<1, 2>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileQ8Neon<1, 1>(w, r, x, j, y, ldy);
    }
}

void quantizeQ8ANeon(const float* x, BlockQ8A* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b) {
        const float* xb = x + b * kQK;
        float32x4_t v[8];
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; ++i) {
            v[i] = vld1q_f32(xb + 4 * i);
            m = vmaxq_f32(m, vabsq_f32(v[i]));
        }
        const float d = vmaxvq_f32(m) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = d;
        for (int i = 0; i < 8; i += 2) {
            // vcvtnq rounds half to even, as the reference's nearbyint.
            const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[i], id));
            const int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(v[i + 1], id));
            const int8x8_t q = vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(c)));
            vst1_s8(y[b].qs + 4 * i, q);
        }
        setHalfSums(y[b]);
    }
}

// Unpacked weights (unpack.h) x Q8 activations: per group and (row, token) two int32x4 dots, one
// per half of 16 (the levels are <= 63, so they are valid signed bytes), each scaled by its half
// scale times dx; the mins times the activation sums are four FMAs per chunk of 8 groups.
template <WType T, int RB, int TB>
void tileQuantNeon(const Mat& w, int64_t r0, const Act& x, int j0, float* y, int64_t ldy) {
    const uint8_t* wr[RB];
    const BlockQ8A* xr[TB];
    for (int r = 0; r < RB; ++r) wr[r] = w.row(r0 + r);
    for (int t = 0; t < TB; ++t) xr[t] = reinterpret_cast<const BlockQ8A*>(x.row(j0 + t));
    float32x4_t acc[RB][TB];
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) acc[r][t] = vdupq_n_f32(0.0f);
    const int64_t groups = w.cols / kQK;
    Unpacked u[RB];
    alignas(16) float xs[TB][2 * kUnpackGroups];
    const int32x4_t zero = vdupq_n_s32(0);

    for (int64_t g0 = 0; g0 < groups; g0 += kUnpackGroups) {
        const int ng = int(std::min<int64_t>(kUnpackGroups, groups - g0));
        for (int r = 0; r < RB; ++r) unpackRow<T>(wr[r], g0, ng, u[r]);
        for (int t = 0; t < TB; ++t) scaledSums(xr[t] + g0, ng, xs[t]);
        for (int r = 0; r < RB; ++r)
            for (int t = 0; t < TB; ++t)
                for (int v = 0; v < 4; ++v)
                    acc[r][t] = vfmaq_f32(acc[r][t], vld1q_f32(&u[r].min[0][0] + 4 * v), vld1q_f32(xs[t] + 4 * v));
        for (int g = 0; g < ng; ++g) {
            int8x16_t x0[TB], x1[TB];
            float dx[TB];
            for (int t = 0; t < TB; ++t) {
                x0[t] = vld1q_s8(xr[t][g0 + g].qs);
                x1[t] = vld1q_s8(xr[t][g0 + g].qs + 16);
                dx[t] = xr[t][g0 + g].d;
            }
            for (int r = 0; r < RB; ++r) {
                const int8x16_t q0 = vreinterpretq_s8_u8(vld1q_u8(u[r].q[g]));
                const int8x16_t q1 = vreinterpretq_s8_u8(vld1q_u8(u[r].q[g] + 16));
                for (int t = 0; t < TB; ++t) {
                    const int32x4_t p0 = halfDot(zero, q0, x0[t]);
                    const int32x4_t p1 = halfDot(zero, q1, x1[t]);
                    acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(p0), u[r].scale[g][0] * dx[t]);
                    acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(p1), u[r].scale[g][1] * dx[t]);
                }
            }
        }
    }
    for (int r = 0; r < RB; ++r)
        for (int t = 0; t < TB; ++t) y[(j0 + t) * ldy + r0 + r] = vaddvq_f32(acc[r][t]);
}

template <WType T>
void gemmQuantNeon(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileQuantNeon<T, 4, 2>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileQuantNeon<T, 4, 1>(w, r, x, j, y, ldy);
    }
    for (; r < r1; ++r) {
        int j = 0;
        for (; j + 2 <= n; j += 2) tileQuantNeon<T, 1, 2>(w, r, x, j, y, ldy);
        for (; j < n; ++j) tileQuantNeon<T, 1, 1>(w, r, x, j, y, ldy);
    }
}

float dotNeon(const float* a, const float* b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

void axpyNeon(float a, const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; ++i) y[i] += a * x[i];
}

// y += a * row for the KV cache's row types (L: a loader above; Q8_0 rows are whole blocks).
template <class L>
void rowAxpyNeon(float a, const uint8_t* row, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const W8 w = L::load(row, i);
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), w.lo, a));
        vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), w.hi, a));
    }
    for (; i < n; ++i) y[i] += a * L::one(row, i);
}
void rowAxpyF32Neon(float a, const uint8_t* row, float* y, int64_t n) { axpyNeon(a, reinterpret_cast<const float*>(row), y, n); }

// The other block types with float activations (the exact path): each 256-column chunk of a row
// is unpacked to float once and dotted with every activation row.
template <WType T>
void gemmFloatQuantNeon(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    constexpr int64_t kChunk = int64_t(kUnpackGroups) * kQK;
    alignas(16) float chunk[kChunk];
    for (int64_t r = r0; r < r1; ++r) {
        for (int j = 0; j < n; ++j) y[j * ldy + r] = 0.0f;
        for (int64_t c0 = 0; c0 < w.cols; c0 += kChunk) {
            const int64_t len = std::min(kChunk, w.cols - c0);
            unpackToFloat<T>(w.row(r), c0, len, chunk);
            for (int j = 0; j < n; ++j) y[j * ldy + r] += dotNeon(chunk, reinterpret_cast<const float*>(x.row(j)) + c0, len);
        }
    }
}

Kernels makeNeon() {
    Kernels k;
    k.isa = Isa::Neon;
    k.gemm[int(WType::F32)] = gemmFloatNeon<NeonF32>;
    k.gemm[int(WType::BF16)] = gemmFloatNeon<NeonBF16>;
    k.gemm[int(WType::F16)] = gemmFloatNeon<NeonF16>;
    k.gemm[int(WType::Q8_0)] = gemmFloatNeon<NeonQ8>;
    k.gemmQ[int(WType::Q8_0)] = gemmQ8Q8Neon;
#define SW_QUANT_TYPE(T)                                                   \
    k.gemm[int(WType::T)] = gemmFloatQuantNeon<WType::T>;                  \
    k.gemmQ[int(WType::T)] = gemmQuantNeon<WType::T>;
    SW_QUANT_TYPE(Q4_0) SW_QUANT_TYPE(Q5_0) SW_QUANT_TYPE(Q5_1) SW_QUANT_TYPE(Q4_K) SW_QUANT_TYPE(Q5_K) SW_QUANT_TYPE(Q6_K)
#undef SW_QUANT_TYPE
    k.quantizeQ8A = quantizeQ8ANeon;
    k.dot = dotNeon;
    k.axpy = axpyNeon;
    k.rowAxpy[int(WType::F32)] = rowAxpyF32Neon;
    k.rowAxpy[int(WType::F16)] = rowAxpyNeon<NeonF16>;
    k.rowAxpy[int(WType::Q8_0)] = rowAxpyNeon<NeonQ8>;
    return k;
}

} // namespace

const Kernels* neonKernels() {
    static const Kernels k = makeNeon();
    return &k;
}

} // namespace swarm::engine

#else

namespace swarm::engine {
const Kernels* neonKernels() { return nullptr; }
} // namespace swarm::engine

#endif
