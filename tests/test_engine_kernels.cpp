// Engine kernels against naive loops (every weight type, every instruction set this CPU runs,
// odd sizes), Q8_0 / Q4_0 / Q8 activation blocks against hand-computed values, and the thread pool.
#include "engine/kernels.h"
#include "engine/quant.h"
#include "core/thread_pool.h"

#include "core/error.h"
#include "core/half.h"

#include "test_engine_util.h"
#include "core/system.h"

#include <QtTest>

#include <atomic>
#include <cmath>
#include <thread>

using namespace swarm;
using namespace swarm::engine;

namespace {

std::vector<Isa> supportedIsas() {
    std::vector<Isa> out;
    for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
        if (isaSupported(i)) out.push_back(i);
    return out;
}

struct TestMatrix {
    Mat mat;
    std::vector<uint8_t> bytes;
    std::vector<float> values;      // what the weights are, as floats (after rounding to the type)
};

TestMatrix makeMatrix(WType type, int64_t rows, int64_t cols, uint64_t seed) {
    enginetest::Rand r(seed);
    TestMatrix m;
    std::vector<float> f(static_cast<size_t>(rows * cols));
    for (float& x : f) x = float(r.normal());
    // A few exact zeros, a large value and a block of zeros, to cover the quantiser's edges.
    if (!f.empty()) f[0] = 0.0f;
    if (f.size() > 5) f[5] = 9.5f;
    m.mat.type = type;
    m.mat.rows = rows;
    m.mat.cols = cols;
    m.mat.rowBytes = rowBytes(type, cols);
    m.bytes.resize(m.mat.rowBytes * size_t(rows));     // exact size: an over-read shows under ASan
    for (int64_t i = 0; i < rows; ++i) rowFromFloat(type, f.data() + i * cols, m.bytes.data() + size_t(i) * m.mat.rowBytes, cols);
    m.mat.data = m.bytes.data();
    m.values.resize(f.size());
    for (int64_t i = 0; i < rows; ++i) rowToFloat(type, m.mat.row(i), m.values.data() + i * cols, cols);
    return m;
}

} // namespace

class TestEngineKernels : public QObject {
    Q_OBJECT

private slots:
    void isaSelection() {
        QVERIFY(isaSupported(Isa::Scalar));
        const Kernels& k = kernelsFor(Isa::Scalar);
        QCOMPARE(int(k.isa), int(Isa::Scalar));
        const Kernels& best = kernelsFor(Isa::Auto);
        QVERIFY(isaSupported(best.isa));
        qInfo("instruction sets here: %s", [] {
            static std::string s;
            for (Isa i : supportedIsas()) s += std::string(isaName(i)) + " ";
            return s.c_str();
        }());
        Isa parsed;
        QVERIFY(parseIsa("avx2", parsed) && parsed == Isa::Avx2);
        QVERIFY(!parseIsa("sse9", parsed));
    }

    // gemm of every type, on every ISA, against a double-precision loop over the same values.
    void gemmMatchesNaive() {
        const int64_t floatCols[] = {1, 3, 8, 15, 16, 17, 31, 33, 64, 100, 257};
        const int64_t q8Cols[] = {32, 64, 96, 160, 1408};
        const int64_t kCols[] = {256, 512, 768};
        const int64_t rowsList[] = {1, 3, 4, 5, 9, 13};
        const int nList[] = {1, 2, 3, 4, 5, 7, 9};
        int checked = 0;
        for (Isa isa : supportedIsas()) {
            const Kernels& k = kernelsFor(isa);
            for (int t = 0; t < kWTypeCount; ++t) {
                const WType type = WType(t);
                for (int q8acts = 0; q8acts < (isQuantized(type) ? 2 : 1); ++q8acts) {
                    const int block = blockElements(type);
                    const std::vector<int64_t> colsList =
                        block == kQKK ? std::vector<int64_t>(std::begin(kCols), std::end(kCols))
                        : block == kQK ? std::vector<int64_t>(std::begin(q8Cols), std::end(q8Cols))
                                       : std::vector<int64_t>(std::begin(floatCols), std::end(floatCols));
                    for (int64_t cols : colsList) {
                        for (int64_t rows : rowsList) {
                            TestMatrix w = makeMatrix(type, rows, cols, uint64_t(rows * 1000 + cols + t));
                            for (int n : nList) {
                                // n activation rows, gathered through an index (reversed order, one repeat).
                                const int pool = n + 2;
                                enginetest::Rand r(uint64_t(n * 77 + cols));
                                std::vector<float> xs(static_cast<size_t>(pool * cols));
                                for (float& v : xs) v = float(r.normal());
                                std::vector<int32_t> idx(static_cast<size_t>(n));
                                for (int j = 0; j < n; ++j) idx[size_t(j)] = (j == n - 1 && n > 1) ? 0 : pool - 1 - j;
                                std::vector<BlockQ8A> xq;
                                std::vector<float> xUsed = xs;     // what the kernel's activations are
                                Act act;
                                if (q8acts) {
                                    xq.resize(static_cast<size_t>(pool * cols / kQK));
                                    for (int j = 0; j < pool; ++j) quantizeRowQ8A(xs.data() + j * cols, xq.data() + j * (cols / kQK), cols);
                                    for (int j = 0; j < pool; ++j)
                                        for (int64_t c = 0; c < cols; ++c) {
                                            const BlockQ8A& b = xq[size_t(j * (cols / kQK) + c / kQK)];
                                            xUsed[size_t(j * cols + c)] = b.d * float(b.qs[c % kQK]);
                                        }
                                    act.base = reinterpret_cast<const uint8_t*>(xq.data());
                                    act.stride = size_t(cols / kQK) * sizeof(BlockQ8A);
                                } else {
                                    act.base = reinterpret_cast<const uint8_t*>(xs.data());
                                    act.stride = size_t(cols) * 4;
                                }
                                act.idx = idx.data();
                                const int64_t ldy = rows + 3;
                                const float sentinel = -12345.0f;
                                std::vector<float> y(static_cast<size_t>(n * ldy), sentinel);
                                // Two calls over a split row range, as the thread pool makes them.
                                const int64_t split = rows / 2;
                                GemmFn fn = q8acts ? k.gemmQ[t] : k.gemm[t];
                                fn(w.mat, 0, split, act, n, y.data(), ldy);
                                fn(w.mat, split, rows, act, n, y.data(), ldy);
                                for (int j = 0; j < n; ++j) {
                                    const float* xj = xUsed.data() + idx[size_t(j)] * cols;
                                    for (int64_t rr = 0; rr < rows; ++rr) {
                                        double ref = 0, mag = 0;
                                        for (int64_t c = 0; c < cols; ++c) {
                                            ref += double(w.values[size_t(rr * cols + c)]) * double(xj[c]);
                                            mag += std::fabs(double(w.values[size_t(rr * cols + c)]) * double(xj[c]));
                                        }
                                        const double got = y[size_t(j * ldy + rr)];
                                        if (std::fabs(got - ref) > 1e-5 * mag + 1e-6)
                                            QFAIL(qPrintable(QString("%1 %2%3 rows %4 cols %5 n %6: y[%7][%8] = %9, expected %10")
                                                                 .arg(isaName(isa)).arg(wtypeName(type))
                                                                 .arg(q8acts ? " x q8" : "").arg(rows).arg(cols).arg(n)
                                                                 .arg(j).arg(rr).arg(got, 0, 'g', 9).arg(ref, 0, 'g', 9)));
                                    }
                                    for (int64_t rr = rows; rr < ldy; ++rr) QCOMPARE(y[size_t(j * ldy + rr)], sentinel);
                                }
                                ++checked;
                            }
                        }
                    }
                }
            }
        }
        qInfo("%d gemm configurations checked", checked);
    }

    // The SIMD activation quantisers give the reference's bytes exactly.
    void quantizeQ8AIdentical() {
        enginetest::Rand r(5);
        for (int64_t n : {32, 64, 512, 1408}) {
            std::vector<float> x(static_cast<size_t>(n));
            for (float& v : x) v = float(r.normal() * 3);
            std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
            // Ties after scaling: with max 127 the scale is 1, and x.5 rounds to even.
            std::vector<float> ties(static_cast<size_t>(n));
            for (int64_t i = 0; i < n; ++i) ties[size_t(i)] = i % kQK == 0 ? 127.0f : float(i % 7) - 3.5f;
            for (const std::vector<float>* in : {&x, &zeros, &ties}) {
                std::vector<BlockQ8A> ref(static_cast<size_t>(n / kQK));
                quantizeRowQ8A(in->data(), ref.data(), n);
                for (Isa isa : supportedIsas()) {
                    std::vector<BlockQ8A> got(static_cast<size_t>(n / kQK));
                    kernelsFor(isa).quantizeQ8A(in->data(), got.data(), n);
                    QVERIFY2(std::memcmp(ref.data(), got.data(), ref.size() * sizeof(BlockQ8A)) == 0, isaName(isa));
                }
            }
        }
    }

    void dotAndAxpy() {
        enginetest::Rand r(9);
        for (int64_t n : {1, 5, 16, 17, 64, 100}) {
            std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n)), y0(static_cast<size_t>(n));
            for (size_t i = 0; i < a.size(); ++i) {
                a[i] = float(r.normal());
                b[i] = float(r.normal());
                y0[i] = float(r.normal());
            }
            double ref = 0, mag = 0;
            for (size_t i = 0; i < a.size(); ++i) {
                ref += double(a[i]) * b[i];
                mag += std::fabs(double(a[i]) * b[i]);
            }
            for (Isa isa : supportedIsas()) {
                const Kernels& k = kernelsFor(isa);
                QVERIFY(std::fabs(k.dot(a.data(), b.data(), n) - ref) <= 1e-6 * mag + 1e-7);
                std::vector<float> y = y0;
                k.axpy(0.75f, a.data(), y.data(), n);
                for (size_t i = 0; i < y.size(); ++i) QVERIFY(std::fabs(y[i] - (y0[i] + 0.75f * a[i])) <= 1e-6f);
            }
        }
    }

    // y += a * row for the KV cache's row types: the row's dequantised values (rowToFloat) in
    // double, every ISA; the other types have no such kernel.
    void rowAxpyMatchesDequantised() {
        enginetest::Rand r(11);
        for (WType t : {WType::F32, WType::F16, WType::Q8_0})
            for (int64_t n : t == WType::Q8_0 ? std::vector<int64_t>{32, 64, 96} : std::vector<int64_t>{1, 5, 16, 17, 64, 100}) {
                std::vector<float> x(static_cast<size_t>(n)), y0(static_cast<size_t>(n)), deq(static_cast<size_t>(n));
                for (size_t i = 0; i < x.size(); ++i) {
                    x[i] = float(r.normal());
                    y0[i] = float(r.normal());
                }
                std::vector<uint8_t> row(rowBytes(t, n));
                rowFromFloat(t, x.data(), row.data(), n);
                rowToFloat(t, row.data(), deq.data(), n);
                for (Isa isa : supportedIsas()) {
                    const Kernels& k = kernelsFor(isa);
                    QVERIFY(k.rowAxpy[int(t)] != nullptr);
                    std::vector<float> y = y0;
                    k.rowAxpy[int(t)](-0.6f, row.data(), y.data(), n);
                    for (size_t i = 0; i < y.size(); ++i)
                        QVERIFY2(std::fabs(double(y[i]) - (double(y0[i]) - 0.6 * double(deq[i]))) <= 1e-6 * (1 + std::fabs(y0[i])),
                                 (std::string(isaName(isa)) + " " + wtypeName(t)).c_str());
                }
            }
        for (Isa isa : supportedIsas())
            for (WType t : {WType::BF16, WType::Q4_0, WType::Q4_K, WType::Q6_K}) QVERIFY(kernelsFor(isa).rowAxpy[int(t)] == nullptr);
    }

    // Q8_0 blocks against values computed by hand.
    void q8BlockByHand() {
        float x[32];
        for (int i = 0; i < 32; ++i) x[i] = -8.0f + 0.5f * float(i);      // -8 .. 7.5, max |x| = 8
        BlockQ8_0 b;
        gguf::quantizeRowQ8_0(x, &b, 32);
        QCOMPARE(b.d, floatToF16(8.0f / 127.0f));     // d = max|x| / 127 stored as half
        QCOMPARE(int(b.qs[0]), -127);                 // -8 * 127/8
        QCOMPARE(int(b.qs[16]), 0);                   // 0
        QCOMPARE(int(b.qs[31]), 119);                 // 7.5 * 15.875 = 119.06 -> 119
        QCOMPARE(int(b.qs[1]), -119);                 // -7.5 -> -119.06 -> -119
        QCOMPARE(int(b.qs[20]), 32);                  // 2 * 15.875 = 31.75 -> 32
        float back[32];
        gguf::dequantizeRowQ8_0(&b, back, 32);
        QCOMPARE(back[0], f16ToFloat(b.d) * -127.0f);
        for (int i = 0; i < 32; ++i) QVERIFY(std::fabs(back[i] - x[i]) <= 0.5f * 8.0f / 127.0f + 1e-3f);

        // Ties: weights round half away from zero (as llama.cpp's reference), activations half to even.
        float t[32] = {};
        t[0] = 127.0f;                                 // d = 1 exactly
        t[1] = 2.5f;
        t[2] = -2.5f;
        t[3] = 3.5f;
        gguf::quantizeRowQ8_0(t, &b, 32);
        QCOMPARE(int(b.qs[1]), 3);
        QCOMPARE(int(b.qs[2]), -3);
        QCOMPARE(int(b.qs[3]), 4);
        BlockQ8A a;
        quantizeRowQ8A(t, &a, 32);
        QCOMPARE(a.d, 1.0f);
        QCOMPARE(int(a.qs[1]), 2);
        QCOMPARE(int(a.qs[2]), -2);
        QCOMPARE(int(a.qs[3]), 4);

        // An all-zero block: scale 0, values 0, no division by zero.
        float z[32] = {};
        gguf::quantizeRowQ8_0(z, &b, 32);
        QCOMPARE(b.d, uint16_t(0));
        for (int i = 0; i < 32; ++i) QCOMPARE(int(b.qs[i]), 0);
        QCOMPARE(rowBytes(WType::Q8_0, 64), size_t(68));
        QCOMPARE(rowBytes(WType::BF16, 7), size_t(14));
    }

    // Q4_0 -> Q8_0 is exact: the same scale and q = nibble - 8.
    void q4ToQ8Exact() {
        BlockQ4_0 q4;
        q4.d = floatToF16(0.37f);
        for (int i = 0; i < 16; ++i) q4.qs[i] = uint8_t((i & 15) | (((15 - i) & 15) << 4));
        float ref[32];
        gguf::dequantizeRowQ4_0(&q4, ref, 32);
        QCOMPARE(ref[0], f16ToFloat(q4.d) * -8.0f);           // low nibble 0 of byte 0
        QCOMPARE(ref[16], f16ToFloat(q4.d) * 7.0f);           // high nibble 15 of byte 0
        QCOMPARE(ref[15], f16ToFloat(q4.d) * 7.0f);           // low nibble 15 of byte 15
        BlockQ8_0 q8;
        convertRowQ4_0ToQ8_0(&q4, &q8, 32);
        float back[32];
        gguf::dequantizeRowQ8_0(&q8, back, 32);
        for (int i = 0; i < 32; ++i) QCOMPARE(back[i], ref[i]);
    }

    void threadPoolRunsEveryTaskOnce() {
        for (int threads : {1, 2, 3, 8}) {
            ThreadPool pool(threads);
            QCOMPARE(pool.size(), threads);
            for (int tasks : {0, 1, 2, 7, 100, 1000}) {
                std::vector<std::atomic<int>> hits(static_cast<size_t>(std::max(tasks, 1)));
                for (auto& h : hits) h = 0;
                std::atomic<int> badThread{0};
                pool.parallelFor(tasks, [&](int task, int thread) {
                    hits[size_t(task)]++;
                    if (thread < 0 || thread >= threads) badThread++;
                });
                for (int t = 0; t < tasks; ++t) QCOMPARE(hits[size_t(t)].load(), 1);
                QCOMPARE(badThread.load(), 0);
            }
            // Many short runs back to back (the forward pass pattern).
            std::atomic<long> sum{0};
            for (int run = 0; run < 2000; ++run) pool.parallelFor(4, [&](int task, int) { sum += task; });
            QCOMPARE(sum.load(), 2000L * 6);
        }
    }

    void threadPoolSharedByThreads() {
        ThreadPool pool(3);
        std::atomic<long> total{0};
        auto client = [&] {
            for (int run = 0; run < 300; ++run) pool.parallelFor(16, [&](int task, int) { total += task; });
        };
        std::thread a(client), b(client);
        a.join();
        b.join();
        QCOMPARE(total.load(), 2L * 300 * 120);
        QVERIFY(availableCores() >= 1);
    }
};

QTEST_GUILESS_MAIN(TestEngineKernels)
#include "test_engine_kernels.moc"
