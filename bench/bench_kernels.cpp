// The engine's quantised matrix products alone, one core: how many bytes of weights per second
// each weight type's kernel consumes, per instruction set, with the weights in DRAM (a working
// set of several copies larger than the last-level cache, cycled) and in L2 (one small matrix,
// repeated). Decode is bound by the DRAM figure; a kernel whose L2 figure is not well above it
// is compute-bound, and then the memory bus waits on the kernel.
//
//   bench_kernels [--types q8_0,q4_0,q5_0,q4_k,q5_k,q6_k] [--isa auto|scalar|avx2|avx512|neon|all]
//                 [--tokens 1,4] [--seconds 0.3] [--cold-mib 256]
//
// Shapes: an expert's gate/up projection (1408 x 512) and its down projection (512 x 1408;
// k-quants need rows of whole super-blocks, so they use 512 x 1536 there), and the LM head
// (50304 x 512). Q8 activations as the forward pass makes them. Prints one line per
// (type, isa, shape, tokens): GB/s of weight bytes, and weights x tokens per nanosecond.
#include "engine/engine.h"
#include "engine/kernels.h"
#include "engine/quant.h"

#include "core/error.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace swarm;
using namespace swarm::engine;

namespace {

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) if (!item.empty()) out.push_back(item);
    return out;
}

// A whole positive number or a positive real, the whole argument; anything else ends the run
// with the flag and the value named (std::stoi would throw past main, or take "4x" as 4).
int positiveInt(const char* flag, const std::string& v) {
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 1 || n > 1 << 20) {
        std::fprintf(stderr, "bench_kernels: %s takes whole numbers from 1, not '%s'\n", flag, v.c_str());
        std::exit(2);
    }
    return int(n);
}

double positiveReal(const char* flag, const std::string& v) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(x > 0.0) || x > 3600.0) {
        std::fprintf(stderr, "bench_kernels: %s takes seconds above 0, not '%s'\n", flag, v.c_str());
        std::exit(2);
    }
    return x;
}

struct Matrices {
    Mat shape;                       // data of copy 0
    std::vector<uint8_t> bytes;      // `copies` matrices back to back
    int copies = 1;
};

Matrices makeMatrices(WType type, int64_t rows, int64_t cols, int copies, std::mt19937& rng) {
    Matrices m;
    m.copies = copies;
    m.shape.type = type;
    m.shape.rows = rows;
    m.shape.cols = cols;
    m.shape.rowBytes = rowBytes(type, cols);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> row(static_cast<size_t>(cols));
    std::vector<uint8_t> one(m.shape.bytes());
    for (int64_t r = 0; r < rows; ++r) {
        for (float& v : row) v = normal(rng);
        rowFromFloat(type, row.data(), one.data() + size_t(r) * m.shape.rowBytes, cols);
    }
    m.bytes.resize(one.size() * size_t(copies));
    for (int c = 0; c < copies; ++c) std::memcpy(m.bytes.data() + one.size() * size_t(c), one.data(), one.size());
    m.shape.data = m.bytes.data();
    return m;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs the product over copy after copy until `seconds` have passed; returns weight bytes per second.
double measure(const Kernels& k, const Matrices& m, const std::vector<BlockQ8A>& x, int tokens, double seconds,
               std::vector<float>& y) {
    Act a;
    a.base = reinterpret_cast<const uint8_t*>(x.data());
    a.stride = sizeof(BlockQ8A) * size_t(m.shape.cols / kQK);
    GemmFn fn = k.gemmQ[int(m.shape.type)];
    Mat w = m.shape;
    for (int c = 0; c < std::min(m.copies, 2); ++c) {   // warm-up (and page-in)
        w.data = m.bytes.data() + m.shape.bytes() * size_t(c);
        fn(w, 0, w.rows, a, tokens, y.data(), w.rows);
    }
    size_t done = 0;
    int c = 0;
    const auto t0 = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
        w.data = m.bytes.data() + m.shape.bytes() * size_t(c);
        fn(w, 0, w.rows, a, tokens, y.data(), w.rows);
        done += m.shape.bytes();
        c = (c + 1) % m.copies;
        elapsed = secondsSince(t0);
    } while (elapsed < seconds);
    return double(done) / elapsed;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> types = {"q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"};
    std::string isaArg = "all";
    std::vector<int> tokenCounts = {1, 4};
    double seconds = 0.3;
    int coldMiB = 256;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_kernels: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--types") types = split(next());
        else if (a == "--isa") isaArg = next();
        else if (a == "--tokens") {
            tokenCounts.clear();
            for (const std::string& t : split(next())) tokenCounts.push_back(positiveInt("--tokens", t));
            if (tokenCounts.empty()) positiveInt("--tokens", "");
        } else if (a == "--seconds") seconds = positiveReal("--seconds", next());
        else if (a == "--cold-mib") coldMiB = positiveInt("--cold-mib", next());
        else {
            std::fprintf(stderr, "usage: bench_kernels [--types LIST] [--isa auto|scalar|avx2|avx512|neon|all] "
                                 "[--tokens 1,4] [--seconds S] [--cold-mib N]\n");
            return 2;
        }
    }
    std::vector<Isa> isas;
    if (isaArg == "all") {
        for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
            if (isaSupported(i)) isas.push_back(i);
    } else {
        Isa i;
        if (!parseIsa(isaArg.c_str(), i)) {
            std::fprintf(stderr, "bench_kernels: unknown instruction set '%s'\n", isaArg.c_str());
            return 2;
        }
        isas.push_back(i == Isa::Auto ? detectIsa() : i);
    }

    struct Shape {
        const char* name;
        int64_t rows, cols, colsK;   // colsK: the k-quants' width where cols is not whole super-blocks
    };
    const Shape shapes[] = {{"gate/up 1408x512", 1408, 512, 512}, {"down 512x1408", 512, 1408, 1536}, {"head 50304x512", 50304, 512, 512}};
    std::mt19937 rng(7);
    std::printf("one thread; DRAM: %d MiB of copies cycled; L2: one copy repeated (head: DRAM only); %.2f s each\n",
                coldMiB, seconds);
    std::printf("%-6s %-7s %-18s %6s %12s %12s %14s\n", "type", "isa", "shape", "tokens", "DRAM GB/s", "L2 GB/s", "weights*tok/ns");
    try {
        for (const std::string& tn : types) {
            WType type;
            if (!engine::parseWType(tn, type) || !isQuantized(type)) {
                std::fprintf(stderr, "bench_kernels: '%s' is not a quantised weight type\n", tn.c_str());
                return 2;
            }
            for (const Shape& s : shapes) {
                const bool kquant = blockElements(type) == kQKK;
                const int64_t cols = kquant ? s.colsK : s.cols;
                const size_t bytes = rowBytes(type, cols) * size_t(s.rows);
                const int copies = int(std::max<size_t>(2, (size_t(coldMiB) << 20) / bytes));
                Matrices cold = makeMatrices(type, s.rows, cols, copies, rng);
                const bool head = s.rows > 10000;
                Matrices hot;
                if (!head) hot = makeMatrices(type, s.rows, cols, 1, rng);
                const int maxTokens = *std::max_element(tokenCounts.begin(), tokenCounts.end());
                std::vector<float> xf(static_cast<size_t>(cols * maxTokens));
                std::normal_distribution<float> normal(0.0f, 1.0f);
                for (float& v : xf) v = normal(rng);
                std::vector<BlockQ8A> xq(static_cast<size_t>(cols / kQK * maxTokens));
                for (int t = 0; t < maxTokens; ++t) quantizeRowQ8A(xf.data() + size_t(t) * size_t(cols), xq.data() + size_t(t) * size_t(cols / kQK), cols);
                std::vector<float> y(static_cast<size_t>(s.rows * maxTokens));
                for (Isa isa : isas) {
                    const Kernels& k = kernelsFor(isa);
                    for (int tokens : tokenCounts) {
                        const double dram = measure(k, cold, xq, tokens, seconds, y);
                        const double l2 = head ? 0.0 : measure(k, hot, xq, tokens, seconds, y);
                        const double rate = (head ? dram : l2) / double(rowBytes(type, cols)) * double(cols) * tokens / 1e9;
                        char l2s[32] = "-";
                        if (!head) std::snprintf(l2s, sizeof l2s, "%.2f", l2 / 1e9);
                        std::printf("%-6s %-7s %-18s %6d %12.2f %12s %14.2f\n", wtypeName(type), isaName(isa), s.name, tokens,
                                    dram / 1e9, l2s, rate);
                        std::fflush(stdout);
                    }
                }
            }
        }
    } catch (const swarm::Error& e) {
        std::fprintf(stderr, "bench_kernels: %s\n", e.what());
        return 1;
    }
    return 0;
}
