#pragma once
// Conversions between float and the 16-bit storage types (IEEE half, bfloat16).
// Plain bit manipulation so that the torch-free engine and the file readers share them.
#include <cstdint>
#include <cstring>

namespace swarm {

inline float bf16ToFloat(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest even, as torch does; NaN stays NaN (quiet).
inline uint16_t floatToBf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x0040u);
    uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    return uint16_t((bits + rounding) >> 16);
}

inline float f16ToFloat(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400u) == 0) { mant <<= 1; --exp; }
            mant &= 0x3ffu;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest even with overflow to inf and gradual underflow, matching torch's .half().
inline uint16_t floatToF16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    uint32_t sign = (bits >> 16) & 0x8000u;
    uint32_t absBits = bits & 0x7fffffffu;
    if (absBits > 0x7f800000u) return uint16_t(sign | 0x7e00u);           // NaN
    if (absBits >= 0x477ff000u) return uint16_t(sign | 0x7c00u);          // overflow -> inf
    if (absBits < 0x38800000u) {                                           // subnormal or zero
        if (absBits < 0x33000000u) return uint16_t(sign);                 // below half of min subnormal
        // The half subnormal unit is 2^-24, so the result is the full mantissa shifted right.
        uint32_t exp = absBits >> 23;
        uint32_t mant = (absBits & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - exp;
        uint32_t result = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (result & 1u))) ++result;
        return uint16_t(sign | result);
    }
    uint32_t rounded = absBits + 0xfffu + ((absBits >> 13) & 1u);
    return uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}

} // namespace swarm
