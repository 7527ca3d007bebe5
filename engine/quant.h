#pragma once
// Weight and activation storage types of the engine, and the reference (scalar) conversions
// between them. Everything here is plain C++ and defines the numbers the SIMD kernels must
// reproduce.
//
// Quantised weights are GGUF's blocks (core/gguf_format.h: layouts and reference codecs), so a
// GGUF file of any of these types is used straight from its memory mapping, without a copy:
// Q8_0, Q4_0, Q5_0, Q5_1 (blocks of 32) and Q4_K, Q5_K, Q6_K (super-blocks of 256).
//
// Q8 activations (the right-hand side of quantised dot products) use a float scale instead: they
// live only in scratch memory, so there is no file layout to match and the extra precision is
// free. Each block also carries the sums of its two halves of 16, which the weight types with an
// offset (a min, or q - 8 / q - 16 / q - 32) need once per block rather than once per weight row.
#include "core/gguf_format.h"

#include <cstddef>
#include <cstdint>

namespace swarm::engine {

constexpr int kQK = gguf::kBlockElements;   // elements per quantisation block
constexpr int kQKK = gguf::kSuperBlockElements;
using gguf::BlockQ4_0;
using gguf::BlockQ4_K;
using gguf::BlockQ5_0;
using gguf::BlockQ5_1;
using gguf::BlockQ5_K;
using gguf::BlockQ6_K;
using gguf::BlockQ8_0;

// The engine's storage types of weight matrices in memory (not ggml ids).
enum class WType : uint8_t { F32 = 0, BF16 = 1, F16 = 2, Q8_0 = 3, Q4_0 = 4, Q5_0 = 5, Q5_1 = 6, Q4_K = 7, Q5_K = 8, Q6_K = 9 };
constexpr int kWTypeCount = 10;

struct BlockQ8A {
    float d;              // float scale (activations)
    int16_t sum[2];       // sum of qs[0..15] and of qs[16..31]
    int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8A) == 40, "BlockQ8A is 40 bytes");

const char* wtypeName(WType t);                 // "f32", "bf16", "f16", "q8_0", "q4_0", ..., "q6_k"
bool isQuantized(WType t);                      // a block type: its products use Q8 activations
gguf::TensorType tensorTypeOf(WType t);
bool wtypeOf(gguf::TensorType t, WType& out);   // every type GGUF files may hold here
// Values per block (1 for the float types, 32, or 256 for the k-quants).
int blockElements(WType t);
// Bytes of one row of `cols` elements; cols must be a whole number of blocks.
size_t rowBytes(WType t, int64_t cols);

// Reference conversions of one row (n a whole number of blocks); the codecs are gguf::'s.
void convertRowQ4_0ToQ8_0(const BlockQ4_0* x, BlockQ8_0* y, int64_t n);   // exact
void quantizeRowQ8A(const float* x, BlockQ8A* y, int64_t n);                // reference for the kernels
// Any weight row to float, and float to any weight row (F16/BF16 round to nearest even).
void rowToFloat(WType t, const uint8_t* src, float* dst, int64_t n);
void rowFromFloat(WType t, const float* src, uint8_t* dst, int64_t n);

} // namespace swarm::engine
