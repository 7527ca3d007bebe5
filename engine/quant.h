#pragma once
// Weight and activation storage types of the engine, and the reference (scalar) conversions
// between them. Everything here is plain C++ and defines the numbers the SIMD kernels must
// reproduce.
//
// Q8_0 weights use the GGUF block exactly: an IEEE half scale d followed by 32 int8 values,
// 34 bytes per 32 weights, value = float(d) * q. Keeping GGUF's layout means a Q8_0 GGUF file is
// used straight from its memory mapping, without a copy. Quantising: d = max|x| / 127,
// q = round(x / d) (computed as x * (1/d), ties away from zero), d stored as half.
//
// Q8 activations (the right-hand side of Q8_0 x Q8 dot products) use a float scale instead:
// they live only in scratch memory, so there is no file layout to match and the extra precision
// is free. 36 bytes per 32 values.
//
// Q4_0 (GGUF input only): a half scale and 16 bytes of nibbles, value = d * (nibble - 8), low
// nibbles hold elements 0..15 and high nibbles 16..31. The engine converts Q4_0 to Q8_0 on load
// with the same scale and q = nibble - 8: exact, no second rounding.
#include <cstddef>
#include <cstdint>

namespace swarm::engine {

constexpr int kQK = 32;   // elements per quantisation block

enum class WType : uint8_t { F32 = 0, BF16 = 1, F16 = 2, Q8_0 = 3 };
constexpr int kWTypeCount = 4;

struct BlockQ8_0 {
    uint16_t d;           // IEEE half scale
    int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34, "BlockQ8_0 must match the GGUF layout");

struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "BlockQ4_0 must match the GGUF layout");

struct BlockQ8A {
    float d;              // float scale (activations)
    int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8A) == 36, "BlockQ8A is 36 bytes");

const char* wtypeName(WType t);                 // "f32", "bf16", "f16", "q8_0"
// Bytes of one row of `cols` elements; Q8_0 needs cols % 32 == 0.
size_t rowBytes(WType t, int64_t cols);

// Reference conversions of one row. Q8 variants need n % 32 == 0.
void quantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n);
void dequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t n);
void convertRowQ4_0ToQ8_0(const BlockQ4_0* x, BlockQ8_0* y, int64_t n);   // exact
void quantizeRowQ8A(const float* x, BlockQ8A* y, int64_t n);                // reference for the kernels
// Any weight row to float, and float to any weight row (F16/BF16 round to nearest even).
void rowToFloat(WType t, const uint8_t* src, float* dst, int64_t n);
void rowFromFloat(WType t, const float* src, uint8_t* dst, int64_t n);

} // namespace swarm::engine
