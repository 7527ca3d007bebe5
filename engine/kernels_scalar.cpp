// Scalar kernels (the portable fallback the tests also run) and the kernel table selection.
#include "engine/kernels.h"
#include "engine/unpack.h"

#include "core/error.h"
#include "core/half.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

namespace swarm::engine {

namespace {

// Half -> float for all 65536 values: the scalar path converts F16 weights and Q8_0 scales
// through it (one load instead of a branchy conversion).
struct F16Table {
    float v[65536];
    F16Table() {
        for (uint32_t i = 0; i < 65536; ++i) v[i] = f16ToFloat(uint16_t(i));
    }
};
const float* f16Table() {
    static const F16Table* table = new F16Table();   // never freed: used until exit
    return table->v;
}

// Columns are processed in chunks: the chunk of one weight row is converted to float once and
// then dotted with every activation row.
constexpr int64_t kChunk = 256;

// dot of n floats with 8 independent partial sums (no reassociation needed by the compiler).
float dotF32(const float* a, const float* b, int64_t n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) s[l] += a[i + l] * b[i + l];
    for (; i < n; ++i) s[0] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

void axpyF32(float a, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// Converts elements [c0, c0 + len) of a weight row to float.
void loadChunk(WType type, const uint8_t* row, int64_t c0, int64_t len, float* out) {
    const float* table = f16Table();
    switch (type) {
    case WType::F32:
        std::memcpy(out, row + 4 * c0, size_t(len) * 4);
        return;
    case WType::BF16:
        for (int64_t i = 0; i < len; ++i) {
            uint16_t h;
            std::memcpy(&h, row + 2 * (c0 + i), 2);
            out[i] = bf16ToFloat(h);
        }
        return;
    case WType::F16:
        for (int64_t i = 0; i < len; ++i) {
            uint16_t h;
            std::memcpy(&h, row + 2 * (c0 + i), 2);
            out[i] = table[h];
        }
        return;
    case WType::Q8_0: {
        // c0 and len are multiples of 32 here.
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row) + c0 / kQK;
        for (int64_t k = 0; k < len / kQK; ++k) {
            const float d = table[b[k].d];
            for (int i = 0; i < kQK; ++i) out[k * kQK + i] = d * float(b[k].qs[i]);
        }
        return;
    }
    // The other block types: c0 is a multiple of kChunk (256) and len a multiple of 32.
    case WType::Q4_0: unpackToFloat<WType::Q4_0>(row, c0, len, out); return;
    case WType::Q5_0: unpackToFloat<WType::Q5_0>(row, c0, len, out); return;
    case WType::Q5_1: unpackToFloat<WType::Q5_1>(row, c0, len, out); return;
    case WType::Q4_K: unpackToFloat<WType::Q4_K>(row, c0, len, out); return;
    case WType::Q5_K: unpackToFloat<WType::Q5_K>(row, c0, len, out); return;
    case WType::Q6_K: unpackToFloat<WType::Q6_K>(row, c0, len, out); return;
    }
}

// y += a * row for the KV cache's row types, 256 values at a time through loadChunk.
template <WType T>
void rowAxpyScalar(float a, const uint8_t* row, float* y, int64_t n) {
    if (T == WType::F32) return axpyF32(a, reinterpret_cast<const float*>(row), y, n);
    float chunk[kChunk];
    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
        const int64_t len = n - c0 < kChunk ? n - c0 : kChunk;
        loadChunk(T, row, c0, len, chunk);
        axpyF32(a, chunk, y + c0, len);
    }
}

void gemmFloatScalar(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    float chunk[kChunk];
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* wr = w.row(r);
        for (int j = 0; j < n; ++j) y[j * ldy + r] = 0.0f;
        for (int64_t c0 = 0; c0 < w.cols; c0 += kChunk) {
            const int64_t len = w.cols - c0 < kChunk ? w.cols - c0 : kChunk;
            loadChunk(w.type, wr, c0, len, chunk);
            for (int j = 0; j < n; ++j) {
                const float* xj = reinterpret_cast<const float*>(x.row(j)) + c0;
                y[j * ldy + r] += dotF32(chunk, xj, len);
            }
        }
    }
}

// Q8_0 weights x Q8 activations: an exact int32 dot per block, scaled by both block scales.
void gemmQ8Q8Scalar(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    const float* table = f16Table();
    const int64_t nb = w.cols / kQK;
    for (int64_t r = r0; r < r1; ++r) {
        const BlockQ8_0* wb = reinterpret_cast<const BlockQ8_0*>(w.row(r));
        for (int j = 0; j < n; ++j) {
            const BlockQ8A* xb = reinterpret_cast<const BlockQ8A*>(x.row(j));
            float sum = 0.0f;
            for (int64_t b = 0; b < nb; ++b) {
                int32_t isum = 0;
                for (int i = 0; i < kQK; ++i) isum += int32_t(wb[b].qs[i]) * int32_t(xb[b].qs[i]);
                sum += float(isum) * (table[wb[b].d] * xb[b].d);
            }
            y[j * ldy + r] = sum;
        }
    }
}

// Unpacked weights (unpack.h) x Q8 activations: per group of 32, an exact int32 dot per half of
// 16, scaled by the half's weight scale and the activation scale, plus the mins times the
// activation sums.
template <WType T>
void gemmQuantScalar(const Mat& w, int64_t r0, int64_t r1, const Act& x, int n, float* y, int64_t ldy) {
    const int64_t groups = w.cols / kQK;
    Unpacked u;
    for (int64_t r = r0; r < r1; ++r) {
        for (int j = 0; j < n; ++j) y[j * ldy + r] = 0.0f;
        for (int64_t g0 = 0; g0 < groups; g0 += kUnpackGroups) {
            const int ng = int(std::min<int64_t>(kUnpackGroups, groups - g0));
            unpackRow<T>(w.row(r), g0, ng, u);
            for (int j = 0; j < n; ++j) {
                const BlockQ8A* xb = reinterpret_cast<const BlockQ8A*>(x.row(j)) + g0;
                float sum = 0.0f;
                for (int g = 0; g < ng; ++g) {
                    int32_t dots[2] = {0, 0};
                    for (int i = 0; i < kQK; ++i) dots[i / 16] += int32_t(u.q[g][i]) * int32_t(xb[g].qs[i]);
                    sum += xb[g].d * (u.scale[g][0] * float(dots[0]) + u.scale[g][1] * float(dots[1]) +
                                      u.min[g][0] * float(xb[g].sum[0]) + u.min[g][1] * float(xb[g].sum[1]));
                }
                y[j * ldy + r] += sum;
            }
        }
    }
}

Kernels makeScalar() {
    Kernels k;
    k.isa = Isa::Scalar;
    for (int t = 0; t < kWTypeCount; ++t) k.gemm[t] = gemmFloatScalar;
    k.gemmQ[int(WType::Q8_0)] = gemmQ8Q8Scalar;
    k.gemmQ[int(WType::Q4_0)] = gemmQuantScalar<WType::Q4_0>;
    k.gemmQ[int(WType::Q5_0)] = gemmQuantScalar<WType::Q5_0>;
    k.gemmQ[int(WType::Q5_1)] = gemmQuantScalar<WType::Q5_1>;
    k.gemmQ[int(WType::Q4_K)] = gemmQuantScalar<WType::Q4_K>;
    k.gemmQ[int(WType::Q5_K)] = gemmQuantScalar<WType::Q5_K>;
    k.gemmQ[int(WType::Q6_K)] = gemmQuantScalar<WType::Q6_K>;
    k.quantizeQ8A = quantizeRowQ8A;
    k.dot = dotF32;
    k.axpy = axpyF32;
    k.rowAxpy[int(WType::F32)] = rowAxpyScalar<WType::F32>;
    k.rowAxpy[int(WType::F16)] = rowAxpyScalar<WType::F16>;
    k.rowAxpy[int(WType::Q8_0)] = rowAxpyScalar<WType::Q8_0>;
    return k;
}

} // namespace

const Kernels* scalarKernels() {
    static const Kernels k = makeScalar();
    return &k;
}

const char* isaName(Isa isa) {
    switch (isa) {
    case Isa::Auto: return "auto";
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
    }
    return "?";
}

bool parseIsa(const char* s, Isa& out) {
    const std::string v = s ? s : "";
    for (Isa i : {Isa::Auto, Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
        if (v == isaName(i)) { out = i; return true; }
    return false;
}

bool isaSupported(Isa isa) {
    switch (isa) {
    case Isa::Auto:
    case Isa::Scalar:
        return true;
#if defined(__x86_64__) || defined(__i386__)
    case Isa::Avx2:
        __builtin_cpu_init();
        return avx2Kernels() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    case Isa::Avx512:
        __builtin_cpu_init();
        return avx512Kernels() && isaSupported(Isa::Avx2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512vnni");
#else
    case Isa::Avx2:
    case Isa::Avx512:
        return false;
#endif
    case Isa::Neon:
        return neonKernels() != nullptr;
    }
    return false;
}

Isa detectIsa() {
    if (const char* env = std::getenv("SWARM_ENGINE_ISA"); env && *env) {
        Isa forced;
        if (!parseIsa(env, forced))
            throw Error(std::string("SWARM_ENGINE_ISA='") + env + "' is not one of scalar, avx2, avx512, neon");
        if (forced != Isa::Auto) {
            if (!isaSupported(forced))
                throw Error(std::string("SWARM_ENGINE_ISA=") + env + ": this CPU or build does not support it");
            return forced;
        }
    }
    if (isaSupported(Isa::Avx512)) return Isa::Avx512;
    if (isaSupported(Isa::Avx2)) return Isa::Avx2;
    if (isaSupported(Isa::Neon)) return Isa::Neon;
    return Isa::Scalar;
}

const Kernels& kernelsFor(Isa isa) {
    if (isa == Isa::Auto) isa = detectIsa();
    if (!isaSupported(isa)) throw Error(std::string("instruction set ") + isaName(isa) + " is not supported on this CPU or build");
    switch (isa) {
    case Isa::Avx2: return *avx2Kernels();
    case Isa::Avx512: return *avx512Kernels();
    case Isa::Neon: return *neonKernels();
    default: return *scalarKernels();
    }
}

} // namespace swarm::engine
