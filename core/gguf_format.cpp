#include "core/gguf_format.h"

// The reference quantisers must give ggml's bytes on every architecture (tests/data holds
// ggml's own): GCC contracts a * b + c into a fused multiply-add in C++ by default where the
// target has one (every ARM64), which rounds differently. None here.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "core/error.h"
#include "core/half.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

namespace swarm::gguf {

bool isValueType(uint32_t id) { return id <= uint32_t(ValueType::Float64); }

const char* valueTypeName(ValueType t) {
    switch (t) {
    case ValueType::UInt8: return "UINT8";
    case ValueType::Int8: return "INT8";
    case ValueType::UInt16: return "UINT16";
    case ValueType::Int16: return "INT16";
    case ValueType::UInt32: return "UINT32";
    case ValueType::Int32: return "INT32";
    case ValueType::Float32: return "FLOAT32";
    case ValueType::Bool: return "BOOL";
    case ValueType::String: return "STRING";
    case ValueType::Array: return "ARRAY";
    case ValueType::UInt64: return "UINT64";
    case ValueType::Int64: return "INT64";
    case ValueType::Float64: return "FLOAT64";
    }
    return "?";
}

uint64_t scalarBytes(ValueType t) {
    switch (t) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::Bool: return 1;
    case ValueType::UInt16:
    case ValueType::Int16: return 2;
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::Float32: return 4;
    case ValueType::UInt64:
    case ValueType::Int64:
    case ValueType::Float64: return 8;
    case ValueType::String:
    case ValueType::Array: return 0;
    }
    return 0;
}

namespace {

constexpr TensorTypeInfo kTensorTypes[] = {
    {TensorType::F32, "F32", 1, 4},
    {TensorType::F16, "F16", 1, 2},
    {TensorType::Q4_0, "Q4_0", kBlockElements, sizeof(BlockQ4_0)},
    {TensorType::Q5_0, "Q5_0", kBlockElements, sizeof(BlockQ5_0)},
    {TensorType::Q5_1, "Q5_1", kBlockElements, sizeof(BlockQ5_1)},
    {TensorType::Q8_0, "Q8_0", kBlockElements, sizeof(BlockQ8_0)},
    {TensorType::Q4_K, "Q4_K", kSuperBlockElements, sizeof(BlockQ4_K)},
    {TensorType::Q5_K, "Q5_K", kSuperBlockElements, sizeof(BlockQ5_K)},
    {TensorType::Q6_K, "Q6_K", kSuperBlockElements, sizeof(BlockQ6_K)},
    {TensorType::BF16, "BF16", 1, 2},
};

} // namespace

const TensorTypeInfo* findTensorType(uint32_t id) {
    for (const TensorTypeInfo& t : kTensorTypes)
        if (uint32_t(t.type) == id) return &t;
    return nullptr;
}

const char* tensorTypeName(TensorType t) {
    const TensorTypeInfo* info = findTensorType(uint32_t(t));
    return info ? info->name : "?";
}

uint64_t rowBytes(TensorType t, uint64_t rowLength) {
    const TensorTypeInfo* found = findTensorType(uint32_t(t));
    if (!found) throw Error("ggml tensor type " + std::to_string(uint32_t(t)) + " is not handled here");
    const TensorTypeInfo& info = *found;
    if (rowLength % info.blockElements != 0)
        throw Error("rows of " + std::to_string(rowLength) + " values cannot be stored as " + info.name +
                    " (a multiple of " + std::to_string(info.blockElements) + " is needed)");
    return rowLength / info.blockElements * info.blockBytes;
}

uint64_t tensorBytes(TensorType t, uint64_t rowLength, uint64_t nelements) {
    const uint64_t perRow = rowBytes(t, rowLength);
    return rowLength == 0 ? 0 : nelements / rowLength * perRow;
}

bool isQuantized(TensorType t) {
    return t != TensorType::F32 && t != TensorType::F16 && t != TensorType::BF16;
}

uint32_t fileTypeOf(TensorType t) {
    switch (t) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q8_0: return 7;
    case TensorType::Q5_0: return 8;
    case TensorType::Q5_1: return 9;
    case TensorType::Q4_K: return 15;     // LLAMA_FTYPE_MOSTLY_Q4_K_M
    case TensorType::Q5_K: return 17;     // LLAMA_FTYPE_MOSTLY_Q5_K_M
    case TensorType::Q6_K: return 18;     // LLAMA_FTYPE_MOSTLY_Q6_K
    case TensorType::BF16: return 32;
    }
    return 0;
}

TensorType kquantFallback(TensorType t, uint64_t rowLength) {
    if (rowLength % kSuperBlockElements == 0) return t;
    switch (t) {
    case TensorType::Q4_K: return TensorType::Q5_0;
    case TensorType::Q5_K: return TensorType::Q5_1;
    case TensorType::Q6_K: return TensorType::Q8_0;
    default: return t;
    }
}

// ---------------------------------------------------------------------------------------------
// Codecs

namespace {

// The value of largest magnitude with its sign, the first of equal magnitudes (as ggml picks it).
float largestMagnitude(const float* x, int n) {
    float amax = 0.0f, m = 0.0f;
    for (int i = 0; i < n; ++i)
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            m = x[i];
        }
    return m;
}

} // namespace

void quantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float* xb = x + b * kBlockElements;
        float amax = 0.0f;
        for (int i = 0; i < kBlockElements; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = floatToF16(d);
        for (int i = 0; i < kBlockElements; ++i) {
            const float q = std::round(xb[i] * id);
            y[b].qs[i] = int8_t(std::fmax(-127.0f, std::fmin(127.0f, q)));
        }
    }
}

void dequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d);
        for (int i = 0; i < kBlockElements; ++i) y[b * kBlockElements + i] = d * float(x[b].qs[i]);
    }
}

void quantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n) {
    constexpr int kHalf = kBlockElements / 2;
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float* xb = x + b * kBlockElements;
        const float m = largestMagnitude(xb, kBlockElements);
        const float d = m / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = floatToF16(d);
        auto nibble = [id](float v) {
            const float f = std::floor(v * id + 8.5f);
            return uint8_t(f < 0.0f ? 0 : (f > 15.0f ? 15 : int(f)));
        };
        for (int i = 0; i < kHalf; ++i) y[b].qs[i] = uint8_t(nibble(xb[i]) | (nibble(xb[i + kHalf]) << 4));
    }
}

void dequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t n) {
    constexpr int kHalf = kBlockElements / 2;
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d);
        for (int i = 0; i < kHalf; ++i) {
            y[b * kBlockElements + i] = d * float(int(x[b].qs[i] & 0x0f) - 8);
            y[b * kBlockElements + i + kHalf] = d * float(int(x[b].qs[i] >> 4) - 8);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5-bit blocks

namespace {

uint32_t loadU32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

void storeU32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Packs 32 five-bit values: low nibbles of qs are elements 0..15, high nibbles 16..31, the fifth
// bit of element j is bit j of qh.
void pack5(const uint8_t* q, uint8_t* qs, uint8_t* qhBytes) {
    constexpr int kHalf = kBlockElements / 2;
    uint32_t qh = 0;
    for (int j = 0; j < kHalf; ++j) {
        qs[j] = uint8_t((q[j] & 0x0f) | ((q[j + kHalf] & 0x0f) << 4));
        qh |= uint32_t(q[j] >> 4) << j;
        qh |= uint32_t(q[j + kHalf] >> 4) << (j + kHalf);
    }
    storeU32(qhBytes, qh);
}

void unpack5(const uint8_t* qs, const uint8_t* qhBytes, uint8_t* q) {
    constexpr int kHalf = kBlockElements / 2;
    const uint32_t qh = loadU32(qhBytes);
    for (int j = 0; j < kHalf; ++j) {
        q[j] = uint8_t((qs[j] & 0x0f) | (((qh >> j) & 1u) << 4));
        q[j + kHalf] = uint8_t((qs[j] >> 4) | (((qh >> (j + kHalf)) & 1u) << 4));
    }
}

// The reference quantisers truncate toward zero through a C cast; a value outside the int range
// (NaN, inf) would be undefined there, so it is clamped first (the result is clamped anyway).
int truncClamp(float v, int lo, int hi) {
    if (!(v > float(lo))) return lo;
    if (!(v < float(hi))) return hi;
    return int(v);
}

} // namespace

void quantizeRowQ5_0(const float* x, BlockQ5_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float* xb = x + b * kBlockElements;
        const float m = largestMagnitude(xb, kBlockElements);
        const float d = m / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = floatToF16(d);
        uint8_t q[kBlockElements];
        // llama.cpp: MIN(31, (int8_t)(x * id + 16.5f)); x * id lies in [-16, 16], so the sum is >= 0.5.
        for (int i = 0; i < kBlockElements; ++i) q[i] = uint8_t(truncClamp(xb[i] * id + 16.5f, 0, 31));
        pack5(q, y[b].qs, y[b].qh);
    }
}

void dequantizeRowQ5_0(const BlockQ5_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d);
        uint8_t q[kBlockElements];
        unpack5(x[b].qs, x[b].qh, q);
        for (int i = 0; i < kBlockElements; ++i) y[b * kBlockElements + i] = float(int(q[i]) - 16) * d;
    }
}

void quantizeRowQ5_1(const float* x, BlockQ5_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float* xb = x + b * kBlockElements;
        float lo = FLT_MAX, hi = -FLT_MAX;
        for (int i = 0; i < kBlockElements; ++i) {
            lo = std::fmin(lo, xb[i]);
            hi = std::fmax(hi, xb[i]);
        }
        const float d = (hi - lo) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = floatToF16(d);
        y[b].m = floatToF16(lo);
        uint8_t q[kBlockElements];
        for (int i = 0; i < kBlockElements; ++i) q[i] = uint8_t(truncClamp((xb[i] - lo) * id + 0.5f, 0, 31));
        pack5(q, y[b].qs, y[b].qh);
    }
}

void dequantizeRowQ5_1(const BlockQ5_1* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d), m = f16ToFloat(x[b].m);
        uint8_t q[kBlockElements];
        unpack5(x[b].qs, x[b].qh, q);
        for (int i = 0; i < kBlockElements; ++i) y[b * kBlockElements + i] = float(q[i]) * d + m;
    }
}

// ---------------------------------------------------------------------------------------------
// k-quants

namespace {

constexpr int kSub = 32;                                  // Q4_K / Q5_K sub-block
constexpr int kSubs = kSuperBlockElements / kSub;         // 8

// Round to nearest, ties to even (ggml's nearest_int: adding 1.5 * 2^23 rounds in the FPU).
// Out-of-range and NaN inputs saturate instead of being undefined.
int nearestInt(float v) {
    if (!(std::fabs(v) <= 4194303.0f)) return v > 0.0f ? 4194303 : -4194303;
    return int(std::nearbyint(v));
}

// Fits x ~ scale * L + min with L in [0, nmax] and min <= 0, minimising the weighted squared
// error: start from the range, then try nsteps + 1 scales around nmax / (max - min), solving the
// weighted least squares for scale and min at each (llama.cpp's make_qkx2_quants, squared error).
// Returns the scale; *negMin = -min >= 0.
float fitScaleMin(int n, int nmax, const float* x, const float* w, uint8_t* L, float* negMin, float rmin,
                  float rdelta, int nsteps) {
    float lo = x[0], hi = x[0];
    float sumW = w[0], sumX = w[0] * x[0];
    for (int i = 1; i < n; ++i) {
        lo = std::fmin(lo, x[i]);
        hi = std::fmax(hi, x[i]);
        sumW += w[i];
        sumX += w[i] * x[i];
    }
    if (lo > 0.0f) lo = 0.0f;
    if (hi == lo) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *negMin = -lo;
        return 0.0f;
    }
    float iscale = float(nmax) / (hi - lo);
    float scale = 1.0f / iscale;
    float bestError = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = nearestInt(iscale * (x[i] - lo));
        L[i] = uint8_t(std::max(0, std::min(nmax, l)));
        const float diff = scale * float(L[i]) + lo - x[i];
        bestError += w[i] * (diff * diff);
    }
    uint8_t trial[kSub];
    for (int step = 0; step <= nsteps; ++step) {
        iscale = (rmin + rdelta * float(step) + float(nmax)) / (hi - lo);
        float sumL = 0.0f, sumL2 = 0.0f, sumXL = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::max(0, std::min(nmax, nearestInt(iscale * (x[i] - lo))));
            trial[i] = uint8_t(l);
            sumL += w[i] * float(l);
            sumL2 += w[i] * float(l) * float(l);
            sumXL += w[i] * float(l) * x[i];
        }
        const float det = sumW * sumL2 - sumL * sumL;
        if (!(det > 0.0f)) continue;
        float trialScale = (sumW * sumXL - sumX * sumL) / det;
        float trialMin = (sumL2 * sumX - sumL * sumXL) / det;
        if (trialMin > 0.0f) {
            trialMin = 0.0f;
            trialScale = sumXL / sumL2;
        }
        float error = 0.0f;
        for (int i = 0; i < n; ++i) {
            const float diff = trialScale * float(trial[i]) + trialMin - x[i];
            error += w[i] * (diff * diff);
        }
        if (error < bestError) {
            for (int i = 0; i < n; ++i) L[i] = trial[i];
            bestError = error;
            scale = trialScale;
            lo = trialMin;
        }
    }
    *negMin = -lo;
    return scale;
}

// Fits x ~ scale * L with L in [-nmax, nmax - 1] stored as L + nmax, weights x^2, trying 19 scales
// around -nmax / (value of largest magnitude) (llama.cpp's make_qx_quants with rmse_type 1).
float fitScale(int n, int nmax, const float* x, int8_t* L) {
    const float m = largestMagnitude(x, n);
    if (std::fabs(m) < 1e-15f) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.0f;
    }
    auto level = [nmax](float v) { return std::max(-nmax, std::min(nmax - 1, nearestInt(v))); };
    float iscale = -float(nmax) / m;
    float sumLX = 0.0f, sumL2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = level(iscale * x[i]);
        L[i] = int8_t(l + nmax);
        const float w = x[i] * x[i];
        sumLX += w * x[i] * float(l);
        sumL2 += w * float(l) * float(l);
    }
    float scale = sumL2 != 0.0f ? sumLX / sumL2 : 0.0f;
    float best = scale * sumLX;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(float(nmax) + 0.1f * float(step)) / m;
        sumLX = sumL2 = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = level(iscale * x[i]);
            const float w = x[i] * x[i];
            sumLX += w * x[i] * float(l);
            sumL2 += w * float(l) * float(l);
        }
        if (sumL2 > 0.0f && sumLX * sumLX > best * sumL2) {
            for (int i = 0; i < n; ++i) L[i] = int8_t(level(iscale * x[i]) + nmax);
            scale = sumLX / sumL2;
            best = scale * sumLX;
        }
    }
    return scale;
}

// Packs the 6-bit scale and min of sub-block j into a Q4_K / Q5_K scales array (see kScaleMin).
void putScaleMin(uint8_t* scales, int j, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        scales[j] = ls;
        scales[j + 4] = lm;
    } else {
        scales[j + 4] = uint8_t((ls & 15) | ((lm & 15) << 4));
        scales[j - 4] = uint8_t(scales[j - 4] | ((ls >> 4) << 6));
        scales[j] = uint8_t(scales[j] | ((lm >> 4) << 6));
    }
}

// The shared part of Q4_K and Q5_K: fits the 8 sub-blocks of one super-block, stores d, dmin and
// the packed scales, and gives the final levels L (re-quantised with the stored scales).
void quantizeSuperBlockK(const float* x, int nmax, float rmin, float rdelta, int nsteps, uint16_t& dOut,
                         uint16_t& dminOut, uint8_t* scalesOut, uint8_t* L) {
    float scales[kSubs], mins[kSubs], w[kSub];
    float maxScale = 0.0f, maxMin = 0.0f;
    for (int j = 0; j < kSubs; ++j) {
        const float* xs = x + j * kSub;
        float sumX2 = 0.0f;
        for (int l = 0; l < kSub; ++l) sumX2 += xs[l] * xs[l];
        const float rms = std::sqrt(sumX2 / float(kSub));
        for (int l = 0; l < kSub; ++l) w[l] = rms + std::fabs(xs[l]);
        scales[j] = fitScaleMin(kSub, nmax, xs, w, L + j * kSub, &mins[j], rmin, rdelta, nsteps);
        if (scales[j] > maxScale) maxScale = scales[j];
        if (mins[j] > maxMin) maxMin = mins[j];
    }
    const float invScale = maxScale > 0.0f ? 63.0f / maxScale : 0.0f;
    const float invMin = maxMin > 0.0f ? 63.0f / maxMin : 0.0f;
    std::memset(scalesOut, 0, kKScaleBytes);
    for (int j = 0; j < kSubs; ++j) {
        const uint8_t ls = uint8_t(std::min(63, nearestInt(invScale * scales[j]) & 0xff));
        const uint8_t lm = uint8_t(std::min(63, nearestInt(invMin * mins[j]) & 0xff));
        putScaleMin(scalesOut, j, ls, lm);
    }
    dOut = floatToF16(maxScale / 63.0f);
    dminOut = floatToF16(maxMin / 63.0f);
    for (int j = 0; j < kSubs; ++j) {
        uint8_t sc, mn;
        kScaleMin(scalesOut, j, sc, mn);
        const float d = f16ToFloat(dOut) * float(sc);
        if (d == 0.0f) continue;
        const float dm = f16ToFloat(dminOut) * float(mn);
        for (int l = 0; l < kSub; ++l)
            L[j * kSub + l] = uint8_t(std::max(0, std::min(nmax, nearestInt((x[j * kSub + l] + dm) / d))));
    }
}

} // namespace

void quantizeRowQ4_K(const float* x, BlockQ4_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kSuperBlockElements; ++b) {
        const float* xb = x + b * kSuperBlockElements;
        uint8_t L[kSuperBlockElements];
        quantizeSuperBlockK(xb, 15, -1.0f, 0.1f, 20, y[b].d, y[b].dmin, y[b].scales, L);
        for (int c = 0; c < kSubs / 2; ++c)
            for (int l = 0; l < kSub; ++l)
                y[b].qs[c * kSub + l] = uint8_t(L[2 * c * kSub + l] | (L[(2 * c + 1) * kSub + l] << 4));
    }
}

void dequantizeRowQ4_K(const BlockQ4_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kSuperBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d), dmin = f16ToFloat(x[b].dmin);
        float* out = y + b * kSuperBlockElements;
        for (int j = 0; j < kSubs; ++j) {
            uint8_t sc, mn;
            kScaleMin(x[b].scales, j, sc, mn);
            const float scale = d * float(sc), min = dmin * float(mn);
            const uint8_t* q = x[b].qs + (j / 2) * kSub;
            const int shift = (j % 2) * 4;
            for (int l = 0; l < kSub; ++l) out[j * kSub + l] = scale * float((q[l] >> shift) & 15) - min;
        }
    }
}

void quantizeRowQ5_K(const float* x, BlockQ5_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kSuperBlockElements; ++b) {
        const float* xb = x + b * kSuperBlockElements;
        uint8_t L[kSuperBlockElements];
        quantizeSuperBlockK(xb, 31, -0.5f, 0.1f, 15, y[b].d, y[b].dmin, y[b].scales, L);
        std::memset(y[b].qh, 0, sizeof y[b].qh);
        for (int c = 0; c < kSubs / 2; ++c)
            for (int l = 0; l < kSub; ++l) {
                const uint8_t lo = L[2 * c * kSub + l], hi = L[(2 * c + 1) * kSub + l];
                y[b].qs[c * kSub + l] = uint8_t((lo & 15) | ((hi & 15) << 4));
                y[b].qh[l] = uint8_t(y[b].qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
    }
}

void dequantizeRowQ5_K(const BlockQ5_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kSuperBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d), dmin = f16ToFloat(x[b].dmin);
        float* out = y + b * kSuperBlockElements;
        for (int j = 0; j < kSubs; ++j) {
            uint8_t sc, mn;
            kScaleMin(x[b].scales, j, sc, mn);
            const float scale = d * float(sc), min = dmin * float(mn);
            const uint8_t* q = x[b].qs + (j / 2) * kSub;
            const int shift = (j % 2) * 4;
            for (int l = 0; l < kSub; ++l) {
                const int v = ((q[l] >> shift) & 15) | (((x[b].qh[l] >> j) & 1) << 4);
                out[j * kSub + l] = scale * float(v) - min;
            }
        }
    }
}

void quantizeRowQ6_K(const float* x, BlockQ6_K* y, int64_t n) {
    constexpr int kGroups = kSuperBlockElements / 16;
    for (int64_t b = 0; b < n / kSuperBlockElements; ++b) {
        const float* xb = x + b * kSuperBlockElements;
        int8_t L[kSuperBlockElements];
        float scales[kGroups];
        float maxScale = 0.0f, maxAbsScale = 0.0f;
        for (int g = 0; g < kGroups; ++g) {
            scales[g] = fitScale(16, 32, xb + 16 * g, L + 16 * g);
            if (std::fabs(scales[g]) > maxAbsScale) {
                maxAbsScale = std::fabs(scales[g]);
                maxScale = scales[g];
            }
        }
        BlockQ6_K& out = y[b];
        if (maxAbsScale < 1e-15f) {
            std::memset(&out, 0, sizeof out);
            continue;
        }
        const float iscale = -128.0f / maxScale;
        out.d = floatToF16(1.0f / iscale);
        for (int g = 0; g < kGroups; ++g) out.scales[g] = int8_t(std::min(127, nearestInt(iscale * scales[g])));
        for (int g = 0; g < kGroups; ++g) {
            const float d = f16ToFloat(out.d) * float(out.scales[g]);
            if (d == 0.0f) continue;
            for (int i = 0; i < 16; ++i)
                L[16 * g + i] = int8_t(std::max(-32, std::min(31, nearestInt(xb[16 * g + i] / d))) + 32);
        }
        for (int h = 0; h < 2; ++h) {
            const int8_t* Lh = L + 128 * h;
            uint8_t* ql = out.ql + 64 * h;
            uint8_t* qh = out.qh + 32 * h;
            for (int l = 0; l < 32; ++l) {
                const int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
                ql[l] = uint8_t((q1 & 15) | ((q3 & 15) << 4));
                ql[l + 32] = uint8_t((q2 & 15) | ((q4 & 15) << 4));
                qh[l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void dequantizeRowQ6_K(const BlockQ6_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kSuperBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d);
        float* out = y + b * kSuperBlockElements;
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = x[b].ql + 64 * h;
            const uint8_t* qh = x[b].qh + 32 * h;
            const int8_t* sc = x[b].scales + 8 * h;
            float* o = out + 128 * h;
            for (int l = 0; l < 32; ++l) {
                const int s = l / 16;
                const int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                o[l] = d * float(sc[s]) * float(q1);
                o[l + 32] = d * float(sc[s + 2]) * float(q2);
                o[l + 64] = d * float(sc[s + 4]) * float(q3);
                o[l + 96] = d * float(sc[s + 6]) * float(q4);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Any type, unaligned bytes

namespace {

// Runs `codec` on one block at a time through an aligned copy (file rows need not be aligned).
template <class Block, class Fn>
void decodeBlocks(const uint8_t* src, float* dst, int64_t n, int perBlock, Fn codec) {
    for (int64_t b = 0; b < n / perBlock; ++b) {
        Block blk;
        std::memcpy(&blk, src + size_t(b) * sizeof(Block), sizeof(Block));
        codec(&blk, dst + b * perBlock, perBlock);
    }
}

template <class Block, class Fn>
void encodeBlocks(const float* src, uint8_t* dst, int64_t n, int perBlock, Fn codec) {
    for (int64_t b = 0; b < n / perBlock; ++b) {
        Block blk;
        codec(src + b * perBlock, &blk, perBlock);
        std::memcpy(dst + size_t(b) * sizeof(Block), &blk, sizeof(Block));
    }
}

} // namespace

void decodeRow(TensorType t, const uint8_t* src, float* dst, int64_t n) {
    switch (t) {
    case TensorType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case TensorType::F16:
    case TensorType::BF16:
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = t == TensorType::F16 ? f16ToFloat(h) : bf16ToFloat(h);
        }
        return;
    case TensorType::Q4_0: decodeBlocks<BlockQ4_0>(src, dst, n, kBlockElements, dequantizeRowQ4_0); return;
    case TensorType::Q5_0: decodeBlocks<BlockQ5_0>(src, dst, n, kBlockElements, dequantizeRowQ5_0); return;
    case TensorType::Q5_1: decodeBlocks<BlockQ5_1>(src, dst, n, kBlockElements, dequantizeRowQ5_1); return;
    case TensorType::Q8_0: decodeBlocks<BlockQ8_0>(src, dst, n, kBlockElements, dequantizeRowQ8_0); return;
    case TensorType::Q4_K: decodeBlocks<BlockQ4_K>(src, dst, n, kSuperBlockElements, dequantizeRowQ4_K); return;
    case TensorType::Q5_K: decodeBlocks<BlockQ5_K>(src, dst, n, kSuperBlockElements, dequantizeRowQ5_K); return;
    case TensorType::Q6_K: decodeBlocks<BlockQ6_K>(src, dst, n, kSuperBlockElements, dequantizeRowQ6_K); return;
    }
}

void encodeRow(TensorType t, const float* src, uint8_t* dst, int64_t n) {
    switch (t) {
    case TensorType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case TensorType::F16:
    case TensorType::BF16:
        for (int64_t i = 0; i < n; ++i) {
            const uint16_t h = t == TensorType::F16 ? floatToF16(src[i]) : floatToBf16(src[i]);
            std::memcpy(dst + 2 * i, &h, 2);
        }
        return;
    case TensorType::Q4_0: encodeBlocks<BlockQ4_0>(src, dst, n, kBlockElements, quantizeRowQ4_0); return;
    case TensorType::Q5_0: encodeBlocks<BlockQ5_0>(src, dst, n, kBlockElements, quantizeRowQ5_0); return;
    case TensorType::Q5_1: encodeBlocks<BlockQ5_1>(src, dst, n, kBlockElements, quantizeRowQ5_1); return;
    case TensorType::Q8_0: encodeBlocks<BlockQ8_0>(src, dst, n, kBlockElements, quantizeRowQ8_0); return;
    case TensorType::Q4_K: encodeBlocks<BlockQ4_K>(src, dst, n, kSuperBlockElements, quantizeRowQ4_K); return;
    case TensorType::Q5_K: encodeBlocks<BlockQ5_K>(src, dst, n, kSuperBlockElements, quantizeRowQ5_K); return;
    case TensorType::Q6_K: encodeBlocks<BlockQ6_K>(src, dst, n, kSuperBlockElements, quantizeRowQ6_K); return;
    }
}

} // namespace swarm::gguf
