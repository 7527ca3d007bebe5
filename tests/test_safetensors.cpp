// SafetensorsReader / writeSafetensors: round trips, every malformed-input check, and a seeded
// mutation fuzz that must only ever produce a valid reader or a swarm::Error.
#include "core/error.h"
#include "core/safetensors.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace swarm;

namespace {

std::vector<uint8_t> randomBytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = uint8_t(rng());
    return v;
}

void writeBytes(const std::string& path, const std::string& bytes) {
    // A fresh file each time: truncating and rewriting a file makes ext4 flush it on close
    // (auto_da_alloc), which turns thousands of small rewrites into seconds of disk waits.
    std::remove(path.c_str());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string lengthField(uint64_t n) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[size_t(i)] = char(uint8_t(n >> (8 * i)));
    return s;
}

// A file made by hand: the header text (its length is computed) and the data section.
std::string rawFile(const std::string& header, const std::string& data = {}) {
    return lengthField(header.size()) + header + data;
}

// Opens `path` and returns the swarm::Error message, or "<no error>" when it opened.
std::string openError(const std::string& path) {
    try {
        SafetensorsReader r(path);
        return "<no error>";
    } catch (const Error& e) {
        return e.what();
    }
}

std::vector<std::string> listDir(const QString& dir) {
    std::vector<std::string> out;
    for (const QString& n : QDir(dir).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot))
        out.push_back(n.toStdString());
    return out;
}

} // namespace

class TestSafetensors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::string path(const char* name) const { return QDir(tmp_.path()).filePath(name).toStdString(); }

    // Writes a hand-made file and checks that opening it fails with a message naming the file
    // and containing every one of `parts`.
    void expectBad(const char* fileName, const std::string& bytes, const std::vector<std::string>& parts) {
        const std::string p = path(fileName);
        writeBytes(p, bytes);
        const std::string msg = openError(p);
        QVERIFY2(msg.find(p) != std::string::npos, ("message does not name the file: " + msg).c_str());
        for (const std::string& part : parts)
            QVERIFY2(msg.find(part) != std::string::npos, ("expected '" + part + "' in: " + msg).c_str());
    }

private slots:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void numelAndShapeString() {
        TensorInfo t;
        QCOMPARE(t.numel(), int64_t(1));   // a scalar
        t.shape = {3, 4};
        QCOMPARE(t.numel(), int64_t(12));
        t.shape = {5, 0, 7};
        QCOMPARE(t.numel(), int64_t(0));
        QCOMPARE(shapeToString({3, 4}), std::string("[3, 4]"));
        QCOMPARE(shapeToString({}), std::string("[]"));
        QCOMPARE(shapeToString({7}), std::string("[7]"));
        t.begin = 16;
        t.end = 64;
        QCOMPARE(t.nbytes(), uint64_t(48));
    }

    void roundTrip() {
        const std::string p = path("round.safetensors");
        // Random bit patterns (NaN payloads, subnormals) must come back bit-identical.
        auto f32 = randomBytes(2 * 3 * 4, 1);
        auto f16 = randomBytes(5 * 2, 2);
        auto bf16 = randomBytes(3 * 1 * 7 * 2, 3);
        auto big = randomBytes(1000 * 33 * 4, 4);
        std::vector<TensorView> in = {
            {"z.last.weight", DType::F32, {2, 3}, f32.data(), f32.size()},
            {"a.half", DType::F16, {5}, f16.data(), f16.size()},
            {"m.brain", DType::BF16, {3, 1, 7}, bf16.data(), bf16.size()},
            {"big", DType::F32, {1000, 33}, big.data(), big.size()},
        };
        const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "héllo \"quoted\"\n"}};
        writeSafetensors(p, in, meta);

        SafetensorsReader r(p);
        QCOMPARE(r.path(), p);
        QCOMPARE(r.tensors().size(), in.size());
        QCOMPARE(r.metadata(), meta);
        uint64_t expectedOffset = 0;
        for (size_t i = 0; i < in.size(); ++i) {
            const TensorInfo& t = r.tensors()[i];
            QCOMPARE(t.name, in[i].name);   // header order, not alphabetical
            QCOMPARE(t.dtype, in[i].dtype);
            QCOMPARE(t.shape, in[i].shape);
            QCOMPARE(t.nbytes(), in[i].nbytes);
            QCOMPARE(t.begin, expectedOffset);   // packed back to back, as the reference writer does
            expectedOffset = t.end;
            QVERIFY(std::memcmp(r.data(t), in[i].data, in[i].nbytes) == 0);
            QCOMPARE(r.find(in[i].name), &t);
        }
        QVERIFY(r.find("missing") == nullptr);

        // Layout: the header length is a multiple of 8, padded with spaces, data follows at once.
        std::ifstream f(p, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        QCOMPARE(uint64_t(bytes.size()), r.fileSize());
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
        QCOMPARE(n % 8, uint64_t(0));
        QCOMPARE(8 + n + expectedOffset, uint64_t(bytes.size()));
        QCOMPARE(bytes[8], '{');
        const std::string header = bytes.substr(8, size_t(n));
        QVERIFY(header.find_last_not_of(' ') == header.find_last_of('}'));
        QCOMPARE(reinterpret_cast<uintptr_t>(r.data(r.tensors()[0])) % 8, uintptr_t(0));
        QCOMPARE(listDir(tmp_.path()), std::vector<std::string>{"round.safetensors"});   // no temporaries
        QVERIFY(QFile::remove(QString::fromStdString(p)));
    }

    void scalarsAndEmptyTensors() {
        const std::string p = path("scalars.safetensors");
        float one = 1.5f;
        uint16_t h = 0x3c00;
        std::vector<TensorView> in = {
            {"scalar", DType::F32, {}, &one, 4},
            {"empty", DType::F32, {0, 5}, nullptr, 0},
            {"half_scalar", DType::BF16, {}, &h, 2},
            {"empty2", DType::F16, {3, 0}, nullptr, 0},
            {"empty1d", DType::BF16, {0}, nullptr, 0},
        };
        writeSafetensors(p, in);
        SafetensorsReader r(p);
        QCOMPARE(r.tensors().size(), size_t(5));
        QVERIFY(r.metadata().empty());
        const TensorInfo* s = r.find("scalar");
        QVERIFY(s);
        QCOMPARE(s->shape, std::vector<int64_t>{});
        QCOMPARE(s->numel(), int64_t(1));
        float back;
        std::memcpy(&back, r.data(*s), 4);
        QCOMPARE(back, 1.5f);
        QCOMPARE(r.find("empty")->numel(), int64_t(0));
        QCOMPARE(r.find("empty")->nbytes(), uint64_t(0));
        QCOMPARE(r.find("empty2")->shape, (std::vector<int64_t>{3, 0}));
        uint16_t hb;
        std::memcpy(&hb, r.data(*r.find("half_scalar")), 2);
        QCOMPARE(hb, h);
    }

    void noTensors() {
        const std::string p = path("none.safetensors");
        writeSafetensors(p, {});
        SafetensorsReader r(p);
        QVERIFY(r.tensors().empty());
        QCOMPARE(r.fileSize(), uint64_t(16));   // 8 + "{}" padded to 8
        // A hand-made file with the minimal header "{}" (not padded) is valid too.
        writeBytes(p, rawFile("{}"));
        SafetensorsReader r2(p);
        QVERIFY(r2.tensors().empty());
        QVERIFY(r2.metadata().empty());
        // Only metadata.
        writeSafetensors(p, {}, {{"format", "pt"}});
        SafetensorsReader r3(p);
        QCOMPARE(r3.metadata().at("format"), std::string("pt"));
    }

    void headerTextMatchesReferenceLayout() {
        // Compact JSON, "__metadata__" first, tensors in the given order, packed back to back,
        // the header padded with spaces to a multiple of 8: what the reference writer produces
        // (apart from its own tensor order) and what its reader requires (no gaps, no trailing data).
        const std::string p = path("layout.safetensors");
        float a[2] = {1, 2};
        uint16_t b[3] = {1, 2, 3};
        writeSafetensors(p, {{"w", DType::F32, {2}, a, 8}, {"b", DType::BF16, {3, 1}, b, 6}}, {{"format", "pt"}});
        std::ifstream f(p, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        const std::string header = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("b":{"dtype":"BF16","shape":[3,1],"data_offsets":[8,14]}})";
        const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
        QCOMPARE(bytes.substr(0, 8), lengthField(padded.size()));
        QCOMPARE(bytes.substr(8, padded.size()), padded);
        QCOMPARE(bytes.size(), 8 + padded.size() + 14);
        QVERIFY(std::memcmp(bytes.data() + 8 + padded.size(), a, 8) == 0);
        QVERIFY(std::memcmp(bytes.data() + 8 + padded.size() + 8, b, 6) == 0);
        QVERIFY(QFile::remove(QString::fromStdString(p)));
    }

    void manyTensors() {
        // Header handling must stay linear in the number of entries (nlohmann's ordered_json and its
        // callback parser are quadratic: this many entries would take minutes with them).
        const std::string p = path("many.safetensors");
        const size_t n = 100000;
        std::vector<float> values(n);
        std::vector<std::string> names(n);
        std::vector<TensorView> in;
        in.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            values[i] = float(i);
            names[i] = "t" + std::to_string((i * 7919) % n);   // not in name order
            in.push_back({names[i], DType::F32, {}, &values[i], 4});
        }
        const auto started = std::chrono::steady_clock::now();
        writeSafetensors(p, in);
        SafetensorsReader r(p);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        QCOMPARE(r.tensors().size(), n);
        for (size_t i = 0; i < n; i += 997) {
            QCOMPARE(r.tensors()[i].name, names[i]);
            float v;
            std::memcpy(&v, r.data(r.tensors()[i]), 4);
            QCOMPARE(v, float(i));
        }
        qInfo("%zu tensors written and read in %.2f s", n, seconds);
        QVERIFY(seconds < 20);
        QVERIFY(QFile::remove(QString::fromStdString(p)));
    }

    void readsHandMadeFiles() {
        // Gaps between tensors and after the last one are allowed; a zero-size tensor may sit
        // anywhere inside the data section, even inside another tensor's range.
        const std::string p = path("gaps.safetensors");
        writeBytes(p, rawFile(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
                              R"("a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
                              R"("e":{"dtype":"F16","shape":[0],"data_offsets":[18,18]},)"
                              R"("__metadata__":{"x":"y"}, "s":{"dtype":"F16","shape":[],"data_offsets":[4,6], "extra":1}})",
                              std::string(40, '\x11')));
        SafetensorsReader r(p);
        QCOMPARE(r.tensors().size(), size_t(4));
        QCOMPARE(r.tensors()[0].name, std::string("b"));   // file (header) order
        QCOMPARE(r.tensors()[1].name, std::string("a"));
        QCOMPARE(r.tensors()[2].name, std::string("e"));
        QCOMPARE(r.tensors()[3].name, std::string("s"));
        QCOMPARE(r.metadata().at("x"), std::string("y"));
        QCOMPARE(r.data(r.tensors()[0])[0], uint8_t(0x11));
        // Whitespace around the JSON and a header length that is not a multiple of 8.
        writeBytes(p, rawFile("  \n{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}\t ",
                              std::string(4, '\0')));
        SafetensorsReader r2(p);
        QCOMPARE(r2.tensors().size(), size_t(1));
        // "-0" is zero.
        writeBytes(p, rawFile(R"({"t":{"dtype":"F32","shape":[-0],"data_offsets":[0,-0]}})"));
        SafetensorsReader r3(p);
        QCOMPARE(r3.tensors()[0].numel(), int64_t(0));
    }

    void writerRejectsBadInput() {
        QTemporaryDir dir;
        const std::string p = QDir(dir.path()).filePath("bad.safetensors").toStdString();
        float data[6] = {};
        auto expectFail = [&](const std::vector<TensorView>& tensors, const std::vector<std::string>& parts,
                              const std::map<std::string, std::string>& meta = {}) {
            std::string msg = "<no error>";
            try {
                writeSafetensors(p, tensors, meta);
            } catch (const Error& e) {
                msg = e.what();
            }
            QVERIFY2(msg.find(p) != std::string::npos, msg.c_str());
            for (const auto& part : parts) QVERIFY2(msg.find(part) != std::string::npos, (part + " not in: " + msg).c_str());
            QVERIFY2(listDir(dir.path()).empty(), "a failed write left a file behind");
        };
        expectFail({{"a", DType::F32, {2}, data, 8}, {"a", DType::F32, {2}, data, 8}}, {"'a'", "twice"});
        expectFail({{"", DType::F32, {2}, data, 8}}, {"empty name"});
        expectFail({{"__metadata__", DType::F32, {2}, data, 8}}, {"__metadata__"});
        expectFail({{"w", DType::F32, {2, 3}, data, 20}}, {"'w'", "20 bytes", "[2, 3]", "24"});
        expectFail({{"h", DType::BF16, {2, 3}, data, 24}}, {"'h'", "BF16", "12"});
        expectFail({{"neg", DType::F32, {-1, 2}, data, 8}}, {"'neg'", "negative"});
        expectFail({{"huge", DType::F32, {int64_t(1) << 40, int64_t(1) << 40}, data, 8}}, {"'huge'"});
        expectFail({{"nodata", DType::F32, {2}, nullptr, 8}}, {"'nodata'"});
        expectFail({{"bad\xff", DType::F32, {2}, data, 8}}, {"UTF-8"});
        expectFail({{"ok", DType::F32, {2}, data, 8}}, {"UTF-8"}, {{"key", "\xc0\x80"}});

        // A folder that cannot hold the file (a path under a regular file fails for root too).
        writeBytes(QDir(dir.path()).filePath("plain").toStdString(), "x");
        const std::string under = QDir(dir.path()).filePath("plain/x.safetensors").toStdString();
        std::string msg;
        try {
            writeSafetensors(under, {{"ok", DType::F32, {2}, data, 8}});
        } catch (const Error& e) {
            msg = e.what();
        }
        QVERIFY2(msg.find(under) != std::string::npos, msg.c_str());
    }

    void failedWriteKeepsOldFile() {
        const std::string p = path("keep.safetensors");
        float a[2] = {1, 2};
        writeSafetensors(p, {{"a", DType::F32, {2}, a, 8}});
        QVERIFY_THROWS_EXCEPTION(Error, writeSafetensors(p, {{"a", DType::F32, {3}, a, 8}}));
        SafetensorsReader r(p);
        QCOMPARE(r.tensors()[0].shape, std::vector<int64_t>{2});
        // Overwriting with a valid file replaces it.
        writeSafetensors(p, {{"b", DType::F32, {1}, a, 4}});
        SafetensorsReader r2(p);
        QCOMPARE(r2.tensors()[0].name, std::string("b"));
        QVERIFY(QFile::remove(QString::fromStdString(p)));
    }

    void badFiles() {
        const std::string f4 = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
        const std::string d8(8, '\0');

        // Not there, not a file.
        {
            const std::string p = path("does-not-exist.safetensors");
            const std::string msg = openError(p);
            QVERIFY2(msg.find(p) != std::string::npos && msg.find("No such file") != std::string::npos, msg.c_str());
            const std::string d = tmp_.path().toStdString();
            const std::string dm = openError(d);
            QVERIFY2(dm.find(d) != std::string::npos && dm.find("directory") != std::string::npos, dm.c_str());
        }
        // Sizes and the header length field.
        expectBad("empty.st", "", {"0 bytes"});
        expectBad("seven.st", "1234567", {"7 bytes"});
        expectBad("zero-len.st", lengthField(0) + "{}", {"header length is 0"});
        expectBad("huge-len.st", lengthField(SafetensorsReader::kMaxHeaderBytes + 1) + "{}",
                  {"header length 104857601", "limit"});
        expectBad("max-len.st", lengthField(~uint64_t(0)) + "{}", {"header length 18446744073709551615"});
        expectBad("past-end.st", lengthField(100) + "{}", {"header length 100", "past the end"});

        // The header JSON itself.
        expectBad("not-json.st", rawFile("{\"a\":"), {"not valid JSON"});
        expectBad("garbage.st", rawFile("hello world"), {"not valid JSON"});
        expectBad("trailing.st", rawFile("{} x"), {"not valid JSON"});
        expectBad("array.st", rawFile("[1,2]"), {"expected a JSON object", "array"});
        expectBad("string.st", rawFile("\"str\""), {"expected a JSON object", "string"});
        expectBad("utf8.st", rawFile("{\"a\xff\":{" + f4 + "}}", d8), {"not valid JSON"});
        expectBad("utf8-overlong.st", rawFile("{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}"), {"not valid JSON"});
        expectBad("nul.st", rawFile(std::string("{\"a\":1}\0\0", 9)), {"not valid JSON", "NUL byte"});
        expectBad("dup-tensor.st", rawFile("{\"a\":{" + f4 + "},\"a\":{" + f4 + "}}", d8), {"'a'", "twice"});
        expectBad("dup-field.st", rawFile(R"({"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}})", d8),
                  {"'dtype'", "twice"});

        // Tensor entries.
        expectBad("entry-number.st", rawFile(R"({"w":5})"), {"tensor 'w'", "must be an object"});
        expectBad("entry-array.st", rawFile(R"({"w":[1]})"), {"tensor 'w'", "must be an object"});
        expectBad("no-dtype.st", rawFile(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "\"dtype\" is missing"});
        expectBad("no-shape.st", rawFile(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "\"shape\" is missing"});
        expectBad("no-offsets.st", rawFile(R"({"w":{"dtype":"F32","shape":[2]}})", d8),
                  {"tensor 'w'", "\"data_offsets\" is missing"});
        expectBad("dtype-number.st", rawFile(R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "\"dtype\" must be a string"});
        expectBad("dtype-i64.st", rawFile(R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", d8),
                  {"tensor 'x' has dtype I64; supported: F32, F16, BF16"});
        expectBad("dtype-lower.st", rawFile(R"({"x":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", d8),
                  {"tensor 'x' has dtype f32"});
        expectBad("shape-string.st", rawFile(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "\"shape\" must be an array"});
        expectBad("shape-float.st", rawFile(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "\"shape\" must be an array of integers"});
        expectBad("shape-nested.st", rawFile(R"({"w":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "\"shape\" must be an array of integers"});
        expectBad("shape-neg.st", rawFile(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "negative dimension -2"});
        expectBad("shape-toolarge.st",
                  rawFile(R"({"w":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "too large"});
        expectBad("shape-bignum.st",
                  rawFile(R"({"w":{"dtype":"F32","shape":[100000000000000000000],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "integers"});
        expectBad("numel-overflow.st",
                  rawFile(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "too many elements"});
        expectBad("bytes-overflow.st",
                  rawFile(R"({"w":{"dtype":"F32","shape":[4611686018427387904,2],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "too many elements"});
        expectBad("offsets-string.st", rawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}})", d8),
                  {"tensor 'w'", "\"data_offsets\" must be an array"});
        expectBad("offsets-one.st", rawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", d8),
                  {"tensor 'w'", "\"data_offsets\" must be an array"});
        expectBad("offsets-three.st", rawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", d8),
                  {"tensor 'w'", "\"data_offsets\" must be an array"});
        expectBad("offsets-neg.st", rawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", d8),
                  {"tensor 'w'", "non-negative integers"});
        expectBad("offsets-float.st", rawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}})", d8),
                  {"tensor 'w'", "non-negative integers"});
        expectBad("offsets-reversed.st", rawFile(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", d8),
                  {"tensor 'w'", "begin > end"});
        expectBad("offsets-past-end.st", rawFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8),
                  {"tensor 'w'", "beyond the data section"});
        expectBad("offsets-huge.st",
                  rawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,18446744073709551615]}})", d8),
                  {"tensor 'w'", "beyond the data section"});
        expectBad("offsets-size.st", rawFile(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "span 8 bytes", "needs 12"});
        expectBad("offsets-bf16.st", rawFile(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}})", d8),
                  {"tensor 'w'", "BF16", "needs 4"});
        expectBad("overlap.st",
                  rawFile(R"({"first":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("second":{"dtype":"F16","shape":[2],"data_offsets":[6,10]}})",
                          std::string(16, '\0')),
                  {"'first'", "'second'", "overlap"});
        expectBad("overlap-contained.st",
                  rawFile(R"({"outer":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                          R"("gap":{"dtype":"F32","shape":[1],"data_offsets":[20,24]},)"
                          R"("inner":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}})",
                          std::string(24, '\0')),
                  {"'outer'", "'inner'", "overlap"});
        expectBad("same-range.st",
                  rawFile(R"({"one":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("two":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                          d8),
                  {"'one'", "'two'", "overlap"});

        // Metadata.
        expectBad("meta-array.st", rawFile(R"({"__metadata__":["a"]})"), {"__metadata__", "must be an object"});
        expectBad("meta-number.st", rawFile(R"({"__metadata__":{"format":"pt","epoch":3}})"),
                  {"__metadata__ entry 'epoch'", "must be a string"});
        expectBad("meta-null.st", rawFile(R"({"__metadata__":{"nothing":null}})"), {"'nothing'", "must be a string"});
        expectBad("meta-nested.st", rawFile(R"({"__metadata__":{"deep":{"a":"b"}}})"), {"'deep'", "must be a string"});

        // A control character in a name is escaped in the message, which stays one line.
        expectBad("control.st", rawFile(R"({"a\nb":5})"), {"tensor 'a\\x0ab'"});
    }

    void deepNestingIsAnErrorNotACrash() {
        // A valid header is 3 levels deep; deeper nesting is refused while parsing, before any
        // recursive copy or dump of the value could overflow the stack.
        const size_t depth = 200000;
        const std::string deep = std::string(depth, '[') + std::string(depth, ']');
        expectBad("deep.st", rawFile("{\"w\":" + deep + "}"), {"nested more than 64 levels"});
        expectBad("deep-meta.st", rawFile("{\"__metadata__\":{\"k\":" + deep + "}}"), {"nested more than 64 levels"});
        expectBad("deep-shape.st",
                  rawFile("{\"w\":{\"dtype\":\"F32\",\"shape\":" + deep + ",\"data_offsets\":[0,0]}}"),
                  {"nested more than 64 levels"});
        // Moderate nesting in an unknown field is fine.
        const std::string p = path("nested-extra.st");
        writeBytes(p, rawFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"extra\":" + std::string(20, '[') +
                              std::string(20, ']') + ",\"data_offsets\":[0,4]}}", std::string(4, '\0')));
        QCOMPARE(openError(p), std::string("<no error>"));
    }

    void mutationFuzz() {
        // Seeds: valid files of several shapes.
        std::vector<std::string> seeds;
        {
            auto a = randomBytes(4 * 6, 11), b = randomBytes(2 * 8, 12), c = randomBytes(2 * 3, 13);
            float s = 2.0f;
            const std::string p = path("seed.safetensors");
            auto make = [&](const std::vector<TensorView>& t, const std::map<std::string, std::string>& m) {
                writeSafetensors(p, t, m);
                std::ifstream f(p, std::ios::binary);
                seeds.emplace_back((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
            };
            make({{"w", DType::F32, {2, 3}, a.data(), a.size()},
                  {"h", DType::F16, {8}, b.data(), b.size()},
                  {"b", DType::BF16, {3, 1}, c.data(), c.size()}},
                 {{"format", "pt"}});
            make({{"scalar", DType::F32, {}, &s, 4}, {"empty", DType::BF16, {0, 4}, nullptr, 0}}, {});
            make({}, {{"only", "metadata"}});
            make({{"transformer.h.0.attn.c_attn.weight", DType::BF16, {2, 4}, b.data(), b.size()}}, {});
            seeds.push_back(rawFile(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
                                    R"("a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})",
                                    std::string(32, '\x22')));
        }

        std::mt19937_64 rng(0x5eed5afe7e);
        auto rnd = [&](uint64_t n) { return n == 0 ? uint64_t(0) : rng() % n; };
        const std::vector<std::string> numbers = {"-1", "0", "-0", "1e400", "1e308", "0.5", "-9223372036854775808",
                                                  "9223372036854775807", "9223372036854775808",
                                                  "18446744073709551615", "18446744073709551616",
                                                  "99999999999999999999999999", "4294967296", "7", "3"};
        const std::vector<std::string> tokens = {"{", "}", "[", "]", ",", ":", "\"", "null", "true", "\"F32\"",
                                                 "\"I64\"", "\"__metadata__\"", "\"dtype\"", "\"shape\"",
                                                 "\"data_offsets\"", "\xff", "\xc3", "\x01", "\\u0000", "\\ud800"};

        const std::string p = path("fuzz.safetensors");
        int opened = 0, rejected = 0;
        const auto started = std::chrono::steady_clock::now();
        const int iterations = 5000;
        for (int iter = 0; iter < iterations; ++iter) {
            const std::string& seed = seeds[rnd(seeds.size())];
            uint64_t n = 0;
            for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(seed[size_t(i)]);
            std::string header = seed.substr(8, size_t(n));
            std::string data = seed.substr(8 + size_t(n));

            // 1. Edits of the JSON text; the length field usually follows the edit.
            const int headerEdits = int(rnd(4));
            for (int e = 0; e < headerEdits && !header.empty(); ++e) {
                const size_t pos = size_t(rnd(header.size()));
                switch (rnd(8)) {
                case 0: {   // replace a digit
                    size_t d = header.find_first_of("0123456789", pos);
                    if (d != std::string::npos) header[d] = char('0' + rnd(10));
                    break;
                }
                case 1: {   // replace a whole number
                    size_t d = header.find_first_of("0123456789", pos);
                    if (d == std::string::npos) break;
                    size_t end = header.find_first_not_of("0123456789", d);
                    header.replace(d, end - d, numbers[rnd(numbers.size())]);
                    break;
                }
                case 2: {   // remove a structural character
                    size_t d = header.find_first_of("{}[]:,\"", pos);
                    if (d != std::string::npos) header.erase(d, 1);
                    break;
                }
                case 3: {   // duplicate a key with its value
                    size_t q = header.find('"', pos);
                    if (q == std::string::npos) break;
                    size_t qe = header.find('"', q + 1);
                    if (qe == std::string::npos || qe + 1 >= header.size() || header[qe + 1] != ':') break;
                    int depth = 0;
                    size_t end = qe + 2;
                    for (; end < header.size(); ++end) {
                        char c = header[end];
                        if (c == '{' || c == '[') ++depth;
                        else if (c == '}' || c == ']') {
                            if (depth == 0) break;
                            --depth;
                        } else if (c == ',' && depth == 0) break;
                    }
                    header.insert(end, "," + header.substr(q, end - q));
                    break;
                }
                case 4:   // insert a token
                    header.insert(pos, tokens[rnd(tokens.size())]);
                    break;
                case 5:   // swap a dtype
                {
                    static const char* types[] = {"F32", "F16", "BF16", "I64", "F64", "", "U8", "bf16"};
                    size_t d = header.find("\"F", pos);
                    if (d == std::string::npos) d = header.find("\"BF", 0);
                    if (d == std::string::npos) break;
                    size_t end = header.find('"', d + 1);
                    if (end != std::string::npos) header.replace(d + 1, end - d - 1, types[rnd(8)]);
                    break;
                }
                case 6:   // overwrite a byte
                    header[pos] = char(rnd(256));
                    break;
                default:   // cut the header short
                    header.resize(pos);
                    break;
                }
            }
            std::string file = (rnd(10) == 0 ? lengthField(n) : lengthField(header.size())) + header + data;

            // 2. Byte-level damage to the whole file.
            const int byteEdits = int(rnd(3));
            for (int e = 0; e < byteEdits && !file.empty(); ++e) {
                switch (rnd(5)) {
                case 0:   // bit flip anywhere
                {
                    size_t pos = size_t(rnd(file.size()));
                    file[pos] = char(file[pos] ^ (1 << rnd(8)));
                    break;
                }
                case 1:   // random byte in the header area or the data
                    file[size_t(rnd(file.size()))] = char(rnd(256));
                    break;
                case 2:   // truncation
                    file.resize(size_t(rnd(file.size() + 1)));
                    break;
                case 3:   // header length field: random, huge, or near the real size
                {
                    if (file.size() < 8) break;
                    uint64_t v;
                    switch (rnd(4)) {
                    case 0: v = rng(); break;
                    case 1: v = ~uint64_t(0) - rnd(16); break;
                    case 2: v = SafetensorsReader::kMaxHeaderBytes + rnd(3) - 1; break;
                    default: v = file.size() - 8 + rnd(5) - 2; break;
                    }
                    file.replace(0, 8, lengthField(v));
                    break;
                }
                default:   // extend with junk
                    file.append(size_t(rnd(16)), char(rnd(256)));
                    break;
                }
            }

            writeBytes(p, file);
            try {
                SafetensorsReader r(p);
                ++opened;
                QCOMPARE(r.fileSize(), uint64_t(file.size()));
                uint64_t headerLen = 0;
                for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | uint8_t(file[size_t(i)]);
                const uint64_t dataSize = file.size() - 8 - headerLen;
                for (const TensorInfo& t : r.tensors()) {
                    QVERIFY2(t.begin <= t.end && t.end <= dataSize, ("iteration " + std::to_string(iter)).c_str());
                    QCOMPARE(t.nbytes(), uint64_t(t.numel()) * dtypeSize(t.dtype));
                    QCOMPARE(r.find(t.name), &t);
                    // Touch every byte: any bad pointer shows up here (and under ASan).
                    unsigned sum = 0;
                    const uint8_t* d = r.data(t);
                    for (uint64_t i = 0; i < t.nbytes(); ++i) sum += d[i];
                    (void)sum;
                }
            } catch (const Error& e) {
                ++rejected;
                QVERIFY2(std::string(e.what()).find(p) != std::string::npos, e.what());
            } catch (const std::exception& e) {
                QFAIL(("iteration " + std::to_string(iter) + ": unexpected exception type: " + e.what()).c_str());
            } catch (...) {
                QFAIL(("iteration " + std::to_string(iter) + ": unexpected non-std exception").c_str());
            }
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        qInfo("fuzz: %d mutated files, %d opened, %d rejected, %.2f s", iterations, opened, rejected, seconds);
        QVERIFY(opened > 50);      // the mutations are not all fatal...
        QVERIFY(rejected > 500);   // ...and not all harmless
        QCOMPARE(opened + rejected, iterations);
    }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
