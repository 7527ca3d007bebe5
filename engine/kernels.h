#pragma once
// The engine's compute kernels, one table per instruction set. A model picks its table once at
// load time (Isa::Auto: the best one this CPU runs; SWARM_ENGINE_ISA=scalar|avx2|avx512|neon
// overrides Auto), so the scalar fallback and the SIMD paths can be run side by side in tests.
//
// The one kernel that matters is gemm: for weight rows r in [r0, r1) and activation rows
// j in [0, n), y[j * ldy + r] = dot(W[r], x_j), accumulated in float. n = 1 is the matrix-vector
// product of decode; n > 1 the matrix-matrix product of prefill and batched decode (the kernels
// tile rows x tokens so that each weight load feeds several tokens).
#include "engine/quant.h"

#include <cstdint>

namespace swarm::engine {

enum class Isa { Auto, Scalar, Avx2, Avx512, Neon };
const char* isaName(Isa isa);                    // "auto", "scalar", "avx2", "avx512", "neon"
bool parseIsa(const char* s, Isa& out);          // accepts the names above

// A weight matrix [rows, cols] in row-major order; rowBytes per row (see quant.h).
struct Mat {
    WType type = WType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t rowBytes = 0;
    const uint8_t* data = nullptr;
    const uint8_t* row(int64_t r) const { return data + size_t(r) * rowBytes; }
    size_t bytes() const { return size_t(rows) * rowBytes; }
};

// Activation rows: row j is at base + stride * (idx ? idx[j] : j). F32 rows for float kernels,
// BlockQ8A rows for the quantised-weight x Q8 kernels. The index lets the MoE feed an expert the rows of the
// tokens routed to it without gathering them.
struct Act {
    const uint8_t* base = nullptr;
    size_t stride = 0;
    const int32_t* idx = nullptr;
    const uint8_t* row(int j) const { return base + stride * size_t(idx ? idx[j] : j); }
};

using GemmFn = void (*)(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy);
// y[0..n) += a * row[0..n), the row dequantised (the values of a KV cache, see rowAxpy).
using RowAxpyFn = void (*)(float a, const uint8_t* row, float* y, int64_t n);

struct Kernels {
    Isa isa = Isa::Scalar;
    // Float activations, by weight type (WType order). For the quantised types the weights are
    // dequantised in registers (Q8_0) or a row chunk at a time and the activations stay float:
    // the exact path.
    GemmFn gemm[kWTypeCount] = {};
    // Quantised weights x Q8 activations (x rows are BlockQ8A): integer dots per block of 32, as
    // llama.cpp does; nullptr for the float types.
    GemmFn gemmQ[kWTypeCount] = {};
    void (*quantizeQ8A)(const float* x, BlockQ8A* y, int64_t n) = nullptr;   // n % 32 == 0
    float (*dot)(const float* a, const float* b, int64_t n) = nullptr;
    void (*axpy)(float a, const float* x, float* y, int64_t n) = nullptr;      // y += a * x
    // By row type: F32 (axpy itself), F16 and Q8_0 (n a multiple of 32); nullptr for the others.
    // Attention weighs the cached value rows with it.
    RowAxpyFn rowAxpy[kWTypeCount] = {};
};

// The best instruction set this CPU supports (honours SWARM_ENGINE_ISA when set).
Isa detectIsa();
bool isaSupported(Isa isa);
// The table for `isa` (Auto: detectIsa()); throws swarm::Error when the CPU lacks it.
const Kernels& kernelsFor(Isa isa);

// Per-ISA tables; the x86 and NEON ones return nullptr when not compiled in.
const Kernels* scalarKernels();
const Kernels* avx2Kernels();
const Kernels* avx512Kernels();
const Kernels* neonKernels();

} // namespace swarm::engine
