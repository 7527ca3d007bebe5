#include "engine/quant.h"

#include "core/half.h"

#include <cmath>
#include <cstring>

namespace swarm::engine {

const char* wtypeName(WType t) {
    switch (t) {
    case WType::F32: return "f32";
    case WType::BF16: return "bf16";
    case WType::F16: return "f16";
    case WType::Q8_0: return "q8_0";
    }
    return "?";
}

size_t rowBytes(WType t, int64_t cols) {
    switch (t) {
    case WType::F32: return size_t(cols) * 4;
    case WType::BF16:
    case WType::F16: return size_t(cols) * 2;
    case WType::Q8_0: return size_t(cols / kQK) * sizeof(BlockQ8_0);
    }
    return 0;
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
        for (int i = 0; i < kQK; ++i) y[b].qs[i] = int8_t(std::nearbyint(xb[i] * id));
    }
}

void rowToFloat(WType t, const uint8_t* src, float* dst, int64_t n) {
    switch (t) {
    case WType::F32:
        std::memcpy(dst, src, size_t(n) * 4);
        return;
    case WType::BF16:
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = bf16ToFloat(h);
        }
        return;
    case WType::F16:
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = f16ToFloat(h);
        }
        return;
    case WType::Q8_0:
        gguf::dequantizeRowQ8_0(reinterpret_cast<const BlockQ8_0*>(src), dst, n);
        return;
    }
}

void rowFromFloat(WType t, const float* src, uint8_t* dst, int64_t n) {
    switch (t) {
    case WType::F32:
        std::memcpy(dst, src, size_t(n) * 4);
        return;
    case WType::BF16:
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h = floatToBf16(src[i]);
            std::memcpy(dst + 2 * i, &h, 2);
        }
        return;
    case WType::F16:
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h = floatToF16(src[i]);
            std::memcpy(dst + 2 * i, &h, 2);
        }
        return;
    case WType::Q8_0:
        gguf::quantizeRowQ8_0(src, reinterpret_cast<BlockQ8_0*>(dst), n);
        return;
    }
}

} // namespace swarm::engine
