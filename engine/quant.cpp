#include "engine/quant.h"

#include <cmath>
#include <cstring>

namespace swarm::engine {

const char* wtypeName(WType t) {
    switch (t) {
    case WType::F32: return "f32";
    case WType::BF16: return "bf16";
    case WType::F16: return "f16";
    case WType::Q8_0: return "q8_0";
    case WType::Q4_0: return "q4_0";
    case WType::Q5_0: return "q5_0";
    case WType::Q5_1: return "q5_1";
    case WType::Q4_K: return "q4_k";
    case WType::Q5_K: return "q5_k";
    case WType::Q6_K: return "q6_k";
    }
    return "?";
}

bool isQuantized(WType t) { return t != WType::F32 && t != WType::BF16 && t != WType::F16; }

gguf::TensorType tensorTypeOf(WType t) {
    using T = gguf::TensorType;
    switch (t) {
    case WType::F32: return T::F32;
    case WType::BF16: return T::BF16;
    case WType::F16: return T::F16;
    case WType::Q8_0: return T::Q8_0;
    case WType::Q4_0: return T::Q4_0;
    case WType::Q5_0: return T::Q5_0;
    case WType::Q5_1: return T::Q5_1;
    case WType::Q4_K: return T::Q4_K;
    case WType::Q5_K: return T::Q5_K;
    case WType::Q6_K: return T::Q6_K;
    }
    return T::F32;
}

bool wtypeOf(gguf::TensorType t, WType& out) {
    for (int i = 0; i < kWTypeCount; ++i)
        if (tensorTypeOf(WType(i)) == t) {
            out = WType(i);
            return true;
        }
    return false;
}

int blockElements(WType t) {
    return int(gguf::findTensorType(uint32_t(tensorTypeOf(t)))->blockElements);
}

size_t rowBytes(WType t, int64_t cols) {
    const gguf::TensorTypeInfo* info = gguf::findTensorType(uint32_t(tensorTypeOf(t)));
    return size_t(cols / info->blockElements) * info->blockBytes;
}

void convertRowQ4_0ToQ8_0(const BlockQ4_0* x, BlockQ8_0* y, int64_t n) {
    const int64_t nb = n / kQK;
    for (int64_t b = 0; b < nb; ++b) {
        y[b].d = x[b].d;
        for (int i = 0; i < kQK / 2; ++i) {
            y[b].qs[i] = int8_t(int(x[b].qs[i] & 0x0f) - 8);
            y[b].qs[i + kQK / 2] = int8_t(int(x[b].qs[i] >> 4) - 8);
        }
    }
}

// Round half to even (the SIMD kernels' cvtps rounding), so that every ISA gives the same bytes.
void quantizeRowQ8A(const float* x, BlockQ8A* y, int64_t n) {
    const int64_t nb = n / kQK;
    for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + b * kQK;
        float amax = 0.0f;
        for (int i = 0; i < kQK; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = d;
        int s0 = 0, s1 = 0;
        for (int i = 0; i < kQK; ++i) {
            y[b].qs[i] = int8_t(std::nearbyint(xb[i] * id));
            (i < kQK / 2 ? s0 : s1) += y[b].qs[i];
        }
        y[b].sum[0] = int16_t(s0);
        y[b].sum[1] = int16_t(s1);
    }
}

void rowToFloat(WType t, const uint8_t* src, float* dst, int64_t n) { gguf::decodeRow(tensorTypeOf(t), src, dst, n); }

void rowFromFloat(WType t, const float* src, uint8_t* dst, int64_t n) { gguf::encodeRow(tensorTypeOf(t), src, dst, n); }

} // namespace swarm::engine
