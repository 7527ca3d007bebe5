#pragma once
// Weight and activation storage types of the engine, and the reference (scalar) conversions
// between them. Everything here is plain C++ and defines the numbers the SIMD kernels must
// reproduce.
//
// Q8_0 weights are GGUF's Q8_0 blocks (core/gguf_format.h: layout and reference codec): a Q8_0
// GGUF file is used straight from its memory mapping, without a copy.
//
// Q8 activations (the right-hand side of Q8_0 x Q8 dot products) use a float scale instead:
// they live only in scratch memory, so there is no file layout to match and the extra precision
// is free. 36 bytes per 32 values.
//
// Q4_0 (GGUF input only) is converted to Q8_0 on load with the same scale and q = nibble - 8:
// exact, no second rounding.
#include "core/gguf_format.h"

#include <cstddef>
#include <cstdint>

namespace swarm::engine {

constexpr int kQK = gguf::kBlockElements;   // elements per quantisation block
using gguf::BlockQ4_0;
using gguf::BlockQ8_0;

// The engine's storage types of weight matrices in memory (not ggml ids: Q4_0 is read, never kept).
enum class WType : uint8_t { F32 = 0, BF16 = 1, F16 = 2, Q8_0 = 3 };
constexpr int kWTypeCount = 4;

struct BlockQ8A {
    float d;              // float scale (activations)
    int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8A) == 36, "BlockQ8A is 36 bytes");

const char* wtypeName(WType t);                 // "f32", "bf16", "f16", "q8_0"
// Bytes of one row of `cols` elements; Q8_0 needs cols % 32 == 0.
size_t rowBytes(WType t, int64_t cols);

// Reference conversions of one row (n % 32 == 0); the Q8_0 and Q4_0 codecs are gguf::'s.
void convertRowQ4_0ToQ8_0(const BlockQ4_0* x, BlockQ8_0* y, int64_t n);   // exact
void quantizeRowQ8A(const float* x, BlockQ8A* y, int64_t n);                // reference for the kernels
// Any weight row to float, and float to any weight row (F16/BF16 round to nearest even).
void rowToFloat(WType t, const uint8_t* src, float* dst, int64_t n);
void rowFromFloat(WType t, const float* src, uint8_t* dst, int64_t n);

} // namespace swarm::engine
