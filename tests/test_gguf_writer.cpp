// The GGUF writer (export/gguf_writer) and the format's codecs (core/gguf_format), torch-free.
// Files are parsed back with a minimal GGUF parser written from the specification (gguf_test_parser.h),
// independent of the writer and of the engine's reader; block encodings are checked against blocks
// computed by hand. The export pipeline is tested in test_export.cpp.
#include "test_engine_util.h"
#include "gguf_test_parser.h"

#include "engine/gguf.h"
#include "export/gguf_writer.h"

#include "core/error.h"
#include "core/gguf_format.h"
#include "core/half.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstring>

using namespace swarm;
using namespace gguftest;

namespace {

uint16_t u16at(const std::vector<uint8_t>& b, size_t off) {
    uint16_t v;
    std::memcpy(&v, b.data() + off, 2);
    return v;
}

} // namespace

class TestGgufWriter : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

    std::string path(const std::string& name) const { return QDir(tmp_.path()).filePath(QString::fromStdString(name)).toStdString(); }

private slots:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void everyValueTypeAndLayout() {
        gguf::Writer w;
        w.set("a.u8", gguf::Value::u8(200));
        w.set("a.i8", gguf::Value::i8(-100));
        w.set("a.u16", gguf::Value::u16(60000));
        w.set("a.i16", gguf::Value::i16(-30000));
        w.set("a.u32", gguf::Value::u32(4000000000u));
        w.set("a.i32", gguf::Value::i32(-2000000000));
        w.set("a.f32", gguf::Value::f32(0.125f));
        w.set("a.bool", gguf::Value::boolean(true));
        w.set("a.str", gguf::Value::string("h\xc3\xa9llo"));
        w.set("a.u64", gguf::Value::u64(1ull << 40));
        w.set("a.i64", gguf::Value::i64(-(1ll << 40)));
        w.set("a.f64", gguf::Value::f64(-2.5));
        w.set("a.strs", gguf::Value::stringArray({"x", "", "y z"}));
        w.set("a.i32s", gguf::Value::int32Array({1, -3, 5}));
        w.set("a.u8s", gguf::Value::array(gguf::ValueType::UInt8, {gguf::Value::u8(1), gguf::Value::u8(2)}));
        w.set("a.bools", gguf::Value::array(gguf::ValueType::Bool, {gguf::Value::boolean(false)}));
        w.set("a.u32", gguf::Value::u32(7));        // replaced in place, order kept
        QVERIFY_THROWS_EXCEPTION(Error, gguf::Value::array(gguf::ValueType::UInt8, {gguf::Value::u16(1)}));
        QVERIFY_THROWS_EXCEPTION(Error, gguf::Value::array(gguf::ValueType::Array, {}));
        QVERIFY_THROWS_EXCEPTION(Error, w.set("general.alignment", gguf::Value::u64(32)));

        std::vector<float> t1(5, 1.5f), t2(64);
        for (size_t i = 0; i < t2.size(); ++i) t2[i] = float(i) - 20.0f;
        w.addTensor("t.one", {5}, gguf::TensorType::F32, [&](std::vector<uint8_t>& o) {
            gguf::encodeRows(gguf::TensorType::F32, t1.data(), 1, 5, o);
        });
        w.addTensor("t.two", {32, 2}, gguf::TensorType::Q8_0, [&](std::vector<uint8_t>& o) {
            gguf::encodeRows(gguf::TensorType::Q8_0, t2.data(), 2, 32, o);
        });
        w.addTensor("t.three", {3, 1}, gguf::TensorType::F16, [&](std::vector<uint8_t>& o) {
            gguf::encodeRows(gguf::TensorType::F16, t1.data(), 1, 3, o);
        });
        QVERIFY_THROWS_EXCEPTION(Error, w.addTensor("t.one", {5}, gguf::TensorType::F32, {}));
        QVERIFY_THROWS_EXCEPTION(Error, w.addTensor("q", {48}, gguf::TensorType::Q4_0, {}));      // not whole blocks
        QVERIFY_THROWS_EXCEPTION(Error, w.addTensor(std::string(64, 'n'), {4}, gguf::TensorType::F32, {}));
        QVERIFY_THROWS_EXCEPTION(Error, w.addTensor("five", {1, 1, 1, 1, 1}, gguf::TensorType::F32, {}));

        const std::string file = path("types.gguf");
        w.write(file);
        const PFile f = parseGguf(file);
        QCOMPARE(f.version, 3u);
        QCOMPARE(uint64_t(f.bytes.size()), w.fileSize());
        QCOMPARE(f.kv.size(), size_t(16));
        const std::vector<std::string> order = {"a.u8", "a.i8", "a.u16", "a.i16", "a.u32", "a.i32", "a.f32", "a.bool",
                                                "a.str", "a.u64", "a.i64", "a.f64", "a.strs", "a.i32s", "a.u8s", "a.bools"};
        for (size_t i = 0; i < order.size(); ++i) QCOMPARE(f.kv[i].first, order[i]);
        QCOMPARE(f.at("a.u8").type, 0u);   QCOMPARE(f.at("a.u8").u, uint64_t(200));
        QCOMPARE(f.at("a.i8").type, 1u);   QCOMPARE(f.at("a.i8").i, int64_t(-100));
        QCOMPARE(f.at("a.u16").type, 2u);  QCOMPARE(f.at("a.u16").u, uint64_t(60000));
        QCOMPARE(f.at("a.i16").type, 3u);  QCOMPARE(f.at("a.i16").i, int64_t(-30000));
        QCOMPARE(f.at("a.u32").type, 4u);  QCOMPARE(f.at("a.u32").u, uint64_t(7));
        QCOMPARE(f.at("a.i32").type, 5u);  QCOMPARE(f.at("a.i32").i, int64_t(-2000000000));
        QCOMPARE(f.at("a.f32").type, 6u);  QCOMPARE(f.at("a.f32").f, 0.125);
        QCOMPARE(f.at("a.bool").type, 7u); QCOMPARE(f.at("a.bool").u, uint64_t(1));
        QCOMPARE(f.at("a.str").type, 8u);  QCOMPARE(f.at("a.str").s, std::string("h\xc3\xa9llo"));
        QCOMPARE(f.at("a.u64").type, 10u); QCOMPARE(f.at("a.u64").u, uint64_t(1) << 40);
        QCOMPARE(f.at("a.i64").type, 11u); QCOMPARE(f.at("a.i64").i, -(int64_t(1) << 40));
        QCOMPARE(f.at("a.f64").type, 12u); QCOMPARE(f.at("a.f64").f, -2.5);
        const PValue& strs = f.at("a.strs");
        QCOMPARE(strs.type, 9u);
        QCOMPARE(strs.arrType, 8u);
        QCOMPARE(strs.arr.size(), size_t(3));
        QCOMPARE(strs.arr[2].s, std::string("y z"));
        QCOMPARE(strs.arr[1].s, std::string());
        QCOMPARE(f.at("a.i32s").arrType, 5u);
        QCOMPARE(f.at("a.i32s").arr[1].i, int64_t(-3));
        QCOMPARE(f.at("a.u8s").arrType, 0u);
        QCOMPARE(f.at("a.u8s").arr[1].u, uint64_t(2));
        QCOMPARE(f.at("a.bools").arrType, 7u);

        QCOMPARE(f.tensors.size(), size_t(3));
        QCOMPARE(f.dataStart % 32, uint64_t(0));
        // The gap between the infos and the data is zeros.
        for (uint64_t p = f.infosEnd; p < f.dataStart; ++p) QCOMPARE(int(f.bytes[size_t(p)]), 0);
        uint64_t running = 0;
        for (const PTensor& t : f.tensors) {
            QCOMPARE(t.offset % 32, uint64_t(0));
            QCOMPARE(t.offset, running);
            uint64_t n = 1;
            for (uint64_t d : t.dims) n *= d;
            running = (t.offset + ggmlBytes(t.type, n) + 31) / 32 * 32;
        }
        QCOMPARE(f.tensors[0].name, std::string("t.one"));
        QCOMPARE(f.tensors[0].type, 0u);
        QCOMPARE(f.tensors[1].dims, (std::vector<uint64_t>{32, 2}));
        QCOMPARE(f.tensors[1].type, 8u);
        QCOMPARE(f.tensors[2].type, 1u);
        float v;
        std::memcpy(&v, f.bytes.data() + f.dataStart + 16, 4);
        QCOMPARE(v, 1.5f);
        for (uint64_t p = f.dataStart + 20; p < f.dataStart + 32; ++p) QCOMPARE(int(f.bytes[size_t(p)]), 0);

        // The engine's reader agrees.
        engine::GgufFile g(file);
        QCOMPARE(g.dataOffset(), f.dataStart);
        QCOMPARE(g.tensors().size(), size_t(3));
    }

    void q8_0HandComputedBlocks() {
        // Block 0: all zeros -> d = 0, q = 0.
        // Block 1: x_i = (i - 16) / 2 except x_0 = -63.5: max |x| is negative; d = 63.5/127 = 0.5
        //          (f16 0x3800); q_0 = -127, q_i = i - 16.
        // Block 2: x_0 = 127 (d = 1, f16 0x3C00); ties x = 2.5 -> 3, x = -2.5 -> -3 (away from zero),
        //          x = 0.4999 -> 0, x = -126.5 -> -127.
        std::vector<float> x(96, 0.0f);
        for (int i = 1; i < 32; ++i) x[32 + size_t(i)] = float(i - 16) / 2.0f;
        x[32] = -63.5f;
        x[64] = 127.0f;
        x[65] = 2.5f;
        x[66] = -2.5f;
        x[67] = 0.4999f;
        x[68] = -126.5f;
        x[69] = 1.5f;
        std::vector<uint8_t> b;
        gguf::encodeRows(gguf::TensorType::Q8_0, x.data(), 1, 96, b);
        QCOMPARE(b.size(), size_t(3 * 34));
        QCOMPARE(u16at(b, 0), uint16_t(0));
        for (int i = 0; i < 32; ++i) QCOMPARE(int8_t(b[2 + size_t(i)]), int8_t(0));
        QCOMPARE(u16at(b, 34), uint16_t(0x3800));
        QCOMPARE(int8_t(b[36]), int8_t(-127));
        for (int i = 1; i < 32; ++i) QCOMPARE(int(int8_t(b[36 + size_t(i)])), i - 16);
        QCOMPARE(u16at(b, 68), uint16_t(0x3C00));
        const int expect2[] = {127, 3, -3, 0, -127, 2};
        for (int i = 0; i < 6; ++i) QCOMPARE(int(int8_t(b[70 + size_t(i)])), expect2[i]);
        for (int i = 6; i < 32; ++i) QCOMPARE(int8_t(b[70 + size_t(i)]), int8_t(0));
    }

    void q4_0HandComputedBlocks() {
        // Block 0: zeros -> d = 0 / -8 = -0.0 (f16 0x8000, as llama.cpp writes it), every nibble 8 (0x88).
        // Block 1: the largest magnitude is negative, x_0 = -8 -> d = -8 / -8 = 1 (0x3C00);
        //          q = floor(x + 8.5) clamped: x_0 -8 -> 0, x_1 7.6 -> 15 (clamped from 16),
        //          ties x_2 2.5 -> 11 and x_3 -2.5 -> 6 (half up), x_16 3 -> 11, x_31 -1 -> 7, others 8.
        // Block 2: the largest magnitude is positive, x_0 = 4 -> d = -0.5 (0xB800): q = floor(-2x + 8.5):
        //          x_0 4 -> 0, x_1 -3.5 -> 15, x_17 1 -> 6, x_18 -0.25 -> 9 (tie 8.5+0.5 -> 9), others 8.
        std::vector<float> x(96, 0.0f);
        x[32] = -8.0f; x[33] = 7.6f; x[34] = 2.5f; x[35] = -2.5f; x[48] = 3.0f; x[63] = -1.0f;
        x[64] = 4.0f; x[65] = -3.5f; x[81] = 1.0f; x[82] = -0.25f;
        std::vector<uint8_t> b;
        gguf::encodeRows(gguf::TensorType::Q4_0, x.data(), 1, 96, b);
        QCOMPARE(b.size(), size_t(3 * 18));
        QCOMPARE(u16at(b, 0), uint16_t(0x8000));
        for (int i = 0; i < 16; ++i) QCOMPARE(int(b[2 + size_t(i)]), 0x88);
        // q for block 1 by element; byte j = q_j | q_{j+16} << 4
        int q1[32];
        for (int& q : q1) q = 8;
        q1[0] = 0; q1[1] = 15; q1[2] = 11; q1[3] = 6; q1[16] = 11; q1[31] = 7;
        QCOMPARE(u16at(b, 18), uint16_t(0x3C00));
        const uint8_t expect1[16] = {0xB0, 0x8F, 0x8B, 0x86, 0x88, 0x88, 0x88, 0x88,
                                     0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x78};
        for (int j = 0; j < 16; ++j) {
            QCOMPARE(int(b[20 + size_t(j)]), int(expect1[j]));
            QCOMPARE(int(b[20 + size_t(j)]), q1[j] | (q1[j + 16] << 4));
        }
        QCOMPARE(u16at(b, 36), uint16_t(0xB800));
        const uint8_t expect2[16] = {0x80, 0x6F, 0x98, 0x88, 0x88, 0x88, 0x88, 0x88,
                                     0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
        for (int j = 0; j < 16; ++j) QCOMPARE(int(b[38 + size_t(j)]), int(expect2[j]));
    }

    // Q4_0 blocks decode within half a step of x (a whole step for values beyond 7.5 steps on the
    // side opposite the block's extreme, where q is clamped to 15); F16/BF16 rows are half.h's.
    void encodedRowsDecodeBack() {
        enginetest::Rand r(3);
        const int64_t n = 32 * 257;
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = float(r.normal() * (r.uniform() < 0.01 ? 5.0 : 0.05));
        std::vector<uint8_t> q8;
        gguf::encodeRows(gguf::TensorType::Q8_0, x.data(), 1, n, q8);
        QCOMPARE(q8.size(), size_t(n / 32 * 34));
        std::vector<float> back(static_cast<size_t>(n));
        gguf::dequantizeRowQ8_0(reinterpret_cast<const gguf::BlockQ8_0*>(q8.data()), back.data(), n);
        for (int64_t blk = 0; blk < n / 32; ++blk) {
            const float d = f16ToFloat(u16at(q8, size_t(blk) * 34));
            for (int i = 0; i < 32; ++i) {
                const size_t k = size_t(blk * 32 + i);
                // Half a step, plus the f16 rounding of the scale (2^-11 relative) over up to 127 steps.
                QVERIFY2(std::fabs(back[k] - x[k]) <= 0.5f * d + 127.0f * d / 2048.0f + 1e-7f,
                         qPrintable(QString::number(k)));
            }
        }
        std::vector<uint8_t> q4;
        gguf::encodeRows(gguf::TensorType::Q4_0, x.data(), 1, n, q4);
        std::vector<float> a(static_cast<size_t>(n));
        gguf::dequantizeRowQ4_0(reinterpret_cast<const gguf::BlockQ4_0*>(q4.data()), a.data(), n);
        for (int64_t blk = 0; blk < n / 32; ++blk) {
            const float d = std::fabs(f16ToFloat(u16at(q4, size_t(blk) * 18)));
            for (int i = 0; i < 32; ++i) {
                const size_t k = size_t(blk * 32 + i);
                const float step = std::fabs(x[k]) <= 7.5f * d ? 0.5f : 1.0f;
                QVERIFY2(std::fabs(a[k] - x[k]) <= d * step + 1e-3f * d + 1e-7f, qPrintable(QString::number(k)));
            }
        }
        std::vector<uint8_t> h;
        gguf::encodeRows(gguf::TensorType::BF16, x.data(), 1, 64, h);
        for (int i = 0; i < 64; ++i) QCOMPARE(u16at(h, size_t(2 * i)), floatToBf16(x[size_t(i)]));
        gguf::encodeRows(gguf::TensorType::F16, x.data(), 1, 64, h);
        for (int i = 0; i < 64; ++i) QCOMPARE(u16at(h, size_t(2 * i)), floatToF16(x[size_t(i)]));
    }

    void typeTable() {
        QCOMPARE(gguf::tensorBytes(gguf::TensorType::Q8_0, 64, 128), uint64_t(4 * 34));
        QCOMPARE(gguf::tensorBytes(gguf::TensorType::Q4_0, 32, 64), uint64_t(2 * 18));
        QCOMPARE(gguf::tensorBytes(gguf::TensorType::BF16, 3, 6), uint64_t(12));
        QVERIFY_THROWS_EXCEPTION(Error, gguf::rowBytes(gguf::TensorType::Q4_0, 48));
        QVERIFY(gguf::findTensorType(10) == nullptr);   // Q2_K: not handled
        // ggml's block sizes (ggml-common.h): Q5_0 22, Q5_1 24, Q4_K 144, Q5_K 176, Q6_K 210 bytes.
        QCOMPARE(gguf::rowBytes(gguf::TensorType::Q5_0, 64), uint64_t(2 * 22));
        QCOMPARE(gguf::rowBytes(gguf::TensorType::Q5_1, 64), uint64_t(2 * 24));
        QCOMPARE(gguf::rowBytes(gguf::TensorType::Q4_K, 512), uint64_t(2 * 144));
        QCOMPARE(gguf::rowBytes(gguf::TensorType::Q5_K, 512), uint64_t(2 * 176));
        QCOMPARE(gguf::rowBytes(gguf::TensorType::Q6_K, 512), uint64_t(2 * 210));
        QVERIFY_THROWS_EXCEPTION(Error, gguf::rowBytes(gguf::TensorType::Q4_K, 1408));
        QCOMPARE(int(gguf::kquantFallback(gguf::TensorType::Q4_K, 1408)), int(gguf::TensorType::Q5_0));
        QCOMPARE(int(gguf::kquantFallback(gguf::TensorType::Q5_K, 1408)), int(gguf::TensorType::Q5_1));
        QCOMPARE(int(gguf::kquantFallback(gguf::TensorType::Q6_K, 1408)), int(gguf::TensorType::Q8_0));
        QCOMPARE(int(gguf::kquantFallback(gguf::TensorType::Q4_K, 512)), int(gguf::TensorType::Q4_K));
        QCOMPARE(gguf::fileTypeOf(gguf::TensorType::Q4_K), 15u);       // Q4_K_M
        QCOMPARE(std::string(gguf::findTensorType(30)->name), std::string("BF16"));
        QCOMPARE(gguf::fileTypeOf(gguf::TensorType::Q8_0), 7u);
        QCOMPARE(gguf::fileTypeOf(gguf::TensorType::BF16), 32u);
        QCOMPARE(std::string(gguf::valueTypeName(gguf::ValueType::Float64)), std::string("FLOAT64"));
        QVERIFY(!gguf::isValueType(13));
    }
};

QTEST_GUILESS_MAIN(TestGgufWriter)
#include "test_gguf_writer.moc"
