// The engine's numeric core without Qt, so that the same source also runs cross-built for
// aarch64 under qemu (test_engine_aarch64, where Qt Test is not installed): a plain main that
// prints one line per failed check and ends with "N passed, N failed".
//
// 1. core/gguf_format's codecs against llama.cpp's own: tests/data/ggml_quant_vectors.bin holds
//    inputs, the bytes of ggml's reference quantisers and the floats of its dequantisers
//    (written by tools/gen-ggml-vectors.c from the libggml-base that node-llama-cpp ships), for
//    Q4_0, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K; ours must give the same bytes and floats.
// 2. Every kernel of every instruction set this CPU runs (NEON on ARM, AVX2 / AVX-512 on x86)
//    against the scalar kernels, for every weight type, float and Q8 activations.
// 3. A small model in a Q4_K_M-style GGUF (k-quants, fallbacks, Q8_0, Q6_K) through the whole
//    forward pass: the best ISA against the scalar one (float activations: 1e-5) and both
//    against the naive double reference (Q8 activations: 3e-2).
#include "engine/engine.h"
#include "engine/kernels.h"
#include "engine/quant.h"

#include "core/gguf_format.h"

#include "test_engine_util.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace swarm;
using namespace swarm::engine;

namespace {

int passed = 0, failed = 0;

void check(bool ok, const std::string& what) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::printf("FAIL: %s\n", what.c_str());
    }
}

// ---------------------------------------------------------------------------------------------
// 1. ggml's vectors

struct Reader {
    std::vector<uint8_t> bytes;
    size_t at = 0;
    bool ok = true;
    template <class T>
    T get() {
        T v{};
        if (at + sizeof(T) > bytes.size()) {
            ok = false;
            return v;
        }
        std::memcpy(&v, bytes.data() + at, sizeof(T));
        at += sizeof(T);
        return v;
    }
    std::vector<uint8_t> take(size_t n) {
        if (at + n > bytes.size()) {
            ok = false;
            return {};
        }
        std::vector<uint8_t> out(bytes.begin() + long(at), bytes.begin() + long(at + n));
        at += n;
        return out;
    }
    std::vector<float> floats(size_t n) {
        std::vector<uint8_t> b = take(n * 4);
        std::vector<float> out(b.size() / 4);
        if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
        return out;
    }
};

void ggmlVectors() {
    const std::string path = std::string(SWARM_TEST_DATA_DIR) + "/ggml_quant_vectors.bin";
    std::ifstream in(path, std::ios::binary);
    Reader r;
    r.bytes.assign(std::istreambuf_iterator<char>(in), {});
    check(r.bytes.size() > 12 && std::memcmp(r.bytes.data(), "GGQV", 4) == 0, path + " is readable");
    r.at = 4;
    const uint32_t version = r.get<uint32_t>(), cases = r.get<uint32_t>();
    check(version == 1 && cases == 7, "vector file version 1 with 7 cases");
    for (uint32_t c = 0; c < cases && r.ok; ++c) {
        const auto type = gguf::TensorType(r.get<uint32_t>());
        const uint32_t n = r.get<uint32_t>();
        const std::vector<float> x = r.floats(n);
        const std::vector<uint8_t> ggmlBytes = r.take(r.get<uint32_t>());
        const std::vector<float> ggmlFloats = r.floats(n);
        if (!r.ok) break;
        const std::string name = gguf::tensorTypeName(type);
        std::vector<uint8_t> ours(size_t(gguf::tensorBytes(type, n, n)));
        gguf::encodeRow(type, x.data(), ours.data(), int64_t(n));
        size_t firstDiff = ours.size();
        for (size_t i = 0; i < ours.size() && i < ggmlBytes.size(); ++i)
            if (ours[i] != ggmlBytes[i]) {
                firstDiff = i;
                break;
            }
        check(ours.size() == ggmlBytes.size() && firstDiff == ours.size(),
              name + ": quantised bytes equal ggml's reference quantiser's (first difference at byte " + std::to_string(firstDiff) + ")");
        std::vector<float> back(n);
        gguf::decodeRow(type, ggmlBytes.data(), back.data(), int64_t(n));
        size_t bad = 0;
        for (uint32_t i = 0; i < n; ++i) bad += std::memcmp(&back[i], &ggmlFloats[i], 4) != 0;
        check(bad == 0, name + ": dequantised floats equal ggml's bit for bit (" + std::to_string(bad) + " differ)");
        // The engine's unpacked form (every kernel's input) gives the same values, up to the
        // rounding of scale * q + min against ggml's own expression.
        const WType w = [&] {
            WType t = WType::F32;
            wtypeOf(type, t);
            return t;
        }();
        std::vector<float> viaKernel(n);
        rowToFloat(w, ggmlBytes.data(), viaKernel.data(), int64_t(n));
        double worst = 0;
        for (uint32_t i = 0; i < n; ++i) worst = std::max(worst, double(std::fabs(viaKernel[i] - ggmlFloats[i])));
        check(worst == 0, name + ": rowToFloat equals ggml's dequantiser");
    }
    check(r.ok && r.at == r.bytes.size(), "vector file read to its end");
}

// ---------------------------------------------------------------------------------------------
// 2. kernels: every ISA against the scalar ones

void kernelsAgainstScalar() {
    const Kernels& scalar = kernelsFor(Isa::Scalar);
    int configurations = 0;
    for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!isaSupported(isa)) continue;
        const Kernels& k = kernelsFor(isa);
        for (int t = 0; t < kWTypeCount; ++t) {
            const WType type = WType(t);
            const int block = blockElements(type);
            for (int64_t cols : block == 1 ? std::vector<int64_t>{17, 64, 100} : block == kQK ? std::vector<int64_t>{64, 1408}
                                                                                            : std::vector<int64_t>{256, 512}) {
                const int64_t rows = 9;
                enginetest::Rand r(uint64_t(t * 100 + cols));
                std::vector<float> wf(size_t(rows * cols));
                for (float& v : wf) v = float(0.1 * r.normal());
                const size_t rb = rowBytes(type, cols);
                std::vector<uint8_t> wb(rb * size_t(rows));
                for (int64_t i = 0; i < rows; ++i) rowFromFloat(type, wf.data() + i * cols, wb.data() + size_t(i) * rb, cols);
                Mat m;
                m.type = type;
                m.rows = rows;
                m.cols = cols;
                m.rowBytes = rb;
                m.data = wb.data();
                for (int n : {1, 2, 5}) {
                    std::vector<float> x(size_t(n * cols));
                    for (float& v : x) v = float(r.normal());
                    std::vector<BlockQ8A> xq(cols % kQK == 0 ? size_t(n * cols / kQK) : 0);
                    for (int j = 0; j < n && !xq.empty(); ++j)
                        scalar.quantizeQ8A(x.data() + j * cols, xq.data() + j * (cols / kQK), cols);
                    std::vector<BlockQ8A> xqSimd(xq.size());
                    for (int j = 0; j < n && !xq.empty(); ++j)
                        k.quantizeQ8A(x.data() + j * cols, xqSimd.data() + j * (cols / kQK), cols);
                    if (!xq.empty())
                        check(std::memcmp(xq.data(), xqSimd.data(), xq.size() * sizeof(BlockQ8A)) == 0,
                              std::string(isaName(isa)) + ": Q8 activation quantiser equals the scalar one");
                    for (int q8 = 0; q8 < (isQuantized(type) ? 2 : 1); ++q8) {
                        Act a;
                        if (q8) {
                            a.base = reinterpret_cast<const uint8_t*>(xq.data());
                            a.stride = size_t(cols / kQK) * sizeof(BlockQ8A);
                        } else {
                            a.base = reinterpret_cast<const uint8_t*>(x.data());
                            a.stride = size_t(cols) * 4;
                        }
                        std::vector<float> ys(size_t(n * rows)), yv(size_t(n * rows));
                        (q8 ? scalar.gemmQ[t] : scalar.gemm[t])(m, 0, rows, a, n, ys.data(), rows);
                        (q8 ? k.gemmQ[t] : k.gemm[t])(m, 0, rows, a, n, yv.data(), rows);
                        double worst = 0, mag = 0;
                        for (size_t i = 0; i < ys.size(); ++i) {
                            worst = std::max(worst, double(std::fabs(ys[i] - yv[i])));
                            mag = std::max(mag, double(std::fabs(ys[i])));
                        }
                        check(worst <= 1e-5 * std::max(1.0, mag), std::string(isaName(isa)) + " " + wtypeName(type) + (q8 ? " x q8" : "") +
                                                                       " cols " + std::to_string(cols) + " n " + std::to_string(n) +
                                                                       ": differs from scalar by " + std::to_string(worst));
                        ++configurations;
                    }
                }
            }
        }
    }
    // The KV cache's value rows (attention's y += p * v).
    for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!isaSupported(isa)) continue;
        for (WType type : {WType::F32, WType::F16, WType::Q8_0}) {
            const int64_t n = 64;
            enginetest::Rand r(uint64_t(int(type) + 500));
            std::vector<float> x(static_cast<size_t>(n)), ys(static_cast<size_t>(n)), yv;
            for (size_t i = 0; i < x.size(); ++i) {
                x[i] = float(r.normal());
                ys[i] = float(r.normal());
            }
            std::vector<uint8_t> row(rowBytes(type, n));
            rowFromFloat(type, x.data(), row.data(), n);
            yv = ys;
            scalar.rowAxpy[int(type)](0.3f, row.data(), ys.data(), n);
            kernelsFor(isa).rowAxpy[int(type)](0.3f, row.data(), yv.data(), n);
            double worst = 0;
            for (size_t i = 0; i < ys.size(); ++i) worst = std::max(worst, double(std::fabs(ys[i] - yv[i])));
            check(worst <= 1e-6, std::string(isaName(isa)) + " " + wtypeName(type) + " rowAxpy equals scalar (" + std::to_string(worst) + ")");
            ++configurations;
        }
    }
    std::printf("kernels: %d configurations against the scalar ones (best ISA here: %s)\n", configurations,
                isaName(kernelsFor(Isa::Auto).isa));
}

// ---------------------------------------------------------------------------------------------
// 3. a Q4_K_M-style file through the forward pass

void forwardOnMixedFile() {
    const ModelConfig c = enginetest::kquantConfig();
    const enginetest::Weights w = enginetest::randomWeights(c, 41);
    enginetest::GgufEdits mix;
    mix.tensorTypes = {{"token_embd.weight", 1}, {"attn_k.weight", 8}, {"attn_v.weight", 8}, {"attn_output.weight", 13},
                       {"blk.0.ffn_down_shexp.weight", 14}, {"blk.1.ffn_up_exps.weight", 6}, {"blk.1.ffn_gate_exps.weight", 7},
                       {"blk.1.ffn_up_shexp.weight", 2}};
    enginetest::Weights held;
    const std::string bytes = enginetest::eveGguf(c, w, 12, false, &held, mix).build();
    char name[] = "/tmp/swarm-portable-XXXXXX";
    const int fd = ::mkstemp(name);
    check(fd >= 0, "temporary file");
    if (fd < 0) return;
    check(::write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size()), "temporary file written");
    ::close(fd);
    const std::vector<int32_t> prompt = {15496, 11, 995, 0, 318, 257, 1332, 13};
    const auto ref = enginetest::referenceForward(c, held, prompt);
    const size_t V = size_t(c.vocab_size);
    std::vector<float> scalarF32;
    for (Isa isa : {Isa::Scalar, Isa::Auto})
        for (bool q8 : {false, true}) {
            LoadOptions o;
            o.threads = 2;
            o.isa = isa;
            o.quantizeActivations = q8;
            Model m = Model::load(name, o);
            Session s(m);
            s.prefill(prompt);
            const double err = enginetest::relativeError(s.logits(), ref.back().data(), V);
            std::printf("forward on the mixed file, %s, %s activations: relative logit error vs the reference %.3g\n",
                        isaName(m.isa()), q8 ? "q8" : "f32", err);
            check(err < (q8 ? 3e-2 : 1e-5), std::string("forward ") + isaName(m.isa()) + (q8 ? " q8" : " f32") + " against the reference");
            if (!q8 && isa == Isa::Scalar) scalarF32.assign(s.logits(), s.logits() + V);
            if (!q8 && isa == Isa::Auto)
                check(enginetest::relativeError(s.logits(), scalarF32.data(), V) < 1e-5, "forward: best ISA equals scalar (f32 activations)");
        }
    ::unlink(name);
}

} // namespace

int main() {
    try {
        ggmlVectors();
        kernelsAgainstScalar();
        forwardOnMixedFile();
    } catch (const std::exception& e) {
        check(false, std::string("exception: ") + e.what());
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
